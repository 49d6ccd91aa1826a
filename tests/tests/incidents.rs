//! Past security incidents of Argo CD, Flux, Sealed Secrets and SOPS, one named regression
//! test each (several incidents with one root cause share a test). Each test builds the attack
//! of the advisory against Tether's own stages: the render, the secrets stage, the sync engine
//! against the API server emulation, the Git source against real servers, the sealing library
//! and the daemon as a process.
//!
//! Advisories that do not apply, and why:
//! - Argo CD CVE-2022-29165 and CVE-2023-22482 (JWT claims trusted, audience unchecked):
//!   Tether's HTTP API takes no tokens and changes nothing but the log level.
//! - Argo CD GHSA-6jqw-jwf5-rp8h (one app reading another's Helm chart by a predictable
//!   path): there are no chart directories; every render reads only its own source's
//!   snapshot, which [`cve_2022_31036_helm_charts_and_remote_bases_are_refused`] and the
//!   path tests below cover.
//! - Argo CD CVE-2022-24768 asks for impersonation per tenant: Tether confines an app to its
//!   namespace by policy instead ([`cve_2022_24768_an_app_cannot_write_outside_its_namespace`]);
//!   impersonation is not implemented.

#[path = "bad_inputs/cases.rs"]
#[allow(dead_code)]
mod cases;
#[path = "bad_inputs/pipeline.rs"]
#[allow(dead_code)]
mod pipeline;
#[path = "daemon/support.rs"]
#[allow(dead_code)]
mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use cases::Stage;
use pipeline::{APP_NS, Agent, Outcome};
use serde_json::{Value, json};
use tether_agent::source::{RedactedUrl, Reference, Source, SourceConfig};
use tether_agent::sync::AppSpec;
use tether_agent::sync::changeset::Action;

/// A repository root with a sibling folder outside it, holding a file that must never leak.
struct Layout {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    outside: PathBuf,
}

/// What the file outside the repository holds; no output may ever contain it.
const OUTSIDE_MARK: &str = "OUTSIDE-THE-REPOSITORY-7d1f";

fn layout(files: &[(&str, &str)]) -> Layout {
    let dir = tempfile::tempdir().expect("temporary folder");
    let repo = dir.path().join("repo");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(
        outside.join("leak.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  v: {OUTSIDE_MARK}\n"
        ),
    )
    .expect("write the outside file");
    for (path, body) in files {
        let full = repo.join(path);
        std::fs::create_dir_all(full.parent().expect("a parent")).expect("mkdir");
        std::fs::write(full, body).expect("write");
    }
    Layout {
        _dir: dir,
        repo,
        outside,
    }
}

