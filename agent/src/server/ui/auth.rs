//! Who is asking and what they may do, the Kubernetes way.
//!
//! - **Authentication**: a bearer token (`Authorization: Bearer ...`) or a session cookie
//!   obtained by posting a token to `/login`; either token is checked with a `TokenReview`.
//!   With `ui.trustedHeaders`, the user (and groups) named by an authenticating proxy's
//!   headers; with `ui.oidc`, single sign-on ([`super::oidc`]) opens the same sessions; with
//!   `ui.anonymous`, anyone else reads.
//! - **Authorisation**: each view and action is a `SubjectAccessReview` for the user and
//!   their groups: `get` (view) or `patch` (act) on `apps` in group `tether.dev` in the app's
//!   namespace, so a team sees only its namespaces. Anonymous users may only `get`.
//! - **CSRF**: every form carries the value of the `tether_csrf` cookie (double submit);
//!   requests with a bearer token carry no ambient credential and need none.
//!
//! Tokens are never logged or kept: the review cache is keyed by a hash of the token.

use crate::daemon::state::Shared;
use axum::http::HeaderMap;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie.
pub const SESSION_COOKIE: &str = "tether_session";
/// The CSRF cookie (double submit).
pub const CSRF_COOKIE: &str = "tether_csrf";
/// The API group of the authorised resource.
pub const GROUP: &str = "tether.dev";
/// The authorised resource.
pub const RESOURCE: &str = "apps";

const REVIEW_TTL: Duration = Duration::from_secs(30);
const MAX_ENTRIES: usize = 10_000;

/// `ui:` in the agent's configuration.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UiConfig {
    /// Whether the UI is served on `listen` (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Whether anyone who reaches the port may read (never act). Default false.
    #[serde(default)]
    pub anonymous: bool,
    /// Trust these headers of an authenticating proxy (oauth2-proxy). Only when the port
    /// is reachable by the proxy alone.
    #[serde(default)]
    pub trusted_headers: Option<TrustedHeaders>,
    /// How long a session lasts (default 8h).
    #[serde(default = "default_session_ttl")]
    pub session_ttl: crate::config::Interval,
    /// Single sign-on with OpenID Connect.
    #[serde(default)]
    pub oidc: Option<super::oidc::OidcConfig>,
}

/// The headers an authenticating proxy sets.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrustedHeaders {
    /// The user's header (`X-Forwarded-User`).
    pub user: String,
    /// The groups' header, comma-separated (`X-Forwarded-Groups`).
    #[serde(default)]
    pub groups: Option<String>,
}

fn yes() -> bool {
    true
}

fn default_session_ttl() -> crate::config::Interval {
    crate::config::Interval(Duration::from_secs(8 * 3600))
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            anonymous: false,
            trusted_headers: None,
            session_ttl: default_session_ttl(),
            oidc: None,
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// Nobody authenticated (only with `ui.anonymous`).
    Anonymous,
    /// An authenticated user.
    User {
        /// The user name.
        name: String,
        /// The user's groups.
        groups: Vec<String>,
    },
}

impl Subject {
    /// The name to show and to audit.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Anonymous => "anonymous",
            Self::User { name, .. } => name,
        }
    }
}

/// How the subject was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A bearer token on the request (no CSRF check needed).
    Bearer,
    /// The session cookie.
    Session,
    /// The proxy's headers.
    Headers,
    /// Nobody.
    Anonymous,
}

