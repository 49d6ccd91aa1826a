//! The template functions: Go's builtins (`index`, `len`, `print`, `printf`), the Sprig
//! functions ExternalSecret templates use (`b64enc`, `b64dec`, `toString`, `toJson`, `fromJson`,
//! `fromYaml`, `toYaml`, `upper`, `lower`, `trim`, `trimAll`, `trimPrefix`, `trimSuffix`, `replace`,
//! `quote`, `squote`, `default`, `indent`, `nindent`, `list`, `append`, `join`, `keys`, `get`,
//! `hasKey`, `contains`, `hasPrefix`, `hasSuffix`, `empty`, `sha256sum`), Go's comparisons and
//! logic (`eq`, `ne`, `not`, `and`, `or`) and ESO's `filterPEM`. Any other name is refused with the name. Sprig's argument order: a piped
//! value is the last argument. Every result is built in zeroizing memory; errors name the
//! function, never an argument's value.

use base64::Engine as _;
use serde_json::Value;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

use super::Val;
use crate::secrets::redact::scrub_value;

/// Functions of ESO's v1 engine, renamed in v2.
const RENAMED: &[(&str, &str)] = &[
    ("base64encode", "b64enc"),
    ("base64decode", "b64dec"),
    ("fromJSON", "fromJson"),
    ("toJSON", "toJson"),
];

/// Every function [`call`] knows.
const NAMES: &[&str] = &[
    "index",
    "get",
    "len",
    "print",
    "toString",
    "printf",
    "b64enc",
    "b64dec",
    "sha256sum",
    "toJson",
    "fromJson",
    "fromYaml",
    "toYaml",
    "upper",
    "lower",
    "trim",
    "squote",
    "quote",
    "nospace",
    "trimPrefix",
    "trimSuffix",
    "trimAll",
    "replace",
    "default",
    "indent",
    "nindent",
    "list",
    "join",
    "filterPEM",
    "eq",
    "ne",
    "not",
    "and",
    "or",
    "empty",
    "hasKey",
    "append",
    "keys",
    "contains",
    "hasPrefix",
    "hasSuffix",
];

/// Checks a function name when the template is parsed, so an unknown one is refused before
/// anything is read.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if NAMES.contains(&name) {
        return Ok(());
    }
    match RENAMED.iter().find(|(old, _)| *old == name) {
        Some((_, new)) => Err(format!(
            "function {name:?} is from ESO's v1 template engine; use {new:?}"
        )),
        None => Err(format!("function {name:?} is not supported")),
    }
}

/// Calls `name` with `args` (a piped value last).
pub(crate) fn call(name: &str, args: Vec<Val>) -> Result<Val, String> {
    check_name(name)?;
    match name {
        "index" | "get" | "len" | "list" | "join" => collections(name, args),
        "print" | "toString" | "printf" | "default" => printing(name, args),
        "b64enc" | "b64dec" | "sha256sum" | "toJson" | "fromJson" | "fromYaml" | "toYaml"
        | "filterPEM" => encodings(name, args),
        "upper" | "lower" | "trim" | "squote" | "quote" | "nospace" => simple_strings(name, &args),
        "eq" | "ne" | "not" | "and" | "or" | "empty" | "hasKey" | "append" | "keys" => {
            logic(name, args)
        }
        _ => strings(name, args),
    }
}

fn arity(name: &str, n: usize, args: &[Val]) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!("{name} takes {n} argument(s), got {}", args.len()))
    }
}

fn collections(name: &str, mut args: Vec<Val>) -> Result<Val, String> {
    let fail = |what: &str| format!("{name}: {what}");
    let arity = |n: usize, args: &[Val]| arity(name, n, args);
    match name {
        "index" => {
            if args.is_empty() {
                return Err(fail("needs a map or list"));
            }
            let mut current = args.remove(0);
            for key in args {
                current = index(current, &key).map_err(|e| fail(&e))?;
            }
            Ok(current)
        }
        "get" => {
            arity(2, &args)?;
            let key = args
                .pop()
                .map(|k| text(&k))
                .transpose()?
                .unwrap_or_default();
            match args.pop() {
                Some(Val::Map(mut map)) => Ok(map.remove(key.as_str()).unwrap_or(Val::text(""))),
                _ => Err(fail("the first argument is not a map")),
            }
        }
        "len" => {
            arity(1, &args)?;
            let n = match &args[0] {
                Val::Bytes(b) => b.len(),
                Val::Map(m) => m.len(),
                Val::List(l) => l.len(),
                other => return Err(fail(&format!("a {} has no length", other.kind()))),
            };
            Ok(Val::Num(n.to_string()))
        }
        "list" => Ok(Val::List(args)),
        "join" => {
            arity(2, &args)?;
            let sep = text(&args[0])?;
            let Val::List(items) = &args[1] else {
                return Err(fail("the second argument is not a list"));
            };
            let mut out = Zeroizing::new(Vec::new());
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(sep.as_bytes());
                }
                item.print(&mut out);
            }
            Ok(Val::Bytes(out))
        }
        _ => Err(fail("unknown")),
    }
}

