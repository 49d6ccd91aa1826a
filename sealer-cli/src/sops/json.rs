//! The JSON and binary stores.
//!
//! JSON is read in key order (numbers are floats, as in sops) and written like Go's
//! `encoding/json` followed by `json.Indent` with a tab: `"key": value`, HTML characters
//! escaped, floats in Go notation. The binary store keeps the whole input as the string
//! `data` of a JSON document.

use super::Error;
use super::gostrconv::go_format_json_float;
use super::tree::{Branch, MapItem, Node};
use super::value::{Scalar, Secret};

/// Reads a JSON object into a branch.
pub fn parse(bytes: &[u8]) -> Result<Branch, Error> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::Malformed {
        file: String::new(),
        path: format!("line {} column {}", e.line(), e.column()),
        reason: format!("invalid JSON: {}", e.classify_name()),
    })?;
    match from_value(&value, 0)? {
        Node::Map(b) => Ok(b),
        _ => Err(Error::Malformed {
            file: String::new(),
            path: "(root)".into(),
            reason: "expected a JSON object".into(),
        }),
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "unexpected end of input",
        }
    }
}

/// Converts a JSON value into a node (numbers become floats, like sops's JSON store).
pub fn from_value(v: &serde_json::Value, depth: usize) -> Result<Node, Error> {
    if depth > super::yaml::MAX_DEPTH {
        return Err(Error::Malformed {
            file: String::new(),
            path: "(root)".into(),
            reason: "nesting too deep".into(),
        });
    }
    Ok(match v {
        serde_json::Value::Null => Node::Scalar(Scalar::Null),
        serde_json::Value::Bool(b) => Node::Scalar(Scalar::Bool(*b)),
        serde_json::Value::Number(n) => Node::Scalar(Scalar::Float(n.as_f64().unwrap_or(f64::NAN))),
        serde_json::Value::String(s) => Node::text(s),
        serde_json::Value::Array(items) => Node::Seq(
            items
                .iter()
                .map(|i| from_value(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        serde_json::Value::Object(map) => {
            let mut b = Branch::new();
            for (k, v) in map {
                b.push(k.clone(), from_value(v, depth + 1)?);
            }
            Node::Map(b)
        }
    })
}

/// Writes a JSON string literal the way Go's `json.Marshal` does.
fn push_string(out: &mut String, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_scalar(out: &mut String, s: &Scalar) -> Result<(), Error> {
    match s {
        Scalar::Null => out.push_str("null"),
        Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Scalar::Int(i) => out.push_str(&i.to_string()),
        Scalar::Float(f) => out.push_str(&go_format_json_float(*f).ok_or_else(|| Error::Emit {
            file: String::new(),
            reason: "JSON cannot hold an infinite or NaN number".into(),
        })?),
        Scalar::Str(t) | Scalar::Time(t) => push_string(out, t.expose()),
    }
    Ok(())
}

fn push_indent(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push('\t');
    }
}

fn push_node(out: &mut String, n: &Node, depth: usize) -> Result<(), Error> {
    match n {
        Node::Map(b) => push_branch(out, b, depth),
        Node::Seq(items) => {
            let items: Vec<&Node> = items
                .iter()
                .filter(|i| !matches!(i, Node::Comment(_)))
                .collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_indent(out, depth + 1);
                push_node(out, item, depth + 1)?;
            }
            push_indent(out, depth);
            out.push(']');
            Ok(())
        }
        Node::Scalar(s) => push_scalar(out, s),
        Node::Comment(_) => Ok(()),
    }
}

fn push_branch(out: &mut String, b: &Branch, depth: usize) -> Result<(), Error> {
    let entries: Vec<(&str, &Node)> = b.entries().collect();
    if entries.is_empty() {
        out.push_str("{}");
        return Ok(());
    }
    out.push('{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_indent(out, depth + 1);
        push_string(out, k.as_bytes());
        out.push_str(": ");
        push_node(out, v, depth + 1)?;
    }
    push_indent(out, depth);
    out.push('}');
    Ok(())
}

/// Writes a branch as indented JSON with a final newline.
pub fn emit(b: &Branch) -> Result<String, Error> {
    let mut out = String::new();
    push_branch(&mut out, b, 0)?;
    out.push('\n');
    Ok(out)
}

/// Converts a node to a JSON value (for the Kubernetes object API). Ints stay integers.
pub fn to_value(n: &Node) -> Result<serde_json::Value, Error> {
    Ok(match n {
        Node::Map(b) => {
            let mut map = serde_json::Map::new();
            for (k, v) in b.entries() {
                map.insert(k.to_owned(), to_value(v)?);
            }
            serde_json::Value::Object(map)
        }
        Node::Seq(items) => serde_json::Value::Array(
            items
                .iter()
                .filter(|i| !matches!(i, Node::Comment(_)))
                .map(to_value)
                .collect::<Result<_, _>>()?,
        ),
        Node::Scalar(Scalar::Null) | Node::Comment(_) => serde_json::Value::Null,
        Node::Scalar(Scalar::Bool(b)) => serde_json::Value::Bool(*b),
        Node::Scalar(Scalar::Int(i)) => serde_json::Value::from(*i),
        Node::Scalar(Scalar::Float(f)) => {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                serde_json::Value::from(*f as i64)
            } else {
                serde_json::Number::from_f64(*f)
                    .map(serde_json::Value::Number)
                    .ok_or_else(|| Error::Emit {
                        file: String::new(),
                        reason: "JSON cannot hold an infinite or NaN number".into(),
                    })?
            }
        }
        Node::Scalar(Scalar::Str(s) | Scalar::Time(s)) => {
            serde_json::Value::String(String::from_utf8_lossy(s.expose()).into_owned())
        }
    })
}

/// The plaintext tree of the binary store: `{"data": <whole input>}`.
pub fn binary_tree(bytes: &[u8]) -> Branch {
    let mut b = Branch::new();
    b.items.push(MapItem::Entry(
        "data".into(),
        Node::Scalar(Scalar::Str(Secret::new(bytes.to_vec()))),
    ));
    b
}

/// The plaintext of the binary store.
pub fn binary_plain(b: &Branch) -> Result<&[u8], Error> {
    match b.get("data") {
        Some(Node::Scalar(Scalar::Str(s))) => Ok(s.expose()),
        _ => Err(Error::Emit {
            file: String::new(),
            reason: "no binary data found in tree".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_written_like_go() {
        let b = parse(
            br#"{"a": 5432, "b": "x<y&z", "l": [1.5, {"k": "v"}], "o": {}, "e": [], "s": 1e-7}"#,
        )
        .expect("parses");
        assert_eq!(
            emit(&b).expect("emits"),
            "{\n\t\"a\": 5432,\n\t\"b\": \"x\\u003cy\\u0026z\",\n\t\"l\": [\n\t\t1.5,\n\t\t{\n\t\t\t\"k\": \"v\"\n\t\t}\n\t],\n\t\"o\": {},\n\t\"e\": [],\n\t\"s\": 1e-7\n}\n"
        );
    }
}
