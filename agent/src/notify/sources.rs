//! Notification settings an app's manifests bring, so that people moving over keep what
//! they wrote: Flux `Provider` and `Alert` objects (`notification.toolkit.fluxcd.io`, used
//! instead of applied; an Alert's event sources naming a Kustomization or HelmRelease map to
//! the Tether app of that name) and Argo CD subscription annotations
//! (`notifications.argoproj.io/subscribe.on-sync-failed.slack: channel`) on the app's
//! objects, honoured for the built-in triggers.

use super::config::{
    AppSelector, ProviderConfig, ProviderType, RetryConfig, RuleConfig, SecretKeyRef, SecretSource,
    WebhookFormat,
};
use super::event::{Kind, Severity};
use crate::sync::Manifest;
use serde_json::Value;

/// The API group of Flux's notification objects.
pub const FLUX_GROUP: &str = "notification.toolkit.fluxcd.io/";
/// The prefix of Argo CD's subscription annotations.
pub const ARGO_SUBSCRIBE: &str = "notifications.argoproj.io/subscribe.";

/// One Argo CD subscription: these kinds of the app's events to a service, with recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The event kinds of the trigger.
    pub kinds: Vec<Kind>,
    /// The service (`slack`): the provider of that name, else of that type.
    pub service: String,
    /// The recipients (a Slack channel).
    pub recipients: Vec<String>,
}

/// What an app's manifests say about notifications.
#[derive(Debug, Clone, Default)]
pub struct AppSources {
    /// Providers from Flux `Provider` objects (named `flux:NAMESPACE/NAME`).
    pub providers: Vec<ProviderConfig>,
    /// Rules from Flux `Alert` objects.
    pub rules: Vec<RuleConfig>,
    /// Argo CD subscriptions.
    pub subscriptions: Vec<Subscription>,
    /// What could not be used, for the log (object and field).
    pub problems: Vec<String>,
}

impl AppSources {
    /// Whether the manifests bring nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty() && self.rules.is_empty() && self.subscriptions.is_empty()
    }

    /// A fingerprint of the providers and rules (to rebuild them only when they change).
    #[must_use]
    pub fn fingerprint(&self) -> String {
        format!("{:?}{:?}", self.providers, self.rules)
    }
}

/// Whether `object` is a Flux notification object (used, never applied).
#[must_use]
pub fn is_flux_notification(object: &Value) -> bool {
    object
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with(FLUX_GROUP))
        && matches!(
            object.get("kind").and_then(Value::as_str),
            Some("Provider" | "Alert")
        )
}

/// Removes the Flux notification objects from `objects` and reads them and the Argo CD
/// subscriptions of the rest; `namespace` is the app's target namespace.
pub fn take(objects: &mut Vec<Manifest>, namespace: &str) -> AppSources {
    let mut flux = Vec::new();
    objects.retain(|m| match m {
        Manifest::Plain(v) if is_flux_notification(v) => {
            flux.push(v.clone());
            false
        }
        _ => true,
    });
    let mut sources = AppSources::default();
    for object in &flux {
        read_flux(object, namespace, &mut sources);
    }
    for m in objects.iter() {
        if let Manifest::Plain(v) = m {
            read_argo(v, &mut sources);
        }
    }
    sources
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn flux_name(namespace: &str, name: &str) -> String {
    format!("flux:{namespace}/{name}")
}

fn secret_key(name: &str, key: &str) -> SecretSource {
    SecretSource {
        file: None,
        secret_ref: Some(SecretKeyRef {
            name: name.to_owned(),
            key: key.to_owned(),
            optional: true,
        }),
    }
}

/// A repository URL `https://HOST/PATH` as an API base and a repository path.
fn repository(url: &str, github: bool) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let path = path
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .to_owned();
    let scheme = if url.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    let base = match (github, host) {
        (true, "github.com") => "https://api.github.com".to_owned(),
        (true, _) => format!("{scheme}://{host}/api/v3"),
        (false, _) => format!("{scheme}://{host}"),
    };
    Some((base, path))
}

fn read_flux(object: &Value, app_namespace: &str, out: &mut AppSources) {
    let kind = text(object, "/kind").unwrap_or_default();
    let name = text(object, "/metadata/name").unwrap_or_default();
    let namespace = text(object, "/metadata/namespace").unwrap_or(app_namespace);
    let what = format!("{kind} {namespace}/{name}");
    if object.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return;
    }
    if kind == "Alert" {
        read_flux_alert(object, namespace, &what, out);
    } else {
        read_flux_provider(object, namespace, name, &what, out);
    }
}

