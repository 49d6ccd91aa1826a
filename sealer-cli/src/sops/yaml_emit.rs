//! Writing the document tree as YAML, the way sops 3.11.0 does (go-yaml v3, indent 4).
//!
//! The goal is byte equality with `sops -d` and `sops -e`: the same scalar styles (plain,
//! single- or double-quoted, literal blocks with their indentation and chomping indicators),
//! the same indentation rules (block sequences indented under their key; nested blocks aligned
//! to multiples of 4; items of a sequence 2 past the dash), and comments where sops puts them:
//! every comment on its own line before the item it precedes, trailing ones at the block end.

use base64::Engine;

use super::gostrconv::go_format_yaml_float;
use super::tree::{Branch, MapItem, Node};
use super::value::{Scalar, Secret};
use super::yaml::resolve_plain;

const INDENT: usize = 4;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// Where a block node sits, which decides the indentation of its content.
#[derive(Clone, Copy, PartialEq)]
enum Context {
    /// The value of a mapping key at this indentation.
    MapValue(usize),
    /// An item of a sequence whose dashes are at this indentation.
    SeqItem(usize),
}

impl Context {
    fn child_indent(self) -> usize {
        match self {
            Context::MapValue(k) => INDENT * ((k + INDENT) / INDENT),
            Context::SeqItem(s) => s + 2,
        }
    }

    /// The indentation a YAML reader holds for the enclosing collection: the column of the
    /// key, or of the dash. A block scalar's indentation indicator counts from there.
    fn parent_column(self) -> usize {
        match self {
            Context::MapValue(k) => k,
            Context::SeqItem(s) => s,
        }
    }
}

struct Emitter {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
    foot_indent: Option<usize>,
    open_ended: bool,
}

impl Emitter {
    fn put(&mut self, s: &str) {
        self.out.push_str(s);
        self.column += s.chars().count();
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
        self.indention = true;
    }

    fn write_indent(&mut self, indent: usize) {
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        if self.foot_indent == Some(indent) {
            self.put_break();
        }
        while self.column < indent {
            self.put(" ");
        }
        self.whitespace = true;
        self.foot_indent = None;
    }

    fn write_indicator(
        &mut self,
        ind: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(" ");
        }
        self.put(ind);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    /// Writes comment lines (texts after `#`) at an indentation.
    fn write_comments(&mut self, comments: &[&Secret], indent: usize) {
        if comments.is_empty() {
            return;
        }
        self.write_indent(indent);
        for (i, c) in comments.iter().enumerate() {
            if i > 0 {
                self.put_break();
                self.write_indent(indent);
            }
            self.put("#");
            self.put(&String::from_utf8_lossy(c.expose()));
            self.indention = false;
        }
        self.put_break();
        self.whitespace = true;
    }

    fn document(&mut self, branch: &Branch, first: bool) {
        if !first {
            self.write_indent(0);
            self.write_indicator("---", true, false, false);
            self.write_indent(0);
        }
        if branch.entries().next().is_none() {
            let comments: Vec<&Secret> = comments_of(branch);
            if comments.is_empty() {
                self.write_indicator("{", true, true, false);
                self.write_indicator("}", false, false, false);
            } else {
                self.write_comments(&comments, 0);
                self.write_indicator("{", true, true, false);
                self.write_indicator("}", false, false, false);
            }
        } else {
            self.block_map(branch, 0);
        }
        // Document end.
        self.foot_indent = None;
        self.write_indent(0);
    }

    fn block_map(&mut self, b: &Branch, indent: usize) {
        let mut comments: Vec<&Secret> = Vec::new();
        for item in &b.items {
            match item {
                MapItem::Comment(c) => comments.push(c),
                MapItem::Entry(k, v) => {
                    self.write_comments(&comments, indent);
                    comments.clear();
                    self.write_indent(indent);
                    self.key(k);
                    self.write_indicator(":", false, false, false);
                    self.value(v, Context::MapValue(indent));
                }
            }
        }
        if !comments.is_empty() {
            self.write_comments(&comments, indent);
            self.foot_indent = Some(indent);
        }
    }

    fn block_seq(&mut self, items: &[Node], indent: usize) {
        let mut comments: Vec<&Secret> = Vec::new();
        for item in items {
            if let Node::Comment(c) = item {
                comments.push(c);
                continue;
            }
            // Comments before an item, and the leading comments of a block item itself, are
            // written before its dash.
            let lead = match item {
                Node::Map(b) if b.entries().next().is_some() => leading_comments(&b.items),
                Node::Seq(s) if s.iter().any(|n| !matches!(n, Node::Comment(_))) => {
                    leading_seq_comments(s)
                }
                _ => Vec::new(),
            };
            comments.extend(lead);
            self.write_comments(&comments, indent);
            comments.clear();
            self.write_indent(indent);
            self.write_indicator("-", true, false, true);
            self.value(item, Context::SeqItem(indent));
        }
        if !comments.is_empty() {
            self.write_comments(&comments, indent);
            self.foot_indent = Some(indent);
        }
    }

