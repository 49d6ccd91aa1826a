//! The Git source against real servers: git daemon (git://), lighttpd + git-http-backend
//! (smart HTTP with basic auth and a bearer-token area), sshd (ssh:// with a key and strict
//! known_hosts), and file://. Every server binds 127.0.0.1 on a port chosen at run time and
//! is stopped by PID when its guard drops.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tether_agent::source::credentials::{CredentialFiles, Credentials, SecretText, SshAuth};
use tether_agent::source::discovery::{DirectoryRule, DiscoveryConfig, discover};
use tether_agent::source::signature::{AllowedSigners, SignaturePolicy};
use tether_agent::source::trigger::{self, Cause, Poll, Trigger};
use tether_agent::source::webhook::{self, WebhookAuth};
use tether_agent::source::{Depth, RedactedUrl, Reference, Source, SourceConfig, SourceStatus};
use tether_agent::tree::{RelPath, TreeError};
use tether_tests::gitserver::{GitDaemon, HttpGit, SshGit, TestCa, Upstream, run};

// ---- log capture: every tracing line of this test binary, searched for secrets ----

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut log) = self.0.lock() {
            log.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(Arc::clone(&buffer));
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    })
}

fn captured() -> String {
    String::from_utf8_lossy(&logs().lock().expect("log lock")).into_owned()
}

// ---- helpers ----

struct Fixture {
    root: tempfile::TempDir,
    upstream: Upstream,
}

fn fixture() -> Fixture {
    logs();
    let root = tempfile::tempdir().expect("tempdir");
    let upstream = Upstream::create(root.path(), "config").expect("upstream");
    Fixture { root, upstream }
}

impl Fixture {
    fn cache(&self, name: &str) -> std::path::PathBuf {
        self.root.path().join("cache").join(name)
    }

    fn source(&self, url: &str, reference: Reference) -> SourceConfig {
        let mut config = SourceConfig::new(
            "config",
            RedactedUrl::new(url),
            reference,
            self.cache("main"),
        );
        config.timeout = Duration::from_secs(30);
        config
    }
}

fn main_branch() -> Reference {
    Reference::branch("main").expect("branch")
}

