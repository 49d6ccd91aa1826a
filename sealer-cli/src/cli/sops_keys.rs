//! The master keys the command line wraps and unwraps besides age, the way sops does:
//! - PGP with GnuPG (`SOPS_GPG_EXEC`, else `gpg` on the PATH; `GNUPGHOME` as usual);
//! - AWS KMS with the AWS SDK (the default credential chain and `AWS_ENDPOINT_URL`; a key's
//!   `role` is assumed first; the encryption context is sent);
//! - Vault / OpenBao Transit over HTTP (`VAULT_TOKEN`, else `~/.vault-token`);
//! - GCP KMS (decrypt only; token in `GOOGLE_OAUTH_ACCESS_TOKEN`, endpoint
//!   `TETHER_GCP_KMS_ENDPOINT`) and Azure Key Vault (decrypt only; token in
//!   `AZURE_ACCESS_TOKEN`) over their REST APIs.
//!
//! Every remote call is bounded by a 30 s timeout.

use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use tether_seal::sops::keys::UnwrapError;
use tether_seal::sops::master::KmsKey;
use tether_seal::sops::remote::{self, Call};
use tether_seal::sops::{KeyKind, KeyRef, KeyService, MasterKey};
use zeroize::Zeroizing;

const TIMEOUT: Duration = Duration::from_secs(30);

/// PGP, KMS, Transit, GCP KMS and Azure Key Vault for the command line.
#[derive(Default)]
pub struct CliKeys {
    runtime: OnceLock<Option<tokio::runtime::Runtime>>,
    http: OnceLock<Option<reqwest::blocking::Client>>,
}

fn failed(reason: impl Into<String>) -> UnwrapError {
    UnwrapError::Failed(reason.into())
}

impl CliKeys {
    fn http(&self) -> Result<&reqwest::blocking::Client, UnwrapError> {
        self.http
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .timeout(TIMEOUT)
                    .build()
                    .ok()
            })
            .as_ref()
            .ok_or_else(|| failed("cannot build an HTTP client"))
    }

    fn post(
        &self,
        call: &Call,
        headers: &[(&str, &str)],
    ) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        let mut req = self
            .http()?
            .post(&call.url)
            .header("content-type", "application/json")
            .body(call.body.as_str().to_owned());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req
            .send()
            .map_err(|e| failed(format!("{}: {}", call.url, short(&e.to_string()))))?;
        let status = resp.status().as_u16();
        let bytes = Zeroizing::new(
            resp.bytes()
                .map_err(|e| failed(format!("{}: {e}", call.url)))?
                .to_vec(),
        );
        if status >= 300 {
            return Err(failed(format!(
                "{}: {}",
                call.url,
                remote::error_text(status, &bytes)
            )));
        }
        Ok(bytes)
    }

    fn runtime(&self) -> Result<&tokio::runtime::Runtime, UnwrapError> {
        self.runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()
            })
            .as_ref()
            .ok_or_else(|| failed("cannot start an async runtime"))
    }

    fn kms_client(&self, key: &KmsKey) -> Result<aws_sdk_kms::Client, UnwrapError> {
        let region = key
            .region()
            .ok_or_else(|| failed(format!("{}: not a KMS key ARN", key.arn)))?
            .to_owned();
        self.runtime()?.block_on(async {
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region.clone()))
                .timeout_config(
                    aws_config::timeout::TimeoutConfig::builder()
                        .operation_timeout(TIMEOUT)
                        .build(),
                );
            if !key.aws_profile.is_empty() {
                loader = loader.profile_name(&key.aws_profile);
            }
            let mut config = loader.load().await;
            if !key.role.is_empty() {
                let provider = aws_config::sts::AssumeRoleProvider::builder(&key.role)
                    .session_name("tether-seal")
                    .region(aws_config::Region::new(region))
                    .configure(&config)
                    .build()
                    .await;
                config = config
                    .into_builder()
                    .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(
                        provider,
                    ))
                    .build();
            }
            Ok(aws_sdk_kms::Client::new(&config))
        })
    }

    fn kms_unwrap(&self, key: &KmsKey, enc: &str) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        let blob = STANDARD
            .decode(enc.trim())
            .map_err(|_| failed("enc is not base64"))?;
        let client = self.kms_client(key)?;
        let out = self.runtime()?.block_on(
            client
                .decrypt()
                .key_id(&key.arn)
                .ciphertext_blob(Blob::new(blob))
                .set_encryption_context(context(key))
                .send(),
        );
        let out = out.map_err(|e| failed(sdk_error(&e)))?;
        let plain = out
            .plaintext
            .ok_or_else(|| failed("KMS answered without plaintext"))?;
        Ok(Zeroizing::new(plain.into_inner()))
    }

    fn kms_wrap(&self, key: &KmsKey, data_key: &[u8]) -> Result<String, UnwrapError> {
        let client = self.kms_client(key)?;
        let out = self.runtime()?.block_on(
            client
                .encrypt()
                .key_id(&key.arn)
                .plaintext(Blob::new(data_key.to_vec()))
                .set_encryption_context(context(key))
                .send(),
        );
        let out = out.map_err(|e| failed(sdk_error(&e)))?;
        let blob = out
            .ciphertext_blob
            .ok_or_else(|| failed("KMS answered without a ciphertext"))?;
        Ok(STANDARD.encode(blob.as_ref()))
    }
}

