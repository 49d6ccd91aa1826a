//! Argo CD: `Application` objects (argoproj.io/v1alpha1) become sources and apps.
//!
//! Each distinct `repoURL` and `targetRevision` becomes a source named after the
//! repository; `HEAD` is read as `main` (a note says so). An app of apps is imported as
//! its children: an Application whose directory holds Applications is not an app itself.
//! `ApplicationSet`s are mapped by [`super::appset`].

use super::{
    Credentials, Found, ImportedApp, ImportedDirectory, ImportedSource, MigrateError, Outcome,
    clean_path, describe,
};
use crate::sync::{IgnoreRule, Target};
use crate::tree::Tree;
use serde_json::Value;

const GROUP: &str = "argoproj.io";
/// The destinations that mean the cluster the agent runs in.
const IN_CLUSTER: &[&str] = &["https://kubernetes.default.svc", "in-cluster"];

/// Maps the Argo CD objects among `found`; `tree` (the repository) is read by git files
/// generators.
#[must_use]
pub fn map(found: &[Found], tree: Option<&Tree>) -> Outcome {
    let mut outcome = Outcome::default();
    let applications: Vec<&Found> = found
        .iter()
        .filter(|f| f.group() == GROUP && f.kind() == "Application")
        .collect();
    for object in found.iter().filter(|f| f.group() == GROUP) {
        if let Some(child) = parent_of(object, &applications) {
            outcome.notes.push(format!(
                "{}: an app of apps (it holds {}): its Applications are the apps",
                describe(&object.value),
                describe(&child.value)
            ));
            continue;
        }
        match object.kind() {
            "Application" => match app(object, &mut outcome) {
                Ok(app) => outcome.imported.apps.push(app),
                Err(err) => outcome.errors.push(err),
            },
            "ApplicationSet" => super::appset::map(object, tree, &mut outcome),
            "AppProject" => outcome.notes.push(format!(
                "{}: projects are not mapped; Tether policies restrict what apps may apply",
                describe(&object.value)
            )),
            _ => outcome.errors.push(unmappable(
                object,
                "kind",
                "not supported yet (only Application and ApplicationSet)",
            )),
        }
    }
    outcome
}

/// The first Application inside the directory of Application `object`, if any.
fn parent_of<'a>(object: &Found, applications: &[&'a Found]) -> Option<&'a Found> {
    if object.kind() != "Application" {
        return None;
    }
    let path = clean_path(object.value["spec"]["source"]["path"].as_str()?)?;
    applications
        .iter()
        .find(|a| path == "." || a.file.starts_with(&format!("{path}/")))
        .copied()
}

pub(super) fn unmappable(object: &Found, field: &str, problem: &str) -> MigrateError {
    MigrateError::Unmappable {
        object: describe(&object.value),
        file: object.file.clone(),
        field: field.to_owned(),
        problem: problem.to_owned(),
    }
}

