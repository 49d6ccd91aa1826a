//! Helm's hooks and Helm-installed objects in the sync engine: `pre-install`/`pre-upgrade`
//! hooks run first by weight then name with their delete policies, `post-install` hooks run
//! after the apply, test hooks never run, and objects a Helm release installed are adopted.

use std::time::Duration;

use serde_json::{Value, json};
use tether_agent::sync::Action;

use super::support::*;
use super::{assert_ok, names, shop};

fn helm_job(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "run", "image": "ghcr.io/acme/tools:1"}]}}}})
}

fn finish(c: &Cluster, name: &str, condition: &str) {
    c.server
        .set_status("Job", SHOP, name, json!({"conditions": [{"type": condition, "status": "True", "reason": "Test", "message": format!("{name} {condition}")}]}))
        .expect("set the Job status");
}

#[tokio::test]
async fn helm_hooks_run_by_weight_and_name_with_their_delete_policies() {
    let c = cluster().await;
    let engine = c.engine();
    let mut objects = shop_objects();
    objects.push(helm_job(
        "b-migrate",
        json!({"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-weight": "1",
            "helm.sh/hook-delete-policy": "hook-succeeded"}),
    ));
    objects.push(helm_job(
        "a-seed",
        json!({"helm.sh/hook": "pre-upgrade,pre-install", "helm.sh/hook-weight": "1"}),
    ));
    objects.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "z-settings", "annotations": {"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "-1"}},
        "data": {"mode": "migrate"}}));
    objects.push(helm_job("smoke", json!({"helm.sh/hook": "test"})));
    objects.push(helm_job(
        "notify",
        json!({"helm.sh/hook": "post-install,post-upgrade"}),
    ));
    let task = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.sync(&shop(), "rev1", objects).await })
    };
    eventually("the first Job hook", || c.exists("Job", SHOP, "a-seed")).await;
    assert!(
        c.exists("ConfigMap", SHOP, "z-settings"),
        "weight -1 runs first"
    );
    assert!(!c.exists("Job", SHOP, "b-migrate"), "same weight: by name");
    assert!(
        !c.exists("Deployment", SHOP, "web"),
        "nothing applied before the hooks"
    );
    finish(&c, "a-seed", "Complete");
    eventually("the second Job hook", || c.exists("Job", SHOP, "b-migrate")).await;
    finish(&c, "b-migrate", "Complete");
    eventually("the post-install hook", || c.exists("Job", SHOP, "notify")).await;
    assert!(
        c.exists("Deployment", SHOP, "web"),
        "post-install runs after the apply"
    );
    finish(&c, "notify", "Complete");
    let result = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the sync ends")
        .expect("no panic");
    assert_ok(&result);
    assert!(
        c.exists("Job", SHOP, "a-seed"),
        "before-hook-creation keeps a finished hook"
    );
    assert!(
        !c.exists("Job", SHOP, "b-migrate"),
        "hook-succeeded deletes it"
    );
    assert!(!c.exists("Job", SHOP, "smoke"), "test hooks never run");
    assert!(c.exists("Job", SHOP, "notify"));
    assert!(
        names(&result, Action::Created)
            .iter()
            .all(|n| !n.starts_with("Job/")),
        "hooks are not objects of the app: {:?}",
        names(&result, Action::Created)
    );
    let inventory = c.inventory_text("shop").expect("the inventory");
    assert!(
        !inventory.contains("a-seed") && !inventory.contains("smoke"),
        "{inventory}"
    );
}

#[tokio::test]
async fn a_failed_helm_hook_with_hook_failed_is_deleted_and_stops_the_sync() {
    let c = cluster().await;
    let engine = c.engine();
    let mut objects = shop_objects();
    objects.push(helm_job(
        "migrate",
        json!({"helm.sh/hook": "pre-install", "helm.sh/hook-delete-policy": "hook-failed,before-hook-creation"}),
    ));
    let task = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.sync(&shop(), "rev1", objects).await })
    };
    eventually("the hook", || c.exists("Job", SHOP, "migrate")).await;
    finish(&c, "migrate", "Failed");
    let result = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the sync ends")
        .expect("no panic");
    assert_eq!(result.reason(), "HookFailed");
    assert!(!c.exists("Job", SHOP, "migrate"), "hook-failed deletes it");
    assert!(!c.exists("Deployment", SHOP, "web"), "nothing applied");
}

