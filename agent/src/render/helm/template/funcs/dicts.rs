//! Sprig's dictionary functions. The ones that change a dict in place in Go (`set`,
//! `unset`, `merge`, `mergeOverwrite`) record the change so that every holder of the dict
//! sees it (see `mutation`).

use super::super::exec::Exec;
use super::{Func, Value, arity, at_least, dict, s, string, strval};
use std::collections::BTreeMap;

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
    let m = dict(a, 0)?;
    let k = string(a, 1)?;
    Ok(m.get(k).cloned().unwrap_or_else(|| s("")))
}

fn set(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let m = dict(a, 0)?;
    let k = string(a, 1)?;
    let mut new = (*m).clone();
    new.insert(k.to_owned(), a[2].clone());
    let new = Value::map(new);
    ex.mutated(&a[0], &new);
    Ok(new)
}

fn unset(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let m = dict(a, 0)?;
    let k = string(a, 1)?;
    let mut new = (*m).clone();
    new.remove(k);
    let new = Value::map(new);
    ex.mutated(&a[0], &new);
    Ok(new)
}

fn has_key(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let m = dict(a, 0)?;
    Ok(Value::Bool(m.contains_key(string(a, 1)?)))
}

fn pluck(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    let k = string(a, 0)?;
    let mut out = Vec::new();
    for i in 1..a.len() {
        if let Some(v) = dict(a, i)?.get(k) {
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
    let m = dict(a, a.len() - 1)?;
    let default = a[a.len() - 2].clone();
    let keys: Vec<&str> = (0..a.len() - 2)
        .map(|i| string(a, i))
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

/// mergo's `Merge` of `src` into `dst`, as Sprig's `merge` (and, with `overwrite`,
/// `mergeOverwrite`) runs it on `map[string]interface{}`: a nil source value is skipped
/// (or, overwriting, copied); maps on both sides merge recursively, in place; a non-empty
/// destination keeps its lists and maps; otherwise the source value is taken when the
/// destination lacks the key, holds an empty value, or `overwrite` is set. Nested maps
/// changed in place are returned as (old, new) pairs, since Go changes them in place.
fn merge_into(
    dst: &mut BTreeMap<String, Value>,
    src: &BTreeMap<String, Value>,
    overwrite: bool,
    changed: &mut Vec<(Value, Value)>,
    depth: usize,
) {
    for (k, sv) in src {
        if matches!(sv, Value::Nil) {
            if overwrite {
                dst.insert(k.clone(), Value::Nil);
            }
            continue;
        }
        let dv = dst.get(k).cloned();
        if let (Value::Map(sm), Some(Value::Map(dm))) = (sv, &dv)
            && depth < 100
        {
            let mut inner = (**dm).clone();
            merge_into(&mut inner, sm, overwrite, changed, depth + 1);
            let new = Value::map(inner);
            changed.push((Value::Map(dm.clone()), new.clone()));
            dst.insert(k.clone(), new);
        }
        let dv = dst.get(k);
        if let Some(d) = dv
            && !is_empty_value(d)
        {
            if matches!(sv, Value::List(_)) && !overwrite {
                continue;
            }
            if matches!(sv, Value::Map(_)) && matches!(d, Value::Map(_)) {
                continue;
            }
        }
        if overwrite || dv.is_none_or(is_empty_value) {
            dst.insert(k.clone(), sv.clone());
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

fn merge_common(ex: &mut Exec<'_>, a: &[Value], overwrite: bool) -> Result<Value, String> {
    at_least(a, 1)?;
    let dst = dict(a, 0)?;
    let mut new = (*dst).clone();
    let mut changed = Vec::new();
    for i in 1..a.len() {
        let src = dict(a, i)?;
        merge_into(&mut new, &src, overwrite, &mut changed, 0);
    }
    let new = Value::map(new);
    for (old, n) in &changed {
        ex.mutated(old, n);
    }
    ex.mutated(&a[0], &new);
    Ok(new)
}

fn merge(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    merge_common(ex, a, false)
}

fn merge_overwrite(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    merge_common(ex, a, true)
}

fn keys(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let mut out = Vec::new();
    for i in 0..a.len() {
        out.extend(dict(a, i)?.keys().map(s));
    }
    Ok(Value::list(out))
}

fn pick(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    let m = dict(a, 0)?;
    let mut out = BTreeMap::new();
    for i in 1..a.len() {
        let k = string(a, i)?;
        if let Some(v) = m.get(k) {
            out.insert(k.to_owned(), v.clone());
        }
    }
    Ok(Value::map(out))
}

fn omit(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    let m = dict(a, 0)?;
    let drop: Vec<&str> = (1..a.len())
        .map(|i| string(a, i))
        .collect::<Result<_, _>>()?;
    Ok(Value::map(
        m.iter()
            .filter(|(k, _)| !drop.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    ))
}

fn values(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let m = dict(a, 0)?;
    Ok(Value::list(m.values().cloned().collect()))
}

fn deep_copy(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(super::super::mutation::deep_copy(&a[0]))
}
