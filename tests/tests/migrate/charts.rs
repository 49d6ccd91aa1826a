//! Argo CD Applications whose chart comes from a Helm repository (lighttpd serving an
//! `index.yaml`) or an OCI registry (`docker-registry`), one with several `sources` whose
//! `ref:` source gives the values files (`$values/...`), synced by the daemon against the API
//! emulation with no `tether import` step.

use super::live::{live, start_with, status};
use super::serve_with;
use super::support::Cluster;
use std::time::{Duration, Instant};
use tether_tests::helm_peers::{HelmRepo, OciRegistry, package_chart};
use tether_tests::peers;

const REPO: &str = "https://github.com/example/charts.git";

fn application(name: &str, namespace: &str, sources: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  \
         namespace: argocd\nspec:\n  project: default\n{sources}  destination:\n    \
         server: https://kubernetes.default.svc\n    namespace: {namespace}\n  syncPolicy:\n    \
         automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n"
    )
}

#[test]
fn argocd_charts_from_helm_and_oci_repositories_and_ref_sources_sync_end_to_end() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let charts = dir.path().join("charts");
    std::fs::create_dir_all(&charts).expect("mkdir");
    let packaged: Vec<_> = ["1.0.0", "1.1.0", "2.0.0"]
        .iter()
        .map(|v| package_chart(&charts, "greeter", v, &[]).expect("helm package"))
        .collect();
    let repo = HelmRepo::start(&packaged, None).expect("start the Helm repository");
    let registry = OciRegistry::start(None).expect("start the registry");
    registry
        .push(&packaged[1])
        .unwrap_or_else(|e| panic!("{e}\n{}", registry.log()));
    let oci = registry.url();
    let files = [
        (
            "argocd/greet.yaml",
            application(
                "greet",
                "greet",
                &format!(
                    "  sources:\n    - repoURL: {url}\n      chart: greeter\n      \
                     targetRevision: ^1.0\n      helm:\n        releaseName: greet\n        \
                     valueFiles: [$values/envs/prod/values.yaml]\n    - repoURL: {REPO}\n      \
                     targetRevision: main\n      ref: values\n",
                    url = repo.url()
                ),
            ),
        ),
        (
            "argocd/oci.yaml",
            application(
                "oci",
                "oci",
                // Argo CD names an OCI registry without a scheme.
                &format!(
                    "  source:\n    repoURL: {registry}\n    chart: greeter\n    \
                     targetRevision: 1.1.0\n    helm:\n      valuesObject: {{greeting: ahoy}}\n",
                    registry = oci.trim_start_matches("oci://")
                ),
            ),
        ),
        ("envs/prod/values.yaml", "greeting: from-git\n".to_owned()),
    ];
    let extra: Vec<(&str, String)> = files.iter().map(|(p, b)| (*p, b.clone())).collect();
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let daemon = serve_with("argocd-options", &dir.path().join("git"), &extra);
    let port = peers::free_port();
    let import = format!(
        "[{{from: argocd, paths: [argocd/greet.yaml, argocd/oci.yaml], urls: ['{REPO}']}}]"
    );
    let helm_repositories = format!("helmRepositories: [{{url: '{oci}', plainHttp: true}}]\n");
    let _agent = start_with(
        &cluster,
        dir.path(),
        &daemon.url("config.git"),
        &import,
        port,
        &helm_repositories,
    );
    synced(port, "greet", dir.path());
    let web = live(&cluster, "configmap", "greet-greeter", "greet");
    assert_eq!(
        web["data"]["greeting"], "from-git",
        "the $values file of the ref source"
    );
    assert_eq!(
        web["data"]["version"], "1.1.0",
        "the newest release matching ^1.0"
    );
    synced(port, "oci", dir.path());
    let oci = live(&cluster, "configmap", "oci-greeter", "oci");
    assert_eq!(oci["data"]["greeting"], "ahoy");
    assert_eq!(oci["data"]["version"], "1.1.0");
}

/// Waits until `app` synced; on timeout, fails with its status and the agent's log.
fn synced(port: u16, app: &str, dir: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = None;
    while Instant::now() < deadline {
        last = status(port, app);
        if last.as_ref().is_some_and(|s| s["sync"] == "Succeeded") {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();
    let tail: String = log.lines().rev().take(30).collect::<Vec<_>>().join("\n");
    panic!("app {app} did not sync: {last:?}\n{tail}");
}
