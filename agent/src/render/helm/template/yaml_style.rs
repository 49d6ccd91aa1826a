//! go-yaml v2's choice of a scalar's style: plain where YAML 1.1 reads the text back as the
//! same string, else single-quoted, double-quoted, or a literal block for multi-line text.

#[derive(Clone, Copy)]
pub(super) enum Style {
    /// A style.
    Plain,
    /// A style.
    Single,
    /// A style.
    Double,
    /// A style.
    Literal,
}

/// go-yaml v2's `is_printable` (tabs and characters beyond the BMP are not).
pub(super) fn printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0a
        || (0x20..=0x7e).contains(&v)
        || v == 0x85
        || (0xa0..=0xd7ff).contains(&v)
        || ((0xe000..=0xfffd).contains(&v) && v != 0xfeff)
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

pub(super) fn choose_style(s: &str, key: bool) -> Style {
    let mut style = if s.contains('\n') {
        Style::Literal
    } else if resolves_to_non_string(s) || is_base60_float(s) {
        Style::Double
    } else {
        Style::Plain
    };
    let a = analyze(s);
    if matches!(style, Style::Literal) && (!a.block_allowed || key) {
        style = Style::Double;
    }
    if matches!(style, Style::Plain) && (!a.plain_allowed || (s.is_empty() && key)) {
        style = Style::Single;
    }
    if matches!(style, Style::Single) && !a.single_allowed {
        style = Style::Double;
    }
    style
}

struct Analysis {
    plain_allowed: bool,
    single_allowed: bool,
    block_allowed: bool,
}

fn analyze(s: &str) -> Analysis {
    let mut a = Analysis {
        plain_allowed: true,
        single_allowed: true,
        block_allowed: true,
    };
    if s.is_empty() {
        a.plain_allowed = false;
        a.block_allowed = false;
        return a;
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut special, mut line_breaks) =
        (false, false, false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_ws = true;
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let followed_ws =
            i + 1 >= n || matches!(chars[i + 1], ' ' | '\t') || is_break(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_ws => block_indicators = true,
                '#' if preceded_ws => block_indicators = true,
                _ => {}
            }
        }
        if !printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = matches!(c, ' ' | '\t' | '\0') || is_break(c);
    }
    if leading_space || leading_break || trailing_space || trailing_break {
        a.plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || special {
        a.plain_allowed = false;
        a.single_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.plain_allowed = false;
    }
    a
}

/// go-yaml v2's `isBase60Float` (`1:20` would read as a sexagesimal number).
fn is_base60_float(s: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    if s.is_empty() || !s.contains(':') {
        return false;
    }
    let c = s.as_bytes()[0];
    if !(c == b'+' || c == b'-' || c.is_ascii_digit()) {
        return false;
    }
    RE.get_or_init(|| {
        regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
            .expect("valid regex")
    })
    .is_match(s)
}

/// Whether go-yaml v2 would read this plain text as something other than a string.
#[must_use]
pub fn resolves_to_non_string(s: &str) -> bool {
    match s {
        "" | "~" | "null" | "Null" | "NULL" | "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N"
        | "no" | "No" | "NO" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE" | "on"
        | "On" | "ON" | "off" | "Off" | "OFF" | ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf"
        | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | "<<" => return true,
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => go_parse_float(s),
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(s) {
                return true;
            }
            let plain = s.replace('_', "");
            if go_parse_int(&plain) || yaml_style_float(&plain) {
                return true;
            }
            let bin = plain
                .strip_prefix("0b")
                .or_else(|| plain.strip_prefix("-0b"));
            bin.is_some_and(|b| !b.is_empty() && b.bytes().all(|c| c == b'0' || c == b'1'))
        }
        _ => false,
    }
}

/// `strconv.ParseInt(s, 0, 64)` or `ParseUint` succeeds.
fn go_parse_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    let lower = body.to_ascii_lowercase();
    let (digits, radix) = if let Some(h) = lower.strip_prefix("0x") {
        (h, 16)
    } else if let Some(o) = lower.strip_prefix("0o") {
        (o, 8)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (b, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    !digits.is_empty() && u64::from_str_radix(digits, radix).is_ok()
}

fn yaml_style_float(s: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
            .expect("valid regex")
    })
    .is_match(s)
}

fn go_parse_float(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.trim_start_matches(['+', '-']),
        "inf" | "infinity" | "nan"
    ) {
        return true;
    }
    yaml_style_float(s)
        || s.parse::<f64>().is_ok()
            && !s.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
}

/// go-yaml v2's timestamp formats (`2001-12-14`, `2001-12-14T21:59:43.10Z`, ...). Digits
/// are ASCII digits, as Go's `\d`: a Unicode `\d` would also make the compiled expression
/// some 1.5 MiB, built in every render that writes a number-like string.
fn is_timestamp(s: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    // Every form starts with four digits and a dash, and is at least `2001-1-1` long.
    let b = s.as_bytes();
    if b.len() < 8 || b[4] != b'-' || !b[..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:[Tt]([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2}))|(?: ([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.[0-9]{1,9})?))?$")
            .expect("valid regex")
    });
    let Some(c) = re.captures(s) else {
        return false;
    };
    let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    let (Some(m), Some(d)) = (num(2), num(3)) else {
        return false;
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return false;
    }
    for (h, mi, se) in [(4, 5, 6), (7, 8, 9)] {
        if let (Some(h), Some(mi), Some(se)) = (num(h), num(mi), num(se))
            && (h > 23 || mi > 59 || se > 59)
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_go_yamls_with_ascii_digits_only() {
        for yes in [
            "2001-12-14",
            "2001-1-1",
            "2001-12-14T21:59:43.10Z",
            "2001-12-14 21:59:43.10",
        ] {
            assert!(is_timestamp(yes), "{yes}");
            assert!(resolves_to_non_string(yes), "{yes}");
        }
        for no in [
            "2001-13-14",
            "2001-12",
            "200-12-14",
            "20011-12-14",
            "\u{661}\u{662}\u{663}\u{664}-01-01",
            "2001-01-\u{661}",
        ] {
            assert!(!is_timestamp(no), "{no}");
        }
    }
}
