//! Prune: what left Git goes, what is protected, stateful, owned by another app or guarded stays.

use super::*;

#[tokio::test]
async fn objects_that_left_git_are_pruned() {
    let c = cluster().await;
    let engine = c.engine();
    assert_ok(&engine.sync(&shop(), "rev1", shop_objects()).await);
    let uid = c.uid("ConfigMap", SHOP, "web-config");
    let mut objects = shop_objects();
    objects.remove(1);
    let result = engine.sync(&shop(), "rev2", objects).await;
    assert_ok(&result);
    assert_eq!(names(&result, Action::Pruned), ["ConfigMap/web-flags"]);
    assert!(!c.exists("ConfigMap", SHOP, "web-flags"));
    assert_eq!(
        c.uid("ConfigMap", SHOP, "web-config"),
        uid,
        "kept objects are never recreated"
    );
    let inventory = c.inventory_text("shop").expect("inventory");
    assert!(!inventory.contains("web-flags"), "{inventory}");
}

#[tokio::test]
async fn each_protection_annotation_keeps_an_object_that_left_git() {
    let c = cluster().await;
    let engine = c.engine();
    let protected = [
        ("tether.dev/prune", "disabled"),
        ("argocd.argoproj.io/sync-options", "Prune=false"),
        ("kustomize.toolkit.fluxcd.io/prune", "disabled"),
        ("helm.sh/resource-policy", "keep"),
    ];
    let mut objects = shop_objects();
    for (i, (key, value)) in protected.iter().enumerate() {
        objects.push(annotated(
            config_map(&format!("kept-{i}"), json!({})),
            key,
            value,
        ));
    }
    objects.push(config_map("plain", json!({})));
    assert_ok(&engine.sync(&shop(), "rev1", objects).await);
    let result = engine.sync(&shop(), "rev2", shop_objects()).await;
    assert_ok(&result);
    assert_eq!(names(&result, Action::Pruned), ["ConfigMap/plain"]);
    assert_eq!(
        names(&result, Action::Orphaned),
        [
            "ConfigMap/kept-0",
            "ConfigMap/kept-1",
            "ConfigMap/kept-2",
            "ConfigMap/kept-3"
        ]
    );
    for (i, (key, _)) in protected.iter().enumerate() {
        assert!(
            c.exists("ConfigMap", SHOP, &format!("kept-{i}")),
            "{key} protects"
        );
        let change = result
            .changes
            .changes
            .iter()
            .find(|ch| ch.object.name == format!("kept-{i}"))
            .expect("reported");
        assert!(
            change.reason.as_deref().is_some_and(|r| r.contains(key)),
            "{change}"
        );
    }
}

#[tokio::test]
async fn stateful_kinds_are_orphaned_unless_they_opt_in_to_prune() {
    let c = cluster().await;
    let engine = c.engine();
    let crd = yaml_fixture("crd-gadgets.yaml");
    let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "shop-pv"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}}});
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:17"}]}}}});
    let namespace =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop-extra"}});
    let stateful = vec![
        crd,
        pv,
        sts,
        namespace,
        pvc("data"),
        annotated(pvc("scratch"), "tether.dev/prune", "enabled"),
    ];
    let mut objects = shop_objects();
    objects.extend(stateful);
    objects.extend((0..4).map(|i| config_map(&format!("filler-{i}"), json!({}))));
    assert_ok(&engine.sync(&shop(), "rev1", objects).await);
    let mut keep = shop_objects();
    keep.extend((0..4).map(|i| config_map(&format!("filler-{i}"), json!({}))));
    let result = engine.sync(&shop(), "rev2", keep).await;
    assert_ok(&result);
    assert_eq!(
        names(&result, Action::Pruned),
        ["PersistentVolumeClaim/scratch"]
    );
    assert_eq!(
        names(&result, Action::Orphaned),
        [
            "CustomResourceDefinition/gadgets.tether.example",
            "Namespace/shop-extra",
            "PersistentVolume/shop-pv",
            "PersistentVolumeClaim/data",
            "StatefulSet/db"
        ]
    );
    assert!(c.exists("CustomResourceDefinition", "", "gadgets.tether.example"));
    assert!(c.exists("Namespace", "", "shop-extra"));
    assert!(c.exists("PersistentVolume", "", "shop-pv"));
    assert!(c.exists("PersistentVolumeClaim", SHOP, "data"));
    assert!(c.exists("StatefulSet", SHOP, "db"));
    assert!(!c.exists("PersistentVolumeClaim", SHOP, "scratch"));
}

