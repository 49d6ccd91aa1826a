//! `namePrefix` / `nameSuffix`, and the name-reference fix-ups that run once at the top of a
//! build: every field that names another object of the build (see [`super::builtin_refs`],
//! extended by `crds`) is rewritten to that object's final name (and, for references that
//! carry one, namespace), choosing the object the way kustomize does: by previous name and
//! type, then namespace, then matching prefixes and suffixes.

use super::config::TransformerConfig;
use super::fieldspec::{self, CreateKind, FieldSpec};
use super::{Gvk, KustomizeError, ResId, Resource, builtin_refs, transform_error};
use crate::render::yaml::{self, ParseOptions};
use crate::tree::RelPath;
use serde_json::{Map, Value};

/// One referring field and the type it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameBackRef {
    pub(crate) referral: Gvk,
    pub(crate) referrer: FieldSpec,
}

/// The built-in name references.
pub(crate) fn default_name_references() -> Vec<NameBackRef> {
    // Built once: every kustomization of a render starts from this table.
    static TABLE: std::sync::LazyLock<Vec<NameBackRef>> =
        std::sync::LazyLock::new(builtin_refs::name_references);
    TABLE.clone()
}

/// Kinds that never get a prefix or suffix.
fn skipped(id: &ResId) -> bool {
    let kind = id.gvk.kind.as_str();
    kind == "CustomResourceDefinition"
        || kind == "Namespace"
        || (kind == "APIService" && id.gvk.group == "apiregistration.k8s.io")
}

fn rename(
    resources: &mut [Resource],
    specs: &[FieldSpec],
    file: &RelPath,
    field: &str,
    affix: &str,
    is_prefix: bool,
) -> Result<(), KustomizeError> {
    for res in resources.iter_mut() {
        let org = res.org_id();
        if skipped(&org) {
            continue;
        }
        for spec in specs {
            if !org.gvk.is_selected_by(&spec.gvk) {
                continue;
            }
            if spec.path == "metadata/name" {
                if is_prefix {
                    res.prefixes.push(affix.to_owned());
                } else {
                    res.suffixes.push(affix.to_owned());
                }
                res.store_previous_id();
            }
            let gvk = res.gvk();
            fieldspec::apply(&mut res.obj, &gvk, spec, CreateKind::Nothing, &mut |node| {
                let current = match node {
                    Value::String(s) => s.clone(),
                    Value::Null => return Ok(()),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return Err("expected a scalar".to_owned()),
                };
                *node = Value::String(if is_prefix {
                    format!("{affix}{current}")
                } else {
                    format!("{current}{affix}")
                });
                Ok(())
            })
            .map_err(|reason| transform_error(file, field, format!("{}: {reason}", org)))?;
        }
    }
    Ok(())
}

/// Applies `namePrefix`.
pub(crate) fn apply_prefix(
    prefix: &str,
    specs: &[FieldSpec],
    resources: &mut [Resource],
    file: &RelPath,
) -> Result<(), KustomizeError> {
    rename(resources, specs, file, "namePrefix", prefix, true)
}

/// Applies `nameSuffix`.
pub(crate) fn apply_suffix(
    suffix: &str,
    specs: &[FieldSpec],
    resources: &mut [Resource],
    file: &RelPath,
) -> Result<(), KustomizeError> {
    rename(resources, specs, file, "nameSuffix", suffix, false)
}

/// What the fix-ups need to know about each object of the build.
struct Candidate {
    cur: ResId,
    prev: Vec<ResId>,
    org_namespace: String,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl Candidate {
    fn of(res: &Resource) -> Self {
        Self {
            cur: res.cur_id(),
            prev: res.prev_ids(),
            org_namespace: res.org_id().namespace,
            prefixes: res.prefixes.clone(),
            suffixes: res.suffixes.clone(),
        }
    }
}

/// Whether the shorter list is the end of the longer one.
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long[long.len() - short.len()..] == *short
}

fn affixes_equal(c: &Candidate, referrer: &Candidate, allow_empty: bool) -> bool {
    let prefix_ok = (allow_empty && (c.prefixes.is_empty() || referrer.prefixes.is_empty()))
        || same_ending(&c.prefixes, &referrer.prefixes);
    let suffix_ok = (allow_empty && (c.suffixes.is_empty() || referrer.suffixes.is_empty()))
        || same_ending(&c.suffixes, &referrer.suffixes);
    prefix_ok && suffix_ok
}

struct Referrer<'a> {
    me: &'a Candidate,
    role_ref: Option<Gvk>,
    rule: &'a NameBackRef,
    candidates: Vec<&'a Candidate>,
}

