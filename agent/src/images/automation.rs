//! One automation run: the files of the branch updated to the policies' choices (setter
//! markers everywhere under the paths, Kustomize `images:` entries named by the config), the
//! commit message, and the [`WriteTarget`] an automation writes through.

use super::config::AutomationConfig;
use super::push::{Edits, Files, PushError, WriteTarget};
use super::update::{Change, Chosen, apply_setters, kustomize};
use crate::config::{Config, SourceSpec};
use crate::source::credentials::{CredentialFiles, Credentials};
use crate::source::redact::RedactedUrl;
use std::collections::BTreeMap;

/// Applies `chosen` to every file (markers) and the kustomizations (`kustomize_images`, each
/// `(entry name, policy)`).
pub fn edit(
    files: &Files,
    chosen: &BTreeMap<String, Chosen>,
    kustomize_images: &[(String, String)],
) -> Result<Edits, PushError> {
    let mut edits = Edits {
        files: BTreeMap::new(),
        changes: Vec::new(),
    };
    let targets: Vec<kustomize::Target<'_>> = kustomize_images
        .iter()
        .filter_map(|(name, policy)| {
            chosen
                .get(policy)
                .map(|c| kustomize::Target::from_chosen(name, policy, c))
        })
        .collect();
    for (path, text) in files {
        let (mut new, mut changes) = apply_setters(path, text, chosen)?;
        if kustomize::is_kustomization(path) {
            let (k_new, k_changes) = kustomize::apply(path, &new, &targets)?;
            new = k_new;
            changes.extend(k_changes);
        }
        if !changes.is_empty() {
            edits.files.insert(path.clone(), new);
            edits.changes.extend(changes);
        }
    }
    Ok(edits)
}

/// The commit message of the automation `(namespace, name)`: a Go template (as Flux's,
/// see [`super::message`]) rendered with Flux's data, or Tether's own template with
/// `{{automation}}` and `{{changes}}` replaced; by default a subject and one line per change.
pub fn message(
    template: Option<&str>,
    automation: (&str, &str),
    changes: &[Change],
    files: &Files,
) -> Result<String, String> {
    if let Some(go) = template.filter(|t| super::message::is_go_template(t)) {
        return super::message::render(go, automation, changes, files);
    }
    Ok(own_message(template, automation.1, changes))
}

fn own_message(template: Option<&str>, automation: &str, changes: &[Change]) -> String {
    let list = changes
        .iter()
        .map(|c| {
            format!(
                "- {}:{} {}: {} -> {}",
                c.file,
                c.line,
                c.policy,
                display(&c.old),
                c.new
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let template = template.unwrap_or("images: update {{automation}}\n\n{{changes}}\n");
    template
        .replace("{{automation}}", automation)
        .replace("{{changes}}", &list)
}

/// The note of a pushed commit's Event: the commit, the branch and each change.
#[must_use]
pub fn pushed_note(commit: &str, branch: &str, changes: &[Change]) -> String {
    let list = changes
        .iter()
        .map(|c| format!("{}:{} {} -> {}", c.file, c.line, display(&c.old), c.new))
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "pushed commit {commit} to branch {branch} ({} change(s)): {list}",
        changes.len()
    )
}

fn display(old: &str) -> &str {
    if old.is_empty() { "(none)" } else { old }
}

/// Why an automation cannot write.
#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    /// It names no configured source.
    #[error("automation {automation}: no source {source_name}")]
    SourceMissing {
        /// The automation.
        automation: String,
        /// The source named.
        source_name: String,
    },
    /// The branch is not known (the source follows a tag or commit and none is set).
    #[error(
        "automation {automation}: set `branch`: source {source_name} follows {reference:?}, not a branch"
    )]
    BranchMissing {
        /// The automation.
        automation: String,
        /// The source.
        source_name: String,
        /// Its reference.
        reference: String,
    },
    /// The write credentials could not be read.
    #[error("automation {automation}: credentials: {message}")]
    CredentialsInvalid {
        /// The automation.
        automation: String,
        /// The cause.
        message: String,
    },
}

/// The target an automation writes through.
pub fn write_target(
    config: &Config,
    automation: &AutomationConfig,
) -> Result<WriteTarget, AutomationError> {
    let source: &SourceSpec = config
        .sources
        .iter()
        .find(|s| s.name == automation.source)
        .ok_or_else(|| AutomationError::SourceMissing {
            automation: automation.name.clone(),
            source_name: automation.source.clone(),
        })?;
    let reference = source.reference.as_str();
    let branch = match &automation.branch {
        Some(b) => b.clone(),
        None if !reference.contains(':') => reference.to_owned(),
        None => {
            return Err(AutomationError::BranchMissing {
                automation: automation.name.clone(),
                source_name: source.name.clone(),
                reference: reference.to_owned(),
            });
        }
    };
    let c = &automation.credentials;
    let credentials = Credentials::load(&CredentialFiles {
        username: c.username.clone(),
        password: c.password.clone(),
        bearer_token: c.bearer_token.clone(),
        ca_bundle: c.ca_bundle.clone(),
        ssh_private_key: c.ssh_private_key.clone(),
        ssh_known_hosts: c.ssh_known_hosts.clone(),
    })
    .map_err(|e| AutomationError::CredentialsInvalid {
        automation: automation.name.clone(),
        message: e.to_string(),
    })?;
    Ok(WriteTarget {
        url: RedactedUrl::new(automation.url.clone().unwrap_or_else(|| source.url.clone())),
        push_branch: automation
            .push_branch
            .clone()
            .unwrap_or_else(|| branch.clone()),
        branch,
        cache: config
            .cache_dir
            .join("images")
            .join(format!("{}.git", automation.name)),
        credentials,
        author_name: automation.author.name.clone(),
        author_email: automation.author.email.clone(),
        signer: automation.signing_key.clone().map(super::push::Signer::Ssh),
        max_retries: automation.max_retries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_message_lists_each_change() {
        let changes = vec![Change {
            file: "apps/a.yaml".into(),
            line: 3,
            policy: "ns:app".into(),
            old: "x:1".into(),
            new: "x:2".into(),
        }];
        let files = Files::new();
        assert_eq!(
            message(None, ("ns", "config"), &changes, &files).unwrap(),
            "images: update config\n\n- apps/a.yaml:3 ns:app: x:1 -> x:2\n"
        );
        assert_eq!(
            message(
                Some("bump {{automation}} [ci skip]"),
                ("ns", "c"),
                &changes,
                &files
            )
            .unwrap(),
            "bump c [ci skip]"
        );
        assert_eq!(
            message(
                Some("bump {{ .AutomationObject }}"),
                ("ns", "c"),
                &changes,
                &files
            )
            .unwrap(),
            "bump ns/c"
        );
    }
}
