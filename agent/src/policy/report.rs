//! What an evaluation found: one [`Finding`] per message of a `deny`/`violation`/`warn` rule,
//! gathered per app in a [`Report`].

use super::PolicyError;
use super::enforcement::Enforcement;
use super::input::ObjectRef;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks the app's sync (a `deny`/`violation` rule under `enforce`).
    Deny,
    /// Reported only (a `warn` rule, or a `deny` rule under `warn` enforcement).
    Warn,
}

/// One message of one rule about one object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The severity after enforcement.
    pub severity: Severity,
    /// Whether a `deny` result was turned into a warning by `warn` enforcement.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub downgraded: bool,
    /// The rule, as a data path without `data.`: `tether.host_access.deny`.
    pub rule: String,
    /// The object.
    pub object: ObjectRef,
    /// The file the object came from, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The rule's message.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.object, self.rule, self.message)
    }
}

/// The findings of one app.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The app.
    pub app: String,
    /// The enforcement applied.
    pub enforcement: Enforcement,
    /// How many objects were evaluated.
    pub objects: usize,
    /// The findings, in object order, then rule order, then message order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The findings that block the sync.
    pub fn denials(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Deny)
    }

    /// The findings reported as warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warn)
    }

    /// Whether the app's sync is blocked.
    #[must_use]
    pub fn is_denied(&self) -> bool {
        self.denials().next().is_some()
    }

    /// `Ok` when nothing blocks the sync, otherwise [`PolicyError::Denied`] (reason
    /// `PolicyDenied`), whose message names each object and rule.
    pub fn check(&self) -> Result<(), PolicyError> {
        let denials: Vec<String> = self.denials().map(ToString::to_string).collect();
        if denials.is_empty() {
            return Ok(());
        }
        Err(PolicyError::Denied {
            app: self.app.clone(),
            count: denials.len(),
            denials: denials.join("; "),
        })
    }
}

/// The message of one rule result, conftest-style: a string, or an object's `msg` field;
/// anything else as compact JSON. `None` for results that say nothing (`false`, `null`, "").
pub(crate) fn message_of(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null | serde_json::Value::Bool(false) => None,
        serde_json::Value::String(text) if text.is_empty() => None,
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Object(map) => match map.get("msg") {
            Some(serde_json::Value::String(text)) => Some(text.clone()),
            _ => Some(value.to_string()),
        },
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_are_strings_or_the_msg_field_of_objects() {
        assert_eq!(message_of(&json!("no")), Some("no".to_owned()));
        assert_eq!(
            message_of(&json!({"msg": "no", "details": {}})),
            Some("no".to_owned())
        );
        assert_eq!(
            message_of(&json!({"reason": 1})),
            Some("{\"reason\":1}".to_owned())
        );
        assert_eq!(message_of(&json!(false)), None);
    }
}
