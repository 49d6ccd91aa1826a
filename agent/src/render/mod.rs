//! Rendering: turn a directory of a snapshot into the ordered list of objects to apply, in
//! process, with no exec and nothing read outside the snapshot.
//!
//! - A directory with a kustomization file (`kustomization.yaml`, `kustomization.yml` or
//!   `Kustomization`) is built natively with Kustomize v5 semantics ([`kustomize`]); the
//!   output matches `kubectl kustomize` object by object and in order.
//! - A directory with a `Chart.yaml` is rendered as a Helm chart ([`helm`]), as
//!   `helm template` does: with the app's `helm:` settings, or with Helm's defaults when it
//!   has no kustomization file either.
//! - Any other directory is read as plain manifests: every `.yaml`, `.yml` and `.json` file
//!   below it (sorted by path, hidden entries skipped), each possibly holding several
//!   documents; other files are ignored.
//!
//! All reads go through [`Tree`], which keeps them inside the snapshot root. Rendering
//! bounds what untrusted content can cost: YAML nesting depth and alias expansion, the
//! number of documents and objects, and the size of the output.
//!
//! SOPS-encrypted manifests and generator inputs (ConfigMap and Secret generators' files and
//! env files) are decrypted as they are loaded, before any transformer, through a
//! [`Decryptor`] that the secrets stage hands the render, so that rendering itself holds no
//! keys and decrypted Secret values stay in its zeroizing memory (the render carries
//! stand-ins). Without a decryptor, encrypted manifests pass through untouched.
//!
//! ```
//! use tether_agent::render::{render, RenderOptions};
//! use tether_agent::tree::{FsTree, RelPath, Tree};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("kustomization.yaml"), "namePrefix: app-\nresources: [cm.yaml]\n").unwrap();
//! std::fs::write(dir.path().join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: conf}\n").unwrap();
//! let tree = Tree::new(FsTree::new(dir.path()));
//! let objects = render(&tree, &RelPath::root(), &RenderOptions::default()).unwrap();
//! assert_eq!(objects[0].value["metadata"]["name"], "app-conf");
//! ```

/// Flux `HelmRelease`s, rendered instead of applied.
pub mod flux_helm;
pub mod helm;
/// Charts from Helm repositories and OCI registries (`render/helm/fetch`).
#[path = "helm/fetch/mod.rs"]
pub mod helm_fetch;
pub mod kustomize;
pub mod yaml;

use crate::tree::{EntryKind, RelPath, Tree, TreeError};
use serde_json::Value;
use std::sync::Arc;
use yaml::ParseOptions;
use zeroize::Zeroizing;

pub use kustomize::KustomizeError;
pub use yaml::YamlError;

/// Decrypts SOPS-encrypted inputs as the render loads them, before any transformer: resource
/// documents and generator inputs. Rendering holds no keys: the agent's secrets stage
/// provides an implementation; without one, encrypted generator inputs are refused and
/// encrypted documents pass through untouched.
///
/// Decrypted Secret values never enter the render's objects: the decryptor keeps them in
/// zeroizing memory and the render carries a stand-in ([`is_stand_in`]) in their place, which
/// the secrets stage exchanges for the value. So the sops MAC is checked on the bytes in Git,
/// an overlay's `namespace`, `namePrefix`, labels and patches apply to the decrypted Secret,
/// and no transformer can copy a secret value into another object unnoticed.
pub trait Decryptor: Send + Sync {
    /// Returns the plaintext of the encrypted file `path` (whose contents are `bytes`), in
    /// the same format (YAML, JSON or dotenv). The error is a reason that names no secret.
    fn decrypt_file(&self, path: &RelPath, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, String>;

    /// Decrypts one SOPS-encrypted document of the resource file `path`. For a Secret, the
    /// values of `data` and `stringData` in the result are stand-ins ([`Decryptor::hold`]);
    /// any other object is returned in clear. The error is a reason that names no secret.
    fn decrypt_object(&self, path: &RelPath, object: &Value) -> Result<Value, String> {
        let _ = object;
        Err(format!("{path}: decryption is not configured"))
    }

    /// Keeps a decrypted value and returns the stand-in that the render carries instead.
    fn hold(&self, value: Zeroizing<Vec<u8>>) -> String;
}

/// A [`Decryptor`] that refuses everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDecryption;

impl Decryptor for NoDecryption {
    fn decrypt_file(&self, path: &RelPath, _bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        Err(format!("{path}: decryption is not configured"))
    }

