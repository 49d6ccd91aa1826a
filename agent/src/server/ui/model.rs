//! The UI's typed view models, built from the daemon's app status ([`AppStatus`]): the
//! overview's rows, counts and filter, and the environments' rows. The pages and their JSON
//! twins render these same values. Nothing here holds a secret value: the status carries
//! none (change sets are redacted by the engine, errors carry no value).

use crate::daemon::state::AppStatus;
use crate::daemon::time::{format_rfc3339, parse_rfc3339};
use crate::sync::Action;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

pub use super::envs::*;

/// One app as the overview shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AppRow {
    /// The app.
    pub name: String,
    /// Its source.
    pub source: String,
    /// Its directory in the source.
    pub path: String,
    /// Its target namespace.
    pub namespace: String,
    /// The revision (full commit id).
    pub revision: String,
    /// The first 7 characters of the revision.
    pub revision_short: String,
    /// The commit's subject.
    pub subject: String,
    /// The commit's author.
    pub author: String,
    /// The commit's time (RFC 3339; empty when unknown).
    pub commit_time: String,
    /// `Pending`, `Succeeded`, `Failed`, `Denied`.
    pub sync: String,
    /// `Succeeded` or the failure's reason.
    pub reason: String,
    /// `Healthy`, `Progressing`, `Degraded`, `Unknown`.
    pub health: String,
    /// Live vs Git at the last comparison (app page, refresh): `Synced`, `OutOfSync`; empty
    /// when not compared since the last sync.
    pub compare: String,
    /// The revision last compared (empty when none).
    pub compared_revision: String,
    /// Drift corrections since the agent started.
    pub drift: u64,
    /// Objects that left Git and were kept.
    pub orphans: usize,
    /// When the last sync ended (RFC 3339).
    pub last_sync: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: Option<u64>,
    /// What started it: `start`, `poll`, `webhook`, `drift`, `ui`.
    pub trigger: String,
    /// The first error, on one line (empty when none).
    pub error: String,
    /// Whether syncs are suspended.
    pub suspended: bool,
}

impl AppRow {
    /// The row of one app's status.
    #[must_use]
    pub fn of(status: &AppStatus) -> Self {
        let error = status
            .errors
            .first()
            .map(|e| one_line(e, 240))
            .unwrap_or_default();
        let commit_time = u64::try_from(status.commit.time)
            .ok()
            .filter(|t| *t > 0)
            .map(|t| format_rfc3339(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(t)))
            .unwrap_or_default();
        Self {
            name: status.name.clone(),
            source: status.source.clone(),
            path: status.path.clone(),
            namespace: status.namespace.clone(),
            revision: status.revision.clone(),
            revision_short: status.revision.chars().take(7).collect(),
            subject: status.commit.subject.clone(),
            author: status.commit.author.clone(),
            commit_time,
            sync: status.sync.clone(),
            reason: status.reason.clone(),
            health: status.health.clone(),
            compare: status
                .compared
                .as_ref()
                .map_or("", |c| c.state(status.last_sync.as_deref()))
                .to_owned(),
            compared_revision: status
                .compared
                .as_ref()
                .map(|c| c.revision.clone())
                .unwrap_or_default(),
            drift: status.drift_corrections,
            orphans: status
                .changes
                .iter()
                .filter(|c| c.action == Action::Orphaned)
                .count(),
            last_sync: status.last_sync.clone(),
            duration_ms: status.duration_ms,
            trigger: status.trigger.clone(),
            error,
            suspended: status.suspended,
        }
    }

    /// How urgent the row is: 0 (failed or denied), 1 (degraded), 2 (in progress, pending,
    /// suspended, out of sync), 3 (fine).
    #[must_use]
    pub fn urgency(&self) -> u8 {
        Facts::of_row(self).urgency()
    }

    /// Whether the row is in `state` (a sync state, a health, `Suspended` or `OutOfSync`).
    #[must_use]
    pub fn in_state(&self, state: &str) -> bool {
        Facts::of_row(self).in_state(state)
    }
}

/// What sorting and filtering read of an app, borrowed (from its status or its row), so the
/// overview builds rows only for the page it shows.
struct Facts<'a> {
    name: &'a str,
    path: &'a str,
    namespace: &'a str,
    source: &'a str,
    revision: &'a str,
    subject: &'a str,
    error: &'a str,
    sync: &'a str,
    health: &'a str,
    compare: &'a str,
    suspended: bool,
}

impl<'a> Facts<'a> {
    fn of_row(row: &'a AppRow) -> Self {
        Self {
            name: &row.name,
            path: &row.path,
            namespace: &row.namespace,
            source: &row.source,
            revision: &row.revision,
            subject: &row.subject,
            error: &row.error,
            sync: &row.sync,
            health: &row.health,
            compare: &row.compare,
            suspended: row.suspended,
        }
    }

    fn of_status(status: &'a AppStatus) -> Self {
        Self {
            name: &status.name,
            path: &status.path,
            namespace: &status.namespace,
            source: &status.source,
            revision: &status.revision,
            subject: &status.commit.subject,
            error: status.errors.first().map_or("", String::as_str),
            sync: &status.sync,
            health: &status.health,
            compare: status
                .compared
                .as_ref()
                .map_or("", |c| c.state(status.last_sync.as_deref())),
            suspended: status.suspended,
        }
    }

    fn urgency(&self) -> u8 {
        match (self.sync, self.health) {
            ("Failed" | "Denied", _) => 0,
            (_, "Degraded") => 1,
            _ if !self.error.is_empty() => 1,
            ("Pending", _) | (_, "Progressing" | "Unknown") => 2,
            _ if self.suspended || self.compare == "OutOfSync" => 2,
            _ => 3,
        }
    }

