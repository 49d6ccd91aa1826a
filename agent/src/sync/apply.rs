//! The API calls of a sync: server-side apply, get, list and delete of dynamic objects, each
//! retried with exponential backoff on transient failures (429, 5xx, broken connections).
//!
//! Apply is server-side apply with `force`, so that Tether wins conflicts with other field
//! managers over the fields it sets, and nothing else. Error messages of Secrets pass through
//! [`super::changeset::redact_message`] so a value echoed by the API never leaves this module.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use kube::Client;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, Preconditions,
    PropagationPolicy,
};
use serde_json::Value;

use super::changeset::redact_message;
use super::client::Resolved;
use super::object::ObjectRef;
use super::secret::SecretManifest;

/// Why an API call on an object failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The API refused the call (after retries for transient answers).
    #[error("{verb} {object}: {code} {reason}: {message}")]
    Rejected {
        /// `apply`, `get`, `list`, `delete` or `deletecollection`.
        verb: &'static str,
        /// The object (or `kind namespace` for a list).
        object: String,
        /// The HTTP code.
        code: u16,
        /// The API's reason (`Invalid`, `Conflict`, ...).
        reason: String,
        /// The API's message, with Secret values redacted.
        message: String,
    },
    /// The API could not be reached or answered something unreadable.
    #[error("{verb} {object}: {message}")]
    Unreachable {
        /// `apply`, `get`, `list`, `delete` or `deletecollection`.
        verb: &'static str,
        /// The object.
        object: String,
        /// What went wrong (transport or decoding).
        message: String,
    },
}

impl ApplyError {
    /// The short, stable reason used in status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        "ApplyFailed"
    }

    /// The HTTP code of a refusal.
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Rejected { code, .. } => Some(*code),
            Self::Unreachable { .. } => None,
        }
    }

    fn from_kube(
        verb: &'static str,
        object: String,
        err: kube::Error,
        secret: Option<&Value>,
    ) -> Self {
        let clean = |m: String| match secret {
            Some(s) => redact_message(&m, s),
            None => m,
        };
        match err {
            kube::Error::Api(status) => Self::Rejected {
                verb,
                object,
                code: status.code,
                reason: status.reason.clone(),
                message: clean(status.message.clone()),
            },
            other => Self::Unreachable {
                verb,
                object,
                message: clean(other.to_string()),
            },
        }
    }
}

/// Whether a failed call may succeed when retried.
pub fn is_transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// The retry schedule of API calls: 6 attempts, 50 ms doubling to 2 s, with jitter.
pub fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(6)
        .with_jitter()
}

/// An `Api` for the object's resource and namespace.
pub fn api_for(client: &Client, resolved: &Resolved, namespace: &str) -> Api<DynamicObject> {
    if resolved.scope.namespaced {
        Api::namespaced_with(client.clone(), namespace, &resolved.resource)
    } else {
        Api::all_with(client.clone(), &resolved.resource)
    }
}

fn to_value(
    object: DynamicObject,
    verb: &'static str,
    reference: &ObjectRef,
) -> Result<Value, ApplyError> {
    serde_json::to_value(object).map_err(|err| ApplyError::Unreachable {
        verb,
        object: reference.to_string(),
        message: format!("decode the answer: {err}"),
    })
}

/// Server-side applies `object` as `field_manager`, with force; returns the live object.
pub async fn apply(
    api: &Api<DynamicObject>,
    reference: &ObjectRef,
    object: &Value,
    field_manager: &str,
) -> Result<Value, ApplyError> {
    let params = PatchParams::apply(field_manager).force();
    let patch = Patch::Apply(object);
    let request = kube::core::Request::new(api.resource_url());
    let client = api.clone().into_client();
    // The answer is read straight into a `Value` (the object as the server wrote it), not
    // into a `DynamicObject` serialised again: half the decoding per applied object.
    (|| async {
        let mut req = request
            .patch(&reference.name, &params, &patch)
            .map_err(kube::Error::BuildRequest)?;
        req.extensions_mut().insert("patch");
        client.request::<Value>(req).await
    })
    .retry(backoff())
    .when(is_transient)
    .await
    .map_err(|err| {
        let secret = reference.is_secret().then_some(object);
        ApplyError::from_kube("apply", reference.to_string(), err, secret)
    })
}

/// Server-side applies the Secret `secret` (its stand-in prepared as `prepared`) as
/// `field_manager`, with force; returns the live object. The request body is built in
/// zeroizing memory right before each attempt and handed to the client, which drops it
/// when sent; the answer is read into zeroizing memory. Errors have the values masked.
pub async fn apply_secret(
    client: &Client,
    reference: &ObjectRef,
    secret: &SecretManifest,
    prepared: &Value,
    field_manager: &str,
) -> Result<Value, ApplyError> {
    let path = format!(
        "/api/v1/namespaces/{}/secrets/{}?fieldManager={}&force=true",
        path_segment(&reference.namespace),
        path_segment(&reference.name),
        path_segment(field_manager),
    );
    let object = reference.to_string();
    let answer = (|| async {
        let mut body = secret.apply_body(prepared);
        let request = http::Request::builder()
            .method(http::Method::PATCH)
            .uri(path.as_str())
            .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
            .header(http::header::ACCEPT, "application/json")
            .body(std::mem::take(&mut *body))
            .map_err(|e| kube::Error::BuildRequest(kube::core::request::Error::BuildRequest(e)))?;
        client.request_text(request).await
    })
    .retry(backoff())
    .when(is_transient)
    .await
    .map_err(|err| {
        let unmasked = ApplyError::from_kube("apply", object.clone(), err, None);
        mask_error(unmasked, secret)
    })?;
    let answer = zeroize::Zeroizing::new(answer);
    serde_json::from_str(&answer).map_err(|err| ApplyError::Unreachable {
        verb: "apply",
        object,
        message: format!("decode the answer: {err}"),
    })
}

