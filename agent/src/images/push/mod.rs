//! Writing to Git: fetch the branch into a bare cache repository, let the caller edit files
//! of its tip, commit the edits (configured author, optional SSH or OpenPGP signature) and
//! push them; a push refused because someone pushed first is fetched again, re-applied and
//! pushed again, a bounded number of times. Nothing to change: no commit.
//!
//! gix cannot push yet, so this uses libgit2 (`git2`, built from its vendored sources
//! without OpenSSL or libssh2) for commits, packs, and git://, file:// and plain http://
//! transfers; https:// and ssh:// (or scp-like `user@host:path`) remotes are fetched with
//! gix and pushed by the send-pack of module `sendpack`, over smart HTTP on reqwest and
//! rustls (module `http`, so no second TLS stack is linked) or over the pipes of the
//! system `ssh` (module `ssh`, so no libssh2). Basic, bearer or SSH key credentials are
//! separate from the sync's read credentials.

mod http;
mod sendpack;
mod sign;
mod ssh;

pub use sign::{GpgKey, Signer};

use crate::images::update::Change;
use crate::source::credentials::{Credentials, HttpAuth};
use crate::source::redact::RedactedUrl;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The largest file read for update.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// The local ref the fetched tip is kept under.
const BASE_REF: &str = "refs/tether/base";
/// The local ref the new commit is pushed from.
const PUSH_REF: &str = "refs/tether/push";

/// Errors of writing to Git.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The cache repository could not be opened or created.
    #[error("{url}: cache repository {path}: {message}")]
    CacheFailed {
        /// The remote (redacted).
        url: String,
        /// The cache folder.
        path: String,
        /// The cause.
        message: String,
    },
    /// Fetching the branch failed.
    #[error("{url}: fetching branch {branch} failed: {message}")]
    FetchFailed {
        /// The remote (redacted).
        url: String,
        /// The branch.
        branch: String,
        /// The cause (scrubbed of credentials).
        message: String,
    },
    /// Reading the files of the tip failed.
    #[error("{url}: reading {path}: {message}")]
    ReadFailed {
        /// The remote (redacted).
        url: String,
        /// The file or folder.
        path: String,
        /// The cause.
        message: String,
    },
    /// The edit refused the files.
    #[error(transparent)]
    EditFailed(#[from] crate::images::update::UpdateError),
    /// Writing the commit failed.
    #[error("{url}: committing failed: {message}")]
    CommitFailed {
        /// The remote (redacted).
        url: String,
        /// The cause.
        message: String,
    },
    /// Signing the commit failed.
    #[error("signing key {path}: {message}")]
    SignFailed {
        /// The key file.
        path: String,
        /// The cause (never key material).
        message: String,
    },
    /// The push failed for another reason than a concurrent push.
    #[error("{url}: pushing to {branch} failed: {message}")]
    PushFailed {
        /// The remote (redacted).
        url: String,
        /// The branch.
        branch: String,
        /// The cause (scrubbed).
        message: String,
    },
    /// Every attempt was refused because the branch moved.
    #[error(
        "{url}: pushing to {branch} was refused {attempts} times (the branch keeps moving): {message}"
    )]
    PushRejected {
        /// The remote (redacted).
        url: String,
        /// The branch.
        branch: String,
        /// Attempts made.
        attempts: u32,
        /// The last refusal.
        message: String,
    },
    /// The URL's scheme cannot be pushed to.
    #[error(
        "{url}: pushing over {scheme} is not supported (use https://, ssh://, http://, git:// or file://)"
    )]
    SchemeUnsupported {
        /// The remote (redacted).
        url: String,
        /// The scheme.
        scheme: String,
    },
}

impl PushError {
    /// A short, stable reason.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::CacheFailed { .. } => "CacheFailed",
            Self::FetchFailed { .. } => "FetchFailed",
            Self::ReadFailed { .. } => "ReadFailed",
            Self::EditFailed(e) => e.reason(),
            Self::CommitFailed { .. } => "CommitFailed",
            Self::SignFailed { .. } => "SignFailed",
            Self::PushFailed { .. } => "PushFailed",
            Self::PushRejected { .. } => "PushRejected",
            Self::SchemeUnsupported { .. } => "PushUnsupported",
        }
    }
}

/// How a remote is fetched and pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// libgit2 both ways (http://, git://, file://, local paths).
    Libgit2,
    /// gix fetch, send-pack over smart HTTP.
    Https,
    /// gix fetch, send-pack over `ssh … git-receive-pack`.
    Ssh,
}

