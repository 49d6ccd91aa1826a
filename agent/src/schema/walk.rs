//! The walk of one value against one schema: the subset of OpenAPI v3 / JSON Schema that the
//! Kubernetes API server enforces, with unknown fields refused.
//!
//! Two modes: [`Mode::Builtin`] for the API's own kinds (an object schema without
//! `properties` and `additionalProperties`, such as `RawExtension`, takes anything) and
//! [`Mode::Structural`] for custom resources (such an object takes nothing: the API server
//! would prune the fields, so they are refused as unknown, like `kubectl --validate=strict`).

use super::FieldError;
use super::formats;
use super::path::FieldPath;
use serde_json::{Map, Value};

/// How schemas without properties are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The API's own kinds.
    Builtin,
    /// CRD schemas (structural).
    Structural,
}

/// The most errors reported for one object.
pub const MAX_ERRORS: usize = 20;
/// The deepest chain of schema steps followed (guards against `$ref` cycles).
const MAX_STEPS: usize = 512;

/// Resolves `$ref` names and compiles patterns.
pub trait Resolver {
    /// The schema a `$ref` names.
    fn definition(&self, name: &str) -> Option<&Value>;
    /// Whether `text` matches the ECMA 262 `pattern`; `None` when the pattern does not compile.
    fn matches(&self, pattern: &str, text: &str) -> Option<bool>;
}

/// One walk; collects errors.
pub struct Walker<'r> {
    resolver: &'r dyn Resolver,
    mode: Mode,
    /// Show no values in messages (Secrets).
    redact: bool,
    /// The errors found.
    pub errors: Vec<FieldError>,
    steps: usize,
    /// SOPS `ENC[...]` strings stand for any value.
    opaque_sops: bool,
}

impl<'r> Walker<'r> {
    /// A walker in `mode`; with `redact`, no value of the object appears in a message.
    pub fn new(resolver: &'r dyn Resolver, mode: Mode, redact: bool) -> Self {
        Self {
            resolver,
            mode,
            redact,
            errors: Vec::new(),
            steps: 0,
            opaque_sops: false,
        }
    }

    /// Takes SOPS `ENC[...]` strings for whatever value they encrypt.
    #[must_use]
    pub fn opaque_sops_values(mut self, opaque: bool) -> Self {
        self.opaque_sops = opaque;
        self
    }

