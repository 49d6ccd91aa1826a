//! Sprig's regular expression functions (Go's RE2 syntax, through the `regex` crate, which
//! guarantees linear time; [`super::regex_go`] rewrites where the two syntaxes differ).

use super::super::exec::Exec;
use super::{Func, Value, arity, int, s, string};
use regex::Regex;

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("regexMatch", regex_match),
    ("mustRegexMatch", must_regex_match),
    ("regexFind", regex_find),
    ("mustRegexFind", regex_find),
    ("regexFindAll", regex_find_all),
    ("mustRegexFindAll", regex_find_all),
    ("regexReplaceAll", regex_replace_all),
    ("mustRegexReplaceAll", regex_replace_all),
    ("regexReplaceAllLiteral", regex_replace_all_literal),
    ("mustRegexReplaceAllLiteral", regex_replace_all_literal),
    ("regexSplit", regex_split),
    ("mustRegexSplit", regex_split),
    ("regexQuoteMeta", regex_quote_meta),
];

/// Compiles as Go's `regexp.MustCompile` would, with its error wording.
fn compile(expr: &str) -> Result<Regex, String> {
    build(expr).map_err(|e| format!("regexp: Compile({}): {e}", go_regexp_quote(expr)))
}

/// Most compiled expressions kept (charts use a handful; the cache starts over when full).
const CACHE_MAX: usize = 512;

/// Compiles as Go's `regexp.Compile`, with Go's `error parsing regexp: ...` wording. The
/// expressions compiled are kept: charts match the same few in every template.
fn build(expr: &str) -> Result<Regex, String> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, Regex>>> =
        std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let lock = || {
        cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(re) = lock().get(expr) {
        return Ok(re.clone());
    }
    let re = build_uncached(expr)?;
    let mut cached = lock();
    if cached.len() >= CACHE_MAX {
        cached.clear();
    }
    cached.insert(expr.to_owned(), re.clone());
    Ok(re)
}

fn build_uncached(expr: &str) -> Result<Regex, String> {
    let expr = super::regex_go::translate(expr);
    regex::RegexBuilder::new(&expr)
        .size_limit(10 * 1024 * 1024)
        .build()
        .map_err(|e| go_error(&expr, &e))
}

/// Go's regexp quoting: backquotes when possible.
fn go_regexp_quote(s: &str) -> String {
    if !s.contains('`') && !s.chars().any(|c| c.is_control() && c != '\t') {
        format!("`{s}`")
    } else {
        super::super::print::go_quote(s)
    }
}

/// Go's `syntax.Error` text for the parse errors charts run into.
fn go_error(expr: &str, e: &regex::Error) -> String {
    use regex_syntax::ast::ErrorKind as K;
    let Err(ast) = regex_syntax::ast::parse::Parser::new().parse(expr) else {
        return format!(
            "error parsing regexp: {}",
            e.to_string().lines().last().unwrap_or("invalid").trim()
        );
    };
    let span = ast.span();
    let at = &expr[span.start.offset.min(expr.len())..];
    let (code, arg) = match ast.kind() {
        K::ClassUnclosed => ("missing closing ]", at.to_owned()),
        K::GroupUnclosed => ("missing closing )", expr.to_owned()),
        K::GroupUnopened => ("unexpected )", expr.to_owned()),
        K::RepetitionMissing => {
            let op: String = at.chars().take(1).collect();
            ("missing argument to repetition operator", op)
        }
        K::EscapeUnrecognized => (
            "invalid escape sequence",
            expr[span.start.offset..span.end.offset].to_owned(),
        ),
        K::ClassRangeInvalid => (
            "invalid character class range",
            expr[span.start.offset..span.end.offset].to_owned(),
        ),
        K::UnsupportedLookAround => (
            "invalid or unsupported Perl syntax",
            expr[span.start.offset..span.end.offset.min(span.start.offset + 3)].to_owned(),
        ),
        K::RepetitionCountInvalid | K::RepetitionCountDecimalEmpty | K::RepetitionCountUnclosed => {
            (
                "invalid repeat count",
                expr[span.start.offset..span.end.offset].to_owned(),
            )
        }
        _ => return format!("error parsing regexp: {}", ast.kind()),
    };
    format!("error parsing regexp: {code}: `{arg}`")
}

fn regex_match(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let re = string(a, 0)?;
    let v = string(a, 1)?;
    Ok(Value::Bool(build(re).is_ok_and(|r| r.is_match(v))))
}

fn must_regex_match(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let re = build(string(a, 0)?)?;
    Ok(Value::Bool(re.is_match(string(a, 1)?)))
}

fn regex_find(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let re = compile(string(a, 0)?)?;
    Ok(s(re.find(string(a, 1)?).map_or("", |m| m.as_str())))
}

fn regex_find_all(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let re = compile(string(a, 0)?)?;
    let v = string(a, 1)?;
    let n = int(a, 2)?;
    let it = re.find_iter(v).map(|m| s(m.as_str()));
    let out: Vec<Value> = if n < 0 {
        it.collect()
    } else {
        it.take(n as usize).collect()
    };
    Ok(Value::list(out))
}

fn regex_replace_all(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let re = compile(string(a, 0)?)?;
    let v = string(a, 1)?;
    let repl = string(a, 2)?;
    Ok(s(re.replace_all(v, repl)))
}

fn regex_replace_all_literal(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let re = compile(string(a, 0)?)?;
    let v = string(a, 1)?;
    let repl = string(a, 2)?;
    Ok(s(re.replace_all(v, regex::NoExpand(repl))))
}

/// Go's `Regexp.Split`.
fn regex_split(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let re = compile(string(a, 0)?)?;
    let v = string(a, 1)?;
    let n = int(a, 2)?;
    if n == 0 {
        return Ok(Value::list(Vec::new()));
    }
    if !re.as_str().is_empty() && v.is_empty() {
        return Ok(Value::list(vec![s("")]));
    }
    let mut parts = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in re.find_iter(v) {
        if n > 0 && parts.len() as i64 == n - 1 {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            parts.push(s(&v[beg..end]));
        }
        beg = m.end();
    }
    if end != v.len() {
        parts.push(s(&v[beg..]));
    }
    Ok(Value::list(parts))
}

fn regex_quote_meta(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let v = string(a, 0)?;
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(s(out))
}
