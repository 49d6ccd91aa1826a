//! Flux's post-build variable substitution over an app's rendered objects (an app's
//! `postBuild:` block): the variables of `substitute`, and of the ConfigMaps and Secrets named
//! by `substituteFrom` (read from the repository or the cluster by
//! [`super::substitute_from`]; `substitute` wins), replace `${var}` expressions
//! ([`super::envsubst`]) in every object that does not carry
//! `kustomize.toolkit.fluxcd.io/substitute: disabled` as a label or annotation. As in Flux,
//! a scalar written plain in YAML takes the type of what it becomes (`replicas: ${n}` is a
//! number), and nothing is substituted when there are no variables.
//!
//! A value that uses a variable read from a Secret is written only as a value of a Secret's
//! `data` or `stringData`, held by the render's decryptor behind a stand-in (so it never
//! shows in a diff, status or log); anywhere else it is an error naming the object and field.

use super::envsubst::{self, EnvsubstError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use zeroize::Zeroizing;

/// The label or annotation that turns substitution off for one object.
pub const DISABLE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Errors of substitution; each names the object or variable, never a value.
#[derive(Debug, thiserror::Error)]
pub enum PostBuildError {
    /// A variable name is not `[_a-zA-Z][_a-zA-Z0-9]*`.
    #[error("postBuild: variable name {0:?} is invalid (letters, digits and '_')")]
    InvalidName(String),
    /// A `substituteFrom` entry could not be read.
    #[error("postBuild.substituteFrom[{index}]: {kind} {name}: {problem}")]
    ReadFailed {
        /// The entry's index.
        index: usize,
        /// `ConfigMap` or `Secret`.
        kind: String,
        /// Its name.
        name: String,
        /// What went wrong (never a value).
        problem: String,
    },
    /// A variable read from a Secret is used outside a Secret's `data` or `stringData`.
    #[error(
        "postBuild: {object}: {field}: uses a variable read from a Secret; such values are only \
         substituted inside a Secret's data or stringData"
    )]
    SecretOutsideData {
        /// `Kind namespace/name`.
        object: String,
        /// The field.
        field: String,
    },
    /// A Secret's `data` value with a secret variable is not base64 once substituted.
    #[error("postBuild: {object}: {field}: is not valid base64 once substituted")]
    SecretNotBase64 {
        /// `Kind namespace/name`.
        object: String,
        /// The field.
        field: String,
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
    /// The repository file that holds the object (read from Git, SOPS files decrypted);
    /// absent: the object is read from the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Variables, wiped when dropped; the names read from Secrets are marked secret.
pub struct Variables {
    values: BTreeMap<String, String>,
    secret: BTreeSet<String>,
}

impl Drop for Variables {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for value in self.values.values_mut() {
            value.zeroize();
        }
    }
}

impl Variables {
    /// The variables of `post_build` over those read from `substituteFrom` (`from`, in
    /// order: later entries win); newlines are removed from values, as Flux does.
    pub fn new(
        post_build: &PostBuild,
        from: Vec<super::substitute_from::FromValues>,
    ) -> Result<Self, PostBuildError> {
        let mut vars = Self {
            values: BTreeMap::new(),
            secret: BTreeSet::new(),
        };
        for set in from {
            for (name, value) in set.values {
                if set.secret {
                    vars.secret.insert(name.clone());
                } else {
                    vars.secret.remove(&name);
                }
                vars.values.insert(name, value.as_str().to_owned());
            }
        }
        for (name, value) in &post_build.substitute {
            vars.secret.remove(name);
            vars.values.insert(name.clone(), value.clone());
        }
        for (name, value) in &mut vars.values {
            if !valid_name(name) {
                return Err(PostBuildError::InvalidName(name.chars().take(64).collect()));
            }
            value.retain(|c| c != '\n');
        }
        Ok(vars)
    }

