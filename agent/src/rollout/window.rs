//! Sync windows (change freezes), as Argo CD's `syncWindows`: `allow` and `deny` windows that
//! open on a cron schedule for a duration, in a time zone, for the apps they select.
//!
//! - An active `deny` window: new revisions wait (status says until when); drift correction
//!   follows the window's `selfHeal`; a sync by hand (the web UI's Sync) and a rollback by
//!   hand go ahead when `manualSync: true`.
//! - `allow` windows: when any selects an app, the app syncs only while one is active.
//! - Deny wins over allow.
//!
//! ```yaml
//! syncWindows:
//!   - kind: deny
//!     schedule: "0 22 * * 5"     # Fridays 22:00
//!     duration: 60h
//!     timeZone: Europe/Berlin    # default UTC
//!     apps: ["*-production"]     # globs on app names (default: every app)
//!     namespaces: []             # globs on target namespaces
//!     selfHeal: false            # correct drift during the window (default true)
//!     manualSync: true           # syncs and rollbacks by hand go ahead (default false)
//! ```

use crate::config::Interval;
use chrono::{DateTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};
use std::str::FromStr as _;

fn yes() -> bool {
    true
}

/// Whether a window allows or denies syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WindowKind {
    /// Syncs only while open.
    Allow,
    /// No syncs while open.
    Deny,
}

/// One `syncWindows` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WindowConfig {
    /// `allow` or `deny`.
    pub kind: WindowKind,
    /// When it opens: a cron schedule (5 fields, or 6 with seconds).
    pub schedule: String,
    /// How long it stays open.
    pub duration: Interval,
    /// The schedule's time zone (IANA name, default UTC).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Globs on app names (empty: every app, unless `namespaces` selects).
    #[serde(default)]
    pub apps: Vec<String>,
    /// Globs on target namespaces.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Correct drift while the window is open (deny windows).
    #[serde(default = "yes")]
    pub self_heal: bool,
    /// Let rollbacks by hand through while the window is open (deny windows).
    #[serde(default)]
    pub manual_sync: bool,
}

/// Errors of a window's settings.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// The schedule does not parse.
    #[error("syncWindows[{index}].schedule {schedule:?}: {message}")]
    BadSchedule {
        /// The window.
        index: usize,
        /// The schedule (clipped).
        schedule: String,
        /// Why.
        message: String,
    },
    /// The time zone is unknown.
    #[error("syncWindows[{index}].timeZone {zone:?}: not an IANA time zone")]
    BadTimeZone {
        /// The window.
        index: usize,
        /// The zone (clipped).
        zone: String,
    },
    /// A glob does not parse.
    #[error("syncWindows[{index}].{field}: {message}")]
    BadGlob {
        /// The window.
        index: usize,
        /// `apps` or `namespaces`.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The duration is zero or longer than a year.
    #[error("syncWindows[{index}].duration: must be between 1m and 366 days")]
    BadDuration {
        /// The window.
        index: usize,
    },
}

struct Window {
    config: WindowConfig,
    cron: croner::Cron,
    zone: chrono_tz::Tz,
    apps: globset::GlobSet,
    namespaces: globset::GlobSet,
}

/// The windows of the configuration, parsed.
#[derive(Default)]
pub struct Windows {
    windows: Vec<Window>,
}

impl std::fmt::Debug for Windows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Windows")
            .field("count", &self.windows.len())
            .finish()
    }
}

/// One window in force for an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Active {
    /// `allow` or `deny`.
    pub kind: WindowKind,
    /// The schedule.
    pub schedule: String,
    /// When it closes (RFC 3339, UTC).
    pub until: String,
    /// Whether syncs and rollbacks by hand go ahead in it.
    pub manual_sync: bool,
}

/// What the windows say about an app now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// New revisions may be applied.
    pub sync: bool,
    /// Drift may be corrected.
    pub self_heal: bool,
    /// Syncs and rollbacks by hand may go ahead.
    pub manual: bool,
    /// The windows in force (active ones that select the app).
    pub active: Vec<Active>,
    /// Why syncs wait, with until when.
    pub waiting: Option<String>,
}

