//! Pushing over HTTPS without a TLS backend in libgit2: the branch is fetched with gix (the
//! transports, credentials and CA bundle the sync uses, [`crate::source::fetch`]), and the
//! push is a send-pack over smart HTTP written here: the receive-pack advertisement
//! (`GET info/refs?service=git-receive-pack`), then one `POST git-receive-pack` with the
//! ref update (`OLD NEW REF`, `report-status`) and a pack that libgit2's packbuilder makes,
//! then the server's report. The update names the old value the branch had when fetched,
//! so a branch that moved since is refused by the server (`ng`), never overwritten.

use super::{PushError, WriteTarget};
use crate::source::credentials::HttpAuth;
use std::time::Duration;

/// The largest receive-pack answer read.
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;
/// How long a request may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// One pkt-line.
fn pkt_line(text: &str) -> Vec<u8> {
    let mut out = format!("{:04x}", text.len() + 4).into_bytes();
    out.extend_from_slice(text.as_bytes());
    out
}

/// The payloads of the pkt-lines of `bytes` (flush packets dropped); `None` when malformed.
fn pkt_lines(mut bytes: &[u8]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = usize::from_str_radix(std::str::from_utf8(&bytes[..4]).ok()?, 16).ok()?;
        if len == 0 {
            bytes = &bytes[4..];
            continue;
        }
        if len < 4 || len > bytes.len() {
            return None;
        }
        out.push(
            String::from_utf8_lossy(&bytes[4..len])
                .trim_end_matches('\n')
                .to_owned(),
        );
        bytes = &bytes[len..];
    }
    bytes.is_empty().then_some(out)
}

impl WriteTarget {
    fn http_failed(&self, message: impl Into<String>) -> PushError {
        PushError::PushFailed {
            url: self.url_text(),
            branch: self.push_branch.clone(),
            message: message.into(),
        }
    }

    fn http_client(&self) -> Result<reqwest::blocking::Client, PushError> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("git/2 tether-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.credentials.ca_bundle {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|_| self.http_failed("the CA bundle is not PEM"))?;
            builder = builder.tls_certs_merge(certs);
        }
        builder.build().map_err(|e| self.http_failed(e.to_string()))
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
            return Err(self.http_failed(format!("{what}: HTTP {status}: {why}")));
        }
        if !status.is_success() {
            return Err(self.http_failed(format!("{what}: HTTP {status}")));
        }
        let mut body = Vec::new();
        use std::io::Read as _;
        response
            .take(MAX_ANSWER_BYTES)
            .read_to_end(&mut body)
            .map_err(|e| self.http_failed(format!("{what}: {}", e.kind())))?;
        Ok(body)
    }

    /// The branch's current value on the remote (zero when it does not exist).
    fn advertised(
        &self,
        http: &reqwest::blocking::Client,
        base: &str,
    ) -> Result<git2::Oid, PushError> {
        let request = http.get(format!("{base}/info/refs?service=git-receive-pack"));
        let response = self
            .authorize(request)
            .send()
            .map_err(|e| self.http_failed(e.without_url().to_string()))?;
        let body = self.answer(response, "the receive-pack advertisement")?;
        let lines = pkt_lines(&body)
            .ok_or_else(|| self.http_failed("the advertisement is not a pkt-line stream"))?;
        let wanted = format!("refs/heads/{}", self.push_branch);
        for line in lines.iter().skip_while(|l| l.starts_with('#')) {
            let line = line.split('\0').next().unwrap_or_default();
            if let Some((oid, name)) = line.split_once(' ')
                && name == wanted
            {
                return git2::Oid::from_str(oid)
                    .map_err(|_| self.http_failed("an invalid object id in the advertisement"));
            }
        }
        Ok(git2::Oid::zero())
    }

    /// Pushes `commit` (based on `tip`) over smart HTTP; `Ok(Some(reason))` when the
    /// server refused the update because the branch moved.
    pub(super) fn push_http(
        &self,
        repo: &git2::Repository,
        tip: git2::Oid,
        commit: git2::Oid,
    ) -> Result<Option<String>, PushError> {
        let http = self.http_client()?;
        let base = self.url.expose().trim_end_matches('/').to_owned();
        let old = self.advertised(&http, &base)?;
        let same_branch = self.push_branch == self.branch;
        if same_branch && old != tip {
            return Ok(Some(format!(
                "the branch moved to {old} since it was fetched"
            )));
        }
        let failed = |e: git2::Error| self.http_failed(e.message().to_owned());
        let mut walk = repo.revwalk().map_err(failed)?;
        walk.push(commit).map_err(failed)?;
        walk.hide(tip).map_err(failed)?;
        if !old.is_zero() && repo.find_commit(old).is_ok() {
            walk.hide(old).map_err(failed)?;
        }
        let mut builder = repo.packbuilder().map_err(failed)?;
        builder.insert_walk(&mut walk).map_err(failed)?;
        let mut pack = git2::Buf::new();
        builder.write_buf(&mut pack).map_err(failed)?;
        let command = format!(
            "{old} {commit} refs/heads/{}\0report-status agent=tether/{}\n",
            self.push_branch,
            env!("CARGO_PKG_VERSION")
        );
        let mut body = pkt_line(&command);
        body.extend_from_slice(b"0000");
        body.extend_from_slice(&pack);
        let request = http
            .post(format!("{base}/git-receive-pack"))
            .header("Content-Type", "application/x-git-receive-pack-request")
            .header("Accept", "application/x-git-receive-pack-result")
            .body(body);
        let response = self
            .authorize(request)
            .send()
            .map_err(|e| self.http_failed(e.without_url().to_string()))?;
        let answer = self.answer(response, "git-receive-pack")?;
        let lines = pkt_lines(&answer)
            .ok_or_else(|| self.http_failed("the report is not a pkt-line stream"))?;
        match lines.first().map(String::as_str) {
            Some("unpack ok") => {}
            Some(other) => {
                return Err(self.http_failed(format!(
                    "the server could not unpack: {}",
                    crate::text::clip_message(other)
                )));
            }
            None => return Err(self.http_failed("the server sent no report")),
        }
        let wanted = format!("refs/heads/{}", self.push_branch);
        for line in &lines[1..] {
            if line == &format!("ok {wanted}") {
                return Ok(None);
            }
            if let Some(reason) = line.strip_prefix(&format!("ng {wanted} ")) {
                return Ok(Some(crate::text::clip_message(reason).into_owned()));
            }
        }
        Err(self.http_failed("the report does not name the branch"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkt_lines_round_trip_and_malformed_streams_are_refused() {
        let mut stream = pkt_line("# service=git-receive-pack\n");
        stream.extend_from_slice(b"0000");
        stream.extend(pkt_line("ok refs/heads/main\n"));
        assert_eq!(
            pkt_lines(&stream).unwrap(),
            ["# service=git-receive-pack", "ok refs/heads/main"]
        );
        assert!(pkt_lines(b"00zzabc").is_none());
        assert!(pkt_lines(b"0010abc").is_none());
    }
}
