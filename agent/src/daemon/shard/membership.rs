//! What one replica knows of the membership, and whether it may write an app now. Pure:
//! every decision takes the monotonic `now`, so the rules are tested without a cluster.
//!
//! The rules, with `D` the Lease duration:
//! - **Own Lease**: valid until the moment its last successful renewal was *sent* plus `D`
//!   minus a safety margin. A process that stalls (SIGSTOP, a long GC-like pause, a hung
//!   request) finds its Lease invalid when it resumes, because the monotonic clock kept
//!   running, and writes nothing until a renewal succeeds again.
//! - **Other members**: a Lease is live until `D` (its own `leaseDurationSeconds`) after this
//!   replica last *saw it change* (resourceVersion), by this replica's clock; wall clocks of
//!   other machines are never compared.
//! - **View**: the last list of Leases counts for writes only while younger than `D/2`
//!   (measured from the moment the list was *sent*).
//! - **Warm-up**: after its Lease becomes valid (first start, or after it lapsed), a replica
//!   writes nothing for `D/2` plus the margin: by then every other replica either listed
//!   the Leases again (and stopped writing the apps that now hash to the newcomer) or holds
//!   a view too old to write with.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::rendezvous;

/// The timings derived from the Lease duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The Lease duration `D`.
    pub duration: Duration,
    /// How often the Lease is renewed and the Leases are listed (`D/3`).
    pub renew_every: Duration,
    /// Taken off the own Lease's validity (`D/5`, at least 200 ms).
    pub margin: Duration,
    /// How long a list of Leases counts for writes (`D/2`).
    pub view_max_age: Duration,
    /// How long a replica waits after (re)joining before it writes (`D/2` + margin).
    pub warmup: Duration,
}

impl Timing {
    /// The timings of a Lease lasting `duration` (at least 2 s).
    #[must_use]
    pub fn of(duration: Duration) -> Self {
        let duration = duration.max(Duration::from_secs(2));
        let margin = (duration / 5).max(Duration::from_millis(200));
        let view_max_age = duration / 2;
        Self {
            duration,
            renew_every: duration / 3,
            margin,
            view_max_age,
            warmup: view_max_age + margin,
        }
    }
}

/// One member Lease as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// `spec.holderIdentity`.
    pub holder: String,
    /// `metadata.resourceVersion`: a renewal changes it.
    pub version: String,
    /// `spec.leaseDurationSeconds`.
    pub duration: Duration,
}

#[derive(Debug, Clone)]
struct Observed {
    version: String,
    /// When this replica saw `version` first.
    seen: Instant,
    duration: Duration,
}

/// One replica's knowledge of the membership.
#[derive(Debug, Clone)]
pub struct Membership {
    identity: String,
    timing: Timing,
    own_valid_until: Option<Instant>,
    joined: Option<Instant>,
    observed: BTreeMap<String, Observed>,
    /// When the last list was sent.
    listed_at: Option<Instant>,
}

impl Membership {
    /// Nothing known yet: `identity` may write nothing.
    #[must_use]
    pub fn new(identity: &str, timing: Timing) -> Self {
        Self {
            identity: identity.to_owned(),
            timing,
            own_valid_until: None,
            joined: None,
            observed: BTreeMap::new(),
            listed_at: None,
        }
    }

    /// This replica's identity.
    #[must_use]
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The timings.
    #[must_use]
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// A renewal sent at `sent` succeeded; `now` is when its answer came. A Lease that had
    /// lapsed in between starts a new warm-up.
    pub fn renewed(&mut self, sent: Instant, now: Instant) {
        let lapsed = self.own_valid_until.is_none_or(|until| now >= until);
        if lapsed {
            self.joined = Some(sent);
        }
        let until = (sent + self.timing.duration).checked_sub(self.timing.margin);
        self.own_valid_until = until;
    }

    /// The own Lease is gone or held by someone else: nothing may be written.
    pub fn lost(&mut self) {
        self.own_valid_until = None;
        self.joined = None;
    }