fn read(source: &Source, path: &str) -> String {
    let snapshot = source.current().expect("a snapshot");
    snapshot
        .tree
        .read_to_string(&RelPath::parse(path).expect("path"))
        .expect("read")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn commit_count(cache: &Path) -> String {
    run(tether_tests::gitserver::git()
        .arg("--git-dir")
        .arg(cache)
        .args(["rev-list", "--count", "refs/heads/main"]))
    .expect("rev-list")
}

// ---- clone, re-fetch, history ----

#[test]
fn shallow_clone_over_git_daemon_reads_files_from_the_object_database() {
    let fx = fixture();
    fx.upstream
        .write("apps/web/cm.yaml", "kind: ConfigMap\n")
        .expect("write");
    fx.upstream.commit("one").expect("commit");
    fx.upstream
        .write("apps/web/cm.yaml", "kind: ConfigMap # 2\n")
        .expect("write");
    let head = fx.upstream.commit("two").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");

    let mut source = Source::new(fx.source(&daemon.url("config.git"), main_branch()));
    let snapshot = rt().block_on(source.sync()).expect("sync");
    assert_eq!(snapshot.revision, head);
    assert_eq!(snapshot.ref_name, "refs/heads/main");
    assert!(snapshot.shallow, "shallow by default");
    assert!(fx.cache("main").join("shallow").is_file());
    assert_eq!(commit_count(&fx.cache("main")), "1");
    assert_eq!(read(&source, "apps/web/cm.yaml"), "kind: ConfigMap # 2\n");
    // No worktree: the cache is a bare repository.
    assert!(!fx.cache("main").join("apps").exists());
    assert_eq!(source.status(), &SourceStatus::Ready { revision: head });
}

#[test]
fn full_clone_on_request_has_the_whole_history() {
    let fx = fixture();
    for i in 0..3 {
        fx.upstream.write("n.txt", i.to_string()).expect("write");
        fx.upstream.commit(&format!("c{i}")).expect("commit");
    }
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut config = fx.source(&daemon.url("config.git"), main_branch());
    config.depth = Depth::Full;
    let mut source = Source::new(config);
    let snapshot = rt().block_on(source.sync()).expect("sync");
    assert!(!snapshot.shallow);
    assert_eq!(commit_count(&fx.cache("main")), "3");
}

#[test]
fn polling_refetch_finds_new_commits_and_follows_a_force_push() {
    let fx = fixture();
    fx.upstream.write("a.yaml", "v1").expect("write");
    let first = fx.upstream.commit("one").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut source = Source::new(fx.source(&daemon.url("config.git"), main_branch()));
    let rt = rt();
    rt.block_on(source.sync()).expect("sync 1");

    fx.upstream.write("a.yaml", "v2").expect("write");
    let second = fx.upstream.commit("two").expect("commit");
    let snapshot = rt.block_on(source.sync()).expect("sync 2");
    assert_eq!(snapshot.revision, second);
    assert_eq!(read(&source, "a.yaml"), "v2");

    // Rewrite history upstream: drop `two`, commit something else, force-push.
    fx.upstream.reset_hard(&first).expect("reset");
    fx.upstream.write("a.yaml", "v3-rewritten").expect("write");
    let rewritten = fx.upstream.commit("rewritten").expect("commit");
    let snapshot = rt.block_on(source.sync()).expect("sync 3");
    assert_eq!(snapshot.revision, rewritten);
    assert_eq!(read(&source, "a.yaml"), "v3-rewritten");
    assert!(snapshot.shallow);
}

#[test]
fn file_url_clone_works() {
    let fx = fixture();
    fx.upstream.write("k.yaml", "x").expect("write");
    let head = fx.upstream.commit("one").expect("commit");
    let url = format!("file://{}", fx.upstream.bare.display());
    let mut source = Source::new(fx.source(&url, main_branch()));
    let snapshot = rt().block_on(source.sync()).expect("sync");
    assert_eq!(snapshot.revision, head);
}

// ---- tags, semver, pinned commits ----

#[test]
fn tag_and_semver_tracking_pick_the_right_commit() {
    let fx = fixture();
    let mut commits = std::collections::BTreeMap::new();
    for tag in ["v1.1.0", "v1.2.0", "1.9.3", "v1.10.0", "v2.0.0"] {
        fx.upstream.write("version", tag).expect("write");
        commits.insert(tag, fx.upstream.commit(tag).expect("commit"));
        if tag == "v1.10.0" {
            fx.upstream.annotated_tag(tag).expect("tag");
        } else {
            fx.upstream.tag(tag).expect("tag");
        }
    }
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let url = daemon.url("config.git");
    let rt = rt();

    let mut config = fx.source(&url, Reference::tag("v1.2.0").expect("tag"));
    config.cache_dir = fx.cache("tag");
    let mut source = Source::new(config);
    let snapshot = rt.block_on(source.sync()).expect("tag sync");
    assert_eq!(snapshot.revision, commits["v1.2.0"]);
    assert_eq!(snapshot.ref_name, "refs/tags/v1.2.0");

    // The highest tag in range is an annotated tag: it is peeled to its commit.
    let mut config = fx.source(&url, Reference::semver(">=1.2.0 <2.0.0").expect("range"));
    config.cache_dir = fx.cache("semver");
    let mut source = Source::new(config);
    let snapshot = rt.block_on(source.sync()).expect("semver sync");
    assert_eq!(snapshot.revision, commits["v1.10.0"]);
    assert_eq!(snapshot.ref_name, "refs/tags/v1.10.0");
    assert_eq!(read(&source, "version"), "v1.10.0");

    // A new matching tag is followed on the next fetch.
    fx.upstream.write("version", "v1.11.0").expect("write");
    let newer = fx.upstream.commit("v1.11.0").expect("commit");
    fx.upstream.tag("v1.11.0").expect("tag");
    let snapshot = rt.block_on(source.sync()).expect("semver sync 2");
    assert_eq!(snapshot.revision, newer);

    // No matching tag: RefNotFound.
    let mut config = fx.source(&url, Reference::semver(">=3.0.0").expect("range"));
    config.cache_dir = fx.cache("none");
    let mut source = Source::new(config);
    let err = rt.block_on(source.sync()).expect_err("no tag matches");
    assert_eq!(err.reason(), "RefNotFound", "{err}");
}

#[test]
fn pinned_commit_is_fetched_even_when_the_branch_moved_on() {
    let fx = fixture();
    fx.upstream.write("a", "pinned").expect("write");
    let pinned = fx.upstream.commit("pinned").expect("commit");
    fx.upstream.write("a", "later").expect("write");
    fx.upstream.commit("later").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut source = Source::new(fx.source(
        &daemon.url("config.git"),
        Reference::commit(&pinned).expect("commit"),
    ));
    let snapshot = rt().block_on(source.sync()).expect("sync");
    assert_eq!(snapshot.revision, pinned);
    assert_eq!(read(&source, "a"), "pinned");
}

// ---- failures ----

#[test]
fn unreachable_remote_or_deleted_branch_keeps_the_last_good_snapshot_and_degrades() {
    let fx = fixture();
    fx.upstream
        .write("apps/web/cm.yaml", "kind: ConfigMap\n")
        .expect("write");
    let head = fx.upstream.commit("one").expect("commit");
    let mut daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let url = daemon.url("config.git");
    let mut source = Source::new(fx.source(&url, main_branch()));
    let rt = rt();
    rt.block_on(source.sync()).expect("sync");

    daemon.process.stop();
    let err = rt.block_on(source.sync()).expect_err("remote is down");
    assert_eq!(err.reason(), "FetchFailed", "{err}");
    match source.status() {
        SourceStatus::Degraded {
            reason, last_good, ..
        } => {
            assert_eq!(*reason, "FetchFailed");
            assert_eq!(last_good.as_deref(), Some(head.as_str()));
        }
        other => panic!("expected Degraded, got {other:?}"),
    }
    // The last good snapshot is still served, with its files.
    assert_eq!(source.current().expect("kept").revision, head);
    assert_eq!(read(&source, "apps/web/cm.yaml"), "kind: ConfigMap\n");

    // The branch is followed but deleted upstream: RefNotFound, last good kept.
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut config = fx.source(
        &daemon.url("config.git"),
        Reference::branch("gone").expect("b"),
    );
    config.cache_dir = fx.cache("main");
    let mut gone = Source::new(config);
    let err = rt.block_on(gone.sync()).expect_err("no such branch");
    assert_eq!(err.reason(), "RefNotFound", "{err}");
    assert!(gone.current().is_none(), "never an empty snapshot");
}

#[test]
fn corrupt_cache_is_recloned() {
    let fx = fixture();
    fx.upstream.write("a.yaml", "ok").expect("write");
    let head = fx.upstream.commit("one").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let url = daemon.url("config.git");
    let rt = rt();
    {
        let mut source = Source::new(fx.source(&url, main_branch()));
        rt.block_on(source.sync()).expect("sync");
    }
    // Overwrite every pack and loose object with garbage, as a disk error would.
    let objects = fx.cache("main").join("objects");
    let mut corrupted = 0;
    let mut stack = vec![objects];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "pack" || e == "idx")
                || path
                    .parent()
                    .is_some_and(|p| p.file_name().is_some_and(|n| n.len() == 2))
            {
                let mut perms = std::fs::metadata(&path).expect("meta").permissions();
                #[allow(clippy::permissions_set_readonly_false)]
                perms.set_readonly(false);
                std::fs::set_permissions(&path, perms).expect("chmod");
                std::fs::write(&path, b"garbage garbage garbage").expect("corrupt");
                corrupted += 1;
            }
        }
    }
    assert!(corrupted > 0, "something was corrupted");

    // A restarted agent (a new Source over the same cache) re-clones and serves the commit.
    let mut source = Source::new(fx.source(&url, main_branch()));
    let snapshot = rt.block_on(source.sync()).expect("sync after corruption");
    assert_eq!(snapshot.revision, head);
    assert_eq!(read(&source, "a.yaml"), "ok");
    assert!(captured().contains("re-cloning"), "the re-clone is logged");
}

