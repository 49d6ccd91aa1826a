//! AWS KMS decryption of a SOPS data key, with the agent's configured credentials: a
//! credentials file, IRSA-style web identity (`roleArn` + `webIdentityTokenFile`), else the
//! SDK's default chain. A key's own `role` is assumed on top; its encryption context is sent.

use aws_config::BehaviorVersion;
use aws_sdk_kms::config::{Region, SharedCredentialsProvider};
use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tether_seal::sops::master::KmsKey;
use zeroize::Zeroizing;

use super::{AwsKmsConfig, TIMEOUT};

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text.chars().take(300).collect()
}

/// Trades the projected token for role credentials at STS (the configured endpoint, as
/// IRSA does), and returns the config with them.
async fn with_web_identity(
    shared: aws_config::SdkConfig,
    role: &str,
    token_file: &std::path::Path,
) -> Result<aws_config::SdkConfig, String> {
    let token = Zeroizing::new(std::fs::read_to_string(token_file).map_err(|e| {
        format!(
            "keys.kms.aws.webIdentityTokenFile {}: {e}",
            token_file.display()
        )
    })?);
    let out = aws_sdk_sts::Client::new(&shared)
        .assume_role_with_web_identity()
        .role_arn(role)
        .role_session_name("tether-agent")
        .web_identity_token(token.trim())
        .send()
        .await
        .map_err(|e| format!("web identity for {role}: {}", error_chain(&e)))?;
    let creds = out
        .credentials
        .ok_or_else(|| format!("web identity for {role}: STS answered without credentials"))?;
    let provider = aws_sdk_kms::config::Credentials::new(
        creds.access_key_id,
        creds.secret_access_key,
        Some(creds.session_token),
        None,
        "web-identity",
    );
    Ok(shared
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

// The replacement types live in aws-runtime, which aws-config does not re-export.
#[allow(deprecated)]
fn with_credentials_file(
    loader: aws_config::ConfigLoader,
    file: &std::path::Path,
) -> aws_config::ConfigLoader {
    use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
    loader.profile_files(
        ProfileFiles::builder()
            .with_file(ProfileFileKind::Credentials, file)
            .build(),
    )
}

async fn client(config: &AwsKmsConfig, key: &KmsKey) -> Result<aws_sdk_kms::Client, String> {
    let region = Region::new(
        key.region()
            .ok_or_else(|| format!("{} is not a KMS key ARN", key.arn))?
            .to_owned(),
    );
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region.clone())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(TIMEOUT)
                .build(),
        )
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2));
    if let Some(endpoint) = &config.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(file) = &config.credentials_file {
        loader = with_credentials_file(loader, file);
    }
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile);
    }
    let web_identity = config
        .role_arn
        .as_ref()
        .zip(config.web_identity_token_file.as_ref());
    if web_identity.is_some() {
        // STS AssumeRoleWithWebIdentity is unsigned: no credentials are looked up for it.
        loader = loader.no_credentials();
    }
    let mut shared = loader.load().await;
    if let Some((role, token_file)) = web_identity {
        shared = with_web_identity(shared, role, token_file).await?;
    }
    if !key.role.is_empty() {
        let provider = aws_config::sts::AssumeRoleProvider::builder(&key.role)
            .session_name("tether-agent")
            .region(region)
            .configure(&shared)
            .build()
            .await;
        shared = shared
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
    }
    Ok(aws_sdk_kms::Client::new(&shared))
}

/// Decrypts `enc` (base64) with KMS key `key`.
pub(super) fn decrypt(
    config: &AwsKmsConfig,
    key: &KmsKey,
    enc: &str,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let blob = STANDARD
        .decode(enc.trim())
        .map_err(|_| "enc is not base64".to_owned())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting a runtime: {e}"))?;
    runtime.block_on(async {
        let client = client(config, key).await?;
        let context = (!key.context.is_empty()).then(|| {
            key.context
                .iter()
                .cloned()
                .collect::<std::collections::HashMap<_, _>>()
        });
        let out = client
            .decrypt()
            .key_id(&key.arn)
            .ciphertext_blob(Blob::new(blob))
            .set_encryption_context(context)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let plain = out
            .plaintext
            .ok_or_else(|| "KMS answered without plaintext".to_owned())?;
        Ok(Zeroizing::new(plain.into_inner()))
    })
}
