//! A deny sync window: the new revision waits (status says until when), drift is not
//! corrected (the window says `selfHeal: false`), `tether-agent status` shows the window;
//! once the window is gone the waiting revision is applied.

use std::time::Duration;

use crate::agent::{Controller, Setup, app_status, deployment, live, settings};
use crate::support::{self, wait_for};

const STEP: Duration = Duration::from_secs(90);

const DENY: &str = "syncWindows:
  - {kind: deny, schedule: '* * * * *', duration: 24h, apps: [frozen], selfHeal: false}
";

fn commit(setup: &Setup, image: &str, version: &str) -> String {
    let up = &setup.upstream;
    up.write("apps/frozen/deployment.yaml", deployment(image))
        .expect("write");
    up.write("apps/frozen/settings.yaml", settings(version))
        .expect("write");
    up.commit(version).expect("commit")
}

/// How many rounds (fetches) the agent has made.
fn rounds(agent: &crate::agent::Agent) -> u64 {
    let (_, metrics) = agent.get("/metrics");
    metrics
        .lines()
        .find(|l| l.starts_with("tether_git_fetch_duration_seconds_count{source=\"config\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn version(setup: &Setup) -> serde_json::Value {
    live(&setup.cluster, "configmap", "settings", "frozen")["data"]["version"].clone()
}

pub fn run() {
    let setup = Setup::new();
    let controller = Controller::start(&setup.cluster, &["frozen"]);
    let first = commit(&setup, "example/web:1", "1");
    let agent = setup.start_agent_with("agent-windows", "", "apps/*", "");
    wait_for("the first sync", STEP, || {
        let s = app_status(&agent, "frozen")?;
        (s["revision"] == first.as_str() && s["sync"] == "Succeeded").then_some(())
    });

    // A change freeze starts (the agent reloads its configuration), and a commit lands.
    setup.rewrite(&agent, "", "apps/*", DENY);
    wait_for("the window in force", STEP, || {
        let s = app_status(&agent, "frozen")?;
        (s["windows"][0]["kind"] == "deny").then_some(())
    });
    let second = commit(&setup, "example/web:2", "2");
    let waiting = wait_for("the revision to wait", STEP, || {
        let s = app_status(&agent, "frozen")?;
        let message = s["errors"][0].as_str().unwrap_or_default().to_owned();
        (s["sync"] == "Waiting" && message.contains(second.as_str())).then_some(s)
    });
    let message = waiting["errors"][0].as_str().unwrap_or_default();
    assert!(
        message.contains("deny window") && message.contains("until"),
        "{waiting}"
    );
    assert_eq!(waiting["revision"], first.as_str(), "{waiting}");
    assert_eq!(version(&setup), "1", "the running revision stays");

    // Drift is left alone during the window.
    setup.cluster.ok(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "frozen",
        "--type=merge",
        "-p",
        r#"{"data":{"version":"hand-edited"}}"#,
    ]);
    let seen = rounds(&agent);
    wait_for("two more rounds", STEP, || {
        (rounds(&agent) >= seen + 2).then_some(())
    });
    assert_eq!(
        version(&setup),
        "hand-edited",
        "no drift correction in the window"
    );

    // `tether-agent status` shows the window in force.
    let kubeconfig = setup.cluster.kubeconfig.to_str().expect("UTF-8 path");
    let out = support::agent(&["status", "--kubeconfig", kubeconfig]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("Sync windows in force:") && table.contains("frozen: deny * * * * * until"),
        "{table}"
    );
    assert!(table.contains("Waiting (SyncWindow)"), "{table}");

    // The freeze ends: the waiting revision is applied.
    setup.rewrite(&agent, "", "apps/*", "");
    wait_for("the waiting revision", STEP, || {
        let s = app_status(&agent, "frozen")?;
        (s["revision"] == second.as_str() && s["sync"] == "Succeeded").then_some(())
    });
    assert_eq!(version(&setup), "2");
    let d = live(&setup.cluster, "deployment", "web", "frozen");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "example/web:2"
    );
    controller.stop();
}