    /// A list of the member Leases, sent at `sent`, answered at `now`.
    pub fn listed(&mut self, sent: Instant, now: Instant, leases: Vec<Listed>) {
        let mut next = BTreeMap::new();
        for lease in leases {
            if lease.holder.is_empty() || lease.holder == self.identity {
                continue;
            }
            let seen = match self.observed.get(&lease.holder) {
                Some(o) if o.version == lease.version => o.seen,
                _ => now,
            };
            next.insert(
                lease.holder,
                Observed {
                    version: lease.version,
                    seen,
                    duration: lease.duration,
                },
            );
        }
        self.observed = next;
        self.listed_at = Some(sent);
    }

    /// Whether the own Lease is valid at `now`.
    #[must_use]
    pub fn holds_lease(&self, now: Instant) -> bool {
        self.own_valid_until.is_some_and(|until| now < until)
    }

    /// The live members at `now`, sorted; this replica among them while its Lease is valid.
    #[must_use]
    pub fn members(&self, now: Instant) -> Vec<String> {
        let mut members: Vec<String> = self
            .observed
            .iter()
            .filter(|(_, o)| now.saturating_duration_since(o.seen) < o.duration)
            .map(|(holder, _)| holder.clone())
            .collect();
        if self.holds_lease(now) {
            members.push(self.identity.clone());
        }
        members.sort();
        members
    }

    /// The member `app` hashes to at `now`.
    #[must_use]
    pub fn owner(&self, app: &str, now: Instant) -> Option<String> {
        rendezvous::owner(app, &self.members(now)).map(str::to_owned)
    }

    /// Whether the warm-up after joining is over at `now`.
    #[must_use]
    pub fn warm(&self, now: Instant) -> bool {
        self.holds_lease(now)
            && self
                .joined
                .is_some_and(|joined| now.saturating_duration_since(joined) >= self.timing.warmup)
    }

    /// Whether this replica may write `app` at `now`; otherwise why not.
    pub fn check(&self, app: &str, now: Instant) -> Result<(), String> {
        if !self.holds_lease(now) {
            return Err(format!(
                "the Lease of replica {} is not valid",
                self.identity
            ));
        }
        if !self.warm(now) {
            return Err(format!("replica {} is still joining", self.identity));
        }
        let fresh = self
            .listed_at
            .is_some_and(|at| now.saturating_duration_since(at) < self.timing.view_max_age);
        if !fresh {
            return Err("the membership was not read recently enough".to_owned());
        }
        match self.owner(app, now) {
            Some(owner) if owner == self.identity => Ok(()),
            Some(owner) => Err(format!("the app hashes to replica {owner}")),
            None => Err("no live member".to_owned()),
        }
    }

    /// The next moment after `now` when ownership changes without a new list: a member's
    /// Lease expiring, or this replica's warm-up ending.
    #[must_use]
    pub fn next_change(&self, now: Instant) -> Option<Instant> {
        let warm_at = self.joined.map(|j| j + self.timing.warmup);
        self.observed
            .values()
            .map(|o| o.seen + o.duration)
            .chain(warm_at)
            .filter(|at| *at > now)
            .min()
    }

