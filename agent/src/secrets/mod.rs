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

#[cfg(test)]
mod tests;

use serde_json::Value;
use std::collections::HashMap;
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

use external::ExternalPlan;
use inline::InlinePlan;
use leftover::{check_plain, check_secret};

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

fn secret_ref(object: &Value, default_namespace: &str) -> Option<(String, String)> {
    let name = object.pointer("/metadata/name").and_then(Value::as_str)?;
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(default_namespace);
    Some((namespace.to_owned(), name.to_owned()))
}

fn type_of(object: &Value) -> (&str, &str) {
    (
        object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or(""),
        object.get("kind").and_then(Value::as_str).unwrap_or(""),
    )
}

enum Slot {
    Done(Desired),
    External(Box<ExternalPlan>),
    Inline(InlinePlan),
    Consumed,
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
    resolve_inner(app, objects, ctx, held)
        .instrument(span)
        .await
}

async fn resolve_inner(
    app: &AppContext,
    objects: Vec<Value>,
    ctx: &SecretsContext,
    held: &Held,
) -> Resolution {
    let mut failures = Vec::new();
    let fail = |failures: &mut Vec<ObjectFailure>, object: String, secret, error: SecretsError| {
        tracing::warn!(object = %object, reason = error.reason(), error = %error, "secret object failed");
        failures.push(ObjectFailure {
            object,
            secret,
            error,
        });
    };
    // 1. Decrypt SOPS objects.
    let mut decrypted: Vec<(Value, bool)> = Vec::with_capacity(objects.len());
    for object in objects {
        if let Some(reason) = object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(crate::render::DECRYPT_FAILED_ANNOTATION))
            .and_then(Value::as_str)
        {
            let reference = object_ref(&object, &app.namespace);
            let target = is_secret(&object)
                .then(|| secret_ref(&object, &app.namespace))
                .flatten();
            let error = SecretsError::DecryptFailedAtLoad {
                object: reference.clone(),
                reason: reason.to_owned(),
            };
            fail(&mut failures, reference, target, error);
        } else if tether_seal::sops::object_is_encrypted(&object) && !sops::opted_out(&object) {
            let reference = object_ref(&object, &app.namespace);
            let target = is_secret(&object)
                .then(|| secret_ref(&object, &app.namespace))
                .flatten();
            match sops::decrypt_object(&object, &reference, &ctx.keys, &app.key_allow) {
                Ok(plain) => {
                    tracing::debug!(object = %reference, "decrypted a SOPS object");
                    decrypted.push((plain, true));
                }
                Err(e) => fail(&mut failures, reference, target, e),
            }
        } else {
            decrypted.push((object, false));
        }
    }
    // 2. The app's own stores.
    let index = external::index_stores(
        &decrypted.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>(),
        app,
    );
    // 3. Classify.
    let mut slots = Vec::with_capacity(decrypted.len());
    let mut requeue: Option<Duration> = None;
    for (object, was_sops) in decrypted {
        let reference = object_ref(&object, &app.namespace);
        let (api_version, kind) = type_of(&object);
        if sealed::is_sealed_secret(api_version, kind) {
            match sealed::unseal(&object, &app.namespace, &ctx.keys) {
                Ok(secret) => {
                    tracing::debug!(object = %reference, keys = ?secret.keys().collect::<Vec<_>>(), "unsealed");
                    slots.push(Slot::Done(Desired::Secret(secret)));
                }
                Err(e) => fail(
                    &mut failures,
                    reference,
                    secret_ref(&object, &app.namespace),
                    e,
                ),
            }
        } else if bitnami::is_bitnami_sealed_secret(api_version, kind) {
            match bitnami::unseal_or_refresh(&object, &app.namespace, ctx.keys.bitnami()).await {
                Ok(secret) => {
                    tracing::debug!(object = %reference, keys = ?secret.keys().collect::<Vec<_>>(), "unsealed a Bitnami SealedSecret");
                    slots.push(Slot::Done(Desired::Secret(secret)));
                }
                Err(e) => fail(
                    &mut failures,
                    reference,
                    secret_ref(&object, &app.namespace),
                    e,
                ),
            }
        } else if external::is_external_kind(api_version, kind) {
            if kind == "ExternalSecret" {
                match external::plan(&object, app, &index, &ctx.stores) {
                    Ok(plan) => {
                        if let Some(refresh) = plan.refresh {
                            requeue = Some(requeue.map_or(refresh, |r| r.min(refresh)));
                        }
                        slots.push(Slot::External(Box::new(plan)));
                    }
                    Err(e) => {
                        let target = object
                            .pointer("/spec/target/name")
                            .and_then(Value::as_str)
                            .or_else(|| object.pointer("/metadata/name").and_then(Value::as_str))
                            .map(|n| {
                                let ns = object
                                    .pointer("/metadata/namespace")
                                    .and_then(Value::as_str)
                                    .unwrap_or(&app.namespace);
                                (ns.to_owned(), n.to_owned())
                            });
                        fail(&mut failures, reference, target, e);
                    }
                }
            } else {
                if let Err(e) = external::store::parse_store(&object, &app.namespace, false) {
                    fail(&mut failures, reference, None, e);
                }
                slots.push(Slot::Consumed);
            }
        } else if is_secret(&object) {
            let target = secret_ref(&object, &app.namespace);
            let opted_out = sops::opted_out(&object);
            let origin = if was_sops {
                SecretOrigin::Sops
            } else {
                SecretOrigin::Plain
            };
            match secret_slot(object, opted_out, origin, app, ctx, held) {
                Ok(slot) => {
                    if matches!(slot, Slot::Inline(_)) {
                        let ttl = ctx.stores.inline_ttl();
                        requeue = Some(requeue.map_or(ttl, |r| r.min(ttl)));
                    }
                    slots.push(slot);
                }
                Err(e) => fail(&mut failures, reference, target, e),
            }
        } else {
            match check_plain(&object, &reference) {
                Ok(()) => slots.push(Slot::Done(Desired::Plain(object))),
                Err(e) => fail(&mut failures, reference, None, e),
            }
        }
    }
    // 3b. ExternalSecrets: list what their finds select, load their template sources.
    for slot in &mut slots {
        if let Slot::External(plan) = slot
            && let Err(e) = plan.prepare(&ctx.stores, app).await
        {
            let (object, target) = (plan.object.clone(), plan.target_ref());
            fail(&mut failures, object, target, e);
            *slot = Slot::Consumed;
        }
    }
    // 4. Read every remote document at once.
    let requests: Vec<_> = slots
        .iter()
        .flat_map(|slot| match slot {
            Slot::External(plan) => plan.requests().cloned().collect::<Vec<_>>(),
            Slot::Inline(plan) => plan.items.iter().map(|(_, _, r, _)| r.clone()).collect(),
            Slot::Done(_) | Slot::Consumed => Vec::new(),
        })
        .collect();
    let docs = if requests.is_empty() {
        HashMap::new()
    } else {
        ctx.stores.fetch(requests).await
    };
    // 5. Assemble.
    let mut desired = Vec::with_capacity(slots.len());
    for slot in slots {
        match slot {
            Slot::Done(d) => desired.push(d),
            Slot::Consumed => {}
            Slot::External(plan) => {
                let object = plan.object.clone();
                let target = plan.target_ref();
                match plan.assemble(&docs) {
                    Ok(Some(secret)) => match check_secret(&secret) {
                        Ok(()) => {
                            tracing::debug!(object = %object, secret = %secret.object_ref(), keys = ?secret.keys().collect::<Vec<_>>(), "resolved an ExternalSecret");
                            desired.push(Desired::Secret(secret));
                        }
                        Err(e) => fail(&mut failures, object, target, e),
                    },
                    Ok(None) => {}
                    Err(e) => fail(&mut failures, object, target, e),
                }
            }
            Slot::Inline(plan) => {
                let object = plan.secret.object_ref();
                let target = Some((plan.secret.namespace.clone(), plan.secret.name.clone()));
                match assemble_inline(plan, &docs) {
                    Ok(secret) => desired.push(Desired::Secret(secret)),
                    Err(e) => fail(&mut failures, object, target, e),
                }
            }
        }
    }
    if !failures.is_empty() {
        requeue = Some(requeue.map_or(RETRY_AFTER_FAILURE, |r| r.min(RETRY_AFTER_FAILURE)));
    }
    for d in &desired {
        tracing::trace!(object = %d.object_ref(), redacted = %d.redacted(), "desired");
    }
    tracing::debug!(
        desired = desired.len(),
        failed = failures.len(),
        prune_allowed = failures.is_empty(),
        "secrets stage done"
    );
    Resolution {
        desired,
        failures,
        requeue_after: requeue,
    }
}

