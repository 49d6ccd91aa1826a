//! Status ConfigMaps are written only when what they say changed: an app synced again with
//! the same outcome (an app the work-at-rest skip does not cover: no self-heal, a `helm:`
//! generator, an external Secret) moves only its `lastSync`, which `/api/v1/apps` shows, and
//! is not written again for it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

use crate::daemon::state::AppStatus;
use crate::daemon::status;

/// The digest of the last status written per app (without `lastSync`).
#[derive(Debug, Default)]
pub(super) struct Written(Mutex<HashMap<String, [u8; 32]>>);

/// The digest of what a status ConfigMap holds of `status`, `lastSync` apart.
fn digest(status: &AppStatus) -> [u8; 32] {
    let mut h = Sha256::new();
    for (key, value) in status::data(status) {
        if key == status::LAST_SYNC_KEY {
            continue;
        }
        for part in [key.as_bytes(), value.as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    h.finalize().into()
}

impl Written {
    /// Whether `status` says something its last write did not.
    pub(super) fn changed(&self, status: &AppStatus) -> bool {
        let seen = self.lock().get(&status.name).copied();
        seen != Some(digest(status))
    }

    /// Records a successful write of `status`.
    pub(super) fn wrote(&self, status: &AppStatus) {
        self.lock().insert(status.name.clone(), digest(status));
    }

    /// Forgets `app` (its status ConfigMap was deleted or must be written again).
    pub(super) fn forget(&self, app: &str) {
        self.lock().remove(app);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, [u8; 32]>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_that_moved_only_its_last_sync_is_not_written_again() {
        let written = Written::default();
        let mut status = AppStatus {
            name: "web".into(),
            sync: "Succeeded".into(),
            last_sync: Some("2026-01-01T00:00:00Z".into()),
            ..AppStatus::default()
        };
        assert!(written.changed(&status), "never written");
        written.wrote(&status);
        status.last_sync = Some("2026-01-01T00:00:30Z".into());
        assert!(!written.changed(&status), "only lastSync moved");
        status.health = "Degraded".into();
        assert!(written.changed(&status), "the health changed");
        written.wrote(&status);
        written.forget("web");
        assert!(written.changed(&status), "forgotten");
    }
}