pub(super) fn app(object: &Found, outcome: &mut Outcome) -> Result<ImportedApp, MigrateError> {
    let spec = object.value["spec"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for field in spec.keys() {
        match field.as_str() {
            "project"
            | "source"
            | "sources"
            | "destination"
            | "syncPolicy"
            | "ignoreDifferences"
            | "revisionHistoryLimit"
            | "info" => {}
            other => {
                return Err(unmappable(
                    object,
                    &format!("spec.{other}"),
                    "not supported yet",
                ));
            }
        }
    }
    let (path, source_name, helm, kustomize) =
        match super::argocd_sources::rendered(object, outcome)? {
            super::argocd_sources::Rendered::Directory(source) => {
                let (path, name) = source_of(object, &source, "spec.source.", outcome)?;
                let helm = super::argocd_helm::helm(object, &source["helm"])?;
                let kustomize = if helm.is_some() {
                    None
                } else {
                    super::argocd_source::overlay(object, &source)?
                };
                (path, name, helm, kustomize)
            }
            super::argocd_sources::Rendered::Chart { path, source, helm } => {
                (path, source, Some(helm), None)
            }
        };
    let destination = &object.value["spec"]["destination"];
    let cluster = destination["server"]
        .as_str()
        .or_else(|| destination["name"].as_str());
    if let Some(cluster) = cluster.filter(|c| !IN_CLUSTER.contains(c)) {
        return Err(unmappable(
            object,
            "spec.destination",
            &format!("{cluster:?}: Tether syncs only the cluster it runs in"),
        ));
    }
    let (prune, self_heal, create_namespace) = sync_policy(object)?;
    Ok(ImportedApp {
        source: source_name,
        directories: vec![ImportedDirectory {
            path,
            exclude: false,
        }],
        name: object.name().to_owned(),
        namespace: destination["namespace"].as_str().map(str::to_owned),
        create_namespace,
        prune,
        self_heal,
        ignore: ignore_rules(object)?,
        kustomize,
        helm,
        post_build: None,
        suspend: false,
        depends_on: Vec::new(),
        health: None,
    })
}

/// The app's directory and the name of its source (added to `outcome` when new); `prefix`
/// names the source's fields in errors (`spec.source.`).
pub(super) fn source_of(
    object: &Found,
    source: &Value,
    prefix: &str,
    outcome: &mut Outcome,
) -> Result<(String, String), MigrateError> {
    let Some(fields) = source.as_object() else {
        return Err(unmappable(object, prefix.trim_end_matches('.'), "missing"));
    };
    for field in fields.keys() {
        match field.as_str() {
            "repoURL" | "path" | "targetRevision" | "directory" | "kustomize" | "helm" | "ref" => {}
            other => {
                return Err(unmappable(
                    object,
                    &format!("{prefix}{other}"),
                    "not supported yet",
                ));
            }
        }
    }
    let Some(url) = source["repoURL"].as_str() else {
        return Err(unmappable(object, &format!("{prefix}repoURL"), "missing"));
    };
    let Some(path) = clean_path(source["path"].as_str().unwrap_or(".")) else {
        return Err(unmappable(
            object,
            &format!("{prefix}path"),
            "leaves the repository",
        ));
    };
    let revision = source["targetRevision"].as_str().unwrap_or("HEAD");
    let reference = if revision.is_empty() || revision == "HEAD" {
        outcome.notes.push(format!(
            "{}: spec.source.targetRevision {revision:?} read as branch main",
            describe(&object.value)
        ));
        "main".to_owned()
    } else if revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit()) {
        format!("commit:{revision}")
    } else {
        revision.to_owned()
    };
    let sources = &mut outcome.imported.sources;
    if let Some(s) = sources
        .iter()
        .find(|s| s.url == url && s.reference == reference)
    {
        return Ok((path, s.name.clone()));
    }
    let base = url
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("source")
        .to_ascii_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-");
    let mut name = base.clone();
    let mut n = 2;
    while sources.iter().any(|s| s.name == name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    sources.push(ImportedSource {
        name: name.clone(),
        url: url.to_owned(),
        reference,
        interval: "3m".to_owned(),
        credentials: Credentials::default(),
        ignore: None,
    });
    Ok((path, name))
}

/// `(prune, selfHeal, createNamespace)` of the sync policy.
fn sync_policy(object: &Found) -> Result<(bool, bool, bool), MigrateError> {
    let policy = &object.value["spec"]["syncPolicy"];
    let automated = &policy["automated"];
    if !automated.is_object() || automated["enabled"].as_bool() == Some(false) {
        return Err(unmappable(
            object,
            "spec.syncPolicy.automated",
            "absent: a manual sync has no Tether equivalent (Tether syncs every commit)",
        ));
    }
    let mut prune = automated["prune"].as_bool().unwrap_or(false);
    let self_heal = automated["selfHeal"].as_bool().unwrap_or(false);
    let mut create_namespace = false;
    for (index, option) in policy["syncOptions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        match option.as_str().unwrap_or_default() {
            "CreateNamespace=true" => create_namespace = true,
            "CreateNamespace=false" | "Prune=true" => {}
            "Prune=false" => prune = false,
            // Tether always applies server-side, prunes last and applies only what changed.
            "ServerSideApply=true" | "PruneLast=true" | "ApplyOutOfSyncOnly=true" => {}
            other => {
                return Err(unmappable(
                    object,
                    &format!("spec.syncPolicy.syncOptions[{index}]"),
                    &format!("{other:?} is not supported"),
                ));
            }
        }
    }
    Ok((prune, self_heal, create_namespace))
}

