//! What a source follows: a branch, a tag, the highest tag matching a semver range, or a
//! pinned commit; and the ref-specs that fetch exactly that.

use std::fmt;

/// Errors from parsing what to follow or choosing among remote refs.
#[derive(Debug, thiserror::Error)]
pub enum RefError {
    /// The branch or tag name is not a valid ref name.
    #[error("{field}: invalid ref name {name:?}: {reason}")]
    InvalidName {
        /// `branch` or `tag`.
        field: &'static str,
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The semver range does not parse.
    #[error("semver: invalid range {range:?}: {message}")]
    InvalidRange {
        /// The range given.
        range: String,
        /// The parser's message.
        message: String,
    },
    /// The commit is not a full hexadecimal object id.
    #[error("commit: {value:?} is not a full 40-character hexadecimal commit id")]
    InvalidCommit {
        /// The value given.
        value: String,
    },
}

/// What to follow on the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// The tip of a branch (`main`).
    Branch(String),
    /// A tag (`v1.2.3`); annotated tags are peeled to their commit.
    Tag(String),
    /// The highest tag whose version matches the range (`>=1.2.0, <2.0.0`), with the
    /// Masterminds rules Flux and Argo CD use ([`crate::semver`]); a leading `v` in tag names
    /// is accepted.
    Semver(crate::semver::Constraint),
    /// One commit, whatever the refs say.
    Commit(gix::ObjectId),
}

impl Reference {
    /// A branch to follow.
    pub fn branch(name: &str) -> Result<Self, RefError> {
        check_name("branch", name)?;
        Ok(Self::Branch(name.to_owned()))
    }

    /// A tag to follow.
    pub fn tag(name: &str) -> Result<Self, RefError> {
        check_name("tag", name)?;
        Ok(Self::Tag(name.to_owned()))
    }

    /// A semver range of tags, as Flux's `ref.semver` and Argo CD's `targetRevision` read it:
    /// space- or comma-separated comparators, `||`, `x` wildcards, hyphen ranges; `1.2` means
    /// `1.2.x`.
    pub fn semver(range: &str) -> Result<Self, RefError> {
        crate::semver::Constraint::parse(range)
            .map(Self::Semver)
            .map_err(|err| RefError::InvalidRange {
                range: range.to_owned(),
                message: err.to_string(),
            })
    }

    /// A pinned commit (a full hexadecimal id).
    pub fn commit(hex: &str) -> Result<Self, RefError> {
        if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RefError::InvalidCommit {
                value: hex.to_owned(),
            });
        }
        gix::ObjectId::from_hex(hex.as_bytes())
            .map(Self::Commit)
            .map_err(|_| RefError::InvalidCommit {
                value: hex.to_owned(),
            })
    }

    /// The local ref the fetched commit is stored under in the cache repository.
    #[must_use]
    pub fn local_ref(&self, resolved_tag: Option<&str>) -> String {
        match self {
            Self::Branch(name) => format!("refs/heads/{name}"),
            Self::Tag(name) => format!("refs/tags/{name}"),
            Self::Semver(_) => format!("refs/tags/{}", resolved_tag.unwrap_or("")),
            Self::Commit(_) => "refs/tether/pinned".to_owned(),
        }
    }

    /// The ref-spec that fetches exactly what is followed (for a semver range: after the tag
    /// was chosen, `resolved_tag`).
    #[must_use]
    pub fn refspec(&self, resolved_tag: Option<&str>) -> String {
        match self {
            Self::Branch(name) => format!("+refs/heads/{name}:refs/heads/{name}"),
            Self::Tag(name) => format!("+refs/tags/{name}:refs/tags/{name}"),
            Self::Semver(_) => {
                let tag = resolved_tag.unwrap_or("");
                format!("+refs/tags/{tag}:refs/tags/{tag}")
            }
            Self::Commit(id) => format!("+{id}:refs/tether/pinned"),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Branch(name) => write!(f, "branch {name}"),
            Self::Tag(name) => write!(f, "tag {name}"),
            Self::Semver(range) => write!(f, "semver {range}"),
            Self::Commit(id) => write!(f, "commit {id}"),
        }
    }
}

