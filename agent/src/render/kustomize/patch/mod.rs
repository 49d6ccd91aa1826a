//! Patches: `patchesStrategicMerge`, `patches` (strategic merge or JSON 6902, with or
//! without a target) and `patchesJson6902`, applied the way kustomize applies them.

pub(crate) mod json6902;
pub(crate) mod nulls;
pub(crate) mod schema;
pub(crate) mod strategic;
pub(crate) mod target;

use super::kustomization::{Patch, Selector};
use super::load::Dir;
use super::{KustomizeError, ResId, Resource, transform_error};
use crate::render::yaml;
use crate::tree::RelPath;
use serde_json::Value;

/// Where a patch's text came from, for messages.
fn origin(here: &Dir<'_>, patch: &Patch) -> String {
    if patch.path.is_empty() {
        format!("inline patch in {}", here.file)
    } else {
        format!("patch file {:?}", patch.path)
    }
}

/// Applies `patchesStrategicMerge`: each entry is a file or an inline patch; each patch
/// document targets the one object with its own type, name and namespace.
pub(crate) fn apply_strategic_merge_list(
    here: &Dir<'_>,
    entries: &[String],
    resources: &mut Vec<Resource>,
) -> Result<(), KustomizeError> {
    let field = "patchesStrategicMerge";
    let mut patches = Vec::new();
    for entry in entries {
        let inline = yaml::parse_mappings(entry, &here.limits)
            .ok()
            .filter(|docs| !docs.is_empty());
        let docs = match inline {
            Some(docs) => docs,
            None => {
                let (path, text) = here.read_text(field, entry)?;
                yaml::parse_mappings(&text, &here.limits).map_err(|err| {
                    KustomizeError::ParseFailed {
                        path: path.to_string(),
                        message: err.to_string(),
                    }
                })?
            }
        };
        patches.extend(docs);
    }
    for mut patch in patches {
        stringify_metadata(&mut patch);
        apply_by_patch_id(here, field, &patch, resources, &PatchOptions::default())?;
    }
    Ok(())
}

/// Kustomize copies a patch's labels and annotations through string maps before applying
/// it to a set of objects: every value becomes a string (`null` becomes `"null"`), and an
/// empty map disappears. Done here for the same paths.
fn stringify_metadata(patch: &mut Value) {
    let Some(Value::Object(meta)) = patch.get_mut("metadata") else {
        return;
    };
    for field in ["labels", "annotations"] {
        let Some(value) = meta.get_mut(field) else {
            continue;
        };
        let Value::Object(map) = value else {
            continue;
        };
        if map.is_empty() {
            meta.remove(field);
            continue;
        }
        for v in map.values_mut() {
            let text = match &*v {
                Value::String(_) => continue,
                Value::Null => "null".to_owned(),
                other => other.to_string(),
            };
            *v = Value::String(text);
        }
    }
}

#[derive(Default)]
struct PatchOptions {
    allow_name_change: bool,
    allow_kind_change: bool,
}

fn patch_id(patch: &Value) -> ResId {
    let res = Resource::new(patch.clone(), RelPath::root());
    res.cur_id()
}

/// Applies a strategic merge patch to the one object whose identity (current or previous)
/// equals the patch's.
fn apply_by_patch_id(
    here: &Dir<'_>,
    field: &str,
    patch: &Value,
    resources: &mut Vec<Resource>,
    options: &PatchOptions,
) -> Result<(), KustomizeError> {
    let id = patch_id(patch);
    let matches: Vec<usize> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.all_ids().iter().any(|rid| rid.equals(&id)))
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [index] => {
            apply_strategic(here, field, &mut resources[*index], patch, options)?;
            resources.retain(|r| !r.is_empty());
            Ok(())
        }
        [] => Err(transform_error(
            &here.file,
            field,
            format!("no object matches the strategic merge patch for {id}"),
        )),
        _ => Err(transform_error(
            &here.file,
            field,
            format!("several objects match the strategic merge patch for {id}"),
        )),
    }
}

fn apply_strategic(
    here: &Dir<'_>,
    field: &str,
    res: &mut Resource,
    patch: &Value,
    options: &PatchOptions,
) -> Result<(), KustomizeError> {
    let (name, namespace, kind) = (
        res.name().to_owned(),
        res.namespace().to_owned(),
        res.kind().to_owned(),
    );
    if options.allow_name_change || options.allow_kind_change {
        res.store_previous_id();
    }
    // The patch takes the target's apiVersion, as kustomize does before merging.
    let mut patch = patch.clone();
    if let Value::Object(map) = &mut patch {
        map.insert("apiVersion".to_owned(), Value::from(res.api_version()));
    }
    let root = schema::root_type(res.api_version(), res.kind());
    let merged = strategic::merge(Some(&res.obj), &patch, root).map_err(|reason| {
        transform_error(&here.file, field, format!("{}: {reason}", res.cur_id()))
    })?;
    match merged {
        None => {
            res.obj = Value::Object(serde_json::Map::new());
            return Ok(());
        }
        Some(mut value) => {
            nulls::after_merge(&res.obj, &mut value, root, &mut res.empty_nulls);
            res.obj = value;
        }
    }
    if res.is_empty() {
        return Ok(());
    }
    if !options.allow_kind_change {
        res.set_kind(&kind);
    }
    if !options.allow_name_change {
        res.set_name(&name);
    }
    res.set_namespace(&namespace);
    Ok(())
}

