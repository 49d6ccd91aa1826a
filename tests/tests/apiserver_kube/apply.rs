//! Server-side apply through kube-rs: conflicts and force, no-op re-applies, shared
//! ownership.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::{config_map, deployment, rv_of, start, status_of};

#[tokio::test]
async fn server_side_apply_conflicts_and_force_takes_ownership() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "shop");
    api.patch(
        "c",
        &PatchParams::apply("alpha"),
        &Patch::Apply(config_map("c", json!({"k": "a"}))),
    )
    .await
    .expect("apply");
    let err = api
        .patch(
            "c",
            &PatchParams::apply("beta"),
            &Patch::Apply(config_map("c", json!({"k": "b"}))),
        )
        .await
        .expect_err("beta conflicts with alpha");
    let status = status_of(err);
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    let cause = &status.details.expect("details").causes[0];
    assert_eq!(cause.reason, "FieldManagerConflict");
    assert_eq!(cause.field, ".data.k");
    assert!(cause.message.contains("\"alpha\""), "{}", cause.message);
    let forced = api
        .patch(
            "c",
            &PatchParams::apply("beta").force(),
            &Patch::Apply(config_map("c", json!({"k": "b"}))),
        )
        .await
        .expect("a forced apply wins");
    assert_eq!(forced.data.expect("data")["k"], "b");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["beta"], "alpha lost its only field");
}

#[tokio::test]
async fn reapplying_the_same_object_does_not_change_the_resource_version() {
    let (server, client) = start().await;
    let api = Api::<Deployment>::namespaced(client, "shop");
    let pp = PatchParams::apply("tether");
    let first = api
        .patch("web", &pp, &Patch::Apply(deployment("web")))
        .await
        .expect("apply");
    let second = api
        .patch("web", &pp, &Patch::Apply(deployment("web")))
        .await
        .expect("re-apply");
    assert_eq!(rv_of(&first.metadata), rv_of(&second.metadata));
    assert_eq!(
        first.metadata.managed_fields,
        second.metadata.managed_fields
    );
    assert_eq!(server.requests().count("apply", "deployments"), 2);
    let fields =
        serde_json::to_value(&second.metadata.managed_fields).expect("managed fields serialize");
    let owned = fields[0]["fieldsV1"]["f:spec"].clone();
    assert!(
        owned.get("f:revisionHistoryLimit").is_none(),
        "defaulted fields are nobody's: {owned}"
    );
    assert!(
        owned["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:image"]
            .is_object()
    );
}

#[tokio::test]
async fn two_managers_share_a_field_with_equal_values() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "shop");
    let cm = |data| Patch::Apply(config_map("shared", data));
    api.patch(
        "shared",
        &PatchParams::apply("alpha"),
        &cm(json!({"k": "v", "x": "1"})),
    )
    .await
    .expect("alpha");
    let both = api
        .patch(
            "shared",
            &PatchParams::apply("beta"),
            &cm(json!({"k": "v"})),
        )
        .await
        .expect("beta shares");
    let fields = serde_json::to_value(both.metadata.managed_fields.expect("managed fields"))
        .expect("serialize");
    let owners: Vec<&str> = fields
        .as_array()
        .expect("a list")
        .iter()
        .filter(|m| m["fieldsV1"]["f:data"].get("f:k").is_some())
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(owners, ["alpha", "beta"]);
    // alpha stops applying both keys: x goes, k stays because beta still owns it.
    let after = api
        .patch("shared", &PatchParams::apply("alpha"), &cm(json!({})))
        .await
        .expect("alpha again");
    assert_eq!(
        after.data.expect("data").into_iter().collect::<Vec<_>>(),
        [("k".to_owned(), "v".to_owned())]
    );
}