fn printing(name: &str, mut args: Vec<Val>) -> Result<Val, String> {
    let fail = |what: &str| format!("{name}: {what}");
    let arity = |n: usize, args: &[Val]| arity(name, n, args);
    match name {
        "print" | "toString" => {
            let mut out = Zeroizing::new(Vec::new());
            for arg in &args {
                arg.print(&mut out);
            }
            Ok(Val::Bytes(out))
        }
        "printf" => printf(args).map_err(|e| fail(&e)),
        "default" => {
            arity(2, &args)?;
            let given = args.pop().unwrap_or(Val::Null);
            let fallback = args.pop().unwrap_or(Val::Null);
            Ok(if is_empty(&given) { fallback } else { given })
        }
        _ => Err(fail("unknown")),
    }
}

fn encodings(name: &str, args: Vec<Val>) -> Result<Val, String> {
    let fail = |what: &str| format!("{name}: {what}");
    let arity = |n: usize, args: &[Val]| arity(name, n, args);
    match name {
        "b64enc" => {
            arity(1, &args)?;
            let input = args[0].to_bytes();
            Ok(from_string(
                base64::engine::general_purpose::STANDARD.encode(input.as_slice()),
            ))
        }
        "b64dec" => {
            arity(1, &args)?;
            let input = args[0].to_bytes();
            let trimmed: Zeroizing<Vec<u8>> = Zeroizing::new(
                input
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect(),
            );
            base64::engine::general_purpose::STANDARD
                .decode(trimmed.as_slice())
                .map(|v| Val::Bytes(Zeroizing::new(v)))
                .map_err(|_| fail("the value is not valid base64"))
        }
        "sha256sum" => {
            use sha2::Digest as _;
            arity(1, &args)?;
            Ok(from_string(hex::encode(sha2::Sha256::digest(
                args[0].to_bytes().as_slice(),
            ))))
        }
        "toJson" => {
            arity(1, &args)?;
            let value = to_json(&args[0]);
            let bytes = Zeroizing::new(serde_json::to_vec(&value).unwrap_or_default());
            scrub_value(value);
            Ok(Val::Bytes(bytes))
        }
        "fromJson" => {
            arity(1, &args)?;
            let input = args[0].to_bytes();
            let value: Value =
                serde_json::from_slice(&input).map_err(|_| fail("the value is not JSON"))?;
            let out = from_json(&value);
            scrub_value(value);
            Ok(out)
        }
        "toYaml" => {
            arity(1, &args)?;
            let value = to_json(&args[0]);
            let text =
                serde_saphyr::to_string(&value).map_err(|_| fail("the value has no YAML form"));
            scrub_value(value);
            // Sprig's toYaml has no trailing newline.
            text.map(|t| {
                let mut t = Zeroizing::new(t);
                while t.ends_with('\n') {
                    t.pop();
                }
                Val::Bytes(Zeroizing::new(std::mem::take(&mut *t).into_bytes()))
            })
        }
        "fromYaml" => {
            arity(1, &args)?;
            let value = parse_yaml(&args[0].to_bytes()).map_err(|e| fail(&e))?;
            let out = from_json(&value);
            scrub_value(value);
            Ok(out)
        }
        "filterPEM" => {
            arity(2, &args)?;
            let kind = text(&args[0])?;
            let pem = text(&args[1])?;
            Ok(from_string(filter_pem(&kind, &pem)))
        }
        _ => Err(fail("unknown")),
    }
}

fn simple_strings(name: &str, args: &[Val]) -> Result<Val, String> {
    let mut out = Zeroizing::new(String::new());
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let s = text(arg)?;
        match name {
            "upper" => out.push_str(&Zeroizing::new(s.to_uppercase())),
            "lower" => out.push_str(&Zeroizing::new(s.to_lowercase())),
            "trim" => out.push_str(s.trim()),
            "nospace" => out.extend(s.chars().filter(|c| !c.is_whitespace())),
            "squote" => {
                out.push('\'');
                out.push_str(&s);
                out.push('\'');
            }
            _ => out.push_str(&Zeroizing::new(go_quote(&s))),
        }
    }
    if matches!(name, "upper" | "lower" | "trim" | "nospace") {
        arity(name, 1, args)?;
    }
    Ok(Val::Bytes(Zeroizing::new(
        std::mem::take(&mut *out).into_bytes(),
    )))
}

