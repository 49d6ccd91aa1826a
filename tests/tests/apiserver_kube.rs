//! The API server emulation as kube-rs sees it: the real `kube::Client` over HTTP against
//! in-process servers, several of them running at once in this test process. The watch tests
//! are in `apiserver_kube/watch.rs`, server-side apply in `apiserver_kube/apply.rs`, the
//! rules of writes (dry run, generation, defaults, status) in `apiserver_kube/writes.rs`, and
//! the test-hook tests (faults, counters, direct edits, parallel servers) in
//! `apiserver_kube/hooks.rs`.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::TokenReview;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::core::Status;
use kube::discovery::{Discovery, Scope};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};
use serde_json::{Value, json};
use tether_tests::apiserver::{ApiServer, ApiServerOptions};

#[path = "apiserver_kube/apply.rs"]
mod apply;
#[path = "apiserver_kube/hooks.rs"]
mod hooks;
#[path = "apiserver_kube/watch.rs"]
mod watch;
#[path = "apiserver_kube/writes.rs"]
mod writes;

const WAIT: Duration = Duration::from_secs(15);

fn client_for(server: &ApiServer, retry: bool) -> Client {
    let mut config = Config::new(server.url().parse().expect("the server URL parses"));
    config.default_retry = retry;
    Client::try_from(config).expect("build a kube client")
}

async fn create_namespace(client: &Client, name: &str) {
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("a Namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create the namespace");
}

async fn start_with(options: ApiServerOptions) -> (ApiServer, Client) {
    let server = ApiServer::start_with(options)
        .await
        .expect("start the API server emulation");
    let client = client_for(&server, true);
    create_namespace(&client, "shop").await;
    (server, client)
}

async fn start() -> (ApiServer, Client) {
    start_with(ApiServerOptions::default()).await
}

fn status_of(err: kube::Error) -> Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn config_map(name: &str, data: Value) -> ConfigMap {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "shop"}, "data": data}))
    .expect("a ConfigMap")
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}
        }
    }))
    .expect("a Deployment")
}

fn widgets_crd() -> CustomResourceDefinition {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/apiserver/crd-widgets.yaml"
    ))
    .expect("read the CRD fixture");
    serde_saphyr::from_str(&text).expect("the CRD fixture parses")
}

fn rv_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.resource_version
        .clone()
        .expect("stored objects have a resourceVersion")
}

#[tokio::test]
async fn dynamic_objects_go_through_create_get_list_replace_and_delete() {
    let (_server, client) = start().await;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("", "v1", "ConfigMap"),
        "configmaps",
    );
    let api = Api::<DynamicObject>::namespaced_with(client, "shop", &ar);
    let obj = DynamicObject::new("dyn", &ar)
        .within("shop")
        .data(json!({"data": {"a": "1"}}));
    let created = api
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());
    let mut got = api.get("dyn").await.expect("get");
    assert_eq!(got.data["data"]["a"], "1");
    assert_eq!(
        api.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len(),
        1
    );
    got.data["data"]["a"] = json!("2");
    let replaced = api
        .replace("dyn", &PostParams::default(), &got)
        .await
        .expect("replace");
    assert_ne!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(replaced.data["data"]["a"], "2");
    api.delete("dyn", &DeleteParams::default())
        .await
        .expect("delete");
    let err = status_of(api.get("dyn").await.expect_err("gone"));
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.details.map(|d| d.name).as_deref(), Some("dyn"));
}

#[tokio::test]
async fn discovery_resolves_built_in_kinds_and_a_new_crd_both_ways() {
    let options = ApiServerOptions {
        crd_establish_delay: Duration::from_millis(300),
        ..ApiServerOptions::default()
    };
    let (_server, client) = start_with(options).await;
    for aggregated in [false, true] {
        let d = Discovery::new(client.clone());
        let d = if aggregated {
            d.run_aggregated().await
        } else {
            d.run().await
        }
        .expect("discovery runs");
        let (ar, caps) = d
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .expect("Deployment");
        assert_eq!(
            (ar.plural.as_str(), caps.scope.clone()),
            ("deployments", Scope::Namespaced)
        );
        let (ar, caps) = d
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace"))
            .expect("Namespace");
        assert_eq!(
            (ar.plural.as_str(), caps.scope),
            ("namespaces", Scope::Cluster)
        );
        assert!(
            d.resolve_gvk(&GroupVersionKind::gvk(
                "policy",
                "v1",
                "PodDisruptionBudget"
            ))
            .is_some()
        );
    }
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let created = crds
        .create(&PostParams::default(), &widgets_crd())
        .await
        .expect("create the CRD");
    let established_at_once = created.status.and_then(|s| s.conditions).is_some_and(|c| {
        c.iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    });
    assert!(
        !established_at_once,
        "with a delay the CRD is not Established at once"
    );
    tokio::time::timeout(
        WAIT,
        await_condition(
            crds,
            "widgets.example.com",
            conditions::is_crd_established(),
        ),
    )
    .await
    .expect("the CRD becomes Established in time")
    .expect("waiting works");
    for aggregated in [false, true] {
        let d = Discovery::new(client.clone());
        let d = if aggregated {
            d.run_aggregated().await
        } else {
            d.run().await
        }
        .expect("discovery runs");
        let (ar, caps) = d
            .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
            .expect("Widget");
        assert_eq!(
            (ar.plural.as_str(), caps.scope),
            ("widgets", Scope::Namespaced)
        );
    }
}

