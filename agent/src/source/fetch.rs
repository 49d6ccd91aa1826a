//! Clone and fetch with gix into a cache directory: a bare repository that survives restarts
//! but is checked before use and re-cloned when it is unsound.
//!
//! Everything here blocks (gix's network code does); [`super::Source`] runs it in
//! `spawn_blocking` with a timeout. A watchdog thread enforces the size limit and the
//! deadline by raising gix's interrupt flag while a pack streams in.

use super::cache::open_cache;
use super::credentials::{Credentials, HttpAuth};
use super::redact::{RedactedUrl, scrub};
use super::refs::{Reference, highest_matching};
use super::watchdog::{Tripped, Watchdog, dir_size};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Errors from fetching. URLs are shown redacted and lower-layer messages are scrubbed of
/// every credential before they are stored here.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The cache directory could not be prepared (created, removed, initialised).
    #[error("cache {path}: {step} failed: {message}")]
    CacheFailed {
        /// The cache directory.
        path: PathBuf,
        /// What was being done.
        step: &'static str,
        /// The cause.
        message: String,
    },
    /// The remote could not be reached or refused the conversation.
    #[error("fetch {url}: {step} failed: {message}")]
    FetchFailed {
        /// The remote (redacted).
        url: String,
        /// `connect`, `list refs`, `receive pack`.
        step: &'static str,
        /// The scrubbed cause.
        message: String,
    },
    /// The remote refused the credentials, or none were given where they are needed.
    #[error("fetch {url}: authentication failed: {message}")]
    AuthFailed {
        /// The remote (redacted).
        url: String,
        /// The scrubbed cause.
        message: String,
    },
    /// What the source follows does not exist on the remote.
    #[error("fetch {url}: {reference} not found on the remote")]
    RefNotFound {
        /// The remote (redacted).
        url: String,
        /// What was followed.
        reference: String,
    },
    /// The repository is larger than the limit.
    #[error("fetch {url}: repository exceeds the size limit of {limit} bytes")]
    SizeLimitExceeded {
        /// The remote (redacted).
        url: String,
        /// The limit in force.
        limit: u64,
    },
    /// The fetch took longer than the timeout.
    #[error("fetch {url}: timed out after {seconds} s")]
    TimedOut {
        /// The remote (redacted).
        url: String,
        /// The timeout.
        seconds: u64,
    },
    /// The fetched ref does not lead to a readable commit.
    #[error("fetch {url}: {reference}: reading the commit failed: {message}")]
    ReadCommitFailed {
        /// The remote (redacted).
        url: String,
        /// The local ref.
        reference: String,
        /// The cause.
        message: String,
    },
}

impl FetchError {
    /// A short, stable reason for status, Events and metrics.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::CacheFailed { .. } => "CacheFailed",
            Self::FetchFailed { .. } | Self::ReadCommitFailed { .. } => "FetchFailed",
            Self::AuthFailed { .. } => "AuthFailed",
            Self::RefNotFound { .. } => "RefNotFound",
            Self::SizeLimitExceeded { .. } => "SizeLimitExceeded",
            Self::TimedOut { .. } => "FetchTimeout",
        }
    }
}

/// How much history to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// Only the followed commit (depth 1), the default.
    #[default]
    Shallow,
    /// The whole history.
    Full,
}

/// One fetch: what, from where, into which cache, within which limits.
pub struct FetchRequest<'a> {
    /// The remote.
    pub url: &'a RedactedUrl,
    /// What to follow.
    pub reference: &'a Reference,
    /// Shallow or full.
    pub depth: Depth,
    /// Credentials for the remote.
    pub credentials: &'a Credentials,
    /// The cache directory (a bare repository; created when missing).
    pub cache_dir: &'a Path,
    /// The largest the object database may grow to, in bytes.
    pub max_bytes: u64,
    /// How long the fetch may take.
    pub timeout: Duration,
    /// Raised from outside to abandon the fetch.
    pub cancel: Arc<AtomicBool>,
}

/// The result of a fetch: the repository and the commit now followed.
pub struct Fetched {
    /// The cache repository, shareable across threads.
    pub repo: gix::ThreadSafeRepository,
    /// The commit followed.
    pub commit: gix::ObjectId,
    /// Its root tree.
    pub tree: gix::ObjectId,
    /// The remote ref it came from (`refs/heads/main`, `refs/tags/v1.2.3`), or the commit id
    /// for a pinned commit.
    pub ref_name: String,
    /// Whether the cache was (re-)created for this fetch.
    pub recloned: bool,
    /// Whether the cache repository is shallow.
    pub shallow: bool,
}

