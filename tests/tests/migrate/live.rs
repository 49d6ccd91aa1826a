//! The daemon on repositories as Argo CD and Flux lay them out, with no `tether import`
//! step: an `import:` entry names the source, the tool and the directory to read, and the
//! objects found there are the apps (checked live against the API emulation).

use super::support::{Cluster, http, wait_for};
use super::{corpus, kubectl_objects, serve};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tether_tests::peers::{self, Process};

/// `tether-agent run` with `import` (YAML) reading the corpus served at `url`.
pub(super) fn start(cluster: &Cluster, dir: &Path, url: &str, import: &str, port: u16) -> Process {
    start_with(cluster, dir, url, import, port, "")
}

/// [`start`] with `extra` lines of configuration.
pub(super) fn start_with(
    cluster: &Cluster,
    dir: &Path,
    url: &str,
    import: &str,
    port: u16,
    extra: &str,
) -> Process {
    let config = format!(
        "sources: [{{name: fleet, url: '{url}', interval: 1s}}]\nimport: {import}\n{extra}\
         listen: 127.0.0.1:{port}\nadminListen: 127.0.0.1:{admin}\nnamespace: tether-system\n\
         cacheDir: {cache}\nleaderElection: {{enabled: false}}\n\
         limits: {{healthTimeout: 0s, shutdownGrace: 10s}}\nui: {{anonymous: true}}\n",
        admin = peers::free_port(),
        cache = dir.join("cache").display(),
    );
    let config_path = dir.join("tether.yaml");
    std::fs::write(&config_path, config).expect("write the config");
    let log = dir.join("agent.log");
    let mut cmd = Command::new(tether_tests::bins::tether_agent());
    cmd.arg("run")
        .arg("--config")
        .arg(&config_path)
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .arg("--identity")
        .arg("migrate-live")
        .env_remove("POD_NAME");
    let agent = Process::spawn("tether-agent", cmd, &log).expect("start tether-agent");
    peers::wait_for_port(port, Duration::from_secs(30)).unwrap_or_else(|e| {
        let logs = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("the agent did not listen: {e}\n{logs}")
    });
    agent
}

