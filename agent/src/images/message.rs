//! Commit messages from Flux's Go templates (`git.commit.messageTemplate`), rendered by the
//! Go `text/template` engine of [`crate::render::helm::template`] with the data Flux's
//! image-automation-controller gives them: `.AutomationObject` (prints `NAMESPACE/NAME`),
//! `.Changed.Changes` (each with `OldValue`, `NewValue`, `Setter`), `.Changed.FileChanges`
//! (file → object → changes), `.Changed.Objects` (object → changes; an object has `Kind`,
//! `Name`, `Namespace`, `APIVersion`), and the deprecated `.Updated` of v1beta1/v1beta2
//! (`Files`, `Objects`, `Images`, each image with `String`, `Name`, `Identifier`,
//! `Repository`, `Registry`). Sprig's functions are there; a template that does not parse
//! or fails is an error naming the step, and nothing is committed.

use super::update::Change;
use crate::render::helm::template::{
    Environment, Limits, Object, TemplateFile, TemplateSet, Value,
};
use std::collections::BTreeMap;

/// The largest message a template may write.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Whether `template` is a Go template rather than Tether's own `{{automation}}` and
/// `{{changes}}` placeholders.
#[must_use]
pub fn is_go_template(template: &str) -> bool {
    let own = template
        .replace("{{automation}}", "")
        .replace("{{changes}}", "");
    own.contains("{{")
}

/// Renders `template` for the automation `namespace/name`; `files` are the new texts of the
/// changed files (to name the object each change is in).
pub fn render(
    template: &str,
    (namespace, name): (&str, &str),
    changes: &[Change],
    files: &BTreeMap<String, String>,
) -> Result<String, String> {
    let limits = Limits {
        max_depth: 100,
        max_output: MAX_MESSAGE_BYTES,
        max_steps: 1_000_000,
    };
    let set = TemplateSet::parse(
        vec![TemplateFile {
            name: "commit message".to_owned(),
            text: template.to_owned(),
        }],
        limits,
    )
    .map_err(|e| format!("messageTemplate: {e}"))?;
    let env = Environment {
        seed: [0; 32],
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0)),
        lookup: None,
    };
    let dot = data((namespace, name), changes, files);
    set.execute("commit message", &dot, &env).map_err(|e| {
        format!(
            "messageTemplate: {}",
            crate::text::clip_message(&e.to_string())
        )
    })
}

/// The template's dot.
fn data(
    (namespace, name): (&str, &str),
    changes: &[Change],
    files: &BTreeMap<String, String>,
) -> Value {
    let mut by_file: BTreeMap<&str, Vec<(Ident, Value)>> = BTreeMap::new();
    let mut images = Vec::new();
    for c in changes {
        let ident = identify(files.get(&c.file).map_or("", String::as_str), c.line);
        by_file
            .entry(&c.file)
            .or_default()
            .push((ident, Value::object(ChangeData(c.clone()))));
        images.push(Value::object(ImageRef(c.new.clone())));
    }
    let file_changes: Vec<(Value, Value)> = by_file
        .iter()
        .map(|(file, list)| (Value::str(file), group(list)))
        .collect();
    let all: Vec<(Ident, Value)> = by_file.into_values().flatten().collect();
    let objects = group(&all);
    let updated_files: Vec<(Value, Value)> = file_changes
        .iter()
        .map(|(file, objects)| {
            let fields = BTreeMap::from([("Objects".to_owned(), objects.clone())]);
            (
                file.clone(),
                Value::object(Fields("update.FileResult", fields)),
            )
        })
        .collect();
    let changed = BTreeMap::from([
        (
            "Changes".to_owned(),
            Value::list(
                changes
                    .iter()
                    .map(|c| Value::object(ChangeData(c.clone())))
                    .collect(),
            ),
        ),
        ("FileChanges".to_owned(), keyed(file_changes)),
        ("Objects".to_owned(), objects.clone()),
    ]);
    let updated = BTreeMap::from([
        ("Files".to_owned(), keyed(updated_files)),
        ("Objects".to_owned(), objects),
        ("Images".to_owned(), Value::list(images)),
    ]);
    let automation = BTreeMap::from([
        ("Namespace".to_owned(), Value::str(namespace)),
        ("Name".to_owned(), Value::str(name)),
    ]);
    Value::map(BTreeMap::from([
        (
            "AutomationObject".to_owned(),
            Value::object(Named(format!("{namespace}/{name}"), automation)),
        ),
        (
            "Changed".to_owned(),
            Value::object(Fields("update.ResultV2", changed)),
        ),
        (
            "Updated".to_owned(),
            Value::object(Fields("update.Result", updated)),
        ),
    ]))
}