#[test]
fn oversize_repository_is_refused() {
    let fx = fixture();
    // Incompressible content, larger than the limit.
    let mut noise = Vec::with_capacity(400_000);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..400_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.push((x & 0xff) as u8);
    }
    fx.upstream.write("big.bin", &noise).expect("write");
    fx.upstream.commit("big").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut config = fx.source(&daemon.url("config.git"), main_branch());
    config.max_bytes = 100_000;
    let mut source = Source::new(config);
    let err = rt().block_on(source.sync()).expect_err("over the limit");
    assert_eq!(err.reason(), "SizeLimitExceeded", "{err}");
    assert!(source.current().is_none());
}

// ---- snapshots ----

#[test]
fn snapshot_refuses_path_and_symlink_escapes() {
    let fx = fixture();
    fx.upstream.write("base/cm.yaml", "cm").expect("write");
    fx.upstream.symlink("alias", "base").expect("symlink");
    fx.upstream
        .symlink("base/link.yaml", "../base/cm.yaml")
        .expect("symlink");
    fx.upstream.symlink("abs", "/etc/passwd").expect("symlink");
    fx.upstream
        .symlink("up/escape.yaml", "../../outside.yaml")
        .expect("symlink");
    fx.upstream.commit("links").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut source = Source::new(fx.source(&daemon.url("config.git"), main_branch()));
    rt().block_on(source.sync()).expect("sync");
    let tree = &source.current().expect("snapshot").tree;

    // Links inside the tree resolve.
    assert_eq!(read(&source, "alias/cm.yaml"), "cm");
    assert_eq!(read(&source, "base/link.yaml"), "cm");
    // Links that leave it are refused.
    for path in ["abs", "up/escape.yaml"] {
        let err = tree
            .read(&RelPath::parse(path).expect("path"))
            .expect_err(path);
        assert!(
            matches!(err, TreeError::SymlinkEscapesRoot { .. }),
            "{path}: {err}"
        );
    }
    // Paths cannot even name anything above the root.
    assert!(RelPath::parse("../config.git/HEAD").is_err());
    assert!(RelPath::parse("/etc/passwd").is_err());
    // A listing names the escaping link instead of hiding it.
    let err = tree.list(&RelPath::root()).expect_err("abs escapes");
    assert!(err.to_string().contains("abs"), "{err}");
}

