//! Go's `time.Time` in UTC for Sprig's date functions: calendar arithmetic, `Format` and
//! `Parse` with Go's reference layouts (`2006-01-02T15:04:05Z07:00`).

use super::super::{Object, Value};
use super::s;
use std::fmt::Write;
use std::sync::Arc;

/// A Go `time.Time` in UTC.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Time {
    /// Seconds since the epoch.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
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
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The layout elements Go recognises, longest first where they share a prefix.
const TOKENS: &[&str] = &[
    "January",
    "Jan",
    "Monday",
    "Mon",
    "MST",
    "2006",
    "002",
    "01",
    "02",
    "03",
    "04",
    "05",
    "06",
    "__2",
    "_2",
    "15",
    "1",
    "2",
    "3",
    "4",
    "5",
    "PM",
    "pm",
    "-07:00:00",
    "-070000",
    "-07:00",
    "-0700",
    "-07",
    "Z07:00:00",
    "Z070000",
    "Z07:00",
    "Z0700",
    "Z07",
];

/// Splits a layout into literal text and elements (fractional seconds `.000`/`.999`).
fn chunks(layout: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let b = layout.as_bytes();
    let mut i = 0;
    while i < layout.len() {
        let rest = &layout[i..];
        if (rest.starts_with(".0")
            || rest.starts_with(".9")
            || rest.starts_with(",0")
            || rest.starts_with(",9"))
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
            format!(
                "parsing time {} as {}: cannot parse {} as {}",
                q(value),
                q(layout),
                q(rest),
                q(elem)
            )
        };
        let mut f = Fields {
            y: 1,
            mo: 1,
            d: 1,
            ..Fields::default()
        };
        let mut rest = value;
        for (elem, text) in chunks(layout) {
            let consumed = if elem {
                parse_elem(&text, rest, &mut f)
            } else {
                rest.starts_with(text.as_str()).then_some(text.len())
            };
            let Some(n) = consumed else {
                return Err(err(&text, rest));
            };
            rest = &rest[n..];
        }
        if !rest.is_empty() {
            return Err(format!(
                "parsing time {}: extra text: {}",
                q(value),
                q(rest)
            ));
        }
        match f.pm {
            Some(true) if f.h < 12 => f.h += 12,
            Some(false) if f.h == 12 => f.h = 0,
            _ => {}
        }
        if !(1..=12).contains(&f.mo)
            || !(1..=31).contains(&f.d)
            || f.h > 23
            || f.mi > 59
            || f.se > 59
        {
            return Err(format!("parsing time {}: value out of range", q(value)));
        }
        let days = days_from_civil(f.y, f.mo, f.d);
        let secs =
            days * 86_400 + i64::from(f.h) * 3600 + i64::from(f.mi) * 60 + i64::from(f.se) - f.off;
        Ok(Time {
            secs,
            nanos: f.nanos,
        })
    }
}

/// The fields a layout's elements set while parsing.
#[derive(Default)]
struct Fields {
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    se: u32,
    nanos: u32,
    off: i64,
    pm: Option<bool>,
}

/// Reads up to `max` digits (at least `min`).
fn num(rest: &str, min: usize, max: usize) -> Option<(u32, usize)> {
    let n = rest
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_digit)
        .count();
    if n < min {
        return None;
    }
    rest[..n].parse().ok().map(|v| (v, n))
}

/// Reads a fraction of a second (`.123`), if there is one.
fn fraction(rest: &str) -> Option<(u32, usize)> {
    let digits = rest.strip_prefix(['.', ','])?;
    let f = digits.bytes().take_while(u8::is_ascii_digit).count();
    if f == 0 {
        return None;
    }
    let padded = format!("{:0<9}", &digits[..f.min(9)]);
    Some((padded.parse().unwrap_or(0), 1 + f))
}

/// Parses one layout element at the start of `rest`; returns the bytes consumed.
fn parse_elem(t: &str, rest: &str, f: &mut Fields) -> Option<usize> {
    let width = |two: &str| if t == two { 2 } else { 1 };
    match t {
        "2006" => num(rest, 4, 4).map(|(v, n)| {
            f.y = i64::from(v);
            n
        }),
        "06" => num(rest, 2, 2).map(|(v, n)| {
            f.y = i64::from(v) + if v >= 69 { 1900 } else { 2000 };
            n
        }),
        "01" | "1" => num(rest, width("01"), 2).map(|(v, n)| {
            f.mo = v;
            n
        }),
        "02" | "2" | "_2" => {
            let r = if t == "_2" {
                rest.strip_prefix(' ').unwrap_or(rest)
            } else {
                rest
            };
            let skip = rest.len() - r.len();
            num(r, width("02"), 2).map(|(v, n)| {
                f.d = v;
                n + skip
            })
        }
        "15" | "03" | "3" => num(rest, if t == "3" { 1 } else { 2 }, 2).map(|(v, n)| {
            f.h = v;
            n
        }),
        "04" | "4" => num(rest, width("04"), 2).map(|(v, n)| {
            f.mi = v;
            n
        }),
        "05" | "5" => {
            let (v, n) = num(rest, width("05"), 2)?;
            f.se = v;
            // Go accepts a fraction after seconds even when the layout has none.
            match fraction(&rest[n..]).filter(|_| rest[n..].starts_with('.')) {
                Some((nanos, m)) => {
                    f.nanos = nanos;
                    Some(n + m)
                }
                None => Some(n),
            }
        }
        "PM" | "pm" => {
            let p = rest.get(..2).map(str::to_ascii_uppercase);
            f.pm = Some(match p.as_deref() {
                Some("PM") => true,
                Some("AM") => false,
                _ => return None,
            });
            Some(2)
        }
        "January" | "Jan" => {
            let long = t == "January";
            let i = MONTHS
                .iter()
                .position(|m| rest.starts_with(if long { m } else { &m[..3] }))?;
            f.mo = i as u32 + 1;
            Some(if long { MONTHS[i].len() } else { 3 })
        }
        "Monday" | "Mon" => {
            let long = t == "Monday";
            let w = DAYS
                .iter()
                .find(|w| rest.starts_with(if long { w } else { &w[..3] }))?;
            Some(if long { w.len() } else { 3 })
        }
        "MST" => {
            let n = rest.bytes().take_while(u8::is_ascii_uppercase).count();
            (n >= 3).then_some(n)
        }
        _ if t.starts_with('Z') && rest.starts_with('Z') => Some(1),
        _ if t.starts_with(['Z', '-']) => {
            let (o, n) = parse_offset(rest, t)?;
            f.off = o;
            Some(n)
        }
        _ if t.starts_with(['.', ',']) => match fraction(rest) {
            Some((nanos, n)) => {
                f.nanos = nanos;
                Some(n)
            }
            None => (t.as_bytes()[1] == b'9').then_some(0),
        },
        _ => None,
    }
}

pub(crate) fn q(s: &str) -> String {
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
            "UnixNano" => Value::Int(
                self.secs
                    .saturating_mul(1_000_000_000)
                    .saturating_add(i64::from(self.nanos)),
            ),
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
