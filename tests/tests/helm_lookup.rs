//! Helm's `lookup` against the API server emulation: empty (as `helm template` offline)
//! unless the app opts in; with the opt-in, read-only GETs and LISTs in the namespaces the
//! app writes, answered from the cluster; another namespace is refused by name; a Secret's
//! value looked up and written into a ConfigMap refuses the render, never quoting it.

#[path = "daemon/support.rs"]
#[allow(dead_code)]
mod support;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use support::Cluster;
use tether_agent::render::helm::ChartSettings;
use tether_agent::render::helm::lookup::ClusterLookup;
use tether_agent::render::{RenderOptions, render};
use tether_agent::tree::{FsTree, RelPath, Tree};

const KEPT: &str = "kept-password-6a2f91";

fn client(cluster: &Cluster, runtime: &tokio::runtime::Runtime) -> kube::Client {
    runtime.block_on(async {
        let kubeconfig =
            kube::config::Kubeconfig::read_from(&cluster.kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("a client config");
        kube::Client::try_from(config).expect("a client")
    })
}

/// Renders the fixture chart as release `web` in `shop`, on a thread outside the runtime
/// (as the daemon renders).
fn render_chart(lookup: Option<Arc<ClusterLookup>>, set: &[&str]) -> Result<Vec<Value>, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/helm_lookup");
    let settings = ChartSettings {
        release_name: Some("web".into()),
        namespace: Some("shop".into()),
        set: set.iter().map(|s| (*s).to_owned()).collect(),
        lookup,
        ..ChartSettings::default()
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            let tree = Tree::new(FsTree::new(&dir));
            let options = RenderOptions {
                helm: Some(settings),
                ..RenderOptions::default()
            };
            render(&tree, &RelPath::parse("chart").expect("a path"), &options)
                .map(|objects| objects.into_iter().map(|o| o.value).collect())
                .map_err(|e| e.to_string())
        })
        .join()
        .expect("the render thread")
    })
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .expect("the object")
}

#[test]
fn lookups_are_empty_unless_the_app_opts_in_and_stay_in_its_namespaces() {
    let cluster = Cluster::start();
    for namespace in ["shop", "other"] {
        cluster.ok(&["create", "namespace", namespace]);
    }
    cluster.ok(&[
        "create",
        "configmap",
        "existing",
        "-n",
        "shop",
        "--from-literal=color=blue",
    ]);
    cluster.ok(&[
        "create",
        "configmap",
        "elsewhere",
        "-n",
        "other",
        "--from-literal=a=b",
    ]);
    let password = format!("--from-literal=password={KEPT}");
    cluster.ok(&[
        "create",
        "secret",
        "generic",
        "generated",
        "-n",
        "shop",
        &password,
    ]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let client = client(&cluster, &runtime);

    // Without the opt-in: helm template's answers (empty), a new random password.
    let objects = render_chart(None, &[]).expect("rendered offline");
    assert_eq!(find(&objects, "ConfigMap")["data"]["color"], "none");
    assert_eq!(find(&objects, "ConfigMap")["data"]["configMaps"], "0");
    let offline = find(&objects, "Secret")["data"]["password"].clone();

    // With it: the live objects of the app's namespace.
    let lookup = || {
        Arc::new(ClusterLookup::new(
            client.clone(),
            runtime.handle().clone(),
            vec!["shop".into()],
        ))
    };
    let objects = render_chart(Some(lookup()), &[]).expect("rendered with lookups");
    let seen = find(&objects, "ConfigMap");
    assert_eq!(seen["data"]["color"], "blue");
    let live = cluster.ok(&["get", "configmaps", "-n", "shop", "-o", "name"]);
    assert_eq!(seen["data"]["configMaps"], live.lines().count().to_string());
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, KEPT);
    let secret = find(&objects, "Secret");
    assert_ne!(secret["data"]["password"], offline);
    assert_eq!(
        secret["data"]["password"],
        encoded.as_str(),
        "the existing password is kept"
    );

    // Another namespace is refused, by name.
    let err = render_chart(Some(lookup()), &["peek=other"]).expect_err("another namespace");
    assert!(
        err.contains("\"other\"") && err.contains("namespaces it writes (shop)"),
        "{err}"
    );

    // A Secret's value looked up and written into a ConfigMap refuses the render.
    let err = render_chart(Some(lookup()), &["leak=true"]).expect_err("a leak");
    assert!(
        err.contains("ConfigMap web-seen: field data.password"),
        "{err}"
    );
    assert!(!err.contains(KEPT) && !err.contains(&encoded), "{err}");
}

#[test]
fn a_helm_app_sees_the_clusters_capabilities_and_its_lookup_opt_in() {
    use tether_agent::config::helm::HelmAppConfig;
    use tether_agent::render::helm::inputs::{HelmInputs, resolve};
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "shop"]);
    cluster.ok(&[
        "create",
        "configmap",
        "existing",
        "-n",
        "shop",
        "--from-literal=color=green",
    ]);
    let crd = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/helm_release/crd.yaml");
    cluster.ok(&["apply", "-f", &crd.display().to_string()]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let credentials =
        tether_agent::secrets::credentials::KubeCredentials::new(client(&cluster, &runtime));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/helm_lookup");
    let tree = Tree::new(FsTree::new(&dir));
    let path = RelPath::parse("chart").expect("a path");
    let decryptor: Arc<dyn tether_agent::render::Decryptor> =
        Arc::new(tether_agent::render::NoDecryption);
    let config: HelmAppConfig =
        serde_json::from_value(serde_json::json!({"lookup": true})).expect("a helm block");
    let inputs = HelmInputs {
        tree: &tree,
        app: "web",
        path: &path,
        namespace: "shop",
        helm: Some(&config),
        repositories: &[],
        agent_namespace: "tether-system",
        decryptor: &decryptor,
        held: &tether_agent::render::flux_helm::NothingHeld,
        cluster: Some(&credentials),
        archive_dir: None,
        own_source: None,
        git_cache_dir: None,
    };
    let resolved = runtime.block_on(resolve(&inputs)).expect("resolved");
    let settings = resolved.settings.expect("a helm app's settings");
    assert_eq!(settings.kube_version.as_deref(), Some("v1.33.0"));
    for served in [
        "apps/v1",
        "apps/v1/Deployment",
        "v1/ConfigMap",
        "webapp.example/v1/Widget",
    ] {
        assert!(
            settings.api_versions.iter().any(|a| a == served),
            "{served}"
        );
    }
    assert!(
        settings.lookup.is_some(),
        "the opt-in gives a cluster lookup"
    );
    let objects = render_chart(settings.lookup.clone(), &[]).expect("rendered");
    assert_eq!(find(&objects, "ConfigMap")["data"]["color"], "green");
}
