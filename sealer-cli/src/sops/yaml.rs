//! Reading YAML into the document tree, keeping key order and comments.
//!
//! Events come from `granit-parser` (with comment events); typing of plain scalars follows
//! go-yaml v3 (YAML 1.2 core schema plus go-yaml's extras: `0644` is octal, `1_000` an int,
//! unquoted timestamps are times, `yes`/`on` are strings). Comments are placed like go-yaml
//! places them for sops: own-line comments before the item they precede (or at the end of
//! the block they are indented into), and same-line comments before the item of their line.
//! Input size, nesting depth and alias expansion are bounded.

use granit_parser::{Event, Options, Parser, Placement, ScalarStyle, Span};
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use super::Error;
use super::time::Timestamp;
use super::tree::{Branch, MapItem, Node};
use super::value::{Scalar, Secret};

/// Largest YAML input accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 256 * 1024 * 1024;
/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 200;
/// Most nodes that alias expansion may create in one file.
pub const MAX_ALIAS_NODES: usize = 1_000_000;
/// Most bytes (keys, scalars and comments) that alias expansion may copy in one file: the
/// bound on scalar bytes of the render's reader, so that a few aliases of one long string
/// cannot make a small file take gigabytes.
pub const MAX_ALIAS_BYTES: usize = 64 * 1024 * 1024;

/// The most bytes of a path (made of the file's keys) an error quotes.
const MAX_QUOTED_PATH: usize = 256;

fn malformed(path: &str, reason: impl Into<String>) -> Error {
    let path = if path.len() > MAX_QUOTED_PATH {
        let mut end = MAX_QUOTED_PATH;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…({} bytes)", &path[..end], path.len())
    } else {
        path.to_owned()
    };
    Error::Malformed {
        file: String::new(),
        path,
        reason: reason.into(),
    }
}

struct Frame {
    kind: FrameKind,
    /// Map items or sequence nodes are kept in `map`/`seq` according to `kind`.
    map: Vec<MapItem>,
    seq: Vec<Node>,
    /// The source line of each item (for same-line comments).
    lines: Vec<usize>,
    /// A key waiting for its value, with its line.
    key: Option<(String, usize)>,
    /// The keys seen so far in a mapping, to refuse a duplicate without a scan.
    keys: HashSet<String>,
    col: usize,
    flow: bool,
    anchor: usize,
    /// The line where this node started (its line in the parent).
    line: usize,
}

#[derive(PartialEq)]
enum FrameKind {
    Map,
    Seq,
}

struct Builder {
    frames: Vec<Frame>,
    pending: Vec<(Secret, usize)>,
    root: Option<(Node, usize)>,
    anchors: HashMap<usize, Node>,
    alias_budget: usize,
    alias_bytes_budget: usize,
    docs: Vec<Branch>,
}

/// What copying a node costs: its nodes, and the bytes of its keys, scalars and comments.
#[derive(Default, Clone, Copy)]
struct Size {
    nodes: usize,
    bytes: usize,
}

impl Size {
    fn add(self, other: Size) -> Size {
        Size {
            nodes: self.nodes.saturating_add(other.nodes),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }
}

fn scalar_bytes(s: &Scalar) -> usize {
    match s {
        Scalar::Str(t) | Scalar::Time(t) => t.expose().len(),
        _ => 8,
    }
}

fn node_size(n: &Node) -> Size {
    let one = |bytes| Size { nodes: 1, bytes };
    match n {
        Node::Map(b) => b.items.iter().fold(one(0), |total, item| match item {
            MapItem::Entry(k, v) => total.add(one(k.len())).add(node_size(v)),
            MapItem::Comment(c) => total.add(one(c.expose().len())),
        }),
        Node::Seq(items) => items
            .iter()
            .fold(one(0), |total, item| total.add(node_size(item))),
        Node::Scalar(s) => one(scalar_bytes(s)),
        Node::Comment(c) => one(c.expose().len()),
    }
}

impl Builder {
    fn path(&self) -> String {
        let keys: Vec<String> = self
            .frames
            .iter()
            .filter_map(|f| f.key.as_ref().map(|(k, _)| k.clone()))
            .collect();
        super::tree::display_path(&keys)
    }

    /// Moves pending own-line comments into the innermost frame (before its next item).
    fn flush_pending(&mut self) {
        if let Some(top) = self.frames.last_mut() {
            for (c, _) in self.pending.drain(..) {
                push_comment(top, c);
            }
        }
    }

