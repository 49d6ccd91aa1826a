//! Argo CD `source.kustomize` and `source.directory` as an app's [`Overlay`]: images (in
//! `kustomize edit set image` syntax), namePrefix, nameSuffix, commonLabels,
//! commonAnnotations, namespace, replicas and patches; a plain directory's recurse (off by
//! default, as in Argo CD), include and exclude globs (`*` also crosses `/`, `{a,b}`
//! alternatives). Anything else in those blocks is an error naming the field.

use super::argocd::unmappable;
use super::overlay::{FileSelection, Overlay};
use super::{Found, MigrateError};
use serde_json::{Value, json};

/// The overlay of an Application's `source`.
pub(super) fn overlay(object: &Found, source: &Value) -> Result<Option<Overlay>, MigrateError> {
    let mut overlay = Overlay {
        files: Some(directory(object, &source["directory"])?),
        ..Overlay::default()
    };
    let field = |f: &str| format!("spec.source.kustomize.{f}");
    for (key, value) in source["kustomize"].as_object().into_iter().flatten() {
        let text = || {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| unmappable(object, &field(key), "not a string"))
        };
        match key.as_str() {
            "namePrefix" => overlay.name_prefix = Some(text()?),
            "nameSuffix" => overlay.name_suffix = Some(text()?),
            "namespace" => overlay.namespace = Some(text()?),
            "commonLabels" => overlay.common_labels = string_map(object, &field(key), value)?,
            "commonAnnotations" => {
                overlay.common_annotations = string_map(object, &field(key), value)?;
            }
            "images" => {
                for (index, image) in value.as_array().into_iter().flatten().enumerate() {
                    let spec = image.as_str().and_then(set_image).ok_or_else(|| {
                        unmappable(
                            object,
                            &field(&format!("images[{index}]")),
                            "not NAME[=NEW][:TAG][@DIGEST]",
                        )
                    })?;
                    overlay.images.push(spec);
                }
            }
            "replicas" => {
                for (index, entry) in value.as_array().into_iter().flatten().enumerate() {
                    overlay.replicas.push(replica(entry).ok_or_else(|| {
                        unmappable(
                            object,
                            &field(&format!("replicas[{index}]")),
                            "needs a name and a count",
                        )
                    })?);
                }
            }
            "patches" => overlay.patches = patches(object, value)?,
            "forceCommonLabels" | "forceCommonAnnotations" | "labelWithoutSelector"
                if value == &Value::Bool(false) => {}
            "version" if value.as_str().is_some_and(str::is_empty) => {}
            other => {
                return Err(unmappable(object, &field(other), "not supported yet"));
            }
        }
    }
    Ok(Some(overlay))
}

fn directory(object: &Found, directory: &Value) -> Result<FileSelection, MigrateError> {
    let mut files = FileSelection {
        recurse: false,
        include: None,
        exclude: None,
    };
    for (field, value) in directory.as_object().into_iter().flatten() {
        let refuse =
            |problem: &str| unmappable(object, &format!("spec.source.directory.{field}"), problem);
        match field.as_str() {
            "recurse" => files.recurse = value.as_bool().ok_or_else(|| refuse("not a boolean"))?,
            "include" | "exclude" => {
                let glob = value.as_str().ok_or_else(|| refuse("not a string"))?;
                let glob = (!glob.is_empty()).then(|| glob.to_owned());
                if field == "include" {
                    files.include = glob;
                } else {
                    files.exclude = glob;
                }
            }
            "jsonnet" if value.as_object().is_none_or(serde_json::Map::is_empty) => {}
            _ => return Err(refuse("not supported yet")),
        }
    }
    Ok(files)
}

fn string_map(
    object: &Found,
    field: &str,
    value: &Value,
) -> Result<std::collections::BTreeMap<String, String>, MigrateError> {
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in value.as_object().into_iter().flatten() {
        let Some(v) = v.as_str() else {
            return Err(unmappable(object, &format!("{field}.{k}"), "not a string"));
        };
        out.insert(k.clone(), v.to_owned());
    }
    Ok(out)
}

/// `kustomize edit set image` syntax: `name=new:tag`, `name:tag`, `name@digest`,
/// `name=new@digest`, `name=new`.
fn set_image(spec: &str) -> Option<Value> {
    let (name, target) = match spec.split_once('=') {
        Some((name, target)) => (name, target),
        None => {
            // `name:tag` or `name@digest`: the tag is after the last ':' of the last component.
            let slash = spec.rfind('/').map_or(0, |i| i + 1);
            let cut = spec[slash..].find(['@', ':']).map(|i| i + slash)?;
            (&spec[..cut], &spec[cut..])
        }
    };
    if name.is_empty() {
        return None;
    }
    let mut entry = json!({ "name": name });
    let (rest, digest) = match target.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (target, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (new_name, tag) = match rest[slash..].find(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    if !new_name.is_empty() {
        entry["newName"] = new_name.into();
    }
    if let Some(tag) = tag.filter(|t| !t.is_empty()) {
        entry["newTag"] = tag.into();
    }
    if let Some(digest) = digest.filter(|d| !d.is_empty()) {
        entry["digest"] = digest.into();
    }
    Some(entry)
}

fn replica(entry: &Value) -> Option<Value> {
    let name = entry["name"].as_str()?;
    let count = match &entry["count"] {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    Some(json!({"name": name, "count": count}))
}

/// Patches: inline ones as they are, `path` ones relative to the app's directory.
fn patches(object: &Found, value: &Value) -> Result<Vec<Value>, MigrateError> {
    let mut out = Vec::new();
    for (index, patch) in value.as_array().into_iter().flatten().enumerate() {
        let field = format!("spec.source.kustomize.patches[{index}]");
        let Some(fields) = patch.as_object() else {
            return Err(unmappable(object, &field, "not a mapping"));
        };
        if let Some(other) = fields
            .keys()
            .find(|k| !["patch", "path", "target", "options"].contains(&k.as_str()))
        {
            return Err(unmappable(
                object,
                &format!("{field}.{other}"),
                "unknown field",
            ));
        }
        let mut patch = patch.clone();
        if let Some(path) = patch["path"].as_str() {
            let Some(clean) = super::clean_path(path) else {
                return Err(unmappable(
                    object,
                    &format!("{field}.path"),
                    "leaves the app",
                ));
            };
            patch["path"] = format!("../{clean}").into();
        }
        out.push(patch);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_image_syntax_becomes_kustomize_images() {
        assert_eq!(
            set_image("nginx=registry.io/nginx:1.25").unwrap(),
            json!({"name": "nginx", "newName": "registry.io/nginx", "newTag": "1.25"})
        );
        assert_eq!(
            set_image("gcr.io/heptio-images/ks-guestbook-demo:0.2").unwrap(),
            json!({"name": "gcr.io/heptio-images/ks-guestbook-demo", "newTag": "0.2"})
        );
        assert_eq!(
            set_image("localhost:5000/app@sha256:abc").unwrap(),
            json!({"name": "localhost:5000/app", "digest": "sha256:abc"})
        );
        assert_eq!(set_image("nginx"), None);
    }
}