/// Where and how to write.
pub struct WriteTarget {
    /// The remote.
    pub url: RedactedUrl,
    /// The branch read.
    pub branch: String,
    /// The branch pushed to (a different one is force-pushed, for review).
    pub push_branch: String,
    /// The bare cache repository.
    pub cache: PathBuf,
    /// Write credentials (none: anonymous).
    pub credentials: Credentials,
    /// The author's name.
    pub author_name: String,
    /// The author's e-mail address.
    pub author_email: String,
    /// How commits are signed (none: unsigned).
    pub signer: Option<Signer>,
    /// Attempts after a refused push.
    pub max_retries: u32,
}

/// The files of a tip: path → text (YAML files under the requested folders).
pub type Files = BTreeMap<String, String>;

/// Writes the commit message from the changes and the changed files' new texts; `Err`
/// with a reason when a template fails.
pub type MessageFn<'a> = dyn Fn(&[Change], &Files) -> Result<String, String> + 'a;

/// What an edit returns: the new texts of changed files, and the changes.
pub struct Edits {
    /// path → new text.
    pub files: BTreeMap<String, String>,
    /// Each changed value.
    pub changes: Vec<Change>,
}

/// A pushed commit.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The commit id.
    pub commit: String,
    /// The commit it is based on.
    pub parent: String,
    /// The changes.
    pub changes: Vec<Change>,
    /// How many pushes were refused before this one went through.
    pub retries: u32,
    /// The commit message.
    pub message: String,
}

impl WriteTarget {
    fn url_text(&self) -> String {
        self.url.redacted()
    }

    fn secrets(&self) -> Vec<String> {
        let mut out = self.url.secrets();
        if let Some(http) = &self.credentials.http {
            match http {
                HttpAuth::Basic { password, .. } => out.push(password.expose().to_owned()),
                HttpAuth::Bearer { token } => out.push(token.expose().to_owned()),
            }
        }
        out
    }

    fn scrub(&self, err: &git2::Error) -> String {
        let secrets = self.secrets();
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        crate::text::clip_message(&crate::source::redact::scrub(err.message(), &refs)).into_owned()
    }

    /// How this remote is fetched and pushed.
    fn wire(&self) -> Result<Wire, PushError> {
        let raw = self.url.expose();
        if ssh::parse(raw).is_some() {
            return Ok(Wire::Ssh);
        }
        let scheme = raw.split_once("://").map_or("file", |(s, _)| s);
        match scheme {
            "https" => Ok(Wire::Https),
            "http" | "git" | "file" => Ok(Wire::Libgit2),
            _ => Err(PushError::SchemeUnsupported {
                url: self.url_text(),
                scheme: scheme.to_owned(),
            }),
        }
    }

    fn open(&self) -> Result<git2::Repository, PushError> {
        let failed = |e: git2::Error| PushError::CacheFailed {
            url: self.url_text(),
            path: self.cache.display().to_string(),
            message: e.message().to_owned(),
        };
        match git2::Repository::open_bare(&self.cache) {
            Ok(repo) => Ok(repo),
            Err(_) => {
                if self.cache.exists() {
                    // An unsound cache is made again (it only holds fetched objects).
                    let _ = std::fs::remove_dir_all(&self.cache);
                }
                git2::Repository::init_bare(&self.cache).map_err(failed)
            }
        }
    }