fn symlink(target: &Path, link: &Path) {
    std::fs::create_dir_all(link.parent().expect("a parent")).expect("mkdir");
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

/// Runs the app `app` of `layout` and returns the refusing stage and message.
async fn refused(agent: &Agent, name: &str, layout: &Layout, app: &str) -> (Stage, String) {
    match agent.run(name, &layout.repo, app).await {
        Outcome::Failed(stage, message) => {
            assert!(
                !message.contains(OUTSIDE_MARK),
                "{name}: the error shows the outside file: {message}"
            );
            (stage, message)
        }
        Outcome::Synced(result) => panic!("{name}: accepted: {:?}", result.changes),
    }
}

fn configmap(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: x\n")
}

/// The good app of the bad-input corpus (a ConfigMap, a Deployment, a sealed Secret whose
/// password is `corpus-test-password`).
fn good_app() -> PathBuf {
    cases::corpus_root().join("_apps")
}

/// A source following `main` of `url`, cached in `cache`, with a `timeout`.
fn source_config(url: &str, cache: PathBuf, timeout: Duration) -> SourceConfig {
    let mut config = SourceConfig::new(
        "config",
        RedactedUrl::new(url),
        Reference::branch("main").expect("a branch"),
        cache,
    );
    config.timeout = timeout;
    config
}

/// A loopback server that accepts connections, counts them and never answers; its thread
/// stops when it is dropped.
struct SilentServer {
    port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (connections, stop) = (connections.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut held = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((stream, _)) = listener.accept() {
                        connections.fetch_add(1, Ordering::Relaxed);
                        held.push(stream);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Self {
            port,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---- Argo CD ----

/// CVE-2022-24348: a Helm values path with `../`, an absolute path or a symlink let an app
/// read files outside its repository. Every file a kustomization names is held to the same.
#[tokio::test]
async fn cve_2022_24348_dotdot_absolute_and_symlinked_paths_leaving_the_repository_are_refused() {
    let agent = Agent::start().await;
    let l = layout(&[
        (
            "dotdot/kustomization.yaml",
            "resources:\n- ../../outside/leak.yaml\n",
        ),
        (
            "absolute/kustomization.yaml",
            "resources:\n- /etc/hostname\n",
        ),
        ("abs-link/kustomization.yaml", "resources:\n- leak.yaml\n"),
        ("rel-link/kustomization.yaml", "resources:\n- leak.yaml\n"),
    ]);
    let outside = l.outside.join("leak.yaml");
    symlink(&outside, &l.repo.join("abs-link/leak.yaml"));
    symlink(
        Path::new("../../outside/leak.yaml"),
        &l.repo.join("rel-link/leak.yaml"),
    );
    for app in ["dotdot", "absolute", "abs-link", "rel-link"] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Render, "{app}: {message}");
        assert!(
            message.contains(&format!("{app}/kustomization.yaml")),
            "{app}: {message}"
        );
    }
}

/// CVE-2022-24731: a crafted chart leaked text files through rendered manifests and error
/// messages. A render error names the file and what is wrong, never the file's content.
#[tokio::test]
async fn cve_2022_24731_render_errors_never_echo_file_contents() {
    let agent = Agent::start().await;
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nKEY-MATERIAL-24731-abcdef\n-----END OPENSSH PRIVATE KEY-----\n";
    let l = layout(&[
        ("key/kustomization.yaml", "resources:\n- id_ed25519\n"),
        ("key/id_ed25519", key),
        ("broken/kustomization.yaml", "resources:\n- values.yaml\n"),
        (
            "broken/values.yaml",
            "password: [unclosed, VALUE-LINE-24731\n  : : :\n",
        ),
        (
            "patch/kustomization.yaml",
            "resources:\n- cm.yaml\npatches:\n- path: token.txt\n",
        ),
        ("patch/cm.yaml", &configmap("cm")),
        ("patch/token.txt", "TOKEN-TEXT-24731 is not a patch\n"),
        ("plain/notes.yaml", "just: [text, PLAIN-TEXT-24731\n"),
    ]);
    for (app, content) in [
        ("key", "KEY-MATERIAL-24731"),
        ("broken", "VALUE-LINE-24731"),
        ("patch", "TOKEN-TEXT-24731"),
        ("plain", "PLAIN-TEXT-24731"),
    ] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Render, "{app}: {message}");
        assert!(
            !message.contains(content),
            "{app}: the error echoes the file: {message}"
        );
        assert!(
            message.contains(app),
            "{app}: the error names no file: {message}"
        );
    }
}

/// CVE-2022-24904 and CVE-2022-31036: symlinks in directory apps (and chart folders) leaked
/// manifests from outside the repository. A symlink that leaves the root is a hard error,
/// for absolute and relative targets alike.
#[tokio::test]
async fn cve_2022_24904_a_symlink_leaving_the_repository_is_a_hard_error() {
    let agent = Agent::start().await;
    let l = layout(&[
        ("abs/cm.yaml", &configmap("a")),
        ("rel/cm.yaml", &configmap("b")),
    ]);
    symlink(&l.outside.join("leak.yaml"), &l.repo.join("abs/leak.yaml"));
    symlink(
        Path::new("../../outside/leak.yaml"),
        &l.repo.join("rel/leak.yaml"),
    );
    symlink(&l.outside, &l.repo.join("dir-link"));
    for app in ["abs", "rel", "dir-link"] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Render, "{app}: {message}");
    }
    // A symlink inside the repository is followed.
    symlink(Path::new("../abs/cm.yaml"), &l.repo.join("inside/cm.yaml"));
    match agent.run("inside", &l.repo, "inside").await {
        Outcome::Synced(result) => assert!(result.is_success()),
        Outcome::Failed(stage, message) => panic!("an inside symlink: {stage:?}: {message}"),
    }
}

/// CVE-2022-31036 (and the class of CVE-2022-24348): Helm charts and remote bases are where
/// those reads happened. Tether renders neither; both are refused by name.
#[tokio::test]
async fn cve_2022_31036_helm_charts_and_remote_bases_are_refused() {
    let agent = Agent::start().await;
    let l = layout(&[
        (
            "helm/kustomization.yaml",
            "helmCharts:\n- name: leak\n  repo: https://charts.example\n  valuesFile: ../../outside/leak.yaml\n",
        ),
        (
            "remote/kustomization.yaml",
            "resources:\n- https://github.com/example/repo//base?ref=v1\n",
        ),
        (
            "git-base/kustomization.yaml",
            "resources:\n- github.com/example/repo/base?ref=main\n",
        ),
    ]);
    for (app, field) in [
        ("helm", "helmCharts"),
        ("remote", "resources"),
        ("git-base", "resources"),
    ] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Render, "{app}: {message}");
        assert!(message.contains(field), "{app}: names no field: {message}");
    }
}

/// CVE-2022-24768: push access to a repository let a tenant write objects anywhere. The
/// default policy confines an app to its target namespace; nothing of the app is applied.
#[tokio::test]
async fn cve_2022_24768_an_app_cannot_write_outside_its_namespace() {
    let agent = Agent::start().await;
    let l = layout(&[
        ("app/ok.yaml", &configmap("ok")),
        (
            "app/escape.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n  namespace: kube-system\ndata:\n  v: x\n",
        ),
    ]);
    let (stage, message) = refused(&agent, "tenant", &l, "app").await;
    assert_eq!(stage, Stage::Policy, "{message}");
    assert!(message.contains("kube-system"), "{message}");
    assert!(
        agent
            .server
            .object("configmaps", "kube-system", "planted")
            .is_none()
    );
    assert!(
        agent.server.object("configmaps", APP_NS, "ok").is_none(),
        "half applied"
    );
}