    /// Whether `text` names a variable read from a Secret (any name after a `$` or `${`).
    fn names_secret(&self, text: &str) -> bool {
        if self.secret.is_empty() {
            return false;
        }
        text.match_indices('$').any(|(at, _)| {
            let rest = text[at + 1..].trim_start_matches('{');
            let end = rest
                .find(|c: char| c != '_' && !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            self.secret.contains(&rest[..end])
        })
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Substitutes `vars` in every object of `objects` that allows it; a value built from a
/// Secret's variable is held by `hold` (the render's decryptor) and a stand-in written.
pub fn apply(
    objects: &mut [Value],
    vars: &Variables,
    hold: Option<&dyn crate::render::Decryptor>,
) -> Result<(), PostBuildError> {
    if vars.values.is_empty() {
        return Ok(());
    }
    for object in objects.iter_mut() {
        let meta = &object["metadata"];
        if meta["labels"][DISABLE_KEY] == "disabled"
            || meta["annotations"][DISABLE_KEY] == "disabled"
        {
            continue;
        }
        let walk = Walk {
            vars,
            hold,
            object: super::describe(object),
            secret_object: object["kind"] == "Secret" && object["apiVersion"] == "v1",
        };
        walk.substitute(object, &mut Vec::new())?;
    }
    Ok(())
}

struct Walk<'a> {
    vars: &'a Variables,
    hold: Option<&'a dyn crate::render::Decryptor>,
    object: String,
    secret_object: bool,
}

impl Walk<'_> {
    fn failed(&self, source: EnvsubstError) -> PostBuildError {
        PostBuildError::SubstituteFailed {
            object: self.object.clone(),
            source,
        }
    }

    fn outside(&self, path: &[String]) -> PostBuildError {
        PostBuildError::SecretOutsideData {
            object: self.object.clone(),
            field: crate::text::clip(&path.join(".")).into_owned(),
        }
    }

    fn substitute(&self, value: &mut Value, path: &mut Vec<String>) -> Result<(), PostBuildError> {
        match value {
            Value::String(text) if text.contains('$') => {
                if self.vars.names_secret(text) {
                    *value = Value::String(self.secret(text, path)?);
                    return Ok(());
                }
                let replaced =
                    envsubst::eval(text, &self.vars.values).map_err(|e| self.failed(e))?;
                *value = if is_plain(text) {
                    retyped(replaced)
                } else {
                    Value::String(replaced)
                };
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    path.push(index.to_string());
                    self.substitute(item, path)?;
                    path.pop();
                }
            }
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut item) in entries {
                    path.push(key.clone());
                    self.substitute(&mut item, path)?;
                    let key = if key.contains('$') {
                        if self.vars.names_secret(&key) {
                            return Err(self.outside(path));
                        }
                        envsubst::eval(&key, &self.vars.values).map_err(|e| self.failed(e))?
                    } else {
                        key
                    };
                    path.pop();
                    map.insert(key, item);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A value of `data` or `stringData` of a Secret built from a secret variable: held,
    /// and its stand-in returned.
    fn secret(&self, text: &str, path: &[String]) -> Result<String, PostBuildError> {
        let section = match path {
            [section, _] if self.secret_object => section.as_str(),
            _ => return Err(self.outside(path)),
        };
        let Some(hold) = self
            .hold
            .filter(|_| section == "data" || section == "stringData")
        else {
            return Err(self.outside(path));
        };
        let replaced =
            Zeroizing::new(envsubst::eval(text, &self.vars.values).map_err(|e| self.failed(e))?);
        let bytes = if section == "data" {
            use base64::Engine as _;
            Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(replaced.trim())
                    .map_err(|_| PostBuildError::SecretNotBase64 {
                        object: self.object.clone(),
                        field: crate::text::clip(&path.join(".")).into_owned(),
                    })?,
            )
        } else {
            Zeroizing::new(replaced.as_bytes().to_vec())
        };
        Ok(hold.hold(bytes))
    }
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

    fn apply(objects: &mut [Value], vars: &Variables) -> Result<(), PostBuildError> {
        super::apply(objects, vars, None)
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
