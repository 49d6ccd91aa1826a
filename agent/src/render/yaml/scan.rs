//! The fastest path of YAML reading: a hand-written reader of the block-style subset that
//! manifests are made of, straight from the text into values.
//!
//! It reads block mappings and sequences (a sequence may sit at its parent key's
//! indentation), plain, single- and double-quoted scalars (over several lines too), literal
//! and folded block scalars, one-line flow collections, comments and document markers. It
//! answers only when it is certain to build what the event-based path ([`super::build`])
//! builds, the same values and the same empty nulls; on anything else (a tag, an anchor, an
//! alias, a complex key, a directive, a tab where indentation is, a control character, a
//! budget nearly reached, a syntax error) it gives up and the event-based path reads the text.
//! Giving up is always safe; answering differently never is, which the differential tests
//! (beside this file and in `fuzz/fuzz_targets/yaml_fast_reader.rs`) check.
//!
//! The scalars and flow collections are read in [`super::scalar`].

use super::build::{MAX_EVENTS, is_plain_string};
use super::{Document, ParseOptions, PathSegment};
use serde_json::{Map, Value};

/// Deepest nesting read here whatever the limits say (the reader recurses).
const MAX_NESTING: usize = 128;

/// Longest implicit key YAML allows.
const MAX_KEY_BYTES: usize = 1024;

/// The reader's position and counters.
pub(super) struct Reader<'a> {
    pub(super) src: &'a [u8],
    pub(super) text: &'a str,
    /// The start of the line to read next, between nodes.
    pub(super) pos: usize,
    pub(super) limits: &'a ParseOptions,
    depth: usize,
    nodes: usize,
    events: usize,
    empty_nulls: Vec<Vec<PathSegment>>,
}

/// Where a node sits in its document, as a chain of borrowed steps (no allocation unless an
/// empty null is found).
#[derive(Clone, Copy)]
pub(super) struct Path<'p> {
    step: Step<'p>,
    up: Option<&'p Path<'p>>,
}

#[derive(Clone, Copy)]
enum Step<'p> {
    Root,
    Key(&'p str),
    Index(usize),
}

impl<'p> Path<'p> {
    const ROOT: Path<'static> = Path {
        step: Step::Root,
        up: None,
    };

    fn key(&'p self, key: &'p str) -> Path<'p> {
        Path {
            step: Step::Key(key),
            up: Some(self),
        }
    }

    fn index(&'p self, index: usize) -> Path<'p> {
        Path {
            step: Step::Index(index),
            up: Some(self),
        }
    }

    fn segments(&self) -> Vec<PathSegment> {
        let mut out = Vec::new();
        let mut at = Some(self);
        while let Some(path) = at {
            match path.step {
                Step::Root => {}
                Step::Key(key) => out.push(PathSegment::Key(key.to_owned())),
                Step::Index(index) => out.push(PathSegment::Index(index)),
            }
            at = path.up;
        }
        out.reverse();
        out
    }
}

/// Reads the documents of `text`; `None` when the event-based path must read it.
pub(super) fn read(text: &str, limits: &ParseOptions) -> Option<Vec<Document>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let normalized;
    let text = if text.as_bytes().contains(&b'\r') {
        normalized = without_carriage_returns(text)?;
        normalized.as_str()
    } else {
        text
    };
    if !printable(text.as_bytes()) {
        return None;
    }
    let mut reader = Reader {
        src: text.as_bytes(),
        text,
        pos: 0,
        limits,
        depth: 0,
        nodes: 0,
        events: 2,
        empty_nulls: Vec::new(),
    };
    reader.stream()
}

/// CRLF line ends as LF (YAML reads both as one line break); `None` for a lone CR.
fn without_carriage_returns(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let lone = bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
    (!lone).then(|| text.replace("\r\n", "\n"))
}

