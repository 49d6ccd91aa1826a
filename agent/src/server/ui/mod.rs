//! The web UI, served by the agent on `listen`: what is deployed where, and why not.
//!
//! | path | page | JSON twin |
//! |---|---|---|
//! | `GET /` | overview: every app, counts per state, filter (`?state=&namespace=&source=&q=`), problems first | `GET /api/v1/overview` (same query) |
//! | `GET /environments` | apps sharing a base (`BASE/overlays/ENV`), an environment per column | `GET /api/v1/environments` |
//! | `GET /apps/{name}` | one app: objects, children, health, diffs, Events, last syncs, policy, orphans, Secret origins | `GET /api/v1/apps/{name}/view` |
//! | `POST /apps/{name}/{sync,refresh,suspend,resume}` | actions (form with CSRF token) | `POST /api/v1/apps/{name}/actions/{action}` (bearer token) |
//! | `GET /api/v1/apps`, `GET /api/v1/apps/{name}` | each app's status, as `tether-agent status --server` reads it: the same access checks (served also with `ui.enabled: false`) | |
//! | `GET /api/v1/events/stream` | Server-Sent Events: `overview` (`?format=html`, the overview's table) or `apps` (JSON rows) at every change | |
//! | `GET /login`, `POST /login`, `POST /logout` | a session from a token | |
//! | `GET /oidc/login`, `GET /oidc/callback` | a session through OpenID Connect ([`oidc`]) | |
//!
//! Pages are rendered on the server ([`pages`], maud), the style sheet is embedded, the only
//! script is a few lines that apply the event stream. Access: [`auth`]. Every view lists only
//! the apps whose namespace the user may `get` `apps.tether.dev` in; actions need `patch`
//! and are audited with an Event naming the user on the app's inventory ConfigMap.

pub mod actions;
pub mod app;
pub mod auth;
pub mod desired;
pub mod envs;
pub mod live;
pub mod model;
pub mod oidc;
pub mod origins;
pub mod pages;

pub use auth::UiConfig;

use crate::daemon::state::{AppStatus, Shared};
use auth::{Auth, Subject, Via};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The embedded style sheet.
pub const STYLE: &str = include_str!("style.css");

/// The UI's state: the daemon's, sessions and review caches, a kind resolver.
pub struct Ui {
    state: Arc<Shared>,
    auth: Auth,
    oidc: oidc::Oidc,
    resolver: Mutex<Option<Arc<crate::sync::client::Resolver>>>,
    /// Turns true when the server stops: event streams end then.
    stop: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Ui {
    /// The UI over the daemon's state.
    #[must_use]
    pub fn new(state: Arc<Shared>) -> Self {
        Self {
            state,
            auth: Auth::default(),
            oidc: oidc::Oidc::default(),
            resolver: Mutex::new(None),
            stop: None,
        }
    }

    fn resolver(&self, client: &kube::Client) -> Arc<crate::sync::client::Resolver> {
        let mut slot = self
            .resolver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            slot.get_or_insert_with(|| {
                Arc::new(crate::sync::client::Resolver::new(client.clone()))
            }),
        )
    }
}

/// The UI's routes (merged into the public router).
pub fn router(state: Arc<Shared>) -> Router {
    router_until(state, None)
}

/// The UI's routes; open event streams end when `stop` turns true (the server's shutdown).
pub fn router_until(
    state: Arc<Shared>,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
) -> Router {
    let ui = Arc::new(Ui {
        stop,
        ..Ui::new(state)
    });
    Router::new()
        .route("/", get(overview_page))
        .route("/environments", get(environments_page))
        .route("/apps/{name}", get(app_page))
        .route("/apps/{name}/{action}", post(actions::form))
        .route("/login", get(login_page).post(actions::login))
        .route("/logout", post(actions::logout))
        .route("/oidc/login", get(actions::oidc_login))
        .route("/oidc/callback", get(actions::oidc_callback))
        .route("/ui/style.css", get(style))
        .route("/api/v1/overview", get(overview_json))
        .route("/api/v1/environments", get(environments_json))
        .route("/api/v1/apps", get(apps_json))
        .route("/api/v1/apps/{name}", get(app_status_json))
        .route("/api/v1/apps/{name}/view", get(app_json))
        .route("/api/v1/apps/{name}/actions/{action}", post(actions::api))
        .route("/api/v1/events/stream", get(actions::stream))
        .with_state(ui)
}

