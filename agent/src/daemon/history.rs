//! Each app's last syncs, kept compact: 50 syncs of 1,000 apps are 50,000 records, so a
//! record is 40 bytes without a heap allocation (the commit id as 20 bytes, the time as
//! seconds in a `u32`, result, reason and trigger as indices into a small table of labels, which are
//! the code's own reason names). [`super::state::SyncRecord`] is the readable form.

use super::state::SyncRecord;
use super::time::{format_rfc3339, parse_rfc3339};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The most distinct labels kept; later ones read `Other`.
const MAX_LABELS: usize = 255;

static LABELS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// A short label (a result, a reason, a trigger) as an index into the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(u8);

impl Label {
    /// The label of `text` (added to the table once; `Other` when the table is full).
    #[must_use]
    pub fn of(text: &str) -> Self {
        let mut labels = LABELS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if labels.is_empty() {
            labels.push("Other");
        }
        if let Some(i) = labels.iter().position(|l| *l == text) {
            return Self(u8::try_from(i).unwrap_or(0));
        }
        if labels.len() >= MAX_LABELS || text.len() > 64 {
            return Self(0);
        }
        labels.push(Box::leak(text.to_owned().into_boxed_str()));
        Self(u8::try_from(labels.len() - 1).unwrap_or(0))
    }

    /// The text.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        let labels = LABELS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        labels.get(usize::from(self.0)).copied().unwrap_or("Other")
    }
}

/// One sync, compact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compact {
    revision: [u8; 20],
    /// Seconds since the Unix epoch (a `u32` lasts until 2106).
    at: u32,
    duration_ms: u32,
    counts: [u16; 4],
    result: Label,
    reason: Label,
    trigger: Label,
}

fn clamp16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

impl Compact {
    /// The compact form of `record` (a revision that is not a SHA-1 id reads as zeros).
    #[must_use]
    pub fn of(record: &SyncRecord) -> Self {
        let mut revision = [0u8; 20];
        if let Ok(bytes) = hex::decode(&record.revision)
            && bytes.len() == 20
        {
            revision.copy_from_slice(&bytes);
        }
        let at = parse_rfc3339(&record.at)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
        Self {
            revision,
            at,
            duration_ms: u32::try_from(record.duration_ms).unwrap_or(u32::MAX),
            counts: [
                clamp16(record.created),
                clamp16(record.configured),
                clamp16(record.pruned),
                clamp16(record.hooks),
            ],
            result: Label::of(&record.result),
            reason: Label::of(&record.reason),
            trigger: Label::of(&record.trigger),
        }
    }

    /// The readable form.
    #[must_use]
    pub fn expand(&self) -> SyncRecord {
        SyncRecord {
            revision: hex::encode(self.revision),
            at: format_rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(self.at))),
            result: self.result.as_str().to_owned(),
            reason: self.reason.as_str().to_owned(),
            duration_ms: u64::from(self.duration_ms),
            trigger: self.trigger.as_str().to_owned(),
            created: usize::from(self.counts[0]),
            configured: usize::from(self.counts[1]),
            pruned: usize::from(self.counts[2]),
            hooks: usize::from(self.counts[3]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_kept_in_40_bytes_and_read_back_unchanged() {
        assert!(std::mem::size_of::<Compact>() <= 40);
        let record = SyncRecord {
            revision: "0123456789abcdef0123456789abcdef01234567".into(),
            at: "2026-12-07T09:00:00Z".into(),
            result: "Failed".into(),
            reason: "PruneBlocked".into(),
            duration_ms: 812,
            trigger: "webhook".into(),
            created: 1,
            configured: 2,
            pruned: 70_000,
            hooks: 1,
        };
        let back = Compact::of(&record).expand();
        assert_eq!(back.pruned, usize::from(u16::MAX), "counts are clamped");
        assert_eq!(
            SyncRecord {
                pruned: record.pruned,
                ..back
            },
            record
        );
        assert_eq!(Label::of("webhook"), Label::of("webhook"));
    }
}
