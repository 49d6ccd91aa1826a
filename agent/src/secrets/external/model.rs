//! The serde model of `ExternalSecret` (the subset Tether reads; unsupported fields are kept
//! as raw values so they can be refused by name) and Go durations.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Spec {
    #[serde(default)]
    pub(crate) secret_store_ref: Option<StoreRef>,
    #[serde(default)]
    pub(crate) refresh_interval: Option<String>,
    #[serde(default)]
    pub(crate) refresh_policy: Option<String>,
    #[serde(default)]
    pub(crate) target: Target,
    #[serde(default)]
    pub(crate) data: Vec<DataItem>,
    #[serde(default)]
    pub(crate) data_from: Vec<DataFrom>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreRef {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Target {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) creation_policy: Option<String>,
    #[serde(default)]
    pub(crate) deletion_policy: Option<String>,
    #[serde(default)]
    pub(crate) immutable: Option<bool>,
    #[serde(default)]
    pub(crate) template: Option<Template>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Template {
    #[serde(default, rename = "type")]
    pub(crate) type_: Option<String>,
    #[serde(default)]
    pub(crate) engine_version: Option<String>,
    #[serde(default)]
    pub(crate) metadata: TemplateMetadata,
    #[serde(default)]
    pub(crate) data: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(crate) merge_policy: Option<String>,
    #[serde(default)]
    pub(crate) template_from: Vec<TemplateFrom>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateMetadata {
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
}

/// One `templateFrom` entry: exactly one of `configMap`, `secret`, `literal`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TemplateFrom {
    #[serde(default)]
    pub(crate) config_map: Option<TemplateRef>,
    #[serde(default)]
    pub(crate) secret: Option<TemplateRef>,
    #[serde(default)]
    pub(crate) literal: Option<String>,
    #[serde(default)]
    pub(crate) target: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateRef {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) items: Vec<TemplateRefItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TemplateRefItem {
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) template_as: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct DataItem {
    pub(crate) secret_key: String,
    pub(crate) remote_ref: RemoteRef,
    #[serde(default)]
    pub(crate) source_ref: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct DataFrom {
    #[serde(default)]
    pub(crate) extract: Option<RemoteRef>,
    #[serde(default)]
    pub(crate) find: Option<Find>,
    #[serde(default)]
    pub(crate) rewrite: Vec<RewriteSpec>,
    #[serde(default)]
    pub(crate) source_ref: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RemoteRef {
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) property: Option<String>,
    #[serde(default)]
    pub(crate) version: Option<String>,
    #[serde(default)]
    pub(crate) conversion_strategy: Option<String>,
    #[serde(default)]
    pub(crate) decoding_strategy: Option<String>,
    #[serde(default)]
    pub(crate) metadata_policy: Option<String>,
}

/// `dataFrom[].find`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Find {
    #[serde(default)]
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<FindName>,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) conversion_strategy: Option<String>,
    #[serde(default)]
    pub(crate) decoding_strategy: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FindName {
    pub(crate) regexp: String,
}

/// One `dataFrom[].rewrite` entry: exactly one of `regexp`, `transform`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RewriteSpec {
    #[serde(default)]
    pub(crate) regexp: Option<RewriteRegexp>,
    #[serde(default)]
    pub(crate) transform: Option<RewriteTransform>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RewriteRegexp {
    pub(crate) source: String,
    pub(crate) target: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RewriteTransform {
    pub(crate) template: String,
}

/// Reads `spec`; an error names the field (`spec.dataFrom[0].find.nmae`) and what is wrong.
pub(crate) fn parse_spec(spec: &Value) -> Result<Spec, (String, String)> {
    serde_path_to_error::deserialize(spec).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            "spec".to_owned()
        } else {
            format!("spec.{path}")
        };
        (field, e.into_inner().to_string())
    })
}

/// Parses a Go duration (`1h`, `1h0m0s`, `30s`, `500ms`).
pub(crate) fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(number * seconds).ok()?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("1h0m0s"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("1d"), None);
        assert_eq!(parse_go_duration("h"), None);
    }
}
