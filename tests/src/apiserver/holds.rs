//! A test hook: writes of objects whose name starts with a prefix get through a given number
//! of times, then are held unanswered until the hold is cleared (then answered 503). A test
//! kills its client while a write is held: between two writes, at a known point.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

#[derive(Debug)]
struct Plan {
    prefix: String,
    allow: usize,
    passed: usize,
    held: usize,
}

/// The hold plan of one server; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Holds(Arc<Mutex<Option<Plan>>>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Holds {
    /// Lets `allow` writes of objects named `prefix...` through, then holds the next ones.
    pub fn set(&self, prefix: &str, allow: usize) {
        *lock(&self.0) = Some(Plan {
            prefix: prefix.to_owned(),
            allow,
            passed: 0,
            held: 0,
        });
    }

    /// Removes the plan; held writes are answered 503.
    pub fn clear(&self) {
        *lock(&self.0) = None;
    }

    /// How many writes were held since the plan was set.
    pub fn held(&self) -> usize {
        lock(&self.0).as_ref().map_or(0, |p| p.held)
    }

    /// Whether this write (not a dry run) of `name` is held.
    pub fn holds(&self, verb: &str, name: Option<&str>, dry_run: bool) -> bool {
        let write = matches!(verb, "create" | "update" | "patch" | "apply");
        let mut plan = lock(&self.0);
        let Some(plan) = plan.as_mut() else {
            return false;
        };
        if !write || dry_run || !name.is_some_and(|n| n.starts_with(&plan.prefix)) {
            return false;
        }
        if plan.passed < plan.allow {
            plan.passed += 1;
            return false;
        }
        plan.held += 1;
        true
    }

    /// Waits until the plan is cleared.
    pub async fn wait_cleared(&self) {
        while lock(&self.0).is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
