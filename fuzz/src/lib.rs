//! Helpers shared by the fuzz targets: the fixed, public age identity that the seed corpora
//! are encrypted to, and the namespace and name the sealed seeds are bound to.
//!
//! The targets themselves live in `fuzz_targets/`; see `README.md` for how to run them.

use std::sync::OnceLock;

/// The text of `fuzz-identity.txt`: a public test identity, never a real secret.
pub const IDENTITY_FILE: &str = include_str!("../fuzz-identity.txt");

/// The recipient of [`IDENTITY_FILE`]; `make-corpus` encrypts and seals the seeds to it.
pub const RECIPIENT: &str = "age1ykqghje9zmc008h7vcuzfgq67fu0amwtza2rz8yknwly35j7lscs4q4slx";

/// The namespace the sealed seeds are bound to (`tether-seal seal -n shop`).
pub const SEALED_NAMESPACE: &str = "shop";

/// The name the sealed seeds are bound to.
pub const SEALED_NAME: &str = "db";

/// The fixed identity as SOPS identities, parsed once.
pub fn sops_identities() -> &'static tether_seal::sops::Identities {
    static IDS: OnceLock<tether_seal::sops::Identities> = OnceLock::new();
    IDS.get_or_init(|| {
        let mut ids = tether_seal::sops::Identities::new();
        ids.add_text(IDENTITY_FILE, "fuzz-identity.txt")
            .expect("fuzz-identity.txt holds an X25519 identity");
        ids
    })
}

/// The fixed identity as a SealedSecret identity, parsed once.
pub fn sealed_identities() -> &'static [tether_seal::keys::Identity] {
    static IDS: OnceLock<Vec<tether_seal::keys::Identity>> = OnceLock::new();
    IDS.get_or_init(|| {
        tether_seal::keys::parse_identities(IDENTITY_FILE, "fuzz-identity.txt")
            .expect("fuzz-identity.txt holds an X25519 identity")
    })
}