    /// A node is about to start: in a sequence it is a new item, preceded by the pending
    /// comments.
    fn begin_node(&mut self) {
        if self.frames.last().is_some_and(|f| f.kind == FrameKind::Seq) {
            self.flush_pending();
        }
    }

    fn add_node(&mut self, node: Node, line: usize) -> Result<(), Error> {
        let path = self.path();
        let Some(top) = self.frames.last_mut() else {
            self.root = Some((node, line));
            return Ok(());
        };
        match top.kind {
            FrameKind::Seq => {
                top.seq.push(node);
                top.lines.push(line);
            }
            FrameKind::Map => match top.key.take() {
                Some((key, key_line)) => {
                    top.map.push(MapItem::Entry(key, node));
                    top.lines.push(key_line);
                }
                None => {
                    return Err(malformed(
                        &path,
                        "a mapping key that is not a scalar is not supported",
                    ));
                }
            },
        }
        Ok(())
    }

    fn scalar(
        &mut self,
        value: &str,
        style: ScalarStyle,
        tag: Option<&granit_parser::Tag>,
        anchor: usize,
        span: &Span,
    ) -> Result<(), Error> {
        let line = span.start.line();
        if let Some(top) = self.frames.last_mut()
            && top.kind == FrameKind::Map
            && top.key.is_none()
        {
            // A key: the pending comments precede it.
            let path = self.path();
            self.flush_pending();
            let Some(top) = self.frames.last_mut() else {
                return Ok(());
            };
            if !top.keys.insert(value.to_owned()) {
                return Err(malformed(
                    &path,
                    format!("mapping key {value:?} already defined"),
                ));
            }
            if !top.flow && top.lines.iter().all(|l| *l == 0) {
                // The first key sets the block's indentation.
                top.col = span.start.col();
            }
            top.key = Some((value.to_owned(), line));
            return Ok(());
        }
        self.begin_node();
        let scalar =
            type_scalar(value, style, tag).map_err(|reason| malformed(&self.path(), reason))?;
        if anchor != 0 {
            self.anchors
                .insert(anchor, Node::Scalar(scalar.duplicate()));
        }
        self.add_node(Node::Scalar(scalar), line)
    }

