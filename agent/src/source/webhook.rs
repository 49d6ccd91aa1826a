//! Webhook verification: a pure function over the request's headers and body that says
//! whether a push notification is authentic, and what it is about.
//!
//! Supported: GitHub (`X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the body), GitLab
//! (`X-Gitlab-Token`, a shared token) and a generic HMAC-SHA256 header (`sha256=<hex>` or bare
//! hex). Every comparison is constant-time; the body is limited to [`MAX_BODY_BYTES`]; the
//! payload parser is bounded and never panics. The HTTP route itself lives in the server.

use super::credentials::SecretText;
use super::redact::redact_url;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The largest body accepted: 1 MiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Errors from verifying a webhook. None of them carries the secret or the signature sent.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The body is over the limit.
    #[error("webhook: body of {size} bytes is over the limit of {limit} bytes")]
    BodyTooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The header that carries the signature or token is missing.
    #[error("webhook: header {header} is missing")]
    MissingHeader {
        /// The header's name.
        header: String,
    },
    /// The header is there but not in the expected form.
    #[error("webhook: header {header} is malformed")]
    MalformedHeader {
        /// The header's name.
        header: String,
    },
    /// The signature or token does not match.
    #[error("webhook: header {header} does not match")]
    Mismatch {
        /// The header's name.
        header: String,
    },
}

impl WebhookError {
    /// A short, stable reason.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        "WebhookRejected"
    }
}

/// How webhook requests for a source are authenticated.
pub enum WebhookAuth {
    /// GitHub (and Gitea, Forgejo): `X-Hub-Signature-256`.
    GitHub {
        /// The webhook secret.
        secret: SecretText,
    },
    /// GitLab: `X-Gitlab-Token`.
    GitLab {
        /// The secret token.
        token: SecretText,
    },
    /// An HMAC-SHA256 of the body in a header of your choice.
    Generic {
        /// The header's name (case-insensitive).
        header: String,
        /// The HMAC key.
        secret: SecretText,
    },
}

/// What an authentic webhook says (fields found in the payload, when it is JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The pushed ref (`refs/heads/main`), if the payload names one.
    pub git_ref: Option<String>,
    /// The new head commit, if given.
    pub after: Option<String>,
    /// The repository URLs in the payload (clone, SSH, web), redacted.
    pub repository_urls: Vec<String>,
}

impl WebhookEvent {
    /// Whether this event may concern the repository at `url`: true when the payload names
    /// no repository, or names this one (compared without scheme, user, `.git` and case).
    #[must_use]
    pub fn concerns(&self, url: &str) -> bool {
        if self.repository_urls.is_empty() {
            return true;
        }
        let wanted = normalize_repo_url(url);
        self.repository_urls
            .iter()
            .any(|candidate| normalize_repo_url(candidate) == wanted)
    }
}

/// `https://u@Host/o/r.git` and `git@host:o/r` → `host/o/r`.
fn normalize_repo_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.replacen(':', "/", 1);
    let rest = rest.trim_end_matches('/').trim_end_matches(".git");
    // Drop a port: `host/22/o/r` would not match a web URL anyway; keep it simple.
    rest.to_ascii_lowercase()
}

/// Verifies a webhook request. `headers` are `(name, value)` pairs; names match
/// case-insensitively. Returns what the payload says when the request is authentic.
pub fn verify(
    auth: &WebhookAuth,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Result<WebhookEvent, WebhookError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::BodyTooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    match auth {
        WebhookAuth::GitHub { secret } => {
            verify_hmac("X-Hub-Signature-256", true, secret, headers, body)?;
        }
        WebhookAuth::Generic { header, secret } => {
            verify_hmac(header, false, secret, headers, body)?;
        }
        WebhookAuth::GitLab { token } => {
            let name = "X-Gitlab-Token";
            let given = header(headers, name)?;
            // Compare digests so that the comparison time depends on neither length.
            let a = Sha256::digest(given);
            let b = Sha256::digest(token.expose().as_bytes());
            if !bool::from(a.ct_eq(&b)) {
                return Err(WebhookError::Mismatch {
                    header: name.to_owned(),
                });
            }
        }
    }
    Ok(parse_payload(body))
}

fn header<'h>(headers: &[(&str, &'h [u8])], name: &str) -> Result<&'h [u8], WebhookError> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .ok_or_else(|| WebhookError::MissingHeader {
            header: name.to_owned(),
        })
}

fn verify_hmac(
    name: &str,
    prefix_required: bool,
    secret: &SecretText,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Result<(), WebhookError> {
    let value = header(headers, name)?;
    let malformed = || WebhookError::MalformedHeader {
        header: name.to_owned(),
    };
    let value = std::str::from_utf8(value).map_err(|_| malformed())?.trim();
    let hex_sig = match value.strip_prefix("sha256=") {
        Some(rest) => rest,
        None if prefix_required => return Err(malformed()),
        None => value,
    };
    let expected = hex::decode(hex_sig).map_err(|_| malformed())?;
    if expected.len() != 32 {
        return Err(malformed());
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).map_err(|_| malformed())?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| WebhookError::Mismatch {
            header: name.to_owned(),
        })
}

