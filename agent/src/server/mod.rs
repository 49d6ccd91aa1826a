//! The HTTP endpoints (axum):
//!
//! | path | what |
//! |---|---|
//! | `GET /healthz` | the process is alive |
//! | `GET /readyz` | 200 once every app's first sync finished or failed (a standby replica is ready: it has nothing to sync) |
//! | `GET /metrics` | OpenMetrics text (see [`crate::telemetry::Metrics`]) |
//! | `POST /webhook/{source}` | a push notification, verified with the source's secret; body at most 1 MiB; a standby answers 503 (the leader labels its Pod `tether.dev/leader=true` for a webhook Service) |
//! | `GET /api/v1/apps`, `GET /api/v1/apps/{name}` | each app's status as JSON (never a secret value), behind the web UI's access checks ([`ui::auth`]): only the apps the caller may `get` |
//! | `GET /api/v1/recipient` | the agent's newest age recipient |
//! | `GET /api/v1/images` | image automation: repositories scanned, tags chosen, commits pushed |
//! | `/`, `/environments`, `/apps/{name}`, `/api/v1/overview`, ... | the web UI ([`ui`]) |
//! | `GET /api/v1/bitnami-cert` | the Sealed Secrets controller certificate (PEM) of the newest key the agent holds, for `tether-seal kubeseal --cert URL` |
//!
//! The admin listener (`adminListen`, loopback by default, reached with
//! `kubectl port-forward`) serves what changes the agent or shows its internals; the public
//! listener answers 404 for these paths:
//!
//! | path | what |
//! |---|---|
//! | `GET`/`PUT /debug/log-level` | the log filter in force / a new one (body: `debug`, `tether_agent::sync=trace`) |
//!
//! [`run`] takes its listeners and its shutdown signal, so tests bind port 0.

mod images;
pub mod ui;

use crate::daemon::state::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::future::Future;
use std::sync::Arc;

/// The largest webhook body accepted.
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

/// The sockets the agent serves on.
pub struct Listeners {
    /// `listen`: health, readiness, metrics, webhooks and the read-only API.
    pub public: tokio::net::TcpListener,
    /// `adminListen`: the debug endpoints ([`admin_router`]).
    pub admin: tokio::net::TcpListener,
}

/// Serves the public endpoints and the admin endpoints, each on its own listener, until
/// `shutdown` completes.
pub async fn run(
    listeners: Listeners,
    state: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use std::future::IntoFuture as _;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    // Open event streams end when the server stops, so they cannot hold the shutdown.
    let public = axum::serve(
        listeners.public,
        routes(Arc::clone(&state), Some(stopped.clone())),
    )
    .with_graceful_shutdown(until_stopped(stopped.clone()));
    let admin = axum::serve(listeners.admin, admin_router(state))
        .with_graceful_shutdown(until_stopped(stopped));
    let signal = async move {
        shutdown.await;
        let _ = stop.send(true);
        Ok(())
    };
    tokio::try_join!(public.into_future(), admin.into_future(), signal).map(|_| ())
}

/// The admin routes (served on `adminListen` only).
pub fn admin_router(state: Arc<Shared>) -> Router {
    Router::new()
        .route("/debug/log-level", get(log_level).put(set_log_level))
        .with_state(state)
}

/// The public routes, for tests that drive them without a socket.
pub fn router(state: Arc<Shared>) -> Router {
    routes(state, None)
}

/// The public routes; event streams end when `stop` turns true.
fn routes(state: Arc<Shared>, stop: Option<tokio::sync::watch::Receiver<bool>>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/webhook/{source}",
            axum::routing::post(webhook).layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY)),
        )
        .route("/api/v1/recipient", get(recipient))
        .route("/api/v1/bitnami-cert", get(bitnami_cert))
        .route("/api/v1/images", get(images::images))
        .with_state(Arc::clone(&state))
        .merge(ui::router_until(state, stop))
}

async fn readyz(State(state): State<Arc<Shared>>) -> Response {
    if !state.works() {
        (StatusCode::OK, "ready (standby)\n").into_response()
    } else if state.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: first syncs running\n",
        )
            .into_response()
    }
}

async fn metrics(State(state): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": message.into()})),
    )
        .into_response()
}

async fn webhook(
    State(state): State<Arc<Shared>>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(hook) = state.webhook(&source) else {
        return problem(
            StatusCode::NOT_FOUND,
            format!("no webhook for source {source:?}"),
        );
    };
    let pairs: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    match crate::source::webhook::verify(&hook.auth, &pairs, &body) {
        Ok(event) => {
            if !event.concerns(&hook.url) {
                tracing::info!(source = %source, "webhook for another repository ignored");
                return (StatusCode::ACCEPTED, "ignored: another repository\n").into_response();
            }
            if !state.works() {
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "this replica is a standby; the leader polls on its interval",
                );
            }
            tracing::info!(source = %source, git_ref = ?event.git_ref, after = ?event.after, "webhook accepted");
            if !state.request_round(&source, "webhook") {
                hook.trigger.trigger();
            }
            (StatusCode::ACCEPTED, "fetch triggered\n").into_response()
        }
        Err(err) => {
            tracing::warn!(source = %source, reason = err.reason(), error = %err, "webhook refused");
            problem(StatusCode::UNAUTHORIZED, err.to_string())
        }
    }
}

async fn recipient(State(state): State<Arc<Shared>>) -> Response {
    match state.recipient() {
        Some(r) => (StatusCode::OK, format!("{r}\n")).into_response(),
        None => problem(StatusCode::NOT_FOUND, "the agent has no key yet"),
    }
}

