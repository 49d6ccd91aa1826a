//! A receiver standing in for Slack, Teams, Discord, Google Chat, GitHub, GitLab and generic
//! webhooks: it checks each request against the service's documented payload and auth,
//! answers the faults a test queues (500, 429 with `Retry-After`) and records what arrived.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::Mac as _;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The credentials the receiver expects.
pub const SLACK_BOT_TOKEN: &str = "xoxb-notify-test-bot-token-4b1d";
pub const GITHUB_TOKEN: &str = "ghp_notifyTestToken0123456789abcdef";
pub const GITLAB_TOKEN: &str = "glpat-notify-test-token-9z8y";
pub const HMAC_KEY: &str = "hmac-key-of-the-signed-webhook-5e7f";
/// The secret part of the webhook paths (as Slack's, Discord's and Teams' URLs hold theirs).
pub const HOOK_TOKEN: &str = "T000NOTIFY/B000TEST/XXXXhookTokenXXXX";

/// One request that arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// The service (`slack`, `teams`, ...).
    pub service: String,
    /// The path.
    pub path: String,
    /// The body as text.
    pub body: String,
    /// The body as JSON.
    pub json: Value,
    /// What was wrong with it (empty: valid).
    pub problems: Vec<String>,
    /// The status answered ([`HANG`]: none in time).
    pub answered: u16,
    /// When it arrived.
    pub at: std::time::Instant,
    /// The event's id (`X-Tether-Event-Id`), when sent.
    pub event_id: Option<String>,
}

/// A fault that answers only after [`HANG_FOR`] (longer than the test's client waits).
pub const HANG: u16 = 999;
const HANG_FOR: std::time::Duration = std::time::Duration::from_millis(1500);

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    faults: BTreeMap<String, VecDeque<u16>>,
}

/// The receiver, served by a thread of its own; stops when dropped.
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Shared = Arc<Mutex<Inner>>;

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn need(problems: &mut Vec<String>, ok: bool, what: &str) {
    if !ok {
        problems.push(what.to_owned());
    }
}

fn str_len(v: &Value, pointer: &str) -> Option<usize> {
    v.pointer(pointer).and_then(Value::as_str).map(str::len)
}

/// Checks a request against the documented payload and auth of `service`.
fn validate(service: &str, path: &str, h: &HeaderMap, body: &[u8], json: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let ct = header(h, "content-type");
    need(
        &mut p,
        ct.starts_with("application/json"),
        "content-type application/json",
    );
    match service {
        "slack" => check_slack(&mut p, path, h, json),
        "slackbot" => check_slackbot(&mut p, path, h, json),
        "teams" => check_teams(&mut p, path, h, json),
        "discord" => check_discord(&mut p, path, h, json),
        "chat" => check_chat(&mut p, path, h, json),
        "hook" => check_hook(&mut p, path, h, json),
        "github" => check_github(&mut p, path, h, json),
        "gitlab" => check_gitlab(&mut p, path, h, json),
        "hmac" => check_hmac(&mut p, h, body),
        "flux" => check_flux(&mut p, h, json),
        "fluxhmac" => {
            check_flux(&mut p, h, json);
            check_hmac(&mut p, h, body);
        }
        other => p.push(format!("unknown service {other}")),
    }
    p
}

/// What the slack receiver requires.
fn check_slack(p: &mut Vec<String>, path: &str, _h: &HeaderMap, json: &Value) {
    need(
        p,
        path.ends_with(HOOK_TOKEN),
        "the hook's token in the path",
    );
    need(
        p,
        str_len(json, "/text").is_some_and(|n| n > 0 && n <= 40_000),
        "text",
    );
    need(
        p,
        json.pointer("/blocks/0/type") == Some(&"section".into()),
        "a section block",
    );
    need(
        p,
        json.pointer("/blocks/0/text/type") == Some(&"mrkdwn".into()),
        "mrkdwn text",
    );
    need(
        p,
        str_len(json, "/blocks/0/text/text").is_some_and(|n| n <= 3000),
        "block text ≤ 3000",
    );
}

/// What the slackbot receiver requires.
fn check_slackbot(p: &mut Vec<String>, _path: &str, h: &HeaderMap, json: &Value) {
    need(
        p,
        header(h, "authorization") == format!("Bearer {SLACK_BOT_TOKEN}"),
        "bearer bot token",
    );
    need(
        p,
        header(h, "content-type") == "application/json; charset=utf-8",
        "charset=utf-8",
    );
    need(
        p,
        json.get("channel")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.is_empty()),
        "channel",
    );
    need(p, str_len(json, "/text").is_some_and(|n| n > 0), "text");
}

