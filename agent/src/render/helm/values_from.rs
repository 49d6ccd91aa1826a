//! The `valuesFrom` of an app's `helm:` block, resolved before the chart renders: each entry
//! names a ConfigMap's or Secret's key (`valuesKey`, default `values.yaml`), read as a YAML
//! map of values or set as one string at `targetPath`, merged in order over the inline
//! values; an `optional` entry may be missing.
//!
//! The object is read from a manifest file of the snapshot when the entry has a `path`
//! (relative to the chart directory; a SOPS-encrypted Secret is decrypted as the render
//! decrypts it), else from the cluster, in the app's namespace, through the daemon's
//! [`CredentialSource`]. The composition is Flux's ([`crate::render::flux_helm::values`]).
//!
//! Values read from a Secret are secret: their bytes are held in zeroizing memory until they
//! are parsed, no error quotes them, and their strings are kept ([`SecretLeaves`]) so that the
//! render refuses a non-Secret object that carries one ([`super::exposure`]).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::HelmError;
use super::exposure::SecretLeaves;
use crate::render::flux_helm::FluxHelmError;
use crate::render::flux_helm::model::ValuesReference;
use crate::render::flux_helm::values::{self, HeldValues, ReferenceSource};
use crate::render::yaml::{self, ParseOptions};
use crate::render::{DECRYPT_FAILED_ANNOTATION, Decryptor, stand_in};
use crate::secrets::credentials::{CredentialError, CredentialSource};
use crate::tree::{RelPath, Tree};

/// One `valuesFrom` entry: the reference, and the manifest file that holds the object
/// (`None`: the cluster).
#[derive(Debug, Clone)]
pub struct ValuesSource {
    /// Kind, name, key, target path, optional.
    pub reference: ValuesReference,
    /// A manifest file, relative to the chart directory.
    pub path: Option<String>,
}

/// Where the entries are read.
pub struct ValuesFromInput<'a> {
    /// The app, for errors.
    pub app: &'a str,
    /// The namespace of the referenced objects (the release's).
    pub namespace: &'a str,
    /// The snapshot.
    pub tree: &'a Tree,
    /// The chart directory (`path` is relative to it).
    pub chart_dir: &'a RelPath,
    /// Decrypts SOPS-encrypted manifests of `path` entries.
    pub decryptor: Option<&'a dyn Decryptor>,
    /// The values the decryptor holds, behind their stand-ins.
    pub held: &'a dyn HeldValues,
    /// Reads ConfigMaps and Secrets from the cluster (`None`: no cluster, such as an
    /// offline plan; then only `path` entries can be read).
    pub cluster: Option<&'a dyn CredentialSource>,
}

/// The resolved values of the entries, merged in order.
pub struct ResolvedValues {
    /// The merged values.
    pub values: Map<String, Value>,
    /// Whether any came from a Secret.
    pub secret: bool,
    /// The strings read from Secrets.
    pub leaves: SecretLeaves,
}

/// Reads and merges `sources` in order.
pub async fn resolve(
    sources: &[ValuesSource],
    input: &ValuesFromInput<'_>,
) -> Result<ResolvedValues, HelmError> {
    let mut resolved = ResolvedValues {
        values: Map::new(),
        secret: false,
        leaves: SecretLeaves::new(),
    };
    for (index, source) in sources.iter().enumerate() {
        let field = format!("helm.valuesFrom[{index}]");
        let local = LocalHeld::new(input.held);
        let objects = match &source.path {
            Some(path) => read_file(input, path, &field)?,
            None => read_cluster(input, &source.reference, &field, &local).await?,
        };
        let reads = ReferenceSource {
            object: &format!("app {}", input.app),
            field: "helm.valuesFrom",
            first_index: index,
            namespace: input.namespace,
            objects: &objects,
            held: &local,
            missing: match source.path {
                Some(_) => "is not in the file that path names",
                None => "was not found in the cluster",
            },
        };
        let composed = values::compose_references(std::slice::from_ref(&source.reference), &reads)
            .map_err(|e| from_flux(e, &field))?;
        values::merge(&mut resolved.values, composed.values);
        resolved.secret |= composed.secret;
        resolved.leaves.extend(composed.leaves);
    }
    Ok(resolved)
}

