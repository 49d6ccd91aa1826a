//! The life-cycle events Argo CD's `on-created`, `on-deleted`, `on-sync-running` and
//! `on-sync-status-unknown` triggers stand for, end to end through the daemon: sent where a
//! rule of `tether.yaml` names them (`appCreated`, `appDeleted`, `syncRunning`,
//! `syncStatusUnknown`) and where an Argo CD subscription annotation asks for them.

use crate::daemon::push;
use crate::receiver::Receiver;
use crate::support::{Agent, Cluster, Repo, Settings, wait_for};
use serde_json::Value;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(60);

/// App `name`'s ConfigMap, subscribed (Argo CD annotations) to four triggers on the
/// `argo` provider.
fn annotated(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  annotations:
    notifications.argoproj.io/subscribe.on-created.argo: ''
    notifications.argoproj.io/subscribe.on-sync-running.argo: ''
    notifications.argoproj.io/subscribe.on-sync-status-unknown.argo: ''
    notifications.argoproj.io/subscribe.on-deleted.argo: ''
data:
  value: {value}
  app: {name}
"
    )
}

/// `(kind, app, resolved)` of the events at `path` (`events`: the rule's, `argo`: the
/// subscriptions').
fn seen(receiver: &Receiver, path: &str) -> Vec<(String, String, bool)> {
    receiver
        .accepted("hook")
        .into_iter()
        .filter(|r| r.path == path)
        .map(|r| {
            (
                r.json["kind"].as_str().unwrap_or_default().to_owned(),
                r.json["app"].as_str().unwrap_or_default().to_owned(),
                r.json["resolved"] == true,
            )
        })
        .collect()
}

fn count(receiver: &Receiver, path: &str, kind: &str, app: &str, resolved: bool) -> usize {
    seen(receiver, path)
        .iter()
        .filter(|(k, a, r)| k == kind && a == app && *r == resolved)
        .count()
}

fn wait_event(receiver: &Receiver, path: &str, kind: &str, app: &str, resolved: bool) -> Value {
    wait_for(
        &format!("{kind} of {app} (resolved: {resolved}) at {path}"),
        STEP,
        || {
            receiver
                .accepted("hook")
                .into_iter()
                .find(|r| {
                    r.path == path
                        && r.json["kind"] == kind
                        && r.json["app"] == app
                        && (r.json["resolved"] == true) == resolved
                })
                .map(|r| r.json)
        },
    )
}

fn fetches(agent: &Agent) -> u64 {
    let (_, metrics) = agent.get("/metrics");
    metrics
        .lines()
        .find(|l| l.starts_with("tether_git_fetch_duration_seconds_count"))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, n)| n.parse::<u64>().ok())
        .unwrap_or(0)
}

/// Pushes and waits until the agent has fetched again.
fn round(agent: &Agent) {
    let before = fetches(agent);
    push(agent);
    wait_for("a round", STEP, || (fetches(agent) > before).then_some(()));
}

