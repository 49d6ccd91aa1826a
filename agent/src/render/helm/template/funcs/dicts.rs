//! Sprig's dictionary functions. Maps are shared (`Arc`) values here, so the functions
//! that mutate a dict in Go (`set`, `unset`, `merge`, ...) return the changed map and, as
//! Go's shared maps would show it, later reads through the same variable see the change
//! only where the template uses the result; see [`super::super`] for the one difference.

use super::super::exec::Exec;
use super::{Func, Value, arity, at_least, dict, s, string, strval};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("dict", dict_fn),
    ("get", get),
    ("set", set),
    ("unset", unset),
    ("hasKey", has_key),
    ("pluck", pluck),
    ("dig", dig),
    ("merge", merge),
    ("mustMerge", merge),
    ("mergeOverwrite", merge_overwrite),
    ("mustMergeOverwrite", merge_overwrite),
    ("keys", keys),
    ("pick", pick),
    ("omit", omit),
    ("values", values),
    ("deepCopy", deep_copy),
    ("mustDeepCopy", deep_copy),
];

fn dict_fn(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let mut m = BTreeMap::new();
    let mut it = a.chunks(2);
    for pair in &mut it {
        let k = strval(&pair[0]);
        let v = pair.get(1).cloned().unwrap_or_else(|| s(""));
        m.insert(k, v);
    }
    Ok(Value::map(m))
}

fn get(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let m = dict(&a[0])?;
    let k = string(&a[1])?;
    Ok(m.get(k).cloned().unwrap_or_else(|| s("")))
}

fn set(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let mut m = dict(&a[0])?;
    let k = string(&a[1])?;
    Arc::make_mut(&mut m).insert(k.to_owned(), a[2].clone());
    Ok(Value::Map(m))
}

fn unset(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let mut m = dict(&a[0])?;
    let k = string(&a[1])?;
    Arc::make_mut(&mut m).remove(k);
    Ok(Value::Map(m))
}

fn has_key(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let m = dict(&a[0])?;
    Ok(Value::Bool(m.contains_key(string(&a[1])?)))
}

fn pluck(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    let k = string(&a[0])?;
    let mut out = Vec::new();
    for d in &a[1..] {
        if let Some(v) = dict(d)?.get(k) {
            out.push(v.clone());
        }
    }
    Ok(Value::list(out))
}

fn dig(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    if a.len() < 3 {
        return Err(format!(
            "wrong number of args: want at least 3 got {}",
            a.len()
        ));
    }
    let m = dict(&a[a.len() - 1])?;
    let default = a[a.len() - 2].clone();
    let keys: Vec<&str> = a[..a.len() - 2]
        .iter()
        .map(string)
        .collect::<Result<_, _>>()?;
    let mut cur = Value::Map(m);
    for k in keys {
        let next = match &cur {
            Value::Map(m) => m.get(k).cloned(),
            _ => {
                return Err(format!(
                    "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                    cur.type_name()
                ));
            }
        };
        match next {
            Some(v) => cur = v,
            None => return Ok(default),
        }
    }
    Ok(cur)
}

/// mergo's `Merge` of `src` into `dst`: keys missing in `dst` (or empty there, when
/// `overwrite`... only with overwrite) are taken from `src`, maps merged recursively.
fn merge_into(dst: &mut BTreeMap<String, Value>, src: &BTreeMap<String, Value>, overwrite: bool) {
    for (k, sv) in src {
        match dst.get_mut(k) {
            Some(Value::Map(dm)) => {
                if let Value::Map(sm) = sv {
                    merge_into(Arc::make_mut(dm), sm, overwrite);
                } else if overwrite && !matches!(sv, Value::Nil) {
                    dst.insert(k.clone(), sv.clone());
                }
            }
            Some(dv) => {
                let empty = !dv.truth()
                    && !matches!(dv, Value::Bool(_) | Value::Int(_) | Value::Float(_))
                    || matches!(dv, Value::Nil);
                if (overwrite && !is_empty_value(sv)) || empty {
                    if !(matches!(sv, Value::Nil) && !empty) {
                        *dv = sv.clone();
                    }
                }
            }
            None => {
                dst.insert(k.clone(), sv.clone());
            }
        }
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(i) => *i == 0,
        Value::Float(f) => *f == 0.0,
        Value::String(x) => x.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Object(_) => false,
    }
}

fn merge_common(a: &[Value], overwrite: bool) -> Result<Value, String> {
    at_least(a, 1)?;
    let mut dst = dict(&a[0])?;
    for src in &a[1..] {
        let src = dict(src)?;
        merge_into(Arc::make_mut(&mut dst), &src, overwrite);
    }
    Ok(Value::Map(dst))
}

fn merge(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    merge_common(a, false)
}

fn merge_overwrite(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    merge_common(a, true)
}

fn keys(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let mut out = Vec::new();
    for d in a {
        out.extend(dict(d)?.keys().map(s));
    }
    Ok(Value::list(out))
}

fn pick(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    let m = dict(&a[0])?;
    let mut out = BTreeMap::new();
    for k in &a[1..] {
        let k = string(k)?;
        if let Some(v) = m.get(k) {
            out.insert(k.to_owned(), v.clone());
        }
    }
    Ok(Value::map(out))
}

fn omit(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    let m = dict(&a[0])?;
    let drop: Vec<&str> = a[1..].iter().map(string).collect::<Result<_, _>>()?;
    Ok(Value::map(
        m.iter()
            .filter(|(k, _)| !drop.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    ))
}

fn values(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let m = dict(&a[0])?;
    Ok(Value::list(m.values().cloned().collect()))
}

fn deep_copy(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(a[0].clone())
}
