//! The fast path of YAML reading: values built straight from the parser's events, without
//! going through serde.
//!
//! It reads what manifests are made of (mappings with string keys, sequences, untagged
//! scalars, anchors and aliases) and types plain scalars exactly as the serde path does
//! (`null`/`~`/empty, booleans, numbers; everything else is a string). Anything else (a tag,
//! a merge key `<<`, a key that is not a string, a duplicate key, a syntax error, a budget
//! reached) makes it give up, and the caller reads the text through serde-saphyr instead,
//! which decides and words the error. So the two paths never disagree on a value.
//!
//! It also keeps what serde cannot: where a value is an *empty* null (`key:` with nothing
//! after it), which kustomize treats differently from a written `null` after a strategic
//! merge patch, and it reads a block scalar that ends the input without a final line break
//! the way go-yaml does (no line break added).

use super::{Document, ParseOptions, PathSegment, options};
use granit_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// Most parser events one text may produce on the fast path (serde-saphyr's own default).
pub(super) const MAX_EVENTS: usize = 1_000_000;

/// Most bytes aliases may copy in one text: a few aliases of a long string would otherwise
/// expand a small file to gigabytes within the node budget.
const MAX_ALIAS_BYTES: usize = 64 << 20;

enum Frame {
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
    },
    Seq {
        items: Vec<Value>,
        anchor: usize,
    },
}

struct Builder<'a> {
    limits: &'a ParseOptions,
    stack: Vec<Frame>,
    root: Option<Value>,
    /// Anchored values with their node counts and sizes in bytes.
    anchors: HashMap<usize, (Value, usize, usize)>,
    nodes: usize,
    /// Bytes copied by aliases so far.
    alias_bytes: usize,
    empty_nulls: Vec<Vec<PathSegment>>,
    docs: Vec<Document>,
}

/// Builds the documents of `text`; `None` when the text needs the serde path.
pub(super) fn build(text: &str, limits: &ParseOptions) -> Option<Vec<Document>> {
    let mut parser_options = granit_parser::Options::default();
    parser_options.block_scalar_eof_without_line_feed = true;
    // Comments are not data; without this, a long run of comments is an error.
    parser_options.set_emit_comments(false);
    let mut builder = Builder {
        limits,
        stack: Vec::new(),
        root: None,
        anchors: HashMap::new(),
        nodes: 0,
        alias_bytes: 0,
        empty_nulls: Vec::new(),
        docs: Vec::new(),
    };
    for (count, event) in Parser::new_from_str_with_options(text, parser_options).enumerate() {
        if count > MAX_EVENTS {
            return None;
        }
        let (event, span) = event.ok()?;
        // The parser reports an empty scalar as `~` with an empty span.
        let empty = span.start.index() == span.end.index();
        builder.event(event, empty)?;
    }
    Some(builder.docs)
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, empty: bool) -> Option<()> {
        match event {
            Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(..) => {
                self.root = None;
                self.empty_nulls.clear();
            }
            Event::DocumentEnd => {
                if self.docs.len() >= self.limits.max_documents {
                    return None;
                }
                self.docs.push(Document {
                    value: self.root.take().unwrap_or(Value::Null),
                    empty_nulls: std::mem::take(&mut self.empty_nulls),
                });
            }
            Event::Scalar(text, style, anchor, tag) => {
                if tag.is_some() {
                    return None;
                }
                if let Some(Frame::Map { key, .. }) = self.stack.last_mut()
                    && key.is_none()
                {
                    // A mapping key: a string, once, and not a merge key.
                    let plain = style == ScalarStyle::Plain;
                    if anchor != 0 || (plain && (text == "<<" || !is_plain_string(&text))) {
                        return None;
                    }
                    // A duplicate key is found when its value is added (one lookup, not two).
                    *key = Some(text.into_owned());
                    self.nodes += 1;
                    return (self.nodes <= self.limits.max_nodes).then_some(());
                }
                let text_len = text.len();
                let value = if style == ScalarStyle::Plain {
                    if empty {
                        self.empty_nulls.push(self.path());
                    }
                    plain_value(&text, self.limits)?
                } else {
                    Value::String(text.into_owned())
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, (value.clone(), 1, text_len));
                }
                self.add(value, 1)?;
            }
            Event::Alias(id) => {
                if self.expects_key() {
                    return None;
                }
                let (value, size, bytes) = self.anchors.get(&id)?;
                let (size, bytes) = (*size, *bytes);
                self.alias_bytes = self.alias_bytes.saturating_add(bytes);
                if self.nodes + size > self.limits.max_nodes || self.alias_bytes > MAX_ALIAS_BYTES {
                    return None;
                }
                let value = value.clone();
                self.add(value, size)?;
            }
            Event::SequenceStart(_, anchor, ref tag) | Event::MappingStart(_, anchor, ref tag) => {
                if tag.is_some() || self.expects_key() || self.stack.len() >= self.limits.max_depth
                {
                    return None;
                }
                let frame = if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq {
                        items: Vec::new(),
                        anchor,
                    }
                } else {
                    Frame::Map {
                        map: Map::new(),
                        key: None,
                        anchor,
                    }
                };
                self.stack.push(frame);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop()? {
                    Frame::Seq { items, anchor } => (Value::Array(items), anchor),
                    Frame::Map { map, key, anchor } => {
                        if key.is_some() {
                            return None;
                        }
                        (Value::Object(map), anchor)
                    }
                };
                if anchor != 0 {
                    let size = super::node_count(&value);
                    let bytes = super::approximate_size(&value);
                    self.anchors.insert(anchor, (value.clone(), size, bytes));
                }
                self.add(value, 1)?;
            }
            _ => return None,
        }
        Some(())
    }

    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    /// The path of the node about to be added.
    fn path(&self) -> Vec<PathSegment> {
        self.stack
            .iter()
            .map(|frame| match frame {
                Frame::Map { key, .. } => PathSegment::Key(key.clone().unwrap_or_default()),
                Frame::Seq { items, .. } => PathSegment::Index(items.len()),
            })
            .collect()
    }

    fn add(&mut self, value: Value, size: usize) -> Option<()> {
        self.nodes += size;
        if self.nodes > self.limits.max_nodes {
            return None;
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => {
                if map.insert(key.take()?, value).is_some() {
                    // A duplicate key: serde decides and words the error.
                    return None;
                }
            }
        }
        Some(())
    }
}