#[tokio::test]
async fn a_stale_resource_version_conflicts() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "shop");
    let original = api
        .create(
            &PostParams::default(),
            &config_map("occ", json!({"v": "1"})),
        )
        .await
        .expect("create");
    let mut fresh = original.clone();
    fresh.data = Some([("v".to_owned(), "2".to_owned())].into());
    api.replace("occ", &PostParams::default(), &fresh)
        .await
        .expect("an up-to-date replace works");
    let mut stale = original;
    stale.data = Some([("v".to_owned(), "3".to_owned())].into());
    let status = status_of(
        api.replace("occ", &PostParams::default(), &stale)
            .await
            .expect_err("stale"),
    );
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains("the object has been modified"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn finalizers_delay_deletion_until_removed() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "shop");
    let mut cm = config_map("held", json!({}));
    cm.metadata.finalizers = Some(vec!["example.com/hold".to_owned()]);
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    api.delete("held", &DeleteParams::default())
        .await
        .expect("delete is accepted");
    let marked = api
        .get("held")
        .await
        .expect("still there while the finalizer remains");
    assert!(marked.metadata.deletion_timestamp.is_some());
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("remove the finalizer");
    assert_eq!(
        status_of(api.get("held").await.expect_err("gone")).code,
        404
    );
}

#[tokio::test]
async fn selectors_and_pages_filter_lists() {
    let (_server, client) = start().await;
    create_namespace(&client, "other").await;
    let api = Api::<ConfigMap>::namespaced(client.clone(), "shop");
    for (name, tier) in [
        ("a", "front"),
        ("b", "back"),
        ("c", "front"),
        ("d", "db"),
        ("e", "front"),
    ] {
        let mut cm = config_map(name, json!({}));
        cm.metadata.labels = Some([("tier".to_owned(), tier.to_owned())].into());
        api.create(&PostParams::default(), &cm)
            .await
            .expect("create");
    }
    let names = |list: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        list.items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect()
    };
    let front = api
        .list(&ListParams::default().labels("tier=front"))
        .await
        .expect("list");
    assert_eq!(names(front), ["a", "c", "e"]);
    let not_front = api
        .list(&ListParams::default().labels("tier notin (front),tier!=db"))
        .await
        .expect("list");
    assert_eq!(names(not_front), ["b"]);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=d"))
        .await
        .expect("list");
    assert_eq!(names(by_name), ["d"]);
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("first page");
    let token = first.metadata.continue_.clone().expect("a continue token");
    assert_eq!(names(first), ["a", "b"]);
    let rest = api
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .expect("next page");
    assert_eq!(names(rest), ["c", "d", "e"]);
    let everywhere = Api::<ConfigMap>::all(client)
        .list(&ListParams::default().fields("metadata.namespace=other"))
        .await;
    assert!(everywhere.expect("list").items.is_empty());
}

#[tokio::test]
async fn writes_need_their_namespace_and_a_valid_name() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client.clone(), "missing");
    let mut cm = config_map("x", json!({}));
    cm.metadata.namespace = Some("missing".to_owned());
    let status = status_of(
        api.create(&PostParams::default(), &cm)
            .await
            .expect_err("no namespace"),
    );
    assert_eq!(
        (status.code, status.message.as_str()),
        (404, "namespaces \"missing\" not found")
    );
    let shop = Api::<ConfigMap>::namespaced(client, "shop");
    let status = status_of(
        shop.create(&PostParams::default(), &config_map("Not_Valid", json!({})))
            .await
            .expect_err("bad"),
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.details.expect("details").causes[0].field,
        "metadata.name"
    );
    let status = status_of(
        shop.create(&PostParams::default(), &config_map("dup", json!({})))
            .await
            .map(|_| ())
            .and(
                shop.create(&PostParams::default(), &config_map("dup", json!({})))
                    .await
                    .map(|_| ()),
            )
            .expect_err("exists"),
    );
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );
}

#[tokio::test]
async fn metadata_only_requests_get_partial_object_metadata() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "shop");
    let mut cm = config_map("meta", json!({"big": "value"}));
    cm.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let list = api
        .list_metadata(&ListParams::default())
        .await
        .expect("list metadata");
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("meta"));
    let one = api.get_metadata("meta").await.expect("get metadata");
    assert_eq!(
        one.types.map(|t| t.kind).as_deref(),
        Some("PartialObjectMetadata")
    );
    assert_eq!(
        one.metadata
            .labels
            .and_then(|l| l.get("app").cloned())
            .as_deref(),
        Some("web")
    );
}

#[tokio::test]
async fn token_reviews_authenticate_issued_tokens_only() {
    let (server, client) = start().await;
    let token = server.issue_service_account_token("vault", "tether");
    let api = Api::<TokenReview>::all(client);
    let review = |t: &str| -> TokenReview {
        serde_json::from_value(json!({"spec": {"token": t}})).expect("a review")
    };
    let ok = api
        .create(&PostParams::default(), &review(&token))
        .await
        .expect("review")
        .status
        .expect("status");
    assert_eq!(ok.authenticated, Some(true));
    assert_eq!(
        ok.user.and_then(|u| u.username).as_deref(),
        Some("system:serviceaccount:vault:tether")
    );
    let bad = api
        .create(&PostParams::default(), &review("forged"))
        .await
        .expect("review")
        .status
        .expect("status");
    assert_eq!(bad.authenticated, Some(false));
}