pub(super) fn status(port: u16, app: &str) -> Option<Value> {
    let (code, body) = http(port, "GET", &format!("/api/v1/apps/{app}"), &[], b"");
    (code == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

pub(super) fn wait_synced(port: u16, app: &str) -> Value {
    wait_for(
        &format!("app {app} synced"),
        Duration::from_secs(90),
        || status(port, app).filter(|s| s.to_string().contains("\"Succeeded\"")),
    )
}

pub(super) fn live(cluster: &Cluster, kind: &str, name: &str, namespace: &str) -> Value {
    let text = cluster.ok(&["get", kind, name, "-n", namespace, "-o", "json"]);
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn the_daemon_syncs_a_flux_bootstrap_layout_with_patches_images_variables_and_order() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let daemon = serve("flux-bootstrap", &dir.path().join("git"));
    let port = peers::free_port();
    let import =
        "[{from: flux, paths: [clusters/staging], urls: ['ssh://git@github.com/example/fleet']}]";
    let _agent = start(
        &cluster,
        dir.path(),
        &daemon.url("config.git"),
        import,
        port,
    );
    for app in ["infra-configs", "apps", "team-a"] {
        wait_synced(port, app);
    }
    // Neither the bootstrap Kustomization nor the one holding the tenants is an app.
    for holder in ["flux-system", "tenants"] {
        assert!(status(port, holder).is_none(), "{holder} is not an app");
    }
    let settings = live(&cluster, "configmap", "cluster-settings", "default");
    assert_eq!(
        settings["data"],
        serde_json::json!({"name": "staging", "region": "eu-west-1", "zone": "a",
            "upper": "STAGING", "escaped": "${keep}"})
    );
    let meta = &settings["metadata"];
    assert_eq!(
        meta["labels"]["toolkit.fluxcd.io/tenant"], "platform",
        "commonMetadata"
    );
    assert_eq!(
        meta["annotations"]["owner"], "platform-team",
        "commonMetadata"
    );
    let config = live(&cluster, "configmap", "web-config", "default");
    assert_eq!(config["data"]["mode"], "production", "the JSON 6902 patch");
    assert_eq!(config["data"]["greeting"], "hello", "postBuild.substitute");
    let web = live(&cluster, "deployment", "web", "default");
    assert_eq!(web["spec"]["replicas"], 2, "the strategic merge patch");
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(
        live(&cluster, "configmap", "team-a", "default")["data"]["owner"],
        "team-a"
    );
    // A suspended Kustomization is an app that is neither synced nor pruned.
    assert!(status(port, "legacy").is_some(), "legacy is an app");
    assert!(!cluster.exists(&["configmap", "legacy", "-n", "default"]));
}

#[test]
fn apps_of_the_flux_example_wait_for_the_apps_they_depend_on() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let daemon = serve("flux2-kustomize-helm-example", &dir.path().join("git"));
    let port = peers::free_port();
    let import = "[{from: flux, paths: [clusters/production], \
                  urls: ['https://github.com/fluxcd/flux2-kustomize-helm-example']}]";
    let _agent = start(
        &cluster,
        dir.path(),
        &daemon.url("config.git"),
        import,
        port,
    );
    // infra-controllers installs charts from remote Helm repositories: offline it does not
    // sync, so infra-configs (which depends on it) and apps (on infra-configs) wait.
    let controllers = wait_for("infra-controllers tried", Duration::from_secs(90), || {
        status(port, "infra-controllers").filter(|s| {
            let sync = s["sync"].as_str().unwrap_or_default();
            !sync.is_empty() && sync != "Unknown" && sync != "Pending"
        })
    });
    if controllers["sync"] == "Succeeded" && controllers["health"] == "Healthy" {
        eprintln!("charts reachable here, order not observable on this layout: {controllers}");
        return; // the order is checked by the layout test above
    }
    for (app, dependency) in [
        ("infra-configs", "infra-controllers"),
        ("apps", "infra-configs"),
    ] {
        let waiting = wait_for(&format!("{app} waiting"), Duration::from_secs(30), || {
            status(port, app).filter(|s| s["reason"] == "DependencyNotReady")
        });
        assert_eq!(waiting["sync"], "Waiting", "{waiting}");
        assert!(waiting.to_string().contains(dependency), "{waiting}");
    }
    assert!(
        !cluster.exists(&["namespace", "podinfo"]),
        "nothing of apps is applied"
    );
}

#[test]
fn the_daemon_syncs_an_argocd_app_of_apps_as_its_children() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let daemon = serve("argocd-example-apps", &dir.path().join("git"));
    let port = peers::free_port();
    let import = "[{from: argocd, paths: [argocd], \
                  urls: ['https://github.com/argoproj/argocd-example-apps.git']}]";
    let _agent = start(
        &cluster,
        dir.path(),
        &daemon.url("config.git"),
        import,
        port,
    );
    for app in ["guestbook", "kustomize-guestbook", "sock-shop"] {
        wait_synced(port, app);
        for expected in kubectl_objects(&corpus("argocd-example-apps").join(app)) {
            let kind = expected["kind"].as_str().expect("kind");
            let name = expected["metadata"]["name"].as_str().expect("name");
            let namespace = expected["metadata"]["namespace"].as_str().unwrap_or(app);
            let object = live(&cluster, kind, name, namespace);
            super::assert_contains(
                &expected["spec"],
                &object["spec"],
                &format!("{kind}/{name}"),
            );
        }
    }
    assert!(
        status(port, "root").is_none(),
        "the app of apps is not an app"
    );
}

#[test]
fn the_daemon_honours_argocd_kustomize_directory_and_helm_options() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let daemon = serve("argocd-options", &dir.path().join("git"));
    let port = peers::free_port();
    let import = "[{from: argocd, paths: [argocd], \
                  urls: ['https://github.com/example/argocd-options.git']}]";
    let _agent = start(
        &cluster,
        dir.path(),
        &daemon.url("config.git"),
        import,
        port,
    );
    for app in ["web", "plain", "demo"] {
        wait_synced(port, app);
    }
    let web = live(&cluster, "deployment", "prod-web", "shop");
    assert_eq!(web["spec"]["replicas"], 3);
    assert_eq!(web["metadata"]["labels"]["team"], "shop");
    assert_eq!(web["metadata"]["annotations"]["owner"], "shop-team");
    assert_eq!(web["spec"]["selector"]["matchLabels"]["team"], "shop");
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    for name in ["cm-a", "cm-b", "cm-c"] {
        live(&cluster, "configmap", name, "plain");
    }
    assert!(!cluster.exists(&["configmap", "cm-skip", "-n", "plain"]));
    let settings = live(&cluster, "configmap", "demo-settings", "charts");
    assert_eq!(
        settings["data"],
        serde_json::json!({"greeting": "hi", "color": "blue"})
    );
}
