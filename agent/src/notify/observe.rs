//! From the daemon's results to observations: which conditions a round of an app showed.

use super::event::{Condition, Kind};
use super::machine::Observation;
use crate::secrets::{SecretsError, StoreError};
use crate::sync::{Action, SyncResult};

/// The stage of a failure before the sync, from its reason.
#[must_use]
pub fn stage_of(reason: &str) -> &'static str {
    match reason {
        "RenderFailed" => "render",
        "DecryptFailed" | "SecretResolveFailed" | "InvalidObject" => "decrypt",
        "PolicyFailed" | "PolicyDenied" => "policy",
        "DiscoveryFailed" | "InvalidApp" => "discovery",
        "Invalid" | "SchemaInvalid" => "validate",
        "HookFailed" => "hook",
        _ => "prepare",
    }
}

fn condition(
    kind: Kind,
    fingerprint: String,
    stage: Option<&str>,
    reason: &str,
    message: String,
) -> Condition {
    Condition {
        kind,
        fingerprint,
        stage: stage.map(str::to_owned),
        reason: reason.to_owned(),
        message,
    }
}

/// A round that failed before the sync (render, decrypt, policy, ...). A SealedSecret that
/// did not unseal is a sealed value refused; anything else a failed sync of its stage.
#[must_use]
pub fn failed_before_sync(reason: &str, message: &str) -> Observation {
    let stage = stage_of(reason);
    let kind = if reason == "DecryptFailed" && message.contains("unsealing failed") {
        Kind::SealedValueRefused
    } else {
        Kind::SyncFailed
    };
    let mut seen = vec![condition(
        kind,
        format!("{stage}/{reason}"),
        Some(stage),
        reason,
        message.to_owned(),
    )];
    if kind == Kind::SyncFailed && unknown_after(stage) {
        seen.push(condition(
            Kind::SyncStatusUnknown,
            format!("{stage}/{reason}"),
            Some(stage),
            reason,
            message.to_owned(),
        ));
    }
    Observation {
        evaluated: vec![
            Kind::SyncFailed,
            Kind::SealedValueRefused,
            Kind::SyncStatusUnknown,
        ],
        seen,
        synced_revision: None,
    }
}

/// Whether a failure at `stage` leaves the desired state unknown (no comparison with the
/// cluster could be made), as Argo CD's `ComparisonError` does; a policy denial or an
/// invalid object compared and refused.
fn unknown_after(stage: &str) -> bool {
    matches!(stage, "render" | "decrypt" | "discovery" | "prepare")
}

/// The fingerprint prefix of a sync status unknown because the source could not be
/// fetched: a later good fetch clears it.
pub const FETCH: &str = "fetch/";

/// A source fetch that failed: the desired state of its apps is unknown.
#[must_use]
pub fn fetch_failed(reason: &str, message: &str) -> Observation {
    Observation {
        evaluated: vec![Kind::SyncStatusUnknown],
        seen: vec![condition(
            Kind::SyncStatusUnknown,
            format!("{FETCH}{reason}"),
            Some("fetch"),
            reason,
            message.to_owned(),
        )],
        synced_revision: None,
    }
}

/// A sync of `revision` starting (notified once per revision, [`super::machine::step`]).
#[must_use]
pub fn sync_started(revision: &str) -> Observation {
    single(
        Kind::SyncRunning,
        revision,
        "SyncRunning",
        format!("syncing {}", revision.get(..12).unwrap_or(revision)),
    )
}

/// An app seen for the first time.
#[must_use]
pub fn app_created(revision: &str) -> Observation {
    single(
        Kind::AppCreated,
        revision,
        "AppCreated",
        "the app appeared in the configuration".to_owned(),
    )
}

/// An app that left the configuration, with what became of its objects.
#[must_use]
pub fn app_deleted(revision: &str, pruned: usize, orphaned: &[String]) -> Observation {
    let mut message = format!("the app left the configuration: {pruned} objects pruned");
    if !orphaned.is_empty() {
        message.push_str(&format!(
            ", {} protected objects left running",
            orphaned.len()
        ));
    }
    single(Kind::AppDeleted, revision, "AppDeleted", message)
}

