//! Kubernetes schema validation, in process, as `kubeconform -strict` does it: every object is
//! checked against the OpenAPI schema of its kind for a Kubernetes version, with types,
//! required fields, enums, formats (`int-or-string`, `quantity`, `date-time`, `byte`,
//! `int32`), `$ref`/`allOf`/`anyOf`/`oneOf`, `additionalProperties`,
//! `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-int-or-string` and
//! `x-kubernetes-embedded-resource`; unknown fields are refused with their path.
//!
//! - [`builtin`]: the API's own kinds for Kubernetes 1.30 to 1.35, built into the binary;
//! - [`custom`]: custom resources, from CRDs (repository, app, cluster) and from schema
//!   directories in the layout of the CRDs catalog;
//! - [`app`]: the validation of one app's rendered objects (its own CRDs first);
//! - [`walk`]: the validation of one value against one schema; [`formats`]; [`path`].
//!
//! Input: a [`SchemaOptions`] and the objects; output: an [`Outcome`] per object.
//! CEL rules (`x-kubernetes-validations`) are not evaluated.

pub mod app;
pub mod builtin;
pub mod custom;
pub mod formats;
pub mod path;
pub mod walk;

use builtin::{Builtin, BuiltinRef};
use custom::Locations;
use path::FieldPath;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use walk::{Mode, Resolver, Walker};

/// The definition custom resources' `metadata` is checked against.
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Errors of setting up validation (bad options, unreadable schema files).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The schemas built into the binary do not decode.
    #[error("the built-in schemas do not decode: {message}")]
    BuiltinCorrupt {
        /// What is wrong.
        message: String,
    },
    /// The requested Kubernetes version has no built-in schemas.
    #[error("Kubernetes version {version:?} is not supported (supported: {supported})")]
    UnsupportedVersion {
        /// The requested version.
        version: String,
        /// The supported ones.
        supported: String,
    },
    /// A schema directory or a file in it cannot be read.
    #[error("schema location {path}: {message}")]
    LocationUnreadable {
        /// The directory or file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    /// The API group (empty for the core group).
    pub group: String,
    /// The version (`v1`).
    pub version: String,
    /// The kind.
    pub kind: String,
}

impl Gvk {
    /// A group, version and kind.
    #[must_use]
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    /// Reads `apiVersion` and `kind` of an object.
    #[must_use]
    pub fn of(object: &Value) -> Option<Self> {
        let api_version = object.get("apiVersion")?.as_str()?;
        let kind = object.get("kind")?.as_str()?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Some(Self::new(group, version, kind))
    }
}

impl std::fmt::Display for Gvk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            write!(f, "{} {}", self.version, self.kind)
        } else {
            write!(f, "{}/{} {}", self.group, self.version, self.kind)
        }
    }
}

/// One refused field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// Where (`spec.template.spec.containers[0].ports[0].containerPort`).
    pub path: String,
    /// What is wrong (no value of a Secret appears in it).
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The result of validating one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The object matches its schema.
    Valid,
    /// The object does not; the fields, at most [`walk::MAX_ERRORS`].
    Invalid(Vec<FieldError>),
    /// No schema is known for the kind (a warning, or an error with strict schemas).
    MissingSchema(Gvk),
    /// The object has no `apiVersion` or `kind` (reported by the manifest checks).
    NotAnObject,
}

/// Where schemas come from.
#[derive(Debug, Clone, Default)]
pub struct SchemaOptions {
    /// The Kubernetes minor version (`1.33`); `None` for the newest built in.
    pub kubernetes_version: Option<String>,
    /// Schema directories in the CRDs-catalog layout.
    pub schema_locations: Vec<PathBuf>,
}

/// The schemas objects are validated against: the built-in ones of one Kubernetes version,
/// the CRDs added, the schema directories. Cheap to clone (per-app additions).
#[derive(Clone)]
pub struct SchemaCatalog {
    builtin: BuiltinRef<'static>,
    crds: HashMap<Gvk, Arc<Value>>,
    locations: Arc<Locations>,
    patterns: Arc<Mutex<HashMap<String, Option<regex::Regex>>>>,
}

impl std::fmt::Debug for SchemaCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaCatalog")
            .field("kubernetes", &self.builtin.version())
            .field("crds", &self.crds.len())
            .finish_non_exhaustive()
    }
}

