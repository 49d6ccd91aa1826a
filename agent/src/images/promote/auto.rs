//! Automatic promotion policies (`images.promotions`): the daemon watches the app of the
//! `from` overlay; once it has been synced and Healthy at one revision for `healthyFor`, the
//! `to` overlay gets the images (and named files) the `from` overlay has *at that revision*
//! (not at the branch's newer tip, which has not proven itself), committed with a message
//! naming the environments, the revision and each change. By default the commit goes to a
//! review branch (the human gate); `direct: true` writes the branch itself. A revision is
//! promoted once; a new revision (or health lost) starts the clock again.

use super::{PromoteError, promote_files};
use crate::config::{Config, SourceSpec};
use crate::images::config::PromotionConfig;
use crate::images::push::{Edits, Files, Pushed, WriteTarget};
use crate::images::update::Change;
use crate::source::credentials::{CredentialFiles, Credentials};
use crate::source::redact::RedactedUrl;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// The default interval between checks of a promotion's gate.
pub const DEFAULT_PROMOTION_INTERVAL: Duration = Duration::from_secs(30);

/// What the gate needs to know of an app.
#[derive(Debug, Clone, Default)]
pub struct AppView {
    /// The app.
    pub name: String,
    /// Its source.
    pub source: String,
    /// Its folder.
    pub path: String,
    /// The revision last synced.
    pub revision: String,
    /// Whether its last sync succeeded and it is Healthy.
    pub healthy: bool,
}

/// Lists the apps (the daemon's status).
pub type AppsView = std::sync::Arc<dyn Fn() -> Vec<AppView> + Send + Sync>;

/// The daemon's apps as the gates see them.
#[must_use]
pub fn apps_view(state: std::sync::Arc<crate::daemon::state::Shared>) -> AppsView {
    std::sync::Arc::new(move || {
        state
            .apps()
            .into_iter()
            .map(|a| AppView {
                healthy: a.sync == "Succeeded" && a.health == "Healthy",
                name: a.name,
                source: a.source,
                path: a.path,
                revision: a.revision,
            })
            .collect()
    })
}

/// One promotion's state, as `/api/v1/images` shows it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionStatus {
    /// The promotion.
    pub name: String,
    /// The app of the `from` overlay (empty: none found yet).
    pub from_app: String,
    /// `Waiting` (not Healthy, or no app), `Healthy` (the clock runs), `Promoted`, `Failed`.
    pub state: String,
    /// The revision the `from` app is Healthy at.
    pub revision: String,
    /// How long it has been Healthy at it, in seconds.
    pub healthy_seconds: u64,
    /// The last revision promoted, and the commit that did it.
    pub promoted_revision: Option<String>,
    /// The commit.
    pub last_commit: Option<String>,
    /// The branch written.
    pub push_branch: String,
    /// The pull or merge request opened for it.
    pub review: Option<String>,
    /// Why the last attempt failed.
    pub error: Option<crate::images::status::Problem>,
}

/// The memory of one promotion between rounds.
#[derive(Debug, Default)]
pub struct Gate {
    since: Option<(String, Instant)>,
    next: Option<Instant>,
    /// The status shown.
    pub status: PromotionStatus,
}

fn overlay_dir(p: &PromotionConfig, env: &str) -> String {
    let base = p
        .overlays
        .clone()
        .unwrap_or_else(|| format!("apps/{}/overlays", p.app));
    format!("{}/{env}", base.trim_matches('/'))
}

impl Gate {
    /// When the gate wants to be looked at again.
    #[must_use]
    pub fn next(&self) -> Option<Instant> {
        self.next
    }

    /// Looks at the `from` app; returns the revision to promote when the gate opens.
    pub fn observe(
        &mut self,
        p: &PromotionConfig,
        apps: &[AppView],
        now: Instant,
    ) -> Option<String> {
        let interval = p.interval.map_or(DEFAULT_PROMOTION_INTERVAL, |i| i.0);
        self.next = Some(now + interval);
        self.status.name.clone_from(&p.name);
        let dir = overlay_dir(p, &p.from);
        let app = apps
            .iter()
            .find(|a| a.source == p.source && a.path.trim_matches('/') == dir);
        let Some(app) = app.filter(|a| a.healthy && !a.revision.is_empty()) else {
            self.since = None;
            self.status.from_app = app.map(|a| a.name.clone()).unwrap_or_default();
            self.status.state = "Waiting".into();
            self.status.revision.clear();
            self.status.healthy_seconds = 0;
            return None;
        };
        self.status.from_app.clone_from(&app.name);
        if self.since.as_ref().is_none_or(|(r, _)| *r != app.revision) {
            self.since = Some((app.revision.clone(), now));
        }
        let started = self.since.as_ref().map_or(now, |(_, t)| *t);
        let healthy = now.saturating_duration_since(started);
        self.status.revision.clone_from(&app.revision);
        self.status.healthy_seconds = healthy.as_secs();
        if self.status.promoted_revision.as_deref() == Some(app.revision.as_str()) {
            self.status.state = "Promoted".into();
            return None;
        }
        self.status.state = "Healthy".into();
        if healthy < p.healthy_for.0 {
            self.next = Some((started + p.healthy_for.0).min(now + interval));
            return None;
        }
        Some(app.revision.clone())
    }