#[tokio::test]
async fn a_bad_hook_weight_names_the_object_and_the_annotation() {
    let c = cluster().await;
    let mut objects = shop_objects();
    objects.push(helm_job(
        "migrate",
        json!({"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "heavy"}),
    ));
    let result = c.engine().sync(&shop(), "rev1", objects).await;
    let error = result
        .error
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        error.contains("migrate") && error.contains("helm.sh/hook-weight"),
        "{error}"
    );
    assert!(
        !c.exists("ConfigMap", SHOP, "web-config"),
        "nothing applied"
    );
}

fn helm_installed(mut object: Value, release: &str) -> Value {
    object["metadata"]["namespace"] = json!(SHOP);
    object["metadata"]["annotations"] = json!({
        "meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": SHOP});
    object["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "Helm"});
    object["metadata"]["managedFields"] = json!([{"manager": "helm", "operation": "Update",
        "apiVersion": "v1", "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]);
    object
}

fn from_release(mut object: Value, release: &str) -> Value {
    object["metadata"]["annotations"] = json!({
        "meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": SHOP});
    object
}

#[tokio::test]
async fn objects_a_helm_release_installed_are_adopted_not_recreated() {
    let c = cluster().await;
    let old_secret = secret("web-credentials", json!({"token": "b2xk"}));
    c.server
        .put_object(helm_installed(old_secret, "web"))
        .expect("the Helm-installed Secret");
    c.server
        .put_object(helm_installed(
            config_map("web-config", json!({"LOG_LEVEL": "debug"})),
            "web",
        ))
        .expect("the Helm-installed ConfigMap");
    let secret_uid = c.uid("Secret", SHOP, "web-credentials");
    let config_uid = c.uid("ConfigMap", SHOP, "web-config");
    let objects = vec![
        from_release(secret("web-credentials", json!({"token": "bmV3"})), "web"),
        from_release(
            config_map("web-config", json!({"LOG_LEVEL": "info"})),
            "web",
        ),
    ];
    let result = c.engine().sync(&shop(), "rev1", objects).await;
    assert_ok(&result);
    assert_eq!(
        c.uid("Secret", SHOP, "web-credentials"),
        secret_uid,
        "not recreated"
    );
    assert_eq!(
        c.uid("ConfigMap", SHOP, "web-config"),
        config_uid,
        "not recreated"
    );
    let live = c
        .get("Secret", SHOP, "web-credentials")
        .expect("the Secret");
    assert_eq!(live["data"]["token"], "bmV3");
    assert_eq!(
        live["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "tether"
    );
    let config = c
        .get("ConfigMap", SHOP, "web-config")
        .expect("the ConfigMap");
    assert_eq!(config["data"]["LOG_LEVEL"], "info");

    // A Secret of another release is not taken over.
    c.server
        .put_object(helm_installed(
            secret("api-credentials", json!({"token": "b2xk"})),
            "api",
        ))
        .expect("another release's Secret");
    let objects = vec![
        from_release(secret("web-credentials", json!({"token": "bmV3"})), "web"),
        from_release(
            config_map("web-config", json!({"LOG_LEVEL": "info"})),
            "web",
        ),
        from_release(secret("api-credentials", json!({"token": "bmV3"})), "web"),
    ];
    let result = c.engine().sync(&shop(), "rev2", objects).await;
    assert_eq!(result.reason(), "ApplyFailed", "{:?}", result.error);
    let kept = c.get("Secret", SHOP, "api-credentials").expect("kept");
    assert_eq!(kept["data"]["token"], "b2xk");
}