/// CVE-2021-23135: an invalid Secret was echoed into errors and logs. An invalid Secret is
/// refused with its object and field named and none of its values, by the stages and by the
/// API server alike.
#[tokio::test]
async fn cve_2021_23135_an_invalid_secret_is_refused_without_its_values() {
    let agent = Agent::start().await;
    let values = ["int-secret-23135-value", "not base64 23135-token!"];
    let l = layout(&[(
        "app/secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {}\n  port: 5432\ndata:\n  token: {}\n",
            values[0], values[1]
        ),
    )]);
    let (_, message) = refused(&agent, "invalid-secret", &l, "app").await;
    for value in values {
        assert!(
            !message.contains(value),
            "the error shows {value:?}: {message}"
        );
    }
    assert!(message.contains("db"), "names no object: {message}");
    // Straight to the engine: the API server's own refusal is masked too.
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
        "stringData": {"password": values[0], "port": 5432}, "data": {"token": values[1]}});
    let result = agent
        .engine
        .sync(
            &AppSpec::new("invalid-secret", APP_NS),
            "rev-1",
            vec![secret],
        )
        .await;
    let error = result
        .error
        .as_ref()
        .expect("the API server refuses it")
        .to_string();
    let report = format!("{error} {:?}", result.changes);
    for value in values {
        assert!(
            !report.contains(value),
            "the sync shows {value:?}: {report}"
        );
    }
}

/// CVE-2025-23216: patch errors on Secrets were not scrubbed. An admission webhook that
/// denies the Secret and quotes the request back (as JSON, with escaped characters) gives a
/// failed sync whose error and change set hold hashes only.
#[tokio::test]
async fn cve_2025_23216_a_rejected_secret_apply_gives_a_redacted_error() {
    let agent = Agent::start().await;
    agent.server.faults().deny_writes("secrets");
    let value = "denied-23216 \"quoted\"\nsecond line";
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
        "stringData": {"password": value}});
    let result = agent
        .engine
        .sync(&AppSpec::new("denied", APP_NS), "rev-1", vec![secret])
        .await;
    let error = result
        .error
        .as_ref()
        .expect("the webhook denies it")
        .to_string();
    let report = format!(
        "{error} {:?} {}",
        result.changes,
        serde_json::to_string(&result.changes).unwrap_or_default()
    );
    assert!(report.contains("denied the request"), "{report}");
    let escaped = serde_json::to_string(value).expect("json");
    let base64 = base64::engine::general_purpose::STANDARD.encode(value);
    for shown in ["denied-23216", &escaped[1..escaped.len() - 1], &base64] {
        assert!(
            !report.contains(shown),
            "the error shows {shown:?}: {report}"
        );
    }
    assert!(report.contains("<redacted"), "nothing was masked: {report}");
}

/// CVE-2026-42880 and CVE-2026-43824: server-side diffs returned Secret data in clear, and
/// the mask could be spoofed by a value that looked like the mask. Diffs of Secrets show
/// hashes; a value equal to the shown hash is a change like any other.
#[tokio::test]
async fn cve_2026_42880_secret_diffs_are_hashes_and_a_mask_cannot_pass_for_the_value() {
    let agent = Agent::start().await;
    let spec = AppSpec::new("diffs", APP_NS);
    // As the secrets stage hands Secrets to the engine: values in `data`.
    let secret = |v: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "data": {"password": base64::engine::general_purpose::STANDARD.encode(v)}})
    };
    let first = agent
        .engine
        .sync(&spec, "rev-1", vec![secret("value-one-42880")])
        .await;
    assert!(first.is_success(), "{:?}", first.error);
    let second = agent
        .engine
        .sync(&spec, "rev-2", vec![secret("value-two-42880")])
        .await;
    assert!(second.is_success(), "{:?}", second.error);
    let change = &second.changes.changes[0];
    assert_eq!(change.action, Action::Configured);
    let shown = serde_json::to_string(&second.changes).expect("json");
    for value in ["value-one-42880", "value-two-42880"] {
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        assert!(!shown.contains(value) && !shown.contains(&b64), "{shown}");
    }
    let mask = change
        .diff
        .iter()
        .find_map(|d| d.after.clone())
        .unwrap_or_else(|| panic!("no mask in the diff: {change:?}"));
    assert!(mask.contains("redacted"), "{mask}");
    // Git now holds the mask itself: a change, applied, not taken for the value it masks.
    let third = agent.engine.sync(&spec, "rev-3", vec![secret(&mask)]).await;
    assert!(third.is_success(), "{:?}", third.error);
    assert_eq!(third.changes.changes[0].action, Action::Configured);
    let live = agent
        .server
        .object("secrets", APP_NS, "db")
        .expect("the Secret");
    let stored = live
        .pointer("/data/password")
        .and_then(Value::as_str)
        .expect("data");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .expect("base64");
    assert_eq!(decoded, mask.as_bytes());
}

