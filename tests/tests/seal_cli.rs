//! The `tether-seal` sealing subcommands, run as a real binary, against Debian's `age` and
//! `age-keygen`: keys, seal/unseal, scopes, several recipients, merge-into, reseal, verify, and
//! the guarantee that no failing command prints a plaintext.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "seal_cli/support.rs"]
mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::process::Command;
use support::*;
use tether_seal::sealed::Scope;
use tether_tests::peers;

#[path = "seal_cli/keys_and_seal.rs"]
mod keys_and_seal;
#[path = "seal_cli/merge_reseal.rs"]
mod merge_reseal;
#[path = "seal_cli/output.rs"]
mod output;
#[path = "seal_cli/scopes.rs"]
mod scopes;
