//! Values as Helm computes them: values files read as Helm reads them (every number a
//! float64), merged in order, and coalesced with each chart's and subchart's own values
//! (`global:` propagated down, `null` deleting a key, tables merged, lists replaced).

use super::chart::Chart;
use super::{HelmError, clip};
use crate::render::yaml::{self, ParseOptions};
use crate::tree::{RelPath, Tree};
use serde_json::{Map, Number, Value};

/// Reads a values file of the snapshot as Helm reads values: a YAML map (an empty file is
/// an empty map), every number a float64.
pub fn read_values_file(tree: &Tree, path: &RelPath) -> Result<Map<String, Value>, HelmError> {
    let bytes = tree.read(path).map_err(|source| HelmError::ReadFailed {
        chart: path.to_string(),
        source,
    })?;
    read_values_bytes(&bytes).map_err(|reason| HelmError::InvalidValues {
        file: path.to_string(),
        reason,
    })
}

/// Parses values YAML (Helm's rules: YAML 1.1 booleans, numbers as float64).
pub(crate) fn read_values_bytes(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let docs =
        yaml::parse_values(text, &ParseOptions::default()).map_err(|e| clip(&e.to_string()))?;
    // Helm reads the first document only.
    match docs.into_iter().next() {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => match floats(Value::Object(map)) {
            Value::Object(map) => Ok(map),
            _ => Ok(Map::new()),
        },
        Some(_) => Err("values are not a YAML map".into()),
    }
}

/// Every number as a float64, as Go's JSON decoding gives them.
pub(crate) fn floats(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_f64() => n
            .as_f64()
            .and_then(Number::from_f64)
            .map_or(Value::Number(n), Value::Number),
        Value::Array(list) => Value::Array(list.into_iter().map(floats).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, floats(v))).collect()),
        other => other,
    }
}

/// Every number of a map as a float64.
pub(crate) fn floats_map(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter().map(|(k, v)| (k, floats(v))).collect()
}

/// Merges values files as `helm -f a -f b` does: maps merge recursively, anything else in
/// `b` replaces what `a` had.
#[must_use]
pub fn merge_maps(mut a: Map<String, Value>, b: Map<String, Value>) -> Map<String, Value> {
    for (key, value) in b {
        match (a.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(inner)) => {
                let merged = merge_maps(std::mem::take(existing), inner);
                *existing = merged;
            }
            (_, value) => {
                a.insert(key, value);
            }
        }
    }
    a
}

/// Helm's `coalesceTablesFullKey`: fills `dst` (authoritative) from `src`; with `merge`
/// false a `null` in `dst` deletes the key.
pub fn coalesce_tables(dst: &mut Map<String, Value>, src: &Map<String, Value>, merge: bool) {
    // A `null` in `dst` wins over `src` (the key is deleted when coalescing).
    let nulls: Vec<String> = dst
        .iter()
        .filter(|(_, v)| v.is_null())
        .map(|(k, _)| k.clone())
        .collect();
    if !merge {
        for key in &nulls {
            dst.remove(key);
        }
    }
    for (key, val) in src {
        if nulls.contains(key) {
            continue;
        }
        match dst.get_mut(key) {
            None => {
                dst.insert(key.clone(), val.clone());
            }
            Some(Value::Object(dv)) => {
                if let Value::Object(sv) = val {
                    coalesce_tables(dv, sv, merge);
                }
            }
            Some(_) => {}
        }
    }
}

/// Helm's `CoalesceValues(chart, values)` (`merge` false) and `MergeValues` (`merge` true):
/// the chart's values under the given ones, then every subchart's under its key.
pub(crate) fn coalesce(
    chart: &Chart,
    mut dest: Map<String, Value>,
    merge: bool,
) -> Result<Map<String, Value>, HelmError> {
    coalesce_values(chart, &mut dest, merge);
    coalesce_deps(chart, &mut dest, merge)?;
    Ok(dest)
}

fn coalesce_values(chart: &Chart, v: &mut Map<String, Value>, merge: bool) {
    for (key, val) in &chart.values {
        match v.get_mut(key) {
            Some(Value::Null) if !merge => {
                v.remove(key);
            }
            Some(Value::Object(dest)) => {
                if let Value::Object(src) = val {
                    let merge = merge || chart.dependencies.iter().any(|d| d.name() == key);
                    coalesce_tables(dest, src, merge);
                }
            }
            Some(_) => {}
            None => {
                v.insert(key.clone(), val.clone());
            }
        }
    }
}