/// CVE-2023-40029 and Sealed Secrets 0.8.3: Secret bodies leaked through the
/// `last-applied-configuration` annotation. Tether applies server-side and drops the
/// annotation from every Secret, and the sealing library drops it before sealing.
#[tokio::test]
async fn cve_2023_40029_no_secret_carries_a_last_applied_configuration() {
    let agent = Agent::start().await;
    let dir = tempfile::tempdir().expect("temporary folder");
    cases::copy_dir(&good_app().join("good-web"), &dir.path().join("app")).expect("copy");
    let sealed_path = dir.path().join("app/secret.sealed.yaml");
    let sealed = std::fs::read_to_string(&sealed_path).expect("read");
    let leaky = r#"{"stringData":{"password":"corpus-test-password"}}"#;
    let sealed = sealed.replace(
        "  scope: strict\n",
        &format!(
            "  scope: strict\n  template:\n    metadata:\n      annotations:\n        kubectl.kubernetes.io/last-applied-configuration: '{leaky}'\n"
        ),
    );
    std::fs::write(&sealed_path, sealed).expect("write");
    match agent.run("web", dir.path(), "app").await {
        Outcome::Synced(result) => assert!(result.is_success()),
        Outcome::Failed(stage, message) => panic!("{stage:?}: {message}"),
    }
    let live = agent
        .server
        .object("secrets", APP_NS, "web-db")
        .expect("the Secret");
    let metadata = serde_json::to_string(&live["metadata"]).expect("json");
    assert!(!metadata.contains("last-applied"), "{metadata}");
    assert!(!metadata.contains("corpus-test-password"), "{metadata}");

    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{leaky}'\nstringData:\n  password: corpus-test-password\n"
    );
    let secret = tether_seal::sealed::UnsealedSecret::from_manifest(&manifest, "db.yaml")
        .expect("the manifest reads");
    let identity = tether_seal::keys::Identity::generate();
    let out = tether_seal::sealed::seal(
        &secret,
        &[identity.recipient()],
        tether_seal::sealed::Scope::Strict,
    )
    .expect("seal")
    .to_yaml()
    .expect("yaml");
    assert!(
        !out.contains("last-applied") && !out.contains("corpus-test-password"),
        "{out}"
    );
}

/// CVE-2023-25163: repository credentials appeared in error messages and logs. A failed
/// fetch with a password in the URL, and with a password from a file, shows neither.
#[tokio::test]
async fn cve_2023_25163_repository_credentials_never_appear_in_errors() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let closed = tether_tests::peers::free_port();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "file-pa55word-25163").expect("write");
    let user_file = dir.path().join("user");
    std::fs::write(&user_file, "git").expect("write");
    for (url, files) in [
        (
            format!("http://git:url-pa55word-25163@127.0.0.1:{closed}/config.git"),
            false,
        ),
        (format!("http://127.0.0.1:{closed}/config.git"), true),
    ] {
        let mut config = source_config(&url, dir.path().join("cache"), Duration::from_secs(20));
        if files {
            config.credentials =
                tether_agent::source::Credentials::load(&tether_agent::source::CredentialFiles {
                    username: Some(user_file.clone()),
                    password: Some(password_file.clone()),
                    ..Default::default()
                })
                .expect("credentials load");
        }
        let mut source = Source::new(config);
        let err = source.sync().await.expect_err("nothing listens there");
        let shown = format!(
            "{err} {err:?} {:?} {}",
            source.status(),
            source.config().url
        );
        for secret in ["url-pa55word-25163", "file-pa55word-25163"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
    }
}

/// CVE-2023-40584, CVE-2024-29893 and GHSA-jhqp-vf4w-rpwq: unbounded archives, indexes and
/// manifests exhausted memory and disk. A repository over the size limit is refused, a
/// server that never answers is cut by the timeout, and files and renders are capped.
#[tokio::test]
async fn cve_2024_29893_fetches_files_and_renders_are_bounded() {
    use tether_tests::gitserver::{GitDaemon, Upstream};
    let dir = tempfile::tempdir().expect("temporary folder");
    let upstream = Upstream::create(dir.path(), "config").expect("upstream");
    let mut noise = Vec::with_capacity(300_000);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..300_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.push((x & 0xff) as u8);
    }
    upstream.write("big.bin", &noise).expect("write");
    upstream.commit("big").expect("commit");
    let daemon = GitDaemon::start(dir.path()).expect("git daemon");
    let mut config = source_config(
        &daemon.url("config.git"),
        dir.path().join("cache-size"),
        tether_agent::source::DEFAULT_TIMEOUT,
    );
    config.max_bytes = 100_000;
    let err = Source::new(config)
        .sync()
        .await
        .expect_err("over the size limit");
    assert_eq!(err.reason(), "SizeLimitExceeded", "{err}");

    // A server that accepts and never answers.
    let silent = SilentServer::start();
    let config = source_config(
        &format!("http://127.0.0.1:{}/config.git", silent.port),
        dir.path().join("cache-hang"),
        Duration::from_secs(2),
    );
    let err = Source::new(config)
        .sync()
        .await
        .expect_err("cut by the timeout");
    assert_eq!(err.reason(), "FetchTimeout", "{err}");
    assert!(silent.connections() > 0, "the fetch never connected");
    drop(silent);

    // Files over the per-file cap, and renders over the document cap.
    let agent = Agent::start().await;
    let big = "a".repeat(9 * 1024 * 1024);
    let many: String = (0..10_001)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n---\n"))
        .collect();
    let l = layout(&[
        ("big/kustomization.yaml", "resources:\n- big.yaml\n"),
        (
            "big/big.yaml",
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata: {{v: {big}}}\n"
            ),
        ),
        ("many/many.yaml", &many),
    ]);
    for app in ["big", "many"] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Render, "{app}: {message}");
        assert!(
            message.contains("limit") || message.contains("budget"),
            "{app}: {message}"
        );
    }
}

