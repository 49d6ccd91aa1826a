//! The notifier as a library against the receivers: every provider's payload, one event per
//! change of state, retries on 500 and 429, failures reported, Alertmanager and SMTP for real.

use crate::receiver::{self, Receiver};
use crate::support::wait_for;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tether_agent::notify::delivery::Report;
use tether_agent::notify::machine::Observation;
use tether_agent::notify::{
    AppInfo, Commit, Condition, Event, Kind, NotificationsConfig, Notifier,
};

/// A plaintext that leaks into an error message (a URL with credentials): never sent.
const LEAKED_PASSWORD: &str = "pa55w0rd-plaintext-c3d4";
pub const REVISION: &str = "0123456789abcdef0123456789abcdef01234567";
pub const FIXED_REVISION: &str = "89abcdef0123456789abcdef0123456789abcdef";

#[derive(Default)]
pub struct Counts {
    pub delivered: Mutex<Vec<String>>,
    pub failed: Mutex<Vec<(String, String)>>,
    pub retried: Mutex<Vec<String>>,
    pub dropped: Mutex<Vec<String>>,
}

impl Report for Counts {
    fn delivered(&self, provider: &str, _: &Event) {
        self.delivered.lock().expect("lock").push(provider.into());
    }
    fn failed(&self, provider: &str, _: &Event, error: &str) {
        self.failed
            .lock()
            .expect("lock")
            .push((provider.into(), error.into()));
    }
    fn dropped(&self, provider: &str, _: &Event) {
        self.dropped.lock().expect("lock").push(provider.into());
    }
    fn retried(&self, provider: &str) {
        self.retried.lock().expect("lock").push(provider.into());
    }
}

pub fn secret_file(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).expect("write a secret file");
    path.display().to_string()
}

/// The providers of the receiver's services, retried fast; `extra` adds more providers.
pub fn providers_yaml(dir: &Path, url: &str, extra: &str) -> String {
    let hook = |service: &str| {
        secret_file(
            dir,
            &format!("{service}-url"),
            &format!("{url}/{service}/{}", receiver::HOOK_TOKEN),
        )
    };
    let fast =
        "retry: {attempts: 4, backoff: 50ms, maxBackoff: 2s}\n    rateLimit: {perMinute: 6000}";
    format!(
        "  cluster: test
  agentUrl: http://tether.example
  providers:
  - name: slack
    type: slack
    addressFrom: {{file: {slack}}}
    {fast}
  - name: slack-bot
    type: slackBot
    address: {url}/slackbot/api/chat.postMessage
    tokenFrom: {{file: {bot}}}
    channel: '#deploys'
    {fast}
  - name: teams
    type: teams
    addressFrom: {{file: {teams}}}
    {fast}
  - name: discord
    type: discord
    addressFrom: {{file: {discord}}}
    {fast}
  - name: chat
    type: googleChat
    addressFrom: {{file: {chat}}}
    {fast}
  - name: hook
    type: webhook
    address: {url}/hook/events
    {fast}
  - name: hmac
    type: genericHmac
    address: {url}/hmac/events
    tokenFrom: {{file: {hmac}}}
    {fast}
  - name: github
    type: github
    address: {url}/github
    repository: acme/config
    tokenFrom: {{file: {gh}}}
    {fast}
  - name: gitlab
    type: gitlab
    address: {url}/gitlab
    repository: acme/platform/config
    tokenFrom: {{file: {gl}}}
    {fast}
{extra}",
        slack = hook("slack"),
        teams = hook("teams"),
        discord = hook("discord"),
        chat = hook("chat"),
        bot = secret_file(dir, "bot", receiver::SLACK_BOT_TOKEN),
        hmac = secret_file(dir, "hmac", receiver::HMAC_KEY),
        gh = secret_file(dir, "gh", receiver::GITHUB_TOKEN),
        gl = secret_file(dir, "gl", receiver::GITLAB_TOKEN),
    )
}

pub const SERVICES: [&str; 9] = [
    "slack", "slackbot", "teams", "discord", "chat", "hook", "hmac", "github", "gitlab",
];

