//! Go's RE2 regular expression syntax where the `regex` crate reads it differently:
//! rewrites an expression so that the crate matches what Go's `regexp` matches.
//!
//! - In a bracket class, Go takes `-` after a class escape (`[\w-.]`), after a POSIX class
//!   (`[[:alpha:]-]`) or after a range (`[a-c-e]`) as a literal; the crate refuses it.
//! - In a bracket class, Go takes `[` (other than `[:name:]`), `&` and `~` as literals; the
//!   crate reads nested classes and the `&&`/`~~`/`--` set operations.
//! - Outside a class, Go takes a `{` that does not start a repeat count (`a{`, `{x}`,
//!   `{,3}`) as a literal; the crate refuses it.

use std::borrow::Cow;

/// The expression in the `regex` crate's syntax with Go's meaning.
pub(super) fn translate(expr: &str) -> Cow<'_, str> {
    if !expr.contains(['[', '{']) {
        return Cow::Borrowed(expr);
    }
    let c: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len() + 8);
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '\\' => i = escape(&c, i, &mut out).0,
            '[' => i = class(&c, i, &mut out),
            '{' if !is_repeat(&c[i..]) => {
                out.push_str("\\{");
                i += 1;
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// Copies the escape at `c[i]` (a backslash, with its `{...}` for `\p{..}`/`\x{..}`);
/// returns the next index and whether it was a class escape (`\d`, `\w`, `\s`, their negations, `\pL`, `\p{Greek}`).
fn escape(c: &[char], i: usize, out: &mut String) -> (usize, bool) {
    let Some(&next) = c.get(i + 1) else {
        out.push('\\');
        return (i + 1, false);
    };
    let end = match next {
        'p' | 'P' | 'x' if c.get(i + 2) == Some(&'{') => c[i..]
            .iter()
            .position(|&ch| ch == '}')
            .map_or(c.len(), |p| i + p + 1),
        'p' | 'P' => (i + 3).min(c.len()),
        'x' => (i + 4).min(c.len()),
        _ => i + 2,
    };
    out.extend(&c[i..end]);
    (
        end,
        matches!(next, 'd' | 'D' | 's' | 'S' | 'w' | 'W' | 'p' | 'P'),
    )
}

/// Copies the bracket class starting at `c[i]` (`[`); returns the index after it.
fn class(c: &[char], mut i: usize, out: &mut String) -> usize {
    out.push('[');
    i += 1;
    if c.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    if c.get(i) == Some(&']') {
        out.push_str("\\]");
        i += 1;
    }
    // Whether the item just copied ends a class or a range (a `-` after it is literal),
    // or is a single character (a `-` after it starts a range).
    let mut after_set = false;
    let mut after_char = false;
    while let Some(&ch) = c.get(i) {
        match ch {
            ']' => {
                out.push(']');
                return i + 1;
            }
            '\\' => {
                let (next, is_class) = escape(c, i, out);
                i = next;
                after_set = is_class;
                after_char = !is_class;
            }
            '[' if c.get(i + 1) == Some(&':') => {
                let end = (i + 2..c.len().saturating_sub(1))
                    .find(|&k| c[k] == ':' && c[k + 1] == ']')
                    .map_or(c.len(), |k| k + 2);
                out.extend(&c[i..end]);
                i = end;
                after_set = true;
                after_char = false;
            }
            '-' if after_set => {
                out.push_str("\\-");
                i += 1;
                after_set = false;
                after_char = false;
            }
            '-' if after_char && c.get(i + 1).is_some_and(|&n| n != ']') => {
                // A range: copy its end, after which a `-` is literal.
                out.push('-');
                i += 1;
                if c[i] == '\\' {
                    i = escape(c, i, out).0;
                } else {
                    push_class_char(c[i], out);
                    i += 1;
                }
                after_set = true;
                after_char = false;
            }
            _ => {
                push_class_char(ch, out);
                i += 1;
                after_set = false;
                after_char = true;
            }
        }
    }
    i
}

/// A literal character inside a class, escaped where the crate would read an operator.
fn push_class_char(ch: char, out: &mut String) {
    if matches!(ch, '[' | '&' | '~' | '-') {
        out.push('\\');
    }
    out.push(ch);
}

/// Whether `c` (starting at `{`) is a repeat count Go accepts: `{n}`, `{n,}`, `{n,m}`.
fn is_repeat(c: &[char]) -> bool {
    let mut k = 1;
    let digits = |k: &mut usize| {
        let start = *k;
        while c.get(*k).is_some_and(char::is_ascii_digit) {
            *k += 1;
        }
        *k > start
    };
    if !digits(&mut k) {
        return false;
    }
    if c.get(k) == Some(&',') {
        k += 1;
        digits(&mut k);
    }
    c.get(k) == Some(&'}')
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn go_regex_syntax_the_crate_reads_differently_is_translated() {
        for (go, rust) in [
            (r"^[\w-\.]+$", r"^[\w\-\.]+$"),
            (r"[[:alpha:]-z]", r"[[:alpha:]\-z]"),
            (r"[a-c-e]", r"[a-c\-e]"),
            (r"[-a]", r"[\-a]"),
            (r"[a-]", r"[a\-]"),
            (r"[]a]", r"[\]a]"),
            (r"[a[b]", r"[a\[b]"),
            (r"[a&&b~~c]", r"[a\&\&b\~\~c]"),
            (r"a{", r"a\{"),
            (r"a{2,3}b{,3}", r"a{2,3}b\{,3}"),
            (r"\{[\d-x]", r"\{[\d\-x]"),
            (r"[\p{Greek}-a]", r"[\p{Greek}\-a]"),
            (r"plain.*", r"plain.*"),
            (r"[\x41-\x5A-z]", r"[\x41-\x5A\-z]"),
            (r"\x{1F600}[\x{41}-\x{5A}-]", r"\x{1F600}[\x{41}-\x{5A}\-]"),
        ] {
            assert_eq!(translate(go), rust, "{go}");
            assert!(regex::Regex::new(&translate(go)).is_ok(), "{go}");
        }
        let re = regex::Regex::new(&translate(r"^[\w-\.]+$")).unwrap();
        assert!(re.is_match("redis-ha.svc_1"));
        assert!(!re.is_match("a b"));
        let re = regex::Regex::new(&translate(r"^[a-c-e]+$")).unwrap();
        assert!(re.is_match("a-e") && !re.is_match("d"));
    }
}