// ---- app discovery ----

#[test]
fn discovery_follows_directories_across_commits() {
    let fx = fixture();
    for app in ["web", "db"] {
        fx.upstream
            .write(
                &format!("apps/{app}/overlays/production/kustomization.yaml"),
                "resources: []\n",
            )
            .expect("write");
    }
    fx.upstream.commit("two apps").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut source = Source::new(fx.source(&daemon.url("config.git"), main_branch()));
    let config = DiscoveryConfig {
        directories: vec![
            DirectoryRule {
                path: "apps/*/overlays/production".to_owned(),
                exclude: false,
            },
            DirectoryRule {
                path: "apps/legacy/**".to_owned(),
                exclude: true,
            },
        ],
        name: "{{path[1]}}".to_owned(),
        namespace: Some("{{path.basename}}-{{path[1]}}".to_owned()),
    };
    let rt = rt();
    let names = |source: &Source| -> Vec<String> {
        discover(&source.current().expect("snapshot").tree, &config)
            .expect("discover")
            .into_iter()
            .map(|app| format!("{}@{}", app.name, app.namespace.unwrap_or_default()))
            .collect()
    };
    rt.block_on(source.sync()).expect("sync");
    assert_eq!(names(&source), ["db@production-db", "web@production-web"]);

    fx.upstream.remove("apps/db").expect("remove");
    for app in ["shop", "legacy"] {
        fx.upstream
            .write(
                &format!("apps/{app}/overlays/production/kustomization.yaml"),
                "resources: []\n",
            )
            .expect("write");
    }
    fx.upstream
        .commit("db leaves, shop arrives")
        .expect("commit");
    rt.block_on(source.sync()).expect("sync");
    assert_eq!(
        names(&source),
        ["shop@production-shop", "web@production-web"]
    );
}

