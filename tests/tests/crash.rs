//! Crash safety of the agent: while it syncs a stream of changing commits it is killed with
//! SIGKILL at random points (fetch, render, apply, prune, inventory write) and restarted with
//! the same config and identity. At the end the last agent converges: the cluster equals the
//! last desired state, every inventory lists exactly its app's objects, no object labelled as
//! Tether's is left unlisted, objects never removed from Git kept their uid, and no agent
//! panicked.
//!
//! Every app also holds guarded objects: a ConfigMap that says `tether.dev/prune: disabled`,
//! a PersistentVolumeClaim and a StatefulSet (protected by their kind), and a
//! PersistentVolumeClaim that opts back in with `tether.dev/prune: enabled`. Every third
//! commit removes one of them from Git. After every kill and at the end, a protected object
//! that left Git is still there with its uid (never deleted, never recreated) and still listed
//! by its app's inventory, so that a later sync reports it even when the agent died before
//! its report; at the end it is listed as an orphan and reported by an `Orphaned` Event. The
//! unprotected one is gone at the end.
//!
//! The random choices come from a seeded generator; the seed is printed and can be replayed
//! with `TETHER_CRASH_SEED=<seed>`.

#[path = "daemon/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "crash/checks.rs"]
mod checks;
#[path = "crash/model.rs"]
mod model;
use checks::*;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hmac::Mac;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use support::{Agent, Cluster, Repo, http, wait_for};

use model::{APPS, Desired, Key};

/// How many times the agent is killed.
const KILLS: usize = 20;
/// The longest delay between the webhook and the kill, in milliseconds.
const MAX_DELAY_MS: u64 = 800;
/// Tether's managed-by label and its value.
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
const MANAGED_BY_VALUE: &str = "tether";
/// The identity every incarnation of the agent uses (so it re-takes its own lease).
const IDENTITY: &str = "agent-crash";
/// The guarded objects of every app: kind, name, and whether prune protects it.
const GUARDED: [(&str, &str, bool); 4] = [
    ("ConfigMap", "pinned", true),
    ("PersistentVolumeClaim", "data", true),
    ("StatefulSet", "db", true),
    ("PersistentVolumeClaim", "scratch", false),
];
/// How many guarded objects leave Git (one every third round).
const GUARDED_REMOVALS: usize = 6;

/// `(kind, namespace, name)` of a live object.
type ObjectKey = (String, String, String);

/// One guarded object of one app, and what the test knows of it.
struct Guarded {
    app: &'static str,
    kind: &'static str,
    name: &'static str,
    protected: bool,
    /// The round whose commit removed it from Git.
    removed_at: Option<usize>,
    /// Its uid after the first sync.
    uid: String,
}

impl Guarded {
    fn all() -> Vec<Self> {
        APPS.iter()
            .flat_map(|app| {
                GUARDED.iter().map(|(kind, name, protected)| Self {
                    app,
                    kind,
                    name,
                    protected: *protected,
                    removed_at: None,
                    uid: String::new(),
                })
            })
            .collect()
    }

    fn path(&self) -> String {
        format!("apps/{}/guarded-{}.yaml", self.app, self.name)
    }

    fn key(&self) -> ObjectKey {
        (self.kind.into(), self.app.into(), self.name.into())
    }

    /// How an inventory lists it (`group/version/kind/namespace/name`).
    fn inventory_line(&self) -> String {
        let group = if self.kind == "StatefulSet" {
            "apps"
        } else {
            ""
        };
        format!("{group}/v1/{}/{}/{}", self.kind, self.app, self.name)
    }

    /// How the agent names it in Events (`StatefulSet.apps one/db`).
    fn display(&self) -> String {
        let kind = if self.kind == "StatefulSet" {
            "StatefulSet.apps"
        } else {
            self.kind
        };
        format!("{kind} {}/{}", self.app, self.name)
    }

    fn manifest(&self) -> String {
        let name = self.name;
        match self.kind {
            "ConfigMap" => format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    tether.dev/prune: disabled\ndata:\n  value: {}-kept\n",
                self.app
            ),
            "PersistentVolumeClaim" => format!(
                "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n{}spec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n",
                if self.protected {
                    ""
                } else {
                    "  annotations:\n    tether.dev/prune: enabled\n"
                }
            ),
            _ => format!(
                "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {name}\nspec:\n  serviceName: {name}\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: {name}\n        image: postgres:16\n"
            ),
        }
    }
}

/// Which guarded objects leave Git, in order: one of each name (in a random app), then
/// others at random.
fn removal_plan(rng: &mut StdRng) -> Vec<usize> {
    let mut plan: Vec<usize> = (0..GUARDED.len())
        .map(|n| rng.gen_range(0..APPS.len()) * GUARDED.len() + n)
        .collect();
    while plan.len() < GUARDED_REMOVALS {
        let i = rng.gen_range(0..APPS.len() * GUARDED.len());
        if !plan.contains(&i) {
            plan.push(i);
        }
    }
    plan.shuffle(rng);
    plan
}

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

/// What the checks read, in one kubectl call: Namespaces, ConfigMaps, PersistentVolumeClaims,
/// StatefulSets and Events, in every namespace.
struct Snapshot {
    items: Vec<serde_json::Value>,
}

