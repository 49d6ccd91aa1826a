//! Variable substitution with the syntax of Flux's post-build substitution (the bash subset of
//! drone's envsubst that Flux forks): `$var`, `${var}`, `$${var}` (escaped: stays `${var}`),
//! `${#var}` (length), `${var^}` `${var^^}` `${var,}` `${var,,}` (case), `${var:n}`
//! `${var:n:len}` (substring), `${var#p}` `${var##p}` `${var%p}` `${var%%p}` (strip the
//! shortest or longest glob match from the start or end), `${var/p/r}` `${var//p/r}`
//! `${var/#p/r}` `${var/%p/r}` (replace), `${var-d}` `${var=d}` (default when unset),
//! `${var:-d}` `${var:=d}` (default when unset or empty); a default may hold further
//! substitutions. Written from the documented behaviour, not from upstream code.

use std::collections::BTreeMap;

/// Errors of a substitution; they quote the expression, never a variable's value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvsubstError {
    /// `${` without its `}`.
    #[error("unterminated substitution {0:?}")]
    Unterminated(String),
    /// An expression that is not one of the supported forms.
    #[error("bad substitution {0:?}")]
    BadSubstitution(String),
}

/// The most nested defaults followed (`${a:=${b:=${c}}}`).
const MAX_NESTING: usize = 16;

/// Substitutes the variables of `vars` in `text`.
pub fn eval(text: &str, vars: &BTreeMap<String, String>) -> Result<String, EnvsubstError> {
    eval_at(text, vars, 0)
}

