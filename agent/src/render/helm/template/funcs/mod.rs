//! The function table: Go's builtins, Sprig v3's functions and Helm's.
//!
//! Each function takes the evaluated arguments (the piped value last) and returns a value
//! or a reason; the engine wraps the reason as Go does (`error calling NAME: REASON`).
//! Arguments are converted as Go converts them for the Go function's parameter types:
//! a `string` parameter refuses a number (`wrong type for value; expected string; got
//! float64`), an `interface{}` one takes anything, and Sprig's numeric functions convert
//! with `cast` (strings, floats and bools to int64).

mod builtins;
mod conv;
mod crypto;
mod dates;
mod dicts;
mod encoding;
mod helm;
mod lists;
mod math;
mod regex;
mod regex_go;
mod semver;
mod strings;
mod text;
mod time;
mod x509;

use super::Value;
use super::exec::Exec;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// A template function.
pub(crate) type Func = fn(&mut Exec<'_>, &[Value]) -> Result<Value, String>;

/// The table of every function, by name.
fn table() -> &'static HashMap<&'static str, Func> {
    static TABLE: OnceLock<HashMap<&'static str, Func>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: HashMap<&'static str, Func> = HashMap::new();
        for list in [
            builtins::FUNCS,
            strings::FUNCS,
            text::FUNCS,
            conv::FUNCS,
            lists::FUNCS,
            dicts::FUNCS,
            math::FUNCS,
            regex::FUNCS,
            encoding::FUNCS,
            semver::FUNCS,
            dates::FUNCS,
            crypto::FUNCS,
            helm::FUNCS,
        ] {
            for (name, f) in list {
                t.insert(name, *f);
            }
        }
        t
    })
}

/// The function of that name.
pub(crate) fn lookup(name: &str) -> Option<Func> {
    table().get(name).copied()
}

/// The names of every function the engine knows, sorted.
#[must_use]
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = table().keys().copied().collect();
    v.sort_unstable();
    v
}

/// Checks the number of arguments as Go does.
pub(crate) fn arity(args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("wrong number of args: want {n} got {}", args.len()));
    }
    Ok(())
}

/// Checks a minimum number of arguments (variadic functions).
pub(crate) fn at_least(args: &[Value], n: usize) -> Result<(), String> {
    if args.len() < n {
        return Err(format!(
            "wrong number of args: want at least {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

/// The marker that starts an argument type error: `\0INDEX\0GO_TYPE`; the engine turns it
/// into Go's wording for the argument's node (a literal, a field, a piped value).
pub(crate) const ARG_ERROR: char = '\0';

/// An argument of the wrong type for the Go parameter type `go_type`.
pub(crate) fn arg_error(i: usize, go_type: &str) -> String {
    format!("{ARG_ERROR}{i}{ARG_ERROR}{go_type}")
}

/// A `string` parameter.
pub(crate) fn string(a: &[Value], i: usize) -> Result<&str, String> {
    match a.get(i) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(arg_error(i, "string")),
    }
}

/// An `int` parameter (Go converts only integer kinds).
pub(crate) fn int(a: &[Value], i: usize) -> Result<i64, String> {
    match a.get(i) {
        Some(Value::Int(v)) => Ok(*v),
        _ => Err(arg_error(i, "int")),
    }
}

/// A `bool` parameter.
pub(crate) fn boolean(a: &[Value], i: usize) -> Result<bool, String> {
    match a.get(i) {
        Some(Value::Bool(b)) => Ok(*b),
        _ => Err(arg_error(i, "bool")),
    }
}

/// A `[]interface{}` parameter (a nil piped value is an empty list).
#[allow(dead_code)]
pub(crate) fn list(a: &[Value], i: usize) -> Result<Arc<Vec<Value>>, String> {
    match a.get(i) {
        Some(Value::List(l)) => Ok(l.clone()),
        Some(Value::Nil) => Err(format!(
            "{ARG_ERROR}{i}{ARG_ERROR}[]interface {{}}{ARG_ERROR}nil-ok"
        )),
        _ => Err(arg_error(i, "[]interface {}")),
    }
}

/// A `map[string]interface{}` parameter. A nil argument read straight from a map is
/// refused (Go's "wrong type for value"), a nil variable or piped value is an empty map;
/// the engine decides which by the argument's node.
pub(crate) fn dict(
    a: &[Value],
    i: usize,
) -> Result<Arc<std::collections::BTreeMap<String, Value>>, String> {
    match a.get(i) {
        Some(Value::Map(m)) => Ok(m.clone()),
        Some(Value::Nil) => Err(format!(
            "{ARG_ERROR}{i}{ARG_ERROR}map[string]interface {{}}{ARG_ERROR}nil-ok"
        )),
        _ => Err(arg_error(i, "map[string]interface {}")),
    }
}

/// Sprig's `strval`: a string as it is, anything else as Go's `%v`.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => other.to_v(),
    }
}

/// A string result.
pub(crate) fn s(v: impl AsRef<str>) -> Value {
    Value::str(v.as_ref())
}

/// `cast.ToInt64`: numbers, numeric strings and bools; anything else is 0.
pub(crate) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => {
            if f.is_nan() {
                i64::MIN
            } else {
                *f as i64
            }
        }
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => parse_int_str(s).unwrap_or(0),
        _ => 0,
    }
}

/// `cast`'s integer parsing of a string (base prefixes, a trailing `.0` allowed).
pub(crate) fn parse_int_str(s: &str) -> Option<i64> {
    let t = s
        .strip_suffix(".0")
        .map_or(s, |t| if t.is_empty() { s } else { t });
    let t = trim_zero_decimal(t);
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let body = body.replace('_', "");
    let lower = body.to_ascii_lowercase();
    let v = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8).ok()?
    } else {
        lower.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn trim_zero_decimal(s: &str) -> &str {
    let Some((int, frac)) = s.split_once('.') else {
        return s;
    };
    if !int.is_empty() && !frac.is_empty() && frac.bytes().all(|c| c == b'0') {
        int
    } else {
        s
    }
}

/// `cast.ToFloat64`: numbers, numeric strings and bools; anything else is 0.
pub(crate) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.parse::<f64>().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Go's `reflect`-style emptiness (Sprig's `empty`).
pub(crate) fn is_empty(v: &Value) -> bool {
    !v.truth()
}

/// Go's `reflect.DeepEqual` over values (Sprig's `has`, `uniq`, `without`).
pub(crate) fn builtins_eq(x: &Value, y: &Value) -> bool {
    x == y
}

/// (year, "MMDDHHMMSS") of Unix seconds, for certificate validity.
pub(crate) fn dates_time(secs: i64) -> (i64, String) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        format!(
            "{m:02}{d:02}{:02}{:02}{:02}",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        ),
    )
}