impl SchemaCatalog {
    /// The catalog for `options`.
    pub fn new(options: &SchemaOptions) -> Result<Self, SchemaError> {
        let builtin = Builtin::get()?.version(options.kubernetes_version.as_deref())?;
        Ok(Self {
            builtin,
            crds: HashMap::new(),
            locations: Arc::new(Locations::new(options.schema_locations.clone())?),
            patterns: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The Kubernetes version of the built-in schemas.
    #[must_use]
    pub fn kubernetes_version(&self) -> &'static str {
        self.builtin.version()
    }

    /// Adds the schemas of every CRD among `objects`; returns how many kinds were added.
    pub fn add_crds<'a>(&mut self, objects: impl IntoIterator<Item = &'a Value>) -> usize {
        let mut added = 0;
        for object in objects.into_iter().filter(|o| custom::is_crd(o)) {
            for (gvk, schema) in custom::crd_schemas(object) {
                self.crds.insert(gvk, Arc::new(schema));
                added += 1;
            }
        }
        added
    }

    /// Validates one object. A top-level `sops` map is not part of the object, and SOPS
    /// `ENC[...]` values are not checked; a Secret's values never appear in messages.
    pub fn validate(&self, object: &Value) -> Result<Outcome, SchemaError> {
        let Some(gvk) = Gvk::of(object) else {
            return Ok(Outcome::NotAnObject);
        };
        let sops = object.get("sops").is_some();
        let owned;
        let target = match object.as_object() {
            Some(map) if sops => {
                let mut map = map.clone();
                map.remove("sops");
                owned = Value::Object(map);
                &owned
            }
            _ => object,
        };
        let redact = sops || (gvk.group.is_empty() && gvk.kind == "Secret");
        if let Some(schema) = self.builtin.kind(&gvk.group, &gvk.version, &gvk.kind) {
            let mut walker = Walker::new(self, Mode::Builtin, redact).opaque_sops_values(sops);
            walker.walk(schema, target, &mut FieldPath::root());
            return Ok(outcome(walker.errors));
        }
        let custom = match self.crds.get(&gvk) {
            Some(schema) => Some(Arc::clone(schema)),
            None => self.locations.get(&gvk)?,
        };
        if let Some(schema) = custom {
            return Ok(self.validate_custom(&schema, target, redact, sops));
        }
        if self.builtin.knows_group(&gvk.group) {
            return Ok(Outcome::Invalid(vec![FieldError {
                path: "apiVersion".into(),
                message: format!(
                    "{gvk} is not served by Kubernetes {}",
                    self.builtin.version()
                ),
            }]));
        }
        Ok(Outcome::MissingSchema(gvk))
    }

    /// A custom resource: `apiVersion`, `kind` and `metadata` are the API server's (metadata
    /// checked as ObjectMeta), the rest is the CRD's structural schema.
    fn validate_custom(&self, schema: &Value, object: &Value, redact: bool, sops: bool) -> Outcome {
        let mut body = object.as_object().cloned().unwrap_or_default();
        let metadata = body.remove("metadata");
        body.remove("apiVersion");
        body.remove("kind");
        let mut walker = Walker::new(self, Mode::Structural, redact).opaque_sops_values(sops);
        walker.walk(schema, &Value::Object(body), &mut FieldPath::root());
        let mut errors = walker.errors;
        if let (Some(metadata), Some(meta_schema)) =
            (metadata, self.builtin.definition(OBJECT_META))
        {
            let mut walker = Walker::new(self, Mode::Builtin, redact);
            let mut path = FieldPath::root();
            path.push_key("metadata");
            walker.walk(meta_schema, &metadata, &mut path);
            errors.extend(walker.errors);
        }
        outcome(errors)
    }
}

fn outcome(errors: Vec<FieldError>) -> Outcome {
    if errors.is_empty() {
        Outcome::Valid
    } else {
        Outcome::Invalid(errors)
    }
}

impl Resolver for SchemaCatalog {
    fn definition(&self, name: &str) -> Option<&Value> {
        self.builtin.definition(name)
    }

    fn matches(&self, pattern: &str, text: &str) -> Option<bool> {
        let mut cache = self.patterns.lock().ok()?;
        let compiled = cache
            .entry(pattern.to_owned())
            .or_insert_with(|| regex::Regex::new(pattern).ok());
        compiled.as_ref().map(|re| re.is_match(text))
    }
}

#[cfg(test)]
mod tests;