/// Every plaintext a payload must never hold.
pub fn forbidden() -> Vec<&'static str> {
    vec![
        LEAKED_PASSWORD,
        receiver::HOOK_TOKEN,
        receiver::SLACK_BOT_TOKEN,
        receiver::GITHUB_TOKEN,
        receiver::GITLAB_TOKEN,
        receiver::HMAC_KEY,
    ]
}

pub fn assert_clean(r: &Receiver) {
    for got in r.received() {
        assert!(
            got.problems.is_empty(),
            "{} request refused: {:?}\n{}",
            got.service,
            got.problems,
            got.body
        );
        for secret in forbidden() {
            assert!(
                !got.body.contains(secret),
                "{} payload holds a secret: {}",
                got.service,
                got.body
            );
        }
    }
}

fn config(yaml: &str) -> NotificationsConfig {
    let c: NotificationsConfig = serde_saphyr::from_str(yaml).expect("the test config parses");
    c.validate().expect("the test config is valid");
    c
}

fn app() -> AppInfo {
    AppInfo {
        name: "web".into(),
        namespace: "shop".into(),
        labels: None,
    }
}

fn commit(revision: &str) -> Commit {
    Commit {
        revision: revision.into(),
        subject: Some("web: bump the image".into()),
        author: Some("Dev One <dev@example.com>".into()),
    }
}

fn failed(message: &str) -> Observation {
    Observation {
        evaluated: vec![Kind::SyncFailed],
        seen: vec![Condition {
            kind: Kind::SyncFailed,
            fingerprint: "render/RenderFailed".into(),
            stage: Some("render".into()),
            reason: "RenderFailed".into(),
            message: message.into(),
        }],
        synced_revision: None,
    }
}

fn succeeded(revision: &str) -> Observation {
    Observation {
        evaluated: vec![Kind::SyncFailed],
        seen: vec![Condition {
            kind: Kind::SyncSucceeded,
            fingerprint: revision.into(),
            stage: None,
            reason: "Succeeded".into(),
            message: "1 configured".into(),
        }],
        synced_revision: Some(revision.into()),
    }
}