    fn open(
        &mut self,
        kind: FrameKind,
        flow: bool,
        anchor: usize,
        span: &Span,
    ) -> Result<(), Error> {
        if self.frames.len() >= MAX_DEPTH {
            return Err(malformed(
                &self.path(),
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.begin_node();
        let line = self
            .frames
            .last()
            .and_then(|f| f.key.as_ref().map(|(_, l)| *l))
            .unwrap_or(span.start.line());
        self.frames.push(Frame {
            kind,
            map: Vec::new(),
            seq: Vec::new(),
            lines: Vec::new(),
            key: None,
            keys: HashSet::new(),
            col: span.start.col(),
            flow,
            anchor,
            line,
        });
        Ok(())
    }

    fn close(&mut self) -> Result<(), Error> {
        let Some(mut frame) = self.frames.pop() else {
            return Ok(());
        };
        // Own-line comments indented into this block belong at its end.
        let is_root = self.frames.is_empty();
        let (inside, outside): (Vec<_>, Vec<_>) = self
            .pending
            .drain(..)
            .partition(|(_, col)| is_root || frame.flow || *col >= frame.col);
        self.pending = outside;
        for (c, _) in inside {
            push_comment(&mut frame, c);
        }
        let node = match frame.kind {
            FrameKind::Map => Node::Map(Branch { items: frame.map }),
            FrameKind::Seq => Node::Seq(frame.seq),
        };
        if frame.anchor != 0 {
            self.anchors.insert(frame.anchor, node.duplicate());
        }
        self.add_node(node, frame.line)
    }

    fn alias(&mut self, id: usize, span: &Span) -> Result<(), Error> {
        let path = self.path();
        let node = self
            .anchors
            .get(&id)
            .ok_or_else(|| malformed(&path, "unknown alias"))?;
        let size = node_size(node);
        if size.nodes > self.alias_budget {
            return Err(malformed(
                &path,
                format!("alias expansion exceeds {MAX_ALIAS_NODES} nodes"),
            ));
        }
        if size.bytes > self.alias_bytes_budget {
            return Err(malformed(
                &path,
                format!("alias expansion exceeds {MAX_ALIAS_BYTES} bytes"),
            ));
        }
        self.alias_budget -= size.nodes;
        self.alias_bytes_budget -= size.bytes;
        let copy = node.duplicate();
        if self
            .frames
            .last()
            .is_some_and(|f| f.kind == FrameKind::Map && f.key.is_none())
        {
            return match copy {
                Node::Scalar(s) => {
                    let text = super::yaml_emit::scalar_key_text(&s);
                    self.scalar(&text, ScalarStyle::DoubleQuoted, None, 0, span)
                }
                _ => Err(malformed(
                    &path,
                    "a mapping key that is not a scalar is not supported",
                )),
            };
        }
        self.begin_node();
        self.add_node(copy, span.start.line())
    }

    fn comment(&mut self, text: &str, placement: Placement, span: &Span) {
        let line = span.start.line();
        let secret = Secret::from_text(text);
        if placement == Placement::Right {
            // A same-line comment goes before the item of its line.
            if let Some(top) = self.frames.last_mut()
                && top.key.as_ref().is_some_and(|(_, l)| *l == line)
            {
                push_comment(top, secret);
                return;
            }
            for frame in self.frames.iter_mut().rev() {
                if frame.lines.last() == Some(&line) {
                    let at = frame.lines.len() - 1;
                    insert_comment(frame, at, secret);
                    return;
                }
            }
            if let Some(top) = self.frames.last_mut() {
                push_comment(top, secret);
                return;
            }
        }
        self.pending.push((secret, span.start.col()));
    }

    fn end_document(&mut self) -> Result<(), Error> {
        while !self.frames.is_empty() {
            self.close()?;
        }
        let branch = match self.root.take() {
            Some((Node::Map(mut b), _)) => {
                for (c, _) in self.pending.drain(..) {
                    b.items.push(MapItem::Comment(c));
                }
                b
            }
            None | Some((Node::Scalar(Scalar::Null), _)) => {
                let mut b = Branch::new();
                for (c, _) in self.pending.drain(..) {
                    b.items.push(MapItem::Comment(c));
                }
                b
            }
            Some((Node::Seq(_), _)) => {
                return Err(malformed(
                    "(root)",
                    "YAML documents that are sequences are not supported",
                ));
            }
            Some(_) => {
                return Err(malformed(
                    "(root)",
                    "YAML documents that are values are not supported",
                ));
            }
        };
        self.anchors.clear();
        self.docs.push(branch);
        Ok(())
    }
}

fn push_comment(frame: &mut Frame, c: Secret) {
    match frame.kind {
        FrameKind::Map => frame.map.push(MapItem::Comment(c)),
        FrameKind::Seq => frame.seq.push(Node::Comment(c)),
    }
    frame.lines.push(0);
}

fn insert_comment(frame: &mut Frame, item: usize, c: Secret) {
    // `lines` has one entry per stored element (items and comments alike).
    match frame.kind {
        FrameKind::Map => frame.map.insert(item, MapItem::Comment(c)),
        FrameKind::Seq => frame.seq.insert(item, Node::Comment(c)),
    }
    frame.lines.insert(item, 0);
}

/// Parses YAML text (one or more documents) into branches.
pub fn parse(input: &str) -> Result<Vec<Branch>, Error> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(Error::TooLarge {
            file: String::new(),
            limit: MAX_INPUT_BYTES,
        });
    }
    let mut options = Options::default();
    options.block_scalar_eof_without_line_feed = true;
    options.block_nesting_limit = MAX_DEPTH;
    options.flow_nesting_limit = MAX_DEPTH;
    let parser = Parser::new_from_str_with_options(input, options);
    let mut b = Builder {
        frames: Vec::new(),
        pending: Vec::new(),
        root: None,
        anchors: HashMap::new(),
        alias_budget: MAX_ALIAS_NODES,
        alias_bytes_budget: MAX_ALIAS_BYTES,
        docs: Vec::new(),
    };
    for ev in parser {
        let (event, span) = ev.map_err(|e| {
            malformed(
                &format!("line {} column {}", e.marker().line(), e.marker().col() + 1),
                e.to_string(),
            )
        })?;
        match event {
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(..)
            | Event::Anchor(..) => {}
            Event::DocumentEnd => b.end_document()?,
            Event::Scalar(value, style, anchor, tag) => {
                b.scalar(&value, style, tag.as_deref(), anchor, &span)?
            }
            Event::SequenceStart(style, anchor, _) => b.open(
                FrameKind::Seq,
                style == granit_parser::StructureStyle::Flow,
                anchor,
                &span,
            )?,
            Event::MappingStart(style, anchor, _) => b.open(
                FrameKind::Map,
                style == granit_parser::StructureStyle::Flow,
                anchor,
                &span,
            )?,
            Event::SequenceEnd | Event::MappingEnd => b.close()?,
            Event::Alias(id) => b.alias(id, &span)?,
            Event::Comment(text, placement) => b.comment(&text, placement, &span),
            _ => {}
        }
    }
    if !b.frames.is_empty() || b.root.is_some() {
        // A stream that ended without its document end.
        b.end_document()?;
    }
    Ok(b.docs)
}

static YAML_STYLE_FLOAT: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
        .expect("a constant regex compiles")
});