// ---- signed commits ----

fn ssh_keypair(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let key = dir.join(name);
    run(std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key))
    .expect("ssh-keygen");
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    (key, public.trim().to_owned())
}

#[test]
fn ssh_signed_commits_are_accepted_and_unsigned_or_unknown_ones_rejected() {
    let fx = fixture();
    let keys = fx.root.path().join("keys");
    std::fs::create_dir_all(&keys).expect("mkdir");
    let (trusted, trusted_pub) = ssh_keypair(&keys, "trusted");
    let (stranger, _) = ssh_keypair(&keys, "stranger");
    let allowed = keys.join("allowed_signers");
    std::fs::write(
        &allowed,
        format!("release@tether.invalid namespaces=\"git\" {trusted_pub}\n"),
    )
    .expect("write");
    let policy = SignaturePolicy::Ssh(AllowedSigners::load(&allowed).expect("allowed signers"));

    fx.upstream.write("a", "signed").expect("write");
    let signed = fx
        .upstream
        .commit_ssh_signed("signed", &trusted)
        .expect("signed commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut config = fx.source(&daemon.url("config.git"), main_branch());
    config.signatures = policy;
    let mut source = Source::new(config);
    let rt = rt();
    let snapshot = rt.block_on(source.sync()).expect("signed commit syncs");
    assert_eq!(snapshot.revision, signed);
    assert_eq!(snapshot.signer.as_deref(), Some("release@tether.invalid"));

    // Unsigned: not synced, the signed one stays.
    fx.upstream.write("a", "unsigned").expect("write");
    fx.upstream.commit("unsigned").expect("commit");
    let err = rt.block_on(source.sync()).expect_err("unsigned");
    assert_eq!(err.reason(), "SignatureRejected");
    assert!(err.to_string().contains("not signed"), "{err}");
    assert_eq!(source.current().expect("kept").revision, signed);
    assert_eq!(read(&source, "a"), "signed");

    // Signed by a key that is not in allowed_signers.
    fx.upstream.write("a", "stranger").expect("write");
    fx.upstream
        .commit_ssh_signed("stranger", &stranger)
        .expect("commit");
    let err = rt.block_on(source.sync()).expect_err("unknown signer");
    assert_eq!(err.reason(), "SignatureRejected");
    assert!(err.to_string().contains("unknown key SHA256:"), "{err}");
    assert!(matches!(
        source.status(),
        SourceStatus::Degraded {
            reason: "SignatureRejected",
            ..
        }
    ));
    assert_eq!(source.current().expect("kept").revision, signed);
}

// ---- webhooks and triggers ----

fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn signed_webhook_starts_a_fetch_at_once_and_a_bad_signature_is_refused() {
    let fx = fixture();
    fx.upstream.write("a", "1").expect("write");
    fx.upstream.commit("one").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let url = daemon.url("config.git");
    let source = Arc::new(tokio::sync::Mutex::new(Source::new(
        fx.source(&url, main_branch()),
    )));
    let auth = WebhookAuth::GitHub {
        secret: SecretText::new("hook-secret".to_owned()),
    };
    let rt = rt();
    rt.block_on(async {
        let trigger = Trigger::new();
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop) = tokio::sync::oneshot::channel::<()>();
        // Polling is an hour away: only the webhook can cause the second fetch.
        let poll = Poll {
            interval: Duration::from_secs(3600),
            jitter: 0.0,
        };
        let loop_source = Arc::clone(&source);
        let task = tokio::spawn(trigger::run(
            trigger.clone(),
            poll,
            async {
                let _ = stop.await;
            },
            move |cause| {
                let source = Arc::clone(&loop_source);
                let seen = seen_tx.clone();
                async move {
                    let result = source.lock().await.sync().await;
                    let _ = seen.send((cause, result.map(|s| s.revision).ok()));
                }
            },
        ));
        let (cause, first) = seen.recv().await.expect("first fetch");
        assert_eq!(cause, Cause::Start);
        assert!(first.is_some());

        fx.upstream.write("a", "2").expect("write");
        let second = fx.upstream.commit("two").expect("commit");
        let body = format!(
            r#"{{"ref":"refs/heads/main","after":"{second}","repository":{{"clone_url":"{url}"}}}}"#
        );
        // A forged signature is refused and triggers nothing.
        let forged = github_signature("not-the-secret", body.as_bytes());
        let err = webhook::verify(
            &auth,
            &[("X-Hub-Signature-256", forged.as_bytes())],
            body.as_bytes(),
        )
        .expect_err("forged");
        assert_eq!(err.reason(), "WebhookRejected");
        // The genuine one is accepted, concerns this repository, and starts a fetch at once.
        let sig = github_signature("hook-secret", body.as_bytes());
        let event = webhook::verify(
            &auth,
            &[("x-hub-signature-256", sig.as_bytes())],
            body.as_bytes(),
        )
        .expect("genuine");
        assert!(event.concerns(&url));
        assert_eq!(event.git_ref.as_deref(), Some("refs/heads/main"));
        trigger.trigger();
        let (cause, revision) = tokio::time::timeout(Duration::from_secs(60), seen.recv())
            .await
            .expect("a fetch follows the webhook")
            .expect("fetch result");
        assert_eq!(cause, Cause::Trigger);
        assert_eq!(revision.as_deref(), Some(second.as_str()));
        let _ = stop_tx.send(());
        task.await.expect("loop ends");
    });
}

