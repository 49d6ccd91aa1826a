//! Tag policies as Flux's `ImagePolicy` defines them: `semver` ranges (pre-releases only
//! when the range names one), `alphabetical` and `numerical` ordering (`asc` picks the
//! greatest, `desc` the least), after `filterTags` (`pattern`, and `extract`, e.g. `$ts`,
//! the part of the tag that is compared).

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
    Semver(Range),
    Alphabetical(Order),
    Numerical(Order),
}

impl Policy {
    /// Checks and compiles a policy.
    pub fn new(choice: &PolicyChoice, filter: Option<&FilterTags>) -> Result<Self, PolicyError> {
        let choice = match choice {
            PolicyChoice::Semver(s) => Choice::Semver(Range::parse(&s.range)?),
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

/// A tag read as a version like Flux does: an optional `v`, and `1` or `1.2` completed with
/// zeros.
#[must_use]
pub fn parse_version(tag: &str) -> Option<semver::Version> {
    let text = tag.strip_prefix('v').unwrap_or(tag);
    if let Ok(v) = semver::Version::parse(text) {
        return Some(v);
    }
    // Complete `1` and `1.2` (before any pre-release or build part).
    let split = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(split);
    let dots = core.matches('.').count();
    if dots >= 2 || core.is_empty() {
        return None;
    }
    let padded = format!("{core}{}{rest}", ".0".repeat(2 - dots));
    semver::Version::parse(&padded).ok()
}

/// A range: alternatives (`||`) of comparator sets, with Masterminds semantics (which Flux
/// uses): a pre-release matches only when the range names a pre-release.
#[derive(Debug, Clone)]
pub struct Range {
    alternatives: Vec<Vec<(Op, semver::Version)>>,
    prereleases: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A partial version: `1`, `1.2`, `1.2.3(-pre)`, with `x`/`*` wildcards.
struct Partial {
    parts: Vec<u64>,
    pre: semver::Prerelease,
}

impl Partial {
    fn parse(text: &str) -> Option<Self> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let text = text.split('+').next()?;
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, semver::Prerelease::new(pre).ok()?),
            None => (text, semver::Prerelease::EMPTY),
        };
        let mut parts = Vec::new();
        for part in core.split('.') {
            if matches!(part, "x" | "X" | "*") {
                break;
            }
            parts.push(part.parse().ok()?);
        }
        if parts.len() > 3 || (parts.len() < 3 && !pre.is_empty()) {
            return None;
        }
        Some(Self { parts, pre })
    }

    fn floor(&self) -> semver::Version {
        let get = |i: usize| self.parts.get(i).copied().unwrap_or(0);
        let mut v = semver::Version::new(get(0), get(1), get(2));
        v.pre = self.pre.clone();
        v
    }

    /// The first version above every version this partial covers (`1.2` → `1.3.0`).
    fn ceiling(&self) -> Option<semver::Version> {
        let get = |i: usize| self.parts.get(i).copied().unwrap_or(0);
        Some(match self.parts.len() {
            0 => return None,
            1 => semver::Version::new(get(0).checked_add(1)?, 0, 0),
            2 => semver::Version::new(get(0), get(1).checked_add(1)?, 0),
            _ => return None,
        })
    }
}

impl Range {
    /// Parses a range as Flux writes it.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let invalid = |problem: String| PolicyError::RangeInvalid {
            range: crate::text::clip_message(text).into_owned(),
            problem,
        };
        if text.trim().is_empty() {
            return Err(invalid("empty".into()));
        }
        let mut alternatives = Vec::new();
        for alternative in text.split("||") {
            let tokens: Vec<String> = tokenize(alternative);
            if tokens.is_empty() {
                return Err(invalid("an empty alternative".into()));
            }
            let mut set = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                if tokens.get(i + 1).map(String::as_str) == Some("-") {
                    let (Some(low), Some(high)) = (
                        Partial::parse(&tokens[i]),
                        tokens.get(i + 2).and_then(|t| Partial::parse(t)),
                    ) else {
                        return Err(invalid(format!(
                            "{:?} is not a hyphen range",
                            crate::text::clip_message(alternative)
                        )));
                    };
                    set.push((Op::Ge, low.floor()));
                    match high.ceiling() {
                        Some(c) => set.push((Op::Lt, c)),
                        None if high.parts.is_empty() => {}
                        None => set.push((Op::Le, high.floor())),
                    }
                    i += 3;
                    continue;
                }
                comparator(&tokens[i], &mut set).ok_or_else(|| {
                    invalid(format!(
                        "{:?} is not a comparator",
                        crate::text::clip_message(&tokens[i])
                    ))
                })?;
                i += 1;
            }
            alternatives.push(set);
        }
        let prereleases = alternatives
            .iter()
            .flatten()
            .any(|(_, v)| !v.pre.is_empty());
        Ok(Self {
            alternatives,
            prereleases,
        })
    }

    /// Whether `version` is in the range.
    #[must_use]
    pub fn matches(&self, version: &semver::Version) -> bool {
        if !version.pre.is_empty() && !self.prereleases {
            return false;
        }
        let mut v = version.clone();
        v.build = semver::BuildMetadata::EMPTY;
        self.alternatives.iter().any(|set| {
            set.iter().all(|(op, bound)| match op {
                Op::Eq => v == *bound,
                Op::Ne => v != *bound,
                Op::Gt => v > *bound,
                Op::Ge => v >= *bound,
                Op::Lt => v < *bound,
                Op::Le => v <= *bound,
            })
        })
    }
}

