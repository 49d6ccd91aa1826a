//! Flux `Bucket` sources (source.toolkit.fluxcd.io/v1, provider `generic` or `aws`): the
//! objects of an S3-compatible bucket as a [`Tree`], read as source-controller reads them.
//!
//! - `ListObjectsV2` under `prefix` (keys keep their full path), then `GetObject` for each
//!   key, path-style over `http` (`insecure: true`) or `https`, signed with Signature
//!   Version 4 ([`s3`]) with the `accesskey`/`secretkey` of the Bucket's `secretRef` (held in
//!   zeroizing memory, never on disk or in a message), anonymous without one.
//! - Exclusions as Flux applies them to a bucket: its default patterns
//!   ([`super::ignore::DEFAULT_PATTERNS`]), the bucket's root `.sourceignore` object, then
//!   `spec.ignore`, matched against each whole key. Keys ending in `/` are skipped.
//! - Bounded: at most [`BucketLimits::max_objects`] objects, each at most `max_file_bytes`,
//!   all together at most `max_bytes`; every call has a timeout. A key that is absolute or
//!   climbs with `..` refuses the fetch, naming it.
//! - The revision is Flux's kind of digest: `sha256:` of the sorted `key etag` index, so it
//!   changes when any object does.

pub mod s3;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::tree::{RawEntry, RawTree, RelPath, Tree, TreeError};
use s3::{Listed, S3Credentials, S3Target};

/// Why a bucket could not be read. Messages name the Bucket and the key, never a credential.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// A field of the Bucket cannot be used.
    #[error("{object}: field {field}: {problem}")]
    InvalidField {
        /// `Bucket namespace/name`.
        object: String,
        /// The field.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The S3 API could not be reached or answered with an error.
    #[error("{object}: {operation} {bucket}: {problem}")]
    RequestFailed {
        /// The Bucket.
        object: String,
        /// `ListObjectsV2` or `GetObject KEY`.
        operation: String,
        /// The bucket name.
        bucket: String,
        /// The status and S3's error code, or the transport's message.
        problem: String,
    },
    /// A bound was exceeded.
    #[error("{object}: {what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// The Bucket.
        object: String,
        /// What.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// An object's key is not a path inside the artifact.
    #[error("{object}: object key {key:?}: {problem}")]
    InvalidKey {
        /// The Bucket.
        object: String,
        /// The key (clipped).
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// Bounds of one bucket read.
#[derive(Debug, Clone)]
pub struct BucketLimits {
    /// Most objects.
    pub max_objects: usize,
    /// Most bytes of one object.
    pub max_file_bytes: u64,
    /// Most bytes of all objects.
    pub max_bytes: u64,
    /// Timeout of each call.
    pub timeout: Duration,
}

impl Default for BucketLimits {
    fn default() -> Self {
        Self {
            max_objects: 20_000,
            max_file_bytes: crate::tree::DEFAULT_MAX_FILE_BYTES,
            max_bytes: super::DEFAULT_MAX_BYTES,
            timeout: super::DEFAULT_TIMEOUT,
        }
    }
}

/// What a Bucket asks for.
pub struct BucketRequest {
    /// `Bucket namespace/name`, for messages.
    pub object: String,
    /// `spec.endpoint` (`host[:port]`, or a URL).
    pub endpoint: String,
    /// `spec.insecure`: plain HTTP.
    pub insecure: bool,
    /// `spec.bucketName`.
    pub bucket: String,
    /// `spec.region` (default `us-east-1`).
    pub region: String,
    /// `spec.prefix`.
    pub prefix: String,
    /// `spec.ignore`.
    pub ignore: Option<String>,
    /// From `spec.secretRef`.
    pub credentials: Option<S3Credentials>,
}

/// A Tether source that is a bucket (`sources[].bucket`): the source's `url` is the S3
/// endpoint (`http://` allowed, being explicit), these the rest.
pub struct BucketSource {
    /// The bucket.
    pub bucket: String,
    /// The SigV4 region (default `us-east-1`).
    pub region: String,
    /// Only keys under this prefix.
    pub prefix: String,
    /// The access keys; `None`: anonymous.
    pub credentials: Option<S3Credentials>,
}

impl std::fmt::Debug for BucketSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketSource")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The snapshot of a bucket source: its objects, the revision `sha256:` of the index,
/// exclusions as for a Flux Bucket (`ignore` of the source).
pub fn source_snapshot(
    config: &super::SourceConfig,
    source: &BucketSource,
) -> Result<super::Snapshot, BucketError> {
    let endpoint = config.url.expose();
    let request = BucketRequest {
        object: format!("source {}", config.name),
        endpoint: endpoint.to_owned(),
        insecure: endpoint.starts_with("http://"),
        bucket: source.bucket.clone(),
        region: if source.region.is_empty() {
            "us-east-1".into()
        } else {
            source.region.clone()
        },
        prefix: source.prefix.clone(),
        ignore: config.ignore.clone(),
        credentials: source.credentials.as_ref().map(|c| S3Credentials {
            access_key: c.access_key.clone(),
            secret_key: c.secret_key.clone(),
        }),
    };
    let limits = BucketLimits {
        max_file_bytes: config.max_file_bytes,
        max_bytes: config.max_bytes,
        timeout: config.timeout,
        ..BucketLimits::default()
    };
    let read = fetch(&request, &limits)?;
    Ok(super::Snapshot {
        ref_name: format!("bucket {}", source.bucket),
        revision: read.revision,
        tree: read.tree,
        signer: None,
        shallow: false,
        commit: super::snapshot::CommitInfo::default(),
    })
}

/// A bucket's objects.
pub struct BucketSnapshot {
    /// `sha256:` of the index.
    pub revision: String,
    /// The objects as files.
    pub tree: Tree,
}

impl std::fmt::Debug for BucketSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketSnapshot")
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

struct Session<'a> {
    request: &'a BucketRequest,
    base: String,
    host: String,
    http: reqwest::blocking::Client,
}

impl Session<'_> {
    fn failed(&self, operation: &str, problem: String) -> BucketError {
        BucketError::RequestFailed {
            object: self.request.object.clone(),
            operation: operation.to_owned(),
            bucket: self.request.bucket.clone(),
            problem,
        }
    }

    /// A signed GET; `Ok(None)` on 404.
    fn get(
        &self,
        operation: &str,
        key: Option<&str>,
        query: &[(String, String)],
        limit: u64,
    ) -> Result<Option<Vec<u8>>, BucketError> {
        let mut path = format!("/{}", s3::encode(&self.request.bucket, false));
        if let Some(key) = key {
            path.push('/');
            path.push_str(&s3::encode(key, true));
        }
        let target = S3Target {
            base: &self.base,
            bucket: &self.request.bucket,
            region: &self.request.region,
            credentials: self.request.credentials.as_ref(),
        };
        let now = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let headers = s3::sign(&target, &self.host, &path, query, &now);
        let mut url = format!("{}{path}", self.base);
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", s3::encode(k, false), s3::encode(v, false)))
                .collect();
            url.push('?');
            url.push_str(&q.join("&"));
        }
        let mut builder = self.http.get(&url);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let response = builder
            .send()
            .map_err(|e| self.failed(operation, transport_message(&e)))?;
        let status = response.status().as_u16();
        if status == 404 && key.is_some() {
            return Ok(None);
        }
        let mut body = Vec::new();
        use std::io::Read;
        response
            .take(limit + 1)
            .read_to_end(&mut body)
            .map_err(|e| self.failed(operation, format!("reading the answer: {e}")))?;
        if status != 200 {
            let text = String::from_utf8_lossy(&body);
            let code = text
                .split_once("<Code>")
                .and_then(|(_, r)| r.split_once("</Code>"))
                .map_or("", |(c, _)| c);
            return Err(self.failed(
                operation,
                format!(
                    "HTTP {status} {}",
                    code.chars().take(80).collect::<String>()
                ),
            ));
        }
        if body.len() as u64 > limit {
            return Err(BucketError::LimitExceeded {
                object: self.request.object.clone(),
                what: format!("{operation}: the size"),
                limit,
            });
        }
        Ok(Some(body))
    }
}

fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    kind.to_owned()
}

fn base_url(request: &BucketRequest) -> Result<(String, String), BucketError> {
    let invalid = |problem: &str| BucketError::InvalidField {
        object: request.object.clone(),
        field: "spec.endpoint".into(),
        problem: problem.to_owned(),
    };
    let endpoint = request.endpoint.trim().trim_end_matches('/');
    let (scheme, host) = match endpoint.split_once("://") {
        Some(("http", host)) if request.insecure => ("http", host),
        Some(("http", _)) => return Err(invalid("an http:// endpoint needs spec.insecure: true")),
        Some(("https", host)) => ("https", host),
        Some(_) => return Err(invalid("only http:// and https:// endpoints are supported")),
        None if request.insecure => ("http", endpoint),
        None => ("https", endpoint),
    };
    if host.is_empty() || host.contains(['/', '@', '?', '#']) {
        return Err(invalid("must be host[:port] (no path, no credentials)"));
    }
    Ok((format!("{scheme}://{host}"), host.to_owned()))
}

/// Reads the bucket: lists, filters, downloads; returns its objects as a tree.
pub fn fetch(
    request: &BucketRequest,
    limits: &BucketLimits,
) -> Result<BucketSnapshot, BucketError> {
    if request.bucket.is_empty() {
        return Err(BucketError::InvalidField {
            object: request.object.clone(),
            field: "spec.bucketName".into(),
            problem: "is required".into(),
        });
    }
    let (base, host) = base_url(request)?;
    let http = reqwest::blocking::Client::builder()
        .timeout(limits.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| BucketError::RequestFailed {
            object: request.object.clone(),
            operation: "client".into(),
            bucket: request.bucket.clone(),
            problem: transport_message(&e),
        })?;
    let session = Session {
        request,
        base,
        host,
        http,
    };
    let mut rules = super::ignore::IgnoreRules::default();
    rules.add(&super::ignore::DEFAULT_PATTERNS.join("\n"), &[]);
    let root_ignore = session.get(
        "GetObject .sourceignore",
        Some(super::ignore::IGNORE_FILE),
        &[],
        limits.max_file_bytes,
    )?;
    if let Some(text) = &root_ignore {
        rules.add(&String::from_utf8_lossy(text), &[]);
    }
    if let Some(text) = &request.ignore {
        rules.add(text, &[]);
    }
    let listed = list(&session, limits)?;
    let mut files: BTreeMap<RelPath, Arc<Vec<u8>>> = BTreeMap::new();
    let mut index = Sha256::new();
    let mut total = 0u64;
    for item in listed {
        if item.key.ends_with('/') || rules.excluded_key(&item.key) {
            continue;
        }
        let path = key_path(request, &item.key)?;
        let operation = format!("GetObject {}", crate::text::clip_to(&item.key, 200));
        let Some(body) = session.get(&operation, Some(&item.key), &[], limits.max_file_bytes)?
        else {
            continue;
        };
        total += body.len() as u64;
        if total > limits.max_bytes {
            return Err(BucketError::LimitExceeded {
                object: request.object.clone(),
                what: "the size of all objects".into(),
                limit: limits.max_bytes,
            });
        }
        index.update(format!("{} {}\n", item.key, item.etag).as_bytes());
        files.insert(path, Arc::new(body));
    }
    let revision = format!("sha256:{}", hex::encode(index.finalize()));
    tracing::info!(bucket = %request.bucket, objects = files.len(), %revision, "read the bucket");
    Ok(BucketSnapshot {
        revision,
        tree: Tree::new(ObjectTree::new(files)).with_max_file_bytes(limits.max_file_bytes),
    })
}

