//! The `notifications` section of `tether.yaml`: providers (where events go) and rules
//! (which events of which apps go where).

use super::event::{Kind, Severity};
use crate::config::Interval;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// `notifications:` in the agent's configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NotificationsConfig {
    /// The cluster's name, in commit status contexts and alert labels (default `tether`).
    #[serde(default)]
    pub cluster: Option<String>,
    /// The agent's external URL; events link to the app's page, `URL/apps/APP`.
    #[serde(default)]
    pub agent_url: Option<String>,
    /// Repeat a condition that still holds after this long (default: never).
    #[serde(default)]
    pub reminder: Option<Interval>,
    /// How often firing alerts are sent to Alertmanager again (default 5m); an alert the
    /// agent stops sending ends on its own after three of these.
    #[serde(default)]
    pub alert_refresh: Option<Interval>,
    /// Where events go.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// Which events go where (none: every event to every provider).
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// The kind of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProviderType {
    /// A generic JSON webhook (the event as JSON).
    Webhook,
    /// The same, signed: HMAC-SHA256 of the body in `X-Signature: sha256=HEX` (Flux's
    /// `generic-hmac`).
    GenericHmac,
    /// A Slack incoming webhook.
    Slack,
    /// Slack's `chat.postMessage` with a bot token.
    SlackBot,
    /// A Microsoft Teams workflow webhook (an Adaptive Card).
    Teams,
    /// A Discord webhook.
    Discord,
    /// A Google Chat space webhook.
    GoogleChat,
    /// Prometheus Alertmanager (`/api/v2/alerts`).
    Alertmanager,
    /// GitHub commit statuses.
    Github,
    /// GitLab commit statuses.
    Gitlab,
    /// E-mail over SMTP (STARTTLS).
    Smtp,
}

impl ProviderType {
    /// Whether people read it (Slack, Teams, Discord, Google Chat, e-mail): such providers
    /// skip the success of a commit that changed nothing unless a rule asks for it.
    #[must_use]
    pub fn is_chat(self) -> bool {
        matches!(
            self,
            Self::Slack
                | Self::SlackBot
                | Self::Teams
                | Self::Discord
                | Self::GoogleChat
                | Self::Smtp
        )
    }
}

/// The body a generic webhook (`webhook`, `genericHmac`) sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WebhookFormat {
    /// Tether's event as JSON (default).
    #[default]
    Tether,
    /// Flux's `Event` (what notification-controller's `generic` providers post), so that a
    /// receiver written for Flux works unchanged.
    Flux,
}

/// Where a secret text (an address with a token in it, a token, a password) is read from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretSource {
    /// A file (a mounted Secret).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// A key of a Secret in the agent's namespace.
    #[serde(default)]
    pub secret_ref: Option<SecretKeyRef>,
}

/// A key of a Secret in the agent's namespace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret.
    pub name: String,
    /// The key.
    pub key: String,
    /// A missing Secret or key is no error (the value is then absent).
    #[serde(default)]
    pub optional: bool,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StartTls {
    /// STARTTLS is required (default): a server that does not offer it is an error.
    #[default]
    Required,
    /// No TLS (a relay on the same host only).
    Never,
}

/// E-mail settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SmtpConfig {
    /// The server, `host:port`.
    pub server: String,
    /// The sender address.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// The user name for AUTH PLAIN (with `passwordFrom`).
    #[serde(default)]
    pub username: Option<String>,
    /// STARTTLS (default required).
    #[serde(default)]
    pub start_tls: StartTls,
}

/// A rate limit.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimit {
    /// Requests per minute at most (default 30).
    pub per_minute: u32,
}

/// Retries of a failed delivery.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RetryConfig {
    /// Attempts at most (default 5).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The first backoff (default 1s), doubled at each attempt, with jitter.
    #[serde(default = "default_backoff")]
    pub backoff: Interval,
    /// The longest wait, also for a `Retry-After` (default 5m).
    #[serde(default = "default_max_backoff")]
    pub max_backoff: Interval,
}

fn default_attempts() -> u32 {
    5
}
fn default_backoff() -> Interval {
    Interval(Duration::from_secs(1))
}
fn default_max_backoff() -> Interval {
    Interval(Duration::from_secs(300))
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: default_attempts(),
            backoff: default_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}

