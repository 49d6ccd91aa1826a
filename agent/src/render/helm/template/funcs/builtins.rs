//! Go's `text/template` builtins: comparison, `len`, `index`, `slice`, printing, escaping.

use super::super::exec::Exec;
use super::super::print::sprintf;
use super::{Func, arity, at_least, string};
use crate::render::helm::template::Value;

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("not", not),
    ("len", len),
    ("index", index),
    ("print", print),
    ("printf", printf),
    ("println", println),
    ("eq", eq),
    ("ne", ne),
    ("lt", lt),
    ("le", le),
    ("gt", gt),
    ("ge", ge),
    ("html", html),
    ("js", js),
    ("urlquery", urlquery),
    ("call", call),
];

fn not(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(Value::Bool(!a[0].truth()))
}

fn len(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let n = match &a[0].collection() {
        Value::String(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::Nil => return Err("len of nil pointer".to_owned()),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(n as i64))
}

/// An index argument as Go's `indexArg` reads it.
fn index_arg(v: &Value, cap: usize) -> Result<usize, String> {
    let i = match v {
        Value::Int(i) => *i,
        Value::Nil => return Err("cannot index slice/array with nil".to_owned()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    if i < 0 || i as usize > cap {
        return Err(format!("index out of range: {i}"));
    }
    Ok(i as usize)
}

fn index(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    let mut v = a[0].clone();
    for ix in &a[1..] {
        v = match &v.collection() {
            Value::List(l) => {
                let i = index_arg(ix, l.len())?;
                match l.get(i) {
                    Some(x) => x.clone(),
                    None => return Err(format!("index out of range: {i}")),
                }
            }
            Value::String(s) => {
                let i = index_arg(ix, s.len())?;
                match s.as_bytes().get(i) {
                    Some(b) => Value::Int(i64::from(*b)),
                    None => return Err(format!("index out of range: {i}")),
                }
            }
            Value::Map(m) => match ix {
                Value::String(k) => m.get(&**k).cloned().unwrap_or(Value::Nil),
                Value::Nil => Value::Nil,
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ));
                }
            },
            Value::Nil => return Err("index of untyped nil".to_owned()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(v)
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
pub(crate) fn sprint(a: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        let is_str = matches!(v, Value::String(_));
        if i > 0 && !is_str && !matches!(a[i - 1], Value::String(_)) {
            out.push(' ');
        }
        v.write_v(&mut out);
    }
    out
}

fn print(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(&sprint(a)))
}

fn printf(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    let f = string(a, 0)?;
    Ok(Value::str(&sprintf(f, &a[1..])))
}

fn println(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let parts: Vec<String> = a.iter().map(Value::to_v).collect();
    let mut s = parts.join(" ");
    s.push('\n');
    Ok(Value::str(&s))
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::Str,
        _ => Kind::Other,
    }
}

/// Go's `eq arg1 arg2...`.
pub(crate) fn equal(a: &[Value]) -> Result<bool, String> {
    if a.len() < 2 {
        return Err("missing argument for comparison".to_owned());
    }
    let x = &a[0];
    let k1 = kind(x);
    for y in &a[1..] {
        let k2 = kind(y);
        let truth = if k1 != k2 {
            if k1 != Kind::Invalid && k2 != Kind::Invalid {
                return Err("incompatible types for comparison".to_owned());
            }
            false
        } else {
            match (x, y) {
                (Value::Bool(p), Value::Bool(q)) => p == q,
                (Value::Int(p), Value::Int(q)) => p == q,
                (Value::Float(p), Value::Float(q)) => p == q,
                (Value::String(p), Value::String(q)) => p == q,
                (Value::Nil, Value::Nil) => true,
                (Value::Object(p), Value::Object(q)) => std::sync::Arc::ptr_eq(p, q),
                (Value::List(_), _)
                | (_, Value::List(_))
                | (Value::Map(_), _)
                | (_, Value::Map(_)) => {
                    return Err(format!(
                        "non-comparable type {}: {}",
                        y.to_v(),
                        y.type_name()
                    ));
                }
                _ => false,
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn eq(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(equal(a)?))
}

fn ne(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(Value::Bool(!equal(a)?))
}

/// Go's `lt`.
fn less(x: &Value, y: &Value) -> Result<bool, String> {
    let (k1, k2) = (kind(x), kind(y));
    if matches!(k1, Kind::Invalid | Kind::Other | Kind::Bool)
        || matches!(k2, Kind::Invalid | Kind::Other | Kind::Bool)
    {
        let bad = if matches!(k1, Kind::Invalid | Kind::Other | Kind::Bool) {
            x
        } else {
            y
        };
        if matches!(kind(bad), Kind::Invalid) {
            return Err("invalid type for comparison".to_owned());
        }
        return Err("invalid type for comparison".to_owned());
    }
    if k1 != k2 {
        return Err("incompatible types for comparison".to_owned());
    }
    Ok(match (x, y) {
        (Value::Int(p), Value::Int(q)) => p < q,
        (Value::Float(p), Value::Float(q)) => p < q,
        (Value::String(p), Value::String(q)) => p < q,
        _ => false,
    })
}

fn lt(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(Value::Bool(less(&a[0], &a[1])?))
}

fn le(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let l = less(&a[0], &a[1])?;
    Ok(Value::Bool(l || equal(a)?))
}

fn gt(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let l = less(&a[0], &a[1])?;
    Ok(Value::Bool(!l && !equal(a)?))
}

fn ge(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(Value::Bool(!less(&a[0], &a[1])?))
}

fn eval_args(a: &[Value]) -> String {
    if let [Value::String(s)] = a {
        return s.to_string();
    }
    sprint(a)
}

fn html(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let s = eval_args(a);
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("&#34;"),
            '\'' => o.push_str("&#39;"),
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\0' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    Ok(Value::str(&o))
}

fn js(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let s = eval_args(a);
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '"' => o.push_str("\\\""),
            '<' => o.push_str("\\u003C"),
            '>' => o.push_str("\\u003E"),
            '&' => o.push_str("\\u0026"),
            '=' => o.push_str("\\u003D"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04X}", c as u32)),
            c => o.push(c),
        }
    }
    Ok(Value::str(&o))
}

fn urlquery(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let s = eval_args(a);
    Ok(Value::str(&query_escape(&s)))
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(b as char)
            }
            b' ' => o.push('+'),
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

fn call(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    Err(format!("non-function of type {}", a[0].type_name()))
}