/// Types a plain scalar as serde-saphyr does; `None` when only serde can say.
pub(super) fn plain_value(text: &str, limits: &ParseOptions) -> Option<Value> {
    if let Some(value) = plain_keyword(text, limits.core_booleans) {
        return Some(value);
    }
    let first = text.as_bytes().first().copied().unwrap_or(b' ');
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return Some(Value::String(text.to_owned()));
    }
    if let Some(number) = simple_integer(text) {
        return Some(number);
    }
    if text.starts_with("---") || text.starts_with("...") || is_quantity_like(text) {
        return Some(Value::String(text.to_owned()));
    }
    // Numbers in all their YAML spellings (octal, hex, floats, ...): serde-saphyr reads
    // the scalar on its own, with the same options.
    match serde_saphyr::from_str_with_options::<Value>(text, options(limits)) {
        Ok(value @ (Value::Number(_) | Value::Bool(_) | Value::String(_))) => Some(value),
        Ok(_) => Some(Value::String(text.to_owned())),
        Err(_) => None,
    }
}

/// Whether a scalar that starts with a digit holds a letter that no YAML number has (a
/// number's letters are hex digits, the radix prefixes `x`, `o`, `b` and the exponent `e`):
/// `250m`, `10Mi`, `30s` are strings, without asking serde-saphyr.
fn is_quantity_like(text: &str) -> bool {
    text.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && text.bytes().any(|b| {
            b.is_ascii_alphabetic()
                && !b.is_ascii_hexdigit()
                && !matches!(b, b'x' | b'X' | b'o' | b'O')
        })
}

/// Null and boolean spellings.
fn plain_keyword(text: &str, core_booleans: bool) -> Option<Value> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    if core_booleans || text.len() > 5 {
        return None;
    }
    let is = |word: &str| text.eq_ignore_ascii_case(word);
    if is("true") || is("yes") || is("y") || is("on") {
        Some(Value::Bool(true))
    } else if is("false") || is("no") || is("n") || is("off") {
        Some(Value::Bool(false))
    } else {
        None
    }
}

