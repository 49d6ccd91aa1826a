//! Native Kustomize (v5 semantics, checked against `kubectl kustomize` of kubectl 1.33,
//! kustomize v5.6, on the fixtures and on a corpus of public repositories).
//!
//! No Rust crate implements Kustomize or Kubernetes strategic merge patch, so this module
//! does. A build walks the kustomization tree the way kustomize does:
//!
//! 1. [`load`]: resources (files, directories, nested kustomizations), then generators
//!    ([`generators`]), then components, then the transformers of the kustomization in
//!    kustomize's fixed order: strategic merge patches, `patches`, [`namespace`], name
//!    prefix and suffix ([`names`]), [`labels`] and annotations, JSON 6902 patches,
//!    [`replicas`], [`images`], [`replacements`];
//!    then the builtin plugins of `transformers:` ([`plugins`]); the transformers write
//!    where the configuration says ([`config`]: builtin field specs, `configurations`,
//!    `crds`);
//! 2. at the top only: generator hash suffixes, then the name-reference fix-ups that make
//!    every reference follow the renamed objects ([`names`]), then `$(VAR)` references
//!    ([`vars`]);
//! 3. the output order ([`order`]).
//!
//! Resources carry their history (previous names, kinds and namespaces, prefixes and
//! suffixes) beside the object rather than in annotations, so nothing internal can leak
//! into the output.

pub(crate) mod builtin_refs;
pub(crate) mod config;
pub(crate) mod dir;
pub(crate) mod fieldspec;
pub(crate) mod generators;
pub(crate) mod helm_charts;
pub(crate) mod images;
pub(crate) mod kustomization;
pub(crate) mod labels;
pub(crate) mod load;
pub(crate) mod names;
pub(crate) mod namespace;
pub(crate) mod order;
pub(crate) mod output;
pub(crate) mod patch;
pub(crate) mod plugins;
pub(crate) mod replacements;
pub(crate) mod replicas;
pub(crate) mod vars;

use crate::render::yaml::PathSegment;
use crate::tree::{RelPath, TreeError};
use serde_json::{Map, Value};
use std::fmt;

