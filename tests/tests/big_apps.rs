//! Big apps: an inventory past 512 KiB is split over several ConfigMaps.
//!
//! - The agent is killed between the writes of two inventory parts (the emulation holds the
//!   second part's write; the test kills the agent while it waits): every object is still
//!   tracked, and after a restart the objects that left Git are pruned and nothing is left
//!   behind, neither objects nor parts.
//! - A big app (14,000 small ConfigMaps, 50,000 with `TETHER_BIG_APP_OBJECTS=50000`) syncs and
//!   prunes correctly, and when it leaves Git its ConfigMaps go with one collection delete.

#[path = "daemon/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "shard/support.rs"]
#[allow(dead_code)]
mod shard_support;

use std::collections::BTreeSet;
use std::ops::Range;
use std::time::{Duration, Instant};

use shard_support::{AGENT_NAMESPACE, APPS_NAMESPACE, Agent, Settings};
use support::wait_for;
use tether_tests::apiserver::ApiServer;
use tether_tests::gitserver::{GitDaemon, Upstream};

/// One app, `big`, whose ConfigMaps are written into files of 1,000 documents.
struct BigRepo {
    upstream: Upstream,
    daemon: GitDaemon,
    _dir: tempfile::TempDir,
}

impl BigRepo {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let upstream = Upstream::create(dir.path(), "config").expect("create the repository");
        let daemon = GitDaemon::start(dir.path()).expect("start git daemon");
        Self {
            upstream,
            daemon,
            _dir: dir,
        }
    }

    /// Commits the app with the objects `range` named by `name`, beside a small app (one
    /// ServiceAccount) that lets the big one leave Git without all of the source's apps
    /// leaving at once.
    fn commit(&self, range: Range<usize>, name: fn(usize) -> String) {
        let _ = std::fs::remove_dir_all(self.upstream.work.join("apps"));
        self.write_small();
        let all: Vec<usize> = range.collect();
        for (n, chunk) in all.chunks(1000).enumerate() {
            let mut text = String::new();
            for i in chunk {
                text.push_str(&format!(
                    "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\ndata:\n  v: \"{i}\"\n",
                    name(*i)
                ));
            }
            self.upstream
                .write(&format!("apps/big/objects-{n:03}.yaml"), text)
                .expect("write");
        }
        self.upstream.commit("objects").expect("commit");
    }
}

impl BigRepo {
    fn write_small(&self) {
        self.upstream
            .write(
                "apps/small/account.yaml",
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: small\n",
            )
            .expect("write");
    }

    /// Commits the small app alone: the big one leaves Git.
    fn commit_without_big(&self) {
        let _ = std::fs::remove_dir_all(self.upstream.work.join("apps"));
        self.write_small();
        self.upstream.commit("the big app leaves").expect("commit");
    }
}

/// The ConfigMaps of the app in the cluster.
fn live(server: &ApiServer) -> BTreeSet<String> {
    server
        .list_objects("configmaps")
        .iter()
        .filter(|o| o["metadata"]["namespace"] == APPS_NAMESPACE)
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned))
        .collect()
}

/// The inventory parts of the app, and the parts its head names.
fn parts(server: &ApiServer) -> (BTreeSet<String>, BTreeSet<String>) {
    let found = server
        .list_objects("configmaps")
        .iter()
        .filter(|o| o["metadata"]["labels"]["tether.dev/inventory-of"] == "big")
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    let named = server
        .object("configmaps", AGENT_NAMESPACE, "tether-inventory-big")
        .and_then(|h| h["data"]["parts"].as_str().map(str::to_owned))
        .map(|p| p.lines().map(str::to_owned).collect())
        .unwrap_or_default();
    (found, named)
}

/// The objects the agent's inventory of the app lists, read as the agent reads it.
async fn tracked(server: &ApiServer) -> BTreeSet<String> {
    let config = kube::Config::new(server.url().parse().expect("url"));
    let client = kube::Client::try_from(config).expect("client");
    tether_agent::sync::inventory::load(&client, AGENT_NAMESPACE, "big")
        .await
        .expect("the inventory loads")
        .map(|i| i.entries.into_keys().map(|r| r.name).collect())
        .unwrap_or_default()
}

fn names(range: Range<usize>, name: fn(usize) -> String) -> BTreeSet<String> {
    range.map(name).collect()
}