/// The ApplicationSet SCM-provider warning (credentials sent to URLs taken from tenant
/// objects): a SecretStore in an app's manifests can name any server, so it may not make the
/// agent authenticate as itself there. The server it names is never contacted.
#[tokio::test]
async fn applicationset_scm_provider_an_apps_store_never_receives_the_agents_credentials() {
    let agent = Agent::start().await;
    let silent = SilentServer::start();
    let port = silent.port;
    let external = |store: &str, provider: &str| {
        format!(
            "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: {store}\nspec:\n  provider:\n{provider}\n---\napiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {store}-db\nspec:\n  secretStoreRef: {{name: {store}}}\n  target: {{name: {store}-db}}\n  data:\n  - secretKey: password\n    remoteRef: {{key: {APP_NS}/db, property: password}}\n"
        )
    };
    let vault = format!(
        "    vault:\n      server: http://127.0.0.1:{port}\n      path: secret\n      auth:\n        kubernetes: {{role: shop}}\n"
    );
    let aws = format!(
        "    aws:\n      service: SecretsManager\n      region: us-east-1\n      endpoint: http://127.0.0.1:{port}\n"
    );
    let l = layout(&[
        ("vault/store.yaml", &external("collector", &vault)),
        ("aws/store.yaml", &external("collector", &aws)),
    ]);
    for (app, field) in [
        ("vault", "spec.provider.vault.auth.kubernetes"),
        ("aws", "spec.provider.aws.endpoint"),
    ] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Secrets, "{app}: {message}");
        assert!(message.contains(field), "{app}: {message}");
    }
    assert_eq!(silent.connections(), 0, "the app's server was contacted");
}

/// GO-2024-3002 and CVE-2025-59537: unauthenticated webhook endpoints were a way to stall
/// the controller. A webhook needs its signature, and an oversized body is refused before
/// any work on it.
#[tokio::test]
async fn go_2024_3002_webhooks_need_a_signature_and_a_bounded_body() {
    use hmac::Mac as _;
    use tether_agent::source::webhook::{WebhookAuth, verify};
    let auth = WebhookAuth::Generic {
        header: "X-Signature".into(),
        secret: tether_agent::source::credentials::SecretText::new("webhook-3002".to_owned()),
    };
    let body = br#"{"ref":"refs/heads/main"}"#;
    let sign = |body: &[u8]| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"webhook-3002").expect("key");
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    assert!(verify(&auth, &[], body).is_err(), "no signature");
    let wrong = sign(b"another body");
    assert!(verify(&auth, &[("x-signature", wrong.as_bytes())], body).is_err());
    let good = sign(body);
    assert!(verify(&auth, &[("x-signature", good.as_bytes())], body).is_ok());
    let huge = vec![b' '; 2 * 1024 * 1024];
    let signed_huge = sign(&huge);
    let err = verify(&auth, &[("x-signature", signed_huge.as_bytes())], &huge)
        .expect_err("over the size limit");
    assert!(err.to_string().contains("limit"), "{err}");
}

