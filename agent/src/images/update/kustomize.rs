//! Kustomize `images:` entries: the entry whose `name` an automation names gets `newTag`
//! (and `digest` when the policy pins digests), written in place in block style; a missing
//! key is added under the entry's `name` with its indentation.

use super::{Change, Chosen, UpdateError, check_yaml};

/// Whether `file` is a kustomization by its name.
#[must_use]
pub fn is_kustomization(file: &str) -> bool {
    let base = file.rsplit('/').next().unwrap_or(file);
    matches!(
        base,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    )
}

/// One entry to set: the `images[].name` and the keys to set in it.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The entry's `name`.
    pub name: &'a str,
    /// The policy (`NS:NAME`) or origin, for the change record.
    pub policy: &'a str,
    /// The keys (`newName`, `newTag`, `digest`) and their values.
    pub fields: Vec<(&'static str, String)>,
}

impl<'a> Target<'a> {
    /// The entry set from a policy's choice: `newTag`, and `digest` when pinned.
    #[must_use]
    pub fn from_chosen(name: &'a str, policy: &'a str, chosen: &Chosen) -> Self {
        let mut fields = vec![("newTag", chosen.tag.clone())];
        if let Some(digest) = &chosen.digest {
            fields.push(("digest", digest.clone()));
        }
        Self {
            name,
            policy,
            fields,
        }
    }
}

/// One `images:` entry: its name and its keys.
pub type Entry = (String, Vec<(&'static str, String)>);

/// The `images:` entries of a kustomization: name → (key → value) for `newName`, `newTag`
/// and `digest`.
pub fn read_entries(file: &str, text: &str) -> Result<Vec<Entry>, UpdateError> {
    let docs = crate::render::yaml::parse_values(text, &super::parse_options()).map_err(|e| {
        UpdateError::YamlInvalid {
            file: file.to_owned(),
            problem: crate::text::clip_message(&e.to_string()).into_owned(),
        }
    })?;
    let mut out = Vec::new();
    let images = docs
        .first()
        .and_then(|d| d.get("images"))
        .and_then(|i| i.as_array());
    for entry in images.into_iter().flatten() {
        let Some(name) = entry.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        let mut fields = Vec::new();
        for key in ["newName", "newTag", "digest"] {
            match entry.get(key) {
                Some(serde_json::Value::String(v)) => fields.push((key, v.clone())),
                Some(serde_json::Value::Number(n)) => fields.push((key, n.to_string())),
                _ => {}
            }
        }
        out.push((name.to_owned(), fields));
    }
    Ok(out)
}

struct Line<'a> {
    text: &'a str,
    indent: usize,
    /// The content after the indentation (without the newline).
    content: &'a str,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    text.split_inclusive('\n')
        .map(|raw| {
            let body = raw.trim_end_matches(['\n', '\r']);
            let content = body.trim_start_matches(' ');
            Line {
                text: raw,
                indent: body.len() - content.len(),
                content,
            }
        })
        .collect()
}

fn blank(content: &str) -> bool {
    content.is_empty() || content.starts_with('#')
}

/// Sets the entries of `targets` in a kustomization's `images:`.
pub fn apply(
    file: &str,
    text: &str,
    targets: &[Target<'_>],
) -> Result<(String, Vec<Change>), UpdateError> {
    if targets.is_empty() || !text.contains("images:") {
        return Ok((text.to_owned(), Vec::new()));
    }
    check_yaml(file, text)?;
    let lines = lines(text);
    let Some(header) = lines
        .iter()
        .position(|l| l.indent == 0 && l.content.trim_end().starts_with("images:"))
    else {
        return Ok((text.to_owned(), Vec::new()));
    };
    let invalid = |line: usize, problem: &str| UpdateError::MarkerInvalid {
        file: file.to_owned(),
        line: line + 1,
        problem: problem.to_owned(),
    };
    let after = lines[header].content.trim_end()["images:".len()..].trim();
    if !after.is_empty() && !after.starts_with('#') {
        return Err(invalid(
            header,
            "images: in flow style cannot be updated in place; write it as a block list",
        ));
    }
    // The block: lines until one at indent 0 that is not a list item.
    let end = (header + 1..lines.len())
        .find(|&i| {
            lines[i].indent == 0 && !blank(lines[i].content) && !lines[i].content.starts_with('-')
        })
        .unwrap_or(lines.len());
    let mut plan = Plan::default();
    let mut i = header + 1;
    while i < end {
        let l = &lines[i];
        if !l.content.starts_with("- ") {
            i += 1;
            continue;
        }
        let item_end = (i + 1..end)
            .find(|&j| !blank(lines[j].content) && lines[j].indent <= l.indent)
            .unwrap_or(end);
        let keys = item_keys(&lines, i, item_end);
        let name = keys
            .iter()
            .find(|k| k.key == "name")
            .map(|k| scalar(&lines[k.line], k.value_start));
        if let Some(target) = name.and_then(|n| targets.iter().find(|t| t.name == n)) {
            set_fields(file, &lines, &keys, target, i, &mut plan)?;
        }
        i = item_end;
    }
    if plan.changes.is_empty() {
        return Ok((text.to_owned(), plan.changes));
    }
    let out = plan.write(&lines);
    check_yaml(file, &out)?;
    Ok((out, plan.changes))
}

/// The edits of one kustomization.
#[derive(Default)]
struct Plan {
    /// (line index, its new text).
    replace: Vec<(usize, String)>,
    /// (line index, text inserted after it).
    insert: Vec<(usize, String)>,
    changes: Vec<Change>,
}

impl Plan {
    fn write(&self, lines: &[Line<'_>]) -> String {
        let mut out = String::new();
        for (j, l) in lines.iter().enumerate() {
            match self.replace.iter().find(|r| r.0 == j) {
                Some((_, new)) => out.push_str(new),
                None => out.push_str(l.text),
            }
            if !l.text.ends_with('\n') && self.insert.iter().any(|r| r.0 == j) {
                out.push('\n');
            }
            for (_, added) in self.insert.iter().filter(|r| r.0 == j) {
                out.push_str(added);
            }
        }
        out
    }
}

/// A key of an `images:` item.
struct Key<'t> {
    line: usize,
    key: &'t str,
    /// The byte where its value starts in the line.
    value_start: usize,
}

/// The keys of the item from line `start` (`- name: ...`) to `end`: its first line after
/// `- `, then the lines at the item's key indentation.
fn item_keys<'t>(lines: &[Line<'t>], start: usize, end: usize) -> Vec<Key<'t>> {
    let first = &lines[start];
    let key_indent = first.indent + 2;
    let mut keys = Vec::new();
    for (j, line) in lines.iter().enumerate().take(end).skip(start) {
        let (content, offset) = if j == start {
            (&first.content[2..], key_indent)
        } else if line.indent == key_indent {
            (line.content, key_indent)
        } else {
            continue;
        };
        if let Some((key, _)) = content.split_once(':') {
            keys.push(Key {
                line: j,
                key: key.trim(),
                value_start: offset + key.len() + 1,
            });
        }
    }
    keys
}

