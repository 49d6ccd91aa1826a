//! Reading and writing manifests as YAML, the way `kubectl` reads them.
//!
//! Parsing follows kubectl, through serde-saphyr: `0644` is octal (420) everywhere; `on`/`yes`
//! are booleans in plain manifests (as `kubectl apply -f` reads them, YAML 1.1) but strings
//! in a kustomization's inputs (as `kubectl kustomize` reads them). Every parse runs under a budget: nesting depth,
//! alias expansion, node and document counts, so that untrusted repository content cannot
//! make a render use unbounded memory or time. Objects are `serde_json::Value`s with their key
//! order preserved.

mod build;
mod scalar;
mod scan;
#[cfg(test)]
mod scan_tests;

use granit_parser::{Event, ScalarStyle};
use serde_json::Value;

/// How YAML is read: the bounds applied to every parse, and which booleans are recognised.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// Read only `true`/`false` (any case) as booleans, as `kubectl kustomize` does (its YAML
    /// reader follows YAML 1.2 there); otherwise also `yes`/`no`/`on`/`off`/`y`/`n`, as
    /// `kubectl apply -f` does with plain manifests (YAML 1.1).
    pub core_booleans: bool,
    /// Deepest nesting of mappings and sequences accepted.
    pub max_depth: usize,
    /// Most documents one file may hold.
    pub max_documents: usize,
    /// Most YAML nodes one file may expand to (aliases included).
    pub max_nodes: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            core_booleans: false,
            max_depth: 64,
            max_documents: 10_000,
            max_nodes: 1_000_000,
        }
    }
}

/// Errors from reading or writing YAML.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// The text is not valid YAML, or exceeds a parse budget (aliases, depth, nodes).
    #[error("invalid YAML: {message}")]
    ParseFailed {
        /// The parser's description, with line and column.
        message: String,
    },
    /// A document is not a mapping (for example a bare list or a scalar).
    #[error("document {index} is not a mapping")]
    NotAMapping {
        /// The document's index in the file, from 0.
        index: usize,
    },
    /// The parsed value nests deeper than allowed.
    #[error("document {index} nests deeper than {limit} levels")]
    TooDeep {
        /// The document's index in the file, from 0.
        index: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Writing an object as YAML failed.
    #[error("writing YAML failed: {message}")]
    EmitFailed {
        /// The serializer's description.
        message: String,
    },
}

fn options(limits: &ParseOptions) -> serde_saphyr::Options {
    let budget = serde_saphyr::budget! {
        max_depth: limits.max_depth,
        max_documents: limits.max_documents,
        max_nodes: limits.max_nodes,
    };
    serde_saphyr::options! {
        legacy_octal_numbers: true,
        strict_booleans: limits.core_booleans,
        budget: budget,
    }
}

/// One document as read, with what a `serde_json::Value` cannot say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document.
    pub value: Value,
    /// Where the document holds an empty null (`key:` with nothing after it), which
    /// kustomize drops where a strategic merge patch walks, unlike a written `null`. Only
    /// known for text read on the fast path; empty otherwise.
    pub empty_nulls: Vec<Vec<PathSegment>>,
}

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// Parses every document of a YAML stream into values. Empty documents are dropped; any
/// other document is returned as it is (the caller decides what a valid document is).
pub fn parse_values(text: &str, limits: &ParseOptions) -> Result<Vec<Value>, YamlError> {
    Ok(parse_documents(text, limits)?
        .into_iter()
        .map(|doc| doc.value)
        .collect())
}

/// Parses every document of a YAML stream, keeping where each holds empty nulls. Empty
/// documents are dropped.
pub fn parse_documents(text: &str, limits: &ParseOptions) -> Result<Vec<Document>, YamlError> {
    // The fast paths refuse to nest deeper than the limit themselves; the serde path's
    // values are measured here.
    let fast = scan::read(text, limits).or_else(|| build::build(text, limits));
    let (docs, measured) = match fast {
        Some(docs) => (docs, true),
        None => (
            parse_with_serde(text, limits)?
                .into_iter()
                .map(|value| Document {
                    value,
                    empty_nulls: Vec::new(),
                })
                .collect(),
            false,
        ),
    };
    let mut out = Vec::with_capacity(docs.len());
    for (index, doc) in docs.into_iter().enumerate() {
        if doc.value.is_null() {
            continue;
        }
        if !measured && depth(&doc.value) > limits.max_depth {
            return Err(YamlError::TooDeep {
                index,
                limit: limits.max_depth,
            });
        }
        out.push(doc);
    }
    Ok(out)
}

