//! Flux: `GitRepository` (source.toolkit.fluxcd.io) and `Kustomization`
//! (kustomize.toolkit.fluxcd.io/v1) objects become sources and apps.
//!
//! The bootstrap Kustomization (the one whose path holds a `flux-system` directory, as
//! `flux bootstrap` lays `clusters/<name>` out) is not an app: Tether reads the
//! Kustomizations it would apply instead. `dependsOn` orders the printed apps (dependencies
//! first); `interval` and `retryInterval` become notes, since Tether syncs on every fetch
//! and heals drift continuously; `wait`, `healthChecks` and `timeout` become the app's
//! `health:` block ([`super::health`]).

use super::overlay::Overlay;
use super::postbuild::PostBuild;
use super::{
    Credentials, Found, ImportedApp, ImportedDirectory, ImportedSource, MigrateError, Outcome,
    clean_path, describe,
};
use serde_json::Value;
use std::collections::BTreeMap;

const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// Fields of a Kustomization's spec that Tether cannot honour yet.
const UNSUPPORTED: &[&str] = &["force", "kubeConfig"];
/// Fields accepted and reported as notes.
const NOTED: &[&str] = &["interval", "retryInterval"];

/// Maps the Flux objects among `found`.
#[must_use]
pub fn map(found: &[Found]) -> Outcome {
    let mut outcome = Outcome::default();
    let mut sources = BTreeMap::new();
    for object in found.iter().filter(|f| f.group() == SOURCE_GROUP) {
        match object.kind() {
            "GitRepository" => match source(object, &mut outcome.notes) {
                Ok(s) => {
                    sources.insert(key(object.namespace(), object.name()), s);
                }
                Err(err) => outcome.errors.push(err),
            },
            // Read by the agent from the app that holds them (with their HelmReleases).
            "HelmRepository" | "OCIRepository" => {}
            "HelmChart" => outcome.charts_refused += 1,
            _ => outcome.errors.push(unmappable(
                object,
                "kind",
                "only GitRepository sources can be imported",
            )),
        }
    }
    let bootstrap_dirs: Vec<String> = found
        .iter()
        .filter(|f| f.file.ends_with("flux-system/gotk-sync.yaml") && f.kind() == "GitRepository")
        .filter_map(|f| f.file.strip_suffix("/flux-system/gotk-sync.yaml"))
        .map(str::to_owned)
        .collect();
    let mut apps = Vec::new();
    for object in found
        .iter()
        .filter(|f| f.group() == KUSTOMIZE_GROUP && f.kind() == "Kustomization")
    {
        let path = object.value["spec"]["path"].as_str().unwrap_or(".");
        let bootstrap = object.name() == "flux-system" && object.namespace() == "flux-system";
        if bootstrap || clean_path(path).is_some_and(|p| bootstrap_dirs.contains(&p)) {
            outcome.notes.push(format!(
                "{}: the bootstrap Kustomization; its Kustomizations are the apps",
                describe(&object.value)
            ));
            continue;
        }
        // A suspended Kustomization is a suspended app: neither synced nor pruned.
        let suspend = object.value["spec"]["suspend"].as_bool() == Some(true);
        if suspend {
            outcome.suspended.push(describe(&object.value));
        }
        match app(object, found, &sources, &mut outcome.notes) {
            Ok(mut app) => {
                app.app.suspend = suspend;
                apps.push(app);
            }
            Err(err) => outcome.errors.push(err),
        }
    }
    let keys: Vec<String> = apps.iter().map(|a| a.key.clone()).collect();
    for app in &apps {
        for dep in app.depends_on.iter().filter(|d| !keys.contains(d)) {
            outcome.notes.push(format!(
                "Kustomization {}: spec.dependsOn {dep}: not imported, so not waited for",
                app.key
            ));
        }
    }
    match order(apps) {
        Ok(apps) => outcome.imported.apps = apps.into_iter().map(|a| a.app).collect(),
        Err(err) => outcome.errors.push(err),
    }
    outcome.imported.sources = sources.into_values().collect();
    outcome
}

fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn unmappable(object: &Found, field: &str, problem: &str) -> MigrateError {
    MigrateError::Unmappable {
        object: describe(&object.value),
        file: object.file.clone(),
        field: field.to_owned(),
        problem: problem.to_owned(),
    }
}

fn source(object: &Found, notes: &mut Vec<String>) -> Result<ImportedSource, MigrateError> {
    let spec = object.value["spec"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for field in spec.keys() {
        match field.as_str() {
            "url" | "ref" | "interval" | "secretRef" | "ignore" => {}
            "timeout" => notes.push(format!(
                "{}: spec.timeout: Tether uses limits.fetchTimeout",
                describe(&object.value)
            )),
            other => {
                return Err(unmappable(
                    object,
                    &format!("spec.{other}"),
                    "not supported by Tether sources",
                ));
            }
        }
    }
    let Some(url) = spec.get("url").and_then(Value::as_str) else {
        return Err(unmappable(object, "spec.url", "missing"));
    };
    let reference = reference(object, spec.get("ref"))?;
    let ignore = match spec.get("ignore") {
        None => None,
        Some(Value::String(text)) => {
            notes.push(format!(
                "{}: spec.ignore: set it as the source's ignore (with an import: entry, on the configured source)",
                describe(&object.value)
            ));
            Some(text.clone())
        }
        Some(_) => return Err(unmappable(object, "spec.ignore", "not a string")),
    };
    let credentials = match spec.get("secretRef").map(|s| &s["name"]) {
        None => Credentials::default(),
        Some(Value::String(name)) => {
            notes.push(format!(
                "{}: spec.secretRef: mount Secret {name} at /etc/tether/sources/{name}",
                describe(&object.value)
            ));
            Credentials::mounted(name, url)
        }
        Some(_) => return Err(unmappable(object, "spec.secretRef.name", "not a string")),
    };
    Ok(ImportedSource {
        name: object.name().to_owned(),
        url: url.to_owned(),
        reference,
        interval: spec
            .get("interval")
            .and_then(Value::as_str)
            .map_or_else(|| "1m".to_owned(), compact_duration),
        credentials,
        ignore,
    })
}

/// `1m0s` → `1m`, `5m30s` stays; Tether reads `h`, `m`, `s`, `ms` parts.
fn compact_duration(text: &str) -> String {
    let mut out = text.to_owned();
    for zero in ["0s", "0m"] {
        if out.len() > zero.len() && out.ends_with(zero) {
            let before = &out[..out.len() - zero.len()];
            if before.ends_with(|c: char| c.is_ascii_alphabetic()) {
                out.truncate(before.len());
            }
        }
    }
    out
}

fn reference(object: &Found, value: Option<&Value>) -> Result<String, MigrateError> {
    let Some(value) = value else {
        return Ok("master".to_owned());
    };
    let Some(map) = value.as_object() else {
        return Err(unmappable(object, "spec.ref", "not a mapping"));
    };
    // Flux's precedence: commit, then name, then semver, then tag, then branch.
    for (field, prefix) in [
        ("commit", "commit:"),
        ("semver", "semver:"),
        ("tag", "tag:"),
    ] {
        if let Some(v) = map.get(field).and_then(Value::as_str) {
            return Ok(format!("{prefix}{v}"));
        }
    }
    if map.contains_key("name") {
        return Err(unmappable(
            object,
            "spec.ref.name",
            "not supported: use branch or tag",
        ));
    }
    match map.get("branch").and_then(Value::as_str) {
        Some(branch) => Ok(branch.to_owned()),
        None => Err(unmappable(
            object,
            "spec.ref",
            "no branch, tag, semver or commit",
        )),
    }
}

struct Pending {
    app: ImportedApp,
    key: String,
    depends_on: Vec<String>,
}

fn app(
    object: &Found,
    found: &[Found],
    sources: &BTreeMap<String, ImportedSource>,
    notes: &mut Vec<String>,
) -> Result<Pending, MigrateError> {
    if !object.value["apiVersion"]
        .as_str()
        .is_some_and(|a| a.ends_with("/v1"))
    {
        return Err(unmappable(
            object,
            "apiVersion",
            "only kustomize.toolkit.fluxcd.io/v1",
        ));
    }
    let namespace = object.namespace();
    let spec = object.value["spec"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    check_fields(object, &spec, notes)?;
    let path = spec.get("path").and_then(Value::as_str).unwrap_or(".");
    let Some(path) = clean_path(path) else {
        return Err(unmappable(object, "spec.path", "leaves the repository"));
    };
    let source_ref = &object.value["spec"]["sourceRef"];
    if source_ref["kind"].as_str() != Some("GitRepository") {
        return Err(unmappable(
            object,
            "spec.sourceRef.kind",
            "only GitRepository",
        ));
    }
    let source_ns = source_ref["namespace"].as_str().unwrap_or(namespace);
    let source_name = source_ref["name"].as_str().unwrap_or_default();
    let Some(source) = sources.get(&key(source_ns, source_name)) else {
        return Err(unmappable(
            object,
            "spec.sourceRef",
            &format!("GitRepository {source_ns}/{source_name} not found or not imported"),
        ));
    };
    let decryption = &object.value["spec"]["decryption"];
    if !decryption.is_null() && decryption["provider"].as_str() != Some("sops") {
        return Err(unmappable(object, "spec.decryption.provider", "only sops"));
    }
    if let Some(secret) = decryption["secretRef"]["name"].as_str() {
        notes.push(format!(
            "{}: spec.decryption.secretRef: put the keys of Secret {secret} in keys.files",
            describe(&object.value)
        ));
    }
    let depends_on = dependencies(object, &spec, namespace)?;
    let (kustomize, post_build) = transforms(object, &spec, found)?;
    let health = super::health::from_flux(&spec)
        .map_err(|(field, problem)| unmappable(object, &field, &problem))?;
    let names: Vec<String> = depends_on
        .iter()
        .filter_map(|d| d.rsplit_once('/').map(|(_, name)| name.to_owned()))
        .collect();
    Ok(Pending {
        key: key(namespace, object.name()),
        depends_on,
        app: ImportedApp {
            source: source.name.clone(),
            directories: vec![ImportedDirectory {
                path,
                exclude: false,
            }],
            name: object.name().to_owned(),
            namespace: spec
                .get("targetNamespace")
                .and_then(Value::as_str)
                .map(str::to_owned),
            create_namespace: false,
            prune: spec.get("prune").and_then(Value::as_bool).unwrap_or(false),
            self_heal: true,
            ignore: Vec::new(),
            kustomize,
            helm: None,
            post_build,
            suspend: false,
            depends_on: names,
            health: Some(health),
        },
    })
}

/// `targetNamespace`, `namePrefix`, `nameSuffix` and `commonMetadata` as Flux sets them in the
/// kustomization: the namespace and names of every object, labels and annotations on every
/// object's metadata (selectors and templates left alone).
fn metadata(
    object: &Found,
    spec: &serde_json::Map<String, Value>,
    overlay: &mut Overlay,
) -> Result<(), MigrateError> {
    let text = |field: &str| -> Result<Option<String>, MigrateError> {
        match spec.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(unmappable(object, &format!("spec.{field}"), "not a string")),
        }
    };
    overlay.namespace = text("targetNamespace")?;
    overlay.name_prefix = text("namePrefix")?;
    overlay.name_suffix = text("nameSuffix")?;
    let common = spec.get("commonMetadata").cloned().unwrap_or(Value::Null);
    for (key, value) in common.as_object().into_iter().flatten() {
        let field = format!("spec.commonMetadata.{key}");
        let map: std::collections::BTreeMap<String, String> = serde_json::from_value(value.clone())
            .map_err(|_| unmappable(object, &field, "not a mapping of strings"))?;
        match key.as_str() {
            "labels" => overlay
                .labels
                .push(serde_json::json!({"pairs": map, "includeSelectors": false})),
            "annotations" => overlay.common_annotations = map,
            _ => return Err(unmappable(object, &field, "unknown field")),
        }
    }
    Ok(())
}

/// `components` (directories relative to `spec.path`, local and relative as Flux requires,
/// inside the repository) and `ignoreMissingComponents`.
fn components(
    object: &Found,
    spec: &serde_json::Map<String, Value>,
    overlay: &mut Overlay,
) -> Result<(), MigrateError> {
    let path = spec.get("path").and_then(Value::as_str).unwrap_or(".");
    if let Some(value) = spec.get("components") {
        let Some(items) = value.as_array() else {
            return Err(unmappable(object, "spec.components", "not a list"));
        };
        for (index, item) in items.iter().enumerate() {
            let field = format!("spec.components[{index}]");
            let Some(component) = item.as_str() else {
                return Err(unmappable(object, &field, "not a string"));
            };
            let remote = component.contains("://")
                || component.starts_with("git@")
                || component.starts_with("github.com/");
            if component.is_empty() || component.starts_with('/') || remote {
                return Err(unmappable(
                    object,
                    &field,
                    &format!(
                        "{:?}: a component path must be local and relative",
                        crate::text::clip_message(component)
                    ),
                ));
            }
            if crate::tree::RelPath::parse(&format!("{path}/{component}")).is_err() {
                return Err(unmappable(
                    object,
                    &field,
                    &format!(
                        "{:?}: leaves the repository (relative to spec.path {path:?})",
                        crate::text::clip_message(component)
                    ),
                ));
            }
            overlay.components.push(component.to_owned());
        }
    }
    match spec.get("ignoreMissingComponents") {
        None => {}
        Some(Value::Bool(b)) => overlay.ignore_missing_components = *b,
        Some(_) => {
            return Err(unmappable(
                object,
                "spec.ignoreMissingComponents",
                "not a boolean",
            ));
        }
    }
    Ok(())
}

/// `patches` and `images` as an overlay, `postBuild` as it is.
fn transforms(
    object: &Found,
    spec: &serde_json::Map<String, Value>,
    found: &[Found],
) -> Result<(Option<Overlay>, Option<PostBuild>), MigrateError> {
    let mut overlay = Overlay::default();
    for (field, list) in [
        ("patches", &mut overlay.patches),
        ("images", &mut overlay.images),
    ] {
        let Some(value) = spec.get(field) else {
            continue;
        };
        let Some(items) = value.as_array() else {
            return Err(unmappable(object, &format!("spec.{field}"), "not a list"));
        };
        for (index, item) in items.iter().enumerate() {
            let known: &[&str] = if field == "patches" {
                &["patch", "target"]
            } else {
                &["name", "newName", "newTag", "digest"]
            };
            let fields = item.as_object().ok_or_else(|| {
                unmappable(object, &format!("spec.{field}[{index}]"), "not a mapping")
            })?;
            if let Some(other) = fields.keys().find(|k| !known.contains(&k.as_str())) {
                return Err(unmappable(
                    object,
                    &format!("spec.{field}[{index}].{other}"),
                    "unknown field",
                ));
            }
            list.push(item.clone());
        }
    }
    metadata(object, spec, &mut overlay)?;
    components(object, spec, &mut overlay)?;
    let post_build = match spec.get("postBuild") {
        None => None,
        Some(value) => Some(
            serde_json::from_value::<PostBuild>(value.clone()).map_err(|err| {
                unmappable(
                    object,
                    "spec.postBuild",
                    &crate::text::clip_message(&err.to_string()),
                )
            })?,
        ),
    };
    let post_build = post_build.map(|mut p| {
        for from in &mut p.substitute_from {
            let namespace = from
                .namespace
                .get_or_insert_with(|| object.namespace().to_owned())
                .clone();
            // An object the repository holds is read from Git; any other from the cluster.
            from.path = found
                .iter()
                .find(|f| {
                    f.value["apiVersion"] == "v1"
                        && f.kind() == from.kind
                        && f.name() == from.name
                        && (f.namespace().is_empty() || f.namespace() == namespace)
                })
                .map(|f| f.file.clone());
        }
        p
    });
    Ok(((!overlay.is_empty()).then_some(overlay), post_build))
}

/// The `namespace/name` of every Kustomization `object` depends on.
fn dependencies(
    object: &Found,
    spec: &serde_json::Map<String, Value>,
    namespace: &str,
) -> Result<Vec<String>, MigrateError> {
    let mut depends_on = Vec::new();
    for (index, dep) in spec
        .get("dependsOn")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(name) = dep["name"].as_str() else {
            return Err(unmappable(
                object,
                &format!("spec.dependsOn[{index}].name"),
                "missing",
            ));
        };
        depends_on.push(key(dep["namespace"].as_str().unwrap_or(namespace), name));
    }
    Ok(depends_on)
}

