//! Helm's `toYaml`: sigs.k8s.io/yaml's marshalling (a JSON round trip, then go-yaml v2's
//! emitter): keys in go-yaml's natural order, 2-space indent, sequences not indented in
//! mappings, strings quoted where YAML 1.1 would read them as something else, literal
//! blocks for multi-line strings, and plain, single- and double-quoted scalars folded at
//! 80 columns as go-yaml folds them.

use super::Value;
use super::print::format_float_g;
use super::yaml_style::{Style, choose_style, printable};
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
    if a.is_ascii() && b.is_ascii() {
        return natural_cmp_units(a.as_bytes(), b.as_bytes(), char::from);
    }
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    natural_cmp_units(&ar, &br, |c| c)
}

/// [`natural_cmp`] over characters (`ch` reads one; ASCII strings compare as bytes).
fn natural_cmp_units<T: Copy + Ord>(ar: &[T], br: &[T], ch: impl Fn(T) -> char) -> Ordering {
    let n = ar.len().min(br.len());
    for i in 0..n {
        if ar[i] == br[i] {
            continue;
        }
        let al = ch(ar[i]).is_alphabetic();
        let bl = ch(br[i]).is_alphabetic();
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
        if ch(ar[i]) == '0' || ch(br[i]) == '0' {
            let mut j = i;
            while j > 0 && ch(ar[j - 1]).is_ascii_digit() {
                if ch(ar[j - 1]) != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
                j -= 1;
            }
        }
        let mut ai = i;
        while ai < ar.len() && ch(ar[ai]).is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ch(ar[ai]) as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && ch(br[bi]).is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(ch(br[bi]) as u8 - b'0'));
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
    to_yaml_bounded(v, usize::MAX).unwrap_or_default()
}

/// [`to_yaml`], or `None` once the text would exceed `limit` bytes.
#[must_use]
pub fn to_yaml_bounded(v: &Value, limit: usize) -> Option<String> {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        limit,
    };
    let n = node(v);
    e.top(&n);
    if e.out.len() > limit {
        return None;
    }
    if e.out.ends_with('\n') {
        e.out.pop();
    }
    Some(e.out)
}

/// Characters in `s` (bytes when it is ASCII).
fn count_chars(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

struct Emitter {
    out: String,
    column: usize,
    /// Past this many bytes the emitter stops writing (the caller reports the bound).
    limit: usize,
}

const WIDTH: usize = 80;

impl Emitter {
    fn put(&mut self, s: &str) {
        self.out.push_str(s);
        match s.rfind('\n') {
            Some(i) => self.column = count_chars(&s[i + 1..]),
            None => self.column += count_chars(s),
        }
    }

    /// Writes one character that is not a line break.
    fn put_char(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn newline(&mut self, indent: usize) {
        if self.out.len() > self.limit {
            return;
        }
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
        // Without spaces there is nowhere to fold.
        let quotes_to_double = matches!(style, Style::Single) && s.contains('\'');
        if !s.contains(' ') && !quotes_to_double {
            self.put(s);
            return;
        }
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
                } else if c == '\n' {
                    self.put("\n");
                } else {
                    self.put_char(c);
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
                '\0' => "\\0",
                '\x07' => "\\a",
                '\x08' => "\\b",
                '\t' => "\\t",
                '\n' => "\\n",
                '\x0b' => "\\v",
                '\x0c' => "\\f",
                '\r' => "\\r",
                '\x1b' => "\\e",
                '"' => "\\\"",
                '\\' => "\\\\",
                '\u{85}' => "\\N",
                '\u{a0}' => "\\_",
                '\u{2028}' => "\\L",
                '\u{2029}' => "\\P",
                c if !printable(c) || c == '\u{feff}' => {
                    let v = c as u32;
                    let hex = if v <= 0xff {
                        format!("\\x{v:02X}")
                    } else if v <= 0xffff {
                        format!("\\u{v:04X}")
                    } else {
                        format!("\\U{v:08X}")
                    };
                    self.put(&hex);
                    continue;
                }
                c => {
                    self.put_char(c);
                    continue;
                }
            };
            self.put(esc);
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
                self.put_char(c);
                breaks = false;
            }
        }
    }
}