/// A decimal integer without a sign, leading zero or underscore, that fits in 64 bits.
fn simple_integer(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > 18 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    text.parse::<u64>()
        .ok()
        .map(|n| Value::Number(Number::from(n)))
}

/// Whether a plain key reads as a string (not null, a boolean or a number), so that it can
/// be used as it is.
pub(super) fn is_plain_string(text: &str) -> bool {
    let first = text.as_bytes().first().copied().unwrap_or(b' ');
    // Booleans are checked with the YAML 1.1 spellings: a key that is a boolean in either
    // reading goes through serde.
    plain_keyword(text, false).is_none()
        && !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fast(text: &str) -> Vec<Value> {
        build(text, &ParseOptions::default())
            .expect("fast path")
            .into_iter()
            .map(|d| d.value)
            .collect()
    }

    #[test]
    fn types_plain_scalars_like_the_serde_path() {
        let text = "a: 1\nb: -2\nc: 0644\nd: 1.5\ne: 0x1F\nf: yes\ng: ~\nh: text\ni: '1'\nj: .5\nk: 1e3\nl: -x\nm: 123456789012345678901\np: \"on\"\nq: 250m\nr: 10Mi\ns: 1h30m\nt: 0o17\nu: 0b101\nv: 1_000\nw: 0xfg\n";
        let serde: Vec<Value> =
            serde_saphyr::from_multiple_with_options(text, options(&ParseOptions::default()))
                .expect("serde");
        for (key, value) in serde[0].as_object().expect("mapping") {
            let one = format!(
                "{key}: {}\n",
                text.lines()
                    .find(|l| l.starts_with(&format!("{key}:")))
                    .and_then(|l| l.split_once(": "))
                    .map(|(_, v)| v)
                    .unwrap_or("")
            );
            let docs = build(&one, &ParseOptions::default()).expect(&one);
            assert_eq!(docs[0].value[key], *value, "{one}");
        }
        assert_eq!(fast(text), serde);
        assert_eq!(fast(text)[0]["c"], json!(420));
    }

    #[test]
    fn block_scalar_at_the_end_of_the_input_keeps_no_added_line_break() {
        assert_eq!(fast("x: |\n  a\n  b"), vec![json!({"x": "a\nb"})]);
        assert_eq!(fast("x: |\n  a\n  b\n"), vec![json!({"x": "a\nb\n"})]);
        assert_eq!(fast("x: >\n  a\n  b"), vec![json!({"x": "a b"})]);
    }

    #[test]
    fn empty_nulls_are_located() {
        let docs = build(
            "a:\n  b:\n  c: null\nl:\n- \n- x\n",
            &ParseOptions::default(),
        )
        .expect("fast path");
        assert_eq!(
            docs[0].empty_nulls,
            vec![
                vec![PathSegment::Key("a".into()), PathSegment::Key("b".into())],
                vec![PathSegment::Key("l".into()), PathSegment::Index(0)],
            ]
        );
    }

    #[test]
    fn comments_are_skipped_however_many() {
        let text = format!("{}a: 1\n", "# a comment\n".repeat(500));
        assert_eq!(fast(&text), vec![json!({"a": 1})]);
    }

    #[test]
    fn unusual_input_goes_through_serde() {
        for text in [
            "a: !!str 1\n",
            "<<: {a: 1}\n",
            "a: 1\na: 2\n",
            "1: a\n",
            "a: [\n",
            "? [a]\n: b\n",
        ] {
            assert!(build(text, &ParseOptions::default()).is_none(), "{text}");
        }
    }

    #[test]
    fn aliases_of_a_long_string_are_bounded_by_the_bytes_they_copy() {
        let long = "x".repeat(1 << 20);
        let aliases = vec!["*a"; 100].join(", ");
        let text = format!("a: &a {long}\nb: [{aliases}]\n");
        assert!(build(&text, &ParseOptions::default()).is_none());
    }

    #[test]
    fn aliases_are_expanded_within_the_node_budget() {
        assert_eq!(
            fast("a: &x {b: 1}\nc: *x\n"),
            vec![json!({"a": {"b": 1}, "c": {"b": 1}})]
        );
        let limits = ParseOptions {
            max_nodes: 10,
            ..ParseOptions::default()
        };
        let text = "a: &x [1, 2, 3, 4]\nb: *x\nc: *x\n";
        assert!(build(text, &limits).is_none());
    }
}