fn single(kind: Kind, fingerprint: &str, reason: &str, message: String) -> Observation {
    Observation {
        evaluated: Vec::new(),
        seen: vec![condition(
            kind,
            fingerprint.to_owned(),
            None,
            reason,
            message,
        )],
        synced_revision: None,
    }
}

/// The kind and stage of a secret that did not resolve: a sealed value that did not unseal
/// here (its scope), a SOPS value that did not decrypt (a failed sync of the decryption
/// stage), a store path the policy refuses, a store that cannot be reached, or a read
/// (refresh) that failed.
fn secret_kind(error: &SecretsError) -> (Kind, &'static str) {
    match error {
        SecretsError::UnsealFailed { .. } | SecretsError::BitnamiUnsealFailed { .. } => {
            (Kind::SealedValueRefused, "decrypt")
        }
        SecretsError::DecryptFailed { .. }
        | SecretsError::DecryptFailedAtLoad { .. }
        | SecretsError::NoKeys { .. }
        | SecretsError::CiphertextLeft { .. }
        | SecretsError::InvalidObject { .. } => (Kind::SyncFailed, "decrypt"),
        SecretsError::PolicyDenied { .. } => (Kind::SyncFailed, "policy"),
        SecretsError::StoreReadFailed {
            source: StoreError::Unavailable { .. },
            ..
        } => (Kind::SecretStoreUnreachable, "secrets"),
        SecretsError::StoreReadFailed { .. } | SecretsError::ValueMissing { .. } => {
            (Kind::SecretRefreshFailed, "secrets")
        }
    }
}

