//! What changes state: the actions on an app (sync now, refresh from Git, suspend, resume),
//! signing in and out; and the event stream that pushes app state to open pages.
//!
//! Actions are POST only; a form must carry the CSRF token of the `tether_csrf` cookie
//! (a request with a bearer token needs none); the user must be allowed to `patch`
//! `apps.tether.dev` in the app's namespace; each one is logged and recorded as a
//! Kubernetes Event (reason `UiAction`) naming the user, on the app's inventory ConfigMap.

use super::auth::{self, Subject, Via};
use super::{Ui, app_for, caller, model, overview_for, pages, problem, with_csrf};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// An action on an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A round of the app's source now (fetch, then sync: applies).
    Sync,
    /// Fetch from Git, render and compare with the live objects: updates the app's sync state
    /// and diff, applies nothing.
    Refresh,
    /// No more syncs of the app until resumed.
    Suspend,
    /// Syncs again.
    Resume,
}

impl Action {
    /// Parses an action's path segment.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "sync" => Self::Sync,
            "refresh" => Self::Refresh,
            "suspend" => Self::Suspend,
            "resume" => Self::Resume,
            _ => return None,
        })
    }

    /// The path segment.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Refresh => "refresh",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
        }
    }
}

/// A form's fields.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The CSRF token.
    #[serde(default)]
    csrf: String,
}

/// Runs `action` on `name` for `subject`; the message to show, or why not.
async fn perform(
    ui: &Ui,
    subject: &Subject,
    name: &str,
    action: &str,
) -> Result<String, (StatusCode, String)> {
    let Some(action) = Action::parse(action) else {
        return Err((StatusCode::NOT_FOUND, format!("no action {action:?}")));
    };
    if *subject == Subject::Anonymous {
        return Err((
            StatusCode::FORBIDDEN,
            "anonymous users may only read".into(),
        ));
    }
    let status = app_for(ui, subject, name, "patch").await?;
    let user = subject.name();
    let message = match action {
        Action::Sync => {
            if ui.state.is_suspended(name) {
                return Err((
                    StatusCode::CONFLICT,
                    format!("app {name} is suspended: resume it first"),
                ));
            }
            ui.state.request_manual_sync(name);
            if !ui.state.request_round(&status.source, "ui") {
                return Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "source {} has no running loop (a standby replica?)",
                        status.source
                    ),
                ));
            }
            format!("sync of app {name} requested by {user}")
        }
        Action::Refresh => {
            let comparison = refresh(ui, name).await?;
            format!(
                "app {name} refreshed from Git by {user}: revision {}, {} objects out of sync",
                comparison.revision.chars().take(12).collect::<String>(),
                comparison.out_of_sync()
            )
        }
        Action::Suspend | Action::Resume => {
            let suspended = action == Action::Suspend;
            persist_suspended(ui, name, suspended).await?;
            ui.state.set_suspended(name, suspended);
            let verb = if suspended { "suspended" } else { "resumed" };
            format!("app {name} {verb} by {user}")
        }
    };
    tracing::info!(app = %name, user = %user, action = action.as_str(), "UI action");
    audit(ui, name, &message).await;
    Ok(message)
}

/// How long a refresh (fetch, render, compare) may take before the answer says so.
const REFRESH_LIMIT: Duration = Duration::from_secs(60);

/// Fetches the app's source and compares the app with Git, applying nothing.
async fn refresh(ui: &Ui, name: &str) -> Result<super::desired::Comparison, (StatusCode, String)> {
    let Some(inspector) = ui.state.inspector() else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "the agent is not syncing (starting up or a standby replica)".into(),
        ));
    };
    match tokio::time::timeout(REFRESH_LIMIT, inspector.refresh(name)).await {
        Ok(Ok(comparison)) => Ok(comparison),
        Ok(Err(err)) => Err((StatusCode::BAD_GATEWAY, err.to_string())),
        Err(_) => Err((
            StatusCode::GATEWAY_TIMEOUT,
            format!("the refresh of app {name} took longer than {REFRESH_LIMIT:?}"),
        )),
    }
}