    /// What decides ownership at `now` (live members, and whether this replica writes):
    /// when it changes, the apps this replica writes may have changed.
    #[must_use]
    pub fn shape(&self, now: Instant) -> (Vec<String>, bool) {
        (self.members(now), self.warm(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(10);

    fn lease(holder: &str, version: &str) -> Listed {
        Listed {
            holder: holder.into(),
            version: version.into(),
            duration: D,
        }
    }

    /// A member "a" that renewed at `t0`, listed "b" and "c", and is warm.
    fn joined(t0: Instant) -> Membership {
        let mut m = Membership::new("a", Timing::of(D));
        m.renewed(t0, t0);
        let later = t0 + Timing::of(D).warmup;
        m.renewed(later, later);
        m.listed(
            later,
            later,
            vec![lease("a", "1"), lease("b", "1"), lease("c", "1")],
        );
        m
    }

    fn app_of(m: &Membership, owner: &str, now: Instant) -> String {
        (0..100)
            .map(|i| format!("app-{i}"))
            .find(|app| m.owner(app, now).as_deref() == Some(owner))
            .expect("some app hashes to the member")
    }

    #[test]
    fn a_warm_member_writes_its_own_apps_only() {
        let t0 = Instant::now();
        let m = joined(t0);
        let now = t0 + Timing::of(D).warmup + Duration::from_secs(1);
        assert_eq!(m.members(now), ["a", "b", "c"]);
        assert!(m.check(&app_of(&m, "a", now), now).is_ok());
        let err = m.check(&app_of(&m, "b", now), now).expect_err("b's app");
        assert!(err.contains("hashes to replica b"), "{err}");
    }

    #[test]
    fn a_new_member_waits_for_the_warm_up_before_writing() {
        let t0 = Instant::now();
        let mut m = Membership::new("a", Timing::of(D));
        m.renewed(t0, t0);
        m.listed(t0, t0, vec![lease("a", "1")]);
        let err = m
            .check("anything", t0 + Duration::from_secs(1))
            .expect_err("joining");
        assert!(err.contains("still joining"), "{err}");
        let warm = t0 + Timing::of(D).warmup;
        m.renewed(warm, warm);
        m.listed(warm, warm, vec![lease("a", "2")]);
        assert!(m.check("anything", warm).is_ok());
    }

    #[test]
    fn a_stalled_member_finds_its_lease_expired_and_writes_nothing() {
        let t0 = Instant::now();
        let m = joined(t0);
        let app = app_of(&m, "a", t0 + Duration::from_secs(6));
        // Resumed long after the last renewal: the monotonic clock ran on during the stall.
        let resumed = t0 + Timing::of(D).warmup + D;
        let err = m.check(&app, resumed).expect_err("expired");
        assert!(err.contains("Lease of replica a is not valid"), "{err}");
    }

    #[test]
    fn a_member_whose_lease_lapsed_warms_up_again_after_renewing() {
        let t0 = Instant::now();
        let mut m = joined(t0);
        let resumed = t0 + Timing::of(D).warmup + 2 * D;
        m.renewed(resumed, resumed);
        m.listed(resumed, resumed, vec![lease("b", "9"), lease("c", "9")]);
        assert!(m.holds_lease(resumed));
        assert!(!m.warm(resumed));
        assert!(m.check("any", resumed).is_err());
    }

    #[test]
    fn an_old_view_stops_writes_until_the_leases_are_listed_again() {
        let t0 = Instant::now();
        let mut m = joined(t0);
        let w = t0 + Timing::of(D).warmup;
        let app = app_of(&m, "a", w);
        let later = w + Timing::of(D).view_max_age + Duration::from_millis(1);
        m.renewed(later, later);
        let err = m.check(&app, later).expect_err("stale view");
        assert!(err.contains("membership"), "{err}");
        m.listed(later, later, vec![lease("b", "1"), lease("c", "1")]);
        assert!(m.check(&app, later).is_ok());
    }

    #[test]
    fn the_next_change_is_the_first_expiry_or_the_end_of_the_warm_up() {
        let t0 = Instant::now();
        let mut m = Membership::new("a", Timing::of(D));
        m.renewed(t0, t0);
        m.listed(t0, t0 + Duration::from_secs(1), vec![lease("b", "1")]);
        assert_eq!(m.next_change(t0), Some(t0 + Timing::of(D).warmup));
        let warm = t0 + Timing::of(D).warmup;
        assert_eq!(m.next_change(warm), Some(t0 + Duration::from_secs(1) + D));
        assert_eq!(m.next_change(t0 + 2 * D), None);
    }

    #[test]
    fn a_member_that_stops_renewing_leaves_after_the_lease_duration() {
        let t0 = Instant::now();
        let mut m = joined(t0);
        let w = t0 + Timing::of(D).warmup;
        // b renews (new version), c does not.
        let t1 = w + Duration::from_secs(5);
        m.renewed(t1, t1);
        m.listed(t1, t1, vec![lease("b", "2"), lease("c", "1")]);
        assert_eq!(m.members(t1), ["a", "b", "c"]);
        let t2 = w + D + Duration::from_millis(1);
        m.renewed(t2, t2);
        m.listed(t2, t2, vec![lease("b", "2"), lease("c", "1")]);
        assert_eq!(m.members(t2), ["a", "b"]);
        // A deleted Lease (a graceful stop) leaves at once.
        m.listed(t2, t2, vec![lease("c", "1")]);
        assert_eq!(m.members(t2), ["a"]);
    }
}
