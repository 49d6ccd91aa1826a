//! Sprig's text shaping: abbreviations, initials, wrapping, case conversions and the
//! random strings (drawn from the render's seeded generator).

use super::super::exec::Exec;
use super::{Func, Value, arity, int, s, string};
use rand::Rng;

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("abbrev", abbrev),
    ("abbrevboth", abbrevboth),
    ("initials", initials),
    ("randAlpha", rand_alpha),
    ("randAlphaNum", rand_alpha_num),
    ("randNumeric", rand_numeric),
    ("randAscii", rand_ascii),
    ("wrap", wrap),
    ("wrapWith", wrap_with),
    ("snakecase", snakecase),
    ("camelcase", camelcase),
    ("kebabcase", kebabcase),
    ("swapcase", swapcase),
    ("shuffle", shuffle),
];

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
            out.push(super::strings::lower_char(c));
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
            out.push(super::strings::upper_char(c));
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
            out.push(super::strings::lower_char(c));
        } else if c.is_lowercase() {
            out.push(super::strings::upper_char(c));
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
