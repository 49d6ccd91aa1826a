//! Schemas of custom resources: from CustomResourceDefinitions (the `openAPIV3Schema` of each
//! served version, wherever the CRD comes from: the repository, the app, the cluster) and from
//! schema directories laid out as the public CRDs catalog (`{group}/{kind}_{version}.json`,
//! kind in lowercase).

use super::{Gvk, SchemaError};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The largest schema file read from a schema directory.
const MAX_SCHEMA_FILE: u64 = 16 * 1024 * 1024;

/// Whether `object` is a CustomResourceDefinition.
#[must_use]
pub fn is_crd(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
        && object
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"))
}

/// The schemas a CRD defines: one per served version that has an `openAPIV3Schema`.
#[must_use]
pub fn crd_schemas(crd: &Value) -> Vec<(Gvk, Value)> {
    let text = |pointer: &str| crd.pointer(pointer).and_then(Value::as_str);
    let (Some(group), Some(kind)) = (text("/spec/group"), text("/spec/names/kind")) else {
        return Vec::new();
    };
    let Some(versions) = crd.pointer("/spec/versions").and_then(Value::as_array) else {
        return Vec::new();
    };
    versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
        .filter_map(|v| {
            let name = v.get("name").and_then(Value::as_str)?;
            let schema = v.pointer("/schema/openAPIV3Schema")?;
            Some((Gvk::new(group, name, kind), schema.clone()))
        })
        .collect()
}

/// Schema directories in the layout of the CRDs catalog, read on demand and cached.
#[derive(Debug, Default)]
pub struct Locations {
    dirs: Vec<PathBuf>,
    cache: Mutex<HashMap<Gvk, Option<Arc<Value>>>>,
}

impl Locations {
    /// Reads from `dirs`, the first that has a kind's file wins.
    pub fn new(dirs: Vec<PathBuf>) -> Result<Self, SchemaError> {
        for dir in &dirs {
            if !dir.is_dir() {
                return Err(SchemaError::LocationUnreadable {
                    path: dir.display().to_string(),
                    message: "not a directory".into(),
                });
            }
        }
        Ok(Self {
            dirs,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The schema of `gvk`, if a directory has it; a file that is there but unreadable or
    /// not JSON is an error naming it.
    pub fn get(&self, gvk: &Gvk) -> Result<Option<Arc<Value>>, SchemaError> {
        if self.dirs.is_empty() || gvk.group.is_empty() {
            return Ok(None);
        }
        if let Some(found) = self.cache.lock().ok().and_then(|c| c.get(gvk).cloned()) {
            return Ok(found);
        }
        let file = format!("{}_{}.json", gvk.kind.to_lowercase(), gvk.version);
        let mut found = None;
        for dir in &self.dirs {
            let path = dir.join(&gvk.group).join(&file);
            if path.is_file() {
                found = Some(Arc::new(read_schema(&path)?));
                break;
            }
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(gvk.clone(), found.clone());
        }
        Ok(found)
    }
}

fn read_schema(path: &Path) -> Result<Value, SchemaError> {
    let failed = |message: String| SchemaError::LocationUnreadable {
        path: path.display().to_string(),
        message,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| failed(e.to_string()))?
        .len();
    if size > MAX_SCHEMA_FILE {
        return Err(failed(format!("{size} bytes, more than {MAX_SCHEMA_FILE}")));
    }
    let text = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    let value: Value =
        serde_json::from_slice(&text).map_err(|e| failed(format!("not JSON: {e}")))?;
    if !value.is_object() {
        return Err(failed("not a JSON object".into()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_crd_gives_one_schema_per_served_version() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced",
            "versions": [
                {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}},
                {"name": "v1beta1", "served": false, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}},
                {"name": "v2", "served": true, "storage": false}
            ]}});
        assert!(is_crd(&crd));
        let schemas = crd_schemas(&crd);
        assert_eq!(schemas.len(), 1);
        assert_eq!(schemas[0].0, Gvk::new("example.com", "v1", "Widget"));
    }

    #[test]
    fn catalog_files_are_found_by_group_kind_and_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("example.com")).expect("mkdir");
        std::fs::write(
            dir.path().join("example.com/widget_v1.json"),
            r#"{"type": "object"}"#,
        )
        .expect("write");
        std::fs::write(dir.path().join("example.com/gadget_v1.json"), "{not json").expect("write");
        let locations = Locations::new(vec![dir.path().to_owned()]).expect("dir");
        assert!(
            locations
                .get(&Gvk::new("example.com", "v1", "Widget"))
                .expect("ok")
                .is_some()
        );
        assert!(
            locations
                .get(&Gvk::new("example.com", "v2", "Widget"))
                .expect("ok")
                .is_none()
        );
        let err = locations
            .get(&Gvk::new("example.com", "v1", "Gadget"))
            .expect_err("bad file");
        assert!(err.to_string().contains("gadget_v1.json"), "{err}");
        assert!(Locations::new(vec![dir.path().join("missing")]).is_err());
    }
}