fn ignore_rules(object: &Found) -> Result<Vec<IgnoreRule>, MigrateError> {
    let mut rules = Vec::new();
    let list = object.value["spec"]["ignoreDifferences"].as_array();
    for (index, entry) in list.into_iter().flatten().enumerate() {
        let field = |f: &str| format!("spec.ignoreDifferences[{index}].{f}");
        let mut paths = Vec::new();
        let mut managers = Vec::new();
        for (key, value) in entry.as_object().into_iter().flatten() {
            match key.as_str() {
                "group" | "kind" | "name" | "namespace" => {}
                "jsonPointers" => paths.extend(strings(value).map(str::to_owned)),
                "managedFieldsManagers" => {
                    let names = value.as_array().filter(|list| {
                        list.iter()
                            .all(|m| m.as_str().is_some_and(|m| !m.trim().is_empty()))
                    });
                    let Some(names) = names else {
                        return Err(unmappable(
                            object,
                            &field("managedFieldsManagers"),
                            "not a list of manager names",
                        ));
                    };
                    managers.extend(names.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                "jqPathExpressions" => {
                    for expr in strings(value) {
                        let Some(pointer) = jq_path(expr) else {
                            return Err(unmappable(
                                object,
                                &field("jqPathExpressions"),
                                &format!(
                                    "{expr:?}: only plain paths (.spec.replicas) are supported"
                                ),
                            ));
                        };
                        paths.push(pointer);
                    }
                }
                other => {
                    return Err(unmappable(object, &field(other), "not supported yet"));
                }
            }
        }
        let text = |f: &str| entry[f].as_str().map(str::to_owned);
        rules.push(IgnoreRule {
            paths,
            managed_fields_managers: managers,
            target: Some(Target {
                group: Some(text("group").unwrap_or_default()),
                version: None,
                kind: text("kind"),
                namespace: text("namespace"),
                name: text("name"),
            }),
        });
    }
    Ok(rules)
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// A jq path made only of field names (`.spec.replicas`, `.metadata.labels["a/b"]`) as a
/// JSON pointer; `None` for anything else (filters, wildcards, indexes).
fn jq_path(expr: &str) -> Option<String> {
    let mut rest = expr.trim();
    let mut pointer = String::new();
    while !rest.is_empty() {
        rest = rest.strip_prefix('.')?;
        let (key, after) = if let Some(quoted) = rest.strip_prefix("[\"") {
            let end = quoted.find("\"]")?;
            (&quoted[..end], &quoted[end + 2..])
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let key = &rest[..end];
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            (key, &rest[end..])
        };
        if key.is_empty() {
            return None;
        }
        pointer.push('/');
        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
        rest = after;
        if rest.starts_with('[') && !rest.starts_with("[\"") {
            return None;
        }
        if let Some(quoted) = rest.strip_prefix("[\"") {
            rest = quoted;
            let end = rest.find("\"]")?;
            pointer.push('/');
            pointer.push_str(&rest[..end].replace('~', "~0").replace('/', "~1"));
            rest = &rest[end + 2..];
        }
    }
    (!pointer.is_empty()).then_some(pointer)
}
