//! `tether-agent promote APP --from staging --to production`: the target overlay's images
//! set to what the source overlay runs (Kustomize `images:` entries and setter-marked
//! values; optionally whole files named with `--file`), committed on a new branch, pushed,
//! the diff printed; with `--github` or `--gitlab` and a token, the pull or merge request is
//! opened.
//!
//! The overlays are `OVERLAYS/FROM` and `OVERLAYS/TO` of one base, with `OVERLAYS`
//! `apps/APP/overlays` unless `--overlays` says otherwise (the layout the environments view
//! groups by).

pub mod auto;
pub mod diff;
mod overlay;
pub mod review;

pub use overlay::promote_files;

use super::push::{Edits, Files, PushError, WriteTarget};
use super::update::Change;
use crate::source::credentials::{CredentialFiles, Credentials, SecretText};
use crate::source::redact::RedactedUrl;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// The arguments of `tether-agent promote`.
#[derive(Debug, Clone, clap::Args)]
pub struct PromoteArgs {
    /// The app.
    pub app: String,
    /// The environment promoted from (its overlay folder's name).
    #[arg(long = "from")]
    pub from: String,
    /// The environment promoted to.
    #[arg(long = "to")]
    pub to: String,
    /// The folder of the app's overlays (default `apps/APP/overlays`).
    #[arg(long)]
    pub overlays: Option<String>,
    /// The repository URL.
    #[arg(long)]
    pub url: String,
    /// The branch both overlays are read from, and the review's base.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// The branch created (default `promote/APP-TO`; force-pushed).
    #[arg(long)]
    pub head: Option<String>,
    /// Also copy this file (relative to the overlay) from the source overlay; repeatable.
    #[arg(long = "file")]
    pub files: Vec<String>,
    /// Write credentials: a user name file (with --password-file).
    #[arg(long)]
    pub username_file: Option<PathBuf>,
    /// Write credentials: a password or token file.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Open a GitHub pull request in OWNER/REPO.
    #[arg(long, conflicts_with = "gitlab")]
    pub github: Option<String>,
    /// The GitHub API address.
    #[arg(long, default_value = "https://api.github.com")]
    pub github_api: String,
    /// Open a GitLab merge request in this project (id or group/project).
    #[arg(long)]
    pub gitlab: Option<String>,
    /// The GitLab API address.
    #[arg(long, default_value = "https://gitlab.com/api/v4")]
    pub gitlab_api: String,
    /// The file holding the GitHub or GitLab token.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// The commit author's name.
    #[arg(long, default_value = "tether")]
    pub author_name: String,
    /// The commit author's e-mail address.
    #[arg(long, default_value = "tether@localhost")]
    pub author_email: String,
    /// Print the diff only: no commit, no push.
    #[arg(long)]
    pub dry_run: bool,
}

/// Errors of a promotion.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// An argument is wrong.
    #[error("{0}")]
    Usage(String),
    /// An overlay is missing.
    #[error("{path}: no such overlay on branch {branch}")]
    OverlayMissing {
        /// The folder.
        path: String,
        /// The branch.
        branch: String,
    },
    /// Reading, editing or pushing failed.
    #[error(transparent)]
    Push(#[from] PushError),
    /// Opening the review failed (the branch is pushed).
    #[error("the branch {head} is pushed, but the review could not be opened: {source}")]
    Review {
        /// The branch.
        head: String,
        /// The cause.
        #[source]
        source: review::ReviewError,
    },
}

/// What a promotion did.
pub struct Promoted {
    /// The diff of every changed file.
    pub diff: String,
    /// The changes.
    pub changes: Vec<Change>,
    /// The pushed commit (none: dry run or nothing to promote).
    pub commit: Option<String>,
    /// The review's address.
    pub review: Option<String>,
}

/// The overlays folder, after checking the arguments.
fn overlays(args: &PromoteArgs) -> Result<String, PromoteError> {
    if args.from == args.to {
        return Err(PromoteError::Usage(
            "--from and --to name the same environment".into(),
        ));
    }
    for env in [&args.from, &args.to] {
        if env.is_empty() || env.contains('/') || env.starts_with('.') {
            return Err(PromoteError::Usage(format!(
                "{env:?} is not an overlay folder name"
            )));
        }
    }
    Ok(args
        .overlays
        .clone()
        .unwrap_or_else(|| format!("apps/{}/overlays", args.app))
        .trim_matches('/')
        .to_owned())
}

fn head(args: &PromoteArgs) -> String {
    args.head
        .clone()
        .unwrap_or_else(|| format!("promote/{}-{}", args.app, args.to))
}

fn write_target(args: &PromoteArgs, cache: &std::path::Path) -> Result<WriteTarget, PromoteError> {
    let credentials = Credentials::load(&CredentialFiles {
        username: args.username_file.clone(),
        password: args.password_file.clone(),
        ..CredentialFiles::default()
    })
    .map_err(|e| PromoteError::Usage(format!("credentials: {e}")))?;
    Ok(WriteTarget {
        url: RedactedUrl::new(args.url.clone()),
        branch: args.branch.clone(),
        push_branch: head(args),
        cache: cache.join("repo.git"),
        credentials,
        author_name: args.author_name.clone(),
        author_email: args.author_email.clone(),
        signer: None,
        max_retries: 0,
    })
}

