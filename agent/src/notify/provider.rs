//! A provider ready to send: its configuration with its secrets (address, token, password)
//! read from files or Secrets into zeroizing memory. Neither `Debug` nor `Display` shows them.

use super::NotifyError;
use super::config::{ProviderConfig, ProviderType, SecretSource, SmtpConfig};
use k8s_openapi::api::core::v1::Secret;
use std::time::Duration;
use zeroize::Zeroizing;

/// A secret text held in zeroizing memory; no `Debug`, `Display` or `Serialize`.
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Wraps `text`.
    #[must_use]
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The text.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A provider with its secrets loaded.
pub struct Provider {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: ProviderType,
    address: Option<SecretText>,
    token: Option<SecretText>,
    password: Option<SecretText>,
    /// The Slack channel.
    pub channel: Option<String>,
    /// The repository of commit statuses.
    pub repository: Option<String>,
    /// E-mail settings.
    pub smtp: Option<SmtpConfig>,
    /// Extra trusted CA certificates (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// The configuration it came from.
    pub config: ProviderConfig,
    /// How long a firing alert lasts without a reminder.
    hold: Duration,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

async fn read_source(
    client: Option<&kube::Client>,
    namespace: &str,
    provider: &str,
    field: &str,
    source: &SecretSource,
) -> Result<Option<SecretText>, NotifyError> {
    let failed = |problem: String| NotifyError::CredentialFailed {
        provider: provider.to_owned(),
        field: field.to_owned(),
        problem,
    };
    if let Some(path) = &source.file {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| failed(format!("read {}: {e}", path.display())))?,
        );
        return Ok(Some(SecretText::new(text.trim().to_owned())));
    }
    let Some(reference) = &source.secret_ref else {
        return Err(failed("give file or secretRef".into()));
    };
    let Some(client) = client else {
        return Err(failed("no cluster client to read the Secret".into()));
    };
    let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(&reference.name)
        .await
        .map_err(|e| failed(format!("Secret {namespace}/{}: {e}", reference.name)))?;
    let bytes = secret
        .as_ref()
        .and_then(|s| s.data.as_ref())
        .and_then(|d| d.get(&reference.key))
        .map(|b| Zeroizing::new(b.0.clone()));
    let Some(bytes) = bytes else {
        if reference.optional {
            return Ok(None);
        }
        return Err(failed(format!(
            "Secret {namespace}/{} or its key {:?} is missing",
            reference.name, reference.key
        )));
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        failed(format!(
            "Secret {namespace}/{} key {:?} is not UTF-8",
            reference.name, reference.key
        ))
    })?;
    Ok(Some(SecretText::new(text.trim().to_owned())))
}

impl Provider {
    /// Loads `config`'s secrets (files, or Secrets of `namespace` through `client`).
    pub async fn load(
        config: &ProviderConfig,
        client: Option<&kube::Client>,
        namespace: &str,
        hold: Duration,
    ) -> Result<Self, NotifyError> {
        let name = &config.name;
        let mut address = None;
        if let Some(a) = &config.address {
            address = Some(SecretText::new(a.clone()));
        }
        if let Some(s) = &config.address_from {
            let a = read_source(client, namespace, name, "addressFrom", s).await?;
            if let Some(a) = &a
                && !(a.expose().starts_with("http://") || a.expose().starts_with("https://"))
            {
                return Err(NotifyError::CredentialFailed {
                    provider: name.clone(),
                    field: "addressFrom".into(),
                    problem: "the address is not an http:// or https:// URL".into(),
                });
            }
            if a.is_some() {
                address = a;
            }
        }
        let token = match &config.token_from {
            Some(s) => read_source(client, namespace, name, "tokenFrom", s).await?,
            None => None,
        };
        let password = match &config.password_from {
            Some(s) => read_source(client, namespace, name, "passwordFrom", s).await?,
            None => None,
        };
        let ca_pem = match &config.ca_file {
            Some(path) => Some(
                std::fs::read(path).map_err(|e| NotifyError::CredentialFailed {
                    provider: name.clone(),
                    field: "caFile".into(),
                    problem: format!("read {}: {e}", path.display()),
                })?,
            ),
            None => None,
        };
        Ok(Self {
            name: name.clone(),
            kind: config.kind,
            address,
            token,
            password,
            channel: config.channel.clone(),
            repository: config.repository.clone(),
            smtp: config.smtp.clone(),
            ca_pem,
            config: config.clone(),
            hold,
        })
    }

    /// The address (a copy: the caller drops it after the request).
    #[must_use]
    pub fn address(&self) -> Option<String> {
        self.address.as_ref().map(|a| a.expose().to_owned())
    }

    /// The token.
    #[must_use]
    pub fn token(&self) -> Option<String> {
        self.token.as_ref().map(|a| a.expose().to_owned())
    }

    /// The SMTP password.
    #[must_use]
    pub fn password(&self) -> Option<&str> {
        self.password.as_ref().map(SecretText::expose)
    }

    /// Whether an address or token it needs is absent (an optional Secret not there yet).
    #[must_use]
    pub fn is_incomplete(&self) -> bool {
        let needs_address = !matches!(
            self.kind,
            ProviderType::SlackBot
                | ProviderType::Github
                | ProviderType::Gitlab
                | ProviderType::Smtp
        );
        let needs_token = matches!(
            self.kind,
            ProviderType::SlackBot
                | ProviderType::Github
                | ProviderType::Gitlab
                | ProviderType::GenericHmac
        );
        (needs_address && self.address.is_none()) || (needs_token && self.token.is_none())
    }

    /// How long a firing alert is announced for.
    #[must_use]
    pub fn alert_hold(&self) -> Duration {
        self.hold
    }

    /// The texts to remove from any message about this provider (its address, token and
    /// password), for [`crate::source::redact::scrub`].
    #[must_use]
    pub fn secrets(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for s in [&self.address, &self.token, &self.password]
            .into_iter()
            .flatten()
        {
            out.push(s.expose());
            // A webhook's path holds its token: the part after the host is masked too.
            if let Some(rest) = s.expose().split("://").nth(1)
                && let Some(slash) = rest.find('/')
                && rest.len() > slash + 8
            {
                out.push(&rest[slash..]);
            }
        }
        out
    }

    /// `text` with this provider's secrets and any URL credentials masked.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        crate::source::redact::scrub(text, &self.secrets())
    }
}