fn mask_error(err: ApplyError, secret: &SecretManifest) -> ApplyError {
    match err {
        ApplyError::Rejected {
            verb,
            object,
            code,
            reason,
            message,
        } => ApplyError::Rejected {
            verb,
            object,
            code,
            reason,
            message: secret.mask(&message),
        },
        ApplyError::Unreachable {
            verb,
            object,
            message,
        } => ApplyError::Unreachable {
            verb,
            object,
            message: secret.mask(&message),
        },
    }
}

/// A path segment or query value, percent-encoded outside the characters of Kubernetes
/// names.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads one object; `None` when it does not exist.
pub async fn get(
    api: &Api<DynamicObject>,
    reference: &ObjectRef,
) -> Result<Option<Value>, ApplyError> {
    let found = (|| async { api.get_opt(&reference.name).await })
        .retry(backoff())
        .when(is_transient)
        .await
        .map_err(|err| ApplyError::from_kube("get", reference.to_string(), err, None))?;
    found.map(|o| to_value(o, "get", reference)).transpose()
}

/// Lists the objects of `api` that carry `label_selector`, following continue tokens.
pub async fn list(
    api: &Api<DynamicObject>,
    what: &str,
    label_selector: &str,
) -> Result<Vec<Value>, ApplyError> {
    list_with_version(api, what, label_selector)
        .await
        .map(|l| l.objects)
}

/// The objects of a list and the resourceVersion the list was read at (its first page's:
/// the later pages are read from the same snapshot).
#[derive(Debug)]
pub struct Listing {
    /// The objects.
    pub objects: Vec<Value>,
    /// The list's resourceVersion.
    pub resource_version: String,
}

/// [`list`], with the resourceVersion the list was read at.
pub async fn list_with_version(
    api: &Api<DynamicObject>,
    what: &str,
    label_selector: &str,
) -> Result<Listing, ApplyError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut version: Option<String> = None;
    loop {
        let mut params = ListParams::default().labels(label_selector).limit(500);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = (|| async { api.list(&params).await })
            .retry(backoff())
            .when(is_transient)
            .await
            .map_err(|err| ApplyError::from_kube("list", what.to_owned(), err, None))?;
        if version.is_none() {
            version = Some(page.metadata.resource_version.clone().unwrap_or_default());
        }
        for item in page.items {
            out.push(
                serde_json::to_value(item).map_err(|err| ApplyError::Unreachable {
                    verb: "list",
                    object: what.to_owned(),
                    message: format!("decode the answer: {err}"),
                })?,
            );
        }
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t),
            None => {
                return Ok(Listing {
                    objects: out,
                    resource_version: version.unwrap_or_default(),
                });
            }
        }
    }
}

/// Deletes with one request (`deletecollection`, propagation `Background`) the objects of
/// `api` that carried `label_selector` at `resource_version`, read with
/// `resourceVersionMatch=Exact`: exactly the set a list at that version returned, never an
/// object created or labelled since. Returns the names the server reports deleted (`None`
/// when it answered with a bare Status).
pub async fn delete_collection_at(
    client: &Client,
    api: &Api<DynamicObject>,
    what: &str,
    label_selector: &str,
    resource_version: &str,
) -> Result<Option<Vec<String>>, ApplyError> {
    let url = format!(
        "{}?labelSelector={}&resourceVersion={}&resourceVersionMatch=Exact",
        api.resource_url(),
        path_segment(label_selector),
        path_segment(resource_version),
    );
    let body = serde_json::json!({
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Background",
    })
    .to_string();
    let answer = (|| async {
        let request = http::Request::builder()
            .method(http::Method::DELETE)
            .uri(url.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(body.clone().into_bytes())
            .map_err(|e| kube::Error::BuildRequest(kube::core::request::Error::BuildRequest(e)))?;
        client.request_text(request).await
    })
    .retry(backoff())
    .when(is_transient)
    .await
    .map_err(|err| ApplyError::from_kube("deletecollection", what.to_owned(), err, None))?;
    let answer: Value = serde_json::from_str(&answer).map_err(|err| ApplyError::Unreachable {
        verb: "deletecollection",
        object: what.to_owned(),
        message: format!("decode the answer: {err}"),
    })?;
    Ok(answer.get("items").and_then(Value::as_array).map(|items| {
        items
            .iter()
            .filter_map(|i| i.pointer("/metadata/name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect()
    }))
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The object is deleted (or being deleted).
    Deleted,
    /// It was already gone.
    AlreadyGone,
    /// The object under that name is not the one read (another uid): left alone.
    Replaced,
}

/// Deletes an object with propagation `Background` and a precondition on its uid.
///
/// Background: the object goes at once and the garbage collector removes its dependents
/// (ReplicaSets, Pods) afterwards, so a prune never waits on the finalizers of dependents;
/// Foreground would hold the owner in a `deletionTimestamp` state until they are gone.
pub async fn delete(
    api: &Api<DynamicObject>,
    reference: &ObjectRef,
    uid: &str,
) -> Result<Deleted, ApplyError> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let result = (|| async { api.delete(&reference.name, &params).await })
        .retry(backoff())
        .when(is_transient)
        .await;
    match result {
        Ok(_) => Ok(Deleted::Deleted),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Deleted::AlreadyGone),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Deleted::Replaced),
        Err(err) => Err(ApplyError::from_kube(
            "delete",
            reference.to_string(),
            err,
            None,
        )),
    }
}
