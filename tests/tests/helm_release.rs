//! Flux HelmReleases rendered instead of applied: in process against the real Helm
//! repository (lighttpd) and OCI registry (docker-registry) peers, compared with what the
//! real `helm template` renders for the same chart, version and values; and end to end
//! through `tether-agent run` against the API emulation (see `helm_release/daemon.rs`).

#[path = "daemon/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "helm_release/daemon.rs"]
mod daemon;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use tether_agent::render::flux_helm::phase::AppliedObjects;
use tether_agent::render::flux_helm::{self, Context, NativeRenderer, NothingHeld};
use tether_agent::render::helm_fetch::{ArchiveCache, FetchLimits};
use tether_tests::gitserver::run;
use tether_tests::helm_peers::{HelmRepo, OciRegistry, helm3, package_chart};
use tether_tests::render_compare;

/// The `webapp` chart at `version`, packaged under `dir`.
pub fn webapp(dir: &Path, version: &str) -> PathBuf {
    let fixture = |name: &str| {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/helm_release")
                .join(name),
        )
        .expect("read a chart fixture")
    };
    let files = [
        ("values.yaml", fixture("values.yaml")),
        ("templates/secret.yaml", fixture("secret.yaml")),
        ("templates/deployment.yaml", fixture("deployment.yaml")),
        ("templates/hook.yaml", fixture("hook.yaml")),
        ("templates/tests/smoke.yaml", fixture("test-hook.yaml")),
        ("crds/widgets.yaml", fixture("crd.yaml")),
    ];
    let extra: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    package_chart(dir, "webapp", version, &extra).expect("helm package")
}

/// The chart versions, served by a Helm repository and an OCI registry.
pub struct Peers {
    /// The packaged charts (1.0.0, 1.1.0, 2.0.0; 2.0.0 is published by the tests).
    pub charts: Vec<PathBuf>,
    /// The Helm repository (1.0.0 and 1.1.0).
    pub repo: HelmRepo,
    /// The OCI registry (1.0.0 and 1.1.0).
    pub registry: OciRegistry,
    /// Where the charts were packaged.
    pub dir: tempfile::TempDir,
}

/// The peers, started once per test binary.
pub fn peers() -> &'static Peers {
    static PEERS: OnceLock<Peers> = OnceLock::new();
    PEERS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let charts: Vec<PathBuf> = ["1.0.0", "1.1.0", "2.0.0"]
            .iter()
            .map(|v| webapp(dir.path(), v))
            .collect();
        let repo = HelmRepo::start(&charts[..2], None).expect("start the Helm repository");
        let registry = OciRegistry::start(None).expect("start the OCI registry");
        for chart in &charts[..2] {
            registry
                .push(chart)
                .unwrap_or_else(|e| panic!("{e}\n{}", registry.log()));
        }
        Peers {
            charts,
            repo,
            registry,
            dir,
        }
    })
}

fn ctx<'a>(renderer: &'a NativeRenderer, cache: Arc<Mutex<ArchiveCache>>) -> Context<'a> {
    Context {
        app: "web",
        namespace: "shop",
        renderer,
        held: &NothingHeld,
        hold: None,
        limits: FetchLimits::default(),
        cache,
        applied: None,
        git: None,
        cluster: None,
        repositories: None,
    }
}

/// What `helm template` prints for the chart archive, as objects.
fn helm_template(chart: &Path, release: &str, namespace: &str, values: &Value) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("values.json");
    std::fs::write(&file, values.to_string()).expect("write values");
    let out = run(helm3(&dir.path().join("home"))
        .args(["template", release])
        .arg(chart)
        .args([
            "--namespace",
            namespace,
            "--include-crds",
            "--skip-tests",
            "-f",
        ])
        .arg(&file))
    .expect("helm template");
    render_compare::parse(&out).expect("helm's output parses")
}

/// Our object without what the release adds to what helm prints (the namespace and Helm's
/// release annotations, which `helm install` adds at install time).
fn as_helm_prints(mut object: Value) -> Value {
    let meta = object["metadata"].as_object_mut().expect("metadata");
    meta.remove("namespace");
    if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        annotations.remove("meta.helm.sh/release-name");
        annotations.remove("meta.helm.sh/release-namespace");
        if annotations.is_empty() {
            meta.remove("annotations");
        }
    }
    object
}

