//! Flux's source exclusions (`GitRepository.spec.ignore`, `.sourceignore` files), applied to
//! a snapshot as Flux's source-controller applies them to the artifact it archives.
//!
//! The patterns, lowest priority first: Flux's defaults (`.git/`, `.gitignore`,
//! `.gitmodules`, `.gitattributes`; `*.jpg`, `*.jpeg`, `*.gif`, `*.png`, `*.wmv`, `*.flv`,
//! `*.tar.gz`, `*.zip`; `.github/`, `.circleci/`, `.travis.yml`, `.gitlab-ci.yml`,
//! `appveyor.yml`, `.drone.yml`, `cloudbuild.yaml`, `codeship-services.yml`,
//! `codeship-steps.yml`; `**/.goreleaser.yml`, `**/.sops.yaml`, `**/.flux.yaml`), then every
//! `.sourceignore` file of the tree (each scoped to its directory, parents first), then
//! `spec.ignore`. The last pattern that matches a path decides (`!` re-includes), as in
//! gitignore; an excluded directory hides everything below it. Patterns follow go-git's
//! gitignore rules, which Flux uses: a pattern without `/` matches any path component, one
//! with `/` matches from its directory, `**` spans directories, a trailing `/` matches
//! directories only, and `*`, `?`, `[...]` (`[^...]` negated) match within one component.
//!
//! [`IgnoredTree`] hides the excluded entries from every listing and lookup, so nothing
//! downstream (apps, charts, kustomizations) sees them.

use std::sync::Arc;

use crate::tree::{RawEntry, RawTree, RelPath, Tree, TreeError};

/// The name of the per-directory ignore file.
pub const IGNORE_FILE: &str = ".sourceignore";

