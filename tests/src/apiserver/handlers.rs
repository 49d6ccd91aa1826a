//! The HTTP surface: routing of discovery, OpenAPI and resource paths ("API Concepts",
//! section "Resource URIs"), query parameters, content types, fault injection and request
//! counting, then the verbs.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::crd;
use super::discovery;
use super::faults::{Fault, Faults, Requests};
use super::kinds::{ACCESS_REVIEW_GROUP, ResourceType, TOKEN_REVIEW_GROUP};
use super::openapi;
use super::params::{
    Params, delete_options, exact_version, flag, param, parse_body, selectors, write_options,
};
use super::selectors::FieldSelector;
use super::status::{ApiError, ApiResult};
use super::store::Store;
use super::table::Representation;
use super::tokens::{access_review, token_review};
use super::verbs::{self, Page, PatchType};
use super::watch::{self, WatchParams, WatchScope};

/// Settings of one server instance.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often watch bookmarks are sent.
    pub bookmark_interval: Duration,
    /// How long a new CRD stays not Established.
    pub crd_establish_delay: Duration,
}

/// The shared state of one server instance.
#[derive(Debug)]
pub struct AppState {
    /// Objects, history, registry.
    pub store: Mutex<Store>,
    /// Injected faults.
    pub faults: Faults,
    /// Request counters.
    pub requests: Requests,
    /// Writes per object and writer.
    pub writes: super::writes::Writes,
    /// Writes held until released.
    pub holds: super::holds::Holds,
    /// Settings.
    pub settings: Settings,
    /// `127.0.0.1:PORT`, for `serverAddressByClientCIDRs`.
    pub address: String,
}

impl AppState {
    /// Locks the store (a panic elsewhere does not make it unusable).
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The router of one instance.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(state)
}

fn json_response(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn dispatch(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/').to_owned();
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method.clone(), seg.as_slice()) {
        (Method::GET, ["version"]) => json_response(StatusCode::OK, &discovery::version()),
        (Method::GET, ["healthz" | "readyz" | "livez"]) => (StatusCode::OK, "ok").into_response(),
        (Method::GET, ["tether-test", "requests"]) => {
            json_response(StatusCode::OK, &state.requests.to_json())
        }
        (Method::GET, ["api"]) => match discovery::aggregated_version(&accept) {
            Some(v) => aggregated(&state, true, v),
            None => json_response(StatusCode::OK, &discovery::core_versions(&state.address)),
        },
        (Method::GET, ["apis"]) => match discovery::aggregated_version(&accept) {
            Some(v) => aggregated(&state, false, v),
            None => json_response(
                StatusCode::OK,
                &discovery::group_list(&state.lock().registry),
            ),
        },
        (Method::GET, ["apis", g]) => match discovery::group(&state.lock().registry, g) {
            Some(doc) => json_response(StatusCode::OK, &doc),
            None => ApiError::no_resource().into_response(),
        },
        (Method::GET, ["api", v]) => discovery_list(&state, "", v),
        (Method::GET, ["apis", g, v]) => discovery_list(&state, g, v),
        (Method::GET, ["openapi", "v3"]) => {
            json_response(StatusCode::OK, &openapi::index(&state.lock().registry))
        }
        (Method::GET, ["openapi", "v3", "api", v]) => openapi_doc(&state, "", v),
        (Method::GET, ["openapi", "v3", "apis", g, v]) => openapi_doc(&state, g, v),
        (_, ["api", v, rest @ ..]) => {
            resource(
                &state, method, "", v, rest, &params, &headers, &accept, body,
            )
            .await
        }
        (_, ["apis", g, v, rest @ ..]) => {
            resource(&state, method, g, v, rest, &params, &headers, &accept, body).await
        }
        _ => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            "404 page not found\n",
        )
            .into_response(),
    }
}

