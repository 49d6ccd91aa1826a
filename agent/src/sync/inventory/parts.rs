//! A big inventory over several ConfigMaps, written so that a crash mid-write never loses
//! track of an object.
//!
//! Up to [`PART_BYTES`] the inventory is the one ConfigMap `tether-inventory-<app>` (the
//! head). Beyond, the entries go to parts `tether-inventory-<app>-<generation>-<n>` (label
//! [`PART_LABEL`]), each at most [`PART_BYTES`], the objects new since the last write first,
//! and the head names the parts of its generation (data key [`PARTS_KEY`]). A write goes:
//!
//! 1. the new parts (a new generation: new names, the parts the head names are untouched);
//! 2. the head, naming the new parts;
//! 3. every part the head no longer names is deleted.
//!
//! A read takes the head and the union of every part found ([`PART_LABEL`]), the head's
//! own parts last so that their hashes win. A crash between any two writes therefore leaves
//! each object listed somewhere that is read: before step 2, in the old generation the head
//! still names (and the new objects in the new parts written so far); before step 3, in
//! both. The next write deletes the leftovers.

use std::collections::BTreeSet;

use backon::Retryable;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{DATA_KEY, Entry, Inventory, InventoryError, config_map_name, parse_line, push_line};
use crate::sync::apply::{backoff, is_transient};
use crate::sync::fence::Fence;
use crate::sync::object::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_ANNOTATION, ObjectRef};

/// The largest encoded size of the head alone, and of each part.
pub const PART_BYTES: usize = 512 * 1024;
/// The most parts one inventory may have (128 MiB of entries, ~1.8 million objects).
pub const MAX_PARTS: usize = 256;
/// The head's data key naming its parts, one per line.
pub const PARTS_KEY: &str = "parts";
/// The label of every part: the app it belongs to.
pub const PART_LABEL: &str = "tether.dev/inventory-of";
const PART_HEADER: &str = "tether-inventory-part v1";

/// Where an inventory is written, and the fence asked before each write.
pub struct Writer<'a> {
    /// The cluster.
    pub client: &'a Client,
    /// The agent's namespace.
    pub namespace: &'a str,
    /// The app.
    pub app: &'a str,
    /// The server-side apply field manager.
    pub field_manager: &'a str,
    /// Asked before each write (a replica that lost the app writes no part of it).
    pub fence: &'a Fence,
}

/// How one inventory is laid out: the head's text and the parts, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The head's `objects` text.
    pub head: String,
    /// The parts: name and text, in write order.
    pub parts: Vec<(String, String)>,
}

/// The layout of `inventory` for `app`; the entries not in `previous` go first.
pub fn layout(
    app: &str,
    inventory: &Inventory,
    previous: Option<&Inventory>,
) -> Result<Layout, InventoryError> {
    let whole = inventory.encode();
    if whole.len() <= PART_BYTES {
        return Ok(Layout {
            head: whole,
            parts: Vec::new(),
        });
    }
    let is_new = |r: &ObjectRef| previous.is_none_or(|p| !p.entries.contains_key(r));
    let ordered = inventory
        .entries
        .iter()
        .filter(|(r, _)| is_new(r))
        .chain(inventory.entries.iter().filter(|(r, _)| !is_new(r)));
    let mut texts: Vec<String> = Vec::new();
    let mut current = format!("{PART_HEADER}\n");
    let mut line = String::new();
    for (r, e) in ordered {
        line.clear();
        push_line(&mut line, r, e);
        if current.len() + line.len() > PART_BYTES && current.len() > PART_HEADER.len() + 1 {
            texts.push(std::mem::replace(&mut current, format!("{PART_HEADER}\n")));
        }
        current.push_str(&line);
    }
    texts.push(current);
    if texts.len() > MAX_PARTS {
        return Err(InventoryError::TooLarge {
            app: app.to_owned(),
            objects: inventory.entries.len(),
            bytes: whole.len(),
        });
    }
    let mut hasher = Sha256::new();
    for text in &texts {
        hasher.update(text.as_bytes());
    }
    let generation = hex::encode(&hasher.finalize()[..4]);
    let head = Inventory {
        revision: inventory.revision.clone(),
        digest: inventory.digest.clone(),
        entries: Default::default(),
    }
    .encode();
    let parts = texts
        .into_iter()
        .enumerate()
        .map(|(i, text)| (format!("{}-{generation}-{i}", config_map_name(app)), text))
        .collect();
    Ok(Layout { head, parts })
}