impl Snapshot {
    fn read(cluster: &Cluster) -> Self {
        let text = cluster.ok(&[
            "get",
            "namespaces,configmaps,persistentvolumeclaims,statefulsets.apps,events.events.k8s.io",
            "-A",
            "-o",
            "json",
        ]);
        let mut list: serde_json::Value = serde_json::from_str(&text).expect("a JSON list");
        let items = match list["items"].take() {
            serde_json::Value::Array(items) => items,
            other => panic!("no items: {other}"),
        };
        Self { items }
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a serde_json::Value> {
        self.items.iter().filter(move |item| item["kind"] == kind)
    }

    /// The objects of `kind` carrying Tether's managed-by label.
    fn managed<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a serde_json::Value> {
        self.of_kind(kind)
            .filter(|item| item["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGED_BY_VALUE)
    }
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
    let mut guarded = Guarded::all();
    for g in &guarded {
        repo.upstream.write(&g.path(), g.manifest()).expect("write");
    }
    let mut removals = removal_plan(&mut rng);
    let mut head = repo.upstream.commit("the starting state").expect("commit");

    let mut logs: Vec<String> = Vec::new();
    let mut agent = start(&cluster, &repo, dir.path());
    converge(&agent, &head, "the first syncs", seed, &cache);
    let mut first_uids = BTreeMap::new();
    let snapshot = Snapshot::read(&cluster);
    check_uids(&snapshot, &desired, &mut first_uids, "after the first sync");
    assert!(
        first_uids.len() >= APPS.len() * 2,
        "too few objects synced: {first_uids:?}"
    );
    let live = guarded_kinds_live(&snapshot);
    for g in &mut guarded {
        g.uid = live
            .get(&g.key())
            .unwrap_or_else(|| panic!("{} was not synced", g.display()))
            .clone();
    }

    let mut codes = BTreeMap::new();
    let mut stale_locks = 0;
    for round in 1..=KILLS {
        let changes = desired.mutate(&mut rng, round);
        desired.write_changes(&repo.upstream, &changes);
        let mut left = String::new();
        if round % 3 == 0
            && let Some(i) = removals.pop()
        {
            let g = &mut guarded[i];
            repo.upstream.remove(&g.path()).expect("remove");
            g.removed_at = Some(round);
            left = format!(", {} left Git", g.display());
        }
        head = repo
            .upstream
            .commit(&format!("round {round}"))
            .expect("commit");
        *codes.entry(push(&agent)).or_insert(0usize) += 1;
        let delay = rng.gen_range(0..=MAX_DELAY_MS);
        std::thread::sleep(Duration::from_millis(delay));
        println!("round {round}: {changes:?}{left}, kill after {delay} ms");
        logs.push(kill_9(agent));
        let when = format!("after kill {round}");
        let snapshot = Snapshot::read(&cluster);
        check_uids(&snapshot, &desired, &mut first_uids, &when);
        check_guarded(&snapshot, &guarded, &when, false, seed);
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
    let snapshot = Snapshot::read(&cluster);
    let live = managed_config_maps(&snapshot);
    let inventories = inventories(&snapshot);
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
        .filter(|k| {
            k.namespace != "tether-system"
                && !desired.objects().contains_key(*k)
                && !guarded
                    .iter()
                    .any(|g| g.kind == "ConfigMap" && g.name == k.name)
        })
        .collect();
    assert!(
        stray.is_empty(),
        "objects removed from Git are still there: {stray:?} (seed {seed})"
    );

    // Each inventory lists exactly its app's objects; every Tether object is listed somewhere.
    let mut listed = BTreeSet::new();
    for app in APPS {
        let objects = inventories[app].clone();
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
        expected.extend(
            guarded
                .iter()
                .filter(|g| g.app == app && g.removed_at.is_none())
                .map(Guarded::inventory_line),
        );
        expected.extend(
            guarded
                .iter()
                .filter(|g| g.app == app && g.protected && g.removed_at.is_some())
                .map(|g| format!("{} {ORPHAN}", g.inventory_line())),
        );
        assert_eq!(
            objects, expected,
            "inventory of {app} differs from Git (seed {seed})"
        );
        listed.extend(objects);
    }
    // Protected objects that left Git are listed as orphans.
    for (kind, namespace, name) in guarded_kinds_live(&snapshot).keys() {
        let group = if kind == "StatefulSet" { "apps" } else { "" };
        let line = format!("{group}/v1/{kind}/{namespace}/{name}");
        assert!(
            listed.contains(&line) || listed.contains(&format!("{line} {ORPHAN}")),
            "orphan: {kind} {namespace}/{name} is labelled as Tether's but no inventory lists it (seed {seed})"
        );
    }
    check_guarded(&snapshot, &guarded, "at the end", true, seed);
    assert!(
        removals.is_empty(),
        "not every planned removal happened: {removals:?}"
    );

    // Objects never removed from Git kept their uid through every kill.
    check_uids(&snapshot, &desired, &mut first_uids, "at the end");
    let kept = desired
        .objects()
        .keys()
        .filter(|k| !desired.ever_removed(k))
        .count();
    assert!(kept >= APPS.len(), "the uid check covered nothing");

    println!(
        "checked: {} desired objects, {} inventory lines, {} uids tracked, {} objects ever removed, {} guarded objects of which {} left Git",
        desired.objects().len(),
        listed.len(),
        first_uids.len(),
        desired.removed_count(),
        guarded.len(),
        guarded.iter().filter(|g| g.removed_at.is_some()).count()
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
