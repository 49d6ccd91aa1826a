//! Query parameters and request bodies ("API Concepts": "Dry-run", "Field management",
//! "Deletion"; content types of request bodies).

use axum::http::{HeaderMap, header};
use serde_json::Value;

use super::managed::default_manager;
use super::selectors::{FieldSelector, LabelSelector, Selectors};
use super::status::{ApiError, ApiResult};
use super::verbs::{DeleteOptions, WriteOptions};

/// The query parameters of a request, in order.
pub type Params = Vec<(String, String)>;

/// The last value of a query parameter.
pub fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether a query parameter is `true` or `1`.
pub fn flag(params: &Params, name: &str) -> bool {
    matches!(param(params, name), Some("true" | "1"))
}

/// `labelSelector` and `fieldSelector`.
pub fn selectors(params: &Params) -> ApiResult<Selectors> {
    Ok(Selectors {
        labels: LabelSelector::parse(param(params, "labelSelector").unwrap_or(""))?,
        fields: FieldSelector::parse(param(params, "fieldSelector").unwrap_or(""))?,
    })
}

/// A create/update body: JSON, YAML or (for the kinds kubectl's generators send) protobuf.
pub fn parse_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ct.starts_with("application/vnd.kubernetes.protobuf") {
        return super::protobuf::decode(body);
    }
    if ct.contains("protobuf") || ct.contains("cbor") {
        return Err(ApiError::unsupported_media_type(
            ct,
            &["application/json", "application/yaml"],
        ));
    }
    if ct.contains("yaml") {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
        return serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding JSON body: {e}")))
}

/// `dryRun`, `fieldManager` (or the user agent's) and `force`.
pub fn write_options(params: &Params, headers: &HeaderMap, verb: &str) -> WriteOptions {
    let manager = match param(params, "fieldManager") {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ if verb == "apply" => String::new(),
        _ => default_manager(
            headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        ),
    };
    WriteOptions {
        dry_run: params.iter().any(|(k, v)| k == "dryRun" && v == "All"),
        manager,
        force: flag(params, "force"),
    }
}

/// `dryRun` and `preconditions` from the query and the `DeleteOptions` body.
pub fn delete_options(params: &Params, body: &[u8]) -> DeleteOptions {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    DeleteOptions {
        dry_run: params.iter().any(|(k, v)| k == "dryRun" && v == "All")
            || parsed
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|d| d.iter().any(|x| x == "All")),
        uid: text(parsed.get("preconditions").and_then(|p| p.get("uid"))),
        resource_version: text(
            parsed
                .get("preconditions")
                .and_then(|p| p.get("resourceVersion")),
        ),
    }
}

/// The resourceVersion a collection is read at with `resourceVersionMatch=Exact`; `None` for
/// the latest state (no match, or `NotOlderThan`, which the latest state satisfies). The
/// checks and messages of the real server's list options.
pub(super) fn exact_version(params: &Params) -> ApiResult<Option<u64>> {
    let rv = param(params, "resourceVersion").filter(|rv| !rv.is_empty());
    match (
        param(params, "resourceVersionMatch").filter(|m| !m.is_empty()),
        rv,
    ) {
        (None | Some("NotOlderThan"), _) => Ok(None),
        (Some(_), None) => Err(ApiError::bad_request(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        )),
        (Some("Exact"), Some("0")) => Err(ApiError::bad_request(
            "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
        )),
        (Some("Exact"), Some(rv)) => rv
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("resourceVersion: Invalid value: {rv:?}"))),
        (Some(other), Some(_)) => Err(ApiError::bad_request(format!(
            "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
        ))),
    }
}
