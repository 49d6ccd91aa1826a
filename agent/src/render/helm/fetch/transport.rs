//! HTTP for fetching: one blocking client per repository (its CA bundle, its timeout),
//! bounded bodies, credentials sent only to the repository's own origin, and the OCI
//! registry challenges (`Basic`, and `Bearer` with a token from the realm it names).

use std::cell::RefCell;
use std::io::Read;

use zeroize::Zeroizing;

use super::{Credentials, FetchError, FetchLimits, Repository};

/// A URL without its `user:password@` part, for messages.
pub(super) fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.chars().take(200).collect();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
        .chars()
        .take(200)
        .collect()
}

/// `scheme://host[:port]` of a URL.
pub(super) fn origin(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    Some(parsed.origin().ascii_serialization())
}

/// An answer with its body read (bounded).
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
}

/// The client of one repository.
pub(super) struct Client<'a> {
    pub(super) repository: &'a Repository,
    pub(super) limits: &'a FetchLimits,
    http: reqwest::blocking::Client,
    /// A token the registry's auth service gave during this fetch.
    token: RefCell<Option<Zeroizing<String>>>,
}

/// What a `WWW-Authenticate` header asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
pub(super) fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut scope = None;
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value.to_owned()),
            "service" => service = Some(value.to_owned()),
            "scope" => scope = Some(value.to_owned()),
            _ => {}
        }
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: realm?,
        service,
        scope,
    })
}

fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    without_userinfo_in(&text).chars().take(300).collect()
}