/// Why a request is not authenticated or a review failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credential and anonymous access is off.
    #[error("not signed in: send a bearer token or sign in at /login")]
    NoCredential,
    /// The token was refused by the TokenReview.
    #[error("the token was not accepted: {reason}")]
    TokenRefused {
        /// The review's error, if any.
        reason: String,
    },
    /// The session is unknown or expired.
    #[error("the session expired: sign in again at /login")]
    SessionExpired,
    /// The agent has no cluster client (yet).
    #[error("the agent has no cluster connection to review credentials")]
    NoCluster,
    /// The review request failed.
    #[error("{step} failed: {source}")]
    ReviewFailed {
        /// `TokenReview` or `SubjectAccessReview`.
        step: &'static str,
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

/// An access question: who, which verb, which namespace.
type Question = (Subject, &'static str, String);

struct Session {
    subject: Subject,
    expires: Instant,
}

/// The UI's sessions and review caches.
#[derive(Default)]
pub struct Auth {
    sessions: Mutex<HashMap<String, Session>>,
    tokens: Mutex<HashMap<[u8; 32], (Subject, Instant)>>,
    decisions: Mutex<HashMap<Question, (bool, Instant)>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A cookie's value from the request.
#[must_use]
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A new random token (session ids, CSRF tokens): 32 bytes, hex.
#[must_use]
pub fn random_token() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether the form's CSRF value matches the cookie (constant time).
#[must_use]
pub fn csrf_ok(headers: &HeaderMap, submitted: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    match cookie(headers, CSRF_COOKIE) {
        Some(expected) if !expected.is_empty() && expected.len() == submitted.len() => {
            expected.as_bytes().ct_eq(submitted.as_bytes()).into()
        }
        _ => false,
    }
}

fn bearer(headers: &HeaderMap) -> Option<secrecy::SecretString> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then(|| secrecy::SecretString::from(token.to_owned()))
}

fn token_key(token: &secrecy::SecretString) -> [u8; 32] {
    use secrecy::ExposeSecret as _;
    use sha2::Digest as _;
    sha2::Sha256::digest(token.expose_secret().as_bytes()).into()
}

impl Auth {
    /// Who sent `headers`: bearer token, session cookie, proxy headers, or anonymous.
    pub async fn authenticate(
        &self,
        state: &Shared,
        config: &UiConfig,
        headers: &HeaderMap,
    ) -> Result<(Subject, Via), AuthError> {
        if let Some(token) = bearer(headers) {
            return Ok((self.review_token(state, &token).await?, Via::Bearer));
        }
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            let sessions = lock(&self.sessions);
            match sessions.get(&id) {
                Some(s) if s.expires > Instant::now() => {
                    return Ok((s.subject.clone(), Via::Session));
                }
                _ if !config.anonymous && config.trusted_headers.is_none() => {
                    return Err(AuthError::SessionExpired);
                }
                _ => {}
            }
        }
        if let Some(trusted) = &config.trusted_headers {
            let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok()).map(str::trim);
            if let Some(user) = get(&trusted.user).filter(|u| !u.is_empty()) {
                let groups = trusted
                    .groups
                    .as_deref()
                    .and_then(get)
                    .map(|g| {
                        g.split(',')
                            .map(str::trim)
                            .filter(|g| !g.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                let subject = Subject::User {
                    name: user.to_owned(),
                    groups,
                };
                return Ok((subject, Via::Headers));
            }
        }
        if config.anonymous {
            return Ok((Subject::Anonymous, Via::Anonymous));
        }
        Err(AuthError::NoCredential)
    }

    /// Reviews a token and opens a session for its user; returns the session id.
    pub async fn login(
        &self,
        state: &Shared,
        config: &UiConfig,
        token: secrecy::SecretString,
    ) -> Result<(String, Subject), AuthError> {
        let subject = self.review_token(state, &token).await?;
        Ok((self.open_session(&subject, config), subject))
    }

    /// Opens a session for `subject` (after a token review or an OpenID Connect sign-in);
    /// returns its id.
    pub fn open_session(&self, subject: &Subject, config: &UiConfig) -> String {
        let id = random_token();
        let mut sessions = lock(&self.sessions);
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_ENTRIES
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                subject: subject.clone(),
                expires: now + config.session_ttl.0,
            },
        );
        id
    }

    /// Ends a session.
    pub fn logout(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    async fn review_token(
        &self,
        state: &Shared,
        token: &secrecy::SecretString,
    ) -> Result<Subject, AuthError> {
        use secrecy::ExposeSecret as _;
        let key = token_key(token);
        if let Some((subject, at)) = lock(&self.tokens).get(&key)
            && at.elapsed() < REVIEW_TTL
        {
            return Ok(subject.clone());
        }
        let (client, _) = state.cluster().ok_or(AuthError::NoCluster)?;
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.expose_secret().to_owned()),
                audiences: None,
            },
            ..TokenReview::default()
        };
        let answer = Api::<TokenReview>::all(client)
            .create(&PostParams::default(), &review)
            .await
            .map_err(|source| AuthError::ReviewFailed {
                step: "TokenReview",
                source,
            })?;
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Err(AuthError::TokenRefused {
                reason: crate::text::clip_message(&status.error.unwrap_or_default()).into_owned(),
            });
        }
        let user = status.user.unwrap_or_default();
        let subject = Subject::User {
            name: user.username.unwrap_or_default(),
            groups: user.groups.unwrap_or_default(),
        };
        let mut tokens = lock(&self.tokens);
        if tokens.len() >= MAX_ENTRIES {
            tokens.clear();
        }
        tokens.insert(key, (subject.clone(), Instant::now()));
        Ok(subject)
    }

    /// Whether `subject` may `verb` (`get` or `patch`) apps in `namespace`; a failed review
    /// is a refusal (logged).
    pub async fn allowed(
        &self,
        state: &Shared,
        subject: &Subject,
        verb: &'static str,
        namespace: &str,
    ) -> bool {
        let Subject::User { name, groups } = subject else {
            return verb == "get";
        };
        let key = (subject.clone(), verb, namespace.to_owned());
        if let Some((allowed, at)) = lock(&self.decisions).get(&key)
            && at.elapsed() < REVIEW_TTL
        {
            return *allowed;
        }
        let allowed = match self
            .review_access(state, name, groups, verb, namespace)
            .await
        {
            Ok(allowed) => allowed,
            Err(err) => {
                tracing::warn!(user = %name, verb, namespace, error = %err, "access review failed; refusing");
                return false;
            }
        };
        let mut decisions = lock(&self.decisions);
        if decisions.len() >= MAX_ENTRIES {
            decisions.clear();
        }
        decisions.insert(key, (allowed, Instant::now()));
        allowed
    }

    async fn review_access(
        &self,
        state: &Shared,
        user: &str,
        groups: &[String],
        verb: &str,
        namespace: &str,
    ) -> Result<bool, AuthError> {
        let (client, _) = state.cluster().ok_or(AuthError::NoCluster)?;
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.to_owned()),
                groups: Some(groups.to_vec()),
                resource_attributes: Some(ResourceAttributes {
                    group: Some(GROUP.to_owned()),
                    resource: Some(RESOURCE.to_owned()),
                    verb: Some(verb.to_owned()),
                    namespace: Some(namespace.to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let answer = Api::<SubjectAccessReview>::all(client)
            .create(&PostParams::default(), &review)
            .await
            .map_err(|source| AuthError::ReviewFailed {
                step: "SubjectAccessReview",
                source,
            })?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}