#[test]
fn triggers_during_a_fetch_coalesce_into_one_more_fetch() {
    rt().block_on(async {
        let trigger = Trigger::new();
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (stop_tx, stop) = tokio::sync::oneshot::channel::<()>();
        let loop_gate = Arc::clone(&gate);
        let task = tokio::spawn(trigger::run(
            trigger.clone(),
            Poll {
                interval: Duration::from_secs(3600),
                jitter: 0.0,
            },
            async {
                let _ = stop.await;
            },
            move |cause| {
                let gate = Arc::clone(&loop_gate);
                let seen = seen_tx.clone();
                async move {
                    let _ = seen.send(cause);
                    // Each fetch waits until the test lets it finish.
                    if let Ok(permit) = gate.acquire().await {
                        permit.forget();
                    }
                }
            },
        ));
        assert_eq!(seen.recv().await, Some(Cause::Start));
        for _ in 0..50 {
            trigger.trigger();
        }
        gate.add_permits(1);
        assert_eq!(seen.recv().await, Some(Cause::Trigger));
        gate.add_permits(1);
        // Fifty triggers during one fetch gave exactly one more fetch, and no further one.
        let extra = tokio::time::timeout(Duration::from_millis(500), seen.recv()).await;
        assert!(extra.is_err(), "an extra fetch ran: {extra:?}");
        // A later trigger is still honoured.
        trigger.trigger();
        assert_eq!(seen.recv().await, Some(Cause::Trigger));
        gate.add_permits(1);
        let _ = stop_tx.send(());
        task.await.expect("loop ends");
    });
}

#[test]
fn polling_fetches_again_after_the_interval() {
    rt().block_on(async {
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(trigger::run(
            Trigger::new(),
            Poll {
                interval: Duration::from_millis(20),
                jitter: 0.5,
            },
            async {
                let _ = stop.await;
            },
            move |cause| {
                let seen = seen_tx.clone();
                async move {
                    let _ = seen.send(cause);
                }
            },
        ));
        assert_eq!(seen.recv().await, Some(Cause::Start));
        assert_eq!(seen.recv().await, Some(Cause::Poll));
        assert_eq!(seen.recv().await, Some(Cause::Poll));
        let _ = stop_tx.send(());
        task.await.expect("loop ends");
    });
}

// ---- credentials over smart HTTP, and SSH ----

const PASSWORD: &str = "pw-Zq8x-never-logged";
const TOKEN: &str = "tok-Hn4w-never-logged";