    fn hold(&self, _value: Zeroizing<Vec<u8>>) -> String {
        // Nothing is decrypted, so nothing is held; the stand-in resolves to nothing.
        stand_in("unavailable")
    }
}

/// The start of a stand-in for a decrypted value.
pub const STAND_IN_PREFIX: &str = "<tether-plaintext:";

/// The stand-in text for the held value `id`.
#[must_use]
pub fn stand_in(id: &str) -> String {
    format!("{STAND_IN_PREFIX}{id}>")
}

/// Whether `text` is a stand-in for a decrypted value.
#[must_use]
pub fn is_stand_in(text: &str) -> bool {
    text.starts_with(STAND_IN_PREFIX) && text.ends_with('>')
}

/// The annotation put on an encrypted document that failed to decrypt at load, with the
/// reason; the secrets stage reports it for that object, which is never applied.
pub const DECRYPT_FAILED_ANNOTATION: &str = "tether.dev/decrypt-failed";

/// The opt-out annotation: `tether.dev/decrypt: disabled` leaves a document encrypted.
pub const DECRYPT_ANNOTATION: &str = "tether.dev/decrypt";

/// At most 400 bytes of a reason, cut at a character boundary.
fn clip(reason: &str) -> String {
    let mut end = reason.len().min(400);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

/// Decrypts, in place, the SOPS-encrypted documents just loaded from `path`. A document that
/// fails keeps its ciphertext and gets [`DECRYPT_FAILED_ANNOTATION`], so that one bad Secret
/// fails alone, in the secrets stage, and the rest of the app renders.
pub(crate) fn decrypt_loaded(
    decryptor: Option<&dyn Decryptor>,
    path: &RelPath,
    docs: &mut [Value],
) {
    let Some(decryptor) = decryptor else { return };
    for doc in docs.iter_mut().filter(|d| is_sops_object(d)) {
        let opted_out = doc
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(DECRYPT_ANNOTATION))
            .and_then(Value::as_str)
            == Some("disabled");
        if opted_out {
            continue;
        }
        match decryptor.decrypt_object(path, doc) {
            Ok(plain) => *doc = plain,
            Err(reason) => {
                if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                    let annotations = meta
                        .entry("annotations")
                        .or_insert_with(|| Value::Object(serde_json::Map::new()));
                    if let Some(map) = annotations.as_object_mut() {
                        map.insert(
                            DECRYPT_FAILED_ANNOTATION.to_owned(),
                            Value::String(clip(&reason)),
                        );
                    }
                }
            }
        }
    }
}

/// Whether a YAML or JSON document is SOPS-encrypted (a top-level `sops` map with a `mac`).
#[must_use]
pub fn is_sops_document(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    if !text.contains("sops") {
        return false;
    }
    match yaml::parse_values(text, &ParseOptions::default()) {
        Ok(docs) => docs.iter().any(is_sops_object),
        Err(_) => false,
    }
}

/// Whether a parsed object carries SOPS metadata (a top-level `sops` map with a `mac`).
#[must_use]
pub fn is_sops_object(value: &Value) -> bool {
    value.get("sops").and_then(|s| s.get("mac")).is_some()
}

/// Whether a dotenv file is SOPS-encrypted (a `sops_mac=` line).
#[must_use]
pub fn is_sops_dotenv(bytes: &[u8]) -> bool {
    bytes
        .split(|b| *b == b'\n')
        .any(|line| line.starts_with(b"sops_mac="))
}

