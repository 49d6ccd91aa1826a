//! The health gate: after apply, the app's objects (all, or those named) must become healthy
//! within the timeout. A Degraded object fails the gate at once (an aborted Argo Rollout is
//! one); the health of each object is the engine's ([`crate::sync::health`]), with Argo
//! Rollouts kinds assessed by [`super::argo`].

use super::argo::{self, ArgoHealth};
use super::{GateResult, Verdict};
use crate::sync::client::Resolver;
use crate::sync::{Health, ObjectRef, apply};
use std::time::Duration;

/// One entry of `health.objects`: `Kind/name` or `Kind/namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    kind: String,
    namespace: Option<String>,
    name: String,
}

impl Selector {
    /// Parses `Kind/name` or `Kind/namespace/name`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        match parts.as_slice() {
            [kind, name] => Some(Self {
                kind: (*kind).to_owned(),
                namespace: None,
                name: (*name).to_owned(),
            }),
            [kind, namespace, name] => Some(Self {
                kind: (*kind).to_owned(),
                namespace: Some((*namespace).to_owned()),
                name: (*name).to_owned(),
            }),
            _ => None,
        }
    }

    /// Whether `object` is the one named.
    #[must_use]
    pub fn matches(&self, object: &ObjectRef) -> bool {
        self.kind == object.kind
            && self.name == object.name
            && self
                .namespace
                .as_ref()
                .is_none_or(|n| *n == object.namespace)
    }
}

/// What the health gate needs.
pub struct HealthInput<'a> {
    /// Reads live objects.
    pub client: &'a kube::Client,
    /// Resolves kinds.
    pub resolver: &'a Resolver,
    /// The app's applied objects.
    pub objects: Vec<ObjectRef>,
    /// Only these (empty: all).
    pub selectors: Vec<Selector>,
    /// How long to wait.
    pub timeout: Duration,
    /// How often to look.
    pub poll: Duration,
}

/// The health of one live object, Argo Rollouts kinds included; `true` when the object is an
/// aborted Rollout.
fn assess(object: &ObjectRef, live: &serde_json::Value) -> (Health, bool) {
    if argo::is_argo_kind(&object.group, &object.kind) {
        let h = argo::assess(&object.kind, live);
        let aborted = matches!(h, ArgoHealth::Degraded { aborted: true, .. });
        return (h.to_health(), aborted);
    }
    (crate::sync::health::assess(object, live), false)
}

async fn read(input: &HealthInput<'_>, object: &ObjectRef) -> (Health, bool) {
    let resolved = match input.resolver.resolve(&object.gvk()).await {
        Ok(r) => r,
        Err(err) => {
            return (
                Health::Progressing(format!("kind not resolved: {err}")),
                false,
            );
        }
    };
    let api = apply::api_for(input.client, &resolved, &object.namespace);
    match apply::get(&api, object).await {
        Ok(Some(live)) => assess(object, &live),
        Ok(None) => (Health::Degraded("the object does not exist".into()), false),
        Err(err) => (Health::Progressing(format!("not read: {err}")), false),
    }
}

/// Waits until the objects are healthy (passed), one is Degraded (failed at once), or the
/// timeout passes (failed, naming the first object not healthy).
pub async fn wait(input: HealthInput<'_>) -> GateResult {
    let chosen: Vec<ObjectRef> = input
        .objects
        .iter()
        .filter(|o| input.selectors.is_empty() || input.selectors.iter().any(|s| s.matches(o)))
        .cloned()
        .collect();
    let mut result = GateResult::new("health", "health");
    if chosen.is_empty() && !input.selectors.is_empty() {
        result.finish(
            Verdict::Failed,
            "none of the objects named in health.objects was applied".into(),
        );
        return result;
    }
    let deadline = tokio::time::Instant::now() + input.timeout;
    let mut pending = chosen;
    loop {
        let mut still = Vec::new();
        for object in pending {
            let (health, aborted) = read(&input, &object).await;
            match health {
                Health::Healthy => {}
                Health::Degraded(reason) => {
                    let what = if aborted { "aborted" } else { "Degraded" };
                    result.finish(Verdict::Failed, format!("{object} is {what}: {reason}"));
                    return result;
                }
                Health::Progressing(reason) => still.push((object, reason)),
            }
        }
        if still.is_empty() {
            result.finish(Verdict::Passed, "every object is healthy".into());
            return result;
        }
        if tokio::time::Instant::now() >= deadline {
            let (object, reason) = &still[0];
            result.finish(
                Verdict::Failed,
                format!(
                    "HealthTimeout after {:?}: {object}: {reason} ({} not healthy)",
                    input.timeout,
                    still.len()
                ),
            );
            return result;
        }
        tokio::time::sleep(input.poll).await;
        pending = still.into_iter().map(|(o, _)| o).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(group: &str, kind: &str, ns: &str, name: &str) -> ObjectRef {
        ObjectRef {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn selectors_name_objects_by_kind_and_name_with_an_optional_namespace() {
        let web = r("apps", "Deployment", "shop", "web");
        assert!(Selector::parse("Deployment/web").is_some_and(|s| s.matches(&web)));
        assert!(Selector::parse("Deployment/shop/web").is_some_and(|s| s.matches(&web)));
        assert!(!Selector::parse("Deployment/other/web").is_some_and(|s| s.matches(&web)));
        assert!(!Selector::parse("StatefulSet/web").is_some_and(|s| s.matches(&web)));
        assert_eq!(Selector::parse("web"), None);
        assert_eq!(Selector::parse("Deployment//web"), None);
        assert_eq!(Selector::parse("a/b/c/d"), None);
    }

    #[test]
    fn an_aborted_rollout_is_degraded_and_marked_aborted() {
        let rollout = r("argoproj.io", "Rollout", "shop", "web");
        let live =
            json!({"status": {"abort": true, "phase": "Degraded", "message": "canary failed"}});
        let (health, aborted) = assess(&rollout, &live);
        assert_eq!(health.status(), "Degraded");
        assert!(aborted);
        let deployment = r("apps", "Deployment", "shop", "web");
        let (health, aborted) =
            assess(&deployment, &json!({"spec": {"replicas": 1}, "status": {}}));
        assert_eq!(health.status(), "Progressing");
        assert!(!aborted);
    }
}
