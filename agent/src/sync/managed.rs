//! What the engine keeps of one applied object between syncs, in a compact form.
//!
//! A sync holds each desired object as a `serde_json::Value` (a tree of maps and strings,
//! several times the size of its text). Between syncs the engine needs an object only when it
//! drifts (to apply it again) or when it leaves Git (the prune stage reads its protections),
//! so it keeps the object and its drift projection as compact JSON text, parsed again on that
//! rare path, and shares one resolved resource between all objects of a kind.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::client::Resolved;
use super::plan::Desired;

/// A JSON value kept as compact text; parsed again on use.
#[derive(Clone, Default)]
pub(super) struct Packed(Box<str>);

impl Packed {
    /// Packs `value`.
    pub(super) fn of(value: &Value) -> Self {
        // Serializing a `Value` cannot fail (its map keys are strings).
        Self(value.to_string().into_boxed_str())
    }

    /// The value again (`Null` if the text does not parse, which `of` never produces).
    pub(super) fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the object (a Secret's stand-in is harmless, but say nothing anyway).
        write!(f, "Packed({} bytes)", self.0.len())
    }
}

/// One resolved resource per kind, shared by every object kept of it.
#[derive(Debug, Default)]
pub(super) struct Kinds(Mutex<Vec<Arc<Resolved>>>);

impl Kinds {
    /// The shared copy of `resolved`.
    pub(super) fn share(&self, resolved: &Resolved) -> Arc<Resolved> {
        let mut kinds = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let same = |k: &&Arc<Resolved>| {
            k.resource == resolved.resource
                && k.scope.namespaced == resolved.scope.namespaced
                && k.scope.status_subresource == resolved.scope.status_subresource
        };
        if let Some(found) = kinds.iter().find(same) {
            return Arc::clone(found);
        }
        let shared = Arc::new(resolved.clone());
        kinds.push(Arc::clone(&shared));
        shared
    }
}

/// What the engine keeps of one applied object between syncs.
#[derive(Debug, Clone)]
pub(super) struct Managed {
    /// Its resource (shared with the other objects of its kind).
    pub(super) resolved: Arc<Resolved>,
    /// The object as applied (a Secret's stand-in, with keyed fingerprints in place of its
    /// values: no plaintext outlives the sync).
    pub(super) object: Packed,
    /// The fields compared for drift.
    pub(super) shape: Packed,
    /// The hash of the live object projected on the applied fields, after the last apply.
    pub(super) live: String,
    /// The live object's resourceVersion when it was last seen as applied: a watch event
    /// with this version shows nothing new, so it needs no read.
    pub(super) resource_version: String,
}

impl Managed {
    /// What is kept of an applied object: a Secret's values are dropped here (the stand-in
    /// with keyed fingerprints stays); of the live object, only its resourceVersion.
    pub(super) fn keep(desired: Desired, live: String, object: &Value, kinds: &Kinds) -> Self {
        let resource_version = super::object::meta_str(object, "resourceVersion")
            .unwrap_or("")
            .to_owned();
        Self {
            resolved: kinds.share(&desired.resolved),
            object: Packed::of(&desired.object),
            shape: Packed::of(&desired.shape),
            live,
            resource_version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_packed_object_reads_back_equal() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v\n\"q\""}});
        let packed = Packed::of(&object);
        assert_eq!(packed.value(), object);
        assert!(!format!("{packed:?}").contains("ConfigMap"));
    }
}
