//! Sharded replicas: only an app's owner keeps its ledger and sends its events. An app that
//! moves to another replica leaves its pending events to the new owner, which reads them
//! from the ledger in the app's status and sends them with the same event id; the replica
//! that lost it neither writes its ledger nor tries its events any more. Each replica sends
//! to a path of its own at the receiver, so the test tells who sent what; the emulation's
//! write log tells who wrote what.

use crate::shard_support::{self, AGENT_NAMESPACE, Agent, LEASE, Repo, Settings, app, value};
use crate::support::wait_for;
use std::collections::BTreeMap;
use std::time::Duration;
use tether_tests::apiserver::ApiServer;

const APPS: usize = 8;

fn settings(extra: &str) -> Settings<'_> {
    Settings {
        replicas: 2,
        interval: "3s",
        limits: "",
        extra,
    }
}

fn notifications(url: &str, identity: &str) -> String {
    format!(
        "notifications:
  providers:
  - name: hook
    type: webhook
    address: {url}/hook/{identity}
    retry: {{attempts: 1000000, backoff: 100ms, maxBackoff: 300ms}}
    rateLimit: {{perMinute: 60000}}
"
    )
}

fn owners(server: &ApiServer) -> BTreeMap<String, String> {
    (0..APPS)
        .filter_map(|i| shard_support::status_owner(server, &app(i)).map(|o| (app(i), o)))
        .collect()
}

/// The pending records kept in app `name`'s status.
fn pending(server: &ApiServer, name: &str) -> Vec<serde_json::Value> {
    let Some(cm) = server.object(
        "configmaps",
        AGENT_NAMESPACE,
        &format!("tether-status-{name}"),
    ) else {
        return Vec::new();
    };
    let memory: serde_json::Value =
        serde_json::from_str(cm["data"]["notified"].as_str().unwrap_or("{}")).unwrap_or_default();
    memory["pending"].as_array().cloned().unwrap_or_default()
}

/// Writes of the status ConfigMap of `name` by `writer` in `writes`.
fn status_writes(
    writes: &[tether_tests::apiserver::writes::Write],
    name: &str,
    writer: &str,
) -> usize {
    writes
        .iter()
        .filter(|w| w.name == format!("tether-status-{name}") && w.writer == writer)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_moves_to_another_replica_is_notified_by_its_new_owner_only() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = shard_support::cluster(dir.path()).await;
    let repo = Repo::start(APPS, "v1");
    let receiver = crate::receiver::Receiver::start();
    // The first replica's receiver is down: its events wait in the ledger, retried.
    receiver.fail("hook/tether-0", &[503; 100_000]);
    let url = repo.daemon.url("config.git");
    let extra_a = notifications(&receiver.url, "tether-0");
    let a = Agent::start_with(&server, &url, dir.path(), "tether-0", &settings(&extra_a));
    wait_for(
        "every app synced by tether-0",
        Duration::from_secs(120),
        || {
            let owned = owners(&server);
            ((0..APPS).all(|i| value(&server, &app(i)).as_deref() == Some("v1"))
                && owned.len() == APPS
                && owned.values().all(|o| o == "tether-0")
                && (0..APPS).all(|i| !pending(&server, &app(i)).is_empty()))
            .then_some(())
        },
    );
    let ids_of_a: BTreeMap<String, String> = (0..APPS)
        .map(|i| {
            let kept = pending(&server, &app(i));
            (
                app(i),
                kept[0]["event"]["eventId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let before_b = server.writes().len();

    // A second replica joins: the apps that hash to it move.
    let extra_b = notifications(&receiver.url, "tether-1");
    let b = Agent::start_with(&server, &url, dir.path(), "tether-1", &settings(&extra_b));
    let members = ["tether-0", "tether-1"];
    let moved: Vec<String> = (0..APPS)
        .map(app)
        .filter(|a| tether_agent::daemon::shard::rendezvous::owner(a, &members) == Some("tether-1"))
        .collect();
    assert!(
        !moved.is_empty() && moved.len() < APPS,
        "some apps hash to the new replica: {moved:?}"
    );
    wait_for(
        "the moved apps' status to name tether-1",
        Duration::from_secs(60),
        || {
            let owned = owners(&server);
            (0..APPS)
                .all(|i| {
                    let want = if moved.contains(&app(i)) {
                        "tether-1"
                    } else {
                        "tether-0"
                    };
                    owned.get(&app(i)).map(String::as_str) == Some(want)
                })
                .then_some(())
        },
    );
    println!("moved to tether-1: {moved:?}");
    // The new owner sends what was pending, from the ledger: the same events, same ids.
    wait_for(
        "the moved apps' pending events sent by tether-1",
        Duration::from_secs(60),
        || {
            let sent: Vec<(String, Option<String>)> = receiver
                .accepted("hook")
                .into_iter()
                .filter(|r| r.path == "tether-1")
                .map(|r| {
                    (
                        r.json["app"].as_str().unwrap_or_default().to_owned(),
                        r.event_id,
                    )
                })
                .collect();
            moved
                .iter()
                .all(|m| sent.contains(&(m.clone(), Some(ids_of_a[m].clone()))))
                .then_some(())
        },
    );
    wait_for(
        "the moved apps' ledgers cleared",
        Duration::from_secs(30),
        || {
            moved
                .iter()
                .all(|m| pending(&server, m).is_empty())
                .then_some(())
        },
    );
    // Settled (both replicas read the new membership): from now on, the replica that lost
    // the apps tries none of their events and writes none of their ledgers.
    std::thread::sleep(LEASE * 2);
    let mark_received = receiver.received().len();
    let mark_writes = server.writes().len();
    std::thread::sleep(Duration::from_secs(5));
    let later = receiver.received()[mark_received..].to_vec();
    let from_a: Vec<String> = later
        .iter()
        .filter(|r| r.path == "tether-0")
        .map(|r| r.json["app"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        !from_a.is_empty(),
        "tether-0 still retries its own apps' events (the check below means something)"
    );
    for m in &moved {
        assert!(
            !from_a.contains(m),
            "tether-0 tried an event of {m}, now tether-1's: {from_a:?}"
        );
    }
    let writes = server.writes().all();
    for m in &moved {
        assert!(
            status_writes(&writes[..before_b], m, "tether-0") > 0,
            "tether-0 kept {m}'s ledger while it owned it"
        );
        assert!(
            status_writes(&writes[before_b..], m, "tether-1") > 0,
            "tether-1 cleared {m}'s ledger"
        );
        assert_eq!(
            status_writes(&writes[mark_writes..], m, "tether-0"),
            0,
            "tether-0 wrote {m}'s status after losing it"
        );
    }
    // The apps tether-0 kept still wait in its ledger (its receiver is down).
    for i in 0..APPS {
        if !moved.contains(&app(i)) {
            let sent: Vec<(String, u16)> = receiver
                .received()
                .into_iter()
                .filter(|r| r.json["app"] == app(i).as_str())
                .map(|r| (r.path, r.answered))
                .collect();
            assert!(
                !pending(&server, &app(i)).is_empty(),
                "{} pending; sent {:?}\n{}",
                app(i),
                sent.iter()
                    .filter(|(_, code)| *code != 503)
                    .collect::<Vec<_>>(),
                a.logs()
                    .lines()
                    .filter(|l| l.contains(&app(i)) && !l.contains("DEBUG"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    crate::delivery::assert_clean(&receiver);
    drop(b);
    drop(a);
}
