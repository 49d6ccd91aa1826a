//! Reliability of the sync engine under API faults: many sync rounds of three apps whose
//! desired objects change between rounds (adds, updates, removals, a protected PVC that leaves
//! Git), against the API server emulation answering 20% of requests with a 5xx, a 429 or a
//! timeout (and, every sixth round, a burst where most requests fail), while another field manager edits managed objects between rounds. Then the faults
//! are cleared and every app syncs once more: the cluster must equal the last desired state,
//! no object that stayed in Git may ever have been deleted (its uid never changes), protected
//! and foreign objects survive, inventories match the cluster, and nothing panics.
//!
//! Seeded: the seed is printed; `TETHER_RELIABILITY_SEED=<n>` replays a run (the faults, the
//! changes and the edits; the interleaving of concurrent requests may still differ). Bounded:
//! a held request lasts 2 s and the client gives up after 1.5 s; no timing is asserted.

#[path = "reliability/model.rs"]
mod model;

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::{Client, Config};
use model::{APPS, Model, NS, PVC, STABLE, inventory_objects, stable_name};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tether_agent::sync::{AppSpec, Engine, EngineConfig};
use tether_tests::apiserver::{ApiServer, FaultPlan};

const AGENT_NS: &str = "tether-system";
const ROUNDS: usize = 30;
/// A ConfigMap no app owns, made by someone else.
const FOREIGN: &str = "foreign-config";

