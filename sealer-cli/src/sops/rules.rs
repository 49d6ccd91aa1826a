//! Which values are encrypted: the six rule keys of the `sops` metadata.
//!
//! At most one rule may be set; without one, sops applies `unencrypted_suffix: _unencrypted`.
//! Key rules test every key of the leaf's path (so `foo_unencrypted` leaves its whole subtree
//! in clear); regexes search unanchored, like Go's `regexp.Match`. Comment rules look at the
//! comments preceding the value and its ancestors.

use regex::bytes::Regex;

use super::Error;

/// The default suffix of keys left in clear.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// One encryption rule.
#[derive(Clone)]
pub enum Rule {
    /// Keys ending with this suffix (and everything below them) stay in clear.
    UnencryptedSuffix(String),
    /// Only keys ending with this suffix (and everything below them) are encrypted.
    EncryptedSuffix(String),
    /// Keys matching this regex (and everything below them) stay in clear.
    UnencryptedRegex(String, Regex),
    /// Only keys matching this regex (and everything below them) are encrypted.
    EncryptedRegex(String, Regex),
    /// Values preceded by a comment matching this regex stay in clear.
    UnencryptedCommentRegex(String, Regex),
    /// Only values preceded by a comment matching this regex are encrypted.
    EncryptedCommentRegex(String, Regex),
}

impl Default for Rule {
    fn default() -> Self {
        Rule::UnencryptedSuffix(DEFAULT_UNENCRYPTED_SUFFIX.to_owned())
    }
}

/// The names of the rule keys, as they appear in the metadata and in `.sops.yaml`.
pub const RULE_KEYS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

impl Rule {
    /// Builds a rule from its metadata key and value.
    pub fn from_key(key: &str, value: &str) -> Result<Self, Error> {
        let re = || {
            Regex::new(value).map_err(|e| Error::InvalidRules {
                reason: format!("{key}: invalid regex: {e}"),
            })
        };
        Ok(match key {
            "unencrypted_suffix" => Rule::UnencryptedSuffix(value.to_owned()),
            "encrypted_suffix" => Rule::EncryptedSuffix(value.to_owned()),
            "unencrypted_regex" => Rule::UnencryptedRegex(value.to_owned(), re()?),
            "encrypted_regex" => Rule::EncryptedRegex(value.to_owned(), re()?),
            "unencrypted_comment_regex" => Rule::UnencryptedCommentRegex(value.to_owned(), re()?),
            "encrypted_comment_regex" => Rule::EncryptedCommentRegex(value.to_owned(), re()?),
            other => {
                return Err(Error::InvalidRules {
                    reason: format!("unknown rule key {other}"),
                });
            }
        })
    }

    /// Picks the rule out of a list of `(key, value)` pairs with non-empty values: none gives
    /// the default, more than one is an error (as in sops).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Error> {
        let set: Vec<(&str, &str)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        match set.as_slice() {
            [] => Ok(Rule::default()),
            [(k, v)] => Rule::from_key(k, v),
            _ => Err(Error::InvalidRules {
                reason: format!(
                    "cannot use more than one of {} in the same file (found {})",
                    RULE_KEYS.join(", "),
                    set.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }

    /// The metadata key and value of this rule.
    pub fn key_value(&self) -> (&'static str, &str) {
        match self {
            Rule::UnencryptedSuffix(s) => ("unencrypted_suffix", s),
            Rule::EncryptedSuffix(s) => ("encrypted_suffix", s),
            Rule::UnencryptedRegex(s, _) => ("unencrypted_regex", s),
            Rule::EncryptedRegex(s, _) => ("encrypted_regex", s),
            Rule::UnencryptedCommentRegex(s, _) => ("unencrypted_comment_regex", s),
            Rule::EncryptedCommentRegex(s, _) => ("encrypted_comment_regex", s),
        }
    }

    /// Whether a leaf at `path`, under the comments in `stack` (one list per level, the last
    /// being the leaf's own level), is encrypted. `is_comment` is set for comment leaves, whose
    /// own text is the last entry of the last list.
    pub fn should_encrypt(
        &self,
        path: &[String],
        stack: &[Vec<Vec<u8>>],
        is_comment: bool,
    ) -> bool {
        match self {
            Rule::UnencryptedSuffix(s) => !path.iter().any(|k| k.ends_with(s.as_str())),
            Rule::EncryptedSuffix(s) => path.iter().any(|k| k.ends_with(s.as_str())),
            Rule::UnencryptedRegex(_, re) => !path.iter().any(|k| re.is_match(k.as_bytes())),
            Rule::EncryptedRegex(_, re) => path.iter().any(|k| re.is_match(k.as_bytes())),
            Rule::UnencryptedCommentRegex(_, re) => !stack.iter().flatten().any(|c| re.is_match(c)),
            Rule::EncryptedCommentRegex(_, re) => {
                let last_level = stack.len().saturating_sub(1);
                stack.iter().enumerate().any(|(i, level)| {
                    level.iter().enumerate().any(|(j, c)| {
                        // The matching comment line itself stays in clear.
                        let own = is_comment && i == last_level && j + 1 == level.len();
                        !own && re.is_match(c)
                    })
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn key_rules_test_every_key_of_the_path() {
        let r = Rule::default();
        assert!(r.should_encrypt(&p(&["a", "b"]), &[], false));
        assert!(!r.should_encrypt(&p(&["a_unencrypted", "b"]), &[], false));
        let r = Rule::from_key("encrypted_regex", "^(data|stringData)$").expect("valid");
        assert!(r.should_encrypt(&p(&["data", "x"]), &[], false));
        assert!(!r.should_encrypt(&p(&["metadata", "name"]), &[], false));
    }

    #[test]
    fn more_than_one_rule_is_refused() {
        assert!(
            Rule::from_pairs([("encrypted_regex", "a"), ("unencrypted_suffix", "_u")]).is_err()
        );
        assert!(matches!(
            Rule::from_pairs([("encrypted_regex", "")]),
            Ok(Rule::UnencryptedSuffix(_))
        ));
    }

    #[test]
    fn encrypted_comment_regex_leaves_the_marker_comment_in_clear() {
        let r = Rule::from_key("encrypted_comment_regex", "sops:enc").expect("valid");
        let stack = vec![vec![b" sops:enc".to_vec()]];
        assert!(!r.should_encrypt(&p(&[]), &stack, true));
        assert!(r.should_encrypt(&p(&["k"]), &stack, false));
        assert!(!r.should_encrypt(&p(&["k"]), &[vec![]], false));
    }
}
