//! `dataFrom[].find`: which secrets of a store a find selects, within the app's allow-list.
//!
//! - OpenBao / Vault (KV v2 only, as in ESO): the mount is listed recursively from `path`
//!   (default: the mount's root); `name.regexp` is matched against each secret's path inside
//!   the mount, `tags` against its KV v2 `custom_metadata` (all must be equal).
//! - AWS Secrets Manager: `ListSecrets`, with a `name` prefix filter (`path`, else the
//!   literal prefixes of the app's allow-list) and `tag-key` / `tag-value` filters, then the
//!   same exact checks on name and tags.
//!
//! Nothing outside the allow-list is listed or read: a Vault directory is listed only when
//! the app may read the secrets directly in it; a listed name outside the allow-list is
//! dropped before any read. The names found are cached for the ExternalSecret's
//! `refreshInterval`, like the values.

use regex::Regex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

use super::super::allow::{AllowList, Provider};
use super::super::cache::{DocKind, RemoteDoc};
use super::StoreError;
use super::store::{KvVersion, ProviderSpec, ResolvedStore};
use super::stores::Stores;

/// The most secrets one find may select.
pub(crate) const MAX_FOUND: usize = 500;

/// The most entries a Vault find lists in all (directories included).
const MAX_LISTED: usize = 10_000;

/// How deep a Vault find descends below its path.
const MAX_DEPTH: usize = 16;

/// One `find`, checked.
pub(crate) struct FindQuery {
    /// The directory (Vault) or name prefix (AWS) to search, as written.
    pub(crate) path: Option<String>,
    /// `name.regexp`.
    pub(crate) name: Option<Regex>,
    /// `tags`: all must match.
    pub(crate) tags: BTreeMap<String, String>,
}

impl FindQuery {
    /// A stable description, for the cache key.
    fn identity(&self) -> String {
        format!(
            "{}\u{0}{}\u{0}{:?}",
            self.path.as_deref().unwrap_or(""),
            self.name.as_ref().map_or("", Regex::as_str),
            self.tags
        )
    }

    fn matches(&self, name: &str, tags: &BTreeMap<String, String>) -> bool {
        self.name.as_ref().is_none_or(|r| r.is_match(name))
            && self.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
    }
}

/// Why a find failed: a store error, or the allow-list.
pub(crate) enum FindError {
    /// The store failed.
    Store(StoreError),
    /// The allow-list forbids what the find needs.
    Denied(String),
}

/// The names a find selects (Vault: paths inside the mount; AWS: secret names), from the
/// cache when listed less than `ttl` ago (`None`: listed once).
pub(crate) async fn find(
    stores: &Stores,
    store: &Arc<ResolvedStore>,
    query: &FindQuery,
    allow: &AllowList,
    scope: &str,
    ttl: Option<Duration>,
) -> Result<Vec<String>, FindError> {
    let key = format!("find\u{0}{}\u{0}{scope}\u{0}{}", store.id, query.identity());
    if let Some(doc) = stores.cache().get(&key) {
        let names: Vec<String> = serde_json::from_slice(&doc.bytes).unwrap_or_default();
        return Ok(names);
    }
    let names = match &store.provider {
        ProviderSpec::Vault(v) => {
            if v.version != KvVersion::V2 {
                return Err(FindError::Denied(
                    "find needs a KV v2 store (KV v1 has no metadata to list)".into(),
                ));
            }
            find_vault(stores, store, v.path.trim_matches('/'), query, allow).await?
        }
        ProviderSpec::Aws(_) => find_aws(stores, store, query, allow).await?,
    };
    let doc = RemoteDoc {
        bytes: Zeroizing::new(serde_json::to_vec(&names).unwrap_or_default()),
        kind: DocKind::JsonMap,
    };
    stores.cache().put_exact(key, Arc::new(doc), ttl);
    Ok(names)
}

/// Whether the app may read the secrets directly in `dir` of a Vault mount.
fn vault_dir_allowed(allow: &AllowList, mount: &str, dir: &str) -> Result<(), String> {
    let probe = if dir.is_empty() {
        format!("{mount}/data/_")
    } else {
        format!("{mount}/data/{dir}/_")
    };
    allow.check(Provider::Vault, &probe).map_err(|_| {
        format!(
            "listing {mount}/metadata/{dir} is outside the app's allow-list: the app may not read every secret in it"
        )
    })
}