/// Bounds and hooks of a render.
#[derive(Clone)]
pub struct RenderOptions {
    /// Most documents (input manifests) and objects (output) a render may hold.
    pub max_documents: usize,
    /// Largest output, in bytes (approximately, as YAML).
    pub max_output_bytes: usize,
    /// Deepest YAML nesting accepted.
    pub max_depth: usize,
    /// Most YAML nodes one file may expand to, aliases included.
    pub max_yaml_nodes: usize,
    /// Most kustomization files one render loads (each path to a base counts).
    pub max_kustomizations: usize,
    /// Longest a render may take.
    pub max_render_time: std::time::Duration,
    /// Decrypts SOPS-encrypted documents and generator inputs as they are loaded; `None`
    /// leaves documents encrypted and refuses encrypted generator inputs.
    pub decryptor: Option<Arc<dyn Decryptor>>,
    /// Render a directory holding a `Chart.yaml` as a Helm chart with these settings.
    pub helm: Option<helm::ChartSettings>,
    /// Credentials, CA bundles and plain HTTP for remote charts (`helmRepositories`).
    pub helm_repositories: Option<Arc<helm_fetch::RepositoryAccess>>,
    /// The cluster for Kustomize's `helmCharts`: `.Capabilities` and opt-in `lookup`.
    pub helm_cluster: Option<Arc<helm::cluster::HelmCluster>>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            max_documents: 10_000,
            max_output_bytes: 64 * 1024 * 1024,
            max_depth: 64,
            max_yaml_nodes: 1_000_000,
            max_kustomizations: 1_000,
            max_render_time: std::time::Duration::from_secs(30),
            decryptor: None,
            helm: None,
            helm_repositories: None,
            helm_cluster: None,
        }
    }
}

impl std::fmt::Debug for RenderOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderOptions")
            .field("max_documents", &self.max_documents)
            .field("max_output_bytes", &self.max_output_bytes)
            .field("max_depth", &self.max_depth)
            .field("max_yaml_nodes", &self.max_yaml_nodes)
            .field("max_kustomizations", &self.max_kustomizations)
            .field("max_render_time", &self.max_render_time)
            .field("decryptor", &self.decryptor.is_some())
            .field("helm", &self.helm)
            .finish()
    }
}

impl RenderOptions {
    /// The YAML parse budget these options imply.
    #[must_use]
    pub fn yaml_limits(&self) -> ParseOptions {
        ParseOptions {
            core_booleans: false,
            max_depth: self.max_depth,
            max_documents: self.max_documents,
            max_nodes: self.max_yaml_nodes,
        }
    }
}

/// One rendered object and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The object, keys in order.
    pub value: Value,
    /// The file it was read from (for generated objects, the kustomization).
    pub source: RelPath,
}

