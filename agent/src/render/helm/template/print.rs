//! Go's `fmt` for template values: `%v` of floats, `strconv.Quote`, and `printf` verbs.

use super::Value;
use std::fmt::Write;

/// Splits a finite float into its decimal digits and the position of the decimal point
/// (`0.d1d2... * 10^dp`), shortest (`prec == None`) or rounded to `prec` significant digits.
fn digits(f: f64, prec: Option<usize>) -> (String, i32) {
    let s = match prec {
        None => format!("{:e}", f.abs()),
        Some(p) => format!("{:.*e}", p.saturating_sub(1), f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: String = mant.chars().filter(char::is_ascii_digit).collect();
    while d.len() > 1 && d.ends_with('0') {
        d.pop();
    }
    if d == "0" {
        return (d, 1);
    }
    (d, exp + 1)
}

fn special(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f == f64::INFINITY {
        Some("+Inf")
    } else if f == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// `%e` from digits.
fn fmt_e(neg: bool, d: &str, dp: i32, prec: usize, upper: bool) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let mut chars = d.chars();
    out.push(chars.next().unwrap_or('0'));
    if prec > 0 {
        out.push('.');
        let rest: String = chars.collect();
        out.push_str(&rest);
        for _ in rest.len()..prec {
            out.push('0');
        }
    }
    let exp = if d == "0" { 0 } else { dp - 1 };
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.abs());
    out
}

/// `%f` from digits.
fn fmt_f(neg: bool, d: &str, dp: i32, prec: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let db = d.as_bytes();
    if dp > 0 {
        for i in 0..dp as usize {
            out.push(db.get(i).map_or('0', |c| *c as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            let j = dp + i;
            out.push(if j < 0 {
                '0'
            } else {
                db.get(j as usize).map_or('0', |c| *c as char)
            });
        }
    }
    out
}

/// Go's `strconv.FormatFloat(f, 'g', prec, 64)` (`prec` None: shortest).
#[must_use]
pub fn format_float_g(f: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s.to_owned();
    }
    let neg = f.is_sign_negative() && f != 0.0 || (f == 0.0 && f.is_sign_negative());
    let p = prec.map(|p| p.max(1));
    let (d, dp) = digits(f, p);
    let nd = d.len() as i32;
    let mut eprec = p.map_or(6, |p| p as i32);
    if let Some(pp) = p {
        let pp = pp as i32;
        eprec = pp;
        if eprec > nd && nd >= dp {
            eprec = nd;
        }
    }
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        return fmt_e(neg, &d, dp, (nd - 1).max(0) as usize, upper);
    }
    fmt_f(neg, &d, dp, (nd - dp).max(0) as usize)
}

/// Go's `%v` of a float64 (`1e+06`, `3.5`, `0.0001`).
#[must_use]
pub fn format_float_v(f: f64) -> String {
    format_float_g(f, None, false)
}

/// Go's `%e` / `%f` with a precision.
#[must_use]
pub fn format_float_fixed(f: f64, verb: char, prec: usize) -> String {
    if let Some(s) = special(f) {
        return s.to_owned();
    }
    let neg = f.is_sign_negative();
    match verb {
        'e' | 'E' => {
            let (d, dp) = digits(f, Some(prec + 1));
            fmt_e(neg, &d, dp, prec, verb == 'E')
        }
        _ => {
            let s = format!("{:.*}", prec, f.abs());
            if neg { format!("-{s}") } else { s }
        }
    }
}

/// Go's `strconv.Quote`.
#[must_use]
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c == '\u{FFFD}' => out.push(c),
            c if !is_printable(c) => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_printable(c: char) -> bool {
    !(c.is_control() || matches!(c as u32, 0x2028 | 0x2029 | 0xad | 0xfeff | 0x200b..=0x200f))
}

/// One parsed `%` directive.
#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt.Sprintf` over template values.
#[must_use]
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut argi = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = read_num(&mut chars, args, &mut argi);
        if chars.peek().map(|x| x.1) == Some('.') {
            chars.next();
            spec.prec = Some(read_num(&mut chars, args, &mut argi).unwrap_or(0));
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        argi += 1;
        let body = format_one(verb, &spec, arg);
        pad(&mut out, &body, &spec, verb);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[argi..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}={}", a.type_name(), a.to_v());
        }
        out.push(')');
    }
    out
}

