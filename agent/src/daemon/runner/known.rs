//! The apps recorded in the cluster (their status ConfigMaps), kept from the watch of those
//! ConfigMaps, so that a round finds the apps that left Git without listing every status.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use k8s_openapi::api::core::v1::ConfigMap;

/// App → source, from the status ConfigMaps; `None` until the watch's first listing is done.
#[derive(Debug, Default)]
pub(super) struct Known {
    synced: Mutex<Option<BTreeMap<String, String>>>,
    /// The listing in progress (a watch (re)start).
    listing: Mutex<BTreeMap<String, String>>,
}

fn app_source(cm: &ConfigMap) -> Option<(String, String)> {
    let data = cm.data.as_ref()?;
    Some((data.get("app")?.clone(), data.get("source")?.clone()))
}

impl Known {
    /// A (re)listing starts.
    pub(super) fn init(&self) {
        lock(&self.listing).clear();
    }

    /// A ConfigMap of the listing in progress.
    pub(super) fn init_apply(&self, cm: &ConfigMap) {
        if let Some((app, source)) = app_source(cm) {
            lock(&self.listing).insert(app, source);
        }
    }

    /// The listing is complete.
    pub(super) fn init_done(&self) {
        let listed = std::mem::take(&mut *lock(&self.listing));
        *lock(&self.synced) = Some(listed);
    }

    /// A ConfigMap was created or changed.
    pub(super) fn apply(&self, cm: &ConfigMap) {
        if let (Some(known), Some((app, source))) = (lock(&self.synced).as_mut(), app_source(cm)) {
            known.insert(app, source);
        }
    }

    /// A ConfigMap was deleted.
    pub(super) fn delete(&self, cm: &ConfigMap) {
        if let (Some(known), Some((app, _))) = (lock(&self.synced).as_mut(), app_source(cm)) {
            known.remove(&app);
        }
    }

    /// The apps recorded for `source`, once the watch listed them.
    pub(super) fn of_source(&self, source: &str) -> Option<Vec<String>> {
        lock(&self.synced).as_ref().map(|known| {
            known
                .iter()
                .filter(|(_, s)| s.as_str() == source)
                .map(|(app, _)| app.clone())
                .collect()
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(app: &str, source: &str) -> ConfigMap {
        ConfigMap {
            data: Some(BTreeMap::from([
                ("app".to_owned(), app.to_owned()),
                ("source".to_owned(), source.to_owned()),
            ])),
            ..ConfigMap::default()
        }
    }

    #[test]
    fn known_apps_follow_the_watch_and_are_unknown_until_listed() {
        let known = Known::default();
        known.apply(&status("early", "config"));
        assert_eq!(known.of_source("config"), None, "not listed yet");
        known.init();
        known.init_apply(&status("a", "config"));
        known.init_apply(&status("b", "other"));
        known.init_done();
        known.apply(&status("c", "config"));
        known.delete(&status("a", "config"));
        assert_eq!(known.of_source("config"), Some(vec!["c".to_owned()]));
        assert_eq!(known.of_source("other"), Some(vec!["b".to_owned()]));
    }
}