fn logic(name: &str, mut args: Vec<Val>) -> Result<Val, String> {
    let fail = |what: &str| format!("{name}: {what}");
    let arity = |n: usize, args: &[Val]| arity(name, n, args);
    match name {
        "eq" | "ne" => {
            if args.len() < 2 {
                return Err(fail("needs two arguments"));
            }
            let first = args.remove(0);
            let any = args.iter().any(|other| equal(&first, other));
            Ok(Val::Bool(if name == "eq" { any } else { !any }))
        }
        "not" => {
            arity(1, &args)?;
            Ok(Val::Bool(!truthy(&args[0])))
        }
        "empty" => {
            arity(1, &args)?;
            Ok(Val::Bool(!truthy(&args[0])))
        }
        // Go's `and` / `or`: the first empty (or non-empty) argument, else the last.
        "and" | "or" => {
            let want = name == "or";
            let last = args.pop().ok_or_else(|| fail("needs arguments"))?;
            Ok(args.into_iter().find(|a| truthy(a) == want).unwrap_or(last))
        }
        "hasKey" => {
            arity(2, &args)?;
            let key = text(&args[1])?;
            match &args[0] {
                Val::Map(map) => Ok(Val::Bool(map.contains_key(key.as_str()))),
                _ => Err(fail("the first argument is not a map")),
            }
        }
        "append" => {
            arity(2, &args)?;
            let item = args.pop().unwrap_or(Val::Null);
            match args.pop() {
                Some(Val::List(mut list)) => {
                    list.push(item);
                    Ok(Val::List(list))
                }
                _ => Err(fail("the first argument is not a list")),
            }
        }
        "keys" => {
            arity(1, &args)?;
            match &args[0] {
                Val::Map(map) => Ok(Val::List(map.keys().map(|k| Val::text(k)).collect())),
                _ => Err(fail("the argument is not a map")),
            }
        }
        _ => Err(fail("unknown")),
    }
}

/// Go's truth: false, 0, nil and empty strings, maps and lists are false.
pub(crate) fn truthy(val: &Val) -> bool {
    !is_empty(val)
}

fn equal(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Bytes(x), Val::Bytes(y)) => x.as_slice() == y.as_slice(),
        (Val::Num(x), Val::Num(y)) => match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(x), Ok(y)) => x == y,
            _ => x == y,
        },
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Null, Val::Null) => true,
        _ => false,
    }
}

fn strings(name: &str, args: Vec<Val>) -> Result<Val, String> {
    let fail = |what: &str| format!("{name}: {what}");
    let arity = |n: usize, args: &[Val]| arity(name, n, args);
    match name {
        "trimPrefix" | "trimSuffix" | "trimAll" => {
            arity(2, &args)?;
            let (cut, s) = (text(&args[0])?, text(&args[1])?);
            let result = match name {
                "trimPrefix" => s.strip_prefix(cut.as_str()).unwrap_or(&s),
                "trimSuffix" => s.strip_suffix(cut.as_str()).unwrap_or(&s),
                _ => s.trim_matches(|c| cut.contains(c)),
            };
            Ok(Val::text(result))
        }
        "contains" | "hasPrefix" | "hasSuffix" => {
            arity(2, &args)?;
            let (needle, s) = (text(&args[0])?, text(&args[1])?);
            Ok(Val::Bool(match name {
                "contains" => s.contains(needle.as_str()),
                "hasPrefix" => s.starts_with(needle.as_str()),
                _ => s.ends_with(needle.as_str()),
            }))
        }
        "replace" => {
            arity(3, &args)?;
            let (old, new, s) = (text(&args[0])?, text(&args[1])?, text(&args[2])?);
            Ok(from_string(s.replace(old.as_str(), &new)))
        }
        "indent" | "nindent" => {
            arity(2, &args)?;
            let width: usize = text(&args[0])?
                .parse()
                .map_err(|_| fail("the width is not a number"))?;
            let pad = " ".repeat(width);
            let s = text(&args[1])?;
            let mut out = Zeroizing::new(String::new());
            if name == "nindent" {
                out.push('\n');
            }
            for (i, line) in s.split('\n').enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(&pad);
                out.push_str(line);
            }
            Ok(Val::Bytes(Zeroizing::new(
                std::mem::take(&mut *out).into_bytes(),
            )))
        }
        _ => Err(fail("unknown")),
    }
}

