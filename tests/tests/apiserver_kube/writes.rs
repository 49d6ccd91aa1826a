//! The rules of writes through kube-rs: dry run, generation, defaults and the status
//! subresource.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{deployment, start, status_of};

#[tokio::test]
async fn dry_run_stores_nothing_and_emits_nothing() {
    let (server, client) = start().await;
    let api = Api::<Deployment>::namespaced(client, "shop");
    let rv = server.resource_version();
    let pp = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let answer = api
        .create(&pp, &deployment("dry"))
        .await
        .expect("dry-run create");
    assert_eq!(
        answer.spec.and_then(|s| s.replicas),
        Some(1),
        "the answer is defaulted"
    );
    api.patch(
        "dry",
        &PatchParams::apply("m").dry_run(),
        &Patch::Apply(deployment("dry")),
    )
    .await
    .expect("dry apply");
    assert_eq!(
        status_of(api.get("dry").await.expect_err("nothing stored")).code,
        404
    );
    api.create(&PostParams::default(), &deployment("real"))
        .await
        .expect("create");
    let rv_after_create = server.resource_version();
    assert!(rv_after_create > rv);
    let dp = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    api.delete("real", &dp).await.expect("dry-run delete");
    api.get("real").await.expect("still there");
    assert_eq!(
        server.resource_version(),
        rv_after_create,
        "dry runs do not bump resourceVersion"
    );
}

#[tokio::test]
async fn generation_bumps_on_spec_changes_only() {
    let (_server, client) = start().await;
    let api = Api::<Deployment>::namespaced(client, "shop");
    let created = api
        .create(&PostParams::default(), &deployment("gen"))
        .await
        .expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    let labelled = api
        .patch(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .expect("label");
    assert_eq!(labelled.metadata.generation, Some(1));
    let status = api
        .patch_status(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 1}})),
        )
        .await
        .expect("status");
    assert_eq!(status.metadata.generation, Some(1));
    let scaled = api
        .patch(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("scale");
    assert_eq!(scaled.metadata.generation, Some(2));
}

#[tokio::test]
async fn defaults_are_filled_in_like_the_real_server() {
    let (_server, client) = start().await;
    let d = Api::<Deployment>::namespaced(client.clone(), "shop")
        .create(&PostParams::default(), &deployment("def"))
        .await
        .expect("create");
    let d = serde_json::to_value(d).expect("serialize");
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        pod["containers"][0]["terminationMessagePath"],
        "/dev/termination-log"
    );
    let svc: Service =
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}))
        .expect("a Service");
    let svc = Api::<Service>::namespaced(client, "shop")
        .create(&PostParams::default(), &svc)
        .await
        .expect("create");
    let spec = serde_json::to_value(svc.spec).expect("serialize");
    assert!(
        spec["clusterIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.96.")),
        "{spec}"
    );
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
}

#[tokio::test]
async fn the_status_subresource_is_the_only_way_to_change_status() {
    let (server, client) = start().await;
    let api = Api::<Deployment>::namespaced(client, "shop");
    api.create(&PostParams::default(), &deployment("st"))
        .await
        .expect("create");
    api.patch(
        "st",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"readyReplicas": 9}})),
    )
    .await
    .expect("patch");
    assert_eq!(
        api.get("st")
            .await
            .expect("get")
            .status
            .and_then(|s| s.ready_replicas),
        None,
        "ignored on the main resource"
    );
    let mut current = api.get_status("st").await.expect("get status");
    current.status =
        Some(serde_json::from_value(json!({"replicas": 1, "readyReplicas": 1})).expect("a status"));
    let updated = api
        .replace_status("st", &PostParams::default(), &current)
        .await
        .expect("replace status");
    assert_eq!(updated.status.and_then(|s| s.ready_replicas), Some(1));
    assert_eq!(server.requests().count("update", "deployments/status"), 1);
    server
        .set_status(
            "Deployment",
            "shop",
            "st",
            json!({"conditions": [{"type": "Available", "status": "True"}]}),
        )
        .expect("the hook sets status");
    let seen = api
        .get("st")
        .await
        .expect("get")
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    assert_eq!(seen[0].type_, "Available");
}
