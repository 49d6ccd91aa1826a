//! The promotion's edit: the target overlay's files set to what the source overlay runs.

use super::{PromoteError, diff};
use crate::images::push::{Edits, Files, PushError};
use crate::images::update::{Change, Field, apply_markers, kustomize, read_markers};
use std::collections::BTreeMap;

/// The text of the first kustomization file of `dir` in `files`.
fn kustomization<'f>(files: &'f Files, dir: &str) -> Option<(&'f String, &'f String)> {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .find_map(|name| files.get_key_value(&format!("{dir}/{name}")))
}

/// The files of `dir`.
fn in_dir<'f>(files: &'f Files, dir: &str) -> Vec<(&'f String, &'f String)> {
    let prefix = format!("{dir}/");
    files
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .collect()
}

/// A promotion in progress: the files as read, the new texts, the changes.
struct Promotion<'f> {
    files: &'f Files,
    from: &'f str,
    to: &'f str,
    new_files: BTreeMap<String, String>,
    changes: Vec<Change>,
}

impl Promotion<'_> {
    /// The text of `path` as edited so far.
    fn current(&self, path: &str) -> String {
        self.new_files
            .get(path)
            .or_else(|| self.files.get(path))
            .cloned()
            .unwrap_or_default()
    }

    fn record(&mut self, path: &str, text: String, changes: Vec<Change>) {
        if !changes.is_empty() {
            self.new_files.insert(path.to_owned(), text);
            self.changes.extend(changes);
        }
    }

    /// `--file NAME`: the source overlay's file, whole.
    fn copy_files(&mut self, names: &[String]) -> Result<(), PromoteError> {
        for name in names {
            let name = name.trim_matches('/');
            let source = format!("{}/{name}", self.from);
            let target = format!("{}/{name}", self.to);
            let text = self.files.get(&source).ok_or_else(|| {
                PromoteError::Usage(format!(
                    "--file {name}: {source} does not exist or is not YAML"
                ))
            })?;
            if self.files.get(&target) != Some(text) {
                let change = Change {
                    file: target.clone(),
                    line: 1,
                    policy: format!("file {source}"),
                    old: String::new(),
                    new: "(copied)".into(),
                };
                self.record(&target, text.clone(), vec![change]);
            }
        }
        Ok(())
    }

    /// The source kustomization's `images:` entries into the target's.
    fn kustomize_images(&mut self) -> Result<(), PushError> {
        let (Some((source_path, source_text)), Some((target_path, _))) = (
            kustomization(self.files, self.from),
            kustomization(self.files, self.to),
        ) else {
            return Ok(());
        };
        let entries = kustomize::read_entries(source_path, source_text)?;
        let origin = format!(
            "{}:{}",
            self.from,
            source_path.rsplit('/').next().unwrap_or("")
        );
        let targets: Vec<kustomize::Target<'_>> = entries
            .iter()
            .map(|(name, fields)| kustomize::Target {
                name,
                policy: &origin,
                fields: fields.clone(),
            })
            .collect();
        let text = self.current(target_path);
        let (out, mut found) = kustomize::apply(target_path, &text, &targets)?;
        let (out, added) = kustomize::append_missing(target_path, &out, &targets)?;
        found.extend(added);
        self.record(target_path, out, found);
        Ok(())
    }

    /// The values of the source overlay's setter markers into the target's markers.
    fn markers(&mut self) -> Result<(), PushError> {
        let mut values: BTreeMap<(String, Option<Field>), String> = BTreeMap::new();
        for (path, text) in in_dir(self.files, self.from) {
            for marker in read_markers(path, text)? {
                values.insert((marker.policy, marker.field), marker.value);
            }
        }
        if values.is_empty() {
            return Ok(());
        }
        for (path, _) in in_dir(self.files, self.to) {
            let text = self.current(path);
            let (out, found) = apply_markers(path, &text, &|policy, field| {
                values.get(&(policy.to_owned(), field)).cloned()
            })?;
            self.record(path, out, found);
        }
        Ok(())
    }
}

/// The promotion's edit of `files` (the overlays folder): the edits and their diff.
pub fn promote_files(
    files: &Files,
    from: &str,
    to: &str,
    extra: &[String],
    branch: &str,
) -> Result<(Edits, String), PromoteError> {
    for dir in [from, to] {
        if in_dir(files, dir).is_empty() {
            return Err(PromoteError::OverlayMissing {
                path: dir.to_owned(),
                branch: branch.to_owned(),
            });
        }
    }
    let mut promotion = Promotion {
        files,
        from,
        to,
        new_files: BTreeMap::new(),
        changes: Vec::new(),
    };
    // Whole files first, so that entries and markers apply to what they became.
    promotion.copy_files(extra)?;
    promotion.kustomize_images()?;
    promotion.markers()?;
    let mut diff_text = String::new();
    for (path, text) in &promotion.new_files {
        let old = files.get(path).map_or("", String::as_str);
        diff_text.push_str(&diff::unified(path, old, text));
    }
    Ok((
        Edits {
            files: promotion.new_files,
            changes: promotion.changes,
        },
        diff_text,
    ))
}
