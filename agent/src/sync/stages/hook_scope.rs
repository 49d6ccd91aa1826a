//! Which hooks a sync runs: a Helm release's hooks only when that release changed.

use crate::sync::helm_hooks;
use crate::sync::inventory::Inventory;
use crate::sync::plan::Desired;

/// Whether an object of the Helm release `name` in `namespace` is new or changed since the
/// last sync (a release without objects counts as changed).
pub(super) fn release_changed(
    objects: &[Desired],
    previous: &Inventory,
    name: &str,
    namespace: &str,
) -> bool {
    let mut members = objects
        .iter()
        .filter(|d| helm_hooks::release_of(&d.object) == Some((name, namespace)))
        .peekable();
    members.peek().is_none()
        || members.any(|d| {
            previous
                .entries
                .get(&d.reference)
                .is_none_or(|e| e.applied != d.applied)
        })
}