/// Whether the text holds only characters every reader agrees on: no control character but
/// line feed (a tab anywhere leaves the text to the event-based reader: where a tab may stand
/// between tokens is where the two readers were found to differ), no C1 control (NEL included), no Unicode line or paragraph separator,
/// no byte order mark inside, no non-character U+FFFE/U+FFFF.
fn printable(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = |k: usize| bytes.get(i + k).copied().unwrap_or(0);
        let bad = match b {
            b'\n' => false,
            0..0x20 | 0x7f => true,
            0xc2 => (0x80..0xa0).contains(&next(1)),
            0xe2 => next(1) == 0x80 && matches!(next(2), 0xa8 | 0xa9),
            0xef => (next(1) == 0xbb && next(2) == 0xbf) || (next(1) == 0xbf && next(2) >= 0xbe),
            _ => false,
        };
        if bad {
            return false;
        }
        i += 1;
    }
    true
}

impl Reader<'_> {
    fn stream(&mut self) -> Option<Vec<Document>> {
        let mut docs = Vec::new();
        // An explicit `---` waiting for its content; whether the last thing read was a document.
        let (mut open, mut after_document) = (false, false);
        while let Some(indent) = self.next_line()? {
            let start = self.pos;
            if indent == 0 && self.marker(start, b'-') {
                if open {
                    self.push_empty_document(&mut docs)?;
                }
                self.pos = self.end_of_header(start + 3)?;
                (open, after_document) = (true, false);
                continue;
            }
            if indent == 0 && self.marker(start, b'.') {
                if open {
                    self.push_empty_document(&mut docs)?;
                } else if !after_document {
                    return None;
                }
                self.pos = self.end_of_header(start + 3)?;
                (open, after_document) = (false, false);
                continue;
            }
            // Content after `...` without a `---`, an indented root, a directive: not here.
            if indent != 0 || (!open && !docs.is_empty()) || self.src[start] == b'%' {
                return None;
            }
            let value = self.root(start)?;
            self.push_document(&mut docs, value)?;
            (open, after_document) = (false, true);
        }
        if open {
            self.push_empty_document(&mut docs)?;
        }
        Some(docs)
    }

    fn push_document(&mut self, docs: &mut Vec<Document>, value: Value) -> Option<()> {
        self.events += 2;
        if docs.len() >= self.limits.max_documents || self.events >= MAX_EVENTS - 8 {
            return None;
        }
        docs.push(Document {
            value,
            empty_nulls: std::mem::take(&mut self.empty_nulls),
        });
        Some(())
    }

    /// A document with nothing in it: an empty null at its root.
    fn push_empty_document(&mut self, docs: &mut Vec<Document>) -> Option<()> {
        self.count(1, 1)?;
        self.empty_nulls.push(Vec::new());
        self.push_document(docs, Value::Null)
    }

    /// A document's root node: a block mapping or sequence at the first column.
    fn root(&mut self, start: usize) -> Option<Value> {
        if self.seq_indicator(start) {
            return self.block_seq(0, start, &Path::ROOT);
        }
        let (key, after) = self.entry_key(start)??;
        self.block_map(0, key, after, &Path::ROOT)
    }

    /// Skips blank and comment lines from `self.pos` (a line start). Returns the indentation
    /// of the next content line, `self.pos` at its start, or `Some(None)` at the end.
    pub(super) fn next_line(&mut self) -> Option<Option<usize>> {
        loop {
            let start = self.pos;
            let mut at = start;
            while self.src.get(at) == Some(&b' ') {
                at += 1;
            }
            match self.src.get(at) {
                None => {
                    self.pos = self.src.len();
                    return Some(None);
                }
                Some(b'\n') => self.pos = at + 1,
                Some(b'#') => self.pos = self.next_line_start(at),
                Some(b'\t') => return None,
                Some(_) => return Some(Some(at - start)),
            }
        }
    }

    /// The start of the line after the one holding `at` (or the end of the text).
    pub(super) fn next_line_start(&self, at: usize) -> usize {
        match memchr_newline(&self.src[at.min(self.src.len())..]) {
            Some(offset) => at + offset + 1,
            None => self.src.len(),
        }
    }

    /// After a node's text on its line: spaces, then the end of the line or a comment.
    /// Returns the start of the next line.
    pub(super) fn end_of_line(&self, at: usize) -> Option<usize> {
        let mut end = at;
        while matches!(self.src.get(end), Some(b' ' | b'\t')) {
            end += 1;
        }
        match self.src.get(end) {
            None => Some(self.src.len()),
            Some(b'\n') => Some(end + 1),
            Some(b'#') if end > at => Some(self.next_line_start(end)),
            _ => None,
        }
    }

    /// The rest of a `---`/`...` line: it must hold nothing but a comment.
    fn end_of_header(&self, at: usize) -> Option<usize> {
        if matches!(self.src.get(at), None | Some(b'\n')) {
            return Some(self.next_line_start(at));
        }
        self.end_of_line(at)
    }

    /// Whether a document marker (`---` or `...`) starts at `at`, a line start.
    fn marker(&self, at: usize, mark: u8) -> bool {
        self.src.get(at..at + 3) == Some(&[mark; 3][..])
            && matches!(self.src.get(at + 3), None | Some(b' ' | b'\n' | b'\t'))
    }

    /// Whether a block sequence entry (`-` then a space or the end of the line) is at `at`.
    pub(super) fn seq_indicator(&self, at: usize) -> bool {
        self.src.get(at) == Some(&b'-') && matches!(self.src.get(at + 1), None | Some(b' ' | b'\n'))
    }

    /// Counts nodes and parser events against the budgets.
    pub(super) fn count(&mut self, nodes: usize, events: usize) -> Option<()> {
        self.nodes += nodes;
        self.events += events;
        (self.nodes <= self.limits.max_nodes && self.events < MAX_EVENTS - 8).then_some(())
    }

    /// Enters a collection, within the depth limit.
    pub(super) fn enter(&mut self) -> Option<()> {
        if self.depth >= self.limits.max_depth.min(MAX_NESTING) {
            return None;
        }
        self.depth += 1;
        self.count(1, 2)
    }

    pub(super) fn leave(&mut self) {
        self.depth -= 1;
    }

    /// A block mapping at column `col` whose first key (already read) ends at `after`.
    fn block_map(
        &mut self,
        col: usize,
        first: String,
        after: usize,
        path: &Path<'_>,
    ) -> Option<Value> {
        self.enter()?;
        let mut map = Map::new();
        let (mut key, mut after) = (first, after);
        loop {
            self.count(1, 1)?;
            let value = self.map_value(after, col, &path.key(&key))?;
            if map.insert(key, value).is_some() {
                // A duplicate key: the serde path decides and words the error.
                return None;
            }
            let Some(indent) = self.next_line()? else {
                break;
            };
            if indent < col
                || (col == 0 && (self.marker(self.pos, b'-') || self.marker(self.pos, b'.')))
            {
                break;
            }
            let start = self.pos + indent;
            if indent > col || self.seq_indicator(start) {
                return None;
            }
            (key, after) = self.entry_key(start)??;
        }
        self.leave();
        Some(Value::Object(map))
    }

    /// A block sequence at column `col` whose first entry's `-` is at `dash`.
    fn block_seq(&mut self, col: usize, dash: usize, path: &Path<'_>) -> Option<Value> {
        self.enter()?;
        let mut items = Vec::new();
        let mut dash = dash;
        loop {
            let item = self.seq_item(dash, col, &path.index(items.len()))?;
            items.push(item);
            let Some(indent) = self.next_line()? else {
                break;
            };
            if indent < col {
                break;
            }
            let start = self.pos + indent;
            if indent > col {
                return None;
            }
            if !self.seq_indicator(start) {
                break;
            }
            dash = start;
        }
        self.leave();
        Some(Value::Array(items))
    }

    /// The value after a mapping key's `:` at `after`, in a mapping at column `col`.
    fn map_value(&mut self, after: usize, col: usize, path: &Path<'_>) -> Option<Value> {
        let at = self.skip_spaces(after)?;
        match self.src.get(at) {
            None | Some(b'\n' | b'#') => {
                self.pos = self.next_line_start(at);
                self.nested_or_empty(col, true, path)
            }
            Some(_) => self.inline_value(at, col),
        }
    }

    /// A sequence entry whose `-` is at `dash`, in a sequence at column `col`.
    fn seq_item(&mut self, dash: usize, col: usize, path: &Path<'_>) -> Option<Value> {
        let at = self.skip_spaces(dash + 1)?;
        if matches!(self.src.get(at), None | Some(b'\n' | b'#')) {
            self.pos = self.next_line_start(at);
            return self.nested_or_empty(col, false, path);
        }
        // The column of a compact collection: only `-` and spaces come before it.
        let column = col + (at - dash);
        if self.seq_indicator(at) {
            return self.block_seq(column, at, path);
        }
        match self.entry_key(at)? {
            Some((key, after)) => self.block_map(column, key, after, path),
            None => self.inline_value(at, col),
        }
    }

    /// The node on the lines after a key or `-` with nothing after it on its line: a nested
    /// node, a sequence at the key's own column (when `same_column_seq`), or an empty null.
    fn nested_or_empty(
        &mut self,
        col: usize,
        same_column_seq: bool,
        path: &Path<'_>,
    ) -> Option<Value> {
        let next = self.next_line()?;
        match next {
            Some(indent) if indent > col => {
                let start = self.pos + indent;
                if self.seq_indicator(start) {
                    return self.block_seq(indent, start, path);
                }
                match self.entry_key(start)? {
                    Some((key, after)) => self.block_map(indent, key, after, path),
                    None => self.inline_value(start, col),
                }
            }
            Some(indent)
                if indent == col && same_column_seq && self.seq_indicator(self.pos + indent) =>
            {
                self.block_seq(col, self.pos + indent, path)
            }
            _ => {
                self.count(1, 1)?;
                self.empty_nulls.push(path.segments());
                Some(Value::Null)
            }
        }
    }

    /// Skips spaces on the line; `None` at a tab.
    pub(super) fn skip_spaces(&self, at: usize) -> Option<usize> {
        let mut at = at;
        loop {
            match self.src.get(at) {
                Some(b' ') => at += 1,
                Some(b'\t') => return None,
                _ => return Some(at),
            }
        }
    }

    /// A mapping key at `at` followed by `:` and a space or the end of the line, with where
    /// its value starts; `Some(None)` when the line does not start with a key.
    fn entry_key(&mut self, at: usize) -> Option<Option<(String, usize)>> {
        match self.src.get(at)? {
            b'"' | b'\'' => {
                let Some((key, end)) = self.quoted_on_line(at)? else {
                    return Some(None);
                };
                let colon = self.skip_spaces(end)?;
                Some(self.key_colon(colon).then(|| (key, colon + 1)))
            }
            b'[' | b'{' | b'|' | b'>' | b'-' => Some(None),
            b'?' | b':'
                if self
                    .src
                    .get(at + 1)
                    .is_none_or(|&b| b == b' ' || b == b'\n') =>
            {
                None
            }
            b',' | b']' | b'}' | b'#' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' => None,
            _ => self.plain_key(at),
        }
    }

    /// Whether a `:` at `at` is a key's (followed by a space or the end of the line).
    pub(super) fn key_colon(&self, at: usize) -> bool {
        self.src.get(at) == Some(&b':') && matches!(self.src.get(at + 1), None | Some(b' ' | b'\n'))
    }

    fn plain_key(&self, start: usize) -> Option<Option<(String, usize)>> {
        let mut at = start;
        loop {
            match self.src.get(at) {
                None | Some(b'\n') => return Some(None),
                Some(b'\t') => return None,
                Some(b' ') if self.src.get(at + 1) == Some(&b'#') => return Some(None),
                Some(b':') if self.key_colon(at) => break,
                _ => at += 1,
            }
        }
        let key = self.text[start..at].trim_end_matches(' ');
        if key.len() > MAX_KEY_BYTES || key == "<<" || !is_plain_string(key) {
            return None;
        }
        Some(Some((key.to_owned(), at + 1)))
    }
}

/// The offset of the first line feed in `bytes`.
fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}