    fn callbacks<'a>(&'a self, rejected: &'a RefCell<Option<String>>) -> git2::RemoteCallbacks<'a> {
        let mut callbacks = git2::RemoteCallbacks::new();
        let tries = RefCell::new(0u32);
        callbacks.credentials(move |_url, user_from_url, allowed| {
            *tries.borrow_mut() += 1;
            if *tries.borrow() > 1 {
                return Err(git2::Error::from_str("the write credentials were refused"));
            }
            match &self.credentials.http {
                Some(HttpAuth::Basic { username, password })
                    if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) =>
                {
                    git2::Cred::userpass_plaintext(username, password.expose())
                }
                _ => {
                    let _ = user_from_url;
                    Err(git2::Error::from_str(
                        "the remote asks for credentials and none are configured for writing",
                    ))
                }
            }
        });
        callbacks.push_update_reference(move |_name, status| {
            if let Some(message) = status {
                *rejected.borrow_mut() = Some(message.to_owned());
            }
            Ok(())
        });
        callbacks
    }

    fn headers(&self) -> Vec<String> {
        match &self.credentials.http {
            Some(HttpAuth::Bearer { token }) => {
                vec![format!("Authorization: Bearer {}", token.expose())]
            }
            _ => Vec::new(),
        }
    }

    /// Fetches the branch; returns its tip.
    fn fetch<'r>(&self, repo: &'r git2::Repository) -> Result<git2::Commit<'r>, PushError> {
        let failed = |message: String| PushError::FetchFailed {
            url: self.url_text(),
            branch: self.branch.clone(),
            message,
        };
        let rejected = RefCell::new(None);
        let headers = self.headers();
        let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut options = git2::FetchOptions::new();
        options.remote_callbacks(self.callbacks(&rejected));
        options.custom_headers(&header_refs);
        options.download_tags(git2::AutotagOption::None);
        let mut remote = repo
            .remote_anonymous(self.url.expose())
            .map_err(|e| failed(self.scrub(&e)))?;
        remote
            .fetch(
                &[format!("+refs/heads/{}:{BASE_REF}", self.branch)],
                Some(&mut options),
                None,
            )
            .map_err(|e| failed(self.scrub(&e)))?;
        let tip = repo
            .find_reference(BASE_REF)
            .and_then(|r| r.peel_to_commit())
            .map_err(|_| failed("the branch does not exist on the remote".into()))?;
        Ok(tip)
    }

    /// Fetches, edits, commits and pushes; `Ok(None)` when the edit changes nothing.
    pub fn update(
        &self,
        paths: &[String],
        edit: &mut dyn FnMut(&Files) -> Result<Edits, PushError>,
        message: &MessageFn<'_>,
    ) -> Result<Option<Pushed>, PushError> {
        let wire = self.wire()?;
        let mut last_refusal = String::new();
        for attempt in 0..=self.max_retries {
            let (repo, tip) = if wire == Wire::Libgit2 {
                let repo = self.open()?;
                let tip = self.fetch(&repo)?.id();
                (repo, tip)
            } else {
                let tip = self.fetch_gix()?;
                (self.open()?, tip)
            };
            let tip = repo.find_commit(tip).map_err(|e| PushError::ReadFailed {
                url: self.url_text(),
                path: tip.to_string(),
                message: e.message().to_owned(),
            })?;
            let files = read_files(&repo, &tip, paths).map_err(|(path, message)| {
                PushError::ReadFailed {
                    url: self.url_text(),
                    path,
                    message,
                }
            })?;
            let edits = edit(&files)?;
            if edits.files.is_empty() {
                return Ok(None);
            }
            let text = message(&edits.changes, &edits.files).map_err(|message| {
                PushError::CommitFailed {
                    url: self.url_text(),
                    message,
                }
            })?;
            let commit = self.commit(&repo, &tip, &edits.files, &text)?;
            let pushed = match wire {
                Wire::Https => self.push_http(&repo, tip.id(), commit)?,
                Wire::Ssh => self.push_ssh(&repo, tip.id(), commit)?,
                Wire::Libgit2 => self.push(&repo, commit)?,
            };
            match pushed {
                None => {
                    tracing::info!(url = %self.url_text(), branch = %self.push_branch, commit = %commit, changes = edits.changes.len(), retries = attempt, "image updates pushed");
                    return Ok(Some(Pushed {
                        commit: commit.to_string(),
                        parent: tip.id().to_string(),
                        changes: edits.changes,
                        retries: attempt,
                        message: text,
                    }));
                }
                Some(refusal) => {
                    tracing::info!(url = %self.url_text(), branch = %self.push_branch, attempt, refusal = %refusal, "the push was refused; fetching and applying again");
                    last_refusal = refusal;
                }
            }
        }
        Err(PushError::PushRejected {
            url: self.url_text(),
            branch: self.push_branch.clone(),
            attempts: self.max_retries + 1,
            message: last_refusal,
        })
    }

    fn commit(
        &self,
        repo: &git2::Repository,
        tip: &git2::Commit<'_>,
        files: &BTreeMap<String, String>,
        message: &str,
    ) -> Result<git2::Oid, PushError> {
        let failed = |e: git2::Error| PushError::CommitFailed {
            url: self.url_text(),
            message: e.message().to_owned(),
        };
        let base_tree = tip.tree().map_err(failed)?;
        let mut builder = git2::build::TreeUpdateBuilder::new();
        for (path, text) in files {
            let blob = repo.blob(text.as_bytes()).map_err(failed)?;
            let mode =
                base_tree
                    .get_path(std::path::Path::new(path))
                    .map_or(git2::FileMode::Blob, |e| {
                        if e.filemode() == i32::from(git2::FileMode::BlobExecutable) {
                            git2::FileMode::BlobExecutable
                        } else {
                            git2::FileMode::Blob
                        }
                    });
            builder.upsert(path, blob, mode);
        }
        let tree_id = builder.create_updated(repo, &base_tree).map_err(failed)?;
        let tree = repo.find_tree(tree_id).map_err(failed)?;
        let author = git2::Signature::now(&self.author_name, &self.author_email).map_err(failed)?;
        let id = match &self.signer {
            None => repo
                .commit(None, &author, &author, message, &tree, &[tip])
                .map_err(failed)?,
            Some(signer) => {
                let buffer = repo
                    .commit_create_buffer(&author, &author, message, &tree, &[tip])
                    .map_err(failed)?;
                let content =
                    std::str::from_utf8(&buffer).map_err(|_| PushError::CommitFailed {
                        url: self.url_text(),
                        message: "the commit is not UTF-8".into(),
                    })?;
                let signature = sign::sign(signer, buffer.as_ref())?;
                repo.commit_signed(content, &signature, None)
                    .map_err(failed)?
            }
        };
        Ok(id)
    }

    /// Pushes `commit`; `Ok(Some(reason))` when the remote refused it because the branch
    /// moved.
    fn push(
        &self,
        repo: &git2::Repository,
        commit: git2::Oid,
    ) -> Result<Option<String>, PushError> {
        let failed = |message: String| PushError::PushFailed {
            url: self.url_text(),
            branch: self.push_branch.clone(),
            message,
        };
        repo.reference(PUSH_REF, commit, true, "image update")
            .map_err(|e| failed(e.message().to_owned()))?;
        let rejected = RefCell::new(None);
        let headers = self.headers();
        let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut options = git2::PushOptions::new();
        options.remote_callbacks(self.callbacks(&rejected));
        options.custom_headers(&header_refs);
        let mut remote = repo
            .remote_anonymous(self.url.expose())
            .map_err(|e| failed(self.scrub(&e)))?;
        let force = if self.push_branch == self.branch {
            ""
        } else {
            "+"
        };
        let spec = format!("{force}{PUSH_REF}:refs/heads/{}", self.push_branch);
        match remote.push(&[spec.as_str()], Some(&mut options)) {
            Ok(()) => {}
            Err(e) if e.code() == git2::ErrorCode::NotFastForward => {
                return Ok(Some(self.scrub(&e)));
            }
            Err(e) => return Err(failed(self.scrub(&e))),
        }
        drop(options);
        Ok(rejected.into_inner())
    }
}

