//! Pre-sync hooks, CRDs, namespace creation and health.

use std::time::Duration;

use serde_json::json;
use tether_agent::sync::{Action, AppSpec};
use tether_tests::apiserver::ApiServerOptions;

use super::support::*;
use super::{assert_ok, names, shop};

#[tokio::test]
async fn a_crd_and_its_objects_apply_in_one_sync() {
    let c = cluster_with(ApiServerOptions {
        crd_establish_delay: Duration::from_millis(400),
        ..ApiServerOptions::default()
    })
    .await;
    let objects = vec![
        yaml_fixture("gadget.yaml"),
        yaml_fixture("crd-gadgets.yaml"),
    ];
    let result = c.engine().sync(&shop(), "rev1", objects).await;
    assert_ok(&result);
    assert_eq!(
        names(&result, Action::Created),
        [
            "CustomResourceDefinition/gadgets.tether.example",
            "Gadget/sprocket"
        ]
    );
    let gadget = c
        .get("gadgets.tether.example", SHOP, "sprocket")
        .expect("the custom object");
    assert_eq!(gadget["spec"]["teeth"], 12);
}

async fn hook_run(complete: bool) {
    let c = cluster().await;
    let engine = c.engine();
    assert_ok(&engine.sync(&shop(), "rev1", shop_objects()).await);
    let mut objects = shop_objects();
    objects[3] = deployment("web", "ghcr.io/acme/web:2.0.0");
    objects.push(yaml_fixture("migration-job.yaml"));
    let task = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.sync(&shop(), "rev2", objects).await })
    };
    eventually("the hook Job", || c.exists("Job", SHOP, "migrate")).await;
    let image = |c: &Cluster| {
        c.get("Deployment", SHOP, "web").expect("exists")["spec"]["template"]["spec"]["containers"]
            [0]["image"]
            .clone()
    };
    assert_eq!(
        image(&c),
        "ghcr.io/acme/web:1.0.0",
        "nothing is applied while the hook runs"
    );
    let condition = if complete { "Complete" } else { "Failed" };
    c.server
        .set_status("Job", SHOP, "migrate", json!({"conditions": [{"type": condition, "status": "True", "reason": "Test", "message": "migrations"}]}))
        .expect("set the Job status");
    let result = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the sync ends")
        .expect("no panic");
    if complete {
        assert_ok(&result);
        assert_eq!(image(&c), "ghcr.io/acme/web:2.0.0");
        assert!(!c.exists("Job", SHOP, "migrate"), "deleted on success");
    } else {
        assert_eq!(result.reason(), "HookFailed");
        assert!(
            result
                .error
                .as_ref()
                .is_some_and(|e| e.to_string().contains("migrations")),
            "{:?}",
            result.error
        );
        assert_eq!(
            image(&c),
            "ghcr.io/acme/web:1.0.0",
            "the old version keeps running"
        );
        assert!(
            c.exists("Job", SHOP, "migrate"),
            "a failed Job is kept for its logs"
        );
        assert!(
            c.inventory_text("shop")
                .is_some_and(|t| t.contains("revision rev1"))
        );
        // The next round with the same content does not run the hook again: the failed Job
        // (and its logs) stays, and the sync reports the earlier failure at once.
        let uid = c.get("Job", SHOP, "migrate").expect("the Job")["metadata"]["uid"].clone();
        let mut again = shop_objects();
        again[3] = deployment("web", "ghcr.io/acme/web:2.0.0");
        again.push(yaml_fixture("migration-job.yaml"));
        let result =
            tokio::time::timeout(Duration::from_secs(5), engine.sync(&shop(), "rev2", again))
                .await
                .expect("no wait on a hook");
        assert_eq!(result.reason(), "HookFailed");
        assert!(
            result
                .error
                .as_ref()
                .is_some_and(|e| e.to_string().contains("not run again")),
            "{:?}",
            result.error
        );
        assert_eq!(
            c.get("Job", SHOP, "migrate").expect("kept")["metadata"]["uid"],
            uid
        );
        assert_eq!(image(&c), "ghcr.io/acme/web:1.0.0");
    }
}

#[tokio::test]
async fn a_pre_sync_hook_that_completes_lets_the_sync_go_on() {
    hook_run(true).await;
}

#[tokio::test]
async fn a_failing_migration_hook_leaves_the_old_version_running() {
    hook_run(false).await;
}

#[tokio::test]
async fn create_namespace_creates_the_target_namespace_once() {
    let c = cluster().await;
    let engine = c.engine();
    let mut app = AppSpec::new("fresh", "fresh-ns");
    app.create_namespace = true;
    let result = engine
        .sync(&app, "rev1", vec![config_map("c", json!({}))])
        .await;
    assert_ok(&result);
    let ns = c.get("Namespace", "", "fresh-ns").expect("created");
    assert_eq!(
        ns["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "tether"
    );
    assert!(c.exists("ConfigMap", "fresh-ns", "c"));
    c.server.requests().reset();
    assert_ok(
        &engine
            .sync(&app, "rev1", vec![config_map("c", json!({}))])
            .await,
    );
    assert_eq!(c.server.requests().writes(), 0);
}

fn waiting_engine(c: &Cluster, timeout: Duration) -> tether_agent::sync::Engine {
    let mut config = config();
    config.health_timeout = timeout;
    tether_agent::sync::Engine::new(c.client.clone(), config)
}

#[tokio::test]
async fn the_sync_waits_until_a_deployment_is_rolled_out_and_available() {
    let c = cluster().await;
    let engine = waiting_engine(&c, Duration::from_secs(20));
    let task = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.sync(&shop(), "rev1", shop_objects()).await })
    };
    eventually("the Deployment", || c.exists("Deployment", SHOP, "web")).await;
    let generation =
        c.get("Deployment", SHOP, "web").expect("exists")["metadata"]["generation"].clone();
    c.server
        .set_status(
            "Deployment",
            SHOP,
            "web",
            json!({"observedGeneration": generation, "replicas": 1,
            "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}),
        )
        .expect("the controller's status");
    let result = tokio::time::timeout(Duration::from_secs(25), task)
        .await
        .expect("the sync ends")
        .expect("no panic");
    assert_ok(&result);
    assert_eq!(result.health.status(), "Healthy");
}

#[tokio::test]
async fn a_deployment_that_never_becomes_available_is_a_health_timeout() {
    let c = cluster().await;
    let engine = waiting_engine(&c, Duration::from_millis(500));
    let result = engine.sync(&shop(), "rev1", shop_objects()).await;
    assert_eq!(result.reason(), "HealthTimeout", "{:?}", result.error);
    assert_eq!(result.health.status(), "Degraded");
    assert!(
        result.health.reason().contains("Deployment.apps shop/web"),
        "{:?}",
        result.health
    );
    // Everything was applied and recorded: health does not undo a sync.
    assert!(
        c.inventory_text("shop")
            .is_some_and(|t| t.contains("apps/v1/Deployment/shop/web "))
    );
}

#[tokio::test]
async fn without_waiting_the_app_reports_progressing_with_the_reason() {
    let c = cluster().await;
    let result = c.engine().sync(&shop(), "rev1", shop_objects()).await;
    assert_ok(&result);
    assert_eq!(result.health.status(), "Progressing");
    assert!(
        result
            .health
            .reason()
            .contains("Deployment.apps shop/web: the new generation is not observed yet"),
        "{:?}",
        result.health
    );
}