fn manifests(peers: &Peers, source: &[Value], values_from_secret: &str) -> Vec<Value> {
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-values", "namespace": "shop"},
            "stringData": {"values.yaml": format!("db:\n  password: {values_from_secret}\n")}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "greeting", "namespace": "shop"},
            "data": {"text": "bonjour"}}),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "charts", "namespace": "shop"}, "spec": {"url": peers.repo.url()}}),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "registry", "namespace": "shop"},
            "spec": {"type": "oci", "url": peers.registry.url(), "insecure": true}}),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "OCIRepository",
            "metadata": {"name": "webapp-oci", "namespace": "shop"},
            "spec": {"url": format!("{}/webapp", peers.registry.url()), "insecure": true,
                "ref": {"semver": "~1.0"}}}),
    ];
    objects.extend(source.iter().cloned());
    objects
}

fn release(name: &str, chart: Value) -> Value {
    let mut spec = json!({
        "targetNamespace": "shop",
        "values": {"replicas": 2},
        "valuesFrom": [
            {"kind": "Secret", "name": "db-values"},
            {"kind": "ConfigMap", "name": "greeting", "valuesKey": "text", "targetPath": "greeting"}
        ]
    });
    for (key, value) in chart.as_object().expect("a map") {
        spec[key] = value.clone();
    }
    json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": "shop"}, "spec": spec})
}

