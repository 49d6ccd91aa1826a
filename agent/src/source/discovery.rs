//! App discovery with the semantics of Argo CD's ApplicationSet Git directory generator:
//! directories matching glob patterns (`apps/*/overlays/production`, where `*` stays within
//! one path component), exclusion entries that win over inclusions, and templated app names
//! and namespaces (`{{path}}`, `{{path[N]}}`, `{{path.basename}}`,
//! `{{path.basenameNormalized}}`).
//!
//! The result is the set of apps in one snapshot; apps appear and disappear with their
//! directories. Pruning what disappeared is done elsewhere.

use crate::tree::{EntryKind, RelPath, Tree, TreeError};
use globset::{GlobBuilder, GlobMatcher};

/// How deep discovery walks when a pattern has `**`.
const MAX_DEPTH: usize = 32;
/// How many directories one discovery may visit.
const MAX_DIRECTORIES: usize = 100_000;

/// Errors from discovering apps. Each names the pattern, directory or field at fault.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// A directory pattern is not a valid glob.
    #[error("directories[{index}].path: invalid pattern {pattern:?}: {message}")]
    InvalidPattern {
        /// The entry's index.
        index: usize,
        /// The pattern.
        pattern: String,
        /// The parser's message.
        message: String,
    },
    /// A template uses a placeholder that does not exist or an index out of range.
    #[error("{field}: template {template:?} for directory {dir}: {message}")]
    TemplateFailed {
        /// `name` or `namespace`.
        field: &'static str,
        /// The template.
        template: String,
        /// The directory it was applied to.
        dir: String,
        /// What is wrong.
        message: String,
    },
    /// A templated value is not a valid DNS label.
    #[error("{field}: {value:?} (from directory {dir}) is not a valid DNS label: {reason}")]
    InvalidName {
        /// `name` or `namespace`.
        field: &'static str,
        /// The value.
        value: String,
        /// The directory.
        dir: String,
        /// Why.
        reason: &'static str,
    },
    /// Two directories produce the same app name.
    #[error("name: directories {first} and {second} both produce the app name {name:?}")]
    DuplicateName {
        /// The name.
        name: String,
        /// The first directory.
        first: String,
        /// The second directory.
        second: String,
    },
    /// The walk visited too many directories.
    #[error("discovery visited more than {limit} directories")]
    TooManyDirectories {
        /// The limit.
        limit: usize,
    },
    /// Reading the snapshot failed.
    #[error("reading the snapshot failed: {0}")]
    Tree(#[from] TreeError),
}

impl DiscoveryError {
    /// A short, stable reason.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        "DiscoveryFailed"
    }
}

/// One entry of `directories`: a pattern, and whether it excludes.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DirectoryRule {
    /// The glob (`apps/*/overlays/production`).
    pub path: String,
    /// Exclusion entries win over inclusions.
    #[serde(default)]
    pub exclude: bool,
}

/// What to discover and how to name it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiscoveryConfig {
    /// The directory rules.
    pub directories: Vec<DirectoryRule>,
    /// The app name template (default `{{path.basename}}`).
    #[serde(default = "default_name")]
    pub name: String,
    /// The target namespace template (none: the manifests decide).
    #[serde(default)]
    pub namespace: Option<String>,
}

fn default_name() -> String {
    "{{path.basename}}".to_owned()
}

/// An app found in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DiscoveredApp {
    /// The app name (a DNS label).
    pub name: String,
    /// Its directory.
    pub path: RelPath,
    /// The target namespace, when templated.
    pub namespace: Option<String>,
}

