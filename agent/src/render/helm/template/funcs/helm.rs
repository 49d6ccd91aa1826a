//! Helm's own functions: `include`, `tpl`, `required`, `fail`, YAML/JSON/TOML conversion
//! and `lookup`.

use super::super::exec::{Exec, Tpl};
use super::super::{Def, Value, parse, yaml};
use super::{Func, arity, s, string};
use crate::render::yaml::{ParseOptions, parse_one, parse_values};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Arc;

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("include", include),
    ("tpl", tpl),
    ("required", required),
    ("fail", fail),
    ("toYaml", to_yaml),
    ("toYamlPretty", to_yaml),
    ("fromYaml", from_yaml),
    ("fromYamlArray", from_yaml_array),
    ("toJson", to_json),
    ("mustToJson", to_json),
    ("toPrettyJson", to_pretty_json),
    ("mustToPrettyJson", to_pretty_json),
    ("toRawJson", to_raw_json),
    ("mustToRawJson", to_raw_json),
    ("fromJson", from_json),
    ("mustFromJson", must_from_json),
    ("fromJsonArray", from_json_array),
    ("toToml", to_toml),
    ("fromToml", from_toml),
    ("lookup", lookup),
];

/// Helm's bound on include recursion per name.
const RECURSION_MAX: usize = 1000;

fn include(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let name = string(a, 0)?;
    let count = match ex.included.get_mut(name) {
        Some(c) => c,
        None => ex.included.entry(name.to_owned()).or_insert(0),
    };
    if *count > RECURSION_MAX {
        ex.limit_hit = true;
        return Err(format!(
            "unable to execute template: rendering template has a nested reference name: {name}"
        ));
    }
    *count += 1;
    let Some(def) = ex.lookup_def(name) else {
        if let Some(c) = ex.included.get_mut(name) {
            *c -= 1;
        }
        return Err(format!(
            "template: no template {name:?} associated with template \"gotpl\""
        ));
    };
    let mut out = String::new();
    let r = ex.run_def(def, name, &a[1], &mut out);
    if let Some(c) = ex.included.get_mut(name) {
        *c -= 1;
    }
    r?;
    Ok(Value::String(Arc::from(out)))
}

fn tpl(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let text = string(a, 0)?;
    let parsed = match ex.tpl_cache.get(text) {
        Some(p) => p.clone(),
        None => {
            let p = parse::parse("gotpl", text)
                .map_err(|e| format!("cannot parse template {text:?}: template: {e}"))?;
            let src: Arc<str> = Arc::from(text);
            let name: Arc<str> = Arc::from("gotpl");
            let mut layer: HashMap<String, Arc<Def>> = HashMap::new();
            for (dname, body) in &p.defines {
                layer.insert(
                    dname.clone(),
                    Arc::new(Def {
                        parse_name: name.clone(),
                        text: src.clone(),
                        body: body.clone(),
                    }),
                );
            }
            let root = Arc::new(Def {
                parse_name: name,
                text: src.clone(),
                body: p.root.clone(),
            });
            let entry = Arc::new(Tpl {
                root,
                layer: Arc::new(layer),
            });
            ex.tpl_cache.insert(src, entry.clone());
            entry
        }
    };
    ex.overlay.push(parsed.layer.clone());
    let mut out = String::new();
    let r = ex.run_def(parsed.root.clone(), "gotpl", &a[1], &mut out);
    ex.overlay.pop();
    r.map_err(|e| format!("error during tpl function execution for {text:?}: {e}"))?;
    if out.contains("<no value>") {
        out = out.replace("<no value>", "");
    }
    Ok(Value::String(Arc::from(out)))
}

fn required(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let msg = string(a, 0)?;
    match &a[1] {
        Value::Nil => Err(format!("HELM[{msg}]HELM")),
        Value::String(v) if v.is_empty() => Err(format!("HELM[{msg}]HELM")),
        v => Ok(v.clone()),
    }
}

fn fail(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let msg = string(a, 0)?;
    Err(format!("HELM[{msg}]HELM"))
}

fn to_yaml(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let limit = ex.set_limits().max_output;
    match yaml::to_yaml_bounded(&a[0], limit) {
        Some(text) => Ok(s(text)),
        None => {
            ex.limit_hit = true;
            Err(format!(
                "toYaml would write more than the output limit of {limit} bytes"
            ))
        }
    }
}

fn yaml_limits() -> ParseOptions {
    ParseOptions::default()
}

fn from_yaml(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let text = string(a, 0)?;
    let mut m = BTreeMap::new();
    match parse_one(text, &yaml_limits()) {
        Ok(serde_json::Value::Object(o)) => {
            return Ok(Value::from_json(&serde_json::Value::Object(o)));
        }
        Ok(serde_json::Value::Null) => {}
        Ok(_) => {
            m.insert("Error".to_owned(), s("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal non-object into Go value of type map[string]interface {}"));
        }
        Err(e) => {
            m.insert("Error".to_owned(), s(e.to_string()));
        }
    }
    Ok(Value::map(m))
}

fn from_yaml_array(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let text = string(a, 0)?;
    match parse_values(text, &yaml_limits()) {
        Ok(docs) => match docs.first() {
            Some(serde_json::Value::Array(items)) => {
                Ok(Value::list(items.iter().map(Value::from_json).collect()))
            }
            None | Some(serde_json::Value::Null) => Ok(Value::list(Vec::new())),
            Some(_) => Ok(Value::list(vec![s(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal object into Go value of type []interface {}",
            )])),
        },
        Err(e) => Ok(Value::list(vec![s(e.to_string())])),
    }
}

