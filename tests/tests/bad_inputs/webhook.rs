//! Webhook cases: the request of a case through `source::webhook::verify`.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tether_agent::source::credentials::SecretText;
use tether_agent::source::webhook::{self, WebhookAuth};

use super::cases::{Stage, WebhookCase};

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The stage and message of one request: `Webhook` with the error, or `WebhookIgnored` when
/// the request is accepted but says nothing to act on, or `Accepted` with what it says.
pub fn run(dir: &Path, case: &WebhookCase) -> (Stage, String) {
    let body: Vec<u8> = if let Some(depth) = case.body_nesting {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
    } else if let Some(size) = case.body_bytes {
        let mut body = br#"{"ref": "refs/heads/main", "pad": ""#.to_vec();
        body.resize(size.saturating_sub(2), b'a');
        body.extend_from_slice(b"\"}");
        body
    } else if let Some(file) = &case.body {
        std::fs::read(dir.join(file)).expect("the case's body file")
    } else {
        Vec::new()
    };
    let secret = SecretText::new(case.secret.clone());
    let (auth, header, prefix) = match case.auth.as_str() {
        "github" => (
            WebhookAuth::GitHub { secret },
            "X-Hub-Signature-256".to_owned(),
            "sha256=",
        ),
        "gitlab" => (
            WebhookAuth::GitLab { token: secret },
            "X-Gitlab-Token".to_owned(),
            "",
        ),
        "generic" => {
            let header = case.header.clone().unwrap_or_else(|| "X-Signature".into());
            (
                WebhookAuth::Generic {
                    header: header.clone(),
                    secret: SecretText::new(case.secret.clone()),
                },
                header,
                "",
            )
        }
        other => panic!("unknown webhook auth {other:?} in the corpus"),
    };
    let signature = case.signature.as_ref().map(|s| {
        if s == "valid" {
            if case.auth == "gitlab" {
                case.secret.clone()
            } else {
                format!("{prefix}{}", sign(&case.secret, &body))
            }
        } else {
            s.clone()
        }
    });
    let mut headers: Vec<(&str, &[u8])> = case
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    if let Some(signature) = &signature {
        headers.push((header.as_str(), signature.as_bytes()));
    }
    match webhook::verify(&auth, &headers, &body) {
        Err(err) => (Stage::Webhook, err.to_string()),
        Ok(event) if event == webhook::WebhookEvent::default() => {
            (Stage::WebhookIgnored, "accepted, nothing to act on".into())
        }
        Ok(event) => (Stage::Accepted, format!("accepted and acted on: {event:?}")),
    }
}
