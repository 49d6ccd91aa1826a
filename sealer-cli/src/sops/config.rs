//! `.sops.yaml` creation rules: which recipients, key groups and encryption rule a new file
//! gets. The file is searched upward from the target file's folder (then from the working
//! folder, where sops looks); the first rule whose `path_regex` matches the file's path
//! relative to the config file's folder applies (a rule without `path_regex` matches all).

use serde::Deserialize;
use std::path::{Path, PathBuf};

use super::Error;
use super::rules::Rule;

const MAX_DEPTH: usize = 100;

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConfigFile {
    creation_rules: Option<Vec<CreationRule>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<String> {
        let items: Vec<&str> = match self {
            OneOrMany::One(s) => s.split(',').collect(),
            OneOrMany::Many(v) => v.iter().flat_map(|s| s.split(',')).collect(),
        };
        items
            .into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyGroupConfig {
    age: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreationRule {
    path_regex: String,
    age: Option<OneOrMany>,
    key_groups: Vec<KeyGroupConfig>,
    shamir_threshold: usize,
    unencrypted_suffix: String,
    encrypted_suffix: String,
    unencrypted_regex: String,
    encrypted_regex: String,
    unencrypted_comment_regex: String,
    encrypted_comment_regex: String,
    mac_only_encrypted: bool,
}

/// What a creation rule says about a new file.
pub struct CreationSettings {
    /// Age recipients per key group.
    pub key_groups: Vec<Vec<String>>,
    /// The Shamir threshold (0: all groups).
    pub shamir_threshold: usize,
    /// The encryption rule, when the creation rule sets one.
    pub rule: Option<Rule>,
    /// Whether the MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
}

/// Finds the nearest `.sops.yaml` (or `.sops.yml`) from the file's folder upward, then from
/// the working folder upward.
pub fn find_config(file: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(file).ok()?;
    let mut starts = vec![abs.parent()?.to_path_buf()];
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    for start in starts {
        let mut dir = Some(start.as_path());
        for _ in 0..MAX_DEPTH {
            let Some(d) = dir else { break };
            for name in [".sops.yaml", ".sops.yml"] {
                let candidate = d.join(name);
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
            dir = d.parent();
        }
    }
    None
}

/// Reads the creation rule for `file` from the config file at `config`. `Ok(None)` when the
/// config has no `creation_rules`.
pub fn creation_settings(config: &Path, file: &Path) -> Result<Option<CreationSettings>, Error> {
    let cfg_err = |reason: String| Error::Config {
        file: config.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(config).map_err(|e| cfg_err(e.to_string()))?;
    let parsed: ConfigFile = serde_saphyr::from_str(&text).map_err(|e| cfg_err(e.to_string()))?;
    let Some(rules) = parsed.creation_rules else {
        return Ok(None);
    };
    let dir = std::path::absolute(config)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let rel = abs.strip_prefix(&dir).map(Path::to_path_buf).unwrap_or(abs);
    let rel = rel.to_string_lossy();
    let mut chosen = None;
    for (i, r) in rules.iter().enumerate() {
        if r.path_regex.is_empty() {
            chosen = Some(r);
            break;
        }
        let re = regex::Regex::new(&r.path_regex)
            .map_err(|e| cfg_err(format!("creation_rules[{i}].path_regex: {e}")))?;
        if re.is_match(&rel) {
            chosen = Some(r);
            break;
        }
    }
    let Some(r) = chosen else {
        return Err(cfg_err(format!(
            "no matching creation rules found for {rel}"
        )));
    };
    let key_groups = if !r.key_groups.is_empty() {
        r.key_groups
            .iter()
            .map(|g| OneOrMany::Many(g.age.clone()).list())
            .collect()
    } else {
        vec![r.age.as_ref().map(OneOrMany::list).unwrap_or_default()]
    };
    let pairs = [
        ("unencrypted_suffix", r.unencrypted_suffix.as_str()),
        ("encrypted_suffix", r.encrypted_suffix.as_str()),
        ("unencrypted_regex", r.unencrypted_regex.as_str()),
        ("encrypted_regex", r.encrypted_regex.as_str()),
        (
            "unencrypted_comment_regex",
            r.unencrypted_comment_regex.as_str(),
        ),
        (
            "encrypted_comment_regex",
            r.encrypted_comment_regex.as_str(),
        ),
    ];
    let any_rule = pairs.iter().any(|(_, v)| !v.is_empty());
    let rule = if any_rule {
        Some(Rule::from_pairs(pairs).map_err(|e| cfg_err(e.to_string()))?)
    } else {
        None
    };
    Ok(Some(CreationSettings {
        key_groups,
        shamir_threshold: r.shamir_threshold,
        rule,
        mac_only_encrypted: r.mac_only_encrypted,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_creation_rule_applies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join(".sops.yaml");
        std::fs::write(
            &cfg,
            "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    encrypted_regex: ^data$\n    age: age1a,age1b\n  - age: age1c\n",
        )
        .expect("write");
        let s = creation_settings(&cfg, &dir.path().join("secrets/x.yaml"))
            .expect("reads")
            .expect("a rule");
        assert_eq!(
            s.key_groups,
            vec![vec!["age1a".to_owned(), "age1b".to_owned()]]
        );
        assert!(matches!(s.rule, Some(Rule::EncryptedRegex(..))));
        let s = creation_settings(&cfg, &dir.path().join("other.json"))
            .expect("reads")
            .expect("a rule");
        assert_eq!(s.key_groups, vec![vec!["age1c".to_owned()]]);
        assert_eq!(
            find_config(&dir.path().join("secrets/x.yaml")).as_deref(),
            Some(cfg.as_path())
        );
    }
}