/// Splits `>= 1.2, <2` into `>=1.2`, `<2` (an operator binds to the version after it).
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    for word in text.split([' ', ',', '\t']).filter(|w| !w.is_empty()) {
        match tokens.last_mut() {
            Some(last) if last.chars().all(|c| "<>=!~^".contains(c)) && last != "-" => {
                last.push_str(word)
            }
            _ => tokens.push(word.to_owned()),
        }
    }
    tokens
}

/// Adds the bounds of one comparator; `None` when it is not one.
fn comparator(token: &str, set: &mut Vec<(Op, semver::Version)>) -> Option<()> {
    let split = token.find(|c: char| !"<>=!~^".contains(c))?;
    let (op, version) = token.split_at(split);
    let p = Partial::parse(version)?;
    let floor = p.floor();
    match op {
        "" | "=" | "==" => match p.ceiling() {
            Some(c) => {
                set.push((Op::Ge, floor));
                set.push((Op::Lt, c));
            }
            None if p.parts.is_empty() => {}
            None => set.push((Op::Eq, floor)),
        },
        "!=" => set.push((Op::Ne, floor)),
        ">" => match p.ceiling() {
            Some(c) => set.push((Op::Ge, c)),
            None => set.push((Op::Gt, floor)),
        },
        ">=" | "=>" => set.push((Op::Ge, floor)),
        "<" => set.push((Op::Lt, floor)),
        "<=" | "=<" => match p.ceiling() {
            Some(c) => set.push((Op::Lt, c)),
            None => set.push((Op::Le, floor)),
        },
        "~" | "~>" => {
            set.push((Op::Ge, floor.clone()));
            let upper = if p.parts.len() <= 1 {
                semver::Version::new(floor.major.checked_add(1)?, 0, 0)
            } else {
                semver::Version::new(floor.major, floor.minor.checked_add(1)?, 0)
            };
            set.push((Op::Lt, upper));
        }
        "^" => {
            set.push((Op::Ge, floor.clone()));
            let upper = if floor.major > 0 || p.parts.len() <= 1 {
                semver::Version::new(floor.major.checked_add(1)?, 0, 0)
            } else if floor.minor > 0 || p.parts.len() == 2 {
                semver::Version::new(0, floor.minor.checked_add(1)?, 0)
            } else {
                semver::Version::new(0, 0, floor.patch.checked_add(1)?)
            };
            set.push((Op::Lt, upper));
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests;
