//! Charts from a Flux `Bucket` (`chart.spec.sourceRef: {kind: Bucket}` with `chart: ./path`,
//! or a `HelmChart` naming one): the bucket's objects are read through the S3 API
//! ([`crate::source::bucket`]) and the chart loaded from them, as from a GitRepository's
//! tree. Providers `generic` and `aws` (S3 API); `gcp` and `azure` are refused, named.
//! `secretRef` gives `accesskey`/`secretkey` (held in memory only); `prefix` and `ignore`
//! are applied as source-controller applies them.

use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::model::{LocalRef, Meta};
use super::{Context, FluxHelmError, values};
use crate::source::bucket::BucketRequest;
use crate::source::bucket::s3::S3Credentials;

/// A `Bucket` (source.toolkit.fluxcd.io v1, v1beta2).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    /// Metadata.
    #[serde(default)]
    pub metadata: Meta,
    /// The spec.
    pub spec: BucketSpec,
}

/// `Bucket.spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketSpec {
    /// `generic` (default), `aws`, `gcp`, `azure`.
    #[serde(default)]
    pub provider: String,
    /// The bucket.
    #[serde(default)]
    pub bucket_name: String,
    /// `host[:port]`.
    #[serde(default)]
    pub endpoint: String,
    /// Plain HTTP.
    #[serde(default)]
    pub insecure: bool,
    /// The region.
    #[serde(default)]
    pub region: String,
    /// Only keys under this prefix.
    #[serde(default)]
    pub prefix: String,
    /// `accesskey`/`secretkey`.
    #[serde(default)]
    pub secret_ref: Option<LocalRef>,
    /// Exclusions (gitignore format).
    #[serde(default)]
    pub ignore: Option<String>,
    /// Suspended sources are refused.
    #[serde(default)]
    pub suspend: bool,
    /// Refused (not supported): `sts`, `certSecretRef`, `proxySecretRef`.
    #[serde(default)]
    pub sts: Option<Value>,
    /// Refused (not supported).
    #[serde(default)]
    pub cert_secret_ref: Option<Value>,
    /// Refused (not supported).
    #[serde(default)]
    pub proxy_secret_ref: Option<Value>,
}

/// The request a Bucket object describes, its `secretRef` read with `secret(name)`.
pub(super) fn request<'a>(
    object: &Value,
    id: &str,
    secret: &dyn Fn(&str) -> Result<&'a Value, String>,
    ctx: &Context<'_>,
) -> Result<BucketRequest, FluxHelmError> {
    let invalid = |field: &str, problem: String| FluxHelmError::InvalidField {
        object: id.to_owned(),
        field: field.to_owned(),
        problem,
    };
    let bucket: Bucket =
        serde_json::from_value(object.clone()).map_err(|e| FluxHelmError::InvalidObject {
            object: id.to_owned(),
            problem: e.to_string().chars().take(300).collect(),
        })?;
    let spec = bucket.spec;
    match spec.provider.as_str() {
        "" | "generic" | "aws" => {}
        other => {
            return Err(invalid(
                "spec.provider",
                format!("{other:?} is not supported (generic and aws, the S3 API, are)"),
            ));
        }
    }
    for (field, set) in [
        ("spec.sts", spec.sts.is_some()),
        ("spec.certSecretRef", spec.cert_secret_ref.is_some()),
        ("spec.proxySecretRef", spec.proxy_secret_ref.is_some()),
    ] {
        if set {
            return Err(invalid(field, "is not supported".into()));
        }
    }
    if spec.suspend {
        return Err(invalid("spec.suspend", "the Bucket is suspended".into()));
    }
    if spec.endpoint.trim().is_empty() {
        return Err(invalid("spec.endpoint", "is required".into()));
    }
    let credentials = match &spec.secret_ref {
        None => None,
        Some(reference) => {
            let found = secret(&reference.name).map_err(|p| invalid("spec.secretRef", p))?;
            let key = |name: &str| -> Result<Zeroizing<String>, FluxHelmError> {
                let bytes = values::secret_value(found, name, ctx.held)
                    .map_err(|p| invalid("spec.secretRef", format!("key {name}: {p}")))?
                    .ok_or_else(|| invalid("spec.secretRef", format!("key {name} is missing")))?;
                String::from_utf8(bytes.to_vec())
                    .map(Zeroizing::new)
                    .map_err(|_| invalid("spec.secretRef", format!("key {name} is not UTF-8")))
            };
            let access = key("accesskey")?;
            Some(S3Credentials {
                access_key: access.trim().to_owned(),
                secret_key: key("secretkey")?,
            })
        }
    };
    Ok(BucketRequest {
        object: id.to_owned(),
        endpoint: spec.endpoint,
        insecure: spec.insecure,
        bucket: spec.bucket_name,
        region: if spec.region.is_empty() {
            "us-east-1".into()
        } else {
            spec.region
        },
        prefix: spec.prefix,
        ignore: spec.ignore,
        credentials,
    })
}
