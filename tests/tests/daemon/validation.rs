//! Schema validation in the daemon: an app whose commit holds an object the API server would
//! refuse fails as `Invalid` with the field path and nothing of it is applied, while the other
//! apps sync; custom resources are validated against the CRDs installed in the cluster.

use super::support::{Agent, Cluster, Repo, wait_for};
use std::time::Duration;

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
";

const BAD_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: three
  replicass: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, ports: [{containerPort: http}]}]
";

fn status(agent: &Agent, name: &str) -> serde_json::Value {
    let (code, body) = agent.get(&format!("/api/v1/apps/{name}"));
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("JSON status")
}

#[test]
fn an_invalid_commit_fails_its_app_as_invalid_with_nothing_applied_and_other_apps_sync() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let crd = dir.path().join("crd.yaml");
    std::fs::write(&crd, WIDGET_CRD).expect("write");
    cluster.ok(&["apply", "-f", &crd.display().to_string()]);
    let repo = Repo::start();
    repo.upstream
        .write(
            "apps/bad/settings.yaml",
            super::support::configmap("settings", "bad"),
        )
        .expect("write");
    repo.upstream
        .write("apps/bad/deployment.yaml", BAD_DEPLOYMENT)
        .expect("write");
    repo.upstream
        .write(
            "apps/gadgets/settings.yaml",
            super::support::configmap("settings", "gadgets"),
        )
        .expect("write");
    repo.upstream
        .write(
            "apps/gadgets/widget.yaml",
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: big}\n",
        )
        .expect("write");
    repo.upstream.commit("two invalid apps").expect("commit");
    let agent = Agent::start(&cluster, &repo, dir.path(), "agent-a");
    wait_for("readiness", Duration::from_secs(60), || {
        (agent.get("/readyz") == (200, "ready\n".to_owned())).then_some(())
    });
    let bad = status(&agent, "bad");
    assert_eq!(bad["sync"], "Failed", "{bad}");
    assert_eq!(bad["reason"], "Invalid", "{bad}");
    let errors = bad["errors"].to_string();
    for field in [
        "Deployment web: spec.replicas",
        "spec.replicas: expected integer, got string",
        "spec.replicass: unknown field",
        "spec.template.spec.containers[0].ports[0].containerPort: expected integer",
    ] {
        assert!(errors.contains(field), "{field} not in {errors}");
    }
    let gadgets = status(&agent, "gadgets");
    assert_eq!(gadgets["reason"], "Invalid", "{gadgets}");
    assert!(
        gadgets["errors"]
            .to_string()
            .contains("spec.size: expected integer, got string"),
        "{gadgets}"
    );
    // Nothing of the invalid apps was applied, not even their valid objects.
    for app in ["bad", "gadgets"] {
        assert!(
            !cluster.exists(&["configmap", "settings", "-n", app]),
            "{app}: {}",
            agent.logs()
        );
    }
    assert!(!cluster.exists(&["deployment", "web", "-n", "bad"]));
    // The valid apps went on.
    for app in ["one", "two"] {
        assert_eq!(status(&agent, app)["sync"], "Succeeded");
        let value = cluster.ok(&[
            "get",
            "configmap",
            "settings",
            "-n",
            app,
            "-o",
            "jsonpath={.data.value}",
        ]);
        assert_eq!(value, app);
    }
}
