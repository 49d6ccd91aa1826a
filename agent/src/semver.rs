//! Versions and version constraints with the Masterminds `semver/v3` rules, which Helm (chart
//! versions, Sprig's `semver` and `semverCompare`), Flux (`GitRepository` `ref.semver`,
//! `ImagePolicy` ranges) and Argo CD (`targetRevision` ranges) all use, and which differ from
//! Cargo's: `1.2` means `1.2.x` (not `^1.2`), `^1.2`, `~1.2.3`, `>=1.0 <2.0` (spaces or
//! commas are AND), `||` (OR), `1.x` / `*` wildcards, `1.2 - 1.4` hyphen ranges, a leading
//! `v` accepted, and pre-releases matched only when one constraint of an AND group names a
//! pre-release.

use std::cmp::Ordering;
use std::fmt;

/// A version parsed loosely, as Masterminds `NewVersion` does: `1`, `1.2`,
/// `v1.2.3-rc.1+build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    meta: String,
    original: String,
}

/// Why a version or a constraint could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SemverError {
    /// The text is not a version.
    #[error("invalid version {0:?}")]
    InvalidVersion(String),
    /// The text is not a constraint.
    #[error("improper version constraint {0:?}")]
    InvalidConstraint(String),
}

fn number(part: &str) -> Option<u64> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

fn valid_ident_list(text: &str) -> bool {
    !text.is_empty()
        && text
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Splits `text` into the numeric core, pre-release and build metadata.
fn split_version(text: &str) -> Option<(&str, &str, &str)> {
    let (rest, build) = match text.split_once('+') {
        Some((r, b)) => (r, b),
        None => (text, ""),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, p),
        None => (rest, ""),
    };
    if (!pre.is_empty() || rest.len() > core.len()) && !valid_ident_list(pre) {
        return None;
    }
    if (!build.is_empty() || text.len() > rest.len()) && !valid_ident_list(build) {
        return None;
    }
    Some((core, pre, build))
}

impl Version {
    /// Parses a version loosely, as Masterminds `NewVersion` does.
    pub fn parse(text: &str) -> Result<Self, SemverError> {
        let bad = || SemverError::InvalidVersion(clip(text));
        let trimmed = text.strip_prefix('v').unwrap_or(text);
        let (core, pre, meta) = split_version(trimmed).ok_or_else(bad)?;
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(bad());
        }
        let mut nums = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            nums[i] = number(p).ok_or_else(bad)?;
        }
        Ok(Self {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre: pre.to_owned(),
            meta: meta.to_owned(),
            original: text.to_owned(),
        })
    }

    /// The major number.
    pub fn major(&self) -> u64 {
        self.major
    }

    /// The minor number (0 when not written).
    pub fn minor(&self) -> u64 {
        self.minor
    }

    /// The patch number (0 when not written).
    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// The build metadata (`build.5`), empty when there is none.
    pub fn metadata(&self) -> &str {
        &self.meta
    }

    /// The version written out in full: `1.2.0-rc.1+build` for `v1.2-rc.1+build`.
    pub fn canonical(&self) -> String {
        let mut out = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            out.push('-');
            out.push_str(&self.pre);
        }
        if !self.meta.is_empty() {
            out.push('+');
            out.push_str(&self.meta);
        }
        out
    }

    /// Semantic version order: numbers, then pre-release; build metadata and the way the
    /// version was written are ignored (Masterminds `Compare`).
    pub fn precedence(&self, other: &Self) -> Ordering {
        self.cmp_core(other)
    }

    /// The pre-release part (`rc.1`), empty for a release.
    pub fn prerelease(&self) -> &str {
        &self.pre
    }

    /// The text the version was parsed from.
    pub fn original(&self) -> &str {
        &self.original
    }

    fn cmp_core(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_prerelease(&self.pre, &other.pre))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    /// Semantic version order (build metadata ignored, as Helm ignores it), then the
    /// original text, so that the order is total.
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_core(other)
            .then_with(|| self.original.cmp(&other.original))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// Pre-release order: a release is above any pre-release; parts compare numerically when
