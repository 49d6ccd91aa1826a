//! Flux's event format: what notification-controller's `generic` and `generic-hmac`
//! providers post (the `Event` of fluxcd/pkg `runtime/events`), so that a receiver written
//! for Flux keeps working when a repository moves over. The Tether app stands where Flux
//! has its Kustomization.

use super::event::{Event, Kind, Severity};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The controller named in `reportingController` and the `gotk-component` header.
pub const CONTROLLER: &str = "tether-agent";

/// The `involvedObject` kind and apiVersion an app is reported as.
const KIND: &str = "Kustomization";
const API_VERSION: &str = "kustomize.toolkit.fluxcd.io/v1";

/// A stable UID for an app of a cluster (a UUID made from a hash of both), as Flux's
/// receivers expect one.
fn uid(cluster: &str, app: &str) -> String {
    let digest = Sha256::digest(format!("{cluster}/{app}").as_bytes());
    let h = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Flux has two severities: `info` and `error` (a warning, while it holds, is an error).
fn severity(event: &Event) -> &'static str {
    match event.severity {
        Severity::Info => "info",
        Severity::Warning | Severity::Error => "error",
    }
}

/// The reason, in Flux's words where Flux has one for the same thing.
fn reason(event: &Event) -> String {
    match (event.kind, event.resolved) {
        (Kind::SyncSucceeded, _) | (Kind::SyncFailed, true) => "ReconciliationSucceeded".into(),
        (Kind::SyncFailed, false) if event.stage.as_deref() == Some("render") => {
            "BuildFailed".into()
        }
        (Kind::SyncFailed, false) => "ReconciliationFailed".into(),
        (Kind::HealthDegraded, false) => "HealthCheckFailed".into(),
        (Kind::HealthDegraded, true) => "HealthCheckSucceeded".into(),
        _ => event.reason.clone(),
    }
}

/// The Flux `Event` JSON of `event`.
#[must_use]
pub fn body(event: &Event) -> Value {
    let mut metadata = serde_json::Map::new();
    if !event.commit.revision.is_empty() {
        let revision = format!("sha1:{}", event.commit.revision);
        metadata.insert(format!("{}/revision", group()), json!(revision));
        metadata.insert("revision".into(), json!(revision));
    }
    metadata.insert("tether.dev/event".into(), json!(event.kind.name()));
    metadata.insert(
        "tether.dev/resolved".into(),
        json!(event.resolved.to_string()),
    );
    metadata.insert("tether.dev/cluster".into(), json!(event.cluster));
    if !event.event_id.is_empty() {
        metadata.insert("tether.dev/event-id".into(), json!(event.event_id));
    }
    if let Some(stage) = &event.stage {
        metadata.insert("tether.dev/stage".into(), json!(stage));
    }
    if let Some(link) = &event.link {
        metadata.insert("tether.dev/link".into(), json!(link));
    }
    json!({
        "involvedObject": {
            "kind": KIND,
            "namespace": event.namespace,
            "name": event.app,
            "uid": uid(&event.cluster, &event.app),
            "apiVersion": API_VERSION,
        },
        "severity": severity(event),
        "timestamp": event.time,
        "message": event.text(),
        "reason": reason(event),
        "metadata": metadata,
        "reportingController": CONTROLLER,
        "reportingInstance": event.cluster,
    })
}

fn group() -> &'static str {
    API_VERSION.split('/').next().unwrap_or(API_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::Commit;

    #[test]
    fn an_event_reads_as_a_flux_event_of_a_kustomization() {
        let event = Event {
            app: "web".into(),
            namespace: "shop".into(),
            cluster: "prod".into(),
            kind: Kind::HealthDegraded,
            resolved: false,
            reminder: false,
            severity: Severity::Warning,
            commit: Commit {
                revision: "0123456789abcdef0123456789abcdef01234567".into(),
                ..Commit::default()
            },
            stage: None,
            reason: "Degraded".into(),
            message: "pod crash".into(),
            link: None,
            channel: None,
            time: "2026-12-07T12:00:00Z".into(),
            at: std::time::SystemTime::UNIX_EPOCH,
            id: 0,
            event_id: String::new(),
        };
        let b = body(&event);
        assert_eq!(b["involvedObject"]["kind"], "Kustomization");
        assert_eq!(b["involvedObject"]["name"], "web");
        assert_eq!(b["involvedObject"]["uid"].as_str().map(str::len), Some(36));
        assert_eq!(b["severity"], "error");
        assert_eq!(b["reason"], "HealthCheckFailed");
        assert_eq!(
            b["metadata"]["kustomize.toolkit.fluxcd.io/revision"],
            "sha1:0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(b["reportingController"], "tether-agent");
        assert_eq!(uid("prod", "web"), uid("prod", "web"));
        assert_ne!(uid("prod", "web"), uid("test", "web"));
    }
}
