//! Access to Helm repositories and OCI registries configured once for the agent
//! (`helmRepositories`): basic-auth credentials and CA bundles read from files or from a
//! Secret, and plain HTTP for a registry, matched to a chart's repository URL by prefix (the
//! longest configured URL at or above it wins), as Argo CD matches repository credentials.
//!
//! [`RepositoryAccess::resolve`] reads the files and Secrets before a render (the daemon
//! does it for every app it prepares, so a rotated password is used at the next sync);
//! [`RepositoryAccess::repository`] gives the [`Repository`] a fetch uses. Passwords stay in
//! zeroizing memory and nothing here prints them.

use zeroize::Zeroizing;

use super::{Credentials, FetchError, Repository, normalise};
use crate::config::helm::HelmRepositoryConfig;
use crate::secrets::credentials::{CredentialError, CredentialSource};

/// One configured URL, its files and Secret read.
struct Access {
    url: String,
    username: Option<String>,
    password: Option<Zeroizing<String>>,
    ca_pem: Option<Vec<u8>>,
    plain_http: bool,
}

/// The configured repositories' access, resolved. Derives nothing that could print it.
#[derive(Default)]
pub struct RepositoryAccess {
    entries: Vec<Access>,
}

impl std::fmt::Debug for RepositoryAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepositoryAccess")
            .field("repositories", &self.entries.len())
            .finish()
    }
}

fn invalid(url: &str, problem: String) -> FetchError {
    FetchError::InvalidRepository {
        repository: super::transport::without_userinfo(url),
        problem,
    }
}

fn read_file(url: &str, field: &str, path: &std::path::Path) -> Result<Vec<u8>, FetchError> {
    std::fs::read(path).map_err(|e| {
        invalid(
            url,
            format!("helmRepositories: {field} {}: {e}", path.display()),
        )
    })
}

