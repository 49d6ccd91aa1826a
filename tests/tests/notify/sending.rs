//! What each provider is sent, and when: the success of a commit that changed nothing (to
//! commit statuses, to chat only when asked), Flux's event format signed with HMAC, a full
//! queue dropping its oldest info event, a timed-out request retried and the rate limit.

use crate::delivery::{
    Counts, FIXED_REVISION, LEAKED_PASSWORD, REVISION, app, assert_clean, commit, config, failed,
    providers_yaml, secret_file, succeeded,
};
use crate::receiver::{self, Receiver};
use crate::support::wait_for;
use std::sync::Arc;
use std::time::Duration;
use tether_agent::notify::machine::Observation;
use tether_agent::notify::{AppInfo, NotificationsConfig, Notifier};

fn succeeded_unchanged(revision: &str) -> Observation {
    let mut o = succeeded(revision);
    o.seen[0].reason = "Unchanged".into();
    o.seen[0].message = "0 created, 0 configured, 0 pruned".into();
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_changed_nothing_goes_to_commit_statuses_and_to_chat_only_when_asked() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let r = Receiver::start();
    let yaml = format!(
        "{}  rules:\n  - providers: [slack, discord, github]\n  - providers: [discord]\n    events: [syncSucceeded]\n",
        providers_yaml(dir.path(), &r.url, "")
    );
    let counts = Arc::new(Counts::default());
    let n = Notifier::start(&config(&yaml), None, "tether-system", counts.clone()).await;
    n.observe(&app(), &commit(REVISION), &succeeded_unchanged(REVISION));
    wait_for(
        "the commit status and the asked-for chat message",
        Duration::from_secs(20),
        || (r.accepted("github").len() == 1 && r.accepted("discord").len() == 1).then_some(()),
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        r.accepted("slack").is_empty(),
        "no rule asks slack for successes: {:?}",
        r.accepted("slack")
    );
    assert_eq!(r.accepted("github")[0].json["state"], "success");
    // A commit that changed objects is news for everyone.
    n.observe(&app(), &commit(FIXED_REVISION), &succeeded(FIXED_REVISION));
    wait_for("the success in slack", Duration::from_secs(20), || {
        (r.accepted("slack").len() == 1).then_some(())
    });
    assert_eq!(r.accepted("github").len(), 2, "one status per commit");
    assert_clean(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_in_flux_format_passes_a_flux_receivers_checks_and_its_hmac() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let r = Receiver::start();
    let yaml = format!(
        "cluster: test\nagentUrl: http://tether.example\nproviders:\n- name: flux\n  type: genericHmac\n  format: flux\n  address: {}/fluxhmac/events\n  tokenFrom: {{file: {}}}\n  retry: {{attempts: 3, backoff: 50ms}}\n",
        r.url,
        secret_file(dir.path(), "hmac", receiver::HMAC_KEY)
    );
    let counts = Arc::new(Counts::default());
    let n = Notifier::start(&config(&yaml), None, "tether-system", counts.clone()).await;
    let message = format!("render: fetch https://deploy:{LEAKED_PASSWORD}@git.example.com/base");
    n.observe(&app(), &commit(REVISION), &failed(&message));
    let got = wait_for("the Flux event", Duration::from_secs(20), || {
        r.accepted("fluxhmac").into_iter().next()
    });
    assert_clean(&r);
    let e = &got.json;
    assert_eq!(e["involvedObject"]["kind"], "Kustomization", "{e}");
    assert_eq!(e["involvedObject"]["namespace"], "shop");
    assert_eq!(e["involvedObject"]["name"], "web");
    assert_eq!(e["severity"], "error");
    assert_eq!(e["reason"], "BuildFailed");
    assert_eq!(
        e["metadata"]["kustomize.toolkit.fluxcd.io/revision"],
        format!("sha1:{REVISION}")
    );
    assert_eq!(e["metadata"]["tether.dev/event"], "syncFailed");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("web: bump the image")),
        "{e}"
    );
    // A tether.yaml format other than on a webhook is refused at load.
    let bad: NotificationsConfig = serde_saphyr::from_str(
        "providers:\n- {name: s, type: slack, address: 'http://x', format: flux}\n",
    )
    .expect("parses");
    assert_eq!(
        bad.validate().expect_err("refused").0,
        "providers[0].format"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_its_oldest_info_event_and_counts_it() {
    let r = Receiver::start();
    // The receiver is down: the first event stays in delivery while the others queue.
    r.fail("hook", &[503; 1000]);
    let yaml = format!(
        "providers:\n- name: hook\n  type: webhook\n  address: {}/hook/events\n  queue: 1\n  retry: {{attempts: 1000, backoff: 100ms, maxBackoff: 200ms}}\n  rateLimit: {{perMinute: 6000}}\n",
        r.url
    );
    let counts = Arc::new(Counts::default());
    let n = Notifier::start(&config(&yaml), None, "tether-system", counts.clone()).await;
    for name in ["a", "b", "c"] {
        let info = AppInfo {
            name: name.into(),
            namespace: "shop".into(),
            labels: None,
        };
        n.observe(&info, &commit(REVISION), &succeeded(REVISION));
        if name == "a" {
            wait_for("the first in delivery", Duration::from_secs(20), || {
                (!r.received().is_empty()).then_some(())
            });
        }
    }
    let dropped = counts.dropped.lock().expect("lock").clone();
    assert_eq!(dropped, ["hook"], "b made room for c");
    r.heal("hook");
    wait_for("a and c delivered", Duration::from_secs(20), || {
        (r.accepted("hook").len() == 2).then_some(())
    });
    let apps: Vec<String> = r
        .accepted("hook")
        .iter()
        .map(|x| x.json["app"].to_string())
        .collect();
    assert_eq!(apps, ["\"a\"", "\"c\""]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_request_is_retried_and_a_provider_keeps_to_its_rate_limit() {
    let r = Receiver::start();
    // The first request gets no answer in time (the provider waits 300ms).
    r.fail("hook", &[receiver::HANG]);
    let yaml = format!(
        "providers:\n- name: hook\n  type: webhook\n  address: {}/hook/events\n  timeout: 300ms\n  retry: {{attempts: 3, backoff: 50ms}}\n  rateLimit: {{perMinute: 120}}\n",
        r.url
    );
    let counts = Arc::new(Counts::default());
    let n = Notifier::start(&config(&yaml), None, "tether-system", counts.clone()).await;
    for name in ["a", "b", "c"] {
        let info = AppInfo {
            name: name.into(),
            namespace: "shop".into(),
            labels: None,
        };
        n.observe(&info, &commit(REVISION), &failed("boom"));
    }
    wait_for("three delivered", Duration::from_secs(30), || {
        (r.accepted("hook").len() == 3).then_some(())
    });
    assert_eq!(
        counts.retried.lock().expect("lock").clone(),
        ["hook"],
        "one retry, after the timeout"
    );
    assert!(counts.failed.lock().expect("lock").is_empty());
    // 120 a minute: requests (the retry too) at least half a second apart.
    let arrivals: Vec<std::time::Instant> = r.received().iter().map(|x| x.at).collect();
    assert_eq!(arrivals.len(), 4, "the timed-out one and three");
    for pair in arrivals.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(
            gap >= Duration::from_millis(450),
            "requests {gap:?} apart, under the rate limit's 500ms"
        );
    }
    assert_clean(&r);
}