#[tokio::test]
async fn protection_added_to_the_live_object_is_honoured() {
    let c = cluster().await;
    let engine = c.engine();
    let mut objects = shop_objects();
    objects.push(config_map("precious", json!({})));
    assert_ok(&engine.sync(&shop(), "rev1", objects).await);
    // An operator protects the live object by hand, then it leaves Git.
    c.patch_as(
        "kubectl-annotate",
        "v1",
        "configmaps",
        SHOP,
        "precious",
        json!({"metadata": {"annotations": {"tether.dev/prune": "disabled"}}}),
    )
    .await;
    let result = engine.sync(&shop(), "rev2", shop_objects()).await;
    assert_ok(&result);
    assert_eq!(names(&result, Action::Orphaned), ["ConfigMap/precious"]);
    assert!(c.exists("ConfigMap", SHOP, "precious"));
}

#[tokio::test]
async fn the_mass_deletion_guard_blocks_the_whole_prune() {
    let c = cluster().await;
    let engine = c.engine();
    assert_ok(&engine.sync(&shop(), "rev1", shop_objects()).await);
    let result = engine
        .sync(&shop(), "rev2", vec![shop_objects().remove(0)])
        .await;
    assert_eq!(result.reason(), "PruneBlocked", "{:?}", result.error);
    assert_eq!(result.changes.count(Action::Pruned), 0);
    for (kind, name) in [
        ("ConfigMap", "web-flags"),
        ("Service", "web"),
        ("Deployment", "web"),
    ] {
        assert!(
            c.exists(kind, SHOP, name),
            "{kind} {name} survives a blocked prune"
        );
    }
    // The blocked objects stay in the inventory: raising the limit prunes them.
    let mut app = shop();
    app.max_prune_percent = Some(100);
    let result = engine
        .sync(&app, "rev2", vec![shop_objects().remove(0)])
        .await;
    assert_ok(&result);
    assert_eq!(
        names(&result, Action::Pruned),
        ["ConfigMap/web-flags", "Deployment/web", "Service/web"]
    );
}

#[tokio::test]
async fn a_removed_app_is_pruned_but_its_pvc_stays_and_other_apps_are_untouched() {
    let c = cluster().await;
    let engine = c.engine();
    let mut objects = shop_objects();
    objects.push(pvc("uploads"));
    assert_ok(&engine.sync(&shop(), "rev1", objects).await);
    let billing = AppSpec::new("billing", SHOP);
    assert_ok(
        &engine
            .sync(
                &billing,
                "rev1",
                vec![config_map("billing-config", json!({"a": "b"}))],
            )
            .await,
    );
    let billing_uid = c.uid("ConfigMap", SHOP, "billing-config");

    // A new engine, as after a restart: the removal works from the inventory in the cluster.
    let engine = c.engine();
    let result = engine.remove(&shop(), "rev2").await;
    assert_ok(&result);
    assert_eq!(
        names(&result, Action::Pruned),
        [
            "ConfigMap/web-config",
            "ConfigMap/web-flags",
            "Deployment/web",
            "Service/web"
        ]
    );
    assert_eq!(
        names(&result, Action::Orphaned),
        ["PersistentVolumeClaim/uploads"]
    );
    for (kind, name) in [
        ("ConfigMap", "web-config"),
        ("Deployment", "web"),
        ("Service", "web"),
    ] {
        assert!(!c.exists(kind, SHOP, name), "{kind}/{name} was not pruned");
    }
    assert!(
        c.exists("PersistentVolumeClaim", SHOP, "uploads"),
        "the PVC was deleted"
    );
    assert!(
        c.inventory_text("shop").is_none(),
        "the inventory of a removed app stays"
    );
    assert_eq!(c.uid("ConfigMap", SHOP, "billing-config"), billing_uid);
    assert!(c.inventory_text("billing").is_some());

    // Removing it again finds nothing to do.
    c.server.requests().reset();
    assert_ok(&engine.remove(&shop(), "rev3").await);
    assert_eq!(
        c.server.requests().writes(),
        1,
        "only the inventory delete (already gone)"
    );
}

