//! The state machine: one event per change of state, none while a state holds, a reminder
//! after the configured interval, a recovery when a condition clears. Its memory per app
//! ([`AppMemory`]) is kept with the app's status, so a restarted agent sends no duplicate.

use super::event::{Condition, Kind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What was last notified about one condition of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Held {
    /// The condition's fingerprint when it was notified.
    pub fingerprint: String,
    /// When it was last notified (seconds since the epoch).
    pub notified_at: u64,
    /// The event last notified for it, so that a new agent goes on announcing a firing
    /// alert (its texts are redacted already).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<super::event::Event>,
}

/// What was last notified about one app: the conditions that hold and the last revision a
/// success was notified for. Serialized into the app's status ConfigMap (`notified`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppMemory {
    /// The conditions that hold, by kind.
    pub held: BTreeMap<Kind, Held>,
    /// The revision of the last notified successful sync.
    pub synced_revision: String,
    /// The revision whose sync start was last notified (one `syncRunning` per revision, so
    /// that rounds syncing the same revision again do not repeat it).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub running_revision: String,
    /// The events not delivered yet (see [`super::ledger`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<super::ledger::Record>,
}

impl AppMemory {
    /// The memory as stored in the status ConfigMap.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The memory read from the status ConfigMap; an unreadable one is empty (the worst
    /// outcome is one repeated notification).
    #[must_use]
    pub fn from_json(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_default()
    }
}

/// One decision of the state machine: a condition to notify, as new, reminder or recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The condition (for a recovery: its kind, with the fingerprint it had).
    pub condition: Condition,
    /// A recovery.
    pub resolved: bool,
    /// A reminder of a condition that still holds.
    pub reminder: bool,
}

/// What one round of an app showed.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// The kinds this round evaluated: a condition of one of them absent from `seen` has
    /// cleared; conditions of other kinds keep their state (a render failure says nothing
    /// about health).
    pub evaluated: Vec<Kind>,
    /// The conditions and single events seen.
    pub seen: Vec<Condition>,
    /// The revision, when a sync succeeded.
    pub synced_revision: Option<String>,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The conditions of the kinds `observation` evaluated that it no longer shows: cleared,
/// with a recovery to notify unless the kind or the condition is silent.
fn recoveries(memory: &mut AppMemory, observation: &Observation) -> Vec<Decision> {
    let mut out = Vec::new();
    let cleared: Vec<Kind> = memory
        .held
        .keys()
        .copied()
        .filter(|k| {
            observation.evaluated.contains(k) && !observation.seen.iter().any(|c| c.kind == *k)
        })
        .collect();
    for kind in cleared {
        let Some(held) = memory.held.remove(&kind) else {
            continue;
        };
        if kind.notifies_recovery() && !held.fingerprint.starts_with(super::observe::SILENT) {
            out.push(Decision {
                condition: Condition {
                    kind,
                    fingerprint: held.fingerprint,
                    stage: None,
                    reason: "Recovered".into(),
                    message: String::new(),
                },
                resolved: true,
                reminder: false,
            });
        }
    }
    out
}

