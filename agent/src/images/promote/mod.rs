//! `tether-agent promote APP --from staging --to production`: the target overlay's images
//! set to what the source overlay runs (Kustomize `images:` entries and setter-marked
//! values; optionally whole files named with `--file`), committed on a new branch, pushed,
//! the diff printed; with `--github` or `--gitlab` and a token, the pull or merge request is
//! opened.
//!
//! The overlays are `OVERLAYS/FROM` and `OVERLAYS/TO` of one base, with `OVERLAYS`
//! `apps/APP/overlays` unless `--overlays` says otherwise (the layout the environments view
//! groups by).

pub mod diff;
pub mod review;

use super::push::{Edits, Files, PushError, WriteTarget};
use super::update::{Change, Field, apply_markers, kustomize, read_markers};
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

/// The text of the first kustomization file of `dir` in `files`.
fn kustomization<'f>(files: &'f Files, dir: &str) -> Option<(&'f String, &'f String)> {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .find_map(|name| files.get_key_value(&format!("{dir}/{name}")))
}

/// The promotion's edit of `files` (the overlays folder).
pub fn promote_files(
    files: &Files,
    from: &str,
    to: &str,
    extra: &[String],
    branch: &str,
) -> Result<(Edits, String), PromoteError> {
    let missing = |path: &str| PromoteError::OverlayMissing {
        path: path.to_owned(),
        branch: branch.to_owned(),
    };
    let in_dir = |dir: &str| {
        let prefix = format!("{dir}/");
        files
            .iter()
            .filter(move |(p, _)| p.starts_with(&prefix))
            .collect::<Vec<_>>()
    };
    if in_dir(from).is_empty() {
        return Err(missing(from));
    }
    if in_dir(to).is_empty() {
        return Err(missing(to));
    }
    let mut new_files: BTreeMap<String, String> = BTreeMap::new();
    let mut changes = Vec::new();
    // Whole files first, so that markers and entries below apply to what they became.
    for name in extra {
        let name = name.trim_matches('/');
        let source = format!("{from}/{name}");
        let target = format!("{to}/{name}");
        let text = files.get(&source).ok_or_else(|| {
            PromoteError::Usage(format!(
                "--file {name}: {source} does not exist or is not YAML"
            ))
        })?;
        if files.get(&target) != Some(text) {
            new_files.insert(target.clone(), text.clone());
            changes.push(Change {
                file: target,
                line: 1,
                policy: format!("file {source}"),
                old: String::new(),
                new: "(copied)".into(),
            });
        }
    }
    let current = |path: &String, new_files: &BTreeMap<String, String>| {
        new_files
            .get(path)
            .cloned()
            .unwrap_or_else(|| files[path].clone())
    };
    // Kustomize images entries.
    if let Some((source_path, source_text)) = kustomization(files, from) {
        let entries = kustomize::read_entries(source_path, source_text).map_err(PushError::from)?;
        if let Some((target_path, _)) = kustomization(files, to) {
            let origin = format!("{from}:{}", source_path.rsplit('/').next().unwrap_or(""));
            let targets: Vec<kustomize::Target<'_>> = entries
                .iter()
                .map(|(name, fields)| kustomize::Target {
                    name,
                    policy: &origin,
                    fields: fields.clone(),
                })
                .collect();
            let text = current(target_path, &new_files);
            let (out, mut found) =
                kustomize::apply(target_path, &text, &targets).map_err(PushError::from)?;
            let (out, added) =
                kustomize::append_missing(target_path, &out, &targets).map_err(PushError::from)?;
            found.extend(added);
            if !found.is_empty() {
                new_files.insert(target_path.clone(), out);
                changes.extend(found);
            }
        }
    }
    // Setter markers: what the source overlay's markers hold.
    let mut values: BTreeMap<(String, Option<Field>), String> = BTreeMap::new();
    for (path, text) in in_dir(from) {
        for marker in read_markers(path, text).map_err(PushError::from)? {
            values.insert((marker.policy, marker.field), marker.value);
        }
    }
    if !values.is_empty() {
        for (path, _) in in_dir(to) {
            let text = current(path, &new_files);
            let (out, found) = apply_markers(path, &text, &|policy, field| {
                values.get(&(policy.to_owned(), field)).cloned()
            })
            .map_err(PushError::from)?;
            if !found.is_empty() {
                new_files.insert(path.clone(), out);
                changes.extend(found);
            }
        }
    }
    let mut diff_text = String::new();
    for (path, text) in &new_files {
        diff_text.push_str(&diff::unified(path, &files[path], text));
    }
    Ok((
        Edits {
            files: new_files,
            changes,
        },
        diff_text,
    ))
}

/// Runs a promotion.
pub fn promote(args: &PromoteArgs) -> Result<Promoted, PromoteError> {
    let overlays = args
        .overlays
        .clone()
        .unwrap_or_else(|| format!("apps/{}/overlays", args.app))
        .trim_matches('/')
        .to_owned();
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
    let credentials = Credentials::load(&CredentialFiles {
        username: args.username_file.clone(),
        password: args.password_file.clone(),
        ..CredentialFiles::default()
    })
    .map_err(|e| PromoteError::Usage(format!("credentials: {e}")))?;
    let head = args
        .head
        .clone()
        .unwrap_or_else(|| format!("promote/{}-{}", args.app, args.to));
    let cache =
        tempfile::tempdir().map_err(|e| PromoteError::Usage(format!("a temporary folder: {e}")))?;
    let target = WriteTarget {
        url: RedactedUrl::new(args.url.clone()),
        branch: args.branch.clone(),
        push_branch: head.clone(),
        cache: cache.path().join("repo.git"),
        credentials,
        author_name: args.author_name.clone(),
        author_email: args.author_email.clone(),
        signing_key: None,
        max_retries: 0,
    };
    let from = format!("{overlays}/{}", args.from);
    let to = format!("{overlays}/{}", args.to);
    let mut diff_text = String::new();
    let mut changes = Vec::new();
    let mut failure = None;
    let dry_run = args.dry_run;
    let mut edit = |files: &Files| match promote_files(files, &from, &to, &args.files, &args.branch)
    {
        Ok((edits, diff)) => {
            diff_text = diff;
            changes = edits.changes.clone();
            if dry_run {
                return Ok(Edits {
                    files: BTreeMap::new(),
                    changes: Vec::new(),
                });
            }
            Ok(edits)
        }
        Err(PromoteError::Push(e)) => Err(e),
        Err(other) => {
            failure = Some(other);
            Ok(Edits {
                files: BTreeMap::new(),
                changes: Vec::new(),
            })
        }
    };
    let title = format!("Promote {} to {} (from {})", args.app, args.to, args.from);
    let message = |changes: &[Change]| {
        let list = changes
            .iter()
            .map(|c| {
                format!(
                    "- {}:{}: {} -> {}",
                    c.file,
                    c.line,
                    if c.old.is_empty() { "(none)" } else { &c.old },
                    c.new
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        format!("{title}\n\n{list}\n")
    };
    let pushed = target.update(std::slice::from_ref(&overlays), &mut edit, &message)?;
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
    let forge = forge(args)?;
    let review = match forge {
        None => None,
        Some(forge) => Some(
            review::open(
                &forge,
                &review::Review {
                    head: &head,
                    base: &args.branch,
                    title: &title,
                    body: &message(&pushed.changes),
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
                    let head = args
                        .head
                        .clone()
                        .unwrap_or_else(|| format!("promote/{}-{}", args.app, args.to));
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
