//! Kustomize transforms over an app's render, as Argo CD's `source.kustomize` and
//! `source.directory` and Flux's Kustomization `patches`, `images` and `targetNamespace` ask
//! for them: the app's directory becomes the one resource of a kustomization that exists only
//! in memory, so the transforms are exactly the native Kustomize ones (and what
//! `kubectl kustomize` does with the same kustomization written beside the app).
//!
//! Typed input: the app's [`Tree`], its directory and an [`Overlay`]; output: the rendered
//! objects. A plain directory (no kustomization) lists its manifest files as the resources,
//! as Flux's generated kustomization and Argo CD's directory source read them (`files`:
//! recurse, include and exclude globs).

use crate::render::{self, Object, RenderError, RenderOptions};
use crate::tree::{EntryKind, RawEntry, RawTree, RelPath, Tree, TreeError};
use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The in-memory directory (inside the app's) holding the generated kustomization.
const OVERLAY_DIR: &str = ".tether-overlay";

/// Kustomize transforms applied over an app's render (an app's `kustomize:` block).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Overlay {
    /// Kustomize `patches` (strategic merge or JSON 6902, inline `patch` with a `target`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Value>,
    /// Kustomize `images` entries (`name`, `newName`, `newTag`, `digest`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Value>,
    /// A prefix for every name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
    /// A suffix for every name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
    /// The namespace of every namespaced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels added to every object (and selectors), as Kustomize's `commonLabels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations added to every object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_annotations: BTreeMap<String, String>,
    /// Kustomize `replicas` entries (`name`, `count`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Value>,
    /// Which files of a plain directory are read (default: all, recursively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<FileSelection>,
}

/// The files of a plain directory that make the app (Argo CD's `source.directory`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileSelection {
    /// Read subdirectories too.
    #[serde(default)]
    pub recurse: bool,
    /// Only files whose path (relative to the app) matches this glob; `{a,b}` alternatives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
    /// Leave out files whose path matches this glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<String>,
}

