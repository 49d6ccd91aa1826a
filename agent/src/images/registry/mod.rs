//! The OCI distribution API, as far as image automation needs it: tag lists (paginated by
//! the `Link` header) and the digest of a tag (`HEAD` of its manifest,
//! `Docker-Content-Digest`), anonymously, with basic auth, or with a bearer token obtained
//! from the realm a `WWW-Authenticate: Bearer` challenge names (Docker Hub, GHCR, Harbor).
//!
//! Every answer is bounded (bytes per page, pages, tags); a registry answering 401, 429 or
//! 5xx, or a tag list that is not one, is an error naming the image, never a partial list.

pub mod auth;
pub mod reference;

pub use auth::{BasicCredentials, Challenge};
pub use reference::ImageName;

use crate::source::credentials::SecretText;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, LINK, WWW_AUTHENTICATE};
use std::time::Duration;

/// The largest answer body read (one page of tags, a token).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The most pages of one tag list.
pub const MAX_PAGES: usize = 1000;
/// Tags asked per page.
pub const PAGE_SIZE: usize = 1000;
/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The manifest media types a digest is asked for (an index first: the digest users pin).
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Errors of talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The image name is not one.
    #[error(transparent)]
    NameInvalid(#[from] reference::NameError),
    /// Credentials could not be read.
    #[error("{origin}: {problem}")]
    CredentialsInvalid {
        /// The file, Secret or provider.
        origin: String,
        /// What is wrong (never a value).
        problem: String,
    },
    /// The HTTP request failed (connection, timeout, TLS).
    #[error("image {image}: request failed: {source}")]
    RequestFailed {
        /// The image.
        image: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The registry refused the credentials (or asked for some and there were none).
    #[error("image {image}: authentication failed (HTTP {status}){hint}")]
    AuthFailed {
        /// The image.
        image: String,
        /// The status.
        status: u16,
        /// What was tried.
        hint: &'static str,
    },
    /// The token endpoint of a bearer challenge failed.
    #[error("image {image}: token from {realm}: {problem}")]
    TokenFailed {
        /// The image.
        image: String,
        /// The realm.
        realm: String,
        /// What went wrong.
        problem: String,
    },
    /// The registry asks to slow down.
    #[error("image {image}: rate limited by the registry (HTTP 429){}", retry_after.as_ref().map(|r| format!(", retry after {r}")).unwrap_or_default())]
    RateLimited {
        /// The image.
        image: String,
        /// The `Retry-After` header.
        retry_after: Option<String>,
    },
    /// Another unexpected status.
    #[error("image {image}: {what} answered HTTP {status}")]
    StatusUnexpected {
        /// The image.
        image: String,
        /// What was asked.
        what: &'static str,
        /// The status.
        status: u16,
    },
    /// The tag list is malformed.
    #[error("image {image}: the tag list (page {page}) is invalid: {problem}")]
    TagListInvalid {
        /// The image.
        image: String,
        /// The page (from 1).
        page: usize,
        /// What is wrong.
        problem: String,
    },
    /// More tags than allowed.
    #[error("image {image}: more than {max} tags (raise maxTags or exclude tags)")]
    TooManyTags {
        /// The image.
        image: String,
        /// The bound.
        max: usize,
    },
    /// An answer larger than [`MAX_BODY_BYTES`].
    #[error("image {image}: an answer larger than {MAX_BODY_BYTES} bytes")]
    AnswerTooLarge {
        /// The image.
        image: String,
    },
    /// The manifest answer carries no digest.
    #[error("image {image}: tag {tag}: the registry sent no Docker-Content-Digest")]
    DigestMissing {
        /// The image.
        image: String,
        /// The tag.
        tag: String,
    },
}

impl RegistryError {
    /// A short, stable reason for status and metrics.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NameInvalid(_) => "ImageNameInvalid",
            Self::CredentialsInvalid { .. } => "RegistryCredentialsInvalid",
            Self::RequestFailed { .. } => "RegistryUnreachable",
            Self::AuthFailed { .. } | Self::TokenFailed { .. } => "RegistryAuthFailed",
            Self::RateLimited { .. } => "RegistryRateLimited",
            Self::StatusUnexpected { .. } => "RegistryError",
            Self::TagListInvalid { .. } | Self::AnswerTooLarge { .. } => "TagListInvalid",
            Self::TooManyTags { .. } => "TooManyTags",
            Self::DigestMissing { .. } => "DigestMissing",
        }
    }
}

/// How the client authenticates at the moment.
enum Auth {
    None,
    Basic,
    Bearer(SecretText),
}

/// A client of one image repository.
pub struct Registry {
    http: reqwest::Client,
    name: ImageName,
    base: String,
    credentials: Option<BasicCredentials>,
    auth: Auth,
}

