//! Charts other than a `helm:` app's see the cluster through `tether-agent run` against the
//! API emulation: a Flux HelmRelease (its chart in a GitRepository that is the synced
//! repository, read from the snapshot without a fetch) and Kustomize's `helmCharts` get
//! `.Capabilities` from discovery (the server's version, a CRD's kind) and, with the app
//! generator's `helm.lookup: true`, `lookup` of the live objects; a kustomization's own
//! `kubeVersion`/`apiVersions` win, as `kubectl kustomize --enable-helm` renders them.

#[path = "daemon/support.rs"]
#[allow(dead_code)]
mod support;

use std::path::Path;
use std::time::Duration;

use support::{Agent, Cluster, Repo, Settings, wait_for};

const CHART: &str = "apiVersion: v2\nname: probe\nversion: 0.1.0\n";
const VALUES: &str = "greeting: hello\n";
const TEMPLATE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-probe
data:
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  widgets: {{ .Capabilities.APIVersions.Has "webapp.example/v1/Widget" | quote }}
  color: {{ dig "data" "color" "none" (lookup "v1" "ConfigMap" .Release.Namespace "existing") | quote }}
  greeting: {{ .Values.greeting | quote }}
"#;

fn release(url: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: config
spec:
  interval: 5m
  url: {url}
  ref: {{branch: main}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: probe
spec:
  interval: 10m
  chart:
    spec:
      chart: ./charts/probe
      sourceRef: {{kind: GitRepository, name: config}}
"
    )
}

const KUSTOMIZATION: &str = "helmCharts:
- name: probe
  releaseName: auto
  namespace: kust
- name: probe
  releaseName: pinned
  namespace: kust
  kubeVersion: 1.29.0
  apiVersions: [example.com/v1]
";

fn data(cluster: &Cluster, namespace: &str, name: &str) -> Option<serde_json::Value> {
    let out = cluster.kubectl(&["get", "configmap", name, "-n", namespace, "-o", "json"]);
    if !out.status.success() {
        return None;
    }
    let object: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(object["data"].clone())
}

/// Waits (bounded) for `check`; on timeout, fails with the agent's log.
fn wait_or_logs<T>(agent: &Agent, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        let logs = agent.logs();
        let tail = &logs[logs.len().saturating_sub(3000)..];
        assert!(std::time::Instant::now() < deadline, "timed out:\n{tail}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn flux_releases_and_kustomize_helm_charts_see_the_clusters_capabilities_and_lookup() {
    let cluster = Cluster::start();
    for namespace in ["tether-system", "flux", "kust"] {
        cluster.ok(&["create", "namespace", namespace]);
    }
    for namespace in ["flux", "kust"] {
        cluster.ok(&[
            "create",
            "configmap",
            "existing",
            "-n",
            namespace,
            "--from-literal=color=teal",
        ]);
    }
    let crd = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/helm_release/crd.yaml");
    cluster.ok(&["apply", "-f", &crd.display().to_string()]);

    let repo = Repo::start();
    let url = repo.daemon.url("config.git");
    for (path, text) in [
        ("charts/probe/Chart.yaml", CHART.to_owned()),
        ("charts/probe/values.yaml", VALUES.to_owned()),
        ("charts/probe/templates/cm.yaml", TEMPLATE.to_owned()),
        ("apps/flux/release.yaml", release(&url)),
        ("apps/kust/kustomization.yaml", KUSTOMIZATION.to_owned()),
        ("apps/kust/charts/probe/Chart.yaml", CHART.to_owned()),
        ("apps/kust/charts/probe/values.yaml", VALUES.to_owned()),
        (
            "apps/kust/charts/probe/templates/cm.yaml",
            TEMPLATE.to_owned(),
        ),
    ] {
        repo.upstream.write(path, text).expect("write");
    }
    repo.upstream.remove("apps/one").expect("remove");
    repo.upstream.remove("apps/two").expect("remove");
    repo.upstream
        .commit("a HelmRelease and helmCharts")
        .expect("commit");
    let dir = tempfile::tempdir().expect("temporary folder");
    // The generator's `helm:` block (lookup opt-in), written after its `name:` line.
    let settings = Settings {
        name: Some("{{path.basename}}\"\n    helm: {lookup: true}\n    # \""),
        ..Settings::default()
    };
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "agent-helm-cluster", settings);

    let flux = wait_for(
        "the HelmRelease's ConfigMap",
        Duration::from_secs(90),
        || data(&cluster, "flux", "probe-probe"),
    );
    assert_eq!(flux["kubeVersion"], "v1.33.0", "{}", agent.logs());
    assert_eq!(flux["widgets"], "true", "the CRD's kind is served");
    assert_eq!(flux["color"], "teal", "lookup read the live ConfigMap");

    let auto = wait_or_logs(&agent, Duration::from_secs(60), || {
        data(&cluster, "kust", "auto-probe")
    });
    assert_eq!(auto["kubeVersion"], "v1.33.0");
    assert_eq!(auto["widgets"], "true");
    assert_eq!(auto["color"], "teal");
    let pinned = data(&cluster, "kust", "pinned-probe").expect("the pinned chart");
    assert_eq!(pinned["kubeVersion"], "v1.29.0", "kubeVersion wins");
    assert_eq!(pinned["widgets"], "false", "apiVersions win");

    // A change of the chart in the synced repository reaches the release with the commit
    // that makes it: the chart is read from the snapshot, never fetched again.
    repo.upstream
        .write("charts/probe/values.yaml", "greeting: bonjour\n")
        .expect("write");
    repo.upstream.commit("a new greeting").expect("commit");
    let body = br#"{"ref":"refs/heads/main"}"#;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(support::WEBHOOK_SECRET.as_bytes())
        .expect("key");
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let (code, _) = support::http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", &signature)],
        body,
    );
    assert_eq!(code, 202);
    wait_for("the new greeting", Duration::from_secs(60), || {
        data(&cluster, "flux", "probe-probe").filter(|d| d["greeting"] == "bonjour")
    });
    let logs = agent.logs();
    assert!(
        !logs.contains("fetched the GitRepository of a HelmRelease"),
        "the synced repository is not fetched again"
    );
}
