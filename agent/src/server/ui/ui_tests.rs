use super::*;
use crate::sync::changeset::FieldChange;
use crate::sync::{Action as Done, Change, ObjectRef};
use crate::telemetry::LogControl;
use axum::body::Body;
use axum::http::Request;
use futures::StreamExt as _;
use tower::ServiceExt as _;

fn shared(anonymous: bool) -> Arc<Shared> {
    let state = Arc::new(Shared::new(LogControl::detached("info")));
    state.set_ui_config(UiConfig {
        anonymous,
        ..UiConfig::default()
    });
    state.update_app("shop", |s| {
        s.source = "config".into();
        s.path = "apps/shop/overlays/staging".into();
        s.namespace = "shop".into();
        s.revision = "0123456789abcdef".into();
        s.sync = "Succeeded".into();
        s.health = "Healthy".into();
        s.secrets = vec![crate::daemon::state::SecretSource {
            namespace: "shop".into(),
            name: "api".into(),
            origin: "external".into(),
            read_at: "2026-12-07T09:00:00Z".into(),
            store: "SecretStore vault-shop: shop/api#token (read again every 1h)".into(),
            file: "apps/shop/api.yaml".into(),
        }];
        s.changes = vec![Change {
            object: ObjectRef {
                group: String::new(),
                version: "v1".into(),
                kind: "Secret".into(),
                namespace: "shop".into(),
                name: "db".into(),
            },
            action: Done::Configured,
            reason: None,
            diff: vec![FieldChange {
                path: "/data/password".into(),
                before: Some(crate::redact::mark(b"old")),
                after: Some(crate::redact::mark(b"new")),
            }],
        }];
    });
    state.update_app("broken", |s| {
        s.source = "config".into();
        s.namespace = "broken".into();
        s.sync = "Failed".into();
        s.errors = vec!["RenderFailed: kustomization.yaml: resources[0]: not found".into()];
    });
    state
}

