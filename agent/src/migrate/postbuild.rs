//! Flux's post-build variable substitution over an app's rendered objects (an app's
//! `postBuild:` block): the variables of `substitute`, and of the ConfigMaps and Secrets named
//! by `substituteFrom` (read from the cluster; `substitute` wins), replace `${var}`
//! expressions ([`super::envsubst`]) in every object that does not carry
//! `kustomize.toolkit.fluxcd.io/substitute: disabled` as a label or annotation. As in Flux,
//! a scalar written plain in YAML takes the type of what it becomes (`replicas: ${n}` is a
//! number), and nothing is substituted when there are no variables.

use super::envsubst::{self, EnvsubstError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The label or annotation that turns substitution off for one object.
pub const DISABLE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Errors of substitution; each names the object or variable, never a value.
#[derive(Debug, thiserror::Error)]
pub enum PostBuildError {
    /// A variable name is not `[_a-zA-Z][_a-zA-Z0-9]*`.
    #[error("postBuild: variable name {0:?} is invalid (letters, digits and '_')")]
    InvalidName(String),
    /// `substituteFrom` names an object the agent does not read yet.
    #[error(
        "postBuild.substituteFrom: {kind} {name}: reading variables from the cluster is not supported yet"
    )]
    SourceUnsupported {
        /// `ConfigMap` or `Secret`.
        kind: String,
        /// Its name.
        name: String,
    },
    /// An object's text holds an expression that cannot be evaluated.
    #[error("postBuild: {object}: {source}")]
    SubstituteFailed {
        /// `Kind namespace/name`.
        object: String,
        /// The expression at fault.
        #[source]
        source: EnvsubstError,
    },
}

/// An app's `postBuild:` block.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PostBuild {
    /// Variables and their values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitute: BTreeMap<String, String>,
    /// ConfigMaps and Secrets (in the app's namespace or the agent's) whose data are
    /// variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_from: Vec<SubstituteFrom>,
}

/// One `substituteFrom` entry.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubstituteFrom {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its namespace (default: the agent's namespace, where Flux's Kustomizations live).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A missing object is not an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// Variables: plain text for now, dropped with the render (Secret values are wiped).
pub struct Variables(BTreeMap<String, String>);

impl Drop for Variables {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for value in self.0.values_mut() {
            value.zeroize();
        }
    }
}

impl Variables {
    /// The variables of `post_build` over those read from `substituteFrom` (`from`, in
    /// order: later entries win); newlines are removed from values, as Flux does.
    pub fn new(
        post_build: &PostBuild,
        from: Vec<BTreeMap<String, String>>,
    ) -> Result<Self, PostBuildError> {
        let mut vars = BTreeMap::new();
        for map in from {
            vars.extend(map);
        }
        vars.extend(post_build.substitute.clone());
        for (name, value) in &mut vars {
            if !valid_name(name) {
                return Err(PostBuildError::InvalidName(name.chars().take(64).collect()));
            }
            value.retain(|c| c != '\n');
        }
        Ok(Self(vars))
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Substitutes `vars` in every object of `objects` that allows it.
pub fn apply(objects: &mut [Value], vars: &Variables) -> Result<(), PostBuildError> {
    if vars.0.is_empty() {
        return Ok(());
    }
    for object in objects.iter_mut() {
        let meta = &object["metadata"];
        if meta["labels"][DISABLE_KEY] == "disabled"
            || meta["annotations"][DISABLE_KEY] == "disabled"
        {
            continue;
        }
        let describe = super::describe(object);
        substitute(object, &vars.0).map_err(|source| PostBuildError::SubstituteFailed {
            object: describe,
            source,
        })?;
    }
    Ok(())
}

fn substitute(value: &mut Value, vars: &BTreeMap<String, String>) -> Result<(), EnvsubstError> {
    match value {
        Value::String(text) if text.contains('$') => {
            let replaced = envsubst::eval(text, vars)?;
            *value = if is_plain(text) {
                retyped(replaced)
            } else {
                Value::String(replaced)
            };
        }
        Value::Array(items) => {
            for item in items {
                substitute(item, vars)?;
            }
        }
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                substitute(&mut item, vars)?;
                let key = if key.contains('$') {
                    envsubst::eval(&key, vars)?
                } else {
                    key
                };
                map.insert(key, item);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether a YAML writer leaves this string unquoted (so the substituted text is read back
/// with its own type): one line, no indicator first, nothing that reads as a comment or key.
fn is_plain(text: &str) -> bool {
    const INDICATORS: &[char] = &[
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`',
    ];
    !text.is_empty()
        && !text.contains('\n')
        && !text.starts_with(INDICATORS)
        && text.trim() == text
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with(':')
}

/// The substituted text read as a YAML scalar (a number, a boolean, null) or kept as text.
fn retyped(text: String) -> Value {
    let options = crate::render::yaml::ParseOptions::default();
    match crate::render::yaml::parse_values(&text, &options) {
        Ok(values) => match values.as_slice() {
            [v @ (Value::Number(_) | Value::Bool(_) | Value::Null)] => v.clone(),
            _ => Value::String(text),
        },
        Err(_) => Value::String(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        let post = PostBuild {
            substitute: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            substitute_from: Vec::new(),
        };
        Variables::new(&post, Vec::new()).unwrap()
    }

    #[test]
    fn plain_scalars_take_the_type_of_their_value() {
        let mut objects = vec![
            json!({"kind": "Deployment", "metadata": {"name": "web-${env}"},
            "spec": {"replicas": "${replicas:=1}", "paused": "${paused}",
                     "template": {"metadata": {"labels": {"tier": "'${env}'"}}}}}),
        ];
        apply(
            &mut objects,
            &vars(&[("env", "prod"), ("replicas", "3"), ("paused", "false")]),
        )
        .unwrap();
        let spec = &objects[0]["spec"];
        assert_eq!(objects[0]["metadata"]["name"], "web-prod");
        assert_eq!(spec["replicas"], 3);
        assert_eq!(spec["paused"], false);
        assert_eq!(spec["template"]["metadata"]["labels"]["tier"], "'prod'");
    }

    #[test]
    fn disabled_objects_and_empty_variables_are_left_alone() {
        let disabled = json!({"kind": "ConfigMap", "metadata": {"name": "s",
            "annotations": {DISABLE_KEY: "disabled"}}, "data": {"sh": "echo $HOME"}});
        let mut objects = vec![disabled.clone()];
        apply(&mut objects, &vars(&[("HOME", "/x")])).unwrap();
        assert_eq!(objects[0], disabled);
        let plain =
            json!({"kind": "ConfigMap", "metadata": {"name": "s"}, "data": {"a": "${x:=1}"}});
        let mut objects = vec![plain.clone()];
        apply(&mut objects, &vars(&[])).unwrap();
        assert_eq!(objects[0], plain);
    }

    #[test]
    fn fail_on_an_invalid_variable_name_without_its_value() {
        let post = PostBuild {
            substitute: [("bad-name".to_owned(), "hunter2".to_owned())].into(),
            substitute_from: Vec::new(),
        };
        let err = Variables::new(&post, Vec::new()).err().unwrap().to_string();
        assert!(
            err.contains("bad-name") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