fn secret_files(dir: &Path, entries: &[(&str, &str)]) -> CredentialFiles {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut files = CredentialFiles::default();
    for (name, value) in entries {
        let path = dir.join(name);
        std::fs::write(&path, format!("{value}\n")).expect("write");
        match *name {
            "username" => files.username = Some(path),
            "password" => files.password = Some(path),
            "token" => files.bearer_token = Some(path),
            _ => {}
        }
    }
    files
}

#[test]
fn https_with_a_private_ca_is_refused_without_the_ca_bundle_and_works_with_it() {
    let fx = fixture();
    fx.upstream.write("a", "over tls").expect("write");
    let head = fx.upstream.commit("one").expect("commit");
    let ca_dir = fx.root.path().join("ca");
    std::fs::create_dir_all(&ca_dir).expect("mkdir");
    let ca = TestCa::create(&ca_dir).expect("a CA and a server certificate");
    let https = HttpGit::start_tls(fx.root.path(), Some(("ci", PASSWORD)), &ca.server_pem)
        .expect("lighttpd with TLS");
    assert!(https.url("config.git").starts_with("https://127.0.0.1:"));
    let rt = rt();

    // The system roots do not know the private CA: the certificate is refused, clearly,
    // and the password is not in the error.
    let mut config = fx.source(&https.url("config.git"), main_branch());
    config.credentials = Credentials::load(&secret_files(
        &fx.root.path().join("tls-no-ca"),
        &[("username", "ci"), ("password", PASSWORD)],
    ))
    .expect("credentials");
    config.cache_dir = fx.cache("tls-no-ca");
    let err = rt
        .block_on(Source::new(config).sync())
        .expect_err("a server certificate from an unknown CA is refused");
    let message = format!("{err} {err:?}");
    assert!(
        message.to_lowercase().contains("certificate"),
        "the error names the certificate problem: {message}"
    );
    assert!(
        !message.contains(PASSWORD),
        "the password leaked: {message}"
    );

    // With the CA bundle from a file, the clone works over TLS with basic auth.
    let mut files = secret_files(
        &fx.root.path().join("tls-ca"),
        &[("username", "ci"), ("password", PASSWORD)],
    );
    files.ca_bundle = Some(ca.ca_pem.clone());
    let mut config = fx.source(&https.url("config.git"), main_branch());
    config.credentials = Credentials::load(&files).expect("credentials");
    config.cache_dir = fx.cache("tls-ca");
    let mut source = Source::new(config);
    let snapshot = rt
        .block_on(source.sync())
        .unwrap_or_else(|err| panic!("https sync with the CA: {err}\n{}", https.error_log()));
    assert_eq!(snapshot.revision, head);
    let read = snapshot
        .tree
        .read(&RelPath::parse("a").expect("path"))
        .expect("read");
    assert_eq!(read, b"over tls");
}

