//! Argo CD `ApplicationSet`: a git directories generator becomes one Tether app generator
//! (the same `{{path}}`, `{{path.basename}}`, `{{path[n]}}` templates), a list generator one
//! app per element, a git files generator one app per file ([`super::appset_files`]). Other
//! generators, Go templates and several generators are errors.

use super::argocd::app;
use super::{Found, ImportedApp, ImportedDirectory, MigrateError, Outcome, describe};
use crate::tree::Tree;
use serde_json::Value;

fn unmappable(object: &Found, field: &str, problem: &str) -> MigrateError {
    MigrateError::Unmappable {
        object: describe(&object.value),
        file: object.file.clone(),
        field: field.to_owned(),
        problem: problem.to_owned(),
    }
}

/// Maps one ApplicationSet into `outcome`.
pub(super) fn map(object: &Found, tree: Option<&Tree>, outcome: &mut Outcome) {
    if let Err(err) = map_inner(object, tree, outcome) {
        outcome.errors.push(err);
    }
}

fn map_inner(
    object: &Found,
    tree: Option<&Tree>,
    outcome: &mut Outcome,
) -> Result<(), MigrateError> {
    let spec = object.value["spec"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for field in spec.keys() {
        match field.as_str() {
            "generators" | "template" => {}
            "goTemplate" if spec[field] == Value::Bool(false) => {}
            other => {
                return Err(unmappable(
                    object,
                    &format!("spec.{other}"),
                    "not supported yet",
                ));
            }
        }
    }
    let generators = spec.get("generators").and_then(Value::as_array);
    let [generator] = generators.map(Vec::as_slice).unwrap_or_default() else {
        return Err(unmappable(
            object,
            "spec.generators",
            "exactly one generator is supported",
        ));
    };
    let template = spec.get("template").cloned().unwrap_or(Value::Null);
    if let Some(list) = generator.get("list") {
        let elements = list["elements"].as_array().cloned().unwrap_or_default();
        for (index, element) in elements.iter().enumerate() {
            let value = substitute(&template, element).ok_or_else(|| {
                unmappable(
                    object,
                    &format!("spec.generators[0].list.elements[{index}]"),
                    "not a mapping of strings",
                )
            })?;
            let app = app(&synthetic(object, &value), outcome).map_err(|e| templated(object, e))?;
            outcome.imported.apps.push(app);
        }
        return Ok(());
    }
    if let (Some(git), Some(tree)) = (generator.get("git"), tree)
        && git.get("files").is_some()
    {
        return super::appset_files::map(object, git, &template, tree, outcome);
    }
    git_directories(object, generator, &template, outcome)
}

/// A git directories generator: one Tether app generator.
fn git_directories(
    object: &Found,
    generator: &Value,
    template: &Value,
    outcome: &mut Outcome,
) -> Result<(), MigrateError> {
    let Some(git) = generator.get("git") else {
        return Err(unmappable(
            object,
            "spec.generators[0]",
            "only list and git directories generators are supported",
        ));
    };
    if git.get("files").is_some() {
        return Err(unmappable(
            object,
            "spec.generators[0].git.files",
            "not supported yet",
        ));
    }
    let mut directories = Vec::new();
    for (index, dir) in git["directories"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(path) = dir["path"].as_str() else {
            return Err(unmappable(
                object,
                &format!("spec.generators[0].git.directories[{index}].path"),
                "missing",
            ));
        };
        directories.push((path.to_owned(), dir["exclude"].as_bool() == Some(true)));
    }
    if template["spec"]["source"]["path"].as_str() != Some("{{path}}") {
        return Err(unmappable(
            object,
            "spec.template.spec.source.path",
            "must be {{path}}",
        ));
    }
    if template["spec"]["source"]["repoURL"] != git["repoURL"] {
        return Err(unmappable(
            object,
            "spec.template.spec.source.repoURL",
            "must be the generator's repoURL",
        ));
    }
    let mut value = template.clone();
    value["spec"]["source"]["path"] = Value::String(".".to_owned());
    value["spec"]["source"]["targetRevision"] = git["revision"].clone();
    let mapped: ImportedApp =
        app(&synthetic(object, &value), outcome).map_err(|e| templated(object, e))?;
    let name = template["metadata"]["name"]
        .as_str()
        .unwrap_or("{{path.basename}}");
    let mut rules: Vec<ImportedDirectory> = Vec::new();
    for (path, exclude) in directories {
        rules.push(ImportedDirectory { path, exclude });
    }
    outcome.imported.apps.push(ImportedApp {
        directories: rules,
        name: name.to_owned(),
        ..mapped
    });
    Ok(())
}

/// The template as an Application named after the ApplicationSet, for [`app`].
pub(super) fn synthetic(object: &Found, template: &Value) -> Found {
    let mut value = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": template["metadata"]["name"].clone(), "namespace": object.namespace()},
        "spec": template["spec"].clone(),
    });
    if value["metadata"]["name"].is_null() {
        value["metadata"]["name"] = Value::String(object.name().to_owned());
    }
    Found {
        file: object.file.clone(),
        value,
    }
}

/// An error of the template, named after the ApplicationSet and `spec.template.`.
pub(super) fn templated(object: &Found, error: MigrateError) -> MigrateError {
    match error {
        MigrateError::Unmappable { field, problem, .. } => MigrateError::Unmappable {
            object: describe(&object.value),
            file: object.file.clone(),
            field: format!("spec.template.{field}"),
            problem,
        },
        other => other,
    }
}

/// `{{key}}` of every string of `template` replaced by the element's value.
pub(super) fn substitute(template: &Value, element: &Value) -> Option<Value> {
    let element = element.as_object()?;
    let mut text = template.to_string();
    for (key, value) in element {
        let value = value.as_str()?;
        let quoted = serde_json::to_string(value).ok()?;
        text = text.replace(&format!("{{{{{key}}}}}"), quoted.trim_matches('"'));
    }
    serde_json::from_str(&text).ok()
}
