//! go-yaml v3's choice of scalar style (plain, quoted, literal block) for a string, as sops
//! writes it.

use super::value::Scalar;
use super::yaml::resolve_plain;

#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

pub(super) fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    let c = c as u32;
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (0xA0..=0xD7FF).contains(&c)
        || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
}

struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// go-yaml's scalar analysis (block context only: flow collections are never written).
fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let mut flags = Flags {
        block_indicators: value.starts_with("---") || value.starts_with("..."),
        ..Flags::default()
    };
    let mut preceded_by_ws = true;
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = chars
            .get(i + 1)
            .is_none_or(|&next| matches!(next, ' ' | '\t') || is_break(next));
        flags.block_indicators |= indicator(c, i == 0, followed_by_ws, preceded_by_ws);
        if c == '\t' {
            flags.tabs = true;
        } else if !is_printable(c) {
            flags.special = true;
        }
        flags.spacing(c, i == 0, i + 1 == n);
        preceded_by_ws = matches!(c, ' ' | '\t' | '\0') || is_break(c);
    }
    flags.analysis()
}

/// Whether `c` is an indicator that rules out a plain scalar where it stands.
fn indicator(c: char, first: bool, followed_by_ws: bool, preceded_by_ws: bool) -> bool {
    if first {
        match c {
            '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
            | '@' | '`' => true,
            '?' | ':' | '-' => followed_by_ws,
            _ => false,
        }
    } else {
        match c {
            ':' => followed_by_ws,
            '#' => preceded_by_ws,
            _ => false,
        }
    }
}

/// What the scan of a string found.
#[derive(Default)]
struct Flags {
    block_indicators: bool,
    line_breaks: bool,
    special: bool,
    tabs: bool,
    leading_space: bool,
    leading_break: bool,
    trailing_space: bool,
    trailing_break: bool,
    break_space: bool,
    space_break: bool,
    prev_space: bool,
    prev_break: bool,
}

impl Flags {
    /// Notes where spaces and line breaks are, and which follows which.
    fn spacing(&mut self, c: char, first: bool, last: bool) {
        if c == ' ' {
            self.leading_space |= first;
            self.trailing_space |= last;
            self.break_space |= self.prev_break;
            self.prev_space = true;
            self.prev_break = false;
        } else if is_break(c) {
            self.line_breaks = true;
            self.leading_break |= first;
            self.trailing_break |= last;
            self.space_break |= self.prev_space;
            self.prev_space = false;
            self.prev_break = true;
        } else {
            self.prev_space = false;
            self.prev_break = false;
        }
    }

    /// The styles the findings allow.
    fn analysis(&self) -> Analysis {
        let mut a = Analysis {
            multiline: self.line_breaks,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: true,
        };
        if self.leading_space || self.leading_break || self.trailing_space || self.trailing_break {
            a.block_plain_allowed = false;
        }
        if self.trailing_space {
            a.block_allowed = false;
        }
        if self.break_space || self.space_break || self.tabs || self.special {
            a.block_plain_allowed = false;
            a.single_quoted_allowed = false;
        }
        if self.space_break || self.special {
            a.block_allowed = false;
        }
        if self.line_breaks || self.block_indicators {
            a.block_plain_allowed = false;
        }
        a
    }
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn is_base60_float(s: &str) -> bool {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
            .expect("a constant regex compiles")
    });
    // Most strings fail on their first byte or for want of a colon; the regex is the rest.
    s.as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_digit() || *b == b'-' || *b == b'+')
        && s.contains(':')
        && RE.is_match(s)
}

/// The style go-yaml picks for a string (a key when `simple_key`).
pub(super) fn string_style(s: &str, simple_key: bool) -> Style {
    let resolves_to_str = matches!(resolve_plain(s), Ok(Scalar::Str(_))) && s != "<<";
    let mut style = if s.contains('\n') {
        Style::Literal
    } else if resolves_to_str && !is_base60_float(s) && !is_old_bool(s) {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || simple_key) {
        style = Style::Double;
    }
    style
}

pub(super) fn double_quote_body(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        let bom = i == 0 && c == '\u{FEFF}';
        if !is_printable(c) || bom || is_break(c) || c == '"' || c == '\\' {
            out.push('\\');
            match c {
                '\0' => out.push('0'),
                '\u{7}' => out.push('a'),
                '\u{8}' => out.push('b'),
                '\t' => out.push('t'),
                '\n' => out.push('n'),
                '\u{b}' => out.push('v'),
                '\u{c}' => out.push('f'),
                '\r' => out.push('r'),
                '\u{1b}' => out.push('e'),
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '\u{85}' => out.push('N'),
                '\u{a0}' => out.push('_'),
                '\u{2028}' => out.push('L'),
                '\u{2029}' => out.push('P'),
                c if (c as u32) <= 0xFF => out.push_str(&format!("x{:02X}", c as u32)),
                c if (c as u32) <= 0xFFFF => out.push_str(&format!("u{:04X}", c as u32)),
                c => out.push_str(&format!("U{:08X}", c as u32)),
            }
        } else {
            out.push(c);
        }
    }
    out
}