    fn value(&mut self, node: &Node, ctx: Context) {
        let child = ctx.child_indent();
        match node {
            Node::Map(b) if b.entries().next().is_none() => {
                self.write_indicator("{", true, true, false);
                self.write_indicator("}", false, false, false);
            }
            Node::Map(b) => {
                let skip = if matches!(ctx, Context::SeqItem(_)) {
                    leading_comments(&b.items).len()
                } else {
                    0
                };
                self.block_map_skipping(b, child, skip);
            }
            Node::Seq(items) if items.iter().all(|n| matches!(n, Node::Comment(_))) => {
                self.write_indicator("[", true, true, false);
                self.write_indicator("]", false, false, false);
            }
            Node::Seq(items) => {
                let skip = if matches!(ctx, Context::SeqItem(_)) {
                    leading_seq_comments(items).len()
                } else {
                    0
                };
                self.block_seq(&items[skip..], child);
            }
            Node::Scalar(s) => self.scalar(s, child, child - ctx.parent_column()),
            Node::Comment(_) => {}
        }
    }

    fn block_map_skipping(&mut self, b: &Branch, indent: usize, skip: usize) {
        if skip == 0 {
            return self.block_map(b, indent);
        }
        let rest = Branch {
            items: b.items[skip..].iter().map(shallow).collect(),
        };
        self.block_map(&rest, indent);
    }

    fn key(&mut self, k: &str) {
        let style = string_style(k, true);
        self.write_string(k, style, 0, INDENT);
    }

    fn scalar(&mut self, s: &Scalar, literal_indent: usize, indicator: usize) {
        match s {
            Scalar::Null => self.plain("null"),
            Scalar::Int(i) => self.plain(&i.to_string()),
            Scalar::Float(f) => self.plain(&go_format_yaml_float(*f)),
            Scalar::Bool(b) => self.plain(if *b { "true" } else { "false" }),
            Scalar::Time(t) => self.plain(&String::from_utf8_lossy(t.expose())),
            Scalar::Str(s) => match s.expose_str() {
                Some(text) => {
                    let style = string_style(text, false);
                    self.write_string(text, style, literal_indent, indicator);
                }
                None => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(s.expose());
                    self.write_indicator("!!binary", true, false, false);
                    self.plain(&b64);
                }
            },
        }
    }

    fn plain(&mut self, text: &str) {
        if !text.is_empty() && !self.whitespace {
            self.put(" ");
        }
        self.put(text);
        if !text.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
    }

    fn write_string(&mut self, text: &str, style: Style, literal_indent: usize, indicator: usize) {
        match style {
            Style::Plain => self.plain(text),
            Style::Single => {
                self.write_indicator("'", true, false, false);
                self.put(&text.replace('\'', "''"));
                self.write_indicator("'", false, false, false);
                self.whitespace = false;
                self.indention = false;
            }
            Style::Double => {
                self.write_indicator("\"", true, false, false);
                self.put(&double_quote_body(text));
                self.write_indicator("\"", false, false, false);
                self.whitespace = false;
                self.indention = false;
            }
            Style::Literal => self.literal(text, literal_indent, indicator),
        }
    }

    /// A literal block scalar whose lines start at column `indent`. When the text starts with a
    /// space or a line break, a reader cannot detect the indentation and the header carries it:
    /// `indicator` columns past the enclosing collection. go-yaml always writes `4` there, which
    /// inside a sequence (content two columns past the dash) makes YAML that no reader accepts,
    /// sops included; this writes the indicator that matches the content instead.
    fn literal(&mut self, text: &str, indent: usize, indicator: usize) {
        self.write_indicator("|", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        if chars.first().is_some_and(|c| *c == ' ' || is_break(*c)) {
            self.write_indicator(&indicator.to_string(), false, false, false);
        }
        self.open_ended = false;
        let chomp = match chars.as_slice() {
            [] => Some('-'),
            [.., last] if !is_break(*last) => Some('-'),
            [_] => Some('+'),
            [.., prev, _] if is_break(*prev) => Some('+'),
            _ => None,
        };
        if let Some(c) = chomp {
            self.write_indicator(&c.to_string(), false, false, false);
            if c == '+' {
                self.open_ended = true;
            }
        }
        // The header line ends here, as go-yaml ends it, so that a value starting with a line
        // break keeps that break as an empty first line.
        self.put_break();
        self.whitespace = true;
        let mut breaks = true;
        for c in chars {
            if is_break(c) {
                if c == '\n' {
                    self.put_break();
                } else {
                    let mut buf = [0u8; 4];
                    self.out.push_str(c.encode_utf8(&mut buf));
                    self.column = 0;
                    self.indention = true;
                }
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                let mut buf = [0u8; 4];
                self.put(c.encode_utf8(&mut buf));
                self.indention = false;
                breaks = false;
            }
        }
    }
}

