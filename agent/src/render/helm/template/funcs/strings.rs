//! Sprig's string functions.

use super::super::exec::Exec;
use super::{Func, Value, arity, int, s, string, strval};

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("trim", trim),
    ("trimAll", trim_all),
    ("trimall", trim_all),
    ("hello", hello),
    ("trimPrefix", trim_prefix),
    ("trimSuffix", trim_suffix),
    ("upper", upper),
    ("lower", lower),
    ("title", title),
    ("untitle", untitle),
    ("repeat", repeat),
    ("substr", substr),
    ("nospace", nospace),
    ("trunc", trunc),
    ("contains", contains),
    ("hasPrefix", has_prefix),
    ("hasSuffix", has_suffix),
    ("quote", quote),
    ("squote", squote),
    ("cat", cat),
    ("indent", indent),
    ("nindent", nindent),
    ("replace", replace),
    ("plural", plural),
    ("split", split),
    ("splitList", split_list),
    ("splitn", splitn),
    ("join", join),
    ("sortAlpha", sort_alpha),
    ("toString", to_string),
    ("toStrings", to_strings),
];

fn trim(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(string(a, 0)?.trim_matches(char::is_whitespace)))
}

fn trim_all(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let cut: Vec<char> = string(a, 0)?.chars().collect();
    Ok(s(string(a, 1)?.trim_matches(|c| cut.contains(&c))))
}

fn trim_prefix(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let p = string(a, 0)?;
    let v = string(a, 1)?;
    Ok(s(v.strip_prefix(p).unwrap_or(v)))
}

fn trim_suffix(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let p = string(a, 0)?;
    let v = string(a, 1)?;
    Ok(s(v.strip_suffix(p).unwrap_or(v)))
}

fn upper(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(go_upper(string(a, 0)?)))
}

fn lower(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(go_lower(string(a, 0)?)))
}

