//! Pre-sync hooks: Jobs annotated `tether.dev/hook: pre-sync` (also
//! `argocd.argoproj.io/hook: PreSync`) run before anything else of the sync is applied, and
//! the sync goes on only when every one of them completes. A Job that fails (a database
//! migration that does not pass) stops the sync, so the old version keeps running.
//!
//! A hook Job left from an earlier sync is deleted before the new one is created (Job
//! templates are immutable). On success the Job is deleted when
//! [`HookSettings::delete_on_success`] is set; a failed Job is kept for its logs.

use std::time::Duration;

use kube::Client;
use serde_json::Value;

use super::apply::{self, ApplyError, Deleted};
use super::client::{ClientError, Resolver};
use super::health::{self, Health};
use super::object::{ObjectRef, annotation, meta_str};

/// Tether's hook annotation (value `pre-sync`).
pub const HOOK_ANNOTATION: &str = "tether.dev/hook";
/// Argo CD's hook annotation (value `PreSync`, possibly in a comma-separated list).
pub const ARGO_HOOK_ANNOTATION: &str = "argocd.argoproj.io/hook";

/// Why a pre-sync hook did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The hook object is not a `batch/v1` Job.
    #[error("{object}: only Jobs can be pre-sync hooks")]
    NotAJob {
        /// The object.
        object: String,
    },
    /// The Job's kind could not be resolved.
    #[error("pre-sync hook {object}: {source}")]
    ResolveFailed {
        /// The Job.
        object: String,
        /// The cause.
        #[source]
        source: ClientError,
    },
    /// Creating, reading or deleting the Job failed.
    #[error("pre-sync hook: {0}")]
    CallFailed(#[source] ApplyError),
    /// The Job failed.
    #[error("pre-sync hook {object} failed: {message}")]
    JobFailed {
        /// The Job.
        object: String,
        /// The Job's condition.
        message: String,
    },
    /// The Job did not finish in time.
    #[error("pre-sync hook {object} did not finish within {after:?}")]
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

/// Whether `object` is marked as a pre-sync hook.
pub fn is_pre_sync(object: &Value) -> bool {
    annotation(object, HOOK_ANNOTATION).is_some_and(|v| v.trim() == "pre-sync")
        || annotation(object, ARGO_HOOK_ANNOTATION)
            .is_some_and(|v| v.split(',').any(|h| h.trim() == "PreSync"))
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

/// Runs the prepared hook Jobs one after the other; returns when all completed.
pub async fn run(
    client: &Client,
    resolver: &Resolver,
    hooks: &[(ObjectRef, Value)],
    settings: &HookSettings,
    field_manager: &str,
) -> Result<(), HookError> {
    for (reference, job) in hooks {
        check(reference)?;
        let resolved = resolver.resolve(&reference.gvk()).await.map_err(|source| {
            HookError::ResolveFailed {
                object: reference.to_string(),
                source,
            }
        })?;
        let api = apply::api_for(client, &resolved, &reference.namespace);
        remove(&api, reference, settings).await?;
        apply::apply(&api, reference, job, field_manager)
            .await
            .map_err(HookError::CallFailed)?;
        let started = tokio::time::Instant::now();
        loop {
            let live = apply::get(&api, reference)
                .await
                .map_err(HookError::CallFailed)?;
            match live.as_ref().map(health::job) {
                Some(Health::Healthy) => break,
                Some(Health::Degraded(message)) => {
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
        if settings.delete_on_success {
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
    }
}
