//! Hooks. Pre-sync hooks: Jobs annotated `tether.dev/hook: pre-sync` (also
//! `argocd.argoproj.io/hook: PreSync`, and Helm's `pre-install`/`pre-upgrade`) run before
//! anything else of the sync is applied, and the sync goes on only when every one of them
//! completes. A Job that fails (a database migration that does not pass) stops the sync, so
//! the old version keeps running. Post-sync hooks (`tether.dev/hook: post-sync`,
//! `argocd.argoproj.io/hook: PostSync`, Helm's `post-install`/`post-upgrade`) run once the
//! sync applied everything and it is healthy.
//!
//! A hook Job left from an earlier sync is deleted before the new one is created (Job
//! templates are immutable). On success the Job is deleted when
//! [`HookSettings::delete_on_success`] is set; a failed Job is kept for its logs. Helm hooks
//! follow their own `helm.sh/hook-delete-policy` and weights instead ([`super::helm_hooks`]).

use std::time::Duration;

use kube::Client;
use serde_json::Value;

use super::apply::{self, ApplyError, Deleted};
use super::client::{ClientError, Resolver};
use super::health::{self, Health};
use super::helm_hooks::{self, DeletePolicy, HelmHook, HelmHookError};
use super::object::{ObjectRef, annotation, meta_str};

/// Tether's hook annotation (value `pre-sync`).
pub const HOOK_ANNOTATION: &str = "tether.dev/hook";
/// Argo CD's hook annotation (value `PreSync`, possibly in a comma-separated list).
pub const ARGO_HOOK_ANNOTATION: &str = "argocd.argoproj.io/hook";

/// Why a hook did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The hook object is not a `batch/v1` Job.
    #[error("{object}: only Jobs can be hooks (a Helm hook may be any kind)")]
    NotAJob {
        /// The object.
        object: String,
    },
    /// The Job's kind could not be resolved.
    #[error("hook {object}: {source}")]
    ResolveFailed {
        /// The Job.
        object: String,
        /// The cause.
        #[source]
        source: ClientError,
    },
    /// Creating, reading or deleting the Job failed.
    #[error("hook: {0}")]
    CallFailed(#[source] ApplyError),
    /// The Job failed.
    #[error("hook {object} failed: {message}")]
    JobFailed {
        /// The Job.
        object: String,
        /// The Job's condition.
        message: String,
    },
    /// A Helm hook annotation is unusable.
    #[error(transparent)]
    Annotation(#[from] HelmHookError),
    /// The Job did not finish in time.
    #[error("hook {object} did not finish within {after:?}")]
    TimedOut {
        /// The Job.
        object: String,
        /// The timeout.
        after: Duration,
    },
}

impl HookError {
    /// The short, stable reason used in status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        "HookFailed"
    }
}

/// How hooks run.
#[derive(Debug, Clone)]
pub struct HookSettings {
    /// How long a hook Job may take.
    pub timeout: Duration,
    /// How often its status is read.
    pub poll: Duration,
    /// Delete a Job once it completed.
    pub delete_on_success: bool,
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before anything of the sync is applied.
    PreSync,
    /// After everything was applied and is healthy.
    PostSync,
}

/// Whether `object` is marked as a pre-sync hook.
pub fn is_pre_sync(object: &Value) -> bool {
    phase(object) == Some(Phase::PreSync)
}

/// The hook phase `object` is marked for, if any (Tether's, Argo CD's or Helm's annotation).
pub fn phase(object: &Value) -> Option<Phase> {
    if let Some(v) = annotation(object, HOOK_ANNOTATION) {
        match v.trim() {
            "pre-sync" => return Some(Phase::PreSync),
            "post-sync" => return Some(Phase::PostSync),
            _ => {}
        }
    }
    if let Some(v) = annotation(object, ARGO_HOOK_ANNOTATION) {
        let hooks: Vec<&str> = v.split(',').map(str::trim).collect();
        if hooks.contains(&"PreSync") {
            return Some(Phase::PreSync);
        }
        if hooks.contains(&"PostSync") {
            return Some(Phase::PostSync);
        }
    }
    match helm_hooks::phase(object) {
        Some(HelmHook::PreSync) => Some(Phase::PreSync),
        Some(HelmHook::PostSync) => Some(Phase::PostSync),
        _ => None,
    }
}

/// Why a sync never applies `object`, when it does not: a Helm test hook, or a Helm hook of
/// delete or rollback only.
pub fn skip_reason(object: &Value) -> Option<String> {
    match helm_hooks::phase(object) {
        Some(HelmHook::Skipped(hooks)) if phase(object).is_none() => {
            Some(format!("a Helm {hooks} hook is not run by a sync"))
        }
        _ => None,
    }
}

/// Checks that a hook is a Job.
pub fn check(reference: &ObjectRef) -> Result<(), HookError> {
    if reference.group == "batch" && reference.kind == "Job" {
        Ok(())
    } else {
        Err(HookError::NotAJob {
            object: reference.to_string(),
        })
    }
}

/// Checks a hook: Tether's and Argo CD's hooks must be Jobs; a Helm hook may be any kind,
/// with usable weight and delete policy annotations.
pub fn check_hook(reference: &ObjectRef, object: &Value) -> Result<(), HookError> {
    if helm_hooks::phase(object).is_some() {
        helm_hooks::weight(reference, object)?;
        helm_hooks::delete_policy(reference, object)?;
        Ok(())
    } else {
        check(reference)
    }
}