#[tokio::test]
async fn an_empty_render_never_prunes() {
    let c = cluster().await;
    let engine = c.engine();
    assert_ok(&engine.sync(&shop(), "rev1", shop_objects()).await);
    let before = c.inventory_text("shop");
    c.server.requests().reset();
    let result = engine
        .sync(&shop(), "rev2", Vec::<serde_json::Value>::new())
        .await;
    assert_eq!(result.reason(), "PruneBlocked");
    assert_eq!(c.server.requests().writes(), 0);
    assert!(c.exists("Deployment", SHOP, "web"));
    assert_eq!(c.inventory_text("shop"), before);
}

/// `count` ConfigMaps named `prefix-NN` in `namespace`.
fn config_maps_in(namespace: &str, prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let mut cm = config_map(&format!("{prefix}-{i:02}"), json!({"i": i.to_string()}));
            cm["metadata"]["namespace"] = json!(namespace);
            cm
        })
        .collect()
}

#[tokio::test]
async fn a_kind_that_goes_whole_from_a_namespace_is_deleted_by_one_collection_delete() {
    let c = cluster().await;
    c.server
        .put_object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}}))
        .expect("create a namespace");
    let engine = c.engine();
    // 40 ConfigMaps alone in `bulk`, 20 in `shop` beside another app's ConfigMap.
    let mut objects = config_maps_in("bulk", "alone", 40);
    objects.extend(config_maps_in(SHOP, "beside", 20));
    let bulk = AppSpec::new("bulk", "bulk");
    assert_ok(&engine.sync(&bulk, "rev1", objects).await);
    let billing = AppSpec::new("billing", SHOP);
    assert_ok(
        &engine
            .sync(
                &billing,
                "rev1",
                vec![config_map("billing-config", json!({"a": "b"}))],
            )
            .await,
    );
    let billing_uid = c.uid("ConfigMap", SHOP, "billing-config");
    let before = c.server.writes().len();
    c.server.requests().reset();

    let result = engine.remove(&bulk, "rev2").await;
    assert_ok(&result);
    assert_eq!(result.changes.count(Action::Pruned), 60);
    let writes = c.server.writes().since(before);
    let verbs_in = |ns: &str| -> Vec<String> {
        writes
            .iter()
            .filter(|w| w.namespace == ns && w.resource == "configmaps")
            .map(|w| w.verb.clone())
            .collect()
    };
    assert_eq!(
        verbs_in("bulk"),
        ["deletecollection"],
        "one request for the 40"
    );
    let in_shop = verbs_in(SHOP);
    assert_eq!(in_shop.len(), 20, "{in_shop:?}");
    assert!(in_shop.iter().all(|v| v == "delete"), "{in_shop:?}");
    assert!(
        c.server.list_objects("configmaps").iter().all(|o| {
            let name = o["metadata"]["name"].as_str().unwrap_or("");
            !name.starts_with("alone-") && !name.starts_with("beside-")
        }),
        "every object of the app is gone"
    );
    assert_eq!(c.uid("ConfigMap", SHOP, "billing-config"), billing_uid);
    let gets = c.server.requests().count("get", "configmaps");
    assert!(
        gets < 5,
        "the 60 candidates were read by two lists, not one by one: {gets} reads"
    );
}

#[tokio::test]
async fn a_protected_object_among_many_keeps_the_collection_delete_from_running() {
    let c = cluster().await;
    let engine = c.engine();
    let mut objects = config_maps_in(SHOP, "many", 30);
    objects.push(annotated(
        config_map("kept", json!({})),
        "tether.dev/prune",
        "disabled",
    ));
    assert_ok(&engine.sync(&shop(), "rev1", objects).await);
    c.server.requests().reset();
    let result = engine.remove(&shop(), "rev2").await;
    assert_ok(&result);
    assert_eq!(result.changes.count(Action::Pruned), 30);
    assert_eq!(names(&result, Action::Orphaned), ["ConfigMap/kept"]);
    assert!(c.exists("ConfigMap", SHOP, "kept"));
    assert_eq!(
        c.server.requests().count("deletecollection", "configmaps"),
        0
    );
}