impl Overlay {
    /// Whether the overlay changes nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Renders `dir` with `overlay` over it.
pub fn render_with(
    tree: &Tree,
    dir: &RelPath,
    overlay: &Overlay,
    options: &RenderOptions,
) -> Result<Vec<Object>, RenderError> {
    let resources = resources(tree, dir, overlay.files.as_ref())?;
    let text = kustomization(overlay, resources);
    let overlay_dir = dir.child(OVERLAY_DIR)?;
    let file = overlay_dir.child("kustomization.yaml")?;
    let layered = Tree::new(Layered {
        inner: tree.clone(),
        dir: overlay_dir.clone(),
        file,
        text: text.into_bytes(),
    })
    .with_max_file_bytes(tree.max_file_bytes());
    let mut objects = render::render(&layered, &overlay_dir, options)?;
    for object in &mut objects {
        if object.source.starts_with(&overlay_dir) {
            object.source = dir.clone();
        }
    }
    Ok(objects)
}

/// The generated kustomization's text.
fn kustomization(overlay: &Overlay, resources: Vec<String>) -> String {
    let mut k = serde_json::Map::new();
    k.insert(
        "apiVersion".into(),
        "kustomize.config.k8s.io/v1beta1".into(),
    );
    k.insert("kind".into(), "Kustomization".into());
    k.insert("resources".into(), resources.into());
    let fields = serde_json::to_value(Overlay {
        files: None,
        ..overlay.clone()
    })
    .unwrap_or(Value::Null);
    for (key, value) in fields.as_object().into_iter().flatten() {
        k.insert(key.clone(), value.clone());
    }
    // JSON is YAML: no second serializer needed.
    Value::Object(k).to_string()
}

/// The generated kustomization's resources: the app's directory when it holds a
/// kustomization, else its manifest files.
fn resources(
    tree: &Tree,
    dir: &RelPath,
    files: Option<&FileSelection>,
) -> Result<Vec<String>, RenderError> {
    // A kustomization wins: Argo CD reads `directory` options only for plain directories.
    if render::kustomize::load::find_kustomization(tree, dir)?.is_some() {
        return Ok(vec!["..".to_owned()]);
    }
    let include = files
        .and_then(|f| f.include.as_deref())
        .map(glob)
        .transpose();
    let exclude = files
        .and_then(|f| f.exclude.as_deref())
        .map(glob)
        .transpose();
    let (include, exclude) = match (include, exclude) {
        (Ok(i), Ok(e)) => (i, e),
        (Err(message), _) | (_, Err(message)) => {
            return Err(RenderError::ReadFailed(TreeError::InvalidPath {
                path: dir.to_string(),
                reason: message,
            }));
        }
    };
    let recurse = files.is_none_or(|f| f.recurse);
    let mut out = Vec::new();
    let mut stack = vec![(dir.clone(), String::new())];
    while let Some((at, prefix)) = stack.pop() {
        for entry in tree.list(&at)? {
            if entry.name.starts_with('.') {
                continue;
            }
            let rel = format!("{prefix}{}", entry.name);
            match entry.kind {
                EntryKind::Dir if recurse => stack.push((entry.path, format!("{rel}/"))),
                EntryKind::Dir => {}
                EntryKind::File => {
                    let manifest = [".yaml", ".yml", ".json"]
                        .iter()
                        .any(|e| entry.name.ends_with(e));
                    let wanted = include.as_ref().is_none_or(|g| g.is_match(&rel))
                        && !exclude.as_ref().is_some_and(|g| g.is_match(&rel));
                    if manifest && wanted && !is_kustomization(&entry.name) {
                        out.push(format!("../{rel}"));
                    }
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

fn is_kustomization(name: &str) -> bool {
    render::kustomize::KUSTOMIZATION_FILE_NAMES.contains(&name)
}

/// A glob as Argo CD matches `include`/`exclude` (on the path relative to the app): `*` may
/// cross `/`, `{a,b}` alternatives.
fn glob(pattern: &str) -> Result<GlobMatcher, &'static str> {
    GlobBuilder::new(pattern.trim_start_matches("./"))
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|_| "an invalid include or exclude glob")
}

/// The snapshot with the generated kustomization added.
struct Layered {
    inner: Tree,
    dir: RelPath,
    file: RelPath,
    text: Vec<u8>,
}

impl RawTree for Layered {
    fn entry(&self, path: &RelPath) -> Result<Option<RawEntry>, TreeError> {
        if *path == self.file {
            return Ok(Some(RawEntry::File {
                size: self.text.len() as u64,
            }));
        }
        if *path == self.dir {
            return Ok(Some(RawEntry::Dir));
        }
        Ok(match self.inner.kind(path)? {
            Some(EntryKind::File) => Some(RawEntry::File { size: 0 }),
            Some(EntryKind::Dir) => Some(RawEntry::Dir),
            None => None,
        })
    }

    fn read_file(&self, path: &RelPath, limit: u64) -> Result<Vec<u8>, TreeError> {
        if *path == self.file {
            return Ok(self.text.clone());
        }
        let bytes = self.inner.read(path)?;
        if bytes.len() as u64 > limit {
            return Err(TreeError::FileTooLarge {
                path: path.to_string(),
                size: bytes.len() as u64,
                limit,
            });
        }
        Ok(bytes)
    }

    fn list_dir(&self, path: &RelPath) -> Result<Vec<String>, TreeError> {
        if *path == self.dir {
            return Ok(vec!["kustomization.yaml".to_owned()]);
        }
        let mut names: Vec<String> = self.inner.list(path)?.into_iter().map(|e| e.name).collect();
        if self.dir.parent().as_ref() == Some(path) && !names.iter().any(|n| n == OVERLAY_DIR) {
            names.push(OVERLAY_DIR.to_owned());
        }
        Ok(names)
    }
}

#[cfg(test)]
#[path = "overlay_tests.rs"]
mod tests;
