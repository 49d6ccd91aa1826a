//! `vars` (deprecated in kustomize, still built by it): a variable names a field of one
//! object (`objref`, `fieldref.fieldPath`, `metadata.name` by default); once the build is
//! done and every name is final, `$(NAME)` in the fields of the `varReference` field specs
//! is replaced by that field's value (a whole-field reference keeps the value's type;
//! `$$` escapes a dollar). Each kustomization's vars point at an object of its own build
//! so far; they pool upwards like the objects do.

use super::fieldspec::{self, CreateKind, FieldSpec};
use super::{Gvk, KustomizeError, ResId, Resource, invalid_field, transform_error};
use crate::tree::RelPath;
use serde::Deserialize;
use serde_json::Value;

const FIELD: &str = "vars";

/// An entry of `vars`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Var {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) objref: ObjRef,
    #[serde(default)]
    pub(crate) fieldref: FieldRef,
}

/// The object a var reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ObjRef {
    #[serde(default, alias = "apiversion")]
    pub(crate) api_version: String,
    #[serde(default)]
    pub(crate) group: String,
    #[serde(default)]
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) namespace: String,
}

/// The field a var reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FieldRef {
    /// kustomize reads its fields case-insensitively; `fieldpath` is the usual spelling.
    #[serde(default, alias = "fieldpath")]
    pub(crate) field_path: String,
}

impl ObjRef {
    fn id(&self) -> ResId {
        let gvk = if self.api_version.is_empty() {
            Gvk {
                group: self.group.clone(),
                version: self.version.clone(),
                kind: self.kind.clone(),
            }
        } else {
            Gvk::from_api_version(&self.api_version, &self.kind)
        };
        ResId {
            gvk,
            name: self.name.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

/// Kinds and paths where kustomize looks for `$(VAR)` by default.
#[rustfmt::skip]
const VAR_REFERENCES: &[(&str, &[&str])] = &[
    ("CronJob", &[
        "spec/jobTemplate/spec/template/spec/containers/args",
        "spec/jobTemplate/spec/template/spec/containers/command",
        "spec/jobTemplate/spec/template/spec/containers/env/value",
        "spec/jobTemplate/spec/template/spec/containers/volumeMounts/mountPath",
        "spec/jobTemplate/spec/template/spec/initContainers/args",
        "spec/jobTemplate/spec/template/spec/initContainers/command",
        "spec/jobTemplate/spec/template/spec/initContainers/env/value",
        "spec/jobTemplate/spec/template/spec/initContainers/volumeMounts/mountPath",
        "spec/jobTemplate/spec/template/volumes/nfs/server",
    ]),
    ("Ingress", &["spec/rules/host", "spec/tls/hosts", "spec/tls/secretName"]),
    ("Pod", &[
        "spec/containers/args", "spec/containers/command", "spec/containers/env/value",
        "spec/containers/volumeMounts/mountPath", "spec/initContainers/args",
        "spec/initContainers/command", "spec/initContainers/env/value",
        "spec/initContainers/volumeMounts/mountPath", "spec/volumes/nfs/server",
    ]),
    ("Service", &["spec/ports/port", "spec/ports/targetPort"]),
    ("PersistentVolume", &["spec/nfs/server"]),
    ("StatefulSet", &["spec/volumeClaimTemplates/spec/nfs/server"]),
];

/// Workload kinds whose pod template kustomize searches for `$(VAR)`.
const WORKLOADS: &[&str] = &[
    "DaemonSet",
    "Deployment",
    "Job",
    "ReplicaSet",
    "StatefulSet",
];

/// The default `varReference` field specs.
pub(crate) fn default_var_references() -> Vec<FieldSpec> {
    let mut specs = Vec::new();
    for (kind, paths) in VAR_REFERENCES {
        for path in *paths {
            specs.push(FieldSpec::new("", "", kind, path, false));
        }
    }
    for kind in WORKLOADS {
        for part in ["containers", "initContainers"] {
            for leaf in ["args", "command", "env/value", "volumeMounts/mountPath"] {
                let path = format!("spec/template/spec/{part}/{leaf}");
                specs.push(FieldSpec::new("", "", kind, &path, false));
            }
        }
        specs.push(FieldSpec::new(
            "",
            "",
            kind,
            "spec/template/spec/volumes/nfs/server",
            false,
        ));
    }
    specs.push(FieldSpec::new(
        "",
        "",
        "Deployment",
        "spec/template/metadata/annotations",
        false,
    ));
    specs.push(FieldSpec::new("", "", "", "metadata/labels", false));
    specs.push(FieldSpec::new("", "", "", "metadata/annotations", false));
    specs
}

/// Reads `vars` and ties each to its object in `resources` (by any of its identities);
/// `pool` gathers the vars of the whole build.
pub(crate) fn merge(
    entries: &[Value],
    resources: &mut [Resource],
    pool: &mut Vec<Var>,
    file: &RelPath,
) -> Result<(), KustomizeError> {
    if entries.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        file = %file,
        "`vars` is deprecated in kustomize; use `replacements` instead"
    );
    for entry in entries {
        let mut var: Var = serde_json::from_value(entry.clone())
            .map_err(|err| invalid_field(file, FIELD, err.to_string()))?;
        if var.fieldref.field_path.is_empty() {
            var.fieldref.field_path = "metadata.name".to_owned();
        }
        let target = var.objref.id();
        let strict = !target.namespace.is_empty() || target.gvk.is_cluster_scoped();
        let matched: Vec<usize> = resources
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.all_ids().iter().any(|id| {
                    id.gvk == target.gvk
                        && id.name == target.name
                        && (!strict || id.ns_equals(&target))
                })
            })
            .map(|(i, _)| i)
            .collect();
        if matched.len() > 1 {
            return Err(invalid_field(
                file,
                FIELD,
                format!("found {} objects for var {:?}", matched.len(), var.name),
            ));
        }
        if let Some(index) = matched.first() {
            resources[*index].ref_vars.push(var.name.clone());
        }
        match pool.iter().find(|v| v.name == var.name) {
            Some(existing) if *existing != var => {
                return Err(invalid_field(
                    file,
                    FIELD,
                    format!("var {:?} is already defined differently", var.name),
                ));
            }
            Some(_) => {}
            None => pool.push(var),
        }
    }
    Ok(())
}

