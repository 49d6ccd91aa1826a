//! Fake registries: a tag list in three pages is read whole; registries that misbehave: a malformed tag list, an endless one, 401 without a
//! challenge, 429, 500 and a tag that is not one each give a clear error for their
//! repository, and the others are still scanned.

use crate::common::{entry, images};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tether_tests::registry::Served;

fn fake_registry() -> Served {
    let router = axum::Router::new()
        .route(
            "/v2/good/tags/list",
            get(|| async { r#"{"name":"good","tags":["1.0.0","1.1.0"]}"# }),
        )
        .route(
            "/v2/malformed/tags/list",
            get(|| async { "<html>maintenance</html>" }),
        )
        .route(
            "/v2/endless/tags/list",
            get(|q: axum::extract::RawQuery| async move {
                let page: usize =
                    q.0.as_deref()
                        .and_then(|q| q.split("last=").nth(1))
                        .and_then(|n| n.split('&').next()?.parse().ok())
                        .unwrap_or(0);
                let tags: Vec<String> =
                    (0..1000).map(|i| format!("t{}", page * 1000 + i)).collect();
                let mut headers = HeaderMap::new();
                let next = format!(
                    "</v2/endless/tags/list?n=1000&last={}>; rel=\"next\"",
                    page + 1
                );
                headers.insert(header::LINK, next.parse().expect("header"));
                (
                    headers,
                    serde_json::json!({"name": "endless", "tags": tags}).to_string(),
                )
            }),
        )
        .route(
            "/v2/paged/tags/list",
            get(|q: axum::extract::RawQuery| async move {
                // Three pages: 1000, 1000 and 500 tags; the last has no `Link`.
                let page: usize =
                    q.0.as_deref()
                        .and_then(|q| q.split("last=p").nth(1))
                        .and_then(|n| n.split('&').next()?.parse().ok())
                        .map_or(0, |last: usize| last / 1000 + 1);
                let count = if page == 2 { 500 } else { 1000 };
                let tags: Vec<String> = (0..count)
                    .map(|i| format!("{}.0.0", page * 1000 + i))
                    .collect();
                let mut headers = HeaderMap::new();
                if page < 2 {
                    let next = format!(
                        "</v2/paged/tags/list?n=1000&last=p{}>; rel=\"next\"",
                        page * 1000 + 999
                    );
                    headers.insert(header::LINK, next.parse().expect("header"));
                }
                (
                    headers,
                    serde_json::json!({"name": "paged", "tags": tags}).to_string(),
                )
            }),
        )
        .route(
            "/v2/denied/tags/list",
            get(|| async { StatusCode::UNAUTHORIZED }),
        )
        .route(
            "/v2/limited/tags/list",
            get(|| async {
                (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "30")]).into_response()
            }),
        )
        .route(
            "/v2/broken/tags/list",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            "/v2/badtag/tags/list",
            get(|| async { r#"{"tags":["1.0.0","../../etc"]}"# }),
        );
    Served::start(router).expect("serve the fake registry")
}

#[test]
fn misbehaving_registries_give_clear_errors_and_do_not_block_the_others() {
    let fake = fake_registry();
    let host = format!("127.0.0.1:{}", fake.port);
    let names = [
        "good",
        "paged",
        "malformed",
        "endless",
        "denied",
        "limited",
        "broken",
        "badtag",
    ];
    let mut config = String::from("images:\n  repositories:\n");
    for name in names {
        config.push_str(&format!(
            "    - {{name: {name}, image: {host}/{name}, insecure: true, maxTags: 2500}}\n"
        ));
    }
    config.push_str("  policies:\n");
    for name in names {
        config.push_str(&format!(
            "    - {{name: {name}, repository: {name}, policy: {{semver: {{range: '*'}}}}}}\n"
        ));
    }
    let dir = tempfile::tempdir().expect("temporary folder");
    let (code, report, _) = images(dir.path(), &config, false);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        entry(&report, "policies", "tether-system:good")["tag"],
        "1.1.0",
        "{report:#}"
    );
    // Every page of a paginated list is read (`Link: <...>; rel="next"`).
    assert_eq!(
        entry(&report, "repositories", "tether-system:paged")["tagCount"],
        2500,
        "{report:#}"
    );
    assert_eq!(
        entry(&report, "policies", "tether-system:paged")["tag"],
        "2499.0.0"
    );
    let expect = [
        ("malformed", "TagListInvalid", "not JSON"),
        ("endless", "TooManyTags", "more than 2500 tags"),
        ("denied", "RegistryAuthFailed", "HTTP 401"),
        ("limited", "RegistryRateLimited", "retry after 30"),
        ("broken", "RegistryError", "HTTP 500"),
        ("badtag", "TagListInvalid", "is not a tag"),
    ];
    for (name, reason, text) in expect {
        let error = &entry(&report, "repositories", &format!("tether-system:{name}"))["error"];
        assert_eq!(error["reason"], reason, "{name}: {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(text) && message.contains(&format!("{host}/{name}")),
            "{name}: {message}"
        );
        let policy = entry(&report, "policies", &format!("tether-system:{name}"));
        assert!(
            policy["tag"].is_null(),
            "{name}: no choice without tags: {policy}"
        );
    }
}

#[test]
fn an_invalid_images_block_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("temporary folder");
    for (config, field) in [
        (
            "images:\n  repositories:\n    - {name: a, image: 'Bad/Name'}\n",
            "images.repositories[0].image",
        ),
        (
            "images:\n  repositories:\n    - {name: a, image: x/a, exclusionList: ['(']}\n",
            "images.repositories[0].exclusionList[0]",
        ),
        (
            "images:\n  repositories:\n    - {name: a, image: x/a}\n  policies:\n    - {name: p, repository: a, policy: {semver: {range: '>=banana'}}}\n",
            "images.policies[0].policy",
        ),
        (
            "images:\n  repositories:\n    - {name: a, image: x/a, color: blue}\n",
            "color",
        ),
    ] {
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, config).expect("write");
        let out = std::process::Command::new(tether_tests::bins::tether_agent())
            .args(["images", "--config"])
            .arg(&file)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(field), "{field}: {stderr}");
    }
}
