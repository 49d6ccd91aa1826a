//! Tether SealedSecrets.