fn from_flux(error: FluxHelmError, field: &str) -> HelmError {
    match error {
        FluxHelmError::InvalidField {
            object, problem, ..
        } => HelmError::ValuesFromFailed {
            object,
            field: field.to_owned(),
            problem,
        },
        other => HelmError::ValuesFromFailed {
            object: String::new(),
            field: field.to_owned(),
            problem: other.to_string(),
        },
    }
}

fn failed(input: &ValuesFromInput<'_>, field: &str, problem: String) -> HelmError {
    HelmError::ValuesFromFailed {
        object: format!("app {}", input.app),
        field: field.to_owned(),
        problem,
    }
}

/// The objects of the manifest file `path` (relative to the chart), SOPS documents decrypted.
fn read_file(
    input: &ValuesFromInput<'_>,
    path: &str,
    field: &str,
) -> Result<Vec<Value>, HelmError> {
    let file = input
        .chart_dir
        .join(path)
        .map_err(|e| failed(input, field, format!("path: {e}")))?;
    let text = input
        .tree
        .read_to_string(&file)
        .map_err(|e| failed(input, field, format!("path: {e}")))?;
    let mut docs = yaml::parse_mappings(&text, &ParseOptions::default()).map_err(|e| {
        failed(
            input,
            field,
            format!("{file}: {}", super::clip(&e.to_string())),
        )
    })?;
    crate::render::decrypt_loaded(input.decryptor, &file, &mut docs);
    if let Some(reason) = docs.iter().find_map(|d| {
        d.pointer("/metadata/annotations")
            .and_then(|a| a.get(DECRYPT_FAILED_ANNOTATION))
            .and_then(Value::as_str)
    }) {
        return Err(failed(
            input,
            field,
            format!("{file}: could not be decrypted: {}", super::clip(reason)),
        ));
    }
    if docs.iter().any(crate::render::is_sops_object) {
        return Err(failed(
            input,
            field,
            format!("{file}: is SOPS-encrypted and no decryption is configured"),
        ));
    }
    Ok(docs)
}

/// The referenced key read from the cluster, as a one-key object (a Secret's value held in
/// `local`, behind a stand-in); none when the object or key does not exist.
async fn read_cluster(
    input: &ValuesFromInput<'_>,
    reference: &ValuesReference,
    field: &str,
    local: &LocalHeld<'_>,
) -> Result<Vec<Value>, HelmError> {
    let Some(cluster) = input.cluster else {
        return Err(failed(
            input,
            field,
            format!(
                "{} {}: reading the cluster is not possible here (offline); give a path to a manifest in Git",
                reference.kind, reference.name
            ),
        ));
    };
    let key = if reference.values_key.is_empty() {
        "values.yaml"
    } else {
        reference.values_key.as_str()
    };
    let (namespace, name) = (input.namespace, reference.name.as_str());
    let meta = json!({"name": name, "namespace": namespace});
    let read = match reference.kind.as_str() {
        "Secret" => cluster
            .secret_value(namespace, name, key)
            .await
            .map(|bytes| {
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta,
                "data": {key: local.hold(bytes)}})
            }),
        "ConfigMap" => cluster
            .config_map_value(namespace, name, key)
            .await
            .map(|text| {
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                "data": {key: text}})
            }),
        // The composition names the bad kind.
        _ => return Ok(Vec::new()),
    };
    match read {
        Ok(object) => Ok(vec![object]),
        Err(CredentialError::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(failed(input, field, e.to_string())),
    }
}

/// Values read from the cluster, held behind stand-ins for the composition, over the
/// render's held values.
struct LocalHeld<'a> {
    outer: &'a dyn HeldValues,
    values: Mutex<BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