/// The entries of a part's text; `name` names it in errors.
pub fn decode_part(text: &str, name: &str) -> Result<Vec<(ObjectRef, Entry)>, InventoryError> {
    let fail = |line: usize, problem: &'static str| InventoryError::DecodeFailed {
        config_map: name.to_owned(),
        line,
        problem,
    };
    let mut lines = text.lines();
    if lines.next() != Some(PART_HEADER) {
        return Err(fail(1, "not a tether-inventory-part v1 header"));
    }
    lines
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| parse_line(l).map_err(|problem| fail(i + 2, problem)))
        .collect()
}

fn body(writer: &Writer<'_>, name: &str, data: serde_json::Value, part: bool) -> serde_json::Value {
    let mut labels =
        json!({MANAGED_BY_LABEL: MANAGED_BY_VALUE, "app.kubernetes.io/component": "inventory"});
    if part {
        labels["app.kubernetes.io/component"] = json!("inventory-part");
        labels[PART_LABEL] = json!(writer.app);
    }
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": writer.namespace,
            "labels": labels,
            "annotations": {OWNER_ANNOTATION: writer.app},
        },
        "data": data,
    })
}

async fn apply(
    writer: &Writer<'_>,
    name: &str,
    body: &serde_json::Value,
) -> Result<(), InventoryError> {
    writer
        .fence
        .check(writer.app)
        .map_err(|e| InventoryError::Fenced {
            config_map: name.to_owned(),
            why: e.why,
        })?;
    let api = Api::<ConfigMap>::namespaced(writer.client.clone(), writer.namespace);
    let params = PatchParams::apply(writer.field_manager).force();
    (|| async { api.patch(name, &params, &Patch::Apply(body)).await })
        .retry(backoff())
        .when(is_transient)
        .await
        .map_err(|source| InventoryError::StoreFailed {
            namespace: writer.namespace.to_owned(),
            config_map: name.to_owned(),
            source,
        })?;
    Ok(())
}

/// The parts of `app` in `namespace`, whatever generation.
async fn list_parts(
    client: &Client,
    namespace: &str,
    app: &str,
) -> Result<Vec<ConfigMap>, InventoryError> {
    let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&format!("{PART_LABEL}={app}"));
    let list = (|| async { api.list(&params).await })
        .retry(backoff())
        .when(is_transient)
        .await
        .map_err(|source| InventoryError::LoadFailed {
            namespace: namespace.to_owned(),
            config_map: format!("{}-* (parts)", config_map_name(app)),
            source,
        })?;
    Ok(list.items)
}

