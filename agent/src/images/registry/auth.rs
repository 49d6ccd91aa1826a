//! Registry credentials and challenges: `dockerconfigjson` entries, `WWW-Authenticate`
//! parsing (`Basic realm=...`, `Bearer realm=...,service=...,scope=...`) and AWS ECR tokens.

use super::RegistryError;
use crate::source::credentials::SecretText;
use base64::Engine as _;

/// A user name and password for a registry (the password never printed).
pub struct BasicCredentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: SecretText,
}

impl BasicCredentials {
    /// The `Authorization` header value.
    #[must_use]
    pub fn header(&self) -> SecretText {
        let raw = zeroize::Zeroizing::new(format!("{}:{}", self.username, self.password.expose()));
        SecretText::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
        ))
    }
}

/// A challenge from `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic`.
    Basic,
    /// `Bearer realm=...,service=...,scope=...`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The service parameter.
        service: Option<String>,
        /// The scope parameter.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value.
#[must_use]
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, params) = value.split_once(' ').unwrap_or((value, ""));
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
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        let (val, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match key.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(val.to_owned()),
            "service" => service = Some(val.to_owned()),
            "scope" => scope = Some(val.to_owned()),
            _ => {}
        }
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: realm?,
        service,
        scope,
    })
}

/// Reads the entry of `registry` from a Docker `config.json` (`auths.HOST.auth` or
/// `username`/`password`); `Ok(None)` when it has none. `origin` names the file or Secret in
/// errors.
pub fn from_docker_config(
    bytes: &[u8],
    registry: &str,
    origin: &str,
) -> Result<Option<BasicCredentials>, RegistryError> {
    let invalid = |problem: String| RegistryError::CredentialsInvalid {
        origin: origin.to_owned(),
        problem,
    };
    let doc: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("not JSON: {}", e.classify_name())))?;
    let Some(auths) = doc.get("auths").and_then(|a| a.as_object()) else {
        return Err(invalid("no `auths` object".into()));
    };
    let wanted = [
        registry.to_owned(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ];
    let hub = registry == super::reference::DOCKER_HUB;
    let entry = auths.iter().find(|(key, _)| {
        let key = key.trim_end_matches('/');
        wanted.iter().any(|w| w == key)
            || (hub
                && matches!(
                    key,
                    "docker.io" | "index.docker.io" | "https://index.docker.io/v1"
                ))
    });
    let Some((key, entry)) = entry else {
        return Ok(None);
    };
    if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
        let decoded = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| invalid(format!("auths.{key}.auth: not base64")))?,
        );
        let text = std::str::from_utf8(&decoded)
            .map_err(|_| invalid(format!("auths.{key}.auth: not UTF-8")))?;
        let (user, pass) = text
            .split_once(':')
            .ok_or_else(|| invalid(format!("auths.{key}.auth: not USER:PASSWORD")))?;
        return Ok(Some(BasicCredentials {
            username: user.to_owned(),
            password: SecretText::new(pass.to_owned()),
        }));
    }
    let user = entry.get("username").and_then(|u| u.as_str());
    let pass = entry.get("password").and_then(|p| p.as_str());
    match (user, pass) {
        (Some(user), Some(pass)) => Ok(Some(BasicCredentials {
            username: user.to_owned(),
            password: SecretText::new(pass.to_owned()),
        })),
        _ => Err(invalid(format!(
            "auths.{key}: neither `auth` nor `username` and `password`"
        ))),
    }
}

/// Trait-free helper: the serde_json error category, never the input.
trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// An ECR token through the AWS SDK (`GetAuthorizationToken`, default credential chain;
/// `AWS_ENDPOINT_URL` is honoured).
pub async fn ecr_credentials(registry: &str) -> Result<BasicCredentials, RegistryError> {
    let failed = |problem: String| RegistryError::CredentialsInvalid {
        origin: format!("ECR token for {registry}"),
        problem,
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    // `ACCOUNT.dkr.ecr.REGION.amazonaws.com`: the region is in the host.
    let parts: Vec<&str> = registry.split('.').collect();
    if parts.len() >= 6 && parts[1] == "dkr" && parts[2] == "ecr" {
        loader = loader.region(aws_config::Region::new(parts[3].to_owned()));
    }
    let sdk = loader.load().await;
    let client = aws_sdk_ecr::Client::new(&sdk);
    let out = client.get_authorization_token().send().await.map_err(|e| {
        failed(
            crate::text::clip_message(&aws_sdk_ecr::error::DisplayErrorContext(e).to_string())
                .into_owned(),
        )
    })?;
    let token = out
        .authorization_data()
        .first()
        .and_then(|d| d.authorization_token())
        .ok_or_else(|| failed("the answer has no authorization token".into()))?;
    let decoded = zeroize::Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|_| failed("the token is not base64".into()))?,
    );
    let text =
        std::str::from_utf8(&decoded).map_err(|_| failed("the token is not UTF-8".into()))?;
    let (user, pass) = text
        .split_once(':')
        .ok_or_else(|| failed("the token is not USER:PASSWORD".into()))?;
    Ok(BasicCredentials {
        username: user.to_owned(),
        password: SecretText::new(pass.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_parsed_as_registries_send_them() {
        let c = parse_challenge(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:org/app:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into()),
                scope: Some("repository:org/app:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=\"x\""), None);
    }

    #[test]
    fn docker_config_entries_are_found_by_host() {
        let auth = base64::engine::general_purpose::STANDARD.encode("bot:s3cret");
        let file = format!(
            r#"{{"auths":{{"https://ghcr.io":{{"auth":"{auth}"}},"r.example":{{"username":"u","password":"p"}}}}}}"#
        );
        let c = from_docker_config(file.as_bytes(), "ghcr.io", "f")
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.expose()),
            ("bot", "s3cret")
        );
        let c = from_docker_config(file.as_bytes(), "r.example", "f")
            .unwrap()
            .unwrap();
        assert_eq!(c.username, "u");
        assert!(
            from_docker_config(file.as_bytes(), "quay.io", "f")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn broken_docker_configs_name_the_entry_and_never_quote_the_secret() {
        let err = from_docker_config(
            br#"{"auths":{"h":{"auth":"!!!s3cret"}}}"#,
            "h",
            "secret ns/regcred",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("secret ns/regcred") && err.contains("auths.h.auth"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
        let err = from_docker_config(b"{not json s3cret", "h", "f")
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