/// Keeps a suspension in the app's status ConfigMap, so that it survives a restart; done
/// before the suspension takes effect, so a failed write changes nothing.
async fn persist_suspended(
    ui: &Ui,
    name: &str,
    suspended: bool,
) -> Result<(), (StatusCode, String)> {
    let Some((client, namespace)) = ui.state.cluster() else {
        return Ok(());
    };
    crate::daemon::status::write_suspended(&client, &namespace, name, suspended)
        .await
        .map_err(|err| {
            tracing::warn!(app = %name, error = %err, "keeping the suspension failed");
            (StatusCode::BAD_GATEWAY, err.to_string())
        })
}

/// Records an action as an Event on the app's inventory ConfigMap (failures logged).
async fn audit(ui: &Ui, app: &str, note: &str) {
    use k8s_openapi::api::core::v1::ObjectReference;
    use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
    let Some((client, namespace)) = ui.state.cluster() else {
        return;
    };
    let reporter = Reporter {
        controller: "tether-ui".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: Some(crate::sync::inventory::config_map_name(app)),
        namespace: Some(namespace),
        ..ObjectReference::default()
    };
    let event = KubeEvent {
        type_: EventType::Normal,
        reason: "UiAction".into(),
        note: Some(note.chars().take(1000).collect()),
        action: "UiAction".into(),
        secondary: None,
    };
    if let Err(err) = Recorder::new(client, reporter)
        .publish(&event, &reference)
        .await
    {
        tracing::warn!(app, error = %err, "recording the UI action's Event failed");
    }
}

/// `POST /apps/{name}/{action}`: a form with the CSRF token; redirects to the app.
pub async fn form(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
    Form(body): Form<CsrfForm>,
) -> Response {
    let caller = match caller(&ui, &headers, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if caller.via != Via::Bearer && !auth::csrf_ok(&headers, &body.csrf) {
        let page = pages::message(
            "Refused",
            "The form's token is missing or stale: reload the page and try again.",
            &caller.chrome(),
        );
        return with_csrf(
            (StatusCode::FORBIDDEN, super::html(page)).into_response(),
            &caller,
        );
    }
    match perform(&ui, &caller.subject, &name, &action).await {
        Ok(_) => Redirect::to(&format!("/apps/{}", model::url_encode(&name))).into_response(),
        Err((code, message)) => {
            let page = pages::message("Refused", &message, &caller.chrome());
            with_csrf((code, super::html(page)).into_response(), &caller)
        }
    }
}

/// `POST /api/v1/apps/{name}/actions/{action}`: with a bearer token (or a session and the
/// `X-CSRF-Token` header).
pub async fn api(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    let caller = match caller(&ui, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if caller.via != Via::Bearer && !auth::csrf_ok(&headers, token) {
        return problem(StatusCode::FORBIDDEN, "missing or stale CSRF token");
    }
    match perform(&ui, &caller.subject, &name, &action).await {
        Ok(message) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({"message": message})),
        )
            .into_response(),
        Err((code, message)) => problem(code, message),
    }
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

/// `POST /login`: reviews the token, sets the session cookie.
pub async fn login(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(mut form): Form<LoginForm>,
) -> Response {
    let token = secrecy::SecretString::from(std::mem::take(&mut form.token));
    let config = ui.state.ui_config();
    if !config.enabled {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (csrf, new_csrf) = super::csrf_of(&headers);
    let anonymous = super::Caller {
        subject: Subject::Anonymous,
        via: Via::Anonymous,
        csrf,
        new_csrf,
    };
    if !auth::csrf_ok(&headers, &form.csrf) {
        let page = pages::login(
            &anonymous.chrome(),
            Some("The form expired: try again."),
            config.oidc.is_some(),
        );
        return with_csrf(
            (StatusCode::FORBIDDEN, super::html(page)).into_response(),
            &anonymous,
        );
    }
    match ui.auth.login(&ui.state, &config, token).await {
        Ok((id, subject)) => {
            tracing::info!(user = %subject.name(), "UI sign-in");
            session_response(&id, &config)
        }
        Err(err) => {
            tracing::info!(error = %err, "UI sign-in refused");
            let page = pages::login(
                &anonymous.chrome(),
                Some(&err.to_string()),
                config.oidc.is_some(),
            );
            with_csrf(
                (StatusCode::UNAUTHORIZED, super::html(page)).into_response(),
                &anonymous,
            )
        }
    }
}

/// A redirect to the overview that sets the session cookie (`SameSite=Lax`, so that the
/// redirect back from an identity provider carries it).
fn session_response(id: &str, config: &super::UiConfig) -> Response {
    let mut response = Redirect::to("/").into_response();
    let cookie = format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        auth::SESSION_COOKIE,
        config.session_ttl.0.as_secs()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn sign_in_failed(status: StatusCode, message: &str, headers: &HeaderMap) -> Response {
    let (csrf, new_csrf) = super::csrf_of(headers);
    let anonymous = super::Caller {
        subject: Subject::Anonymous,
        via: Via::Anonymous,
        csrf,
        new_csrf,
    };
    let page = pages::login(&anonymous.chrome(), Some(message), true);
    with_csrf((status, super::html(page)).into_response(), &anonymous)
}

/// `GET /oidc/login`: to the identity provider (authorization code flow with PKCE).
pub async fn oidc_login(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    let config = ui.state.ui_config();
    let Some(oidc) = config.oidc.as_ref().filter(|_| config.enabled) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match ui.oidc.start(oidc).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "OpenID Connect sign-in could not start");
            sign_in_failed(StatusCode::BAD_GATEWAY, &err.to_string(), &headers)
        }
    }
}

