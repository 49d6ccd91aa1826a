//! Updates YAML files to the policies' choices, changing only the bytes of the values
//! (comments, key order, quoting and formatting stay):
//!
//! - Flux setter markers on a line: `image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "NS:NAME"}`
//!   sets the whole image; `NS:NAME:tag`, `NS:NAME:name` and `NS:NAME:digest` set a part.
//! - Kustomize `images:` entries named by the automation ([`kustomize`]).
//!
//! A file that does not parse as YAML before or after the edit is an error naming it, and
//! nothing is written.

pub mod kustomize;

use crate::render::yaml::{ParseOptions, parse_values};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Errors of updating a file.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The file is not valid YAML.
    #[error("{file}: not valid YAML, left unchanged: {problem}")]
    YamlInvalid {
        /// The file.
        file: String,
        /// The parser's message (clipped).
        problem: String,
    },
    /// A marker or entry could not be applied.
    #[error("{file}:{line}: {problem}")]
    MarkerInvalid {
        /// The file.
        file: String,
        /// The line (from 1).
        line: usize,
        /// What is wrong.
        problem: String,
    },
}

impl UpdateError {
    /// A short, stable reason.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::YamlInvalid { .. } => "ManifestInvalid",
            Self::MarkerInvalid { .. } => "MarkerInvalid",
        }
    }
}

/// What a policy chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The image name as the repository is written (`ghcr.io/org/app`).
    pub image: String,
    /// The tag.
    pub tag: String,
    /// The digest, when the policy pins digests.
    pub digest: Option<String>,
}

impl Chosen {
    /// `IMAGE:TAG` or `IMAGE:TAG@DIGEST`.
    #[must_use]
    pub fn reference(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}:{}@{d}", self.image, self.tag),
            None => format!("{}:{}", self.image, self.tag),
        }
    }
}

/// One changed value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The file (relative to the repository).
    pub file: String,
    /// The line (from 1).
    pub line: usize,
    /// The policy (`NS:NAME`).
    pub policy: String,
    /// The old value.
    pub old: String,
    /// The new value.
    pub new: String,
}

static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"#\s*\{\s*"\$imagepolicy"\s*:\s*"([^"]*)"\s*\}"#).expect("a valid regex")
});

/// The parse bounds of files read for update.
fn parse_options() -> ParseOptions {
    ParseOptions::default()
}

/// Checks that `text` is YAML.
pub(crate) fn check_yaml(file: &str, text: &str) -> Result<(), UpdateError> {
    parse_values(text, &parse_options())
        .map(|_| ())
        .map_err(|e| UpdateError::YamlInvalid {
            file: file.to_owned(),
            problem: crate::text::clip_message(&e.to_string()).into_owned(),
        })
}

/// Sets every setter marker of `text` whose policy is in `chosen` (by `NS:NAME`); returns
/// the new text and the changes (none: the text is returned unchanged).
pub fn apply_setters(
    file: &str,
    text: &str,
    chosen: &BTreeMap<String, Chosen>,
) -> Result<(String, Vec<Change>), UpdateError> {
    apply_markers(file, text, &|policy, field| {
        let choice = chosen.get(policy)?;
        match field {
            None => Some(choice.reference()),
            Some(Field::Tag) => Some(choice.tag.clone()),
            Some(Field::Name) => Some(choice.image.clone()),
            Some(Field::Digest) => choice.digest.clone(),
        }
    })
}

/// The part of an image a marker sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// `:tag`.
    Tag,
    /// `:name`.
    Name,
    /// `:digest`.
    Digest,
}

/// One marker found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The policy (`NS:NAME`).
    pub policy: String,
    /// The part it sets (none: the whole image).
    pub field: Option<Field>,
    /// The value it marks.
    pub value: String,
    /// The line (from 1).
    pub line: usize,
}

/// Every marker of a YAML file.
pub fn read_markers(file: &str, text: &str) -> Result<Vec<Marker>, UpdateError> {
    let mut found = Vec::new();
    if !text.contains("$imagepolicy") {
        return Ok(found);
    }
    check_yaml(file, text)?;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if let Some(Found {
            policy,
            field,
            start,
            end,
        }) = marker_on(file, index, line)?
        {
            found.push(Marker {
                policy,
                field,
                value: line[start..end].to_owned(),
                line: index + 1,
            });
        }
    }
    Ok(found)
}

/// A marker on a line: policy, field and the span of its value.
struct Found {
    policy: String,
    field: Option<Field>,
    start: usize,
    end: usize,
}

