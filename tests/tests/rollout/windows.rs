//! A deny sync window: the new revision waits (status says until when), drift is not
//! corrected (the window says `selfHeal: false`), `tether-agent status` shows the window;
//! a sync by hand from the web UI waits too, unless the window allows manual syncs; once the
//! window is gone the waiting revision is applied.

use std::time::Duration;

use crate::agent::{Controller, Setup, app_status, deployment, live, settings};
use crate::support::{self, wait_for};

const STEP: Duration = Duration::from_secs(90);

const DENY: &str = "syncWindows:
  - {kind: deny, schedule: '* * * * *', duration: 24h, apps: [frozen], selfHeal: false}
";

/// The same window, letting syncs by hand through.
const DENY_MANUAL: &str = "syncWindows:
  - {kind: deny, schedule: '* * * * *', duration: 24h, apps: [frozen], selfHeal: false,
     manualSync: true}
";

/// An operator's token (the emulation's TokenReview knows it) and the RBAC that lets that
/// user patch the app (the UI's SubjectAccessReview).
const OPERATOR: &str = "operator-token-5f4e3d2c1b0a";
const OPERATOR_RBAC: &str = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: tether-app-operator}
rules: [{apiGroups: [tether.dev], resources: [apps], verbs: [get, list, watch, patch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: operators}
subjects: [{kind: User, name: oscar, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: tether-app-operator, apiGroup: rbac.authorization.k8s.io}
";

/// The web UI's sync action on app `frozen`, as the operator.
fn sync_by_hand(agent: &crate::agent::Agent) {
    let (code, body) = crate::support::http(
        agent.port,
        "POST",
        "/api/v1/apps/frozen/actions/sync",
        &[("Authorization", &format!("Bearer {OPERATOR}"))],
        b"",
    );
    assert_eq!(code, 202, "{body}");
}

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
    let token = format!("{OPERATOR}=oscar:operators");
    let setup = Setup::with_cluster_args(&["--user-token", &token]);
    let rbac = setup.dir.path().join("rbac.yaml");
    std::fs::write(&rbac, OPERATOR_RBAC).expect("write RBAC");
    setup
        .cluster
        .ok(&["apply", "-f", rbac.to_str().expect("UTF-8 path")]);
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

    // A sync by hand waits like any other while the window does not allow it.
    let seen = rounds(&agent);
    sync_by_hand(&agent);
    wait_for("the round asked for by hand", STEP, || {
        (rounds(&agent) > seen).then_some(())
    });
    let s = app_status(&agent, "frozen").expect("status");
    assert_eq!(s["sync"], "Waiting", "{s}");
    assert_eq!(version(&setup), "hand-edited", "nothing applied by hand");

    // A window that allows syncs by hand: the UI's sync applies the waiting revision, while
    // the window stays in force for the rounds that follow.
    setup.rewrite(&agent, "", "apps/*", DENY_MANUAL);
    wait_for("the window allowing syncs by hand", STEP, || {
        let s = app_status(&agent, "frozen")?;
        (s["windows"][0]["manualSync"] == true && s["sync"] == "Waiting").then_some(())
    });
    sync_by_hand(&agent);
    wait_for("the revision synced by hand", STEP, || {
        let s = app_status(&agent, "frozen")?;
        (s["revision"] == second.as_str() && version(&setup) == "2").then_some(())
    });
    let third = commit(&setup, "example/web:3", "3");
    wait_for("the next revision to wait again", STEP, || {
        let s = app_status(&agent, "frozen")?;
        let message = s["errors"][0].as_str().unwrap_or_default().to_owned();
        (s["sync"] == "Waiting" && message.contains(third.as_str())).then_some(())
    });

    // The freeze ends: the waiting revision is applied.
    setup.rewrite(&agent, "", "apps/*", "");
    wait_for("the waiting revision", STEP, || {
        let s = app_status(&agent, "frozen")?;
        (s["revision"] == third.as_str() && s["sync"] == "Succeeded").then_some(())
    });
    assert_eq!(version(&setup), "3");
    let d = live(&setup.cluster, "deployment", "web", "frozen");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "example/web:3"
    );
    controller.stop();
}