/// The names a kustomization file may have, in the order kustomize looks for them.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Errors from building a kustomization. Each names the file and, where there is one, the
/// field of the kustomization or the object concerned. None carries secret data.
#[derive(Debug, thiserror::Error)]
pub enum KustomizeError {
    /// A file or directory could not be read (missing, outside the root, too large).
    #[error("{path}: {source}")]
    ReadFailed {
        /// The kustomization (or file) that asked for the read.
        path: String,
        /// What went wrong.
        #[source]
        source: TreeError,
    },
    /// A file is not valid YAML or not the expected shape.
    #[error("{path}: {message}")]
    ParseFailed {
        /// The file.
        path: String,
        /// What is wrong, with line and column when known.
        message: String,
    },
    /// A kustomization field is invalid (unknown field, wrong type, bad value).
    #[error(
        "{}: field `{}`: {}",
        crate::text::clip(path),
        crate::text::clip(field),
        crate::text::clip_message(reason)
    )]
    InvalidField {
        /// The kustomization file.
        path: String,
        /// The field.
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// A feature that Tether deliberately does not support (remote bases, Helm, plugins,
    /// exec, custom OpenAPI schemas).
    #[error("{path}: field `{field}`: not supported: {reason}")]
    Unsupported {
        /// The kustomization file.
        path: String,
        /// The field.
        field: String,
        /// What is not supported and why.
        reason: String,
    },
    /// A path leaves the directory it must stay in.
    #[error("{path}: field `{field}`: {target:?} is outside {root}: {reason}")]
    PathRefused {
        /// The kustomization file.
        path: String,
        /// The field naming the path.
        field: String,
        /// The path as written.
        target: String,
        /// The directory it must stay in.
        root: String,
        /// Why it is refused.
        reason: String,
    },
    /// Kustomizations refer to each other in a cycle.
    #[error("{path}: kustomization cycle: {chain}")]
    CycleDetected {
        /// The kustomization that closes the cycle.
        path: String,
        /// The chain of directories.
        chain: String,
    },
    /// Two objects have the same identity.
    #[error(
        "{path}: may not add object with an already registered id: {}",
        crate::text::clip(id)
    )]
    DuplicateObject {
        /// Where the second one comes from.
        path: String,
        /// The identity.
        id: String,
    },
    /// A transformer (patch, namespace, prefix, labels, images, replacements, ...) failed.
    #[error("{path}: field `{field}`: {}", crate::text::clip_message(reason))]
    TransformFailed {
        /// The kustomization file.
        path: String,
        /// The field of the transformer.
        field: String,
        /// What went wrong, naming the object.
        reason: String,
    },
    /// A generator input is encrypted and cannot be decrypted here.
    #[error("{path}: field `{field}`: {file}: {reason}")]
    DecryptFailed {
        /// The kustomization file.
        path: String,
        /// The generator field.
        field: String,
        /// The encrypted input.
        file: String,
        /// Why it could not be decrypted.
        reason: String,
    },
    /// The render took longer than its time budget.
    #[error("{path}: the render took longer than its budget of {limit:?}")]
    TimeExceeded {
        /// The file being loaded when the budget ran out.
        path: String,
        /// The budget.
        limit: std::time::Duration,
    },
    /// The build's own thread (sized for deep nesting) could not start.
    #[error("{path}: no thread for the build could start: {reason}")]
    ThreadFailed {
        /// The kustomization file.
        path: String,
        /// The system's reason.
        reason: String,
    },
    /// A bound on the render's size was reached.
    #[error("{path}: {what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// Where the limit was reached.
        path: String,
        /// What is bounded.
        what: &'static str,
        /// The limit in force.
        limit: usize,
    },
}

/// Group, version and kind of an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Gvk {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) kind: String,
}

impl Gvk {
    /// Splits an apiVersion into group and version.
    pub(crate) fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = match api_version.split_once('/') {
            Some((group, version)) => (group.to_owned(), version.to_owned()),
            None => (String::new(), api_version.to_owned()),
        };
        Self {
            group,
            version,
            kind: kind.to_owned(),
        }
    }

    /// The apiVersion string.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether this gvk is selected by `selector`: every non-empty part must be equal.
    pub(crate) fn is_selected_by(&self, selector: &Gvk) -> bool {
        (selector.group.is_empty() || selector.group == self.group)
            && (selector.version.is_empty() || selector.version == self.version)
            && (selector.kind.is_empty() || selector.kind == self.kind)
    }

    /// Whether kustomize knows this type to be cluster-scoped (its built-in table, keyed by
    /// apiVersion and kind; unknown types count as namespaced).
    pub(crate) fn is_cluster_scoped(&self) -> bool {
        let api_version = self.api_version();
        CLUSTER_SCOPED
            .iter()
            .any(|(v, k)| *v == api_version && *k == self.kind)
    }
}

/// The built-in types kustomize treats as cluster-scoped.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    (
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "ValidatingWebhookConfiguration",
    ),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
    ("apiregistration.k8s.io/v1", "APIService"),
    ("apiregistration.k8s.io/v1beta1", "APIService"),
    ("certificates.k8s.io/v1", "CertificateSigningRequest"),
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema"),
    (
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "PriorityLevelConfiguration",
    ),
    ("networking.k8s.io/v1", "IngressClass"),
    ("networking.k8s.io/v1beta1", "IngressClass"),
    ("node.k8s.io/v1", "RuntimeClass"),
    ("node.k8s.io/v1beta1", "RuntimeClass"),
    ("policy/v1beta1", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"),
    ("scheduling.k8s.io/v1", "PriorityClass"),
    ("scheduling.k8s.io/v1beta1", "PriorityClass"),
    ("storage.k8s.io/v1", "CSIDriver"),
    ("storage.k8s.io/v1", "CSINode"),
    ("storage.k8s.io/v1", "StorageClass"),
    ("storage.k8s.io/v1", "VolumeAttachment"),
    ("storage.k8s.io/v1beta1", "CSIDriver"),
    ("storage.k8s.io/v1beta1", "CSINode"),
    ("storage.k8s.io/v1beta1", "StorageClass"),
    ("storage.k8s.io/v1beta1", "VolumeAttachment"),
    ("v1", "ComponentStatus"),
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("v1", "NodeProxyOptions"),
    ("v1", "PersistentVolume"),
];

