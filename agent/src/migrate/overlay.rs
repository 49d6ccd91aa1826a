//! Kustomize transforms over an app's render, as Argo CD's `source.kustomize` and
//! `source.directory` and Flux's Kustomization `patches` and `images` ask for them: the
//! fields are merged into the app's kustomization in memory (Flux and `kustomize edit` change
//! it in place the same way), so the transforms are exactly the native Kustomize ones, and
//! what `kubectl kustomize` renders with the same kustomization written in the directory.
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
    /// Kustomize `labels` entries (`pairs`, `includeSelectors`, `includeTemplates`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Value>,
    /// Annotations added to every object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_annotations: BTreeMap<String, String>,
    /// Kustomize `replicas` entries (`name`, `count`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Value>,
    /// Which files of a plain directory are read (default: all, recursively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<FileSelection>,
    /// Kustomize components (directories relative to the app's directory) appended to the
    /// kustomization's `components`, as Flux's Kustomization `spec.components`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// A component directory that does not exist is left out instead of failing the render
    /// (Flux's `spec.ignoreMissingComponents`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_components: bool,
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

/// Renders `dir` with `overlay` over it: the overlay's fields are merged into the directory's
/// kustomization in place (as Flux and Argo CD's `kustomize edit` do), or a kustomization
/// listing a plain directory's files is generated.
pub fn render_with(
    tree: &Tree,
    dir: &RelPath,
    overlay: &Overlay,
    options: &RenderOptions,
) -> Result<Vec<Object>, RenderError> {
    let (file, kustomization) = match render::kustomize::load::find_kustomization(tree, dir)? {
        Some(file) => {
            let text = tree.read_to_string(&file)?;
            let parsed = crate::render::yaml::parse_values(&text, &options.yaml_limits()).map_err(
                |source| RenderError::ParseFailed {
                    path: file.to_string(),
                    source,
                },
            )?;
            let mut value = parsed.into_iter().next().unwrap_or(Value::Null);
            if !value.is_object() {
                value = Value::Object(serde_json::Map::new());
            }
            (file, value)
        }
        None => {
            let mut value = serde_json::json!({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
            });
            value["resources"] = resources(tree, dir, overlay.files.as_ref())?.into();
            (dir.child("kustomization.yaml")?, value)
        }
    };
    let mut kustomization = kustomization;
    merge(&mut kustomization, overlay);
    add_components(tree, dir, &mut kustomization, overlay)?;
    let layered = Tree::new(Layered {
        inner: tree.clone(),
        dir: dir.clone(),
        file,
        // JSON is YAML: no second serializer needed.
        text: kustomization.to_string().into_bytes(),
    })
    .with_max_file_bytes(tree.max_file_bytes());
    render::render(&layered, dir, options)
}

/// The overlay's fields merged into a kustomization: patches appended, images and replicas
/// replaced by name or appended, names and namespace set, labels and annotations merged.
fn merge(kustomization: &mut Value, overlay: &Overlay) {
    let Some(k) = kustomization.as_object_mut() else {
        return;
    };
    let list = |k: &mut serde_json::Map<String, Value>, key: &str| -> Vec<Value> {
        k.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for (key, entries) in [("patches", &overlay.patches), ("labels", &overlay.labels)] {
        if !entries.is_empty() {
            let mut current = list(k, key);
            current.extend(entries.iter().cloned());
            k.insert(key.into(), current.into());
        }
    }
    for (key, entries) in [("images", &overlay.images), ("replicas", &overlay.replicas)] {
        if entries.is_empty() {
            continue;
        }
        let mut current = list(k, key);
        for entry in entries {
            current.retain(|e| e["name"] != entry["name"]);
            current.push(entry.clone());
        }
        k.insert(key.into(), current.into());
    }
    for (key, value) in [
        ("namePrefix", &overlay.name_prefix),
        ("nameSuffix", &overlay.name_suffix),
        ("namespace", &overlay.namespace),
    ] {
        if let Some(value) = value {
            k.insert(key.into(), value.clone().into());
        }
    }
    for (key, map) in [
        ("commonLabels", &overlay.common_labels),
        ("commonAnnotations", &overlay.common_annotations),
    ] {
        if map.is_empty() {
            continue;
        }
        let mut current = k
            .get(key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (name, value) in map {
            current.insert(name.clone(), value.clone().into());
        }
        k.insert(key.into(), current.into());
    }
}

/// The overlay's components appended to the kustomization's `components` (after its own, as
/// Flux appends them); with `ignore_missing_components`, one whose directory is missing is
/// left out. A component that leaves the repository is an error naming it.
fn add_components(
    tree: &Tree,
    dir: &RelPath,
    kustomization: &mut Value,
    overlay: &Overlay,
) -> Result<(), RenderError> {
    if overlay.components.is_empty() {
        return Ok(());
    }
    let Some(k) = kustomization.as_object_mut() else {
        return Ok(());
    };
    let mut current = k
        .get("components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for component in &overlay.components {
        let at = dir.join(component).map_err(RenderError::ReadFailed)?;
        if overlay.ignore_missing_components && tree.kind(&at)?.is_none() {
            continue;
        }
        current.push(component.clone().into());
    }
    k.insert("components".into(), current.into());
    Ok(())
}

/// A plain directory's manifest files (relative to it), as the generated kustomization's
/// resources.
fn resources(
    tree: &Tree,
    dir: &RelPath,
    files: Option<&FileSelection>,
) -> Result<Vec<String>, RenderError> {
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
                        out.push(rel);
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

/// The snapshot with one kustomization replaced or added.
struct Layered {
    inner: Tree,
    /// The app's directory (where `file` is).
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
        let mut names: Vec<String> = self.inner.list(path)?.into_iter().map(|e| e.name).collect();
        if *path == self.dir
            && let Some(name) = self.file.file_name()
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_owned());
        }
        Ok(names)
    }
}

#[cfg(test)]
#[path = "overlay_tests.rs"]
mod tests;
