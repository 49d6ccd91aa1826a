//! `replacements`: copy a field of one object (the source, selected by type, name and
//! namespace) into fields of others (targets, selected and rejected by identity and by label
//! or annotation selectors), with kustomize's field path syntax: `a.b.c`, list elements by
//! `[key=value]` (a regular expression, as kustomize reads it), by index, or `*`;
//! `delimiter`/`index` to work on parts of a value; `create` to add missing fields.

use super::fieldspec::split_path;
use super::kustomization::{
    FieldOptions, Replacement, ReplacementField, ReplacementSource, ReplacementTarget, Selector,
};
use super::load::Dir;
use super::patch::target::label_selector_matches;
use super::{Gvk, KustomizeError, ResId, Resource, transform_error};
use crate::render::yaml;
use regex::Regex;
use serde_json::{Map, Value};

const FIELD: &str = "replacements";

/// Splits a field path on dots, keeping `[a.b=c]` brackets whole.
fn split_field_path(path: &str) -> Vec<String> {
    let parts = split_path(path, '.');
    let mut out = Vec::new();
    let mut i = 0;
    while i < parts.len() {
        let part = &parts[i];
        if part.starts_with('[') && !part.ends_with(']') {
            let mut joined = vec![part.clone()];
            while i + 1 < parts.len() {
                i += 1;
                joined.push(parts[i].clone());
                if parts[i].ends_with(']') {
                    break;
                }
            }
            let text = joined.join(".");
            if text.contains('=') {
                out.push(text);
            } else {
                out.push(text.trim_matches(|c| c == '[' || c == ']').to_owned());
            }
        } else {
            out.push(part.clone());
        }
        i += 1;
    }
    out
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".to_owned()),
        _ => None,
    }
}

fn id_of(group: &str, version: &str, kind: &str, name: &str, namespace: &str) -> ResId {
    ResId {
        gvk: Gvk {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        },
        name: name.to_owned(),
        namespace: namespace.to_owned(),
    }
}

fn source_id(s: &ReplacementSource) -> ResId {
    id_of(&s.group, &s.version, &s.kind, &s.name, &s.namespace)
}

fn selector_id(s: &Selector) -> ResId {
    id_of(&s.group, &s.version, &s.kind, &s.name, &s.namespace)
}

/// Looks a source field up (exact `[key=value]` matches, indexes, `-` for the last item).
fn lookup<'v>(node: &'v Value, path: &[String]) -> Result<Option<&'v Value>, String> {
    let mut node = node;
    for part in path {
        let next = if let Ok(index) = part.parse::<i64>() {
            if index < 0 {
                return Err(format!("array index {index} cannot be negative"));
            }
            node.as_array()
                .and_then(|items| items.get(usize::try_from(index).unwrap_or(usize::MAX)))
        } else if part == "-" {
            node.as_array().and_then(|items| items.last())
        } else if part == "*" {
            return Err("wildcard is not supported in a source field path".to_owned());
        } else if let Some(inner) = part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
            let Some((key, value)) = inner.split_once('=') else {
                return Err(format!(
                    "list path element {part:?} must be [fieldName=fieldValue]"
                ));
            };
            node.as_array().and_then(|items| {
                items.iter().find(|item| {
                    if key.is_empty() {
                        scalar_text(item).as_deref() == Some(value)
                    } else {
                        item.get(key).and_then(scalar_text).as_deref() == Some(value)
                    }
                })
            })
        } else {
            node.as_object().and_then(|m| m.get(part.as_str()))
        };
        match next {
            Some(n) => node = n,
            None => return Ok(None),
        }
    }
    Ok(Some(node))
}

/// An empty node of the kind the next path part needs.
fn placeholder(next: Option<&String>, value: &Value) -> Value {
    match next {
        Some(p) if p.parse::<usize>().is_ok() || (p.starts_with('[') && p.ends_with(']')) => {
            Value::Array(Vec::new())
        }
        Some(_) => Value::Object(Map::new()),
        None => match value {
            Value::Object(_) => Value::Object(Map::new()),
            Value::Array(_) => Value::Array(Vec::new()),
            _ => Value::Null,
        },
    }
}

/// Visits every target field of `path` in `node`, creating it when `create` (a value of the
/// replacement's kind) is given. Returns how many fields were visited.
fn visit(
    node: &mut Value,
    path: &[String],
    create: Option<&Value>,
    set: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<usize, String> {
    let Some((part, rest)) = path.split_first() else {
        set(node)?;
        return Ok(1);
    };
    if let Ok(index) = part.parse::<usize>() {
        let Value::Array(items) = node else {
            return Ok(0);
        };
        if let Some(value) = create.filter(|_| items.len() == index) {
            items.push(placeholder(rest.first(), value));
        }
        let len = items.len();
        let Some(item) = items.get_mut(index) else {
            return Err(format!(
                "index {index} specified but only {len} elements found"
            ));
        };
        return visit(item, rest, create, set);
    }
    if part == "*" {
        let mut count = 0;
        match node {
            Value::Array(items) => {
                for item in items {
                    count += visit(item, rest, create, set)?;
                }
            }
            Value::Object(map) => {
                for item in map.values_mut() {
                    count += visit(item, rest, create, set)?;
                }
            }
            _ => {}
        }
        return Ok(count);
    }
    if let Some(inner) = part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
        return visit_matching(node, path, inner, create, set);
    }
    let Value::Object(map) = node else {
        return Ok(0);
    };
    if !map.contains_key(part.as_str()) {
        match create {
            Some(value) => {
                map.insert(part.clone(), placeholder(rest.first(), value));
            }
            None => return Ok(0),
        }
    }
    match map.get_mut(part.as_str()) {
        Some(child) => visit(child, rest, create, set),
        None => Ok(0),
    }
}