/// Applies one observation to `memory`; returns what to notify (in the order seen, then
/// recoveries). `reminder`: repeat a condition that still holds after this long (none: never).
pub fn step(
    memory: &mut AppMemory,
    observation: &Observation,
    now: SystemTime,
    reminder: Option<Duration>,
) -> Vec<Decision> {
    let now_s = secs(now);
    let mut out = Vec::new();
    for condition in &observation.seen {
        if !condition.kind.is_condition() {
            if condition.kind == Kind::SyncSucceeded {
                continue;
            }
            if condition.kind == Kind::SyncRunning {
                if condition.fingerprint == memory.running_revision {
                    continue;
                }
                memory.running_revision.clone_from(&condition.fingerprint);
            }
            out.push(Decision {
                condition: condition.clone(),
                resolved: false,
                reminder: false,
            });
            continue;
        }
        match memory.held.get_mut(&condition.kind) {
            Some(held) if held.fingerprint == condition.fingerprint => {
                let due =
                    reminder.is_some_and(|r| now_s.saturating_sub(held.notified_at) >= r.as_secs());
                if due {
                    held.notified_at = now_s;
                    out.push(Decision {
                        condition: condition.clone(),
                        resolved: false,
                        reminder: true,
                    });
                }
            }
            _ => {
                memory.held.insert(
                    condition.kind,
                    Held {
                        fingerprint: condition.fingerprint.clone(),
                        notified_at: now_s,
                        event: None,
                    },
                );
                out.push(Decision {
                    condition: condition.clone(),
                    resolved: false,
                    reminder: false,
                });
            }
        }
    }
    out.extend(recoveries(memory, observation));
    if let Some(revision) = &observation.synced_revision
        && *revision != memory.synced_revision
    {
        // The first success after a restart with no memory is news too: the memory is kept
        // with the status, so this happens once per new revision.
        memory.synced_revision = revision.clone();
        if let Some(c) = observation
            .seen
            .iter()
            .find(|c| c.kind == Kind::SyncSucceeded)
        {
            out.push(Decision {
                condition: c.clone(),
                resolved: false,
                reminder: false,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(kind: Kind, fp: &str) -> Condition {
        Condition {
            kind,
            fingerprint: fp.into(),
            stage: None,
            reason: "R".into(),
            message: "m".into(),
        }
    }

    fn obs(seen: Vec<Condition>) -> Observation {
        Observation {
            evaluated: vec![Kind::SyncFailed, Kind::HealthDegraded, Kind::PruneHeld],
            seen,
            synced_revision: None,
        }
    }

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn one_event_per_change_of_state_and_a_recovery() {
        let mut m = AppMemory::default();
        let fail = obs(vec![cond(Kind::SyncFailed, "render")]);
        let d = step(&mut m, &fail, t(100), None);
        assert_eq!(d.len(), 1);
        assert!(!d[0].resolved);
        assert!(step(&mut m, &fail, t(200), None).is_empty(), "no repeat");
        let other_stage = obs(vec![cond(Kind::SyncFailed, "apply")]);
        assert_eq!(step(&mut m, &other_stage, t(300), None).len(), 1);
        let d = step(&mut m, &obs(vec![]), t(400), None);
        assert_eq!(d.len(), 1);
        assert!(d[0].resolved);
        assert_eq!(d[0].condition.kind, Kind::SyncFailed);
        assert!(step(&mut m, &obs(vec![]), t(500), None).is_empty());
    }

    #[test]
    fn a_reminder_after_the_interval_only() {
        let mut m = AppMemory::default();
        let fail = obs(vec![cond(Kind::HealthDegraded, "")]);
        let every = Some(Duration::from_secs(3600));
        assert_eq!(step(&mut m, &fail, t(0), every).len(), 1);
        assert!(step(&mut m, &fail, t(3599), every).is_empty());
        let d = step(&mut m, &fail, t(3600), every);
        assert_eq!(d.len(), 1);
        assert!(d[0].reminder);
        assert!(step(&mut m, &fail, t(3700), every).is_empty());
    }

    #[test]
    fn kinds_not_evaluated_keep_their_state() {
        let mut m = AppMemory::default();
        step(
            &mut m,
            &obs(vec![cond(Kind::HealthDegraded, "")]),
            t(0),
            None,
        );
        let render_failed = Observation {
            evaluated: vec![Kind::SyncFailed],
            seen: vec![cond(Kind::SyncFailed, "render")],
            synced_revision: None,
        };
        let d = step(&mut m, &render_failed, t(1), None);
        assert_eq!(d.len(), 1, "no recovery of health: {d:?}");
        assert!(m.held.contains_key(&Kind::HealthDegraded));
    }

    #[test]
    fn memory_survives_a_restart_through_its_json() {
        let mut m = AppMemory::default();
        let fail = obs(vec![cond(Kind::SyncFailed, "render")]);
        step(&mut m, &fail, t(0), None);
        let mut restored = AppMemory::from_json(&m.to_json());
        assert_eq!(restored, m);
        assert!(step(&mut restored, &fail, t(10), None).is_empty());
        assert_eq!(AppMemory::from_json("not json"), AppMemory::default());
    }

    #[test]
    fn success_is_notified_once_per_revision() {
        let mut m = AppMemory::default();
        let ok = |rev: &str| Observation {
            evaluated: vec![Kind::SyncFailed],
            seen: vec![cond(Kind::SyncSucceeded, rev)],
            synced_revision: Some(rev.into()),
        };
        assert_eq!(step(&mut m, &ok("a"), t(0), None).len(), 1);
        assert!(step(&mut m, &ok("a"), t(1), None).is_empty());
        assert_eq!(step(&mut m, &ok("b"), t(2), None).len(), 1);
    }

    #[test]
    fn a_silent_condition_clears_without_a_recovery() {
        let mut m = AppMemory::default();
        let held = obs(vec![cond(Kind::PruneHeld, "~prune/protected/x")]);
        assert_eq!(step(&mut m, &held, t(0), None).len(), 1);
        assert!(step(&mut m, &obs(vec![]), t(1), None).is_empty());
        assert!(m.held.is_empty(), "cleared");
    }

    #[test]
    fn a_sync_start_is_notified_once_per_revision() {
        let mut m = AppMemory::default();
        let running = |rev: &str| Observation {
            evaluated: vec![],
            seen: vec![cond(Kind::SyncRunning, rev)],
            synced_revision: None,
        };
        assert_eq!(step(&mut m, &running("a"), t(0), None).len(), 1);
        assert!(step(&mut m, &running("a"), t(1), None).is_empty());
        let mut restored = AppMemory::from_json(&m.to_json());
        assert!(step(&mut restored, &running("a"), t(2), None).is_empty());
        assert_eq!(step(&mut restored, &running("b"), t(3), None).len(), 1);
    }

    #[test]
    fn drift_reverts_are_single_events() {
        let mut m = AppMemory::default();
        let drift = Observation {
            evaluated: vec![],
            seen: vec![cond(Kind::DriftReverted, "x")],
            synced_revision: None,
        };
        assert_eq!(step(&mut m, &drift, t(0), None).len(), 1);
        assert_eq!(step(&mut m, &drift, t(1), None).len(), 1);
        assert!(m.held.is_empty());
    }
}