/// Who is calling and the CSRF token their forms carry.
pub struct Caller {
    /// The subject.
    pub subject: Subject,
    /// How it was authenticated.
    pub via: Via,
    /// The CSRF token (from the cookie, or new).
    pub csrf: String,
    /// Whether the CSRF cookie must be set.
    pub new_csrf: bool,
}

impl Caller {
    fn chrome(&self) -> pages::Chrome {
        pages::Chrome {
            user: self.subject.name().to_owned(),
            signed_in: self.via == Via::Session,
            csrf: self.csrf.clone(),
        }
    }
}

/// A JSON error body.
pub fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": message.into()})),
    )
        .into_response()
}

fn csrf_of(headers: &HeaderMap) -> (String, bool) {
    match auth::cookie(headers, auth::CSRF_COOKIE).filter(|c| c.len() == 64) {
        Some(c) => (c, false),
        None => (auth::random_token(), true),
    }
}

/// Authenticates a request; `page` decides how a refusal looks (a redirect to `/login` or
/// a JSON 401). A disabled UI is not found.
pub async fn caller(ui: &Ui, headers: &HeaderMap, page: bool) -> Result<Caller, Response> {
    if !ui.state.ui_config().enabled {
        return Err(StatusCode::NOT_FOUND.into_response());
    }
    api_caller(ui, headers, page).await
}

/// Authenticates a request to the API (`/api/v1/apps`), served with the same access checks
/// whether the pages are enabled or not.
pub async fn api_caller(ui: &Ui, headers: &HeaderMap, page: bool) -> Result<Caller, Response> {
    let config = ui.state.ui_config();
    let (csrf, new_csrf) = csrf_of(headers);
    match ui.auth.authenticate(&ui.state, &config, headers).await {
        Ok((subject, via)) => Ok(Caller {
            subject,
            via,
            csrf,
            new_csrf,
        }),
        Err(err) if page => {
            tracing::debug!(error = %err, "UI request not authenticated");
            Err(Redirect::to("/login").into_response())
        }
        Err(err) => Err(problem(StatusCode::UNAUTHORIZED, err.to_string())),
    }
}

/// Adds the CSRF cookie to `response` when the caller had none.
pub fn with_csrf(mut response: Response, caller: &Caller) -> Response {
    if caller.new_csrf
        && let Ok(value) = HeaderValue::from_str(&format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict",
            auth::CSRF_COOKIE,
            caller.csrf
        ))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The namespaces whose apps `subject` may see (`get` apps there); every app's namespace
/// is reviewed once (the answers are cached).
pub async fn allowed_namespaces(ui: &Ui, subject: &Subject) -> BTreeSet<String> {
    let namespaces: BTreeSet<String> = ui
        .state
        .with_apps(|apps| apps.map(|a| a.namespace.clone()).collect());
    let mut allowed = BTreeSet::new();
    for ns in namespaces {
        if ui.auth.allowed(&ui.state, subject, "get", &ns).await {
            allowed.insert(ns);
        }
    }
    allowed
}

/// The overview `subject` may see, read from the apps' status where it is.
pub async fn overview_for(ui: &Ui, subject: &Subject, filter: &model::Filter) -> model::Overview {
    let allowed = allowed_namespaces(ui, subject).await;
    ui.state.with_apps(|apps| {
        model::overview_of(&mut apps.filter(|a| allowed.contains(&a.namespace)), filter)
    })
}

/// The environments `subject` may see.
pub async fn environments_for(ui: &Ui, subject: &Subject, page: usize) -> model::Environments {
    let allowed = allowed_namespaces(ui, subject).await;
    ui.state.with_apps(|apps| {
        model::environments_of(&mut apps.filter(|a| allowed.contains(&a.namespace)), page)
    })
}

