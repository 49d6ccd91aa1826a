//! The variables of Flux's `postBuild.substituteFrom`: every key of a ConfigMap or Secret is
//! a variable. The object is read from the repository when the entry names the file that
//! holds it (`path`, which `import` sets when the object is in the repository it reads; a
//! SOPS-encrypted Secret is decrypted with the agent's keys as the render decrypts it), else
//! from the cluster, in the entry's namespace, as Flux reads it. An `optional` entry may be
//! missing; a missing required one is an error naming the entry, never the app's values.
//!
//! Values read from a Secret stay in zeroizing memory and are marked secret: the
//! substitution writes them only inside a Secret's `data` or `stringData`, behind a
//! stand-in ([`super::postbuild`]).

use super::postbuild::{PostBuildError, SubstituteFrom};
use crate::render::yaml::{self, ParseOptions};
use crate::render::{DECRYPT_FAILED_ANNOTATION, Decryptor, is_sops_object, is_stand_in};
use crate::secrets::Held;
use crate::tree::{RelPath, Tree};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// The variables of one `substituteFrom` entry.
pub struct FromValues {
    /// Each key and its value.
    pub values: BTreeMap<String, Zeroizing<String>>,
    /// Whether they were read from a Secret.
    pub secret: bool,
}

/// Where the entries are read.
pub struct FromInput<'a> {
    /// The snapshot.
    pub tree: &'a Tree,
    /// Decrypts SOPS-encrypted files of `path` entries.
    pub decryptor: Option<&'a dyn Decryptor>,
    /// The values the decryptor holds, behind their stand-ins.
    pub held: &'a Held,
    /// Reads the cluster (`None`: offline, such as `plan --offline`).
    pub cluster: Option<kube::Client>,
    /// The namespace of entries that name none.
    pub namespace: &'a str,
}

/// Reads every entry of `entries`, in order.
pub async fn read(
    entries: &[SubstituteFrom],
    input: &FromInput<'_>,
) -> Result<Vec<FromValues>, PostBuildError> {
    let mut out = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let fail = |problem: String| PostBuildError::ReadFailed {
            index,
            kind: entry.kind.clone(),
            name: entry.name.clone(),
            problem,
        };
        let secret = match entry.kind.as_str() {
            "Secret" => true,
            "ConfigMap" => false,
            _ => return Err(fail("kind: only ConfigMap or Secret".into())),
        };
        let namespace = entry.namespace.as_deref().unwrap_or(input.namespace);
        let values = match &entry.path {
            Some(path) => from_file(input, entry, namespace, path).map_err(fail)?,
            None => from_cluster(input, entry, namespace).await.map_err(fail)?,
        };
        match values {
            Some(values) => out.push(FromValues { values, secret }),
            None if entry.optional => {}
            None => {
                let place = entry
                    .path
                    .as_ref()
                    .map_or("in the cluster".to_owned(), |p| format!("in {p}"));
                return Err(fail(format!(
                    "not found {place} (namespace {namespace}); set optional: true to allow it"
                )));
            }
        }
    }
    Ok(out)
}

type Values = BTreeMap<String, Zeroizing<String>>;

/// The object's keys from the repository file `path`; `None` when the file does not hold it.
fn from_file(
    input: &FromInput<'_>,
    entry: &SubstituteFrom,
    namespace: &str,
    path: &str,
) -> Result<Option<Values>, String> {
    let file = RelPath::parse(path).map_err(|e| format!("path: {e}"))?;
    let text = input
        .tree
        .read_to_string(&file)
        .map_err(|e| format!("path: {e}"))?;
    let mut docs = yaml::parse_mappings(&text, &ParseOptions::default())
        .map_err(|e| format!("{file}: {}", crate::text::clip(&e.to_string())))?;
    docs.retain(|d| {
        d["kind"] == entry.kind.as_str()
            && d["apiVersion"] == "v1"
            && d["metadata"]["name"] == entry.name.as_str()
            && d["metadata"]["namespace"]
                .as_str()
                .is_none_or(|n| n == namespace)
    });
    crate::render::decrypt_loaded(input.decryptor, &file, &mut docs);
    let Some(doc) = docs.into_iter().next() else {
        return Ok(None);
    };
    if let Some(reason) = doc["metadata"]["annotations"][DECRYPT_FAILED_ANNOTATION].as_str() {
        return Err(format!(
            "{file}: could not be decrypted: {}",
            crate::text::clip(reason)
        ));
    }
    if is_sops_object(&doc) {
        return Err(format!(
            "{file}: is SOPS-encrypted and no decryption is configured"
        ));
    }
    let mut values = Values::new();
    for section in ["data", "stringData"] {
        for (key, value) in doc[section].as_object().into_iter().flatten() {
            let Some(text) = value.as_str() else {
                return Err(format!("{file}: {section}.{key}: not a string"));
            };
            let plain = if is_stand_in(text) {
                let bytes = input
                    .held
                    .value(text)
                    .ok_or_else(|| format!("{file}: {section}.{key}: not decrypted"))?;
                utf8(bytes).map_err(|p| format!("{file}: {section}.{key}: {p}"))?
            } else if section == "data" && entry.kind == "Secret" {
                let bytes = Zeroizing::new(
                    decode(text).map_err(|p| format!("{file}: {section}.{key}: {p}"))?,
                );
                utf8(bytes).map_err(|p| format!("{file}: {section}.{key}: {p}"))?
            } else {
                Zeroizing::new(text.to_owned())
            };
            values.insert(key.clone(), plain);
        }
    }
    Ok(Some(values))
}

fn decode(text: &str) -> Result<Vec<u8>, &'static str> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| "is not valid base64")
}

fn utf8(bytes: Zeroizing<Vec<u8>>) -> Result<Zeroizing<String>, &'static str> {
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(_) => Err("is not UTF-8 text"),
    }
}

/// The object's keys read from the cluster; `None` when it does not exist.
async fn from_cluster(
    input: &FromInput<'_>,
    entry: &SubstituteFrom,
    namespace: &str,
) -> Result<Option<Values>, String> {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let Some(client) = input.cluster.clone() else {
        return Err(
            "reading the cluster is not possible here (offline); keep the object in the repository"
                .into(),
        );
    };
    let mut values = Values::new();
    if entry.kind == "Secret" {
        let api: kube::Api<Secret> = kube::Api::namespaced(client, namespace);
        let Some(mut secret) = api.get_opt(&entry.name).await.map_err(read_error)? else {
            return Ok(None);
        };
        for (key, mut value) in secret.data.take().unwrap_or_default() {
            let bytes = Zeroizing::new(std::mem::take(&mut value.0));
            values.insert(
                key.clone(),
                utf8(bytes).map_err(|p| format!("data.{key}: {p}"))?,
            );
        }
    } else {
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, namespace);
        let Some(map) = api.get_opt(&entry.name).await.map_err(read_error)? else {
            return Ok(None);
        };
        for (key, value) in map.data.unwrap_or_default() {
            values.insert(key, Zeroizing::new(value));
        }
    }
    Ok(Some(values))
}

fn read_error(error: kube::Error) -> String {
    format!("the cluster: {}", crate::text::clip(&error.to_string()))
}

#[cfg(test)]
#[path = "substitute_from_tests.rs"]
mod tests;