fn shallow(item: &MapItem) -> MapItem {
    match item {
        MapItem::Entry(k, v) => MapItem::Entry(k.clone(), v.duplicate()),
        MapItem::Comment(c) => MapItem::Comment(c.duplicate()),
    }
}

fn comments_of(b: &Branch) -> Vec<&Secret> {
    b.items
        .iter()
        .filter_map(|i| {
            if let MapItem::Comment(c) = i {
                Some(c)
            } else {
                None
            }
        })
        .collect()
}

fn leading_comments(items: &[MapItem]) -> Vec<&Secret> {
    items
        .iter()
        .map_while(|i| {
            if let MapItem::Comment(c) = i {
                Some(c)
            } else {
                None
            }
        })
        .collect()
}

fn leading_seq_comments(items: &[Node]) -> Vec<&Secret> {
    items
        .iter()
        .map_while(|i| {
            if let Node::Comment(c) = i {
                Some(c)
            } else {
                None
            }
        })
        .collect()
}

fn is_break(c: char) -> bool {
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
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_by_ws =
            i + 1 >= n || matches!(chars[i + 1], ' ' | '\t') || is_break(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
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
        preceded_by_ws = matches!(c, ' ' | '\t' | '\0') || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || tabs || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
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
fn string_style(s: &str, simple_key: bool) -> Style {
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

fn double_quote_body(s: &str) -> String {
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

/// The text a scalar has when used as a mapping key.
pub fn scalar_key_text(s: &Scalar) -> String {
    match s {
        Scalar::Null => "null".into(),
        Scalar::Str(t) | Scalar::Time(t) => String::from_utf8_lossy(t.expose()).into_owned(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => go_format_yaml_float(*f),
        Scalar::Bool(b) => b.to_string(),
    }
}

fn new_emitter() -> Emitter {
    Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
        foot_indent: None,
        open_ended: false,
    }
}

/// Writes one value (a mapping, a sequence or a scalar) as a YAML document.
pub fn emit_value(node: &Node) -> String {
    match node {
        Node::Map(b) => emit(std::slice::from_ref(b)),
        Node::Seq(items) if items.iter().any(|n| !matches!(n, Node::Comment(_))) => {
            let mut e = new_emitter();
            e.block_seq(items, 0);
            e.write_indent(0);
            e.out
        }
        Node::Seq(_) => "[]\n".to_owned(),
        Node::Scalar(s) => {
            let mut e = new_emitter();
            e.scalar(s, INDENT, INDENT);
            e.write_indent(0);
            e.out
        }
        Node::Comment(_) => String::new(),
    }
}

/// Writes documents as a YAML stream.
pub fn emit(docs: &[Branch]) -> String {
    let mut e = new_emitter();
    for (i, doc) in docs.iter().enumerate() {
        e.document(doc, i == 0);
    }
    if e.open_ended {
        e.write_indicator("...", true, false, false);
        e.write_indent(0);
    }
    e.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_get_go_yaml_styles() {
        assert_eq!(string_style("plain", false), Style::Plain);
        assert_eq!(string_style("yes", false), Style::Double);
        assert_eq!(string_style("123", false), Style::Double);
        assert_eq!(string_style("", false), Style::Double);
        assert_eq!(string_style("a: b", false), Style::Single);
        assert_eq!(string_style("x #y", false), Style::Single);
        assert_eq!(string_style("a\nb\n", false), Style::Literal);
        assert_eq!(string_style("tab\there", false), Style::Double);
        assert_eq!(string_style("emoji \u{1F600}", false), Style::Double);
        assert_eq!(double_quote_body("emoji \u{1F600}"), "emoji \\U0001F600");
    }

    #[test]
    fn nested_blocks_indent_like_sops() {
        let mut inner = Branch::new();
        inner.push("b", Node::Scalar(Scalar::Int(1)));
        inner.push("c", Node::Seq(vec![Node::Scalar(Scalar::Int(1))]));
        let mut doc = Branch::new();
        doc.push(
            "list",
            Node::Seq(vec![
                Node::text("a"),
                Node::Map(inner),
                Node::Seq(vec![Node::text("x")]),
            ]),
        );
        doc.push("multi", Node::text("line1\nline2\n"));
        doc.push("empty", Node::text(""));
        let out = emit(&[doc]);
        assert_eq!(
            out,
            "list:\n    - a\n    - b: 1\n      c:\n        - 1\n    - - x\nmulti: |\n    line1\n    line2\nempty: \"\"\n"
        );
    }
}
