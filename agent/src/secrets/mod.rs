//! The secrets stage, between render and apply: every secret-bearing manifest of one app
//! becomes a plain Secret held in zeroizing memory, and nothing else.
//!
//! [`resolve`] takes the rendered objects of one app and returns, in order, the objects to
//! apply ([`Desired`]): plain objects as they are, and every Secret as a [`SecretObject`]
//! whose values stay in zeroizing memory until [`SecretObject::to_apply_json`], the moment
//! plaintext leaves. Diffs, logs, policy input and status use [`Desired::redacted`]
//! (`<redacted hmac:xxxxxxxx>` per value).
//!
//! What it does, per object:
//! - SOPS-encrypted objects ([`sops`]) are decrypted with the agent's keys, then handled
//!   like any object; SOPS-encrypted files inside a Secret's values are decrypted too.
//! - Tether SealedSecrets ([`sealed`]) are unsealed, the scope checked against where the
//!   Secret is applied; the SealedSecret itself is not applied.
//! - Bitnami SealedSecrets ([`bitnami`], `bitnami.com/v1alpha1`) are unsealed with the
//!   Sealed Secrets controller's keys, as the controller does; the SealedSecret is not applied.
//! - ExternalSecrets ([`external`]) are resolved against their SecretStore or
//!   ClusterSecretStore (Vault / OpenBao, AWS Secrets Manager); the ESO objects themselves
//!   are not applied.
//! - Inline `ref+vault://` / `ref+awssecrets://` references in Secrets ([`inline`]) are
//!   resolved; a reference anywhere else is refused.
//! - Every store path is checked against the app's allow-list ([`allow`]) before any read;
//!   values are cached in memory ([`cache`]).
//! - An object still carrying a `sops` block or an `ENC[` value is refused.
//!
//! Failures are per object ([`ObjectFailure`]): one bad Secret does not hide the others. A
//! Secret that fails is not in the output (the live one stays), and [`Resolution`] says that
//! nothing may be pruned for the app in this round and why the app is Degraded
//! (`SecretResolveFailed`, `DecryptFailed`, `PolicyDenied`, `InvalidObject`).
//!
//! The agent's own keys (generation, renewal, the published recipient) are in [`keys`];
//! credentials for stores are read through [`credentials::CredentialSource`].

pub mod allow;
pub mod bitnami;
pub mod cache;
pub mod credentials;
mod error;
pub mod external;
pub mod held;
pub mod inline;
pub mod keys;
pub mod kms;
mod leftover;
pub mod object;
pub mod redact;
pub mod redaction_key;
pub mod sealed;
pub mod sops;
mod stage;

#[cfg(test)]
mod tests;

use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

pub use allow::{AllowError, AllowList, AllowListConfig};
pub use cache::SecretCache;
pub use credentials::{CredentialError, CredentialSource, KubeCredentials, StaticCredentials};
pub use external::StoreError;
pub use external::stores::{StoreStats, Stores};
pub use held::{Held, RenderDecryptor};
pub use keys::{KeyError, KeyManager, KeyRing};
pub use object::{CreationPolicy, SecretObject, SecretOrigin};

pub use error::SecretsError;

/// How soon a failed resolution is retried.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// The app a stage run is for.
#[derive(Debug, Clone)]
pub struct AppContext {
    /// The app's name.
    pub name: String,
    /// The target namespace (objects without one go there).
    pub namespace: String,
    /// Which store paths the app may read.
    pub allow: AllowList,
    /// Which remote SOPS master keys (KMS, Transit, ...) the app's files may use.
    pub key_allow: kms::KeyAllowList,
}

impl AppContext {
    /// An app with the default allow-list for its namespace.
    pub fn new(name: &str, namespace: &str) -> Result<Self, AllowError> {
        Ok(Self {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            allow: AllowList::for_namespace(name, namespace)?,
            key_allow: kms::KeyAllowList::deny_all(),
        })
    }

    /// Replaces the key allow-list.
    #[must_use]
    pub fn with_key_allow_list(mut self, allow: kms::KeyAllowList) -> Self {
        self.key_allow = allow;
        self
    }

