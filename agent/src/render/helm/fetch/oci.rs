//! Charts in OCI registries (the distribution API): tags as versions (`+` written `_`, as
//! `helm push` writes it), the manifest (pinned by digest when asked), the one chart layer
//! of [`CHART_LAYER_MEDIA_TYPE`](super::CHART_LAYER_MEDIA_TYPE), its blob checked against its
//! digest.

use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::cache::{self, ArchiveCache};
use super::transport::{Client, without_userinfo};
use super::{
    CHART_CONFIG_MEDIA_TYPE, CHART_LAYER_MEDIA_TYPE, ChartRequest, FetchError, FetchedChart,
    semver, sha256_digest,
};

const MANIFEST_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    digest: String,
}

#[derive(Debug, Deserialize)]
struct Tags {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Whether `digest` is a well-formed `sha256:<64 hex>`.
pub(super) fn valid_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The repository path in the registry: the URL's path joined with the chart's name.
fn repository_path(request: &ChartRequest) -> Result<String, FetchError> {
    let rest = request.repository.trim_start_matches("oci://");
    let path = rest
        .split_once('/')
        .map_or("", |(_, p)| p)
        .trim_matches('/');
    let full = if path.is_empty() {
        request.name.clone()
    } else {
        format!("{path}/{}", request.name)
    };
    let valid = full.split('/').all(|c| {
        c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    });
    if !valid {
        return Err(FetchError::InvalidReference {
            chart: request.name.clone(),
            problem: format!("{full:?} is not an OCI repository name"),
        });
    }
    Ok(full)
}

pub(super) fn fetch(
    client: &Client<'_>,
    request: &ChartRequest,
    cache: &Mutex<ArchiveCache>,
) -> Result<FetchedChart, FetchError> {
    let chart = request.name.as_str();
    let path = repository_path(request)?;
    let host = client.base_url();
    let host = host
        .split_once("://")
        .map(|(scheme, rest)| format!("{scheme}://{}", rest.split('/').next().unwrap_or("")))
        .unwrap_or_default();
    let api = format!("{host}/v2/{path}");
    let (reference, mut version) = match &request.digest {
        Some(digest) if !valid_digest(digest) => {
            return Err(FetchError::InvalidReference {
                chart: chart.to_owned(),
                problem: format!("digest {digest:?} is not sha256:<64 hex digits>"),
            });
        }
        Some(digest) => (digest.clone(), request.version.clone()),
        None => {
            let tag = resolve_tag(client, request, &api)?;
            (tag.replace('+', "_"), tag)
        }
    };
    let (layer, annotated) = chart_layer(client, request, &api, &reference)?;
    if version.is_empty() {
        version = annotated;
    }
    if let Some(archive) = cache::lock(cache).get(&layer) {
        tracing::debug!(version = %version, digest = %layer, "chart archive served from the cache");
        return Ok(FetchedChart {
            name: chart.to_owned(),
            version,
            digest: layer.clone(),
            archive,
        });
    }
    let blob_url = format!("{api}/blobs/{}", layer);
    let answer = client.get(
        chart,
        &blob_url,
        &[],
        client.limits.max_archive_bytes,
        "chart layer",
    )?;
    check_status(client, request, answer.status, "chart layer")?;
    let actual = sha256_digest(&answer.body);
    if actual != layer {
        return Err(FetchError::DigestMismatch {
            chart: chart.to_owned(),
            expected: layer.clone(),
            actual,
        });
    }
    let archive = Arc::new(answer.body);
    cache::lock(cache).insert(&actual, Arc::clone(&archive));
    tracing::info!(version = %version, digest = %actual, bytes = archive.len(), "chart archive downloaded");
    Ok(FetchedChart {
        name: chart.to_owned(),
        version,
        digest: actual,
        archive,
    })
}

/// Reads the manifest (checked against the pinned digest) and returns the digest of its one
/// chart layer and the version its annotations give.
fn chart_layer(
    client: &Client<'_>,
    request: &ChartRequest,
    api: &str,
    reference: &str,
) -> Result<(String, String), FetchError> {
    let chart = request.name.as_str();
    let manifest_url = format!("{api}/manifests/{reference}");
    let answer = client.get(
        chart,
        &manifest_url,
        &MANIFEST_TYPES,
        client.limits.max_archive_bytes,
        "manifest",
    )?;
    check_status(client, request, answer.status, "manifest")?;
    if let Some(pinned) = &request.digest {
        let actual = sha256_digest(&answer.body);
        if actual != *pinned {
            return Err(FetchError::DigestMismatch {
                chart: chart.to_owned(),
                expected: pinned.clone(),
                actual,
            });
        }
    }
    let manifest: Manifest = serde_json::from_slice(&answer.body).map_err(|e| {
        index_failed(
            client,
            request,
            "manifest",
            format!("not an OCI manifest: {e}"),
        )
    })?;
    if let Some(config) = &manifest.config
        && !config.media_type.is_empty()
        && config.media_type != CHART_CONFIG_MEDIA_TYPE
    {
        return Err(index_failed(
            client,
            request,
            "manifest",
            format!(
                "config media type {:?} is not a Helm chart's",
                config.media_type
            ),
        ));
    }
    let layers: Vec<&Descriptor> = manifest
        .layers
        .iter()
        .filter(|l| l.media_type == CHART_LAYER_MEDIA_TYPE)
        .collect();
    let [layer] = layers.as_slice() else {
        return Err(index_failed(
            client,
            request,
            "manifest",
            format!(
                "{} layers of {CHART_LAYER_MEDIA_TYPE} (one expected)",
                layers.len()
            ),
        ));
    };
    if !valid_digest(&layer.digest) {
        return Err(index_failed(
            client,
            request,
            "manifest",
            "the chart layer's digest is malformed".into(),
        ));
    }
    let version = manifest
        .annotations
        .get("org.opencontainers.image.version")
        .cloned()
        .unwrap_or_default();
    Ok((layer.digest.clone(), version))
}

/// The tag Helm would pull: an exact version as given, else the best tag for the
/// constraint (the latest release when none is given).
fn resolve_tag(
    client: &Client<'_>,
    request: &ChartRequest,
    api: &str,
) -> Result<String, FetchError> {
    let wanted = request.version.trim();
    if !wanted.is_empty() && semver::Version::parse(wanted).is_ok() {
        return Ok(wanted.to_owned());
    }
    let answer = client.get(
        &request.name,
        &format!("{api}/tags/list"),
        &["application/json"],
        client.limits.max_index_bytes,
        "tags",
    )?;
    check_status(client, request, answer.status, "tags")?;
    let tags: Tags = serde_json::from_slice(&answer.body)
        .map_err(|e| index_failed(client, request, "tags", format!("not a tag list: {e}")))?;
    let versions: Vec<String> = tags
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.replace('_', "+"))
        .collect();
    semver::select(versions.iter().map(String::as_str), wanted)
        .map_err(|source| FetchError::InvalidVersion {
            chart: request.name.clone(),
            source,
        })?
        .map(str::to_owned)
        .ok_or_else(|| FetchError::NoMatchingVersion {
            chart: request.name.clone(),
            constraint: request.version.clone(),
            repository: without_userinfo(&request.repository),
        })
}