fn eval_at(
    text: &str,
    vars: &BTreeMap<String, String>,
    depth: usize,
) -> Result<String, EnvsubstError> {
    if depth > MAX_NESTING {
        return Err(EnvsubstError::BadSubstitution(clip(text)));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            out.push('$');
            rest = escaped;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = closing(inner).ok_or_else(|| EnvsubstError::Unterminated(clip(rest)))?;
            out.push_str(&expression(&inner[..end], vars, depth)?);
            rest = &inner[end + 1..];
        } else {
            let len = name_len(after);
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(vars.get(&after[..len]).map_or("", String::as_str));
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

/// The index of the `}` closing an expression that starts right after `${`.
fn closing(text: &str) -> Option<usize> {
    let mut depth = 0_usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn name_len(text: &str) -> usize {
    let mut len = 0;
    for (i, c) in text.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        len = i + c.len_utf8();
    }
    len
}

/// One `${...}` expression (without the braces).
fn expression(
    expr: &str,
    vars: &BTreeMap<String, String>,
    depth: usize,
) -> Result<String, EnvsubstError> {
    let bad = || EnvsubstError::BadSubstitution(format!("${{{}}}", clip(expr)));
    if let Some(name) = expr.strip_prefix('#') {
        if name_len(name) != name.len() || name.is_empty() {
            return Err(bad());
        }
        let value = vars.get(name).map_or("", String::as_str);
        return Ok(value.chars().count().to_string());
    }
    let len = name_len(expr);
    if len == 0 {
        return Err(bad());
    }
    let (name, op) = expr.split_at(len);
    let set = vars.get(name);
    let value = set.map_or("", String::as_str);
    let default = |word: &str, unset_only: bool| {
        let use_default = set.is_none() || (!unset_only && value.is_empty());
        if use_default {
            eval_at(word, vars, depth + 1)
        } else {
            Ok(value.to_owned())
        }
    };
    Ok(match op {
        "" => value.to_owned(),
        "^" => first_char(value, true),
        "^^" => value.to_uppercase(),
        "," => first_char(value, false),
        ",," => value.to_lowercase(),
        _ if op.starts_with(":-") || op.starts_with(":=") => default(&op[2..], false)?,
        _ if op.starts_with('-') || op.starts_with('=') => default(&op[1..], true)?,
        _ if op.starts_with(':') => substring(value, &op[1..]).ok_or_else(bad)?,
        _ if op.starts_with("##") => strip_start(value, &op[2..], true),
        _ if op.starts_with('#') => strip_start(value, &op[1..], false),
        _ if op.starts_with("%%") => strip_end(value, &op[2..], true),
        _ if op.starts_with('%') => strip_end(value, &op[1..], false),
        _ if op.starts_with('/') => replace(value, &op[1..]),
        _ => return Err(bad()),
    })
}

fn first_char(value: &str, upper: bool) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(c) if upper => c.to_uppercase().chain(chars).collect(),
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `n` or `n:len`, in characters; `None` when they are not numbers.
fn substring(value: &str, spec: &str) -> Option<String> {
    let (offset, len) = match spec.split_once(':') {
        Some((o, l)) => (o.trim(), Some(l.trim().parse::<usize>().ok()?)),
        None => (spec.trim(), None),
    };
    let offset: usize = offset.parse().ok()?;
    let chars = value.chars().skip(offset);
    Some(match len {
        Some(len) => chars.take(len).collect(),
        None => chars.collect(),
    })
}

/// The char boundaries of `value`, from the start.
fn boundaries(value: &str) -> Vec<usize> {
    value
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(value.len()))
        .collect()
}

fn strip_start(value: &str, pattern: &str, longest: bool) -> String {
    let mut ends = boundaries(value);
    if longest {
        ends.reverse();
    }
    for end in ends {
        if glob_match(pattern, &value[..end]) {
            return value[end..].to_owned();
        }
    }
    value.to_owned()
}

fn strip_end(value: &str, pattern: &str, longest: bool) -> String {
    let mut starts = boundaries(value);
    if !longest {
        starts.reverse();
    }
    for start in starts {
        if glob_match(pattern, &value[start..]) {
            return value[..start].to_owned();
        }
    }
    value.to_owned()
}

/// `p/r`, `/p/r` (all), `#p/r` (at the start), `%p/r` (at the end).
fn replace(value: &str, spec: &str) -> String {
    let (mode, spec) = match spec.chars().next() {
        Some(c @ ('/' | '#' | '%')) => (Some(c), &spec[1..]),
        _ => (None, spec),
    };
    let (pattern, replacement) = spec.split_once('/').unwrap_or((spec, ""));
    if pattern.is_empty() {
        return value.to_owned();
    }
    let bounds = boundaries(value);
    match mode {
        Some('#') => match bounds
            .iter()
            .rev()
            .find(|e| glob_match(pattern, &value[..**e]))
        {
            Some(&end) => format!("{replacement}{}", &value[end..]),
            None => value.to_owned(),
        },
        Some('%') => match bounds.iter().find(|s| glob_match(pattern, &value[**s..])) {
            Some(&start) => format!("{}{replacement}", &value[..start]),
            None => value.to_owned(),
        },
        mode => {
            let all = mode == Some('/');
            let mut out = String::new();
            let mut at = 0;
            while at < value.len() {
                // The longest match starting at `at`, as bash replaces.
                let found = bounds
                    .iter()
                    .rev()
                    .filter(|e| **e > at)
                    .find(|e| glob_match(pattern, &value[at..**e]));
                match found {
                    Some(&end) => {
                        out.push_str(replacement);
                        at = end;
                        if !all {
                            out.push_str(&value[at..]);
                            return out;
                        }
                    }
                    None => {
                        let c = value[at..].chars().next().unwrap_or_default();
                        out.push(c);
                        at += c.len_utf8().max(1);
                    }
                }
            }
            out
        }
    }
}

/// A shell glob: `*` any text, `?` one character, anything else itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [
            ("cluster", "prod-eu"),
            ("empty", ""),
            ("image", "ghcr.io/acme/web:1.2.3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn sub(text: &str) -> String {
        eval(text, &vars()).unwrap()
    }

    #[test]
    fn plain_braced_and_escaped_forms() {
        assert_eq!(sub("a-${cluster}-$cluster."), "a-prod-eu-prod-eu.");
        assert_eq!(
            sub("$${cluster} costs $5 and $"),
            "${cluster} costs $5 and $"
        );
        assert_eq!(sub("${missing}|$missing|"), "||");
    }

    #[test]
    fn defaults_follow_unset_and_empty() {
        assert_eq!(sub("${missing:=eu-1}"), "eu-1");
        assert_eq!(sub("${missing:-eu-1}"), "eu-1");
        assert_eq!(
            sub("${empty:=x}|${empty=x}|${empty-x}|${missing-x}"),
            "x|||x"
        );
        assert_eq!(sub("${cluster:=x}"), "prod-eu");
        assert_eq!(sub("${missing:=${cluster}-b}"), "prod-eu-b");
    }

    #[test]
    fn string_functions_act_like_bash() {
        assert_eq!(sub("${#cluster}"), "7");
        assert_eq!(sub("${cluster^}|${cluster^^}"), "Prod-eu|PROD-EU");
        assert_eq!(sub("${cluster:5}|${cluster:0:4}"), "eu|prod");
        assert_eq!(sub("${image#*/}|${image##*/}"), "acme/web:1.2.3|web:1.2.3");
        assert_eq!(
            sub("${image%.*}|${image%%:*}"),
            "ghcr.io/acme/web:1.2|ghcr.io/acme/web"
        );
        assert_eq!(
            sub("${cluster/-/_}|${image//./-}"),
            "prod_eu|ghcr-io/acme/web:1-2-3"
        );
        assert_eq!(
            sub("${cluster/#prod/dev}|${cluster/%eu/us}"),
            "dev-eu|prod-us"
        );
    }

    #[test]
    fn fail_on_unterminated_and_bad_expressions() {
        assert!(matches!(
            eval("x ${cluster", &vars()),
            Err(EnvsubstError::Unterminated(_))
        ));
        assert!(matches!(
            eval("${a.b}", &vars()),
            Err(EnvsubstError::BadSubstitution(_))
        ));
        assert!(matches!(
            eval("${}", &vars()),
            Err(EnvsubstError::BadSubstitution(_))
        ));
    }
}