/// Removes `user:pass@` from any URL a message quotes.
fn without_userinfo_in(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.contains("://") && word.contains('@') {
                without_userinfo(word)
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl<'a> Client<'a> {
    pub(super) fn new(
        repository: &'a Repository,
        limits: &'a FetchLimits,
    ) -> Result<Self, FetchError> {
        let invalid = |problem: String| FetchError::InvalidRepository {
            repository: without_userinfo(&repository.url),
            problem,
        };
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(limits.timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("tether/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &repository.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| invalid(format!("CA bundle: {}", describe(&e))))?;
            if certs.is_empty() {
                return Err(invalid("CA bundle: no PEM certificate found".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| invalid(format!("HTTP client: {}", describe(&e))))?;
        Ok(Self {
            repository,
            limits,
            http,
            token: RefCell::new(None),
        })
    }

    /// GETs `url`; sends the credentials only when `url` has the repository's origin (as
    /// Helm does without `--pass-credentials`), answers registry challenges once.
    pub(super) fn get(
        &self,
        chart: &str,
        url: &str,
        accept: &[&str],
        limit: u64,
        what: &str,
    ) -> Result<Answer, FetchError> {
        let own = origin(url).is_some() && origin(url) == origin(&self.base_url());
        let first = self.send(chart, url, accept, limit, what, own, None)?;
        if first.0.status != 401 || !own {
            return Ok(first.0);
        }
        let Some(challenge) = first.1.as_deref().and_then(parse_challenge) else {
            return Ok(first.0);
        };
        let retried = match challenge {
            Challenge::Basic => {
                self.send(chart, url, accept, limit, what, true, Some(Auth::Basic))?
            }
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let token = self.token(chart, &realm, service.as_deref(), scope.as_deref())?;
                *self.token.borrow_mut() = Some(token);
                self.send(chart, url, accept, limit, what, true, Some(Auth::Token))?
            }
        };
        Ok(retried.0)
    }

    /// The repository URL as HTTP (`oci://` becomes `https://`, or `http://` when allowed).
    pub(super) fn base_url(&self) -> String {
        match self.repository.url.strip_prefix("oci://") {
            Some(rest) if self.repository.plain_http => format!("http://{rest}"),
            Some(rest) => format!("https://{rest}"),
            None => self.repository.url.clone(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        chart: &str,
        url: &str,
        accept: &[&str],
        limit: u64,
        what: &str,
        own: bool,
        auth: Option<Auth>,
    ) -> Result<(Answer, Option<String>), FetchError> {
        let failed = |message: String| FetchError::DownloadFailed {
            chart: chart.to_owned(),
            url: without_userinfo(url),
            message,
        };
        let mut request = self.http.get(url);
        if !accept.is_empty() {
            request = request.header("accept", accept.join(", "));
        }
        if own {
            let token = self.token.borrow();
            request = match (auth, token.as_ref(), &self.repository.credentials) {
                (Some(Auth::Token) | None, Some(token), _) => request.bearer_auth(token.as_str()),
                (_, _, Some(Credentials::Bearer { token })) => request.bearer_auth(token.as_str()),
                (Some(Auth::Basic), _, Some(Credentials::Basic { username, password })) => {
                    request.basic_auth(username, Some(password.as_str()))
                }
                // HTTP repositories get basic credentials at once, as helm sends them.
                (None, None, Some(Credentials::Basic { username, password }))
                    if !self.repository.is_oci() =>
                {
                    request.basic_auth(username, Some(password.as_str()))
                }
                _ => request,
            };
        }
        let mut response = request.send().map_err(|e| failed(describe(&e)))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let challenge = header("www-authenticate");
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge {
                chart: chart.to_owned(),
                what: what.to_owned(),
                limit,
            });
        }
        let mut body = Vec::new();
        (&mut response)
            .take(limit + 1)
            .read_to_end(&mut body)
            .map_err(|e| failed(e.to_string()))?;
        if body.len() as u64 > limit {
            return Err(FetchError::TooLarge {
                chart: chart.to_owned(),
                what: what.to_owned(),
                limit,
            });
        }
        Ok((Answer { status, body }, challenge))
    }

    /// Asks the registry's token service for a token (with the basic credentials, if any).
    fn token(
        &self,
        chart: &str,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<Zeroizing<String>, FetchError> {
        let failed = |message: String| FetchError::IndexFailed {
            chart: chart.to_owned(),
            repository: without_userinfo(&self.repository.url),
            what: "token",
            message,
        };
        let mut url = reqwest::Url::parse(realm).map_err(|e| failed(format!("realm: {e}")))?;
        if url.scheme() != "https" && !self.repository.plain_http {
            return Err(failed("the token realm is not HTTPS".into()));
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            if let Some(scope) = scope {
                query.append_pair("scope", scope);
            }
        }
        let mut request = self.http.get(url);
        if let Some(Credentials::Basic { username, password }) = &self.repository.credentials {
            request = request.basic_auth(username, Some(password.as_str()));
        }
        let response = request.send().map_err(|e| failed(describe(&e)))?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(FetchError::Unauthorized {
                chart: chart.to_owned(),
                repository: without_userinfo(&self.repository.url),
                status,
            });
        }
        if status != 200 {
            return Err(failed(format!("HTTP {status}")));
        }
        let mut body = Zeroizing::new(Vec::new());
        response
            .take(1 << 20)
            .read_to_end(&mut body)
            .map_err(|e| failed(e.to_string()))?;
        let parsed: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| failed("the answer is not JSON".into()))?;
        let token = parsed
            .get("token")
            .or_else(|| parsed.get("access_token"))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| failed("the answer has no token".into()))?;
        Ok(Zeroizing::new(token.to_owned()))
    }
}

#[derive(Clone, Copy)]
enum Auth {
    Basic,
    Token,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_challenges_are_read() {
        assert_eq!(
            parse_challenge("Basic realm=\"Registry\""),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                "Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:charts/app:pull\""
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:charts/app:pull".into()),
            })
        );
        assert_eq!(parse_challenge("Bearer service=\"x\""), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn messages_never_quote_user_info() {
        assert_eq!(
            without_userinfo("https://bob:hunter2@charts.example/stable/index.yaml"),
            "https://charts.example/stable/index.yaml"
        );
        assert!(
            !without_userinfo_in("error sending request for url (https://bob:hunter2@x/y)")
                .contains("hunter2")
        );
    }
}
