//! Restarts, conflicts, waves, API faults, Secret diffs, parallel apps, kubeconfigs and a large inventory.

use super::*;

#[tokio::test]
async fn a_restarted_engine_reads_the_inventory_writes_nothing_and_prunes_correctly() {
    let c = cluster().await;
    assert_ok(&c.engine().sync(&shop(), "rev1", shop_objects()).await);
    c.server.requests().reset();
    let restarted = c.engine();
    let result = restarted.sync(&shop(), "rev1", shop_objects()).await;
    assert_ok(&result);
    assert_eq!(result.changes.count(Action::Unchanged), 4);
    assert_eq!(
        c.server.requests().writes(),
        0,
        "{:?}",
        c.server.requests().snapshot()
    );
    let again = c.engine();
    let mut objects = shop_objects();
    objects.remove(1);
    let result = again.sync(&shop(), "rev2", objects).await;
    assert_ok(&result);
    assert_eq!(names(&result, Action::Pruned), ["ConfigMap/web-flags"]);
    assert!(!c.exists("ConfigMap", SHOP, "web-flags"));
}

#[tokio::test]
async fn a_conflict_with_another_manager_is_won_by_force() {
    let c = cluster().await;
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(c.client.clone(), SHOP);
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": SHOP},
        "data": {"LOG_LEVEL": "warn", "THEIRS": "1"}});
    api.patch(
        "web-config",
        &kube::api::PatchParams::apply("helm"),
        &kube::api::Patch::Apply(&theirs),
    )
    .await
    .expect("another manager applies first");
    let result = c.engine().sync(&shop(), "rev1", shop_objects()).await;
    assert_ok(&result);
    let cm = c.get("ConfigMap", SHOP, "web-config").expect("exists");
    assert_eq!(cm["data"]["LOG_LEVEL"], "info");
    assert_eq!(
        cm["data"]["THEIRS"], "1",
        "fields Tether does not set stay with their manager"
    );
    let configured = names(&result, Action::Configured);
    assert_eq!(configured, ["ConfigMap/web-config"]);
}

