//! Sprig's date functions on a fixed clock: `now` is [`Environment::now`], times are in
//! UTC (the `Local` zone of a render is UTC, and zone names other than `UTC` fall back to
//! UTC as Go does for an unknown zone), Go's layouts (`2006-01-02T15:04:05Z07:00`) format
//! and parse them.
//!
//! [`Environment::now`]: super::super::Environment::now

use super::super::Value;
use super::super::exec::Exec;
use super::time::{Time, days_from_civil, q};
use super::{Func, arity, s, string};
use std::fmt::Write;
use std::sync::Arc;

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("now", now),
    ("date", date),
    ("dateInZone", date_in_zone),
    ("date_in_zone", date_in_zone),
    ("htmlDate", html_date),
    ("htmlDateInZone", html_date_in_zone),
    ("dateModify", date_modify),
    ("date_modify", date_modify),
    ("mustDateModify", must_date_modify),
    ("toDate", to_date),
    ("mustToDate", must_to_date),
    ("unixEpoch", unix_epoch),
    ("ago", ago),
    ("duration", duration),
    ("durationRound", duration_round),
];

fn time_of(v: &Value) -> Option<Time> {
    match v {
        Value::Object(o) if o.type_name() == "time.Time" => {
            let secs = match o.call("Unix", &[]) {
                Some(Ok(Value::Int(i))) => i,
                _ => return None,
            };
            let nanos = match o.call("Nanosecond", &[]) {
                Some(Ok(Value::Int(i))) => i as u32,
                _ => 0,
            };
            Some(Time { secs, nanos })
        }
        _ => None,
    }
}

fn now_time(ex: &Exec<'_>) -> Time {
    Time {
        secs: ex.env.now,
        nanos: 0,
    }
}

/// A date argument as Sprig's `dateInZone` reads it: a time, or Unix seconds; anything
/// else is now.
fn date_arg(ex: &Exec<'_>, v: &Value) -> Time {
    match v {
        Value::Int(i) => Time { secs: *i, nanos: 0 },
        other => time_of(other).unwrap_or_else(|| now_time(ex)),
    }
}

fn tv(t: Time) -> Value {
    Value::Object(Arc::new(t))
}

fn now(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 0)?;
    Ok(tv(now_time(ex)))
}

fn date(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let layout = string(a, 0)?;
    Ok(s(date_arg(ex, &a[1]).format(layout)))
}

fn date_in_zone(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let layout = string(a, 0)?;
    string(a, 2)?;
    Ok(s(date_arg(ex, &a[1]).format(layout)))
}

fn html_date(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(date_arg(ex, &a[0]).format("2006-01-02")))
}

fn html_date_in_zone(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    string(a, 1)?;
    Ok(s(date_arg(ex, &a[0]).format("2006-01-02")))
}

fn time_param(a: &[Value], i: usize) -> Result<Time, String> {
    a.get(i)
        .and_then(time_of)
        .ok_or_else(|| super::arg_error(i, "time.Time"))
}

fn date_modify(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let d = string(a, 0)?;
    let t = time_param(a, 1)?;
    Ok(tv(match parse_duration(d) {
        Ok(n) => add(t, n),
        Err(_) => t,
    }))
}

fn must_date_modify(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let d = string(a, 0)?;
    let t = time_param(a, 1)?;
    Ok(tv(add(t, parse_duration(d)?)))
}

fn add(t: Time, nanos: i128) -> Time {
    let total = i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos) + nanos;
    Time {
        secs: total.div_euclid(1_000_000_000) as i64,
        nanos: total.rem_euclid(1_000_000_000) as u32,
    }
}

/// Go's zero time, `0001-01-01 00:00:00 +0000 UTC`.
fn zero_time() -> Time {
    Time {
        secs: days_from_civil(1, 1, 1) * 86_400,
        nanos: 0,
    }
}

fn to_date(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(tv(
        Time::parse(string(a, 0)?, string(a, 1)?).unwrap_or_else(|_| zero_time())
    ))
}

fn must_to_date(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(tv(Time::parse(string(a, 0)?, string(a, 1)?)?))
}

fn unix_epoch(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(time_param(a, 0)?.secs.to_string()))
}

fn ago(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let t = date_arg(ex, &a[0]);
    let since = (i128::from(ex.env.now) - i128::from(t.secs)) * 1_000_000_000 - i128::from(t.nanos);
    let rounded = (since
        + if since >= 0 {
            500_000_000
        } else {
            -500_000_000
        })
        / 1_000_000_000
        * 1_000_000_000;
    Ok(s(duration_string(rounded)))
}

/// `duration`: seconds (a string, or an int64 from Sprig's math) as Go prints a duration;
/// anything else (a template's int literal, a float from values) is 0, as in Sprig.
fn duration(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let n: i64 = match &a[0] {
        Value::String(v) => v.parse().unwrap_or(0),
        _ => 0,
    };
    Ok(s(duration_string(i128::from(n) * 1_000_000_000)))
}

fn duration_round(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let d: i128 = match &a[0] {
        Value::String(v) => parse_duration(v).unwrap_or(0),
        Value::Int(i) => i128::from(*i),
        other => match time_of(other) {
            Some(t) => (i128::from(ex.env.now) - i128::from(t.secs)) * 1_000_000_000,
            None => 0,
        },
    };
    let u = d.unsigned_abs();
    let sec: u128 = 1_000_000_000;
    let units: [(u128, &str); 6] = [
        (sec * 3600 * 24 * 365, "y"),
        (sec * 3600 * 24 * 30, "mo"),
        (sec * 3600 * 24, "d"),
        (sec * 3600, "h"),
        (sec * 60, "m"),
        (sec, "s"),
    ];
    for (size, name) in units {
        if u > size {
            return Ok(s(format!("{}{name}", u / size)));
        }
    }
    Ok(s("0s"))
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_duration(text: &str) -> Result<i128, String> {
    let orig = text;
    let bad = || format!("time: invalid duration {}", q(orig));
    let (neg, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        if n == 0 {
            return Err(bad());
        }
        let v: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .bytes()
            .take_while(|c| !c.is_ascii_digit() && *c != b'.')
            .count();
        let unit = &rest[..u];
        rest = &rest[u..];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {}", q(orig))),
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    q(unit),
                    q(orig)
                ));
            }
        };
        total += v * scale;
    }
    let n = total.round() as i128;
    Ok(if neg { -n } else { n })
}

/// Go's `Duration.String`.
pub(crate) fn duration_string(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac(u, div));
        out.push_str(unit);
    } else {
        let secs = u / 1_000_000_000;
        let h = secs / 3600;
        let m = (secs / 60) % 60;
        if h > 0 {
            let _ = write!(out, "{h}h");
        }
        if h > 0 || m > 0 {
            let _ = write!(out, "{m}m");
        }
        out.push_str(&frac(u % 60_000_000_000, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

fn frac(v: u128, div: u128) -> String {
    let whole = v / div;
    let rem = v % div;
    if rem == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let mut f = format!("{rem:0width$}");
    while f.ends_with('0') {
        f.pop();
    }
    format!("{whole}.{f}")
}
