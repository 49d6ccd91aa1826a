//! The first stage of a sync: from the app's desired objects to prepared ones.
//!
//! Each object is named, its kind resolved to a resource (through discovery, or from a CRD
//! of the same desired set when the kind is not served yet), prepared for apply (server
//! fields stripped, namespace, label and owner annotation set), hashed, and sorted into
//! pre-sync hooks, post-sync hooks and ordinary objects (Helm test hooks are left out).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use kube::api::ApiResource;
use serde_json::Value;

use super::client::{ClientError, Resolved, Resolver};
use super::compare::{self, IgnoreRule};
use super::hooks;
use super::object::{self, ObjectError, ObjectRef, Scope, hash_value};
use super::secret::{Manifest, SecretManifest};

/// Why the desired set cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// An object is malformed.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A kind is neither served nor defined by a CRD of the desired set.
    #[error("{object}: {source}")]
    ResolveFailed {
        /// The object.
        object: String,
        /// The cause.
        #[source]
        source: ClientError,
    },
    /// A hook is not a Job.
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
}

impl PlanError {
    /// The short, stable reason used in status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ResolveFailed { source, .. } => source.reason(),
            _ => "InvalidObject",
        }
    }
}

/// A desired object ready to apply. Its `Debug` shows the identity and hash only, never the
/// object (a Secret's values).
#[derive(Clone)]
pub struct Desired {
    /// Its identity (with its namespace).
    pub reference: ObjectRef,
    /// Its resource.
    pub resolved: Resolved,
    /// The object to apply.
    pub object: Value,
    /// The fields compared for drift.
    pub shape: Value,
    /// The hash of `object`.
    pub applied: String,
    /// For a Secret, its values until the sync's apply (then dropped: the engine keeps the
    /// stand-in in `object`, with keyed fingerprints in place of the values).
    pub secret: Option<Arc<SecretManifest>>,
}

impl std::fmt::Debug for Desired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desired")
            .field("reference", &self.reference)
            .field("applied", &self.applied)
            .finish_non_exhaustive()
    }
}

/// The prepared desired set.
#[derive(Default)]
pub struct Prepared {
    /// The objects to apply.
    pub objects: Vec<Desired>,
    /// The pre-sync hooks, prepared, in the order they run.
    pub hooks: Vec<(ObjectRef, Value)>,
    /// The post-sync hooks, prepared, in the order they run.
    pub post_hooks: Vec<(ObjectRef, Value)>,
    /// The hash of everything (objects and hooks).
    pub digest: String,
}

/// Resources defined by the CRDs of a desired set: `(group, version, kind)` to resource.
fn crd_resources<'a>(
    desired: impl Iterator<Item = &'a Value>,
) -> HashMap<(String, String, String), Resolved> {
    let mut out = HashMap::new();
    for crd in desired
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
    {
        let text = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or("");
        let (group, kind, plural) = (
            text("/spec/group"),
            text("/spec/names/kind"),
            text("/spec/names/plural"),
        );
        if group.is_empty() || kind.is_empty() || plural.is_empty() {
            continue;
        }
        let namespaced = text("/spec/scope") != "Cluster";
        for version in crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = version.get("name").and_then(Value::as_str) else {
                continue;
            };
            let resource = ApiResource {
                group: group.to_owned(),
                version: name.to_owned(),
                api_version: format!("{group}/{name}"),
                kind: kind.to_owned(),
                plural: plural.to_owned(),
            };
            let status_subresource = version.pointer("/subresources/status").is_some();
            out.insert(
                (group.to_owned(), name.to_owned(), kind.to_owned()),
                Resolved {
                    resource,
                    scope: Scope {
                        namespaced,
                        status_subresource,
                    },
                },
            );
        }
    }
    out
}

/// Prepares the desired objects of app `app` (target namespace `namespace`).
pub async fn prepare(
    resolver: &Resolver,
    app: &str,
    namespace: &str,
    ignore: &[IgnoreRule],
    desired: Vec<Manifest>,
) -> Result<Prepared, PlanError> {
    let desired: Vec<(Value, Option<Arc<SecretManifest>>)> = desired
        .into_iter()
        .map(|m| match m {
            Manifest::Plain(v) => (v, None),
            Manifest::Secret(s) => (s.stand_in(), Some(Arc::new(s))),
        })
        .collect();
    let from_crds = crd_resources(desired.iter().map(|(v, _)| v));
    let mut prepared = Prepared::default();
    let mut seen = BTreeSet::new();
    for (index, (raw, secret)) in desired.into_iter().enumerate() {
        let reference = ObjectRef::from_object(index, &raw)?;
        if let Some(reason) = hooks::skip_reason(&raw) {
            tracing::debug!(object = %reference, reason = %reason, "not applied");
            continue;
        }
        let key = (
            reference.group.clone(),
            reference.version.clone(),
            reference.kind.clone(),
        );
        let resolved = match resolver.resolve(&reference.gvk()).await {
            Ok(found) => found,
            Err(ClientError::UnknownKind { .. }) if from_crds.contains_key(&key) => {
                from_crds[&key].clone()
            }
            Err(source) => {
                return Err(PlanError::ResolveFailed {
                    object: reference.to_string(),
                    source,
                });
            }
        };
        let phase = hooks::phase(&raw);
        let (reference, object) = object::prepare(raw, app, namespace, resolved.scope)?;
        if !seen.insert(reference.clone()) {
            return Err(ObjectError::Duplicate {
                object: reference.to_string(),
            }
            .into());
        }
        if let Some(phase) = phase {
            hooks::check_hook(&reference, &object)?;
            match phase {
                hooks::Phase::PreSync => prepared.hooks.push((reference, object)),
                hooks::Phase::PostSync => prepared.post_hooks.push((reference, object)),
            }
            continue;
        }
        let shape = compare::shape(&reference, &object, ignore);
        let applied = hash_value(&object);
        prepared.objects.push(Desired {
            reference,
            resolved,
            object,
            shape,
            applied,
            secret,
        });
    }
    let mut all: Vec<(String, &str)> = prepared
        .objects
        .iter()
        .map(|d| (d.reference.to_string(), d.applied.as_str()))
        .collect();
    hooks::sort(&mut prepared.hooks)?;
    hooks::sort(&mut prepared.post_hooks)?;
    let hook_hashes: Vec<(String, String)> = prepared
        .hooks
        .iter()
        .map(|(r, o)| (format!("hook {r}"), hash_value(o)))
        .chain(
            prepared
                .post_hooks
                .iter()
                .map(|(r, o)| (format!("post-sync hook {r}"), hash_value(o))),
        )
        .collect();
    all.extend(hook_hashes.iter().map(|(r, h)| (r.clone(), h.as_str())));
    all.sort();
    prepared.digest = hash_value(&serde_json::to_value(&all).unwrap_or(Value::Null));
    Ok(prepared)
}
