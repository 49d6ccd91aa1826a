//! Signed commits, webhooks and triggers.

use super::*;

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
