//! Flux's Kustomize post-renderer: the release's objects become the one resource of an
//! in-memory kustomization with the post-renderer's `patches` (and the older
//! `patchesStrategicMerge`/`patchesJson6902`) and `images`, built by Tether's own
//! Kustomize, as Flux builds it with kustomize.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::render::{self, RenderOptions};
use crate::tree::{RawEntry, RawTree, RelPath, Tree, TreeError};

/// Files in memory (no directories but the root).
struct MemoryTree {
    files: BTreeMap<String, Vec<u8>>,
}

impl RawTree for MemoryTree {
    fn entry(&self, path: &RelPath) -> Result<Option<RawEntry>, TreeError> {
        if path.is_root() {
            return Ok(Some(RawEntry::Dir));
        }
        Ok(self.files.get(path.as_str()).map(|f| RawEntry::File {
            size: f.len() as u64,
        }))
    }

    fn read_file(&self, path: &RelPath, limit: u64) -> Result<Vec<u8>, TreeError> {
        let file = self
            .files
            .get(path.as_str())
            .ok_or_else(|| TreeError::NotFound {
                path: path.to_string(),
            })?;
        if file.len() as u64 > limit {
            return Err(TreeError::FileTooLarge {
                path: path.to_string(),
                size: file.len() as u64,
                limit,
            });
        }
        Ok(file.clone())
    }

    fn list_dir(&self, path: &RelPath) -> Result<Vec<String>, TreeError> {
        if path.is_root() {
            Ok(self.files.keys().cloned().collect())
        } else {
            Err(TreeError::NotADirectory {
                path: path.to_string(),
            })
        }
    }
}

const FIELDS: [&str; 4] = [
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "images",
];

/// Applies one Kustomize post-renderer to `objects`. The error is Kustomize's message.
pub(super) fn kustomize(
    objects: Vec<Value>,
    settings: &Map<String, Value>,
) -> Result<Vec<Value>, String> {
    if let Some(unknown) = settings.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "field {unknown:?} is not a Kustomize post-renderer field (patches, patchesStrategicMerge, patchesJson6902, images)"
        ));
    }
    let mut kustomization = Map::new();
    kustomization.insert("resources".into(), json!(["release.yaml"]));
    for (key, value) in settings {
        kustomization.insert(key.clone(), value.clone());
    }
    let mut release = Vec::new();
    for object in &objects {
        release.extend_from_slice(b"---\n");
        serde_json::to_writer(&mut release, object).map_err(|e| e.to_string())?;
        release.push(b'\n');
    }
    let mut files = BTreeMap::new();
    files.insert(
        "kustomization.yaml".to_owned(),
        serde_json::to_vec(&Value::Object(kustomization)).map_err(|e| e.to_string())?,
    );
    files.insert("release.yaml".to_owned(), release);
    let tree = Tree::new(MemoryTree { files });
    let rendered = render::render(&tree, &RelPath::root(), &RenderOptions::default())
        .map_err(|e| e.to_string())?;
    Ok(rendered.into_iter().map(|o| o.value).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_and_images_apply_to_the_release() {
        let objects = vec![json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/web:1.0"}]}}}})];
        let settings = json!({
            "patches": [{"target": {"kind": "Deployment"}, "patch": "- op: add\n  path: /spec/replicas\n  value: 3\n"}],
            "images": [{"name": "ghcr.io/acme/web", "newTag": "2.0"}]
        });
        let out = kustomize(objects, settings.as_object().expect("a map")).expect("post-rendered");
        assert_eq!(out[0]["spec"]["replicas"], 3);
        assert_eq!(
            out[0]["spec"]["template"]["spec"]["containers"][0]["image"],
            "ghcr.io/acme/web:2.0"
        );
    }

    #[test]
    fn an_unknown_post_renderer_field_is_named() {
        let settings = json!({"resources": ["x.yaml"]});
        let err = kustomize(Vec::new(), settings.as_object().expect("a map")).expect_err("refused");
        assert!(err.contains("\"resources\""), "{err}");
    }
}
