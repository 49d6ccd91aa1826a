//! Charts from a Flux `GitRepository` (`chart.spec.sourceRef.kind: GitRepository` with
//! `chart: ./path`, or a `HelmChart` named by `chartRef`).
//!
//! When the GitRepository is the repository Tether syncs (same URL, same reference), the
//! chart is read from the snapshot being rendered: no fetch, and the chart changes with the
//! commit that changes it. Any other repository is fetched with the Git source
//! ([`crate::source`]: shallow, size limit, timeout) into a cache directory of its own, with
//! the credentials of the GitRepository's `secretRef` (`username`/`password`, `bearerToken`,
//! `ca.crt`; or an SSH `identity` with its `known_hosts`, held by an `ssh-agent` of the
//! fetch and never written to disk, [`crate::source::ssh_agent`]).
//! Within one render a repository is fetched once, whatever the number of releases. The
//! tree is what Flux archives: its default exclusions, `.sourceignore` files and
//! `spec.ignore` applied ([`crate::source::ignore`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};

use crate::source::bucket::BucketRequest;
use crate::source::credentials::{HttpAuth, SecretText};
use crate::source::{Credentials, RedactedUrl, Reference, SourceConfig};
use crate::tree::Tree;

use super::model::GitReference;

/// The repository Tether syncs, as the snapshot being rendered shows it.
#[derive(Clone)]
pub struct OwnSource {
    /// Its URL.
    pub url: String,
    /// What Tether follows.
    pub reference: Reference,
    /// The snapshot.
    pub tree: Tree,
}

/// Where GitRepository charts are read: the snapshot, or fetched repositories.
pub struct GitSources {
    own: Option<OwnSource>,
    cache_dir: Option<PathBuf>,
    fetched: Mutex<HashMap<String, Tree>>,
    buckets: Mutex<HashMap<String, Tree>>,
}

impl std::fmt::Debug for GitSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSources")
            .field("own", &self.own.as_ref().map(|o| RedactedUrl::new(&o.url)))
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

/// What a GitRepository asks for.
pub(super) struct GitRequest<'a> {
    /// `GitRepository namespace/name`, for errors.
    pub object: &'a str,
    /// The remote.
    pub url: &'a str,
    /// What to check out.
    pub reference: Reference,
    /// From its `secretRef`.
    pub credentials: Credentials,
    /// `spec.ignore`.
    pub ignore: Option<&'a str>,
    /// `spec.include`: (toPath, the included repository's tree, fromPath).
    pub includes: Vec<(crate::tree::RelPath, Tree, crate::tree::RelPath)>,
}