/// What the two fast readers make of `text`: the hand-written one's answer, then the
/// event-based one's. For the differential fuzz target (`fuzz/fuzz_targets/yaml_fast_reader.rs`),
/// which checks that the first, when it answers, answers as the second does.
#[doc(hidden)]
pub fn fast_readers(
    text: &str,
    limits: &ParseOptions,
) -> (Option<Vec<Document>>, Option<Vec<Document>>) {
    (scan::read(text, limits), build::build(text, limits))
}

/// The serde path: every input the fast path ([`build`]) does not take.
fn parse_with_serde(text: &str, limits: &ParseOptions) -> Result<Vec<Value>, YamlError> {
    let mut docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options(limits))
        .map_err(|err| YamlError::ParseFailed {
            message: first_line(&err.to_string()),
        })?;
    if !text.ends_with('\n') {
        trim_block_scalar_at_end_of_input(text, &mut docs);
    }
    Ok(docs)
}

/// The number of nodes of a value (mapping keys included), as parse budgets count them.
pub(crate) fn node_count(value: &Value) -> usize {
    let mut total = 0;
    let mut stack = vec![value];
    while let Some(node) = stack.pop() {
        total += 1;
        match node {
            Value::Object(map) => {
                total += map.len();
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    total
}

/// A `|` or `>` block scalar whose last line ends the input (no final newline) has no final
/// line break, as kubectl's YAML reader (go-yaml) reads it; serde-saphyr adds one. When the
/// input's last node is such a scalar, the line break is taken off the last value of the last
/// document (the same scalar, checked by its text).
fn trim_block_scalar_at_end_of_input(text: &str, docs: &mut [Value]) {
    let last_line = text.rsplit('\n').next().unwrap_or(text);
    if last_line.trim().is_empty() {
        return;
    }
    let mut last: Option<String> = None;
    for event in granit_parser::Parser::new_from_str(text) {
        let Ok((event, span)) = event else {
            return;
        };
        match event {
            Event::Scalar(value, ScalarStyle::Literal | ScalarStyle::Folded, ..)
                if span.end.byte_offset() == Some(text.len()) =>
            {
                last = Some(value.into_owned());
            }
            Event::MappingEnd | Event::SequenceEnd | Event::DocumentEnd | Event::StreamEnd => {}
            _ => last = None,
        }
    }
    let Some(scalar) = last.filter(|s| s.ends_with('\n')) else {
        return;
    };
    let Some(mut node) = docs.last_mut() else {
        return;
    };
    loop {
        node = match node {
            Value::Object(map) => match map.values_mut().next_back() {
                Some(child) => child,
                None => return,
            },
            Value::Array(items) => match items.last_mut() {
                Some(child) => child,
                None => return,
            },
            Value::String(s) => {
                if *s == scalar {
                    s.pop();
                }
                return;
            }
            _ => return,
        };
    }
}

/// Parses a YAML stream whose documents must all be mappings (manifests, patches).
pub fn parse_mappings(text: &str, limits: &ParseOptions) -> Result<Vec<Value>, YamlError> {
    let docs = parse_values(text, limits)?;
    for (index, doc) in docs.iter().enumerate() {
        if !doc.is_object() {
            return Err(YamlError::NotAMapping { index });
        }
    }
    Ok(docs)
}

/// Parses a single YAML value (one document; an empty text is `null`).
pub fn parse_one(text: &str, limits: &ParseOptions) -> Result<Value, YamlError> {
    let mut docs = parse_values(text, limits)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        _ => Err(YamlError::ParseFailed {
            message: "expected one document, found several".to_owned(),
        }),
    }
}

/// Reads a scalar's text the way YAML would type it (`"8080"` becomes the number 8080),
/// for writing a value's text into a field of another type.
pub fn parse_scalar(text: &str) -> Value {
    let limits = ParseOptions::default();
    match parse_one(text, &limits) {
        Ok(value @ (Value::Bool(_) | Value::Number(_) | Value::Null)) => value,
        _ => Value::String(text.to_owned()),
    }
}

/// Writes objects as a multi-document YAML stream, each document introduced by `---`
/// except the first, as `kubectl kustomize` prints them.
pub fn emit_documents<'a>(
    values: impl IntoIterator<Item = &'a Value>,
) -> Result<String, YamlError> {
    let values: Vec<&Value> = values.into_iter().collect();
    // Room for the whole stream at once: growing a long output step by step copies it and
    // maps fresh pages at every step.
    let estimate: usize = values.iter().copied().map(approximate_size).sum();
    let mut out = String::with_capacity(estimate + estimate / 2);
    for (index, value) in values.into_iter().enumerate() {
        if index > 0 {
            out.push_str("---\n");
        }
        // Straight into the stream: no string per document to copy and free.
        serde_saphyr::to_fmt_writer(&mut out, value).map_err(|err| YamlError::EmitFailed {
            message: err.to_string(),
        })?;
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// The nesting depth of a value: 0 for a scalar, 1 for a flat mapping, and so on.
#[must_use]
pub fn depth(value: &Value) -> usize {
    // Iterative, so that a deep value cannot overflow the stack here.
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((node, level)) = stack.pop() {
        match node {
            Value::Object(map) => {
                deepest = deepest.max(level + 1);
                stack.extend(map.values().map(|child| (child, level + 1)));
            }
            Value::Array(items) => {
                deepest = deepest.max(level + 1);
                stack.extend(items.iter().map(|child| (child, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// A rough size of a value once written, in bytes, for bounding a render's output.
#[must_use]
pub fn approximate_size(value: &Value) -> usize {
    let mut total = 0;
    let mut stack = vec![value];
    while let Some(node) = stack.pop() {
        total += match node {
            Value::Object(map) => {
                stack.extend(map.values());
                map.keys().map(|k| k.len() + 4).sum::<usize>()
            }
            Value::Array(items) => {
                stack.extend(items.iter());
                items.len() * 2
            }
            Value::String(s) => s.len() + 2,
            Value::Number(_) => 8,
            Value::Bool(_) | Value::Null => 5,
        };
    }
    total
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kustomize_inputs_keep_yes_and_on_as_strings() {
        let opts = ParseOptions {
            core_booleans: true,
            ..ParseOptions::default()
        };
        let docs = parse_mappings("a: on\nb: true\nmode: 0644\n", &opts).expect("parse");
        assert_eq!(docs[0]["a"], Value::from("on"));
        assert_eq!(docs[0]["b"], Value::Bool(true));
        assert_eq!(docs[0]["mode"], Value::from(420));
    }

    #[test]
    fn parses_like_kubectl_yaml_1_1() {
        let docs = parse_mappings(
            "a: on\nb: yes\nmode: 0644\n---\n# only a comment\n---\nc: 1\n",
            &ParseOptions::default(),
        )
        .expect("parse");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["a"], Value::Bool(true));
        assert_eq!(docs[0]["b"], Value::Bool(true));
        assert_eq!(docs[0]["mode"], Value::from(420));
    }

    #[test]
    fn fail_billion_laughs_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        // Refused by the budget, not after expanding 10^12 nodes (which would not end).
        let err = parse_values(&text, &ParseOptions::default()).expect_err("must be refused");
        assert!(matches!(err, YamlError::ParseFailed { .. }), "{err}");
        assert!(err.to_string().contains("budget breached"), "{err}");
    }

    #[test]
    fn fail_deep_nesting_is_refused() {
        let depth = 200;
        let text = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let err = parse_values(&format!("a: {text}\n"), &ParseOptions::default())
            .expect_err("must be refused");
        assert!(
            matches!(
                err,
                YamlError::ParseFailed { .. } | YamlError::TooDeep { .. }
            ),
            "{err}"
        );
        let mut block = String::new();
        for level in 0..100 {
            block.push_str(&" ".repeat(level * 2));
            block.push_str("k:\n");
        }
        let err = parse_values(&block, &ParseOptions::default()).expect_err("must be refused");
        assert!(
            matches!(
                err,
                YamlError::ParseFailed { .. } | YamlError::TooDeep { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn fail_document_that_is_not_a_mapping() {
        let err = parse_mappings("- a\n- b\n", &ParseOptions::default()).expect_err("list");
        assert!(matches!(err, YamlError::NotAMapping { index: 0 }), "{err}");
    }

    #[test]
    fn emits_strings_that_yaml_1_1_would_misread_quoted() {
        let value = serde_json::json!({"a": "on", "b": "0755", "n": 5});
        let text = emit_documents([&value, &value]).expect("emit");
        let back = parse_mappings(&text, &ParseOptions::default()).expect("parse back");
        assert_eq!(back, vec![value.clone(), value]);
    }

    #[test]
    fn scalars_take_the_type_yaml_gives_their_text() {
        assert_eq!(parse_scalar("8080"), Value::from(8080));
        assert_eq!(parse_scalar("true"), Value::Bool(true));
        assert_eq!(parse_scalar("web"), Value::from("web"));
        assert_eq!(parse_scalar("a: b"), Value::from("a: b"));
    }
}