/// Go's `unicode.ToUpper` of one rune: the simple mapping (`ß` stays `ß`).
pub(crate) fn upper_char(c: char) -> char {
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToLower` of one rune (`İ` becomes `i`).
pub(crate) fn lower_char(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Go's `strings.ToUpper`.
pub(crate) fn go_upper(v: &str) -> String {
    v.chars().map(upper_char).collect()
}

/// Go's `strings.ToLower`.
pub(crate) fn go_lower(v: &str) -> String {
    v.chars().map(lower_char).collect()
}

/// Go's deprecated `strings.Title`: upper-cases the first letter of each word.
pub(crate) fn go_title(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut prev: Option<char> = None;
    for c in v.chars() {
        let boundary = match prev {
            None => true,
            Some(p) => is_separator(p),
        };
        if boundary {
            out.push(upper_char(c));
        } else {
            out.push(c);
        }
        prev = Some(c);
    }
    out
}

fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    c.is_whitespace()
}

fn title(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(go_title(string(a, 0)?)))
}

fn untitle(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let v = string(a, 0)?;
    let mut out = String::new();
    let mut in_word = false;
    for c in v.chars() {
        if c.is_whitespace() {
            in_word = false;
            out.push(c);
        } else if !in_word {
            out.push(lower_char(c));
            in_word = true;
        } else {
            out.push(c);
        }
    }
    Ok(s(out))
}

fn repeat(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let n = int(a, 0)?;
    let v = string(a, 1)?;
    if n < 0 {
        return Err("strings: negative Repeat count".to_owned());
    }
    let total = v.len().saturating_mul(n as usize);
    if total > ex.set_limits().max_output {
        ex.limit_hit = true;
        return Err(format!(
            "repeat would produce {total} bytes, over the output limit"
        ));
    }
    Ok(s(v.repeat(n as usize)))
}

fn substr(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let start = super::to_i64(&a[0]);
    let end = super::to_i64(&a[1]);
    let v = string(a, 2)?;
    let b = v.as_bytes();
    let len = b.len() as i64;
    let r = if start < 0 {
        let e = end.min(len).max(0) as usize;
        &b[..e]
    } else if end < 0 || end > len {
        let st = start.min(len) as usize;
        &b[st..]
    } else {
        if start > end {
            return Err(format!(
                "runtime error: slice bounds out of range [{start}:{end}]"
            ));
        }
        &b[start as usize..end as usize]
    };
    Ok(s(String::from_utf8_lossy(r)))
}

fn nospace(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(string(a, 0)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()))
}

fn trunc(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let n = int(a, 0)?;
    let v = string(a, 1)?;
    let len = v.len() as i64;
    let r = if n < 0 && len + n > 0 {
        &v.as_bytes()[(len + n) as usize..]
    } else if n >= 0 && len > n {
        &v.as_bytes()[..n as usize]
    } else {
        v.as_bytes()
    };
    Ok(s(String::from_utf8_lossy(r)))
}

fn contains(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(Value::Bool(string(a, 1)?.contains(string(a, 0)?)))
}

fn has_prefix(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(Value::Bool(string(a, 1)?.starts_with(string(a, 0)?)))
}

fn has_suffix(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(Value::Bool(string(a, 1)?.ends_with(string(a, 0)?)))
}

fn quote(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let parts: Vec<String> = a
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .map(|v| super::super::print::go_quote(&strval(v)))
        .collect();
    Ok(s(parts.join(" ")))
}

fn squote(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let parts: Vec<String> = a
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .map(|v| format!("'{}'", strval(v)))
        .collect();
    Ok(s(parts.join(" ")))
}

fn cat(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let parts: Vec<String> = a
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .map(strval)
        .collect();
    Ok(s(parts.join(" ")))
}

fn indent_str(n: i64, v: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    let mut out = String::with_capacity(v.len() + pad.len() * 4);
    out.push_str(&pad);
    for c in v.chars() {
        out.push(c);
        if c == '\n' {
            out.push_str(&pad);
        }
    }
    out
}

fn indent(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(s(indent_str(int(a, 0)?, string(a, 1)?)))
}

fn nindent(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    Ok(s(format!("\n{}", indent_str(int(a, 0)?, string(a, 1)?))))
}

fn replace(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let old = string(a, 0)?;
    let new = string(a, 1)?;
    let v = string(a, 2)?;
    if old.is_empty() {
        // Go inserts `new` before every rune and at the end.
        let mut out = String::new();
        for c in v.chars() {
            out.push_str(new);
            out.push(c);
        }
        out.push_str(new);
        return Ok(s(out));
    }
    Ok(s(v.replace(old, new)))
}

fn plural(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let one = string(a, 0)?;
    let many = string(a, 1)?;
    let n = int(a, 2)?;
    Ok(s(if n == 1 { one } else { many }))
}

/// Splits into words as xstrings does for `snakecase`/`kebabcase`.
fn split(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let sep = string(a, 0)?;
    let v = string(a, 1)?;
    let parts = go_split(v, sep, -1);
    let m = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("_{i}"), s(p)))
        .collect();
    Ok(Value::map(m))
}

/// Go's `strings.SplitN` (`n < 0`: all).
fn go_split(v: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let mut out: Vec<String> = v.chars().map(String::from).collect();
        if n > 0 && out.len() > n as usize {
            let rest: String = out[n as usize - 1..].concat();
            out.truncate(n as usize - 1);
            out.push(rest);
        }
        return out;
    }
    if n < 0 {
        v.split(sep).map(str::to_owned).collect()
    } else {
        v.splitn(n as usize, sep).map(str::to_owned).collect()
    }
}

fn split_list(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let parts = go_split(string(a, 1)?, string(a, 0)?, -1);
    Ok(Value::list(parts.into_iter().map(s).collect()))
}

fn splitn(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let sep = string(a, 0)?;
    let n = int(a, 1)?;
    let parts = go_split(string(a, 2)?, sep, n);
    let m = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("_{i}"), s(p)))
        .collect();
    Ok(Value::map(m))
}

/// Sprig's `strslice`: a list's items as strings (nil items dropped), or the value alone.
pub(crate) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

fn join(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let sep = string(a, 0)?;
    Ok(s(strslice(&a[1]).join(sep)))
}

fn sort_alpha(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let mut v = match &a[0] {
        Value::List(l) => l.iter().map(strval).collect(),
        other => vec![strval(other)],
    };
    v.sort();
    Ok(Value::list(v.into_iter().map(s).collect()))
}

fn to_string(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(strval(&a[0])))
}

fn to_strings(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let l = match &a[0] {
        Value::List(l) => l.iter().map(strval).collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    };
    Ok(Value::list(l.into_iter().map(s).collect()))
}

fn hello(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 0)?;
    Ok(s("Hello!"))
}