/// The fields of a push payload that matter here. Anything that is not a JSON object gives an
/// empty event; serde_json bounds nesting depth, and the body size is bounded above.
#[must_use]
pub fn parse_payload(body: &[u8]) -> WebhookEvent {
    let Ok(serde_json::Value::Object(root)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return WebhookEvent::default();
    };
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
    let mut urls = Vec::new();
    for section in ["repository", "project"] {
        if let Some(serde_json::Value::Object(obj)) = root.get(section) {
            for key in [
                "clone_url",
                "ssh_url",
                "git_url",
                "git_http_url",
                "git_ssh_url",
                "html_url",
                "web_url",
                "url",
            ] {
                if let Some(url) = text(obj.get(key))
                    && url.len() <= 2048
                    && !urls.contains(&redact_url(&url))
                {
                    urls.push(redact_url(&url));
                }
            }
        }
    }
    WebhookEvent {
        git_ref: text(root.get("ref")).filter(|r| r.len() <= 1024),
        after: text(root.get("after")).filter(|r| r.len() <= 128),
        repository_urls: urls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn github(secret: &str) -> WebhookAuth {
        WebhookAuth::GitHub {
            secret: SecretText::new(secret.to_owned()),
        }
    }

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    const PUSH: &[u8] = br#"{"ref":"refs/heads/main","after":"abc","repository":{"clone_url":"https://git.example/o/r.git","ssh_url":"git@git.example:o/r.git"}}"#;

    #[test]
    fn github_signature_accepted_and_payload_read() {
        let sig = sign("hook-secret", PUSH);
        let event = verify(
            &github("hook-secret"),
            &[("x-hub-signature-256", sig.as_bytes())],
            PUSH,
        )
        .expect("valid");
        assert_eq!(event.git_ref.as_deref(), Some("refs/heads/main"));
        assert!(event.concerns("https://git.example/o/r"));
        assert!(event.concerns("ssh://git@git.example/o/r.git"));
        assert!(!event.concerns("https://git.example/o/other"));
    }

    #[test]
    fn fail_bad_missing_or_malformed_signatures() {
        let auth = github("hook-secret");
        let wrong = sign("other-secret", PUSH);
        let err = verify(&auth, &[("X-Hub-Signature-256", wrong.as_bytes())], PUSH)
            .expect_err("wrong secret");
        assert!(matches!(err, WebhookError::Mismatch { .. }), "{err}");
        let mut tampered = PUSH.to_vec();
        tampered[3] = b'X';
        let sig = sign("hook-secret", PUSH);
        assert!(verify(&auth, &[("X-Hub-Signature-256", sig.as_bytes())], &tampered).is_err());
        assert!(matches!(
            verify(&auth, &[], PUSH),
            Err(WebhookError::MissingHeader { .. })
        ));
        for bad in ["sha1=00", "sha256=zz", "sha256=00", ""] {
            assert!(
                matches!(
                    verify(&auth, &[("X-Hub-Signature-256", bad.as_bytes())], PUSH),
                    Err(WebhookError::MalformedHeader { .. })
                ),
                "{bad}"
            );
        }
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert!(matches!(
            verify(&auth, &[], &big),
            Err(WebhookError::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn gitlab_token_and_generic_hmac() {
        let gitlab = WebhookAuth::GitLab {
            token: SecretText::new("gl-token".to_owned()),
        };
        assert!(verify(&gitlab, &[("X-Gitlab-Token", b"gl-token")], PUSH).is_ok());
        assert!(verify(&gitlab, &[("X-Gitlab-Token", b"gl-tokeN")], PUSH).is_err());
        assert!(verify(&gitlab, &[("X-Gitlab-Token", b"")], PUSH).is_err());
        let generic = WebhookAuth::Generic {
            header: "X-Signature".to_owned(),
            secret: SecretText::new("k".to_owned()),
        };
        let sig = sign("k", b"{}");
        let bare = sig.trim_start_matches("sha256=").to_owned();
        assert!(verify(&generic, &[("x-signature", sig.as_bytes())], b"{}").is_ok());
        assert!(verify(&generic, &[("x-signature", bare.as_bytes())], b"{}").is_ok());
        assert!(verify(&generic, &[("x-signature", bare.as_bytes())], b"{ }").is_err());
    }

    #[test]
    fn deeply_nested_payload_does_not_panic() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse_payload(deep.as_bytes()), WebhookEvent::default());
        let deep_obj = format!("{{\"ref\":{}{}}}", "{\"a\":".repeat(5000), "}".repeat(5000));
        assert_eq!(parse_payload(deep_obj.as_bytes()).git_ref, None);
    }

    proptest! {
        #[test]
        fn payload_parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_payload(&body);
        }

        #[test]
        fn payload_parser_never_panics_on_jsonish(body in r#"[\{\}\[\]":,a-z0-9 ]{0,512}"#) {
            let _ = parse_payload(body.as_bytes());
        }
    }
}