/// What the identity provider sends back.
#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

/// `GET /oidc/callback`: redeems the code, verifies the ID token, opens a session.
pub async fn oidc_callback(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Response {
    let config = ui.state.ui_config();
    let Some(oidc) = config.oidc.as_ref().filter(|_| config.enabled) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !callback.error.is_empty() {
        let err = super::oidc::OidcError::Refused(model::one_line(&callback.error, 200));
        return sign_in_failed(StatusCode::UNAUTHORIZED, &err.to_string(), &headers);
    }
    match ui.oidc.finish(oidc, &callback.state, &callback.code).await {
        Ok(subject) => {
            tracing::info!(user = %subject.name(), "UI sign-in through OpenID Connect");
            let id = ui.auth.open_session(&subject, &config);
            session_response(&id, &config)
        }
        Err(err) => {
            tracing::warn!(error = %err, "OpenID Connect sign-in refused");
            sign_in_failed(StatusCode::UNAUTHORIZED, &err.to_string(), &headers)
        }
    }
}

/// `POST /logout`: ends the session.
pub async fn logout(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(body): Form<CsrfForm>,
) -> Response {
    if !auth::csrf_ok(&headers, &body.csrf) {
        return problem(StatusCode::FORBIDDEN, "missing or stale CSRF token");
    }
    if let Some(id) = auth::cookie(&headers, auth::SESSION_COOKIE) {
        ui.auth.logout(&id);
    }
    let mut response = Redirect::to("/login").into_response();
    let expired = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        auth::SESSION_COOKIE
    );
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The event stream's query: the overview's filter and the format (`html` or JSON).
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    #[serde(default)]
    format: String,
    #[serde(flatten)]
    filter: model::Filter,
}

/// `GET /api/v1/events/stream`: an event at once and after every change of app status
/// (at most every 250 ms): `overview` (the overview's live HTML) with `format=html`, else
/// `apps` (the overview as JSON). Only the apps the user may see.
pub async fn stream(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Response {
    let caller = match caller(&ui, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let rx = ui.state.subscribe();
    let ui_stop = ui.stop.clone();
    let html = query.format == "html";
    let filter = query.filter;
    let subject = caller.subject;
    let events = futures::stream::unfold((ui, rx, true), move |(ui, mut rx, first)| {
        let filter = filter.clone();
        let subject = subject.clone();
        async move {
            if !first {
                rx.changed().await.ok()?;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            rx.borrow_and_update();
            let view = overview_for(&ui, &subject, &filter).await;
            let event = if html {
                Event::default()
                    .event("overview")
                    .data(pages::overview_live(&view, SystemTime::now()).into_string())
            } else {
                Event::default()
                    .event("apps")
                    .data(serde_json::to_string(&view).unwrap_or_default())
            };
            Some((Ok::<_, std::convert::Infallible>(event), (ui, rx, false)))
        }
    });
    let stop = ui_stop.map(|mut rx| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    });
    let stopped = async move {
        match stop {
            Some(stop) => stop.await,
            None => std::future::pending().await,
        }
    };
    Sse::new(futures::StreamExt::take_until(events, stopped))
        .keep_alive(KeepAlive::default())
        .into_response()
}
