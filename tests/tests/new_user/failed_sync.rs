//! A render or policy failure in the daemon: logged with app, revision, stage and reason, and
//! the apps API shows this attempt (its error, no changes), not the previous sync's changes.

use hmac::Mac as _;
use std::time::Duration;

use super::support::{self, Agent, Cluster, Repo, http, wait_for};

/// A webhook body signed with the tests' secret, so the agent fetches at once.
pub fn push(agent: &Agent) {
    let body = b"{\"ref\":\"refs/heads/main\"}";
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(support::WEBHOOK_SECRET.as_bytes())
        .expect("key");
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let (code, _) = http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", &signature)],
        body,
    );
    assert_eq!(code, 202);
}

/// The JSON log lines of the agent that say a sync failed, for `app`.
fn failure_lines(agent: &Agent, app: &str) -> Vec<serde_json::Value> {
    agent
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| {
            l["fields"]["message"] == "sync failed"
                && l["fields"]["app"] == app
                && l["level"] == "WARN"
        })
        .collect()
}

#[test]
fn a_render_failure_is_logged_and_the_app_shows_this_attempt_not_the_last_changes() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let agent = Agent::start(&cluster, &repo, dir.path(), "agent-fail");
    let before = wait_for("the first sync", Duration::from_secs(60), || {
        let (code, body) = agent.get("/api/v1/apps/one");
        (code == 200 && body.contains("\"Succeeded\"")).then_some(body)
    });
    let before: serde_json::Value = serde_json::from_str(&before).expect("JSON");
    assert!(
        before["changes"].as_array().is_some_and(|c| !c.is_empty()),
        "{before}"
    );
    // A commit that does not render, then one the policies deny.
    repo.upstream
        .write("apps/one/broken.yaml", "kind: [unclosed\n")
        .expect("write");
    let broken = repo.upstream.commit("broken YAML").expect("commit");
    push(&agent);
    let after = wait_for("the failed render", Duration::from_secs(60), || {
        let (code, body) = agent.get("/api/v1/apps/one");
        (code == 200 && body.contains("RenderFailed")).then_some(body)
    });
    let after: serde_json::Value = serde_json::from_str(&after).expect("JSON");
    assert_eq!(after["revision"], broken.as_str(), "{after}");
    assert_eq!(after["changes"], serde_json::json!([]), "{after}");
    assert!(
        after["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("broken.yaml")),
        "{after}"
    );
    let lines = wait_for("the log line", Duration::from_secs(10), || {
        let lines = failure_lines(&agent, "one");
        (!lines.is_empty()).then_some(lines)
    });
    let line = &lines[0]["fields"];
    assert_eq!(line["revision"], broken.as_str(), "{line}");
    assert_eq!(line["stage"], "render", "{line}");
    assert_eq!(line["reason"], "RenderFailed", "{line}");
    assert!(
        line["error"]
            .as_str()
            .is_some_and(|e| e.contains("broken.yaml")),
        "{line}"
    );

    repo.upstream
        .remove("apps/one/broken.yaml")
        .expect("remove");
    repo.upstream
        .write(
            "apps/one/privileged.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: root}\nspec:\n  containers:\n    - name: c\n      image: busybox:1.36\n      securityContext: {privileged: true}\n",
        )
        .expect("write");
    let denied = repo.upstream.commit("a privileged Pod").expect("commit");
    push(&agent);
    wait_for("the denied sync", Duration::from_secs(60), || {
        let (code, body) = agent.get("/api/v1/apps/one");
        (code == 200 && body.contains("\"Denied\"")).then_some(())
    });
    let lines = wait_for("the policy log line", Duration::from_secs(10), || {
        let lines = failure_lines(&agent, "one");
        let found = lines
            .into_iter()
            .find(|l| l["fields"]["revision"] == denied.as_str())?;
        Some(found)
    });
    assert_eq!(lines["fields"]["stage"], "policy", "{lines}");
    assert_eq!(lines["fields"]["reason"], "PolicyDenied", "{lines}");
}
