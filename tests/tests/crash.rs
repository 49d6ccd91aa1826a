//! Crash safety of the agent: while it syncs a stream of changing commits it is killed with
//! SIGKILL at random points (fetch, render, apply, prune, inventory write) and restarted with
//! the same config and identity. At the end the last agent converges: the cluster equals the
//! last desired state, every inventory lists exactly its app's objects, no object labelled as
//! Tether's is left unlisted, objects never removed from Git kept their uid, and no agent
//! panicked.
//!
//! The random choices come from a seeded generator; the seed is printed and can be replayed
//! with `TETHER_CRASH_SEED=<seed>`.

#[path = "daemon/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "crash/model.rs"]
mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hmac::Mac;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{Agent, Cluster, Repo, http, wait_for};

use model::{APPS, Desired, Key};

/// How many times the agent is killed.
const KILLS: usize = 20;
/// The longest delay between the webhook and the kill, in milliseconds.
const MAX_DELAY_MS: u64 = 800;
/// Tether's managed-by label.
const MANAGED_BY: &str = "app.kubernetes.io/managed-by=tether";
/// The identity every incarnation of the agent uses (so it re-takes its own lease).
const IDENTITY: &str = "agent-crash";

fn signed(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(support::WEBHOOK_SECRET.as_bytes())
        .expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn seed() -> u64 {
    match std::env::var("TETHER_CRASH_SEED") {
        Ok(text) => text.trim().parse().expect("TETHER_CRASH_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

/// The app's status from the agent's API, when it answers.
fn app_status(agent: &Agent, name: &str) -> Option<serde_json::Value> {
    let (code, body) = agent.get(&format!("/api/v1/apps/{name}"));
    (code == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

/// Waits (bounded) until every app reports `head` synced; on a timeout, fails with the
/// statuses and the agent's log.
fn converge(agent: &Agent, head: &str, what: &str, seed: u64, cache: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let statuses: Vec<Option<serde_json::Value>> =
            APPS.iter().map(|app| app_status(agent, app)).collect();
        if statuses.iter().all(|s| {
            s.as_ref()
                .is_some_and(|s| s["sync"] == "Succeeded" && s["revision"] == head)
        }) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} at {head} (seed {seed}): {statuses:?}\n\
             lock files left in the fetch cache: {:?}\n{}",
            lock_files(cache),
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every ConfigMap carrying Tether's managed-by label: key -> (uid, data.value).
fn managed_config_maps(cluster: &Cluster) -> BTreeMap<Key, (String, Option<String>)> {
    let text = cluster.ok(&["get", "configmaps", "-A", "-l", MANAGED_BY, "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&text).expect("a JSON list");
    let mut out = BTreeMap::new();
    for item in list["items"].as_array().expect("items") {
        let meta = &item["metadata"];
        let key = Key {
            namespace: meta["namespace"].as_str().unwrap_or_default().to_owned(),
            name: meta["name"].as_str().unwrap_or_default().to_owned(),
        };
        let uid = meta["uid"].as_str().unwrap_or_default().to_owned();
        let value = item["data"]["value"].as_str().map(str::to_owned);
        out.insert(key, (uid, value));
    }
    out
}

/// The uid of each app's Namespace that exists.
fn namespace_uids(cluster: &Cluster) -> BTreeMap<Key, String> {
    let text = cluster.ok(&["get", "namespaces", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&text).expect("a JSON list");
    let mut out = BTreeMap::new();
    for item in list["items"].as_array().expect("items") {
        let name = item["metadata"]["name"].as_str().unwrap_or_default();
        if APPS.contains(&name) {
            let uid = item["metadata"]["uid"].as_str().unwrap_or_default();
            out.insert(Key::namespace(name), uid.to_owned());
        }
    }
    out
}

/// The object lines of app `app`'s inventory (`group/version/kind/namespace/name`).
fn inventory(cluster: &Cluster, app: &str) -> BTreeSet<String> {
    let text = cluster.ok(&[
        "get",
        "configmap",
        &format!("tether-inventory-{app}"),
        "-n",
        "tether-system",
        "-o",
        "jsonpath={.data.objects}",
    ]);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("tether-inventory v1"),
        "inventory of {app}:\n{text}"
    );
    let mut objects = BTreeSet::new();
    for line in lines {
        if line.starts_with("revision ") || line.starts_with("digest ") || line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "inventory of {app}: bad line {line:?}");
        assert!(
            objects.insert(fields[0].to_owned()),
            "inventory of {app} lists {} twice",
            fields[0]
        );
    }
    objects
}

/// Records the first uid seen of each object never removed from Git, and fails when one of
/// them shows a different uid (a needless recreation).
fn check_uids(cluster: &Cluster, desired: &Desired, first: &mut BTreeMap<Key, String>, when: &str) {
    let mut seen: BTreeMap<Key, String> = managed_config_maps(cluster)
        .into_iter()
        .map(|(k, (uid, _))| (k, uid))
        .collect();
    seen.extend(namespace_uids(cluster));
    for (key, uid) in seen {
        if desired.ever_removed(&key) || !desired.ever_desired(&key) {
            continue;
        }
        let recorded = first.entry(key.clone()).or_insert_with(|| uid.clone());
        assert_eq!(
            *recorded, uid,
            "{key} was recreated although it never left Git ({when})"
        );
    }
}

/// The `*.lock` files under `dir` (a kill during a fetch may leave them behind).
fn lock_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "lock") {
                out.push(path);
            }
        }
    }
    out
}

/// Kills the agent with SIGKILL by PID and reaps it; returns its log.
fn kill_9(mut agent: Agent) -> String {
    agent.signal("-KILL");
    wait_for("the killed agent to exit", Duration::from_secs(30), || {
        agent.process.has_exited().then_some(())
    });
    agent.logs()
}

fn start(cluster: &Cluster, repo: &Repo, dir: &std::path::Path) -> Agent {
    Agent::start(cluster, repo, dir, IDENTITY)
}

/// Asks the agent to fetch now; a refusal while it starts is not an error (it fetches at
/// start anyway).
fn push(agent: &Agent) -> u16 {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let (code, _) = http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", &signed(body))],
        body,
    );
    code
}

#[test]
fn an_agent_killed_at_random_points_of_its_syncs_converges_without_orphans_or_recreations() {
    let seed = seed();
    println!("crash test seed: {seed} (replay with TETHER_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    // The agent's fetch cache (the config names it after the identity), kept across kills.
    let cache = dir.path().join(format!("cache-{IDENTITY}"));

    // The starting state: every app has its `settings` plus a few extras.
    let mut desired = Desired::new();
    desired.start(&mut rng);
    desired.write_all(&repo.upstream);
    let mut head = repo.upstream.commit("the starting state").expect("commit");

    let mut logs: Vec<String> = Vec::new();
    let mut agent = start(&cluster, &repo, dir.path());
    converge(&agent, &head, "the first syncs", seed, &cache);
    let mut first_uids = BTreeMap::new();
    check_uids(&cluster, &desired, &mut first_uids, "after the first sync");
    assert!(
        first_uids.len() >= APPS.len() * 2,
        "too few objects synced: {first_uids:?}"
    );

    let mut codes = BTreeMap::new();
    let mut stale_locks = 0;
    for round in 1..=KILLS {
        let changes = desired.mutate(&mut rng, round);
        desired.write_changes(&repo.upstream, &changes);
        head = repo
            .upstream
            .commit(&format!("round {round}"))
            .expect("commit");
        *codes.entry(push(&agent)).or_insert(0usize) += 1;
        let delay = rng.gen_range(0..=MAX_DELAY_MS);
        std::thread::sleep(Duration::from_millis(delay));
        println!("round {round}: {changes:?}, kill after {delay} ms");
        logs.push(kill_9(agent));
        check_uids(
            &cluster,
            &desired,
            &mut first_uids,
            &format!("after kill {round}"),
        );
        let locks = lock_files(&cache);
        if !locks.is_empty() {
            println!("round {round}: the kill left lock files: {locks:?}");
            stale_locks += 1;
        }
        agent = start(&cluster, &repo, dir.path());
    }
    println!("webhook answers: {codes:?}; kills that left lock files: {stale_locks}");

    // The last agent runs until every app reports the last commit as synced.
    converge(
        &agent,
        &head,
        "convergence on the last commit",
        seed,
        &cache,
    );
    logs.push(agent.logs());
    let last_log = agent.logs();

    // The cluster equals the last desired state.
    let live = managed_config_maps(&cluster);
    for (key, value) in desired.objects() {
        match live.get(key) {
            Some((_, got)) => assert_eq!(
                got.as_deref(),
                Some(value.as_str()),
                "{key} has stale content (seed {seed})"
            ),
            None => panic!("{key} is missing (seed {seed})\n{last_log}"),
        }
    }
    let stray: Vec<&Key> = live
        .keys()
        .filter(|k| k.namespace != "tether-system" && !desired.objects().contains_key(*k))
        .collect();
    assert!(
        stray.is_empty(),
        "objects removed from Git are still there: {stray:?} (seed {seed})"
    );

    // Each inventory lists exactly its app's objects; every Tether object is listed somewhere.
    let mut listed = BTreeSet::new();
    for app in APPS {
        let objects = inventory(&cluster, app);
        let mut expected: BTreeSet<String> = desired
            .objects()
            .keys()
            .filter(|k| k.namespace == *app)
            .map(|k| format!("/v1/ConfigMap/{}/{}", k.namespace, k.name))
            .collect();
        // A created Namespace, when the agent records it, is one of the app's objects.
        let namespace = format!("/v1/Namespace//{app}");
        if objects.contains(&namespace) {
            expected.insert(namespace);
        }
        assert_eq!(
            objects, expected,
            "inventory of {app} differs from Git (seed {seed})"
        );
        listed.extend(objects);
    }
    for key in live.keys().filter(|k| k.namespace != "tether-system") {
        let line = format!("/v1/ConfigMap/{}/{}", key.namespace, key.name);
        assert!(
            listed.contains(&line),
            "orphan: {key} is labelled as Tether's but no inventory lists it (seed {seed})"
        );
    }

    // Objects never removed from Git kept their uid through every kill.
    check_uids(&cluster, &desired, &mut first_uids, "at the end");
    let kept = desired
        .objects()
        .keys()
        .filter(|k| !desired.ever_removed(k))
        .count();
    assert!(kept >= APPS.len(), "the uid check covered nothing");

    println!(
        "checked: {} desired objects, {} inventory lines, {} uids tracked, {} objects ever removed",
        desired.objects().len(),
        listed.len(),
        first_uids.len(),
        desired.removed_count()
    );

    // No incarnation panicked.
    for (n, log) in logs.iter().enumerate() {
        assert!(
            !log.contains("panicked"),
            "agent incarnation {n} panicked (seed {seed}):\n{log}"
        );
    }
    agent.terminate();
    wait_for("the last agent's exit", Duration::from_secs(60), || {
        agent.process.has_exited().then_some(())
    });
}
