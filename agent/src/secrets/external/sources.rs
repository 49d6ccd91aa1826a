//! `spec.target.template` (engine v2): `data` templates, `templateFrom` sources (a ConfigMap
//! or Secret, each `items[]` rendered `templateAs: Values` or `KeysAndValues`, and `literal`
//! blocks), and `mergePolicy`. A ConfigMap or Secret named by `templateFrom` is taken from the
//! app's own rendered objects when it is one of them, else read from the cluster in the
//! ExternalSecret's namespace (the app's). Text from a Secret stays in zeroizing memory and
//! is never quoted in an error.
//!
//! ESO's order: the values read (`Merge`) or nothing (`Replace`), then each `templateFrom`
//! in order, then `data`; with neither `data` nor `templateFrom`, the values read as they are.
//! `templateFrom[].target` other than `Data` is refused: it would put values rendered from
//! secrets into plain labels or annotations, as would a template in `metadata`.

use base64::Engine as _;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use zeroize::Zeroizing;

use super::model::{TemplateFrom, TemplateRef};
use super::rewrite::{Values, valid_key};
use super::stores::Stores;
use super::template::{Data, Template, funcs};
use crate::secrets::redact::scrub_value;

/// `(namespace, name)`.
type ObjectKey = (String, String);

/// The ConfigMaps and Secrets among an app's rendered objects.
#[derive(Default)]
pub(crate) struct AppSources {
    config_maps: HashMap<ObjectKey, BTreeMap<String, String>>,
    secrets: HashMap<ObjectKey, BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

impl AppSources {
    /// Records `object` if it is a ConfigMap or a plain Secret.
    pub(crate) fn add(&mut self, object: &Value, default_namespace: &str) {
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        if object.get("apiVersion").and_then(Value::as_str) != Some("v1") {
            return;
        }
        let (Some(name), namespace) = (
            object.pointer("/metadata/name").and_then(Value::as_str),
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(default_namespace),
        ) else {
            return;
        };
        let key = (namespace.to_owned(), name.to_owned());
        let strings = |field: &str| -> BTreeMap<String, String> {
            object
                .get(field)
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default()
        };
        match kind {
            "ConfigMap" => {
                self.config_maps.insert(key, strings("data"));
            }
            "Secret" => {
                let mut values = BTreeMap::new();
                let mut data = strings("data");
                for (k, v) in &mut data {
                    let compact: Zeroizing<String> =
                        Zeroizing::new(v.chars().filter(|c| !c.is_whitespace()).collect());
                    if let Ok(bytes) =
                        base64::engine::general_purpose::STANDARD.decode(compact.as_bytes())
                    {
                        values.insert(k.clone(), Zeroizing::new(bytes));
                    }
                    zeroize::Zeroize::zeroize(v);
                }
                for (k, mut v) in strings("stringData") {
                    values.insert(k, Zeroizing::new(v.as_bytes().to_vec()));
                    zeroize::Zeroize::zeroize(&mut v);
                }
                self.secrets.insert(key, values);
            }
            _ => {}
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Values,
    KeysAndValues,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    ConfigMap,
    Secret,
}

struct SourceItem {
    key: String,
    scope: Scope,
    /// The item's text once loaded.
    text: Option<Zeroizing<String>>,
}

enum FromEntry {
    Source {
        field: String,
        kind: SourceKind,
        name: String,
        items: Vec<SourceItem>,
    },
    Literal {
        field: String,
        template: Template,
    },
}

/// A checked `spec.target.template`.
pub(crate) struct TargetTemplate {
    data: Vec<(String, Template)>,
    from: Vec<FromEntry>,
    merge: bool,
}

/// `(field, reason)`.
pub(crate) type FieldError = (String, String);

impl TargetTemplate {
    /// Checks the template of `spec.target.template`.
    pub(crate) fn parse(
        data: Option<&BTreeMap<String, String>>,
        from: &[TemplateFrom],
        merge: bool,
    ) -> Result<Self, FieldError> {
        let mut parsed = Vec::new();
        for (key, text) in data.into_iter().flatten() {
            let field = format!("spec.target.template.data.{key}");
            if !valid_key(key) {
                return Err((field, "is not a valid Secret key".into()));
            }
            parsed.push((key.clone(), Template::parse(text).map_err(|e| (field, e))?));
        }
        let mut entries = Vec::new();
        for (i, entry) in from.iter().enumerate() {
            entries.push(parse_from(
                entry,
                &format!("spec.target.template.templateFrom[{i}]"),
            )?);
        }
        Ok(Self {
            data: parsed,
            from: entries,
            merge,
        })
    }

    /// Takes the sources found among the app's objects; the others are read by [`Self::load`].
    pub(crate) fn take_from_app(&mut self, sources: &AppSources, namespace: &str) {
        for entry in &mut self.from {
            let FromEntry::Source {
                kind, name, items, ..
            } = entry
            else {
                continue;
            };
            let key = (namespace.to_owned(), name.clone());
            for item in items.iter_mut() {
                item.text = match kind {
                    SourceKind::ConfigMap => sources
                        .config_maps
                        .get(&key)
                        .and_then(|m| m.get(&item.key))
                        .map(|t| Zeroizing::new(t.clone())),
                    SourceKind::Secret => sources
                        .secrets
                        .get(&key)
                        .and_then(|m| m.get(&item.key))
                        .and_then(|b| std::str::from_utf8(b).ok())
                        .map(|t| Zeroizing::new(t.to_owned())),
                };
            }
        }
    }

    /// Whether a source item is still to be read from the cluster.
    pub(crate) fn needs_cluster(&self) -> bool {
        self.from.iter().any(|e| match e {
            FromEntry::Source { items, .. } => items.iter().any(|i| i.text.is_none()),
            FromEntry::Literal { .. } => false,
        })
    }

    /// Reads from the cluster (namespace `namespace`) every source item not found among the
    /// app's objects.
    pub(crate) async fn load(
        &mut self,
        stores: &Stores,
        namespace: &str,
    ) -> Result<(), FieldError> {
        let creds = stores.credentials();
        for entry in &mut self.from {
            let FromEntry::Source {
                field,
                kind,
                name,
                items,
            } = entry
            else {
                continue;
            };
            for (i, item) in items.iter_mut().enumerate() {
                if item.text.is_some() {
                    continue;
                }
                let here = format!("{field}.items[{i}].key");
                item.text = Some(match kind {
                    SourceKind::ConfigMap => creds
                        .config_map_value(namespace, name, &item.key)
                        .await
                        .map(Zeroizing::new)
                        .map_err(|e| (here.clone(), e.to_string()))?,
                    SourceKind::Secret => {
                        let bytes = creds
                            .secret_value(namespace, name, &item.key)
                            .await
                            .map_err(|e| (here.clone(), e.to_string()))?;
                        let text = std::str::from_utf8(&bytes)
                            .map_err(|_| (here.clone(), "is not UTF-8 text".to_owned()))?;
                        Zeroizing::new(text.to_owned())
                    }
                });
            }
        }
        Ok(())
    }

    /// Renders the target's data from the values read.
    pub(crate) fn render(&self, values: &Data) -> Result<Values, FieldError> {
        if self.data.is_empty() && self.from.is_empty() {
            return Ok(copy(values));
        }
        let mut out = if self.merge {
            copy(values)
        } else {
            Values::new()
        };
        for entry in &self.from {
            match entry {
                FromEntry::Literal { field, template } => {
                    let text = template
                        .render(values)
                        .map_err(|e| (format!("{field}.literal"), e))?;
                    keys_and_values(&text, &mut out)
                        .map_err(|e| (format!("{field}.literal"), e))?;
                }
                FromEntry::Source {
                    field, kind, items, ..
                } => {
                    for (i, item) in items.iter().enumerate() {
                        let here = format!("{field}.items[{i}]");
                        render_item(item, *kind, values, &mut out).map_err(|e| (here, e))?;
                    }
                }
            }
        }
        for (key, template) in &self.data {
            let value = template
                .render(values)
                .map_err(|e| (format!("spec.target.template.data.{key}"), e))?;
            out.insert(key.clone(), value);
        }
        Ok(out)
    }
}

fn copy(values: &Data) -> Values {
    values
        .iter()
        .map(|(k, v)| (k.clone(), Zeroizing::new(v.to_vec())))
        .collect()
}

fn parse_from(entry: &TemplateFrom, field: &str) -> Result<FromEntry, FieldError> {
    match entry.target.as_deref() {
        None => {}
        Some(t) if t.eq_ignore_ascii_case("data") => {}
        Some(other) => {
            return Err((
                format!("{field}.target"),
                format!(
                    "{other:?} is not supported: only Data (values rendered from secrets are never put in plain labels or annotations)"
                ),
            ));
        }
    }
    let source = |kind: SourceKind, r: &TemplateRef, what: &str| -> Result<FromEntry, FieldError> {
        let here = format!("{field}.{what}");
        if r.items.is_empty() {
            return Err((format!("{here}.items"), "must name at least one key".into()));
        }
        let mut items = Vec::new();
        for (i, item) in r.items.iter().enumerate() {
            let scope = match item.template_as.as_deref() {
                None | Some("Values") => Scope::Values,
                Some("KeysAndValues") => Scope::KeysAndValues,
                Some(other) => {
                    return Err((
                        format!("{here}.items[{i}].templateAs"),
                        format!("{other:?} is not Values or KeysAndValues"),
                    ));
                }
            };
            if scope == Scope::Values && !valid_key(&item.key) {
                return Err((
                    format!("{here}.items[{i}].key"),
                    "is not a valid Secret key".into(),
                ));
            }
            items.push(SourceItem {
                key: item.key.clone(),
                scope,
                text: None,
            });
        }
        Ok(FromEntry::Source {
            field: here,
            kind,
            name: r.name.clone(),
            items,
        })
    };
    match (&entry.config_map, &entry.secret, &entry.literal) {
        (Some(r), None, None) => source(SourceKind::ConfigMap, r, "configMap"),
        (None, Some(r), None) => source(SourceKind::Secret, r, "secret"),
        (None, None, Some(literal)) => Ok(FromEntry::Literal {
            field: field.to_owned(),
            template: Template::parse(literal).map_err(|e| (format!("{field}.literal"), e))?,
        }),
        _ => Err((
            field.to_owned(),
            "needs exactly one of configMap, secret, literal".into(),
        )),
    }
}

fn render_item(
    item: &SourceItem,
    kind: SourceKind,
    values: &Data,
    out: &mut Values,
) -> Result<(), String> {
    let text = item
        .text
        .as_ref()
        .ok_or_else(|| format!("key {:?} was not loaded", item.key))?;
    let template = Template::parse(text).map_err(|e| match kind {
        SourceKind::ConfigMap => e,
        // The text comes from a Secret: the parser's quote of it is not passed on.
        SourceKind::Secret => "the template in the Secret does not parse".to_owned(),
    })?;
    let rendered = template.render(values).map_err(|e| match kind {
        SourceKind::ConfigMap => e,
        // The message may name a key from the Secret's text.
        SourceKind::Secret => "the template in the Secret does not render".to_owned(),
    })?;
    match item.scope {
        Scope::Values => {
            out.insert(item.key.clone(), rendered);
            Ok(())
        }
        Scope::KeysAndValues => keys_and_values(&rendered, out),
    }
}

/// `KeysAndValues`: the rendered text is a YAML map of Secret keys to string values.
fn keys_and_values(text: &[u8], out: &mut Values) -> Result<(), String> {
    let parsed = funcs::parse_yaml(text).map_err(|e| format!("the rendered text: {e}"))?;
    let result = match &parsed {
        Value::Object(map) => {
            let mut result = Ok(());
            for (key, value) in map {
                if !valid_key(key) {
                    result = Err(format!(
                        "the rendered key {:?} is not a valid Secret key",
                        key.chars().take(100).collect::<String>()
                    ));
                    break;
                }
                let bytes = match value {
                    Value::String(s) => Zeroizing::new(s.as_bytes().to_vec()),
                    Value::Null => Zeroizing::new(Vec::new()),
                    Value::Bool(_) | Value::Number(_) => {
                        Zeroizing::new(value.to_string().into_bytes())
                    }
                    _ => {
                        result = Err(format!("the value of {key:?} is not a string"));
                        break;
                    }
                };
                out.insert(key.clone(), bytes);
            }
            result
        }
        Value::Null => Ok(()),
        _ => Err("the rendered text is not a map of keys to values".to_owned()),
    };
    scrub_value(parsed);
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Data {
        let mut d = Data::new();
        d.insert("user".into(), Zeroizing::new(b"admin".to_vec()));
        d.insert("pass".into(), Zeroizing::new(b"s3cr3t-value".to_vec()));
        d
    }

    #[test]
    fn keys_and_values_must_render_a_map_of_valid_keys() {
        let mut out = Values::new();
        keys_and_values(b"a: '1'\nb: 2\nc:\n", &mut out).unwrap();
        assert_eq!(out["a"].as_slice(), b"1");
        assert_eq!(out["b"].as_slice(), b"2");
        assert!(out["c"].is_empty());
        let err = keys_and_values(b"bad key/: s3cr3t-value", &mut out).unwrap_err();
        assert!(
            err.contains("not a valid Secret key") && !err.contains("s3cr3t"),
            "{err}"
        );
        let err = keys_and_values(b"- s3cr3t-value", &mut out).unwrap_err();
        assert!(!err.contains("s3cr3t"), "{err}");
        let err = keys_and_values(b"a: &x s3cr3t-value\nb: *x", &mut out).unwrap_err();
        assert!(err.contains("aliases") && !err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn sources_come_from_the_app_and_render_in_order() {
        let mut sources = AppSources::default();
        sources.add(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                    "data": {"dsn": "{{ .user }}@db", "kv": "x: '{{ .user | upper }}'"}}),
            "shop",
        );
        sources.add(
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"},
                    "data": {"t": "e3sgLnBhc3MgfX0="}}),
            "shop",
        );
        let from: Vec<TemplateFrom> = serde_json::from_value(json!([
            {"configMap": {"name": "cm", "items": [{"key": "dsn"}, {"key": "kv", "templateAs": "KeysAndValues"}]}},
            {"secret": {"name": "s", "items": [{"key": "t"}]}}
        ]))
        .unwrap();
        let mut data_tpl = BTreeMap::new();
        data_tpl.insert("dsn".to_owned(), "override".to_owned());
        let mut template = TargetTemplate::parse(Some(&data_tpl), &from, false).unwrap();
        template.take_from_app(&sources, "shop");
        assert!(!template.needs_cluster());
        let out = template.render(&data()).unwrap();
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(keys, ["dsn", "t", "x"]);
        assert_eq!(out["dsn"].as_slice(), b"override", "data comes last");
        assert_eq!(out["t"].as_slice(), b"s3cr3t-value");
        assert_eq!(out["x"].as_slice(), b"ADMIN");
        let merged = TargetTemplate::parse(Some(&data_tpl), &[], true)
            .unwrap()
            .render(&data())
            .unwrap();
        assert_eq!(merged.len(), 3);
    }
}