/// Fetches what `req` asks for, blocking. See the module docs.
pub fn fetch_blocking(req: &FetchRequest<'_>) -> Result<Fetched, FetchError> {
    let started = Instant::now();
    let ctx = Ctx::new(req);
    let (mut repo, recloned) = open_cache(req)?;
    configure(&mut repo, req, &ctx)?;

    let watchdog = Watchdog::start(
        req.cache_dir.join("objects"),
        req.max_bytes,
        started + req.timeout,
        Arc::clone(&req.cancel),
    );
    let result = fetch_into(&repo, req, &ctx, &watchdog.interrupt);
    check_tripped(watchdog.stop(), req, &ctx)?;
    let (local_ref, ref_name, received) = result?;

    // The watchdog samples; check the final size too, and drop a cache that is over it so the
    // next attempt does not start from an over-size repository.
    let size = if received {
        dir_size(&req.cache_dir.join("objects"))
    } else {
        0
    };
    if size > req.max_bytes {
        let _ = std::fs::remove_dir_all(req.cache_dir);
        return Err(FetchError::SizeLimitExceeded {
            url: ctx.url.clone(),
            limit: req.max_bytes,
        });
    }
    let (commit, tree) = read_commit(&repo, &ctx, &local_ref)?;
    let shallow = repo.is_shallow().unwrap_or(false);
    tracing::debug!(
        url = %req.url,
        reference = %req.reference,
        commit = %commit,
        recloned,
        shallow,
        "fetched"
    );
    Ok(Fetched {
        commit,
        tree,
        ref_name,
        recloned,
        shallow,
        repo: repo.into_sync(),
    })
}

/// The error for a fetch the watchdog stopped, if it did.
fn check_tripped(tripped: Tripped, req: &FetchRequest<'_>, ctx: &Ctx) -> Result<(), FetchError> {
    match tripped {
        Tripped::SizeLimit => Err(FetchError::SizeLimitExceeded {
            url: ctx.url.clone(),
            limit: req.max_bytes,
        }),
        Tripped::Deadline => Err(FetchError::TimedOut {
            url: ctx.url.clone(),
            seconds: req.timeout.as_secs(),
        }),
        Tripped::Cancelled => Err(ctx.failed("receive pack", "cancelled".to_owned())),
        Tripped::No => Ok(()),
    }
}

/// The commit a fetched local ref points at, and its tree.
fn read_commit(
    repo: &gix::Repository,
    ctx: &Ctx,
    local_ref: &str,
) -> Result<(gix::ObjectId, gix::ObjectId), FetchError> {
    let read_failed = |message: String| FetchError::ReadCommitFailed {
        url: ctx.url.clone(),
        reference: local_ref.to_owned(),
        message: ctx.scrub(&message),
    };
    let mut reference = repo
        .find_reference(local_ref)
        .map_err(|err| read_failed(describe(&err)))?;
    let commit = reference
        .peel_to_commit()
        .map_err(|err| read_failed(describe(&err)))?;
    let tree = commit
        .tree_id()
        .map_err(|err| read_failed(describe(&err)))?;
    Ok((commit.id, tree.detach()))
}

struct Ctx {
    url: String,
    secrets: Vec<Zeroizing<String>>,
    /// Where ssh writes its own messages (`ssh -E`), so that a refused host key or key
    /// shows up in the error instead of on the agent's stderr.
    ssh_log: PathBuf,
}

impl Ctx {
    /// What errors name, and every secret they must never show (credentials, the basic
    /// auth header, secrets in the URL).
    fn new(req: &FetchRequest<'_>) -> Self {
        let mut secrets: Vec<Zeroizing<String>> = (req.credentials.secrets().into_iter())
            .map(|s| Zeroizing::new(s.to_owned()))
            .collect();
        if let Some(header) = basic_auth_value(req.credentials) {
            secrets.push(header);
        }
        secrets.extend(req.url.secrets().into_iter().map(Zeroizing::new));
        Ctx {
            url: req.url.to_string(),
            secrets,
            ssh_log: req.cache_dir.join("tether-ssh.log"),
        }
    }

    fn scrub(&self, text: &str) -> String {
        let secrets: Vec<&str> = self.secrets.iter().map(|s| s.as_str()).collect();
        scrub(text, &secrets)
    }

    fn failed(&self, step: &'static str, message: String) -> FetchError {
        let mut message = message;
        if let Ok(log) = std::fs::read_to_string(&self.ssh_log) {
            let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = lines[lines.len().saturating_sub(3)..].join("; ");
            if !tail.is_empty() {
                message = format!("{message} (ssh: {tail})");
            }
        }
        let message = self.scrub(&message);
        let lower = message.to_ascii_lowercase();
        if lower.contains("401")
            || lower.contains("403")
            || lower.contains("unauthorized")
            || lower.contains("authentication")
            || lower.contains("permission denied")
            || lower.contains("credentials")
            || lower.contains("host key verification failed")
        {
            FetchError::AuthFailed {
                url: self.url.clone(),
                message,
            }
        } else {
            FetchError::FetchFailed {
                url: self.url.clone(),
                step,
                message,
            }
        }
    }
}