/// CVE-2022-24730 (an API endpoint rendered out-of-bounds files), CVE-2025-55190 (API
/// tokens read repository credentials) and GO-2024-2877 (a cache without integrity holding
/// manifests): the running daemon serves no file by path, and neither its API, metrics,
/// Events, status, logs nor anything it writes to disk holds the webhook secret or a
/// decrypted value.
#[test]
fn cve_2022_24730_cve_2025_55190_go_2024_2877_the_daemon_shows_no_file_credential_or_plaintext() {
    let cluster = support::Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = support::Repo::start();
    let value = "daemon-plaintext-55190";
    repo.upstream
        .write(
            "apps/one/secret.yaml",
            support::sealed("one", "db", "password", value),
        )
        .expect("write");
    repo.upstream.commit("a sealed Secret").expect("commit");
    let dir = tempfile::tempdir().expect("temporary folder");
    let agent = support::Agent::start(&cluster, &repo, dir.path(), "agent-a");
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !cluster.exists(&["secret", "db", "-n", "one"]) {
        assert!(
            std::time::Instant::now() < deadline,
            "no decrypted Secret: {}\n{}\n{}",
            agent.logs(),
            agent.get("/api/v1/apps").1,
            cluster.ok(&["get", "events", "-A"])
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for path in [
        "/api/v1/apps/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/v1/apps/../../../../etc/passwd",
        "/api/v1/apps/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/api/v1/apps/one/../../../../../etc/passwd",
        "/../../../../etc/passwd",
        "/api/v1/apps?path=../../../../etc/passwd",
    ] {
        let (code, body) = agent.get(path);
        assert!(!body.contains("root:"), "{path} served a file: {body}");
        if path.contains("?path=") {
            assert!(!body.contains("passwd"), "{path}: {body}");
        } else {
            assert!((400..500).contains(&code), "{path}: {code} {body}");
        }
    }
    let mut shown = String::new();
    for path in [
        "/api/v1/apps",
        "/api/v1/apps/one",
        "/api/v1/apps/two",
        "/metrics",
        "/api/v1/recipient",
        "/readyz",
    ] {
        let (code, body) = agent.get(path);
        assert_eq!(code, 200, "{path}: {body}");
        shown.push_str(&body);
    }
    shown.push_str(&cluster.ok(&["get", "events", "-A", "-o", "json"]));
    shown.push_str(&cluster.ok(&["get", "configmaps", "-A", "-o", "json"]));
    shown.push_str(&agent.logs());
    let encoded = base64::engine::general_purpose::STANDARD.encode(value);
    for secret in [support::WEBHOOK_SECRET, value, encoded.as_str()] {
        assert!(!shown.contains(secret), "{secret} is shown");
    }
    // On disk: everything under the agent's folder (cache, config, logs) but the webhook
    // secret file the test wrote itself.
    let files = tether_tests::files_under(dir.path());
    assert!(
        files.len() > 3,
        "the agent wrote almost nothing: {} files",
        files.len()
    );
    for (file, bytes) in files.iter().filter(|(f, _)| !f.ends_with("webhook-secret")) {
        let text = String::from_utf8_lossy(bytes);
        for secret in [value, encoded.as_str()] {
            assert!(!text.contains(secret), "{} holds {secret}", file.display());
        }
    }
    agent.terminate();
}

// ---- Flux ----

/// CVE-2021-41254: tenant data reached a shell command. Tether runs no shell on data from
/// a repository or a URL: a host that reads as an ssh option and git's `ext::` transport
/// are refused, and nothing runs.
#[tokio::test]
async fn cve_2021_41254_no_shell_ever_runs_data_from_a_url() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mark = dir.path().join("ran");
    for url in [
        format!("ssh://-oProxyCommand=touch%20{}/config.git", mark.display()),
        format!("ext::sh -c touch% {}", mark.display()),
        format!("-u touch {}", mark.display()),
    ] {
        let config = source_config(&url, dir.path().join("cache"), Duration::from_secs(10));
        let result = Source::new(config).sync().await;
        assert!(result.is_err(), "{url} was accepted");
        assert!(!mark.exists(), "{url} ran a command");
    }
}

/// CVE-2022-24817: a kubeconfig's `exec` plugin ran arbitrary programs in the controller.
/// A kubeconfig with `exec` or an `auth-provider` is refused unless explicitly allowed, and
/// its program never runs.
#[tokio::test]
async fn cve_2022_24817_kubeconfigs_with_exec_or_auth_provider_are_refused() {
    use tether_agent::sync::client::{ClientOptions, connect};
    let dir = tempfile::tempdir().expect("temporary folder");
    let mark = dir.path().join("ran");
    let user_exec = format!(
        "exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [\"-c\", \"touch {}\"]\n      interactiveMode: Never\n",
        mark.display()
    );
    let user_provider = "auth-provider:\n      name: oidc\n      config: {client-id: x, idp-issuer-url: https://127.0.0.1:1}\n".to_owned();
    for (name, user) in [("exec", user_exec), ("provider", user_provider)] {
        let path = dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"https://127.0.0.1:1\"}}\nusers:\n- name: u\n  user:\n    {user}contexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n"
            ),
        )
        .expect("write");
        let options = ClientOptions {
            kubeconfig: Some(path),
            context: None,
            allow_exec: false,
        };
        let err = connect(&options).await.err().expect("refused");
        assert!(
            err.to_string().contains(if name == "exec" {
                "exec"
            } else {
                "auth-provider"
            }),
            "{err}"
        );
        assert!(!mark.exists(), "the exec program ran");
    }
}