    /// Records the result of a promotion of `revision`.
    pub fn record(&mut self, revision: &str, result: &Result<Option<Promoted>, PromoteError>) {
        match result {
            Ok(pushed) => {
                self.status.state = "Promoted".into();
                self.status.promoted_revision = Some(revision.to_owned());
                if let Some(p) = pushed {
                    self.status.last_commit = Some(p.pushed.commit.clone());
                    self.status.review.clone_from(&p.review);
                }
                self.status.error = None;
            }
            Err(err) => {
                self.status.state = "Failed".into();
                self.status.error = Some(crate::images::status::Problem {
                    reason: match err {
                        PromoteError::Push(e) => e.reason().to_owned(),
                        PromoteError::OverlayMissing { .. } => "OverlayMissing".to_owned(),
                        _ => "PromotionFailed".to_owned(),
                    },
                    message: crate::text::clip_message(&err.to_string()).into_owned(),
                });
            }
        }
    }
}

/// Where a promotion writes.
pub fn write_target(config: &Config, p: &PromotionConfig) -> Result<WriteTarget, PromoteError> {
    let source: &SourceSpec = config
        .sources
        .iter()
        .find(|s| s.name == p.source)
        .ok_or_else(|| {
            PromoteError::Usage(format!("promotion {}: no source {}", p.name, p.source))
        })?;
    let branch = source.reference.clone();
    let c = &p.credentials;
    let credentials = Credentials::load(&CredentialFiles {
        username: c.username.clone(),
        password: c.password.clone(),
        bearer_token: c.bearer_token.clone(),
        ca_bundle: c.ca_bundle.clone(),
        ssh_private_key: c.ssh_private_key.clone(),
        ssh_known_hosts: c.ssh_known_hosts.clone(),
    })
    .map_err(|e| PromoteError::Usage(format!("promotion {}: credentials: {e}", p.name)))?;
    let push_branch = if p.direct {
        branch.clone()
    } else {
        p.push_branch
            .clone()
            .unwrap_or_else(|| format!("promote/{}-{}", p.app, p.to))
    };
    Ok(WriteTarget {
        url: RedactedUrl::new(source.url.clone()),
        branch,
        push_branch,
        cache: config
            .cache_dir
            .join("images")
            .join(format!("promote-{}.git", p.name)),
        credentials,
        author_name: p.author.name.clone(),
        author_email: p.author.email.clone(),
        signer: None,
        max_retries: 3,
    })
}

/// The commit message: what was promoted, from where, at which revision, and each change.
#[must_use]
pub fn message(p: &PromotionConfig, revision: &str, changes: &[Change]) -> String {
    let short = revision.get(..12).unwrap_or(revision);
    let list = changes
        .iter()
        .map(|c| {
            let old = if c.old.is_empty() { "(none)" } else { &c.old };
            format!("- {}:{}: {old} -> {}", c.file, c.line, c.new)
        })
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "Promote {app} to {to} (from {from} at {short})\n\n{from} has been Healthy at {revision} for {healthy}s; promoted:\n{list}\n\nPromoted-From: {from}@{revision}\n",
        app = p.app,
        to = p.to,
        from = p.from,
        healthy = p.healthy_for.0.as_secs(),
    )
}

/// A pushed promotion.
pub struct Promoted {
    /// The commit.
    pub pushed: Pushed,
    /// The review's address, when one was opened.
    pub review: Option<String>,
}

/// Opens the review of a pushed promotion, when configured.
fn open_review(
    target: &WriteTarget,
    p: &PromotionConfig,
    pushed: &Pushed,
) -> Result<Option<String>, PromoteError> {
    let Some(r) = &p.review else {
        return Ok(None);
    };
    let token = std::fs::read_to_string(&r.token_file).map_err(|e| {
        PromoteError::Usage(format!(
            "review.tokenFile {}: {}",
            r.token_file.display(),
            e.kind()
        ))
    })?;
    let token = crate::source::credentials::SecretText::new(token.trim().to_owned());
    let forge = match (&r.github, &r.gitlab) {
        (Some(repository), _) => super::review::Forge::GitHub {
            api: r
                .api
                .clone()
                .unwrap_or_else(|| "https://api.github.com".into()),
            repository: repository.clone(),
            token,
        },
        (None, Some(project)) => super::review::Forge::GitLab {
            api: r
                .api
                .clone()
                .unwrap_or_else(|| "https://gitlab.com/api/v4".into()),
            project: project.clone(),
            token,
        },
        (None, None) => return Ok(None),
    };
    let title = pushed.message.lines().next().unwrap_or_default().to_owned();
    super::review::open(
        &forge,
        &super::review::Review {
            head: &target.push_branch,
            base: &target.branch,
            title: &title,
            body: &pushed.message,
        },
    )
    .map(Some)
    .map_err(|source| PromoteError::Review {
        head: target.push_branch.clone(),
        source,
    })
}

