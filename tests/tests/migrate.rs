//! Conformance of `tether-agent import` on public Argo CD and Flux example layouts
//! (tests/fixtures/migrate, see SOURCES): what is imported and what is refused, each imported
//! app's render compared with `kubectl kustomize`, and the Argo CD corpus synced end to end
//! against the API emulation, every live object carrying what kubectl rendered; objects Argo
//! CD applied before are adopted (same UIDs) and keep its tracking label and annotation.

#[allow(dead_code)]
#[path = "daemon/support.rs"]
mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{Cluster, http, wait_for};

#[path = "migrate/charts.rs"]
mod charts;
#[path = "migrate/live.rs"]
mod live;
#[path = "migrate/options.rs"]
mod options;
#[path = "migrate/tools.rs"]
mod tools;
use tether_agent::migrate::{From, Outcome, import};
use tether_tests::gitserver::{GitDaemon, Upstream};
use tether_tests::peers::{self, Process};

fn corpus(name: &str) -> PathBuf {
    support::root().join("tests/fixtures/migrate").join(name)
}

fn parse(text: &str) -> Vec<Value> {
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options).expect("valid YAML");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// What kubectl renders for an app's directory (a plain directory: its files, as Argo CD
/// reads them).
fn kubectl_objects(dir: &Path) -> Vec<Value> {
    if !dir.join("kustomization.yaml").is_file() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("read the directory")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        return files
            .iter()
            .flat_map(|f| parse(&std::fs::read_to_string(f).expect("read")))
            .collect();
    }
    let out = Command::new(tether_tests::peers::kustomize_kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl is installed (it is part of the test environment)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8_lossy(&out.stdout))
}

fn tether_objects(root: &Path, path: &str) -> Vec<Value> {
    let out = Command::new(tether_tests::bins::tether_agent())
        .args(["render", "--root"])
        .arg(root)
        .arg(root.join(path))
        .output()
        .expect("run tether-agent");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8_lossy(&out.stdout))
}

