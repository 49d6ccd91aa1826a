//! The secrets stage against real peers: OpenBao (KV v1 and v2; token, AppRole and
//! Kubernetes auth through the API server emulation's TokenReview), moto (Secrets Manager),
//! the real `sops` binary, SealedSecrets made by `tether-seal`'s library, and the agent's
//! keys in the API server emulation. Every peer is started by its test and stopped by PID.

#[path = "secrets_stage/manifests.rs"]
mod manifests;
#[path = "secrets_stage/redaction.rs"]
mod redaction;
#[path = "secrets_stage/support.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use manifests::{
    configmap, context, external, remote, shop, sops_encrypt, text, value, vault_store, yaml,
};
use serde_json::{Value, json};
use support::{Bao, ROOT_TOKEN, forged_token, moto_client, seed_auth};
use tether_agent::secrets::{
    self, AppContext, Desired, KeyManager, KeyRing, StaticCredentials, Stores,
};
use tether_seal::keys::Identity;
use tether_seal::sealed::{self as seal, Scope, UnsealedSecret};
use tether_tests::apiserver::ApiServer;
use tether_tests::peers::Moto;
use zeroize::Zeroizing;

#[path = "secrets_stage/files.rs"]
mod files;
#[path = "secrets_stage/lifecycle.rs"]
mod lifecycle;
#[path = "secrets_stage/stores.rs"]
mod stores;
