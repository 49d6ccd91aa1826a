//! Progressive delivery (issue 23) end to end: `tether-agent run` against the API emulation
//! and a git daemon, with the real Prometheus scraping an exporter whose error ratio the test
//! sets. A fake controller in the test writes Deployment and Rollout status through the
//! status subresource, as the real controllers would.

#[allow(dead_code)]
#[path = "daemon/support.rs"]
mod support;

#[path = "rollout/agent.rs"]
mod agent;

#[path = "rollout/canary.rs"]
mod canary;

#[path = "rollout/waves.rs"]
mod waves;

#[path = "rollout/windows.rs"]
mod windows;

use std::time::Duration;

use agent::{Controller, Setup, app_status, deployment, live, settings};
use support::wait_for;
use tether_tests::prometheus;

/// The longest any one step may take.
const STEP: Duration = Duration::from_secs(90);

fn commit(setup: &Setup, app: &str, image: &str, version: &str) -> String {
    setup
        .upstream
        .write(&format!("apps/{app}/deployment.yaml"), deployment(image))
        .expect("write");
    setup
        .upstream
        .write(&format!("apps/{app}/settings.yaml"), settings(version))
        .expect("write");
    setup
        .upstream
        .commit(&format!("{app} {version}"))
        .expect("commit")
}

/// The fields of the live objects that a revision sets, to compare field by field.
fn live_fields(setup: &Setup, app: &str) -> Vec<(String, serde_json::Value)> {
    let d = live(&setup.cluster, "deployment", "web", app);
    let c = live(&setup.cluster, "configmap", "settings", app);
    vec![
        (
            "deployment.spec.replicas".into(),
            d["spec"]["replicas"].clone(),
        ),
        (
            "deployment.spec.template".into(),
            d["spec"]["template"].clone(),
        ),
        (
            "deployment.metadata.labels".into(),
            d["metadata"]["labels"].clone(),
        ),
        ("configmap.data".into(), c["data"].clone()),
    ]
}

fn wait_phase(agent: &agent::Agent, app: &str, revision: &str, sync: &str) -> serde_json::Value {
    wait_for(&format!("{app} {sync} at {revision}"), STEP, || {
        let s = app_status(agent, app)?;
        let judged = s["rollout"]["revision"] == revision;
        (judged && s["sync"] == sync).then_some(s)
    })
}

fn events(setup: &Setup) -> String {
    setup.cluster.ok(&[
        "get",
        "events.events.k8s.io",
        "-n",
        "tether-system",
        "-o",
        "json",
    ])
}