fn seed() -> u64 {
    std::env::var("TETHER_RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().r#gen())
}

/// A client whose requests give up after 1.5 s, below the emulation's 2 s hold of a
/// "timed out" request, so that a timeout is seen as one by the client.
fn client(server: &ApiServer) -> Client {
    let mut config = Config::new(server.url().parse().expect("the server URL parses"));
    config.connect_timeout = Some(Duration::from_millis(1500));
    config.read_timeout = Some(Duration::from_millis(1500));
    config.write_timeout = Some(Duration::from_millis(1500));
    Client::try_from(config).expect("build a kube client")
}

fn faults(seed: u64) -> FaultPlan {
    FaultPlan {
        error_rate_5xx: 0.08,
        rate_429: 0.06,
        retry_after_secs: 0,
        timeout_rate: 0.06,
        timeout_hold: Duration::from_secs(2),
        seed,
        ..FaultPlan::default()
    }
}

/// Every sixth round is a burst: three requests in four fail (5xx and 429, no held
/// requests), so that syncs fail part-way (the engine rides out the ordinary 20% with its
/// retries).
fn burst(seed: u64) -> FaultPlan {
    FaultPlan {
        error_rate_5xx: 0.55,
        rate_429: 0.2,
        timeout_rate: 0.0,
        ..faults(seed)
    }
}

fn spec(app: &str) -> AppSpec {
    let mut spec = AppSpec::new(app, NS);
    // Removals pile up while rounds fail; the guard against mass deletion stays on (an
    // empty render never prunes) but lets a catch-up sync prune them.
    spec.max_prune_percent = Some(90);
    spec.self_heal = false;
    spec
}

fn uid(server: &ApiServer, kind: &str, name: &str) -> Option<String> {
    server
        .object(kind, NS, name)
        .and_then(|o| o["metadata"]["uid"].as_str().map(str::to_owned))
}

/// Another field manager edits a managed ConfigMap: it takes over `data.value` and adds its
/// own key. Retried a few times, since the faults apply to it too.
async fn edit_as_other_manager(client: &Client, name: &str, round: usize) -> bool {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        NS,
        &kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    );
    let params = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    let patch = json!({"data": {"value": format!("edited-{round}"), "edited-by": "someone"}});
    for _ in 0..5 {
        if api
            .patch(name, &params, &Patch::Merge(&patch))
            .await
            .is_ok()
        {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sync_rounds_under_api_faults_converge_without_a_wrong_prune() {
    let seed = seed();
    eprintln!("reliability seed: {seed} (replay with TETHER_RELIABILITY_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let server = ApiServer::start()
        .await
        .expect("start the API server emulation");
    for ns in [AGENT_NS, NS] {
        server
            .put_object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .expect("create a namespace");
    }
    server
        .put_object(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": FOREIGN, "namespace": NS}, "data": {"owner": "someone else"}}))
        .expect("create the foreign ConfigMap");
    let foreign_uid = uid(&server, "ConfigMap", FOREIGN).expect("the foreign ConfigMap's uid");
    let client = client(&server);
    let engine = Engine::new(
        client.clone(),
        EngineConfig {
            namespace: AGENT_NS.into(),
            health_timeout: Duration::ZERO,
            ..EngineConfig::default()
        },
    );

    let mut model = Model::new();
    let pvc_leaves_at = rng.gen_range(ROUNDS / 3..ROUNDS * 2 / 3);
    // uid of every stable object, from the first time it is seen.
    let mut stable_uids: BTreeMap<String, String> = BTreeMap::new();
    let mut pvc_uid: Option<String> = None;
    let (mut succeeded, mut failed, mut edits) = (0, 0, 0);
    for round in 0..ROUNDS {
        if round > 0 {
            model.change(&mut rng, round, pvc_leaves_at);
        }
        let plan_seed = seed.wrapping_add(round as u64);
        server.faults().set(if round % 6 == 5 {
            burst(plan_seed)
        } else {
            faults(plan_seed)
        });
        let batch = APPS
            .iter()
            .map(|app| (spec(app), format!("round-{round}"), model.manifests(app)))
            .collect();
        for result in engine.sync_all(batch).await {
            assert_ne!(
                result.reason(),
                "SyncAborted",
                "seed {seed}, round {round}: the sync of {} ended abnormally: {:?}",
                result.app,
                result.error
            );
            if result.is_success() {
                succeeded += 1;
            } else {
                failed += 1;
            }
        }
        // No object that stayed in Git was ever deleted: its uid never changes.
        for app in APPS {
            for i in 0..STABLE {
                let name = stable_name(app, i);
                if let Some(now) = uid(&server, "ConfigMap", &name) {
                    let first = stable_uids.entry(name.clone()).or_insert(now.clone());
                    assert_eq!(
                        *first, now,
                        "seed {seed}, round {round}: {name} was recreated"
                    );
                } else {
                    assert!(
                        !stable_uids.contains_key(&name),
                        "seed {seed}, round {round}: {name} was deleted"
                    );
                }
            }
        }
        if let Some(now) = uid(&server, "PersistentVolumeClaim", PVC) {
            let first = pvc_uid.get_or_insert(now.clone());
            assert_eq!(
                *first, now,
                "seed {seed}, round {round}: the PVC was recreated"
            );
        } else {
            assert!(
                pvc_uid.is_none(),
                "seed {seed}, round {round}: the PVC was deleted"
            );
        }
        assert_eq!(
            uid(&server, "ConfigMap", FOREIGN).as_deref(),
            Some(foreign_uid.as_str()),
            "seed {seed}, round {round}: the foreign ConfigMap was touched"
        );
        // Between rounds, another field manager edits one managed object.
        let app = APPS[rng.gen_range(0..APPS.len())];
        let name = stable_name(app, rng.gen_range(0..STABLE));
        if stable_uids.contains_key(&name) && edit_as_other_manager(&client, &name, round).await {
            edits += 1;
        }
    }
    let injected = server.faults().injected();
    server.faults().clear();
    eprintln!(
        "{ROUNDS} rounds: {succeeded} app syncs succeeded, {failed} failed; {injected} faults \
         injected; {edits} edits by another field manager"
    );
    assert!(injected > 0, "seed {seed}: no fault was injected");
    assert!(
        edits > 0,
        "seed {seed}: no edit by another field manager went through"
    );

    // The final sync, without faults, converges.
    let batch = APPS
        .iter()
        .map(|app| (spec(app), "final".to_owned(), model.manifests(app)))
        .collect();
    for result in engine.sync_all(batch).await {
        assert!(
            result.is_success(),
            "seed {seed}: the final sync of {} failed: {:?}",
            result.app,
            result.error
        );
    }
    let mut problems = Vec::new();
    for app in APPS {
        let state = &model.apps[app];
        for (name, data) in &state.config_maps {
            match server.object("ConfigMap", NS, name) {
                None => problems.push(format!("{app}: ConfigMap {name} is missing")),
                Some(live) => {
                    for (key, value) in data {
                        if live["data"][key] != Value::String(value.clone()) {
                            problems.push(format!(
                                "{app}: ConfigMap {name}: data.{key} is {} instead of {value:?}",
                                live["data"][key]
                            ));
                        }
                    }
                }
            }
        }
        // Inventories list exactly the desired objects (the PVC, once it left Git, may stay
        // listed as orphaned or not), and every listed object exists.
        let text = server
            .object("ConfigMap", AGENT_NS, &format!("tether-inventory-{app}"))
            .and_then(|cm| cm["data"]["objects"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut listed = inventory_objects(&text);
        if app == "alpha" && !state.pvc {
            listed.remove(&("PersistentVolumeClaim".to_owned(), PVC.to_owned()));
        }
        let mut wanted: std::collections::BTreeSet<(String, String)> = state
            .config_maps
            .keys()
            .map(|n| ("ConfigMap".to_owned(), n.clone()))
            .collect();
        if state.pvc {
            wanted.insert(("PersistentVolumeClaim".to_owned(), PVC.to_owned()));
        }
        if listed != wanted {
            problems.push(format!(
                "{app}: the inventory lists {listed:?}, the desired set is {wanted:?}"
            ));
        }
    }
    // Everything that left Git is gone, except the protected PVC.
    for (app, name) in &model.removed {
        if server.object("ConfigMap", NS, name).is_some() {
            problems.push(format!(
                "{app}: ConfigMap {name} left Git but is still there"
            ));
        }
    }
    assert_eq!(
        uid(&server, "PersistentVolumeClaim", PVC),
        pvc_uid,
        "the protected PVC survives with its uid"
    );
    assert!(pvc_uid.is_some(), "the PVC was applied at some round");
    assert_eq!(
        uid(&server, "ConfigMap", FOREIGN).as_deref(),
        Some(foreign_uid.as_str()),
        "the foreign ConfigMap survives"
    );
    for (name, first) in &stable_uids {
        assert_eq!(
            uid(&server, "ConfigMap", name).as_ref(),
            Some(first),
            "seed {seed}: {name} keeps its uid"
        );
    }
    assert_eq!(
        stable_uids.len(),
        APPS.len() * STABLE,
        "every stable object was applied"
    );
    assert!(
        problems.is_empty(),
        "seed {seed}: after the final sync:\n{}",
        problems.join("\n")
    );
    server.shutdown().await;
}
