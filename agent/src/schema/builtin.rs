//! The built-in schemas: the Kubernetes API's own kinds for each supported minor version,
//! embedded in the binary in the compact form `scripts/gen-kube-schemas` writes
//! (`agent/schemas/kubernetes.bin`, its SOURCES beside it).
//!
//! The file is an 8-byte header (`TKS1`, the JSON length as u32 little endian) and a zlib
//! stream of `{"schemas": [...], "versions": {"1.35": {"definitions": {NAME: INDEX},
//! "kinds": {"GROUP/VERSION/KIND": NAME}}}}`. It is decoded once, on first use; each schema
//! is kept as compact JSON text and parsed the first time it is looked up, so a process holds
//! as trees only the schemas of the kinds it meets.

use super::SchemaError;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// One schema: its compact JSON text, and its tree once looked up.
#[derive(Debug)]
struct Schema {
    text: Box<str>,
    tree: OnceLock<Value>,
}

impl Schema {
    fn tree(&self) -> &Value {
        // The text was written from a parsed value: it parses again.
        self.tree
            .get_or_init(|| serde_json::from_str(&self.text).unwrap_or(Value::Null))
    }
}

/// The compact schemas, as built into the binary.
static PACKED: &[u8] = include_bytes!("../../schemas/kubernetes.bin");

/// The largest decoded document accepted (the shipped one is about 0.6 MiB).
const MAX_DECODED: usize = 64 * 1024 * 1024;

/// The schemas of one Kubernetes minor version.
#[derive(Debug)]
pub struct BuiltinVersion {
    /// `1.35`.
    pub version: String,
    definitions: HashMap<String, usize>,
    kinds: HashMap<String, String>,
}

/// Every built-in version, sharing their schemas.
#[derive(Debug)]
pub struct Builtin {
    schemas: Vec<Schema>,
    versions: Vec<BuiltinVersion>,
}

#[derive(serde::Deserialize)]
struct Document {
    schemas: Vec<Value>,
    versions: HashMap<String, VersionDocument>,
}

#[derive(serde::Deserialize)]
struct VersionDocument {
    definitions: HashMap<String, usize>,
    kinds: HashMap<String, String>,
}

impl Builtin {
    /// The schemas built into the binary (decoded on first use).
    pub fn get() -> Result<&'static Self, SchemaError> {
        static BUILTIN: OnceLock<Result<Builtin, String>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| Self::decode(PACKED))
            .as_ref()
            .map_err(|message| SchemaError::BuiltinCorrupt {
                message: message.clone(),
            })
    }

    /// Decodes the packed form.
    pub fn decode(packed: &[u8]) -> Result<Self, String> {
        let (header, stream) = packed
            .split_at_checked(8)
            .ok_or("shorter than its header")?;
        if &header[..4] != b"TKS1" {
            return Err("not a schema file (no TKS1 header)".into());
        }
        let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if length > MAX_DECODED {
            return Err(format!("declares {length} bytes, more than {MAX_DECODED}"));
        }
        let mut output = vec![0u8; length];
        let (decoded, code) =
            zlib_rs::decompress_slice(&mut output, stream, zlib_rs::InflateConfig::default());
        if code != zlib_rs::ReturnCode::Ok || decoded.len() != length {
            return Err(format!("the zlib stream does not decode ({code:?})"));
        }
        let document: Document = serde_json::from_slice(&output).map_err(|e| e.to_string())?;
        let mut versions: Vec<BuiltinVersion> = document
            .versions
            .into_iter()
            .map(|(version, v)| BuiltinVersion {
                version,
                definitions: v.definitions,
                kinds: v.kinds,
            })
            .collect();
        for version in &versions {
            if let Some(bad) = version
                .definitions
                .values()
                .find(|&&i| i >= document.schemas.len())
            {
                return Err(format!(
                    "{}: schema index {bad} out of range",
                    version.version
                ));
            }
        }
        versions.sort_by_key(|v| minor_of(&v.version));
        let schemas = document
            .schemas
            .into_iter()
            .map(|v| Schema {
                text: v.to_string().into_boxed_str(),
                tree: OnceLock::new(),
            })
            .collect();
        Ok(Self { schemas, versions })
    }

    /// The supported versions, oldest first.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        self.versions.iter().map(|v| v.version.as_str())
    }

    /// The schemas of `version` (`1.33`, `v1.33`, `1.33.2`); `None` the newest.
    pub fn version(&self, version: Option<&str>) -> Result<BuiltinRef<'_>, SchemaError> {
        let found = match version {
            None => self.versions.last(),
            Some(wanted) => {
                let wanted = wanted.trim_start_matches('v');
                let minor: String = wanted.split('.').take(2).collect::<Vec<_>>().join(".");
                self.versions.iter().find(|v| v.version == minor)
            }
        };
        found
            .map(|version| BuiltinRef {
                builtin: self,
                version,
            })
            .ok_or_else(|| SchemaError::UnsupportedVersion {
                version: version.unwrap_or_default().to_owned(),
                supported: self.versions().collect::<Vec<_>>().join(", "),
            })
    }
}

