//! A HelmRelease's values as Flux composes them: each `valuesFrom` entry in order (a
//! ConfigMap's or Secret's key, default `values.yaml`, read as a YAML map and merged, or
//! set as one string at `targetPath`), then `spec.values` merged last. The objects are read
//! from the app's own rendered manifests (a SOPS-encrypted Secret there is read through the
//! values the decryption holds); an `optional` entry may be missing.
//!
//! Values that come from a Secret are secret: they live in zeroizing buffers while read,
//! and no error quotes them.

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::FluxHelmError;
use super::model::{HelmRelease, ValuesReference};
use crate::render::helm::exposure::SecretLeaves;
use crate::render::is_stand_in;
use crate::render::yaml::{self, ParseOptions};

/// Reads the values behind stand-ins of decrypted Secrets (the render's held values).
pub trait HeldValues: Send + Sync {
    /// The value behind `stand_in`, if held.
    fn reveal(&self, stand_in: &str) -> Option<Zeroizing<Vec<u8>>>;
}

impl HeldValues for crate::secrets::Held {
    fn reveal(&self, stand_in: &str) -> Option<Zeroizing<Vec<u8>>> {
        self.value(stand_in)
    }
}

/// No held values (no decryption configured).
#[derive(Debug, Clone, Copy, Default)]
pub struct NothingHeld;

impl HeldValues for NothingHeld {
    fn reveal(&self, _stand_in: &str) -> Option<Zeroizing<Vec<u8>>> {
        None
    }
}

/// Values composed from `valuesFrom` references.
pub struct Composed {
    /// The merged values.
    pub values: Map<String, Value>,
    /// Whether any came from a Secret (then no error may quote a value).
    pub secret: bool,
    /// The strings that came from Secrets, to find them in non-Secret objects.
    pub leaves: SecretLeaves,
}

/// The values of `release` (in namespace `namespace`): its `valuesFrom`, then `spec.values`.
pub fn compose(
    release: &HelmRelease,
    namespace: &str,
    objects: &[Value],
    held: &dyn HeldValues,
) -> Result<Composed, FluxHelmError> {
    let source = ReferenceSource {
        object: &release_id(release, namespace),
        field: "spec.valuesFrom",
        namespace,
        objects,
        held,
        missing: "is not in the app's manifests",
        first_index: 0,
    };
    let mut composed = compose_references(&release.spec.values_from, &source)?;
    if let Some(inline) = &release.spec.values {
        merge(&mut composed.values, inline.clone());
        composed.leaves.forget_public(inline);
    }
    Ok(composed)
}

/// Where `valuesFrom` references are read.
pub struct ReferenceSource<'a> {
    /// The object that holds the references, for errors (`HelmRelease shop/web`).
    pub object: &'a str,
    /// The field of the references (`spec.valuesFrom`).
    pub field: &'a str,
    /// The namespace of the referenced objects.
    pub namespace: &'a str,
    /// The objects that may be referenced.
    pub objects: &'a [Value],
    /// The values of decrypted Secrets, behind their stand-ins.
    pub held: &'a dyn HeldValues,
    /// How an error says that a referenced object is missing.
    pub missing: &'a str,
    /// The index of the first reference in its field.
    pub first_index: usize,
}