/// What the teams receiver requires.
fn check_teams(p: &mut Vec<String>, path: &str, _h: &HeaderMap, json: &Value) {
    need(
        p,
        path.ends_with(HOOK_TOKEN),
        "the workflow's signature in the path",
    );
    need(
        p,
        json.get("type") == Some(&"message".into()),
        "type message",
    );
    need(
        p,
        json.pointer("/attachments/0/contentType")
            == Some(&"application/vnd.microsoft.card.adaptive".into()),
        "an Adaptive Card attachment",
    );
    need(
        p,
        json.pointer("/attachments/0/content/type") == Some(&"AdaptiveCard".into()),
        "AdaptiveCard",
    );
    need(
        p,
        json.pointer("/attachments/0/content/version")
            .and_then(Value::as_str)
            .is_some(),
        "card version",
    );
    need(
        p,
        json.pointer("/attachments/0/content/body")
            .and_then(Value::as_array)
            .is_some_and(|b| !b.is_empty()),
        "card body",
    );
}

/// What the discord receiver requires.
fn check_discord(p: &mut Vec<String>, path: &str, _h: &HeaderMap, json: &Value) {
    need(
        p,
        path.ends_with(HOOK_TOKEN),
        "the hook's token in the path",
    );
    need(
        p,
        str_len(json, "/content").is_some_and(|n| n <= 2000),
        "content ≤ 2000",
    );
    let embeds = json.get("embeds").and_then(Value::as_array);
    need(p, embeds.is_some_and(|e| e.len() <= 10), "≤ 10 embeds");
    for e in embeds.into_iter().flatten() {
        need(
            p,
            str_len(e, "/title").is_some_and(|n| n <= 256),
            "embed title ≤ 256",
        );
        need(
            p,
            str_len(e, "/description").is_none_or(|n| n <= 4096),
            "embed description ≤ 4096",
        );
        need(
            p,
            e.get("fields")
                .and_then(Value::as_array)
                .is_none_or(|f| f.len() <= 25),
            "≤ 25 fields",
        );
    }
}

/// What the chat receiver requires.
fn check_chat(p: &mut Vec<String>, path: &str, _h: &HeaderMap, json: &Value) {
    need(p, path.ends_with(HOOK_TOKEN), "key and token in the URL");
    need(p, str_len(json, "/text").is_some_and(|n| n > 0), "text");
}

/// What the hook receiver requires.
fn check_hook(p: &mut Vec<String>, _path: &str, _h: &HeaderMap, json: &Value) {
    need(p, json.get("app").and_then(Value::as_str).is_some(), "app");
    need(
        p,
        json.get("kind").and_then(Value::as_str).is_some(),
        "kind",
    );
}

/// What the github receiver requires.
fn check_github(p: &mut Vec<String>, path: &str, h: &HeaderMap, json: &Value) {
    need(
        p,
        header(h, "authorization") == format!("Bearer {GITHUB_TOKEN}"),
        "bearer token",
    );
    need(
        p,
        header(h, "accept") == "application/vnd.github+json",
        "accept",
    );
    need(p, !header(h, "user-agent").is_empty(), "user-agent");
    let state = json.get("state").and_then(Value::as_str).unwrap_or("");
    need(
        p,
        ["error", "failure", "pending", "success"].contains(&state),
        "state",
    );
    need(
        p,
        str_len(json, "/description").is_none_or(|n| n <= 140),
        "description ≤ 140",
    );
    need(
        p,
        json.get("context").and_then(Value::as_str).is_some(),
        "context",
    );
    need(
        p,
        path.split('/').next_back().is_some_and(|s| s.len() == 40),
        "a commit sha",
    );
}

/// What the gitlab receiver requires.
fn check_gitlab(p: &mut Vec<String>, path: &str, h: &HeaderMap, json: &Value) {
    need(
        p,
        header(h, "private-token") == GITLAB_TOKEN,
        "PRIVATE-TOKEN",
    );
    let state = json.get("state").and_then(Value::as_str).unwrap_or("");
    need(
        p,
        ["pending", "running", "success", "failed", "canceled"].contains(&state),
        "state",
    );
    need(
        p,
        json.get("name").and_then(Value::as_str).is_some(),
        "name",
    );
    let segments: Vec<&str> = path
        .trim_start_matches("api/v4/projects/")
        .split('/')
        .collect();
    need(
        p,
        segments.len() == 3 && segments[1] == "statuses",
        "a URL-encoded project id",
    );
}

/// `X-Signature: sha256=HEX`, the HMAC-SHA256 of the body with [`HMAC_KEY`] (as Flux's
/// `generic-hmac` provider signs).
fn check_hmac(p: &mut Vec<String>, h: &HeaderMap, body: &[u8]) {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HMAC_KEY.as_bytes()).expect("key");
    mac.update(body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    need(
        p,
        header(h, "x-signature") == want,
        "X-Signature: sha256=HMAC of the body",
    );
}

