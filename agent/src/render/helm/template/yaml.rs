//! Helm's `toYaml`: sigs.k8s.io/yaml's marshalling (a JSON round trip, then go-yaml v2's
//! emitter): keys in go-yaml's natural order, 2-space indent, sequences not indented in
//! mappings, strings quoted where YAML 1.1 would read them as something else, literal
//! blocks for multi-line strings, and plain, single- and double-quoted scalars folded at
//! 80 columns as go-yaml folds them.

use super::Value;
use super::print::format_float_g;
use std::cmp::Ordering;

/// A value after the JSON round trip, as go-yaml sees it.
enum Node<'a> {
    Null,
    Bool(bool),
    Int(String),
    Float(f64),
    Str(&'a str),
    Seq(Vec<Node<'a>>),
    Map(Vec<(&'a str, Node<'a>)>),
}

fn node(v: &Value) -> Node<'_> {
    match v {
        Value::Nil => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Int(i) => Node::Int(i.to_string()),
        Value::Float(f) => {
            if !f.is_finite() {
                // json.Marshal refuses; Helm's toYaml then prints nothing.
                Node::Null
            } else if f.fract() == 0.0 && f.abs() < 1e21 {
                // JSON writes it as an integer, which go-yaml reads back as one (or as a
                // uint64, or a float when it is larger).
                let s = format!("{f}");
                if s.parse::<i64>().is_ok() || s.parse::<u64>().is_ok() {
                    Node::Int(if s == "-0" { "0".to_owned() } else { s })
                } else {
                    Node::Float(*f)
                }
            } else {
                Node::Float(*f)
            }
        }
        Value::String(s) => Node::Str(s),
        Value::List(l) => Node::Seq(l.iter().map(node).collect()),
        Value::Map(m) => {
            let mut entries: Vec<(&str, Node<'_>)> =
                m.iter().map(|(k, v)| (k.as_str(), node(v))).collect();
            entries.sort_by(|a, b| natural_cmp(a.0, b.0));
            Node::Map(entries)
        }
        Value::Object(_) => Node::Null,
    }
}

/// go-yaml v2's key order: runs of digits compare as numbers, letters after non-letters.
#[must_use]
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let n = ar.len().min(br.len());
    for i in 0..n {
        if ar[i] == br[i] {
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                if ar[j - 1] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
                j -= 1;
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// Marshals a value as Helm's `toYaml` does (without the final newline Helm trims).
#[must_use]
pub fn to_yaml(v: &Value) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
    };
    let n = node(v);
    e.top(&n);
    if e.out.ends_with('\n') {
        e.out.pop();
    }
    e.out
}

struct Emitter {
    out: String,
    column: usize,
}

const WIDTH: usize = 80;

impl Emitter {
    fn put(&mut self, s: &str) {
        self.out.push_str(s);
        match s.rfind('\n') {
            Some(i) => self.column = s[i + 1..].chars().count(),
            None => self.column += s.chars().count(),
        }
    }

    fn newline(&mut self, indent: usize) {
        self.out.push('\n');
        for _ in 0..indent {
            self.out.push(' ');
        }
        self.column = indent;
    }

    /// Starts a new line at `indent` (reusing a line just ended).
    fn line(&mut self, indent: usize) {
        if self.column == 0 && (self.out.is_empty() || self.out.ends_with('\n')) {
            for _ in 0..indent {
                self.out.push(' ');
            }
            self.column = indent;
        } else {
            self.newline(indent);
        }
    }

    fn top(&mut self, n: &Node<'_>) {
        match n {
            Node::Map(m) if !m.is_empty() => self.map(m, 0),
            Node::Seq(s) if !s.is_empty() => self.seq(s, 0),
            other => {
                self.scalar(other, 2, false);
                if !self.out.ends_with('\n') {
                    self.put("\n");
                }
            }
        }
    }

    fn map(&mut self, m: &[(&str, Node<'_>)], indent: usize) {
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                self.line(indent);
            }
            self.string(k, indent + 2, true);
            self.put(":");
            match v {
                Node::Map(mm) if !mm.is_empty() => {
                    self.newline(indent + 2);
                    self.map(mm, indent + 2);
                }
                Node::Seq(ss) if !ss.is_empty() => {
                    self.line(indent);
                    self.seq(ss, indent);
                }
                other => {
                    self.put(" ");
                    self.scalar(other, indent + 2, false);
                }
            }
        }
        if !self.out.ends_with('\n') {
            self.put("\n");
        }
    }

    fn seq(&mut self, s: &[Node<'_>], indent: usize) {
        for (i, v) in s.iter().enumerate() {
            if i > 0 {
                self.line(indent);
            }
            self.put("-");
            match v {
                Node::Map(mm) if !mm.is_empty() => {
                    self.put(" ");
                    self.map(mm, indent + 2);
                }
                Node::Seq(ss) if !ss.is_empty() => {
                    self.put(" ");
                    self.seq(ss, indent + 2);
                }
                other => {
                    self.put(" ");
                    self.scalar(other, indent + 2, false);
                    self.put("\n");
                }
            }
        }
    }

    fn scalar(&mut self, n: &Node<'_>, indent: usize, key: bool) {
        match n {
            Node::Null => self.put("null"),
            Node::Bool(b) => self.put(if *b { "true" } else { "false" }),
            Node::Int(s) => self.put(s),
            Node::Float(f) => {
                let s = format_float_g(*f, None, false);
                let s = match s.as_str() {
                    "+Inf" => ".inf".to_owned(),
                    "-Inf" => "-.inf".to_owned(),
                    "NaN" => ".nan".to_owned(),
                    _ => s,
                };
                self.put(&s);
            }
            Node::Str(s) => self.string(s, indent, key),
            Node::Seq(_) => self.put("[]"),
            Node::Map(_) => self.put("{}"),
        }
    }

    fn string(&mut self, s: &str, indent: usize, key: bool) {
        let style = choose_style(s, key);
        match style {
            Style::Plain => self.folded(s, indent, !key, Style::Plain),
            Style::Single => {
                self.put("'");
                self.folded(s, indent, !key, Style::Single);
                self.put("'");
            }
            Style::Double => self.double(s, indent, !key),
            Style::Literal => self.literal(s, indent),
        }
    }

    /// Writes a plain or single-quoted scalar, breaking at a space past column 80.
    fn folded(&mut self, s: &str, indent: usize, allow_breaks: bool, style: Style) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let last = chars.len().saturating_sub(1);
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                let ok = match style {
                    Style::Plain => !next_space,
                    _ => i != 0 && i != last && !next_space,
                };
                if allow_breaks && !spaces && self.column > WIDTH && ok {
                    self.newline(indent);
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                if c == '\'' && matches!(style, Style::Single) {
                    self.put("''");
                } else {
                    let mut b = [0u8; 4];
                    self.put(c.encode_utf8(&mut b));
                }
                spaces = false;
            }
        }
    }

    fn double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.put("\"");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let last = chars.len().saturating_sub(1);
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks && !spaces && self.column > WIDTH && i != 0 && i != last {
                    self.newline(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put("\\");
                    }
                } else {
                    self.put(" ");
                }
                spaces = true;
                continue;
            }
            spaces = false;
            let esc = match c {
                '\0' => "\\0".to_owned(),
                '\x07' => "\\a".to_owned(),
                '\x08' => "\\b".to_owned(),
                '\t' => "\\t".to_owned(),
                '\n' => "\\n".to_owned(),
                '\x0b' => "\\v".to_owned(),
                '\x0c' => "\\f".to_owned(),
                '\r' => "\\r".to_owned(),
                '\x1b' => "\\e".to_owned(),
                '"' => "\\\"".to_owned(),
                '\\' => "\\\\".to_owned(),
                '\u{85}' => "\\N".to_owned(),
                '\u{a0}' => "\\_".to_owned(),
                '\u{2028}' => "\\L".to_owned(),
                '\u{2029}' => "\\P".to_owned(),
                c if !printable(c) || c == '\u{feff}' => {
                    let v = c as u32;
                    if v <= 0xff {
                        format!("\\x{v:02X}")
                    } else if v <= 0xffff {
                        format!("\\u{v:04X}")
                    } else {
                        format!("\\U{v:08X}")
                    }
                }
                c => c.to_string(),
            };
            self.put(&esc);
        }
        self.put("\"");
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.put("|");
        if s.starts_with([' ', '\n']) {
            self.put("2");
        }
        let chomp = if !s.ends_with('\n') {
            "-"
        } else if s == "\n" || s.ends_with("\n\n") {
            "+"
        } else {
            ""
        };
        self.put(chomp);
        self.out.push('\n');
        self.column = 0;
        let mut breaks = true;
        for c in s.chars() {
            if c == '\n' {
                self.out.push('\n');
                self.column = 0;
                breaks = true;
            } else {
                if breaks {
                    for _ in 0..indent {
                        self.out.push(' ');
                    }
                    self.column = indent;
                }
                let mut b = [0u8; 4];
                self.put(c.encode_utf8(&mut b));
                breaks = false;
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// go-yaml v2's `is_printable` (tabs and characters beyond the BMP are not).
fn printable(c: char) -> bool {
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

fn choose_style(s: &str, key: bool) -> Style {
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
    if matches!(style, Style::Plain) {
        if !a.plain_allowed || (s.is_empty() && key) {
            style = Style::Single;
        }
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

/// go-yaml v2's timestamp formats (`2001-12-14`, `2001-12-14T21:59:43.10Z`, ...).
fn is_timestamp(s: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2}))|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d{1,9})?))?$")
            .expect("valid regex")
    });
    let Some(c) = re.captures(s) else {
        return false;
    };
    let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    let (Some(m), Some(d)) = (num(2), num(3)) else {
        return false;
    };
    if !(1..=12).contains(&m) || d < 1 || d > 31 {
        return false;
    }
    for (h, mi, se) in [(4, 5, 6), (7, 8, 9)] {
        if let (Some(h), Some(mi), Some(se)) = (num(h), num(mi), num(se)) {
            if h > 23 || mi > 59 || se > 59 {
                return false;
            }
        }
    }
    true
}
