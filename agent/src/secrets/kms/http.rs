//! The REST key services: Vault / OpenBao Transit (token file or Kubernetes auth), GCP KMS and
//! Azure Key Vault (bearer token file). Blocking HTTP, each call bounded by [`TIMEOUT`].

use std::sync::Mutex;
use tether_seal::sops::master::{AzureKey, VaultKey};
use tether_seal::sops::remote::{self, Call};
use zeroize::Zeroizing;

use super::{TIMEOUT, TokenConfig, TransitConfig};

fn client() -> Result<reqwest::blocking::Client, String> {
    reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("building an HTTP client: {e}"))
}

/// POSTs a call; the answer in zeroizing memory, or the status and the service's message.
fn post(call: &Call, header: (&str, &str)) -> Result<(u16, Zeroizing<Vec<u8>>), String> {
    let resp = client()?
        .post(&call.url)
        .header("content-type", "application/json")
        .header(header.0, header.1)
        .body(call.body.as_str().to_owned())
        .send()
        .map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text.chars().take(300).collect::<String>()
        })?;
    let status = resp.status().as_u16();
    let bytes = Zeroizing::new(resp.bytes().map_err(|e| e.to_string())?.to_vec());
    Ok((status, bytes))
}

fn ok(url: &str, (status, bytes): (u16, Zeroizing<Vec<u8>>)) -> Result<Zeroizing<Vec<u8>>, String> {
    if status >= 300 {
        return Err(format!("{url}: {}", remote::error_text(status, &bytes)));
    }
    Ok(bytes)
}

fn read_token(path: &std::path::Path, field: &str) -> Result<Zeroizing<String>, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("{field} {}: {e}", path.display()))?,
    );
    Ok(Zeroizing::new(text.trim().to_owned()))
}

fn transit_token(config: &TransitConfig) -> Result<Zeroizing<String>, String> {
    if let Some(file) = &config.token_file {
        return read_token(file, "keys.kms.vault.tokenFile");
    }
    let Some(k8s) = &config.kubernetes else {
        return Err("keys.kms.vault has neither tokenFile nor kubernetes".into());
    };
    let jwt = read_token(&k8s.token_file, "keys.kms.vault.kubernetes.tokenFile")?;
    let url = format!(
        "{}/v1/auth/{}/login",
        config.address.trim_end_matches('/'),
        k8s.mount_path
    );
    let body =
        Zeroizing::new(serde_json::json!({"role": k8s.role, "jwt": jwt.as_str()}).to_string());
    let answer = ok(
        &url,
        post(
            &Call {
                url: url.clone(),
                body,
            },
            ("accept", "application/json"),
        )?,
    )?;
    let v: serde_json::Value =
        serde_json::from_slice(&answer).map_err(|_| format!("{url}: the answer is not JSON"))?;
    v.pointer("/auth/client_token")
        .and_then(serde_json::Value::as_str)
        .map(|t| Zeroizing::new(t.to_owned()))
        .ok_or_else(|| format!("{url}: the login answer has no auth.client_token"))
}

/// Decrypts with Transit; the file must name the configured address.
pub(super) fn transit_decrypt(
    config: &TransitConfig,
    cache: &Mutex<Option<Zeroizing<String>>>,
    key: &VaultKey,
    enc: &str,
) -> Result<Zeroizing<Vec<u8>>, String> {
    if key.vault_address.trim_end_matches('/') != config.address.trim_end_matches('/') {
        return Err(format!(
            "the file names Vault {} but the agent's Transit credentials are for {}",
            key.vault_address, config.address
        ));
    }
    let call = remote::transit_decrypt(key, enc);
    for attempt in 0..2 {
        let cached = cache.lock().map(|c| c.clone()).unwrap_or(None);
        let token = match cached {
            Some(t) => t,
            None => {
                let t = transit_token(config)?;
                if let Ok(mut c) = cache.lock() {
                    *c = Some(t.clone());
                }
                t
            }
        };
        let (status, bytes) = post(&call, ("X-Vault-Token", token.as_str()))?;
        if status == 403 && attempt == 0 {
            // The token expired or was revoked: log in again once.
            if let Ok(mut c) = cache.lock() {
                *c = None;
            }
            continue;
        }
        let answer = ok(&call.url, (status, bytes))?;
        return remote::transit_plaintext(&answer).map_err(|e| format!("{}: {e}", call.url));
    }
    Err(format!("{}: permission denied", call.url))
}

/// Decrypts with GCP KMS.
pub(super) fn gcp_decrypt(
    config: &TokenConfig,
    resource_id: &str,
    enc: &str,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let token = read_token(&config.token_file, "keys.kms.gcp.tokenFile")?;
    let call = remote::gcp_decrypt(resource_id, enc, config.endpoint.as_deref());
    let bearer = Zeroizing::new(format!("Bearer {}", token.as_str()));
    let answer = ok(&call.url, post(&call, ("Authorization", bearer.as_str()))?)?;
    remote::gcp_plaintext(&answer).map_err(|e| format!("{}: {e}", call.url))
}

fn azure_url_allowed(config: &TokenConfig, url: &str) -> bool {
    let url = url.trim_end_matches('/');
    match &config.endpoint {
        Some(list) => list
            .split(',')
            .any(|u| u.trim().trim_end_matches('/') == url),
        None => url
            .strip_prefix("https://")
            .is_some_and(|host| !host.contains('/') && host.ends_with(".vault.azure.net")),
    }
}

/// Decrypts with Azure Key Vault; the token goes only to allowed vault URLs.
pub(super) fn azure_decrypt(
    config: &TokenConfig,
    key: &AzureKey,
    enc: &str,
) -> Result<Zeroizing<Vec<u8>>, String> {
    if !azure_url_allowed(config, &key.vault_url) {
        return Err(format!(
            "the agent sends its Azure token only to https://*.vault.azure.net or keys.kms.azure.endpoint, not {}",
            key.vault_url
        ));
    }
    let token = read_token(&config.token_file, "keys.kms.azure.tokenFile")?;
    let call = remote::azure_decrypt(key, enc);
    let bearer = Zeroizing::new(format!("Bearer {}", token.as_str()));
    let answer = ok(&call.url, post(&call, ("Authorization", bearer.as_str()))?)?;
    remote::azure_plaintext(&answer).map_err(|e| format!("{}: {e}", call.url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_the_azure_token_goes_only_to_azure_vaults() {
        let config = TokenConfig {
            token_file: "/nonexistent".into(),
            endpoint: None,
        };
        assert!(azure_url_allowed(&config, "https://shop.vault.azure.net"));
        assert!(!azure_url_allowed(&config, "https://evil.example.com"));
        assert!(!azure_url_allowed(&config, "http://shop.vault.azure.net"));
        assert!(!azure_url_allowed(
            &config,
            "https://x.vault.azure.net.evil.com"
        ));
    }
}
