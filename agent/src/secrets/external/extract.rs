//! Taking values out of a remote document: an ESO `property` (a dotted path into a JSON
//! value, `\.` for a literal dot, numbers index arrays), a JSON pointer (inline references'
//! `#/a/b`), or all top-level keys (`dataFrom.extract`). Parsed JSON is wiped after use; the
//! results are zeroizing bytes. Errors name the path asked for, never a value.

use serde_json::Value;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

use super::super::cache::{DocKind, RemoteDoc};
use super::super::redact::scrub_value;

/// Where in a document to look.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Selector {
    /// The whole document.
    Whole,
    /// An ESO `property`.
    Property(String),
    /// A JSON pointer (`/a/b`).
    Pointer(String),
}

impl Selector {
    /// The selector as written, for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Selector::Whole => "(whole secret)".into(),
            Selector::Property(p) => format!("property {p:?}"),
            Selector::Pointer(p) => format!("pointer #{p}"),
        }
    }
}

fn parse(doc: &RemoteDoc) -> Result<Value, String> {
    serde_json::from_slice(&doc.bytes).map_err(|_| "the secret is not JSON".to_owned())
}

/// A JSON value as secret bytes: strings as their text, anything else as JSON.
fn to_bytes(value: &Value) -> Zeroizing<Vec<u8>> {
    match value {
        Value::String(s) => Zeroizing::new(s.as_bytes().to_vec()),
        other => Zeroizing::new(serde_json::to_vec(other).unwrap_or_default()),
    }
}

/// One value of `doc`.
pub(crate) fn select(doc: &RemoteDoc, selector: &Selector) -> Result<Zeroizing<Vec<u8>>, String> {
    match selector {
        Selector::Whole => Ok(Zeroizing::new(doc.bytes.to_vec())),
        Selector::Property(property) => {
            if doc.kind == DocKind::Binary {
                return Err("a binary secret has no properties".into());
            }
            let root = parse(doc)?;
            let found = property_path(&root, property).map(|v| to_bytes(&v));
            scrub_value(root);
            found.ok_or_else(|| format!("property {property:?} not found"))
        }
        Selector::Pointer(pointer) => {
            if doc.kind == DocKind::Binary {
                return Err("a binary secret has no JSON pointer".into());
            }
            let root = parse(doc)?;
            let found = root.pointer(pointer).map(to_bytes);
            scrub_value(root);
            found.ok_or_else(|| format!("JSON pointer #{pointer} not found"))
        }
    }
}

/// Every top-level key of `doc` (after `property`, when given), for `dataFrom.extract`.
pub(crate) fn extract_all(
    doc: &RemoteDoc,
    property: Option<&str>,
) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>, String> {
    if doc.kind == DocKind::Binary {
        return Err("a binary secret cannot be extracted into keys".into());
    }
    let root = parse(doc)?;
    let target = match property {
        Some(p) => property_path(&root, p),
        None => Some(root.clone()),
    };
    scrub_value(root);
    let target =
        target.ok_or_else(|| format!("property {:?} not found", property.unwrap_or("")))?;
    let result = match &target {
        Value::Object(map) => Ok(map.iter().map(|(k, v)| (k.clone(), to_bytes(v))).collect()),
        _ => Err("the secret is not a JSON object".to_owned()),
    };
    scrub_value(target);
    result
}

/// Follows an ESO property path; a string holding JSON is entered when more segments
/// remain. Returns a copy of the value found (the caller wipes it).
fn property_path(root: &Value, property: &str) -> Option<Value> {
    if let Some(v) = root.as_object().and_then(|m| m.get(property)) {
        return Some(v.clone());
    }
    let segments = split_property(property);
    let mut current = root.clone();
    for segment in &segments {
        if let Value::String(text) = &current
            && let Ok(parsed) = serde_json::from_str::<Value>(text)
        {
            scrub_value(std::mem::replace(&mut current, parsed));
        }
        let next = match &current {
            Value::Object(map) => map.get(segment.as_str()).cloned(),
            Value::Array(items) => segment
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i).cloned()),
            _ => None,
        };
        scrub_value(std::mem::replace(&mut current, Value::Null));
        current = next?;
    }
    Some(current)
}

fn split_property(property: &str) -> Vec<String> {
    let mut segments = vec![String::new()];
    let mut chars = property.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(last)) = (chars.next(), segments.last_mut()) {
                    last.push(next);
                }
            }
            '.' => segments.push(String::new()),
            other => {
                if let Some(last) = segments.last_mut() {
                    last.push(other);
                }
            }
        }
    }
    segments
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn doc(text: &str, kind: DocKind) -> RemoteDoc {
        RemoteDoc {
            bytes: Zeroizing::new(text.as_bytes().to_vec()),
            kind,
        }
    }

    #[test]
    fn properties_walk_maps_arrays_and_json_in_strings() {
        let d = doc(
            r#"{"user":"admin","db":{"hosts":["a","b"],"port":5432},"nested":"{\"x\":{\"y\":\"z\"}}","dotted.key":"v"}"#,
            DocKind::JsonMap,
        );
        let get = |p: &str| select(&d, &Selector::Property(p.into())).map(|v| v.to_vec());
        assert_eq!(get("user").unwrap(), b"admin");
        assert_eq!(get("db.hosts.1").unwrap(), b"b");
        assert_eq!(get("db.port").unwrap(), b"5432");
        assert_eq!(get("nested.x.y").unwrap(), b"z");
        assert_eq!(get("dotted.key").unwrap(), b"v");
        assert_eq!(get("db").unwrap(), br#"{"hosts":["a","b"],"port":5432}"#);
        assert!(get("missing").unwrap_err().contains("\"missing\""));
    }

    #[test]
    fn pointers_and_extraction() {
        let d = doc(r#"{"a":{"b":"c"},"n":1}"#, DocKind::Text);
        assert_eq!(
            select(&d, &Selector::Pointer("/a/b".into()))
                .unwrap()
                .to_vec(),
            b"c"
        );
        let all = extract_all(&d, None).unwrap();
        assert_eq!(all["n"].to_vec(), b"1");
        assert_eq!(all["a"].to_vec(), br#"{"b":"c"}"#);
        let bin = doc("\u{0}\u{1}", DocKind::Binary);
        assert!(select(&bin, &Selector::Property("a".into())).is_err());
        assert_eq!(
            select(&bin, &Selector::Whole).unwrap().to_vec(),
            b"\x00\x01"
        );
    }
}
