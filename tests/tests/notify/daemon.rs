//! End to end through the daemon: an app broken in Git notifies each provider once, its fix
//! the recovery, a drifted object the revert; an agent killed with SIGKILL and restarted
//! sends no duplicate.

use crate::delivery::{SERVICES, assert_clean, providers_yaml};
use crate::peers_notify::{Alertmanager, SMTP_PASSWORD, SMTP_USER, Smtp};
use crate::receiver::Receiver;
use crate::support::{self, Agent, Cluster, Repo, Settings, http, wait_for};
use hmac::Mac as _;
use std::time::Duration;

/// A sealed value of the app: never in a payload.
const SEALED_VALUE: &str = "sealed-db-password-e2e-77aa";
/// The recipient of this test's mails.
const MAIL_TO: &str = "oncall@example.com";

/// Waits until the SMTP server holds `n` mails (never more).
fn wait_mails(smtp: &Smtp, what: &str, n: usize) {
    wait_for(what, Duration::from_secs(60), || {
        let got = smtp.messages(MAIL_TO).len();
        assert!(got <= n, "{what}: {got} mails, more than {n}");
        (got == n).then_some(())
    });
}

fn signed(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(support::WEBHOOK_SECRET.as_bytes())
        .expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn push(agent: &Agent) {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let (code, text) = http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", &signed(body))],
        body,
    );
    assert_eq!(code, 202, "{text}");
}

fn counts(r: &Receiver) -> Vec<usize> {
    SERVICES.iter().map(|s| r.accepted(s).len()).collect()
}

/// What each service should have: chat services (`chat`), the generic webhooks (`hook`,
/// `hmac`: every event) and commit statuses (`git*`: syncs only).
pub fn want(chat: usize, generic: usize, commit_status: usize) -> Vec<usize> {
    SERVICES
        .iter()
        .map(|s| {
            if s.starts_with("git") {
                commit_status
            } else if ["hook", "hmac"].contains(s) {
                generic
            } else {
                chat
            }
        })
        .collect()
}

pub fn wait_counts(r: &Receiver, what: &str, expected: &[usize]) {
    wait_for(what, Duration::from_secs(60), || {
        let now = counts(r);
        assert!(
            now.iter().zip(expected).all(|(n, w)| n <= w),
            "{what}: more than expected: {now:?} > {expected:?}\n{:#?}",
            r.received()
                .iter()
                .map(|x| (&x.service, &x.body))
                .collect::<Vec<_>>()
        );
        (now == expected).then_some(())
    });
}

fn alert_of_one(am: &Alertmanager) -> Option<serde_json::Value> {
    am.alerts()
        .into_iter()
        .find(|a| a["labels"]["alertname"] == "TetherSyncFailed" && a["labels"]["app"] == "one")
}

