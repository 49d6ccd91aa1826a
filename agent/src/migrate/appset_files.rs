//! Argo CD's ApplicationSet git files generator: every file of the repository matching a
//! `files[].path` glob (JSON or YAML; a list makes one parameter set per element) gives one
//! app, its template filled with the file's keys flattened with dots (`{{cluster.name}}`,
//! lists by index: `{{hosts.0}}`) and the path parameters `{{path}}` (the file's directory),
//! `{{path.basename}}`, `{{path.basenameNormalized}}`, `{{path.filename}}`,
//! `{{path.filenameNormalized}}`, `{{path[n]}}`. Matching is Argo CD's: `*` does not cross
//! `/`, `**` does.

use super::{Found, MigrateError, Outcome};
use crate::tree::{EntryKind, RelPath, Tree};
use globset::{GlobBuilder, GlobMatcher};
use serde_json::{Map, Value};

/// The most files one generator reads.
const MAX_FILES: usize = 1_000;
/// The deepest directory walked.
const MAX_DEPTH: usize = 32;

/// The parameter sets of a git files generator, one per matching file (or list element).
pub(super) fn parameter_sets(
    object: &Found,
    git: &Value,
    tree: &Tree,
) -> Result<Vec<Map<String, Value>>, MigrateError> {
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    for (index, entry) in git["files"].as_array().into_iter().flatten().enumerate() {
        let field = format!("spec.generators[0].git.files[{index}].path");
        let pattern = entry["path"]
            .as_str()
            .ok_or_else(|| super::argocd::unmappable(object, &field, "missing"))?;
        let matcher = glob(pattern)
            .ok_or_else(|| super::argocd::unmappable(object, &field, "not a valid glob"))?;
        if entry["exclude"] == Value::Bool(true) {
            exclude.push(matcher);
        } else {
            include.push(matcher);
        }
    }
    let mut files = Vec::new();
    walk(tree, &RelPath::root(), 0, &mut files);
    files.retain(|f| {
        include.iter().any(|g| g.is_match(f.as_str()))
            && !exclude.iter().any(|g| g.is_match(f.as_str()))
    });
    if files.len() > MAX_FILES {
        return Err(super::argocd::unmappable(
            object,
            "spec.generators[0].git.files",
            &format!("matches more than {MAX_FILES} files"),
        ));
    }
    let mut sets = Vec::new();
    for file in files {
        let refuse = |problem: String| MigrateError::ReadFailed {
            file: file.to_string(),
            message: problem,
        };
        let text = tree
            .read_to_string(&file)
            .map_err(|e| refuse(e.to_string()))?;
        let values = crate::render::yaml::parse_values(&text, &Default::default())
            .map_err(|e| refuse(e.to_string()))?;
        let elements: Vec<Value> = match values.into_iter().next() {
            Some(Value::Array(items)) => items,
            Some(value) => vec![value],
            None => vec![Value::Object(Map::new())],
        };
        for element in elements {
            let mut params = Map::new();
            flatten("", &element, &mut params);
            path_params(&file, &mut params);
            sets.push(params);
        }
    }
    Ok(sets)
}

fn glob(pattern: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern.trim_start_matches("./"))
        .literal_separator(true)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

fn walk(tree: &Tree, dir: &RelPath, depth: usize, files: &mut Vec<RelPath>) {
    if depth > MAX_DEPTH || files.len() > MAX_FILES {
        return;
    }
    for entry in tree.list(dir).into_iter().flatten() {
        if entry.name.starts_with('.') {
            continue;
        }
        match entry.kind {
            EntryKind::Dir => walk(tree, &entry.path, depth + 1, files),
            EntryKind::File => files.push(entry.path),
        }
    }
}

/// Nested keys joined with dots, list items by index; scalars as text.
fn flatten(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&key(&i.to_string()), v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_owned(), Value::String(s.clone()));
        }
        Value::Null => {
            out.insert(prefix.to_owned(), Value::String(String::new()));
        }
        other => {
            out.insert(prefix.to_owned(), Value::String(other.to_string()));
        }
    }
}

