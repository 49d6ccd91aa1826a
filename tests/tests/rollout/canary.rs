//! An Argo Rollouts `Rollout` as an app's object: the health gate follows it through its
//! phases (the test writes its status as the Argo Rollouts controller would), passes once it
//! is Healthy, and an aborted canary fails the gate and rolls the app back.

use std::time::Duration;

use crate::agent::{Receiver, Setup, app_status, live};
use crate::support::wait_for;

const STEP: Duration = Duration::from_secs(90);

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: rollouts.argoproj.io}
spec:
  group: argoproj.io
  names: {kind: Rollout, plural: rollouts, singular: rollout, listKind: RolloutList}
  scope: Namespaced
  versions:
    - name: v1alpha1
      served: true
      storage: true
      subresources: {status: {}}
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
";

fn rollout(image: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: \"{image}\"}}]
  strategy:
    canary:
      steps: [{{setWeight: 50}}, {{pause: {{}}}}]
"
    )
}

/// The Rollout's image and generation once the agent applied `image`.
fn applied(setup: &Setup, image: &str) -> i64 {
    wait_for(&format!("the Rollout with {image}"), STEP, || {
        let out = setup
            .cluster
            .kubectl(&["get", "rollout", "web", "-n", "canary", "-o", "json"]);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (r["spec"]["template"]["spec"]["containers"][0]["image"] == image)
            .then(|| r["metadata"]["generation"].as_i64())
            .flatten()
    })
}

/// Writes the Rollout's status through the status subresource.
fn write_status(setup: &Setup, generation: i64, status: serde_json::Value) {
    let mut status = status;
    status["observedGeneration"] = serde_json::json!(generation.to_string());
    let patch = serde_json::json!({"status": status}).to_string();
    setup.cluster.ok(&[
        "patch",
        "rollout",
        "web",
        "-n",
        "canary",
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ]);
}

fn commit(setup: &Setup, image: &str) -> String {
    setup
        .upstream
        .write("apps/canary/rollout.yaml", rollout(image))
        .expect("write");
    setup.upstream.commit(image).expect("commit")
}

pub fn run() {
    let setup = Setup::new();
    let crd = setup.dir.path().join("crd.yaml");
    std::fs::write(&crd, CRD).expect("write the CRD");
    setup
        .cluster
        .ok(&["apply", "-f", crd.to_str().expect("UTF-8 path")]);
    let first = commit(&setup, "example/web:1");
    let receiver = Receiver::start();
    let notifications = format!(
        "notifications:\n  providers:\n    - {{name: hook, type: webhook, address: \"http://127.0.0.1:{}/events\"}}\n",
        receiver.port
    );
    let agent = setup.start_agent_with(
        "agent-canary",
        "    rollout: {health: {timeout: 60s}}\n",
        "apps/*",
        &notifications,
    );
    let generation = applied(&setup, "example/web:1");
    // The canary's steps: progressing, then paused at the pause step; the gate waits.
    write_status(
        &setup,
        generation,
        serde_json::json!({"phase": "Progressing", "message": "more replicas need to be updated"}),
    );
    write_status(
        &setup,
        generation,
        serde_json::json!({"phase": "Paused", "message": "CanaryPauseStep",
            "pauseConditions": [{"reason": "CanaryPauseStep"}]}),
    );
    let before = app_status(&agent, "canary");
    assert!(
        before
            .as_ref()
            .is_none_or(|s| s["rollout"]["revision"] != first.as_str()),
        "the gate must not pass while the Rollout is paused: {before:?}"
    );
    // Promoted and complete.
    write_status(
        &setup,
        generation,
        serde_json::json!({"phase": "Healthy", "message": "", "pauseConditions": null}),
    );
    let passed = wait_for("the canary's gate", STEP, || {
        let s = app_status(&agent, "canary")?;
        (s["rollout"]["revision"] == first.as_str()).then_some(s)
    });
    assert_eq!(passed["rollout"]["phase"], "Passed", "{passed}");

    // The next canary is aborted by its analysis: a failed gate, and the app goes back.
    let second = commit(&setup, "example/web:2");
    let generation = applied(&setup, "example/web:2");
    write_status(
        &setup,
        generation,
        serde_json::json!({"phase": "Progressing", "message": "canary step 1/2"}),
    );
    write_status(
        &setup,
        generation,
        serde_json::json!({"phase": "Degraded", "abort": true,
            "message": "RolloutAborted: metric error-rate assessed Failed"}),
    );
    let held = wait_for("the rollback of the aborted canary", STEP, || {
        let s = app_status(&agent, "canary")?;
        (s["rollout"]["revision"] == second.as_str() && s["sync"] == "RolledBack").then_some(s)
    });
    let reason = held["rollout"]["hold"]["reason"].to_string();
    assert!(
        reason.contains("aborted") && reason.contains("metric error-rate assessed Failed"),
        "{held}"
    );
    // The gate failure and the rollback were notified.
    let bodies = wait_for("the notifications", STEP, || {
        let bodies = receiver.bodies();
        let kinds: Vec<String> = bodies
            .iter()
            .filter_map(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            .filter(|e| e["commit"]["revision"] == second.as_str())
            .filter_map(|e| e["kind"].as_str().map(str::to_owned))
            .collect();
        (kinds.iter().any(|k| k == "gateFailed") && kinds.iter().any(|k| k == "rolledBack"))
            .then_some(bodies)
    });
    assert!(
        bodies.iter().any(|b| b.contains("RolloutAborted")),
        "the reason is in the event: {bodies:?}"
    );
    let r = live(&setup.cluster, "rollout", "web", "canary");
    assert_eq!(
        r["spec"]["template"]["spec"]["containers"][0]["image"], "example/web:1",
        "the Rollout is back at the first revision"
    );
}
