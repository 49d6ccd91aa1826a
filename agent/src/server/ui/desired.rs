//! Live vs desired, computed when a page asks: the app is rendered again through the daemon's
//! pipeline at the newest revision its source fetched, and each desired object is compared
//! with the live one on the fields Tether applies, the way the drift comparison does
//! ([`crate::sync::compare`]): `managedFields`, `resourceVersion`, `status` and whatever the
//! server defaulted are not in the desired shape and so never differ. Nothing rendered is
//! kept: only a small [`Compared`] summary stays in the app's status.
//!
//! Secret values are redacted the one way Tether redacts ([`crate::sync::changeset::diff`],
//! a keyed mark `<redacted hmac:xxxxxxxx>`): plaintext leaves its zeroizing type only for the
//! comparison of one object and is dropped right after. Values from external stores are not
//! read for a page: those Secrets are listed as compared at sync only.
//!
//! The daemon's runner provides the rendering ([`Inspect`]); a refresh (the UI's "Refresh from
//! Git") fetches the source first, then compares, and writes nothing to the cluster.

use crate::sync::changeset::{self, FieldChange};
use crate::sync::client::Resolver;
use crate::sync::{IgnoreRule, ObjectRef, apply, compare};
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

/// The most objects of one app compared for a page.
pub const MAX_COMPARED: usize = 200;

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// The agent runs no generation (starting, standby, or no cluster).
    #[error("the agent is not syncing (starting up or a standby replica)")]
    NotRunning,
    /// The app is not known to the running configuration.
    #[error("no app {0:?} in the running configuration")]
    UnknownApp(String),
    /// The app's source has not fetched a revision yet.
    #[error("source {0} has not fetched a revision yet")]
    NotFetched(String),
    /// Fetching the source failed (refresh).
    #[error("fetch of source {source_name} failed: {message}")]
    FetchFailed {
        /// The source.
        source_name: String,
        /// What failed (redacted by the source).
        message: String,
    },
    /// A stage before apply failed (render, policy, validation).
    #[error("{reason}: {message}")]
    PrepareFailed {
        /// The stage's reason.
        reason: &'static str,
        /// What failed (never a value).
        message: String,
    },
}

/// What renders an app on demand: the daemon's runner.
pub trait Inspect: Send + Sync {
    /// Compares `app` at the newest revision fetched with the live objects.
    fn compare<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<Comparison, CompareError>>;
    /// Fetches the app's source from Git, then compares (no apply).
    fn refresh<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<Comparison, CompareError>>;
}

/// The state of one object against Git.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DiffState {
    /// Live matches desired on every applied field.
    Synced,
    /// Some applied field differs.
    OutOfSync,
    /// Not found live: a sync would create it.
    Missing,
    /// Its kind is not served (a CRD of the same sync, or none).
    Unknown,
}

/// One desired object compared with the live one.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDiff {
    /// The object.
    pub object: ObjectRef,
    /// Its state.
    pub state: DiffState,
    /// The fields whose live value differs (before: live, after: desired), Secret values as
    /// redaction marks.
    pub diff: Vec<FieldChange>,
}

/// An app compared with Git.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// The revision rendered.
    pub revision: String,
    /// Each desired object (hooks left out), in render order.
    pub objects: Vec<ObjectDiff>,
    /// Objects whose values come from a store at sync time (not read for a page).
    pub unresolved: Vec<String>,
    /// Reading one object failed (the first failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Comparison {
    /// How many objects differ from Git.
    #[must_use]
    pub fn out_of_sync(&self) -> usize {
        self.objects
            .iter()
            .filter(|o| matches!(o.state, DiffState::OutOfSync | DiffState::Missing))
            .count()
    }

    /// The summary kept in the app's status.
    #[must_use]
    pub fn summary(&self, last_sync: Option<&str>) -> Compared {
        Compared {
            revision: self.revision.clone(),
            out_of_sync: self.out_of_sync(),
            at: crate::daemon::time::format_rfc3339(std::time::SystemTime::now()),
            last_sync: last_sync.unwrap_or_default().to_owned(),
        }
    }
}

/// The last comparison of an app with Git, kept in its status: small, no object.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Compared {
    /// The revision compared.
    pub revision: String,
    /// How many objects differed.
    pub out_of_sync: usize,
    /// When (RFC 3339).
    pub at: String,
    /// The app's last sync when it was compared: a later sync makes it stale.
    pub last_sync: String,
}

impl Compared {
    /// `OutOfSync` or `Synced` while no sync happened since; else empty (unknown).
    #[must_use]
    pub fn state(&self, last_sync: Option<&str>) -> &'static str {
        if self.last_sync != last_sync.unwrap_or_default() {
            ""
        } else if self.out_of_sync > 0 {
            "OutOfSync"
        } else {
            "Synced"
        }
    }
}

/// What one app's objects are compared under.
pub struct Target<'a> {
    /// The cluster.
    pub client: &'a kube::Client,
    /// The kind resolver.
    pub resolver: &'a Resolver,
    /// The app's target namespace (objects without one go there, else to `default`).
    pub namespace: &'a str,
    /// The app's ignore rules (as in the drift comparison).
    pub ignore: &'a [IgnoreRule],
}