/// Argo CD's normalisation: anything but letters, digits, '-' and '.' becomes '-'.
fn normalized(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn path_params(file: &RelPath, params: &mut Map<String, Value>) {
    let dir = file.parent().map(|p| p.to_string()).unwrap_or_default();
    let dir = if dir.is_empty() { ".".to_owned() } else { dir };
    let basename = dir.rsplit('/').next().unwrap_or_default().to_owned();
    let filename = file.file_name().unwrap_or_default().to_owned();
    let mut set = |k: &str, v: String| {
        params.insert(k.to_owned(), Value::String(v));
    };
    set("path.basenameNormalized", normalized(&basename));
    set("path.filenameNormalized", normalized(&filename));
    set("path.basename", basename);
    set("path.filename", filename);
    for (i, part) in dir.split('/').enumerate() {
        set(&format!("path[{i}]"), part.to_owned());
    }
    set("path", dir);
}

/// Maps a git files generator: one app per parameter set.
pub(super) fn map(
    object: &Found,
    git: &Value,
    template: &Value,
    tree: &Tree,
    outcome: &mut Outcome,
) -> Result<(), MigrateError> {
    for (index, params) in parameter_sets(object, git, tree)?.into_iter().enumerate() {
        let value =
            super::appset::substitute(template, &Value::Object(params)).ok_or_else(|| {
                super::argocd::unmappable(
                    object,
                    &format!("spec.generators[0].git.files (parameter set {index})"),
                    "the template does not fill",
                )
            })?;
        let app = super::argocd::app(&super::appset::synthetic(object, &value), outcome)
            .map_err(|e| super::appset::templated(object, e))?;
        outcome.imported.apps.push(app);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::migrate::{From, import};

    const APPSET: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: guestbook, namespace: argocd}
spec:
  generators:
    - git:
        repoURL: https://github.com/argoproj/argo-cd.git
        revision: HEAD
        files:
          - path: "cluster-config/**/config.json"
          - path: "cluster-config/retired/**"
            exclude: true
  template:
    metadata:
      name: '{{cluster.name}}-guestbook'
    spec:
      project: default
      source:
        repoURL: https://github.com/argoproj/argo-cd.git
        targetRevision: HEAD
        path: "apps/guestbook"
        kustomize: {commonLabels: {account: '{{aws_account}}', env: '{{path.basename}}', region: '{{regions.0}}'}}
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{path[1]}}'
      syncPolicy: {automated: {prune: true}}
"#;

    fn config(name: &str) -> String {
        format!(
            r#"{{"aws_account": 123456, "regions": ["eu-west-1"], "cluster": {{"name": "{name}", "owner": "ops"}}}}"#
        )
    }

    #[test]
    fn git_files_generator_makes_one_app_per_file_with_flattened_keys() {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("argocd/appset.yaml", APPSET);
        write(
            "cluster-config/engineering/dev/config.json",
            &config("engineering-dev"),
        );
        write(
            "cluster-config/engineering/prod/config.json",
            &config("engineering-prod"),
        );
        write("cluster-config/retired/old/config.json", &config("old"));
        write(
            "apps/guestbook/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: guestbook}\n",
        );
        let outcome = import(From::Argocd, dir.path());
        let errors: Vec<String> = outcome.errors.iter().map(ToString::to_string).collect();
        assert!(errors.is_empty(), "{errors:?}");
        let apps = &outcome.imported.apps;
        let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            ["engineering-dev-guestbook", "engineering-prod-guestbook"]
        );
        assert_eq!(apps[0].namespace.as_deref(), Some("engineering"));
        let labels = &apps[1].kustomize.as_ref().unwrap().common_labels;
        assert_eq!(labels["account"], "123456");
        assert_eq!(labels["env"], "prod");
        assert_eq!(labels["region"], "eu-west-1");
    }
}
