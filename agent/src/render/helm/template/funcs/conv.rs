//! Sprig's conversions and type tests: `atoi`, `int`, `float64`, `toDecimal`, `default`,
//! `empty`, `coalesce`, `ternary`, `typeOf`, `kindIs`, ...

use super::super::exec::Exec;
use super::{Func, Value, arity, at_least, boolean, is_empty, s, string, to_f64, to_i64};

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("atoi", atoi),
    ("int", to_int),
    ("int64", to_int),
    ("float64", float64),
    ("toDecimal", to_decimal),
    ("default", default),
    ("empty", empty),
    ("coalesce", coalesce),
    ("all", all),
    ("any", any),
    ("ternary", ternary),
    ("typeOf", type_of),
    ("typeIs", type_is),
    ("typeIsLike", type_is_like),
    ("kindOf", kind_of),
    ("kindIs", kind_is),
    ("deepEqual", deep_equal),
];

fn atoi(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let v = string(a, 0)?;
    let t = v.strip_prefix('+').unwrap_or(v);
    Ok(Value::Int(t.parse::<i64>().unwrap_or(0)))
}

fn to_int(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(Value::Int(to_i64(&a[0])))
}

fn float64(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(Value::Float(to_f64(&a[0])))
}

fn to_decimal(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let v = super::strval(&a[0]);
    Ok(Value::Int(i64::from_str_radix(&v, 8).unwrap_or(0)))
}

fn default(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    if a.len() == 1 || is_empty(&a[1]) {
        return Ok(a[0].clone());
    }
    Ok(a[1].clone())
}

fn empty(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(Value::Bool(is_empty(&a[0])))
}

fn coalesce(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(a.iter()
        .find(|v| !is_empty(v))
        .cloned()
        .unwrap_or(Value::Nil))
}

fn all(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(a.iter().all(|v| !is_empty(v))))
}

fn any(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(a.iter().any(|v| !is_empty(v))))
}

fn ternary(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    Ok(if boolean(a, 2)? {
        a[0].clone()
    } else {
        a[1].clone()
    })
}

fn type_of(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(a[0].type_name()))
}

fn type_is(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(Value::Bool(string(a, 0)? == a[1].type_name()))
}

fn type_is_like(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let t = string(a, 0)?;
    let name = a[1].type_name();
    Ok(Value::Bool(t == name || t == format!("*{name}")))
}

fn kind_of(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(a[0].kind_name()))
}

fn kind_is(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(Value::Bool(string(a, 0)? == a[1].kind_name()))
}

fn deep_equal(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(Value::Bool(a[0] == a[1]))
}