impl<'a> LocalHeld<'a> {
    fn new(outer: &'a dyn HeldValues) -> Self {
        Self {
            outer,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    fn hold(&self, value: Zeroizing<Vec<u8>>) -> String {
        let Ok(mut values) = self.values.lock() else {
            return stand_in("unavailable");
        };
        let text = stand_in(&format!("values-from-{}", values.len()));
        values.insert(text.clone(), value);
        text
    }
}

impl HeldValues for LocalHeld<'_> {
    fn reveal(&self, stand_in: &str) -> Option<Zeroizing<Vec<u8>>> {
        let local = self
            .values
            .lock()
            .ok()
            .and_then(|v| v.get(stand_in).map(|b| Zeroizing::new(b.to_vec())));
        local.or_else(|| self.outer.reveal(stand_in))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::flux_helm::NothingHeld;
    use crate::secrets::credentials::StaticCredentials;
    use crate::tree::FsTree;

    fn source(kind: &str, name: &str, key: &str, target: &str, path: Option<&str>) -> ValuesSource {
        ValuesSource {
            reference: ValuesReference {
                kind: kind.into(),
                name: name.into(),
                values_key: key.into(),
                target_path: target.into(),
                optional: false,
            },
            path: path.map(Into::into),
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .block_on(future)
    }

    struct Scene {
        _dir: tempfile::TempDir,
        tree: Tree,
        chart: RelPath,
        cluster: StaticCredentials,
    }

    fn scene() -> Scene {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let secrets = dir.path().join("secrets");
        std::fs::create_dir_all(&secrets).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.path().join("charts/web")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            secrets.join("db.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n  values.yaml: |\n    db: {password: git-pass-1234}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            secrets.join("sealed.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {values.yaml: ENC[AES256_GCM,data:x]}\nsops: {mac: ENC[x], version: 3.9.0}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let cluster = StaticCredentials::new();
        cluster.set_config_map(
            "shop",
            "settings",
            "values.yaml",
            "replicas: 2\ndb: {host: db}\n",
        );
        cluster.set_secret(
            "shop",
            "token",
            "token",
            Zeroizing::new(b"cluster-token-5678".to_vec()),
        );
        Scene {
            tree: Tree::new(FsTree::new(dir.path())),
            chart: RelPath::parse("charts/web").unwrap_or_else(|e| panic!("{e}")),
            _dir: dir,
            cluster,
        }
    }

    fn input<'a>(
        scene: &'a Scene,
        cluster: Option<&'a dyn CredentialSource>,
    ) -> ValuesFromInput<'a> {
        ValuesFromInput {
            app: "web",
            namespace: "shop",
            tree: &scene.tree,
            chart_dir: &scene.chart,
            decryptor: None,
            held: &NothingHeld,
            cluster,
        }
    }

    #[test]
    fn values_from_the_cluster_and_git_merge_in_order_with_target_paths() {
        let scene = scene();
        let mut absent = source("Secret", "absent", "", "", None);
        absent.reference.optional = true;
        let sources = [
            source("ConfigMap", "settings", "", "", None),
            source("Secret", "db", "", "", Some("../../secrets/db.yaml")),
            source("Secret", "token", "token", "api.token", None),
            absent,
        ];
        let resolved = block_on(resolve(&sources, &input(&scene, Some(&scene.cluster))))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(resolved.secret);
        assert_eq!(
            Value::Object(resolved.values),
            json!({"replicas": 2, "db": {"host": "db", "password": "git-pass-1234"},
                "api": {"token": "cluster-token-5678"}})
        );
        let objects = [json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c"}, "data": {"t": "Bearer cluster-token-5678"}})];
        assert!(super::super::exposure::find(&objects, &resolved.leaves).is_some());
    }

    #[test]
    fn a_missing_entry_names_the_entry_and_the_object() {
        let scene = scene();
        let sources = [source("Secret", "gone", "", "", None)];
        let err = block_on(resolve(&sources, &input(&scene, Some(&scene.cluster))))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "app web: field helm.valuesFrom[0]: Secret shop/gone was not found in the cluster"
            )
        );
        // Offline, only entries in Git can be read.
        let err = block_on(resolve(&sources, &input(&scene, None)))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("offline")),
            "{err:?}"
        );
    }

    #[test]
    fn a_bad_secret_key_is_refused_without_its_value() {
        let scene = scene();
        let sources = [source("Secret", "token", "token", "", None)];
        let err = block_on(resolve(&sources, &input(&scene, Some(&scene.cluster))))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("helm.valuesFrom[0]") && err.contains("not a YAML map"),
            "{err}"
        );
        assert!(!err.contains("cluster-token-5678"), "{err}");
        // An encrypted file without decryption is refused, naming it.
        let sources = [source(
            "Secret",
            "db",
            "",
            "",
            Some("../../secrets/sealed.yaml"),
        )];
        let err = block_on(resolve(&sources, &input(&scene, None)))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("secrets/sealed.yaml"), "{err}");
    }
}
