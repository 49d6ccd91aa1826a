//! Sprig's string functions.

use super::super::exec::Exec;
use super::{Func, Value, arity, int, s, string, strval};
use rand::Rng;

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("trim", trim),
    ("trimAll", trim_all),
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
    ("abbrev", abbrev),
    ("abbrevboth", abbrevboth),
    ("initials", initials),
    ("randAlpha", rand_alpha),
    ("randAlphaNum", rand_alpha_num),
    ("randNumeric", rand_numeric),
    ("randAscii", rand_ascii),
    ("wrap", wrap),
    ("wrapWith", wrap_with),
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
    ("snakecase", snakecase),
    ("camelcase", camelcase),
    ("kebabcase", kebabcase),
    ("swapcase", swapcase),
    ("shuffle", shuffle),
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
    Ok(s(string(a, 0)?.to_uppercase()))
}

fn lower(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(string(a, 0)?.to_lowercase()))
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
            out.extend(c.to_uppercase());
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
            out.extend(c.to_lowercase());
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

fn abbrev(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let w = int(a, 0)?;
    let v = string(a, 1)?;
    if w < 4 || v.chars().count() as i64 <= w {
        return Ok(s(v));
    }
    let keep: String = v.chars().take((w - 3) as usize).collect();
    Ok(s(format!("{keep}...")))
}

fn abbrevboth(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let left = int(a, 0)?;
    let right = int(a, 1)?;
    let v = string(a, 2)?;
    let chars: Vec<char> = v.chars().collect();
    let n = chars.len() as i64;
    if right < 4 || (left > 0 && right < 7) || n <= right {
        return Ok(s(v));
    }
    let mut offset = left.max(0);
    if offset > n {
        offset = n;
    }
    if n - offset < right - 3 {
        offset = n - (right - 3);
    }
    if offset <= 4 {
        let keep: String = chars.iter().take((right - 3) as usize).collect();
        return Ok(s(format!("{keep}...")));
    }
    if (offset + right - 3) < n {
        let rest: String = chars[offset as usize..].iter().collect();
        let inner = rest
            .chars()
            .take((right - 3 - 3) as usize)
            .collect::<String>();
        return Ok(s(format!("...{inner}...")));
    }
    let tail: String = chars[(n - (right - 3)) as usize..].iter().collect();
    Ok(s(format!("...{tail}")))
}

fn initials(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let v = string(a, 0)?;
    Ok(s(v
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .collect::<String>()))
}

fn random_from(ex: &mut Exec<'_>, a: &[Value], alphabet: &[u8]) -> Result<Value, String> {
    arity(a, 1)?;
    let n = int(a, 0)?;
    if n < 0 {
        return Err("random string length must not be negative".to_owned());
    }
    if n as usize > ex.set_limits().max_output {
        ex.limit_hit = true;
        return Err("random string longer than the output limit".to_owned());
    }
    let rng = ex.rng();
    let out: String = (0..n)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect();
    Ok(s(out))
}

const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const NUMERIC: &[u8] = b"0123456789";

fn rand_alpha(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    random_from(ex, a, ALPHA)
}

fn rand_alpha_num(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    random_from(ex, a, ALNUM)
}

fn rand_numeric(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    random_from(ex, a, NUMERIC)
}

fn rand_ascii(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    let printable: Vec<u8> = (32u8..=126).collect();
    random_from(ex, a, &printable)
}

/// goutils' `WrapCustom` (used by `wrap` and `wrapWith`).
fn wrap_custom(text: &str, width: usize, nl: &str, long: bool) -> String {
    let width = width.max(1);
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut out = String::new();
    let mut offset = 0;
    while n - offset > width {
        if chars[offset] == ' ' {
            offset += 1;
            continue;
        }
        let window: String = chars[offset..=(offset + width).min(n - 1)].iter().collect();
        let space = window
            .chars()
            .rev()
            .position(|c| c == ' ')
            .map(|p| window.chars().count() - 1 - p);
        match space {
            Some(sp) if sp > 0 => {
                out.extend(&chars[offset..offset + sp]);
                out.push_str(nl);
                offset += sp + 1;
            }
            _ => {
                if long {
                    out.extend(&chars[offset..offset + width]);
                    out.push_str(nl);
                    offset += width;
                } else {
                    let rest: String = chars[offset + width..].iter().collect();
                    match rest.find(' ') {
                        Some(p) => {
                            let p = rest[..p].chars().count();
                            out.extend(&chars[offset..offset + width + p]);
                            out.push_str(nl);
                            offset += width + p + 1;
                        }
                        None => {
                            out.extend(&chars[offset..]);
                            offset = n;
                        }
                    }
                }
            }
        }
    }
    out.extend(&chars[offset..]);
    out
}

fn wrap(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let w = int(a, 0)?;
    Ok(s(wrap_custom(
        string(a, 1)?,
        w.max(1) as usize,
        "\n",
        false,
    )))
}

fn wrap_with(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let w = int(a, 0)?;
    let nl = string(a, 1)?;
    Ok(s(wrap_custom(string(a, 2)?, w.max(1) as usize, nl, true)))
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
fn delimit(v: &str, sep: char) -> String {
    let mut out = String::new();
    let chars: Vec<char> = v.chars().collect();
    let mut i = 0;
    let n = chars.len();
    while i < n && !chars[i].is_alphanumeric() {
        i += 1;
    }
    let mut last_was_sep = true;
    while i < n {
        let c = chars[i];
        if c.is_uppercase() {
            let prev_lower_or_digit =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = i + 1 < n && chars[i + 1].is_lowercase();
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if !last_was_sep && (prev_lower_or_digit || (prev_upper && next_lower)) {
                out.push(sep);
            }
            out.extend(c.to_lowercase());
            last_was_sep = false;
        } else if c.is_alphanumeric() {
            out.push(c);
            last_was_sep = false;
        } else {
            // Runs of separators collapse into one, none at the end.
            let mut j = i;
            while j < n && !chars[j].is_alphanumeric() {
                j += 1;
            }
            if j < n && !last_was_sep {
                out.push(sep);
                last_was_sep = true;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out
}

fn snakecase(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(delimit(string(a, 0)?, '_')))
}

fn kebabcase(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(delimit(string(a, 0)?, '-')))
}

fn camelcase(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let v = string(a, 0)?;
    let mut out = String::new();
    let mut up = true;
    for c in v.chars() {
        if c == '_' || c == ' ' || c == '-' {
            if c != '_' {
                out.push(c);
            }
            up = true;
            continue;
        }
        if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    Ok(s(out))
}

fn swapcase(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let v = string(a, 0)?;
    let mut out = String::new();
    for c in v.chars() {
        if c.is_uppercase() {
            out.extend(c.to_lowercase());
        } else if c.is_lowercase() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    Ok(s(out))
}

fn shuffle(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let mut chars: Vec<char> = string(a, 0)?.chars().collect();
    let rng = ex.rng();
    for i in (1..chars.len()).rev() {
        let j = rng.gen_range(0..=i);
        chars.swap(i, j);
    }
    Ok(s(chars.into_iter().collect::<String>()))
}

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