/// The commit message (and the review's description).
fn message(title: &str, changes: &[Change]) -> String {
    let list = changes
        .iter()
        .map(|c| {
            let old = if c.old.is_empty() { "(none)" } else { &c.old };
            format!("- {}:{}: {old} -> {}", c.file, c.line, c.new)
        })
        .collect::<Vec<_>>()
        .join("\n");
    format!("{title}\n\n{list}\n")
}

/// Runs a promotion.
pub fn promote(args: &PromoteArgs) -> Result<Promoted, PromoteError> {
    let overlays = overlays(args)?;
    // Every argument is checked before anything is pushed.
    let forge = forge(args)?;
    let cache =
        tempfile::tempdir().map_err(|e| PromoteError::Usage(format!("a temporary folder: {e}")))?;
    let target = write_target(args, cache.path())?;
    let from = format!("{overlays}/{}", args.from);
    let to = format!("{overlays}/{}", args.to);
    let mut diff_text = String::new();
    let mut changes = Vec::new();
    let mut failure = None;
    let nothing = || Edits {
        files: BTreeMap::new(),
        changes: Vec::new(),
    };
    let mut edit = |files: &Files| match promote_files(files, &from, &to, &args.files, &args.branch)
    {
        Ok((edits, diff)) => {
            diff_text = diff;
            changes = edits.changes.clone();
            Ok(if args.dry_run { nothing() } else { edits })
        }
        Err(PromoteError::Push(e)) => Err(e),
        Err(other) => {
            failure = Some(other);
            Ok(nothing())
        }
    };
    let title = format!("Promote {} to {} (from {})", args.app, args.to, args.from);
    let pushed = target.update(
        std::slice::from_ref(&overlays),
        &mut edit,
        &|c: &[Change], _: &super::push::Files| Ok(message(&title, c)),
    )?;
    if let Some(err) = failure {
        return Err(err);
    }
    let Some(pushed) = pushed else {
        return Ok(Promoted {
            diff: diff_text,
            changes,
            commit: None,
            review: None,
        });
    };
    let head = head(args);
    let review = match forge {
        None => None,
        Some(forge) => Some(
            review::open(
                &forge,
                &review::Review {
                    head: &head,
                    base: &args.branch,
                    title: &title,
                    body: &message(&title, &pushed.changes),
                },
            )
            .map_err(|source| PromoteError::Review {
                head: head.clone(),
                source,
            })?,
        ),
    };
    Ok(Promoted {
        diff: diff_text,
        changes: pushed.changes,
        commit: Some(pushed.commit),
        review,
    })
}

fn forge(args: &PromoteArgs) -> Result<Option<review::Forge>, PromoteError> {
    if args.github.is_none() && args.gitlab.is_none() {
        return Ok(None);
    }
    let Some(path) = &args.token_file else {
        return Err(PromoteError::Usage(
            "--github and --gitlab need --token-file".into(),
        ));
    };
    let token = std::fs::read_to_string(path).map_err(|e| {
        PromoteError::Usage(format!("--token-file {}: {}", path.display(), e.kind()))
    })?;
    let token = SecretText::new(token.trim().to_owned());
    Ok(Some(match (&args.github, &args.gitlab) {
        (Some(repository), _) => review::Forge::GitHub {
            api: args.github_api.clone(),
            repository: repository.clone(),
            token,
        },
        (None, Some(project)) => review::Forge::GitLab {
            api: args.gitlab_api.clone(),
            project: project.clone(),
            token,
        },
        (None, None) => return Ok(None),
    }))
}

/// `tether-agent promote`: prints the diff on `out`, what was done on `err`; exit 0 when
/// promoted or nothing to promote, 1 on failure, 2 on usage errors.
pub fn command(args: &PromoteArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match promote(args) {
        Ok(done) => {
            let _ = out.write_all(done.diff.as_bytes());
            match (&done.commit, done.changes.is_empty()) {
                (_, true) => {
                    let _ = writeln!(
                        err,
                        "tether-agent: promote: nothing to promote: {} already runs what {} runs",
                        args.to, args.from
                    );
                }
                (None, false) => {
                    let _ = writeln!(
                        err,
                        "tether-agent: promote: dry run: {} change(s), nothing pushed",
                        done.changes.len()
                    );
                }
                (Some(commit), false) => {
                    let head = head(args);
                    let _ = writeln!(
                        err,
                        "tether-agent: promote: pushed {commit} to branch {head} ({} change(s))",
                        done.changes.len()
                    );
                }
            }
            if let Some(link) = &done.review {
                let _ = writeln!(err, "tether-agent: promote: review opened: {link}");
            }
            0
        }
        Err(e) => {
            let _ = writeln!(
                err,
                "tether-agent: promote: {}",
                crate::text::clip_message(&e.to_string())
            );
            if matches!(e, PromoteError::Usage(_)) {
                2
            } else {
                1
            }
        }
    }
}

#[cfg(test)]
mod tests;