#[test]
fn helm_releases_from_a_repository_and_a_registry_render_as_helm_template_does() {
    let peers = peers();
    let releases = [
        (
            release(
                "from-http",
                json!({"chart": {"spec": {"chart": "webapp", "version": "^1.0",
                "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}),
            ),
            &peers.charts[1],
        ),
        (
            release(
                "from-oci",
                json!({"chart": {"spec": {"chart": "webapp", "version": "1.0.0",
                "sourceRef": {"kind": "HelmRepository", "name": "registry"}}}}),
            ),
            &peers.charts[0],
        ),
        (
            release(
                "from-ref",
                json!({"chartRef": {"kind": "OCIRepository", "name": "webapp-oci"}}),
            ),
            &peers.charts[0],
        ),
    ];
    let renderer = NativeRenderer;
    for (object, archive) in releases {
        let name = object["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_owned();
        let cache = Arc::new(Mutex::new(ArchiveCache::new(64 << 20)));
        let out = flux_helm::expand(
            manifests(peers, &[object], "s3cr3t-from-secret"),
            &ctx(&renderer, cache),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            out.iter()
                .all(|o| !o["apiVersion"].as_str().unwrap_or("").contains("fluxcd.io")),
            "Flux objects are not applied"
        );
        // The ConfigMap and Secret of the app stay, first; the release's objects follow.
        assert_eq!(out[0]["metadata"]["name"], "db-values");
        assert_eq!(out[1]["metadata"]["name"], "greeting");
        let release_name = format!("shop-{name}");
        for object in &out[2..] {
            assert_eq!(object["metadata"]["namespace"], "shop", "{object}");
            assert_eq!(
                object["metadata"]["annotations"]["meta.helm.sh/release-name"],
                release_name.as_str()
            );
        }
        let values =
            json!({"replicas": 2, "greeting": "bonjour", "db": {"password": "s3cr3t-from-secret"}});
        let expected = helm_template(archive, &release_name, "shop", &values);
        let ours: Vec<Value> = out[2..].iter().cloned().map(as_helm_prints).collect();
        render_compare::compare_objects(&expected, &ours)
            .unwrap_or_else(|diff| panic!("{name} differs from helm template:\n{diff}"));
    }
}

#[test]
fn install_crds_skip_leaves_the_crds_out_and_post_renderers_patch_the_release() {
    let peers = peers();
    let mut object = release(
        "patched",
        json!({"chart": {"spec": {"chart": "webapp", "version": "1.1.0",
            "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}),
    );
    object["spec"]["install"] = json!({"crds": "Skip"});
    object["spec"]["postRenderers"] = json!([{"kustomize": {
        "patches": [{"target": {"kind": "Deployment"}, "patch": "- op: replace\n  path: /spec/replicas\n  value: 5\n"}],
        "images": [{"name": "ghcr.io/acme/webapp", "newTag": "1.1.0-patched"}]}}]);
    let renderer = NativeRenderer;
    let cache = Arc::new(Mutex::new(ArchiveCache::new(64 << 20)));
    let out = flux_helm::expand(manifests(peers, &[object], "pw"), &ctx(&renderer, cache))
        .expect("expanded");
    assert!(out.iter().all(|o| o["kind"] != "CustomResourceDefinition"));
    let deployment = out
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("the Deployment");
    assert_eq!(deployment["spec"]["replicas"], 5);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/acme/webapp:1.1.0-patched"
    );
    let hook = out.iter().find(|o| o["kind"] == "Job").expect("the hook");
    assert_eq!(
        hook["metadata"]["annotations"]["helm.sh/hook"],
        "pre-install,pre-upgrade"
    );
    assert!(
        out.iter().all(|o| o["kind"] != "Pod"),
        "test hooks are left out"
    );
}

/// How many CRDs the release renders when the app applied `inventory` before (`None`: never).
fn crd_count(peers: &Peers, object: &Value, inventory: Option<&str>) -> usize {
    let applied = inventory.map(|text| {
        let inventory =
            tether_agent::sync::inventory::Inventory::decode(text, "tether-inventory-web")
                .expect("an inventory");
        AppliedObjects::from_inventory(&inventory)
    });
    let renderer = NativeRenderer;
    let mut ctx = ctx(&renderer, Arc::new(Mutex::new(ArchiveCache::new(64 << 20))));
    ctx.applied = applied.as_ref();
    let out = flux_helm::expand(manifests(peers, std::slice::from_ref(object), "pw"), &ctx)
        .expect("expanded");
    out.iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .count()
}

#[test]
fn upgrade_crds_apply_once_the_release_was_applied_and_a_suspended_release_is_not_rendered() {
    let peers = peers();
    let mut object = release(
        "phased",
        json!({"chart": {"spec": {"chart": "webapp", "version": "1.1.0",
            "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}),
    );
    object["spec"]["install"] = json!({"crds": "CreateReplace"});
    let header = "tether-inventory v1\nrevision abc\ndigest 0\n";
    let installed = format!("{header}apps/v1/Deployment/shop/shop-phased 1 2\n");
    let with_crd = format!(
        "{installed}apiextensions.k8s.io/v1/CustomResourceDefinition//widgets.webapp.example 1 2\n"
    );
    let elsewhere = format!("{header}apps/v1/Deployment/other/shop-phased 1 2\n");
    // Never applied: install.crds.
    assert_eq!(crd_count(peers, &object, None), 1);
    assert_eq!(crd_count(peers, &object, Some(&elsewhere)), 1);
    // Applied before (the release is named `targetNamespace-name`): upgrade.crds, Skip by
    // default as in Flux.
    assert_eq!(crd_count(peers, &object, Some(&installed)), 0);
    object["spec"]["upgrade"] = json!({"crds": "Create"});
    assert_eq!(
        crd_count(peers, &object, Some(&installed)),
        1,
        "a new CRD is created"
    );
    assert_eq!(
        crd_count(peers, &object, Some(&with_crd)),
        0,
        "an applied CRD is left as is"
    );
    object["spec"]["upgrade"] = json!({"crds": "CreateReplace"});
    assert_eq!(crd_count(peers, &object, Some(&with_crd)), 1);
    object["spec"]["install"] = json!({"crds": "Skip"});
    assert_eq!(crd_count(peers, &object, None), 0);

    object["spec"]["suspend"] = json!(true);
    let renderer = NativeRenderer;
    let err = flux_helm::expand(
        manifests(peers, &[object], "pw"),
        &ctx(&renderer, Arc::new(Mutex::new(ArchiveCache::new(1 << 20)))),
    )
    .expect_err("suspended");
    assert_eq!(err.reason(), "HelmReleaseSuspended");
    assert!(
        err.to_string()
            .starts_with("HelmRelease shop/phased is suspended"),
        "{err}"
    );
}

#[test]
fn a_required_value_from_a_secret_that_fails_quotes_no_value() {
    let peers = peers();
    let object = release(
        "broken",
        json!({"chart": {"spec": {"chart": "webapp", "version": "1.1.0",
            "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
            "postRenderers": [{"kustomize": {"patches": [{"patch": "- op: replace\n  path: /nothing/here\n  value: x\n",
                "target": {"kind": "Secret"}}]}}]}),
    );
    let renderer = NativeRenderer;
    let cache = Arc::new(Mutex::new(ArchiveCache::new(64 << 20)));
    let err = flux_helm::expand(
        manifests(peers, &[object], "leaky-password-9d2f"),
        &ctx(&renderer, cache),
    )
    .expect_err("the patch fails");
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("HelmRelease shop/broken") && text.contains("postRenderers[0]"),
        "{text}"
    );
    assert!(!text.contains("leaky-password-9d2f"), "{text}");
}

#[test]
fn a_helm_repository_secret_ref_authenticates_and_its_password_is_never_quoted() {
    let peers = peers();
    let repo = HelmRepo::start(&peers.charts[..1], Some(("reader", "repo-pass-4e7d")))
        .expect("start the Helm repository");
    let objects = |password: &str| {
        let encoded =
            |t: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, t);
        vec![
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "repo-creds", "namespace": "shop"},
                "data": {"username": encoded("reader"), "password": encoded(password)}}),
            json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                "metadata": {"name": "private", "namespace": "shop"},
                "spec": {"url": repo.url(), "secretRef": {"name": "repo-creds"}}}),
            json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": "private", "namespace": "shop"},
                "spec": {"chart": {"spec": {"chart": "webapp",
                    "sourceRef": {"kind": "HelmRepository", "name": "private"}}},
                    "values": {"db": {"password": "x"}}}}),
        ]
    };
    let renderer = NativeRenderer;
    let cache = Arc::new(Mutex::new(ArchiveCache::new(64 << 20)));
    let out = flux_helm::expand(
        objects("repo-pass-4e7d"),
        &ctx(&renderer, Arc::clone(&cache)),
    )
    .expect("authenticated");
    assert!(out.iter().any(|o| o["kind"] == "Deployment"));
    let err =
        flux_helm::expand(objects("wrong-pass-77c1"), &ctx(&renderer, cache)).expect_err("refused");
    let text = format!("{err} {err:?}");
    assert!(text.contains("refused the credentials"), "{text}");
    assert!(!text.contains("wrong-pass-77c1"), "{text}");
}

#[test]
fn helm_repositories_authenticate_a_helm_repository_without_its_own_secret_ref() {
    use tether_agent::config::helm::HelmRepositoryConfig;
    use tether_agent::render::helm_fetch::RepositoryAccess;
    let peers = peers();
    let repo = HelmRepo::start(&peers.charts[..1], Some(("reader", "fallback-pass-91c3")))
        .expect("start the Helm repository");
    let dir = tempfile::tempdir().expect("tempdir");
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "fallback-pass-91c3").expect("write the password");
    let config: HelmRepositoryConfig = serde_json::from_value(json!({
        "url": repo.url(), "username": "reader", "passwordFile": password_file}))
    .expect("a helmRepositories entry");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let access = runtime
        .block_on(RepositoryAccess::resolve(&[config], "tether-system", None))
        .expect("the access resolves");
    let objects = || {
        vec![
            json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                "metadata": {"name": "private", "namespace": "shop"}, "spec": {"url": repo.url()}}),
            json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": "private", "namespace": "shop"},
                "spec": {"chart": {"spec": {"chart": "webapp",
                    "sourceRef": {"kind": "HelmRepository", "name": "private"}}},
                    "values": {"db": {"password": "x"}}}}),
        ]
    };
    let renderer = NativeRenderer;
    let cache = Arc::new(Mutex::new(ArchiveCache::new(64 << 20)));
    // Without Tether's helmRepositories the repository refuses the anonymous request.
    let err = flux_helm::expand(objects(), &ctx(&renderer, Arc::clone(&cache)))
        .expect_err("anonymous")
        .to_string();
    assert!(err.contains("HelmRelease shop/private"), "{err}");
    let mut with_access = ctx(&renderer, cache);
    with_access.repositories = Some(&access);
    let out = flux_helm::expand(objects(), &with_access).expect("authenticated by the fallback");
    assert!(out.iter().any(|o| o["kind"] == "Deployment"));
}