/// Flux's default exclusions (`ExcludeVCS`, `ExcludeExt`, `ExcludeCI`, `ExcludeExtra`).
pub const DEFAULT_PATTERNS: &[&str] = &[
    ".git/",
    ".gitignore",
    ".gitmodules",
    ".gitattributes",
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// The most `.sourceignore` directories visited (a bound on the walk).
const MAX_DIRS: usize = 100_000;

/// One gitignore pattern, scoped to the directory that declared it.
#[derive(Debug, Clone)]
struct Pattern {
    domain: Vec<String>,
    parts: Vec<String>,
    include: bool,
    dir_only: bool,
    anchored: bool,
}

impl Pattern {
    fn parse(line: &str, domain: &[String]) -> Self {
        let (include, mut p) = match line.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        if !p.ends_with("\\ ") {
            p = p.trim_end_matches(' ');
        }
        let dir_only = p.ends_with('/');
        if dir_only {
            p = &p[..p.len() - 1];
        }
        Self {
            domain: domain.to_vec(),
            anchored: p.contains('/'),
            parts: p.split('/').map(str::to_owned).collect(),
            include,
            dir_only,
        }
    }

    /// `Some(true)` excluded, `Some(false)` re-included, `None` no match.
    fn matches(&self, path: &[&str], is_dir: bool) -> Option<bool> {
        if path.len() <= self.domain.len() || self.domain.iter().zip(path).any(|(d, p)| d != p) {
            return None;
        }
        let path = &path[self.domain.len()..];
        let hit = if self.anchored {
            self.glob_match(path, is_dir)
        } else {
            self.name_match(path, is_dir)
        };
        hit.then_some(!self.include)
    }

    fn name_match(&self, path: &[&str], is_dir: bool) -> bool {
        let Some(first) = self.parts.first() else {
            return false;
        };
        for (i, name) in path.iter().enumerate() {
            if !component_match(first, name) {
                continue;
            }
            return !(self.dir_only && !is_dir && i == path.len() - 1);
        }
        false
    }

    fn glob_match(&self, mut path: &[&str], is_dir: bool) -> bool {
        let mut matched = false;
        let mut traverse = false;
        for (i, part) in self.parts.iter().enumerate() {
            if part.is_empty() {
                traverse = false;
                continue;
            }
            if part == "**" {
                if i == self.parts.len() - 1 {
                    break;
                }
                traverse = true;
                continue;
            }
            if part.contains("**") || path.is_empty() {
                return false;
            }
            if traverse {
                traverse = false;
                while let Some((first, rest)) = path.split_first() {
                    path = rest;
                    if component_match(part, first) {
                        matched = true;
                        break;
                    } else if path.is_empty() {
                        matched = false;
                    }
                }
            } else {
                if !component_match(part, path[0]) {
                    return false;
                }
                matched = true;
                path = &path[1..];
            }
        }
        matched && !(self.dir_only && !is_dir && path.is_empty())
    }
}

/// Go's `filepath.Match` on one path component: `*`, `?`, `[...]` with `^` negation and
/// ranges, `\` escapes. A malformed pattern matches nothing.
fn component_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> Option<bool> {
        match p.split_first() {
            None => Some(n.is_empty()),
            Some(('*', rest)) => {
                for skip in 0..=n.len() {
                    if go(rest, &n[skip..])? {
                        return Some(true);
                    }
                }
                Some(false)
            }
            Some(('?', rest)) => match n.split_first() {
                Some((_, tail)) => go(rest, tail),
                None => Some(false),
            },
            Some(('[', rest)) => {
                let (negated, mut rest) = match rest.split_first() {
                    Some(('^', r)) => (true, r),
                    _ => (false, rest),
                };
                let c = *n.first()?;
                let mut hit = false;
                let mut first = true;
                loop {
                    let (&lo, r) = rest.split_first()?;
                    if lo == ']' && !first {
                        rest = r;
                        break;
                    }
                    first = false;
                    let (lo, r) = if lo == '\\' {
                        (*r.first()?, &r[1..])
                    } else {
                        (lo, r)
                    };
                    let (hi, r) = match r.split_first() {
                        Some(('-', r2)) if r2.first().is_some_and(|x| *x != ']') => {
                            let (&h, r3) = r2.split_first()?;
                            if h == '\\' {
                                (*r3.first()?, &r3[1..])
                            } else {
                                (h, r3)
                            }
                        }
                        _ => (lo, r),
                    };
                    if lo <= c && c <= hi {
                        hit = true;
                    }
                    rest = r;
                }
                if hit == negated {
                    return Some(false);
                }
                go(rest, &n[1..])
            }
            Some(('\\', rest)) => {
                let (&lit, rest) = rest.split_first()?;
                match n.split_first() {
                    Some((&c, tail)) if c == lit => go(rest, tail),
                    _ => Some(false),
                }
            }
            Some((&lit, rest)) => match n.split_first() {
                Some((&c, tail)) if c == lit => go(rest, tail),
                _ => Some(false),
            },
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n).unwrap_or(false)
}

/// The exclusion rules of one source.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

impl IgnoreRules {
    /// Adds the patterns of a gitignore-format `text` declared in directory `domain` (blank
    /// lines and `#` comments skipped).
    pub fn add(&mut self, text: &str, domain: &[String]) {
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            self.patterns.push(Pattern::parse(line, domain));
        }
    }

    /// Whether `path` is excluded: the last matching pattern decides; an excluded parent
    /// directory excludes everything below it.
    #[must_use]
    pub fn excluded(&self, path: &RelPath, is_dir: bool) -> bool {
        let parts: Vec<&str> = path.components().collect();
        (1..=parts.len()).any(|n| self.decide(&parts[..n], n < parts.len() || is_dir))
    }

    /// Whether the object `key` of a bucket is excluded: its whole path only, as Flux
    /// matches a Bucket's keys (no directories are walked).
    #[must_use]
    pub fn excluded_key(&self, key: &str) -> bool {
        let parts: Vec<&str> = key.split('/').collect();
        self.decide(&parts, false)
    }

    fn decide(&self, path: &[&str], is_dir: bool) -> bool {
        self.patterns
            .iter()
            .rev()
            .find_map(|p| p.matches(path, is_dir))
            .unwrap_or(false)
    }

    /// Flux's rules for `tree`: the defaults, every `.sourceignore` (outside `.git`), then
    /// `spec_ignore`.
    pub fn flux(tree: &Tree, spec_ignore: Option<&str>) -> Result<Self, TreeError> {
        let mut rules = Self::default();
        rules.add(&DEFAULT_PATTERNS.join("\n"), &[]);
        let raw = tree.raw();
        let mut pending = vec![RelPath::root()];
        let mut visited = 0usize;
        while let Some(dir) = pending.pop() {
            visited += 1;
            if visited > MAX_DIRS {
                return Err(TreeError::ReadFailed {
                    path: dir.to_string(),
                    message: format!(
                        "more than {MAX_DIRS} directories to search for {IGNORE_FILE}"
                    ),
                });
            }
            let file = dir.child(IGNORE_FILE)?;
            if let Some(RawEntry::File { .. }) = raw.entry(&file)? {
                let bytes = raw.read_file(&file, tree.max_file_bytes())?;
                let domain: Vec<String> = dir.components().map(str::to_owned).collect();
                rules.add(&String::from_utf8_lossy(&bytes), &domain);
            }
            let mut names = raw.list_dir(&dir)?;
            names.sort();
            for name in names.into_iter().rev() {
                if name == ".git" {
                    continue;
                }
                let child = dir.child(&name)?;
                if raw.entry(&child)? == Some(RawEntry::Dir) {
                    pending.push(child);
                }
            }
        }
        if let Some(text) = spec_ignore {
            rules.add(text, &[]);
        }
        Ok(rules)
    }
}