pub(super) async fn delete_one(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<(), InventoryError> {
    let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    (|| async {
        match api.delete(name, &Default::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(err) => Err(err),
        }
    })
    .retry(backoff())
    .when(is_transient)
    .await
    .map_err(|source| InventoryError::DeleteFailed {
        namespace: namespace.to_owned(),
        config_map: name.to_owned(),
        source,
    })
}

/// Writes `inventory` (see the module docs for the order); `previous` puts the new objects
/// in the first parts.
pub async fn store(
    writer: &Writer<'_>,
    inventory: &Inventory,
    previous: Option<&Inventory>,
) -> Result<(), InventoryError> {
    let layout = layout(writer.app, inventory, previous)?;
    for (name, text) in &layout.parts {
        apply(
            writer,
            name,
            &body(writer, name, json!({DATA_KEY: text}), true),
        )
        .await?;
    }
    let names: Vec<&str> = layout.parts.iter().map(|(n, _)| n.as_str()).collect();
    let mut data = json!({DATA_KEY: layout.head});
    if !names.is_empty() {
        data[PARTS_KEY] = json!(names.join("\n"));
    }
    let head = config_map_name(writer.app);
    apply(writer, &head, &body(writer, &head, data, false)).await?;
    for old in list_parts(writer.client, writer.namespace, writer.app).await? {
        let name = old.metadata.name.unwrap_or_default();
        if !name.is_empty() && !names.contains(&name.as_str()) {
            writer
                .fence
                .check(writer.app)
                .map_err(|e| InventoryError::Fenced {
                    config_map: name.clone(),
                    why: e.why,
                })?;
            delete_one(writer.client, writer.namespace, &name).await?;
        }
    }
    Ok(())
}

/// Reads the inventory of `app`: the head and the union of every part found.
pub async fn load(
    client: &Client,
    namespace: &str,
    app: &str,
) -> Result<Option<Inventory>, InventoryError> {
    let name = config_map_name(app);
    let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let head = (|| async { api.get_opt(&name).await })
        .retry(backoff())
        .when(is_transient)
        .await
        .map_err(|source| InventoryError::LoadFailed {
            namespace: namespace.to_owned(),
            config_map: name.clone(),
            source,
        })?;
    let parts = list_parts(client, namespace, app).await?;
    if head.is_none() && parts.is_empty() {
        return Ok(None);
    }
    let data = head.and_then(|cm| cm.data).unwrap_or_default();
    let mut inventory = match data.get(DATA_KEY) {
        Some(text) => Inventory::decode(text, &format!("{namespace}/{name}"))?,
        None => Inventory::default(),
    };
    let named: BTreeSet<&str> = data
        .get(PARTS_KEY)
        .map(|p| p.lines().collect())
        .unwrap_or_default();
    let mut parts: Vec<(bool, String, String)> = parts
        .into_iter()
        .map(|cm| {
            let part = cm.metadata.name.unwrap_or_default();
            let text = cm
                .data
                .and_then(|mut d| d.remove(DATA_KEY))
                .unwrap_or_default();
            (named.contains(part.as_str()), part, text)
        })
        .collect();
    for missing in named
        .iter()
        .filter(|n| !parts.iter().any(|(_, p, _)| p == *n))
    {
        tracing::warn!(app, part = %missing, "an inventory part the head names is missing");
    }
    if parts.iter().any(|(named, _, _)| !named) {
        tracing::info!(
            app,
            parts = parts.len(),
            "inventory parts of an interrupted write found; their objects are kept"
        );
    }
    // Leftovers first: the head's own parts override their hashes.
    parts.sort();
    for (_, part, text) in parts {
        let full = format!("{namespace}/{part}");
        for (r, e) in decode_part(&text, &full)? {
            inventory.entries.insert(r, e);
        }
    }
    Ok(Some(inventory))
}

/// Deletes the inventory of `app`: its parts first, then the head.
pub async fn delete(client: &Client, namespace: &str, app: &str) -> Result<(), InventoryError> {
    for part in list_parts(client, namespace, app).await? {
        if let Some(name) = part.metadata.name {
            delete_one(client, namespace, &name).await?;
        }
    }
    delete_one(client, namespace, &config_map_name(app)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(n: usize, prefix: &str) -> Inventory {
        Inventory {
            revision: "r".repeat(40),
            digest: "d".repeat(16),
            entries: (0..n)
                .map(|i| {
                    (
                        ObjectRef {
                            group: String::new(),
                            version: "v1".into(),
                            kind: "ConfigMap".into(),
                            namespace: "big".into(),
                            name: format!("{prefix}-{i:06}"),
                        },
                        Entry {
                            applied: "0123456789abcdef".into(),
                            live: "fedcba9876543210".into(),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_small_inventory_stays_in_the_head() {
        let small = inventory(100, "cm");
        let layout = layout("shop", &small, None).expect("layout");
        assert!(layout.parts.is_empty());
        assert_eq!(
            Inventory::decode(&layout.head, "head").expect("decodes"),
            small
        );
    }

    #[test]
    fn fifty_thousand_objects_split_into_parts_that_round_trip() {
        let big = inventory(50_000, "service-config");
        let layout = layout("shop", &big, None).expect("layout");
        assert!(layout.parts.len() >= 5, "{} parts", layout.parts.len());
        let mut back = Inventory::decode(&layout.head, "head").expect("head");
        assert!(back.entries.is_empty());
        for (name, text) in &layout.parts {
            assert!(name.starts_with("tether-inventory-shop-"), "{name}");
            assert!(text.len() <= PART_BYTES, "{name}: {} bytes", text.len());
            back.entries.extend(decode_part(text, name).expect("part"));
        }
        assert_eq!(back, big);
    }

    #[test]
    fn objects_new_since_the_last_write_go_to_the_first_part() {
        let previous = inventory(20_000, "b-old");
        let mut next = previous.clone();
        let added = inventory(100, "z-new");
        next.entries.extend(added.entries.clone());
        let layout = layout("shop", &next, Some(&previous)).expect("layout");
        let first: Vec<ObjectRef> = decode_part(&layout.parts[0].1, "p0")
            .expect("part")
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        for r in added.entries.keys() {
            assert!(first.contains(r), "{r} is not in the first part");
        }
    }

    #[test]
    fn another_content_gets_other_part_names_so_the_named_parts_are_never_overwritten() {
        let a = layout("shop", &inventory(20_000, "a"), None).expect("layout");
        let b = layout("shop", &inventory(20_001, "a"), None).expect("layout");
        for (name, _) in &b.parts {
            assert!(!a.parts.iter().any(|(n, _)| n == name), "{name} reused");
        }
    }

    #[test]
    fn a_malformed_part_is_named() {
        let err = decode_part(
            "tether-inventory-part v1\n/v1/ConfigMap/x y z\n",
            "ns/part-0",
        )
        .expect_err("four parts");
        assert_eq!(
            err.to_string(),
            "inventory ConfigMap ns/part-0: line 2: the object id does not have five parts"
        );
    }
}