/// Waits until the cluster holds exactly `want` and every part left is one the head names.
fn converged(server: &ApiServer, want: &BTreeSet<String>, limit: Duration, agent: &Agent) {
    let deadline = Instant::now() + limit;
    loop {
        let now = live(server);
        let (found, named) = parts(server);
        if &now == want && found == named {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not converged: {} live of {} wanted, {} missing, {} extra; parts {found:?} named {named:?}\n{}",
            now.len(),
            want.len(),
            want.difference(&now).count(),
            now.difference(want).count(),
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn settings(limits: &'static str, extra: &'static str) -> Settings<'static> {
    Settings {
        replicas: 1,
        interval: "1h",
        limits,
        extra,
    }
}

/// Long names (DNS labels of at most 63 characters) make a big inventory from few objects
/// (~240 bytes an entry).
fn long(i: usize) -> String {
    let label = "l".repeat(60);
    format!("cm-{i:05}.{label}.{label}.{label}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_between_inventory_parts_loses_track_of_no_object() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = shard_support::cluster(dir.path()).await;
    let repo = BigRepo::start();
    let url = repo.daemon.url("config.git");
    repo.commit(0..2400, long);
    let agent = Agent::start_with(&server, &url, dir.path(), "big-0", &settings("", ""));
    converged(
        &server,
        &names(0..2400, long),
        Duration::from_secs(180),
        &agent,
    );
    let (_, first) = parts(&server);
    assert!(
        first.len() >= 2,
        "2,400 long entries take several parts: {first:?}"
    );

    // Objects 0..300 leave, 2400..2700 arrive; the second part's write is held, then the
    // agent is killed.
    server.holds().set("tether-inventory-big-", 1);
    repo.commit(300..2700, long);
    assert_eq!(agent.push(), 202);
    wait_for("a held inventory part", Duration::from_secs(120), || {
        (server.holds().held() > 0).then_some(())
    });
    agent.signal("-KILL");
    drop(agent);
    server.holds().clear();
    let (found, named) = parts(&server);
    assert_eq!(named, first, "the head still names the old parts");
    assert!(
        found.len() > named.len(),
        "a new part was written: {found:?}"
    );
    let tracked_now = tracked(&server).await;
    let on_cluster = live(&server);
    let untracked: Vec<&String> = on_cluster.difference(&tracked_now).collect();
    assert!(
        untracked.is_empty(),
        "objects no inventory part lists: {} (first {:?})",
        untracked.len(),
        untracked.first()
    );

    // The new objects leave again with 100 others; the restarted agent prunes them all.
    repo.commit(300..2300, long);
    let agent = Agent::start_with(&server, &url, dir.path(), "big-0", &settings("", ""));
    converged(
        &server,
        &names(300..2300, long),
        Duration::from_secs(180),
        &agent,
    );
    assert_eq!(tracked(&server).await, names(300..2300, long));
    agent.terminate();
    server.shutdown().await;
}

fn short(i: usize) -> String {
    format!("cm-{i:05}")
}

/// How many objects the big app has: 14,000 by default (an inventory of two parts and more,
/// a few minutes in a debug build); `TETHER_BIG_APP_OBJECTS=50000` runs the full scale
/// (about 12 minutes in a debug build, most of it the one-by-one prune).
fn big_app_size() -> usize {
    std::env::var("TETHER_BIG_APP_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(14_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_app_syncs_and_prunes() {
    let total = big_app_size();
    let pruned = total / 5;
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = shard_support::cluster(dir.path()).await;
    let repo = BigRepo::start();
    let url = repo.daemon.url("config.git");
    repo.commit(0..total, short);
    let started = Instant::now();
    let agent = Agent::start_with(
        &server,
        &url,
        dir.path(),
        "big-app",
        &settings(
            "maxObjects: 60000, renderTimeout: 10m, ",
            "policy: {enforcement: \"off\", limits: {maxObjectsPerApp: 60000, evaluationTimeout: 60s}}",
        ),
    );
    converged(
        &server,
        &names(0..total, short),
        Duration::from_secs(900),
        &agent,
    );
    println!(
        "{total} objects synced in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (found, _) = parts(&server);
    assert!(
        found.len() >= total / 7_000,
        "the inventory of {total} objects is in parts: {found:?}"
    );
    assert_eq!(tracked(&server).await.len(), total);

    repo.commit(pruned..total, short);
    let pruning = Instant::now();
    assert_eq!(agent.push(), 202);
    converged(
        &server,
        &names(pruned..total, short),
        Duration::from_secs(900),
        &agent,
    );
    println!(
        "{pruned} of them pruned in {:.1} s",
        pruning.elapsed().as_secs_f64()
    );
    assert_eq!(tracked(&server).await, names(pruned..total, short));

    // The app leaves Git: every one of its ConfigMaps goes, with one collection delete.
    let deletes_before = server.requests().count("delete", "configmaps");
    repo.commit_without_big();
    let leaving = Instant::now();
    assert_eq!(agent.push(), 202);
    converged(&server, &BTreeSet::new(), Duration::from_secs(900), &agent);
    println!(
        "{} objects of the departed app pruned in {:.1} s",
        total - pruned,
        leaving.elapsed().as_secs_f64()
    );
    assert_eq!(server.requests().count("deletecollection", "configmaps"), 1);
    let single = server.requests().count("delete", "configmaps") - deletes_before;
    assert!(
        single < 10,
        "the departed app's ConfigMaps were deleted one by one: {single} deletes"
    );
    agent.terminate();
    server.shutdown().await;
}
