//! `managedFieldsManagers` ignore rules: fields another named manager owns are neither drift
//! nor reverted, by the drift watcher or by a sync.

use std::time::Duration;

use serde_json::json;
use tether_agent::sync::{IgnoreRule, Target};

use super::support::*;
use super::{assert_ok, shop};

fn flags(beta: &str) -> serde_json::Value {
    config_map("web-flags", json!({"beta": beta, "theme": "dark"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_owned_by_a_named_manager_are_not_drift_and_not_reverted() {
    let c = cluster().await;
    let engine = c.engine();
    let mut app = shop();
    app.ignore = vec![IgnoreRule {
        paths: Vec::new(),
        target: Some(Target {
            kind: Some("ConfigMap".into()),
            ..Target::default()
        }),
        managed_fields_managers: vec!["flag-operator".into()],
    }];
    assert_ok(&engine.sync(&app, "rev1", vec![flags("false")]).await);
    let drift = start_drift(&engine);
    let mut corrections = engine.subscribe_corrections();
    c.patch_as(
        "flag-operator",
        "v1",
        "configmaps",
        SHOP,
        "web-flags",
        json!({"data": {"beta": "true"}}),
    )
    .await;
    // A drift by a manager not named, on the same object: its correction must not take the
    // named manager's field back.
    c.patch_as(
        "kubectl-edit",
        "v1",
        "configmaps",
        SHOP,
        "web-flags",
        json!({"data": {"theme": "light"}}),
    )
    .await;
    let correction = tokio::time::timeout(Duration::from_secs(15), corrections.recv())
        .await
        .expect("a correction in time")
        .expect("the broadcast works");
    assert_eq!(correction.object.name, "web-flags");
    assert_eq!(correction.changed_by.as_deref(), Some("kubectl-edit"));
    eventually("theme is restored", || {
        c.get("ConfigMap", SHOP, "web-flags")
            .is_some_and(|cm| cm["data"]["theme"] == "dark")
    })
    .await;
    let cm = c.get("ConfigMap", SHOP, "web-flags").expect("exists");
    assert_eq!(
        cm["data"]["beta"], "true",
        "the named manager's value stays"
    );
    drift.stop().await;
    assert_eq!(engine.corrections("shop"), 1);
    // A resync of the same revision writes nothing; a new revision does not revert it either.
    c.server.requests().reset();
    let result = engine.sync(&app, "rev1", vec![flags("false")]).await;
    assert_ok(&result);
    assert_eq!(c.server.requests().writes(), 0, "{}", result.changes);
    let result = engine.sync(&app, "rev2", vec![flags("no")]).await;
    assert_ok(&result);
    let cm = c.get("ConfigMap", SHOP, "web-flags").expect("exists");
    assert_eq!(cm["data"]["beta"], "true");
    assert_eq!(cm["data"]["theme"], "dark");
    // Without the rule, the same field is Tether's again and reverted.
    let result = engine.sync(&shop(), "rev3", vec![flags("false")]).await;
    assert_ok(&result);
    let cm = c.get("ConfigMap", SHOP, "web-flags").expect("exists");
    assert_eq!(cm["data"]["beta"], "false");
}