/// Promotes the `from` overlay as of `revision` onto the `to` overlay at the branch's tip,
/// and opens its review when configured. `Ok(None)`: `to` already runs it.
pub fn run(
    target: &WriteTarget,
    p: &PromotionConfig,
    revision: &str,
) -> Result<Option<Promoted>, PromoteError> {
    let Some(pushed) = push(target, p, revision)? else {
        return Ok(None);
    };
    let review = open_review(target, p, &pushed)?;
    Ok(Some(Promoted { pushed, review }))
}

fn push(
    target: &WriteTarget,
    p: &PromotionConfig,
    revision: &str,
) -> Result<Option<Pushed>, PromoteError> {
    let from = overlay_dir(p, &p.from);
    let to = overlay_dir(p, &p.to);
    let mut failure = None;
    let mut edit = |tip: &Files| {
        let mut files: Files = tip
            .iter()
            .filter(|(path, _)| !path.starts_with(&format!("{from}/")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        files.extend(target.files_at(revision, std::slice::from_ref(&from))?);
        match promote_files(&files, &from, &to, &p.files, &target.branch) {
            Ok((edits, _diff)) => Ok(Edits {
                // Only the target overlay is written: the source's files are as of `revision`.
                files: edits
                    .files
                    .into_iter()
                    .filter(|(path, _)| path.starts_with(&format!("{to}/")))
                    .collect::<BTreeMap<_, _>>(),
                changes: edits.changes,
            }),
            Err(PromoteError::Push(e)) => Err(e),
            Err(other) => {
                failure = Some(other);
                Ok(Edits {
                    files: BTreeMap::new(),
                    changes: Vec::new(),
                })
            }
        }
    };
    let base = overlay_dir(p, "");
    let pushed = target.update(
        &[base.trim_end_matches('/').to_owned()],
        &mut edit,
        &|changes: &[Change], _: &Files| Ok(message(p, revision, changes)),
    )?;
    if let Some(err) = failure {
        return Err(err);
    }
    Ok(pushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promotion() -> PromotionConfig {
        serde_json::from_value(serde_json::json!({
            "name": "shop-prod", "source": "config", "app": "shop",
            "from": "staging", "to": "production", "healthyFor": "10s", "interval": "1s"
        }))
        .expect("a promotion")
    }

    fn staging(revision: &str, healthy: bool) -> Vec<AppView> {
        vec![AppView {
            name: "shop-staging".into(),
            source: "config".into(),
            path: "apps/shop/overlays/staging".into(),
            revision: revision.into(),
            healthy,
        }]
    }

    #[test]
    fn the_gate_opens_only_after_healthy_for_at_one_revision() {
        let p = promotion();
        let mut gate = Gate::default();
        let t0 = Instant::now();
        assert_eq!(gate.observe(&p, &staging("aaa", false), t0), None);
        assert_eq!(gate.status.state, "Waiting");
        assert_eq!(gate.observe(&p, &staging("aaa", true), t0), None);
        assert_eq!(gate.status.state, "Healthy");
        let t5 = t0 + Duration::from_secs(5);
        assert_eq!(gate.observe(&p, &staging("aaa", true), t5), None);
        // A new revision starts the clock again.
        assert_eq!(gate.observe(&p, &staging("bbb", true), t5), None);
        let t12 = t0 + Duration::from_secs(12);
        assert_eq!(
            gate.observe(&p, &staging("bbb", true), t12),
            None,
            "only 7s at bbb"
        );
        // Health lost resets too.
        assert_eq!(gate.observe(&p, &staging("bbb", false), t12), None);
        let t13 = t0 + Duration::from_secs(13);
        assert_eq!(gate.observe(&p, &staging("bbb", true), t13), None);
        let t23 = t0 + Duration::from_secs(23);
        assert_eq!(
            gate.observe(&p, &staging("bbb", true), t23),
            Some("bbb".into())
        );
        gate.record("bbb", &Ok(None));
        assert_eq!(
            gate.observe(&p, &staging("bbb", true), t23 + Duration::from_secs(60)),
            None,
            "promoted once"
        );
        assert_eq!(gate.status.state, "Promoted");
    }

    #[test]
    fn the_message_names_what_was_promoted() {
        let changes = vec![Change {
            file: "apps/shop/overlays/production/kustomization.yaml".into(),
            line: 5,
            policy: "kustomize".into(),
            old: "web:1.0.0".into(),
            new: "web:1.1.0".into(),
        }];
        let text = message(&promotion(), "0123456789abcdef0123", &changes);
        assert!(
            text.starts_with("Promote shop to production (from staging at 0123456789ab)\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "- apps/shop/overlays/production/kustomization.yaml:5: web:1.0.0 -> web:1.1.0"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("Promoted-From: staging@0123456789abcdef0123\n"),
            "{text}"
        );
    }
}