#[test]
fn a_broken_app_notifies_once_per_provider_then_recovery_and_drift_without_duplicates_after_a_kill()
{
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    repo.upstream
        .write(
            "apps/one/db.sealed.yaml",
            support::sealed("one", "db", "password", SEALED_VALUE),
        )
        .expect("write");
    repo.upstream
        .commit("one: a sealed password")
        .expect("commit");
    let receiver = Receiver::start();
    let am = crate::peers_notify::alertmanager();
    let smtp = crate::peers_notify::smtp();
    let dir = tempfile::tempdir().expect("temporary folder");
    let names = "slack, slack-bot, teams, discord, chat, hook, hmac, github, gitlab, am, mail";
    let extra = format!(
        "notifications:\n{}  rules:\n  - providers: [{names}]\n    apps: {{names: [one]}}\n",
        providers_yaml(
            dir.path(),
            &receiver.url,
            &format!(
                "  - name: am\n    type: alertmanager\n    address: {}\n  - name: mail\n    type: smtp\n    smtp: {{server: '127.0.0.1:{}', from: tether@example.com, to: [{MAIL_TO}], username: {SMTP_USER}}}\n    passwordFrom: {{file: {}}}\n    caFile: {}\n",
                am.url(),
                smtp.port,
                crate::delivery::secret_file(dir.path(), "smtp-password", SMTP_PASSWORD),
                smtp.cert.display(),
            ),
        )
    );
    let settings = Settings {
        extra: &extra,
        ..Settings::default()
    };
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "notify-a", settings);
    // The first sync of app one: a success for each (a commit status too); nothing for two.
    wait_counts(&receiver, "the first sync's success", &want(1, 1, 1));
    wait_mails(&smtp, "the first sync's mail", 1);
    // Broken in Git: one failure per provider, the alert in Alertmanager.
    repo.upstream
        .write("apps/one/broken.yaml", "kind: [unclosed\n")
        .expect("write");
    repo.upstream.commit("one: break it").expect("commit");
    push(&agent);
    wait_counts(&receiver, "one failure per provider", &want(2, 2, 2));
    wait_mails(&smtp, "the failure's mail", 2);
    wait_for("the alert", Duration::from_secs(30), || alert_of_one(&am));
    let slack = receiver.accepted("slack");
    assert!(
        slack[1].body.contains("sync failed (render)") && slack[1].body.contains("one: break it"),
        "{}",
        slack[1].body
    );
    // SIGKILL and a restart: the state is unchanged, nothing is sent again. (Delivery is at
    // least once: an event delivered in the instant before the kill, whose delivery was not
    // recorded yet, would be sent again; so the kill comes once the status says none waits.)
    wait_for("the deliveries recorded", Duration::from_secs(30), || {
        crate::restart::pending_of_one(&cluster)
            .is_empty()
            .then_some(())
    });
    let mut agent = agent;
    agent.process.stop();
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "notify-a", settings);
    wait_for(
        "the restarted agent's round",
        Duration::from_secs(60),
        || {
            let (code, body) = agent.get("/api/v1/apps/one");
            (code == 200 && body.contains("\"sync\":\"Failed\"")).then_some(())
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        counts(&receiver),
        want(2, 2, 2),
        "no duplicate after the restart ({} mails): {:#?}",
        smtp.messages(MAIL_TO).len(),
        receiver
            .accepted("hook")
            .iter()
            .map(|x| &x.body)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        smtp.messages(MAIL_TO).len(),
        2,
        "no duplicate mail after the restart"
    );
    // Fixed: the recovery, and the success of the new commit, which changed no object: a
    // commit status and the generic webhooks get it, the chat services (no rule asks for
    // successes by name) only the recovery. The alert resolves.
    repo.upstream
        .remove("apps/one/broken.yaml")
        .expect("remove");
    repo.upstream.commit("one: fix it").expect("commit");
    push(&agent);
    wait_counts(&receiver, "the recovery and the success", &want(3, 4, 3));
    wait_mails(&smtp, "the recovery's mail", 3);
    wait_for("the alert resolved", Duration::from_secs(30), || {
        alert_of_one(&am).is_none().then_some(())
    });
    // Drift: the object is changed in the cluster and reverted; the revert is notified.
    cluster.ok(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "one",
        "--type=merge",
        "-p",
        r#"{"data":{"value":"drifted"}}"#,
    ]);
    wait_counts(&receiver, "the drift revert", &want(4, 5, 3));
    wait_mails(&smtp, "the revert's mail", 4);
    let mails = smtp.texts(MAIL_TO);
    assert!(mails[1].contains("sync failed (render)"), "{}", mails[1]);
    assert!(mails[2].contains("sync recovered"), "{}", mails[2]);
    assert!(mails[3].contains("drift reverted"), "{}", mails[3]);
    for mail in &mails {
        for secret in crate::delivery::forbidden()
            .into_iter()
            .chain([SEALED_VALUE, SMTP_PASSWORD])
        {
            assert!(!mail.contains(secret), "a secret in a mail: {mail}");
        }
    }
    let hook = receiver.accepted("hook");
    let kinds: Vec<&str> = hook
        .iter()
        .filter_map(|h| h.json["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "syncSucceeded",
            "syncFailed",
            "syncFailed",
            "syncSucceeded",
            "driftReverted"
        ],
        "success, failure, its recovery, the new success, the revert"
    );
    assert_eq!(hook[2].json["resolved"], true);
    assert_eq!(hook[3].json["reason"], "Unchanged", "{}", hook[3].json);
    let github = receiver.accepted("github");
    assert_eq!(github[2].json["state"], "success", "{}", github[2].body);
    assert_ne!(
        github[2].path, github[1].path,
        "the success is on the new commit"
    );
    assert!(
        hook[4]
            .json
            .to_string()
            .contains("ConfigMap one/settings changed in the cluster by kubectl"),
        "the revert names the field manager that changed the object: {}",
        hook[4].json
    );
    for got in receiver.received() {
        assert!(
            !got.body.contains("\"app\":\"two\""),
            "app two is not in the rules: {}",
            got.body
        );
        assert!(
            !got.body.contains(SEALED_VALUE),
            "a sealed value in {}: {}",
            got.service,
            got.body
        );
    }
    assert_clean(&receiver);
    for alert in am.alerts() {
        assert!(!alert.to_string().contains(SEALED_VALUE));
    }
    let logs = agent.logs();
    for secret in crate::delivery::forbidden()
        .into_iter()
        .chain([SEALED_VALUE, SMTP_PASSWORD])
    {
        assert!(!logs.contains(secret), "the agent's log holds a secret");
    }
    drop(agent);
}

