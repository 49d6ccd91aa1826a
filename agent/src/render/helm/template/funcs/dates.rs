//! Sprig's date functions on a fixed clock: `now` is [`Environment::now`], times are in
//! UTC (the `Local` zone of a render is UTC, and zone names other than `UTC` fall back to
//! UTC as Go does for an unknown zone), Go's layouts (`2006-01-02T15:04:05Z07:00`) format
//! and parse them.
//!
//! [`Environment::now`]: super::super::Environment::now

use super::super::exec::Exec;
use super::super::{Object, Value};
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

/// A Go `time.Time` in UTC.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Time {
    secs: i64,
    nanos: u32,
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// The layout elements Go recognises, longest first where they share a prefix.
const TOKENS: &[&str] = &[
    "January", "Jan", "Monday", "Mon", "MST", "2006", "002", "01", "02", "03", "04", "05", "06", "__2", "_2", "15", "1",
    "2", "3", "4", "5", "PM", "pm", "-07:00:00", "-070000", "-07:00", "-0700", "-07", "Z07:00:00", "Z070000",
    "Z07:00", "Z0700", "Z07",
];

/// Splits a layout into literal text and elements (fractional seconds `.000`/`.999`).
fn chunks(layout: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let b = layout.as_bytes();
    let mut i = 0;
    while i < layout.len() {
        let rest = &layout[i..];
        if (rest.starts_with(".0") || rest.starts_with(".9") || rest.starts_with(",0") || rest.starts_with(",9"))
            && {
                let d = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == d {
                    j += 1;
                }
                !(j < b.len() && b[j].is_ascii_digit())
            }
        {
            let d = b[i + 1];
            let mut j = i + 1;
            while j < b.len() && b[j] == d {
                j += 1;
            }
            if !lit.is_empty() {
                out.push((false, std::mem::take(&mut lit)));
            }
            out.push((true, layout[i..j].to_owned()));
            i = j;
            continue;
        }
        if let Some(t) = TOKENS.iter().find(|t| rest.starts_with(**t)) {
            // "Jan"/"Mon" must not continue with a lowercase letter ("Janet").
            let word = matches!(*t, "Jan" | "Mon" | "January" | "Monday");
            let next = rest[t.len()..].chars().next();
            if !(word && next.is_some_and(|c| c.is_ascii_lowercase())) {
                if !lit.is_empty() {
                    out.push((false, std::mem::take(&mut lit)));
                }
                out.push((true, (*t).to_owned()));
                i += t.len();
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        lit.push(c);
        i += c.len_utf8();
    }
    if !lit.is_empty() {
        out.push((false, lit));
    }
    out
}

impl Time {
    fn parts(&self) -> (i64, u32, u32, u32, u32, u32, usize, u32) {
        let days = self.secs.div_euclid(86_400);
        let sod = self.secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil(days);
        let wd = (days + 4).rem_euclid(7) as usize;
        let yday = (days - days_from_civil(y, 1, 1) + 1) as u32;
        (y, m, d, sod / 3600, (sod / 60) % 60, sod % 60, wd, yday)
    }

    /// Go's `Time.Format`.
    pub(crate) fn format(&self, layout: &str) -> String {
        let (y, mo, d, h, mi, se, wd, yday) = self.parts();
        let mut out = String::new();
        for (elem, text) in chunks(layout) {
            if !elem {
                out.push_str(&text);
                continue;
            }
            let h12 = if h % 12 == 0 { 12 } else { h % 12 };
            let _ = match text.as_str() {
                "January" => write!(out, "{}", MONTHS[(mo - 1) as usize]),
                "Jan" => write!(out, "{}", &MONTHS[(mo - 1) as usize][..3]),
                "Monday" => write!(out, "{}", DAYS[wd]),
                "Mon" => write!(out, "{}", &DAYS[wd][..3]),
                "MST" => write!(out, "UTC"),
                "2006" => write!(out, "{y:04}"),
                "06" => write!(out, "{:02}", y.rem_euclid(100)),
                "01" => write!(out, "{mo:02}"),
                "1" => write!(out, "{mo}"),
                "02" => write!(out, "{d:02}"),
                "_2" => write!(out, "{d:>2}"),
                "2" => write!(out, "{d}"),
                "002" => write!(out, "{yday:03}"),
                "__2" => write!(out, "{yday:>3}"),
                "15" => write!(out, "{h:02}"),
                "03" => write!(out, "{h12:02}"),
                "3" => write!(out, "{h12}"),
                "04" => write!(out, "{mi:02}"),
                "4" => write!(out, "{mi}"),
                "05" => write!(out, "{se:02}"),
                "5" => write!(out, "{se}"),
                "PM" => write!(out, "{}", if h >= 12 { "PM" } else { "AM" }),
                "pm" => write!(out, "{}", if h >= 12 { "pm" } else { "am" }),
                t if t.starts_with('Z') => write!(out, "Z"),
                "-07:00:00" => write!(out, "+00:00:00"),
                "-070000" => write!(out, "+000000"),
                "-07:00" => write!(out, "+00:00"),
                "-0700" => write!(out, "+0000"),
                "-07" => write!(out, "+00"),
                t if t.starts_with(['.', ',']) => {
                    let n = t.len() - 1;
                    let digits = format!("{:09}", self.nanos);
                    let mut frac = digits[..n.min(9)].to_owned();
                    if t.as_bytes()[1] == b'9' {
                        while frac.ends_with('0') {
                            frac.pop();
                        }
                        if !frac.is_empty() {
                            out.push(t.as_bytes()[0] as char);
                        }
                    } else {
                        out.push(t.as_bytes()[0] as char);
                    }
                    write!(out, "{frac}")
                }
                other => write!(out, "{other}"),
            };
        }
        out
    }

    /// Go's `time.Parse` for the numeric and name elements of a layout.
    pub(crate) fn parse(layout: &str, value: &str) -> Result<Time, String> {
        let err = |elem: &str, rest: &str| {
            format!("parsing time {} as {}: cannot parse {} as {}", q(value), q(layout), q(rest), q(elem))
        };
        let (mut y, mut mo, mut d, mut h, mut mi, mut se, mut nanos, mut off) = (1i64, 1u32, 1u32, 0u32, 0u32, 0u32, 0u32, 0i64);
        let mut pm: Option<bool> = None;
        let mut rest = value;
        for (elem, text) in chunks(layout) {
            if !elem {
                rest = rest.strip_prefix(text.as_str()).ok_or_else(|| err(&text, rest))?;
                continue;
            }
            let num = |rest: &str, min: usize, max: usize| -> Option<(u32, usize)> {
                let n = rest.bytes().take(max).take_while(u8::is_ascii_digit).count();
                if n < min {
                    return None;
                }
                rest[..n].parse().ok().map(|v| (v, n))
            };
            let t = text.as_str();
            let (consumed, ok) = match t {
                "2006" => num(rest, 4, 4).map(|(v, n)| { y = i64::from(v); n }).map_or((0, false), |n| (n, true)),
                "06" => num(rest, 2, 2).map(|(v, n)| { y = i64::from(v) + if v >= 69 { 1900 } else { 2000 }; n }).map_or((0, false), |n| (n, true)),
                "01" | "1" => num(rest, if t == "01" { 2 } else { 1 }, 2).map(|(v, n)| { mo = v; n }).map_or((0, false), |n| (n, true)),
                "02" | "2" | "_2" => {
                    let r = if t == "_2" { rest.strip_prefix(' ').unwrap_or(rest) } else { rest };
                    let skip = rest.len() - r.len();
                    num(r, if t == "02" { 2 } else { 1 }, 2).map(|(v, n)| { d = v; n + skip }).map_or((0, false), |n| (n, true))
                }
                "15" | "03" | "3" => num(rest, if t == "3" { 1 } else { 2 }, 2).map(|(v, n)| { h = v; n }).map_or((0, false), |n| (n, true)),
                "04" | "4" => num(rest, if t == "4" { 1 } else { 2 }, 2).map(|(v, n)| { mi = v; n }).map_or((0, false), |n| (n, true)),
                "05" | "5" => {
                    match num(rest, if t == "5" { 1 } else { 2 }, 2) {
                        Some((v, n)) => {
                            se = v;
                            // Go accepts a fraction after seconds even when the layout has none.
                            let after = &rest[n..];
                            if after.starts_with('.') && after[1..].starts_with(|c: char| c.is_ascii_digit()) {
                                let f = after[1..].bytes().take_while(u8::is_ascii_digit).count();
                                let digits = format!("{:0<9}", &after[1..1 + f.min(9)]);
                                nanos = digits.parse().unwrap_or(0);
                                (n + 1 + f, true)
                            } else {
                                (n, true)
                            }
                        }
                        None => (0, false),
                    }
                }
                "PM" | "pm" => {
                    let p = rest.get(..2).map(str::to_ascii_uppercase);
                    match p.as_deref() {
                        Some("PM") => { pm = Some(true); (2, true) }
                        Some("AM") => { pm = Some(false); (2, true) }
                        _ => (0, false),
                    }
                }
                "January" | "Jan" => {
                    let long = t == "January";
                    match MONTHS.iter().position(|m| rest.starts_with(if long { m } else { &m[..3] })) {
                        Some(i) => { mo = i as u32 + 1; (if long { MONTHS[i].len() } else { 3 }, true) }
                        None => (0, false),
                    }
                }
                "Monday" | "Mon" => {
                    let long = t == "Monday";
                    match DAYS.iter().find(|w| rest.starts_with(if long { w } else { &w[..3] })) {
                        Some(w) => (if long { w.len() } else { 3 }, true),
                        None => (0, false),
                    }
                }
                "MST" => {
                    let n = rest.bytes().take_while(u8::is_ascii_uppercase).count();
                    (n, n >= 3)
                }
                _ if t.starts_with(['Z', '-']) => {
                    if t.starts_with('Z') && rest.starts_with('Z') {
                        (1, true)
                    } else {
                        match parse_offset(rest, t) {
                            Some((o, n)) => { off = o; (n, true) }
                            None => (0, false),
                        }
                    }
                }
                _ if t.starts_with(['.', ',']) => {
                    let f = rest[1.min(rest.len())..].bytes().take_while(u8::is_ascii_digit).count();
                    if rest.starts_with(['.', ',']) && f > 0 {
                        let digits = format!("{:0<9}", &rest[1..1 + f.min(9)]);
                        nanos = digits.parse().unwrap_or(0);
                        (1 + f, true)
                    } else if t.as_bytes()[1] == b'9' {
                        (0, true)
                    } else {
                        (0, false)
                    }
                }
                _ => (0, false),
            };
            if !ok {
                return Err(err(t, rest));
            }
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            return Err(format!("parsing time {}: extra text: {}", q(value), q(rest)));
        }
        if let Some(p) = pm {
            if p && h < 12 {
                h += 12;
            } else if !p && h == 12 {
                h = 0;
            }
        }
        if !(1..=12).contains(&mo) || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59 {
            return Err(format!("parsing time {}: value out of range", q(value)));
        }
        let days = days_from_civil(y, mo, d);
        let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(se) - off;
        Ok(Time { secs, nanos })
    }
}

fn q(s: &str) -> String {
    super::super::print::go_quote(s)
}

fn parse_offset(rest: &str, elem: &str) -> Option<(i64, usize)> {
    let sign = match rest.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = elem.trim_start_matches(['Z', '-']);
    let colon = body.contains(':');
    let want = body.len();
    let s = rest.get(1..1 + want)?;
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if digits.len() != body.chars().filter(char::is_ascii_digit).count() {
        return None;
    }
    if colon && !s.contains(':') {
        return None;
    }
    let hh: i64 = digits.get(0..2)?.parse().ok()?;
    let mm: i64 = digits.get(2..4).and_then(|x| x.parse().ok()).unwrap_or(0);
    let ss: i64 = digits.get(4..6).and_then(|x| x.parse().ok()).unwrap_or(0);
    Some((sign * (hh * 3600 + mm * 60 + ss), 1 + want))
}

impl Object for Time {
    fn type_name(&self) -> &str {
        "time.Time"
    }

    fn field(&self, _name: &str) -> Option<Value> {
        None
    }

    fn call(&self, method: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let (y, mo, d, h, mi, se, wd, yday) = self.parts();
        Some(Ok(match method {
            "Unix" => Value::Int(self.secs),
            "UnixNano" => Value::Int(self.secs.saturating_mul(1_000_000_000).saturating_add(i64::from(self.nanos))),
            "Year" => Value::Int(y),
            "Month" => Value::Int(i64::from(mo)),
            "Day" => Value::Int(i64::from(d)),
            "Hour" => Value::Int(i64::from(h)),
            "Minute" => Value::Int(i64::from(mi)),
            "Second" => Value::Int(i64::from(se)),
            "Nanosecond" => Value::Int(i64::from(self.nanos)),
            "YearDay" => Value::Int(i64::from(yday)),
            "Weekday" => s(DAYS[wd]),
            "UTC" | "Local" => Value::Object(Arc::new(*self)),
            "Format" => match args.first() {
                Some(Value::String(l)) => s(self.format(l)),
                _ => return Some(Err("wrong type for value; expected string".to_owned())),
            },
            "String" => s(self.display().unwrap_or_default()),
            _ => return None,
        }))
    }

    fn display(&self) -> Option<String> {
        Some(self.format("2006-01-02 15:04:05.999999999 -0700 MST"))
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.format("2006-01-02T15:04:05.999999999Z07:00"))
    }
}

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
    Time { secs: ex.env.now, nanos: 0 }
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
    a.get(i).and_then(time_of).ok_or_else(|| super::arg_error(i, "time.Time"))
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
    Time { secs: total.div_euclid(1_000_000_000) as i64, nanos: total.rem_euclid(1_000_000_000) as u32 }
}

/// Go's zero time, `0001-01-01 00:00:00 +0000 UTC`.
fn zero_time() -> Time {
    Time { secs: days_from_civil(1, 1, 1) * 86_400, nanos: 0 }
}

fn to_date(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(tv(Time::parse(string(a, 0)?, string(a, 1)?).unwrap_or_else(|_| zero_time())))
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
    let rounded = (since + if since >= 0 { 500_000_000 } else { -500_000_000 }) / 1_000_000_000 * 1_000_000_000;
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
        let n = rest.bytes().take_while(|c| c.is_ascii_digit() || *c == b'.').count();
        if n == 0 {
            return Err(bad());
        }
        let v: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest.bytes().take_while(|c| !c.is_ascii_digit() && *c != b'.').count();
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
            _ => return Err(format!("time: unknown unit {} in duration {}", q(unit), q(orig))),
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
        let (unit, div) = if u < 1_000 { ("ns", 1) } else if u < 1_000_000 { ("µs", 1_000) } else { ("ms", 1_000_000) };
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