/// The marker on a line.
fn marker_on(file: &str, index: usize, line: &str) -> Result<Option<Found>, UpdateError> {
    let Some(caps) = MARKER.captures(line) else {
        return Ok(None);
    };
    let (Some(whole), Some(reference)) = (caps.get(0), caps.get(1)) else {
        return Ok(None);
    };
    let invalid = |problem: String| UpdateError::MarkerInvalid {
        file: file.to_owned(),
        line: index + 1,
        problem,
    };
    let parts: Vec<&str> = reference.as_str().split(':').collect();
    let (policy, field) = match parts.as_slice() {
        [ns, name] if !ns.is_empty() && !name.is_empty() => (format!("{ns}:{name}"), None),
        [ns, name, field] if !ns.is_empty() && !name.is_empty() => {
            let field = match *field {
                "tag" => Field::Tag,
                "name" => Field::Name,
                "digest" => Field::Digest,
                other => {
                    return Err(invalid(format!(
                        "marker field {:?}: expected tag, name or digest",
                        crate::text::clip_message(other)
                    )));
                }
            };
            (format!("{ns}:{name}"), Some(field))
        }
        _ => {
            return Err(invalid(format!(
                "marker {:?}: expected NAMESPACE:NAME[:tag|:name|:digest]",
                crate::text::clip_message(reference.as_str())
            )));
        }
    };
    let (start, end) = value_span(&line[..whole.start()])
        .ok_or_else(|| invalid("the marker follows no scalar value".into()))?;
    Ok(Some(Found {
        policy,
        field,
        start,
        end,
    }))
}

/// Sets each marker to `value_for(policy, field)` (none: left alone).
pub fn apply_markers(
    file: &str,
    text: &str,
    value_for: &dyn Fn(&str, Option<Field>) -> Option<String>,
) -> Result<(String, Vec<Change>), UpdateError> {
    if !text.contains("$imagepolicy") {
        return Ok((text.to_owned(), Vec::new()));
    }
    check_yaml(file, text)?;
    let mut out = String::with_capacity(text.len());
    let mut changes = Vec::new();
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let Some(Found {
            policy,
            field,
            start,
            end,
        }) = marker_on(file, index, line)?
        else {
            out.push_str(line);
            continue;
        };
        let old = &line[start..end];
        match value_for(&policy, field) {
            Some(new) if new != old => {
                out.push_str(&line[..start]);
                out.push_str(&new);
                out.push_str(&line[end..]);
                changes.push(Change {
                    file: file.to_owned(),
                    line: index + 1,
                    policy,
                    old: old.to_owned(),
                    new,
                });
            }
            _ => out.push_str(line),
        }
    }
    if !changes.is_empty() {
        check_yaml(file, &out)?;
    }
    Ok((out, changes))
}

/// The byte span of the scalar value before a marker's `#`: after `key: ` or `- `, inside
/// quotes when quoted.
fn value_span(before: &str) -> Option<(usize, usize)> {
    let trimmed_end = before.trim_end().len();
    let mut start = before.len() - before.trim_start().len();
    // List item dashes.
    while before[start..trimmed_end].starts_with("- ") {
        start += 2;
        start += before[start..].len() - before[start..].trim_start().len();
    }
    let rest = &before[start..trimmed_end];
    // A `key: value` pair: the key is a plain or quoted scalar without `: ` inside.
    if let Some(pos) = key_end(rest) {
        start += pos;
        start += before[start..].len() - before[start..].trim_start().len();
    }
    let value = &before[start..trimmed_end];
    if value.is_empty() {
        return None;
    }
    let quoted = (value.starts_with('"') && value.ends_with('"'))
        || (value.starts_with('\'') && value.ends_with('\''));
    if quoted && value.len() >= 2 {
        return Some((start + 1, trimmed_end - 1));
    }
    if value.contains(": ") || value.starts_with(['{', '[', '|', '>', '&', '*', '!']) {
        return None;
    }
    Some((start, trimmed_end))
}

/// Where the value begins after `key:` in `text`, if it starts with a key.
fn key_end(text: &str) -> Option<usize> {
    if let Some(q) = text.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let close = text[1..].find(q)? + 1;
        return text[close + 1..].starts_with(": ").then_some(close + 3);
    }
    let colon = text.find(": ")?;
    let key = &text[..colon];
    (!key.contains(['"', '\'', '#'])).then_some(colon + 2)
}

#[cfg(test)]
mod tests;