fn text(
    url: &str,
    field: &str,
    bytes: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<String>, FetchError> {
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| invalid(url, format!("helmRepositories: {field} is not UTF-8")))?;
    Ok(Zeroizing::new(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

impl RepositoryAccess {
    /// Reads the files and Secrets of `configs`; a Secret without a namespace is looked up
    /// in `namespace`. Without a `cluster`, Secrets are not read (an offline render; the
    /// repository then refuses the fetch, which names it).
    pub async fn resolve(
        configs: &[HelmRepositoryConfig],
        namespace: &str,
        cluster: Option<&dyn CredentialSource>,
    ) -> Result<Self, FetchError> {
        let mut entries = Vec::with_capacity(configs.len());
        for config in configs {
            entries.push(resolve_one(config, namespace, cluster).await?);
        }
        Ok(Self { entries })
    }

    /// The repository at `url`, with the access of the longest configured URL at or above
    /// it (none: anonymous, HTTPS with the system's roots).
    #[must_use]
    pub fn repository(&self, url: &str) -> Repository {
        let wanted = normalise(url);
        let found = self
            .entries
            .iter()
            .filter(|a| {
                let prefix = normalise(&a.url);
                wanted == prefix
                    || wanted
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|a| a.url.len());
        let mut repository = Repository::new(url);
        if let Some(access) = found {
            repository.credentials = access.password.as_ref().map(|p| Credentials::Basic {
                username: access.username.clone().unwrap_or_default(),
                password: Zeroizing::new(p.as_str().to_owned()),
            });
            repository.ca_pem.clone_from(&access.ca_pem);
            repository.plain_http = access.plain_http;
        }
        repository
    }
}

async fn resolve_one(
    config: &HelmRepositoryConfig,
    namespace: &str,
    cluster: Option<&dyn CredentialSource>,
) -> Result<Access, FetchError> {
    let url = config.url.as_str();
    if !["https://", "http://", "oci://"]
        .iter()
        .any(|s| url.starts_with(s))
    {
        return Err(invalid(
            url,
            "helmRepositories: url must start with https://, http:// or oci://".into(),
        ));
    }
    if config.plain_http && !url.starts_with("oci://") {
        return Err(invalid(url, "helmRepositories: plainHttp applies to oci:// registries only (an HTTP repository says http:// in its url)".into()));
    }
    let mut access = Access {
        url: url.to_owned(),
        username: config.username.clone(),
        password: None,
        ca_pem: None,
        plain_http: config.plain_http,
    };
    if let Some(path) = &config.username_file {
        let bytes = Zeroizing::new(read_file(url, "usernameFile", path)?);
        access.username = Some(text(url, "usernameFile", bytes)?.as_str().to_owned());
    }
    if let Some(path) = &config.password_file {
        access.password = Some(text(
            url,
            "passwordFile",
            Zeroizing::new(read_file(url, "passwordFile", path)?),
        )?);
    }
    if let Some(path) = &config.ca_file {
        access.ca_pem = Some(read_file(url, "caFile", path)?);
    }
    if let (Some(secret), Some(cluster)) = (&config.secret_ref, cluster) {
        let namespace = secret.namespace.as_deref().unwrap_or(namespace);
        let read = |key: &'static str| cluster.secret_value(namespace, &secret.name, key);
        let optional = |result: Result<Zeroizing<Vec<u8>>, CredentialError>| match result {
            Ok(bytes) => Ok(Some(bytes)),
            Err(CredentialError::NotFound { .. }) => Ok(None),
            Err(e) => Err(invalid(url, format!("helmRepositories: secretRef: {e}"))),
        };
        if let Some(bytes) = optional(read("username").await)? {
            access.username = Some(
                text(url, "the Secret's username", bytes)?
                    .as_str()
                    .to_owned(),
            );
        }
        if let Some(bytes) = optional(read("password").await)? {
            access.password = Some(text(url, "the Secret's password", bytes)?);
        }
        if let Some(bytes) = optional(read("ca.crt").await)? {
            access.ca_pem = Some(bytes.to_vec());
        }
        if access.password.is_none() && access.ca_pem.is_none() {
            return Err(invalid(
                url,
                format!(
                    "helmRepositories: secretRef: Secret {namespace}/{} has neither password nor ca.crt",
                    secret.name
                ),
            ));
        }
    }
    if access.password.is_some() && access.username.is_none() {
        return Err(invalid(
            url,
            "helmRepositories: a password without a username".into(),
        ));
    }
    Ok(access)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::credentials::StaticCredentials;

    fn config(url: &str) -> HelmRepositoryConfig {
        serde_json::from_value(serde_json::json!({"url": url})).unwrap_or_else(|e| panic!("{e}"))
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .block_on(future)
    }

    #[test]
    fn the_longest_configured_prefix_gives_the_access() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let password = dir.path().join("password");
        std::fs::write(&password, "file-pass\n").unwrap_or_else(|e| panic!("{e}"));
        let mut broad = config("oci://registry.example.com");
        broad.plain_http = true;
        let mut narrow = config("oci://registry.example.com/team/");
        narrow.username = Some("reader".into());
        narrow.password_file = Some(password);
        let cluster = StaticCredentials::new();
        let access = block_on(RepositoryAccess::resolve(
            &[broad, narrow],
            "tether-system",
            Some(&cluster),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let team = access.repository("oci://registry.example.com/team/charts");
        assert!(
            matches!(&team.credentials, Some(Credentials::Basic { username, password })
            if username == "reader" && password.as_str() == "file-pass")
        );
        assert!(!team.plain_http);
        let other = access.repository("oci://registry.example.com/other");
        assert!(other.credentials.is_none() && other.plain_http);
        let elsewhere = access.repository("oci://registry.example.com.evil/x");
        assert!(elsewhere.credentials.is_none() && !elsewhere.plain_http);
        assert!(!format!("{access:?}").contains("file-pass"));
    }

    #[test]
    fn a_secret_gives_credentials_and_a_ca_bundle() {
        let cluster = StaticCredentials::new();
        cluster.set_secret(
            "tether-system",
            "charts",
            "username",
            Zeroizing::new(b"u".to_vec()),
        );
        cluster.set_secret(
            "tether-system",
            "charts",
            "password",
            Zeroizing::new(b"secret-pass".to_vec()),
        );
        cluster.set_secret(
            "tether-system",
            "charts",
            "ca.crt",
            Zeroizing::new(b"PEM".to_vec()),
        );
        let mut with_secret = config("https://charts.example.com");
        with_secret.secret_ref = serde_json::from_value(serde_json::json!({"name": "charts"})).ok();
        let access = block_on(RepositoryAccess::resolve(
            std::slice::from_ref(&with_secret),
            "tether-system",
            Some(&cluster),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let repository = access.repository("https://charts.example.com/");
        assert_eq!(repository.ca_pem.as_deref(), Some(&b"PEM"[..]));
        assert!(repository.credentials.is_some());
        with_secret.secret_ref = serde_json::from_value(serde_json::json!({"name": "absent"})).ok();
        let err = block_on(RepositoryAccess::resolve(
            &[with_secret],
            "tether-system",
            Some(&cluster),
        ))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("Secret tether-system/absent"), "{err}");
    }

    #[test]
    fn plain_http_is_for_registries_and_urls_need_a_scheme() {
        let mut http = config("https://charts.example.com");
        http.plain_http = true;
        for bad in [http, config("charts.example.com")] {
            let err = block_on(RepositoryAccess::resolve(&[bad], "ns", None))
                .err()
                .map(|e| e.to_string());
            assert!(err.is_some_and(|e| e.contains("helmRepositories")));
        }
    }
}