impl GitSources {
    /// Reads the snapshot of `own` for its own repository and fetches others into
    /// `cache_dir` (`None`: other repositories are refused).
    #[must_use]
    pub fn new(own: Option<OwnSource>, cache_dir: Option<PathBuf>) -> Self {
        Self {
            own,
            cache_dir,
            fetched: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Where other repositories are fetched (and SSH agents keep their sockets).
    #[must_use]
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.cache_dir.as_deref()
    }

    /// The tree of the requested repository and reference as Flux archives it (its default
    /// exclusions, `.sourceignore` files and `spec.ignore` applied), and whether it is the
    /// snapshot. `spec.include` trees are mounted before the exclusions apply, as Flux copies
    /// them in before archiving.
    pub(super) fn tree(&self, mut request: GitRequest<'_>) -> Result<(Tree, bool), String> {
        let ignore = request.ignore;
        let includes = std::mem::take(&mut request.includes);
        let (mut tree, snapshot) = self.raw_tree(request)?;
        if !includes.is_empty() {
            let mut overlay = crate::source::overlay::Overlay::new(tree);
            for (index, (to, included, from)) in includes.into_iter().enumerate() {
                overlay
                    .mount(to, included, from)
                    .map_err(|p| format!("spec.include[{index}]: {p}"))?;
            }
            tree = overlay.into_tree();
        }
        let tree = crate::source::ignore::flux_tree(&tree, ignore).map_err(|e| {
            format!(
                "applying spec.ignore and .sourceignore: {}",
                super::super::helm::clip(&e.to_string())
            )
        })?;
        Ok((tree, snapshot))
    }

    fn raw_tree(&self, request: GitRequest<'_>) -> Result<(Tree, bool), String> {
        if let Some(own) = &self.own
            && same_repository(&own.url, request.url)
            && own.reference == request.reference
        {
            return Ok((own.tree.clone(), true));
        }
        let key = format!("{}#{}", normalise(request.url), request.reference);
        if let Some(tree) = self
            .fetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok((tree.clone(), false));
        }
        let Some(cache_dir) = &self.cache_dir else {
            return Err(
                "a GitRepository other than the synced repository needs the agent's cache directory"
                    .into(),
            );
        };
        use sha2::Digest;
        let dir = cache_dir.join(hex::encode(&sha2::Sha256::digest(key.as_bytes())[..12]));
        let mut config = SourceConfig::new(
            request.object,
            RedactedUrl::new(request.url),
            request.reference,
            dir,
        );
        config.credentials = request.credentials;
        let fetch = || {
            std::thread::scope(|s| {
                s.spawn(|| {
                    crate::source::fetch_snapshot_blocking(
                        &config,
                        Arc::new(AtomicBool::new(false)),
                    )
                    .map_err(|e| {
                        format!(
                            "{} ({})",
                            super::super::helm::clip(&e.to_string()),
                            e.reason()
                        )
                    })
                })
                .join()
                .unwrap_or_else(|_| Err("the fetch thread ended abnormally".into()))
            })
        };
        let snapshot = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(fetch)
            }
            _ => fetch(),
        }?;
        tracing::info!(repository = %RedactedUrl::new(request.url), revision = %snapshot.revision,
            "fetched the GitRepository of a HelmRelease");
        self.fetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, snapshot.tree.clone());
        Ok((snapshot.tree, false))
    }
}

impl GitSources {
    /// The objects of a Bucket (read once per render for the same bucket, prefix,
    /// exclusions and access key).
    pub(super) fn bucket(&self, request: &BucketRequest) -> Result<Tree, String> {
        let key = format!(
            "{}|{}|{}|{}|{:?}|{}",
            request.endpoint,
            request.bucket,
            request.region,
            request.prefix,
            request.ignore,
            request
                .credentials
                .as_ref()
                .map_or("", |c| c.access_key.as_str())
        );
        if let Some(tree) = self
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(tree.clone());
        }
        let limits = crate::source::bucket::BucketLimits::default();
        let fetch = || crate::source::bucket::fetch(request, &limits).map_err(|e| e.to_string());
        let snapshot = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(fetch)
            }
            _ => std::thread::scope(|s| {
                s.spawn(fetch)
                    .join()
                    .unwrap_or_else(|_| Err("the bucket read ended abnormally".into()))
            }),
        }?;
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, snapshot.tree.clone());
        Ok(snapshot.tree)
    }
}

