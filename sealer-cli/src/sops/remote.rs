//! The request and response bodies of the remote key services, as sops uses them, without any
//! HTTP client: the agent and the CLI send them with their own.
//!
//! - Vault / OpenBao Transit: `POST ADDRESS/v1/ENGINE/encrypt|decrypt/NAME` with
//!   `{"plaintext": base64}` / `{"ciphertext": "vault:v1:..."}`; `enc` is the ciphertext.
//! - GCP KMS: `POST https://cloudkms.googleapis.com/v1/RESOURCE_ID:decrypt` with
//!   `{"ciphertext": enc}` (`enc` is standard base64); the answer's `plaintext` is base64.
//! - Azure Key Vault: `POST VAULT_URL/keys/NAME/VERSION/decrypt?api-version=7.4` with
//!   `{"alg": "RSA-OAEP-256", "value": enc}` (`enc` is unpadded base64url); the answer's
//!   `value` is base64url.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

use super::master::{AzureKey, VaultKey};

/// The default GCP KMS endpoint.
pub const GCP_KMS_ENDPOINT: &str = "https://cloudkms.googleapis.com";

/// One request: where to POST, and the JSON body (zeroized: an encrypt body holds the key).
pub struct Call {
    /// The URL.
    pub url: String,
    /// The JSON body.
    pub body: Zeroizing<String>,
}

fn body(v: serde_json::Value) -> Zeroizing<String> {
    Zeroizing::new(v.to_string())
}

/// The Transit encrypt call for a data key.
pub fn transit_encrypt(key: &VaultKey, data_key: &[u8]) -> Call {
    let plaintext = Zeroizing::new(STANDARD.encode(data_key));
    let text = Zeroizing::new(format!("{{\"plaintext\":\"{}\"}}", plaintext.as_str()));
    Call {
        url: format!(
            "{}/v1/{}/encrypt/{}",
            key.vault_address.trim_end_matches('/'),
            key.engine_path,
            key.key_name
        ),
        body: text,
    }
}

/// The Transit decrypt call for a wrapped data key.
pub fn transit_decrypt(key: &VaultKey, enc: &str) -> Call {
    Call {
        url: format!(
            "{}/v1/{}/decrypt/{}",
            key.vault_address.trim_end_matches('/'),
            key.engine_path,
            key.key_name
        ),
        body: body(serde_json::json!({ "ciphertext": enc })),
    }
}

/// The GCP KMS decrypt call (`endpoint` defaults to [`GCP_KMS_ENDPOINT`]).
pub fn gcp_decrypt(resource_id: &str, enc: &str, endpoint: Option<&str>) -> Call {
    Call {
        url: format!(
            "{}/v1/{}:decrypt",
            endpoint.unwrap_or(GCP_KMS_ENDPOINT).trim_end_matches('/'),
            resource_id
        ),
        body: body(serde_json::json!({ "ciphertext": enc })),
    }
}

/// The Azure Key Vault decrypt call.
pub fn azure_decrypt(key: &AzureKey, enc: &str) -> Call {
    Call {
        url: format!(
            "{}/keys/{}/{}/decrypt?api-version=7.4",
            key.vault_url.trim_end_matches('/'),
            key.name,
            key.version
        ),
        body: body(serde_json::json!({ "alg": "RSA-OAEP-256", "value": enc })),
    }
}

/// Takes the string at `pointer` out of a JSON answer, into zeroizing memory.
fn take_string(answer: &[u8], pointer: &str) -> Result<Zeroizing<String>, String> {
    let mut v: serde_json::Value =
        serde_json::from_slice(answer).map_err(|_| "the answer is not JSON".to_owned())?;
    match v.pointer_mut(pointer).map(serde_json::Value::take) {
        Some(serde_json::Value::String(s)) => Ok(Zeroizing::new(s)),
        _ => Err(format!("the answer has no {pointer}")),
    }
}

/// The `data.ciphertext` of a Transit encrypt answer.
pub fn transit_ciphertext(answer: &[u8]) -> Result<String, String> {
    take_string(answer, "/data/ciphertext").map(|s| s.to_string())
}

/// The data key of a Transit decrypt answer (`data.plaintext`, base64).
pub fn transit_plaintext(answer: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let s = take_string(answer, "/data/plaintext")?;
    decode(STANDARD.decode(s.as_bytes()))
}

/// The data key of a GCP KMS decrypt answer (`plaintext`, base64).
pub fn gcp_plaintext(answer: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let s = take_string(answer, "/plaintext")?;
    decode(STANDARD.decode(s.as_bytes()))
}

/// The data key of an Azure Key Vault decrypt answer (`value`, base64url).
pub fn azure_plaintext(answer: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let s = take_string(answer, "/value")?;
    decode(URL_SAFE_NO_PAD.decode(s.trim_end_matches('=').as_bytes()))
}

fn decode(r: Result<Vec<u8>, base64::DecodeError>) -> Result<Zeroizing<Vec<u8>>, String> {
    r.map(Zeroizing::new)
        .map_err(|_| "the answer's plaintext is not base64".to_owned())
}

/// The error text of a failed call: the status and the service's `errors`/`error.message`,
/// cut to 300 bytes (never a request body).
pub fn error_text(status: u16, answer: &[u8]) -> String {
    let detail = serde_json::from_slice::<serde_json::Value>(answer)
        .ok()
        .and_then(|v| {
            v.get("errors")
                .map(|e| e.to_string())
                .or_else(|| v.pointer("/error/message").map(|m| m.to_string()))
        })
        .unwrap_or_default();
    let mut text = format!("HTTP {status} {detail}");
    if text.len() > 300 {
        let mut cut = 300;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transit_bodies_and_answers_follow_the_api() {
        let key = VaultKey {
            vault_address: "http://127.0.0.1:8200/".into(),
            engine_path: "transit".into(),
            key_name: "k".into(),
        };
        let call = transit_encrypt(&key, &[1, 2, 3]);
        assert_eq!(call.url, "http://127.0.0.1:8200/v1/transit/encrypt/k");
        assert_eq!(call.body.as_str(), r#"{"plaintext":"AQID"}"#);
        let answer = br#"{"data":{"plaintext":"AQID"}}"#;
        assert_eq!(&transit_plaintext(answer).expect("decodes")[..], &[1, 2, 3]);
        assert!(transit_plaintext(b"{}").is_err());
        let answer = br#"{"value":"AQID"}"#;
        assert_eq!(&azure_plaintext(answer).expect("decodes")[..], &[1, 2, 3]);
        assert_eq!(
            error_text(403, br#"{"errors":["permission denied"]}"#),
            r#"HTTP 403 ["permission denied"]"#
        );
    }
}