/// A tree backend that hides what [`IgnoreRules`] exclude.
pub struct IgnoredTree {
    inner: Arc<dyn RawTree>,
    rules: IgnoreRules,
}

impl IgnoredTree {
    fn hidden(&self, path: &RelPath, entry: &RawEntry) -> bool {
        !path.is_root() && self.rules.excluded(path, *entry == RawEntry::Dir)
    }
}

impl RawTree for IgnoredTree {
    fn entry(&self, path: &RelPath) -> Result<Option<RawEntry>, TreeError> {
        match self.inner.entry(path)? {
            Some(entry) if self.hidden(path, &entry) => Ok(None),
            other => Ok(other),
        }
    }

    fn read_file(&self, path: &RelPath, limit: u64) -> Result<Vec<u8>, TreeError> {
        if self.rules.excluded(path, false) {
            return Err(TreeError::ReadFailed {
                path: path.to_string(),
                message: "excluded by the source's ignore rules".into(),
            });
        }
        self.inner.read_file(path, limit)
    }

    fn list_dir(&self, path: &RelPath) -> Result<Vec<String>, TreeError> {
        let mut out = Vec::new();
        for name in self.inner.list_dir(path)? {
            let child = path.child(&name)?;
            if self.entry(&child)?.is_some() {
                out.push(name);
            }
        }
        Ok(out)
    }
}

/// `tree` as Flux archives it: the defaults, `.sourceignore` files and `spec_ignore` applied.
pub fn flux_tree(tree: &Tree, spec_ignore: Option<&str>) -> Result<Tree, TreeError> {
    let rules = IgnoreRules::flux(tree, spec_ignore)?;
    Ok(tree.with_raw(IgnoredTree {
        inner: tree.raw(),
        rules,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> IgnoreRules {
        let mut r = IgnoreRules::default();
        r.add(&DEFAULT_PATTERNS.join("\n"), &[]);
        r.add(text, &[]);
        r
    }

    fn excluded(r: &IgnoreRules, path: &str) -> bool {
        r.excluded(&RelPath::parse(path).unwrap_or_default(), false)
    }

    #[test]
    fn defaults_exclude_vcs_ci_and_binary_files_at_any_depth() {
        let r = rules("");
        for path in [
            ".gitignore",
            "a/b/logo.png",
            ".github/workflows/ci.yaml",
            "x/.sops.yaml",
            "b.tar.gz",
        ] {
            assert!(excluded(&r, path), "{path}");
        }
        for path in ["apps/deploy.yaml", "png", "a/.github", "README.md"] {
            assert!(!excluded(&r, path), "{path}");
        }
    }

    #[test]
    fn the_last_match_wins_and_anchored_patterns_match_from_their_directory() {
        let r = rules("/*\n!/deploy\n*.md\n!keep.png\nsecret?.yaml\n[^a]x.yaml\n");
        assert!(excluded(&r, "docs/a.yaml"));
        assert!(excluded(&r, "top.yaml"));
        assert!(!excluded(&r, "deploy/app.yaml"));
        assert!(excluded(&r, "deploy/README.md"));
        assert!(!excluded(&r, "deploy/keep.png"));
        assert!(excluded(&r, "deploy/secret1.yaml"));
        assert!(!excluded(&r, "deploy/secret12.yaml"));
        assert!(excluded(&r, "deploy/bx.yaml"));
        assert!(!excluded(&r, "deploy/ax.yaml"));
        let mut scoped = IgnoreRules::default();
        scoped.add("*.txt\n/only-here.yaml\n", &["sub".to_owned()]);
        assert!(excluded(&scoped, "sub/x/a.txt"));
        assert!(!excluded(&scoped, "a.txt"));
        assert!(excluded(&scoped, "sub/only-here.yaml"));
        assert!(!excluded(&scoped, "sub/x/only-here.yaml"));
        let r = rules("deploy/**/tests\nbuild/\n");
        assert!(excluded(&r, "deploy/a/b/tests/x.yaml"));
        assert!(excluded(&r, "x/build/out.yaml"));
        assert!(!excluded(&r, "x/build"));
    }
}
