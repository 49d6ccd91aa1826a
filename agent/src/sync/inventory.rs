//! The inventory: per app, the objects applied at the last successful sync, with the hash of
//! what was applied and of the live object right after, and the revision.
//!
//! It lives in the cluster, in the ConfigMap `tether-inventory-<app>` of the agent's
//! namespace, so a restarted agent prunes correctly. The encoding is one line per object
//!
//! ```text
//! tether-inventory v1
//! revision 3f2a9c...
//! digest 5d41402abc4b2a76
//! apps/v1/Deployment/shop/web 1a2b3c4d5e6f7a8b 0f1e2d3c4b5a6978
//! /v1/ConfigMap/shop/web-config 9a8b7c6d5e4f3a2b 1b2c3d4e5f6a7b8c
//! ```
//!
//! (`group/version/kind/namespace/name applied live`, empty group and namespace for the core
//! group and cluster scope), about 70 bytes an object: 5,000 objects take ~350 KB. Beyond
//! 512 KiB (~7,000 objects) the entries are split over several ConfigMaps, written so that a
//! crash mid-write never loses track of an object: see [`parts`].

pub mod parts;

use std::collections::BTreeMap;

use kube::Client;

use super::object::ObjectRef;

pub(crate) const HEADER: &str = "tether-inventory v1";
/// The data key holding the encoded inventory.
pub const DATA_KEY: &str = "objects";
/// The most a ConfigMap holds (1 MiB in all): the head and each part stay at half of it
/// ([`parts::PART_BYTES`]).
pub const MAX_BYTES: usize = 1_000_000;

/// Why the inventory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// A line of the stored inventory is malformed.
    #[error("inventory ConfigMap {config_map}: line {line}: {problem}")]
    DecodeFailed {
        /// The ConfigMap.
        config_map: String,
        /// The line number (1-based).
        line: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// The inventory would need more than [`parts::MAX_PARTS`] ConfigMaps.
    #[error(
        "inventory of app {app}: {objects} objects take {bytes} bytes, more than {} parts of {} bytes",
        parts::MAX_PARTS,
        parts::PART_BYTES
    )]
    TooLarge {
        /// The app.
        app: String,
        /// The number of objects.
        objects: usize,
        /// The encoded size.
        bytes: usize,
    },
    /// Reading the ConfigMap failed.
    #[error("read the inventory ConfigMap {namespace}/{config_map}: {source}")]
    LoadFailed {
        /// The namespace.
        namespace: String,
        /// The ConfigMap.
        config_map: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Writing the ConfigMap failed.
    #[error("write the inventory ConfigMap {namespace}/{config_map}: {source}")]
    StoreFailed {
        /// The namespace.
        namespace: String,
        /// The ConfigMap.
        config_map: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// This replica may no longer write the app (shard fencing): the write was not made.
    #[error("write the inventory ConfigMap {config_map}: fenced: {why}")]
    Fenced {
        /// The ConfigMap.
        config_map: String,
        /// Why.
        why: String,
    },
    /// Deleting the ConfigMap of a removed app failed.
    #[error("delete the inventory ConfigMap {namespace}/{config_map}: {source}")]
    DeleteFailed {
        /// The namespace.
        namespace: String,
        /// The ConfigMap.
        config_map: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

impl InventoryError {
    /// The short, stable reason used in status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        "InventoryFailed"
    }
}

/// The hashes kept for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The hash of the object as applied.
    pub applied: String,
    /// The hash of the live object, projected on the applied fields, right after the apply.
    pub live: String,
}

/// Both hashes of an orphan's entry: a protected object of the app that left Git stays listed
/// (and is reported at every sync) until it is deleted, comes back to Git or stops being the
/// app's, so that an agent stopped between the sync and its report reports it after restart.
pub const ORPHANED: &str = "orphaned";

impl Entry {
    /// The entry of an orphan.
    #[must_use]
    pub fn orphaned() -> Self {
        Self {
            applied: ORPHANED.to_owned(),
            live: ORPHANED.to_owned(),
        }
    }
}

/// The objects of one app at its last successful sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The revision (commit) of that sync.
    pub revision: String,
    /// The hash of everything that sync applied, hooks included: hooks run again only when
    /// it changes.
    pub digest: String,
    /// The objects.
    pub entries: BTreeMap<ObjectRef, Entry>,
}

/// The name of the inventory ConfigMap of `app`.
pub fn config_map_name(app: &str) -> String {
    format!("tether-inventory-{app}")
}

