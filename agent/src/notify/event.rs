//! The typed input of notifications: what happened to an app ([`Event`]), of which
//! [`Kind`] and [`Severity`].

use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// What an event is about. A kind that names a condition (a failure that holds until it is
/// fixed) is followed by its recovery ([`Event::resolved`]); the others are single events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// A sync succeeded with a new revision.
    SyncSucceeded,
    /// A sync failed (render, decrypt, policy, apply, ...: the stage is in the event).
    SyncFailed,
    /// A hook failed.
    HookFailed,
    /// The app's health degraded (resolved: recovered).
    HealthDegraded,
    /// Drift was reverted.
    DriftReverted,
    /// A prune was held back (protection or the mass-deletion guard).
    PruneHeld,
    /// An object left Git and was kept (orphan).
    OrphanAppeared,
    /// An external secret store could not be reached.
    SecretStoreUnreachable,
    /// Reading or refreshing a secret from a store failed.
    SecretRefreshFailed,
    /// A sealed value was refused (its scope does not allow it here).
    SealedValueRefused,
    /// A revision failed its gates after apply (health or an analysis).
    GateFailed,
    /// The app went back to its last revision that passed its gates.
    RolledBack,
    /// A rollback failed: the app is left alone.
    RollbackFailed,
    /// The app appeared for the first time (in the configuration or an import).
    AppCreated,
    /// The app left the configuration; its objects were handled as for any removed app.
    AppDeleted,
    /// A sync of a new revision started.
    SyncRunning,
    /// The app's desired state could not be known (fetch, render or decryption failed), so
    /// it could not be compared with the cluster (resolved: compared again).
    SyncStatusUnknown,
}

impl Kind {
    /// Every kind, in order.
    pub const ALL: [Kind; 17] = [
        Kind::SyncSucceeded,
        Kind::SyncFailed,
        Kind::HookFailed,
        Kind::HealthDegraded,
        Kind::DriftReverted,
        Kind::PruneHeld,
        Kind::OrphanAppeared,
        Kind::SecretStoreUnreachable,
        Kind::SecretRefreshFailed,
        Kind::SealedValueRefused,
        Kind::GateFailed,
        Kind::RolledBack,
        Kind::RollbackFailed,
        Kind::AppCreated,
        Kind::AppDeleted,
        Kind::SyncRunning,
        Kind::SyncStatusUnknown,
    ];

    /// The name used in configuration and payloads (`syncFailed`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Kind::SyncSucceeded => "syncSucceeded",
            Kind::SyncFailed => "syncFailed",
            Kind::HookFailed => "hookFailed",
            Kind::HealthDegraded => "healthDegraded",
            Kind::DriftReverted => "driftReverted",
            Kind::PruneHeld => "pruneHeld",
            Kind::OrphanAppeared => "orphanAppeared",
            Kind::SecretStoreUnreachable => "secretStoreUnreachable",
            Kind::SecretRefreshFailed => "secretRefreshFailed",
            Kind::SealedValueRefused => "sealedValueRefused",
            Kind::GateFailed => "gateFailed",
            Kind::RolledBack => "rolledBack",
            Kind::RollbackFailed => "rollbackFailed",
            Kind::AppCreated => "appCreated",
            Kind::AppDeleted => "appDeleted",
            Kind::SyncRunning => "syncRunning",
            Kind::SyncStatusUnknown => "syncStatusUnknown",
        }
    }

    /// The kind named `name` (as in [`Kind::name`]).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the kind is a condition that holds until fixed, with a recovery event.
    #[must_use]
    pub fn is_condition(self) -> bool {
        // Gate failures and rollbacks are single events: each one is news.
        !matches!(
            self,
            Kind::SyncSucceeded
                | Kind::DriftReverted
                | Kind::GateFailed
                | Kind::RolledBack
                | Kind::RollbackFailed
                | Kind::AppCreated
                | Kind::AppDeleted
                | Kind::SyncRunning
        )
    }

    /// Whether the kind is sent only where asked for by name (a rule's `events`, an Argo CD
    /// subscription): the life-cycle events Argo CD's `on-created`, `on-deleted`,
    /// `on-sync-running` and `on-sync-status-unknown` triggers stand for, which would
    /// otherwise double every failure and announce every sync.
    #[must_use]
    pub fn is_opt_in(self) -> bool {
        matches!(
            self,
            Kind::AppCreated | Kind::AppDeleted | Kind::SyncRunning | Kind::SyncStatusUnknown
        )
    }

    /// Whether its recovery is notified (orphans are not: they leave quietly).
    #[must_use]
    pub fn notifies_recovery(self) -> bool {
        self.is_condition() && self != Kind::OrphanAppeared
    }

    /// The severity of the kind while it holds.
    #[must_use]
    pub fn severity(self) -> Severity {
        match self {
            Kind::SyncSucceeded
            | Kind::DriftReverted
            | Kind::OrphanAppeared
            | Kind::AppCreated
            | Kind::AppDeleted
            | Kind::SyncRunning => Severity::Info,
            Kind::PruneHeld
            | Kind::HealthDegraded
            | Kind::SecretRefreshFailed
            | Kind::RolledBack
            | Kind::SyncStatusUnknown => Severity::Warning,
            Kind::SyncFailed
            | Kind::GateFailed
            | Kind::RollbackFailed
            | Kind::HookFailed
            | Kind::SecretStoreUnreachable
            | Kind::SealedValueRefused => Severity::Error,
        }
    }

    /// A short title: `sync failed`.
    #[must_use]
    pub fn title(self, resolved: bool) -> &'static str {
        match (self, resolved) {
            (Kind::SyncSucceeded, _) => "sync succeeded",
            (Kind::SyncFailed, false) => "sync failed",
            (Kind::SyncFailed, true) => "sync recovered",
            (Kind::HookFailed, false) => "hook failed",
            (Kind::HookFailed, true) => "hook recovered",
            (Kind::HealthDegraded, false) => "health degraded",
            (Kind::HealthDegraded, true) => "health recovered",
            (Kind::DriftReverted, _) => "drift reverted",
            (Kind::PruneHeld, false) => "prune held back",
            (Kind::PruneHeld, true) => "prune no longer held back",
            (Kind::OrphanAppeared, false) => "orphan appeared",
            (Kind::OrphanAppeared, true) => "orphans gone",
            (Kind::SecretStoreUnreachable, false) => "secret store unreachable",
            (Kind::SecretStoreUnreachable, true) => "secret store reachable again",
            (Kind::SecretRefreshFailed, false) => "secret refresh failing",
            (Kind::SecretRefreshFailed, true) => "secret refresh recovered",
            (Kind::SealedValueRefused, false) => "sealed value refused",
            (Kind::SealedValueRefused, true) => "sealed value accepted again",
            (Kind::GateFailed, _) => "gate failed",
            (Kind::RolledBack, _) => "rolled back",
            (Kind::RollbackFailed, _) => "rollback failed",
            (Kind::AppCreated, _) => "app created",
            (Kind::AppDeleted, _) => "app deleted",
            (Kind::SyncRunning, _) => "sync running",
            (Kind::SyncStatusUnknown, false) => "sync status unknown",
            (Kind::SyncStatusUnknown, true) => "sync status known again",
        }
    }
}

