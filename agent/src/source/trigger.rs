//! When to fetch: on a polling interval (with jitter) and at once when a verified webhook
//! arrives. Bursts coalesce: any number of triggers while a fetch runs lead to exactly one
//! more fetch.

use rand::Rng;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The default polling interval: 60 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Why a fetch started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The first fetch, when the loop starts.
    Start,
    /// The polling interval elapsed.
    Poll,
    /// A trigger (a verified webhook) asked for it.
    Trigger,
}

/// Asks the fetch loop for a fetch now. Cheap to clone; `trigger()` never blocks.
#[derive(Debug, Clone, Default)]
pub struct Trigger {
    notify: Arc<Notify>,
}

impl Trigger {
    /// A new trigger.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests a fetch. While one is pending, further requests are absorbed into it.
    pub fn trigger(&self) {
        // `notify_one` stores at most one permit when the loop is busy: that is the coalescing.
        self.notify.notify_one();
    }
}

/// The polling schedule.
#[derive(Debug, Clone, Copy)]
pub struct Poll {
    /// The base interval.
    pub interval: Duration,
    /// Up to this fraction of the interval is added at random to each wait, so that many
    /// agents do not poll a server in lockstep.
    pub jitter: f64,
}

impl Default for Poll {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            jitter: 0.1,
        }
    }
}

impl Poll {
    /// The next wait: the interval plus a random share of it up to `jitter`.
    #[must_use]
    pub fn next_wait(&self) -> Duration {
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return self.interval;
        }
        let extra = rand::thread_rng().gen_range(0.0..=jitter);
        self.interval + self.interval.mul_f64(extra)
    }
}

/// Runs `fetch` at start, then after every poll interval and whenever `trigger` fires, until
/// `shutdown` completes. Fetches never overlap.
pub async fn run<F, Fut>(
    trigger: Trigger,
    poll: Poll,
    shutdown: impl Future<Output = ()>,
    mut fetch: F,
) where
    F: FnMut(Cause) -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    let mut cause = Cause::Start;
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = fetch(cause) => {}
        }
        cause = tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = trigger.notify.notified() => Cause::Trigger,
            () = tokio::time::sleep(poll.next_wait()) => Cause::Poll,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds() {
        let poll = Poll {
            interval: Duration::from_secs(60),
            jitter: 0.1,
        };
        for _ in 0..100 {
            let wait = poll.next_wait();
            assert!(wait >= Duration::from_secs(60) && wait <= Duration::from_secs(66));
        }
    }
}