fn minor_of(version: &str) -> (u32, u32) {
    let mut parts = version.split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// One version of the built-in schemas.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinRef<'a> {
    builtin: &'a Builtin,
    version: &'a BuiltinVersion,
}

impl<'a> BuiltinRef<'a> {
    /// `1.35`.
    #[must_use]
    pub fn version(&self) -> &'a str {
        &self.version.version
    }

    /// The schema of a definition (`io.k8s.api.apps.v1.Deployment`).
    #[must_use]
    pub fn definition(&self, name: &str) -> Option<&'a Value> {
        let index = *self.version.definitions.get(name)?;
        self.builtin.schemas.get(index).map(Schema::tree)
    }

    /// The schema of a kind (`apps`, `v1`, `Deployment`).
    #[must_use]
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<&'a Value> {
        let name = self
            .version
            .kinds
            .get(&format!("{group}/{version}/{kind}"))?;
        self.definition(name)
    }

    /// Whether the API group is one of the API's own (any version, any kind).
    #[must_use]
    pub fn knows_group(&self, group: &str) -> bool {
        let prefix = format!("{group}/");
        self.version.kinds.keys().any(|k| k.starts_with(&prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_schemas_hold_every_supported_version() {
        let builtin = Builtin::get().expect("decodes");
        let versions: Vec<&str> = builtin.versions().collect();
        assert_eq!(versions, ["1.30", "1.31", "1.32", "1.33", "1.34", "1.35"]);
        let newest = builtin.version(None).expect("newest");
        assert_eq!(newest.version(), "1.35");
        assert!(newest.kind("apps", "v1", "Deployment").is_some());
        assert!(newest.kind("", "v1", "ConfigMap").is_some());
        assert!(newest.definition("io.k8s.api.core.v1.PodSpec").is_some());
    }

    #[test]
    fn versions_are_chosen_by_minor_and_unknown_ones_refused() {
        let builtin = Builtin::get().expect("decodes");
        assert_eq!(
            builtin.version(Some("v1.30.4")).expect("1.30").version(),
            "1.30"
        );
        let err = builtin.version(Some("1.12")).expect_err("too old");
        assert!(err.to_string().contains("1.30, 1.31"), "{err}");
        // resource.k8s.io/v1 arrived in 1.34.
        let v130 = builtin.version(Some("1.30")).expect("1.30");
        assert!(
            v130.kind("resource.k8s.io", "v1", "ResourceClaim")
                .is_none()
        );
        let v135 = builtin.version(Some("1.35")).expect("1.35");
        assert!(
            v135.kind("resource.k8s.io", "v1", "ResourceClaim")
                .is_some()
        );
    }

    #[test]
    fn a_corrupt_schema_file_is_an_error_not_a_panic() {
        assert!(Builtin::decode(b"").is_err());
        assert!(Builtin::decode(b"TKS1\x10\0\0\0garbage").is_err());
        assert!(Builtin::decode(b"XXXX\0\0\0\0").is_err());
        assert!(Builtin::decode(b"TKS1\xff\xff\xff\xff").is_err());
    }
}
