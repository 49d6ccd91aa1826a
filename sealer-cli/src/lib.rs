//! `tether_seal`: the secret formats Tether reads and writes.
//!
//! - [`sops`]: the SOPS file format (age recipients), compatible byte for byte with the
//!   `sops` tool: YAML, JSON, dotenv and binary stores, the encryption rules, the MAC.
//! - [`sealed`]: Tether's own `SealedSecret` (`tether.dev/v1alpha1`), one age file per value
//!   with the scope and key name bound inside the encrypted payload.
//! - [`bitnami`]: Bitnami SealedSecrets (`bitnami.com/v1alpha1`): the Sealed Secrets
//!   controller's RSA-OAEP + AES-256-GCM format, sealed, unsealed and re-encrypted.
//! - [`keys`]: age identities and recipients: generation, parsing, identity files.
//!
//! The library holds no global state and never prints; the `tether-seal` binary (feature
//! `cli`, on by default) is a thin layer over it. Plaintext is only ever held in zeroizing
//! types that implement neither `Debug` nor `Display`.
#![deny(missing_docs)]

pub mod bitnami;
pub mod keys;
pub mod sealed;
pub mod sops;
