//! A source's settings as the runner uses them: the fetch configuration from `tether.yaml`,
//! and how its webhooks authenticate.

use super::super::DaemonError;
use crate::config::{Config, SourceSpec, WebhookProvider};
use crate::source::webhook::WebhookAuth;
use crate::source::{CredentialFiles, Credentials, Depth, RedactedUrl, SourceConfig};

pub(crate) fn source_config(
    config: &Config,
    spec: &SourceSpec,
) -> Result<SourceConfig, DaemonError> {
    let reference = crate::source::parse_reference(&spec.reference).map_err(|e| {
        DaemonError::SourceInvalid {
            source_name: spec.name.clone(),
            message: e.to_string(),
        }
    })?;
    let mut sc = SourceConfig::new(
        &spec.name,
        RedactedUrl::new(&spec.url),
        reference,
        config.cache_dir.join(&spec.name),
    );
    if spec.full_history {
        sc.depth = Depth::Full;
    }
    let c = &spec.credentials;
    sc.credentials = Credentials::load(&CredentialFiles {
        username: c.username.clone(),
        password: c.password.clone(),
        bearer_token: c.bearer_token.clone(),
        ssh_private_key: c.ssh_private_key.clone(),
        ssh_known_hosts: c.ssh_known_hosts.clone(),
        ca_bundle: c.ca_bundle.clone(),
    })
    .map_err(|e| DaemonError::SourceInvalid {
        source_name: spec.name.clone(),
        message: e.to_string(),
    })?;
    if let Some(verify) = &spec.verify {
        if let Some(path) = &verify.ssh_allowed_signers {
            let signers = crate::source::signature::AllowedSigners::load(path).map_err(|e| {
                DaemonError::SourceInvalid {
                    source_name: spec.name.clone(),
                    message: e.to_string(),
                }
            })?;
            sc.signatures = crate::source::SignaturePolicy::Ssh(signers);
        } else if !verify.gpg_keys.is_empty() {
            sc.signatures = crate::source::SignaturePolicy::Gpg {
                keys: verify.gpg_keys.clone(),
            };
        }
    }
    sc.max_bytes = config.limits.max_repository_bytes;
    sc.timeout = config.limits.fetch_timeout.0;
    sc.max_file_bytes = config.limits.max_file_bytes;
    sc.ignore.clone_from(&spec.ignore);
    if let Some(bucket) = &spec.bucket {
        sc.bucket = Some(
            bucket_source(bucket).map_err(|message| DaemonError::SourceInvalid {
                source_name: spec.name.clone(),
                message,
            })?,
        );
    }
    Ok(sc)
}

pub(super) fn webhook_auth(spec: &SourceSpec) -> Result<Option<WebhookAuth>, DaemonError> {
    let Some(hook) = &spec.webhook else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(&hook.secret_file).map_err(|e| DaemonError::SourceInvalid {
            source_name: spec.name.clone(),
            message: format!("webhook.secretFile {}: {e}", hook.secret_file.display()),
        })?;
    let secret = crate::source::credentials::SecretText::new(text.trim().to_owned());
    Ok(Some(match hook.provider {
        WebhookProvider::Github => WebhookAuth::GitHub { secret },
        WebhookProvider::Gitlab => WebhookAuth::GitLab { token: secret },
        WebhookProvider::Generic => WebhookAuth::Generic {
            header: hook.header.clone().unwrap_or_default(),
            secret,
        },
    }))
}

/// A bucket source's settings, its keys read from their files (held in memory only).
fn bucket_source(
    spec: &crate::config::BucketSpec,
) -> Result<crate::source::bucket::BucketSource, String> {
    let read = |field: &str, path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map(|t| zeroize::Zeroizing::new(t.trim().to_owned()))
            .map_err(|e| format!("bucket.{field} {}: {e}", path.display()))
    };
    let credentials = match (&spec.access_key_file, &spec.secret_key_file) {
        (Some(access), Some(secret)) => Some(crate::source::bucket::s3::S3Credentials {
            access_key: read("accessKeyFile", access)?.to_string(),
            secret_key: read("secretKeyFile", secret)?,
        }),
        (None, None) => None,
        _ => return Err("bucket: accessKeyFile and secretKeyFile go together".into()),
    };
    Ok(crate::source::bucket::BucketSource {
        bucket: spec.name.clone(),
        region: spec.region.clone(),
        prefix: spec.prefix.clone(),
        credentials,
    })
}