/// Composes `references` in order: a key read as a YAML map and merged, or set as one
/// string at `targetPath`; an `optional` reference may be missing.
pub fn compose_references(
    references: &[ValuesReference],
    source: &ReferenceSource<'_>,
) -> Result<Composed, FluxHelmError> {
    let mut composed = Composed {
        values: Map::new(),
        secret: false,
        leaves: SecretLeaves::new(),
    };
    for (index, reference) in references.iter().enumerate() {
        let field = format!("{}[{}]", source.field, source.first_index + index);
        let Some(bytes) = read_key(source, reference, &field)? else {
            continue;
        };
        let from_secret = reference.kind == "Secret";
        composed.secret |= from_secret;
        let fail = |problem: String| FluxHelmError::InvalidField {
            object: source.object.to_owned(),
            field: field.clone(),
            problem,
        };
        let what = format!(
            "{} {} key {}",
            reference.kind,
            reference.name,
            key_of(reference)
        );
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| fail(format!("{what}: the key is not UTF-8")))?;
        if reference.target_path.is_empty() {
            let parsed = yaml::parse_values(text, &ParseOptions::default())
                .map_err(|_| fail(format!("{what}: not a YAML map of values")))?;
            for doc in parsed {
                match doc {
                    Value::Object(map) => {
                        if from_secret {
                            composed.leaves.add_value(&Value::Object(map.clone()));
                        }
                        merge(&mut composed.values, map);
                    }
                    Value::Null => {}
                    _ => return Err(fail(format!("{what}: not a YAML map of values"))),
                }
            }
        } else {
            if from_secret {
                composed.leaves.add(text);
            }
            set_path(
                &mut composed.values,
                &reference.target_path,
                Value::String(text.to_owned()),
            )
            .map_err(|problem| fail(format!("targetPath: {problem}")))?;
        }
    }
    Ok(composed)
}

fn key_of(reference: &ValuesReference) -> &str {
    if reference.values_key.is_empty() {
        "values.yaml"
    } else {
        &reference.values_key
    }
}

fn release_id(release: &HelmRelease, namespace: &str) -> String {
    format!("HelmRelease {namespace}/{}", release.metadata.name)
}

/// The bytes of the referenced key; `None` when it is optional and missing.
fn read_key(
    source: &ReferenceSource<'_>,
    reference: &ValuesReference,
    field: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, FluxHelmError> {
    let (namespace, objects, held) = (source.namespace, source.objects, source.held);
    let fail = |problem: String| FluxHelmError::InvalidField {
        object: source.object.to_owned(),
        field: field.to_owned(),
        problem,
    };
    if !matches!(reference.kind.as_str(), "ConfigMap" | "Secret") {
        return Err(fail(format!(
            "kind {:?} is not ConfigMap or Secret",
            reference.kind
        )));
    }
    let key = key_of(reference);
    let found = objects.iter().find(|o| {
        o.get("apiVersion").and_then(Value::as_str) == Some("v1")
            && o.get("kind").and_then(Value::as_str) == Some(reference.kind.as_str())
            && o.pointer("/metadata/name").and_then(Value::as_str) == Some(reference.name.as_str())
            && o.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(namespace)
                == namespace
    });
    let Some(object) = found else {
        if reference.optional {
            return Ok(None);
        }
        return Err(fail(format!(
            "{} {namespace}/{} {}",
            reference.kind, reference.name, source.missing
        )));
    };
    let bytes = match reference.kind.as_str() {
        "ConfigMap" => object
            .pointer("/data")
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
            .map(|t| Zeroizing::new(t.as_bytes().to_vec())),
        _ => secret_value(object, key, held).map_err(|problem| {
            fail(format!(
                "Secret {namespace}/{} key {key}: {problem}",
                reference.name
            ))
        })?,
    };
    match bytes {
        Some(bytes) => Ok(Some(bytes)),
        None if reference.optional => Ok(None),
        None => Err(fail(format!(
            "{} {namespace}/{} has no key {key}",
            reference.kind, reference.name
        ))),
    }
}

/// A Secret's key: `stringData` first (as the API server merges it), then `data` (base64);
/// a stand-in of a decrypted value is exchanged for the held value.
pub(super) fn secret_value(
    secret: &Value,
    key: &str,
    held: &dyn HeldValues,
) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
    let reveal = |text: &str| -> Result<Zeroizing<Vec<u8>>, String> {
        held.reveal(text)
            .ok_or_else(|| "the decrypted value is not available".to_owned())
    };
    if let Some(text) = secret
        .pointer("/stringData")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
    {
        return if is_stand_in(text) {
            reveal(text).map(Some)
        } else {
            Ok(Some(Zeroizing::new(text.as_bytes().to_vec())))
        };
    }
    let Some(text) = secret
        .pointer("/data")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    if is_stand_in(text) {
        return reveal(text).map(Some);
    }
    use base64::Engine;
    let compact: Zeroizing<String> =
        Zeroizing::new(text.chars().filter(|c| !c.is_whitespace()).collect());
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map(|b| Some(Zeroizing::new(b)))
        .map_err(|_| "the data value is not base64".to_owned())
}

