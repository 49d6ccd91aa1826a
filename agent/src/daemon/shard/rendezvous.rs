//! Rendezvous (highest-random-weight) hashing: each app goes to the member with the highest
//! weight `hash(member, app)`. A member joining takes only the apps where it now weighs most;
//! a member leaving hands only its own apps to the others, each to its next-highest member.

use sha2::{Digest, Sha256};

/// The weight of `member` for `app`: the first 8 bytes of SHA-256(member NUL app).
#[must_use]
pub fn weight(member: &str, app: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(member.as_bytes());
    hasher.update([0]);
    hasher.update(app.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The member `app` goes to (ties, never seen in practice, go to the greater name); `None`
/// without members.
#[must_use]
pub fn owner<'a, S: AsRef<str>>(app: &str, members: &'a [S]) -> Option<&'a str> {
    members
        .iter()
        .map(AsRef::as_ref)
        .max_by_key(|m| (weight(m, app), *m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn apps(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("service-{i:04}")).collect()
    }

    fn spread(apps: &[String], members: &[&str]) -> BTreeMap<String, usize> {
        let mut count = BTreeMap::new();
        for app in apps {
            let owner = owner(app, members).expect("members");
            *count.entry(owner.to_owned()).or_insert(0) += 1;
        }
        count
    }

    #[test]
    fn apps_spread_evenly_over_three_members() {
        let apps = apps(3000);
        let count = spread(&apps, &["tether-0", "tether-1", "tether-2"]);
        assert_eq!(count.len(), 3);
        for (member, n) in count {
            assert!((900..=1100).contains(&n), "{member}: {n} of 3000");
        }
    }

    #[test]
    fn a_member_leaving_moves_only_its_own_apps() {
        let apps = apps(1000);
        let all = ["a", "b", "c"];
        let without_b = ["a", "c"];
        for app in &apps {
            let before = owner(app, &all).expect("members");
            let after = owner(app, &without_b).expect("members");
            if before != "b" {
                assert_eq!(before, after, "{app} moved although its member stayed");
            }
        }
    }

    #[test]
    fn a_member_joining_takes_only_apps_and_leaves_the_rest_in_place() {
        let apps = apps(1000);
        let mut moved = 0;
        for app in &apps {
            let before = owner(app, &["a", "b"]).expect("members");
            let after = owner(app, &["a", "b", "c"]).expect("members");
            if before != after {
                assert_eq!(after, "c", "{app} moved between members that stayed");
                moved += 1;
            }
        }
        assert!(
            (250..=420).contains(&moved),
            "{moved} of 1000 moved to the new member"
        );
    }

    #[test]
    fn the_owner_does_not_depend_on_the_order_of_members() {
        for app in apps(100) {
            assert_eq!(owner(&app, &["x", "y", "z"]), owner(&app, &["z", "x", "y"]));
        }
        assert_eq!(owner::<&str>("app", &[]), None);
    }
}
