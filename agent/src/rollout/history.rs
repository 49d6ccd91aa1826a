//! An app's rollout status: the phase, the last gates, the hold after a rollback, and the
//! bounded history of revisions with their verdicts. Kept in the app's status ConfigMap
//! (key `rollout`, JSON), so a restarted agent knows which revision to go back to; only
//! revision ids and verdicts are stored, the objects are rendered again from Git.

use super::{GateResult, Verdict};
use serde::{Deserialize, Serialize};

/// Where an app stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Phase {
    /// No gated revision yet.
    #[default]
    Pending,
    /// The gates of the current revision passed.
    Passed,
    /// A gate failed and there was nothing to roll back to (or rollback is off).
    Failed,
    /// A gate failed and the app went back to its last good revision, where it is held.
    RolledBack,
    /// The rollback failed: the app is left alone until Git moves or an operator clears it.
    RollbackFailed,
}

/// Why and where an app is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    /// The revision that failed (the hold lasts while Git stays at it).
    pub failed_revision: String,
    /// The revision restored (none when the rollback failed or had no target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_revision: Option<String>,
    /// Why.
    pub reason: String,
    /// Whether an operator asked for it (`tether-agent rollback`).
    #[serde(default)]
    pub manual: bool,
    /// Objects the rollback cannot restore as they were (a deleted volume's data).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unrestorable: Vec<String>,
}

/// One revision of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The commit id.
    pub revision: String,
    /// Its gates' verdict.
    pub verdict: Verdict,
}

/// An app's rollout status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Where the app stands.
    pub phase: Phase,
    /// The revision the last gates judged.
    #[serde(default)]
    pub revision: String,
    /// The last gates run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateResult>,
    /// The hold, while the app is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// Revisions and verdicts, oldest first.
    #[serde(default)]
    pub history: Vec<Entry>,
}

impl RolloutStatus {
    /// Reads the stored form; anything unreadable is an empty status (logged by the caller).
    pub fn decode(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The stored form.
    #[must_use]
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Records `revision`'s verdict (the newest entry), keeping at most `limit` entries.
    pub fn record(&mut self, revision: &str, verdict: Verdict, limit: usize) {
        self.history.retain(|e| e.revision != revision);
        self.history.push(Entry {
            revision: revision.to_owned(),
            verdict,
        });
        let excess = self.history.len().saturating_sub(limit.max(1));
        self.history.drain(..excess);
    }

    /// The verdict recorded for `revision`.
    #[must_use]
    pub fn verdict_of(&self, revision: &str) -> Option<Verdict> {
        self.history
            .iter()
            .find(|e| e.revision == revision)
            .map(|e| e.verdict)
    }

    /// The newest revision that passed its gates, other than `except`.
    #[must_use]
    pub fn last_passed(&self, except: &str) -> Option<&str> {
        self.history
            .iter()
            .rev()
            .find(|e| e.verdict == Verdict::Passed && e.revision != except)
            .map(|e| e.revision.as_str())
    }

    /// The hold that applies while Git is at `revision` (a hold ends when Git moves).
    #[must_use]
    pub fn hold_at(&self, revision: &str) -> Option<&Hold> {
        self.hold.as_ref().filter(|h| h.failed_revision == revision)
    }

    /// Ends the hold (Git moved, or an operator cleared it).
    pub fn clear_hold(&mut self) {
        self.hold = None;
        if matches!(
            self.phase,
            Phase::RolledBack | Phase::RollbackFailed | Phase::Failed
        ) {
            self.phase = Phase::Pending;
        }
    }

    /// The phase's name, for tables.
    #[must_use]
    pub fn phase_name(&self) -> &'static str {
        match self.phase {
            Phase::Pending => "Pending",
            Phase::Passed => "Passed",
            Phase::Failed => "GateFailed",
            Phase::RolledBack => "RolledBack",
            Phase::RollbackFailed => "RollbackFailed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_is_bounded_and_names_the_last_good_revision() {
        let mut s = RolloutStatus::default();
        for (i, verdict) in [Verdict::Passed, Verdict::Passed, Verdict::Failed]
            .into_iter()
            .enumerate()
        {
            s.record(&format!("r{i}"), verdict, 2);
        }
        assert_eq!(
            s.history
                .iter()
                .map(|e| e.revision.as_str())
                .collect::<Vec<_>>(),
            ["r1", "r2"]
        );
        assert_eq!(s.last_passed("r2"), Some("r1"));
        assert_eq!(s.last_passed("r1"), None);
        s.record("r1", Verdict::Failed, 2);
        assert_eq!(s.verdict_of("r1"), Some(Verdict::Failed));
        assert_eq!(s.history.len(), 2, "a revision is recorded once");
    }

    #[test]
    fn the_status_round_trips_and_a_hold_lasts_while_git_stays() {
        let mut s = RolloutStatus {
            phase: Phase::RolledBack,
            revision: "bad".into(),
            hold: Some(Hold {
                failed_revision: "bad".into(),
                restored_revision: Some("good".into()),
                reason: "metric errors failed".into(),
                manual: false,
                unrestorable: vec!["PersistentVolumeClaim shop/data".into()],
            }),
            ..RolloutStatus::default()
        };
        s.record("good", Verdict::Passed, 10);
        let back = RolloutStatus::decode(&s.encode()).expect("decodes");
        assert_eq!(back, s);
        assert!(s.hold_at("bad").is_some());
        assert!(s.hold_at("newer").is_none());
        s.clear_hold();
        assert_eq!(s.phase, Phase::Pending);
        assert!(RolloutStatus::decode("{not json").is_err());
    }
}