/// Go's `encoding/json` marshalling of a value (`html`: escape `<`, `>`, `&`).
pub(crate) fn go_json(v: &Value, html: bool, indent: Option<&str>, out: &mut String, level: usize) {
    let nl = |out: &mut String, level: usize| {
        if let Some(ind) = indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(ind);
            }
        }
    };
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&json_float(*f)),
        Value::String(s) => json_string(s, html, out),
        Value::List(l) => {
            if l.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, level + 1);
                go_json(x, html, indent, out, level + 1);
            }
            nl(out, level);
            out.push(']');
        }
        Value::Map(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, level + 1);
                json_string(k, html, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                go_json(x, html, indent, out, level + 1);
            }
            nl(out, level);
            out.push('}');
        }
        Value::Object(o) => {
            let j = o.to_json();
            go_json(&Value::from_json(&j), html, indent, out, level);
        }
    }
}

/// Go's JSON number for a float64.
pub(crate) fn json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_owned();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = super::super::print::format_float_fixed(f, 'e', 0);
        // Shortest digits in exponent form, then Go's cleanup of "e-07" to "e-7".
        let shortest = format!("{f:e}");
        let (m, e) = shortest.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let s = format!("{f}");
    s
}

fn json_string(s: &str, html: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn to_json(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let mut out = String::new();
    go_json(&a[0], true, None, &mut out, 0);
    Ok(s(out))
}

fn to_raw_json(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let mut out = String::new();
    go_json(&a[0], false, None, &mut out, 0);
    Ok(s(out))
}

fn to_pretty_json(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let mut out = String::new();
    go_json(&a[0], true, Some("  "), &mut out, 0);
    Ok(s(out))
}

fn from_json(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let text = string(a, 0)?;
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(o)) => Ok(Value::from_json(&serde_json::Value::Object(o))),
        Ok(serde_json::Value::Null) => Ok(Value::map(BTreeMap::new())),
        Ok(_) => Ok(Value::map(BTreeMap::from([(
            "Error".to_owned(),
            s("json: cannot unmarshal non-object into Go value of type map[string]interface {}"),
        )]))),
        Err(e) => Ok(Value::map(BTreeMap::from([(
            "Error".to_owned(),
            s(e.to_string()),
        )]))),
    }
}

fn must_from_json(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let text = string(a, 0)?;
    serde_json::from_str::<serde_json::Value>(text)
        .map(|j| Value::from_json(&j))
        .map_err(|e| e.to_string())
}

fn from_json_array(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let text = string(a, 0)?;
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(items)) => {
            Ok(Value::list(items.iter().map(Value::from_json).collect()))
        }
        Ok(serde_json::Value::Null) => Ok(Value::list(Vec::new())),
        Ok(_) => Ok(Value::list(vec![s(
            "json: cannot unmarshal object into Go value of type []interface {}",
        )])),
        Err(e) => Ok(Value::list(vec![s(e.to_string())])),
    }
}

fn to_toml(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let mut out = String::new();
    match &a[0] {
        Value::Map(m) => toml_table(m, "", &mut out),
        other => return Ok(s(format!("toml: cannot encode {}", other.type_name()))),
    }
    Ok(s(out))
}

fn toml_value(v: &Value, out: &mut String) {
    match v {
        Value::String(x) => {
            out.push_str(&super::super::print::go_quote(x));
        }
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e17 {
                let _ = write!(out, "{f:.1}");
            } else {
                out.push_str(&super::super::print::format_float_v(*f));
            }
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                toml_value(x, out);
            }
            out.push(']');
        }
        Value::Map(_) | Value::Nil | Value::Object(_) => {}
    }
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_owned()
    } else {
        super::super::print::go_quote(k)
    }
}

fn toml_table(m: &BTreeMap<String, Value>, prefix: &str, out: &mut String) {
    let indent = if prefix.is_empty() {
        String::new()
    } else {
        "  ".repeat(prefix.matches('.').count() + 1)
    };
    for (k, v) in m {
        if matches!(v, Value::Map(_) | Value::Nil) {
            continue;
        }
        out.push_str(&indent);
        out.push_str(&toml_key(k));
        out.push_str(" = ");
        toml_value(v, out);
        out.push('\n');
    }
    for (k, v) in m {
        if let Value::Map(sub) = v {
            let name = if prefix.is_empty() {
                toml_key(k)
            } else {
                format!("{prefix}.{}", toml_key(k))
            };
            out.push('\n');
            out.push_str(&indent);
            let _ = writeln!(out, "[{name}]");
            toml_table(sub, &name, out);
        }
    }
}

fn lookup(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 4)?;
    let api = string(a, 0)?;
    let kind = string(a, 1)?;
    let ns = string(a, 2)?;
    let name = string(a, 3)?;
    match &ex.env.lookup {
        None => Ok(Value::map(BTreeMap::new())),
        Some(l) => l.lookup(api, kind, ns, name).map(|j| Value::from_json(&j)),
    }
}

fn toml_to_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(x) => s(x),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => s(d.to_string()),
        toml::Value::Array(a) => Value::list(a.iter().map(toml_to_value).collect()),
        toml::Value::Table(t) => Value::map(
            t.iter()
                .map(|(k, x)| (k.clone(), toml_to_value(x)))
                .collect(),
        ),
    }
}

/// Helm's `fromToml`: a map, or a map with `Error` when the text is not TOML.
fn from_toml(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    match toml::from_str::<toml::Value>(string(a, 0)?) {
        Ok(v @ toml::Value::Table(_)) => Ok(toml_to_value(&v)),
        Ok(_) => Ok(Value::map(BTreeMap::new())),
        Err(e) => Ok(Value::map(BTreeMap::from([(
            "Error".to_owned(),
            s(format!("toml: {e}")),
        )]))),
    }
}
