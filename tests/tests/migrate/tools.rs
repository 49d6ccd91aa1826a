//! `tether-agent plan`, a rollback by hand and the web UI's inspector on an app imported from
//! a Flux Kustomization found in Git, as on a native app.

use super::live::{live, start, status, wait_synced};
use super::support::{Cluster, http, wait_for};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tether_tests::gitserver::{GitDaemon, Upstream};
use tether_tests::peers;

const GOTK_SYNC: &str = "\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 1m0s
  ref: {branch: main}
  url: ssh://git@github.com/example/fleet
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 10m0s
  path: ./clusters/prod
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
";

const WEB: &str = "\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: web, namespace: flux-system}
spec:
  interval: 10m0s
  path: ./web
  prune: true
  targetNamespace: default
  sourceRef: {kind: GitRepository, name: flux-system}
";

fn settings(version: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web-settings}}\ndata: {{version: {version}}}\n"
    )
}

fn version(cluster: &Cluster) -> String {
    live(cluster, "configmap", "web-settings", "default")["data"]["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn agent(args: &[&str], config: &Path, cluster: &Cluster) -> (bool, String, String) {
    let out = Command::new(tether_tests::bins::tether_agent())
        .args(args)
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(if args[0] == "plan" {
            vec!["--config".to_owned(), config.display().to_string()]
        } else {
            Vec::new()
        })
        .output()
        .expect("run tether-agent");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plan_rollback_and_the_inspector_work_on_an_imported_app() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let git = dir.path().join("git");
    let upstream = Upstream::create(&git, "config").expect("create the repository");
    upstream
        .write("clusters/prod/flux-system/gotk-sync.yaml", GOTK_SYNC)
        .expect("write");
    upstream
        .write("clusters/prod/web.yaml", WEB)
        .expect("write");
    upstream
        .write("web/settings.yaml", settings("one"))
        .expect("write");
    let first = upstream.commit("one").expect("commit");
    let daemon = GitDaemon::start(&git).expect("start git daemon");
    let port = peers::free_port();
    let import =
        "[{from: flux, paths: [clusters/prod], urls: ['ssh://git@github.com/example/fleet']}]";
    let _agent = start(
        &cluster,
        dir.path(),
        &daemon.url("config.git"),
        import,
        port,
    );
    wait_synced(port, "web");
    assert_eq!(version(&cluster), "one");

    // The inspector (the UI's JSON API) compares the imported app with Git.
    let view = wait_for(
        "the inspector's comparison",
        Duration::from_secs(30),
        || {
            let (code, body) = http(port, "GET", "/api/v1/apps/web/view", &[], b"");
            let view: serde_json::Value = serde_json::from_str(&body).ok()?;
            (code == 200
                && (view.get("comparison").is_some() || view.get("compareError").is_some()))
            .then_some(view)
        },
    );
    assert!(view.get("compareError").is_none(), "{view}");
    assert_eq!(view["comparison"]["outOfSync"], 0, "{view}");

    // `tether-agent plan` plans the imported app against the cluster.
    let config = dir.path().join("tether.yaml");
    let (ok, out, err) = agent(&["plan", "--app", "web"], &config, &cluster);
    assert!(ok, "plan failed:\n{out}\n{err}");
    assert!(
        out.contains("app web (web -> namespace default)"),
        "{out}\n{err}"
    );
    assert!(out.contains("1 unchanged"), "{out}");

    // A second revision, then a rollback by hand to the first.
    upstream
        .write("web/settings.yaml", settings("two"))
        .expect("write");
    upstream.commit("two").expect("commit");
    wait_for("revision two applied", Duration::from_secs(60), || {
        (version(&cluster) == "two").then_some(())
    });
    let (ok, out, err) = agent(&["rollback", "web", "--to", &first], &config, &cluster);
    assert!(ok, "rollback failed:\n{out}\n{err}");
    wait_for(
        "rolled back to revision one",
        Duration::from_secs(60),
        || (version(&cluster) == "one").then_some(()),
    );
    let app = status(port, "web").expect("status");
    assert!(app.to_string().contains("RolledBack"), "{app}");
}

const BAD: &str = "\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: bad, namespace: flux-system}
spec:
  interval: 10m0s
  path: ./web
  force: true
  sourceRef: {kind: GitRepository, name: flux-system}
";

/// The Events of the agent's namespace about the ConfigMap `name`: `(reason, note)`.
fn events_on(cluster: &Cluster, name: &str) -> Vec<(String, String)> {
    let text = cluster.ok(&[
        "get",
        "events.events.k8s.io",
        "-n",
        "tether-system",
        "-o",
        "json",
    ]);
    let list: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["regarding"]["name"] == name && e["regarding"]["kind"] == "ConfigMap")
        .map(|e| {
            (
                e["reason"].as_str().unwrap_or_default().to_owned(),
                e["note"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn import_errors_are_events_and_errors_naming_no_app_reach_the_import_status() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let git = dir.path().join("git");
    let upstream = Upstream::create(&git, "config").expect("create the repository");
    upstream
        .write("clusters/prod/flux-system/gotk-sync.yaml", GOTK_SYNC)
        .expect("write");
    upstream
        .write("clusters/prod/web.yaml", format!("{WEB}---\n{BAD}"))
        .expect("write");
    upstream
        .write("web/settings.yaml", settings("one"))
        .expect("write");
    upstream.commit("one").expect("commit");
    let daemon = GitDaemon::start(&git).expect("start git daemon");
    let port = peers::free_port();
    let import = "[{from: flux, paths: [clusters/prod, clusters/nowhere], \
                  urls: ['ssh://git@github.com/example/fleet']}]";
    let _agent = start(
        &cluster,
        dir.path(),
        &daemon.url("config.git"),
        import,
        port,
    );
    wait_synced(port, "web");
    let bad = wait_for("app bad failed", Duration::from_secs(30), || {
        status(port, "bad").filter(|s| s.to_string().contains("ImportFailed"))
    });
    assert!(bad.to_string().contains("spec.force"), "{bad}");
    let events = wait_for(
        "the app's ImportFailed Event",
        Duration::from_secs(30),
        || {
            let events = events_on(&cluster, "tether-inventory-bad");
            events
                .iter()
                .any(|(reason, _)| reason == "ImportFailed")
                .then_some(events)
        },
    );
    let (_, note) = events
        .iter()
        .find(|(reason, _)| reason == "ImportFailed")
        .expect("found");
    assert!(
        note.contains("Kustomization flux-system/bad") && note.contains("spec.force"),
        "{note}"
    );
    // The bad `paths` entry names no app: the source's import status and an Event say so.
    let errors = wait_for("the import status", Duration::from_secs(30), || {
        let text = cluster.ok(&["get", "configmap", "-n", "tether-system", "-o", "json"]);
        let list: serde_json::Value = serde_json::from_str(&text).ok()?;
        list["items"]
            .as_array()?
            .iter()
            .find(|cm| cm["metadata"]["name"] == "tether-import-fleet")
            .and_then(|cm| cm["data"]["errors"].as_str().map(str::to_owned))
    });
    assert!(
        errors.contains("clusters/nowhere")
            && errors.contains("paths[1]")
            && errors.contains("not found"),
        "{errors}"
    );
    assert!(
        !errors.contains("spec.force"),
        "app errors stay on the app: {errors}"
    );
    let events = wait_for(
        "the source's ImportFailed Event",
        Duration::from_secs(30),
        || {
            let events = events_on(&cluster, "tether-import-fleet");
            (!events.is_empty()).then_some(events)
        },
    );
    assert_eq!(events[0].0, "ImportFailed");
    assert!(
        events[0].1.starts_with("source fleet:") && events[0].1.contains("clusters/nowhere"),
        "{events:?}"
    );
}