/// Every message in an error's chain, joined.
pub(super) fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Sets the in-memory configuration of this fetch: the ssh command (strict, batch mode).
fn configure(
    repo: &mut gix::Repository,
    req: &FetchRequest<'_>,
    ctx: &Ctx,
) -> Result<(), FetchError> {
    let mut ssh_command = match &req.credentials.ssh {
        Some(ssh) => ssh.ssh_command(),
        None => format!(
            "{} -o BatchMode=yes -o StrictHostKeyChecking=yes",
            super::credentials::shell_quote(&super::program::find_or_default("ssh"))
        ),
    };
    let _ = std::fs::remove_file(&ctx.ssh_log);
    ssh_command.push_str(" -E ");
    ssh_command.push_str(&super::credentials::shell_quote(&ctx.ssh_log));
    let mut config = repo.config_snapshot_mut();
    config
        .set_value(&gix::config::tree::Core::SSH_COMMAND, ssh_command.as_str())
        .map_err(|err| ctx.failed("configure", describe(&err)))?;
    config
        .commit()
        .map_err(|err| ctx.failed("configure", describe(&err)))?;
    Ok(())
}

/// Lists refs when needed, then fetches the one ref-spec; returns the local ref, the remote
/// ref name and whether a pack was asked for. When the remote ref already names the commit the
/// local ref holds, the ref advertisement is all this costs: no negotiation, no pack.
fn fetch_into(
    repo: &gix::Repository,
    req: &FetchRequest<'_>,
    ctx: &Ctx,
    interrupt: &AtomicBool,
) -> Result<(String, String, bool), FetchError> {
    let resolved_tag = match req.reference {
        Reference::Semver(range) => {
            let tags = list_tags(repo, req, ctx)?;
            let chosen = highest_matching(range, tags.iter().map(String::as_str))
                .map(|(tag, _)| tag.to_owned());
            match chosen {
                Some(tag) => Some(tag),
                None => {
                    return Err(FetchError::RefNotFound {
                        url: ctx.url.clone(),
                        reference: req.reference.to_string(),
                    });
                }
            }
        }
        _ => None,
    };
    let refspec = req.reference.refspec(resolved_tag.as_deref());
    let local_ref = req.reference.local_ref(resolved_tag.as_deref());
    let remote = remote_for(repo, req, ctx, &refspec)?;
    let connection = connect(&remote, req, ctx)?;
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|err| classify(ctx, "list refs", &err, req.reference))?;
    let Some(mapping) = prepare.ref_map().mappings.first() else {
        return Err(FetchError::RefNotFound {
            url: ctx.url.clone(),
            reference: req.reference.to_string(),
        });
    };
    let ref_name = match mapping.remote.as_name() {
        Some(name) => name.to_string(),
        None => mapping
            .remote
            .as_id()
            .map(|id| id.to_hex().to_string())
            .unwrap_or_default(),
    };
    if mapping
        .remote
        .as_id()
        .is_some_and(|id| holds(repo, &local_ref, id))
    {
        return Ok((local_ref, ref_name, false));
    }
    let shallow = match req.depth {
        Depth::Shallow => gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::MIN),
        Depth::Full => gix::remote::fetch::Shallow::NoChange,
    };
    prepare
        .with_shallow(shallow)
        .receive(gix::progress::Discard, interrupt)
        .map_err(|err| classify(ctx, "receive pack", &err, req.reference))?;
    Ok((local_ref, ref_name, true))
}

/// Whether the local ref already points at `id` and the object is in the cache.
fn holds(repo: &gix::Repository, local_ref: &str, id: &gix::oid) -> bool {
    repo.try_find_reference(local_ref)
        .ok()
        .flatten()
        .and_then(|r| r.target().try_id().map(ToOwned::to_owned))
        .is_some_and(|target| target.as_ref() == id && repo.has_object(id))
}

fn classify(ctx: &Ctx, step: &'static str, err: &gix::Error, reference: &Reference) -> FetchError {
    let message = describe(err);
    let lower = message.to_ascii_lowercase();
    if lower.contains("not our ref") || lower.contains("couldn't find remote ref") {
        return FetchError::RefNotFound {
            url: ctx.url.clone(),
            reference: reference.to_string(),
        };
    }
    ctx.failed(step, message)
}