fn from_string(s: String) -> Val {
    Val::Bytes(Zeroizing::new(s.into_bytes()))
}

/// A value as UTF-8 text in zeroizing memory.
fn text(val: &Val) -> Result<Zeroizing<String>, String> {
    let bytes = val.to_bytes();
    std::str::from_utf8(&bytes)
        .map(|s| Zeroizing::new(s.to_owned()))
        .map_err(|_| "a value is not UTF-8 text".to_owned())
}

fn is_empty(val: &Val) -> bool {
    match val {
        Val::Bytes(b) => b.is_empty(),
        Val::Map(m) => m.is_empty(),
        Val::List(l) => l.is_empty(),
        Val::Bool(b) => !b,
        Val::Num(n) => n.parse::<f64>().is_ok_and(|n| n == 0.0),
        Val::Null => true,
    }
}

fn index(container: Val, key: &Val) -> Result<Val, String> {
    match container {
        Val::Map(mut map) => {
            let key = text(key)?;
            map.remove(key.as_str())
                .ok_or_else(|| format!("map has no entry for key {:?}", key.as_str()))
        }
        Val::List(mut items) => {
            let i: usize = text(key)?
                .parse()
                .map_err(|_| "a list index is not a number".to_owned())?;
            if i < items.len() {
                Ok(items.swap_remove(i))
            } else {
                Err(format!("index {i} out of range"))
            }
        }
        other => Err(format!("cannot index a {}", other.kind())),
    }
}

/// `%s`, `%v`, `%d`, `%q` and `%%`.
fn printf(mut args: Vec<Val>) -> Result<Val, String> {
    if args.is_empty() {
        return Err("needs a format".into());
    }
    let format = text(&args.remove(0))?;
    let mut rest = args.into_iter();
    let mut out = Zeroizing::new(Vec::new());
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('%') => out.push(b'%'),
            Some(verb @ ('s' | 'v' | 'd' | 'q')) => {
                let arg = rest
                    .next()
                    .ok_or_else(|| format!("%{verb} has no argument"))?;
                if verb == 'q' {
                    out.extend_from_slice(go_quote(&text(&arg)?).as_bytes());
                } else {
                    arg.print(&mut out);
                }
            }
            other => return Err(format!("verb %{} is not supported", other.unwrap_or(' '))),
        }
    }
    Ok(Val::Bytes(out))
}

/// Go's `strconv.Quote` for printable text.
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn to_json(val: &Val) -> Value {
    match val {
        Val::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Val::List(l) => Value::Array(l.iter().map(to_json).collect()),
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => serde_json::from_str(n).unwrap_or(Value::Null),
        Val::Null => Value::Null,
    }
}

pub(crate) fn from_json(value: &Value) -> Val {
    match value {
        Value::String(s) => Val::text(s),
        Value::Object(m) => Val::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), from_json(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
        Value::Array(l) => Val::List(l.iter().map(from_json).collect()),
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => Val::Num(n.to_string()),
        Value::Null => Val::Null,
    }
}

/// Parses YAML made from secret values: no aliases (no expansion), bounded depth and size.
pub(crate) fn parse_yaml(bytes: &[u8]) -> Result<Value, String> {
    if bytes.len() > super::MAX_OUTPUT {
        return Err("the YAML is larger than 1 MiB".into());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "the YAML is not UTF-8".to_owned())?;
    let budget = serde_saphyr::budget! {
        max_depth: 32,
        max_documents: 1,
        max_nodes: 100_000,
        max_aliases: 0,
        max_anchors: 0,
    };
    let options = serde_saphyr::options! { budget: budget };
    // The parser's message may quote the input: it is not passed on.
    serde_saphyr::from_str_with_options(text, options)
        .map_err(|_| "the text is not valid YAML (aliases are not allowed)".to_owned())
}

/// The PEM blocks of type `kind` in `pem`, in order.
fn filter_pem(kind: &str, pem: &str) -> String {
    let begin = format!("-----BEGIN {kind}-----");
    let end = format!("-----END {kind}-----");
    let mut out = String::new();
    let mut rest = pem;
    while let Some(start) = rest.find(&begin) {
        let Some(stop) = rest[start..].find(&end) else {
            break;
        };
        let block_end = start + stop + end.len();
        out.push_str(&rest[start..block_end]);
        out.push('\n');
        rest = &rest[block_end..];
    }
    out
}