/// A Flux `Alert`: a rule sending its apps' events to its provider.
fn read_flux_alert(object: &Value, namespace: &str, what: &str, out: &mut AppSources) {
    let Some(provider) = text(object, "/spec/providerRef/name") else {
        out.problems
            .push(format!("{what}: spec.providerRef.name is missing"));
        return;
    };
    let mut names = Vec::new();
    for source in object
        .pointer("/spec/eventSources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match (text(source, "/kind"), text(source, "/name")) {
            (Some("Kustomization" | "HelmRelease"), Some(n)) => names.push(n.to_owned()),
            (k, _) => out.problems.push(format!(
                "{what}: spec.eventSources kind {:?} has no Tether app; left out",
                k.unwrap_or_default()
            )),
        }
    }
    if names.is_empty() {
        out.problems.push(format!(
            "{what}: no eventSources of kind Kustomization or HelmRelease"
        ));
        return;
    }
    let severity = match text(object, "/spec/eventSeverity") {
        Some("error") => Severity::Warning,
        _ => Severity::Info,
    };
    out.rules.push(RuleConfig {
        providers: vec![flux_name(namespace, provider)],
        events: Vec::new(),
        apps: AppSelector {
            names,
            ..AppSelector::default()
        },
        severity,
    });
}

/// A Flux `Provider`: a notification provider of the app.
fn read_flux_provider(
    object: &Value,
    namespace: &str,
    name: &str,
    what: &str,
    out: &mut AppSources,
) {
    let Some(flux_type) = text(object, "/spec/type") else {
        out.problems.push(format!("{what}: spec.type is missing"));
        return;
    };
    let address = text(object, "/spec/address").map(str::to_owned);
    let secret = text(object, "/spec/secretRef/name");
    let mut p = ProviderConfig {
        name: flux_name(namespace, name),
        kind: ProviderType::Webhook,
        address: address.clone(),
        address_from: None,
        token_from: secret.map(|s| secret_key(s, "token")),
        password_from: None,
        channel: text(object, "/spec/channel").map(str::to_owned),
        repository: None,
        smtp: None,
        ca_file: None,
        timeout: None,
        queue: None,
        rate_limit: None,
        retry: RetryConfig::default(),
        // What a Flux `generic`/`generic-hmac` provider sends.
        format: WebhookFormat::Flux,
    };
    p.kind = match flux_type {
        "slack"
            if address
                .as_deref()
                .is_some_and(|a| a.ends_with("chat.postMessage")) =>
        {
            ProviderType::SlackBot
        }
        "slack" => ProviderType::Slack,
        "msteams" => ProviderType::Teams,
        "discord" => ProviderType::Discord,
        "googlechat" => ProviderType::GoogleChat,
        "generic" => ProviderType::Webhook,
        "generic-hmac" => ProviderType::GenericHmac,
        "alertmanager" => ProviderType::Alertmanager,
        "github" | "gitlab" => {
            let github = flux_type == "github";
            let Some((base, repo)) = address.as_deref().and_then(|a| repository(a, github)) else {
                out.problems
                    .push(format!("{what}: spec.address must be the repository's URL"));
                return;
            };
            p.address = Some(base);
            p.repository = Some(repo);
            if github {
                ProviderType::Github
            } else {
                ProviderType::Gitlab
            }
        }
        other => {
            out.problems.push(format!(
                "{what}: spec.type {other:?} is not supported; left out"
            ));
            return;
        }
    };
    if !matches!(p.kind, ProviderType::Github | ProviderType::Gitlab)
        && let Some(s) = secret
    {
        // Flux reads the address from the Secret when it has one.
        p.address_from = Some(secret_key(s, "address"));
    }
    out.providers.push(p);
}

fn read_argo(object: &Value, out: &mut AppSources) {
    let Some(annotations) = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    else {
        return;
    };
    for (key, value) in annotations {
        let Some(rest) = key.strip_prefix(ARGO_SUBSCRIBE) else {
            continue;
        };
        let Some((trigger, service)) = rest.rsplit_once('.') else {
            continue;
        };
        let kinds = match trigger {
            "on-sync-failed" => vec![Kind::SyncFailed, Kind::HookFailed],
            "on-sync-succeeded" | "on-deployed" => vec![Kind::SyncSucceeded],
            "on-health-degraded" => vec![Kind::HealthDegraded],
            "on-created" => vec![Kind::AppCreated],
            "on-deleted" => vec![Kind::AppDeleted],
            "on-sync-running" => vec![Kind::SyncRunning],
            "on-sync-status-unknown" => vec![Kind::SyncStatusUnknown],
            other => {
                out.problems.push(format!(
                    "annotation {key}: trigger {other:?} is not one of the built-in triggers Tether honours"
                ));
                continue;
            }
        };
        let recipients = value
            .as_str()
            .unwrap_or_default()
            .split([';', ','])
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        let subscription = Subscription {
            kinds,
            service: service.to_owned(),
            recipients,
        };
        if !out.subscriptions.contains(&subscription) {
            out.subscriptions.push(subscription);
        }
    }
}