/// Visits the elements of a list that `[key=pattern]` (the first segment of `path`)
/// selects, adding one when none does and `create` is given.
fn visit_matching(
    node: &mut Value,
    path: &[String],
    inner: &str,
    create: Option<&Value>,
    set: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<usize, String> {
    let rest = &path[1..];
    let Some((key, pattern)) = inner.split_once('=') else {
        return Err(format!(
            "list path element {:?} must be [fieldName=fieldValue]",
            path[0]
        ));
    };
    let re = Regex::new(pattern).map_err(|err| format!("invalid pattern {pattern:?}: {err}"))?;
    let Value::Array(items) = node else {
        return Ok(0);
    };
    let mut count = 0;
    for item in items.iter_mut() {
        let text = if key.is_empty() {
            scalar_text(item)
        } else {
            item.get(key).and_then(scalar_text)
        };
        if text.is_some_and(|t| re.is_match(t.trim())) {
            count += visit(item, rest, create, set)?;
        }
    }
    if count == 0 && create.is_some() {
        let element = if key.is_empty() {
            Value::from(pattern)
        } else {
            let mut m = Map::new();
            m.insert(key.to_owned(), Value::from(pattern));
            Value::Object(m)
        };
        items.push(element);
        return visit(node, path, create, set);
    }
    Ok(count)
}

/// Writes `value` into a target field, keeping the target's scalar type as kustomize does.
fn set_field(
    options: Option<&FieldOptions>,
    target: &mut Value,
    value: &Value,
) -> Result<(), String> {
    let mut value = value.clone();
    if let Some(opts) = options.filter(|o| !o.delimiter.is_empty()) {
        let Some(current) =
            scalar_text(target).filter(|_| !target.is_object() && !target.is_array())
        else {
            return Err("delimiter option can only be used with scalar nodes".to_owned());
        };
        let mut parts: Vec<String> = current
            .split(opts.delimiter.as_str())
            .map(str::to_owned)
            .collect();
        let v = scalar_text(&value).unwrap_or_default();
        match usize::try_from(opts.index) {
            Err(_) => parts.insert(0, v),
            Ok(i) if i >= parts.len() => parts.push(v),
            Ok(i) => parts[i] = v,
        }
        value = Value::String(parts.join(&opts.delimiter));
    }
    match (&*target, scalar_text(&value)) {
        (Value::String(_), Some(text)) if !value.is_null() => *target = Value::String(text),
        (Value::Number(_) | Value::Bool(_) | Value::Null, Some(text)) if !value.is_null() => {
            *target = yaml::parse_scalar(&text);
        }
        _ => *target = value,
    }
    Ok(())
}

fn resource_ids(res: &Resource) -> Vec<ResId> {
    let mut ids = vec![res.cur_id()];
    ids.extend(res.prev_ids());
    ids
}

fn matches_selectors(res: &Resource, selector: &Selector) -> Result<bool, String> {
    Ok(
        label_selector_matches(&selector.annotation_selector, &res.meta_map("annotations"))?
            && label_selector_matches(&selector.label_selector, &res.meta_map("labels"))?,
    )
}

fn replace_one(r: &Replacement, resources: &mut [Resource]) -> Result<(), String> {
    let Some(source) = &r.source else {
        return Err("replacements must specify a source and at least one target".to_owned());
    };
    if r.targets.is_empty() {
        return Err("replacements must specify a source and at least one target".to_owned());
    }
    let value = source_value(source, resources)?;
    for target in &r.targets {
        apply_target(target, &value, resources)?;
    }
    Ok(())
}

/// The value a replacement copies: its source object's field, or one part of it.
fn source_value(source: &ReplacementSource, resources: &[Resource]) -> Result<Value, String> {
    let wanted = source_id(source);
    let found: Vec<&Resource> = resources
        .iter()
        .filter(|res| {
            resource_ids(res)
                .iter()
                .any(|id| id.is_selected_by(&wanted))
        })
        .collect();
    let source_res = match found.as_slice() {
        [one] => *one,
        [] => return Err(format!("nothing selected by source {wanted}")),
        _ => return Err(format!("multiple matches for source {wanted}")),
    };
    let field_path = if source.field_path.is_empty() {
        "metadata.name"
    } else {
        &source.field_path
    };
    let value = lookup(&source_res.obj, &split_field_path(field_path))?
        .filter(|v| !v.is_null())
        .cloned()
        .ok_or_else(|| {
            format!("fieldPath `{field_path}` is missing for replacement source {wanted}")
        })?;
    let Some(opts) = source.options.as_ref().filter(|o| !o.delimiter.is_empty()) else {
        return Ok(value);
    };
    let text = scalar_text(&value)
        .filter(|_| !value.is_object() && !value.is_array())
        .ok_or("delimiter option can only be used with scalar nodes")?;
    let parts: Vec<&str> = text.split(opts.delimiter.as_str()).collect();
    let part = usize::try_from(opts.index).ok().and_then(|i| parts.get(i));
    let part = part.ok_or_else(|| {
        format!(
            "options.index {} is out of bounds for value {text}",
            opts.index
        )
    })?;
    Ok(match &value {
        Value::String(_) => Value::from(*part),
        _ => yaml::parse_scalar(part),
    })
}

/// Whether a target's `reject` entries leave `res` out.
fn rejected(target: &ReplacementTarget, res: &Resource, ids: &[ResId]) -> Result<bool, String> {
    for reject in &target.reject {
        if (!reject.annotation_selector.is_empty() || !reject.label_selector.is_empty())
            && matches_selectors(res, reject)?
        {
            return Ok(true);
        }
    }
    Ok(target.reject.iter().any(|reject| {
        let rid = selector_id(reject);
        rid != ResId::default() && ids.iter().any(|id| id.is_selected_by(&rid))
    }))
}

/// Writes `value` into the fields of one target in every object it selects.
fn apply_target(
    target: &ReplacementTarget,
    value: &Value,
    resources: &mut [Resource],
) -> Result<(), String> {
    let Some(select) = &target.select else {
        return Err("target must specify resources to select".to_owned());
    };
    let select_id = selector_id(select);
    let paths: Vec<&str> = if target.field_paths.is_empty() {
        vec!["metadata.name"]
    } else {
        target.field_paths.iter().map(String::as_str).collect()
    };
    let create = (target.options.as_ref())
        .is_some_and(|o| o.create)
        .then_some(value);
    for res in resources.iter_mut() {
        if !matches_selectors(res, select)? {
            continue;
        }
        let ids = resource_ids(res);
        if rejected(target, res, &ids)? || !ids.iter().any(|id| id.is_selected_by(&select_id)) {
            continue;
        }
        for path in &paths {
            let count = visit(
                &mut res.obj,
                &split_field_path(path),
                create,
                &mut |field| set_field(target.options.as_ref(), field, value),
            )?;
            if count == 0 {
                let verb = if create.is_some() {
                    "find or create"
                } else {
                    "find"
                };
                return Err(format!(
                    "unable to {verb} field {path:?} in replacement target {}",
                    res.cur_id()
                ));
            }
        }
    }
    Ok(())
}

/// Runs the `replacements` of a kustomization, in order.
pub(crate) fn apply(
    here: &Dir<'_>,
    entries: &[ReplacementField],
    resources: &mut [Resource],
) -> Result<(), KustomizeError> {
    for entry in entries {
        let list: Vec<Replacement> = if entry.path.is_empty() {
            vec![Replacement {
                source: entry.source.clone(),
                targets: entry.targets.clone(),
            }]
        } else {
            let (path, text) = here.read_text(FIELD, &entry.path)?;
            let parsed = yaml::parse_one(&text, &here.limits).map_err(|err| {
                KustomizeError::ParseFailed {
                    path: path.to_string(),
                    message: err.to_string(),
                }
            })?;
            let items = match parsed {
                Value::Array(items) => items,
                other => vec![other],
            };
            items
                .into_iter()
                .map(|item| {
                    serde_json::from_value::<Replacement>(item).map_err(|err| {
                        KustomizeError::ParseFailed {
                            path: path.to_string(),
                            message: format!("invalid replacement: {err}"),
                        }
                    })
                })
                .collect::<Result<_, _>>()?
        };
        for replacement in &list {
            replace_one(replacement, resources)
                .map_err(|reason| transform_error(&here.file, FIELD, reason))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_paths_keep_bracketed_dots() {
        assert_eq!(
            split_field_path("spec.template.spec.containers.[name=app.x].image"),
            [
                "spec",
                "template",
                "spec",
                "containers",
                "[name=app.x]",
                "image"
            ]
        );
        assert_eq!(
            split_field_path("metadata.annotations.[a.io/b]"),
            ["metadata", "annotations", "a.io/b"]
        );
    }

    #[test]
    fn targets_keep_their_scalar_type() {
        let mut target = json!(8080);
        set_field(None, &mut target, &json!("9090")).expect("set");
        assert_eq!(target, json!(9090));
        let mut target = json!("x");
        set_field(None, &mut target, &json!(5)).expect("set");
        assert_eq!(target, json!("5"));
        let mut target = json!("a.b.c");
        let opts = FieldOptions {
            delimiter: ".".into(),
            index: 1,
            ..FieldOptions::default()
        };
        set_field(Some(&opts), &mut target, &json!("z")).expect("set");
        assert_eq!(target, json!("a.z.c"));
    }
}
