//! Drift self-heal and the steady state: corrections, what is not drift, and zero writes.

use std::time::Duration;

use serde_json::json;
use tether_agent::sync::{IgnoreRule, Target};

use super::support::*;
use super::{assert_ok, shop};

#[tokio::test]
async fn a_steady_state_resync_makes_no_write_call() {
    let c = cluster().await;
    let engine = c.engine();
    let mut objects = shop_objects();
    objects.push(secret("db", json!({"password": "aHVudGVyMg=="})));
    objects
        .push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}}));
    assert_ok(&engine.sync(&shop(), "rev1", objects.clone()).await);
    let drift = start_drift(&engine);
    c.server.requests().reset();
    for _ in 0..3 {
        let result = engine.sync(&shop(), "rev1", objects.clone()).await;
        assert_ok(&result);
        assert!(result.changes.is_noop(), "{}", result.changes);
    }
    assert_eq!(
        c.server.requests().writes(),
        0,
        "{:?}",
        c.server.requests().snapshot()
    );
    assert!(
        c.server.requests().count_verb("list") > 0,
        "the resync reads the live objects"
    );
    drift.stop().await;
    assert_eq!(engine.corrections("shop"), 0);
    assert_eq!(c.server.requests().writes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_by_another_field_manager_is_reverted_and_counted() {
    let c = cluster().await;
    let engine = c.engine();
    assert_ok(&engine.sync(&shop(), "rev1", shop_objects()).await);
    let mut corrections = engine.subscribe_corrections();
    let drift = start_drift(&engine);
    c.patch_as(
        "kubectl-edit",
        "v1",
        "configmaps",
        SHOP,
        "web-config",
        json!({"data": {"LOG_LEVEL": "trace"}}),
    )
    .await;
    let correction = tokio::time::timeout(Duration::from_secs(15), corrections.recv())
        .await
        .expect("a correction in time")
        .expect("the broadcast works");
    assert_eq!(
        (correction.object.name.as_str(), correction.recreated),
        ("web-config", false)
    );
    eventually("the value is restored", || {
        c.get("ConfigMap", SHOP, "web-config")
            .is_some_and(|cm| cm["data"]["LOG_LEVEL"] == "info")
    })
    .await;
    assert_eq!(engine.corrections("shop"), 1);
    drift.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_object_is_created_again() {
    let c = cluster().await;
    let engine = c.engine();
    assert_ok(&engine.sync(&shop(), "rev1", shop_objects()).await);
    let drift = start_drift(&engine);
    let mut corrections = engine.subscribe_corrections();
    let old_uid = c.uid("Service", SHOP, "web");
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.server
        .delete_object("Service", SHOP, "web")
        .expect("deleted");
    let correction = tokio::time::timeout(Duration::from_secs(15), corrections.recv())
        .await
        .expect("a correction in time")
        .expect("the broadcast works");
    assert!(correction.recreated);
    assert!(c.exists("Service", SHOP, "web"));
    assert_ne!(c.uid("Service", SHOP, "web"), old_uid);
    drift.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_owned_by_an_hpa_and_ignored_fields_are_not_drift() {
    let c = cluster().await;
    let engine = c.engine();
    let mut app = shop();
    app.ignore = vec![IgnoreRule {
        paths: vec!["/data/beta".into()],
        target: Some(Target {
            kind: Some("ConfigMap".into()),
            name: Some("web-flags".into()),
            ..Target::default()
        }),
        managed_fields_managers: Vec::new(),
    }];
    assert_ok(&engine.sync(&app, "rev1", shop_objects()).await);
    let drift = start_drift(&engine);
    let mut corrections = engine.subscribe_corrections();
    c.patch_as(
        "horizontal-pod-autoscaler",
        "apps/v1",
        "deployments",
        SHOP,
        "web",
        json!({"spec": {"replicas": 5}}),
    )
    .await;
    c.patch_as(
        "kubectl-edit",
        "v1",
        "configmaps",
        SHOP,
        "web-flags",
        json!({"data": {"beta": "true"}}),
    )
    .await;
    // A real drift after those two: its correction proves the watcher has seen them.
    c.patch_as("kubectl-edit", "apps/v1", "deployments", SHOP, "web",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "evil:latest", "ports": [{"containerPort": 8080}]}]}}}})).await;
    let correction = tokio::time::timeout(Duration::from_secs(15), corrections.recv())
        .await
        .expect("a correction in time")
        .expect("the broadcast works");
    assert_eq!(correction.object.kind, "Deployment");
    let web = c.get("Deployment", SHOP, "web").expect("exists");
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/acme/web:1.0.0"
    );
    assert_eq!(web["spec"]["replicas"], 5, "the HPA's replicas stay");
    assert_eq!(
        c.get("ConfigMap", SHOP, "web-flags").expect("exists")["data"]["beta"],
        "true"
    );
    drift.stop().await;
    assert_eq!(engine.corrections("shop"), 1);
    c.server.requests().reset();
    let result = engine.sync(&app, "rev1", shop_objects()).await;
    assert_ok(&result);
    assert_eq!(c.server.requests().writes(), 0, "{}", result.changes);
}