impl Registry {
    /// A client of `name` (`insecure`: plain HTTP) with optional credentials.
    pub fn new(
        name: ImageName,
        insecure: bool,
        credentials: Option<BasicCredentials>,
    ) -> Result<Self, RegistryError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|source| RegistryError::RequestFailed {
                image: name.written.clone(),
                source,
            })?;
        let scheme = if insecure { "http" } else { "https" };
        Ok(Self {
            base: format!("{scheme}://{}", name.registry),
            http,
            name,
            credentials,
            auth: Auth::None,
        })
    }

    fn image(&self) -> String {
        self.name.written.clone()
    }

    /// Every tag of the repository (all pages), at most `max_tags`.
    pub async fn list_tags(&mut self, max_tags: usize) -> Result<Vec<String>, RegistryError> {
        let mut url = format!(
            "{}/v2/{}/tags/list?n={PAGE_SIZE}",
            self.base, self.name.repository
        );
        let mut tags = Vec::new();
        for page in 1..=MAX_PAGES {
            let (headers, body) = self.get(&url, "the tag list", None).await?;
            let list = parse_tag_page(&body).map_err(|problem| RegistryError::TagListInvalid {
                image: self.image(),
                page,
                problem,
            })?;
            tags.extend(list);
            if tags.len() > max_tags {
                return Err(RegistryError::TooManyTags {
                    image: self.image(),
                    max: max_tags,
                });
            }
            match next_link(&headers) {
                Some(next) if next.starts_with('/') => url = format!("{}{next}", self.base),
                Some(next) if next.starts_with(&self.base) => url = next,
                Some(_) => {
                    return Err(RegistryError::TagListInvalid {
                        image: self.image(),
                        page,
                        problem: "the next page is on another host".into(),
                    });
                }
                None => return Ok(tags),
            }
        }
        Err(RegistryError::TagListInvalid {
            image: self.image(),
            page: MAX_PAGES,
            problem: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// The digest of `tag` (`sha256:...`).
    pub async fn digest(&mut self, tag: &str) -> Result<String, RegistryError> {
        let url = format!("{}/v2/{}/manifests/{tag}", self.base, self.name.repository);
        let (headers, _) = self.get(&url, "the manifest", Some(MANIFEST_TYPES)).await?;
        headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|d| d.starts_with("sha256:") && d.len() == 71)
            .map(str::to_owned)
            .ok_or_else(|| RegistryError::DigestMissing {
                image: self.image(),
                tag: tag.to_owned(),
            })
    }

    /// A GET (HEAD for manifests) with the authentication dance; returns headers and body.
    async fn get(
        &mut self,
        url: &str,
        what: &'static str,
        accept: Option<&str>,
    ) -> Result<(HeaderMap, Vec<u8>), RegistryError> {
        for attempt in 0..2 {
            let mut request = if accept.is_some() {
                self.http.head(url)
            } else {
                self.http.get(url)
            };
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            match &self.auth {
                Auth::None => {}
                Auth::Basic => {
                    if let Some(c) = &self.credentials {
                        request = request.header(AUTHORIZATION, c.header().expose());
                    }
                }
                Auth::Bearer(token) => {
                    request = request.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
                }
            }
            let response = request
                .send()
                .await
                .map_err(|source| RegistryError::RequestFailed {
                    image: self.image(),
                    source: source.without_url(),
                })?;
            let status = response.status();
            if status.is_success() {
                let headers = response.headers().clone();
                let body = read_bounded(response, &self.image()).await?;
                return Ok((headers, body));
            }
            if status.as_u16() == 401 && attempt == 0 {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(auth::parse_challenge);
                match challenge {
                    Some(Challenge::Basic) if self.credentials.is_some() => {
                        if matches!(self.auth, Auth::Basic) {
                            break;
                        }
                        self.auth = Auth::Basic;
                        continue;
                    }
                    Some(Challenge::Bearer {
                        realm,
                        service,
                        scope,
                    }) => {
                        let token = self.token(&realm, service, scope).await?;
                        self.auth = Auth::Bearer(token);
                        continue;
                    }
                    _ => {}
                }
            }
            return Err(self.status_error(&response, what));
        }
        Err(RegistryError::AuthFailed {
            image: self.image(),
            status: 401,
            hint: ": the credentials were refused",
        })
    }

    fn status_error(&self, response: &reqwest::Response, what: &'static str) -> RegistryError {
        let status = response.status().as_u16();
        match status {
            401 | 403 => RegistryError::AuthFailed {
                image: self.image(),
                status,
                hint: if self.credentials.is_some() {
                    ": the credentials were refused"
                } else {
                    ": no credentials are configured"
                },
            },
            429 => RegistryError::RateLimited {
                image: self.image(),
                retry_after: response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| crate::text::clip_message(v).into_owned()),
            },
            _ => RegistryError::StatusUnexpected {
                image: self.image(),
                what,
                status,
            },
        }
    }

    /// Asks the realm of a bearer challenge for a token (with the basic credentials, when
    /// there are some).
    async fn token(
        &self,
        realm: &str,
        service: Option<String>,
        scope: Option<String>,
    ) -> Result<SecretText, RegistryError> {
        let failed = |problem: String| RegistryError::TokenFailed {
            image: self.image(),
            realm: crate::source::redact::redact_url(realm),
            problem,
        };
        if !(realm.starts_with("https://") || realm.starts_with("http://")) {
            return Err(failed("the realm is not an http(s) URL".into()));
        }
        let scope = scope.unwrap_or_else(|| format!("repository:{}:pull", self.name.repository));
        let mut query = vec![("scope", scope)];
        if let Some(service) = service {
            query.push(("service", service));
        }
        let url = reqwest::Url::parse_with_params(realm, &query)
            .map_err(|_| failed("the realm is not a URL".into()))?;
        let mut request = self.http.get(url);
        if let Some(c) = &self.credentials {
            request = request.header(AUTHORIZATION, c.header().expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(RegistryError::AuthFailed {
                image: self.image(),
                status,
                hint: ": the token endpoint refused the credentials",
            });
        }
        if !response.status().is_success() {
            return Err(failed(format!("HTTP {status}")));
        }
        let body = zeroize::Zeroizing::new(read_bounded(response, &self.image()).await?);
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| failed("the answer is not JSON".into()))?;
        doc.get("token")
            .or_else(|| doc.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(|t| SecretText::new(t.to_owned()))
            .ok_or_else(|| failed("the answer has no `token`".into()))
    }
}

async fn read_bounded(
    mut response: reqwest::Response,
    image: &str,
) -> Result<Vec<u8>, RegistryError> {
    let mut body = Vec::new();
    while let Some(chunk) =
        response
            .chunk()
            .await
            .map_err(|source| RegistryError::RequestFailed {
                image: image.to_owned(),
                source: source.without_url(),
            })?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(RegistryError::AnswerTooLarge {
                image: image.to_owned(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The tags of one page (`{"name": ..., "tags": [...]}`; `tags: null` is an empty page).
fn parse_tag_page(body: &[u8]) -> Result<Vec<String>, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON ({})", e.classify_text()))?;
    let Some(object) = doc.as_object() else {
        return Err("not a JSON object".into());
    };
    match object.get("tags") {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|t| match t.as_str() {
                Some(tag) if valid_tag(tag) => Ok(tag.to_owned()),
                Some(tag) => Err(format!("{:?} is not a tag", crate::text::clip_message(tag))),
                None => Err("a tag is not a string".into()),
            })
            .collect(),
        Some(_) => Err("`tags` is not a list".into()),
    }
}

trait ClassifyText {
    fn classify_text(&self) -> &'static str;
}

impl ClassifyText for serde_json::Error {
    fn classify_text(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Eof => "truncated",
            _ => "syntax error",
        }
    }
}

/// Whether `tag` is a valid OCI tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
#[must_use]
pub fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers.get_all(LINK).iter().find_map(|value| {
        let value = value.to_str().ok()?;
        value.split(',').find_map(|part| {
            let (target, params) = part.split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            params
                .split(';')
                .any(|p| {
                    let p = p.trim().replace(' ', "");
                    p == "rel=\"next\"" || p == "rel=next"
                })
                .then(|| target.to_owned())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_the_next_page() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            "</v2/app/tags/list?last=b&n=2>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("/v2/app/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(&HeaderMap::new()), None);
        let mut h = HeaderMap::new();
        h.insert(LINK, "<https://x/a>; rel=\"prev\"".parse().unwrap());
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn malformed_tag_pages_are_errors_that_say_why() {
        assert_eq!(
            parse_tag_page(br#"{"name":"a","tags":["1.0","v2"]}"#).unwrap(),
            ["1.0", "v2"]
        );
        assert!(
            parse_tag_page(br#"{"name":"a","tags":null}"#)
                .unwrap()
                .is_empty()
        );
        for (bad, why) in [
            (&b"<html>"[..], "not JSON"),
            (br#"{"tags":"1.0"}"#, "not a list"),
            (br#"{"tags":[1]}"#, "not a string"),
            (br#"{"tags":["../../x"]}"#, "not a tag"),
            (br#"["1.0"]"#, "not a JSON object"),
        ] {
            let err = parse_tag_page(bad).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn tags_follow_the_oci_grammar() {
        assert!(valid_tag("v1.2.3-rc.1") && valid_tag("main-abc_1") && valid_tag("_x"));
        assert!(
            !valid_tag("") && !valid_tag("-x") && !valid_tag("a/b") && !valid_tag(&"a".repeat(129))
        );
    }
}