#[test]
fn a_revision_that_breaks_health_or_the_metric_is_rolled_back_and_held_until_git_moves() {
    let prometheus = prometheus::shared();
    let app = "web";
    prometheus.set_error_ratio(app, 0.0);
    prometheus.wait_scraped(app, 0.0);
    let setup = Setup::new();
    let good = commit(&setup, app, "example/web:1", "1");
    let controller = Controller::start(&setup.cluster, &[app]);
    let mut agent = setup.start_agent("agent-a", &prometheus.address);
    let passed = wait_phase(&agent, app, &good, "Succeeded");
    assert_eq!(passed["rollout"]["phase"], "Passed", "{passed}");
    let gates = passed["rollout"]["gates"].to_string();
    assert!(
        gates.contains("error-ratio") && gates.contains("Passed"),
        "{gates}"
    );
    let at_good = live_fields(&setup, app);

    // A commit whose Deployment never becomes healthy (the controller reports its progress
    // deadline exceeded).
    let broken = commit(&setup, app, "example/web:broken", "2");
    let held = wait_phase(&agent, app, &broken, "RolledBack");
    assert_eq!(held["rollout"]["phase"], "RolledBack", "{held}");
    assert_eq!(held["rollout"]["hold"]["failedRevision"], broken.as_str());
    assert_eq!(held["rollout"]["hold"]["restoredRevision"], good.as_str());
    let reason = held["rollout"]["hold"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("ProgressDeadlineExceeded"), "{held}");
    assert_eq!(
        held["revision"],
        good.as_str(),
        "the app runs the good revision"
    );
    assert_eq!(
        live_fields(&setup, app),
        at_good,
        "the live objects are back"
    );
    let all = events(&setup);
    assert!(
        all.contains("GateFailed") && all.contains("RolledBack"),
        "{all}"
    );

    // Held: later rounds keep the good revision while Git stays at the broken one.
    let seen = held["lastSync"].clone();
    wait_for("another round", STEP, || {
        let s = app_status(&agent, app)?;
        (s["lastSync"] != seen).then_some(())
    });
    let still = app_status(&agent, app).expect("status");
    assert_eq!(still["sync"], "RolledBack", "{still}");
    assert_eq!(live_fields(&setup, app), at_good);

    // A commit that is healthy but makes the error ratio climb.
    prometheus.set_error_ratio(app, 0.5);
    prometheus.wait_scraped(app, 0.5);
    let noisy = commit(&setup, app, "example/web:3", "3");
    let held = wait_phase(&agent, app, &noisy, "RolledBack");
    let gates = held["rollout"]["gates"].to_string();
    assert!(gates.contains("0.5") && gates.contains("Failed"), "{gates}");
    assert_eq!(held["rollout"]["hold"]["restoredRevision"], good.as_str());
    assert_eq!(
        live_fields(&setup, app),
        at_good,
        "back at the last good revision"
    );

    // The history survives a restart: the new agent keeps the app held at the good revision.
    agent.terminate();
    wait_for("the agent to stop", STEP, || {
        agent.process.has_exited().then_some(())
    });
    agent = setup.start_agent("agent-b", &prometheus.address);
    let restarted = wait_for("the restarted agent's round", STEP, || {
        let s = app_status(&agent, app)?;
        (s["sync"] == "RolledBack" && s["revision"] == good.as_str()).then_some(s)
    });
    let history = restarted["rollout"]["history"].to_string();
    for revision in [&good, &broken, &noisy] {
        assert!(history.contains(revision.as_str()), "{history}");
    }
    assert_eq!(live_fields(&setup, app), at_good);

    // The next good commit proceeds and ends the hold.
    prometheus.set_error_ratio(app, 0.01);
    prometheus.wait_scraped(app, 0.01);
    let fixed = commit(&setup, app, "example/web:4", "4");
    let passed = wait_phase(&agent, app, &fixed, "Succeeded");
    assert_eq!(passed["rollout"]["phase"], "Passed", "{passed}");
    assert!(passed["rollout"].get("hold").is_none(), "{passed}");
    let d = live(&setup.cluster, "deployment", "web", app);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "example/web:4"
    );
    let at_fixed = live_fields(&setup, app);

    // By hand: back to the last other revision that passed, held; then the hold cleared.
    let kubeconfig = setup.cluster.kubeconfig.to_str().expect("UTF-8 path");
    let out = support::agent(&["rollback", app, "--kubeconfig", kubeconfig]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manual = wait_for("the rollback by hand", STEP, || {
        let s = app_status(&agent, app)?;
        (s["reason"] == "Manual" && s["revision"] == good.as_str()).then_some(s)
    });
    assert_eq!(manual["sync"], "RolledBack", "{manual}");
    assert_eq!(manual["rollout"]["hold"]["manual"], true, "{manual}");
    assert_eq!(live_fields(&setup, app), at_good);
    let out = support::agent(&["rollback", "clear", app, "--kubeconfig", kubeconfig]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the app to follow Git again", STEP, || {
        let s = app_status(&agent, app)?;
        (s["revision"] == fixed.as_str() && s["sync"] == "Succeeded").then_some(())
    });
    assert_eq!(live_fields(&setup, app), at_fixed);
    let out = support::agent(&["rollback", "nope", "--kubeconfig", kubeconfig]);
    assert_eq!(out.status.code(), Some(1), "an unknown app");
    let out = support::agent(&["rollback", app, "--to", "main", "--kubeconfig", kubeconfig]);
    assert_eq!(out.status.code(), Some(2), "not a commit id");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--to"));
    controller.stop();
}

#[test]
fn an_argo_rollout_is_followed_through_its_phases_and_an_aborted_canary_is_rolled_back() {
    canary::run();
}

#[test]
fn a_deny_window_holds_a_new_revision_and_drift_until_it_ends() {
    windows::run();
}

#[test]
fn waves_take_three_apps_through_two_steps_and_a_failure_halts_the_later_step() {
    waves::run(prometheus::shared());
}