#[tokio::test]
async fn waves_and_kinds_set_the_apply_order_and_a_failed_wave_stops_the_next() {
    let c = cluster().await;
    let engine = c.engine();
    let objects = vec![
        annotated(config_map("late", json!({})), "tether.dev/sync-wave", "2"),
        deployment("web", "ghcr.io/acme/web:1.0.0"),
        annotated(
            config_map("first", json!({})),
            "argocd.argoproj.io/sync-wave",
            "-1",
        ),
        service("web"),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "shop-reader"}, "rules": []}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop-data"}}),
    ];
    assert_ok(&engine.sync(&shop(), "rev1", objects).await);
    let rv = |kind: &str, ns: &str, name: &str| {
        resource_version(&c.get(kind, ns, name).expect("created"))
    };
    let order = [
        rv("Namespace", "", "shop-data"),
        rv("ClusterRole", "", "shop-reader"),
        rv("ConfigMap", SHOP, "first"),
        rv("ServiceAccount", SHOP, "web"),
        rv("Service", SHOP, "web"),
        rv("Deployment", SHOP, "web"),
        rv("ConfigMap", SHOP, "late"),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "creation order {order:?}"
    );

    let failing = vec![
        config_map("ok", json!({})),
        config_map("Not_A_Valid_Name", json!({})),
        annotated(config_map("after", json!({})), "tether.dev/sync-wave", "1"),
    ];
    let app = AppSpec::new("broken", SHOP);
    let result = engine.sync(&app, "rev1", failing).await;
    assert_eq!(result.reason(), "ApplyFailed");
    let failed = result
        .changes
        .changes
        .iter()
        .find(|c| c.action == Action::Failed)
        .expect("a failed object");
    assert_eq!(failed.object.name, "Not_A_Valid_Name");
    assert!(
        failed
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("422") && r.contains("Invalid")),
        "{failed}"
    );
    assert_eq!(names(&result, Action::Skipped), ["ConfigMap/after"]);
    assert!(
        !c.exists("ConfigMap", SHOP, "after"),
        "a later wave is not applied"
    );
    assert!(c.exists("ConfigMap", SHOP, "ok"));
    let inventory = c.inventory_text("broken").expect("partial inventory");
    assert!(
        inventory.contains("/v1/ConfigMap/shop/ok "),
        "what was applied can be pruned later: {inventory}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_api_faults_converge_with_no_wrong_prune() {
    let c = cluster().await;
    let engine = c.engine();
    // Another app's object and a protected one live beside the app's objects.
    assert_ok(
        &engine
            .sync(
                &AppSpec::new("other", SHOP),
                "o1",
                vec![config_map("not-mine", json!({}))],
            )
            .await,
    );
    let mut v1 = shop_objects();
    v1.extend((0..6).map(|i| config_map(&format!("extra-{i}"), json!({"i": i.to_string()}))));
    v1.push(pvc("data"));
    c.server.faults().set(FaultPlan {
        error_rate_5xx: 0.15,
        rate_429: 0.1,
        retry_after_secs: 0,
        timeout_rate: 0.03,
        timeout_hold: Duration::from_millis(300),
        seed: 7,
        ..FaultPlan::default()
    });
    let converge = |revision: &'static str, objects: Vec<Value>| {
        let engine = engine.clone();
        async move {
            for _ in 0..10 {
                let result = engine.sync(&shop(), revision, objects.clone()).await;
                if result.is_success() {
                    return result;
                }
            }
            panic!("no convergence in 10 syncs");
        }
    };
    converge("rev1", v1.clone()).await;
    let uids: Vec<(String, String)> = (0..4)
        .map(|i| format!("extra-{i}"))
        .map(|n| (n.clone(), c.uid("ConfigMap", SHOP, &n)))
        .collect();
    let mut v2: Vec<Value> = v1
        .into_iter()
        .filter(|o| {
            !matches!(
                o["metadata"]["name"].as_str(),
                Some("extra-4" | "extra-5" | "data")
            )
        })
        .collect();
    v2[0]["data"]["LOG_LEVEL"] = json!("warn");
    converge("rev2", v2.clone()).await;
    assert!(c.server.faults().injected() > 0, "faults were injected");
    c.server.faults().clear();
    for (name, uid) in uids {
        assert_eq!(
            c.uid("ConfigMap", SHOP, &name),
            uid,
            "{name} was never deleted"
        );
    }
    assert!(!c.exists("ConfigMap", SHOP, "extra-4") && !c.exists("ConfigMap", SHOP, "extra-5"));
    assert!(
        c.exists("PersistentVolumeClaim", SHOP, "data"),
        "the protected PVC stays"
    );
    assert!(
        c.exists("ConfigMap", SHOP, "not-mine"),
        "another app's object stays"
    );
    assert_eq!(
        c.get("ConfigMap", SHOP, "web-config").expect("exists")["data"]["LOG_LEVEL"],
        "warn"
    );
    c.server.requests().reset();
    let result = engine.sync(&shop(), "rev2", v2).await;
    assert_ok(&result);
    assert_eq!(
        c.server.requests().writes(),
        0,
        "converged: {}",
        result.changes
    );
}

#[tokio::test]
async fn an_object_another_app_owns_or_tether_did_not_create_is_never_pruned() {
    let c = cluster().await;
    let engine = c.engine();
    let mut objects = shop_objects();
    objects.push(config_map("shared", json!({"by": "shop"})));
    objects.push(config_map("adopted", json!({})));
    assert_ok(&engine.sync(&shop(), "rev1", objects).await);
    // An operator hands "shared" over to another app, which takes it; someone strips
    // Tether's label from "adopted".
    c.patch_as(
        "kubectl-annotate",
        "v1",
        "configmaps",
        SHOP,
        "shared",
        json!({"metadata": {"annotations": {"tether.dev/adopt": "true"}}}),
    )
    .await;
    assert_ok(
        &engine
            .sync(
                &AppSpec::new("billing", SHOP),
                "b1",
                vec![config_map("shared", json!({"by": "billing"}))],
            )
            .await,
    );
    c.patch_as(
        "kubectl-label",
        "v1",
        "configmaps",
        SHOP,
        "adopted",
        json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": null}}}),
    )
    .await;
    let result = engine.sync(&shop(), "rev2", shop_objects()).await;
    assert_ok(&result);
    assert_eq!(names(&result, Action::Pruned), Vec::<String>::new());
    assert_eq!(
        names(&result, Action::Orphaned),
        ["ConfigMap/adopted", "ConfigMap/shared"]
    );
    let shared = result
        .changes
        .changes
        .iter()
        .find(|c| c.object.name == "shared")
        .expect("reported");
    assert_eq!(shared.reason.as_deref(), Some("owned by app billing"));
    assert!(c.exists("ConfigMap", SHOP, "shared") && c.exists("ConfigMap", SHOP, "adopted"));
}