    fn error(&mut self, path: &FieldPath, message: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(FieldError {
                path: path.to_string(),
                message,
            });
        }
    }

    /// A short rendering of a value for messages (nothing of it when redacting).
    fn show(&self, value: &Value) -> String {
        let kind = type_name(value);
        if self.redact || matches!(value, Value::Object(_) | Value::Array(_)) {
            return kind.to_owned();
        }
        let mut text = value.to_string();
        if text.len() > 64 {
            let cut = (0..=61)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            text.truncate(cut);
            text.push_str("...");
        }
        format!("{kind} {text}")
    }

    /// Whether `value` is valid against `schema`, without recording errors.
    fn passes(&mut self, schema: &Value, value: &Value, path: &mut FieldPath) -> bool {
        let mut trial = Walker::new(self.resolver, self.mode, self.redact);
        trial.steps = self.steps;
        trial.opaque_sops = self.opaque_sops;
        trial.walk(schema, value, path);
        trial.errors.is_empty()
    }

    /// Validates `value` at `path` against `schema`.
    pub fn walk(&mut self, schema: &Value, value: &Value, path: &mut FieldPath) {
        let Value::Object(schema) = schema else {
            if schema == &Value::Bool(false) {
                self.error(path, "no value is allowed here".into());
            }
            return;
        };
        self.steps += 1;
        if self.steps > MAX_STEPS || self.errors.len() >= MAX_ERRORS {
            return;
        }
        if self.opaque_sops && value.as_str().is_some_and(|s| s.starts_with("ENC[")) {
            return;
        }
        if let Some(name) = schema.get("$ref").and_then(Value::as_str) {
            match self.resolver.definition(name) {
                Some(target) => self.walk(target, value, path),
                None => self.error(
                    path,
                    format!("the schema refers to {name:?}, which is missing"),
                ),
            }
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(list) = schema.get(key).and_then(Value::as_array) {
                self.combination(key, list, value, path);
            }
        }
        let flag = |key: &str| schema.get(key).and_then(Value::as_bool) == Some(true);
        if value.is_null() && flag("nullable") {
            return;
        }
        if flag("x-kubernetes-int-or-string") {
            self.int_or_string(schema, value, path);
            return;
        }
        if !self.type_matches(schema, value, path) {
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let choices: Vec<String> = allowed.iter().take(12).map(Value::to_string).collect();
            let shown = self.show(value);
            self.error(
                path,
                format!(
                    "unsupported value ({shown}): expected one of {}",
                    choices.join(", ")
                ),
            );
        }
        match value {
            // A node that only refers or combines (`{"allOf": [{"$ref": ...}]}`) says nothing
            // of the object's fields itself.
            Value::Object(map) if declares_fields(schema) => self.object(schema, map, path),
            Value::Object(_) => {}
            Value::Array(items) => self.array(schema, items, path),
            Value::String(text) => self.string(schema, text, path),
            Value::Number(number) => self.number(schema, number, path),
            _ => {}
        }
    }

    fn combination(&mut self, key: &str, list: &[Value], value: &Value, path: &mut FieldPath) {
        match key {
            "allOf" => {
                for schema in list {
                    self.walk(schema, value, path);
                }
            }
            _ => {
                let passing = list.iter().filter(|s| self.passes(s, value, path)).count();
                let ok = if key == "anyOf" {
                    passing > 0
                } else {
                    passing == 1
                };
                if !ok {
                    let shown = self.show(value);
                    self.error(path, format!("({shown}) does not match the schema ({key})"));
                }
            }
        }
    }

    fn int_or_string(&mut self, schema: &Map<String, Value>, value: &Value, path: &FieldPath) {
        let quantity = schema.get("format").and_then(Value::as_str) == Some("quantity");
        match value {
            Value::Number(n) if quantity || n.is_i64() || n.is_u64() => {}
            Value::String(text) if quantity && !formats::is_quantity(text) => {
                let shown = self.show(value);
                self.error(
                    path,
                    format!("({shown}) is not a quantity (such as 500m, 1.5, 2Gi)"),
                );
            }
            Value::String(_) => {}
            other => {
                let expected = if quantity {
                    "a quantity"
                } else {
                    "an integer or a string"
                };
                let shown = self.show(other);
                self.error(path, format!("expected {expected}, got {shown}"));
            }
        }
    }

    fn type_matches(
        &mut self,
        schema: &Map<String, Value>,
        value: &Value,
        path: &FieldPath,
    ) -> bool {
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => return true,
        };
        if types.iter().any(|t| is_of_type(value, t)) {
            return true;
        }
        let shown = self.show(value);
        self.error(
            path,
            format!("expected {}, got {shown}", types.join(" or ")),
        );
        false
    }

    fn object(
        &mut self,
        schema: &Map<String, Value>,
        map: &Map<String, Value>,
        path: &mut FieldPath,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for field in required.iter().filter_map(Value::as_str) {
                if map.get(field).is_none_or(Value::is_null) {
                    path.push_key(field);
                    self.error(path, "required field is missing".into());
                    path.pop();
                }
            }
        }
        let preserve = schema
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            == Some(true);
        let embedded = schema
            .get("x-kubernetes-embedded-resource")
            .and_then(Value::as_bool)
            == Some(true);
        let additional = schema.get("additionalProperties");
        for (key, value) in map {
            path.push_key(key);
            if let Some(property) = properties.and_then(|p| p.get(key)) {
                // The API server takes null for an optional field.
                if !value.is_null() {
                    self.walk(property, value, path);
                }
            } else if embedded && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            } else {
                match additional {
                    Some(Value::Bool(true)) => {}
                    Some(Value::Bool(false)) => self.unknown(path, key),
                    Some(other) => self.walk(other, value, path),
                    None if preserve => {}
                    None if self.mode == Mode::Builtin && properties.is_none() => {}
                    None => self.unknown(path, key),
                }
            }
            path.pop();
        }
    }

    fn unknown(&mut self, path: &FieldPath, key: &str) {
        let key = if self.redact && key.len() > 64 {
            "…"
        } else {
            key
        };
        self.error(path, format!("unknown field {key:?}"));
    }

    fn array(&mut self, schema: &Map<String, Value>, items: &[Value], path: &mut FieldPath) {
        self.bounds(schema, "minItems", "maxItems", items.len(), "items", path);
        if let Some(item_schema) = schema.get("items") {
            for (index, item) in items.iter().enumerate() {
                path.push_index(index);
                self.walk(item_schema, item, path);
                path.pop();
                if self.errors.len() >= MAX_ERRORS {
                    break;
                }
            }
        }
    }

    fn bounds(
        &mut self,
        schema: &Map<String, Value>,
        min: &str,
        max: &str,
        len: usize,
        what: &str,
        path: &FieldPath,
    ) {
        let limit = |key: &str| schema.get(key).and_then(Value::as_u64);
        if let Some(low) = limit(min).filter(|&l| (len as u64) < l) {
            self.error(
                path,
                format!("has {len} {what}, fewer than the minimum {low}"),
            );
        }
        if let Some(high) = limit(max).filter(|&h| (len as u64) > h) {
            self.error(
                path,
                format!("has {len} {what}, more than the maximum {high}"),
            );
        }
    }

    fn string(&mut self, schema: &Map<String, Value>, text: &str, path: &FieldPath) {
        self.bounds(
            schema,
            "minLength",
            "maxLength",
            text.chars().count(),
            "characters",
            path,
        );
        let format = schema
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let problem = match format {
            "date-time" if !formats::is_date_time(text) => Some("is not a date-time (RFC 3339)"),
            "byte" if !formats::is_base64(text) => Some("is not base64"),
            "quantity" if !formats::is_quantity(text) => {
                Some("is not a quantity (such as 500m, 1.5, 2Gi)")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            let shown = self.show(&Value::String(text.to_owned()));
            self.error(path, format!("({shown}) {problem}"));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && self.resolver.matches(pattern, text) == Some(false)
        {
            let shown = self.show(&Value::String(text.to_owned()));
            self.error(
                path,
                format!("({shown}) does not match the pattern {pattern:?}"),
            );
        }
    }

    fn number(
        &mut self,
        schema: &Map<String, Value>,
        number: &serde_json::Number,
        path: &FieldPath,
    ) {
        let format = schema
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if format == "int32" && number.as_i64().is_some_and(|n| i32::try_from(n).is_err()) {
            self.error(path, format!("{number} is out of the int32 range"));
        }
        let Some(value) = number.as_f64() else { return };
        let exclusive = |key: &str| schema.get(key).and_then(Value::as_bool) == Some(true);
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            let below = if exclusive("exclusiveMinimum") {
                value <= min
            } else {
                value < min
            };
            if below {
                self.error(path, format!("{number} is less than the minimum {min}"));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            let above = if exclusive("exclusiveMaximum") {
                value >= max
            } else {
                value > max
            };
            if above {
                self.error(path, format!("{number} is more than the maximum {max}"));
            }
        }
    }
}

/// Whether a schema node describes an object's fields (rather than only referring to or
/// combining other schemas).
fn declares_fields(schema: &Map<String, Value>) -> bool {
    [
        "type",
        "properties",
        "additionalProperties",
        "required",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
    ]
    .iter()
    .any(|key| schema.contains_key(*key))
}

fn is_of_type(value: &Value, kind: &str) -> bool {
    match (kind, value) {
        ("object", Value::Object(_))
        | ("array", Value::Array(_))
        | ("string", Value::String(_))
        | ("boolean", Value::Bool(_))
        | ("number", Value::Number(_))
        | ("null", Value::Null) => true,
        ("integer", Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

/// `string`, `integer`, ... for messages.
#[must_use]
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Definitions(serde_json::Map<String, Value>);

    impl Resolver for Definitions {
        fn definition(&self, name: &str) -> Option<&Value> {
            self.0.get(name)
        }
        fn matches(&self, pattern: &str, text: &str) -> Option<bool> {
            regex::Regex::new(pattern).ok().map(|re| re.is_match(text))
        }
    }

    fn errors(mode: Mode, schema: &Value, value: &Value) -> Vec<String> {
        let definitions = json!({
            "Port": {"type": "object", "required": ["port"], "properties": {"port": {"type": "integer", "format": "int32"}}},
            "Raw": {"type": "object"}
        });
        let resolver = Definitions(definitions.as_object().cloned().unwrap_or_default());
        let mut walker = Walker::new(&resolver, mode, false);
        walker.walk(schema, value, &mut FieldPath::root());
        walker.errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn refs_and_all_of_are_followed_and_unknown_fields_refused_at_depth() {
        let schema = json!({"type": "object", "properties": {
            "ports": {"type": "array", "items": {"allOf": [{"$ref": "Port"}]}},
            "raw": {"$ref": "Raw"}}});
        let value = json!({"ports": [{"port": 80}, {"prot": 1}], "raw": {"anything": 1}});
        assert_eq!(
            errors(Mode::Builtin, &schema, &value),
            [
                "ports[1].port: required field is missing",
                "ports[1].prot: unknown field \"prot\""
            ]
        );
        // The same object schema without properties takes nothing in a CRD.
        assert_eq!(
            errors(Mode::Structural, &schema, &value),
            [
                "ports[1].port: required field is missing",
                "ports[1].prot: unknown field \"prot\"",
                "raw.anything: unknown field \"anything\""
            ]
        );
    }

    #[test]
    fn additional_properties_preserve_unknown_fields_and_combinations_apply() {
        let schema = json!({"type": "object", "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "closed": {"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}}},
            "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"n": {"type": "integer"}}},
            "either": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+%$"}]},
            "one": {"oneOf": [{"minimum": 1}, {"maximum": 10}]}}});
        let value = json!({"labels": {"a": "x", "b": 2}, "closed": {"a": "x", "b": "y"},
            "open": {"n": "x", "free": {"deep": true}}, "either": "50", "one": 5});
        assert_eq!(
            errors(Mode::Structural, &schema, &value),
            [
                "labels.b: expected string, got integer 2",
                "closed.b: unknown field \"b\"",
                "open.n: expected integer, got string \"x\"",
                "either: (string \"50\") does not match the schema (anyOf)",
                "one: (integer 5) does not match the schema (oneOf)"
            ]
        );
        let good = json!({"labels": {}, "either": "50%", "one": 0});
        assert!(errors(Mode::Structural, &schema, &good).is_empty());
    }

    #[test]
    fn long_values_are_cut_and_redacted_walks_show_no_value() {
        let schema = json!({"type": "integer"});
        let long = Value::String("x".repeat(500));
        let message = errors(Mode::Builtin, &schema, &long).join("");
        assert!(message.len() < 120, "{message}");
        let resolver = Definitions(serde_json::Map::new());
        let mut walker = Walker::new(&resolver, Mode::Builtin, true);
        walker.walk(&schema, &json!("s3cret"), &mut FieldPath::root());
        assert_eq!(walker.errors[0].message, "expected integer, got string");
    }
}