#[test]
fn apps_created_and_deleted_syncs_running_and_unknown_sync_status_are_notified_once() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    for app in ["one", "two"] {
        repo.upstream
            .write(&format!("apps/{app}/settings.yaml"), annotated(app, "v1"))
            .expect("write");
    }
    repo.upstream.commit("subscriptions").expect("commit");
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let extra = format!(
        "notifications:
  agentUrl: https://tether.example.com/
  providers:
  - name: hook
    type: webhook
    address: {url}/hook/events
    retry: {{attempts: 4, backoff: 50ms}}
    rateLimit: {{perMinute: 6000}}
  - name: argo
    type: webhook
    address: {url}/hook/argo
    retry: {{attempts: 4, backoff: 50ms}}
    rateLimit: {{perMinute: 6000}}
  rules:
  - providers: [hook]
    events: [appCreated, appDeleted, syncRunning, syncStatusUnknown]
",
        url = receiver.url
    );
    let settings = Settings {
        extra: &extra,
        ..Settings::default()
    };
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "notify-life", settings);
    // New apps: created, then their first sync starts.
    for app in ["one", "two"] {
        wait_event(&receiver, "events", "appCreated", app, false);
        let running = wait_event(&receiver, "events", "syncRunning", app, false);
        assert_eq!(
            running["commit"]["revision"].as_str().map(str::len),
            Some(40),
            "{running}"
        );
        // Each event names the commit's subject and author and links to the app's page.
        assert_eq!(running["commit"]["subject"], "subscriptions", "{running}");
        assert!(
            running["commit"]["author"]
                .as_str()
                .is_some_and(|a| a.contains('<') && a.ends_with('>')),
            "{running}"
        );
        assert_eq!(
            running["link"],
            format!("https://tether.example.com/apps/{app}"),
            "{running}"
        );
        wait_event(&receiver, "argo", "syncRunning", app, false);
        wait_event(&receiver, "argo", "appCreated", app, false);
    }
    // A restart and an idle round: the apps are not new, their revision's sync start was
    // notified already.
    let mut agent = agent;
    agent.process.stop();
    drop(agent);
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "notify-life", settings);
    wait_for("the restarted agent's first round", STEP, || {
        (fetches(&agent) > 0).then_some(())
    });
    round(&agent);
    std::thread::sleep(Duration::from_secs(2));
    for app in ["one", "two"] {
        assert_eq!(count(&receiver, "events", "appCreated", app, false), 1);
        assert_eq!(count(&receiver, "events", "syncRunning", app, false), 1);
    }
    assert!(
        seen(&receiver, "events")
            .iter()
            .all(|(k, _, _)| k == "appCreated" || k == "syncRunning"),
        "{:?}",
        seen(&receiver, "events")
    );

    // One's render fails: its sync status is unknown (and no sync starts).
    repo.upstream
        .write("apps/one/broken.yaml", "kind: [unclosed\n")
        .expect("write");
    repo.upstream.commit("one: break it").expect("commit");
    push(&agent);
    let unknown = wait_event(&receiver, "events", "syncStatusUnknown", "one", false);
    assert_eq!(unknown["stage"], "render", "{unknown}");
    assert_eq!(unknown["severity"], "warning", "{unknown}");
    wait_event(&receiver, "argo", "syncStatusUnknown", "one", false);
    assert_eq!(count(&receiver, "events", "syncRunning", "one", false), 1);
    // Fixed: known again, and the new revision's sync starts.
    repo.upstream
        .remove("apps/one/broken.yaml")
        .expect("remove");
    repo.upstream
        .write("apps/one/settings.yaml", annotated("one", "v2"))
        .expect("write");
    repo.upstream.commit("one: fix it").expect("commit");
    push(&agent);
    wait_event(&receiver, "events", "syncStatusUnknown", "one", true);
    wait_for("one's second sync start", STEP, || {
        (count(&receiver, "events", "syncRunning", "one", false) == 2).then_some(())
    });
    // Two's inputs did not change: at rest, not synced, no sync start.
    assert_eq!(count(&receiver, "events", "syncRunning", "two", false), 1);

    // The source cannot be fetched: both apps' sync status is unknown; then known again.
    let away = repo.upstream.bare.with_extension("away");
    std::fs::rename(&repo.upstream.bare, &away).expect("move the repository away");
    push(&agent);
    for app in ["one", "two"] {
        let e = wait_event(&receiver, "events", "syncStatusUnknown", app, false);
        if app == "two" {
            assert_eq!(e["stage"], "fetch", "{e}");
        }
    }
    std::fs::rename(&away, &repo.upstream.bare).expect("move the repository back");
    push(&agent);
    wait_for("both known again", STEP, || {
        (count(&receiver, "events", "syncStatusUnknown", "one", true) == 2
            && count(&receiver, "events", "syncStatusUnknown", "two", true) == 1)
            .then_some(())
    });

    // Two leaves Git: deleted, after its objects were pruned.
    repo.upstream
        .remove("apps/two/settings.yaml")
        .expect("remove");
    repo.upstream.commit("two: remove it").expect("commit");
    push(&agent);
    let deleted = wait_event(&receiver, "events", "appDeleted", "two", false);
    assert!(
        deleted["message"]
            .as_str()
            .is_some_and(|m| m.contains("objects pruned")),
        "{deleted}"
    );
    wait_event(&receiver, "argo", "appDeleted", "two", false);
    wait_for("two's ConfigMap pruned", STEP, || {
        (!cluster.exists(&["get", "configmap", "settings", "-n", "two"])).then_some(())
    });

    // Each notice once, each with an id of its own; the subscriptions got only what they
    // asked for; no secret anywhere.
    std::thread::sleep(Duration::from_secs(2));
    // (An event sent to two providers carries one id to both.)
    for path in ["events", "argo"] {
        let all: Vec<_> = receiver
            .accepted("hook")
            .into_iter()
            .filter(|r| r.path == path)
            .collect();
        let mut ids: Vec<String> = all
            .iter()
            .map(|r| r.event_id.clone().expect("an event id"))
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "one id per event at {path}");
    }
    for (kind, _, _) in seen(&receiver, "argo") {
        assert!(
            [
                "appCreated",
                "syncRunning",
                "syncStatusUnknown",
                "appDeleted"
            ]
            .contains(&kind.as_str()),
            "{kind} was not subscribed to"
        );
    }
    assert_eq!(count(&receiver, "events", "appDeleted", "two", false), 1);
    assert_eq!(count(&receiver, "events", "appCreated", "one", false), 1);
    assert_eq!(count(&receiver, "argo", "appCreated", "one", false), 1);
    crate::delivery::assert_clean(&receiver);
    drop(agent);
}
