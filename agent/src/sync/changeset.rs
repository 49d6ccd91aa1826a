//! The result of a sync: what happened to each object, with reasons and a field diff, for
//! status, Events and logs.
//!
//! Secret values never appear: a Secret's `data` and `stringData` values are shown as
//! `<redacted hmac:xxxxxxxx>` (the start of the installation-keyed HMAC of the value, enough to
//! see that a value changed), and API messages about a Secret have its values masked.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::object::ObjectRef;

/// What a sync did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// The object did not exist and was created.
    Created,
    /// The object existed and was changed.
    Configured,
    /// Nothing to do: the live object matches what was applied.
    Unchanged,
    /// The object left Git and was deleted.
    Pruned,
    /// The object left Git but was left in place (protected, not Tether's, or prune disabled).
    Orphaned,
    /// The object could not be applied or pruned.
    Failed,
    /// The object was not applied because an earlier stage failed.
    Skipped,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Pruned => "pruned",
            Self::Orphaned => "orphaned",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        })
    }
}

/// One changed field: its JSON pointer and the values before and after (compact JSON,
/// redacted for Secrets, cut at 200 characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The JSON pointer of the field.
    pub path: String,
    /// The value before (`None` when the field was absent).
    pub before: Option<String>,
    /// The value after (`None` when the field is removed).
    pub after: Option<String>,
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The object.
    pub object: ObjectRef,
    /// What was done.
    pub action: Action,
    /// Why (for orphaned, failed and skipped objects), never a secret value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The fields a configured object changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<FieldChange>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.object, self.action)?;
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        for change in &self.diff {
            write!(
                f,
                "; {}: {} -> {}",
                change.path,
                change.before.as_deref().unwrap_or("<none>"),
                change.after.as_deref().unwrap_or("<none>")
            )?;
        }
        Ok(())
    }
}

/// Every change of one sync, in the order they happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangeSet {
    /// The changes.
    pub changes: Vec<Change>,
}

impl ChangeSet {
    /// Records a change.
    pub fn push(&mut self, object: ObjectRef, action: Action, reason: Option<String>) {
        self.changes.push(Change {
            object,
            action,
            reason,
            diff: Vec::new(),
        });
    }

    /// The objects with `action`.
    pub fn with(&self, action: Action) -> Vec<&ObjectRef> {
        self.changes
            .iter()
            .filter(|c| c.action == action)
            .map(|c| &c.object)
            .collect()
    }

    /// The change recorded for `object`, if any (the last one).
    pub fn get(&self, object: &ObjectRef) -> Option<&Change> {
        self.changes.iter().rev().find(|c| &c.object == object)
    }

    /// How many changes have `action`.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// Whether the sync wrote nothing (every object unchanged).
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(|c| c.action == Action::Unchanged)
    }
}

impl fmt::Display for ChangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, change) in self.changes.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{change}")?;
        }
        Ok(())
    }
}

/// `<redacted hmac:xxxxxxxx>` for a secret value: the one redaction ([`crate::redact::mark`]).
pub fn redacted(value: &[u8]) -> String {
    crate::redact::mark(value)
}

/// A copy of a Secret with each value of `data` and `stringData` replaced by [`redacted`] of
/// its decoded bytes (so the same value gives the same mask in both fields); other objects are
/// returned as they are.
pub fn sanitize(reference: &ObjectRef, object: &Value) -> Value {
    let mut copy = object.clone();
    if !reference.is_secret() {
        return copy;
    }
    for (field, encoded) in [("data", true), ("stringData", false)] {
        if let Some(map) = copy.get_mut(field).and_then(Value::as_object_mut) {
            for value in map.values_mut() {
                let masked = match value.as_str() {
                    Some(text) if encoded => match crate::secrets::object::decode_data(text) {
                        Ok(bytes) => redacted(&bytes),
                        Err(_) => redacted(text.as_bytes()),
                    },
                    Some(text) => redacted(text.as_bytes()),
                    None => redacted(value.to_string().as_bytes()),
                };
                *value = Value::String(masked);
            }
        }
    }
    if let Some(annotations) = copy
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        && let Some(v) = annotations.get_mut(super::object::LAST_APPLIED_ANNOTATION)
    {
        *v = Value::String(redacted(v.to_string().as_bytes()));
    }
    copy
}

