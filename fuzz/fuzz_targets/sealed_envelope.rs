//! Tether SealedSecrets from untrusted bytes, at three depths:
//!
//! 1. the input as an envelope (the plaintext inside each sealed value): a read that succeeds
//!    writes back the same bytes, and reads back the same fields;
//! 2. the input as a whole SealedSecret manifest (YAML or JSON), read the way the agent reads a
//!    rendered object, then unsealed and verified with the fixed fuzz identity at the fixed
//!    namespace and name and at the object's own; what unseals re-seals to the fuzz recipient
//!    and unseals again to the same Secret; the manifest survives `to_yaml` and `to_json`;
//! 3. the input as the raw age file of one value, so mutations reach the age header and the
//!    envelope behind it without going through base64.
//!
//! Seeds are sealed to the fuzz recipient for `shop/db` (see `make-corpus`).

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use tether_fuzz::{SEALED_NAME, SEALED_NAMESPACE};
use tether_seal::keys::Recipient;
use tether_seal::sealed::envelope::Envelope;
use tether_seal::sealed::{self, ObjectMeta, Scope, SealedSecret, SealedSecretSpec};

fuzz_target!(|data: &[u8]| {
    envelope_round_trip(data);
    if let Ok(text) = std::str::from_utf8(data) {
        manifest(text);
    }
    raw_value(data);
});

fn envelope_round_trip(data: &[u8]) {
    let Ok(env) = Envelope::read(data) else {
        return;
    };
    let written = env
        .write()
        .expect("an envelope that was read can be written");
    assert_eq!(written.as_slice(), data, "write(read(x)) != x");
    let back = Envelope::read(&written).expect("a written envelope reads back");
    assert_eq!(back.kind, env.kind);
    assert_eq!(back.scope, env.scope);
    assert_eq!(back.key, env.key);
    assert!(
        back.value.as_slice() == env.value.as_slice(),
        "the value changed"
    );
}

fn manifest(text: &str) {
    let Ok(sealed) = SealedSecret::from_text(text, "fuzz") else {
        return;
    };
    for written in [sealed.to_yaml(), sealed.to_json()] {
        let written = written.expect("a SealedSecret that was read can be written");
        let back = SealedSecret::from_text(&written, "fuzz-written")
            .expect("a written SealedSecret reads back");
        assert_eq!(back, sealed, "the manifest changed through to_yaml/to_json");
    }
    let ids = tether_fuzz::sealed_identities();
    let _ = sealed::verify(&sealed, ids, SEALED_NAMESPACE, SEALED_NAME);
    let _ = sealed::unseal(&sealed, ids, SEALED_NAMESPACE, SEALED_NAME);
    // Where the agent would apply it: the object's own namespace and name.
    let (Some(name), Some(namespace)) = (
        sealed.metadata.name.as_deref(),
        sealed.metadata.namespace.as_deref(),
    ) else {
        return;
    };
    if name.is_empty() {
        return;
    }
    let Ok(opened) = sealed::unseal(&sealed, ids, namespace, name) else {
        return;
    };
    let recipient = Recipient::parse(tether_fuzz::RECIPIENT, "fuzz").expect("a valid recipient");
    // Values bound to different scope kinds may all unseal here, yet refuse to re-seal.
    let Ok(resealed) = sealed::reseal(&sealed, ids, &[recipient]) else {
        return;
    };
    let reopened = sealed::unseal(&resealed, ids, namespace, name)
        .expect("a re-sealed SealedSecret unseals at the same place");
    assert!(
        opened.expose_secret_json() == reopened.expose_secret_json(),
        "reseal changed the Secret"
    );
}

fn raw_value(data: &[u8]) {
    let sealed = SealedSecret {
        api_version: sealed::API_VERSION.to_owned(),
        kind: sealed::KIND.to_owned(),
        metadata: ObjectMeta {
            name: Some(SEALED_NAME.to_owned()),
            namespace: Some(SEALED_NAMESPACE.to_owned()),
            ..ObjectMeta::default()
        },
        spec: SealedSecretSpec {
            scope: Scope::Strict,
            encrypted_data: BTreeMap::from([("password".to_owned(), STANDARD.encode(data))]),
            ..SealedSecretSpec::default()
        },
    };
    let _ = sealed::unseal(
        &sealed,
        tether_fuzz::sealed_identities(),
        SEALED_NAMESPACE,
        SEALED_NAME,
    );
}
