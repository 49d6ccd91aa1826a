//! The app view: the resource tree in apply order (from the last sync's change set), each
//! object's sync state, health and last diff, live children from owner references, recent
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
    /// The fields the last sync changed (desired vs live before), Secret values redacted.
    pub diff: Vec<FieldChange>,
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
                diff: change.diff.clone(),
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
    }
}