#[test]
fn http_credentials_work_never_leak_and_wrong_ones_fail_clearly() {
    let fx = fixture();
    fx.upstream.write("a", "private").expect("write");
    let head = fx.upstream.commit("one").expect("commit");
    let http =
        HttpGit::start(fx.root.path(), Some(("ci", PASSWORD)), Some(TOKEN)).expect("lighttpd");
    let rt = rt();
    let mut errors = Vec::new();

    // Basic auth from files.
    let mut config = fx.source(&http.url("config.git"), main_branch());
    config.credentials = Credentials::load(&secret_files(
        &fx.root.path().join("basic"),
        &[("username", "ci"), ("password", PASSWORD)],
    ))
    .expect("credentials");
    config.cache_dir = fx.cache("basic");
    let mut source = Source::new(config);
    let snapshot = rt
        .block_on(source.sync())
        .unwrap_or_else(|err| panic!("basic auth sync: {err}\n{}", http.error_log()));
    assert_eq!(snapshot.revision, head);

    // Bearer token from a file.
    let mut config = fx.source(&http.bearer_url("config.git"), main_branch());
    config.credentials = Credentials::load(&secret_files(
        &fx.root.path().join("bearer"),
        &[("token", TOKEN)],
    ))
    .expect("credentials");
    config.cache_dir = fx.cache("bearer");
    let mut source = Source::new(config);
    let snapshot = rt.block_on(source.sync()).expect("bearer sync");
    assert_eq!(snapshot.revision, head);

    // Wrong password: a clear authentication error.
    let mut config = fx.source(&http.url("config.git"), main_branch());
    config.credentials = Credentials::load(&secret_files(
        &fx.root.path().join("wrong"),
        &[("username", "ci"), ("password", "wrong-password-value")],
    ))
    .expect("credentials");
    config.cache_dir = fx.cache("wrong");
    let mut source = Source::new(config);
    let err = rt.block_on(source.sync()).expect_err("wrong password");
    assert_eq!(err.reason(), "AuthFailed", "{err}");
    assert!(
        err.to_string().contains("authentication failed")
            && err.to_string().contains("/git/config.git"),
        "the error says what failed and where: {err}"
    );
    errors.push(err.to_string());
    errors.push(format!("{err:?}"));
    errors.push(format!("{:?}", source.status()));

    // Wrong token.
    let mut config = fx.source(&http.bearer_url("config.git"), main_branch());
    config.credentials = Credentials::load(&secret_files(
        &fx.root.path().join("wrongtok"),
        &[("token", "tok-wrong-value")],
    ))
    .expect("credentials");
    config.cache_dir = fx.cache("wrongtok");
    let mut source = Source::new(config);
    let err = rt.block_on(source.sync()).expect_err("wrong token");
    assert_eq!(err.reason(), "AuthFailed", "{err}");
    errors.push(err.to_string());

    // Credentials in the URL itself, against a server that is down: the error and logs
    // show the URL redacted.
    let port = tether_tests::peers::free_port();
    let url = format!("http://ci:{PASSWORD}@127.0.0.1:{port}/git/config.git");
    let mut config = fx.source(&url, main_branch());
    config.cache_dir = fx.cache("userinfo");
    let mut source = Source::new(config);
    let err = rt.block_on(source.sync()).expect_err("nothing listens");
    let text = err.to_string();
    assert!(text.contains("ci:***@127.0.0.1"), "{text}");
    errors.push(text);
    errors.push(format!("{:?}", source.status()));
    errors.push(format!("{:?}", source.config().url));

    let logs = captured();
    assert!(logs.contains("fetch failed"), "failures are logged");
    for secret in [PASSWORD, TOKEN] {
        assert!(!logs.contains(secret), "secret in the logs:\n{logs}");
        for error in &errors {
            assert!(!error.contains(secret), "secret in an error: {error}");
        }
    }
}

#[test]
fn ssh_clone_with_a_key_and_strict_known_hosts() {
    let fx = fixture();
    fx.upstream.write("a", "over ssh").expect("write");
    let head = fx.upstream.commit("one").expect("commit");
    let sshd = SshGit::start().expect("sshd");
    let url = sshd.url(&fx.upstream.bare);
    let rt = rt();

    let mut config = fx.source(&url, main_branch());
    config.credentials = Credentials {
        ssh: Some(SshAuth {
            private_key: sshd.client_key.clone(),
            known_hosts: Some(sshd.known_hosts.clone()),
            insecure_ignore_host_key: false,
        }),
        ..Credentials::none()
    };
    let mut source = Source::new(config);
    let snapshot = rt.block_on(source.sync()).expect("ssh sync");
    assert_eq!(snapshot.revision, head);
    assert_eq!(read(&source, "a"), "over ssh");

    // An unknown host key is refused (strict checking, no prompt).
    let empty = fx.root.path().join("empty_known_hosts");
    std::fs::write(&empty, "").expect("write");
    let mut config = fx.source(&url, main_branch());
    config.cache_dir = fx.cache("strict");
    config.credentials = Credentials {
        ssh: Some(SshAuth {
            private_key: sshd.client_key.clone(),
            known_hosts: Some(empty),
            insecure_ignore_host_key: false,
        }),
        ..Credentials::none()
    };
    let mut source = Source::new(config);
    let err = rt.block_on(source.sync()).expect_err("unknown host key");
    assert_eq!(err.reason(), "AuthFailed", "{err}");
    assert!(
        err.to_string().contains("Host key verification failed"),
        "ssh's own reason is in the error: {err}"
    );
}