    /// Replaces the allow-list.
    #[must_use]
    pub fn with_allow_list(mut self, allow: AllowList) -> Self {
        self.allow = allow;
        self
    }
}

/// What the stage needs besides the app: the agent's keys and the stores.
#[derive(Clone)]
pub struct SecretsContext {
    /// The agent's age identities.
    pub keys: Arc<KeyRing>,
    /// Store clients, cache, credentials.
    pub stores: Arc<Stores>,
}

/// One object to apply.
pub enum Desired {
    /// An object with nothing secret in it, as rendered.
    Plain(Value),
    /// A Secret, values in zeroizing memory.
    Secret(SecretObject),
}

impl Desired {
    /// The object with Secret values redacted: for diffs, logs, policy input and status.
    #[must_use]
    pub fn redacted(&self) -> Value {
        match self {
            Desired::Plain(v) => v.clone(),
            Desired::Secret(s) => s.redacted(),
        }
    }

    /// `Kind namespace/name`, for messages.
    #[must_use]
    pub fn object_ref(&self) -> String {
        match self {
            Desired::Plain(v) => object_ref(v, ""),
            Desired::Secret(s) => s.object_ref(),
        }
    }
}

/// One object that failed.
#[derive(Debug)]
pub struct ObjectFailure {
    /// `Kind namespace/name` of the object in Git.
    pub object: String,
    /// `(namespace, name)` of the Secret it would have produced: the caller keeps the live
    /// one and must not prune it.
    pub secret: Option<(String, String)>,
    /// Why.
    pub error: SecretsError,
}

/// The outcome of the stage for one app.
pub struct Resolution {
    /// The objects to apply, in the rendered order.
    pub desired: Vec<Desired>,
    /// The objects that failed.
    pub failures: Vec<ObjectFailure>,
    /// When to run the stage again even without a Git change (the shortest ExternalSecret
    /// `refreshInterval` or inline TTL; sooner after a failure).
    pub requeue_after: Option<Duration>,
}

impl Resolution {
    /// Whether pruning is allowed for the app in this round: only when nothing failed,
    /// since a failed Secret is missing from [`Resolution::desired`] but must not be deleted.
    #[must_use]
    pub fn prune_allowed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The reason the app is Degraded, if it is: `SecretResolveFailed` when any store read
    /// failed, else the first failure's reason.
    #[must_use]
    pub fn degraded_reason(&self) -> Option<&'static str> {
        let reasons = self.failures.iter().map(|f| f.error.reason());
        if self
            .failures
            .iter()
            .any(|f| f.error.reason() == "SecretResolveFailed")
        {
            return Some("SecretResolveFailed");
        }
        reasons.into_iter().next()
    }

    /// A one-line message for status and Events (errors only, never values).
    #[must_use]
    pub fn message(&self) -> String {
        self.failures
            .iter()
            .map(|f| f.error.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// `Kind namespace/name` of a manifest (the namespace defaulting to `default_namespace`).
pub(crate) fn object_ref(object: &Value, default_namespace: &str) -> String {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("object");
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(default_namespace);
    let (kind, name) = (crate::text::clip(kind), crate::text::clip(name));
    if namespace.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {}/{name}", crate::text::clip(namespace))
    }
}

/// Runs the stage for one app. See the module docs.
pub async fn resolve(app: &AppContext, objects: Vec<Value>, ctx: &SecretsContext) -> Resolution {
    resolve_rendered(app, objects, ctx, &Held::new()).await
}

/// Runs the stage for one app whose render decrypted through a
/// [`held::RenderDecryptor`]: the stand-ins of its Secrets are exchanged for the values in
/// `held`.
pub async fn resolve_rendered(
    app: &AppContext,
    objects: Vec<Value>,
    ctx: &SecretsContext,
    held: &Held,
) -> Resolution {
    let span = tracing::info_span!("secrets", app = %app.name, namespace = %app.namespace, stage = "secrets");
    stage::run(app, objects, ctx, held).instrument(span).await
}