/// Errors of the render stage. Each names the file and, where there is one, the field.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The directory or a file in it could not be read.
    #[error("{0}")]
    ReadFailed(#[from] TreeError),
    /// A manifest is not valid YAML or not an object.
    #[error("{path}: {source}")]
    ParseFailed {
        /// The file.
        path: String,
        /// What is wrong.
        #[source]
        source: YamlError,
    },
    /// A manifest lacks `apiVersion` or `kind`.
    #[error("{path}: document {index}: missing `{field}`")]
    NotAnObject {
        /// The file.
        path: String,
        /// The document's index in the file.
        index: usize,
        /// The missing field.
        field: &'static str,
    },
    /// The kustomization could not be built.
    #[error(transparent)]
    KustomizeFailed(#[from] KustomizeError),
    /// A Flux HelmRelease of the app could not be rendered.
    #[error(transparent)]
    HelmReleaseFailed(#[from] flux_helm::FluxHelmError),
    /// The Helm chart could not be loaded or rendered (names the chart, template and line).
    #[error("{path}: {source}")]
    ChartFailed {
        /// The chart directory.
        path: String,
        /// What failed.
        #[source]
        source: helm::HelmError,
    },
    /// A bound was reached.
    #[error("{path}: {what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// The directory or file.
        path: String,
        /// What is bounded.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

impl RenderError {
    /// A short, stable reason for status, Events and metrics.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ReadFailed(_) => "ReadFailed",
            Self::ParseFailed { .. } | Self::NotAnObject { .. } => "InvalidManifest",
            Self::KustomizeFailed(KustomizeError::Unsupported { .. }) => "Unsupported",
            Self::KustomizeFailed(KustomizeError::PathRefused { .. }) => "PathRefused",
            Self::KustomizeFailed(
                KustomizeError::LimitExceeded { .. } | KustomizeError::TimeExceeded { .. },
            ) => "LimitExceeded",
            Self::KustomizeFailed(_) => "KustomizeFailed",
            Self::ChartFailed { source, .. } => match source {
                helm::HelmError::ArchiveRefused { .. } => "PathRefused",
                helm::HelmError::LimitExceeded { .. } => "LimitExceeded",
                helm::HelmError::SchemaFailed { .. } => "ValuesInvalid",
                helm::HelmError::SecretValueExposed { .. } => "SecretValueExposed",
                _ => "ChartFailed",
            },
            Self::LimitExceeded { .. } => "LimitExceeded",
            Self::HelmReleaseFailed(e) => e.reason(),
        }
    }
}

/// Renders the directory `dir` of `tree` into ordered objects.
pub fn render(
    tree: &Tree,
    dir: &RelPath,
    options: &RenderOptions,
) -> Result<Vec<Object>, RenderError> {
    match tree.kind(dir)? {
        Some(EntryKind::Dir) => {}
        Some(EntryKind::File) => {
            return Err(TreeError::NotADirectory {
                path: dir.to_string(),
            }
            .into());
        }
        None => {
            return Err(TreeError::NotFound {
                path: dir.to_string(),
            }
            .into());
        }
    }
    // A chart directory renders as a chart: with the app's `helm:` settings, or (no
    // kustomization beside it) with Helm's defaults, as `tether-agent check` renders it.
    let kustomization = kustomize::load::find_kustomization(tree, dir)?;
    let default_settings = helm::ChartSettings::default();
    let chart = match &options.helm {
        Some(settings) => Some(settings),
        None if kustomization.is_none() => Some(&default_settings),
        None => None,
    }
    .filter(|s| helm::is_remote(s) || helm::is_chart_dir(tree, dir));
    let objects = if let Some(settings) = chart {
        helm::render_app(tree, dir, settings).map_err(|source| RenderError::ChartFailed {
            path: dir.to_string(),
            source,
        })?
    } else {
        match kustomization {
            Some(file) => kustomize::load::build(tree, dir, &file, options)?
                .into_iter()
                .map(|res| Object {
                    value: res.obj,
                    source: res.source,
                })
                .collect(),
            None => read_plain(tree, dir, options)?,
        }
    };
    if objects.len() > options.max_documents {
        return Err(RenderError::LimitExceeded {
            path: dir.to_string(),
            what: "the number of objects",
            limit: options.max_documents,
        });
    }
    let size: usize = objects
        .iter()
        .map(|o| yaml::approximate_size(&o.value))
        .sum();
    if size > options.max_output_bytes {
        return Err(RenderError::LimitExceeded {
            path: dir.to_string(),
            what: "the size of the output",
            limit: options.max_output_bytes,
        });
    }
    Ok(objects)
}

fn is_manifest(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json")
}

/// Reads a plain directory: every manifest file below it, sorted by path.
fn read_plain(
    tree: &Tree,
    dir: &RelPath,
    options: &RenderOptions,
) -> Result<Vec<Object>, RenderError> {
    let limits = options.yaml_limits();
    debug_assert!(!limits.core_booleans);
    let mut objects = Vec::new();
    let mut pending = vec![dir.clone()];
    let mut files = Vec::new();
    while let Some(current) = pending.pop() {
        for entry in tree.list(&current)? {
            if entry.name.starts_with('.') {
                continue;
            }
            match entry.kind {
                EntryKind::Dir => pending.push(entry.path),
                EntryKind::File if is_manifest(&entry.name) => files.push(entry.path),
                EntryKind::File => {}
            }
        }
    }
    files.sort();
    for path in files {
        let text = tree.read_to_string(&path)?;
        let mut docs =
            yaml::parse_mappings(&text, &limits).map_err(|source| RenderError::ParseFailed {
                path: path.to_string(),
                source,
            })?;
        decrypt_loaded(options.decryptor.as_deref(), &path, &mut docs);
        for (index, doc) in docs.into_iter().enumerate() {
            for field in ["apiVersion", "kind"] {
                if doc
                    .get(field)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(RenderError::NotAnObject {
                        path: path.to_string(),
                        index,
                        field,
                    });
                }
            }
            let items = kustomize::load::expand_lists(vec![doc], &path)?;
            for value in items {
                objects.push(Object {
                    value,
                    source: path.clone(),
                });
                if objects.len() > options.max_documents {
                    return Err(RenderError::LimitExceeded {
                        path: path.to_string(),
                        what: "the number of documents",
                        limit: options.max_documents,
                    });
                }
            }
        }
    }
    Ok(objects)
}

#[cfg(test)]
mod tests;