impl Referrer<'_> {
    fn select<'c>(
        &self,
        old_name: &str,
        candidates: &[&'c Candidate],
        same_namespace_too: bool,
    ) -> Result<Option<&'c Candidate>, String> {
        let role_ref = if self.rule.referrer.path.ends_with("roleRef/name") {
            self.role_ref.as_ref()
        } else {
            None
        };
        let mut found: Vec<&Candidate> = candidates
            .iter()
            .copied()
            .filter(|c| c.prev.iter().any(|id| id.name == old_name))
            .filter(|c| {
                c.prev
                    .iter()
                    .any(|id| id.gvk.is_selected_by(&self.rule.referral))
            })
            .filter(|c| {
                role_ref.is_none_or(|gvk| c.prev.iter().any(|id| id.gvk.is_selected_by(gvk)))
            })
            .filter(|c| {
                self.me.cur.gvk.is_cluster_scoped()
                    || c.cur.gvk.is_cluster_scoped()
                    || c.cur.gvk.kind == "ServiceAccount"
                    || self.me.cur.ns_equals(&c.cur)
            })
            .collect();
        if found.len() == 1 {
            return Ok(found.pop());
        }
        found.retain(|c| affixes_equal(c, self.me, true));
        if found.len() > 1 {
            found.retain(|c| affixes_equal(c, self.me, false));
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => {
                let first = found[0];
                let identical = found.iter().all(|c| {
                    c.cur.name == first.cur.name
                        && (!same_namespace_too || c.cur.namespace == first.cur.namespace)
                });
                if identical {
                    Ok(Some(first))
                } else {
                    let ids: Vec<String> = found.iter().map(|c| c.cur.to_string()).collect();
                    Err(format!(
                        "found multiple possible referrals: {}",
                        ids.join(", ")
                    ))
                }
            }
        }
    }

    fn set_scalar(&self, node: &mut Value) -> Result<(), String> {
        let old = match node {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Ok(()),
        };
        if let Some(referral) = self.select(&old, &self.candidates, false)?
            && referral.cur.name != old
        {
            *node = Value::String(referral.cur.name.clone());
        }
        Ok(())
    }

    fn set_mapping(&self, map: &mut Map<String, Value>) -> Result<(), String> {
        let Some(old) = map.get("name").map(|n| match n {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }) else {
            return Err("no `name` field in the reference".to_owned());
        };
        let candidates: Vec<&Candidate> = match map.get("namespace") {
            None => self.candidates.clone(),
            Some(ns) => {
                let ns = ns.as_str().unwrap_or("");
                let by_org: Vec<&Candidate> = self
                    .candidates
                    .iter()
                    .copied()
                    .filter(|c| c.org_namespace == ns)
                    .collect();
                if by_org.is_empty() {
                    self.candidates
                        .iter()
                        .copied()
                        .filter(|c| c.cur.namespace == ns)
                        .collect()
                } else {
                    by_org
                }
            }
        };
        let Some(referral) = self.select(&old, &candidates, true)? else {
            return Ok(());
        };
        if referral.cur.name == old && referral.cur.namespace.is_empty() {
            return Ok(());
        }
        map.insert("name".to_owned(), Value::String(referral.cur.name.clone()));
        if !referral.cur.namespace.is_empty() {
            map.insert(
                "namespace".to_owned(),
                Value::String(referral.cur.namespace.clone()),
            );
        }
        Ok(())
    }

    fn set(&self, node: &mut Value) -> Result<(), String> {
        match node {
            Value::Null => Ok(()),
            Value::Object(map) => self.set_mapping(map),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Object(map) => self.set_mapping(map)?,
                        Value::Array(_) => {
                            return Err("a reference must be a scalar or a mapping".to_owned());
                        }
                        scalar => self.set_scalar(scalar)?,
                    }
                }
                Ok(())
            }
            scalar => self.set_scalar(scalar),
        }
    }
}