async fn bitnami_cert(State(state): State<Arc<Shared>>) -> Response {
    match state.bitnami_cert() {
        Some(pem) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            pem,
        )
            .into_response(),
        None => problem(
            StatusCode::NOT_FOUND,
            "the agent holds no Sealed Secrets key (keys.bitnami)",
        ),
    }
}

async fn log_level(State(state): State<Arc<Shared>>) -> String {
    format!("{}\n", state.log.current())
}

async fn set_log_level(State(state): State<Arc<Shared>>, body: String) -> Response {
    match state.log.set(body.trim()) {
        Ok(()) => (StatusCode::OK, format!("{}\n", state.log.current())).into_response(),
        Err(err) => problem(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::LogControl;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    async fn call(
        state: &Arc<Shared>,
        method: &str,
        uri: &str,
        body: &str,
    ) -> (StatusCode, String) {
        call_on(router(Arc::clone(state)), method, uri, body).await
    }

    async fn call_on(routes: Router, method: &str, uri: &str, body: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body.to_owned()))
            .expect("request");
        let response = routes.oneshot(request).await.expect("response");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn readiness_waits_for_every_first_sync_of_the_leader() {
        let state = Arc::new(Shared::new(LogControl::detached("info")));
        assert_eq!(
            call(&state, "GET", "/readyz", "").await.0,
            StatusCode::OK,
            "a standby is ready"
        );
        state.set_sources(&["config".to_owned()]);
        state.set_leader(true);
        assert_eq!(
            call(&state, "GET", "/readyz", "").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        state.update_app("shop", |s| s.source = "config".into());
        state.source_round_done("config");
        assert_eq!(
            call(&state, "GET", "/readyz", "").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        state.update_app("shop", |s| s.first_sync_done = true);
        assert_eq!(
            call(&state, "GET", "/readyz", "").await,
            (StatusCode::OK, "ready\n".into())
        );
    }

    #[tokio::test]
    async fn the_log_level_is_served_on_the_admin_routes_only() {
        let state = Arc::new(Shared::new(LogControl::detached("info")));
        for method in ["GET", "PUT"] {
            let (status, _) = call(&state, method, "/debug/log-level", "debug").await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{method} on the public routes"
            );
        }
        assert_eq!(state.log.current(), "info");
        let admin = || admin_router(Arc::clone(&state));
        let (status, _) = call_on(admin(), "PUT", "/debug/log-level", "debug").await;
        assert_eq!(status, StatusCode::OK);
        let (_, level) = call_on(admin(), "GET", "/debug/log-level", "").await;
        assert_eq!(level, "debug\n");
        let (status, _) = call_on(admin(), "GET", "/api/v1/apps", "").await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "the admin routes are only the admin's"
        );
    }

    #[tokio::test]
    async fn the_apps_api_needs_a_credential_unless_anonymous_reads_are_configured() {
        let state = Arc::new(Shared::new(LogControl::detached("info")));
        state.update_app("shop", |s| s.revision = "abc".into());
        for path in ["/api/v1/apps", "/api/v1/apps/shop"] {
            let (status, body) = call(&state, "GET", path, "").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
            assert!(!body.contains("abc"), "{path}: {body}");
        }
        state.set_ui_config(ui::UiConfig {
            enabled: false,
            anonymous: true,
            ..ui::UiConfig::default()
        });
        let (status, body) = call(&state, "GET", "/api/v1/apps", "").await;
        assert_eq!(status, StatusCode::OK, "served without the pages too");
        assert!(body.contains("abc"), "{body}");
        assert_eq!(call(&state, "GET", "/", "").await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_webhook_for_an_unknown_source_is_not_found_and_apps_are_json() {
        let state = Arc::new(Shared::new(LogControl::detached("info")));
        state.set_ui_config(ui::UiConfig {
            anonymous: true,
            ..ui::UiConfig::default()
        });
        let (status, _) = call(&state, "POST", "/webhook/nope", "{}").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        state.update_app("shop", |s| s.revision = "abc".into());
        let (status, body) = call(&state, "GET", "/api/v1/apps/shop", "").await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(json["revision"], "abc");
        assert_eq!(json["sync"], "Pending");
        assert_eq!(
            call(&state, "GET", "/api/v1/apps/other", "").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&state, "GET", "/api/v1/recipient", "").await.0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn an_open_event_stream_does_not_hold_the_shutdown() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let state = Arc::new(Shared::new(LogControl::detached("info")));
        state.set_ui_config(ui::UiConfig {
            anonymous: true,
            ..ui::UiConfig::default()
        });
        let public = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = public.local_addr().expect("address").port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(run(Listeners { public, admin }, state, async move {
            let _ = stopped.await;
        }));
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream
            .write_all(b"GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut first = [0u8; 512];
        let n = stream.read(&mut first).await.expect("read");
        assert!(String::from_utf8_lossy(&first[..n]).contains("200 OK"));
        stop.send(()).expect("stop");
        let ended = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
        assert!(
            matches!(ended, Ok(Ok(Ok(())))),
            "the server stopped with a stream open"
        );
    }

    #[tokio::test]
    async fn the_bitnami_cert_is_served_once_the_agent_holds_a_key() {
        let state = Arc::new(Shared::new(LogControl::detached("info")));
        let (status, _) = call(&state, "GET", "/api/v1/bitnami-cert", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        state.set_bitnami_cert(Some(pem.into()));
        let (status, body) = call(&state, "GET", "/api/v1/bitnami-cert", "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, pem);
    }
}
