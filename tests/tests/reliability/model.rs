//! The desired state of the reliability test: three apps in one namespace whose ConfigMaps
//! change between rounds (adds, updates, removals), a protected PVC that leaves Git, and the
//! bookkeeping the final checks need.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

/// The namespace of every app.
pub const NS: &str = "shop";
/// The apps.
pub const APPS: [&str; 3] = ["alpha", "beta", "gamma"];
/// The ConfigMaps of each app that never leave Git (their uid must never change).
pub const STABLE: usize = 4;

/// One app's desired ConfigMaps: name -> data.
#[derive(Debug, Clone, Default)]
pub struct AppState {
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// Whether the protected PVC is still in Git (app `alpha` only).
    pub pvc: bool,
    next: usize,
}

/// The whole desired state and what left Git.
#[derive(Debug, Clone)]
pub struct Model {
    pub apps: BTreeMap<&'static str, AppState>,
    /// `(app, name)` of every ConfigMap that was removed from Git and not re-added.
    pub removed: BTreeSet<(String, String)>,
}

/// The name of the protected PVC (app `alpha`).
pub const PVC: &str = "alpha-data";

pub fn stable_name(app: &str, i: usize) -> String {
    format!("{app}-stable-{i}")
}

impl Model {
    pub fn new() -> Self {
        let mut apps = BTreeMap::new();
        for app in APPS {
            let mut state = AppState {
                pvc: app == "alpha",
                ..AppState::default()
            };
            for i in 0..STABLE {
                state
                    .config_maps
                    .insert(stable_name(app, i), data(&[("value", "v0")]));
            }
            apps.insert(app, state);
        }
        Self {
            apps,
            removed: BTreeSet::new(),
        }
    }

    /// One round of changes: per app, one to three of add / update / remove; the PVC leaves
    /// Git at `pvc_leaves_at`.
    pub fn change(&mut self, rng: &mut StdRng, round: usize, pvc_leaves_at: usize) {
        for (app, state) in &mut self.apps {
            for _ in 0..rng.gen_range(1..=3) {
                let dynamic: Vec<String> = state
                    .config_maps
                    .keys()
                    .filter(|n| !n.contains("-stable-"))
                    .cloned()
                    .collect();
                match rng.gen_range(0..3) {
                    0 if dynamic.len() < 4 => {
                        let name = format!("{app}-dyn-{}", state.next);
                        state.next += 1;
                        self.removed.remove(&((*app).to_owned(), name.clone()));
                        state
                            .config_maps
                            .insert(name, data(&[("value", &format!("r{round}"))]));
                    }
                    1 if !dynamic.is_empty() => {
                        let name = &dynamic[rng.gen_range(0..dynamic.len())];
                        state.config_maps.remove(name);
                        self.removed.insert(((*app).to_owned(), name.clone()));
                    }
                    _ => {
                        let names: Vec<String> = state.config_maps.keys().cloned().collect();
                        let name = &names[rng.gen_range(0..names.len())];
                        if let Some(d) = state.config_maps.get_mut(name) {
                            d.insert("value".into(), format!("r{round}-{}", rng.r#gen::<u16>()));
                        }
                    }
                }
            }
            if round == pvc_leaves_at {
                state.pvc = false;
            }
        }
    }

    /// The manifests of one app.
    pub fn manifests(&self, app: &str) -> Vec<Value> {
        let state = &self.apps[app];
        let mut out: Vec<Value> = state
            .config_maps
            .iter()
            .map(|(name, data)| {
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "labels": {"app": app}}, "data": data})
            })
            .collect();
        if state.pvc {
            out.push(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": PVC},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}));
        }
        out
    }
}

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The `(kind, name)` pairs an inventory text lists (in namespace [`NS`]).
pub fn inventory_objects(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let id = line.split(' ').next()?;
            let parts: Vec<&str> = id.split('/').collect();
            // group/version/kind/namespace/name
            (parts.len() == 5).then(|| (parts[2].to_owned(), parts[4].to_owned()))
        })
        .collect()
}
