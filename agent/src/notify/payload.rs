//! What each provider is sent for an event: the documented payload of each service, built
//! without I/O (the delivery sends it).

use super::config::{ProviderType, WebhookFormat};
use super::event::{Event, Kind, Severity};
use super::provider::Provider;
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;

/// One HTTP request to send.
pub struct HttpRequest {
    /// The URL (may hold a token: never logged).
    pub url: String,
    /// Headers (may hold a token: never logged).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// One e-mail to send.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    /// The event's id, sent as the local part of the `Message-ID` (the same after a
    /// restart), when the event has one.
    pub message_id: Option<String>,
}

/// What a provider is sent.
pub enum Outgoing {
    /// An HTTP POST.
    Http(HttpRequest),
    /// An e-mail.
    Mail(Mail),
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn color(event: &Event) -> u32 {
    if event.resolved || event.kind == Kind::SyncSucceeded {
        return 0x2e_b8_86;
    }
    match event.severity {
        Severity::Info => 0x43_9f_e0,
        Severity::Warning => 0xda_a0_38,
        Severity::Error => 0xa3_00_00,
    }
}

fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack_body(event: &Event) -> Value {
    let mut text = format!("*{}*", slack_escape(&event.summary()));
    if let Some(subject) = &event.commit.subject {
        let author = event.commit.author.as_deref().unwrap_or("unknown");
        text.push_str(&format!(
            "\ncommit: {} ({})",
            slack_escape(subject),
            slack_escape(author)
        ));
    }
    if !event.message.is_empty() {
        text.push_str(&format!("\n```{}```", slack_escape(&event.message)));
    }
    if let Some(link) = &event.link {
        text.push_str(&format!("\n<{link}|app {}>", slack_escape(&event.app)));
    }
    json!({
        "text": cut(&event.summary(), 3000),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": cut(&text, 3000)}}],
    })
}

fn facts(event: &Event) -> Vec<(&'static str, String)> {
    let mut f = vec![
        ("app", event.app.clone()),
        ("namespace", event.namespace.clone()),
        ("cluster", event.cluster.clone()),
        ("revision", event.short_revision().to_owned()),
    ];
    if let Some(subject) = &event.commit.subject {
        f.push(("commit", subject.clone()));
    }
    if let Some(author) = &event.commit.author {
        f.push(("author", author.clone()));
    }
    if let Some(stage) = &event.stage {
        f.push(("stage", stage.clone()));
    }
    f
}

fn teams_body(event: &Event) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "text": event.summary(), "weight": "Bolder", "size": "Medium", "wrap": true}),
        json!({"type": "FactSet", "facts": facts(event).into_iter().map(|(t, v)| json!({"title": t, "value": v})).collect::<Vec<_>>()}),
    ];
    if !event.message.is_empty() {
        body.push(json!({"type": "TextBlock", "text": cut(&event.message, 4000), "wrap": true, "fontType": "Monospace"}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(link) = &event.link {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open the app", "url": link}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

fn discord_body(event: &Event) -> Value {
    let mut embed = json!({
        "title": cut(&event.summary(), 256),
        "description": cut(&event.message, 4096),
        "color": color(event),
        "timestamp": event.time,
        "fields": facts(event).into_iter().take(25).map(|(n, v)| json!({"name": n, "value": cut(&v, 1024), "inline": true})).collect::<Vec<_>>(),
    });
    if let Some(link) = &event.link {
        embed["url"] = json!(link);
    }
    json!({"username": "Tether", "content": cut(&event.summary(), 2000), "embeds": [embed]})
}

fn alert_name(kind: Kind) -> String {
    let name = kind.name();
    let mut chars = name.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase());
    format!(
        "Tether{}{}",
        first.map(String::from).unwrap_or_default(),
        chars.as_str()
    )
}

fn alertmanager_body(provider: &Provider, event: &Event) -> Value {
    let labels = json!({
        "alertname": alert_name(event.kind),
        "app": event.app,
        "namespace": event.namespace,
        "cluster": event.cluster,
        "severity": event.kind.severity().name(),
    });
    let starts = event.time.clone();
    // A firing alert lasts until its recovery; it is sent again with each reminder, so it
    // ends on its own only if the agent goes away for two reminder intervals.
    let ends = if event.resolved || !event.kind.is_condition() {
        event.time.clone()
    } else {
        let hold = provider.alert_hold();
        crate::daemon::time::format_rfc3339(event.at + hold)
    };
    let mut alert = json!({
        "labels": labels,
        "annotations": {
            "summary": event.summary(),
            "description": cut(&event.message, 4000),
            "revision": event.commit.revision,
        },
        "startsAt": starts,
        "endsAt": ends,
    });
    if let Some(link) = &event.link {
        alert["generatorURL"] = json!(link);
    }
    json!([alert])
}

/// GitHub and GitLab commit statuses concern syncs: the state of a status, when the event
/// gives one.
fn commit_state(event: &Event) -> Option<bool> {
    match (event.kind, event.resolved) {
        (Kind::SyncSucceeded, _) => Some(true),
        (Kind::SyncFailed | Kind::HookFailed, false) => Some(false),
        _ => None,
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn json_request(url: String, headers: Vec<(String, String)>, body: &Value) -> Outgoing {
    let mut headers = headers;
    headers.push(("content-type".into(), "application/json".into()));
    Outgoing::Http(HttpRequest {
        url,
        headers,
        body: serde_json::to_vec(body).unwrap_or_default(),
    })
}

/// A GitHub (`github`) or GitLab commit status on the event's commit.
fn commit_status(
    provider: &Provider,
    event: &Event,
    address: Option<String>,
    context: &str,
    github: bool,
) -> Option<Outgoing> {
    let ok = commit_state(event)?;
    if event.commit.revision.is_empty() {
        return None;
    }
    let repository = provider.repository.as_deref().unwrap_or_default();
    let token = provider.token().unwrap_or_default();
    let (url, mut body, headers) = if github {
        let base = address.unwrap_or_else(|| "https://api.github.com".into());
        let url = format!(
            "{}/repos/{repository}/statuses/{}",
            base.trim_end_matches('/'),
            event.commit.revision
        );
        let body = json!({
            "state": if ok { "success" } else { "failure" },
            "description": cut(&event.summary(), 140),
            "context": context,
        });
        let headers = vec![
            ("authorization".into(), format!("Bearer {token}")),
            ("accept".into(), "application/vnd.github+json".into()),
            ("x-github-api-version".into(), "2022-11-28".into()),
            ("user-agent".into(), "tether-agent".into()),
        ];
        (url, body, headers)
    } else {
        let base = address.unwrap_or_else(|| "https://gitlab.com".into());
        let url = format!(
            "{}/api/v4/projects/{}/statuses/{}",
            base.trim_end_matches('/'),
            percent_encode(repository),
            event.commit.revision
        );
        let body = json!({
            "state": if ok { "success" } else { "failed" },
            "name": context,
            "description": cut(&event.summary(), 255),
        });
        (url, body, vec![("private-token".into(), token)])
    };
    if let Some(link) = &event.link {
        body["target_url"] = json!(link);
    }
    Some(json_request(url, headers, &body))
}

/// The body of a generic webhook: Tether's event, or Flux's.
fn webhook_body(provider: &Provider, event: &Event) -> Value {
    match provider.config.format {
        WebhookFormat::Tether => serde_json::to_value(event).unwrap_or(Value::Null),
        WebhookFormat::Flux => super::flux::body(event),
    }
}

/// The header Flux's forwarder names its controller in, for the Flux format.
fn flux_header(provider: &Provider) -> Option<(String, String)> {
    (provider.config.format == WebhookFormat::Flux)
        .then(|| ("gotk-component".into(), super::flux::CONTROLLER.into()))
}

/// Whether `provider` takes `event` at all (no commit status for a drift revert, no alert
/// for a success).
#[must_use]
pub fn accepts(provider: &Provider, event: &Event) -> bool {
    build(provider, event).is_some()
}

/// The header that carries an event's stable id on every HTTP request: a receiver that
/// sees one id twice has the same event twice (a send repeated after a restart).
pub const EVENT_ID_HEADER: &str = "x-tether-event-id";

/// The request for `event` to `provider`; `None` when the provider does not take this kind
/// of event (a commit status for a drift revert). Every HTTP request carries the event's id
/// in [`EVENT_ID_HEADER`]; Google Chat also as its `requestId` (the service then creates the
/// message once); a mail as its `Message-ID`.
#[must_use]
pub fn build(provider: &Provider, event: &Event) -> Option<Outgoing> {
    let mut out = build_body(provider, event)?;
    if !event.event_id.is_empty() {
        match &mut out {
            Outgoing::Http(h) => {
                h.headers
                    .push((EVENT_ID_HEADER.into(), event.event_id.clone()));
                if provider.kind == ProviderType::GoogleChat {
                    let sep = if h.url.contains('?') { '&' } else { '?' };
                    h.url = format!("{}{sep}requestId={}", h.url, event.event_id);
                }
            }
            Outgoing::Mail(m) => m.message_id = Some(event.event_id.clone()),
        }
    }
    Some(out)
}

fn build_body(provider: &Provider, event: &Event) -> Option<Outgoing> {
    let address = provider.address();
    let bearer = || {
        provider
            .token()
            .map(|t| ("authorization".to_owned(), format!("Bearer {t}")))
    };
    let context = format!("tether/{}/{}", event.cluster, event.app);
    Some(match provider.kind {
        ProviderType::Webhook => {
            let mut headers: Vec<(String, String)> = bearer().into_iter().collect();
            headers.extend(flux_header(provider));
            json_request(address?, headers, &webhook_body(provider, event))
        }
        ProviderType::GenericHmac => {
            let body = serde_json::to_vec(&webhook_body(provider, event)).unwrap_or_default();
            let key = provider.token()?;
            let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).ok()?;
            mac.update(&body);
            let signature = hex::encode(mac.finalize().into_bytes());
            let mut headers = vec![
                ("content-type".into(), "application/json".into()),
                ("x-signature".into(), format!("sha256={signature}")),
            ];
            headers.extend(flux_header(provider));
            Outgoing::Http(HttpRequest {
                url: address?,
                headers,
                body,
            })
        }
        ProviderType::Slack => json_request(address?, vec![], &slack_body(event)),
        ProviderType::SlackBot => {
            let mut body = slack_body(event);
            let channel = event.channel.clone().or_else(|| provider.channel.clone());
            body["channel"] = json!(channel.unwrap_or_default());
            let url = address.unwrap_or_else(|| "https://slack.com/api/chat.postMessage".into());
            let mut headers: Vec<(String, String)> = bearer().into_iter().collect();
            headers.push((
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ));
            Outgoing::Http(HttpRequest {
                url,
                headers,
                body: serde_json::to_vec(&body).unwrap_or_default(),
            })
        }
        ProviderType::Teams => json_request(address?, vec![], &teams_body(event)),
        ProviderType::Discord => json_request(address?, vec![], &discord_body(event)),
        ProviderType::GoogleChat => {
            let body = json!({"text": cut(&event.text(), 4000)});
            let mut r = json_request(address?, vec![], &body);
            if let Outgoing::Http(h) = &mut r {
                h.headers = vec![(
                    "content-type".into(),
                    "application/json; charset=UTF-8".into(),
                )];
            }
            r
        }
        ProviderType::Alertmanager => {
            // Alerts are conditions: a success or a drift revert is no alert.
            if !event.kind.is_condition() {
                return None;
            }
            let base = address?;
            let url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
            json_request(
                url,
                bearer().into_iter().collect(),
                &alertmanager_body(provider, event),
            )
        }
        ProviderType::Github => commit_status(provider, event, address, &context, true)?,
        ProviderType::Gitlab => commit_status(provider, event, address, &context, false)?,
        ProviderType::Smtp => Outgoing::Mail(Mail {
            subject: cut(&format!("[tether] {}", event.summary()), 200),
            body: event.text(),
            message_id: None,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_are_pascal_case() {
        assert_eq!(alert_name(Kind::SyncFailed), "TetherSyncFailed");
        assert_eq!(alert_name(Kind::HealthDegraded), "TetherHealthDegraded");
    }

    #[test]
    fn texts_are_cut_on_a_character_boundary() {
        let s = "é".repeat(10);
        let c = cut(&s, 5);
        assert!(c.len() <= 5 + '…'.len_utf8());
        assert!(c.ends_with('…'));
    }

    #[test]
    fn gitlab_project_paths_are_encoded() {
        assert_eq!(percent_encode("group/sub/proj"), "group%2Fsub%2Fproj");
    }
}
