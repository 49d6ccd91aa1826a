//! Field specifications: where in which kinds of object a transformer writes (labels into
//! selectors, namespaces, name prefixes, name references, ...), and the walk that visits
//! those fields, the way kustomize's `fieldSpec` filter does.
//!
//! A path is `/`-separated (`spec/template/metadata/labels`); `\/` escapes a slash inside a
//! key; `name[]` marks a list, and any list met on the way is walked element by element.

use super::Gvk;
use serde_json::{Map, Value};

/// One field specification.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FieldSpec {
    /// Which objects it applies to (empty parts match all).
    pub(crate) gvk: Gvk,
    /// The path of the field.
    pub(crate) path: String,
    /// Whether missing fields on the way are created.
    pub(crate) create: bool,
}

impl FieldSpec {
    /// A spec for `path` in objects of `kind` (any group and version when empty).
    pub(crate) fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> Self {
        Self {
            gvk: Gvk {
                group: group.to_owned(),
                version: version.to_owned(),
                kind: kind.to_owned(),
            },
            path: path.to_owned(),
            create,
        }
    }

    /// Whether the spec applies to an object of this type.
    pub(crate) fn matches(&self, gvk: &Gvk) -> bool {
        gvk.is_selected_by(&self.gvk)
    }
}

/// What to create when a field at the end of a path is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateKind {
    /// Never create.
    Nothing,
    /// An empty mapping.
    Mapping,
    /// An empty string.
    Scalar,
}

/// Splits a field-spec path on `/`, honouring `\/` as a literal slash.
pub(crate) fn split_path(path: &str, delimiter: char) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let raw: Vec<&str> = path.split(delimiter).collect();
    let raw = if raw.len() > 1 && raw[0].is_empty() {
        &raw[1..]
    } else {
        &raw[..]
    };
    for piece in raw {
        match parts.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push(delimiter);
                last.push_str(piece);
            }
            _ => parts.push((*piece).to_owned()),
        }
    }
    parts
}

/// Visits every field `spec` designates in `obj` (whose type is `gvk`), calling `set` on
/// each, creating missing fields as the spec says. Errors name the path.
pub(crate) fn apply(
    obj: &mut Value,
    gvk: &Gvk,
    spec: &FieldSpec,
    create_kind: CreateKind,
    set: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    if !spec.matches(gvk) {
        return Ok(());
    }
    let path = split_path(&spec.path, '/');
    walk(obj, &path, spec.create, create_kind, set)
        .map_err(|reason| format!("field `{}`: {reason}", spec.path))
}

fn walk(
    node: &mut Value,
    path: &[String],
    create: bool,
    create_kind: CreateKind,
    set: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        return set(node);
    };
    match node {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for item in items {
                walk(item, path, create, create_kind, set)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            let (name, is_seq) = match first.strip_suffix("[]") {
                Some(name) => (name, true),
                None => (first.as_str(), false),
            };
            if name.is_empty() {
                return Err("cannot set or create an empty field name".to_owned());
            }
            let creating = create && create_kind != CreateKind::Nothing && !is_seq;
            if !creating {
                return match map.get_mut(name) {
                    Some(child) => walk(child, rest, create, create_kind, set),
                    None => Ok(()),
                };
            }
            let empty = if rest.is_empty() {
                match create_kind {
                    CreateKind::Scalar => Value::String(String::new()),
                    _ => Value::Object(Map::new()),
                }
            } else {
                Value::Object(Map::new())
            };
            let child = map.entry(name.to_owned()).or_insert(Value::Null);
            if child.is_null() {
                *child = empty;
            }
            walk(child, rest, create, create_kind, set)
        }
        _ => Err("expected sequence or mapping node".to_owned()),
    }
}

/// A setter that puts `key: value` into the mapping it is given.
pub(crate) fn set_entry(key: &str, value: &str) -> impl FnMut(&mut Value) -> Result<(), String> {
    let key = key.to_owned();
    let value = value.to_owned();
    move |node: &mut Value| match node {
        Value::Object(map) => {
            map.insert(key.clone(), Value::String(value.clone()));
            Ok(())
        }
        Value::Null => {
            let mut map = Map::new();
            map.insert(key.clone(), Value::String(value.clone()));
            *node = Value::Object(map);
            Ok(())
        }
        _ => Err("expected a mapping".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_split_on_slashes_except_escaped_ones() {
        assert_eq!(
            split_path("metadata/annotations/a.io\\/b", '/'),
            ["metadata", "annotations", "a.io/b"]
        );
        assert_eq!(split_path("/a/b", '/'), ["a", "b"]);
    }

    #[test]
    fn walks_lists_and_creates_only_when_asked() {
        let gvk = Gvk::from_api_version("apps/v1", "Deployment");
        let mut obj = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a"}, {"name": "b", "image": "x"}]}}}});
        let spec = FieldSpec::new("", "", "", "spec/template/spec/containers[]/image", true);
        let mut seen = Vec::new();
        apply(&mut obj, &gvk, &spec, CreateKind::Nothing, &mut |v| {
            seen.push(v.clone());
            Ok(())
        })
        .expect("walk");
        assert_eq!(seen, vec![json!("x")]);
        let spec = FieldSpec::new("", "", "Deployment", "spec/selector/matchLabels", true);
        apply(
            &mut obj,
            &gvk,
            &spec,
            CreateKind::Mapping,
            &mut set_entry("app", "web"),
        )
        .expect("create");
        assert_eq!(
            obj["spec"]["selector"]["matchLabels"],
            json!({"app": "web"})
        );
        let other = FieldSpec::new("", "", "Service", "spec/selector", true);
        apply(
            &mut obj,
            &gvk,
            &other,
            CreateKind::Mapping,
            &mut set_entry("x", "y"),
        )
        .expect("no match");
        assert!(obj["spec"].get("x").is_none());
    }
}
