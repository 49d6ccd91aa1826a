//! End to end through the daemon: an app broken in Git notifies each provider once, its fix
//! the recovery, a drifted object the revert; an agent killed with SIGKILL and restarted
//! sends no duplicate.

use crate::delivery::{SERVICES, assert_clean, providers_yaml};
use crate::peers_notify::Alertmanager;
use crate::receiver::Receiver;
use crate::support::{self, Agent, Cluster, Repo, Settings, http, wait_for};
use hmac::Mac as _;
use std::time::Duration;

/// A sealed value of the app: never in a payload.
const SEALED_VALUE: &str = "sealed-db-password-e2e-77aa";

fn signed(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(support::WEBHOOK_SECRET.as_bytes())
        .expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn push(agent: &Agent) {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let (code, text) = http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", &signed(body))],
        body,
    );
    assert_eq!(code, 202, "{text}");
}

fn counts(r: &Receiver) -> Vec<usize> {
    SERVICES.iter().map(|s| r.accepted(s).len()).collect()
}

/// Chat services get every event; commit statuses only syncs (`git*`).
fn want(chat: usize, commit_status: usize) -> Vec<usize> {
    SERVICES
        .iter()
        .map(|s| {
            if s.starts_with("git") {
                commit_status
            } else {
                chat
            }
        })
        .collect()
}

fn wait_counts(r: &Receiver, what: &str, expected: &[usize]) {
    wait_for(what, Duration::from_secs(60), || {
        let now = counts(r);
        assert!(
            now.iter().zip(expected).all(|(n, w)| n <= w),
            "{what}: more than expected: {now:?} > {expected:?}\n{:#?}",
            r.received()
                .iter()
                .map(|x| (&x.service, &x.body))
                .collect::<Vec<_>>()
        );
        (now == expected).then_some(())
    });
}

fn alert_of_one(am: &Alertmanager) -> Option<serde_json::Value> {
    am.alerts()
        .into_iter()
        .find(|a| a["labels"]["alertname"] == "TetherSyncFailed" && a["labels"]["app"] == "one")
}

#[test]
fn a_broken_app_notifies_once_per_provider_then_recovery_and_drift_without_duplicates_after_a_kill()
{
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    repo.upstream
        .write(
            "apps/one/db.sealed.yaml",
            support::sealed("one", "db", "password", SEALED_VALUE),
        )
        .expect("write");
    repo.upstream
        .commit("one: a sealed password")
        .expect("commit");
    let receiver = Receiver::start();
    let am = Alertmanager::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let names = "slack, slack-bot, teams, discord, chat, hook, hmac, github, gitlab, am";
    let extra = format!(
        "notifications:\n{}  rules:\n  - providers: [{names}]\n    apps: {{names: [one]}}\n",
        providers_yaml(
            dir.path(),
            &receiver.url,
            &format!(
                "  - name: am\n    type: alertmanager\n    address: {}\n",
                am.url()
            ),
        )
    );
    let settings = Settings {
        extra: &extra,
        ..Settings::default()
    };
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "notify-a", settings);
    // The first sync of app one: a success for each (a commit status too); nothing for two.
    wait_counts(&receiver, "the first sync's success", &want(1, 1));
    // Broken in Git: one failure per provider, the alert in Alertmanager.
    repo.upstream
        .write("apps/one/broken.yaml", "kind: [unclosed\n")
        .expect("write");
    repo.upstream.commit("one: break it").expect("commit");
    push(&agent);
    wait_counts(&receiver, "one failure per provider", &want(2, 2));
    wait_for("the alert", Duration::from_secs(30), || alert_of_one(&am));
    let slack = receiver.accepted("slack");
    assert!(
        slack[1].body.contains("sync failed (render)") && slack[1].body.contains("one: break it"),
        "{}",
        slack[1].body
    );
    // SIGKILL and a restart: the state is unchanged, nothing is sent again.
    let mut agent = agent;
    agent.process.stop();
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "notify-a", settings);
    wait_for(
        "the restarted agent's round",
        Duration::from_secs(60),
        || {
            let (code, body) = agent.get("/api/v1/apps/one");
            (code == 200 && body.contains("\"sync\":\"Failed\"")).then_some(())
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        counts(&receiver),
        want(2, 2),
        "no duplicate after the restart"
    );
    // Fixed: the recovery and the success of the new commit; the alert resolves.
    repo.upstream
        .remove("apps/one/broken.yaml")
        .expect("remove");
    repo.upstream.commit("one: fix it").expect("commit");
    push(&agent);
    wait_counts(&receiver, "the recovery and the success", &want(4, 3));
    wait_for("the alert resolved", Duration::from_secs(30), || {
        alert_of_one(&am).is_none().then_some(())
    });
    // Drift: the object is changed in the cluster and reverted; the revert is notified.
    cluster.ok(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "one",
        "--type=merge",
        "-p",
        r#"{"data":{"value":"drifted"}}"#,
    ]);
    wait_counts(&receiver, "the drift revert", &want(5, 3));
    let hook = receiver.accepted("hook");
    let kinds: Vec<&str> = hook
        .iter()
        .filter_map(|h| h.json["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "syncSucceeded",
            "syncFailed",
            "syncFailed",
            "syncSucceeded",
            "driftReverted"
        ],
        "success, failure, its recovery, the new success, the revert"
    );
    assert_eq!(hook[2].json["resolved"], true);
    for got in receiver.received() {
        assert!(
            !got.body.contains("\"app\":\"two\""),
            "app two is not in the rules: {}",
            got.body
        );
        assert!(
            !got.body.contains(SEALED_VALUE),
            "a sealed value in {}: {}",
            got.service,
            got.body
        );
    }
    assert_clean(&receiver);
    for alert in am.alerts() {
        assert!(!alert.to_string().contains(SEALED_VALUE));
    }
    drop(agent);
}
