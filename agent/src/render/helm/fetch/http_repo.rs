//! HTTP(S) Helm repositories: `index.yaml`, the version Helm would pick, the archive
//! (its URL relative to the repository or absolute on the same host), its sha256 checked
//! against the index entry's `digest`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::cache::{self, ArchiveCache};
use super::transport::{Client, origin, without_userinfo};
use super::{ChartRequest, FetchError, FetchedChart, semver, sha256_digest};

/// The part of `index.yaml` fetching needs.
#[derive(Debug, Deserialize)]
struct Index {
    #[serde(default)]
    entries: BTreeMap<String, Vec<Entry>>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    version: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    digest: String,
}

/// Resolves a chart URL of the index against the repository URL, as Helm does (the
/// repository URL taken as a directory).
fn resolve(base: &str, url: &str) -> Option<String> {
    let base = reqwest::Url::parse(&format!("{}/", base.trim_end_matches('/'))).ok()?;
    base.join(url).ok().map(String::from)
}

/// Reads and parses the repository's `index.yaml`.
fn read_index(client: &Client<'_>, chart: &str, base: &str) -> Result<Index, FetchError> {
    let repository = without_userinfo(&client.repository.url);
    let index_url = format!("{}/index.yaml", base.trim_end_matches('/'));
    let index_failed = |message: String| FetchError::IndexFailed {
        chart: chart.to_owned(),
        repository: repository.clone(),
        what: "index.yaml",
        message,
    };
    let answer = client.get(
        chart,
        &index_url,
        &[],
        client.limits.max_index_bytes,
        "index.yaml",
    )?;
    match answer.status {
        200 => {}
        401 | 403 => {
            return Err(FetchError::Unauthorized {
                chart: chart.to_owned(),
                repository,
                status: answer.status,
            });
        }
        status => return Err(index_failed(format!("HTTP {status}"))),
    }
    let text = std::str::from_utf8(&answer.body)
        .map_err(|_| index_failed("index.yaml is not UTF-8".into()))?;
    let index: Index = serde_saphyr::from_str(text)
        .map_err(|e| index_failed(format!("index.yaml: {}", first_line(&e.to_string()))))?;
    Ok(index)
}

pub(super) fn fetch(
    client: &Client<'_>,
    request: &ChartRequest,
    cache: &Mutex<ArchiveCache>,
) -> Result<FetchedChart, FetchError> {
    let chart = request.name.as_str();
    let repository = without_userinfo(&client.repository.url);
    let base = client.base_url();
    let index_failed = |message: String| FetchError::IndexFailed {
        chart: chart.to_owned(),
        repository: repository.clone(),
        what: "index.yaml",
        message,
    };
    let index = read_index(client, chart, &base)?;
    let entries = index
        .entries
        .get(chart)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| FetchError::NoMatchingVersion {
            chart: chart.to_owned(),
            constraint: request.version.clone(),
            repository: repository.clone(),
        })?;
    let picked = semver::select(entries.iter().map(|e| e.version.as_str()), &request.version)
        .map_err(|source| FetchError::InvalidVersion {
            chart: chart.to_owned(),
            source,
        })?
        .ok_or_else(|| FetchError::NoMatchingVersion {
            chart: chart.to_owned(),
            constraint: request.version.clone(),
            repository: repository.clone(),
        })?;
    let entry = entries
        .iter()
        .find(|e| e.version == picked)
        .ok_or_else(|| index_failed("the chosen version vanished from the index".into()))?;
    let expected =
        (!entry.digest.is_empty()).then(|| format!("sha256:{}", entry.digest.to_ascii_lowercase()));
    if let Some(digest) = &expected
        && let Some(archive) = cache::lock(cache).get(digest)
    {
        tracing::debug!(version = %entry.version, digest = %digest, "chart archive served from the cache");
        return Ok(FetchedChart {
            name: chart.to_owned(),
            version: entry.version.clone(),
            digest: digest.clone(),
            archive,
        });
    }
    let url = entry
        .urls
        .first()
        .and_then(|u| resolve(&base, u))
        .ok_or_else(|| index_failed(format!("version {} has no usable URL", entry.version)))?;
    if origin(&url) != origin(&base) {
        return Err(FetchError::NotAllowed {
            chart: chart.to_owned(),
            repository: without_userinfo(&url),
        });
    }
    let answer = client.get(
        chart,
        &url,
        &[],
        client.limits.max_archive_bytes,
        "chart archive",
    )?;
    if answer.status != 200 {
        return Err(FetchError::DownloadFailed {
            chart: chart.to_owned(),
            url: without_userinfo(&url),
            message: format!("HTTP {}", answer.status),
        });
    }
    let actual = sha256_digest(&answer.body);
    if let Some(expected) = &expected
        && *expected != actual
    {
        return Err(FetchError::DigestMismatch {
            chart: chart.to_owned(),
            expected: expected.clone(),
            actual,
        });
    }
    let archive = Arc::new(answer.body);
    cache::lock(cache).insert(&actual, Arc::clone(&archive));
    tracing::info!(version = %entry.version, digest = %actual, bytes = archive.len(), "chart archive downloaded");
    Ok(FetchedChart {
        name: chart.to_owned(),
        version: entry.version.clone(),
        digest: actual,
        archive,
    })
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn chart_urls_resolve_against_the_repository_as_a_directory() {
        assert_eq!(
            resolve("http://h/charts", "podinfo-1.0.0.tgz").as_deref(),
            Some("http://h/charts/podinfo-1.0.0.tgz")
        );
        assert_eq!(
            resolve("http://h/charts/", "https://x/p.tgz").as_deref(),
            Some("https://x/p.tgz")
        );
        assert_eq!(
            resolve("http://h/charts", "../other/p.tgz").as_deref(),
            Some("http://h/other/p.tgz")
        );
    }
}