async fn find_vault(
    stores: &Stores,
    store: &Arc<ResolvedStore>,
    mount: &str,
    query: &FindQuery,
    allow: &AllowList,
) -> Result<Vec<String>, FindError> {
    let session = stores.vault_session(store);
    let creds = stores.credentials();
    let root = query
        .path
        .as_deref()
        .unwrap_or("")
        .trim_matches('/')
        .to_owned();
    vault_dir_allowed(allow, mount, &root).map_err(FindError::Denied)?;
    let mut found = Vec::new();
    let mut listed = 0usize;
    let mut pending = vec![(root, 0usize)];
    while let Some((dir, depth)) = pending.pop() {
        let names = session.list(creds, &dir).await.map_err(FindError::Store)?;
        listed += names.len();
        if listed > MAX_LISTED {
            return Err(FindError::Denied(format!(
                "the find lists more than {MAX_LISTED} entries; narrow its path"
            )));
        }
        for name in names {
            let path = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            if let Some(sub) = path.strip_suffix('/') {
                if depth + 1 > MAX_DEPTH || vault_dir_allowed(allow, mount, sub).is_err() {
                    tracing::debug!(store = %store.display, dir = %sub, "find: not descending (depth or allow-list)");
                    continue;
                }
                pending.push((sub.to_owned(), depth + 1));
                continue;
            }
            if let Err(reason) = allow.check(Provider::Vault, &format!("{mount}/data/{path}")) {
                tracing::warn!(store = %store.display, path = %path, reason = %reason, "find: skipping a secret the app may not read");
                continue;
            }
            let tags = if query.tags.is_empty() {
                BTreeMap::new()
            } else {
                session
                    .custom_metadata(creds, &path)
                    .await
                    .map_err(FindError::Store)?
                    .into_iter()
                    .collect()
            };
            if query.matches(&path, &tags) {
                found.push(path);
                if found.len() > MAX_FOUND {
                    return Err(FindError::Denied(format!(
                        "the find selects more than {MAX_FOUND} secrets"
                    )));
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

async fn find_aws(
    stores: &Stores,
    store: &Arc<ResolvedStore>,
    query: &FindQuery,
    allow: &AllowList,
) -> Result<Vec<String>, FindError> {
    let prefixes: Vec<String> = match &query.path {
        Some(path) => {
            allow
                .check(Provider::Aws, &format!("{path}_"))
                .map_err(|_| {
                    FindError::Denied(format!(
                        "listing names starting with {path:?} is outside the app's allow-list"
                    ))
                })?;
            vec![path.clone()]
        }
        None => {
            let prefixes: Vec<String> = allow
                .literal_prefixes(Provider::Aws)
                .into_iter()
                .filter(|p| allow.check(Provider::Aws, &format!("{p}_")).is_ok())
                .collect();
            if prefixes.is_empty() {
                return Err(FindError::Denied(
                    "the app's allow-list has no name prefix to list under; set find.path".into(),
                ));
            }
            prefixes
        }
    };
    let session = stores.aws_session(store);
    let creds = stores.credentials();
    let mut found = Vec::new();
    for prefix in &prefixes {
        let mut filters = vec![("name", vec![prefix.clone()])];
        for (k, v) in &query.tags {
            filters.push(("tag-key", vec![k.clone()]));
            filters.push(("tag-value", vec![v.clone()]));
        }
        let listed = session
            .list(creds, &filters, MAX_FOUND)
            .await
            .map_err(FindError::Store)?;
        for (name, tags) in listed {
            // The filter is a prefix match the service may apply loosely: check again.
            if !name.starts_with(prefix.as_str()) || allow.check(Provider::Aws, &name).is_err() {
                continue;
            }
            if query.matches(&name, &tags.into_iter().collect()) && !found.contains(&name) {
                found.push(name);
            }
        }
    }
    if found.len() > MAX_FOUND {
        return Err(FindError::Denied(format!(
            "the find selects more than {MAX_FOUND} secrets"
        )));
    }
    found.sort();
    Ok(found)
}