/// The windows in force, for a table: `deny 0 22 * * 5 until 2026-12-14T09:00:00Z; ...`.
#[must_use]
pub fn describe(active: &[Active]) -> String {
    active
        .iter()
        .map(|a| {
            let kind = match a.kind {
                WindowKind::Allow => "allow",
                WindowKind::Deny => "deny",
            };
            format!("{kind} {} until {}", a.schedule, a.until)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn globs(
    index: usize,
    field: &'static str,
    list: &[String],
) -> Result<globset::GlobSet, WindowError> {
    let mut builder = globset::GlobSetBuilder::new();
    for g in list {
        let glob = globset::Glob::new(g).map_err(|e| WindowError::BadGlob {
            index,
            field,
            message: e.to_string(),
        })?;
        builder.add(glob);
    }
    builder.build().map_err(|e| WindowError::BadGlob {
        index,
        field,
        message: e.to_string(),
    })
}

fn clip(text: &str) -> String {
    crate::text::clip_message(text).into_owned()
}

impl Windows {
    /// Parses the configured windows.
    pub fn new(configs: &[WindowConfig]) -> Result<Self, WindowError> {
        let mut windows = Vec::new();
        for (index, config) in configs.iter().enumerate() {
            let cron =
                croner::Cron::from_str(&config.schedule).map_err(|e| WindowError::BadSchedule {
                    index,
                    schedule: clip(&config.schedule),
                    message: e.to_string(),
                })?;
            let zone = match &config.time_zone {
                None => chrono_tz::UTC,
                Some(z) => z.parse().map_err(|_| WindowError::BadTimeZone {
                    index,
                    zone: clip(z),
                })?,
            };
            let d = config.duration.0;
            if d < std::time::Duration::from_secs(60)
                || d > std::time::Duration::from_secs(366 * 86400)
            {
                return Err(WindowError::BadDuration { index });
            }
            windows.push(Window {
                cron,
                zone,
                apps: globs(index, "apps", &config.apps)?,
                namespaces: globs(index, "namespaces", &config.namespaces)?,
                config: config.clone(),
            });
        }
        Ok(Self { windows })
    }

    /// Whether there are windows at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// What the windows say about the app `name` (target namespace `namespace`) at `now`.
    #[must_use]
    pub fn verdict(&self, name: &str, namespace: &str, now: DateTime<Utc>) -> Verdict {
        let mut verdict = Verdict {
            sync: true,
            self_heal: true,
            manual: true,
            ..Verdict::default()
        };
        let mut allow_selects = false;
        let mut allow_open = false;
        let mut deny_open = false;
        for w in &self.windows {
            let c = &w.config;
            let selects = (c.apps.is_empty() && c.namespaces.is_empty())
                || w.apps.is_match(name)
                || w.namespaces.is_match(namespace);
            if !selects {
                continue;
            }
            if c.kind == WindowKind::Allow {
                allow_selects = true;
            }
            let Some(until) = w.open_until(now) else {
                continue;
            };
            let until_text = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            verdict.active.push(Active {
                kind: c.kind,
                schedule: c.schedule.clone(),
                until: until_text.clone(),
                manual_sync: c.manual_sync,
            });
            match c.kind {
                WindowKind::Allow => allow_open = true,
                WindowKind::Deny => {
                    deny_open = true;
                    verdict.self_heal &= c.self_heal;
                    verdict.manual &= c.manual_sync;
                    verdict.waiting = Some(format!(
                        "a deny window ({}) is in force until {until_text}",
                        c.schedule
                    ));
                }
            }
        }
        if deny_open {
            verdict.sync = false;
        } else if allow_selects && !allow_open {
            verdict.sync = false;
            verdict.waiting = Some(match self.next_allow(name, namespace, now) {
                Some(at) => format!(
                    "outside its allow windows until {}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                None => "outside its allow windows".to_owned(),
            });
        }
        verdict
    }

    fn next_allow(&self, name: &str, namespace: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.windows
            .iter()
            .filter(|w| w.config.kind == WindowKind::Allow)
            .filter(|w| {
                let c = &w.config;
                (c.apps.is_empty() && c.namespaces.is_empty())
                    || w.apps.is_match(name)
                    || w.namespaces.is_match(namespace)
            })
            .filter_map(|w| {
                let local = w.zone.from_utc_datetime(&now.naive_utc());
                w.cron
                    .find_next_occurrence(&local, false)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            })
            .min()
    }
}

impl Window {
    /// When the window closes, if it is open at `now`: the last opening at or before `now`,
    /// plus the duration, is after `now`.
    fn open_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = self.zone.from_utc_datetime(&now.naive_utc());
        let opened = self.cron.find_previous_occurrence(&local, true).ok()?;
        let duration = chrono::Duration::from_std(self.config.duration.0).ok()?;
        let until = opened.with_timezone(&Utc) + duration;
        (until > now).then_some(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(yaml: &str) -> Windows {
        let configs: Vec<WindowConfig> = serde_saphyr::from_str(yaml).expect("parses");
        Windows::new(&configs).expect("valid")
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_deny_window_in_a_time_zone_holds_new_revisions_until_it_closes() {
        // Fridays 22:00 in Berlin (UTC+1 in December) for 60 hours.
        let w = windows(
            "- {kind: deny, schedule: '0 22 * * 5', duration: 60h, timeZone: Europe/Berlin, apps: ['*-production'], selfHeal: false}",
        );
        let inside = w.verdict("web-production", "shop", at("2026-12-12T10:00:00Z"));
        assert!(!inside.sync && !inside.self_heal && !inside.manual);
        assert_eq!(inside.active.len(), 1);
        assert_eq!(inside.active[0].until, "2026-12-14T09:00:00Z");
        assert!(
            inside
                .waiting
                .as_deref()
                .is_some_and(|m| m.contains("until 2026-12-14T09:00:00Z")),
            "{inside:?}"
        );
        let before = w.verdict("web-production", "shop", at("2026-12-11T20:59:00Z"));
        assert!(before.sync && before.active.is_empty());
        let after = w.verdict("web-production", "shop", at("2026-12-14T09:00:00Z"));
        assert!(after.sync, "closed at its end");
        let other = w.verdict("web-staging", "shop", at("2026-12-12T10:00:00Z"));
        assert!(other.sync, "the window does not select the app");
    }

    #[test]
    fn allow_windows_let_syncs_through_only_while_open_and_deny_wins() {
        let w = windows(
            "- {kind: allow, schedule: '0 9 * * 1-5', duration: 8h, namespaces: [shop]}
- {kind: deny, schedule: '0 12 24 12 *', duration: 1h, manualSync: true}",
        );
        let office = w.verdict("web", "shop", at("2026-12-07T10:00:00Z"));
        assert!(office.sync);
        let night = w.verdict("web", "shop", at("2026-12-07T20:00:00Z"));
        assert!(!night.sync);
        assert!(
            night
                .waiting
                .as_deref()
                .is_some_and(|m| m.contains("2026-12-08T09:00:00Z")),
            "{night:?}"
        );
        let christmas = w.verdict("web", "shop", at("2026-12-24T12:30:00Z"));
        assert!(!christmas.sync && christmas.manual && christmas.self_heal);
        assert_eq!(christmas.active.len(), 2);
        let elsewhere = w.verdict("web", "other", at("2026-12-07T20:00:00Z"));
        assert!(elsewhere.sync, "no allow window selects it");
    }

    #[test]
    fn bad_windows_name_the_field() {
        let bad = |yaml: &str| {
            let configs: Vec<WindowConfig> = serde_saphyr::from_str(yaml).expect("parses");
            Windows::new(&configs).expect_err("invalid").to_string()
        };
        assert!(
            bad("- {kind: deny, schedule: 'every day', duration: 1h}")
                .contains("syncWindows[0].schedule")
        );
        assert!(
            bad("- {kind: deny, schedule: '* * * * *', duration: 1h, timeZone: Mars/Base}")
                .contains("timeZone")
        );
        assert!(bad("- {kind: deny, schedule: '* * * * *', duration: 1s}").contains("duration"));
        assert!(
            bad("- {kind: deny, schedule: '* * * * *', duration: 1h, apps: ['[']}")
                .contains("apps")
        );
    }
}
