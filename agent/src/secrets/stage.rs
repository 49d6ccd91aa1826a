//! One run of the secrets stage over an app's rendered objects, step by step: decrypt the
//! SOPS objects, index the app's own stores, classify each object into a [`Slot`], prepare
//! the ExternalSecrets, read every remote document at once, assemble the Secrets.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::external::{self, ExternalPlan};
use super::inline::{self, InlinePlan};
use super::leftover::{check_plain, check_secret};
use super::{
    AppContext, Desired, Held, ObjectFailure, RETRY_AFTER_FAILURE, Resolution, SecretObject,
    SecretOrigin, SecretsContext, SecretsError, StoreError, bitnami, cache, object_ref, sealed,
    sops,
};

/// What one rendered object becomes.
enum Slot {
    Done(Desired),
    External(Box<ExternalPlan>),
    Inline(InlinePlan),
    Consumed,
}

/// The failures and the earliest wanted re-run collected while a run goes.
#[derive(Default)]
struct Run {
    failures: Vec<ObjectFailure>,
    requeue: Option<Duration>,
}

/// Runs the stage for one app.
pub(super) async fn run(
    app: &AppContext,
    objects: Vec<Value>,
    ctx: &SecretsContext,
    held: &Held,
) -> Resolution {
    let mut run = Run::default();
    let decrypted = run.decrypt(app, objects, ctx);
    let index = external::index_stores(
        &decrypted.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>(),
        app,
    );
    let mut slots = Vec::with_capacity(decrypted.len());
    for (object, was_sops) in decrypted {
        if let Some(slot) = run.classify(object, was_sops, app, ctx, held, &index).await {
            slots.push(slot);
        }
    }
    run.prepare_external(&mut slots, app, ctx).await;
    let docs = fetch_documents(&slots, ctx).await;
    let desired = run.assemble(slots, &docs);
    run.finish(desired)
}

impl Run {
    fn fail(&mut self, object: String, secret: Option<(String, String)>, error: SecretsError) {
        tracing::warn!(object = %object, reason = error.reason(), error = %error, "secret object failed");
        self.failures.push(ObjectFailure {
            object,
            secret,
            error,
        });
    }

    fn requeue_within(&mut self, after: Duration) {
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }

    /// Step 1: SOPS objects decrypted; each object paired with whether it was encrypted.
    fn decrypt(
        &mut self,
        app: &AppContext,
        objects: Vec<Value>,
        ctx: &SecretsContext,
    ) -> Vec<(Value, bool)> {
        let mut decrypted = Vec::with_capacity(objects.len());
        for object in objects {
            let failed_at_load = object
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(crate::render::DECRYPT_FAILED_ANNOTATION))
                .and_then(Value::as_str);
            let encrypted = failed_at_load.is_none()
                && tether_seal::sops::object_is_encrypted(&object)
                && !sops::opted_out(&object);
            if failed_at_load.is_none() && !encrypted {
                decrypted.push((object, false));
                continue;
            }
            let reference = object_ref(&object, &app.namespace);
            let target = is_secret(&object)
                .then(|| secret_ref(&object, &app.namespace))
                .flatten();
            if let Some(reason) = failed_at_load {
                let error = SecretsError::DecryptFailedAtLoad {
                    object: reference.clone(),
                    reason: reason.to_owned(),
                };
                self.fail(reference, target, error);
                continue;
            }
            match sops::decrypt_object(&object, &reference, &ctx.keys, &app.key_allow) {
                Ok(plain) => {
                    tracing::debug!(object = %reference, "decrypted a SOPS object");
                    decrypted.push((plain, true));
                }
                Err(e) => self.fail(reference, target, e),
            }
        }
        decrypted
    }

    /// Step 2: what one object becomes; `None` when it failed.
    async fn classify(
        &mut self,
        object: Value,
        was_sops: bool,
        app: &AppContext,
        ctx: &SecretsContext,
        held: &Held,
        index: &external::StoreIndex,
    ) -> Option<Slot> {
        let reference = object_ref(&object, &app.namespace);
        let (api_version, kind) = type_of(&object);
        let unsealed = if sealed::is_sealed_secret(api_version, kind) {
            Some(sealed::unseal(&object, &app.namespace, &ctx.keys))
        } else if bitnami::is_bitnami_sealed_secret(api_version, kind) {
            Some(bitnami::unseal_or_refresh(&object, &app.namespace, ctx.keys.bitnami()).await)
        } else {
            None
        };
        if let Some(unsealed) = unsealed {
            return match unsealed {
                Ok(secret) => {
                    tracing::debug!(object = %reference, kind, keys = ?secret.keys().collect::<Vec<_>>(), "unsealed");
                    Some(Slot::Done(Desired::Secret(secret)))
                }
                Err(e) => {
                    self.fail(reference, secret_ref(&object, &app.namespace), e);
                    None
                }
            };
        }
        if external::is_external_kind(api_version, kind) {
            return self.classify_external(&object, kind, reference, app, ctx, index);
        }
        if is_secret(&object) {
            let target = secret_ref(&object, &app.namespace);
            let opted_out = sops::opted_out(&object);
            let origin = if was_sops {
                SecretOrigin::Sops
            } else {
                SecretOrigin::Plain
            };
            return match secret_slot(object, opted_out, origin, app, ctx, held) {
                Ok(slot) => {
                    if matches!(slot, Slot::Inline(_)) {
                        self.requeue_within(ctx.stores.inline_ttl());
                    }
                    Some(slot)
                }
                Err(e) => {
                    self.fail(reference, target, e);
                    None
                }
            };
        }
        match check_plain(&object, &reference) {
            Ok(()) => Some(Slot::Done(Desired::Plain(object))),
            Err(e) => {
                self.fail(reference, None, e);
                None
            }
        }
    }

    /// An ExternalSecret becomes its plan; a SecretStore is checked and consumed.
    fn classify_external(
        &mut self,
        object: &Value,
        kind: &str,
        reference: String,
        app: &AppContext,
        ctx: &SecretsContext,
        index: &external::StoreIndex,
    ) -> Option<Slot> {
        if kind != "ExternalSecret" {
            if let Err(e) = external::store::parse_store(object, &app.namespace, false) {
                self.fail(reference, None, e);
            }
            return Some(Slot::Consumed);
        }
        match external::plan(object, app, index, &ctx.stores) {
            Ok(plan) => {
                if let Some(refresh) = plan.refresh {
                    self.requeue_within(refresh);
                }
                Some(Slot::External(Box::new(plan)))
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
                self.fail(reference, target, e);
                None
            }
        }
    }

    /// Step 3: ExternalSecrets list what their finds select and load their template sources.
    async fn prepare_external(
        &mut self,
        slots: &mut [Slot],
        app: &AppContext,
        ctx: &SecretsContext,
    ) {
        for slot in slots {
            if let Slot::External(plan) = slot
                && let Err(e) = plan.prepare(&ctx.stores, app).await
            {
                let (object, target) = (plan.object.clone(), plan.target_ref());
                self.fail(object, target, e);
                *slot = Slot::Consumed;
            }
        }
    }

    /// Step 5: the Secrets assembled from the documents read.
    fn assemble(&mut self, slots: Vec<Slot>, docs: &Documents) -> Vec<Desired> {
        let mut desired = Vec::with_capacity(slots.len());
        for slot in slots {
            match slot {
                Slot::Done(d) => desired.push(d),
                Slot::Consumed => {}
                Slot::External(plan) => {
                    let object = plan.object.clone();
                    let target = plan.target_ref();
                    let secret = plan
                        .assemble(docs)
                        .and_then(|s| s.map(|s| check_secret(&s).map(|()| s)).transpose());
                    match secret {
                        Ok(Some(secret)) => {
                            tracing::debug!(object = %object, secret = %secret.object_ref(), keys = ?secret.keys().collect::<Vec<_>>(), "resolved an ExternalSecret");
                            desired.push(Desired::Secret(secret));
                        }
                        Ok(None) => {}
                        Err(e) => self.fail(object, target, e),
                    }
                }
                Slot::Inline(plan) => {
                    let object = plan.secret.object_ref();
                    let target = Some((plan.secret.namespace.clone(), plan.secret.name.clone()));
                    match assemble_inline(plan, docs) {
                        Ok(secret) => desired.push(Desired::Secret(secret)),
                        Err(e) => self.fail(object, target, e),
                    }
                }
            }
        }
        desired
    }

    fn finish(mut self, desired: Vec<Desired>) -> Resolution {
        if !self.failures.is_empty() {
            self.requeue_within(RETRY_AFTER_FAILURE);
        }
        for d in &desired {
            tracing::trace!(object = %d.object_ref(), redacted = %d.redacted(), "desired");
        }
        tracing::debug!(
            desired = desired.len(),
            failed = self.failures.len(),
            prune_allowed = self.failures.is_empty(),
            "secrets stage done"
        );
        Resolution {
            desired,
            failures: self.failures,
            requeue_after: self.requeue,
        }
    }
}

/// The remote documents read for a run, by cache key.
type Documents = HashMap<String, Result<Arc<cache::RemoteDoc>, StoreError>>;

/// Step 4: every remote document the slots need, read at once.
async fn fetch_documents(slots: &[Slot], ctx: &SecretsContext) -> Documents {
    let requests: Vec<_> = slots
        .iter()
        .flat_map(|slot| match slot {
            Slot::External(plan) => plan.requests().cloned().collect::<Vec<_>>(),
            Slot::Inline(plan) => plan.items.iter().map(|(_, _, r, _)| r.clone()).collect(),
            Slot::Done(_) | Slot::Consumed => Vec::new(),
        })
        .collect();
    if requests.is_empty() {
        HashMap::new()
    } else {
        ctx.stores.fetch(requests).await
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

pub(super) fn is_secret(object: &Value) -> bool {
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

fn assemble_inline(plan: InlinePlan, docs: &Documents) -> Result<SecretObject, SecretsError> {
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