/// Flux's `Event` (fluxcd/pkg runtime/events): the involved object with kind, namespace,
/// name, uid and apiVersion; severity info or error; an RFC 3339 timestamp; message and
/// reason; string metadata; the reporting controller (also in `gotk-component`).
fn check_flux(p: &mut Vec<String>, h: &HeaderMap, json: &Value) {
    for field in ["kind", "namespace", "name", "uid", "apiVersion"] {
        need(
            p,
            json.pointer(&format!("/involvedObject/{field}"))
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty()),
            &format!("involvedObject.{field}"),
        );
    }
    let severity = json.get("severity").and_then(Value::as_str).unwrap_or("");
    need(
        p,
        ["info", "error"].contains(&severity),
        "severity info|error",
    );
    let timestamp = json.get("timestamp").and_then(Value::as_str).unwrap_or("");
    need(
        p,
        timestamp.len() >= 20 && timestamp.as_bytes().get(10) == Some(&b'T'),
        "an RFC 3339 timestamp",
    );
    for field in [
        "message",
        "reason",
        "reportingController",
        "reportingInstance",
    ] {
        need(
            p,
            json.get(field)
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty()),
            field,
        );
    }
    need(
        p,
        json.get("metadata")
            .and_then(Value::as_object)
            .is_some_and(|m| m.values().all(Value::is_string)),
        "metadata of strings",
    );
    need(
        p,
        header(h, "gotk-component") == json["reportingController"],
        "gotk-component names the controller",
    );
}

async fn receive(
    State(inner): State<Shared>,
    Path((service, _)): Path<(String, String)>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The raw path, as sent (GitLab's project id must arrive URL-encoded).
    let rest = uri
        .path()
        .strip_prefix(&format!("/{service}/"))
        .unwrap_or_default()
        .to_owned();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut problems = validate(&service, &rest, &headers, &body, &json);
    let event_id = headers
        .get("x-tether-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = &event_id {
        need(
            &mut problems,
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "an event id of 32 hex digits",
        );
        if let Some(request_id) = uri
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("requestId=")))
        {
            need(
                &mut problems,
                request_id == id,
                "Google Chat's requestId is the event id",
            );
        }
    }
    if json.is_null() {
        problems.push("not JSON".into());
    }
    let fault = {
        let mut inner = inner.lock().expect("receiver lock");
        let by_path = format!("{service}/{rest}");
        match inner.faults.get_mut(&by_path) {
            Some(faults) => faults.pop_front(),
            None => inner.faults.get_mut(&service).and_then(VecDeque::pop_front),
        }
    };
    let at = std::time::Instant::now();
    if fault == Some(HANG) {
        // Recorded now: the client gives up (and drops this handler) before the answer.
        inner
            .lock()
            .expect("receiver lock")
            .received
            .push(Received {
                service: service.clone(),
                path: rest,
                body: String::from_utf8_lossy(&body).into_owned(),
                json,
                problems,
                answered: HANG,
                at,
                event_id,
            });
        tokio::time::sleep(HANG_FOR).await;
        return (StatusCode::OK, "late").into_response();
    }
    let mut inner = inner.lock().expect("receiver lock");
    let answered = match (fault, problems.is_empty()) {
        (Some(code), _) => code,
        (None, false) => 400,
        (None, true) => match service.as_str() {
            "github" | "gitlab" => 201,
            "discord" => 204,
            "teams" => 202,
            _ => 200,
        },
    };
    inner.received.push(Received {
        service: service.clone(),
        path: rest,
        body: String::from_utf8_lossy(&body).into_owned(),
        json,
        problems,
        answered,
        at,
        event_id,
    });
    let status = StatusCode::from_u16(answered).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if answered == 429 {
        return (status, [("retry-after", "1")], "slow down").into_response();
    }
    if service == "slackbot" && answered == 400 && problems_of_auth(&inner) {
        // Slack answers errors of chat.postMessage with 200 and `ok: false`.
        return (StatusCode::OK, r#"{"ok":false,"error":"invalid_auth"}"#).into_response();
    }
    if service == "slackbot" && answered == 200 {
        return (status, r#"{"ok":true,"channel":"C1","ts":"1.2"}"#).into_response();
    }
    (status, "ok").into_response()
}

fn problems_of_auth(inner: &Inner) -> bool {
    inner
        .received
        .last()
        .is_some_and(|r| r.problems.iter().any(|p| p.contains("bearer")))
}

impl Receiver {
    /// Starts on a free loopback port.
    pub fn start() -> Self {
        let inner: Shared = Arc::default();
        let app = Router::new()
            .route("/{service}/{*rest}", post(receive))
            .with_state(Arc::clone(&inner));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self {
            inner,
            url: format!("http://127.0.0.1:{port}"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Answers the next requests of `service` with `codes`, in order.
    pub fn fail(&self, service: &str, codes: &[u16]) {
        self.inner
            .lock()
            .expect("lock")
            .faults
            .entry(service.to_owned())
            .or_default()
            .extend(codes);
    }

    /// Answers `service` normally again (its queued faults forgotten).
    pub fn heal(&self, service: &str) {
        self.inner.lock().expect("lock").faults.remove(service);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("lock").received.clone()
    }

    /// What was accepted (answered 2xx) for `service`.
    pub fn accepted(&self, service: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.service == service && (200..300).contains(&r.answered))
            .collect()
    }
}
