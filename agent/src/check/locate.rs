//! The line of an object in the file it came from, for reports that point at lines (GitHub
//! annotations, SARIF). Found by reading the file's YAML documents for the one with the
//! object's `kind` and `name`; `None` when the file does not show it plainly (an object made
//! by a Kustomize patch or generator).

use crate::policy::ObjectRef;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Files read once, lines looked up many times.
#[derive(Debug, Default)]
pub struct Locator {
    files: HashMap<PathBuf, Option<String>>,
}

/// The largest file searched.
const MAX_FILE: u64 = 8 * 1024 * 1024;

impl Locator {
    /// The 1-based line where the document of `object` starts in `root/file`.
    pub fn line(&mut self, root: &Path, file: &str, object: &ObjectRef) -> Option<usize> {
        let path = root.join(file);
        let text = self
            .files
            .entry(path.clone())
            .or_insert_with(|| {
                let size = std::fs::metadata(&path).ok()?.len();
                (size <= MAX_FILE)
                    .then(|| std::fs::read_to_string(&path).ok())
                    .flatten()
            })
            .as_deref()?;
        line_in(text, object)
    }
}

fn unquote(value: &str) -> &str {
    let value = value.split(" #").next().unwrap_or(value).trim();
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value)
}

/// The line in `text` where the document of `object` starts.
#[must_use]
pub fn line_in(text: &str, object: &ObjectRef) -> Option<usize> {
    let mut start: Option<usize> = None;
    let mut kind_seen = false;
    let mut name_seen = false;
    let mut documents = 0;
    let mut first_match = None;
    let finish =
        |start: Option<usize>, kind: bool, name: bool| (kind && name).then_some(start).flatten();
    for (index, line) in text.lines().enumerate() {
        if line.starts_with("---") {
            if let Some(found) = finish(start, kind_seen, name_seen) {
                first_match.get_or_insert(found);
            }
            start = None;
            kind_seen = false;
            name_seen = false;
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if start.is_none() {
            start = Some(index + 1);
            documents += 1;
        }
        if let Some(kind) = line.strip_prefix("kind:") {
            kind_seen |= unquote(kind) == object.kind;
        }
        let inline_name = trimmed
            .strip_prefix("metadata:")
            .and_then(|m| m.split("name:").nth(1))
            .map(|rest| rest.split([',', '}']).next().unwrap_or_default());
        let block_name = trimmed
            .strip_prefix("name:")
            .filter(|_| line.starts_with("  "));
        if let Some(name) = inline_name.or(block_name) {
            name_seen |= unquote(name) == object.name;
        }
    }
    if let Some(found) = finish(start, kind_seen, name_seen) {
        first_match.get_or_insert(found);
    }
    first_match.or_else(|| {
        // A single-document file is the object's wherever its name is written.
        (documents == 1).then(|| {
            text.lines()
                .position(|l| {
                    !l.trim().is_empty() && !l.trim().starts_with('#') && !l.starts_with("---")
                })
                .map(|i| i + 1)
        })?
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reference(kind: &str, name: &str) -> ObjectRef {
        ObjectRef::of(&json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}))
    }

    #[test]
    fn the_line_is_where_the_objects_document_starts() {
        let text = "# comment\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"b\", namespace: x}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: b\n";
        assert_eq!(line_in(text, &reference("ConfigMap", "a")), Some(2));
        assert_eq!(line_in(text, &reference("ConfigMap", "b")), Some(8));
        assert_eq!(line_in(text, &reference("Deployment", "b")), Some(12));
        assert_eq!(line_in(text, &reference("Secret", "b")), None);
        let single = "\n# x\nkind: Deployment\nmetadata:\n  name: web\n";
        assert_eq!(
            line_in(single, &reference("Deployment", "renamed-by-kustomize")),
            Some(3)
        );
    }
}