fn read_num(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    args: &[Value],
    argi: &mut usize,
) -> Option<usize> {
    if chars.peek().map(|x| x.1) == Some('*') {
        chars.next();
        let v = match args.get(*argi) {
            Some(Value::Int(i)) => Some((*i).max(0) as usize),
            _ => None,
        };
        *argi += 1;
        return v;
    }
    let mut n: Option<usize> = None;
    while let Some(&(_, d)) = chars.peek() {
        let Some(v) = d.to_digit(10) else { break };
        n = Some(
            n.unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(v as usize)
                .min(1_000_000),
        );
        chars.next();
    }
    n
}

fn pad(out: &mut String, body: &str, spec: &Spec, verb: char) {
    let len = body.chars().count();
    let Some(w) = spec.width.filter(|w| *w > len) else {
        out.push_str(body);
        return;
    };
    let fill = w - len;
    if spec.minus {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && !matches!(verb, 's' | 'q' | 'v' | 't' | 'c')
        || (spec.zero && verb == 'v' && body.starts_with(|c: char| c.is_ascii_digit() || c == '-'))
    {
        let (sign, rest) = match body.strip_prefix(['-', '+']) {
            Some(r) => (&body[..1], r),
            None => ("", body),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

fn bad(verb: char, arg: &Value) -> String {
    format!("%!{verb}({}={})", arg.type_name(), arg.to_v())
}

fn sign(s: String, spec: &Spec, neg: bool) -> String {
    if neg {
        s
    } else if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

fn format_one(verb: char, spec: &Spec, arg: &Value) -> String {
    match (arg, verb) {
        (Value::List(l), _) if verb != 'v' && verb != 'T' => {
            let parts: Vec<String> = l.iter().map(|v| format_one(verb, spec, v)).collect();
            format!("[{}]", parts.join(" "))
        }
        (_, 'T') => arg.type_name(),
        (Value::Nil, 'v') => "<nil>".to_owned(),
        (Value::Nil, _) => format!("%!{verb}(<nil>)"),
        (Value::Bool(b), 'v' | 't') => b.to_string(),
        (Value::Int(i), _) => format_int(*i, verb, spec).unwrap_or_else(|| bad(verb, arg)),
        (Value::Float(f), _) => format_float(*f, verb, spec).unwrap_or_else(|| bad(verb, arg)),
        (Value::String(s), 'v' | 's') => match spec.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        },
        (Value::String(s), 'q') => {
            if spec.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                go_quote(s)
            }
        }
        (Value::String(s), 'x' | 'X') => {
            let mut o = String::new();
            for b in s.bytes() {
                if verb == 'x' {
                    let _ = write!(o, "{b:02x}");
                } else {
                    let _ = write!(o, "{b:02X}");
                }
            }
            o
        }
        (Value::Map(m), 'v' | 's' | 'd' | 'q') if verb != 'v' => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}:{}", format_one(verb, spec, v)))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        (_, 'v') => arg.to_v(),
        (Value::Object(_), 's') => arg.to_v(),
        _ => bad(verb, arg),
    }
}

fn format_int(i: i64, verb: char, spec: &Spec) -> Option<String> {
    let neg = i < 0;
    let a = i.unsigned_abs();
    let mut s = match verb {
        'v' | 'd' => a.to_string(),
        'x' => format!("{}{a:x}", if spec.sharp { "0x" } else { "" }),
        'X' => format!("{}{a:X}", if spec.sharp { "0X" } else { "" }),
        'o' => format!("{}{a:o}", if spec.sharp { "0" } else { "" }),
        'O' => format!("0o{a:o}"),
        'b' => format!("{a:b}"),
        'c' => return Some(char::from_u32(i as u32).unwrap_or('\u{FFFD}').to_string()),
        'q' => {
            return Some(format!(
                "'{}'",
                char::from_u32(i as u32).unwrap_or('\u{FFFD}')
            ));
        }
        'U' => return Some(format!("U+{a:04X}")),
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 's' | 't' => return None,
        _ => return None,
    };
    if let Some(p) = spec.prec {
        while s.len() < p {
            s.insert(0, '0');
        }
    }
    if neg {
        s.insert(0, '-');
    }
    Some(sign(s, spec, neg))
}

fn format_float(f: f64, verb: char, spec: &Spec) -> Option<String> {
    let s = match verb {
        'v' | 'g' | 'G' => format_float_g(f, spec.prec, verb == 'G'),
        'e' | 'E' => format_float_fixed(f, verb, spec.prec.unwrap_or(6)),
        'f' | 'F' => format_float_fixed(f, 'f', spec.prec.unwrap_or(6)),
        _ => return None,
    };
    let neg = s.starts_with('-');
    Some(sign(s, spec, neg))
}