/// The conditions of the Secrets that did not resolve, one per kind (a failed sync only when
/// the sync itself did not fail already).
fn secret_conditions(secret_failures: &[&SecretsError], seen: &mut Vec<Condition>) {
    for kind in [
        Kind::SyncFailed,
        Kind::SealedValueRefused,
        Kind::SecretStoreUnreachable,
        Kind::SecretRefreshFailed,
    ] {
        let of_kind: Vec<(&SecretsError, &str)> = secret_failures
            .iter()
            .map(|e| (*e, secret_kind(e)))
            .filter(|(_, (k, _))| *k == kind)
            .map(|(e, (_, stage))| (e, stage))
            .collect();
        let Some((first, stage)) = of_kind.first().copied() else {
            continue;
        };
        if seen.iter().any(|c| c.kind == kind) {
            continue;
        }
        let message = of_kind
            .iter()
            .map(|(e, _)| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        let reason = first.reason();
        let fingerprint = if kind == Kind::SyncFailed {
            format!("{stage}/{reason}")
        } else {
            String::new()
        };
        seen.push(condition(kind, fingerprint, Some(stage), reason, message));
    }
}

/// The fingerprint prefix of a condition that clears without a recovery notice (a prune
/// held back by protection: the object stays, only its report ends).
pub const SILENT: &str = "~";

/// The objects that left Git and were kept: an orphan appearing, and for the protected ones
/// a prune held back (one condition per kind: the mass-deletion guard's, when it stopped the
/// prune, says it first).
fn orphan_conditions(result: &SyncResult, seen: &mut Vec<Condition>) {
    let orphaned: Vec<&crate::sync::Change> = result
        .changes
        .changes
        .iter()
        .filter(|c| c.action == Action::Orphaned)
        .collect();
    let mut orphans: Vec<String> = orphaned.iter().map(|c| c.object.to_string()).collect();
    orphans.sort();
    orphans.dedup();
    let mut protected: Vec<String> = orphaned
        .iter()
        .filter_map(|c| {
            let why = c.reason.as_deref()?;
            why.contains("protected")
                .then(|| format!("{} ({why})", c.object))
        })
        .collect();
    protected.sort();
    if !protected.is_empty() && !seen.iter().any(|c| c.kind == Kind::PruneHeld) {
        let list = protected.join(", ");
        seen.push(condition(
            Kind::PruneHeld,
            format!("{SILENT}prune/protected/{list}"),
            Some("prune"),
            "PruneProtected",
            format!("prune held back by protection: {list}"),
        ));
    }
    if !orphans.is_empty() {
        let list = orphans.join(", ");
        seen.push(condition(
            Kind::OrphanAppeared,
            list.clone(),
            None,
            "Orphaned",
            format!("left Git and kept: {list}"),
        ));
    }
}

/// A round that reached the sync: its result and the Secrets that did not resolve.
#[must_use]
pub fn after_sync(result: &SyncResult, secret_failures: &[&SecretsError]) -> Observation {
    let mut seen = Vec::new();
    if let Some(err) = &result.error {
        let reason = err.reason();
        let (kind, stage) = match reason {
            "PruneBlocked" => (Kind::PruneHeld, "prune"),
            "HookFailed" => (Kind::HookFailed, "hook"),
            "HealthTimeout" => (Kind::SyncFailed, "health"),
            _ => (Kind::SyncFailed, "apply"),
        };
        seen.push(condition(
            kind,
            format!("{stage}/{reason}"),
            Some(stage),
            reason,
            format!("{reason}: {err}"),
        ));
    }
    // A failed sync makes the app's health Degraded with the error itself: that is the
    // failure's notice, not one of health, and says nothing about the objects' health.
    let masked = result.error.as_ref().is_some_and(|e| {
        result.health.status() == "Degraded"
            && result.health.reason() == format!("{}: {e}", e.reason())
    });
    if result.health.status() == "Degraded" && !masked {
        seen.push(condition(
            Kind::HealthDegraded,
            String::new(),
            None,
            "Degraded",
            result.health.reason().to_owned(),
        ));
    }
    orphan_conditions(result, &mut seen);
    secret_conditions(secret_failures, &mut seen);
    let ok = result.error.is_none() && secret_failures.is_empty();
    if ok {
        let counts =
            [Action::Created, Action::Configured, Action::Pruned].map(|a| result.changes.count(a));
        // A new commit that changed no object is a quiet success (see `Event::is_quiet_success`).
        let reason = if counts.iter().all(|n| *n == 0) {
            super::event::UNCHANGED
        } else {
            "Succeeded"
        };
        let [created, configured, pruned] = counts;
        seen.push(condition(
            Kind::SyncSucceeded,
            result.revision.clone(),
            None,
            reason,
            format!("{created} created, {configured} configured, {pruned} pruned"),
        ));
    }
    let mut evaluated: Vec<Kind> = Kind::ALL.into_iter().filter(|k| k.is_condition()).collect();
    if result
        .error
        .as_ref()
        .is_some_and(|e| e.reason() != "PruneBlocked")
    {
        // A sync that stopped early says nothing about health or orphans.
        evaluated.retain(|k| !matches!(k, Kind::HealthDegraded | Kind::OrphanAppeared));
    }
    if masked {
        evaluated.retain(|k| *k != Kind::HealthDegraded);
    }
    Observation {
        evaluated,
        seen,
        synced_revision: ok.then(|| result.revision.clone()),
    }
}

/// A drift correction: a single event.
#[must_use]
pub fn drift_reverted(object: &str, recreated: bool, changed_by: Option<&str>) -> Observation {
    let verb = if recreated { "recreated" } else { "re-applied" };
    let by = changed_by.map(|m| format!(" by {m}")).unwrap_or_default();
    Observation {
        evaluated: Vec::new(),
        seen: vec![condition(
            Kind::DriftReverted,
            object.to_owned(),
            None,
            "DriftCorrected",
            format!("{object} changed in the cluster{by} and was {verb}"),
        )],
        synced_revision: None,
    }
}

/// A gate failure, a rollback or a failed rollback (see [`crate::rollout`]): a single event,
/// told once per revision.
#[must_use]
pub fn rollout_event(kind: Kind, revision: &str, reason: &str, message: &str) -> Observation {
    Observation {
        evaluated: Vec::new(),
        seen: vec![condition(
            kind,
            format!("{revision}/{reason}"),
            Some("rollout"),
            reason,
            message.to_owned(),
        )],
        synced_revision: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::prune::PruneError;
    use crate::sync::{Change, ChangeSet, Health, ObjectRef, SyncError};

    fn orphan(name: &str) -> Change {
        Change {
            object: ObjectRef {
                group: String::new(),
                version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: "shop".into(),
                name: name.into(),
            },
            action: Action::Orphaned,
            reason: Some("protected by tether.dev/prune: disabled".into()),
            diff: Vec::new(),
        }
    }

    fn result(error: Option<SyncError>, health: Health, changes: Vec<Change>) -> SyncResult {
        SyncResult {
            app: "web".into(),
            revision: "abc".into(),
            changes: ChangeSet { changes },
            health,
            error,
        }
    }

    fn kinds(o: &Observation) -> Vec<Kind> {
        o.seen.iter().map(|c| c.kind).collect()
    }

    #[test]
    fn a_held_prune_degraded_health_and_orphans_are_conditions_not_a_success() {
        let blocked = PruneError::Blocked {
            app: "web".into(),
            would_delete: 9,
            total: 10,
            max_percent: 50,
        };
        let o = after_sync(
            &result(
                Some(SyncError::Prune(blocked)),
                Health::Degraded("pod crash".into()),
                vec![orphan("old")],
            ),
            &[],
        );
        assert_eq!(
            kinds(&o),
            [Kind::PruneHeld, Kind::HealthDegraded, Kind::OrphanAppeared],
            "one held prune: the guard's"
        );
        assert!(o.synced_revision.is_none());
        assert!(
            o.evaluated.contains(&Kind::SyncFailed),
            "the sync itself recovered"
        );
    }

    #[test]
    fn a_protected_object_that_left_git_is_a_held_prune_and_an_orphan() {
        let o = after_sync(
            &result(None, Health::Healthy, vec![orphan("old"), orphan("older")]),
            &[],
        );
        assert_eq!(
            kinds(&o),
            [Kind::PruneHeld, Kind::OrphanAppeared, Kind::SyncSucceeded]
        );
        assert_eq!(o.seen[0].reason, "PruneProtected");
        assert!(
            o.seen[0].message.contains("ConfigMap"),
            "{}",
            o.seen[0].message
        );
        assert!(o.synced_revision.is_some(), "the sync itself succeeded");
    }

    #[test]
    fn health_degraded_only_by_the_sync_error_is_no_health_notice() {
        let blocked = PruneError::Blocked {
            app: "web".into(),
            would_delete: 9,
            total: 10,
            max_percent: 50,
        };
        let error = SyncError::Prune(blocked);
        let health = Health::Degraded(format!("{}: {error}", error.reason()));
        let o = after_sync(&result(Some(error), health, Vec::new()), &[]);
        assert_eq!(kinds(&o), [Kind::PruneHeld]);
        assert!(
            !o.evaluated.contains(&Kind::HealthDegraded),
            "health unknown"
        );
    }

    #[test]
    fn a_clean_sync_clears_every_condition_and_is_a_success() {
        let o = after_sync(&result(None, Health::Healthy, Vec::new()), &[]);
        assert_eq!(kinds(&o), [Kind::SyncSucceeded]);
        assert_eq!(o.seen[0].reason, "Unchanged", "no object changed");
        assert_eq!(o.synced_revision.as_deref(), Some("abc"));
        assert!(o.evaluated.contains(&Kind::HealthDegraded));
        assert!(o.evaluated.contains(&Kind::SealedValueRefused));
    }

    #[test]
    fn a_sealed_value_that_does_not_unseal_is_refused_and_stages_are_named() {
        let o = failed_before_sync("DecryptFailed", "Secret shop/db: unsealing failed: scope");
        assert_eq!(kinds(&o), [Kind::SealedValueRefused]);
        let o = failed_before_sync("RenderFailed", "bad YAML");
        assert_eq!(kinds(&o), [Kind::SyncFailed, Kind::SyncStatusUnknown]);
        assert_eq!(o.seen[0].stage.as_deref(), Some("render"));
        assert_eq!(stage_of("PolicyDenied"), "policy");
        let o = failed_before_sync("PolicyDenied", "no");
        assert_eq!(kinds(&o), [Kind::SyncFailed], "compared, and refused");
        assert!(
            o.evaluated.contains(&Kind::SyncStatusUnknown),
            "known again"
        );
        let o = fetch_failed("FetchFailed", "connection refused");
        assert_eq!(kinds(&o), [Kind::SyncStatusUnknown]);
        assert!(o.seen[0].fingerprint.starts_with(FETCH));
    }
}