/// The namespace kustomize gives cluster-scoped objects when comparing identities.
const NOT_A_NAMESPACE: &str = "_non_namespaceable_";

/// The identity of an object: type, name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ResId {
    pub(crate) gvk: Gvk,
    pub(crate) name: String,
    pub(crate) namespace: String,
}

impl ResId {
    /// The namespace used for comparisons: `default` for none, a marker for
    /// cluster-scoped types.
    pub(crate) fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            NOT_A_NAMESPACE
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// Same effective namespace.
    pub(crate) fn ns_equals(&self, other: &ResId) -> bool {
        self.effective_namespace() == other.effective_namespace()
    }

    /// Same type, name and effective namespace.
    pub(crate) fn equals(&self, other: &ResId) -> bool {
        self.gvk == other.gvk && self.name == other.name && self.ns_equals(other)
    }

    /// Whether this id is selected by `selector` (empty parts select everything).
    pub(crate) fn is_selected_by(&self, selector: &ResId) -> bool {
        (selector.name.is_empty() || selector.name == self.name)
            && (selector.namespace.is_empty() || selector.ns_equals(self))
            && self.gvk.is_selected_by(&selector.gvk)
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.gvk.kind, self.name)?;
        if !self.namespace.is_empty() {
            write!(f, " in namespace {}", self.namespace)?;
        }
        write!(f, " ({})", self.gvk.api_version())
    }
}

/// How a generated object joins objects already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Behavior {
    /// A new object; an existing one with the same id is an error.
    #[default]
    Create,
    /// Merge data, labels and annotations into the existing object.
    Merge,
    /// Replace the existing object, keeping its name and metadata.
    Replace,
}

/// A previous identity of an object, as kustomize records it when a transformer renames it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrevId {
    pub(crate) kind: String,
    pub(crate) name: String,
    /// The effective namespace at the time.
    pub(crate) namespace: String,
}

/// An object in a build, with the history kustomize keeps about it.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub(crate) obj: Value,
    pub(crate) source: RelPath,
    pub(crate) prev: Vec<PrevId>,
    pub(crate) prefixes: Vec<String>,
    pub(crate) suffixes: Vec<String>,
    pub(crate) behavior: Behavior,
    pub(crate) needs_hash: bool,
    /// Where the object holds empty nulls, as read (see [`patch::nulls`]).
    pub(crate) empty_nulls: Vec<Vec<PathSegment>>,
    /// The `vars` that read a field of this object.
    pub(crate) ref_vars: Vec<String>,
}

fn str_at<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    let mut node = obj;
    for part in path {
        match node.get(part) {
            Some(next) => node = next,
            None => return "",
        }
    }
    node.as_str().unwrap_or("")
}

impl Resource {
    /// A resource read from `source`. The empty nulls that [`load::Dir::parse_mappings`]
    /// noted in the object are taken out of it into the resource.
    pub(crate) fn new(mut obj: Value, source: RelPath) -> Self {
        let empty_nulls = patch::nulls::take_empty_nulls(&mut obj);
        Self {
            obj,
            source,
            prev: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            behavior: Behavior::Create,
            needs_hash: false,
            empty_nulls,
            ref_vars: Vec::new(),
        }
    }

