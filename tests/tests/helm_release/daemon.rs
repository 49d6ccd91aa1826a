//! A Flux repository's HelmReleases through `tether-agent run` against the API emulation:
//! one chart from the OCI registry and one from the Helm repository, values from a
//! SOPS-encrypted Secret (encrypted by the real sops), the chart's pre-install hook run
//! before anything else, a values change and a version bump upgrading, and a removed
//! release pruned; the agent's output never holds the Secret's plaintext.

use std::path::Path;
use std::time::Duration;

use hmac::Mac;
use tether_tests::peers;

use super::peers as chart_peers;
use super::support::{Agent, Cluster, EXAMPLE_RECIPIENT, Repo, WEBHOOK_SECRET, http, wait_for};

const PASSWORD: &str = "helm-values-pw-5c1d9e7f3a";
const NEW_PASSWORD: &str = "helm-values-pw-rotated-8b2e4f";

fn sops_values(dir: &Path, password: &str) -> String {
    let file = dir.join("db-values.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-values\nstringData:\n  values.yaml: |\n    db:\n      password: {password}\n"
        ),
    )
    .expect("write the plaintext for sops");
    let out = peers::sops_command()
        .args([
            "--encrypt",
            "--age",
            EXAMPLE_RECIPIENT,
            "--encrypted-regex",
            "^(data|stringData)$",
        ])
        .arg(&file)
        .output()
        .expect("run sops");
    std::fs::remove_file(&file).expect("remove the plaintext");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn release(name: &str, source: &str, version: &str, replicas: u32, crds: &str) -> String {
    format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}
spec:
  interval: 10m
  chart:
    spec:
      chart: webapp
      version: \"{version}\"
      sourceRef: {{kind: HelmRepository, name: {source}}}
  install: {{crds: {crds}}}
  valuesFrom:
  - kind: Secret
    name: db-values
  values:
    replicas: {replicas}
"
    )
}

fn sources(http_url: &str, oci_url: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
spec:
  interval: 1h
  url: {http_url}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: registry
spec:
  interval: 1h
  type: oci
  insecure: true
  url: {oci_url}
"
    )
}

fn push(agent: &Agent) {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let (code, _) = http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", &signature)],
        body,
    );
    assert_eq!(code, 202);
}

fn jsonpath(cluster: &Cluster, args: &[&str], path: &str) -> Option<String> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    let expression = format!("jsonpath={path}");
    all.extend_from_slice(&["-o", &expression]);
    let out = cluster.kubectl(&all);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Waits for the hook Job `name` (a new one when `after_uid` is given) and completes it,
/// as the Job controller would.
fn complete_hook(cluster: &Cluster, name: &str, after_uid: Option<&str>) -> String {
    let uid = wait_for(
        &format!("the hook Job {name}"),
        Duration::from_secs(90),
        || {
            jsonpath(cluster, &["job", name, "-n", "web"], "{.metadata.uid}")
                .filter(|uid| Some(uid.as_str()) != after_uid)
        },
    );
    cluster.ok(&[
        "patch", "job", name, "-n", "web", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"conditions":[{"type":"Complete","status":"True","reason":"Test","message":"done"}]}}"#,
    ]);
    uid
}

fn hook_uid(cluster: &Cluster, name: &str) -> Option<String> {
    jsonpath(cluster, &["job", name, "-n", "web"], "{.metadata.uid}")
}

fn password_of(cluster: &Cluster, secret: &str) -> Option<String> {
    let text = jsonpath(
        cluster,
        &["secret", secret, "-n", "web"],
        "{.data.password}",
    )?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text).ok()?;
    String::from_utf8(bytes).ok()
}

struct Scene {
    cluster: Cluster,
    repo: Repo,
    agent: Agent,
    dir: tempfile::TempDir,
}

impl Scene {
    fn commit(&self, files: &[(&str, String)], message: &str) {
        for (path, text) in files {
            self.repo.upstream.write(path, text).expect("write");
        }
        self.repo.upstream.commit(message).expect("commit");
        push(&self.agent);
    }

    fn image(&self, name: &str) -> Option<String> {
        jsonpath(
            &self.cluster,
            &["deployment", name, "-n", "web"],
            "{.spec.template.spec.containers[0].image}",
        )
    }
}

/// The first sync: the pre-install hooks first (same weight: by name), then the objects.
fn install(charts: &super::Peers) -> (Scene, String, String) {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let files = [
        (
            "apps/web/sources.yaml",
            sources(&charts.repo.url(), &charts.registry.url()),
        ),
        (
            "apps/web/db-values.sops.yaml",
            sops_values(dir.path(), PASSWORD),
        ),
        (
            "apps/web/web.yaml",
            release("web", "charts", "1.0.0", 1, "Create"),
        ),
        (
            "apps/web/api.yaml",
            release("api", "registry", "1.0.0", 1, "Skip"),
        ),
    ];
    for (path, text) in &files {
        repo.upstream.write(path, text).expect("write");
    }
    repo.upstream.commit("two HelmReleases").expect("commit");
    let agent = Agent::start(&cluster, &repo, dir.path(), "agent-helm");
    let scene = Scene {
        cluster,
        repo,
        agent,
        dir,
    };
    let api_hook = complete_hook(&scene.cluster, "api-migrate", None);
    assert!(
        !scene.cluster.exists(&["deployment", "web", "-n", "web"]),
        "nothing applied before the hooks: {}",
        scene.agent.logs()
    );
    let web_hook = complete_hook(&scene.cluster, "web-migrate", None);
    wait_for("the releases' objects", Duration::from_secs(60), || {
        (scene.image("web").is_some() && scene.image("api").is_some()).then_some(())
    });
    (scene, api_hook, web_hook)
}