/// CVE-2022-24877: a kustomization read the controller's filesystem (its service account
/// token). Every field of a kustomization that names a file is confined to the snapshot.
#[tokio::test]
async fn cve_2022_24877_every_kustomize_field_that_reads_files_stays_inside_the_snapshot() {
    let agent = Agent::start().await;
    let token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
    let escape = "../../outside/leak.yaml";
    let cm = configmap("cm");
    let cases = [
        ("resources", format!("resources:\n- {escape}\n")),
        (
            "patches",
            format!("resources:\n- cm.yaml\npatches:\n- path: {escape}\n"),
        ),
        (
            "patchesStrategicMerge",
            format!("resources:\n- cm.yaml\npatchesStrategicMerge:\n- {token}\n"),
        ),
        (
            "configMapGenerator",
            format!("configMapGenerator:\n- name: t\n  files:\n  - {token}\n"),
        ),
        (
            "secretGenerator",
            format!("secretGenerator:\n- name: t\n  envs:\n  - {escape}\n"),
        ),
        (
            "components",
            "resources:\n- cm.yaml\ncomponents:\n- ../../outside\n".to_owned(),
        ),
        ("crds", format!("resources:\n- cm.yaml\ncrds:\n- {token}\n")),
    ];
    let mut files: Vec<(String, String)> = Vec::new();
    for (field, kustomization) in &cases {
        files.push((format!("{field}/kustomization.yaml"), kustomization.clone()));
        files.push((format!("{field}/cm.yaml"), cm.clone()));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    let l = layout(&refs);
    for (field, _) in &cases {
        let (stage, message) = refused(&agent, field, &l, field).await;
        assert_eq!(stage, Stage::Render, "{field}: {message}");
        assert!(
            message.contains(field),
            "{field}: names no field: {message}"
        );
    }
}

/// CVE-2022-24878: a crafted kustomization looped forever. Cycles are found, and bases
/// reached by doubling paths (no cycle, exponential work) end at the load limit.
#[tokio::test]
async fn cve_2022_24878_cycles_and_doubling_bases_end_with_an_error() {
    let agent = Agent::start().await;
    let mut files = vec![
        (
            "cycle/kustomization.yaml".to_owned(),
            "resources:\n- ../loop\n".to_owned(),
        ),
        (
            "loop/kustomization.yaml".to_owned(),
            "resources:\n- ../cycle\n".to_owned(),
        ),
    ];
    let levels = 25;
    for i in 0..levels {
        files.push((
            format!("d{i}/kustomization.yaml"),
            "resources:\n- a\n- b\n".to_owned(),
        ));
        for side in ["a", "b"] {
            files.push((
                format!("d{i}/{side}/kustomization.yaml"),
                format!("namePrefix: {side}-\nresources:\n- ../../d{}\n", i + 1),
            ));
        }
    }
    files.push((format!("d{levels}/cm.yaml"), configmap("x")));
    files.push((
        format!("d{levels}/kustomization.yaml"),
        "resources:\n- cm.yaml\n".to_owned(),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    let l = layout(&refs);
    let (stage, message) = refused(&agent, "cycle", &l, "cycle").await;
    assert_eq!(stage, Stage::Render);
    assert!(message.contains("cycle"), "{message}");
    let (stage, message) = refused(&agent, "doubling", &l, "d0").await;
    assert_eq!(stage, Stage::Render);
    assert!(message.contains("kustomization files loaded"), "{message}");
    // The other apps keep syncing.
    match agent.run("good-web", &good_app(), "good-web").await {
        Outcome::Synced(result) => assert!(result.is_success()),
        Outcome::Failed(stage, message) => panic!("{stage:?}: {message}"),
    }
}

/// CVE-2022-39272: an invalid duration halted the processing of a whole object type.
/// Durations are validated with bounds, the bad object fails alone with its field named,
/// and the next app syncs.
#[tokio::test]
async fn cve_2022_39272_bad_durations_fail_their_own_object_only() {
    let agent = Agent::start().await;
    let external = |interval: &str| {
        format!(
            "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: vault\nspec:\n  provider:\n    vault:\n      server: http://127.0.0.1:9\n      auth:\n        tokenSecretRef: {{name: vault-token, key: token}}\n---\napiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: db\nspec:\n  refreshInterval: \"{interval}\"\n  secretStoreRef: {{name: vault}}\n  target: {{name: db}}\n  data:\n  - secretKey: password\n    remoteRef: {{key: {APP_NS}/db, property: password}}\n"
        )
    };
    let l = layout(&[
        ("tight/es.yaml", &external("1ms")),
        ("word/es.yaml", &external("soon")),
        ("huge/es.yaml", &external("99999999999999999999h")),
    ]);
    for app in ["tight", "word", "huge"] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Secrets, "{app}: {message}");
        assert!(message.contains("spec.refreshInterval"), "{app}: {message}");
    }
    match agent.run("good-api", &good_app(), "good-api").await {
        Outcome::Synced(result) => assert!(result.is_success()),
        Outcome::Failed(stage, message) => panic!("{stage:?}: {message}"),
    }
    // The agent's own durations are bounded too, with the field named.
    let config = "sources:\n  - name: config\n    url: git://127.0.0.1:9/config.git\n    ref: main\n    interval: 0s\napps: []\n";
    let err = tether_agent::config::Config::parse(config, "tether.yaml", Path::new("/"))
        .expect_err("an interval of zero");
    assert!(err.to_string().contains("sources[0].interval"), "{err}");
}

// ---- Sealed Secrets ----

/// CVE-2026-22728: re-encryption took the output scope from caller-supplied fields, widening
/// strict to cluster-wide. Re-sealing keeps the scope verified inside the values.
#[test]
fn cve_2026_22728_resealing_keeps_the_scope_verified_inside_the_values() {
    use tether_seal::sealed::{Scope, SealedSecret, UnsealedSecret, reseal, seal, unseal};
    let old = tether_seal::keys::Identity::generate();
    let manifest = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  password: scope-22728\n";
    let secret = UnsealedSecret::from_manifest(manifest, "db.yaml").expect("reads");
    let sealed = seal(&secret, &[old.recipient()], Scope::Strict).expect("seal");
    // The attacker widens the declared scope and retargets the object.
    let edited = sealed
        .to_yaml()
        .expect("yaml")
        .replace("scope: strict", "scope: cluster");
    let mut edited = SealedSecret::from_text(&edited, "db.sealed.yaml").expect("reads");
    edited.spec.template.metadata.annotations.insert(
        "sealedsecrets.bitnami.com/cluster-wide".into(),
        "true".into(),
    );
    assert_eq!(edited.spec.scope, Scope::Cluster);
    let new = tether_seal::keys::Identity::generate();
    let resealed = reseal(&edited, &[old], &[new.recipient()]).expect("reseal");
    assert_eq!(resealed.spec.scope, Scope::Strict);
    assert!(unseal(&resealed, std::slice::from_ref(&new), "attacker", "db").is_err());
    assert!(unseal(&resealed, std::slice::from_ref(&new), "shop", "other").is_err());
    assert!(unseal(&resealed, &[new], "shop", "db").is_ok());
}

/// The Sealed Secrets ownership guard: a decrypted Secret never replaces a Secret someone
/// else made (nor an object of another app) unless the live object says so, so committing a
/// sealed value cannot overwrite any Secret the agent can write.
#[tokio::test]
async fn sealed_secrets_ownership_guard_a_secret_tether_did_not_create_is_never_overwritten() {
    let agent = Agent::start().await;
    let original = base64::engine::general_purpose::STANDARD.encode("made-by-someone-else");
    agent
        .server
        .put_object(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "web-db", "namespace": APP_NS}, "data": {"password": original}}))
        .expect("a foreign Secret");
    match agent.run("good-web", &good_app(), "good-web").await {
        Outcome::Failed(stage, message) => {
            assert_eq!(stage, Stage::Sync, "{message}");
            assert!(message.contains("not created by Tether"), "{message}");
        }
        Outcome::Synced(result) => panic!("overwrote it: {:?}", result.changes),
    }
    let live = agent
        .server
        .object("secrets", APP_NS, "web-db")
        .expect("still there");
    assert_eq!(live["data"]["password"], json!(original));
    // The owner hands it over on the live object.
    let mut handed = live.clone();
    handed["metadata"]["annotations"] = json!({"tether.dev/adopt": "true"});
    agent.server.put_object(handed).expect("annotate");
    match agent.run("good-web", &good_app(), "good-web").await {
        Outcome::Synced(result) => assert!(result.is_success()),
        Outcome::Failed(stage, message) => panic!("{stage:?}: {message}"),
    }
    let live = agent
        .server
        .object("secrets", APP_NS, "web-db")
        .expect("the Secret");
    let expected = base64::engine::general_purpose::STANDARD.encode("corpus-web-value");
    assert_eq!(live["data"]["password"], json!(expected));

    // Another app's object is not taken either.
    let l = layout(&[
        ("one/cm.yaml", &configmap("shared")),
        ("two/cm.yaml", &configmap("shared")),
    ]);
    match agent.run("app-one", &l.repo, "one").await {
        Outcome::Synced(result) => assert!(result.is_success()),
        Outcome::Failed(stage, message) => panic!("{stage:?}: {message}"),
    }
    let (stage, message) = refused(&agent, "app-two", &l, "two").await;
    assert_eq!(stage, Stage::Sync, "{message}");
    assert!(message.contains("owned by app app-one"), "{message}");
}