fn aggregated(state: &AppState, core: bool, version: &str) -> Response {
    let doc = discovery::aggregated(&state.lock().registry, core, version);
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            discovery::aggregated_content_type(version),
        )],
        doc.to_string(),
    )
        .into_response()
}

fn discovery_list(state: &AppState, group: &str, version: &str) -> Response {
    match discovery::resource_list(&state.lock().registry, group, version) {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => ApiError::no_resource().into_response(),
    }
}

fn openapi_doc(state: &AppState, group: &str, version: &str) -> Response {
    match openapi::document(&state.lock().registry, group, version) {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => ApiError::no_resource().into_response(),
    }
}

/// A resource request once its path is understood.
struct Target {
    ty: Arc<ResourceType>,
    namespace: Option<String>,
    name: Option<String>,
    subresource: String,
    legacy_watch: bool,
}

fn parse_target(state: &AppState, group: &str, version: &str, rest: &[&str]) -> ApiResult<Target> {
    let store = state.lock();
    let registry = &store.registry;
    let (legacy_watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let namespaced_collection = |plural: &str| {
        registry
            .by_path(group, version, plural)
            .is_some_and(|t| t.namespaced)
    };
    let (namespace, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..] if namespaced_collection(plural) => (
            Some((*ns).to_owned()),
            std::iter::once(*plural)
                .chain(tail.iter().copied())
                .collect::<Vec<_>>(),
        ),
        _ => (None, rest.to_vec()),
    };
    let (plural, name, subresource) = match tail.as_slice() {
        [plural] => (*plural, None, ""),
        [plural, name] => (*plural, Some((*name).to_owned()), ""),
        [plural, name, sub] => (*plural, Some((*name).to_owned()), *sub),
        _ => return Err(ApiError::no_resource()),
    };
    let ty = registry
        .by_path(group, version, plural)
        .ok_or_else(ApiError::no_resource)?;
    if namespace.is_some() && !ty.namespaced
        || namespace.is_none() && ty.namespaced && name.is_some()
    {
        return Err(ApiError::no_resource());
    }
    let served_subresource =
        subresource.is_empty() || subresource == "status" && ty.status_subresource;
    if !served_subresource {
        return Err(ApiError::no_resource());
    }
    Ok(Target {
        ty,
        namespace,
        name,
        subresource: subresource.to_owned(),
        legacy_watch,
    })
}