fn is_secret(object: &Value) -> bool {
    type_of(object) == ("v1", "Secret")
}

fn secret_slot(
    object: Value,
    opted_out: bool,
    origin: SecretOrigin,
    app: &AppContext,
    ctx: &SecretsContext,
    held: &Held,
) -> Result<Slot, SecretsError> {
    let reference = object_ref(&object, &app.namespace);
    if object.get("sops").is_some() {
        return Err(SecretsError::CiphertextLeft {
            object: reference,
            field: "sops".into(),
            hint: if opted_out {
                "decryption is disabled by tether.dev/decrypt: disabled".into()
            } else {
                "the sops metadata has no mac".into()
            },
        });
    }
    let mut secret = SecretObject::from_rendered(object, &app.namespace, origin, Some(held))?;
    if !opted_out && sops::decrypt_entries(&mut secret, &ctx.keys, &app.key_allow)? > 0 {
        secret.origin = SecretOrigin::Sops;
    }
    match inline::plan(secret, app, &ctx.stores)? {
        Ok(plan) => Ok(Slot::Inline(plan)),
        Err(secret) => {
            check_secret(&secret)?;
            tracing::debug!(object = %secret.object_ref(), origin = secret.origin().as_str(), keys = ?secret.keys().collect::<Vec<_>>(), "secret");
            Ok(Slot::Done(Desired::Secret(secret)))
        }
    }
}

fn assemble_inline(
    plan: InlinePlan,
    docs: &HashMap<String, Result<Arc<cache::RemoteDoc>, StoreError>>,
) -> Result<SecretObject, SecretsError> {
    let mut secret = plan.secret;
    let object = secret.object_ref();
    for (key, field, request, selector) in plan.items {
        let doc = match docs.get(&request.cache_key()) {
            Some(Ok(doc)) => doc.clone(),
            Some(Err(source)) => {
                return Err(SecretsError::StoreReadFailed {
                    object,
                    field,
                    source: source.clone(),
                });
            }
            None => {
                return Err(SecretsError::StoreReadFailed {
                    object,
                    field,
                    source: StoreError::ReadFailed {
                        store: request.store.display.clone(),
                        path: request.full_path.clone(),
                        reason: "not read".into(),
                    },
                });
            }
        };
        let value = external::extract::select(&doc, &selector).map_err(|reason| {
            SecretsError::ValueMissing {
                object: object.clone(),
                field: field.clone(),
                path: format!("{} {}", request.full_path, selector.describe()),
                reason,
            }
        })?;
        secret.insert(key, value);
    }
    check_secret(&secret)?;
    Ok(secret)
}