// ---- SOPS ----

/// Set in the child process of the test below.
const CHILD: &str = "TETHER_INCIDENT_RELATIVE_PATH_CHILD";

/// GHSA-x5c7-x7m2-rhmf: SOPS ran helper programs found in the working folder. Tether runs
/// `ssh` (and `gpg`) by absolute path: with `.` first in `PATH` and an `ssh` in the working
/// folder, a fetch over SSH still never runs that one. The fetch runs in a child process
/// (this test binary again) so that its `PATH` and working folder are its own.
#[test]
fn ghsa_x5c7_x7m2_rhmf_helper_programs_never_come_from_a_relative_path() {
    if std::env::var_os(CHILD).is_some() {
        let cache = std::env::current_dir().expect("cwd").join("cache");
        let port = tether_tests::peers::free_port();
        let config = source_config(
            &format!("ssh://git@127.0.0.1:{port}/config.git"),
            cache,
            Duration::from_secs(20),
        );
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let result = runtime.block_on(Source::new(config).sync());
        assert!(result.is_err(), "nothing listens there");
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temporary folder");
    let mark = dir.path().join("planted-ssh-ran");
    let planted = dir.path().join("ssh");
    std::fs::write(
        &planted,
        format!("#!/bin/sh\ntouch '{}'\nexit 1\n", mark.display()),
    )
    .expect("write");
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(".:{}", std::env::var("PATH").unwrap_or_default());
    let status = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "ghsa_x5c7_x7m2_rhmf_helper_programs_never_come_from_a_relative_path",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("PATH", path)
        .current_dir(dir.path())
        .status()
        .expect("run the child");
    assert!(status.success(), "the child failed");
    assert!(!mark.exists(), "the ssh from the working folder ran");
}
