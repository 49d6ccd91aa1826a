//! `PUT /debug/log-level` and the other debug endpoints: served on the admin listener
//! (`adminListen`, loopback) only; the public `listen` address answers 404 for them.

use std::time::Duration;

use super::support::{Agent, Cluster, Repo, http, wait_for};

#[test]
fn the_log_level_changes_on_the_admin_listener_only_and_the_public_one_answers_404() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let agent = Agent::start(&cluster, &repo, dir.path(), "agent-admin");
    wait_for("the admin listener", Duration::from_secs(30), || {
        (agent.get_admin("/debug/log-level").0 == 200).then_some(())
    });
    // Anyone who reaches `listen` cannot change the logging.
    let (code, _) = http(agent.port, "PUT", "/debug/log-level", &[], b"trace");
    assert_eq!(code, 404);
    assert_eq!(agent.get("/debug/log-level").0, 404);
    assert_eq!(agent.get_admin("/debug/log-level"), (200, "info\n".into()));
    // The admin listener changes it, and serves nothing else.
    let (code, _) = http(agent.admin_port, "PUT", "/debug/log-level", &[], b"debug");
    assert_eq!(code, 200);
    assert_eq!(agent.get_admin("/debug/log-level"), (200, "debug\n".into()));
    assert_eq!(agent.get_admin("/api/v1/apps").0, 404);
    assert_eq!(agent.get("/healthz"), (200, "ok\n".into()));
}

#[test]
fn the_deployed_configuration_binds_the_admin_listener_to_loopback() {
    let config = std::fs::read_to_string(super::support::root().join("deploy/base/config.yaml"))
        .expect("read deploy/base/config.yaml");
    assert!(config.contains("adminListen: 127.0.0.1:8081"), "{config}");
    let service = std::fs::read_to_string(super::support::root().join("deploy/base/service.yaml"))
        .expect("read deploy/base/service.yaml");
    assert!(!service.contains("8081"), "{service}");
}
