//! The per-app allow-list: which store paths and secret names an app may read, so a tenant
//! cannot read another tenant's secrets by writing a reference.
//!
//! Entries are glob patterns over the path the store is asked for: for Vault the full API
//! path (`secret/data/shop/db` for KV v2, `kv/shop/db` for KV v1), for AWS Secrets Manager
//! the secret name (the name part of an ARN). `*` matches within one path segment, `**` across
//! segments. `{namespace}` and `{app}` in a pattern stand for the app's target namespace and
//! name. The default lets an app read, in any Vault mount, the paths under its namespace
//! (`*/data/{namespace}/**`, `*/{namespace}/**`) and the AWS names under it
//! (`{namespace}/**`).
//!
//! Paths are checked before any request: a path with an empty, `.` or `..` segment, or with a
//! character an HTTP client would reinterpret (`%`, `?`, `#`, `\`), is refused outright, since
//! the URL the client sends would not be the path that was checked.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;

/// A malformed allow-list pattern.
#[derive(Debug, thiserror::Error)]
pub enum AllowError {
    /// A pattern is not a valid glob.
    #[error("allow-list {field}: pattern {pattern:?} is invalid: {reason}")]
    InvalidPattern {
        /// `vault` or `aws`.
        field: &'static str,
        /// The pattern, after placeholder substitution.
        pattern: String,
        /// The glob parser's message.
        reason: String,
    },
}

/// The allow-list as configured (per app, or the agent's default), before the placeholders
/// are filled in.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AllowListConfig {
    /// Vault API path patterns.
    #[serde(default = "default_vault")]
    pub vault: Vec<String>,
    /// AWS Secrets Manager name patterns.
    #[serde(default = "default_aws")]
    pub aws: Vec<String>,
}

fn default_vault() -> Vec<String> {
    vec!["*/data/{namespace}/**".into(), "*/{namespace}/**".into()]
}

fn default_aws() -> Vec<String> {
    vec!["{namespace}/**".into()]
}

impl Default for AllowListConfig {
    fn default() -> Self {
        Self {
            vault: default_vault(),
            aws: default_aws(),
        }
    }
}

/// Which provider a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Vault / OpenBao.
    Vault,
    /// AWS Secrets Manager.
    Aws,
}

impl Provider {
    /// `vault` or `aws`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Vault => "vault",
            Provider::Aws => "aws",
        }
    }
}

/// The compiled allow-list of one app.
#[derive(Debug, Clone)]
pub struct AllowList {
    vault: GlobSet,
    aws: GlobSet,
    patterns: Vec<String>,
}

impl AllowList {
    /// Compiles `config` for the app `app` deploying to `namespace`.
    pub fn new(config: &AllowListConfig, app: &str, namespace: &str) -> Result<Self, AllowError> {
        let fill = |p: &String| p.replace("{namespace}", namespace).replace("{app}", app);
        let build = |field: &'static str, patterns: &[String]| -> Result<GlobSet, AllowError> {
            let mut set = GlobSetBuilder::new();
            for pattern in patterns.iter().map(fill) {
                set.add(glob(&pattern).map_err(|reason| AllowError::InvalidPattern {
                    field,
                    pattern: pattern.clone(),
                    reason,
                })?);
            }
            set.build().map_err(|e| AllowError::InvalidPattern {
                field,
                pattern: patterns.join(", "),
                reason: e.to_string(),
            })
        };
        let patterns = config
            .vault
            .iter()
            .map(|p| format!("vault:{}", fill(p)))
            .chain(config.aws.iter().map(|p| format!("aws:{}", fill(p))))
            .collect();
        Ok(Self {
            vault: build("vault", &config.vault)?,
            aws: build("aws", &config.aws)?,
            patterns,
        })
    }

    /// The default allow-list for an app deploying to `namespace`.
    pub fn for_namespace(app: &str, namespace: &str) -> Result<Self, AllowError> {
        Self::new(&AllowListConfig::default(), app, namespace)
    }

    /// An allow-list that lets nothing through.
    #[must_use]
    pub fn deny_all() -> Self {
        Self {
            vault: GlobSet::empty(),
            aws: GlobSet::empty(),
            patterns: Vec::new(),
        }
    }

    /// Checks one path; `Err` says why it is refused (no value is involved).
    pub fn check(&self, provider: Provider, path: &str) -> Result<(), String> {
        let checked = match provider {
            Provider::Vault => path,
            Provider::Aws => aws_name(path),
        };
        check_shape(checked)?;
        let set = match provider {
            Provider::Vault => &self.vault,
            Provider::Aws => &self.aws,
        };
        if set.is_match(checked) {
            Ok(())
        } else {
            Err(format!(
                "{} path {checked:?} is not in the app's allow-list ({})",
                provider.as_str(),
                if self.patterns.is_empty() {
                    "empty".to_owned()
                } else {
                    self.patterns.join(", ")
                }
            ))
        }
    }

    /// The literal beginnings of the patterns of `provider` (up to the first glob character),
    /// the non-empty ones, without duplicates: where a listing may look.
    #[must_use]
    pub fn literal_prefixes(&self, provider: Provider) -> Vec<String> {
        let tag = format!("{}:", provider.as_str());
        let mut out: Vec<String> = Vec::new();
        for pattern in self
            .patterns
            .iter()
            .filter_map(|p| p.strip_prefix(tag.as_str()))
        {
            let end = pattern.find(['*', '?', '[', '{']).unwrap_or(pattern.len());
            let prefix = pattern[..end].to_owned();
            if !prefix.is_empty() && !out.contains(&prefix) {
                out.push(prefix);
            }
        }
        out
    }
}