/// One provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderConfig {
    /// Its name, referred to by rules.
    pub name: String,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: ProviderType,
    /// The address, when it is not a secret (Alertmanager, an API base URL).
    #[serde(default)]
    pub address: Option<String>,
    /// The address from a Secret or a file (a webhook URL with its token in it).
    #[serde(default)]
    pub address_from: Option<SecretSource>,
    /// A token (Slack bot, GitHub, GitLab, the HMAC key of `genericHmac`, a bearer token for
    /// Alertmanager or a webhook).
    #[serde(default)]
    pub token_from: Option<SecretSource>,
    /// The SMTP password.
    #[serde(default)]
    pub password_from: Option<SecretSource>,
    /// The Slack channel (`slackBot`).
    #[serde(default)]
    pub channel: Option<String>,
    /// The repository (`owner/name` for GitHub, the project path or id for GitLab).
    #[serde(default)]
    pub repository: Option<String>,
    /// E-mail settings (`smtp`).
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// A PEM file of CA certificates trusted besides the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The timeout of one request (default 10s).
    #[serde(default)]
    pub timeout: Option<Interval>,
    /// Events queued at most (default 100).
    #[serde(default)]
    pub queue: Option<usize>,
    /// The rate limit (default 30 per minute).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Retries.
    #[serde(default)]
    pub retry: RetryConfig,
    /// The body of a `webhook` or `genericHmac` provider (default `tether`).
    #[serde(default)]
    pub format: WebhookFormat,
}

/// Which apps a rule applies to: every listed criterion must match.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppSelector {
    /// App names (globs: `web-*`).
    #[serde(default)]
    pub names: Vec<String>,
    /// Target namespaces (globs).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Labels the app's objects carry (`app.kubernetes.io/part-of: shop`).
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

/// One rule: events of these kinds and at least this severity, of these apps, go to these
/// providers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleConfig {
    /// The providers (by name).
    pub providers: Vec<String>,
    /// The event kinds (`syncFailed`, ...; none: all).
    #[serde(default)]
    pub events: Vec<String>,
    /// The apps (none: all).
    #[serde(default)]
    pub apps: AppSelector,
    /// The lowest severity sent (default info). Recoveries go where their condition went.
    #[serde(default)]
    pub severity: Severity,
}

/// A field of the section and what is wrong with it.
pub type Invalid = (String, String);

fn need(
    p: &ProviderConfig,
    i: usize,
    field: &str,
    present: bool,
    what: &str,
) -> Result<(), Invalid> {
    if present {
        Ok(())
    } else {
        Err((
            format!("providers[{i}].{field}"),
            format!("required for a provider of type {what} ({})", p.name),
        ))
    }
}

fn check_source(s: &SecretSource, field: String) -> Result<(), Invalid> {
    if s.file.is_some() == s.secret_ref.is_some() {
        return Err((field, "give exactly one of file and secretRef".into()));
    }
    Ok(())
}