fn accepted_counts(r: &Receiver) -> Vec<usize> {
    SERVICES.iter().map(|s| r.accepted(s).len()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_gets_its_documented_payload_once_per_change_with_retries() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let r = Receiver::start();
    for s in SERVICES {
        r.fail(s, &[500, 429]);
    }
    let c = config(&providers_yaml(dir.path(), &r.url, ""));
    let counts = Arc::new(Counts::default());
    let n = Notifier::start(&c, None, "tether-system", counts.clone()).await;
    let slack_url = format!("{}/slack/{}", r.url, receiver::HOOK_TOKEN);
    let message = format!(
        "render: kustomization.yaml: fetch https://deploy:{LEAKED_PASSWORD}@git.example.com/base failed; posting to {slack_url}"
    );
    n.observe(&app(), &commit(REVISION), &failed(&message));
    let one_each = vec![1; SERVICES.len()];
    wait_for("one failure per provider", Duration::from_secs(30), || {
        (accepted_counts(&r) == one_each).then_some(())
    });
    // The same state again: nothing new.
    n.observe(&app(), &commit(REVISION), &failed(&message));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        accepted_counts(&r),
        one_each,
        "no repeat while the state holds"
    );
    // Fixed: the recovery and the success (commit statuses: the success on the new commit).
    n.observe(&app(), &commit(FIXED_REVISION), &succeeded(FIXED_REVISION));
    let want: Vec<usize> = SERVICES
        .iter()
        .map(|s| if s.starts_with("git") { 2 } else { 3 })
        .collect();
    wait_for(
        "the recovery and the success",
        Duration::from_secs(30),
        || (accepted_counts(&r) == want).then_some(()),
    );
    assert_clean(&r);
    assert!(counts.failed.lock().expect("lock").is_empty());
    assert_eq!(
        counts.retried.lock().expect("lock").len(),
        2 * SERVICES.len(),
        "one retry after the 500, one after the 429"
    );
    let slack = r.accepted("slack");
    assert!(
        slack[0].json["text"]
            .as_str()
            .is_some_and(|t| t.contains("sync failed (render)")),
        "{}",
        slack[0].body
    );
    assert!(
        slack[0].body.contains("web: bump the image"),
        "commit subject: {}",
        slack[0].body
    );
    assert!(
        slack[0].body.contains("***"),
        "the leaked credential is masked: {}",
        slack[0].body
    );
    assert!(
        slack[1].json["text"]
            .as_str()
            .is_some_and(|t| t.contains("sync recovered")),
        "{}",
        slack[1].body
    );
    let gh = r.accepted("github");
    assert_eq!(gh[0].path, format!("repos/acme/config/statuses/{REVISION}"));
    assert_eq!(gh[0].json["state"], "failure");
    assert_eq!(gh[0].json["context"], "tether/test/web");
    assert_eq!(
        gh[1].path,
        format!("repos/acme/config/statuses/{FIXED_REVISION}")
    );
    assert_eq!(gh[1].json["state"], "success");
    let gl = r.accepted("gitlab");
    assert_eq!(
        gl[0].path,
        format!("api/v4/projects/acme%2Fplatform%2Fconfig/statuses/{REVISION}")
    );
    assert_eq!(gl[0].json["state"], "failed");
    let hook = r.accepted("hook");
    assert_eq!(hook[0].json["kind"], "syncFailed");
    assert_eq!(
        hook[0].json["commit"]["author"],
        "Dev One <dev@example.com>"
    );
    assert_eq!(hook[0].json["link"], "http://tether.example/apps/web");
    assert_eq!(hook[1].json["resolved"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_keeps_failing_is_reported_and_the_next_event_still_goes() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let r = Receiver::start();
    r.fail("hook", &[503, 503, 503, 503]);
    let yaml = format!(
        "providers:\n- name: hook\n  type: webhook\n  address: {}/hook/x\n  retry: {{attempts: 3, backoff: 20ms}}\n  rateLimit: {{perMinute: 6000}}\n",
        r.url
    );
    let _ = dir;
    let counts = Arc::new(Counts::default());
    let n = Notifier::start(&config(&yaml), None, "tether-system", counts.clone()).await;
    n.observe(&app(), &commit(REVISION), &failed("boom"));
    wait_for("the failure reported", Duration::from_secs(20), || {
        (!counts.failed.lock().expect("lock").is_empty()).then_some(())
    });
    let failures = counts.failed.lock().expect("lock").clone();
    assert_eq!(failures.len(), 1);
    assert!(failures[0].1.contains("503"), "{failures:?}");
    assert_eq!(counts.retried.lock().expect("lock").len(), 2);
    n.observe(&app(), &commit(FIXED_REVISION), &succeeded(FIXED_REVISION));
    wait_for("the next events delivered", Duration::from_secs(20), || {
        (r.accepted("hook").len() == 2).then_some(())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_shows_the_alert_and_resolves_it() {
    let am = crate::peers_notify::alertmanager();
    let yaml = format!(
        "cluster: test\nalertRefresh: 1s\nproviders:\n- name: am\n  type: alertmanager\n  address: {}\n  retry: {{attempts: 10, backoff: 200ms}}\n  rateLimit: {{perMinute: 6000}}\n",
        am.url()
    );
    let counts = Arc::new(Counts::default());
    let n = Notifier::start(&config(&yaml), None, "tether-system", counts.clone()).await;
    n.observe(&app(), &commit(REVISION), &failed("render failed"));
    let alert = wait_for("the alert in Alertmanager", Duration::from_secs(30), || {
        let alerts = tokio::task::block_in_place(|| am.alerts());
        alerts
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "TetherSyncFailed" && a["labels"]["app"] == "web")
    });
    assert_eq!(alert["labels"]["app"], "web");
    assert_eq!(alert["labels"]["cluster"], "test");
    assert_eq!(alert["labels"]["severity"], "error");
    assert_eq!(alert["status"]["state"], "active");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("sync failed"))
    );
    // Sent again every second, each time lasting three: it is still firing well after.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let still = tokio::task::block_in_place(|| am.alerts());
    assert!(
        still
            .iter()
            .any(|a| a["labels"]["alertname"] == "TetherSyncFailed" && a["labels"]["app"] == "web"),
        "the alert of a condition that holds stays active: {still:?}"
    );
    // A new agent (a restart, a new leader) reads what was kept and goes on announcing it.
    let kept = n.kept("web").expect("kept");
    drop(n);
    let n = Notifier::start(&config(&yaml), None, "tether-system", counts.clone()).await;
    n.restore("web", Some(&kept));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let still = tokio::task::block_in_place(|| am.alerts());
    assert!(
        still
            .iter()
            .any(|a| a["labels"]["alertname"] == "TetherSyncFailed" && a["labels"]["app"] == "web"),
        "still active well after the first agent's hold: {still:?}"
    );
    n.observe(&app(), &commit(FIXED_REVISION), &succeeded(FIXED_REVISION));
    wait_for("the alert resolved", Duration::from_secs(30), || {
        let alerts = tokio::task::block_in_place(|| am.alerts());
        (!alerts
            .iter()
            .any(|a| a["labels"]["alertname"] == "TetherSyncFailed" && a["labels"]["app"] == "web"))
        .then_some(())
    });
    assert!(counts.failed.lock().expect("lock").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_over_starttls_with_auth_to_a_real_smtp_server() {
    const PASSWORD: &str = crate::peers_notify::SMTP_PASSWORD;
    let smtp = crate::peers_notify::smtp();
    let dir = tempfile::tempdir().expect("temporary folder");
    let yaml = format!(
        "providers:\n- name: mail\n  type: smtp\n  smtp: {{server: '127.0.0.1:{port}', from: tether@example.com, to: [ops@example.com], username: tether}}\n  passwordFrom: {{file: {pw}}}\n  caFile: {ca}\n  retry: {{attempts: 3, backoff: 100ms}}\n",
        port = smtp.port,
        pw = secret_file(dir.path(), "pw", PASSWORD),
        ca = smtp.cert.display(),
    );
    let counts = Arc::new(Counts::default());
    let n = Notifier::start(&config(&yaml), None, "tether-system", counts.clone()).await;
    n.observe(
        &app(),
        &commit(REVISION),
        &failed("render failed: bad YAML"),
    );
    let mail = wait_for("the mail", Duration::from_secs(30), || {
        let failed = counts.failed.lock().expect("lock").clone();
        assert!(failed.is_empty(), "delivery failed: {failed:?}");
        smtp.messages("ops@example.com").into_iter().next()
    });
    assert_eq!(mail["tls"], true, "sent after STARTTLS");
    assert_eq!(mail["from"], "tether@example.com");
    assert_eq!(mail["to"][0], "ops@example.com");
    let data = mail["data"].as_str().expect("data");
    assert!(!data.contains(PASSWORD));
    assert!(
        data.contains("Subject: [tether] [error] app web: sync failed (render)"),
        "{data}"
    );
    let body_b64: String = data
        .split("\r\n\r\n")
        .nth(1)
        .or_else(|| data.split("\n\n").nth(1))
        .expect("a body")
        .split_whitespace()
        .collect();
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD
        .decode(body_b64)
        .expect("base64 body");
    let body = String::from_utf8(body).expect("UTF-8");
    assert!(body.contains("render failed: bad YAML"), "{body}");
    assert!(
        body.contains("web: bump the image (Dev One <dev@example.com>)"),
        "{body}"
    );
    assert!(!body.contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_bot_answer_with_ok_false_is_a_failure_not_retried() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let r = Receiver::start();
    let yaml = format!(
        "providers:\n- name: bot\n  type: slackBot\n  channel: '#x'\n  address: {}/slackbot/api/chat.postMessage\n  tokenFrom: {{file: {}}}\n  retry: {{attempts: 3, backoff: 20ms}}\n",
        r.url,
        secret_file(dir.path(), "bot", "xoxb-a-revoked-token-0000")
    );
    let counts = Arc::new(Counts::default());
    let n = Notifier::start(&config(&yaml), None, "tether-system", counts.clone()).await;
    n.observe(&app(), &commit(REVISION), &failed("boom"));
    wait_for("the failure reported", Duration::from_secs(20), || {
        counts.failed.lock().expect("lock").first().cloned()
    });
    let failed = counts.failed.lock().expect("lock").clone();
    assert!(failed[0].1.contains("invalid_auth"), "{failed:?}");
    assert!(
        counts.retried.lock().expect("lock").is_empty(),
        "an auth error is not retried"
    );
    assert_eq!(r.received().len(), 1);
}

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
