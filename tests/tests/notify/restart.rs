//! Events that were queued but not delivered survive the agent: they are kept with the
//! app's status, and the next agent (after SIGKILL, or a new leader) sends them, once.

use crate::daemon::push;
use crate::receiver::Receiver;
use crate::support::{Agent, Cluster, Repo, Settings, wait_for};
use std::time::Duration;

/// The pending records kept in app one's status ConfigMap.
pub fn pending_of_one(cluster: &Cluster) -> Vec<serde_json::Value> {
    let out = cluster.kubectl(&[
        "get",
        "configmap",
        "tether-status-one",
        "-n",
        "tether-system",
        "-o",
        "jsonpath={.data.notified}",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let memory: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    memory["pending"].as_array().cloned().unwrap_or_default()
}

/// How many rounds of app one ended (its `tether_sync_total`, every result).
/// How many times the agent fetched its source (every round fetches).
fn fetches(agent: &Agent) -> u64 {
    let (_, metrics) = agent.get("/metrics");
    metrics
        .lines()
        .find(|l| l.starts_with("tether_git_fetch_duration_seconds_count"))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, n)| n.parse::<u64>().ok())
        .unwrap_or(0)
}

pub fn last_sync(agent: &Agent) -> u64 {
    let (_, metrics) = agent.get("/metrics");
    metrics
        .lines()
        .filter(|l| l.starts_with("tether_sync_total{") && l.contains("app=\"one\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn an_event_queued_while_the_receiver_is_down_is_sent_once_by_the_next_agent_after_sigkill() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    let receiver = Receiver::start();
    // Down: every request answered 503, retried for minutes.
    receiver.fail("hook", &[503; 10_000]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let extra = format!(
        "notifications:
  providers:
  - name: hook
    type: webhook
    address: {url}/hook/events
    retry: {{attempts: 1000, backoff: 100ms, maxBackoff: 300ms}}
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
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "notify-r", settings);
    // The first sync's success waits in the queue, and in app one's status.
    let kept = wait_for("the pending event kept", Duration::from_secs(60), || {
        pending_of_one(&cluster).into_iter().next()
    });
    assert_eq!(kept["provider"], "hook");
    assert_eq!(kept["event"]["kind"], "syncSucceeded");
    assert!(
        kept.get("url").is_none() && !kept.to_string().contains(&receiver.url),
        "a record is the event, not the request: {kept}"
    );
    assert!(!receiver.received().is_empty(), "it was tried");
    let mut agent = agent;
    agent.process.stop();
    drop(agent);
    // The receiver is back; the next agent sends what was pending, and nothing else.
    receiver.heal("hook");
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "notify-r", settings);
    wait_for("the pending event sent", Duration::from_secs(60), || {
        (!receiver.accepted("hook").is_empty()).then_some(())
    });
    wait_for("the pending queue empty", Duration::from_secs(30), || {
        pending_of_one(&cluster).is_empty().then_some(())
    });
    // A later round of the same state adds nothing (an app at rest is not synced again, so
    // the round is told by the source's fetch).
    let before = fetches(&agent);
    push(&agent);
    wait_for("the round after the push", Duration::from_secs(30), || {
        (fetches(&agent) > before).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let accepted = receiver.accepted("hook");
    assert_eq!(
        accepted.len(),
        1,
        "exactly once: {:#?}",
        accepted.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    assert_eq!(accepted[0].json["kind"], "syncSucceeded");
    assert_eq!(accepted[0].json["app"], "one");
    crate::delivery::assert_clean(&receiver);
    drop(agent);
}
