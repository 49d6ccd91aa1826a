//! Tag policies as Flux's `ImagePolicy` defines them: `semver` ranges (pre-releases only
//! when the range names one), `alphabetical` and `numerical` ordering (`asc` picks the
//! greatest, `desc` the least), after `filterTags` (`pattern`, and `extract`, e.g. `$ts`,
//! the part of the tag that is compared).

use crate::semver::{Constraint, Version};
use regex::Regex;
use serde::Deserialize;

/// Errors of a policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The semver range does not parse.
    #[error("policy.semver.range {range:?}: {problem}")]
    RangeInvalid {
        /// The range (clipped).
        range: String,
        /// What is wrong.
        problem: String,
    },
    /// `filterTags.pattern` is not a regex.
    #[error("filterTags.pattern: {0}")]
    PatternInvalid(String),
    /// A numerical policy met a value that is not a number.
    #[error(
        "policy.numerical: tag {tag:?} gives {value:?}, not a number (filter it out with filterTags)"
    )]
    NotNumeric {
        /// The tag.
        tag: String,
        /// The compared value.
        value: String,
    },
}

/// The order of `alphabetical` and `numerical`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// The greatest wins (default).
    #[default]
    Asc,
    /// The least wins.
    Desc,
}

/// `{range: ...}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SemverPolicy {
    /// A range as Flux writes it (`>=1.0.0 <2.0.0`, `^1.2`, `~1.2.3`, `1.x`, `a || b`).
    pub range: String,
}

/// `{order: asc|desc}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OrderPolicy {
    /// The order.
    #[serde(default)]
    pub order: Order,
}

/// How a tag is chosen (exactly one of the three).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum PolicyChoice {
    /// The highest version in a range.
    Semver(SemverPolicy),
    /// By string order.
    Alphabetical(OrderPolicy),
    /// By numeric value.
    Numerical(OrderPolicy),
}

/// `filterTags`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FilterTags {
    /// Only tags matching this regex are considered.
    pub pattern: String,
    /// What is compared: a replacement with the pattern's groups (`$ts`), default the tag.
    #[serde(default)]
    pub extract: Option<String>,
}

/// A policy ready to choose.
#[derive(Debug, Clone)]
pub struct Policy {
    choice: Choice,
    filter: Option<(Regex, Option<String>)>,
}

#[derive(Debug, Clone)]
enum Choice {
    Semver(Constraint),
    Alphabetical(Order),
    Numerical(Order),
}

impl Policy {
    /// Checks and compiles a policy.
    pub fn new(choice: &PolicyChoice, filter: Option<&FilterTags>) -> Result<Self, PolicyError> {
        let choice = match choice {
            PolicyChoice::Semver(s) => Choice::Semver(parse_range(&s.range)?),
            PolicyChoice::Alphabetical(o) => Choice::Alphabetical(o.order),
            PolicyChoice::Numerical(o) => Choice::Numerical(o.order),
        };
        let filter = filter
            .map(|f| {
                Regex::new(&f.pattern)
                    .map(|re| (re, f.extract.clone().filter(|e| !e.is_empty())))
                    .map_err(|e| {
                        PolicyError::PatternInvalid(
                            crate::text::clip_message(&e.to_string()).into_owned(),
                        )
                    })
            })
            .transpose()?;
        Ok(Self { choice, filter })
    }

    /// The chosen tag among `tags`; `None` when no tag qualifies.
    pub fn choose<'a>(
        &self,
        tags: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<String>, PolicyError> {
        let candidates: Vec<(String, &str)> = tags
            .into_iter()
            .filter_map(|tag| match &self.filter {
                None => Some((tag.to_owned(), tag)),
                Some((re, extract)) => {
                    let caps = re.captures(tag)?;
                    let value = match extract {
                        None => tag.to_owned(),
                        Some(template) => {
                            let mut out = String::new();
                            caps.expand(template, &mut out);
                            out
                        }
                    };
                    Some((value, tag))
                }
            })
            .collect();
        Ok(match &self.choice {
            Choice::Semver(range) => candidates
                .iter()
                .filter_map(|(value, tag)| Some((parse_version(value)?, *tag)))
                .filter(|(v, _)| range.matches(v))
                .max_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
                .map(|(_, tag)| tag.to_owned()),
            Choice::Alphabetical(order) => {
                let best = match order {
                    Order::Asc => candidates
                        .iter()
                        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1))),
                    Order::Desc => candidates
                        .iter()
                        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1))),
                };
                best.map(|(_, tag)| (*tag).to_owned())
            }
            Choice::Numerical(order) => {
                let mut numbers = Vec::with_capacity(candidates.len());
                for (value, tag) in &candidates {
                    let n: f64 = value.parse().map_err(|_| PolicyError::NotNumeric {
                        tag: crate::text::clip_message(tag).into_owned(),
                        value: crate::text::clip_message(value).into_owned(),
                    })?;
                    if !n.is_finite() {
                        return Err(PolicyError::NotNumeric {
                            tag: crate::text::clip_message(tag).into_owned(),
                            value: crate::text::clip_message(value).into_owned(),
                        });
                    }
                    numbers.push((n, *tag));
                }
                let cmp = |a: &(f64, &str), b: &(f64, &str)| {
                    a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1))
                };
                let best = match order {
                    Order::Asc => numbers.iter().max_by(|a, b| cmp(a, b)),
                    Order::Desc => numbers.iter().min_by(|a, b| cmp(a, b)),
                };
                best.map(|(_, tag)| (*tag).to_owned())
            }
        })
    }
}

/// A tag read as a version like Flux reads it (Masterminds `NewVersion`): an optional `v`,
/// and `1` or `1.2` completed with zeros.
#[must_use]
pub fn parse_version(tag: &str) -> Option<Version> {
    Version::parse(tag).ok()
}

/// A range as Flux reads it (Masterminds `NewConstraint`, [`crate::semver`]): a pre-release
/// matches only when the range names a pre-release.
fn parse_range(text: &str) -> Result<Constraint, PolicyError> {
    let invalid = |problem: String| PolicyError::RangeInvalid {
        range: crate::text::clip_message(text).into_owned(),
        problem,
    };
    if text.trim().is_empty() {
        return Err(invalid("empty".into()));
    }
    Constraint::parse(text).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests;