    fn in_state(&self, state: &str) -> bool {
        self.sync.eq_ignore_ascii_case(state)
            || self.health.eq_ignore_ascii_case(state)
            || (self.suspended && state.eq_ignore_ascii_case("Suspended"))
            || (!self.compare.is_empty() && self.compare.eq_ignore_ascii_case(state))
    }
}

/// `text` on one line, at most `max` characters.
#[must_use]
pub fn one_line(text: &str, max: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// The overview's filter, from the query string (`?state=Failed&namespace=shop&q=text`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// A sync state, a health, or `Suspended`.
    #[serde(default)]
    pub state: String,
    /// A target namespace.
    #[serde(default)]
    pub namespace: String,
    /// A source.
    #[serde(default)]
    pub source: String,
    /// Text found in the name, path, revision, subject or error.
    #[serde(default)]
    pub q: String,
    /// The page of the rows (1 when absent), [`PAGE_SIZE`] rows each.
    #[serde(default)]
    pub page: usize,
}

/// Rows per page of the overview.
pub const PAGE_SIZE: usize = 100;

impl Filter {
    /// Whether `row` passes.
    #[must_use]
    pub fn admits(&self, row: &AppRow) -> bool {
        self.admits_facts(&Facts::of_row(row))
    }

    fn admits_facts(&self, f: &Facts<'_>) -> bool {
        let q = self.q.trim().to_lowercase();
        (self.state.is_empty() || f.in_state(&self.state))
            && (self.namespace.is_empty() || f.namespace == self.namespace)
            && (self.source.is_empty() || f.source == self.source)
            && (q.is_empty()
                || [f.name, f.path, f.revision, f.subject, f.error]
                    .iter()
                    .any(|t| t.to_lowercase().contains(&q)))
    }

    /// The filter as a query string (empty when nothing is filtered).
    #[must_use]
    pub fn query(&self) -> String {
        let pairs = [
            ("state", &self.state),
            ("namespace", &self.namespace),
            ("source", &self.source),
            ("q", &self.q),
        ];
        let mut parts: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect();
        if self.page > 1 {
            parts.push(format!("page={}", self.page));
        }
        parts.join("&")
    }

    /// This filter on another page.
    #[must_use]
    pub fn on_page(&self, page: usize) -> Self {
        Self {
            page,
            ..self.clone()
        }
    }
}

/// Percent-encodes `text` for a query string.
#[must_use]
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The overview: counts over every app the user may see, then the rows the filter admits,
/// problems first.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    /// Apps the user may see.
    pub total: usize,
    /// Apps per sync state, health and `Suspended`.
    pub counts: BTreeMap<String, usize>,
    /// The filter in force.
    pub filter: Filter,
    /// The namespaces of the visible apps (for the filter's choices).
    pub namespaces: Vec<String>,
    /// The sources of the visible apps.
    pub sources: Vec<String>,
    /// How many apps the filter admits.
    pub matched: usize,
    /// The page shown (from 1).
    pub page: usize,
    /// How many pages there are.
    pub pages: usize,
    /// The rows of the page, problems first, then by name.
    pub apps: Vec<AppRow>,
}

/// Builds the overview of `apps` (already limited to what the user may see).
#[must_use]
pub fn overview(apps: &[AppStatus], filter: &Filter) -> Overview {
    overview_of(&mut apps.iter(), filter)
}

/// Builds the overview of `apps`: counts, choices and filtering read the statuses where they
/// are; rows are made only for the page shown.
#[must_use]
pub fn overview_of(apps: &mut dyn Iterator<Item = &AppStatus>, filter: &Filter) -> Overview {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut namespaces = BTreeSet::new();
    let mut sources = BTreeSet::new();
    let mut total = 0;
    let mut admitted: Vec<(u8, &AppStatus)> = Vec::new();
    for status in apps {
        let f = Facts::of_status(status);
        total += 1;
        count(&mut counts, f.sync);
        if f.health != f.sync {
            count(&mut counts, f.health);
        }
        if f.suspended {
            count(&mut counts, "Suspended");
        }
        if f.compare == "OutOfSync" {
            count(&mut counts, "OutOfSync");
        }
        namespaces.insert(f.namespace);
        sources.insert(f.source);
        if filter.admits_facts(&f) {
            admitted.push((f.urgency(), status));
        }
    }
    admitted.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    let matched = admitted.len();
    let pages = matched.div_ceil(PAGE_SIZE).max(1);
    let page = filter.page.clamp(1, pages);
    let apps: Vec<AppRow> = admitted
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|(_, status)| AppRow::of(status))
        .collect();
    Overview {
        total,
        counts,
        matched,
        page,
        pages,
        filter: filter.on_page(page),
        namespaces: namespaces
            .into_iter()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect(),
        sources: sources
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        apps,
    }
}

fn count(counts: &mut BTreeMap<String, usize>, state: &str) {
    match counts.get_mut(state) {
        Some(n) => *n += 1,
        None => {
            counts.insert(state.to_owned(), 1);
        }
    }
}

/// How long ago `rfc3339` was, for people (`5s`, `3m`, `2h`, `4d`; empty when unknown).
#[must_use]
pub fn ago(rfc3339: &str, now: SystemTime) -> String {
    let Some(then) = parse_rfc3339(rfc3339) else {
        return String::new();
    };
    let secs = now.duration_since(then).map_or(0, |d| d.as_secs());
    match secs {
        0..120 => format!("{secs}s ago"),
        120..7200 => format!("{}m ago", secs / 60),
        7200..172_800 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86400),
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