fn coalesce_deps(
    chart: &Chart,
    dest: &mut Map<String, Value>,
    merge: bool,
) -> Result<(), HelmError> {
    for sub in &chart.dependencies {
        let mut dv = match dest.remove(sub.name()) {
            None => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(HelmError::DependencyFailed {
                    chart: chart.name().to_owned(),
                    dependency: sub.name().to_owned(),
                    reason: format!("type mismatch on {}: {}", sub.name(), kind_of(&other)),
                });
            }
        };
        coalesce_globals(&mut dv, dest);
        let dv = coalesce(sub, dv, merge)?;
        dest.insert(sub.name().to_owned(), Value::Object(dv));
    }
    Ok(())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// Copies the parent's `global` into the subchart's values: the parent's tables win.
fn coalesce_globals(dest: &mut Map<String, Value>, src: &Map<String, Value>) {
    let mut dg = match dest.get("global") {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return,
    };
    let sg = match src.get("global") {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return,
    };
    for (key, val) in sg {
        match val {
            Value::Object(vv) => {
                let mut vv = vv;
                match dg.get(&key) {
                    None => {
                        dg.insert(key, Value::Object(vv));
                    }
                    Some(Value::Object(destv)) => {
                        coalesce_tables(&mut vv, destv, true);
                        dg.insert(key, Value::Object(vv));
                    }
                    Some(_) => {}
                }
            }
            other => {
                if !matches!(dg.get(&key), Some(Value::Object(_))) {
                    dg.insert(key, other);
                }
            }
        }
    }
    dest.insert("global".into(), Value::Object(dg));
}

/// The table at `path` (`a.b.c`), as Helm's `Values.Table`.
pub(crate) fn table<'a>(
    values: &'a Map<String, Value>,
    path: &str,
) -> Option<&'a Map<String, Value>> {
    let mut current = values;
    for part in path.split('.') {
        match current.get(part) {
            Some(Value::Object(map)) => current = map,
            _ => return None,
        }
    }
    Some(current)
}

/// The non-table value at `path`, as Helm's `Values.PathValue`.
pub(crate) fn path_value<'a>(values: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent, last)) => (table(values, parent)?, last),
        None => (values, path),
    };
    parent.get(last).filter(|v| !v.is_object())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn values_numbers_are_floats_and_yes_is_true() {
        let v = read_values_bytes(b"a: 1\nb: yes\nc: '1'\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(v["a"].as_number().is_some_and(Number::is_f64));
        assert_eq!(v["b"], true);
        assert_eq!(v["c"], "1");
        assert!(read_values_bytes(b"- a\n").is_err());
        assert_eq!(read_values_bytes(b"").map(|m| m.len()), Ok(0));
    }

    #[test]
    fn merge_maps_merges_tables_and_replaces_lists() {
        let a = map(json!({"a": {"b": 1, "c": [1, 2]}, "d": 1}));
        let b = map(json!({"a": {"c": [3], "e": null}, "d": {"x": 1}}));
        assert_eq!(
            Value::Object(merge_maps(a, b)),
            json!({"a": {"b": 1, "c": [3], "e": null}, "d": {"x": 1}})
        );
    }

    #[test]
    fn coalesce_tables_deletes_nulls_unless_merging() {
        let src = map(json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 5}));
        let mut dst = map(json!({"a": null, "b": {"c": null}, "f": 6}));
        coalesce_tables(&mut dst, &src, false);
        assert_eq!(Value::Object(dst), json!({"b": {"d": 3}, "f": 6, "e": 5}));
        let mut dst = map(json!({"a": null}));
        coalesce_tables(&mut dst, &src, true);
        assert_eq!(dst["a"], Value::Null);
    }

    #[test]
    fn path_value_and_table_follow_helm() {
        let v = map(json!({"a": {"b": {"c": true}}, "x": 1}));
        assert_eq!(path_value(&v, "a.b.c"), Some(&json!(true)));
        assert_eq!(path_value(&v, "a.b"), None);
        assert_eq!(path_value(&v, "x"), Some(&json!(1)));
        assert!(table(&v, "a.b").is_some());
        assert!(table(&v, "a.z").is_none());
    }
}