/// Whether a provider of `kind` serves the Argo CD service `service`.
#[must_use]
pub fn serves(kind: ProviderType, service: &str) -> bool {
    matches!(
        (service, kind),
        ("slack", ProviderType::Slack | ProviderType::SlackBot)
            | ("teams", ProviderType::Teams)
            | ("discord", ProviderType::Discord)
            | ("googlechat", ProviderType::GoogleChat)
            | ("webhook", ProviderType::Webhook | ProviderType::GenericHmac)
            | ("email", ProviderType::Smtp)
            | ("github", ProviderType::Github)
            | ("gitlab", ProviderType::Gitlab)
            | ("alertmanager", ProviderType::Alertmanager)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_saphyr::from_str(text).expect("test YAML")
    }

    #[test]
    fn flux_objects_are_taken_out_and_read() {
        let mut objects = vec![
            Manifest::Plain(yaml(
                "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\nmetadata: {name: slack, namespace: shop}\nspec: {type: slack, channel: deploys, secretRef: {name: slack-url}}\n",
            )),
            Manifest::Plain(yaml(
                "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Alert\nmetadata: {name: on-call, namespace: shop}\nspec:\n  providerRef: {name: slack}\n  eventSeverity: error\n  eventSources: [{kind: Kustomization, name: web}, {kind: GitRepository, name: x}]\n",
            )),
            Manifest::Plain(yaml(
                "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\nmetadata: {name: gh}\nspec: {type: github, address: 'https://github.com/acme/config', secretRef: {name: gh-token}}\n",
            )),
            Manifest::Plain(yaml(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\n",
            )),
        ];
        let s = take(&mut objects, "shop");
        assert_eq!(objects.len(), 1, "only the ConfigMap is applied");
        assert_eq!(s.providers.len(), 2);
        assert_eq!(s.providers[0].name, "flux:shop/slack");
        assert_eq!(s.providers[0].kind, ProviderType::Slack);
        assert!(s.providers[0].address_from.is_some());
        assert_eq!(s.providers[1].kind, ProviderType::Github);
        assert_eq!(s.providers[1].repository.as_deref(), Some("acme/config"));
        assert_eq!(
            s.providers[1].address.as_deref(),
            Some("https://api.github.com")
        );
        assert_eq!(s.rules.len(), 1);
        assert_eq!(s.rules[0].providers, ["flux:shop/slack"]);
        assert_eq!(s.rules[0].apps.names, ["web"]);
        assert_eq!(s.rules[0].severity, Severity::Warning);
        assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
        assert!(s.problems[0].contains("GitRepository"));
    }

    #[test]
    fn argo_subscriptions_are_read_for_built_in_triggers() {
        let mut objects = vec![Manifest::Plain(yaml(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    notifications.argoproj.io/subscribe.on-sync-failed.slack: 'alerts;oncall'\n    notifications.argoproj.io/subscribe.on-image-pushed.slack: x\n",
        ))];
        let s = take(&mut objects, "shop");
        assert_eq!(
            s.subscriptions,
            [Subscription {
                kinds: vec![Kind::SyncFailed, Kind::HookFailed],
                service: "slack".into(),
                recipients: vec!["alerts".into(), "oncall".into()],
            }]
        );
        assert_eq!(s.problems.len(), 1, "a custom trigger is not built in");
        assert!(serves(ProviderType::SlackBot, "slack"));
        assert!(!serves(ProviderType::Teams, "slack"));
    }

    #[test]
    fn every_built_in_argo_trigger_has_a_tether_event() {
        for (trigger, kind) in [
            ("on-created", Kind::AppCreated),
            ("on-deleted", Kind::AppDeleted),
            ("on-sync-running", Kind::SyncRunning),
            ("on-sync-status-unknown", Kind::SyncStatusUnknown),
            ("on-deployed", Kind::SyncSucceeded),
            ("on-sync-succeeded", Kind::SyncSucceeded),
            ("on-health-degraded", Kind::HealthDegraded),
            ("on-sync-failed", Kind::SyncFailed),
        ] {
            let mut objects = vec![Manifest::Plain(yaml(&format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    notifications.argoproj.io/subscribe.{trigger}.webhook: ''\n"
            )))];
            let s = take(&mut objects, "shop");
            assert!(s.problems.is_empty(), "{trigger}: {:?}", s.problems);
            assert!(s.subscriptions[0].kinds.contains(&kind), "{trigger}");
        }
    }
}