/// object → its changes, as a map keyed by the objects.
fn group(list: &[(Ident, Value)]) -> Value {
    let mut out: BTreeMap<Ident, Vec<Value>> = BTreeMap::new();
    for (ident, change) in list {
        out.entry(ident.clone()).or_default().push(change.clone());
    }
    keyed(
        out.into_iter()
            .map(|(i, changes)| (Value::object(i), Value::list(changes)))
            .collect(),
    )
}

fn keyed(entries: Vec<(Value, Value)>) -> Value {
    Value::object(Keyed(entries))
}

/// The object (of the YAML document) holding line `line` of `text`.
fn identify(text: &str, line: usize) -> Ident {
    let mut start = 0;
    let mut doc = String::new();
    for (i, l) in text.lines().enumerate() {
        if l.starts_with("---") {
            if i + 1 > line {
                break;
            }
            start = i + 1;
            doc.clear();
            continue;
        }
        if i >= start {
            doc.push_str(l);
            doc.push('\n');
        }
    }
    let value =
        crate::render::yaml::parse_values(&doc, &crate::render::yaml::ParseOptions::default())
            .ok()
            .and_then(|v| v.into_iter().next())
            .unwrap_or_default();
    let get = |p: &str| {
        value
            .pointer(p)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    Ident {
        kind: get("/kind"),
        namespace: get("/metadata/namespace"),
        name: get("/metadata/name"),
        api_version: get("/apiVersion"),
    }
}

/// Flux's `ObjectIdentifier`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Ident {
    kind: String,
    namespace: String,
    name: String,
    api_version: String,
}

impl Object for Ident {
    fn type_name(&self) -> &str {
        "update.ObjectIdentifier"
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::str(match name {
            "Kind" => &self.kind,
            "Name" => &self.name,
            "Namespace" => &self.namespace,
            "APIVersion" => &self.api_version,
            _ => return None,
        }))
    }
    fn call(&self, _: &str, _: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    fn display(&self) -> Option<String> {
        Some(format!(
            "{{{{{} {}}} {{{} {}}}}}",
            self.api_version, self.kind, self.name, self.namespace
        ))
    }
}

/// Flux's `update.Change`.
struct ChangeData(Change);

impl Object for ChangeData {
    fn type_name(&self) -> &str {
        "update.Change"
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::str(match name {
            "OldValue" => &self.0.old,
            "NewValue" => &self.0.new,
            "Setter" => &self.0.policy,
            _ => return None,
        }))
    }
    fn call(&self, _: &str, _: &[Value]) -> Option<Result<Value, String>> {
        None
    }
}

/// Flux's deprecated `ImageRef` (the new value of a change).
struct ImageRef(String);

impl ImageRef {
    /// (name, identifier): `host/repo` and the tag or digest.
    fn parts(&self) -> (&str, &str) {
        let v = self.0.as_str();
        if let Some((name, digest)) = v.split_once('@') {
            return (name, digest);
        }
        match v.rfind(':') {
            Some(i) if !v[i..].contains('/') => (&v[..i], &v[i + 1..]),
            _ => (v, "latest"),
        }
    }
}

impl Object for ImageRef {
    fn type_name(&self) -> &str {
        "update.ImageRef"
    }
    fn field(&self, name: &str) -> Option<Value> {
        let (image, identifier) = self.parts();
        let (registry, repository) = match image.split_once('/') {
            Some((h, r)) if h.contains(['.', ':']) || h == "localhost" => (h, r),
            _ => ("", image),
        };
        Some(Value::str(match name {
            "String" => &self.0,
            "Name" => image,
            "Identifier" => identifier,
            "Repository" => repository,
            "Registry" => registry,
            _ => return None,
        }))
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        args.is_empty().then(|| self.field(name)).flatten().map(Ok)
    }
    fn display(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

/// A struct with fields.
struct Fields(&'static str, BTreeMap<String, Value>);

impl Object for Fields {
    fn type_name(&self) -> &str {
        self.0
    }
    fn field(&self, name: &str) -> Option<Value> {
        self.1.get(name).cloned()
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        args.is_empty().then(|| self.field(name)).flatten().map(Ok)
    }
}

/// A struct with fields that prints as a string (`types.NamespacedName`).
struct Named(String, BTreeMap<String, Value>);

impl Object for Named {
    fn type_name(&self) -> &str {
        "types.NamespacedName"
    }
    fn field(&self, name: &str) -> Option<Value> {
        self.1.get(name).cloned()
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        (name == "String" && args.is_empty()).then(|| Ok(Value::str(&self.0)))
    }
    fn display(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

/// A map keyed by values that are not strings.
struct Keyed(Vec<(Value, Value)>);

impl Object for Keyed {
    fn type_name(&self) -> &str {
        "map"
    }
    fn field(&self, _: &str) -> Option<Value> {
        None
    }
    fn call(&self, _: &str, _: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    fn entries(&self) -> Option<Vec<(Value, Value)>> {
        Some(self.0.clone())
    }
}

#[cfg(test)]
mod tests;
