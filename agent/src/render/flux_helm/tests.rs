use super::*;
use serde_json::json;

struct Unused;
impl ChartRenderer for Unused {
    fn render(
        &self,
        _: &crate::render::helm::Chart,
        _: &ReleaseRequest,
    ) -> Result<RenderedRelease, String> {
        Err("not expected".into())
    }
}

fn ctx(renderer: &dyn ChartRenderer) -> Context<'_> {
    Context {
        app: "shop",
        namespace: "shop",
        renderer,
        held: &NothingHeld,
        hold: None,
        limits: FetchLimits::default(),
        cache: Arc::new(Mutex::new(ArchiveCache::new(1 << 20))),
        applied: None,
        git: None,
        cluster: None,
        repositories: None,
    }
}

fn helm_release(spec: Value) -> Value {
    json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "web", "namespace": "shop"}, "spec": spec})
}

#[test]
fn manifests_without_a_helm_release_pass_through() {
    let objects = vec![json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})];
    let out = expand(objects.clone(), &ctx(&Unused)).expect("expanded");
    assert_eq!(out, objects);
}

#[test]
fn a_missing_source_names_the_release_and_the_source() {
    let objects = vec![helm_release(json!({"chart": {"spec": {"chart": "web",
        "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}))];
    let err = expand(objects, &ctx(&Unused)).expect_err("no source");
    assert_eq!(
        err.to_string(),
        "HelmRelease shop/web: HelmRepository shop/charts is not in the app's manifests"
    );
}

#[test]
fn chart_and_chart_ref_are_exclusive_and_one_is_required() {
    let both = vec![helm_release(json!({
        "chart": {"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "c"}}},
        "chartRef": {"kind": "OCIRepository", "name": "c"}}))];
    let err = expand(both, &ctx(&Unused)).expect_err("both");
    assert!(err.to_string().contains("mutually exclusive"), "{err}");
    let none = vec![helm_release(json!({}))];
    let err = expand(none, &ctx(&Unused)).expect_err("none");
    assert!(err.to_string().contains("field spec.chart"), "{err}");
}

#[test]
fn a_repository_type_must_match_its_url() {
    let objects = vec![
        helm_release(json!({"chart": {"spec": {"chart": "web",
            "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}})),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "charts", "namespace": "shop"},
            "spec": {"type": "oci", "url": "https://charts.example"}}),
    ];
    let err = expand(objects, &ctx(&Unused)).expect_err("mismatch");
    assert!(err.to_string().contains("field spec.url"), "{err}");
}

#[test]
fn an_unknown_crd_policy_is_refused_by_name() {
    let objects = vec![helm_release(json!({"install": {"crds": "Always"},
        "chartRef": {"kind": "OCIRepository", "name": "c"}}))];
    let err = expand(objects, &ctx(&Unused)).expect_err("refused");
    assert!(
        err.to_string()
            .contains("field spec.install.crds: \"Always\""),
        "{err}"
    );
}

#[test]
fn release_objects_get_the_namespace_and_helm_release_annotations() {
    let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
    finish(&mut object, "apps-web", "apps");
    assert_eq!(object["metadata"]["namespace"], "apps");
    assert_eq!(
        object["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "apps-web"
    );
    assert_eq!(
        object["metadata"]["annotations"]["meta.helm.sh/release-namespace"],
        "apps"
    );
    let mut elsewhere = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "other"}});
    finish(&mut elsewhere, "web", "apps");
    assert_eq!(elsewhere["metadata"]["namespace"], "other");
}