fn context(key: &KmsKey) -> Option<std::collections::HashMap<String, String>> {
    (!key.context.is_empty()).then(|| key.context.iter().cloned().collect())
}

fn sdk_error<E: std::error::Error>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    short(&text)
}

fn short(text: &str) -> String {
    text.chars().take(300).collect()
}

fn vault_token() -> Option<Zeroizing<String>> {
    if let Ok(t) = std::env::var("VAULT_TOKEN")
        && !t.is_empty()
    {
        return Some(Zeroizing::new(t));
    }
    let home = std::env::var_os("HOME")?;
    let text = std::fs::read_to_string(std::path::Path::new(&home).join(".vault-token")).ok()?;
    Some(Zeroizing::new(text.trim().to_owned()))
}

fn env_token(names: &[&str]) -> Option<Zeroizing<String>> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|t| !t.is_empty()))
        .map(Zeroizing::new)
}

fn gpg() -> String {
    std::env::var("SOPS_GPG_EXEC").unwrap_or_else(|_| "gpg".to_owned())
}

fn run_gpg(args: &[&str], input: &[u8]) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
    let program = gpg();
    let mut child = Command::new(&program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("running {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| failed(format!("writing to {program}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(format!("running {program}: {e}")))?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err
            .lines()
            .map(|l| l.trim().trim_start_matches("gpg: "))
            .filter(|l| !l.is_empty())
            .collect();
        return Err(failed(format!("gpg: {}", short(&lines.join(" / ")))));
    }
    Ok(stdout)
}

impl KeyService for CliKeys {
    fn unwrap(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        match &key.key {
            KeyRef::Pgp(_) => {
                let out = run_gpg(&["--batch", "--quiet", "-d"], key.enc.as_bytes())?;
                if out.is_empty() {
                    return Err(failed("gpg returned no data"));
                }
                Ok(out)
            }
            KeyRef::Kms(k) => self.kms_unwrap(k, &key.enc),
            KeyRef::HcVault(v) => {
                let token =
                    vault_token().ok_or_else(|| failed("no VAULT_TOKEN and no ~/.vault-token"))?;
                let answer = self.post(
                    &remote::transit_decrypt(v, &key.enc),
                    &[("X-Vault-Token", token.as_str())],
                )?;
                remote::transit_plaintext(&answer).map_err(failed)
            }
            KeyRef::GcpKms(id) => {
                let token = env_token(&["GOOGLE_OAUTH_ACCESS_TOKEN", "CLOUDSDK_AUTH_ACCESS_TOKEN"])
                    .ok_or_else(|| failed("no GOOGLE_OAUTH_ACCESS_TOKEN"))?;
                let endpoint = std::env::var("TETHER_GCP_KMS_ENDPOINT").ok();
                let bearer = Zeroizing::new(format!("Bearer {}", token.as_str()));
                let answer = self.post(
                    &remote::gcp_decrypt(id, &key.enc, endpoint.as_deref()),
                    &[("Authorization", bearer.as_str())],
                )?;
                remote::gcp_plaintext(&answer).map_err(failed)
            }
            KeyRef::AzureKv(a) => {
                let token = env_token(&["AZURE_ACCESS_TOKEN"])
                    .ok_or_else(|| failed("no AZURE_ACCESS_TOKEN"))?;
                let bearer = Zeroizing::new(format!("Bearer {}", token.as_str()));
                let answer = self.post(
                    &remote::azure_decrypt(a, &key.enc),
                    &[("Authorization", bearer.as_str())],
                )?;
                remote::azure_plaintext(&answer).map_err(failed)
            }
            KeyRef::Age(_) | KeyRef::Other(..) => Err(UnwrapError::NotHandled),
        }
    }

    fn wrap(&self, key: &mut MasterKey, data_key: &[u8]) -> Result<(), UnwrapError> {
        let enc = match &key.key {
            KeyRef::Pgp(fp) => {
                let short_id: String = fp.chars().skip(fp.len().saturating_sub(16)).collect();
                let out = run_gpg(
                    &[
                        "--batch",
                        "--no-default-recipient",
                        "--yes",
                        "--encrypt",
                        "-a",
                        "-r",
                        fp,
                        "--trusted-key",
                        &short_id,
                        "--no-encrypt-to",
                    ],
                    data_key,
                )?;
                String::from_utf8_lossy(&out).trim().to_owned()
            }
            KeyRef::Kms(k) => self.kms_wrap(k, data_key)?,
            KeyRef::HcVault(v) => {
                let token =
                    vault_token().ok_or_else(|| failed("no VAULT_TOKEN and no ~/.vault-token"))?;
                let answer = self.post(
                    &remote::transit_encrypt(v, data_key),
                    &[("X-Vault-Token", token.as_str())],
                )?;
                remote::transit_ciphertext(&answer).map_err(failed)?
            }
            KeyRef::GcpKms(_) | KeyRef::AzureKv(_) => {
                return Err(failed(
                    "encrypting for GCP KMS and Azure Key Vault is not supported (decrypt only)",
                ));
            }
            KeyRef::Age(_) | KeyRef::Other(..) => return Err(UnwrapError::NotHandled),
        };
        key.set_wrapped(enc);
        Ok(())
    }

    fn kinds(&self) -> Vec<KeyKind> {
        vec![
            KeyKind::Pgp,
            KeyKind::Kms,
            KeyKind::HcVault,
            KeyKind::GcpKms,
            KeyKind::AzureKv,
        ]
    }
}
