//! Single sign-on with OpenID Connect: the authorization code flow with PKCE (S256), as a
//! confidential client (`client_secret_post`) or a public one.
//!
//! `GET /oidc/login` redirects to the provider's authorization endpoint with a fresh
//! `state`, `nonce` and code challenge; `GET /oidc/callback` takes the code back, redeems it
//! at the token endpoint with the verifier, verifies the ID token (signature with the
//! provider's JWKS, issuer, audience, expiry, nonce) and opens a session for the user named
//! by `usernameClaim` with the groups of `groupsClaim`. What the user may see and do is then
//! decided by the same SubjectAccessReviews as for tokens (user and groups as the subject).
//! Tokens and the verifier are never logged.

use super::auth::Subject;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PENDING_TTL: Duration = Duration::from_secs(600);
const MAX_PENDING: usize = 10_000;
const DISCOVERY_TTL: Duration = Duration::from_secs(300);

/// `ui.oidc` in the agent's configuration.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OidcConfig {
    /// The issuer URL (its `/.well-known/openid-configuration` is read).
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// A file holding the client secret (none: a public client, PKCE only).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Where the provider sends the browser back: `https://HOST/oidc/callback`.
    pub redirect_url: String,
    /// The scopes asked for (default `openid email profile groups`).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that names the user (default `email`; `sub` when absent).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim that lists the user's groups (default `groups`).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile", "groups"]
        .map(str::to_owned)
        .to_vec()
}

fn default_username_claim() -> String {
    "email".into()
}

fn default_groups_claim() -> String {
    "groups".into()
}

/// Why a sign-in through the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// A request to the provider failed.
    #[error("{step}: {message}")]
    RequestFailed {
        /// `discovery`, `token`, `jwks`.
        step: &'static str,
        /// What went wrong (clipped).
        message: String,
    },
    /// The provider's discovery document names another issuer.
    #[error("discovery: the issuer is {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// Configured.
        expected: String,
        /// Found.
        found: String,
    },
    /// The callback's state is unknown or expired.
    #[error("the sign-in expired or was not started here: start again")]
    UnknownState,
    /// The provider refused (the callback carried an error).
    #[error("the provider refused: {0}")]
    Refused(String),
    /// The ID token did not verify.
    #[error("the ID token is not valid: {0}")]
    InvalidIdToken(String),
    /// The client secret file could not be read.
    #[error("clientSecretFile {path}: {source}")]
    SecretUnreadable {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

struct Pending {
    verifier: zeroize::Zeroizing<String>,
    nonce: String,
    expires: Instant,
}

/// The flows in progress and the provider's discovery document.
#[derive(Default)]
pub struct Oidc {
    pending: Mutex<HashMap<String, Pending>>,
    discovery: Mutex<Option<(String, Discovery, Instant)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn failed(step: &'static str, err: impl std::fmt::Display) -> OidcError {
    OidcError::RequestFailed {
        step,
        message: crate::text::clip_message(&err.to_string()).into_owned(),
    }
}

async fn get_json(step: &'static str, url: &str) -> Result<Value, OidcError> {
    let response = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| failed(step, e))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| failed(step, e))?;
    if !status.is_success() {
        return Err(failed(step, format!("{url}: HTTP {status}")));
    }
    serde_json::from_str(&text).map_err(|e| failed(step, format!("{url}: {e}")))
}

fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc").finish_non_exhaustive()
    }
}

impl Oidc {
    async fn discovery(&self, config: &OidcConfig) -> Result<Discovery, OidcError> {
        if let Some((issuer, found, at)) = lock(&self.discovery).as_ref()
            && *issuer == config.issuer
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(found.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            config.issuer.trim_end_matches('/')
        );
        let value = get_json("discovery", &url).await?;
        let found: Discovery = serde_json::from_value(value).map_err(|e| failed("discovery", e))?;
        if found.issuer.trim_end_matches('/') != config.issuer.trim_end_matches('/') {
            return Err(OidcError::IssuerMismatch {
                expected: config.issuer.clone(),
                found: found.issuer,
            });
        }
        *lock(&self.discovery) = Some((config.issuer.clone(), found.clone(), Instant::now()));
        Ok(found)
    }

    /// The URL to send the browser to, with a new flow recorded.
    pub async fn start(&self, config: &OidcConfig) -> Result<String, OidcError> {
        let discovery = self.discovery(config).await?;
        let state = super::auth::random_token();
        let nonce = super::auth::random_token();
        let verifier = zeroize::Zeroizing::new(super::auth::random_token());
        let challenge = pkce_challenge(&verifier);
        {
            let mut pending = lock(&self.pending);
            let now = Instant::now();
            pending.retain(|_, p| p.expires > now);
            if pending.len() >= MAX_PENDING {
                pending.clear();
            }
            pending.insert(
                state.clone(),
                Pending {
                    verifier,
                    nonce: nonce.clone(),
                    expires: now + PENDING_TTL,
                },
            );
        }
        let enc = super::model::url_encode;
        Ok(format!(
            "{}{}response_type=code&client_id={}&redirect_uri={}&scope={}&state={state}&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
            discovery.authorization_endpoint,
            if discovery.authorization_endpoint.contains('?') {
                '&'
            } else {
                '?'
            },
            enc(&config.client_id),
            enc(&config.redirect_url),
            enc(&config.scopes.join(" ")),
        ))
    }