fn html(markup: maud::Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

async fn overview_page(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Query(filter): Query<model::Filter>,
) -> Response {
    let caller = match caller(&ui, &headers, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let view = overview_for(&ui, &caller.subject, &filter).await;
    let page = pages::overview(&view, &caller.chrome(), SystemTime::now());
    with_csrf(html(page), &caller)
}

async fn overview_json(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Query(filter): Query<model::Filter>,
) -> Response {
    let caller = match caller(&ui, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    axum::Json(overview_for(&ui, &caller.subject, &filter).await).into_response()
}

/// The environments page's query.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    /// The page (from 1).
    #[serde(default)]
    page: usize,
}

async fn environments_page(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Response {
    let caller = match caller(&ui, &headers, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let view = environments_for(&ui, &caller.subject, query.page).await;
    let page = pages::environments(&view, &caller.chrome());
    with_csrf(html(page), &caller)
}

async fn environments_json(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Response {
    let caller = match caller(&ui, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    axum::Json(environments_for(&ui, &caller.subject, query.page).await).into_response()
}

/// The app `name` if `subject` may `verb` it; else why not, as a status.
pub async fn app_for(
    ui: &Ui,
    subject: &Subject,
    name: &str,
    verb: &'static str,
) -> Result<AppStatus, (StatusCode, String)> {
    let not_found = || (StatusCode::NOT_FOUND, format!("no app {name:?}"));
    let status = ui.state.app(name).ok_or_else(not_found)?;
    if !ui
        .auth
        .allowed(&ui.state, subject, "get", &status.namespace)
        .await
    {
        // Not telling apart an app one may not see from one that does not exist.
        return Err(not_found());
    }
    if verb != "get"
        && !ui
            .auth
            .allowed(&ui.state, subject, verb, &status.namespace)
            .await
    {
        return Err((
            StatusCode::FORBIDDEN,
            format!(
                "{} may not {verb} apps.{} in namespace {:?}",
                subject.name(),
                auth::GROUP,
                status.namespace
            ),
        ));
    }
    Ok(status)
}

async fn app_view(ui: &Ui, status: &AppStatus) -> app::AppView {
    let mut view = app::app_view(status);
    match ui.state.inspector() {
        Some(inspector) => match inspector.compare(&status.name).await {
            Ok(comparison) => app::merge_comparison(&mut view, comparison),
            Err(err) => view.compare_error = Some(err.to_string()),
        },
        None => view.compare_error = Some(desired::CompareError::NotRunning.to_string()),
    }
    if let Some(fresh) = ui.state.app(&status.name) {
        view.app = model::AppRow::of(&fresh);
    }
    if let Some((client, namespace)) = ui.state.cluster() {
        let resolver = ui.resolver(&client);
        if let Err(err) = live::fill(&mut view, &client, &resolver, &namespace).await {
            tracing::warn!(app = %status.name, error = %err, "reading live data failed");
            view.live_error = Some(crate::text::clip_message(&err.to_string()).into_owned());
        }
    } else {
        view.live_error = Some("the agent has no cluster connection".into());
    }
    view
}

async fn app_page(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let caller = match caller(&ui, &headers, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let status = match app_for(&ui, &caller.subject, &name, "get").await {
        Ok(s) => s,
        Err((code, message)) => {
            let page = pages::message("Not found", &message, &caller.chrome());
            return with_csrf((code, html(page)).into_response(), &caller);
        }
    };
    let can_act = ui
        .auth
        .allowed(&ui.state, &caller.subject, "patch", &status.namespace)
        .await
        && caller.subject != Subject::Anonymous;
    let view = app_view(&ui, &status).await;
    let page = pages::app(&view, &caller.chrome(), can_act, SystemTime::now());
    with_csrf(html(page), &caller)
}

async fn app_json(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let caller = match caller(&ui, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match app_for(&ui, &caller.subject, &name, "get").await {
        Ok(status) => axum::Json(app_view(&ui, &status).await).into_response(),
        Err((code, message)) => problem(code, message),
    }
}

/// `GET /api/v1/apps`: the status of each app the caller may see.
async fn apps_json(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    let caller = match api_caller(&ui, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    /// The body of `/api/v1/apps`, serialised from the statuses where they are.
    #[derive(serde::Serialize)]
    struct Apps<'a> {
        apps: Vec<&'a AppStatus>,
    }
    let allowed = allowed_namespaces(&ui, &caller.subject).await;
    let body = ui.state.with_apps(|apps| {
        serde_json::to_vec(&Apps {
            apps: apps.filter(|a| allowed.contains(&a.namespace)).collect(),
        })
    });
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(err) => problem(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

/// `GET /api/v1/apps/{name}`: one app's status, if the caller may see it.
async fn app_status_json(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let caller = match api_caller(&ui, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match app_for(&ui, &caller.subject, &name, "get").await {
        Ok(status) => axum::Json(status).into_response(),
        Err((code, message)) => problem(code, message),
    }
}

async fn login_page(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    if !ui.state.ui_config().enabled {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (csrf, new_csrf) = csrf_of(&headers);
    let caller = Caller {
        subject: Subject::Anonymous,
        via: Via::Anonymous,
        csrf,
        new_csrf,
    };
    let sso = ui.state.ui_config().oidc.is_some();
    with_csrf(html(pages::login(&caller.chrome(), None, sso)), &caller)
}

#[cfg(test)]
#[path = "ui_tests.rs"]
mod tests;