    pub(crate) fn api_version(&self) -> &str {
        str_at(&self.obj, &["apiVersion"])
    }

    pub(crate) fn kind(&self) -> &str {
        str_at(&self.obj, &["kind"])
    }

    pub(crate) fn name(&self) -> &str {
        str_at(&self.obj, &["metadata", "name"])
    }

    pub(crate) fn namespace(&self) -> &str {
        str_at(&self.obj, &["metadata", "namespace"])
    }

    pub(crate) fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.api_version(), self.kind())
    }

    /// The current identity.
    pub(crate) fn cur_id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            name: self.name().to_owned(),
            namespace: self.namespace().to_owned(),
        }
    }

    /// The previous identities, oldest first.
    pub(crate) fn prev_ids(&self) -> Vec<ResId> {
        let gvk = self.gvk();
        self.prev
            .iter()
            .map(|p| ResId {
                gvk: Gvk {
                    kind: p.kind.clone(),
                    ..gvk.clone()
                },
                name: p.name.clone(),
                namespace: p.namespace.clone(),
            })
            .collect()
    }

    /// The original identity: the oldest previous one, or the current one.
    pub(crate) fn org_id(&self) -> ResId {
        self.prev_ids()
            .into_iter()
            .next()
            .unwrap_or_else(|| self.cur_id())
    }

    /// Previous identities then the current one.
    pub(crate) fn all_ids(&self) -> Vec<ResId> {
        let mut ids = self.prev_ids();
        ids.push(self.cur_id());
        ids
    }

    /// Records the current identity as a previous one, before a transformer changes it.
    pub(crate) fn store_previous_id(&mut self) {
        let id = self.cur_id();
        self.prev.push(PrevId {
            kind: id.gvk.kind.clone(),
            name: id.name.clone(),
            namespace: id.effective_namespace().to_owned(),
        });
    }

    fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let obj = ensure_object(&mut self.obj);
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        ensure_object(meta)
    }

    pub(crate) fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".to_owned(), Value::from(name));
    }

    /// Sets the namespace; an empty one removes the field.
    pub(crate) fn set_namespace(&mut self, namespace: &str) {
        let meta = self.metadata_mut();
        if namespace.is_empty() {
            meta.remove("namespace");
        } else {
            meta.insert("namespace".to_owned(), Value::from(namespace));
        }
    }

    pub(crate) fn set_kind(&mut self, kind: &str) {
        ensure_object(&mut self.obj).insert("kind".to_owned(), Value::from(kind));
    }

    /// The string map at `metadata.<field>` (labels, annotations).
    pub(crate) fn meta_map(&self, field: &str) -> Map<String, Value> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces `metadata.<field>`; an empty map removes it.
    pub(crate) fn set_meta_map(&mut self, field: &str, map: Map<String, Value>) {
        let meta = self.metadata_mut();
        if map.is_empty() {
            meta.remove(field);
        } else {
            meta.insert(field.to_owned(), Value::Object(map));
        }
    }

    /// Whether the object is empty (deleted by a patch).
    pub(crate) fn is_empty(&self) -> bool {
        match &self.obj {
            Value::Object(map) => map.is_empty(),
            Value::Null => true,
            _ => false,
        }
    }
}

/// Makes `value` an object if it is not one, and returns its map.
pub(crate) fn ensure_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

/// An invalid-field error naming the kustomization and field.
pub(crate) fn invalid_field(
    path: &RelPath,
    field: &str,
    reason: impl Into<String>,
) -> KustomizeError {
    KustomizeError::InvalidField {
        path: path.to_string(),
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A transformer failure naming the kustomization and field.
pub(crate) fn transform_error(
    path: &RelPath,
    field: &str,
    reason: impl Into<String>,
) -> KustomizeError {
    KustomizeError::TransformFailed {
        path: path.to_string(),
        field: field.to_owned(),
        reason: reason.into(),
    }
}