/// Namespaces a RoleBinding's ServiceAccount subjects live in.
fn role_binding_namespaces(res: &Resource) -> Vec<String> {
    if res.kind() != "RoleBinding" {
        return Vec::new();
    }
    let Some(Value::Array(subjects)) = res.obj.get("subjects") else {
        return Vec::new();
    };
    subjects
        .iter()
        .filter(|s| s.get("kind").and_then(Value::as_str) == Some("ServiceAccount"))
        .filter_map(|s| {
            s.get("namespace")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// Rewrites every name reference to follow renamed objects.
pub(crate) fn fix_references(
    resources: &mut [Resource],
    rules: &[NameBackRef],
    file: &RelPath,
) -> Result<(), KustomizeError> {
    let infos: Vec<Candidate> = resources.iter().map(Candidate::of).collect();
    for (index, res) in resources.iter_mut().enumerate() {
        let me = &infos[index];
        let org = res.org_id();
        let applicable: Vec<&NameBackRef> = rules
            .iter()
            .filter(|rule| org.gvk.is_selected_by(&rule.referrer.gvk))
            .collect();
        if applicable.is_empty() {
            continue;
        }
        let binding_namespaces = role_binding_namespaces(res);
        let candidates: Vec<&Candidate> = infos
            .iter()
            .filter(|c| {
                me.cur.gvk.is_cluster_scoped()
                    || c.cur.gvk.is_cluster_scoped()
                    || c.cur.ns_equals(&me.cur)
                    || binding_namespaces.contains(&c.cur.namespace)
            })
            .collect();
        let gvk = res.gvk();
        let role_ref = res.obj.get("roleRef").and_then(|r| {
            let group = r.get("apiGroup").and_then(Value::as_str)?;
            let kind = r.get("kind").and_then(Value::as_str)?;
            Some(Gvk {
                group: group.to_owned(),
                version: String::new(),
                kind: kind.to_owned(),
            })
        });
        for rule in applicable {
            let referrer = Referrer {
                me,
                role_ref: role_ref.clone(),
                rule,
                candidates: candidates.clone(),
            };
            fieldspec::apply(
                &mut res.obj,
                &gvk,
                &rule.referrer,
                CreateKind::Nothing,
                &mut |node| referrer.set(node),
            )
            .map_err(|reason| {
                transform_error(file, "name references", format!("{}: {reason}", me.cur))
            })?;
        }
    }
    Ok(())
}

/// Reads the transformer configuration that a `crds` OpenAPI definitions file declares
/// (`x-kubernetes-object-ref-*`, `x-kubernetes-annotation`, `x-kubernetes-label-selector`,
/// `x-kubernetes-identity`).
pub(crate) fn config_from_crd_schema(
    path: &RelPath,
    text: &str,
    limits: &ParseOptions,
) -> Result<TransformerConfig, KustomizeError> {
    let value = yaml::parse_one(text, limits).map_err(|err| KustomizeError::ParseFailed {
        path: path.to_string(),
        message: err.to_string(),
    })?;
    let Value::Object(definitions) = value else {
        return Err(KustomizeError::ParseFailed {
            path: path.to_string(),
            message: "expected a mapping of OpenAPI definitions".to_owned(),
        });
    };
    let mut config = TransformerConfig::empty();
    for (name, _) in &definitions {
        let Some(props) = properties(&definitions, name) else {
            continue;
        };
        if !(props.contains_key("kind")
            && props.contains_key("apiVersion")
            && props.contains_key("metadata"))
        {
            continue;
        }
        let kind = name.rsplit('.').next().unwrap_or(name);
        let gvk = Gvk {
            kind: kind.to_owned(),
            ..Gvk::default()
        };
        load_definition(&definitions, name, &gvk, &mut Vec::new(), &mut config, 0);
    }
    Ok(config)
}

fn properties<'a>(
    definitions: &'a Map<String, Value>,
    name: &str,
) -> Option<&'a Map<String, Value>> {
    let api = definitions.get(name)?;
    let schema = api.get("Schema").or_else(|| api.get("schema"))?;
    schema.get("properties")?.as_object()
}

fn load_definition(
    definitions: &Map<String, Value>,
    name: &str,
    gvk: &Gvk,
    path: &mut Vec<String>,
    config: &mut TransformerConfig,
    depth: usize,
) {
    // Definitions may refer to each other in cycles; the depth bounds the walk.
    if depth > 32 {
        return;
    }
    let Some(props) = properties(definitions, name) else {
        return;
    };
    let spec = |parts: &[String]| FieldSpec {
        gvk: gvk.clone(),
        path: parts.join("/"),
        create: false,
    };
    for (prop, schema) in props {
        path.push(prop.clone());
        let ext = |key: &str| schema.get(key).and_then(Value::as_str);
        if ext("x-kubernetes-annotation").is_some() {
            config.common_annotations.push(spec(path));
        }
        if ext("x-kubernetes-label-selector").is_some() {
            config.common_labels.push(spec(path));
        }
        if ext("x-kubernetes-identity").is_some() {
            config.name_prefix.push(spec(path));
        }
        if let (Some(version), Some(kind)) = (
            ext("x-kubernetes-object-ref-api-version"),
            ext("x-kubernetes-object-ref-kind"),
        ) {
            let key = ext("x-kubernetes-object-ref-name-key").unwrap_or("name");
            let mut parts = path.clone();
            parts.push(key.to_owned());
            config.name_reference.push(NameBackRef {
                referral: Gvk {
                    group: String::new(),
                    version: version.to_owned(),
                    kind: kind.to_owned(),
                },
                referrer: spec(&parts),
            });
        }
        if let Some(reference) = ext("$ref") {
            load_definition(definitions, reference, gvk, path, config, depth + 1);
        }
        path.pop();
    }
}
