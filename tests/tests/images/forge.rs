//! Receivers standing in for GitHub's `POST /repos/{owner}/{repo}/pulls` and GitLab's
//! `POST /projects/:id/merge_requests`: each request is checked against the documented
//! API (auth header, JSON fields) and recorded.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tether_tests::registry::Served;

pub const GITHUB_TOKEN: &str = "ghp_promoteTestToken0123456789abcd";
pub const GITLAB_TOKEN: &str = "glpat-promote-test-token-42xy";

/// One request received.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub json: Value,
    pub problems: Vec<String>,
}

pub struct Forge {
    pub served: Served,
    received: Arc<Mutex<Vec<Request>>>,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn check(path: &str, h: &HeaderMap, json: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let mut need = |ok: bool, what: &str| {
        if !ok {
            p.push(what.to_owned());
        }
    };
    need(
        header(h, "content-type").starts_with("application/json"),
        "content-type",
    );
    let text = |k: &str| {
        json.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if path.starts_with("/repos/") {
        need(
            header(h, "authorization") == format!("Bearer {GITHUB_TOKEN}"),
            "bearer token",
        );
        need(
            header(h, "accept") == "application/vnd.github+json",
            "accept",
        );
        need(
            header(h, "x-github-api-version") == "2022-11-28",
            "api version",
        );
        need(!header(h, "user-agent").is_empty(), "user agent");
        need(
            text("title") && text("head") && text("base"),
            "title, head, base",
        );
    } else {
        need(header(h, "private-token") == GITLAB_TOKEN, "PRIVATE-TOKEN");
        need(
            text("source_branch") && text("target_branch") && text("title"),
            "source_branch, target_branch, title",
        );
    }
    p
}

impl Forge {
    pub fn start() -> Self {
        let received: Arc<Mutex<Vec<Request>>> = Arc::default();
        let handler = {
            let received = Arc::clone(&received);
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let received = Arc::clone(&received);
                async move {
                    let path = uri.path().to_owned();
                    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let problems = check(&path, &headers, &json);
                    let ok = problems.is_empty();
                    if let Ok(mut r) = received.lock() {
                        r.push(Request {
                            path: path.clone(),
                            json,
                            problems,
                        });
                    }
                    if !ok {
                        return (
                            StatusCode::UNPROCESSABLE_ENTITY,
                            r#"{"message":"Validation Failed"}"#.to_owned(),
                        );
                    }
                    let body = if path.starts_with("/repos/") {
                        r#"{"number":7,"html_url":"https://github.example/owner/config/pull/7"}"#
                    } else {
                        r#"{"iid":3,"web_url":"https://gitlab.example/group/config/-/merge_requests/3"}"#
                    };
                    (StatusCode::CREATED, body.to_owned())
                }
            }
        };
        let router = axum::Router::new()
            .route("/repos/{owner}/{repo}/pulls", post(handler.clone()))
            .route("/api/v4/projects/{id}/merge_requests", post(handler));
        Self {
            served: Served::start(router).expect("serve the forge"),
            received,
        }
    }

    pub fn received(&self) -> Vec<Request> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
