//! Validation of written objects: names ("Object Names and IDs"), labels ("Labels and
//! Selectors", syntax and character set) and the body matching the URL.

use serde_json::Value;

use super::kinds::{NameRule, ResourceType};
use super::meta;
use super::status::{ApiError, Cause};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label_1123(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label_1123)
}

fn is_label_1035(s: &str) -> bool {
    is_label_1123(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// Why a name is not valid under `rule`, or `None` when it is.
pub fn name_problem(rule: NameRule, name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("name or generateName is required".to_owned());
    }
    match rule {
        NameRule::Subdomain if !is_subdomain(name) => Some(SUBDOMAIN_MSG.to_owned()),
        NameRule::Label if !is_label_1123(name) => Some(LABEL_MSG.to_owned()),
        NameRule::Label1035 if !is_label_1035(name) => Some(LABEL_1035_MSG.to_owned()),
        NameRule::PathSegment
            if name == "." || name == ".." || name.contains('/') || name.contains('%') =>
        {
            Some("may not contain '/' or '%' and may not be '.' or '..'".to_owned())
        }
        _ => None,
    }
}

fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    name_ok && prefix.is_none_or(is_subdomain)
}

fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || s.len() <= 63
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// Validates the metadata of an object about to be stored: name and labels. The
/// `metadata.name` cause is what clients point at.
pub fn validate_object(ty: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let name = meta::name(obj);
    let mut causes = Vec::new();
    if let Some(problem) = name_problem(ty.name_rule, name) {
        let message = if name.is_empty() {
            "Required value: name or generateName is required".to_owned()
        } else {
            format!("Invalid value: \"{name}\": {problem}")
        };
        let reason = if name.is_empty() {
            "FieldValueRequired"
        } else {
            "FieldValueInvalid"
        };
        causes.push(Cause {
            reason: reason.to_owned(),
            message,
            field: "metadata.name".to_owned(),
        });
    }
    for (k, v) in meta::labels(obj) {
        if !is_qualified_name(&k) {
            causes.push(Cause {
                reason: "FieldValueInvalid".to_owned(),
                message: format!("Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"),
                field: "metadata.labels".to_owned(),
            });
        }
        if !is_label_value(&v) {
            causes.push(Cause {
                reason: "FieldValueInvalid".to_owned(),
                message: format!("Invalid value: \"{v}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"),
                field: format!("metadata.labels.{k}"),
            });
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(ty, name, causes))
    }
}

/// Checks that a body names the resource of the URL (`apiVersion` and `kind`), filling them
/// in when absent, and that its namespace and name agree with the URL.
pub fn check_body(
    ty: &ResourceType,
    body: &mut Value,
    namespace: &str,
    url_name: Option<&str>,
) -> Result<(), ApiError> {
    let Some(map) = body.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body is not a JSON object",
        ));
    };
    let expected = ty.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), Value::String(expected.clone()));
        }
        Some(v) if v != expected => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected})"
            )));
        }
        Some(_) => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), Value::String(ty.kind.clone()));
        }
        Some(k) if k != ty.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                ty.kind
            )));
        }
        Some(_) => {}
    }
    let body_ns = meta::namespace(body).to_owned();
    if ty.namespaced {
        if body_ns.is_empty() {
            meta::set_meta(body, "namespace", Value::String(namespace.to_owned()));
        } else if body_ns != namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    } else if !body_ns.is_empty() {
        meta::remove_meta(body, "namespace");
    }
    if ty.group.is_empty() && ty.kind == "Secret" {
        check_secret_values(body)?;
    }
    if let Some(url_name) = url_name {
        let body_name = meta::name(body).to_owned();
        if body_name.is_empty() {
            meta::set_meta(body, "name", Value::String(url_name.to_owned()));
        } else if body_name != url_name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
            )));
        }
    }
    Ok(())
}

/// Decodes base64 as Go's `base64.StdEncoding` (which reads a Secret's `data`): `\r` and `\n`
/// are skipped anywhere, padding is required, non-canonical trailing bits are accepted.
pub(crate) fn go_std_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const GO_STD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
            .with_decode_allow_trailing_bits(true),
    );
    let compact: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    GO_STD.decode(compact)
}

/// A Secret's `stringData` values must be strings and its `data` values base64 strings, or
/// the body does not decode (the real server's messages, which name no value).
fn check_secret_values(body: &Value) -> Result<(), ApiError> {
    let fail = |detail: String| {
        ApiError::bad_request(format!(
            "Secret in version \"v1\" cannot be handled as a Secret: {detail}"
        ))
    };
    let type_of = |v: &Value| match v {
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        _ => "string",
    };
    for (field, base64) in [("stringData", false), ("data", true)] {
        let Some(map) = body.get(field).and_then(Value::as_object) else {
            continue;
        };
        for value in map.values() {
            match value {
                Value::String(text) if base64 => {
                    if let Err(err) = go_std_decode(text) {
                        return Err(fail(format!("illegal base64 data: {err}")));
                    }
                }
                Value::String(_) | Value::Null => {}
                other => {
                    return Err(fail(format!(
                        "json: cannot unmarshal {} into Go struct field Secret.{field} of type {}",
                        type_of(other),
                        if base64 { "[]uint8" } else { "string" }
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_their_rule() {
        assert!(name_problem(NameRule::Subdomain, "web.example").is_none());
        assert!(name_problem(NameRule::Subdomain, "Bad_Name").is_some());
        assert!(name_problem(NameRule::Label, "a.b").is_some());
        assert!(name_problem(NameRule::Label1035, "1abc").is_some());
        assert!(name_problem(NameRule::PathSegment, "system:controller:x").is_none());
    }

    #[test]
    fn label_keys_may_have_a_prefix() {
        assert!(is_qualified_name("app.kubernetes.io/name"));
        assert!(!is_qualified_name("bad key"));
        assert!(is_label_value(""));
        assert!(!is_label_value("-x"));
    }
}
