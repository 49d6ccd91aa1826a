//! ID token checks, after Argo CD CVE-2022-29165 and CVE-2023-22482 (claims trusted without
//! their signature, audience not verified) and Flux Operator CVE-2026-23990 (its web UI's
//! OpenID Connect sign-in): a token is accepted only when a key of the provider signed it
//! with an asymmetric algorithm, for this client, from this issuer, and not expired.

use super::{OidcError, check_id_token};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::JwkSet;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use serde_json::{Value, json};

const ISSUER: &str = "https://sso.example.test";
const CLIENT: &str = "tether-ui";

/// A provider's signing key and its JWKS entry.
struct Provider {
    key: SigningKey,
    kid: &'static str,
}

impl Provider {
    fn new(kid: &'static str) -> Self {
        Self {
            key: SigningKey::random(&mut rand::rngs::OsRng),
            kid,
        }
    }

    fn jwk(&self) -> Value {
        let point = self.key.verifying_key().to_encoded_point(false);
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": B64.encode(point.x().expect("an uncompressed point")),
            "y": B64.encode(point.y().expect("an uncompressed point")),
        })
    }

    /// A compact JWT with `header` and `claims`, signed with ES256.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature: p256::ecdsa::Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(signature.to_bytes()))
    }

    fn token(&self, claims: &Value) -> String {
        self.sign(
            &json!({"alg": "ES256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }
}

fn jwks(providers: &[&Provider]) -> JwkSet {
    serde_json::from_value(json!({"keys": providers.iter().map(|p| p.jwk()).collect::<Vec<_>>()}))
        .expect("a JWKS")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": CLIENT, "sub": "alice", "exp": now() + 300, "iat": now()})
}

fn refused(what: &str, jwks: &JwkSet, token: &str) -> String {
    match check_id_token(CLIENT, ISSUER, jwks, token) {
        Err(OidcError::InvalidIdToken(why)) => why,
        Err(other) => panic!("{what}: another error: {other}"),
        Ok(claims) => panic!("{what}: accepted: {claims:?}"),
    }
}

#[test]
fn a_token_signed_by_the_provider_for_this_client_is_accepted() {
    let provider = Provider::new("k1");
    let claims = check_id_token(
        CLIENT,
        ISSUER,
        &jwks(&[&provider]),
        &provider.token(&claims()),
    )
    .expect("accepted");
    assert_eq!(claims["sub"], "alice");
}

#[test]
fn a_token_for_another_client_or_issuer_or_expired_is_refused() {
    let provider = Provider::new("k1");
    let keys = jwks(&[&provider]);
    let mut other_client = claims();
    other_client["aud"] = json!("another-app");
    let mut other_issuer = claims();
    other_issuer["iss"] = json!("https://evil.example.test");
    let mut expired = claims();
    expired["exp"] = json!(now() - 3_600);
    let mut no_audience = claims();
    no_audience.as_object_mut().expect("claims").remove("aud");
    let mut no_issuer = claims();
    no_issuer.as_object_mut().expect("claims").remove("iss");
    for (what, claims) in [
        ("audience", other_client),
        ("issuer", other_issuer),
        ("expiry", expired),
        ("missing audience", no_audience),
        ("missing issuer", no_issuer),
    ] {
        refused(what, &keys, &provider.token(&claims));
    }
}

#[test]
fn a_token_not_signed_by_a_key_of_the_provider_is_refused() {
    let provider = Provider::new("k1");
    let stranger = Provider::new("k1");
    let keys = jwks(&[&provider]);
    // Same key id, another key.
    refused("another key", &keys, &stranger.token(&claims()));
    // A key id the provider does not have.
    let unknown = Provider::new("k9");
    let why = refused("unknown key id", &keys, &unknown.token(&claims()));
    assert!(why.contains("no key"), "{why}");
    // The provider's signature over other claims.
    let genuine = provider.token(&claims());
    let mut forged_claims = claims();
    forged_claims["sub"] = json!("admin");
    let forged = provider.token(&forged_claims);
    let mut other_parts: Vec<&str> = forged.split('.').collect();
    other_parts[2] = genuine.split('.').nth(2).expect("signature part");
    refused("other claims", &keys, &other_parts.join("."));
}

#[test]
fn unsigned_tokens_and_hmac_keyed_with_the_public_key_are_refused() {
    use hmac::Mac as _;
    let provider = Provider::new("k1");
    let keys = jwks(&[&provider]);
    // `alg: none`, no signature.
    let none = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        B64.encode(claims().to_string())
    );
    refused("alg none", &keys, &none);
    // HS256 keyed with what the JWKS publishes.
    let input = format!(
        "{}.{}",
        B64.encode(json!({"alg": "HS256", "typ": "JWT", "kid": "k1"}).to_string()),
        B64.encode(claims().to_string())
    );
    let public = provider.jwk()["x"].as_str().expect("x").to_owned();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(public.as_bytes()).expect("a key");
    mac.update(input.as_bytes());
    let hs = format!("{input}.{}", B64.encode(mac.finalize().into_bytes()));
    let why = refused("HS256", &keys, &hs);
    assert!(why.contains("HS256"), "{why}");
}