impl Inventory {
    /// The compact text form (see the module docs).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(40 + self.entries.len() * 80);
        out.push_str(HEADER);
        out.push('\n');
        out.push_str("revision ");
        out.push_str(&self.revision);
        out.push_str("\ndigest ");
        out.push_str(&self.digest);
        out.push('\n');
        for (r, e) in &self.entries {
            push_line(&mut out, r, e);
        }
        out
    }

    /// Reads the text form; `config_map` names the source in errors.
    pub fn decode(text: &str, config_map: &str) -> Result<Self, InventoryError> {
        let fail = |line: usize, problem: &'static str| InventoryError::DecodeFailed {
            config_map: config_map.to_owned(),
            line,
            problem,
        };
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(fail(1, "not a tether-inventory v1 header"));
        }
        let revision = lines
            .next()
            .and_then(|l| l.strip_prefix("revision "))
            .ok_or_else(|| fail(2, "no revision line"))?
            .to_owned();
        let digest = lines
            .next()
            .and_then(|l| l.strip_prefix("digest "))
            .ok_or_else(|| fail(3, "no digest line"))?
            .to_owned();
        let mut entries = BTreeMap::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                continue;
            }
            let (r, e) = parse_line(line).map_err(|problem| fail(i + 4, problem))?;
            entries.insert(r, e);
        }
        Ok(Self {
            revision,
            digest,
            entries,
        })
    }
}

/// Appends the line of one object (`group/version/kind/namespace/name applied live`).
pub(crate) fn push_line(out: &mut String, r: &ObjectRef, e: &Entry) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "{}/{}/{}/{}/{} {} {}",
        r.group, r.version, r.kind, r.namespace, r.name, e.applied, e.live
    );
}

/// Reads the line of one object; the error says what is wrong with it.
pub(crate) fn parse_line(line: &str) -> Result<(ObjectRef, Entry), &'static str> {
    let mut words = line.split(' ');
    let (Some(id), Some(applied), Some(live), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err("expected `group/version/kind/namespace/name applied live`");
    };
    let parts: Vec<&str> = id.split('/').collect();
    let [group, version, kind, namespace, name] = parts[..] else {
        return Err("the object id does not have five parts");
    };
    if version.is_empty() || kind.is_empty() || name.is_empty() {
        return Err("the object id lacks a version, kind or name");
    }
    Ok((
        ObjectRef {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        },
        Entry {
            applied: applied.to_owned(),
            live: live.to_owned(),
        },
    ))
}

/// Reads the inventory of `app` from `namespace` (the head and every part found, see
/// [`parts`]); `None` when there is none yet.
pub async fn load(
    client: &Client,
    namespace: &str,
    app: &str,
) -> Result<Option<Inventory>, InventoryError> {
    parts::load(client, namespace, app).await
}

/// Deletes the inventory of `app` from `namespace` (an app that left Git), parts first; a
/// missing one is not an error.
pub async fn delete(client: &Client, namespace: &str, app: &str) -> Result<(), InventoryError> {
    parts::delete(client, namespace, app).await
}

/// Writes the inventory of `app` to `namespace` (server-side apply as `field_manager`),
/// split into parts when it is big (see [`parts`]).
pub async fn store(
    client: &Client,
    namespace: &str,
    app: &str,
    field_manager: &str,
    inventory: &Inventory,
) -> Result<(), InventoryError> {
    let writer = parts::Writer {
        client,
        namespace,
        app,
        field_manager,
        fence: &crate::sync::fence::Fence::default(),
    };
    parts::store(&writer, inventory, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(group: &str, kind: &str, ns: &str, name: &str) -> (ObjectRef, Entry) {
        (
            ObjectRef {
                group: group.into(),
                version: "v1".into(),
                kind: kind.into(),
                namespace: ns.into(),
                name: name.into(),
            },
            Entry {
                applied: "0123456789abcdef".into(),
                live: "fedcba9876543210".into(),
            },
        )
    }

    #[test]
    fn the_text_form_round_trips() {
        let inventory = Inventory {
            revision: "abc123".into(),
            digest: "d".into(),
            entries: [
                entry("", "ConfigMap", "shop", "web"),
                entry("apps", "Deployment", "shop", "web"),
                entry("", "Namespace", "", "shop"),
                entry("rbac.authorization.k8s.io", "ClusterRole", "", "system:web"),
            ]
            .into_iter()
            .collect(),
        };
        let text = inventory.encode();
        assert!(
            text.contains("\n/v1/Namespace//shop 0123456789abcdef fedcba9876543210\n"),
            "{text}"
        );
        assert_eq!(Inventory::decode(&text, "cm").expect("decodes"), inventory);
    }

    #[test]
    fn five_thousand_objects_fit_in_a_config_map() {
        let inventory = Inventory {
            revision: "0".repeat(40),
            digest: "0".repeat(16),
            entries: (0..5000)
                .map(|i| {
                    entry(
                        "apps",
                        "Deployment",
                        "production-namespace",
                        &format!("service-number-{i:05}"),
                    )
                })
                .collect(),
        };
        let text = inventory.encode();
        assert!(text.len() < MAX_BYTES / 2, "{} bytes", text.len());
        assert_eq!(
            Inventory::decode(&text, "cm")
                .expect("decodes")
                .entries
                .len(),
            5000
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        let err = Inventory::decode(
            "tether-inventory v1\nrevision r\ndigest d\n/v1/ConfigMap/x y z\n",
            "ns/cm",
        )
        .expect_err("four parts");
        assert_eq!(
            err.to_string(),
            "inventory ConfigMap ns/cm: line 4: the object id does not have five parts"
        );
    }
}
