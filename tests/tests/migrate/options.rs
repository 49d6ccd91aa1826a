//! Flux Kustomization options the daemon maps, checked live against the API emulation:
//! `wait`, `healthChecks` and `timeout` as health gates, and `postBuild.substituteFrom`.

use super::live::{start, status};
use super::serve;
use super::support::{Cluster, wait_for};
use serde_json::Value;
use std::time::Duration;
use tether_tests::peers;

/// The app's status once its sync has ended with a health verdict other than Progressing.
fn settled(port: u16, app: &str) -> Value {
    wait_for(
        &format!("app {app} settled"),
        Duration::from_secs(90),
        || {
            status(port, app).filter(|s| {
                let health = s["health"].as_str().unwrap_or_default();
                health == "Healthy" || health == "Degraded"
            })
        },
    )
}

#[test]
fn flux_wait_health_checks_and_timeout_gate_the_imported_apps_health() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let daemon = serve("flux-options", &dir.path().join("git"));
    let port = peers::free_port();
    let import = "[{from: flux, paths: [clusters/test], \
                  urls: ['ssh://git@github.com/example/options']}]";
    // The agent's own health timeout is 0s (assess once): a Deployment the emulation never
    // rolls out is Progressing unless the app's own gate says otherwise.
    let _agent = start(
        &cluster,
        dir.path(),
        &daemon.url("config.git"),
        import,
        port,
    );
    // wait: true, timeout: 2s: the Deployment gates the app and times out after 2s.
    let gated = settled(port, "gated");
    assert_eq!(gated["health"], "Degraded", "{gated}");
    assert!(gated.to_string().contains("HealthTimeout"), "{gated}");
    assert!(gated.to_string().contains("gated"), "{gated}");
    // healthChecks name only the ConfigMap: the Deployment does not gate the app.
    let checked = settled(port, "checked");
    assert_eq!(checked["health"], "Healthy", "{checked}");
    // Neither wait nor healthChecks: healthy once applied, as in Flux.
    let unchecked = settled(port, "unchecked");
    assert_eq!(unchecked["health"], "Healthy", "{unchecked}");
    for name in ["gated", "checked", "unchecked"] {
        assert!(cluster.exists(&["deployment", name, "-n", "default"]));
    }
}
