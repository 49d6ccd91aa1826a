//! The app view: the resource tree in apply order (from the last sync's change set), each
//! object's sync state, health and live vs desired diff ([`super::desired`], computed when
//! the page is asked for), live children from owner references, recent
//! Events, the last syncs, policy results, orphaned objects with the rule that kept them and
//! where each Secret came from. Live data is read from the cluster by [`super::live`];
//! Secret values never appear: diffs are redacted by the engine with [`crate::redact::mark`],
//! and of a live Secret only the metadata is read.

use super::model::AppRow;
use crate::daemon::state::{AppStatus, SecretSource, SyncRecord};
use crate::sync::Action;
use crate::sync::changeset::FieldChange;
use serde::Serialize;

/// One app in detail.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    /// The overview's row of the app.
    pub app: AppRow,
    /// The objects of the last sync, in apply order (pruned and orphaned ones excluded).
    pub objects: Vec<ObjectView>,
    /// Objects that left Git and were kept, with why.
    pub orphans: Vec<OrphanView>,
    /// Objects pruned by the last sync.
    pub pruned: Vec<String>,
    /// Recent Events about the app and its objects, newest first.
    pub events: Vec<EventView>,
    /// The last syncs, newest first.
    pub history: Vec<SyncRecord>,
    /// Policy findings of the last round.
    pub policy: Vec<String>,
    /// The Secrets and where they came from.
    pub secrets: Vec<SecretSource>,
    /// Every error of the last round.
    pub errors: Vec<String>,
    /// Container images of the last sync.
    pub images: Vec<String>,
    /// Why live data is missing, when the cluster could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_error: Option<String>,
    /// The comparison with Git (revision compared, objects out of sync, Secrets whose values
    /// only a sync reads), when it could be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<ComparisonView>,
    /// Why the app could not be compared with Git.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_error: Option<String>,
}

/// The comparison with Git, without its per-object diffs (those are on the objects).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonView {
    /// The revision rendered.
    pub revision: String,
    /// How many objects differ from Git.
    pub out_of_sync: usize,
    /// Objects whose values come from a store at sync time (not compared here).
    pub unresolved: Vec<String>,
    /// Reading one object failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One object of the app.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectView {
    /// The API group.
    pub group: String,
    /// The API version.
    pub version: String,
    /// The kind.
    pub kind: String,
    /// The namespace (empty for cluster scope).
    pub namespace: String,
    /// The name.
    pub name: String,
    /// What the last sync did: created, configured, unchanged, failed, skipped.
    pub action: String,
    /// `Synced`, `Failed`, `OutOfSync` (skipped), `Missing` (not found live).
    pub sync: String,
    /// The live object's health (`Unknown` before it is read).
    pub health: String,
    /// Why it is not healthy.
    pub health_reason: String,
    /// Why it failed or was skipped.
    pub reason: String,
    /// Live vs Git: `Synced`, `OutOfSync`, `Missing`, `Unknown` (empty before a comparison).
    pub compare: String,
    /// The fields whose live value differs from Git (before: live, after: desired), Secret
    /// values as redaction marks.
    pub diff: Vec<FieldChange>,
    /// The fields the last sync changed, Secret values as redaction marks.
    pub changed: Vec<FieldChange>,
    /// Live children by owner reference (ReplicaSets, Pods, Jobs), depth first.
    pub children: Vec<ChildView>,
}

/// A live child object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildView {
    /// 1 for a direct child, 2 for a grandchild.
    pub depth: u8,
    /// The kind.
    pub kind: String,
    /// The name.
    pub name: String,
    /// The health.
    pub health: String,
    /// Why it is not healthy.
    pub reason: String,
}

/// An object that left Git and was kept.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrphanView {
    /// The object (`Kind.group namespace/name`).
    pub object: String,
    /// The rule that kept it (protected, not Tether's, prune disabled).
    pub rule: String,
}

/// One Event.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// When (RFC 3339).
    pub time: String,
    /// `Normal` or `Warning`.
    pub r#type: String,
    /// The reason.
    pub reason: String,
    /// The object (`Kind/name`).
    pub object: String,
    /// The note.
    pub note: String,
}

fn sync_of(action: Action) -> &'static str {
    match action {
        Action::Created | Action::Configured | Action::Unchanged => "Synced",
        Action::Failed => "Failed",
        Action::Skipped => "OutOfSync",
        Action::Pruned => "Pruned",
        Action::Orphaned => "Orphaned",
    }
}

/// The view of `status` without live data (health `Unknown`, no children, no Events).
#[must_use]
pub fn app_view(status: &AppStatus) -> AppView {
    let mut objects = Vec::new();
    let mut orphans = Vec::new();
    let mut pruned = Vec::new();
    for change in &status.changes {
        match change.action {
            Action::Orphaned => orphans.push(OrphanView {
                object: change.object.to_string(),
                rule: change.reason.clone().unwrap_or_default(),
            }),
            Action::Pruned => pruned.push(change.object.to_string()),
            action => objects.push(ObjectView {
                group: change.object.group.clone(),
                version: change.object.version.clone(),
                kind: change.object.kind.clone(),
                namespace: change.object.namespace.clone(),
                name: change.object.name.clone(),
                action: action.to_string(),
                sync: sync_of(action).to_owned(),
                health: "Unknown".into(),
                health_reason: String::new(),
                reason: change.reason.clone().unwrap_or_default(),
                compare: String::new(),
                diff: Vec::new(),
                changed: change.diff.clone(),
                children: Vec::new(),
            }),
        }
    }
    AppView {
        app: AppRow::of(status),
        objects,
        orphans,
        pruned,
        events: Vec::new(),
        history: status.history(),
        policy: status.policy.clone(),
        secrets: status.secrets.clone(),
        errors: status.errors.clone(),
        images: status.images.clone(),
        live_error: None,
        comparison: None,
        compare_error: None,
    }
}

/// Puts a comparison with Git into `view`: each object's state and diff; objects Git has and
/// the last sync did not apply are added (not applied yet).
pub fn merge_comparison(view: &mut AppView, comparison: super::desired::Comparison) {
    let out_of_sync = comparison.out_of_sync();
    for found in comparison.objects {
        let o = &found.object;
        let state = format!("{:?}", found.state);
        let existing = view.objects.iter_mut().find(|v| {
            v.group == o.group && v.kind == o.kind && v.namespace == o.namespace && v.name == o.name
        });
        match existing {
            Some(v) => {
                v.compare = state;
                v.diff = found.diff;
            }
            None => view.objects.push(ObjectView {
                group: o.group.clone(),
                version: o.version.clone(),
                kind: o.kind.clone(),
                namespace: o.namespace.clone(),
                name: o.name.clone(),
                action: "not applied yet".into(),
                sync: "OutOfSync".into(),
                health: "Unknown".into(),
                health_reason: String::new(),
                reason: String::new(),
                compare: state,
                diff: found.diff,
                changed: Vec::new(),
                children: Vec::new(),
            }),
        }
    }
    view.comparison = Some(ComparisonView {
        revision: comparison.revision,
        out_of_sync,
        unresolved: comparison.unresolved,
        error: comparison.error,
    });
}