/// Compares desired `objects` (render order; Secrets with their values, dropped one by one
/// as they are compared) with the live ones.
pub async fn compare_objects(
    target: &Target<'_>,
    revision: &str,
    objects: Vec<Value>,
) -> Comparison {
    let mut out = Comparison {
        revision: revision.to_owned(),
        objects: Vec::new(),
        unresolved: Vec::new(),
        error: None,
    };
    for (index, object) in objects.into_iter().enumerate().take(MAX_COMPARED) {
        if crate::sync::hooks::phase(&object).is_some()
            || crate::sync::hooks::skip_reason(&object).is_some()
        {
            continue;
        }
        let Ok(reference) = ObjectRef::from_object(index, &object) else {
            continue;
        };
        match compare_one(target, reference, &object).await {
            Ok(diff) => out.objects.push(diff),
            Err(message) => {
                out.error.get_or_insert(message);
            }
        }
    }
    out
}

async fn compare_one(
    target: &Target<'_>,
    reference: ObjectRef,
    desired: &Value,
) -> Result<ObjectDiff, String> {
    let Ok(resolved) = target.resolver.resolve(&reference.gvk()).await else {
        return Ok(ObjectDiff {
            object: reference,
            state: DiffState::Unknown,
            diff: Vec::new(),
        });
    };
    let reference = if resolved.scope.namespaced && reference.namespace.is_empty() {
        let ns = if target.namespace.is_empty() {
            "default"
        } else {
            target.namespace
        };
        reference.with_namespace(ns)
    } else {
        reference
    };
    let api = apply::api_for(target.client, &resolved, &reference.namespace);
    let live = apply::get(&api, &reference)
        .await
        .map_err(|e| crate::text::clip_message(&format!("{}: {e}", e.reason())).into_owned())?;
    let Some(live) = live else {
        return Ok(ObjectDiff {
            object: reference,
            state: DiffState::Missing,
            diff: Vec::new(),
        });
    };
    let diff = field_diff(&reference, desired, &live, target.ignore);
    drop(live);
    Ok(ObjectDiff {
        state: if diff.is_empty() {
            DiffState::Synced
        } else {
            DiffState::OutOfSync
        },
        object: reference,
        diff,
    })
}

/// The fields Tether applies whose live value differs, both sides sanitized (Secret values
/// as marks): what the drift comparison would call drift.
#[must_use]
pub fn field_diff(
    reference: &ObjectRef,
    desired: &Value,
    live: &Value,
    ignore: &[IgnoreRule],
) -> Vec<FieldChange> {
    let shape = compare::shape(reference, desired, ignore);
    let managers = compare::yielding_managers(reference, ignore);
    let projected = compare::project_yielding(live, &shape, &managers);
    changeset::diff(reference, &projected, &shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reference(object: &Value) -> ObjectRef {
        ObjectRef::from_object(0, object).expect("valid")
    }

    #[test]
    fn server_fields_and_defaults_are_not_a_difference() {
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}}});
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "app.kubernetes.io/managed-by": "tether"},
                "resourceVersion": "42", "uid": "u", "managedFields": [{"manager": "tether"}]},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "web", "image": "web:1", "imagePullPolicy": "IfNotPresent"}]}}},
            "status": {"readyReplicas": 1}});
        assert!(field_diff(&reference(&desired), &desired, &live, &[]).is_empty());
        let mut changed = live.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2");
        let diff = field_diff(&reference(&desired), &desired, &changed, &[]);
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert_eq!(diff[0].path, "/spec/template/spec/containers");
        let (before, after) = (diff[0].before.as_deref(), diff[0].after.as_deref());
        assert!(before.is_some_and(|b| b.contains("web:2") && !b.contains("imagePullPolicy")));
        assert!(after.is_some_and(|a| a.contains("web:1")), "{after:?}");
    }

    #[test]
    fn fields_of_a_yielded_to_manager_are_not_a_difference() {
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 2, "paused": false}});
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "managedFields": [
                {"manager": "tether", "operation": "Apply", "fieldsV1": {"f:spec": {"f:paused": {}}}},
                {"manager": "hpa", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 7, "paused": false}});
        let rules = [IgnoreRule {
            managed_fields_managers: vec!["hpa".into()],
            ..IgnoreRule::default()
        }];
        let reference = reference(&desired);
        assert!(field_diff(&reference, &desired, &live, &rules).is_empty());
        let diff = field_diff(&reference, &desired, &live, &[]);
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert_eq!(diff[0].path, "/spec/replicas");
    }

    #[test]
    fn a_secret_differs_by_redaction_marks_never_by_value() {
        let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "data": {"password": "bmV3LXBhc3N3b3Jk"}});
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "data": {"password": "b2xkLXBhc3N3b3Jk"}});
        let diff = field_diff(&reference(&desired), &desired, &live, &[]);
        let text = serde_json::to_string(&diff).expect("JSON");
        for plain in [
            "new-password",
            "old-password",
            "bmV3LXBhc3N3b3Jk",
            "b2xkLXBhc3N3b3Jk",
        ] {
            assert!(!text.contains(plain), "{text}");
        }
        assert_eq!(diff.len(), 1);
        assert_eq!(
            diff[0].after.as_deref(),
            Some(format!("\"{}\"", crate::redact::mark(b"new-password")).as_str())
        );
        assert!(field_diff(&reference(&desired), &desired, &desired, &[]).is_empty());
    }

    #[test]
    fn a_comparison_goes_stale_when_the_app_syncs_again() {
        let compared = Compared {
            revision: "abc".into(),
            out_of_sync: 2,
            at: String::new(),
            last_sync: "2026-12-07T10:00:00Z".into(),
        };
        assert_eq!(compared.state(Some("2026-12-07T10:00:00Z")), "OutOfSync");
        assert_eq!(compared.state(Some("2026-12-07T10:05:00Z")), "");
        let synced = Compared {
            out_of_sync: 0,
            ..compared
        };
        assert_eq!(synced.state(Some("2026-12-07T10:00:00Z")), "Synced");
    }
}