/// The version in a tag name (`1.2.3`, `v1.2.3`, `v1.2`), if it is one.
#[must_use]
pub fn tag_version(tag: &str) -> Option<crate::semver::Version> {
    crate::semver::Version::parse(tag).ok()
}

/// The tag with the highest version matching `range` among `tags`, with its version.
/// Pre-releases match only when the range names a pre-release (Masterminds' rule).
pub fn highest_matching<'a>(
    range: &crate::semver::Constraint,
    tags: impl IntoIterator<Item = &'a str>,
) -> Option<(&'a str, crate::semver::Version)> {
    tags.into_iter()
        .filter_map(|tag| tag_version(tag).map(|version| (tag, version)))
        .filter(|(_, version)| range.matches(version))
        .max_by(|a, b| a.1.precedence(&b.1).then_with(|| b.0.cmp(a.0)))
}

fn check_name(field: &'static str, name: &str) -> Result<(), RefError> {
    let invalid = |reason| RefError::InvalidName {
        field,
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    if name.starts_with("refs/") {
        return Err(invalid("give the short name, without refs/"));
    }
    if name.starts_with('-') || name.starts_with('/') || name.ends_with('/') {
        return Err(invalid("must not start with '-' or '/' or end with '/'"));
    }
    if name.contains("..") || name.contains("//") || name.contains("@{") || name.ends_with(".lock")
    {
        return Err(invalid("contains '..', '//', '@{' or ends with .lock"));
    }
    if name
        .chars()
        .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
    {
        return Err(invalid(
            "contains a space, control character or one of ~^:?*[\\",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_picks_the_highest_matching_tag() {
        let Reference::Semver(range) = Reference::semver(">=1.2.0 <2.0.0").expect("range") else {
            panic!("semver")
        };
        let tags = [
            "v1.1.0",
            "v1.2.0",
            "1.9.3",
            "v1.10.0",
            "v2.0.0",
            "latest",
            "v1.11.0-rc.1",
        ];
        let (tag, version) = highest_matching(&range, tags).expect("a match");
        assert_eq!(tag, "v1.10.0");
        assert_eq!(
            (version.major(), version.minor(), version.patch()),
            (1, 10, 0)
        );
        assert!(highest_matching(&range, ["v3.0.0", "main"]).is_none());
    }

    #[test]
    fn a_bare_version_follows_its_patch_releases_as_flux_does() {
        // Masterminds: `1.2` is `1.2.x`, where Cargo would read `^1.2`.
        let Reference::Semver(range) = Reference::semver("1.2").expect("range") else {
            panic!("semver")
        };
        let (tag, _) = highest_matching(&range, ["v1.2.0", "v1.2.7", "v1.3.0"]).expect("a match");
        assert_eq!(tag, "v1.2.7");
    }

    #[test]
    fn ranges_in_both_spellings_parse() {
        for range in [
            ">=1.2.0 <2.0.0",
            ">=1.2.0, <2.0.0",
            ">= 1.2.0 < 2.0.0",
            "^1.2",
            "~1.2.3",
            "1.2.x || >=3",
        ] {
            assert!(Reference::semver(range).is_ok(), "{range}");
        }
        let err = Reference::semver("not a range").expect_err("must fail");
        assert!(err.to_string().contains("not a range"), "{err}");
    }

    #[test]
    fn fail_bad_names_and_commits() {
        assert!(Reference::branch("main").is_ok());
        assert!(Reference::branch("feature/x").is_ok());
        for bad in ["", "refs/heads/main", "-x", "a..b", "a b", "x.lock", "a:b"] {
            assert!(Reference::branch(bad).is_err(), "{bad:?}");
        }
        assert!(Reference::commit("abc").is_err());
        assert!(Reference::commit(&"g".repeat(40)).is_err());
        assert!(Reference::commit(&"a".repeat(40)).is_ok());
    }

    #[test]
    fn refspecs_force_update_so_rewritten_history_is_followed() {
        let branch = Reference::branch("main").expect("ok");
        assert_eq!(branch.refspec(None), "+refs/heads/main:refs/heads/main");
        assert_eq!(branch.local_ref(None), "refs/heads/main");
    }
}
