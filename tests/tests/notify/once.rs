//! Duplicates are detectable: every event carries a stable id (`X-Tether-Event-Id`), kept
//! in the ledger as `sending` before the first attempt. An agent killed with SIGKILL after a
//! send and before the ledger write that clears the event sends it again after a restart,
//! with the same id, so a receiver that de-duplicates by id gets it exactly once. The
//! window is widened deterministically by the test-only delay
//! `TETHER_TEST_NOTIFY_DELAY_AFTER_SEND_MS`.

use crate::receiver::Receiver;
use crate::restart::pending_of_one;
use crate::support::{self, Agent, Cluster, Repo, Settings, wait_for};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;
use tether_tests::{bins, peers};

/// The test-only delay between a send and the ledger write that clears it.
const DELAY_ENV: &str = "TETHER_TEST_NOTIFY_DELAY_AFTER_SEND_MS";

/// `Agent::start_with`, with `env` set on the agent process.
fn start_agent(
    cluster: &Cluster,
    repo: &Repo,
    dir: &std::path::Path,
    identity: &str,
    settings: Settings<'_>,
    env: &[(&str, &str)],
) -> Agent {
    let port = peers::free_port();
    let admin_port = peers::free_port();
    let config =
        support::write_config_with_admin(dir, identity, repo, (port, admin_port), settings);
    let log = dir.join(format!("{identity}-{port}.log"));
    let mut cmd = Command::new(bins::tether_agent());
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .arg("--identity")
        .arg(identity)
        .env_remove("POD_NAME")
        .env_remove(DELAY_ENV);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let process = peers::Process::spawn(identity, cmd, &log).expect("start tether-agent");
    peers::wait_for_port(port, Duration::from_secs(30)).unwrap_or_else(|e| {
        panic!(
            "agent {identity} did not listen: {e}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    Agent {
        process,
        port,
        admin_port,
        log,
        identity: identity.to_owned(),
        config,
    }
}

#[test]
fn an_agent_killed_between_a_send_and_its_ledger_write_resends_with_the_same_event_id() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let extra = format!(
        "notifications:
  providers:
  - name: hook
    type: webhook
    address: {url}/hook/events
    retry: {{attempts: 5, backoff: 100ms}}
    rateLimit: {{perMinute: 6000}}
  rules:
  - providers: [hook]
    apps: {{names: [one]}}
",
        url = receiver.url
    );
    let settings = Settings {
        extra: &extra,
        ..Settings::default()
    };
    // Each send is followed by 5 s before the ledger clears the event.
    let mut agent = start_agent(
        &cluster,
        &repo,
        dir.path(),
        "notify-once",
        settings,
        &[(DELAY_ENV, "5000")],
    );
    let first = wait_for("the first success sent", Duration::from_secs(60), || {
        receiver.accepted("hook").into_iter().next()
    });
    // Killed in the window: sent, not cleared.
    agent.process.stop();
    assert_eq!(first.json["kind"], "syncSucceeded");
    let id = first.event_id.clone().expect("the event id header");
    let kept = pending_of_one(&cluster);
    assert_eq!(kept.len(), 1, "the sent event is still pending: {kept:?}");
    assert_eq!(
        kept[0]["sending"], true,
        "kept as sending before it was sent"
    );
    assert_eq!(kept[0]["event"]["eventId"], id.as_str(), "{kept:?}");
    drop(agent);
    // The next agent (no delay) sends it again, with the same id.
    let agent = start_agent(&cluster, &repo, dir.path(), "notify-once", settings, &[]);
    wait_for(
        "the pending event sent again",
        Duration::from_secs(60),
        || (receiver.accepted("hook").len() >= 2).then_some(()),
    );
    wait_for("the pending queue empty", Duration::from_secs(30), || {
        pending_of_one(&cluster).is_empty().then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let accepted = receiver.accepted("hook");
    let mut by_id: BTreeMap<String, Vec<&serde_json::Value>> = BTreeMap::new();
    for got in &accepted {
        let id = got.event_id.clone().expect("every request names its event");
        by_id.entry(id).or_default().push(&got.json);
    }
    assert!(
        by_id.values().all(|copies| copies.len() <= 2),
        "an id at most twice: {by_id:#?}"
    );
    assert_eq!(
        by_id.get(&id).map(Vec::len),
        Some(2),
        "the event killed in the window was sent again, with its id: {by_id:#?}"
    );
    assert!(
        by_id[&id].iter().all(|e| **e == *by_id[&id][0]),
        "both copies are the same event"
    );
    // De-duplicated by id: exactly once.
    let successes: Vec<_> = by_id
        .values()
        .filter(|copies| copies[0]["kind"] == "syncSucceeded" && copies[0]["app"] == "one")
        .collect();
    assert_eq!(successes.len(), 1, "exactly once by id: {by_id:#?}");
    crate::delivery::assert_clean(&receiver);
    drop(agent);
}