#[test]
fn helm_releases_from_a_registry_and_a_repository_sync_upgrade_and_prune_through_the_daemon() {
    let (scene, api_hook, web_hook) = install(chart_peers());
    let cluster = &scene.cluster;
    assert_eq!(password_of(cluster, "web-db").as_deref(), Some(PASSWORD));
    assert_eq!(password_of(cluster, "api-db").as_deref(), Some(PASSWORD));
    assert!(
        cluster.exists(&["crd", "widgets.webapp.example"]),
        "the chart's CRD"
    );
    assert!(
        !cluster.exists(&["helmrelease", "web", "-n", "web"]),
        "Flux objects are not applied"
    );
    assert_eq!(
        jsonpath(
            cluster,
            &["deployment", "web", "-n", "web"],
            "{.metadata.annotations.meta\\.helm\\.sh/release-name}"
        )
        .as_deref(),
        Some("web")
    );
    assert!(
        !cluster.exists(&["pod", "web-smoke", "-n", "web"]),
        "test hooks never run"
    );

    // A values change (a new password in the SOPS Secret, more replicas) upgrades.
    scene.commit(
        &[
            (
                "apps/web/db-values.sops.yaml",
                sops_values(scene.dir.path(), NEW_PASSWORD),
            ),
            (
                "apps/web/web.yaml",
                release("web", "charts", "1.0.0", 3, "Create"),
            ),
        ],
        "new values",
    );
    let api_hook = complete_hook(cluster, "api-migrate", Some(&api_hook));
    let web_hook = complete_hook(cluster, "web-migrate", Some(&web_hook));
    wait_for("the new password", Duration::from_secs(60), || {
        (password_of(cluster, "web-db").as_deref() == Some(NEW_PASSWORD)).then_some(())
    });
    assert_eq!(
        jsonpath(
            cluster,
            &["deployment", "web", "-n", "web"],
            "{.spec.replicas}"
        )
        .as_deref(),
        Some("3")
    );

    // A version bump of one release upgrades it and runs its hook only.
    scene.commit(
        &[(
            "apps/web/web.yaml",
            release("web", "charts", "^1.1", 3, "Create"),
        )],
        "webapp 1.1",
    );
    let web_hook = complete_hook(cluster, "web-migrate", Some(&web_hook));
    wait_for("the new version", Duration::from_secs(60), || {
        (scene.image("web").as_deref() == Some("ghcr.io/acme/webapp:1.1.0")).then_some(())
    });
    assert_eq!(
        hook_uid(cluster, "api-migrate"),
        Some(api_hook),
        "the api release did not change"
    );

    // Removing a release prunes its objects; the CRD (protected) stays.
    scene
        .repo
        .upstream
        .remove("apps/web/api.yaml")
        .expect("remove");
    scene.commit(&[], "drop the api release");
    wait_for("the api release pruned", Duration::from_secs(60), || {
        (scene.image("api").is_none() && !cluster.exists(&["secret", "api-db", "-n", "web"]))
            .then_some(())
    });
    assert!(scene.image("web").is_some());
    assert!(cluster.exists(&["crd", "widgets.webapp.example"]));
    assert_eq!(
        hook_uid(cluster, "web-migrate"),
        Some(web_hook),
        "the web release did not change"
    );

    // A suspended release is not rendered: the app is reported, nothing is pruned.
    let suspended = release("web", "charts", "^1.1", 3, "Create").replace(
        "spec:\n  interval: 10m\n",
        "spec:\n  suspend: true\n  interval: 10m\n",
    );
    scene.commit(
        &[("apps/web/web.yaml", suspended)],
        "suspend the web release",
    );
    wait_for("the suspension reported", Duration::from_secs(60), || {
        let (_, body) = scene.agent.get("/api/v1/apps/web");
        body.contains("HelmRelease web/web is suspended")
            .then_some(())
    });
    assert!(
        scene.image("web").is_some(),
        "a suspended release's objects stay"
    );
    assert_nothing_emitted(&scene);
}

/// Nothing the agent emitted holds a value from the SOPS Secret, in clear or in base64.
fn assert_nothing_emitted(scene: &Scene) {
    let mut emitted = scene.agent.logs();
    emitted.push_str(&scene.agent.get("/api/v1/apps").1);
    emitted.push_str(&scene.agent.get("/api/v1/apps/web").1);
    emitted.push_str(&scene.cluster.ok(&["get", "events", "-A", "-o", "json"]));
    emitted.push_str(&scene.cluster.ok(&[
        "get",
        "configmaps",
        "-n",
        "tether-system",
        "-o",
        "json",
    ]));
    for secret in [PASSWORD, NEW_PASSWORD] {
        assert!(
            !emitted.contains(secret),
            "the plaintext {secret} was emitted"
        );
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret);
        assert!(
            !emitted.contains(&encoded),
            "the base64 of {secret} was emitted"
        );
    }
}