/// Refuses the fields Tether cannot honour; notes the ones it honours differently.
fn check_fields(
    object: &Found,
    spec: &serde_json::Map<String, Value>,
    notes: &mut Vec<String>,
) -> Result<(), MigrateError> {
    for field in spec.keys() {
        if UNSUPPORTED.contains(&field.as_str()) {
            return Err(unmappable(
                object,
                &format!("spec.{field}"),
                "not supported by Tether yet",
            ));
        }
        if field == "serviceAccountName" {
            if spec[field].as_str() != Some("kustomize-controller") {
                return Err(unmappable(
                    object,
                    "spec.serviceAccountName",
                    "impersonation is not supported yet",
                ));
            }
            notes.push(format!(
                "{}: spec.serviceAccountName: Tether applies with its own account",
                describe(&object.value)
            ));
        } else if NOTED.contains(&field.as_str()) {
            notes.push(format!(
                "{}: spec.{field}: Tether syncs on every fetch and heals drift at once",
                describe(&object.value)
            ));
        } else if ![
            "path",
            "prune",
            "sourceRef",
            "targetNamespace",
            "dependsOn",
            "decryption",
            "suspend",
            "patches",
            "images",
            "postBuild",
            "namePrefix",
            "nameSuffix",
            "commonMetadata",
            "wait",
            "timeout",
            "healthChecks",
            "components",
            "ignoreMissingComponents",
        ]
        .contains(&field.as_str())
        {
            return Err(unmappable(
                object,
                &format!("spec.{field}"),
                "unknown field",
            ));
        }
    }
    Ok(())
}

/// Orders apps so that every app comes after what it depends on (stable otherwise).
fn order(mut pending: Vec<Pending>) -> Result<Vec<Pending>, MigrateError> {
    let keys: Vec<String> = pending.iter().map(|p| p.key.clone()).collect();
    let mut done: Vec<String> = Vec::new();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|p| {
            p.depends_on
                .iter()
                .all(|d| done.contains(d) || !keys.contains(d))
        });
        let Some(index) = ready else {
            let cycle: Vec<&str> = pending.iter().map(|p| p.key.as_str()).collect();
            return Err(MigrateError::Unmappable {
                object: format!("Kustomization {}", cycle.join(", ")),
                file: String::new(),
                field: "spec.dependsOn".to_owned(),
                problem: "a dependency cycle".to_owned(),
            });
        };
        let next = pending.remove(index);
        done.push(next.key.clone());
        out.push(next);
    }
    Ok(out)
}