/// The reason of a successful sync that changed no object.
pub const UNCHANGED: &str = "Unchanged";

/// How bad an event is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Something worth knowing (a sync, a drift revert, a recovery).
    #[default]
    Info,
    /// Something to look at.
    Warning,
    /// Something broken.
    Error,
}

impl Severity {
    /// `info`, `warning`, `error`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// The commit an event concerns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Commit {
    /// The commit id.
    pub revision: String,
    /// Its subject (first line of the message), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Its author (`Name <mail>`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// One notification's content. Every text in it went through the project's redaction
/// ([`crate::notify::redact_text`]) before the event was made, so an event record may be
/// kept (the pending queue in the app's status, [`crate::notify::ledger`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The app.
    pub app: String,
    /// Its target namespace.
    pub namespace: String,
    /// The cluster (from the configuration), for contexts and labels.
    pub cluster: String,
    /// What happened.
    pub kind: Kind,
    /// Whether this is the recovery of the condition `kind`.
    pub resolved: bool,
    /// Whether this repeats a condition that still holds (a reminder).
    pub reminder: bool,
    /// How bad it is.
    pub severity: Severity,
    /// The commit.
    pub commit: Commit,
    /// The failed stage (`render`, `decrypt`, `policy`, `apply`, `hook`, ...), when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The short reason (`RenderFailed`, `PruneBlocked`, ...).
    pub reason: String,
    /// The message, redacted.
    pub message: String,
    /// The app's page on the agent, when the agent's URL is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The recipient a subscription asked for (an Argo CD annotation's Slack channel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// When it happened (RFC 3339).
    pub time: String,
    /// The same, as a time (a kept record read back: the time it was read).
    #[serde(skip, default = "SystemTime::now")]
    pub at: SystemTime,
    /// Its number in the pending queue of its app (0: not kept, a refreshed alert).
    #[serde(skip)]
    pub id: u64,
    /// Its stable identity (32 hex digits), made once and kept in the ledger before the
    /// first attempt, so that a send repeated after a restart carries the same one: the
    /// idempotency key receivers de-duplicate by (empty: a refreshed alert).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
}

impl Event {
    /// A one-line summary: `[error] app web: sync failed (render) at abc1234`.
    #[must_use]
    pub fn summary(&self) -> String {
        let mut s = format!(
            "[{}] app {}: {}",
            self.severity.name(),
            self.app,
            self.kind.title(self.resolved)
        );
        if let Some(stage) = &self.stage
            && !self.resolved
        {
            s.push_str(&format!(" ({stage})"));
        }
        if self.reminder {
            s.push_str(", still");
        }
        if !self.commit.revision.is_empty() {
            s.push_str(&format!(" at {}", self.short_revision()));
        }
        s
    }

    /// Whether this is the success of a new commit that changed no object: commit statuses
    /// take it, chat providers only when a rule asks for `syncSucceeded` by name.
    #[must_use]
    pub fn is_quiet_success(&self) -> bool {
        self.kind == Kind::SyncSucceeded && self.reason == UNCHANGED
    }

    /// The first 12 hex digits of the revision.
    #[must_use]
    pub fn short_revision(&self) -> &str {
        let r = &self.commit.revision;
        r.get(..12).unwrap_or(r)
    }

    /// The summary, the commit and the message, as lines of plain text.
    #[must_use]
    pub fn text(&self) -> String {
        let mut lines = vec![self.summary()];
        if let Some(subject) = &self.commit.subject {
            let author = self.commit.author.as_deref().unwrap_or("unknown");
            lines.push(format!("commit: {subject} ({author})"));
        }
        if !self.message.is_empty() {
            lines.push(self.message.clone());
        }
        if let Some(link) = &self.link {
            lines.push(link.clone());
        }
        lines.join("\n")
    }
}

/// A condition (or a single event) seen in one round of an app, before the state machine
/// decides whether it is news.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Its kind.
    pub kind: Kind,
    /// What distinguishes one occurrence from another of the same kind (a new stage, a new
    /// orphan set): a change is notified again.
    pub fingerprint: String,
    /// The stage, when any.
    pub stage: Option<String>,
    /// The reason.
    pub reason: String,
    /// The message (redacted by [`crate::notify::redact_text`] when the event is made).
    pub message: String,
}
