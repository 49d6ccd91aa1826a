//! `tether-agent status --server URL`: the status table read from a running agent's
//! `/api/v1/apps` instead of the status ConfigMaps. That API is behind the web UI's access
//! checks, so the request carries a bearer token: the one of `--token-file`, else the
//! kubeconfig's (or, in a Pod, the ServiceAccount's) token. The token is never printed.

use super::status::{Row, StatusError};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The most bytes of an answer read.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// The bearer token: `token_file`'s content, else the kubeconfig's or the ServiceAccount's
/// token; `None` when there is none (anonymous reads, if the agent allows them).
pub async fn token(
    token_file: Option<&Path>,
    kubeconfig: Option<&Path>,
) -> Result<Option<SecretString>, StatusError> {
    if let Some(path) = token_file {
        let text = std::fs::read_to_string(path).map_err(|e| StatusError::TokenUnreadable {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        return Ok(Some(SecretString::from(text.trim().to_owned())));
    }
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path).ok();
            match file {
                Some(file) => kube::Config::from_custom_kubeconfig(file, &Default::default())
                    .await
                    .ok(),
                None => None,
            }
        }
        None => kube::Config::infer().await.ok(),
    };
    let Some(auth) = config.map(|c| c.auth_info) else {
        return Ok(None);
    };
    if let Some(token) = auth.token {
        return Ok(Some(token));
    }
    Ok(auth
        .token_file
        .and_then(|f| std::fs::read_to_string(f).ok())
        .map(|t| SecretString::from(t.trim().to_owned())))
}

fn failed(url: &str, message: impl Into<String>) -> StatusError {
    StatusError::ServerFailed {
        url: url.to_owned(),
        message: crate::text::clip_message(&message.into()).into_owned(),
    }
}

/// Reads the rows of `server` (`http://host:port`), only `app` when given.
pub async fn rows(
    server: &str,
    token: Option<&SecretString>,
    app: Option<&str>,
) -> Result<Vec<Row>, StatusError> {
    let base = server.trim_end_matches('/');
    let url = match app {
        Some(app) => format!(
            "{base}/api/v1/apps/{}",
            crate::server::ui::model::url_encode(app)
        ),
        None => format!("{base}/api/v1/apps"),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| failed(&url, e.to_string()))?;
    let mut request = client.get(&url);
    if let Some(token) = token {
        request = request.bearer_auth(token.expose_secret());
    }
    let answer = request
        .send()
        .await
        .map_err(|e| failed(&url, e.to_string()))?;
    let status = answer.status();
    let body = answer
        .bytes()
        .await
        .map_err(|e| failed(&url, e.to_string()))?;
    if body.len() > MAX_ANSWER {
        return Err(failed(&url, "the answer is too large"));
    }
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status.as_u16() == 404 && app.is_some() {
        return Ok(Vec::new());
    }
    if !status.is_success() {
        let why = json["error"].as_str().unwrap_or("");
        return Err(failed(&url, format!("{status}: {why}")));
    }
    let apps: Vec<&Value> = match app {
        Some(_) => vec![&json],
        None => json["apps"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
    };
    let now = std::time::SystemTime::now();
    let mut rows: Vec<Row> = apps.into_iter().map(|a| row(a, now)).collect();
    rows.sort_by(|a, b| a.app.cmp(&b.app));
    Ok(rows)
}

/// One app's status (as `/api/v1/apps` shows it) as a row.
fn row(app: &Value, now: std::time::SystemTime) -> Row {
    let text = |k: &str| app[k].as_str().unwrap_or_default().to_owned();
    let revision: String = text("revision").chars().take(12).collect();
    let sync = match text("reason").as_str() {
        "" | "Succeeded" => text("sync"),
        reason => format!("{} ({reason})", text("sync")),
    };
    let sync = if app["suspended"] == true {
        format!("{sync}, suspended")
    } else {
        sync
    };
    let windows = app["windows"]
        .as_array()
        .map(|w| w.len())
        .filter(|n| *n > 0)
        .map(|n| format!("{n} in force"))
        .unwrap_or_default();
    Row {
        app: text("name"),
        revision: if revision.is_empty() {
            "<none>".into()
        } else {
            revision
        },
        sync,
        health: text("health"),
        drift: app["driftCorrections"].as_u64().unwrap_or(0).to_string(),
        age: super::status::age(&text("lastSync"), now),
        windows,
        owner: text("owner"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_app_of_the_api_becomes_a_row_of_the_table() {
        let app = json!({"name": "shop", "revision": "3f2a9c1d2e3f4a5b", "sync": "Failed",
            "reason": "ApplyFailed", "health": "Degraded", "driftCorrections": 2,
            "lastSync": "", "suspended": true});
        let r = row(&app, std::time::SystemTime::now());
        assert_eq!(r.app, "shop");
        assert_eq!(r.revision, "3f2a9c1d2e3f");
        assert_eq!(r.sync, "Failed (ApplyFailed), suspended");
        assert_eq!(r.drift, "2");
    }

    #[tokio::test]
    async fn a_token_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "abc\n").expect("write");
        let token = token(Some(&path), None)
            .await
            .expect("read")
            .expect("a token");
        assert_eq!(token.expose_secret(), "abc");
        let missing = token_missing(dir.path()).await;
        assert!(missing.contains("token"), "{missing}");
    }

    async fn token_missing(dir: &Path) -> String {
        match token(Some(&dir.join("nope")), None).await {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        }
    }
}
