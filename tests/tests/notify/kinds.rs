//! Each kind of event end to end through the daemon (tether-agent, the API server
//! emulation, git daemon): the mass-deletion guard and protection holding a prune back, an
//! orphan appearing, a sealed value refused, a hook failing, health degraded (no repeat
//! while it holds, a reminder after the interval) and recovered, an external secret store
//! that cannot be reached. Every payload is checked for the plaintexts of the test.

use crate::daemon::push;
use crate::delivery::assert_clean;
use crate::receiver::Receiver;
use crate::restart::last_sync;
use crate::support::{self, Agent, Cluster, Repo, Settings, configmap, wait_for};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A sealed value of the test: never in a payload.
const SEALED_VALUE: &str = "sealed-kinds-password-31c9";
/// A plaintext value in a Secret in Git, which the policy refuses: never in a payload.
const PLAIN_VALUE: &str = "plain-secret-in-git-5a7b";
/// The token the unreachable store would be read with: never in a payload.
const STORE_TOKEN: &str = "store-token-plaintext-8d0e";
const STEP: Duration = Duration::from_secs(60);

struct Rig {
    cluster: Cluster,
    repo: Repo,
    receiver: Receiver,
    agent: Agent,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// An agent whose every event of app one goes to the receiver's webhook; `files` are
    /// added to app one first.
    fn start(identity: &str, reminder: &str, files: &[(&str, String)]) -> Self {
        let cluster = Cluster::start();
        cluster.ok(&["create", "namespace", "tether-system"]);
        let receiver = Receiver::start();
        // The webhook's address (a token in its path) comes from a Secret.
        cluster.ok(&[
            "create",
            "secret",
            "generic",
            "hook-url",
            "-n",
            "tether-system",
            &format!(
                "--from-literal=url={}/hook/{}",
                receiver.url,
                crate::receiver::HOOK_TOKEN
            ),
        ]);
        let repo = Repo::start();
        for (path, text) in files {
            repo.upstream
                .write(&format!("apps/one/{path}"), text)
                .expect("write");
        }
        repo.upstream.commit("app one's objects").expect("commit");
        let dir = tempfile::tempdir().expect("temporary folder");
        let extra = format!(
            "notifications:
  reminder: {reminder}
  providers:
  - name: hook
    type: webhook
    addressFrom: {{secretRef: {{name: hook-url, key: url}}}}
    retry: {{attempts: 4, backoff: 50ms}}
    rateLimit: {{perMinute: 6000}}
  rules:
  - providers: [hook]
    apps: {{names: [one]}}
",
        );
        let settings = Settings {
            extra: &extra,
            ..Settings::default()
        };
        let agent = Agent::start_with(&cluster, &repo, dir.path(), identity, settings);
        let rig = Self {
            cluster,
            repo,
            receiver,
            agent,
            _dir: dir,
        };
        rig.wait_event("the first success", |e| e["kind"] == "syncSucceeded");
        rig
    }

    fn events(&self) -> Vec<Value> {
        self.receiver
            .accepted("hook")
            .into_iter()
            .map(|r| r.json)
            .collect()
    }