fn list(session: &Session<'_>, limits: &BucketLimits) -> Result<Vec<Listed>, BucketError> {
    let request = session.request;
    let mut out: Vec<Listed> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![("list-type".to_owned(), "2".to_owned())];
        if !request.prefix.is_empty() {
            query.push(("prefix".to_owned(), request.prefix.clone()));
        }
        if let Some(t) = &token {
            query.push(("continuation-token".to_owned(), t.clone()));
        }
        let body = session
            .get("ListObjectsV2", None, &query, 64 << 20)?
            .unwrap_or_default();
        let (items, next) = s3::parse_listing(&String::from_utf8_lossy(&body));
        out.extend(items);
        if out.len() > limits.max_objects {
            return Err(BucketError::LimitExceeded {
                object: request.object.clone(),
                what: "the number of objects".into(),
                limit: limits.max_objects as u64,
            });
        }
        match next {
            Some(t) if Some(&t) != token.as_ref() => token = Some(t),
            _ => break,
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

fn key_path(request: &BucketRequest, key: &str) -> Result<RelPath, BucketError> {
    let invalid = |problem: &str| BucketError::InvalidKey {
        object: request.object.clone(),
        key: crate::text::clip_to(key, 200).into_owned(),
        problem: problem.to_owned(),
    };
    if key.split('/').any(|part| part == "..") || key.starts_with('/') {
        return Err(invalid("leaves the artifact (absolute, or with ..)"));
    }
    RelPath::parse(key).map_err(|e| invalid(&e.to_string()))
}

/// A bucket's objects as a tree: files at their keys, directories implied by them.
struct ObjectTree {
    files: BTreeMap<RelPath, Arc<Vec<u8>>>,
    /// Each directory and the names in it.
    dirs: BTreeMap<RelPath, BTreeSet<String>>,
}

impl ObjectTree {
    fn new(files: BTreeMap<RelPath, Arc<Vec<u8>>>) -> Self {
        let mut dirs: BTreeMap<RelPath, BTreeSet<String>> =
            BTreeMap::from([(RelPath::root(), BTreeSet::new())]);
        for path in files.keys() {
            let mut child = path.clone();
            while let Some(dir) = child.parent() {
                let names = dirs.entry(dir.clone()).or_default();
                let known = !names.insert(child.file_name().unwrap_or("").to_owned());
                if known {
                    break;
                }
                child = dir;
            }
        }
        Self { files, dirs }
    }
}

impl RawTree for ObjectTree {
    fn entry(&self, path: &RelPath) -> Result<Option<RawEntry>, TreeError> {
        if self.dirs.contains_key(path) {
            return Ok(Some(RawEntry::Dir));
        }
        Ok(self.files.get(path).map(|f| RawEntry::File {
            size: f.len() as u64,
        }))
    }

    fn read_file(&self, path: &RelPath, limit: u64) -> Result<Vec<u8>, TreeError> {
        let file = self.files.get(path).ok_or_else(|| TreeError::NotFound {
            path: path.to_string(),
        })?;
        if file.len() as u64 > limit {
            return Err(TreeError::FileTooLarge {
                path: path.to_string(),
                size: file.len() as u64,
                limit,
            });
        }
        Ok(file.to_vec())
    }

    fn list_dir(&self, path: &RelPath) -> Result<Vec<String>, TreeError> {
        Ok(self
            .dirs
            .get(path)
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default())
    }
}