/// Finds the apps of `tree` under `config`, sorted by name.
pub fn discover(
    tree: &Tree,
    config: &DiscoveryConfig,
) -> Result<Vec<DiscoveredApp>, DiscoveryError> {
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    let mut depth = 0;
    for (index, rule) in config.directories.iter().enumerate() {
        let pattern = rule.path.trim_matches('/');
        let matcher = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|err| DiscoveryError::InvalidPattern {
                index,
                pattern: rule.path.clone(),
                message: err.kind().to_string(),
            })?
            .compile_matcher();
        if rule.exclude {
            exclude.push(matcher);
        } else {
            let components = pattern.split('/').count();
            depth = depth.max(if pattern.contains("**") {
                MAX_DEPTH
            } else {
                components
            });
            include.push(matcher);
        }
    }
    let mut found: Vec<DiscoveredApp> = Vec::new();
    let mut visited = 0;
    let mut stack = vec![(RelPath::root(), 0_usize)];
    while let Some((dir, level)) = stack.pop() {
        if level >= depth {
            continue;
        }
        for entry in tree.list(&dir)? {
            if entry.kind != EntryKind::Dir || entry.name.starts_with('.') {
                continue;
            }
            visited += 1;
            if visited > MAX_DIRECTORIES {
                return Err(DiscoveryError::TooManyDirectories {
                    limit: MAX_DIRECTORIES,
                });
            }
            let path = entry.path.as_str();
            if matches(&include, path) && !matches(&exclude, path) {
                found.push(app_for(config, &entry.path)?);
            }
            stack.push((entry.path, level + 1));
        }
    }
    found.sort();
    for pair in found.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(DiscoveryError::DuplicateName {
                name: pair[0].name.clone(),
                first: pair[0].path.to_string(),
                second: pair[1].path.to_string(),
            });
        }
    }
    Ok(found)
}

fn matches(matchers: &[GlobMatcher], path: &str) -> bool {
    matchers.iter().any(|m| m.is_match(path))
}

fn app_for(config: &DiscoveryConfig, dir: &RelPath) -> Result<DiscoveredApp, DiscoveryError> {
    let name = render("name", &config.name, dir)?;
    check_label("name", &name, dir)?;
    let namespace = match &config.namespace {
        Some(template) => {
            let ns = render("namespace", template, dir)?;
            check_label("namespace", &ns, dir)?;
            Some(ns)
        }
        None => None,
    };
    Ok(DiscoveredApp {
        name,
        path: dir.clone(),
        namespace,
    })
}

