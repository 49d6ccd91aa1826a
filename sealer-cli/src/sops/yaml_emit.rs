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
use super::yaml_style::{Style, double_quote_body, is_break, string_style};

const INDENT: usize = 4;

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