fn index_failed(
    client: &Client<'_>,
    request: &ChartRequest,
    what: &'static str,
    message: String,
) -> FetchError {
    FetchError::IndexFailed {
        chart: request.name.clone(),
        repository: without_userinfo(&client.repository.url),
        what,
        message,
    }
}

fn check_status(
    client: &Client<'_>,
    request: &ChartRequest,
    status: u16,
    what: &'static str,
) -> Result<(), FetchError> {
    match status {
        200 => Ok(()),
        401 | 403 => Err(FetchError::Unauthorized {
            chart: request.name.clone(),
            repository: without_userinfo(&client.repository.url),
            status,
        }),
        404 if what == "manifest" => Err(FetchError::NoMatchingVersion {
            chart: request.name.clone(),
            constraint: request
                .digest
                .clone()
                .unwrap_or_else(|| request.version.clone()),
            repository: without_userinfo(&request.repository),
        }),
        other => Err(index_failed(client, request, what, format!("HTTP {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(repository: &str, name: &str) -> ChartRequest {
        ChartRequest {
            repository: repository.into(),
            name: name.into(),
            version: String::new(),
            digest: None,
        }
    }

    #[test]
    fn the_repository_path_joins_the_url_path_and_the_chart() {
        assert_eq!(
            repository_path(&request("oci://h:5000/charts", "podinfo")).unwrap(),
            "charts/podinfo"
        );
        assert_eq!(
            repository_path(&request("oci://h:5000", "podinfo")).unwrap(),
            "podinfo"
        );
        assert!(repository_path(&request("oci://h/charts", "Pod Info")).is_err());
        assert!(repository_path(&request("oci://h/charts", "a/../b")).is_err());
    }

    #[test]
    fn digests_must_be_sha256() {
        assert!(valid_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!valid_digest("sha256:abc"));
        assert!(!valid_digest(&format!("md5:{}", "a".repeat(64))));
    }
}
