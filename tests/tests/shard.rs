//! Apps sharded across three `tether-agent run` replicas (`replicas: 3`) against one API
//! emulation and a git daemon, with the emulation's log of writes per object and writer:
//!
//! 1. the apps spread evenly (±20%) and each is written by its owner only; `/api/v1/apps`
//!    and the status ConfigMaps (what `tether-agent status` reads) name the owner;
//! 2. in steady state no replica writes an app's objects or inventory (the status
//!    ConfigMaps' `lastSync` is counted and printed apart);
//! 3. `kill -9` of one replica: the others sync its apps after its Lease expires;
//! 4. restarted, it takes its apps back without a second apply of any object;
//! 5. a replica stopped with SIGSTOP in the middle of a round, past its Lease, and resumed
//!    writes nothing of an app (fencing), while the others carried on;
//! 6. the member Leases use optimistic concurrency: a stale update is refused with 409.
//!
//! Timings are printed (spread, failover), never asserted.

#[path = "daemon/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "shard/support.rs"]
mod shard_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use shard_support::{Agent, LEASE, Repo, app, app_write, status_owner, value};
use support::wait_for;
use tether_tests::apiserver::{ApiServer, FaultPlan};

const APPS: usize = 60;
const IDENTITIES: [&str; 3] = ["tether-0", "tether-1", "tether-2"];

