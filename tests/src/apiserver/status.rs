//! `Status` error bodies with the reasons and codes of the real server ("API Concepts",
//! section "Responses"; `metav1.StatusReason`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::kinds::ResourceType;

/// One cause of a failure: a field and why it failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldManagerConflict`, ...
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// The field path (`metadata.name`, `.spec.replicas`).
    pub field: String,
}

/// A failed request as the API server reports it: an HTTP code and a `Status` body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `metav1.StatusReason` (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, ...).
    pub reason: String,
    /// Message.
    pub message: String,
    /// `details`.
    pub details: Box<Details>,
}

/// The `details` of a `Status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    /// `details.name`.
    pub name: Option<String>,
    /// `details.group`.
    pub group: Option<String>,
    /// `details.kind`.
    pub kind: Option<String>,
    /// `details.causes`.
    pub causes: Vec<Cause>,
    /// Seconds for a `Retry-After` header and `details.retryAfterSeconds`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A bare error with a code, reason and message.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.to_owned(),
            message: message.into(),
            details: Box::default(),
        }
    }

    fn about(mut self, ty: &ResourceType, name: &str) -> Self {
        self.details.name = Some(name.to_owned());
        if !ty.group.is_empty() {
            self.details.group = Some(ty.group.clone());
        }
        self.details.kind = Some(ty.plural.clone());
        self
    }

    /// 404 NotFound for an object.
    pub fn not_found(ty: &ResourceType, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", ty.qualified_plural()),
        )
        .about(ty, name)
    }

    /// 404 NotFound for a namespace that a namespaced write needs.
    pub fn namespace_not_found(namespace: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("namespaces \"{namespace}\" not found"),
        );
        e.details.name = Some(namespace.to_owned());
        e.details.kind = Some("namespaces".to_owned());
        e
    }

    /// 404 for a path that serves nothing.
    pub fn no_resource() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(ty: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", ty.qualified_plural()),
        )
        .about(ty, name)
    }

    /// 409 Conflict for a stale `resourceVersion` (optimistic concurrency).
    pub fn conflict(ty: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                ty.qualified_plural()
            ),
        )
        .about(ty, name)
    }

    /// 422 Invalid with one cause per field.
    pub fn invalid(ty: &ResourceType, name: &str, causes: Vec<Cause>) -> Self {
        let list: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let message = if list.len() == 1 {
            format!("{} \"{name}\" is invalid: {}", ty.kind, list.join(", "))
        } else {
            format!("{} \"{name}\" is invalid: [{}]", ty.kind, list.join(", "))
        };
        let mut e = Self::new(422, "Invalid", message);
        e.details.name = Some(name.to_owned());
        if !ty.group.is_empty() {
            e.details.group = Some(ty.group.clone());
        }
        e.details.kind = Some(ty.kind.clone());
        e.details.causes = causes;
        e
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(ty: &ResourceType, verb: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("{verb} is not supported on resources of kind {:?}", ty.kind),
        )
    }

    /// 415 UnsupportedMediaType for a patch type the resource does not accept.
    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type}) - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    /// 403 Forbidden for a write into a namespace being deleted.
    pub fn namespace_terminating(ty: &ResourceType, name: &str, namespace: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                ty.qualified_plural()
            ),
        )
        .about(ty, name)
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// 410 Expired for a resourceVersion older than the watch history.
    pub fn gone(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut details = serde_json::Map::new();
        if let Some(n) = &self.details.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &self.details.group {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &self.details.kind {
            details.insert("kind".into(), json!(k));
        }
        if !self.details.causes.is_empty() {
            let causes: Vec<Value> = self
                .details
                .causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(s) = self.details.retry_after {
            details.insert("retryAfterSeconds".into(), json!(s));
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !details.is_empty()
            && let Some(map) = status.as_object_mut()
        {
            map.insert("details".into(), Value::Object(details));
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.to_status().to_string();
        let mut response =
            (code, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(secs) = self.details.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// Result alias of the request handlers.
pub type ApiResult<T> = Result<T, ApiError>;
