//! `spec.template.data`: the controller renders each value as a Go `text/template` over the
//! decrypted values (`{{ .password }}`, `{{ index . "tls.crt" }}`) with Sprig functions. This
//! is the subset repositories use, written by hand: field and `index` lookups, string
//! literals, pipelines, `{{-`/`-}}` trimming, comments, and the functions `b64enc`, `b64dec`,
//! `upper`, `lower`, `trim`, `trimPrefix`, `trimSuffix`, `quote`, `squote`, `replace` and
//! `print`. Anything else is a clear error naming the action; a key that `encryptedData` does
//! not have is an error too (where Go would write `<no value>`). Output is in zeroizing memory.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// The decrypted values a template reads, by key.
pub type Values = BTreeMap<String, Zeroizing<Vec<u8>>>;

enum Arg {
    Dot,
    Bytes(Zeroizing<Vec<u8>>),
}

/// Renders `text` over `values`. `Err` names the failed action or key, never a value.
pub fn render(text: &str, values: &Values) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut out = Zeroizing::new(Vec::new());
    let mut rest = text;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut literal = &rest[..start];
        if trim_next {
            literal = literal.trim_start();
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("an action has no closing }}")?;
        let mut action = &after[..end];
        if let Some(a) = action.strip_prefix("- ") {
            literal = literal.trim_end();
            action = a;
        }
        trim_next = false;
        if let Some(a) = action.strip_suffix(" -") {
            trim_next = true;
            action = a;
        }
        out.extend_from_slice(literal.as_bytes());
        let action = action.trim();
        if !(action.starts_with("/*") && action.ends_with("*/")) {
            let value = pipeline(action, values)?;
            out.extend_from_slice(&value);
        }
        rest = &after[end + 2..];
    }
    let literal = if trim_next { rest.trim_start() } else { rest };
    out.extend_from_slice(literal.as_bytes());
    Ok(out)
}

fn pipeline(action: &str, values: &Values) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut piped: Option<Arg> = None;
    for command in split_outside_quotes(action, '|')? {
        let tokens = tokens(command.trim())?;
        let Some((head, args)) = tokens.split_first() else {
            return Err(format!("empty command in {{{{ {action} }}}}"));
        };
        let result = if is_function(head) {
            let mut evaluated = args
                .iter()
                .map(|a| operand(a, values))
                .collect::<Result<Vec<_>, _>>()?;
            evaluated.extend(piped.take());
            call(head, evaluated, values)?
        } else {
            if !args.is_empty() || piped.is_some() {
                return Err(format!("{head} is not a function"));
            }
            operand(head, values)?
        };
        piped = Some(result);
    }
    match piped {
        Some(Arg::Bytes(b)) => Ok(b),
        Some(Arg::Dot) => Err("{{ . }} (the whole map) cannot be written".into()),
        None => Err("empty action".into()),
    }
}

fn is_function(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
}

fn operand(token: &str, values: &Values) -> Result<Arg, String> {
    if token == "." {
        return Ok(Arg::Dot);
    }
    if let Some(key) = token.strip_prefix('.') {
        return lookup(key, values);
    }
    if let Some(s) = token
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .or_else(|| token.strip_prefix('`').and_then(|t| t.strip_suffix('`')))
    {
        return Ok(Arg::Bytes(Zeroizing::new(s.as_bytes().to_vec())));
    }
    Err(format!(
        "{token} is not supported here (a key, a string or a function)"
    ))
}

fn lookup(key: &str, values: &Values) -> Result<Arg, String> {
    values
        .get(key)
        .map(|v| Arg::Bytes(v.clone()))
        .ok_or_else(|| format!("refers to key {key}, which encryptedData does not have"))
}

fn bytes(arg: Arg, function: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    match arg {
        Arg::Bytes(b) => Ok(b),
        Arg::Dot => Err(format!("{function} cannot take the whole map")),
    }
}

