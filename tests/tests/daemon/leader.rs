//! Two replicas: one leader, fail-over when it dies, the Lease released on SIGTERM.

use super::*;

#[test]
fn two_replicas_elect_one_leader_fail_over_when_it_dies_and_release_the_lease_on_sigterm() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    // The replicas share the key the leader generates in the Secret tether-keys.
    let settings = Settings {
        managed_keys: true,
        in_pod: true,
        ..Settings::default()
    };
    // The Pods the replicas run as, for the leader label.
    for pod in ["agent-a", "agent-b"] {
        cluster.ok(&[
            "run",
            pod,
            "-n",
            "tether-system",
            "--image=tether-agent:test",
        ]);
    }
    let a = Agent::start_with(&cluster, &repo, dir.path(), "agent-a", settings);
    let b = Agent::start_with(&cluster, &repo, dir.path(), "agent-b", settings);
    let leader = wait_for("a leader", Duration::from_secs(60), || {
        let holder = cluster.lease_holder();
        (!holder.is_empty()).then_some(holder)
    });
    let (mut leading, standby) = if leader == a.identity { (a, b) } else { (b, a) };
    assert_eq!(leading.identity, leader);
    // Exactly one leads: the standby says so and syncs nothing.
    wait_for("the leader's first syncs", Duration::from_secs(60), || {
        let (code, body) = leading.get("/readyz");
        (code == 200 && body == "ready\n").then_some(())
    });
    let (code, body) = standby.get("/readyz");
    assert_eq!((code, body.as_str()), (200, "ready (standby)\n"));
    let (_, apps) = standby.get("/api/v1/apps");
    assert_eq!(apps, r#"{"apps":[]}"#, "the standby synced");
    assert!(cluster.exists(&["configmap", "settings", "-n", "one"]));
    // Only the leader's Pod carries the label the webhook Service selects.
    wait_for("the leader label", Duration::from_secs(30), || {
        (cluster.leader_label(&leading.identity) == "true").then_some(())
    });
    assert_eq!(cluster.leader_label(&standby.identity), "");
    let (code, recipient) = leading.get("/api/v1/recipient");
    assert_eq!(code, 200);
    assert!(recipient.starts_with("age1"), "{recipient}");
    assert!(cluster.exists(&["secret", "tether-keys", "-n", "tether-system"]));
    // Kill the leader: the standby takes over within the lease duration and syncs.
    leading.process.stop();
    let mut survivor = standby;
    wait_for("the failover", Duration::from_secs(60), || {
        (cluster.lease_holder() == survivor.identity).then_some(())
    });
    wait_for("the new leader's label", Duration::from_secs(30), || {
        (cluster.leader_label(&survivor.identity) == "true").then_some(())
    });
    wait_for("the new leader's syncs", Duration::from_secs(60), || {
        app_status(&survivor, "two")
            .filter(|s| s["sync"] == "Succeeded")
            .map(|_| ())
    });
    assert_eq!(
        survivor.get("/api/v1/recipient"),
        (200, recipient),
        "the new leader uses the same key"
    );
    // SIGTERM: the survivor finishes, releases the lease and exits 0.
    survivor.terminate();
    wait_for("the exit", Duration::from_secs(60), || {
        survivor.process.has_exited().then_some(())
    });
    assert_eq!(
        cluster.lease_holder(),
        "",
        "the lease was not released:\n{}",
        survivor.logs()
    );
    assert_eq!(
        cluster.leader_label(&survivor.identity),
        "",
        "the label stayed"
    );
    assert!(
        survivor.logs().contains("lease released"),
        "{}",
        survivor.logs()
    );
}