/// A URL compared without credentials, case of the scheme and host, a trailing `/` or `.git`.
fn normalise(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!(
        "{}://{}/{path}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    )
}

/// Whether two URLs name the same repository.
pub fn same_repository(a: &str, b: &str) -> bool {
    normalise(a) == normalise(b)
}

/// The reference Flux checks out: `commit`, then `name`, `semver`, `tag`, `branch`; the
/// `master` branch when none is given (Flux's default).
pub(super) fn reference(reference: Option<&GitReference>) -> Result<Reference, String> {
    let Some(r) = reference else {
        return Reference::branch("master").map_err(|e| e.to_string());
    };
    let made = if !r.commit.is_empty() {
        Reference::commit(&r.commit)
    } else if !r.name.is_empty() {
        if let Some(branch) = r.name.strip_prefix("refs/heads/") {
            Reference::branch(branch)
        } else if let Some(tag) = r.name.strip_prefix("refs/tags/") {
            Reference::tag(tag)
        } else {
            return Err(format!(
                "ref.name {:?}: only refs/heads/... and refs/tags/... are supported",
                super::super::helm::clip(&r.name)
            ));
        }
    } else if !r.semver.is_empty() {
        Reference::semver(&r.semver)
    } else if !r.tag.is_empty() {
        Reference::tag(&r.tag)
    } else if !r.branch.is_empty() {
        Reference::branch(&r.branch)
    } else {
        Reference::branch("master")
    };
    made.map_err(|e| e.to_string())
}

/// Reads one key of a Secret: its bytes, `None` when absent.
pub(super) type SecretKey<'a> =
    dyn Fn(&str) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, String> + 'a;

/// The credentials of a GitRepository's Secret, read with `value(key)`. An SSH `identity`
/// (with the required `known_hosts`) goes to an `ssh-agent` of its own, in a private folder
/// under `base` ([`crate::source::ssh_agent`]): the key is never written to disk.
pub(super) fn credentials(
    value: &SecretKey<'_>,
    base: Option<&std::path::Path>,
) -> Result<Credentials, String> {
    let text = |key: &str| -> Result<Option<SecretText>, String> {
        match value(key)? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes.to_vec())
                .map(|s| Some(SecretText::new(s)))
                .map_err(|_| format!("key {key} is not UTF-8")),
        }
    };
    if let Some(identity) = value("identity")? {
        if value("password")?.is_some() {
            return Err("key password: a passphrase-protected identity is not supported; give the key without a passphrase".into());
        }
        let Some(known_hosts) = text("known_hosts")? else {
            return Err(
                "key known_hosts is required with identity (host keys are always checked)".into(),
            );
        };
        let (_agent, ssh) =
            crate::source::ssh_agent::KeyAgent::start(base, identity, known_hosts.expose())
                .map_err(|e| e.to_string())?;
        return Ok(Credentials {
            http: None,
            ssh: Some(ssh),
            ca_bundle: None,
        });
    }
    let http = match (text("username")?, text("password")?, text("bearerToken")?) {
        (Some(username), Some(password), None) => Some(HttpAuth::Basic {
            username: username.expose().to_owned(),
            password,
        }),
        (_, None, Some(token)) => Some(HttpAuth::Bearer { token }),
        (_, Some(_), Some(_)) => {
            return Err("set either password or bearerToken, not both".into());
        }
        (None, Some(_), None) => return Err("key password: a password needs a username".into()),
        (Some(_), None, None) => return Err("key username: a username needs a password".into()),
        (None, None, None) => None,
    };
    Ok(Credentials {
        http,
        ssh: None,
        ca_bundle: value("ca.crt")?.map(|c| c.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_same_repository_without_credentials_case_or_dot_git() {
        assert!(same_repository(
            "https://user@Git.Example.com/org/config.git",
            "https://git.example.com/org/config/"
        ));
        assert!(!same_repository(
            "https://git.example.com/org/config",
            "https://git.example.com/org/other"
        ));
        assert!(!same_repository(
            "https://git.example.com/org/config",
            "git://git.example.com/org/config"
        ));
    }

    #[test]
    fn the_reference_follows_flux_precedence_and_default() {
        let r = |json: serde_json::Value| {
            let parsed: GitReference = serde_json::from_value(json).unwrap_or_default();
            reference(Some(&parsed)).map(|r| r.to_string())
        };
        assert_eq!(
            reference(None).map(|r| r.to_string()),
            Ok("branch master".into())
        );
        assert_eq!(
            r(serde_json::json!({"branch": "main", "tag": "v1"})),
            Ok("tag v1".into())
        );
        assert_eq!(
            r(serde_json::json!({"name": "refs/heads/dev", "tag": "v1"})),
            Ok("branch dev".into())
        );
        assert!(r(serde_json::json!({"name": "refs/pull/1/head"})).is_err());
    }

    #[test]
    fn an_identity_needs_known_hosts_and_no_passphrase_and_basic_auth_is_read() {
        let err = credentials(
            &|key| Ok((key == "identity").then(|| b"k".to_vec().into())),
            None,
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("known_hosts is required"), "{err}");
        let err = credentials(
            &|key| Ok(matches!(key, "identity" | "password").then(|| b"k".to_vec().into())),
            None,
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("key password"), "{err}");
        let creds = credentials(
            &|key| {
                Ok(match key {
                    "username" => Some(b"git".to_vec().into()),
                    "password" => Some(b"s3cret".to_vec().into()),
                    _ => None,
                })
            },
            None,
        )
        .unwrap_or_default();
        assert!(
            matches!(creds.http, Some(HttpAuth::Basic { ref username, .. }) if username == "git")
        );
    }
}