/// Go's `strconv.ParseInt(s, 0, 64)` (after underscores were removed).
fn go_parse_int_base0(s: &str) -> Option<Result<i64, ()>> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, d)
        } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, d)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok();
    Some(match magnitude {
        Some(m) if neg && m <= (i64::MAX as u128) + 1 => Ok((m as i128).wrapping_neg() as i64),
        Some(m) if !neg && m <= i64::MAX as u128 => Ok(m as i64),
        Some(m) if !neg && m <= u64::MAX as u128 => Err(()),
        _ => return None,
    })
}

/// Types a plain scalar the way go-yaml v3 resolves it.
pub fn resolve_plain(s: &str) -> Result<Scalar, String> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Scalar::Null),
        "true" | "True" | "TRUE" => return Ok(Scalar::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Scalar::Bool(false)),
        ".nan" | ".NaN" | ".NAN" => return Ok(Scalar::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Ok(Scalar::Float(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return Ok(Scalar::Float(f64::NEG_INFINITY)),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first == b'.' {
        let ok = s.len() > 1
            && s[1..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b"eE+-.".contains(&b));
        if let Some(f) = ok
            .then(|| s.parse::<f64>().ok())
            .flatten()
            .filter(|f| f.is_finite())
        {
            return Ok(Scalar::Float(f));
        }
        return Ok(Scalar::text(s));
    }
    if first.is_ascii_digit() || first == b'+' || first == b'-' {
        if let Some(ts) = Timestamp::parse_yaml(s) {
            return Ok(Scalar::Time(Secret::from_text(&ts.to_rfc3339_nano())));
        }
        let plain = s.replace('_', "");
        match go_parse_int_base0(&plain) {
            Some(Ok(i)) => return Ok(Scalar::Int(i)),
            Some(Err(())) => {
                return Err(format!(
                    "integer {s} does not fit in 64 signed bits, which sops cannot handle"
                ));
            }
            None => {}
        }
        if YAML_STYLE_FLOAT.is_match(&plain)
            && let Some(f) = plain.parse::<f64>().ok().filter(|f| f.is_finite())
        {
            return Ok(Scalar::Float(f));
        }
    }
    Ok(Scalar::text(s))
}

fn type_scalar(
    value: &str,
    style: ScalarStyle,
    tag: Option<&granit_parser::Tag>,
) -> Result<Scalar, String> {
    if let Some(suffix) = tag.and_then(|t| t.core_suffix()) {
        return match suffix {
            "str" => Ok(Scalar::text(value)),
            "null" => Ok(Scalar::Null),
            "bool" | "int" | "float" => match resolve_plain(value)? {
                Scalar::Int(i) if suffix == "float" => Ok(Scalar::Float(i as f64)),
                s @ (Scalar::Bool(_) | Scalar::Int(_) | Scalar::Float(_)) => Ok(s),
                _ => Err(format!("cannot decode {value:?} as !!{suffix}")),
            },
            _ => Ok(Scalar::text(value)),
        };
    }
    if tag.is_some_and(|t| t.suffix() == "binary") {
        use base64::Engine;
        let clean: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map_err(|e| format!("invalid !!binary value: {e}"))?;
        return Ok(Scalar::Str(Secret::new(bytes)));
    }
    match style {
        ScalarStyle::Plain => resolve_plain(value),
        _ => Ok(Scalar::text(value)),
    }
}

#[cfg(test)]
#[path = "yaml_tests.rs"]
mod tests;
