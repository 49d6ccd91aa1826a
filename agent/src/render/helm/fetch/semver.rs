//! Chart versions resolved as Helm resolves them, with the shared Masterminds rules
//! ([`crate::semver`]).

pub use crate::semver::{Constraint, SemverError, Version};

/// Picks what Helm picks among `versions` for `wanted`: a version written exactly as
/// `wanted` first, else the highest that satisfies the constraint (an empty `wanted` means
/// the highest release). Versions that do not parse are skipped, as Helm skips them.
pub fn select<'a>(
    versions: impl IntoIterator<Item = &'a str>,
    wanted: &str,
) -> Result<Option<&'a str>, SemverError> {
    let versions: Vec<&str> = versions.into_iter().collect();
    let wanted = wanted.trim();
    if !wanted.is_empty()
        && let Some(exact) = versions.iter().find(|v| **v == wanted)
    {
        return Ok(Some(exact));
    }
    let constraint = Constraint::parse(if wanted.is_empty() { "*" } else { wanted })?;
    Ok(versions
        .into_iter()
        .filter_map(|text| Version::parse(text).ok().map(|v| (v, text)))
        .filter(|(v, _)| constraint.matches(v))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, text)| text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_prefers_the_exact_text_then_the_highest_match() {
        let versions = ["1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "bad", "0.9.0"];
        assert_eq!(select(versions, "").unwrap(), Some("1.10.0"));
        assert_eq!(select(versions, "^1.0").unwrap(), Some("1.10.0"));
        assert_eq!(select(versions, "~1.2").unwrap(), Some("1.2.0"));
        assert_eq!(select(versions, "2.0.0-rc.1").unwrap(), Some("2.0.0-rc.1"));
        assert_eq!(select(versions, ">=2.0.0-0").unwrap(), Some("2.0.0-rc.1"));
        assert_eq!(select(versions, "^3").unwrap(), None);
        assert!(matches!(
            select(versions, ">>1"),
            Err(SemverError::InvalidConstraint(_))
        ));
    }
}
