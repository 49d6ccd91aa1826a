//! The sync engine (`tether_agent::sync`) against the Kubernetes API server emulation: one
//! test per behaviour of apply, hooks, inventory, prune, drift, steady state and health.

#[path = "sync_engine/drift.rs"]
mod drift;
#[path = "sync_engine/helm_hooks.rs"]
mod helm_hooks;
#[path = "sync_engine/hooks_health.rs"]
mod hooks_health;
#[path = "sync_engine/lifecycle.rs"]
mod lifecycle;
#[path = "sync_engine/managers.rs"]
mod managers;
#[path = "sync_engine/prune.rs"]
mod prune;
#[path = "sync_engine/support.rs"]
mod support;

use std::time::Duration;

use serde_json::{Value, json};
use tether_agent::sync::{Action, AppSpec, ClientOptions, connect};
use tether_tests::apiserver::FaultPlan;

use support::*;

fn shop() -> AppSpec {
    AppSpec::new("shop", SHOP)
}

fn names(result: &tether_agent::sync::SyncResult, action: Action) -> Vec<String> {
    let mut out: Vec<String> = result
        .changes
        .with(action)
        .into_iter()
        .map(|r| format!("{}/{}", r.kind, r.name))
        .collect();
    out.sort();
    out
}

fn assert_ok(result: &tether_agent::sync::SyncResult) {
    assert!(
        result.is_success(),
        "the sync failed: {:?}\n{}",
        result.error,
        result.changes
    );
}

#[tokio::test]
async fn a_first_sync_creates_every_object_with_tethers_label_owner_and_inventory() {
    let c = cluster().await;
    let result = c.engine().sync(&shop(), "rev1", shop_objects()).await;
    assert_ok(&result);
    assert_eq!(
        names(&result, Action::Created),
        [
            "ConfigMap/web-config",
            "ConfigMap/web-flags",
            "Deployment/web",
            "Service/web"
        ]
    );
    let web = c.get("Deployment", SHOP, "web").expect("created");
    assert_eq!(
        web["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "tether"
    );
    assert_eq!(web["metadata"]["annotations"]["tether.dev/owner"], "shop");
    let managers: Vec<&str> = web["metadata"]["managedFields"]
        .as_array()
        .expect("managed fields")
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["tether"]);
    let inventory = c.inventory_text("shop").expect("the inventory ConfigMap");
    assert!(inventory.contains("\nrevision rev1\n"), "{inventory}");
    assert!(
        inventory.contains("\napps/v1/Deployment/shop/web "),
        "{inventory}"
    );
    assert!(
        inventory.contains("\n/v1/ConfigMap/shop/web-config "),
        "{inventory}"
    );
    assert_eq!(inventory.lines().count(), 3 + 4);
}

#[tokio::test]
async fn an_update_configures_only_the_changed_object() {
    let c = cluster().await;
    let engine = c.engine();
    assert_ok(&engine.sync(&shop(), "rev1", shop_objects()).await);
    let mut objects = shop_objects();
    objects[0]["data"]["LOG_LEVEL"] = json!("debug");
    c.server.requests().reset();
    let result = engine.sync(&shop(), "rev2", objects).await;
    assert_ok(&result);
    assert_eq!(names(&result, Action::Configured), ["ConfigMap/web-config"]);
    assert_eq!(result.changes.count(Action::Unchanged), 3);
    let change = result
        .changes
        .changes
        .iter()
        .find(|c| c.action == Action::Configured)
        .expect("one");
    assert_eq!(change.diff.len(), 1);
    assert_eq!(change.diff[0].path, "/data/LOG_LEVEL");
    assert_eq!(change.diff[0].after.as_deref(), Some("\"debug\""));
    assert_eq!(
        c.get("ConfigMap", SHOP, "web-config").expect("exists")["data"]["LOG_LEVEL"],
        "debug"
    );
    // One apply for the object, one for the inventory.
    assert_eq!(c.server.requests().count("apply", "configmaps"), 2);
    assert_eq!(c.server.requests().writes(), 2);
}