/// `message` with every value of the Secret `secret` (as given and base64-decoded) masked.
pub fn redact_message(message: &str, secret: &Value) -> String {
    let mut out = message.to_owned();
    let mut values: Vec<String> = Vec::new();
    for field in ["data", "stringData"] {
        if let Some(map) = secret.get(field).and_then(Value::as_object) {
            for value in map.values() {
                let text = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                if let Ok(bytes) = crate::secrets::object::decode_data(&text)
                    && let Ok(decoded) = String::from_utf8(bytes.to_vec())
                {
                    values.push(decoded);
                }
                values.push(text);
            }
        }
    }
    // A server may quote the object back as JSON (an admission webhook's message does), where
    // quotes, backslashes and line breaks of a value are escaped.
    let escaped: Vec<String> = values
        .iter()
        .filter_map(|v| {
            let json = serde_json::to_string(v).ok()?;
            let inner = json.get(1..json.len() - 1)?;
            (inner != v).then(|| inner.to_owned())
        })
        .collect();
    values.extend(escaped);
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for value in values.iter().filter(|v| v.len() >= 3) {
        out = out.replace(value.as_str(), &redacted(value.as_bytes()));
    }
    out
}

/// The fields of `after` whose value differs in `before` (both sanitized first, so a Secret's
/// values show as hashes). Callers pass the live object before and after an apply, both cut
/// down to the applied fields.
pub fn diff(reference: &ObjectRef, before: &Value, after: &Value) -> Vec<FieldChange> {
    let before = sanitize(reference, before);
    let after = sanitize(reference, after);
    let mut out = Vec::new();
    walk("", Some(&before), Some(&after), &mut out);
    out
}

fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 200 {
        let cut: String = text.chars().take(200).collect();
        format!("{cut}...")
    } else {
        text
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn walk(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => walk_maps(path, b, a, out),
        (b, a) if b == a => {}
        (b, a) => out.push(FieldChange {
            path: if path.is_empty() {
                "/".into()
            } else {
                path.to_owned()
            },
            before: b.map(show),
            after: a.map(show),
        }),
    }
}

fn walk_maps(
    path: &str,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    out: &mut Vec<FieldChange>,
) {
    for (key, value) in after {
        if path.is_empty() && key == "status" {
            continue;
        }
        walk(
            &format!("{path}/{}", escape(key)),
            before.get(key),
            Some(value),
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret_ref() -> ObjectRef {
        ObjectRef::from_object(
            0,
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}}),
        )
        .expect("valid")
    }

    #[test]
    fn secret_diffs_show_keys_and_value_hashes_only() {
        let before = json!({"data": {"password": "aHVudGVyMg=="}});
        let after = json!({"data": {"password": "czNjcjN0LXZhbHVl", "user": "YWRtaW4="}});
        let changes = diff(&secret_ref(), &before, &after);
        let text = format!("{changes:?}");
        assert!(
            !text.contains("czNjcjN0") && !text.contains("s3cr3t"),
            "{text}"
        );
        assert!(
            !text.contains("aHVudGVy") && !text.contains("hunter2"),
            "{text}"
        );
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].path, "/data/password");
        assert_eq!(
            changes[0].before.as_deref(),
            Some(format!("\"{}\"", redacted(b"hunter2")).as_str())
        );
        assert!(
            changes[1]
                .after
                .as_deref()
                .is_some_and(|v| v.starts_with("\"<redacted hmac:"))
        );
    }

    #[test]
    fn the_same_value_masks_the_same_in_data_and_string_data() {
        let s = sanitize(
            &secret_ref(),
            &json!({"data": {"a": "aHVudGVyMg=="}, "stringData": {"b": "hunter2"}}),
        );
        assert_eq!(s["data"]["a"], s["stringData"]["b"]);
    }

    #[test]
    fn messages_about_a_secret_lose_its_values() {
        let secret =
            json!({"data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "tok-123"}});
        let message = "Secret \"db\" is invalid: data[password]: hunter2 (aHVudGVyMg==), tok-123";
        let clean = redact_message(message, &secret);
        assert!(
            !clean.contains("hunter2")
                && !clean.contains("aHVudGVyMg")
                && !clean.contains("tok-123"),
            "{clean}"
        );
        assert!(clean.contains("data[password]"));
    }

    #[test]
    fn other_objects_diff_in_the_clear() {
        let r = ObjectRef::from_object(
            0,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        )
        .expect("valid");
        let changes = diff(
            &r,
            &json!({"data": {"k": "1"}}),
            &json!({"data": {"k": "2"}}),
        );
        assert_eq!(
            changes,
            vec![FieldChange {
                path: "/data/k".into(),
                before: Some("\"1\"".into()),
                after: Some("\"2\"".into())
            }]
        );
    }
}