fn glob(pattern: &str) -> Result<Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(false)
        .build()
        .map_err(|e| e.to_string())
}

/// The name part of an AWS Secrets Manager ARN (`arn:...:secret:NAME`), else the text.
pub(crate) fn aws_name(key: &str) -> &str {
    if key.starts_with("arn:")
        && let Some((_, name)) = key.split_once(":secret:")
    {
        return name;
    }
    key
}

fn check_shape(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if let Some(c) = path
        .chars()
        .find(|c| matches!(c, '%' | '?' | '#' | '\\' | '*') || c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "the path {path:?} contains {c:?}, which is not allowed"
        ));
    }
    if path
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err(format!(
            "the path {path:?} has an empty, '.' or '..' segment, which is not allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_lets_an_app_read_under_its_namespace_only() {
        let allow = AllowList::for_namespace("shop-app", "shop").unwrap();
        assert!(allow.check(Provider::Vault, "secret/data/shop/db").is_ok());
        assert!(allow.check(Provider::Vault, "kv/shop/db/nested").is_ok());
        assert!(allow.check(Provider::Vault, "secret/data/bank/db").is_err());
        assert!(
            allow
                .check(Provider::Vault, "secret/data/shopping/db")
                .is_err()
        );
        assert!(allow.check(Provider::Aws, "shop/db").is_ok());
        assert!(allow.check(Provider::Aws, "bank/db").is_err());
        assert!(
            allow
                .check(
                    Provider::Aws,
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/db-AbCdEf"
                )
                .is_ok()
        );
    }

    #[test]
    fn traversal_and_encoded_paths_are_refused_before_matching() {
        let allow = AllowList::for_namespace("a", "shop").unwrap();
        for path in [
            "secret/data/shop/../bank/db",
            "secret/data/shop/%2e%2e/bank",
            "secret/data/shop//db",
            "secret/data/shop/db?version=1",
            "secret/data/shop/./db",
        ] {
            assert!(allow.check(Provider::Vault, path).is_err(), "{path}");
        }
        assert!(allow.check(Provider::Aws, "shop/../bank/db").is_err());
    }

    #[test]
    fn placeholders_and_custom_patterns_apply() {
        let config = AllowListConfig {
            vault: vec!["kv1/teams/{app}/*".into()],
            aws: vec![],
        };
        let allow = AllowList::new(&config, "billing", "shop").unwrap();
        assert!(allow.check(Provider::Vault, "kv1/teams/billing/db").is_ok());
        assert!(
            allow
                .check(Provider::Vault, "kv1/teams/billing/x/db")
                .is_err()
        );
        assert!(allow.check(Provider::Aws, "shop/db").is_err());
        assert!(AllowList::deny_all().check(Provider::Aws, "x").is_err());
    }

    #[test]
    fn literal_prefixes_are_where_a_listing_may_look() {
        let allow = AllowList::for_namespace("a", "shop").unwrap();
        assert_eq!(allow.literal_prefixes(Provider::Aws), ["shop/"]);
        assert!(allow.literal_prefixes(Provider::Vault).is_empty());
    }
}