/// Deep merge: maps merge key by key, anything else in `src` replaces.
pub(crate) fn merge(dst: &mut Map<String, Value>, src: Map<String, Value>) {
    for (key, value) in src {
        match (dst.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(inner)) => merge(existing, inner),
            (_, value) => {
                dst.insert(key, value);
            }
        }
    }
}

/// Sets `value` at a dotted path (`a.b.c`, `\.` for a dot inside a key), creating maps.
pub(crate) fn set_path(
    values: &mut Map<String, Value>,
    path: &str,
    value: Value,
) -> Result<(), String> {
    let mut keys = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => current.push(next),
                None => return Err("ends with a backslash".into()),
            },
            '.' => keys.push(std::mem::take(&mut current)),
            '[' | ']' => return Err("list indices are not supported".into()),
            _ => current.push(c),
        }
    }
    keys.push(current);
    if keys.iter().any(String::is_empty) {
        return Err("has an empty key".into());
    }
    let (last, parents) = keys.split_last().ok_or("is empty")?;
    let mut map = values;
    for key in parents {
        let entry = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        map = entry.as_object_mut().ok_or("not a map")?;
    }
    map.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Held;
    impl HeldValues for Held {
        fn reveal(&self, stand_in: &str) -> Option<Zeroizing<Vec<u8>>> {
            (stand_in == "<tether-plaintext:abc>")
                .then(|| Zeroizing::new(b"db:\n  password: hunter2\n".to_vec()))
        }
    }

    fn release(spec: Value) -> HelmRelease {
        serde_json::from_value(
            json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": spec}),
        )
        .expect("a HelmRelease")
    }

    #[test]
    fn values_from_merge_in_order_and_inline_values_win() {
        let objects = vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "base"},
                "data": {"values.yaml": "replicas: 2\nimage: {tag: '1.0'}\n", "tag": "1.1"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "shop"},
                "data": {"values.yaml": "<tether-plaintext:abc>"}}),
        ];
        let release = release(json!({
            "valuesFrom": [
                {"kind": "ConfigMap", "name": "base"},
                {"kind": "ConfigMap", "name": "base", "valuesKey": "tag", "targetPath": "image.tag"},
                {"kind": "Secret", "name": "creds"},
                {"kind": "Secret", "name": "absent", "optional": true}
            ],
            "values": {"replicas": 3}
        }));
        let composed = compose(&release, "shop", &objects, &Held).expect("values");
        assert!(composed.secret);
        assert_eq!(
            Value::Object(composed.values),
            json!({"replicas": 3, "image": {"tag": "1.1"}, "db": {"password": "hunter2"}})
        );
    }

    #[test]
    fn a_missing_reference_names_the_field_and_never_a_value() {
        let release = release(json!({"valuesFrom": [{"kind": "Secret", "name": "absent"}]}));
        let err = compose(&release, "shop", &[], &NothingHeld)
            .err()
            .expect("missing");
        let text = err.to_string();
        assert!(
            text.contains("spec.valuesFrom[0]") && text.contains("Secret shop/absent"),
            "{text}"
        );
        let objects = vec![
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "stringData": {"values.yaml": "password: hunter2\n- not a map"}}),
        ];
        let release =
            super::tests::release(json!({"valuesFrom": [{"kind": "Secret", "name": "s"}]}));
        let err = compose(&release, "shop", &objects, &NothingHeld)
            .err()
            .expect("not YAML");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn target_paths_escape_dots() {
        let mut values = Map::new();
        set_path(
            &mut values,
            r"ingress.annotations.kubernetes\.io/tls",
            json!("x"),
        )
        .expect("set");
        assert_eq!(
            Value::Object(values),
            json!({"ingress": {"annotations": {"kubernetes.io/tls": "x"}}})
        );
        assert!(set_path(&mut Map::new(), "a..b", json!(1)).is_err());
        assert!(set_path(&mut Map::new(), "a[0]", json!(1)).is_err());
    }
}
