//! One scan of one repository: credentials (a `dockerconfigjson` file or Secret, or an ECR
//! token), every tag through [`Registry::list_tags`], `exclusionList` applied.

use super::config::{Provider, RepositoryConfig};
use super::registry::{BasicCredentials, ImageName, Registry, RegistryError, auth};
use regex::Regex;

/// What one scan found.
pub struct Scanned {
    /// The tags kept, sorted.
    pub tags: Vec<String>,
    /// The client, with its token, for digest look-ups of the same round.
    pub registry: Registry,
}

/// Reads the credentials of `repo` (none when it names none).
pub async fn credentials(
    repo: &RepositoryConfig,
    namespace: &str,
    name: &ImageName,
    client: Option<&kube::Client>,
) -> Result<Option<BasicCredentials>, RegistryError> {
    if repo.provider == Provider::Aws {
        return auth::ecr_credentials(&name.registry).await.map(Some);
    }
    if let Some(path) = &repo.credentials.docker_config_json {
        let origin = format!("credentials.dockerConfigJson {}", path.display());
        let bytes = zeroize::Zeroizing::new(tokio::fs::read(path).await.map_err(|e| {
            RegistryError::CredentialsInvalid {
                origin: origin.clone(),
                problem: e.kind().to_string(),
            }
        })?);
        return auth::from_docker_config(&bytes, &name.registry, &origin);
    }
    if let Some(secret) = &repo.credentials.secret_name {
        let origin = format!("Secret {namespace}/{secret}");
        let Some(client) = client else {
            return Err(RegistryError::CredentialsInvalid {
                origin,
                problem: "no cluster connection to read it".into(),
            });
        };
        let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(client.clone(), namespace);
        let found = api
            .get_opt(secret)
            .await
            .map_err(|e| RegistryError::CredentialsInvalid {
                origin: origin.clone(),
                problem: crate::text::clip_message(&e.to_string()).into_owned(),
            })?;
        let data = found
            .and_then(|s| s.data)
            .and_then(|mut d| d.remove(".dockerconfigjson"))
            .ok_or_else(|| RegistryError::CredentialsInvalid {
                origin: origin.clone(),
                problem: "missing, or without a .dockerconfigjson key".into(),
            })?;
        let bytes = zeroize::Zeroizing::new(data.0);
        return auth::from_docker_config(&bytes, &name.registry, &origin);
    }
    Ok(None)
}

/// Lists the tags of `repo`, without the excluded ones, sorted.
pub async fn scan(
    repo: &RepositoryConfig,
    namespace: &str,
    client: Option<&kube::Client>,
) -> Result<Scanned, RegistryError> {
    let name = ImageName::parse(&repo.image)?;
    let credentials = credentials(repo, namespace, &name, client).await?;
    let exclusions: Vec<Regex> = repo
        .exclusion_list
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .collect();
    let mut registry = Registry::new(name, repo.insecure, credentials)?;
    let mut tags = registry.list_tags(repo.max_tags).await?;
    tags.retain(|t| !exclusions.iter().any(|re| re.is_match(t)));
    tags.sort();
    tags.dedup();
    Ok(Scanned { tags, registry })
}