/// Puts hooks in the order they run: Helm's weights, then names.
pub fn sort(hooks: &mut [(ObjectRef, Value)]) -> Result<(), HookError> {
    helm_hooks::sort(hooks)?;
    Ok(())
}

/// The deletions a hook asks for: Helm's policy for a Helm hook, else delete before
/// creation and, when the settings say so, on success.
fn policy_of(
    reference: &ObjectRef,
    object: &Value,
    settings: &HookSettings,
) -> Result<DeletePolicy, HookError> {
    if helm_hooks::phase(object).is_some() {
        return Ok(helm_hooks::delete_policy(reference, object)?);
    }
    Ok(DeletePolicy {
        before_creation: true,
        on_success: settings.delete_on_success,
        on_failure: false,
    })
}

/// The state of a hook object: Jobs and Pods until they finish; anything else is done once
/// applied.
fn hook_health(reference: &ObjectRef, live: &Value) -> Health {
    match (reference.group.as_str(), reference.kind.as_str()) {
        ("batch", "Job") => health::job(live),
        ("", "Pod") => match live.pointer("/status/phase").and_then(Value::as_str) {
            Some("Succeeded") => Health::Healthy,
            Some("Failed") => Health::Degraded("the Pod failed".into()),
            _ => Health::Progressing("the Pod has not finished".into()),
        },
        _ => Health::Healthy,
    }
}

/// Runs the prepared hook Jobs one after the other; returns when all completed.
pub async fn run(
    client: &Client,
    resolver: &Resolver,
    hooks: &[(ObjectRef, Value)],
    settings: &HookSettings,
    field_manager: &str,
) -> Result<(), HookError> {
    for (reference, job) in hooks {
        check_hook(reference, job)?;
        let policy = policy_of(reference, job, settings)?;
        let resolved = resolver.resolve(&reference.gvk()).await.map_err(|source| {
            HookError::ResolveFailed {
                object: reference.to_string(),
                source,
            }
        })?;
        let api = apply::api_for(client, &resolved, &reference.namespace);
        if policy.before_creation {
            remove(&api, reference, settings).await?;
        }
        apply::apply(&api, reference, job, field_manager)
            .await
            .map_err(HookError::CallFailed)?;
        let started = tokio::time::Instant::now();
        loop {
            let live = apply::get(&api, reference)
                .await
                .map_err(HookError::CallFailed)?;
            match live.as_ref().map(|l| hook_health(reference, l)) {
                Some(Health::Healthy) => break,
                Some(Health::Degraded(message)) => {
                    if policy.on_failure {
                        remove(&api, reference, settings).await?;
                    }
                    return Err(HookError::JobFailed {
                        object: reference.to_string(),
                        message,
                    });
                }
                None => {
                    return Err(HookError::JobFailed {
                        object: reference.to_string(),
                        message: "the Job was deleted while running".into(),
                    });
                }
                Some(Health::Progressing(_)) => {}
            }
            if started.elapsed() >= settings.timeout {
                return Err(HookError::TimedOut {
                    object: reference.to_string(),
                    after: settings.timeout,
                });
            }
            tokio::time::sleep(settings.poll).await;
        }
        if policy.on_success {
            remove(&api, reference, settings).await?;
        }
    }
    Ok(())
}

/// Deletes the Job under `reference` if there is one, and waits until it is gone.
async fn remove(
    api: &kube::Api<kube::api::DynamicObject>,
    reference: &ObjectRef,
    settings: &HookSettings,
) -> Result<(), HookError> {
    let started = tokio::time::Instant::now();
    while let Some(live) = apply::get(api, reference)
        .await
        .map_err(HookError::CallFailed)?
    {
        if meta_str(&live, "deletionTimestamp").is_none()
            && let Some(uid) = meta_str(&live, "uid")
            && apply::delete(api, reference, uid)
                .await
                .map_err(HookError::CallFailed)?
                == Deleted::AlreadyGone
        {
            return Ok(());
        }
        if started.elapsed() >= settings.timeout {
            return Err(HookError::TimedOut {
                object: reference.to_string(),
                after: settings.timeout,
            });
        }
        tokio::time::sleep(settings.poll).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_annotations_mark_a_pre_sync_hook() {
        let with = |k: &str, v: &str| json!({"metadata": {"annotations": {k: v}}});
        assert!(is_pre_sync(&with(HOOK_ANNOTATION, "pre-sync")));
        assert!(is_pre_sync(&with(ARGO_HOOK_ANNOTATION, "PreSync,PostSync")));
        assert!(!is_pre_sync(&with(ARGO_HOOK_ANNOTATION, "PostSync")));
        assert!(!is_pre_sync(&json!({"metadata": {}})));
        assert_eq!(
            phase(&with(HOOK_ANNOTATION, "post-sync")),
            Some(Phase::PostSync)
        );
        assert_eq!(
            phase(&with(ARGO_HOOK_ANNOTATION, "PostSync")),
            Some(Phase::PostSync)
        );
        assert_eq!(
            phase(&with("helm.sh/hook", "pre-upgrade,pre-install")),
            Some(Phase::PreSync)
        );
        assert_eq!(
            phase(&with("helm.sh/hook", "post-upgrade")),
            Some(Phase::PostSync)
        );
        assert!(skip_reason(&with("helm.sh/hook", "test")).is_some());
        assert!(skip_reason(&with("helm.sh/hook", "post-install")).is_none());
    }
}