    /// Finishes a flow: redeems `code`, verifies the ID token, returns the user.
    pub async fn finish(
        &self,
        config: &OidcConfig,
        state: &str,
        code: &str,
    ) -> Result<Subject, OidcError> {
        let pending = lock(&self.pending)
            .remove(state)
            .filter(|p| p.expires > Instant::now())
            .ok_or(OidcError::UnknownState)?;
        let discovery = self.discovery(config).await?;
        let id_token = self.redeem(config, &discovery, code, &pending).await?;
        let claims = verify(config, &discovery, &id_token).await?;
        if claims.get("nonce").and_then(Value::as_str) != Some(pending.nonce.as_str()) {
            return Err(OidcError::InvalidIdToken("the nonce does not match".into()));
        }
        let name = claims
            .get(&config.username_claim)
            .or_else(|| claims.get("sub"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| OidcError::InvalidIdToken("no user name claim".into()))?
            .to_owned();
        let groups = claims
            .get(&config.groups_claim)
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Subject::User { name, groups })
    }

    async fn redeem(
        &self,
        config: &OidcConfig,
        discovery: &Discovery,
        code: &str,
        pending: &Pending,
    ) -> Result<zeroize::Zeroizing<String>, OidcError> {
        let enc = super::model::url_encode;
        let mut body = zeroize::Zeroizing::new(format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&code_verifier={}",
            enc(code),
            enc(&config.redirect_url),
            enc(&config.client_id),
            enc(&pending.verifier)
        ));
        if let Some(path) = &config.client_secret_file {
            let secret =
                zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
                    OidcError::SecretUnreadable {
                        path: path.clone(),
                        source,
                    }
                })?);
            body.push_str("&client_secret=");
            body.push_str(&enc(secret.trim()));
        }
        let response = reqwest::Client::new()
            .post(&discovery.token_endpoint)
            .timeout(Duration::from_secs(10))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| failed("token", e))?;
        let status = response.status();
        let text = zeroize::Zeroizing::new(response.text().await.map_err(|e| failed("token", e))?);
        let value: Value = serde_json::from_str(&text)
            .map_err(|_| failed("token", format!("HTTP {status}: not JSON")))?;
        if !status.is_success() {
            let error = value.get("error").and_then(Value::as_str).unwrap_or("");
            return Err(failed("token", format!("HTTP {status}: {error}")));
        }
        value
            .get("id_token")
            .and_then(Value::as_str)
            .map(|t| zeroize::Zeroizing::new(t.to_owned()))
            .ok_or_else(|| failed("token", "the answer has no id_token"))
    }
}

/// Verifies the ID token's signature (a key of the provider's JWKS; asymmetric algorithms
/// only), issuer, audience and expiry; returns its claims.
async fn verify(
    config: &OidcConfig,
    discovery: &Discovery,
    id_token: &str,
) -> Result<serde_json::Map<String, Value>, OidcError> {
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(get_json("jwks", &discovery.jwks_uri).await?)
            .map_err(|e| failed("jwks", e))?;
    check_id_token(&config.client_id, &discovery.issuer, &jwks, id_token)
}

/// Checks an ID token against the provider's keys: an asymmetric algorithm (never `none` or
/// an HMAC keyed with a public key), a key of `jwks`, the `issuer`, the `audience` (the
/// client id) and the expiry.
fn check_id_token(
    audience: &str,
    issuer: &str,
    jwks: &jsonwebtoken::jwk::JwkSet,
    id_token: &str,
) -> Result<serde_json::Map<String, Value>, OidcError> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let invalid = |e: &dyn std::fmt::Display| OidcError::InvalidIdToken(e.to_string());
    let header = jsonwebtoken::decode_header(id_token).map_err(|e| invalid(&e))?;
    if matches!(
        header.alg,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return Err(OidcError::InvalidIdToken(format!(
            "algorithm {:?} refused",
            header.alg
        )));
    }
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid),
        None => jwks.keys.first(),
    }
    .ok_or_else(|| OidcError::InvalidIdToken("no key of the provider signed it".into()))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(&e))?;
    let mut validation = Validation::new(header.alg);
    // Without this, a token that carries no `aud` (or no `iss`) passes those checks.
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(id_token, &key, &validation)
        .map_err(|e| invalid(&e))?;
    Ok(data.claims)
}

#[cfg(test)]
#[path = "oidc_tests.rs"]
mod oidc_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_rfc_7636_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
