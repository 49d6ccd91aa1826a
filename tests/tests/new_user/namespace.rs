//! A Namespace made by `createNamespace` is one of the app's objects: in its inventory,
//! reported with its changes, and, when the app leaves Git, kept (a Namespace is protected)
//! and reported as orphaned like any protected object. A Namespace someone else made is not
//! taken over.

use std::time::Duration;

use super::failed_sync::push;
use super::support::{Agent, Cluster, Repo, wait_for};

fn inventory(cluster: &Cluster, app: &str) -> String {
    cluster.ok(&[
        "get",
        "configmap",
        &format!("tether-inventory-{app}"),
        "-n",
        "tether-system",
        "-o",
        "json",
    ])
}

#[test]
fn a_namespace_made_by_create_namespace_is_in_the_inventory_and_orphaned_when_the_app_leaves() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    // Namespace `two` exists before the agent: it stays someone else's.
    cluster.ok(&["create", "namespace", "two"]);
    let repo = Repo::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let agent = Agent::start(&cluster, &repo, dir.path(), "agent-ns");
    let status = wait_for("app one synced", Duration::from_secs(60), || {
        let (code, body) = agent.get("/api/v1/apps/one");
        (code == 200 && body.contains("\"Succeeded\"")).then_some(body)
    });
    assert!(status.contains("Namespace"), "{status}");
    let listed = inventory(&cluster, "one");
    assert!(listed.contains("/v1/Namespace//one "), "{listed}");
    let listed = wait_for("app two synced", Duration::from_secs(60), || {
        let (code, body) = agent.get("/api/v1/apps/two");
        (code == 200 && body.contains("\"Succeeded\"")).then(|| inventory(&cluster, "two"))
    });
    assert!(!listed.contains("Namespace"), "{listed}");
    let owner = cluster.ok(&[
        "get",
        "namespace",
        "two",
        "-o",
        "jsonpath={.metadata.annotations}",
    ]);
    assert!(!owner.contains("tether.dev/owner"), "{owner}");

    // App one leaves Git: its ConfigMap is pruned, its Namespace kept and reported orphaned.
    repo.upstream.remove("apps/one").expect("remove");
    repo.upstream.commit("app one leaves Git").expect("commit");
    push(&agent);
    wait_for("app one's objects pruned", Duration::from_secs(60), || {
        (!cluster.exists(&["configmap", "settings", "-n", "one"])).then_some(())
    });
    assert!(cluster.exists(&["namespace", "one"]), "{}", agent.logs());
    let events = wait_for("the Orphaned Event", Duration::from_secs(30), || {
        let events = cluster.ok(&[
            "get",
            "events.events.k8s.io",
            "-n",
            "tether-system",
            "-o",
            "json",
        ]);
        (events.contains("Orphaned") && events.contains("Namespace/one")).then_some(events)
    });
    assert!(events.contains("Namespace/one"), "{events}");
}
