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
pub const LEAKED_PASSWORD: &str = "pa55w0rd-plaintext-c3d4";
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

pub fn config(yaml: &str) -> NotificationsConfig {
    let c: NotificationsConfig = serde_saphyr::from_str(yaml).expect("the test config parses");
    c.validate().expect("the test config is valid");
    c
}

pub fn app() -> AppInfo {
    AppInfo {
        name: "web".into(),
        namespace: "shop".into(),
        labels: None,
    }
}

pub fn commit(revision: &str) -> Commit {
    Commit {
        revision: revision.into(),
        subject: Some("web: bump the image".into()),
        author: Some("Dev One <dev@example.com>".into()),
    }
}

pub fn failed(message: &str) -> Observation {
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

pub fn succeeded(revision: &str) -> Observation {
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