/// Plans setting `target`'s fields in the item starting at line `item`.
fn set_fields(
    file: &str,
    lines: &[Line<'_>],
    keys: &[Key<'_>],
    target: &Target<'_>,
    item: usize,
    plan: &mut Plan,
) -> Result<(), UpdateError> {
    let key_indent = lines[item].indent + 2;
    let name_line = keys
        .iter()
        .find(|k| k.key == "name")
        .map_or(item, |k| k.line);
    for (key, value) in &target.fields {
        match keys.iter().find(|k| k.key == *key) {
            Some(k) => {
                let old = scalar(&lines[k.line], k.value_start);
                if old == *value {
                    continue;
                }
                let (vs, ve) = scalar_span(&lines[k.line], k.value_start).ok_or_else(|| {
                    UpdateError::MarkerInvalid {
                        file: file.to_owned(),
                        line: k.line + 1,
                        problem: "the value is not a plain or quoted scalar".into(),
                    }
                })?;
                let text = lines[k.line].text;
                plan.replace
                    .push((k.line, format!("{}{value}{}", &text[..vs], &text[ve..])));
                plan.changes.push(change(file, k.line, target, &old, value));
            }
            None => {
                plan.insert.push((
                    name_line,
                    format!("{}{key}: {value}\n", " ".repeat(key_indent)),
                ));
                plan.changes
                    .push(change(file, name_line + 1, target, "", value));
            }
        }
    }
    Ok(())
}

fn change(file: &str, line: usize, target: &Target<'_>, old: &str, new: &str) -> Change {
    Change {
        file: file.to_owned(),
        line: line + 1,
        policy: target.policy.to_owned(),
        old: old.to_owned(),
        new: new.to_owned(),
    }
}

/// The span (in the line's text) of the scalar starting at byte `start`, without quotes.
fn scalar_span(line: &Line<'_>, start: usize) -> Option<(usize, usize)> {
    let body = line.text.trim_end_matches(['\n', '\r']);
    let rest = body.get(start..)?;
    let lead = rest.len() - rest.trim_start().len();
    let s = start + lead;
    let value = &body[s..];
    if let Some(q) = value.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let close = value[1..].find(q)? + 1;
        return Some((s + 1, s + close));
    }
    let end = value.find(" #").unwrap_or(value.len());
    let v = value[..end].trim_end();
    if v.starts_with(['{', '[', '|', '>', '&', '*', '!']) {
        return None;
    }
    Some((s, s + v.len()))
}

fn scalar(line: &Line<'_>, start: usize) -> String {
    scalar_span(line, start)
        .map(|(s, e)| line.text[s..e].to_owned())
        .unwrap_or_default()
}

/// Adds the entries of `targets` that `text`'s `images:` lacks, at the end of the block (or
/// a new block at the end of the file).
pub fn append_missing(
    file: &str,
    text: &str,
    targets: &[Target<'_>],
) -> Result<(String, Vec<Change>), UpdateError> {
    let present: Vec<String> = read_entries(file, text)?.into_iter().map(|e| e.0).collect();
    let missing: Vec<&Target<'_>> = targets
        .iter()
        .filter(|t| !present.iter().any(|p| p == t.name) && !t.fields.is_empty())
        .collect();
    if missing.is_empty() {
        return Ok((text.to_owned(), Vec::new()));
    }
    let lines = lines(text);
    let header = lines
        .iter()
        .position(|l| l.indent == 0 && l.content.trim_end() == "images:");
    if header.is_none()
        && lines
            .iter()
            .any(|l| l.indent == 0 && l.content.starts_with("images:"))
    {
        return Err(UpdateError::MarkerInvalid {
            file: file.to_owned(),
            line: 1,
            problem: "images: in flow style cannot be updated in place; write it as a block list"
                .into(),
        });
    }
    let (insert_after, item_indent) = match header {
        Some(h) => {
            let end = (h + 1..lines.len())
                .find(|&i| {
                    lines[i].indent == 0
                        && !blank(lines[i].content)
                        && !lines[i].content.starts_with('-')
                })
                .unwrap_or(lines.len());
            let last = (h..end)
                .rev()
                .find(|&i| !blank(lines[i].content))
                .unwrap_or(h);
            let indent = (h + 1..end)
                .find(|&i| lines[i].content.starts_with("- "))
                .map_or(0, |i| lines[i].indent);
            (Some(last), indent)
        }
        None => (None, 0),
    };
    let first_line = insert_after.map_or(lines.len() + 2, |l| l + 2);
    let (block, changes) = new_entries(file, &missing, item_indent, first_line);
    let mut out = String::with_capacity(text.len() + block.len() + 16);
    match insert_after {
        Some(last) => {
            for (i, l) in lines.iter().enumerate() {
                out.push_str(l.text);
                if i == last {
                    if !l.text.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push_str(&block);
                }
            }
        }
        None => {
            out.push_str(text);
            if !text.is_empty() && !text.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("images:\n");
            out.push_str(&block);
        }
    }
    check_yaml(file, &out)?;
    Ok((out, changes))
}

/// The text of entries appended at `item_indent`, the first on line `first_line`.
fn new_entries(
    file: &str,
    missing: &[&Target<'_>],
    item_indent: usize,
    first_line: usize,
) -> (String, Vec<Change>) {
    let pad = " ".repeat(item_indent);
    let mut block = String::new();
    let mut changes = Vec::new();
    let mut line = first_line;
    for t in missing {
        block.push_str(&format!("{pad}- name: {}\n", t.name));
        line += 1;
        for (key, value) in &t.fields {
            block.push_str(&format!("{pad}  {key}: {value}\n"));
            changes.push(Change {
                file: file.to_owned(),
                line,
                policy: t.policy.to_owned(),
                old: String::new(),
                new: format!("{}: {key}: {value}", t.name),
            });
            line += 1;
        }
    }
    (block, changes)
}