/// Expands `{{path}}`, `{{path[N]}}`, `{{path.basename}}` and `{{path.basenameNormalized}}`
/// (spaces inside the braces allowed).
pub fn render(
    field: &'static str,
    template: &str,
    dir: &RelPath,
) -> Result<String, DiscoveryError> {
    let failed = |message: String| DiscoveryError::TemplateFailed {
        field,
        template: template.to_owned(),
        dir: dir.to_string(),
        message,
    };
    let segments: Vec<&str> = dir.components().collect();
    let basename = segments.last().copied().unwrap_or("");
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| failed("unclosed {{".to_owned()))?;
        let key = after[..end].trim();
        let value = match key {
            "path" | "path.path" => dir.as_str().to_owned(),
            "path.basename" => basename.to_owned(),
            "path.basenameNormalized" => normalize(basename),
            other => {
                let index = other
                    .strip_prefix("path[")
                    .and_then(|s| s.strip_suffix(']'))
                    .or_else(|| {
                        other
                            .strip_prefix("path.segments[")
                            .and_then(|s| s.strip_suffix(']'))
                    })
                    .ok_or_else(|| failed(format!("unknown placeholder {{{{{other}}}}}")))?;
                let index: usize = index
                    .trim()
                    .parse()
                    .map_err(|_| failed(format!("index {index:?} is not a number")))?;
                segments
                    .get(index)
                    .map(|s| (*s).to_owned())
                    .ok_or_else(|| {
                        failed(format!(
                            "path[{index}] is out of range ({} segments)",
                            segments.len()
                        ))
                    })?
            }
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Argo CD's normalization: lower case, every character other than `a-z0-9-.` becomes `-`,
/// and `-`/`.` are trimmed from both ends.
fn normalize(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    lowered.trim_matches(['-', '.']).to_owned()
}

/// An RFC 1123 label: 1 to 63 of `a-z0-9-`, starting and ending alphanumeric.
fn check_label(field: &'static str, value: &str, dir: &RelPath) -> Result<(), DiscoveryError> {
    let invalid = |reason| DiscoveryError::InvalidName {
        field,
        value: value.to_owned(),
        dir: dir.to_string(),
        reason,
    };
    if value.is_empty() {
        return Err(invalid("empty"));
    }
    if value.len() > 63 {
        return Err(invalid("longer than 63 characters"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid(
            "only lower-case letters, digits and '-' are allowed",
        ));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err(invalid("must start and end with a letter or digit"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::FsTree;

    fn tree_with(dirs: &[&str]) -> (tempfile::TempDir, Tree) {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in dirs {
            let full = dir.path().join(d);
            std::fs::create_dir_all(&full).expect("mkdir");
            std::fs::write(full.join("kustomization.yaml"), "resources: []\n").expect("write");
        }
        let tree = Tree::new(FsTree::new(dir.path()));
        (dir, tree)
    }

    fn config(rules: &[(&str, bool)], name: &str, namespace: Option<&str>) -> DiscoveryConfig {
        DiscoveryConfig {
            directories: rules
                .iter()
                .map(|(path, exclude)| DirectoryRule {
                    path: (*path).to_owned(),
                    exclude: *exclude,
                })
                .collect(),
            name: name.to_owned(),
            namespace: namespace.map(str::to_owned),
        }
    }

    #[test]
    fn globs_stay_within_one_component_and_exclusions_win() {
        let (_d, tree) = tree_with(&[
            "apps/web/overlays/production",
            "apps/web/overlays/staging",
            "apps/db/overlays/production",
            "apps/legacy/overlays/production",
            "apps/nested/deeper/overlays/production",
            "apps/.hidden/overlays/production",
        ]);
        let cfg = config(
            &[
                ("apps/*/overlays/production", false),
                ("apps/legacy/*/*", true),
            ],
            "{{path[1]}}-prod",
            Some("{{path[1]}}"),
        );
        let apps = discover(&tree, &cfg).expect("discover");
        let names: Vec<_> = apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["db-prod", "web-prod"]);
        assert_eq!(apps[1].namespace.as_deref(), Some("web"));
        assert_eq!(apps[1].path.as_str(), "apps/web/overlays/production");
    }

    #[test]
    fn templates_expand_every_placeholder() {
        let dir = RelPath::parse("clusters/Prod_EU/My App").expect("ok");
        assert_eq!(
            render("name", "{{path}}", &dir).expect("ok"),
            "clusters/Prod_EU/My App"
        );
        assert_eq!(
            render("name", "{{ path[1] }}", &dir).expect("ok"),
            "Prod_EU"
        );
        assert_eq!(
            render("name", "x-{{path.basename}}", &dir).expect("ok"),
            "x-My App"
        );
        assert_eq!(
            render("name", "{{path.basenameNormalized}}", &dir).expect("ok"),
            "my-app"
        );
        assert!(render("name", "{{path[9]}}", &dir).is_err());
        assert!(render("name", "{{nope}}", &dir).is_err());
        assert!(render("name", "{{path", &dir).is_err());
    }

    #[test]
    fn fail_names_that_are_not_dns_labels_name_the_directory() {
        let (_d, tree) = tree_with(&["apps/Web_App"]);
        let err = discover(
            &tree,
            &config(&[("apps/*", false)], "{{path.basename}}", None),
        )
        .expect_err("must fail");
        let text = err.to_string();
        assert!(
            text.contains("apps/Web_App") && text.starts_with("name:"),
            "{text}"
        );
        let apps = discover(
            &tree,
            &config(&[("apps/*", false)], "{{path.basenameNormalized}}", None),
        )
        .expect("normalized names are valid");
        assert_eq!(apps[0].name, "web-app");
    }

    #[test]
    fn fail_duplicate_names() {
        let (_d, tree) = tree_with(&["a/web", "b/web"]);
        let err = discover(
            &tree,
            &config(&[("*/web", false)], "{{path.basename}}", None),
        )
        .expect_err("must fail");
        assert!(matches!(err, DiscoveryError::DuplicateName { .. }), "{err}");
    }
}