/// both are numbers, numbers sort below words, words compare as text; a longer list wins.
fn compare_prerelease(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (number(x), number(y)) {
                    (Some(m), Some(n)) => m.cmp(&n),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

#[derive(Debug, Clone)]
struct Single {
    op: Op,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// A version constraint: OR groups of AND-ed comparisons.
#[derive(Debug, Clone)]
pub struct Constraint {
    groups: Vec<(Vec<Single>, bool)>,
    text: String,
}

impl PartialEq for Constraint {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Constraint {}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_x(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

const OPS: [(&str, Op); 12] = [
    ("~>", Op::Tilde),
    (">=", Op::GreaterEqual),
    ("=>", Op::GreaterEqual),
    ("<=", Op::LessEqual),
    ("=<", Op::LessEqual),
    ("!=", Op::NotEqual),
    ("~", Op::Tilde),
    ("^", Op::Caret),
    (">", Op::Greater),
    ("<", Op::Less),
    ("=", Op::TildeOrEqual),
    ("", Op::TildeOrEqual),
];

fn parse_single(op: Op, version: &str, whole: &str) -> Result<Single, SemverError> {
    let bad = || SemverError::InvalidConstraint(clip(whole));
    let trimmed = version.strip_prefix('v').unwrap_or(version);
    let (core, pre, _) = split_version(trimmed).ok_or_else(bad)?;
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 || parts.iter().any(|p| !is_x(p) && number(p).is_none()) {
        return Err(bad());
    }
    let part = |i: usize| parts.get(i).copied().unwrap_or("");
    let suffix = if pre.is_empty() {
        String::new()
    } else {
        format!("-{pre}")
    };
    let (text, dirty, minor_dirty, patch_dirty) = if is_x(part(0)) || part(0).is_empty() {
        (format!("0.0.0{suffix}"), true, false, false)
    } else if is_x(part(1)) || part(1).is_empty() {
        (format!("{}.0.0{suffix}", part(0)), true, true, false)
    } else if is_x(part(2)) || part(2).is_empty() {
        (
            format!("{}.{}.0{suffix}", part(0), part(1)),
            true,
            false,
            true,
        )
    } else {
        (
            format!("{}.{}.{}{suffix}", part(0), part(1), part(2)),
            false,
            false,
            false,
        )
    };
    let con = Version::parse(&text).map_err(|_| bad())?;
    Ok(Single {
        op,
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

/// Rewrites `A - B` hyphen ranges into `>= A, <= B`.
fn rewrite_ranges(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if i + 2 < words.len() && words[i + 1] == "-" {
            out.push(format!(">={},", words[i]));
            out.push(format!("<={}", words[i + 2]));
            i += 3;
        } else {
            out.push(words[i].to_owned());
            i += 1;
        }
    }
    out.join(" ")
}

/// Splits one AND group into `(operator, version)` pairs.
fn tokens(group: &str, whole: &str) -> Result<Vec<(Op, String)>, SemverError> {
    let bad = || SemverError::InvalidConstraint(clip(whole));
    let mut out = Vec::new();
    let mut rest = group.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let (op, after) = OPS
            .iter()
            .find_map(|(sym, op)| rest.strip_prefix(sym).map(|after| (*op, after)))
            .ok_or_else(bad)?;
        let after = after.trim_start();
        let end = after
            .find(|c: char| c.is_whitespace() || c == ',')
            .unwrap_or(after.len());
        let version = &after[..end];
        if version.is_empty() {
            return Err(bad());
        }
        out.push((op, version.to_owned()));
        rest = after[end..].trim_start();
        if let Some(next) = rest.strip_prefix(',') {
            rest = next.trim_start();
            if rest.is_empty() {
                return Err(bad());
            }
        }
    }
    Ok(out)
}

impl Constraint {
    /// Parses a constraint; an empty text or `*` accepts any release.
    pub fn parse(text: &str) -> Result<Self, SemverError> {
        let rewritten = rewrite_ranges(text);
        let mut groups = Vec::new();
        for group in rewritten.split("||") {
            let mut singles = Vec::new();
            let mut has_pre = false;
            for (op, version) in tokens(group, text)? {
                let single = parse_single(op, &version, text)?;
                has_pre |= !single.con.pre.is_empty();
                singles.push(single);
            }
            groups.push((singles, has_pre));
        }
        Ok(Self {
            groups,
            text: text.to_owned(),
        })
    }

    /// Whether `version` satisfies the constraint.
    pub fn matches(&self, version: &Version) -> bool {
        self.groups
            .iter()
            .any(|(singles, pre)| singles.iter().all(|s| s.check(version, *pre)))
    }

    /// The text the constraint was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Single {
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.con;
        match self.op {
            Op::NotEqual => self.not_equal(v),
            Op::Greater => {
                if !self.dirty {
                    return v.cmp_core(c) == Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor > c.minor;
                }
                v.cmp_core(c) == Ordering::Greater
            }
            Op::Less => v.cmp_core(c) == Ordering::Less,
            Op::GreaterEqual => v.cmp_core(c) != Ordering::Less,
            Op::LessEqual => {
                if !self.dirty {
                    return v.cmp_core(c) != Ordering::Greater;
                }
                !(v.major > c.major
                    || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
            }
            Op::Tilde => self.tilde(v),
            Op::TildeOrEqual if self.dirty => self.tilde(v),
            Op::TildeOrEqual => v.cmp_core(c) == Ordering::Equal,
            Op::Caret => self.caret(v),
        }
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            } else if self.minor_dirty {
                return false;
            } else if c.patch != v.patch && !self.patch_dirty {
                return true;
            } else if self.patch_dirty {
                return compare_prerelease(&v.pre, &c.pre) != Ordering::Equal
                    && (!v.pre.is_empty() || !c.pre.is_empty());
            }
        }
        v.cmp_core(c) != Ordering::Equal
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.cmp_core(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.cmp_core(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        v.patch == c.patch
    }
}

/// At most 100 bytes of an input, cut at a character boundary.
fn clip(text: &str) -> String {
    let mut end = text.len().min(100);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(constraint: &str, version: &str) -> bool {
        Constraint::parse(constraint)
            .unwrap()
            .matches(&Version::parse(version).unwrap())
    }

    #[test]
    fn caret_ranges_follow_masterminds() {
        assert!(ok("^1.2", "1.9.0"));
        assert!(!ok("^1.2", "2.0.0"));
        assert!(!ok("^1.2", "1.1.9"));
        assert!(ok("^0.2.3", "0.2.9"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(ok("^0.0.3", "0.0.3"));
        assert!(!ok("^0.0.3", "0.0.4"));
        assert!(ok("^0", "0.9.0"));
        assert!(!ok("^0", "1.0.0"));
        assert!(ok("^0.0", "0.0.7"));
        assert!(!ok("^0.0", "0.1.0"));
    }

    #[test]
    fn tilde_and_wildcards_follow_masterminds() {
        assert!(ok("~1.2.3", "1.2.9"));
        assert!(!ok("~1.2.3", "1.3.0"));
        assert!(ok("~1", "1.9.0"));
        assert!(ok("1.x", "1.4.0"));
        assert!(!ok("1.x", "2.0.0"));
        assert!(ok("1.2.x", "1.2.7"));
        assert!(!ok("1.2.x", "1.3.0"));
        assert!(ok("*", "3.0.0"));
        assert!(ok("1.2.3", "v1.2.3"));
        assert!(!ok("1.2.3", "1.2.4"));
    }

    #[test]
    fn and_or_and_hyphen_ranges_follow_masterminds() {
        assert!(ok(">=1.0 <2.0", "1.5.0"));
        assert!(!ok(">=1.0 <2.0", "2.0.0"));
        assert!(ok(">=1.0, <2.0", "1.0.0"));
        assert!(ok("<1.0 || >=3.0", "3.1.0"));
        assert!(!ok("<1.0 || >=3.0", "2.0.0"));
        assert!(ok("1.2 - 1.4.5", "1.4.5"));
        assert!(!ok("1.2 - 1.4.5", "1.4.6"));
        assert!(!ok(">11", "11.1.0"));
        assert!(ok(">11", "12.0.0"));
        assert!(ok("<=1.2", "1.2.9"));
        assert!(!ok("<=1.2", "1.3.0"));
        assert!(ok("!=1.2.3", "1.2.4"));
        assert!(!ok("!=1.2.x", "1.2.4"));
    }

    #[test]
    fn pre_releases_match_only_when_a_constraint_names_one() {
        assert!(!ok("*", "1.0.0-rc.1"));
        assert!(!ok(">=1.0.0", "1.1.0-rc.1"));
        assert!(ok(">=1.0.0-0", "1.1.0-rc.1"));
        assert!(ok(">=1.0.0-0 <2.0.0", "1.1.0-rc.1"));
        assert!(!ok(">=1.0.0-0 <2.0.0 || >=3", "3.1.0-rc.1"));
        assert!(Version::parse("1.0.0-rc.2").unwrap() < Version::parse("1.0.0-rc.10").unwrap());
        assert!(Version::parse("1.0.0").unwrap() > Version::parse("1.0.0-rc.10").unwrap());
        assert!(Version::parse("1.0.0-alpha").unwrap() > Version::parse("1.0.0-1").unwrap());
    }

    #[test]
    fn a_bare_version_is_an_x_range_not_a_caret_range() {
        // Masterminds (Helm, Flux, Argo CD), unlike Cargo: `1.2` is `1.2.x`, `1.2.3` is exact.
        assert!(ok("1.2", "1.2.9"));
        assert!(!ok("1.2", "1.3.0"));
        assert!(ok("1", "1.9.0"));
        assert!(!ok("1.2.3", "1.2.4"));
    }

    #[test]
    fn versions_keep_their_parts_and_metadata() {
        let v = Version::parse("v1.2-rc.1+build.5").unwrap();
        assert_eq!((v.major(), v.minor(), v.patch()), (1, 2, 0));
        assert_eq!((v.prerelease(), v.metadata()), ("rc.1", "build.5"));
        assert_eq!(v.canonical(), "1.2.0-rc.1+build.5");
        assert_eq!(v.original(), "v1.2-rc.1+build.5");
        let w = Version::parse("1.2.0-rc.1").unwrap();
        assert_eq!(v.precedence(&w), Ordering::Equal);
    }

    #[test]
    fn bad_versions_and_constraints_are_errors() {
        assert!(Version::parse("1.2.3.4").is_err());
        assert!(Version::parse("one").is_err());
        assert!(Version::parse("1.2.3-").is_err());
        assert!(Constraint::parse("").is_err());
        assert!(Constraint::parse(">=1.0,").is_err());
        assert!(Constraint::parse("^a.b").is_err());
    }
}
