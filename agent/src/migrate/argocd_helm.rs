//! Argo CD `source.helm` (a chart in Git) as an app's `helm:` block: valueFiles, values (a
//! YAML string), valuesObject (over values, as in Argo CD), parameters (`--set`),
//! releaseName, skipCrds, kubeVersion, apiVersions. Anything else is an error naming the
//! field (`fileParameters`, `forceString` parameters, `$ref` value files of multiple sources).

use super::argocd::unmappable;
use super::{Found, MigrateError};
use serde_json::{Map, Value, json};

/// The `helm:` block of an Application's `source.helm`, `None` without one.
pub(super) fn helm(object: &Found, helm: &Value) -> Result<Option<Value>, MigrateError> {
    helm_at(object, helm, "spec.source.helm", false)
}

/// [`helm`] for the block at `prefix`; `refs`: `$ref/path` value files are kept (for the
/// caller to resolve).
pub(super) fn helm_at(
    object: &Found,
    helm: &Value,
    prefix: &str,
    refs: bool,
) -> Result<Option<Value>, MigrateError> {
    let Some(fields) = helm.as_object() else {
        return Ok(None);
    };
    let field = |f: &str| format!("{prefix}.{f}");
    let mut out = Map::new();
    let mut values = Map::new();
    for (key, value) in fields {
        match key.as_str() {
            "releaseName" | "kubeVersion" => {
                let text = value
                    .as_str()
                    .ok_or_else(|| unmappable(object, &field(key), "not a string"))?;
                out.insert(key.clone(), text.into());
            }
            "skipCrds" => {
                let flag = value
                    .as_bool()
                    .ok_or_else(|| unmappable(object, &field(key), "not a boolean"))?;
                out.insert(key.clone(), flag.into());
            }
            "valueFiles" | "apiVersions" => {
                let list = strings(value)
                    .ok_or_else(|| unmappable(object, &field(key), "not a list of strings"))?;
                if let Some(r) = list.iter().find(|f| f.starts_with('$') && !refs) {
                    return Err(unmappable(
                        object,
                        &field(key),
                        &format!(
                            "{r:?}: references to ref sources are read only with a chart from a Helm repository"
                        ),
                    ));
                }
                out.insert(key.clone(), list.into());
            }
            "values" => {
                let text = value
                    .as_str()
                    .ok_or_else(|| unmappable(object, &field(key), "not a string"))?;
                let parsed = crate::render::yaml::parse_values(text, &Default::default())
                    .map_err(|e| unmappable(object, &field(key), &e.to_string()))?;
                match parsed.into_iter().next() {
                    Some(Value::Object(map)) => merge(&mut values, map, false),
                    None | Some(Value::Null) => {}
                    Some(_) => return Err(unmappable(object, &field(key), "not a mapping")),
                }
            }
            "valuesObject" => match value {
                Value::Object(map) => merge(&mut values, map.clone(), true),
                _ => return Err(unmappable(object, &field(key), "not a mapping")),
            },
            "parameters" => {
                out.insert(key.clone(), parameters(object, value)?.into());
            }
            "ignoreMissingValueFiles" | "passCredentials" if value == &Value::Bool(false) => {}
            "version" if value.as_str().is_some_and(|v| v.is_empty() || v == "v3") => {}
            other => return Err(unmappable(object, &field(other), "not supported yet")),
        }
    }
    if !values.is_empty() {
        out.insert("values".into(), Value::Object(values));
    }
    Ok(Some(Value::Object(out)))
}

/// `valuesObject` wins over `values` (`over`: the incoming map wins), merged key by key.
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>, over: bool) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b, over),
            (Some(_), v) if over => {
                into.insert(key, v);
            }
            (Some(_), _) => {}
            (None, v) => {
                into.insert(key, v);
            }
        }
    }
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// `[{name, value}]` as `--set` expressions.
fn parameters(object: &Found, value: &Value) -> Result<Vec<String>, MigrateError> {
    let mut out = Vec::new();
    for (index, p) in value.as_array().into_iter().flatten().enumerate() {
        let field = format!("spec.source.helm.parameters[{index}]");
        if p["forceString"] == json!(true) {
            return Err(unmappable(
                object,
                &format!("{field}.forceString"),
                "not supported yet",
            ));
        }
        let (Some(name), Some(value)) = (p["name"].as_str(), p["value"].as_str()) else {
            return Err(unmappable(
                object,
                &field,
                "needs a name and a string value",
            ));
        };
        out.push(format!("{name}={value}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found() -> Found {
        Found {
            file: "apps/web.yaml".into(),
            value: json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {"name": "web", "namespace": "argocd"}}),
        }
    }

    #[test]
    fn source_helm_becomes_the_helm_block() {
        let helm = json!({
            "releaseName": "web", "skipCrds": true, "valueFiles": ["values-prod.yaml"],
            "values": "replicaCount: 2\nimage: {tag: '1.0', pullPolicy: Always}\n",
            "valuesObject": {"image": {"tag": "2.0"}},
            "parameters": [{"name": "service.type", "value": "NodePort"}],
        });
        let block = super::helm(&found(), &helm).unwrap().unwrap();
        assert_eq!(
            block,
            json!({"releaseName": "web", "skipCrds": true, "valueFiles": ["values-prod.yaml"],
                "parameters": ["service.type=NodePort"],
                "values": {"replicaCount": 2, "image": {"tag": "2.0", "pullPolicy": "Always"}}})
        );
        let parsed: crate::config::helm::HelmAppConfig = serde_json::from_value(block).unwrap();
        assert_eq!(parsed.release_name.as_deref(), Some("web"));
    }

    #[test]
    fn fail_on_helm_fields_without_an_equivalent_naming_them() {
        for (helm, field) in [
            (
                json!({"fileParameters": []}),
                "spec.source.helm.fileParameters",
            ),
            (
                json!({"valueFiles": ["$values/x.yaml"]}),
                "spec.source.helm.valueFiles",
            ),
            (
                json!({"parameters": [{"name": "a", "value": "1", "forceString": true}]}),
                "spec.source.helm.parameters[0].forceString",
            ),
        ] {
            let err = super::helm(&found(), &helm).unwrap_err().to_string();
            assert!(
                err.contains(field) && err.contains("Application argocd/web"),
                "{err}"
            );
        }
    }
}
