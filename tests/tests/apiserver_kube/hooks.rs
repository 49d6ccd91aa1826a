//! The test hooks seen through kube-rs: injected faults, request counters, direct edits of
//! the store, and several servers at once.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Config};
use serde_json::json;
use tether_tests::apiserver::FaultPlan;

use super::{client_for, config_map, start, status_of};

#[tokio::test]
async fn injected_faults_reach_the_caller() {
    let (server, _) = start().await;
    let client = client_for(&server, false);
    let api = Api::<ConfigMap>::namespaced(client.clone(), "shop");
    api.create(&PostParams::default(), &config_map("f", json!({})))
        .await
        .expect("create");

    server.faults().set(FaultPlan {
        error_rate_5xx: 1.0,
        only_verbs: Some(vec!["get".into()]),
        ..FaultPlan::default()
    });
    let status = status_of(api.get("f").await.expect_err("500"));
    assert_eq!(
        (status.code, status.reason.as_str()),
        (500, "InternalError")
    );
    api.list(&ListParams::default())
        .await
        .expect("other verbs are spared");

    server.faults().set(FaultPlan {
        rate_429: 1.0,
        retry_after_secs: 3,
        ..FaultPlan::default()
    });
    let status = status_of(api.get("f").await.expect_err("429"));
    assert_eq!(
        (status.code, status.reason.as_str()),
        (429, "TooManyRequests")
    );
    assert_eq!(status.details.map(|d| d.retry_after_seconds), Some(3));

    server.faults().set(FaultPlan {
        timeout_rate: 1.0,
        timeout_hold: Duration::from_secs(3),
        ..FaultPlan::default()
    });
    let mut config = Config::new(server.url().parse().expect("url"));
    config.default_retry = false;
    config.read_timeout = Some(Duration::from_millis(300));
    let impatient = Api::<ConfigMap>::namespaced(Client::try_from(config).expect("client"), "shop");
    let err = impatient.get("f").await.expect_err("the request times out");
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "a client-side timeout, not a status: {err:?}"
    );

    server.faults().clear();
    api.get("f").await.expect("no faults once cleared");

    // kube's default client retries 429s: a seeded plan is absorbed, and the retries counted.
    server.faults().set(FaultPlan {
        rate_429: 0.5,
        retry_after_secs: 0,
        seed: 3,
        ..FaultPlan::default()
    });
    server.requests().reset();
    let retrying = Api::<ConfigMap>::namespaced(client_for(&server, true), "shop");
    for _ in 0..10 {
        retrying.get("f").await.expect("retried until it succeeds");
    }
    let sent = server.requests().count("get", "configmaps");
    assert!(sent > 10, "retries were sent: {sent}");
    assert!(server.faults().injected() > 0);
}

#[tokio::test]
async fn request_counters_count_by_verb_and_resource() {
    let (server, client) = start().await;
    server.requests().reset();
    let api = Api::<ConfigMap>::namespaced(client, "shop");
    api.create(&PostParams::default(), &config_map("n", json!({})))
        .await
        .expect("create");
    api.get("n").await.expect("get");
    api.list(&ListParams::default()).await.expect("list");
    api.patch(
        "n",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "b"}})),
    )
    .await
    .expect("patch");
    api.patch(
        "n",
        &PatchParams::apply("m"),
        &Patch::Apply(config_map("n", json!({"c": "d"}))),
    )
    .await
    .expect("apply");
    api.delete("n", &DeleteParams::default())
        .await
        .expect("delete");
    for verb in ["create", "get", "list", "patch", "apply", "delete"] {
        assert_eq!(server.requests().count(verb, "configmaps"), 1, "{verb}");
    }
    assert_eq!(server.requests().writes(), 4);
    assert_eq!(server.requests().count("get", "deployments"), 0);
    server.requests().reset();
    assert_eq!(server.requests().total(), 0);
}

#[tokio::test]
async fn test_hooks_edit_objects_behind_the_clients_back() {
    let (server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "shop");
    let stored = server
        .put_object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "h", "namespace": "shop"},
            "data": {"by": "hook"}}))
        .expect("put");
    let seen = api.get("h").await.expect("kube sees it");
    assert_eq!(
        seen.metadata.resource_version,
        stored["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_owned)
    );
    assert_eq!(
        server
            .object("configmaps", "shop", "h")
            .expect("the hook sees it")["data"]["by"],
        "hook"
    );
    assert_eq!(server.list_objects("ConfigMap").len(), 1);
    server
        .delete_object("ConfigMap", "shop", "h")
        .expect("deleted");
    assert_eq!(status_of(api.get("h").await.expect_err("gone")).code, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_in_parallel_keep_their_own_objects() {
    let ((one, c1), (two, c2)) = tokio::join!(start(), start());
    Api::<ConfigMap>::namespaced(c1.clone(), "shop")
        .create(
            &PostParams::default(),
            &config_map("only-in-one", json!({})),
        )
        .await
        .expect("create in one");
    Api::<ConfigMap>::namespaced(c2.clone(), "shop")
        .create(
            &PostParams::default(),
            &config_map("only-in-two", json!({})),
        )
        .await
        .expect("create in two");
    assert_ne!(one.url(), two.url());
    for (client, mine, theirs) in [
        (c1, "only-in-one", "only-in-two"),
        (c2, "only-in-two", "only-in-one"),
    ] {
        let api = Api::<ConfigMap>::namespaced(client, "shop");
        api.get(mine).await.expect("own object");
        assert_eq!(
            status_of(api.get(theirs).await.expect_err("not shared")).code,
            404
        );
    }
    one.shutdown().await;
    two.shutdown().await;
}