#[test]
fn a_bad_notifications_section_stops_the_agent_at_start_naming_the_field() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = dir.path().join("tether.yaml");
    std::fs::write(
        &config,
        "notifications:\n  providers:\n  - {name: s, type: slack, addressFrom: {file: url}}\n  rules:\n  - providers: [team-slack]\n",
    )
    .expect("write");
    let out = support::agent(&["run", "--config", &config.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("notifications.rules[0].providers") && stderr.contains("team-slack"),
        "{stderr}"
    );
    std::fs::write(
        &config,
        "notifications:\n  providers:\n  - {name: s, type: slack, adress: x}\n",
    )
    .expect("write");
    let out = support::agent(&["run", "--config", &config.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("adress"), "{stderr}");
}

#[test]
fn flux_provider_and_alert_objects_and_argo_subscriptions_in_an_app_are_honoured() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    let receiver = Receiver::start();
    repo.upstream
        .write(
            "apps/one/notifications.yaml",
            format!(
                "apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: team-hook, namespace: one}}
spec: {{type: generic, address: '{url}/flux/events'}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: team, namespace: one}}
spec:
  providerRef: {{name: team-hook}}
  eventSeverity: info
  eventSources: [{{kind: Kustomization, name: one}}]
",
                url = receiver.url
            ),
        )
        .expect("write");
    repo.upstream
        .write(
            "apps/two/settings.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  annotations:\n    notifications.argoproj.io/subscribe.on-sync-failed.slack: ops-alerts\ndata:\n  value: two\n",
        )
        .expect("write");
    repo.upstream
        .commit("notifications in the apps")
        .expect("commit");
    let dir = tempfile::tempdir().expect("temporary folder");
    let token = dir.path().join("bot");
    std::fs::write(&token, crate::receiver::SLACK_BOT_TOKEN).expect("write");
    let extra = format!(
        "notifications:
  providers:
  - name: slack-bot
    type: slackBot
    address: {url}/slackbot/api/chat.postMessage
    tokenFrom: {{file: {token}}}
    channel: '#deploys'
    retry: {{attempts: 3, backoff: 50ms}}
    rateLimit: {{perMinute: 6000}}
  - name: down
    type: webhook
    address: http://127.0.0.1:1/nobody-listens
    retry: {{attempts: 2, backoff: 50ms}}
  rules:
  - providers: [slack-bot]
    apps: {{names: [no-such-app]}}
  - providers: [down]
    apps: {{names: [one]}}
",
        url = receiver.url,
        token = token.display()
    );
    let settings = Settings {
        extra: &extra,
        ..Settings::default()
    };
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "notify-b", settings);
    // The Flux objects are used, not applied (the cluster has no such kind): app one syncs
    // and its success goes to the Flux provider.
    wait_for(
        "the Flux provider's first event",
        Duration::from_secs(60),
        || receiver.accepted("flux").into_iter().next(),
    );
    let (_, status) = agent.get("/api/v1/apps/one");
    assert!(status.contains("\"sync\":\"Succeeded\""), "{status}");
    // A Flux `generic` provider gets Flux's event (the receiver checks its fields).
    let first = &receiver.accepted("flux")[0].json;
    assert_eq!(first["involvedObject"]["kind"], "Kustomization", "{first}");
    assert_eq!(first["involvedObject"]["name"], "one", "{first}");
    assert_eq!(first["reason"], "ReconciliationSucceeded", "{first}");
    assert_eq!(first["metadata"]["tether.dev/event"], "syncSucceeded");
    assert!(
        receiver.accepted("slackbot").is_empty(),
        "no subscription for successes"
    );
    // App two breaks: its Argo CD subscription sends to the Slack bot's channel ops-alerts.
    repo.upstream
        .write("apps/two/broken.yaml", "kind: [unclosed\n")
        .expect("write");
    repo.upstream.commit("two: break it").expect("commit");
    push(&agent);
    let sent = wait_for(
        "the subscription's message",
        Duration::from_secs(60),
        || receiver.accepted("slackbot").into_iter().next(),
    );
    assert_eq!(sent.json["channel"], "ops-alerts");
    assert!(sent.body.contains("app two: sync failed"), "{}", sent.body);
    std::thread::sleep(Duration::from_millis(500));
    for got in receiver.accepted("flux") {
        assert_eq!(
            got.json["involvedObject"]["name"], "one",
            "the Flux Alert names app one only"
        );
    }
    // A provider nobody answers: counted and published as an Event, the agent unaffected.
    wait_for(
        "the failed delivery's metric",
        Duration::from_secs(30),
        || {
            let (_, metrics) = agent.get("/metrics");
            metrics
                .lines()
                .any(|l| {
                    l.starts_with("tether_notifications_total{")
                        && l.contains("provider=\"down\"")
                        && l.contains("result=\"failed\"")
                })
                .then_some(())
        },
    );
    wait_for(
        "the NotificationFailed Event",
        Duration::from_secs(30),
        || {
            cluster
                .ok(&[
                    "get",
                    "events.events.k8s.io",
                    "-n",
                    "tether-system",
                    "-o",
                    "json",
                ])
                .contains("NotificationFailed")
                .then_some(())
        },
    );
    assert_clean(&receiver);
}
