//! What the engine needs of a [`Value`]: Go's truth, type names, conversions to and from
//! JSON, and Go's `%v` printing.

use super::print::format_float_v;
use super::{Object, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

impl Value {
    /// A string value.
    #[must_use]
    pub fn str(s: &str) -> Value {
        Value::String(Arc::from(s))
    }

    /// A map value.
    #[must_use]
    pub fn map(m: BTreeMap<String, Value>) -> Value {
        Value::Map(Arc::new(m))
    }

    /// A list value.
    #[must_use]
    pub fn list(l: Vec<Value>) -> Value {
        Value::List(Arc::new(l))
    }

    /// An object value.
    pub fn object(o: impl Object + 'static) -> Value {
        Value::Object(Arc::new(o))
    }

    /// The value itself, or an object Go holds as a slice or map seen as a list or map
    /// (see [`Object::as_list`], [`Object::as_map`]).
    #[must_use]
    pub fn collection(&self) -> Value {
        if let Value::Object(o) = self {
            if let Some(l) = o.as_list() {
                return Value::list(l);
            }
            if let Some(m) = o.as_map() {
                return Value::map(m);
            }
        }
        self.clone()
    }

    /// Go's truth (`if`): false, 0, nil, and empty strings, lists and maps are false.
    #[must_use]
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Object(o) => {
                o.as_list().is_none_or(|l| !l.is_empty())
                    && o.as_map().is_none_or(|m| !m.is_empty())
            }
        }
    }

    /// The Go type name, as Go's error messages and `typeOf` print it.
    #[must_use]
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".to_owned(),
            Value::Bool(_) => "bool".to_owned(),
            Value::Int(_) => "int".to_owned(),
            Value::Float(_) => "float64".to_owned(),
            Value::String(_) => "string".to_owned(),
            Value::List(_) => "[]interface {}".to_owned(),
            Value::Map(_) => "map[string]interface {}".to_owned(),
            Value::Object(o) => o.type_name().to_owned(),
        }
    }

    /// The Go kind name (`kindOf`).
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Object(_) => "struct",
        }
    }

    /// The string inside, if this is a string.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Builds a value from parsed values (YAML/JSON) as Helm does: every number a float64
    /// (Helm reads values through sigs.k8s.io/yaml), maps and lists recursively. `--set`
    /// integers are built as `Int` by the caller.
    #[must_use]
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Like [`Value::from_json`], but integral JSON numbers become `Int` (as Go's
    /// `fromJson` into `interface{}` does not: use only where Go would hold int64).
    #[must_use]
    pub fn from_json_ints(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Number(n) => n
                .as_i64()
                .map_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0)), Value::Int),
            serde_json::Value::Array(a) => {
                Value::list(a.iter().map(Value::from_json_ints).collect())
            }
            serde_json::Value::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json_ints(v)))
                    .collect(),
            ),
            other => Value::from_json(other),
        }
    }

    /// The value as JSON, for `toYaml`/`toJson` and for the chart side (objects become
    /// maps of their fields where Go would marshal them).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            Value::Object(o) => o.to_json(),
        }
    }

    /// Go's `%v` of the value, appended to `out` (`nil` as `<nil>`).
    pub fn write_v(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                use std::fmt::Write;
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float_v(*f)),
            Value::String(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_v(out);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_v(out);
                }
                out.push(']');
            }
            Value::Object(o) => match o.display() {
                Some(s) => out.push_str(&s),
                None => {
                    out.push('{');
                    out.push_str(o.type_name());
                    out.push('}');
                }
            },
        }
    }

    /// Go's `%v` of the value as a new string.
    #[must_use]
    pub fn to_v(&self) -> String {
        let mut s = String::new();
        self.write_v(&mut s);
        s
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.type_name(), self.to_v())
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}