/// Waits until every app's ConfigMap holds `value`.
fn all_at(server: &ApiServer, want: &str, limit: Duration, agents: &[&Agent]) {
    let deadline = Instant::now() + limit;
    loop {
        let behind: Vec<String> = (0..APPS)
            .map(app)
            .filter(|a| value(server, a).as_deref() != Some(want))
            .collect();
        if behind.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "apps not at {want}: {behind:?}\n{}",
            agents
                .iter()
                .map(|a| format!("--- {}\n{}", a.identity, a.logs()))
                .collect::<String>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each app's owner from its status ConfigMap, once every app names one of `members`.
fn owners(server: &ApiServer, members: &[&str]) -> BTreeMap<String, String> {
    wait_for(
        "every app's status to name an owner",
        Duration::from_secs(60),
        || {
            let owners: BTreeMap<String, String> = (0..APPS)
                .filter_map(|i| status_owner(server, &app(i)).map(|o| (app(i), o)))
                .collect();
            (owners.len() == APPS && owners.values().all(|o| members.contains(&o.as_str())))
                .then_some(owners)
        },
    )
}

fn spread(owners: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for owner in owners.values() {
        *count.entry(owner.clone()).or_insert(0) += 1;
    }
    count
}

fn start_all(server: &ApiServer, repo: &Repo, dir: &std::path::Path) -> Vec<Agent> {
    IDENTITIES
        .iter()
        .map(|id| Agent::start(server, repo, dir, id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_the_apps_take_over_a_dead_one_and_fence_a_stalled_one() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = shard_support::cluster(dir.path()).await;
    let repo = Repo::start(APPS, "v1");
    let mut agents = start_all(&server, &repo, dir.path());
    let refs: Vec<&Agent> = agents.iter().collect();
    all_at(&server, "v1", Duration::from_secs(120), &refs);

    // 1. Spread, and one writer per app.
    let owners = owners(&server, &IDENTITIES);
    let counts = spread(&owners);
    println!("spread of {APPS} apps over 3 replicas: {counts:?}");
    for id in IDENTITIES {
        let n = counts.get(id).copied().unwrap_or(0);
        assert!(
            (16..=24).contains(&n),
            "{id} owns {n} of {APPS} apps: {counts:?}"
        );
    }
    for w in server
        .writes()
        .all()
        .iter()
        .filter(|w| w.namespace == shard_support::APPS_NAMESPACE)
    {
        assert_eq!(
            owners.get(&w.name),
            Some(&w.writer),
            "{w:?} by a replica that does not own it"
        );
    }
    let listed = agents[0].apps();
    let shown: BTreeMap<String, String> = listed
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap_or("").to_owned(),
                a["owner"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        shown, owners,
        "/api/v1/apps of {} names the owners",
        agents[0].identity
    );

    // 2. Steady state: several polls (3 s) of every replica write nothing of an app.
    let mark = server.writes().len();
    std::thread::sleep(Duration::from_secs(8));
    let since = server.writes().since(mark);
    let (status, steady): (Vec<_>, Vec<_>) = since
        .into_iter()
        .filter(app_write)
        .partition(|w| w.name.starts_with("tether-status-"));
    println!(
        "steady state, 8 s across 3 replicas: {} writes of app objects and inventories, {} of status ConfigMaps (lastSync)",
        steady.len(),
        status.len()
    );
    assert!(steady.is_empty(), "steady-state writes: {steady:?}");

    // 3. kill -9 one replica, change every app: the others sync its apps too.
    let victim = agents.remove(1);
    let victim_id = victim.identity.clone();
    let victim_apps: Vec<String> = owners
        .iter()
        .filter(|(_, o)| **o == victim_id)
        .map(|(a, _)| a.clone())
        .collect();
    victim.signal("-KILL");
    let killed = Instant::now();
    drop(victim);
    repo.set_all("v2");
    let refs: Vec<&Agent> = agents.iter().collect();
    all_at(&server, "v2", Duration::from_secs(60), &refs);
    println!(
        "failover: the {} apps of the killed replica were synced {:.1} s after kill -9 (Lease {} s)",
        victim_apps.len(),
        killed.elapsed().as_secs_f64(),
        LEASE.as_secs()
    );
    let survivors = [agents[0].identity.as_str(), agents[1].identity.as_str()];
    for w in server
        .writes()
        .all()
        .iter()
        .filter(|w| w.namespace == shard_support::APPS_NAMESPACE && w.at > killed)
    {
        assert!(
            survivors.contains(&w.writer.as_str()),
            "{w:?} after the kill"
        );
    }

    // 4. Restart it: its apps move back, no object is applied twice.
    let restarted = Agent::start(&server, &repo, dir.path(), &victim_id);
    wait_for(
        "the restarted replica to own its apps again",
        Duration::from_secs(60),
        || {
            victim_apps
                .iter()
                .all(|a| status_owner(&server, a).as_deref() == Some(&victim_id))
                .then_some(())
        },
    );
    agents.insert(1, restarted);
    let per_object = server.writes().per_object();
    for i in 0..APPS {
        let key = (
            "configmaps".to_owned(),
            shard_support::APPS_NAMESPACE.to_owned(),
            app(i),
        );
        // Created at v1, updated to v2: two writes, whoever owned it.
        assert_eq!(per_object.get(&key), Some(&2), "writes of {}", app(i));
    }
    println!("writes per app ConfigMap after failover and return: 2 (create v1, update v2)");

    // 5. SIGSTOP one replica in the middle of a round (applies slowed down), past its Lease.
    let paused = &agents[2];
    let paused_apps: Vec<String> = (0..APPS)
        .map(app)
        .filter(|a| status_owner(&server, a).as_deref() == Some(&paused.identity))
        .collect();
    repo.set_all("v3");
    server.faults().set(FaultPlan {
        added_latency: Duration::from_millis(700),
        only_verbs: Some(vec!["apply".into()]),
        ..FaultPlan::default()
    });
    assert_eq!(paused.push(), 202);
    wait_for(
        "the paused replica to start applying v3",
        Duration::from_secs(30),
        || {
            paused_apps
                .iter()
                .any(|a| value(&server, a).as_deref() == Some("v3"))
                .then_some(())
        },
    );
    paused.signal("-STOP");
    server.faults().clear();
    repo.set_all("v4");
    for agent in &agents[..2] {
        agent.push();
    }
    let refs: Vec<&Agent> = agents.iter().collect();
    all_at(&server, "v4", Duration::from_secs(60), &refs);
    std::thread::sleep(LEASE);
    let resumed = Instant::now();
    paused.signal("-CONT");
    wait_for(
        "the resumed replica to own its apps again",
        Duration::from_secs(60),
        || {
            paused_apps
                .iter()
                .all(|a| status_owner(&server, a).as_deref() == Some(&paused.identity))
                .then_some(())
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let late: Vec<_> = server
        .writes()
        .all()
        .into_iter()
        .filter(|w| {
            w.at > resumed
                && w.writer == paused.identity
                && w.namespace == shard_support::APPS_NAMESPACE
        })
        .collect();
    assert!(late.is_empty(), "the resumed replica wrote: {late:?}");
    all_at(&server, "v4", Duration::from_secs(1), &refs);
    assert!(
        paused.logs().contains("write fenced"),
        "the resumed replica's round in flight was not fenced:\n{}",
        paused.logs()
    );

    // 6. A stale update of a member Lease is refused with 409.
    stale_lease_update_conflicts(&server).await;

    for agent in agents {
        agent.terminate();
    }
    server.shutdown().await;
}

async fn stale_lease_update_conflicts(server: &ApiServer) {
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::api::{Api, PostParams};
    let config = kube::Config::new(server.url().parse().expect("url"));
    let client = kube::Client::try_from(config).expect("client");
    let api: Api<Lease> = Api::namespaced(client, shard_support::AGENT_NAMESPACE);
    let mut lease = api
        .get("tether-member-tether-0")
        .await
        .expect("the member lease");
    lease.metadata.resource_version = Some("1".into());
    match api
        .replace("tether-member-tether-0", &PostParams::default(), &lease)
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 409, "{status:?}"),
        other => panic!("a stale update was not refused: {other:?}"),
    }
}

#[test]
fn the_sharded_overlay_runs_three_replicas_with_member_lease_rights_and_a_valid_config() {
    let out = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(support::root().join("deploy/overlays/sharded"))
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("YAML");
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in the overlay"))
    };
    assert_eq!(find("Deployment", "tether")["spec"]["replicas"], 3);
    let rules = &find("Role", "tether-shard-members")["rules"][0];
    assert_eq!(rules["resources"][0], "leases");
    for verb in ["get", "list", "create", "update", "delete"] {
        assert!(
            rules["verbs"]
                .as_array()
                .is_some_and(|v| v.iter().any(|x| x == verb)),
            "{verb}"
        );
    }
    assert_eq!(
        find("RoleBinding", "tether-shard-members")["subjects"][0]["name"],
        "tether"
    );
    let config = find("ConfigMap", "tether-config")["data"]["tether.yaml"]
        .as_str()
        .expect("tether.yaml");
    let parsed = tether_agent::config::Config::parse(
        config,
        "deploy/overlays/sharded/config.yaml",
        std::path::Path::new("/"),
    )
    .expect("the sharded config parses");
    assert_eq!(parsed.replicas, 3);
    assert!(parsed.leader_election.enabled);
}

/// Replicas starting together race to create the agent's key Secret (`tether-keys`): every
/// one of them starts, all with the same key; the losers of the create (409) read the
/// winner's Secret instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_racing_to_create_the_key_secret_all_start_with_one_key() {
    let server = ApiServer::start()
        .await
        .expect("the API server emulation starts");
    let client = kube::Client::try_from(kube::Config::new(server.url().parse().expect("URL")))
        .expect("client");
    for round in 0..5 {
        let namespace = format!("keys-{round}");
        server
            .put_object(serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": namespace}}))
            .expect("namespace");
        let replicas: Vec<tether_agent::secrets::KeyManager> = (0..3)
            .map(|_| tether_agent::secrets::KeyManager::new(client.clone(), &namespace))
            .collect();
        let now = std::time::SystemTime::now();
        let started = futures::future::join_all(replicas.iter().map(|r| r.ensure(now))).await;
        let mut recipients = std::collections::BTreeSet::new();
        let mut generated = 0;
        for status in started {
            let status = status.expect("every replica starts");
            generated += usize::from(status.generated);
            recipients.insert(
                status
                    .ring
                    .newest_recipient()
                    .expect("a recipient")
                    .to_string(),
            );
        }
        assert_eq!(
            recipients.len(),
            1,
            "one key for all replicas: {recipients:?}"
        );
        let stored = server
            .object("Secret", &namespace, "tether-keys")
            .expect("the key Secret");
        assert_eq!(
            stored["data"].as_object().map(serde_json::Map::len),
            Some(1),
            "one key stored"
        );
        assert!(generated >= 1, "a replica generated the key");
    }
}

/// A webhook reaches one replica, but its commit changes apps of every replica: the one that
/// fetched the new revision forwards it (the `tether-webhooks` ConfigMap the others watch),
/// so every app's owner syncs it long before its next poll (5 minutes here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_to_one_replica_makes_every_owner_sync_its_apps() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = shard_support::cluster(dir.path()).await;
    let repo = Repo::start(APPS, "v1");
    let settings = shard_support::Settings {
        replicas: 2,
        interval: "300s",
        ..shard_support::SHARDED
    };
    let url = repo.daemon.url("config.git");
    let agents: Vec<Agent> = IDENTITIES[..2]
        .iter()
        .map(|id| Agent::start_with(&server, &url, dir.path(), id, &settings))
        .collect();
    let refs: Vec<&Agent> = agents.iter().collect();
    all_at(&server, "v1", Duration::from_secs(120), &refs);
    let owners = owners(&server, &IDENTITIES[..2]);
    let others = owners
        .values()
        .filter(|o| **o != agents[0].identity)
        .count();
    assert!(others > 0, "the other replica owns apps too: {owners:?}");

    repo.set_all("v2");
    let sent = Instant::now();
    assert_eq!(agents[0].push(), 202, "the webhook is accepted");
    // Well under the 300 s poll: only a forwarded webhook makes the other owner sync.
    all_at(&server, "v2", Duration::from_secs(60), &refs);
    println!(
        "a webhook to one of 2 replicas: all {APPS} apps ({others} of the other) at the new revision in {:.2} s",
        sent.elapsed().as_secs_f64()
    );
}
