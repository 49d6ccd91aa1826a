//! Sprig's math: integer (`add`, `sub`, `mul`, `div`, `mod`, `max`, `min`, ...) and
//! float (`addf`, `floor`, `round`, ...) functions.

use super::super::exec::Exec;
use super::{Func, Value, arity, at_least, to_f64, to_i64};

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("add", add),
    ("add1", add1),
    ("sub", sub),
    ("mul", mul),
    ("div", div),
    ("mod", modulo),
    ("max", max),
    ("min", min),
    ("biggest", max),
    ("addf", addf),
    ("add1f", add1f),
    ("subf", subf),
    ("mulf", mulf),
    ("divf", divf),
    ("maxf", maxf),
    ("minf", minf),
    ("floor", floor),
    ("ceil", ceil),
    ("round", round),
];

fn add(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::Int(
        a.iter().map(to_i64).fold(0i64, i64::wrapping_add),
    ))
}

fn add1(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(Value::Int(to_i64(&a[0]).wrapping_add(1)))
}

fn sub(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(Value::Int(to_i64(&a[0]).wrapping_sub(to_i64(&a[1]))))
}

fn mul(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    Ok(Value::Int(
        a.iter().map(to_i64).fold(1i64, i64::wrapping_mul),
    ))
}

fn div(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let d = to_i64(&a[1]);
    if d == 0 {
        return Err("runtime error: integer divide by zero".to_owned());
    }
    Ok(Value::Int(to_i64(&a[0]).wrapping_div(d)))
}

fn modulo(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let d = to_i64(&a[1]);
    if d == 0 {
        return Err("runtime error: integer divide by zero".to_owned());
    }
    Ok(Value::Int(to_i64(&a[0]).wrapping_rem(d)))
}

fn max(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    Ok(Value::Int(a.iter().map(to_i64).max().unwrap_or(0)))
}

fn min(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    Ok(Value::Int(a.iter().map(to_i64).min().unwrap_or(0)))
}

/// A float as shopspring/decimal holds it: the shortest decimal digits.
fn decimal(f: f64) -> (i128, i32) {
    let s = format!("{f:e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let neg = m.starts_with('-');
    let digits: String = m.chars().filter(char::is_ascii_digit).collect();
    let frac = digits.len() as i32 - 1;
    let mant: i128 = digits.parse().unwrap_or(0);
    (if neg { -mant } else { mant }, e - frac)
}

fn align(a: (i128, i32), b: (i128, i32)) -> Option<(i128, i128, i32)> {
    let exp = a.1.min(b.1);
    let sa = 10i128.checked_pow((a.1 - exp) as u32)?;
    let sb = 10i128.checked_pow((b.1 - exp) as u32)?;
    Some((a.0.checked_mul(sa)?, b.0.checked_mul(sb)?, exp))
}

fn to_float(m: i128, e: i32) -> f64 {
    format!("{m}e{e}").parse().unwrap_or(0.0)
}

/// Decimal arithmetic as Sprig's `addf`/`subf`/`mulf` do it, falling back to floats
/// when the exact value would not fit.
fn decimal_op(
    a: &[Value],
    init: Option<f64>,
    op: fn(i128, i128) -> Option<i128>,
    fop: fn(f64, f64) -> f64,
    is_mul: bool,
) -> Value {
    let mut vals = a.iter().map(to_f64);
    let first = match init {
        Some(i) => i,
        None => vals.next().unwrap_or(0.0),
    };
    let mut acc = decimal(first);
    let mut facc = first;
    let mut exact = true;
    for v in vals {
        facc = fop(facc, v);
        if !exact {
            continue;
        }
        let d = decimal(v);
        let r = if is_mul {
            acc.0.checked_mul(d.0).map(|m| (m, acc.1 + d.1))
        } else {
            align(acc, d).and_then(|(x, y, e)| op(x, y).map(|m| (m, e)))
        };
        match r {
            Some(r) => acc = r,
            None => exact = false,
        }
    }
    Value::Float(if exact { to_float(acc.0, acc.1) } else { facc })
}

fn addf(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(decimal_op(
        a,
        Some(0.0),
        i128::checked_add,
        |x, y| x + y,
        false,
    ))
}

fn add1f(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(decimal_op(
        &[a[0].clone(), Value::Float(1.0)],
        None,
        i128::checked_add,
        |x, y| x + y,
        false,
    ))
}

fn subf(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    Ok(decimal_op(a, None, i128::checked_sub, |x, y| x - y, false))
}

fn mulf(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(decimal_op(
        a,
        Some(1.0),
        i128::checked_mul,
        |x, y| x * y,
        true,
    ))
}

fn divf(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    let mut vals = a.iter().map(to_f64);
    let mut acc = vals.next().unwrap_or(0.0);
    for v in vals {
        if v == 0.0 {
            return Err("decimal division by 0".to_owned());
        }
        acc /= v;
    }
    // shopspring rounds quotients to 16 digits after the point.
    let r = format!("{acc:.16}").parse().unwrap_or(acc);
    Ok(Value::Float(r))
}

fn maxf(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    Ok(Value::Float(
        a.iter().map(to_f64).fold(f64::NEG_INFINITY, f64::max),
    ))
}

fn minf(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    Ok(Value::Float(
        a.iter().map(to_f64).fold(f64::INFINITY, f64::min),
    ))
}

fn floor(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(Value::Float(to_f64(&a[0]).floor()))
}

fn ceil(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(Value::Float(to_f64(&a[0]).ceil()))
}

fn round(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    at_least(a, 2)?;
    let v = to_f64(&a[0]);
    let places = super::int(a, 1)?;
    let half = if a.len() > 2 { to_f64(&a[2]) } else { 0.5 };
    let pow = 10f64.powi(places as i32);
    let digit = pow * v;
    let r = if digit.fract() >= half {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(Value::Float(r / pow))
}