/// The tag names on the remote (without `refs/tags/`).
fn list_tags(
    repo: &gix::Repository,
    req: &FetchRequest<'_>,
    ctx: &Ctx,
) -> Result<Vec<String>, FetchError> {
    let remote = remote_for(repo, req, ctx, "+refs/tags/*:refs/tags/*")?;
    let connection = connect(&remote, req, ctx)?;
    let (ref_map, _) = connection
        .ref_map(gix::progress::Discard, Default::default())
        .map_err(|err| ctx.failed("list refs", describe(&err)))?;
    Ok(ref_map
        .remote_refs
        .iter()
        .filter_map(|r| {
            let (name, _, _) = r.unpack();
            name.to_string()
                .strip_prefix("refs/tags/")
                .map(str::to_owned)
        })
        .collect())
}

/// The base64 `user:password` of basic auth, if configured.
fn basic_auth_value(credentials: &Credentials) -> Option<Zeroizing<String>> {
    use base64::Engine as _;
    match &credentials.http {
        Some(HttpAuth::Basic { username, password }) => {
            let plain = Zeroizing::new(format!("{username}:{}", password.expose()));
            Some(Zeroizing::new(
                base64::engine::general_purpose::STANDARD.encode(plain.as_bytes()),
            ))
        }
        _ => None,
    }
}

/// Credentials only travel over HTTPS, or plain HTTP to the loopback interface (a local
/// proxy or test server).
fn check_transport_security(url: &RedactedUrl, ctx: &Ctx) -> Result<(), FetchError> {
    let parsed = gix::url::parse(gix::bstr::BStr::new(url.expose()))
        .map_err(|err| ctx.failed("parse URL", describe(&err)))?;
    if parsed.scheme == gix::url::Scheme::Http {
        let host = parsed.host().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(FetchError::AuthFailed {
                url: ctx.url.clone(),
                message:
                    "refusing to send credentials over plain http to a non-loopback host; use https"
                        .to_owned(),
            });
        }
    }
    Ok(())
}

type Conn<'x> = gix::remote::Connection<
    'x,
    'x,
    'x,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

/// The anonymous remote for `refspec`: no tags beyond what is asked for.
fn remote_for<'r>(
    repo: &'r gix::Repository,
    req: &FetchRequest<'_>,
    ctx: &Ctx,
    refspec: &str,
) -> Result<gix::Remote<'r>, FetchError> {
    repo.remote_at(req.url.expose())
        .map_err(|err| ctx.failed("configure remote", describe(&err)))?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs(Some(refspec), gix::remote::Direction::Fetch)
        .map_err(|err| ctx.failed("configure remote", describe(&err)))
}

/// A connection over `remote` with this request's credentials and transport options.
fn connect<'x>(
    remote: &'x gix::Remote<'x>,
    req: &'x FetchRequest<'x>,
    ctx: &Ctx,
) -> Result<Conn<'x>, FetchError> {
    let connection = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(|err| ctx.failed("connect", describe(&err)))?;
    // Credentials go out as a header set up front (see `http_options`); a server that still
    // asks gets nothing: never a credential helper, never a prompt.
    let mut connection = connection.with_credentials(|_| Ok(None));
    if let Some(options) = http_options(remote.repo(), req, ctx)? {
        connection = connection.with_transport_options(options);
    }
    Ok(connection)
}

/// HTTP transport options: a bearer token header and extra CA certificates on top of what
/// the (isolated) configuration gives. `None` for other schemes.
fn http_options(
    repo: &gix::Repository,
    req: &FetchRequest<'_>,
    ctx: &Ctx,
) -> Result<Option<Box<dyn std::any::Any>>, FetchError> {
    use gix::protocol::transport::client::blocking_io::http;
    let Some(options) = repo
        .transport_options(req.url.expose(), None)
        .map_err(|err| ctx.failed("configure transport", describe(&err)))?
    else {
        return Ok(None);
    };
    let Ok(mut options) = options.downcast::<http::Options>() else {
        return Ok(None);
    };
    if req.credentials.http.is_some() {
        check_transport_security(req.url, ctx)?;
    }
    match &req.credentials.http {
        Some(HttpAuth::Bearer { token }) => options
            .extra_headers
            .push(format!("Authorization: Bearer {}", token.expose())),
        Some(HttpAuth::Basic { .. }) => {
            if let Some(value) = basic_auth_value(req.credentials) {
                options
                    .extra_headers
                    .push(format!("Authorization: Basic {}", value.as_str()));
            }
        }
        None => {}
    }
    if let Some(pem) = &req.credentials.ca_bundle {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|err| ctx.failed("load CA bundle", describe(&err)))?;
        let backend = http::reqwest::Options {
            configure_client: Some(Box::new(move |builder| {
                Ok(builder.tls_certs_merge(certs.clone()))
            })),
            configure_request: None,
        };
        options.backend = Some(Arc::new(std::sync::Mutex::new(backend)));
    }
    Ok(Some(options))
}