/// Applies `patches` (or `patchesJson6902` when `field` says so).
pub(crate) fn apply_patches(
    here: &Dir<'_>,
    field: &str,
    entries: &[Patch],
    resources: &mut Vec<Resource>,
) -> Result<(), KustomizeError> {
    let legacy_json = field == "patchesJson6902";
    for entry in entries {
        let text = patch_text(here, field, entry)?;
        let source = origin(here, entry);
        let parsed = yaml::parse_values(&text, &here.limits)
            .map_err(|err| transform_error(&here.file, field, format!("{source}: {err}")))?;
        let is_json = text.trim_start().starts_with('[')
            || (parsed.len() == 1 && parsed[0].is_array())
            || legacy_json;
        let entry = Entry {
            here,
            field,
            source: &source,
            entry,
        };
        if is_json {
            entry.apply_json(&parsed, legacy_json, resources)?;
        } else {
            entry.apply_strategic(&parsed, resources)?;
        }
    }
    Ok(())
}

/// The text of one patch entry: inline or read from its file, never both.
fn patch_text(here: &Dir<'_>, field: &str, entry: &Patch) -> Result<String, KustomizeError> {
    match (entry.patch.trim().is_empty(), entry.path.is_empty()) {
        (true, true) => Err(transform_error(
            &here.file,
            field,
            "must specify one of patch and path",
        )),
        (false, false) => Err(transform_error(
            &here.file,
            field,
            "patch and path can't be set at the same time",
        )),
        (false, true) => Ok(entry.patch.trim().to_owned()),
        (true, false) => Ok(here.read_text(field, &entry.path)?.1),
    }
}

/// One entry of `patches` being applied, with what its errors name.
struct Entry<'a, 'd> {
    here: &'a Dir<'d>,
    field: &'a str,
    source: &'a str,
    entry: &'a Patch,
}

impl Entry<'_, '_> {
    fn error(&self, reason: impl std::fmt::Display) -> KustomizeError {
        transform_error(&self.here.file, self.field, reason.to_string())
    }

    fn selector(&self, target: &Selector) -> Result<target::SelectorRegex, KustomizeError> {
        target::SelectorRegex::new(target).map_err(|reason| self.error(reason))
    }

    /// A JSON 6902 patch: applied to every resource its (required) target selects.
    fn apply_json(
        &self,
        parsed: &[Value],
        legacy_json: bool,
        resources: &mut [Resource],
    ) -> Result<(), KustomizeError> {
        let source = self.source;
        let ops =
            json6902::parse(parsed).map_err(|reason| self.error(format!("{source}: {reason}")))?;
        let Some(target) = &self.entry.target else {
            return Err(self.error(format!("{source}: a JSON patch needs a target")));
        };
        if legacy_json && target.name.is_empty() {
            return Err(self.error("must specify the target name"));
        }
        let selector = self.selector(target)?;
        for res in resources.iter_mut() {
            if !selector.selects(res).map_err(|reason| self.error(reason))? {
                continue;
            }
            if !legacy_json {
                res.store_previous_id();
            }
            json6902::apply(&mut res.obj, &ops)
                .map_err(|reason| self.error(format!("{source} on {}: {reason}", res.cur_id())))?;
        }
        Ok(())
    }

    /// Strategic merge patches: to what the target selects, or else to the object each
    /// patch names.
    fn apply_strategic(
        &self,
        parsed: &[Value],
        resources: &mut Vec<Resource>,
    ) -> Result<(), KustomizeError> {
        let (here, field, source) = (self.here, self.field, self.source);
        if parsed.iter().any(|doc| !doc.is_object()) || parsed.is_empty() {
            return Err(self.error(format!("{source}: unable to parse SM or JSON patch")));
        }
        let option = |name: &str| self.entry.options.get(name).copied().unwrap_or(false);
        let options = PatchOptions {
            allow_name_change: option("allowNameChange"),
            allow_kind_change: option("allowKindChange"),
        };
        let Some(target) = &self.entry.target else {
            for patch in parsed {
                apply_by_patch_id(here, field, patch, resources, &options)?;
            }
            return Ok(());
        };
        if parsed.len() > 1 {
            return Err(self.error(format!(
                "{source}: several strategic merge patches in one entry cannot have a target"
            )));
        }
        let selector = self.selector(target)?;
        let mut patch = parsed[0].clone();
        stringify_metadata(&mut patch);
        for res in resources.iter_mut() {
            if selector.selects(res).map_err(|reason| self.error(reason))? {
                apply_strategic(here, field, res, &patch, &options)?;
            }
        }
        resources.retain(|r| !r.is_empty());
        Ok(())
    }
}