#[tokio::test]
async fn a_secret_diff_shows_keys_and_value_hashes_only() {
    let c = cluster().await;
    let engine = c.engine();
    // base64 of "hunter2" and "correct-horse".
    let v1 = vec![secret("db", json!({"password": "aHVudGVyMg=="}))];
    assert_ok(&engine.sync(&shop(), "rev1", v1).await);
    let v2 = vec![secret(
        "db",
        json!({"password": "Y29ycmVjdC1ob3JzZQ==", "user": "YWRtaW4="}),
    )];
    let result = engine.sync(&shop(), "rev2", v2).await;
    assert_ok(&result);
    let change = result
        .changes
        .changes
        .iter()
        .find(|c| c.action == Action::Configured)
        .expect("configured");
    let paths: Vec<&str> = change.diff.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["/data/password", "/data/user"]);
    let shown = format!(
        "{}\n{:?}\n{}",
        result.changes,
        result,
        serde_json::to_string(&result.changes).expect("json")
    );
    for leaked in [
        "hunter2",
        "aHVudGVyMg",
        "correct-horse",
        "Y29ycmVjdC1ob3JzZQ",
        "admin",
        "YWRtaW4",
    ] {
        assert!(!shown.contains(leaked), "{leaked} leaked: {shown}");
    }
    assert!(shown.contains("<redacted hmac:"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_sync_in_parallel_and_one_failure_blocks_no_other() {
    let c = cluster().await;
    let engine = c.engine();
    let apps = (0..5)
        .map(|i| {
            let mut objects = vec![config_map(&format!("app-{i}"), json!({}))];
            if i == 2 {
                objects.push(json!({"apiVersion": "nowhere.example/v1", "kind": "Missing", "metadata": {"name": "x"}}));
            }
            (AppSpec::new(&format!("app-{i}"), SHOP), "r".to_owned(), objects)
        })
        .collect();
    let results = engine.sync_all(apps).await;
    let reasons: Vec<&str> = results.iter().map(|r| r.reason()).collect();
    assert_eq!(
        reasons,
        [
            "Succeeded",
            "Succeeded",
            "UnknownKind",
            "Succeeded",
            "Succeeded"
        ]
    );
    for i in [0, 1, 3, 4] {
        assert!(c.exists("ConfigMap", SHOP, &format!("app-{i}")));
    }
    let message = results[2].error.as_ref().expect("an error").to_string();
    assert!(
        message.contains("Missing.nowhere.example shop/x") || message.contains("Missing"),
        "{message}"
    );
}

#[tokio::test]
async fn kubeconfigs_that_run_programs_are_refused_and_plain_ones_work() {
    let Err(refused) = connect(&ClientOptions {
        kubeconfig: Some(fixture("kubeconfig-exec.yaml")),
        ..ClientOptions::default()
    })
    .await
    else {
        panic!("a kubeconfig with exec must be refused");
    };
    assert!(refused.to_string().contains("uses exec"), "{refused}");
    let c = cluster().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("kubeconfig");
    c.server
        .write_kubeconfig(&path)
        .expect("write the kubeconfig");
    let client = connect(&ClientOptions {
        kubeconfig: Some(path),
        ..ClientOptions::default()
    })
    .await
    .expect("a plain kubeconfig works");
    let engine = tether_agent::sync::Engine::new(client, config());
    assert_ok(&engine.sync(&shop(), "rev1", shop_objects()).await);
}

#[tokio::test]
async fn an_inventory_of_five_thousand_objects_round_trips_through_the_cluster() {
    use tether_agent::sync::inventory::{self, Entry, Inventory};
    let c = cluster().await;
    let inventory = Inventory {
        revision: "a".repeat(40),
        digest: "0123456789abcdef".into(),
        entries: (0..5000)
            .map(|i| {
                (
                    tether_agent::sync::ObjectRef {
                        group: "apps".into(),
                        version: "v1".into(),
                        kind: "Deployment".into(),
                        namespace: "production".into(),
                        name: format!("service-{i:05}"),
                    },
                    Entry {
                        applied: "0123456789abcdef".into(),
                        live: "fedcba9876543210".into(),
                    },
                )
            })
            .collect(),
    };
    inventory::store(&c.client, AGENT_NS, "big", "tether", &inventory)
        .await
        .expect("stored");
    let loaded = inventory::load(&c.client, AGENT_NS, "big")
        .await
        .expect("loaded")
        .expect("present");
    assert_eq!(loaded, inventory);
}