    fn wait_event(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let limit = Instant::now() + STEP;
        loop {
            let events = self.events();
            if let Some(e) = events.iter().find(|e| matches(e)) {
                return e.clone();
            }
            let kinds: Vec<String> = events
                .iter()
                .map(|e| format!("{} {} {}", e["kind"], e["reason"], e["message"]))
                .collect();
            assert!(
                Instant::now() < limit,
                "timed out waiting for {what}; received: {kinds:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn commit(&self, message: &str) {
        self.repo.upstream.commit(message).expect("commit");
        push(&self.agent);
    }

    /// Triggers a round and waits until it has ended.
    fn round(&self) {
        let before = last_sync(&self.agent);
        push(&self.agent);
        wait_for("a round", STEP, || {
            (last_sync(&self.agent) != before).then_some(())
        });
    }

    fn write(&self, path: &str, text: impl AsRef<[u8]>) {
        self.repo
            .upstream
            .write(&format!("apps/one/{path}"), text)
            .expect("write");
    }

    fn remove(&self, path: &str) {
        self.repo
            .upstream
            .remove(&format!("apps/one/{path}"))
            .expect("remove");
    }

    /// Sets the status conditions of Job `name` in namespace one.
    fn job_condition(&self, name: &str, condition: &str) {
        self.cluster.ok(&[
            "patch",
            "job",
            name,
            "-n",
            "one",
            "--subresource=status",
            "--type=merge",
            "-p",
            &format!(r#"{{"status":{{"conditions":[{{"type":"{condition}","status":"True"}}]}}}}"#),
        ]);
    }

    /// No payload holds a plaintext of the test; each notice (kind, resolved, message) came
    /// once, reminders aside.
    fn check(&self) {
        assert_clean(&self.receiver);
        for got in self.receiver.received() {
            for secret in [SEALED_VALUE, STORE_TOKEN, PLAIN_VALUE] {
                assert!(!got.body.contains(secret), "a plaintext in {}", got.body);
            }
        }
        let logs = self.agent.logs();
        for secret in [
            crate::receiver::HOOK_TOKEN,
            STORE_TOKEN,
            PLAIN_VALUE,
            SEALED_VALUE,
        ] {
            assert!(!logs.contains(secret), "the agent's log holds a secret");
        }
        let mut notices: Vec<String> = self
            .events()
            .iter()
            .filter(|e| e["reminder"] != true && e["kind"] != "syncSucceeded")
            .map(|e| format!("{} {} {}", e["kind"], e["resolved"], e["message"]))
            .collect();
        let all = notices.len();
        notices.sort();
        notices.dedup();
        assert_eq!(notices.len(), all, "a notice repeated: {notices:#?}");
    }
}

fn job(name: &str, hook: bool) -> String {
    let annotations = if hook {
        "  annotations:\n    tether.dev/hook: pre-sync\n"
    } else {
        ""
    };
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
{annotations}spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: run
        image: ghcr.io/acme/{name}:1.0.0
"
    )
}

#[test]
fn held_prunes_an_orphan_a_refused_sealed_value_and_a_failing_hook_are_each_notified() {
    let protected = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  annotations:\n    tether.dev/prune: disabled\ndata:\n  value: keep\n";
    let files = [
        ("a.yaml", configmap("a", "a")),
        ("b.yaml", configmap("b", "b")),
        ("c.yaml", configmap("c", "c")),
        ("d.yaml", configmap("d", "d")),
        ("keep.yaml", protected.to_owned()),
    ];
    let rig = Rig::start("notify-k1", "1h", &files);
    // The mass-deletion guard: four of seven objects (with the namespace) would go.
    for f in ["a.yaml", "b.yaml", "c.yaml", "d.yaml"] {
        rig.remove(f);
    }
    rig.commit("one: drop four");
    let guard = rig.wait_event("the guard's held prune", |e| {
        e["kind"] == "pruneHeld" && e["reason"] == "PruneBlocked"
    });
    assert_eq!(guard["severity"], "warning", "{guard}");
    assert_eq!(guard["stage"], "prune", "{guard}");
    // Protection: the three back, the protected ConfigMap out of Git; it stays, an orphan.
    for (path, text) in &files[..4] {
        rig.write(path, text);
    }
    rig.remove("keep.yaml");
    rig.commit("one: drop the protected one");
    let held = rig.wait_event("the protection's held prune", |e| {
        e["kind"] == "pruneHeld" && e["reason"] == "PruneProtected"
    });
    let message = held["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("ConfigMap one/keep") && message.contains("tether.dev/prune"),
        "{held}"
    );
    let orphan = rig.wait_event("the orphan", |e| e["kind"] == "orphanAppeared");
    assert!(
        orphan["message"].to_string().contains("ConfigMap one/keep"),
        "{orphan}"
    );
    assert_eq!(orphan["severity"], "info");
    assert!(rig.cluster.exists(&["configmap", "keep", "-n", "one"]));
    refused_values(&rig);
    // A pre-sync hook that fails.
    rig.write("migrate.yaml", job("migrate", true));
    rig.commit("one: a migration");
    wait_for("the hook Job", STEP, || {
        rig.cluster
            .exists(&["job", "migrate", "-n", "one"])
            .then_some(())
    });
    rig.job_condition("migrate", "Failed");
    let hook = rig.wait_event("the failed hook", |e| e["kind"] == "hookFailed");
    assert_eq!(hook["stage"], "hook", "{hook}");
    assert!(hook["message"].to_string().contains("migrate"), "{hook}");
    rig.check();
}

/// A sealed value copied to another name, a plaintext Secret and an altered SOPS file: each
/// refused by its stage, notified, and recovered from.
fn refused_values(rig: &Rig) {
    // A sealed value copied to another name: refused by its scope.
    let sealed = support::sealed("one", "db", "password", SEALED_VALUE)
        .replace("  name: db\n", "  name: stolen\n");
    assert!(sealed.contains("name: stolen"), "{sealed}");
    rig.write("stolen.sealed.yaml", &sealed);
    rig.commit("one: a copied sealed value");
    let refused = rig.wait_event("the refused sealed value", |e| {
        e["kind"] == "sealedValueRefused" && e["resolved"] == false
    });
    assert_eq!(refused["severity"], "error", "{refused}");
    assert!(
        refused["message"].to_string().contains("stolen"),
        "{refused}"
    );
    rig.remove("stolen.sealed.yaml");
    rig.commit("one: the copy removed");
    rig.wait_event("the sealed value accepted again", |e| {
        e["kind"] == "sealedValueRefused" && e["resolved"] == true
    });
    // A Secret with a plaintext value in Git: the policy stage refuses the sync.
    rig.write(
        "plain.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData:\n  password: {PLAIN_VALUE}\n"
        ),
    );
    rig.commit("one: a plaintext Secret");
    let denied = rig.wait_event("the policy's refusal", |e| {
        e["kind"] == "syncFailed" && e["stage"] == "policy"
    });
    assert_eq!(denied["reason"], "PolicyDenied", "{denied}");
    assert!(denied["message"].to_string().contains("Secret"), "{denied}");
    rig.remove("plain.yaml");
    // A SOPS file whose ciphertext was altered: the decryption stage refuses it.
    let sops = std::fs::read_to_string(
        support::root().join("examples/apps/shop/overlays/staging/db-credentials.sops.yaml"),
    )
    .expect("read the example SOPS file");
    let tampered = sops.replace("data:H6vEjQ==", "data:H6vEjA==");
    assert_ne!(tampered, sops, "the example file changed");
    rig.write("db.sops.yaml", tampered);
    rig.commit("one: an altered SOPS file instead");
    let decrypt = rig.wait_event("the decryption failure", |e| {
        e["kind"] == "syncFailed" && e["stage"] == "decrypt"
    });
    assert_eq!(decrypt["severity"], "error", "{decrypt}");
    rig.remove("db.sops.yaml");
    rig.commit("one: the altered file removed");
    rig.wait_event("the sync recovered", |e| {
        e["kind"] == "syncFailed" && e["resolved"] == true
    });
}

#[test]
fn degraded_health_is_reminded_not_repeated_and_recovers_and_an_unreachable_store_is_notified() {
    let rig = Rig::start("notify-k2", "8s", &[("batch.yaml", job("batch", false))]);
    rig.job_condition("batch", "Failed");
    rig.round();
    let degraded = rig.wait_event("health degraded", |e| e["kind"] == "healthDegraded");
    let first = Instant::now();
    assert_eq!(degraded["severity"], "warning", "{degraded}");
    assert_eq!(degraded["reminder"], false);
    assert!(
        degraded["message"].to_string().contains("batch"),
        "{degraded}"
    );
    let degraded_count = |rig: &Rig| {
        rig.events()
            .iter()
            .filter(|e| e["kind"] == "healthDegraded" && e["resolved"] == false)
            .count()
    };
    // Another round while it holds, well inside the interval: nothing.
    rig.round();
    std::thread::sleep(Duration::from_millis(500));
    if first.elapsed() < Duration::from_secs(7) {
        assert_eq!(degraded_count(&rig), 1, "no repeat while the state holds");
    }
    // After the interval, a round reminds.
    std::thread::sleep(Duration::from_secs(8).saturating_sub(first.elapsed()));
    rig.round();
    let reminder = rig.wait_event("the reminder", |e| {
        e["kind"] == "healthDegraded" && e["reminder"] == true
    });
    assert!(
        reminder["message"].to_string().contains("batch"),
        "{reminder}"
    );
    assert_eq!(degraded_count(&rig), 2, "one event and one reminder");
    // Recovered.
    rig.job_condition("batch", "Complete");
    rig.round();
    let recovered = rig.wait_event("health recovered", |e| {
        e["kind"] == "healthDegraded" && e["resolved"] == true
    });
    assert_eq!(recovered["severity"], "info");
    // An external secret store at an address nobody answers.
    rig.cluster.ok(&[
        "create",
        "secret",
        "generic",
        "store-token",
        "-n",
        "one",
        &format!("--from-literal=token={STORE_TOKEN}"),
    ]);
    rig.write(
        "store.yaml",
        store_yaml("http://127.0.0.1:1", "store-token"),
    );
    rig.commit("one: a secret from a store");
    let store = rig.wait_event("the unreachable store", |e| {
        e["kind"] == "secretStoreUnreachable" && e["resolved"] == false
    });
    assert_eq!(store["severity"], "error", "{store}");
    assert_eq!(store["stage"], "secrets", "{store}");
    // A store whose credentials cannot be read: the refresh fails.
    rig.write(
        "store.yaml",
        store_yaml("http://127.0.0.1:1", "no-such-token"),
    );
    rig.commit("one: the store's token Secret renamed");
    let refresh = rig.wait_event("the failing refresh", |e| {
        e["kind"] == "secretRefreshFailed" && e["resolved"] == false
    });
    assert!(
        refresh["message"].to_string().contains("no-such-token"),
        "{refresh}"
    );
    rig.remove("store.yaml");
    rig.commit("one: the store removed");
    rig.wait_event("the store recovered", |e| {
        e["kind"] == "secretRefreshFailed" && e["resolved"] == true
    });
    rig.check();
}

/// A SecretStore at `server` with its token in the Secret `token`, and an ExternalSecret
/// reading it.
fn store_yaml(server: &str, token: &str) -> String {
    format!(
        "apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: vault
spec:
  provider:
    vault:
      server: {server}
      path: secret
      version: v2
      auth:
        tokenSecretRef: {{name: {token}, key: token}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: db
spec:
  refreshInterval: 1h
  secretStoreRef: {{name: vault, kind: SecretStore}}
  target: {{name: db}}
  data:
  - secretKey: password
    remoteRef: {{key: one/db, property: password}}
"
    )
}