impl WriteTarget {
    /// The YAML files under `paths` at `revision`, read from the cache repository (call it
    /// from an edit of [`WriteTarget::update`], which fetched the branch holding it).
    pub fn files_at(&self, revision: &str, paths: &[String]) -> Result<Files, PushError> {
        let failed = |message: String| PushError::ReadFailed {
            url: self.url_text(),
            path: revision.to_owned(),
            message,
        };
        let repo = self.open()?;
        let commit = git2::Oid::from_str(revision)
            .and_then(|oid| repo.find_commit(oid))
            .map_err(|_| failed(format!("the revision is not on branch {}", self.branch)))?;
        read_files(&repo, &commit, paths).map_err(|(path, message)| PushError::ReadFailed {
            url: self.url_text(),
            path,
            message,
        })
    }
}

/// The YAML files of `tip` under `paths` (all when empty).
fn read_files(
    repo: &git2::Repository,
    tip: &git2::Commit<'_>,
    paths: &[String],
) -> Result<Files, (String, String)> {
    let tree = tip
        .tree()
        .map_err(|e| (String::new(), e.message().to_owned()))?;
    let mut files = Files::new();
    let mut problem: Option<(String, String)> = None;
    let prefixes: Vec<String> = paths
        .iter()
        .map(|p| p.trim_matches('/').to_owned())
        .filter(|p| !p.is_empty() && p != ".")
        .collect();
    tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
        let Some(name) = entry.name() else {
            return git2::TreeWalkResult::Ok;
        };
        let path = format!("{root}{name}");
        let inside = prefixes.is_empty()
            || prefixes
                .iter()
                .any(|p| path == *p || path.starts_with(&format!("{p}/")));
        if entry.kind() == Some(git2::ObjectType::Tree) {
            let ancestor = prefixes.iter().any(|p| p.starts_with(&format!("{path}/")));
            return if inside || ancestor {
                git2::TreeWalkResult::Ok
            } else {
                git2::TreeWalkResult::Skip
            };
        }
        let yaml = name.ends_with(".yaml") || name.ends_with(".yml") || name == "Kustomization";
        if !inside || !yaml || entry.kind() != Some(git2::ObjectType::Blob) {
            return git2::TreeWalkResult::Ok;
        }
        match entry.to_object(repo).and_then(|o| o.peel_to_blob()) {
            Ok(blob) if blob.size() > MAX_FILE_BYTES => {
                problem = Some((path, format!("larger than {MAX_FILE_BYTES} bytes")));
                git2::TreeWalkResult::Abort
            }
            Ok(blob) => {
                // Files that are not UTF-8 text carry no markers.
                if let Ok(text) = std::str::from_utf8(blob.content()) {
                    files.insert(path, text.to_owned());
                }
                git2::TreeWalkResult::Ok
            }
            Err(e) => {
                problem = Some((path, e.message().to_owned()));
                git2::TreeWalkResult::Abort
            }
        }
    })
    .ok();
    match problem {
        Some(p) => Err(p),
        None => Ok(files),
    }
}

#[cfg(test)]
mod tests;
