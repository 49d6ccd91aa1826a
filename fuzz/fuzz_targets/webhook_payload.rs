//! Webhook requests from untrusted bytes. The input reads like a small HTTP message:
//!
//! ```text
//! <secret>\n
//! <header name of the generic HMAC variant>\n
//! <Name>: <value>\n        (any number of header lines)
//! \n
//! <body>
//! ```
//!
//! The body goes to `parse_payload`, and the request to `verify` with each `WebhookAuth`
//! variant keyed by the secret. Properties: nothing panics; a request signed correctly (or
//! carrying the right token) is accepted whatever the body and the header name, and says
//! what `parse_payload` says; the raw headers are only ever accepted when they carry the
//! right signature or token.

#![no_main]

use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use tether_agent::source::credentials::SecretText;
use tether_agent::source::webhook::{self, MAX_BODY_BYTES, WebhookAuth};

/// One request split out of the input.
struct Request<'a> {
    secret: &'a str,
    generic_header: &'a str,
    headers: Vec<(&'a str, &'a [u8])>,
    body: &'a [u8],
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

fn parse(data: &[u8]) -> Option<Request<'_>> {
    let (secret, rest) = split_line(data);
    let (generic_header, mut rest) = split_line(rest);
    let mut headers = Vec::new();
    loop {
        let (line, tail) = split_line(rest);
        rest = tail;
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|b| *b == b':')?;
        let name = std::str::from_utf8(&line[..colon]).ok()?;
        let value = line[colon + 1..]
            .strip_prefix(b" ")
            .unwrap_or(&line[colon + 1..]);
        headers.push((name, value));
    }
    Some(Request {
        secret: std::str::from_utf8(secret).ok()?,
        generic_header: std::str::from_utf8(generic_header).ok()?,
        headers,
        body: rest,
    })
}

fn mac(secret: &str, body: &[u8]) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Whether a header value carries the right credential, worked out independently of `verify`.
fn carries_credential(prefix: Prefix, value: &[u8], secret: &str, mac: &[u8]) -> bool {
    if prefix == Prefix::Token {
        return value == secret.as_bytes();
    }
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    let value = value.trim();
    let hex_sig = match (value.strip_prefix("sha256="), prefix) {
        (Some(rest), _) => rest,
        (None, Prefix::Required) => return false,
        (None, _) => value,
    };
    hex::decode(hex_sig).is_ok_and(|sig| sig == mac)
}

/// How a variant's header carries its credential.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prefix {
    /// `sha256=<hex>` (GitHub).
    Required,
    /// `sha256=<hex>` or bare hex (generic HMAC).
    Optional,
    /// The shared token itself (GitLab).
    Token,
}

fuzz_target!(|data: &[u8]| {
    let _ = webhook::parse_payload(data);
    let Some(request) = parse(data) else {
        return;
    };
    let payload = webhook::parse_payload(request.body);
    let secret = || SecretText::new(request.secret.to_owned());
    let mac = mac(request.secret, request.body);
    let bare = hex::encode(&mac);
    let prefixed = format!("sha256={bare}");
    let variants = [
        (
            WebhookAuth::GitHub { secret: secret() },
            "X-Hub-Signature-256",
            Prefix::Required,
            prefixed.as_bytes(),
        ),
        (
            WebhookAuth::GitLab { token: secret() },
            "X-Gitlab-Token",
            Prefix::Token,
            request.secret.as_bytes(),
        ),
        (
            WebhookAuth::Generic {
                header: request.generic_header.to_owned(),
                secret: secret(),
            },
            request.generic_header,
            Prefix::Optional,
            bare.as_bytes(),
        ),
    ];
    for (auth, header, prefix, good) in &variants {
        if let Ok(event) = webhook::verify(auth, &request.headers, request.body) {
            assert_eq!(event, payload, "verify and parse_payload disagree");
            let given = request
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(header))
                .map(|(_, value)| *value);
            assert!(
                given.is_some_and(|v| carries_credential(*prefix, v, request.secret, &mac)),
                "{header}: accepted without the right credential"
            );
        }
        let signed = webhook::verify(auth, &[(header, good)], request.body);
        if request.body.len() <= MAX_BODY_BYTES {
            let event = signed.expect("a correctly signed request is accepted");
            assert_eq!(event, payload, "verify and parse_payload disagree");
        }
    }
});