fn key(object: &Value) -> String {
    format!(
        "{}/{}/{}",
        object["kind"].as_str().unwrap_or_default(),
        object["metadata"]["namespace"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

fn sorted(mut objects: Vec<Value>) -> Vec<Value> {
    objects.sort_by_key(key);
    objects
}

/// Every imported app renders exactly what kubectl renders for its path.
fn assert_renders_match(name: &str, outcome: &Outcome) {
    let root = corpus(name);
    for app in &outcome.imported.apps {
        let path = &app.directories[0].path;
        let expected = sorted(kubectl_objects(&root.join(path)));
        let actual = sorted(tether_objects(&root, path));
        assert!(!expected.is_empty(), "{name}/{path} renders nothing");
        assert_eq!(actual, expected, "{name}/{path}");
    }
}

fn errors(outcome: &Outcome) -> Vec<String> {
    outcome.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn flux_kustomize_helm_example_imports_every_app_with_its_patches_in_dependency_order() {
    let outcome = import(From::Flux, &corpus("flux2-kustomize-helm-example"));
    let errors = errors(&outcome);
    // The HelmReleases sit with their HelmRepositories in the apps that render them, so the
    // agent renders the charts itself; infra-configs' patches are an overlay of its app.
    let names: Vec<&str> = outcome
        .imported
        .apps
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["infra-controllers", "infra-configs", "apps"],
        "{errors:?}"
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(outcome.charts_refused, 0);
    assert_eq!(outcome.imported.sources[0].name, "flux-system");
    assert_eq!(outcome.imported.apps[1].depends_on, ["infra-controllers"]);
    assert_eq!(outcome.imported.apps[2].depends_on, ["infra-configs"]);
    assert_overlays_match("flux2-kustomize-helm-example", &outcome);
}

/// Every imported app with an overlay renders what kubectl renders when the overlay's fields
/// are written into the app's kustomization (as Flux does before its build).
fn assert_overlays_match(name: &str, outcome: &Outcome) {
    use tether_agent::tree::{FsTree, RelPath, Tree};
    let root = corpus(name);
    let mut checked = 0;
    for app in &outcome.imported.apps {
        let Some(overlay) = &app.kustomize else {
            continue;
        };
        let path = &app.directories[0].path;
        let copy = tempfile::tempdir().expect("temporary folder");
        for (file, body) in tether_tests::files_under(&root) {
            let rel = file.strip_prefix(&root).expect("inside");
            let target = copy.path().join(rel);
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(target, body).expect("write");
        }
        let file = copy.path().join(path).join("kustomization.yaml");
        let mut kustomization: Value =
            parse(&std::fs::read_to_string(&file).expect("a kustomization"))[0].clone();
        let mut patches = kustomization["patches"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        patches.extend(overlay.patches.iter().cloned());
        kustomization["patches"] = patches.into();
        if !overlay.images.is_empty() {
            kustomization["images"] = overlay.images.clone().into();
        }
        std::fs::write(&file, kustomization.to_string()).expect("write");
        let expected = sorted(kubectl_objects(&copy.path().join(path)));
        let tree = Tree::new(FsTree::new(root.canonicalize().expect("root")));
        let rendered = tether_agent::migrate::overlay::render_with(
            &tree,
            &RelPath::parse(path).expect("a path"),
            overlay,
            &tether_agent::render::RenderOptions::default(),
        )
        .expect("renders");
        let actual = sorted(rendered.into_iter().map(|o| o.value).collect());
        assert_eq!(actual, expected, "{name}/{path}");
        checked += 1;
    }
    assert!(checked > 0, "{name}: no app with an overlay");
}

#[test]
fn flux_multi_tenancy_imports_the_policies_and_refuses_nested_and_impersonating_apps() {
    let outcome = import(From::Flux, &corpus("flux2-multi-tenancy"));
    let errors = errors(&outcome);
    let names: Vec<&str> = outcome
        .imported
        .apps
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["kyverno-policies"], "{errors:?}");
    for expected in [
        // An OCIRepository is read only as a HelmRelease's chart source; a Kustomization
        // synced from one is refused.
        "Kustomization flux-system/kyverno-controller (infrastructure/kyverno/sync.yaml): spec.sourceRef.kind",
        "Kustomization apps/dev-team (tenants/base/dev-team/sync.yaml): spec.serviceAccountName",
        "app kyverno (infrastructure/kyverno)",
        "app tenants (tenants/production)",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{expected}: {errors:?}"
        );
    }
    assert_renders_match("flux2-multi-tenancy", &outcome);
}

fn argocd_outcome() -> Outcome {
    let outcome = import(From::Argocd, &corpus("argocd-example-apps"));
    assert!(outcome.errors.is_empty(), "{:?}", errors(&outcome));
    outcome
}

#[test]
fn argocd_example_apps_import_as_the_children_of_the_app_of_apps() {
    let outcome = argocd_outcome();
    let names: Vec<&str> = outcome
        .imported
        .apps
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["guestbook", "kustomize-guestbook", "sock-shop"]);
    assert!(
        outcome
            .notes
            .iter()
            .any(|n| n.contains("argocd/root") && n.contains("app of apps"))
    );
    assert_renders_match("argocd-example-apps", &outcome);
}

/// The corpus as a Git repository served by `git daemon`.
fn serve(name: &str, dir: &Path) -> GitDaemon {
    serve_with(name, dir, &[])
}

/// [`serve`] with `extra` files (path, contents) written over the corpus.
fn serve_with(name: &str, dir: &Path, extra: &[(&str, String)]) -> GitDaemon {
    let upstream = Upstream::create(dir, "config").expect("create the repository");
    for (path, body) in extra {
        upstream.write(path, body.clone()).expect("write");
    }
    let root = corpus(name);
    for (path, body) in tether_tests::files_under(&root) {
        let rel = path
            .strip_prefix(&root)
            .expect("inside")
            .to_string_lossy()
            .into_owned();
        upstream.write(&rel, body).expect("write");
    }
    upstream.commit("corpus").expect("commit");
    GitDaemon::start(dir).expect("start git daemon")
}

#[test]
fn argocd_example_apps_sync_end_to_end_to_what_kubectl_renders() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let daemon = serve("argocd-example-apps", &dir.path().join("git"));
    let mut outcome = argocd_outcome();
    for source in &mut outcome.imported.sources {
        source.url = daemon.url("config.git");
    }
    let before = apply_as_argocd_and_flux(&cluster, dir.path());
    let port = peers::free_port();
    let _agent = start_agent(&cluster, dir.path(), &outcome, port);
    for app in &outcome.imported.apps {
        wait_for(
            &format!("app {} synced", app.name),
            Duration::from_secs(90),
            || {
                let (code, body) =
                    http(port, "GET", &format!("/api/v1/apps/{}", app.name), &[], b"");
                (code == 200 && body.contains("\"Succeeded\"")).then_some(())
            },
        );
        let namespace = app.namespace.as_deref().expect("a destination namespace");
        for expected in
            kubectl_objects(&corpus("argocd-example-apps").join(&app.directories[0].path))
        {
            let kind = expected["kind"].as_str().expect("kind");
            let name = expected["metadata"]["name"].as_str().expect("name");
            let live = cluster.ok(&["get", kind, name, "-n", namespace, "-o", "json"]);
            let live: Value = serde_json::from_str(&live).expect("JSON");
            assert_contains(
                &expected["spec"],
                &live["spec"],
                &format!("{kind}/{name}.spec"),
            );
        }
    }
    for (kind, name, uid) in before {
        let live = cluster.ok(&["get", &kind, &name, "-n", "guestbook", "-o", "json"]);
        let live: Value = serde_json::from_str(&live).expect("JSON");
        let meta = &live["metadata"];
        assert_eq!(
            meta["uid"].as_str(),
            Some(uid.as_str()),
            "{kind}/{name} recreated"
        );
        assert_eq!(
            meta["labels"]["app.kubernetes.io/instance"], "guestbook",
            "{live}"
        );
        assert!(
            meta["annotations"]["argocd.argoproj.io/tracking-id"].is_string(),
            "{live}"
        );
        assert_eq!(
            meta["annotations"]["tether.dev/owner"], "guestbook",
            "{live}"
        );
        assert_eq!(
            meta["labels"]["app.kubernetes.io/managed-by"], "tether",
            "{live}"
        );
    }
}

/// guestbook as Argo CD (or Flux) left it: applied by its controller, with Argo CD's tracking
/// label and annotation and Flux's labels. Returns each object's kind, name and UID.
fn apply_as_argocd_and_flux(cluster: &Cluster, dir: &Path) -> Vec<(String, String, String)> {
    cluster.ok(&["create", "namespace", "guestbook"]);
    let mut before = Vec::new();
    for mut object in kubectl_objects(&corpus("argocd-example-apps/guestbook")) {
        object["metadata"]["labels"] = serde_json::json!({
            "app.kubernetes.io/instance": "guestbook",
            "kustomize.toolkit.fluxcd.io/name": "guestbook",
            "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
        });
        object["metadata"]["annotations"] = serde_json::json!({
            "argocd.argoproj.io/tracking-id": "guestbook:apps/Deployment:guestbook/guestbook-ui"
        });
        let file = dir.join("argo-applied.json");
        std::fs::write(&file, object.to_string()).expect("write");
        let file = file.to_string_lossy().into_owned();
        cluster.ok(&[
            "apply",
            "--server-side",
            "--field-manager",
            "argocd-controller",
            "-n",
            "guestbook",
            "-f",
            &file,
        ]);
        let kind = object["kind"].as_str().expect("kind").to_owned();
        let name = object["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_owned();
        let uid = cluster.ok(&[
            "get",
            &kind,
            &name,
            "-n",
            "guestbook",
            "-o",
            "jsonpath={.metadata.uid}",
        ]);
        before.push((kind, name, uid));
    }
    before
}

/// `tether-agent run` on the imported config, listening on `port`.
fn start_agent(cluster: &Cluster, dir: &Path, outcome: &Outcome, port: u16) -> Process {
    let config = format!(
        "{}listen: 127.0.0.1:{port}\nadminListen: 127.0.0.1:{admin}\nnamespace: tether-system\n\
         cacheDir: {cache}\nleaderElection: {{enabled: false}}\n\
         limits: {{healthTimeout: 0s, shutdownGrace: 10s}}\nui: {{anonymous: true}}\n",
        outcome.to_yaml().expect("the config"),
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
        .arg("migrate")
        .env_remove("POD_NAME");
    let agent = Process::spawn("tether-agent", cmd, &log).expect("start tether-agent");
    peers::wait_for_port(port, Duration::from_secs(30)).unwrap_or_else(|e| {
        let logs = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("the agent did not listen: {e}\n{logs}")
    });
    agent
}

/// Every field of `expected` is in `actual` with the same value (the API server adds
/// defaults).
fn assert_contains(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                assert_contains(v, b.get(k).unwrap_or(&Value::Null), &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_contains(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(b)) => assert_eq!(a.as_f64(), b.as_f64(), "{path}"),
        (Value::Number(a), Value::String(b)) => assert_eq!(a.to_string(), *b, "{path}"),
        _ => assert_eq!(expected, actual, "{path}"),
    }
}