fn verb_of(method: &Method, target: &Target, params: &Params, headers: &HeaderMap) -> &'static str {
    match (method, target.name.is_some()) {
        (&Method::GET, false) if target.legacy_watch || flag(params, "watch") => "watch",
        (&Method::GET, false) => "list",
        (&Method::GET, true) if target.legacy_watch => "watch",
        (&Method::GET, true) => "get",
        (&Method::POST, false) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if PatchType::from_content_type(ct) == Some(PatchType::Apply) {
                "apply"
            } else {
                "patch"
            }
        }
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "unsupported",
    }
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    state: &Arc<AppState>,
    method: Method,
    group: &str,
    version: &str,
    rest: &[&str],
    params: &Params,
    headers: &HeaderMap,
    accept: &str,
    body: Bytes,
) -> Response {
    if rest.is_empty() {
        return match method {
            Method::GET => discovery_list(state, group, version),
            _ => ApiError::no_resource().into_response(),
        };
    }
    let target = match parse_target(state, group, version, rest) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let verb = verb_of(&method, &target, params, headers);
    let counted = if target.subresource.is_empty() {
        target.ty.plural.clone()
    } else {
        format!("{}/{}", target.ty.plural, target.subresource)
    };
    let dry_run = match verb {
        "delete" | "deletecollection" => super::params::delete_options(params, &body).dry_run,
        _ => super::params::write_options(params, headers, verb).dry_run,
    };
    if dry_run {
        state.requests.record_dry_run(verb, &counted);
    } else {
        state.requests.record(verb, &counted);
    }
    let (latency, fault) = state.faults.decide(verb);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::ServerError) => {
            return ApiError::internal("Internal error occurred: injected fault").into_response();
        }
        Some(Fault::TooManyRequests(secs)) => {
            let mut e = ApiError::new(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
            );
            e.details.retry_after = Some(secs);
            return e.into_response();
        }
        Some(Fault::Timeout(hold)) => {
            tokio::time::sleep(hold).await;
            return ApiError::new(
                504,
                "Timeout",
                "the server was unable to return a response in the time allotted",
            )
            .into_response();
        }
        None => {}
    }
    if state.holds.holds(verb, target.name.as_deref(), dry_run) {
        state.holds.wait_cleared().await;
        return ApiError::new(503, "ServiceUnavailable", "a held write was released")
            .into_response();
    }
    if target.subresource.is_empty() && state.faults.write_denied(verb, &target.ty.plural) {
        let message = format!(
            "admission webhook \"deny.tether.test\" denied the request: {}",
            String::from_utf8_lossy(&body)
        );
        return ApiError::new(403, "Forbidden", &message).into_response();
    }
    let served_verb = if verb == "apply" { "patch" } else { verb };
    if !target.ty.verbs.iter().any(|v| v == served_verb) {
        return ApiError::method_not_allowed(&target.ty, verb).into_response();
    }
    if verb == "watch" {
        return start_watch(state, &target, params, accept);
    }
    let result = run_verb(state, verb, &target, params, headers, body);
    schedule_crds(state);
    match result {
        Ok((code, value)) => {
            let repr = Representation::from_request(accept, param(params, "includeObject"));
            let body = match verb {
                "get" => repr.one(&value),
                "list" => repr.list(&value),
                _ => return json_response(code, &value),
            };
            (
                code,
                [(header::CONTENT_TYPE, repr.content_type(verb == "list"))],
                body.to_string(),
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn run_verb(
    state: &AppState,
    verb: &str,
    target: &Target,
    params: &Params,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Value)> {
    let ns = target.namespace.clone().unwrap_or_default();
    let name = target.name.clone().unwrap_or_default();
    let opts = write_options(params, headers, verb);
    let mut store = state.lock();
    let before = store.current_rv();
    let result = run_locked(&mut store, verb, target, params, headers, body, &opts);
    if result.is_ok() && store.current_rv() != before {
        state.writes.record(super::writes::Write {
            resource: if target.subresource.is_empty() {
                target.ty.plural.clone()
            } else {
                format!("{}/{}", target.ty.plural, target.subresource)
            },
            namespace: ns,
            name,
            verb: verb.to_owned(),
            writer: super::writes::writer_of(headers),
            at: std::time::Instant::now(),
        });
    }
    result
}

fn run_locked(
    store: &mut Store,
    verb: &str,
    target: &Target,
    params: &Params,
    headers: &HeaderMap,
    body: Bytes,
    opts: &super::verbs::WriteOptions,
) -> ApiResult<(StatusCode, Value)> {
    let ty = &target.ty;
    let ns = target.namespace.clone().unwrap_or_default();
    let name = target.name.clone().unwrap_or_default();
    match verb {
        "get" => Ok((StatusCode::OK, verbs::get(store, ty, &ns, &name)?)),
        "list" => Ok((StatusCode::OK, list(store, target, params)?)),
        "create" if ty.group == TOKEN_REVIEW_GROUP => {
            let review = parse_body(headers, &body)?;
            Ok((StatusCode::CREATED, token_review(store, &review)))
        }
        "create" if ty.group == ACCESS_REVIEW_GROUP => {
            let review = parse_body(headers, &body)?;
            Ok((StatusCode::CREATED, access_review(store, ty, &review)))
        }
        "create" => {
            let obj = parse_body(headers, &body)?;
            Ok((
                StatusCode::CREATED,
                verbs::create(store, ty, &ns, obj, opts)?,
            ))
        }
        "update" => {
            let obj = parse_body(headers, &body)?;
            Ok((
                StatusCode::OK,
                verbs::update(store, ty, &ns, &name, obj, &target.subresource, opts)?,
            ))
        }
        "patch" | "apply" => patch(store, target, headers, &body, opts),
        "delete" => delete(store, target, params, &body),
        "deletecollection" => {
            let d = delete_options(params, &body);
            let sel = selectors(params)?;
            let exact = exact_version(params)?;
            Ok((
                StatusCode::OK,
                verbs::delete_collection(store, ty, target.namespace.as_deref(), &sel, &d, exact)?,
            ))
        }
        _ => Err(ApiError::method_not_allowed(ty, verb)),
    }
}

/// `list`, one page at a time.
fn list(store: &mut Store, target: &Target, params: &Params) -> ApiResult<Value> {
    let page = Page {
        limit: param(params, "limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0),
        continue_token: param(params, "continue")
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
    };
    verbs::list(
        store,
        &target.ty,
        target.namespace.as_deref(),
        &selectors(params)?,
        &page,
    )
}

/// `patch` of every patch type, and server-side `apply`: 201 when it created the object.
fn patch(
    store: &mut Store,
    target: &Target,
    headers: &HeaderMap,
    body: &Bytes,
    opts: &super::verbs::WriteOptions,
) -> ApiResult<(StatusCode, Value)> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let accepted = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ];
    let pt = PatchType::from_content_type(ct)
        .ok_or_else(|| ApiError::unsupported_media_type(ct, &accepted))?;
    let ns = target.namespace.clone().unwrap_or_default();
    let name = target.name.clone().unwrap_or_default();
    let (obj, created) = verbs::patch(
        store,
        &target.ty,
        &ns,
        &name,
        pt,
        body,
        &target.subresource,
        opts,
    )?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, obj))
}

