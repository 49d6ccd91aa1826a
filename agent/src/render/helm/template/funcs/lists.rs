//! Sprig's list functions. Each has a `must` variant that fails where the plain one
//! would panic in Go (which the template engine reports as an error too).

use super::super::exec::Exec;
use super::builtins_eq;
use super::{Func, Value, arity, at_least, int, s, strval, to_i64};

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("list", list),
    ("tuple", list),
    ("first", first),
    ("mustFirst", first),
    ("rest", rest),
    ("mustRest", rest),
    ("last", last),
    ("mustLast", last),
    ("initial", initial),
    ("mustInitial", initial),
    ("append", append),
    ("push", append),
    ("mustAppend", append),
    ("mustPush", append),
    ("prepend", prepend),
    ("mustPrepend", prepend),
    ("concat", concat),
    ("reverse", reverse),
    ("mustReverse", reverse),
    ("uniq", uniq),
    ("mustUniq", uniq),
    ("without", without),
    ("mustWithout", without),
    ("has", has),
    ("mustHas", has),
    ("compact", compact),
    ("mustCompact", compact),
    ("slice", slice),
    ("mustSlice", slice),
    ("chunk", chunk),
    ("mustChunk", chunk),
    ("until", until),
    ("untilStep", until_step),
    ("seq", seq),
];

/// A list-like argument: Sprig accepts slices and arrays, and fails on anything else.
fn items(v: &Value, fname: &str) -> Result<Vec<Value>, String> {
    if let Value::Object(o) = v
        && let Some(l) = o.as_list()
    {
        return Ok(l);
    }
    match v {
        Value::List(l) => Ok(l.as_ref().clone()),
        Value::Nil => Err(format!("Cannot find {fname} on type <nil>")),
        other => Err(format!("Cannot find {fname} on type {}", other.kind_name())),
    }
}

fn list(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::list(a.to_vec()))
}

fn first(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let l = items(&a[0], "first")?;
    Ok(l.first().cloned().unwrap_or(Value::Nil))
}

fn rest(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let l = items(&a[0], "rest")?;
    if l.is_empty() {
        return Ok(Value::list(Vec::new()));
    }
    Ok(Value::list(l[1..].to_vec()))
}

fn last(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let l = items(&a[0], "last")?;
    Ok(l.last().cloned().unwrap_or(Value::Nil))
}

fn initial(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let l = items(&a[0], "initial")?;
    if l.is_empty() {
        return Ok(Value::list(Vec::new()));
    }
    Ok(Value::list(l[..l.len() - 1].to_vec()))
}

fn append(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let mut l = items(&a[0], "append")?;
    l.push(a[1].clone());
    Ok(Value::list(l))
}

fn prepend(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let mut l = items(&a[0], "prepend")?;
    l.insert(0, a[1].clone());
    Ok(Value::list(l))
}

fn concat(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let mut out = Vec::new();
    for v in a {
        out.extend(items(v, "concat")?);
    }
    Ok(Value::list(out))
}

fn reverse(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let mut l = items(&a[0], "reverse")?;
    l.reverse();
    Ok(Value::list(l))
}

/// Go's `reflect.DeepEqual` as Sprig uses it for `has`, `uniq` and `without`.
fn deep_eq(x: &Value, y: &Value) -> bool {
    builtins_eq(x, y)
}

fn uniq(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let l = items(&a[0], "uniq")?;
    let mut out: Vec<Value> = Vec::new();
    for v in l {
        if !out.iter().any(|o| deep_eq(o, &v)) {
            out.push(v);
        }
    }
    Ok(Value::list(out))
}

fn without(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    let l = items(&a[0], "without")?;
    let omit = &a[1..];
    Ok(Value::list(
        l.into_iter()
            .filter(|v| !omit.iter().any(|o| deep_eq(o, v)))
            .collect(),
    ))
}

fn has(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let l = match &a[1] {
        Value::Nil => return Ok(Value::Bool(false)),
        v => items(v, "has")?,
    };
    Ok(Value::Bool(l.iter().any(|v| deep_eq(v, &a[0]))))
}

fn compact(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let l = items(&a[0], "compact")?;
    Ok(Value::list(l.into_iter().filter(|v| v.truth()).collect()))
}

fn slice(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    let l = match &a[0] {
        Value::List(l) => l.clone(),
        other => {
            return Err(format!(
                "list should be type of slice or array but {}",
                other.kind_name()
            ));
        }
    };
    let n = l.len() as i64;
    let start = if a.len() > 1 { to_i64(&a[1]) } else { 0 };
    let end = if a.len() > 2 { to_i64(&a[2]) } else { n };
    if start < 0 || end > n || start > end {
        return Err(format!(
            "runtime error: slice bounds out of range [{start}:{end}] with capacity {n}"
        ));
    }
    Ok(Value::list(l[start as usize..end as usize].to_vec()))
}

fn chunk(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let size = int(a, 0)?;
    let l = items(&a[1], "chunk")?;
    if size <= 0 {
        return Err("runtime error: integer divide by zero".to_owned());
    }
    Ok(Value::list(
        l.chunks(size as usize)
            .map(|c| Value::list(c.to_vec()))
            .collect(),
    ))
}

fn until_step_vals(start: i64, stop: i64, step: i64) -> Result<Vec<Value>, String> {
    let mut v = Vec::new();
    if step == 0 {
        return Ok(v);
    }
    let count = ((stop - start) / step).max(0);
    if count > 10_000_000 {
        return Err(format!("until would make {count} items"));
    }
    let mut i = start;
    if step > 0 {
        while i < stop {
            v.push(Value::Int(i));
            i += step;
        }
    } else {
        while i > stop {
            v.push(Value::Int(i));
            i += step;
        }
    }
    Ok(v)
}

fn until(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let n = int(a, 0)?;
    let step = if n < 0 { -1 } else { 1 };
    Ok(Value::list(until_step_vals(0, n, step)?))
}

fn until_step(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    Ok(Value::list(until_step_vals(
        int(a, 0)?,
        int(a, 1)?,
        int(a, 2)?,
    )?))
}

fn seq(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let p: Vec<i64> = a.iter().map(to_i64).collect();
    let (start, step, end) = match p.as_slice() {
        [] => return Ok(s("")),
        [e] => (1, if *e < 1 { -1 } else { 1 }, *e),
        [st, e] => (*st, if st > e { -1 } else { 1 }, *e),
        [st, sp, e] => (*st, *sp, *e),
        _ => {
            return Err(format!(
                "wrong number of args: want at most 3 got {}",
                p.len()
            ));
        }
    };
    if (end - start).unsigned_abs() / step.unsigned_abs().max(1) > 10_000_000 {
        return Err("seq would make too many items".to_owned());
    }
    let mut out = Vec::new();
    if step == 0 || (end > start && step < 0) || (end < start && step > 0) {
        return Ok(s(""));
    }
    let mut i = start;
    if step > 0 {
        while i <= end {
            out.push(i.to_string());
            i += step;
        }
    } else {
        while i >= end {
            out.push(i.to_string());
            i += step;
        }
    }
    let _ = strval;
    Ok(s(out.join(" ")))
}
