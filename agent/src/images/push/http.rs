//! Pushing over HTTPS without a TLS backend in libgit2: the branch is fetched with gix (the
//! transports, credentials and CA bundle the sync uses, [`crate::source::fetch`]), and the
//! push is the send-pack of module `sendpack` over smart HTTP: the receive-pack
//! advertisement (`GET info/refs?service=git-receive-pack`), then one
//! `POST git-receive-pack` carrying the ref update and the pack, answered by the report.

use super::sendpack::{MAX_ANSWER_BYTES, Transport, pkt_lines};
use super::{PushError, WriteTarget};
use crate::source::credentials::HttpAuth;
use std::time::Duration;

/// How long a request may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Smart HTTP: `GET info/refs?service=git-receive-pack`, then `POST git-receive-pack`.
struct Http<'a> {
    target: &'a WriteTarget,
    client: reqwest::blocking::Client,
    base: String,
}

impl Transport for Http<'_> {
    fn advertisement(&mut self) -> Result<Vec<String>, PushError> {
        let t = self.target;
        let request = self
            .client
            .get(format!("{}/info/refs?service=git-receive-pack", self.base));
        let response = t
            .authorize(request)
            .send()
            .map_err(|e| t.push_failed(e.without_url().to_string()))?;
        let body = t.answer(response, "the receive-pack advertisement")?;
        pkt_lines(&body).ok_or_else(|| t.push_failed("the advertisement is not a pkt-line stream"))
    }

    fn send(&mut self, body: Vec<u8>) -> Result<Vec<String>, PushError> {
        let t = self.target;
        let request = self
            .client
            .post(format!("{}/git-receive-pack", self.base))
            .header("Content-Type", "application/x-git-receive-pack-request")
            .header("Accept", "application/x-git-receive-pack-result")
            .body(body);
        let response = t
            .authorize(request)
            .send()
            .map_err(|e| t.push_failed(e.without_url().to_string()))?;
        let answer = t.answer(response, "git-receive-pack")?;
        pkt_lines(&answer).ok_or_else(|| t.push_failed("the report is not a pkt-line stream"))
    }
}

impl WriteTarget {
    fn http_client(&self) -> Result<reqwest::blocking::Client, PushError> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("git/2 tether-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.credentials.ca_bundle {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|_| self.push_failed("the CA bundle is not PEM"))?;
            builder = builder.tls_certs_merge(certs);
        }
        builder.build().map_err(|e| self.push_failed(e.to_string()))
    }

    fn authorize(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        match &self.credentials.http {
            Some(HttpAuth::Basic { username, password }) => {
                request.basic_auth(username, Some(password.expose()))
            }
            Some(HttpAuth::Bearer { token }) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    fn answer(
        &self,
        response: reqwest::blocking::Response,
        what: &str,
    ) -> Result<Vec<u8>, PushError> {
        let status = response.status();
        if status.as_u16() == 401 || status.as_u16() == 403 {
            let why = if self.credentials.http.is_some() {
                "the write credentials were refused"
            } else {
                "the remote asks for credentials and none are configured for writing"
            };
            return Err(self.push_failed(format!("{what}: HTTP {status}: {why}")));
        }
        if !status.is_success() {
            return Err(self.push_failed(format!("{what}: HTTP {status}")));
        }
        let mut body = Vec::new();
        use std::io::Read as _;
        response
            .take(MAX_ANSWER_BYTES)
            .read_to_end(&mut body)
            .map_err(|e| self.push_failed(format!("{what}: {}", e.kind())))?;
        Ok(body)
    }

    /// Pushes `commit` (based on `tip`) over smart HTTP; `Ok(Some(reason))` when the
    /// server refused the update because the branch moved.
    pub(super) fn push_http(
        &self,
        repo: &git2::Repository,
        tip: git2::Oid,
        commit: git2::Oid,
    ) -> Result<Option<String>, PushError> {
        let mut http = Http {
            target: self,
            client: self.http_client()?,
            base: self.url.expose().trim_end_matches('/').to_owned(),
        };
        self.send_pack(&mut http, repo, tip, commit)
    }

    /// Fetches the branch with gix into the cache; returns its tip.
    pub(super) fn fetch_gix(&self) -> Result<git2::Oid, PushError> {
        let failed = |message: String| PushError::FetchFailed {
            url: self.url_text(),
            branch: self.branch.clone(),
            message,
        };
        let reference =
            crate::source::Reference::branch(&self.branch).map_err(|e| failed(e.to_string()))?;
        let fetched = crate::source::fetch::fetch_blocking(&crate::source::fetch::FetchRequest {
            url: &self.url,
            reference: &reference,
            depth: crate::source::Depth::Full,
            credentials: &self.credentials,
            cache_dir: &self.cache,
            max_bytes: crate::source::DEFAULT_MAX_BYTES,
            timeout: crate::source::DEFAULT_TIMEOUT,
            cancel: std::sync::Arc::default(),
        })
        .map_err(|e| failed(e.to_string()))?;
        git2::Oid::from_bytes(fetched.commit.as_bytes()).map_err(|e| failed(e.message().to_owned()))
    }
}
