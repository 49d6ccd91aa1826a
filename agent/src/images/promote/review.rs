//! Opening the review of a promotion branch: a GitHub pull request
//! (`POST /repos/{owner}/{repo}/pulls`) or a GitLab merge request
//! (`POST /projects/:id/merge_requests`), with a token read from a file.

use crate::source::credentials::SecretText;
use std::time::Duration;

/// Errors of opening a review.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The request could not be sent.
    #[error("{provider}: the request failed: {message}")]
    RequestFailed {
        /// `github` or `gitlab`.
        provider: &'static str,
        /// The cause.
        message: String,
    },
    /// The API refused it.
    #[error("{provider}: HTTP {status}: {message}")]
    Refused {
        /// `github` or `gitlab`.
        provider: &'static str,
        /// The status.
        status: u16,
        /// The API's message (clipped).
        message: String,
    },
}

/// Where to open the review.
pub enum Forge {
    /// GitHub (or GitHub Enterprise): `api` like `https://api.github.com`, `repository`
    /// `OWNER/REPO`.
    GitHub {
        /// The API base.
        api: String,
        /// `OWNER/REPO`.
        repository: String,
        /// The token.
        token: SecretText,
    },
    /// GitLab: `api` like `https://gitlab.com/api/v4`, `project` a numeric id or a path.
    GitLab {
        /// The API base.
        api: String,
        /// The project id or `group/project`.
        project: String,
        /// The token.
        token: SecretText,
    },
}

/// What is opened.
pub struct Review<'a> {
    /// The branch with the change.
    pub head: &'a str,
    /// The branch it goes into.
    pub base: &'a str,
    /// The title.
    pub title: &'a str,
    /// The description.
    pub body: &'a str,
}

/// The request for `forge` and the answer's field holding the review's address.
fn request(
    http: &reqwest::blocking::Client,
    forge: &Forge,
    review: &Review<'_>,
) -> (reqwest::blocking::RequestBuilder, &'static str) {
    match forge {
        Forge::GitHub {
            api,
            repository,
            token,
        } => {
            let body = serde_json::json!({
                "title": review.title,
                "head": review.head,
                "base": review.base,
                "body": review.body,
            });
            let url = format!("{}/repos/{repository}/pulls", api.trim_end_matches('/'));
            let request = http
                .post(url)
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .header("Authorization", format!("Bearer {}", token.expose()))
                .header("Content-Type", "application/json")
                .body(body.to_string());
            (request, "html_url")
        }
        Forge::GitLab {
            api,
            project,
            token,
        } => {
            let id: String = if project.chars().all(|c| c.is_ascii_digit()) {
                project.clone()
            } else {
                project.replace('/', "%2F")
            };
            let body = serde_json::json!({
                "source_branch": review.head,
                "target_branch": review.base,
                "title": review.title,
                "description": review.body,
                "remove_source_branch": true,
            });
            let url = format!("{}/projects/{id}/merge_requests", api.trim_end_matches('/'));
            let request = http
                .post(url)
                .header("PRIVATE-TOKEN", token.expose())
                .header("Content-Type", "application/json")
                .body(body.to_string());
            (request, "web_url")
        }
    }
}

/// Opens the review; returns its web address.
pub fn open(forge: &Forge, review: &Review<'_>) -> Result<String, ReviewError> {
    let provider = match forge {
        Forge::GitHub { .. } => "github",
        Forge::GitLab { .. } => "gitlab",
    };
    let failed = |message: String| ReviewError::RequestFailed { provider, message };
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("tether-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let (request, link) = request(&http, forge, review);
    let response = request
        .send()
        .map_err(|e| failed(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    if !(200..300).contains(&status) {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").map(ToString::to_string))
            .unwrap_or_else(|| text.clone());
        return Err(ReviewError::Refused {
            provider,
            status,
            message: crate::text::clip_message(&message).into_owned(),
        });
    }
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    Ok(doc
        .get(link)
        .and_then(|l| l.as_str())
        .unwrap_or("(no address in the answer)")
        .to_owned())
}
