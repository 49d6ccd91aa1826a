//! Work at rest, through the daemon: a round of an unchanged revision reads no object and
//! writes nothing; a commit to one app syncs that app, and the others only take the new
//! revision; drift is still reverted at once through metadata-only watches.

use std::time::Duration;

use super::support::{Agent, Cluster, Repo, configmap, http, wait_for};
use super::{app_status, signed};

/// The emulation's request counters (`GET /tether-test/requests`).
fn counters(cluster: &Cluster) -> serde_json::Value {
    let kubeconfig = std::fs::read_to_string(&cluster.kubeconfig).expect("kubeconfig");
    let url = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .expect("a server line")
        .trim()
        .trim_matches('"')
        .to_owned();
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("a port");
    let (code, body) = http(port, "GET", "/tether-test/requests", &[], b"");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("JSON counters")
}

fn count(counters: &serde_json::Value, verb: &str, resource: &str) -> u64 {
    counters["byVerb"][verb][resource].as_u64().unwrap_or(0)
}

/// The writes, without the leader election's Lease renewals (every 2 s in these tests).
fn writes(counters: &serde_json::Value) -> u64 {
    let leases: u64 = ["create", "update", "patch", "apply"]
        .iter()
        .map(|verb| count(counters, verb, "leases"))
        .sum();
    counters["writes"].as_u64().unwrap_or(0) - leases
}

/// Sends a signed webhook and waits until the round it asked for has run (the source's
/// fetch count in /metrics moved).
fn round(agent: &Agent) {
    let fetches = |agent: &Agent| {
        let (_, metrics) = agent.get("/metrics");
        metrics
            .lines()
            .find(|l| l.starts_with("tether_git_fetch_duration_seconds_count"))
            .and_then(|l| l.rsplit_once(' '))
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = fetches(agent);
    let body = br#"{"ref":"refs/heads/main"}"#;
    let (code, _) = http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", &signed(body))],
        body,
    );
    assert_eq!(code, 202);
    wait_for("a round", Duration::from_secs(60), || {
        (fetches(agent) > before).then_some(())
    });
    // The apps' syncs follow the fetch.
    std::thread::sleep(Duration::from_secs(2));
}

#[test]
fn a_round_at_rest_writes_nothing_and_a_commit_syncs_only_the_app_it_changed() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let agent = Agent::start(&cluster, &repo, dir.path(), "agent-rest");
    wait_for("the first sync", Duration::from_secs(60), || {
        ["one", "two"]
            .iter()
            .all(|a| app_status(&agent, a).is_some_and(|s| s["sync"] == "Succeeded"))
            .then_some(())
    });
    // Let the first round's watches and status writes settle.
    std::thread::sleep(Duration::from_secs(2));
    let before = counters(&cluster);
    round(&agent);
    let after = counters(&cluster);
    assert_eq!(
        writes(&after),
        writes(&before),
        "a round at rest wrote: {after}"
    );
    assert_eq!(
        count(&after, "get", "configmaps"),
        count(&before, "get", "configmaps"),
        "a round at rest read ConfigMaps one by one: {after}"
    );
    // A commit to app one: one is synced, two only takes the new revision.
    let last_sync = |app: &str| app_status(&agent, app).expect("status")["lastSync"].clone();
    let (one_synced, two_synced) = (last_sync("one"), last_sync("two"));
    repo.upstream
        .write("apps/one/settings.yaml", configmap("settings", "changed"))
        .expect("write");
    let commit = repo.upstream.commit("change one").expect("commit");
    round(&agent);
    let value = cluster.ok(&[
        "get",
        "configmap",
        "settings",
        "-n",
        "one",
        "-o",
        "jsonpath={.data.value}",
    ]);
    assert_eq!(value, "changed", "{}", agent.logs());
    for app in ["one", "two"] {
        let status = app_status(&agent, app).expect("status");
        assert_eq!(
            status["revision"].as_str(),
            Some(commit.as_str()),
            "{status}"
        );
    }
    assert_ne!(last_sync("one"), one_synced, "app one was synced again");
    assert_eq!(
        last_sync("two"),
        two_synced,
        "app two, whose inputs did not change, was not synced again"
    );
    // Drift is reverted at once, through the metadata-only watches.
    cluster.ok(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "two",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"value":"drifted"}}"#,
    ]);
    wait_for("the drift reverted", Duration::from_secs(30), || {
        let value = cluster.ok(&[
            "get",
            "configmap",
            "settings",
            "-n",
            "two",
            "-o",
            "jsonpath={.data.value}",
        ]);
        (value == "two").then_some(())
    });
    // And the next round at rest still writes nothing (once the correction's Event and
    // status are written).
    std::thread::sleep(Duration::from_secs(2));
    let before = counters(&cluster);
    round(&agent);
    let after = counters(&cluster);
    assert_eq!(writes(&after), writes(&before), "{after}");
}
