//! What the crash test checks in a snapshot of the cluster: managed ConfigMaps, namespace
//! UIDs, inventories, guarded objects, lock files.

use super::*;

/// Every ConfigMap carrying Tether's managed-by label: key -> (uid, data.value).
pub(crate) fn managed_config_maps(snapshot: &Snapshot) -> BTreeMap<Key, (String, Option<String>)> {
    let mut out = BTreeMap::new();
    for item in snapshot.managed("ConfigMap") {
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
pub(crate) fn namespace_uids(snapshot: &Snapshot) -> BTreeMap<Key, String> {
    let mut out = BTreeMap::new();
    for item in snapshot.of_kind("Namespace") {
        let name = item["metadata"]["name"].as_str().unwrap_or_default();
        if APPS.contains(&name) {
            let uid = item["metadata"]["uid"].as_str().unwrap_or_default();
            out.insert(Key::namespace(name), uid.to_owned());
        }
    }
    out
}

/// The object lines (`group/version/kind/namespace/name`) of every app's inventory; an app
/// without one lists nothing.
pub(crate) fn inventories(snapshot: &Snapshot) -> BTreeMap<&'static str, BTreeSet<String>> {
    APPS.iter()
        .map(|app| {
            let name = format!("tether-inventory-{app}");
            let lines = snapshot
                .of_kind("ConfigMap")
                .find(|item| {
                    item["metadata"]["namespace"] == "tether-system"
                        && item["metadata"]["name"] == name.as_str()
                })
                .map(|item| parse_inventory(app, item["data"]["objects"].as_str().unwrap_or("")))
                .unwrap_or_default();
            (*app, lines)
        })
        .collect()
}

/// How [`parse_inventory`] marks an orphan's line.
pub(crate) const ORPHAN: &str = "(orphaned)";

pub(crate) fn parse_inventory(app: &str, text: &str) -> BTreeSet<String> {
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
        // An orphan (a protected object that left Git) stays listed, marked.
        let id = if fields[1] == "orphaned" {
            format!("{} {ORPHAN}", fields[0])
        } else {
            fields[0].to_owned()
        };
        assert!(
            objects.insert(id),
            "inventory of {app} lists {} twice",
            fields[0]
        );
    }
    objects
}

/// Every ConfigMap, PersistentVolumeClaim and StatefulSet carrying Tether's managed-by label
/// outside the agent's namespace: key -> uid.
pub(crate) fn guarded_kinds_live(snapshot: &Snapshot) -> BTreeMap<ObjectKey, String> {
    let mut out = BTreeMap::new();
    for kind in ["ConfigMap", "PersistentVolumeClaim", "StatefulSet"] {
        for item in snapshot.managed(kind) {
            let meta = &item["metadata"];
            let namespace = meta["namespace"].as_str().unwrap_or_default();
            if namespace == "tether-system" {
                continue;
            }
            let key = (
                kind.to_owned(),
                namespace.to_owned(),
                meta["name"].as_str().unwrap_or_default().to_owned(),
            );
            out.insert(key, meta["uid"].as_str().unwrap_or_default().to_owned());
        }
    }
    out
}

/// Whether an `Orphaned` Event reports `g`: one about the object itself, or one about its
/// app that names it.
pub(crate) fn reported_orphaned(snapshot: &Snapshot, g: &Guarded) -> bool {
    snapshot
        .of_kind("Event")
        .filter(|e| e["reason"] == "Orphaned")
        .any(|e| {
            let about = &e["regarding"];
            let note = e["note"].as_str().unwrap_or_default();
            (about["kind"] == g.kind && about["namespace"] == g.app && about["name"] == g.name)
                || (note.starts_with(&format!("app {}: ", g.app)) && note.contains(&g.display()))
        })
}

/// The guarded objects' invariants at any moment (`end`: after convergence). A protected
/// object is there with its first uid; one that left Git is still listed by its inventory (a
/// later sync reports it) or reported by an `Orphaned` Event (at the end: reported, and listed
/// nowhere). An unprotected one keeps its uid while in Git; once out of Git it is gone or not
/// yet pruned (at the end: gone, and listed nowhere).
pub(crate) fn check_guarded(
    snapshot: &Snapshot,
    guarded: &[Guarded],
    when: &str,
    end: bool,
    seed: u64,
) {
    let live = guarded_kinds_live(snapshot);
    let listed = inventories(snapshot);
    for g in guarded {
        let now = live.get(&g.key());
        let as_orphan = format!("{} {ORPHAN}", g.inventory_line());
        let listed_as_orphan = listed[g.app].contains(&as_orphan);
        let in_inventory = listed[g.app].contains(&g.inventory_line()) || listed_as_orphan;
        let context = format!("{} ({when}, seed {seed})", g.display());
        if g.protected || g.removed_at.is_none() {
            assert_eq!(
                now,
                Some(&g.uid),
                "{context}: deleted or recreated (first uid {})",
                g.uid
            );
        } else {
            assert!(
                now.is_none_or(|uid| *uid == g.uid),
                "{context}: recreated after it left Git"
            );
        }
        match g.removed_at {
            None => assert!(
                !end || in_inventory,
                "{context}: in Git but not in the inventory"
            ),
            Some(round) if g.protected => {
                assert!(
                    in_inventory,
                    "{context}: left Git in round {round} and no inventory lists it any more, so no later sync reports it"
                );
                assert!(
                    !end || (listed_as_orphan && reported_orphaned(snapshot, g)),
                    "{context}: left Git in round {round}; at the end it must be listed as an orphan and reported by an Orphaned Event"
                );
            }
            Some(round) => assert!(
                !end || (now.is_none() && !in_inventory),
                "{context}: left Git in round {round} and was not pruned"
            ),
        }
    }
}

/// Records the first uid seen of each object never removed from Git, and fails when one of
/// them shows a different uid (a needless recreation).
pub(crate) fn check_uids(
    snapshot: &Snapshot,
    desired: &Desired,
    first: &mut BTreeMap<Key, String>,
    when: &str,
) {
    let mut seen: BTreeMap<Key, String> = managed_config_maps(snapshot)
        .into_iter()
        .map(|(k, (uid, _))| (k, uid))
        .collect();
    seen.extend(namespace_uids(snapshot));
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
pub(crate) fn lock_files(dir: &Path) -> Vec<PathBuf> {
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