fn call(function: &str, args: Vec<Arg>, values: &Values) -> Result<Arg, String> {
    let arity = |n: usize, given: usize| {
        if given == n {
            Ok(())
        } else {
            Err(format!("{function} takes {n} argument(s), not {given}"))
        }
    };
    let mut args = std::collections::VecDeque::from(args);
    let next = |args: &mut std::collections::VecDeque<Arg>| {
        bytes(args.pop_front().unwrap_or(Arg::Dot), function)
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let wrap = |s: String| Arg::Bytes(Zeroizing::new(s.into_bytes()));
    Ok(match function {
        "index" => {
            arity(2, args.len())?;
            let (Some(Arg::Dot), Some(Arg::Bytes(key))) = (args.front(), args.get(1)) else {
                return Err("index takes . and a key".into());
            };
            lookup(&text(key), values)?
        }
        "b64enc" => {
            arity(1, args.len())?;
            wrap(STANDARD.encode(next(&mut args)?.as_slice()))
        }
        "b64dec" => {
            arity(1, args.len())?;
            let decoded = STANDARD
                .decode(next(&mut args)?.as_slice())
                .map_err(|_| "b64dec: the value is not base64".to_owned())?;
            Arg::Bytes(Zeroizing::new(decoded))
        }
        "upper" | "lower" | "trim" | "quote" | "squote" => {
            arity(1, args.len())?;
            let s = Zeroizing::new(text(&next(&mut args)?));
            wrap(match function {
                "upper" => s.to_uppercase(),
                "lower" => s.to_lowercase(),
                "trim" => s.trim().to_owned(),
                "quote" => format!("{:?}", s.as_str()),
                _ => format!("'{}'", s.as_str()),
            })
        }
        "trimPrefix" | "trimSuffix" => {
            arity(2, args.len())?;
            let affix = text(&next(&mut args)?);
            let s = Zeroizing::new(text(&next(&mut args)?));
            wrap(if function == "trimPrefix" {
                s.strip_prefix(affix.as_str()).unwrap_or(&s).to_owned()
            } else {
                s.strip_suffix(affix.as_str()).unwrap_or(&s).to_owned()
            })
        }
        "replace" => {
            arity(3, args.len())?;
            let (from, to) = (text(&next(&mut args)?), text(&next(&mut args)?));
            let s = Zeroizing::new(text(&next(&mut args)?));
            wrap(s.replace(&from, &to))
        }
        "print" => {
            let mut out = Zeroizing::new(Vec::new());
            for arg in args {
                out.extend_from_slice(&bytes(arg, function)?);
            }
            Arg::Bytes(out)
        }
        other => return Err(format!("the function {other} is not supported")),
    })
}

fn split_outside_quotes(text: &str, separator: char) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut start, mut quote) = (0, None);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '`') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c == separator => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err("a string literal is not closed".into());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn tokens(command: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = command.trim_start();
    while !rest.is_empty() {
        let end = match rest.chars().next() {
            Some(q @ ('"' | '`')) => rest[1..]
                .find(q)
                .map(|i| i + 2)
                .ok_or("a string literal is not closed")?,
            _ => rest.find(char::is_whitespace).unwrap_or(rest.len()),
        };
        out.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn values() -> Values {
        let mut v = Values::new();
        v.insert("user".into(), Zeroizing::new(b"app".to_vec()));
        v.insert("password".into(), Zeroizing::new(b"s3cret".to_vec()));
        v.insert("tls.crt".into(), Zeroizing::new(b"CERT".to_vec()));
        v
    }

    fn ok(text: &str) -> String {
        String::from_utf8(render(text, &values()).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn fields_index_and_pipelines_render_like_go_templates() {
        assert_eq!(
            ok("postgres://{{ .user }}:{{.password}}@db"),
            "postgres://app:s3cret@db"
        );
        assert_eq!(ok(r#"{{ index . "tls.crt" }}"#), "CERT");
        assert_eq!(ok("{{ .user | upper | quote }}"), "\"APP\"");
        assert_eq!(ok("{{ .user | b64enc }}"), "YXBw");
        assert_eq!(ok(r#"{{ "YXBw" | b64dec }}"#), "app");
        assert_eq!(ok("a  {{- .user -}}  b{{/* note */}}"), "aappb");
        assert_eq!(ok(r#"{{ trimPrefix "s3" .password }}"#), "cret");
        assert_eq!(ok(r#"{{ print .user "-" .password }}"#), "app-s3cret");
    }

    #[test]
    fn fail_unknown_keys_functions_and_unclosed_actions_name_what_is_wrong() {
        let err = render("{{ .missing }}", &values()).err().unwrap();
        assert!(err.contains("missing"), "{err}");
        let err = render("{{ .user | sha256sum }}", &values()).err().unwrap();
        assert!(err.contains("sha256sum"), "{err}");
        assert!(render("{{ .user ", &values()).is_err());
        assert!(render("{{ . }}", &values()).is_err());
        assert!(
            !render("{{ .user | nope }}", &values())
                .err()
                .unwrap()
                .contains("app")
        );
    }
}
