//! GCP KMS and Azure Key Vault have no emulator here: these tests check the agent's requests
//! (path, bearer token, body) and its reading of the answers against a small loopback HTTP
//! server that plays the documented API, with files whose data key it "wraps" by encoding.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use tether_seal::sops::keys::UnwrapError;
use tether_seal::sops::master::AzureKey;
use tether_seal::sops::{self, EncryptOptions, Format, KeyKind, KeyRef, KeyService, MasterKey};
use zeroize::Zeroizing;

use super::{AgentKeys, KeyAllowConfig, KeyAllowList, KmsConfig, RemoteKeys, TokenConfig};

/// Wraps by encoding, as the fake server unwraps: base64 for GCP, base64url for Azure.
struct EncodingWrapper;

impl KeyService for EncodingWrapper {
    fn unwrap(&self, _: &MasterKey) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        Err(UnwrapError::NotHandled)
    }
    fn wrap(&self, key: &mut MasterKey, data_key: &[u8]) -> Result<(), UnwrapError> {
        let enc = match key.kind() {
            KeyKind::GcpKms => STANDARD.encode(data_key),
            KeyKind::AzureKv => URL_SAFE_NO_PAD.encode(data_key),
            _ => return Err(UnwrapError::NotHandled),
        };
        key.set_wrapped(enc);
        Ok(())
    }
    fn kinds(&self) -> Vec<KeyKind> {
        vec![KeyKind::GcpKms, KeyKind::AzureKv]
    }
}

/// Answers `count` requests: with the wrapped key decoded when the path and token are right,
/// else 403. Returns the base URL and the request lines seen.
fn fake_server(count: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let (mut length, mut auth) = (0usize, String::new());
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = h["authorization:".len()..].trim().to_owned();
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let answer = if auth != "Bearer test-token" {
                None
            } else if line.contains("/cryptoKeys/k1:decrypt ") {
                body.get("ciphertext")
                    .map(|c| serde_json::json!({ "plaintext": c }))
            } else if line.contains("/keys/k2/v7/decrypt?api-version=7.4 ")
                && body.get("alg") == Some(&serde_json::json!("RSA-OAEP-256"))
            {
                body.get("value").map(|v| serde_json::json!({ "value": v }))
            } else {
                None
            };
            let (status, text) = match answer {
                Some(a) => ("200 OK", a.to_string()),
                None => (
                    "403 Forbidden",
                    r#"{"error":{"message":"denied"}}"#.to_owned(),
                ),
            };
            seen.push(line.trim().to_owned());
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
        seen
    });
    (url, handle)
}

fn encrypted_for(key: KeyRef) -> Vec<u8> {
    let tree = sops::parse_plain(b"password: rest-api-secret\n", Format::Yaml).expect("parses");
    let options = EncryptOptions {
        key_groups: vec![vec![key]],
        shamir_threshold: 0,
        rule: sops::Rule::default(),
        mac_only_encrypted: false,
    };
    sops::encrypt_with(tree, &options, &EncodingWrapper)
        .expect("encrypts")
        .to_bytes(Format::Yaml)
        .expect("writes")
}

#[test]
fn gcp_kms_and_azure_key_vault_requests_follow_their_rest_apis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "test-token\n").expect("write");
    let (url, server) = fake_server(3);
    let token_config = |endpoint: &str| TokenConfig {
        token_file: token.clone(),
        endpoint: Some(endpoint.to_owned()),
    };
    let config = KmsConfig {
        gcp: Some(token_config(&url)),
        azure: Some(token_config(&url)),
        ..Default::default()
    };
    let remote = RemoteKeys::new(&config, &[]).expect("configured");
    let age = sops::Identities::new();
    let gcp_id = "projects/p/locations/global/keyRings/r/cryptoKeys/k1";
    let allow = KeyAllowList::new(
        &KeyAllowConfig {
            gcp_kms: vec!["projects/p/locations/global/keyRings/r/cryptoKeys/*".into()],
            azure_kv: vec![format!("{url}/keys/*/*")],
            ..Default::default()
        },
        "shop",
        "shop",
    )
    .expect("compiles");
    let keys = AgentKeys {
        age: &age,
        remote: Some(&remote),
        allow: &allow,
    };
    let gcp = encrypted_for(KeyRef::GcpKms(gcp_id.into()));
    let plain = sops::decrypt_bytes(&gcp, Format::Yaml, &keys).expect("GCP KMS decrypts");
    assert_eq!(&plain[..], b"password: rest-api-secret\n");
    let azure = |name: &str| {
        encrypted_for(KeyRef::AzureKv(AzureKey {
            vault_url: url.clone(),
            name: name.into(),
            version: "v7".into(),
        }))
    };
    let plain = sops::decrypt_bytes(&azure("k2"), Format::Yaml, &keys).expect("Azure decrypts");
    assert_eq!(&plain[..], b"password: rest-api-secret\n");
    // A key the service refuses: the error names the key and the status, no value.
    let err = sops::decrypt_bytes(&azure("k3"), Format::Yaml, &keys)
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("/keys/k3/v7") && err.contains("HTTP 403"),
        "{err}"
    );
    assert!(!err.contains("rest-api-secret"));
    let seen = server.join().expect("the server ends");
    assert_eq!(seen.len(), 3);
    assert!(
        seen[0].starts_with(&format!("POST /v1/{gcp_id}:decrypt")),
        "{seen:?}"
    );
}

#[test]
fn the_config_takes_kms_credentials_and_key_allow_lists_with_paths_resolved() {
    let text = "namespace: tether-system\nsources:\n  - {name: c, url: \"file:///x\"}\nkeys:\n  pgpFiles: [pgp.asc]\n  kms:\n    aws: {roleArn: arn:aws:iam::1:role/t, webIdentityTokenFile: token}\n    vault: {address: http://127.0.0.1:8200, kubernetes: {role: tether}}\n    gcp: {tokenFile: gcp-token}\nkeyAllow: {awsKms: [\"arn:aws:kms:*:1:key/*\"]}\napps:\n  - directories: [{path: apps/*}]\n    keyAllow: {hcVault: [\"http://127.0.0.1:8200/v1/transit/keys/{namespace}\"]}\n";
    let config = crate::config::Config::parse(text, "t.yaml", std::path::Path::new("/etc/tether"))
        .expect("parses");
    assert_eq!(
        config.keys.pgp_files,
        vec![std::path::PathBuf::from("/etc/tether/pgp.asc")]
    );
    let aws = config.keys.kms.aws.as_ref().expect("aws");
    assert_eq!(
        aws.web_identity_token_file.as_deref(),
        Some(std::path::Path::new("/etc/tether/token"))
    );
    let vault = config.keys.kms.vault.as_ref().expect("vault");
    let k8s = vault.kubernetes.as_ref().expect("kubernetes auth");
    assert_eq!(k8s.mount_path, "kubernetes");
    assert!(k8s.token_file.ends_with("serviceaccount/token"));
    assert!(config.key_allow.is_some());
    assert!(config.apps[0].key_allow.is_some());
    let bad = text.replace("roleArn", "roleARN");
    let err = crate::config::Config::parse(&bad, "t.yaml", std::path::Path::new("."))
        .expect_err("an unknown field is refused")
        .to_string();
    assert!(err.contains("roleARN"), "{err}");
}