/// Reads a field by a dotted path (`spec.ports[0].port`).
fn field_value<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = obj;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.strip_suffix(']')?.parse::<usize>().ok()),
            None => (part, None),
        };
        if !name.is_empty() {
            node = node.get(name)?;
        }
        if let Some(index) = index {
            node = node.get(index)?;
        }
    }
    Some(node)
}

/// Replaces `$(VAR)` references in `text`; a text that is exactly one reference takes the
/// value itself.
fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<Value>, used: &mut Vec<String>) -> Value {
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match lookup(name) {
                Some(value) => {
                    used.push(name.to_owned());
                    if text.len() == name.len() + 3 {
                        return value;
                    }
                    match value {
                        Value::String(s) => out.push_str(&s),
                        other => out.push_str(&other.to_string()),
                    }
                }
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Value::String(out)
}

/// Resolves the vars at the top of a build: reads each var's value, then replaces the
/// references in every object.
pub(crate) fn resolve(
    pool: &[Var],
    specs: &[FieldSpec],
    resources: &mut [Resource],
    file: &RelPath,
) -> Result<(), KustomizeError> {
    if pool.is_empty() {
        return Ok(());
    }
    let mut values: Vec<(String, Value)> = Vec::new();
    for var in pool {
        let holder = resources
            .iter()
            .find(|r| r.ref_vars.contains(&var.name))
            .ok_or_else(|| {
                transform_error(
                    file,
                    FIELD,
                    format!(
                        "var {:?} cannot be mapped to a field of any object",
                        var.name
                    ),
                )
            })?;
        let value = field_value(&holder.obj, &var.fieldref.field_path)
            .filter(|v| !v.is_object() && !v.is_array() && !v.is_null())
            .ok_or_else(|| {
                transform_error(
                    file,
                    FIELD,
                    format!(
                        "var {:?}: field {:?} not found in {}",
                        var.name,
                        var.fieldref.field_path,
                        holder.cur_id()
                    ),
                )
            })?;
        values.push((var.name.clone(), value.clone()));
    }
    let lookup = |name: &str| {
        values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut used = Vec::new();
    for res in resources.iter_mut() {
        let gvk = res.gvk();
        for spec in specs {
            fieldspec::apply(&mut res.obj, &gvk, spec, CreateKind::Nothing, &mut |node| {
                substitute(node, &lookup, &mut used)
            })
            .map_err(|reason| {
                transform_error(file, FIELD, format!("{}: {reason}", res.cur_id()))
            })?;
        }
    }
    let unused: Vec<&str> = values
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !used.iter().any(|u| u == n))
        .collect();
    if !unused.is_empty() {
        tracing::warn!(file = %file, vars = %unused.join(","), "vars that were never used");
    }
    Ok(())
}

fn substitute(
    node: &mut Value,
    lookup: &dyn Fn(&str) -> Option<Value>,
    used: &mut Vec<String>,
) -> Result<(), String> {
    match node {
        Value::String(text) => {
            *node = expand(text, lookup, used);
            Ok(())
        }
        Value::Object(map) => {
            for value in map.values_mut() {
                if let Value::String(text) = value {
                    *value = expand(text, lookup, used);
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                if let Value::String(text) = item {
                    *item = expand(text, lookup, used);
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_expand_and_whole_references_keep_their_type() {
        let lookup = |name: &str| match name {
            "PORT" => Some(json!(8080)),
            "HOST" => Some(json!("web")),
            _ => None,
        };
        let mut used = Vec::new();
        assert_eq!(expand("$(PORT)", &lookup, &mut used), json!(8080));
        assert_eq!(
            expand(
                "http://$(HOST):$(PORT)/$(NOPE) $$(HOST)",
                &lookup,
                &mut used
            ),
            json!("http://web:8080/$(NOPE) $(HOST)")
        );
        assert_eq!(used, ["PORT", "HOST", "PORT"]);
    }

    #[test]
    fn field_paths_read_lists() {
        let obj = json!({"spec": {"ports": [{"port": 80}]}});
        assert_eq!(field_value(&obj, "spec.ports[0].port"), Some(&json!(80)));
        assert_eq!(field_value(&obj, "spec.missing"), None);
    }
}