fn validate_provider(i: usize, p: &ProviderConfig) -> Result<(), Invalid> {
    for (field, source) in [
        ("addressFrom", &p.address_from),
        ("tokenFrom", &p.token_from),
        ("passwordFrom", &p.password_from),
    ] {
        if let Some(s) = source {
            check_source(s, format!("providers[{i}].{field}"))?;
        }
    }
    let has_address = p.address.is_some() || p.address_from.is_some();
    if p.address.is_some() && p.address_from.is_some() {
        return Err((
            format!("providers[{i}].address"),
            "give address or addressFrom, not both".into(),
        ));
    }
    if let Some(a) = &p.address
        && !(a.starts_with("http://") || a.starts_with("https://"))
    {
        return Err((
            format!("providers[{i}].address"),
            "must be an http:// or https:// URL".into(),
        ));
    }
    use ProviderType as T;
    match p.kind {
        T::Webhook | T::Slack | T::Teams | T::Discord | T::GoogleChat | T::Alertmanager => {
            need(p, i, "address", has_address, "with a URL")?;
        }
        T::GenericHmac => {
            need(p, i, "address", has_address, "genericHmac")?;
            need(p, i, "tokenFrom", p.token_from.is_some(), "genericHmac")?;
        }
        T::SlackBot => {
            need(p, i, "tokenFrom", p.token_from.is_some(), "slackBot")?;
            need(p, i, "channel", p.channel.is_some(), "slackBot")?;
        }
        T::Github | T::Gitlab => {
            need(p, i, "tokenFrom", p.token_from.is_some(), "github/gitlab")?;
            need(p, i, "repository", p.repository.is_some(), "github/gitlab")?;
        }
        T::Smtp => {
            need(p, i, "smtp", p.smtp.is_some(), "smtp")?;
            if let Some(s) = &p.smtp {
                if s.to.is_empty() {
                    return Err((
                        format!("providers[{i}].smtp.to"),
                        "needs at least one recipient".into(),
                    ));
                }
                if s.username.is_some() != p.password_from.is_some() {
                    return Err((
                        format!("providers[{i}].passwordFrom"),
                        "smtp.username and passwordFrom go together".into(),
                    ));
                }
            }
        }
    }
    if p.format != WebhookFormat::Tether && !matches!(p.kind, T::Webhook | T::GenericHmac) {
        return Err((
            format!("providers[{i}].format"),
            "only a webhook or genericHmac provider has a format".into(),
        ));
    }
    if p.queue == Some(0) {
        return Err((format!("providers[{i}].queue"), "must be at least 1".into()));
    }
    if p.rate_limit.is_some_and(|r| r.per_minute == 0) {
        return Err((
            format!("providers[{i}].rateLimit.perMinute"),
            "must be at least 1".into(),
        ));
    }
    if p.retry.attempts == 0 {
        return Err((
            format!("providers[{i}].retry.attempts"),
            "must be at least 1".into(),
        ));
    }
    Ok(())
}

impl NotificationsConfig {
    /// Checks what the types cannot: required fields per provider type, unique names, known
    /// providers and event kinds in rules, globs. The field is relative to `notifications`.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut names = std::collections::BTreeSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            if p.name.is_empty() || !names.insert(p.name.as_str()) {
                return Err((
                    format!("providers[{i}].name"),
                    format!("must be set and unique ({:?})", p.name),
                ));
            }
            validate_provider(i, p)?;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.providers.is_empty() {
                return Err((
                    format!("rules[{i}].providers"),
                    "name at least one provider".into(),
                ));
            }
            for name in &rule.providers {
                if !names.contains(name.as_str()) {
                    return Err((
                        format!("rules[{i}].providers"),
                        format!("no provider named {name:?}"),
                    ));
                }
            }
            for event in &rule.events {
                if Kind::from_name(event).is_none() {
                    let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                    return Err((
                        format!("rules[{i}].events"),
                        format!("unknown event {event:?} (known: {})", known.join(", ")),
                    ));
                }
            }
            for glob in rule.apps.names.iter().chain(&rule.apps.namespaces) {
                if let Err(e) = globset::Glob::new(glob) {
                    return Err((format!("rules[{i}].apps"), format!("glob {glob:?}: {e}")));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> NotificationsConfig {
        serde_saphyr::from_str(text).expect("test config parses")
    }

    #[test]
    fn a_rule_naming_an_unknown_provider_is_refused_with_its_field() {
        let c = parse(
            "providers:\n- name: s\n  type: slack\n  addressFrom: {file: /x}\nrules:\n- providers: [t]\n",
        );
        let (field, problem) = c.validate().expect_err("refused");
        assert_eq!(field, "rules[0].providers");
        assert!(problem.contains("\"t\""), "{problem}");
    }

    #[test]
    fn a_provider_missing_its_token_is_refused() {
        let c = parse("providers:\n- name: gh\n  type: github\n  repository: o/r\n");
        let (field, _) = c.validate().expect_err("refused");
        assert_eq!(field, "providers[0].tokenFrom");
    }

    #[test]
    fn unknown_fields_and_events_are_refused() {
        assert!(
            serde_saphyr::from_str::<NotificationsConfig>(
                "providers:\n- name: s\n  type: slack\n  adress: x\n"
            )
            .is_err()
        );
        let c = parse(
            "providers:\n- name: s\n  type: slack\n  addressFrom: {file: /x}\nrules:\n- providers: [s]\n  events: [syncFaild]\n",
        );
        assert_eq!(c.validate().expect_err("refused").0, "rules[0].events");
    }
}