async fn call(
    state: &Arc<Shared>,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    if method == "POST" {
        request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let response = crate::server::router(Arc::clone(state))
        .oneshot(request.body(Body::from(body.to_owned())).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("body");
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn without_credentials_pages_ask_to_sign_in_and_the_api_refuses() {
    let state = shared(false);
    let (status, headers, _) = call(&state, "GET", "/", None, "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/login");
    for uri in [
        "/api/v1/overview",
        "/api/v1/environments",
        "/api/v1/apps/shop/view",
        "/api/v1/events/stream",
        "/api/v1/apps",
        "/api/v1/apps/shop",
    ] {
        let (status, _, body) = call(&state, "GET", uri, None, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(body.contains("not signed in"), "{uri}: {body}");
    }
    let (status, headers, body) = call(&state, "GET", "/login", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("name=\"token\""));
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .starts_with("tether_csrf=")
    );
}

#[tokio::test]
async fn anonymous_reads_show_every_page_problems_first_and_no_secret_value() {
    let state = shared(true);
    let (status, _, body) = call(&state, "GET", "/", None, "").await;
    assert_eq!(status, StatusCode::OK);
    let broken = body.find("id=\"app-broken\"").expect("broken row");
    let shop = body.find("id=\"app-shop\"").expect("shop row");
    assert!(broken < shop, "problems first");
    assert!(body.contains("RenderFailed: kustomization.yaml"));
    assert!(body.contains("EventSource"), "the live script");
    let (_, _, json) = call(&state, "GET", "/api/v1/overview?state=Failed", None, "").await;
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(json["apps"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["apps"][0]["name"], "broken");
    assert_eq!(json["total"], 2);
    let (status, _, body) = call(&state, "GET", "/environments", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("staging"));
    let (status, _, body) = call(&state, "GET", "/apps/shop", None, "").await;
    assert_eq!(status, StatusCode::OK);
    let escaped = crate::redact::mark(b"new")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(body.contains(&escaped), "the diff shows marks");
    assert!(!body.contains("Sync now"), "anonymous users get no actions");
    assert!(body.contains("no cluster connection"));
    assert!(
        body.contains("shop/api</code> from <strong>external</strong> <code>apps/shop/api.yaml</code> (SecretStore vault-shop: shop/api#token (read again every 1h)), read"),
        "the store, path and key of an external Secret, and when it was read"
    );
    assert!(body.contains("not compared: the agent is not syncing"));
    let (status, _, _) = call(&state, "GET", "/apps/nope", None, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, headers, css) = call(&state, "GET", "/ui/style.css", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.contains(".badge"));
}

#[tokio::test]
async fn actions_need_a_matching_csrf_token_and_are_refused_to_anonymous_users() {
    let state = shared(true);
    let token = "a".repeat(64);
    let cookie = format!("tether_csrf={token}");
    let (status, _, body) = call(
        &state,
        "POST",
        "/apps/shop/suspend",
        Some(&cookie),
        "csrf=wrong",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("stale"));
    let (status, _, body) = call(
        &state,
        "POST",
        "/apps/shop/suspend",
        Some(&cookie),
        &format!("csrf={token}"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("only read"));
    assert!(!state.is_suspended("shop"));
    let (status, _, _) = call(&state, "GET", "/apps/shop/suspend", Some(&cookie), "").await;
    assert_eq!(
        status,
        StatusCode::METHOD_NOT_ALLOWED,
        "actions are POST only"
    );
}

#[tokio::test]
async fn a_disabled_ui_is_not_served() {
    let state = shared(true);
    state.set_ui_config(UiConfig {
        enabled: false,
        anonymous: true,
        ..UiConfig::default()
    });
    for uri in ["/", "/login", "/api/v1/overview"] {
        assert_eq!(
            call(&state, "GET", uri, None, "").await.0,
            StatusCode::NOT_FOUND,
            "{uri}"
        );
    }
    assert_eq!(
        call(&state, "GET", "/api/v1/apps", None, "").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_event_stream_sends_the_overview_at_once_and_after_a_change() {
    let state = shared(true);
    let request = Request::builder()
        .uri("/api/v1/events/stream?format=html")
        .body(Body::empty())
        .expect("request");
    let response = crate::server::router(Arc::clone(&state))
        .oneshot(request)
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), body.next())
        .await
        .expect("first event in time")
        .expect("an event")
        .expect("bytes");
    let first = String::from_utf8_lossy(&first).into_owned();
    assert!(first.starts_with("event: overview\n"), "{first}");
    assert!(first.contains("app-broken"));
    state.update_app("broken", |s| s.revision = "feedfacefeedface".into());
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), body.next())
        .await
        .expect("second event in time")
        .expect("an event")
        .expect("bytes");
    assert!(String::from_utf8_lossy(&next).contains("feedfac"));
}

#[tokio::test]
async fn trusted_headers_name_the_user_only_when_configured() {
    let state = shared(false);
    let with_header = |state: &Arc<Shared>| {
        let request = Request::builder()
            .uri("/")
            .header("X-Forwarded-User", "carol")
            .header("X-Forwarded-Groups", "shop-team, viewers")
            .body(Body::empty())
            .expect("request");
        crate::server::router(Arc::clone(state)).oneshot(request)
    };
    let response = with_header(&state).await.expect("response");
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "headers are not trusted by default"
    );
    state.set_ui_config(UiConfig {
        trusted_headers: Some(auth::TrustedHeaders {
            user: "X-Forwarded-User".into(),
            groups: Some("X-Forwarded-Groups".into()),
        }),
        ..UiConfig::default()
    });
    let response = with_header(&state).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("body");
    let page = String::from_utf8_lossy(&bytes);
    assert!(
        page.contains("<strong>carol</strong>"),
        "signed in as carol"
    );
    assert!(
        !page.contains("app-shop"),
        "without a cluster to review access, carol sees nothing"
    );
}