/// `delete`: 202 while finalizers keep the object.
fn delete(
    store: &mut Store,
    target: &Target,
    params: &Params,
    body: &Bytes,
) -> ApiResult<(StatusCode, Value)> {
    let ns = target.namespace.clone().unwrap_or_default();
    let name = target.name.clone().unwrap_or_default();
    let d = delete_options(params, body);
    let obj = verbs::delete(store, &target.ty, &ns, &name, &d)?;
    let pending = obj
        .get("metadata")
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some()
        && !d.dry_run;
    let status = if pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, obj))
}

fn start_watch(state: &Arc<AppState>, target: &Target, params: &Params, accept: &str) -> Response {
    let sel = match selectors(params) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let mut sel = sel;
    if let Some(name) = &target.name {
        // `/watch/.../NAME` watches one object.
        match FieldSelector::parse(&format!("metadata.name={name}")) {
            Ok(by_name) => sel.fields = by_name,
            Err(e) => return e.into_response(),
        }
    }
    let representation = Representation::from_request(accept, param(params, "includeObject"));
    let content_type = representation.content_type(false);
    let scope = WatchScope {
        ty: target.ty.clone(),
        namespace: target.namespace.clone(),
        selectors: sel,
        representation,
    };
    let wp = WatchParams {
        resource_version: param(params, "resourceVersion").map(str::to_owned),
        bookmarks: flag(params, "allowWatchBookmarks"),
        send_initial_events: flag(params, "sendInitialEvents"),
        timeout: param(params, "timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .map(Duration::from_secs),
        bookmark_interval: state.settings.bookmark_interval,
    };
    let stream = watch::start(&mut state.lock(), scope, &wp);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| {
            ApiError::internal("could not build the watch response").into_response()
        })
}

/// Establishes CRDs created with an establishing delay, once it has passed.
fn schedule_crds(state: &Arc<AppState>) {
    let pending: Vec<String> = std::mem::take(&mut state.lock().pending_crds);
    for name in pending {
        let state = state.clone();
        let delay = state.settings.crd_establish_delay;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            crd::establish(&mut state.lock(), &name);
        });
    }
}
