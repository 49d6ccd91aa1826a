//! The objects a template sees besides `.Values`: `.Chart` (Chart.yaml with Go's field
//! names), `.Capabilities` (`helm template`'s offline defaults), `.Files` (the chart's
//! files, never anything outside it).

use super::chart::{Chart, ChartFile};
use super::template::{self, Object, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The Kubernetes version `helm template` 3.17 assumes offline.
pub const DEFAULT_KUBE_VERSION: &str = "v1.32.0";

/// The Helm version `.Capabilities.HelmVersion` reports (the one Tether follows).
pub const HELM_VERSION: &str = "v3.17.3";

/// `helm template` 3.17's default `.Capabilities.APIVersions`.
const DEFAULT_API_VERSIONS: &str = include_str!("api_versions.txt");

/// A string value.
pub(crate) fn s(text: &str) -> Value {
    Value::String(Arc::from(text))
}

/// A map value.
pub(crate) fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(Arc::new(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    ))
}

/// Converts values as Helm holds them: numbers read from files are float64 (stored as
/// JSON floats), `--set` integers int64 (JSON integers).
pub(crate) fn from_values(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => Value::Int(i),
            _ => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(text) => s(text),
        serde_json::Value::Array(list) => {
            Value::List(Arc::new(list.iter().map(from_values).collect()))
        }
        serde_json::Value::Object(entries) => Value::Map(Arc::new(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), from_values(v)))
                .collect(),
        )),
    }
}

/// `.Chart`: Helm's `chart.Metadata` plus `IsRoot`.
pub(crate) struct ChartObject {
    fields: BTreeMap<&'static str, Value>,
    json: serde_json::Value,
}

const CHART_FIELDS: &[(&str, &str)] = &[
    ("Name", "name"),
    ("Home", "home"),
    ("Sources", "sources"),
    ("Version", "version"),
    ("Description", "description"),
    ("Keywords", "keywords"),
    ("Maintainers", "maintainers"),
    ("Icon", "icon"),
    ("APIVersion", "apiVersion"),
    ("Condition", "condition"),
    ("Tags", "tags"),
    ("AppVersion", "appVersion"),
    ("Deprecated", "deprecated"),
    ("Annotations", "annotations"),
    ("KubeVersion", "kubeVersion"),
    ("Dependencies", "dependencies"),
    ("Type", "type"),
];

impl ChartObject {
    pub(crate) fn new(chart: &Chart, is_root: bool) -> ChartObject {
        let raw = &chart.metadata.raw;
        let mut fields = BTreeMap::new();
        let mut json = serde_json::Map::new();
        for (go, key) in CHART_FIELDS {
            let value = match *key {
                "name" => serde_json::Value::String(chart.metadata.name.clone()),
                "dependencies" => dependencies_json(chart),
                "maintainers" => maintainers_json(raw.get(*key)),
                _ => raw.get(*key).cloned().unwrap_or(serde_json::Value::Null),
            };
            let empty = match &value {
                serde_json::Value::Null => true,
                serde_json::Value::String(t) => t.is_empty(),
                serde_json::Value::Array(l) => l.is_empty(),
                serde_json::Value::Bool(b) => !b,
                _ => false,
            };
            if !empty {
                json.insert((*key).to_owned(), value.clone());
            }
            let zero = match *key {
                "deprecated" => Value::Bool(false),
                "annotations" => Value::Map(Arc::new(BTreeMap::new())),
                "sources" | "keywords" | "maintainers" | "dependencies" => {
                    Value::List(Arc::new(Vec::new()))
                }
                _ => s(""),
            };
            let go_value = match value {
                serde_json::Value::Null => zero,
                serde_json::Value::Number(n) => s(&n.to_string()),
                other => from_values(&other),
            };
            fields.insert(*go, go_value);
        }
        fields.insert("IsRoot", Value::Bool(is_root));
        json.insert("IsRoot".into(), serde_json::Value::Bool(is_root));
        ChartObject {
            fields,
            json: serde_json::Value::Object(json),
        }
    }
}

fn maintainers_json(raw: Option<&serde_json::Value>) -> serde_json::Value {
    let Some(serde_json::Value::Array(list)) = raw else {
        return serde_json::Value::Null;
    };
    let out = list
        .iter()
        .map(|m| {
            let mut entry = serde_json::Map::new();
            for (go, key) in [("Name", "name"), ("Email", "email"), ("URL", "url")] {
                let text = m.get(key).and_then(serde_json::Value::as_str).unwrap_or("");
                entry.insert(go.to_owned(), serde_json::Value::String(text.to_owned()));
            }
            serde_json::Value::Object(entry)
        })
        .collect();
    serde_json::Value::Array(out)
}

fn dependencies_json(chart: &Chart) -> serde_json::Value {
    let list: Vec<serde_json::Value> = chart
        .metadata
        .dependencies
        .iter()
        .map(|d| {
            serde_json::json!({
                "Name": d.name, "Version": d.version, "Repository": d.repository,
                "Condition": d.condition, "Tags": d.tags, "Enabled": d.enabled,
                "ImportValues": d.import_values, "Alias": d.alias,
            })
        })
        .collect();
    if list.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::Value::Array(list)
    }
}

impl Object for ChartObject {
    fn type_name(&self) -> &str {
        "chart.Metadata"
    }
    fn field(&self, name: &str) -> Option<Value> {
        self.fields.get(name).cloned()
    }
    fn call(&self, _method: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    fn to_json(&self) -> serde_json::Value {
        self.json.clone()
    }
}

/// `.Capabilities.KubeVersion`.
struct KubeVersion {
    version: String,
    major: String,
    minor: String,
}

impl Object for KubeVersion {
    fn type_name(&self) -> &str {
        "chartutil.KubeVersion"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Version" | "GitVersion" => Some(s(&self.version)),
            "Major" => Some(s(&self.major)),
            "Minor" => Some(s(&self.minor)),
            _ => None,
        }
    }
    fn call(&self, method: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        match method {
            "String" | "GitVersion" => Some(Ok(s(&self.version))),
            _ => None,
        }
    }
    fn display(&self) -> Option<String> {
        // Helm 3's `String` has a pointer receiver, so `%v` prints the struct.
        Some(format!(
            "{{{} {} {}}}",
            self.version, self.major, self.minor
        ))
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"Version": self.version, "Major": self.major, "Minor": self.minor})
    }
}

/// `.Capabilities.APIVersions`.
struct ApiVersions(Vec<String>);

impl Object for ApiVersions {
    fn type_name(&self) -> &str {
        "chartutil.VersionSet"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn call(&self, method: &str, args: &[Value]) -> Option<Result<Value, String>> {
        if method != "Has" {
            return None;
        }
        Some(match args {
            [Value::String(wanted)] => Ok(Value::Bool(self.0.iter().any(|v| **v == **wanted))),
            _ => Err("Has takes one string".into()),
        })
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.0
                .iter()
                .map(|v| serde_json::Value::String(v.clone()))
                .collect(),
        )
    }
    fn as_list(&self) -> Option<Vec<Value>> {
        Some(self.0.iter().map(|v| Value::str(v)).collect())
    }
}

/// `.Capabilities.HelmVersion`: the Helm build Tether follows.
struct HelmVersion;

const HELM_VERSION_FIELDS: [(&str, &str, &str); 4] = [
    ("Version", "version", HELM_VERSION),
    (
        "GitCommit",
        "git_commit",
        "e4da49785aa6e6ee2b86efd5dd9e43400318262b",
    ),
    ("GitTreeState", "git_tree_state", "clean"),
    ("GoVersion", "go_version", "go1.23.7"),
];

impl Object for HelmVersion {
    fn type_name(&self) -> &str {
        "version.BuildInfo"
    }
    fn field(&self, name: &str) -> Option<Value> {
        HELM_VERSION_FIELDS
            .iter()
            .find(|(go, _, _)| *go == name)
            .map(|(_, _, value)| s(value))
    }
    fn call(&self, _method: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    fn to_json(&self) -> serde_json::Value {
        HELM_VERSION_FIELDS
            .iter()
            .map(|(_, key, value)| {
                (
                    (*key).to_owned(),
                    serde_json::Value::String((*value).to_owned()),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// `.Capabilities`.
struct Capabilities {
    kube: Value,
    api: Value,
    helm: Value,
}

impl Object for Capabilities {
    fn type_name(&self) -> &str {
        "chartutil.Capabilities"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "KubeVersion" => Some(self.kube.clone()),
            "APIVersions" => Some(self.api.clone()),
            "HelmVersion" => Some(self.helm.clone()),
            _ => None,
        }
    }
    fn call(&self, _method: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
}

/// Builds `.Capabilities`; `kube_version` as `--kube-version` takes it (`1.30`, `v1.30.2`).
pub(crate) fn capabilities(
    kube_version: Option<&str>,
    extra_api: &[String],
) -> Result<Value, String> {
    let version = kube_version.unwrap_or(DEFAULT_KUBE_VERSION);
    let trimmed = version.trim().trim_start_matches('v');
    let mut parts = trimmed.split(['.', '-', '+']);
    let major = parts.next().filter(|p| p.parse::<u64>().is_ok());
    let minor = parts.next().filter(|p| p.parse::<u64>().is_ok());
    let (Some(major), Some(minor)) = (major, minor) else {
        return Err(format!("invalid kube version {:?}", super::clip(version)));
    };
    let patch = parts.next().unwrap_or("0");
    let kube = KubeVersion {
        version: format!("v{major}.{minor}.{patch}"),
        major: major.to_owned(),
        minor: minor.to_owned(),
    };
    let mut api: Vec<String> = DEFAULT_API_VERSIONS.lines().map(str::to_owned).collect();
    api.extend(extra_api.iter().cloned());
    let helm = Value::Object(Arc::new(HelmVersion));
    Ok(Value::Object(Arc::new(Capabilities {
        kube: Value::Object(Arc::new(kube)),
        api: Value::Object(Arc::new(ApiVersions(api))),
        helm,
    })))
}

/// `.Files`: the chart's files outside `templates/` (as Helm keeps them).
pub(crate) struct Files(Arc<Vec<ChartFile>>);

impl Files {
    pub(crate) fn new(files: &[ChartFile]) -> Files {
        Files(Arc::new(files.to_vec()))
    }

    fn text(file: &ChartFile) -> String {
        String::from_utf8_lossy(&file.data).into_owned()
    }

    fn get(&self, name: &str) -> Option<&ChartFile> {
        self.0.iter().find(|f| f.name == name)
    }

    /// Helm's `AsConfig`/`AsSecrets`: the files by base name as YAML; `{}` when there are
    /// none (helm's `Files` is never nil: an empty `Glob` prints `{}`).
    fn encoded_yaml(&self, encode: fn(&ChartFile) -> String) -> Value {
        let entries: BTreeMap<String, Value> = self
            .0
            .iter()
            .map(|f| {
                let base = f.name.rsplit('/').next().unwrap_or(&f.name).to_owned();
                (base, s(&encode(f)))
            })
            .collect();
        let text = template::yaml::to_yaml(&Value::Map(Arc::new(entries)));
        s(text.strip_suffix('\n').unwrap_or(&text))
    }
}

fn string_arg(args: &[Value], method: &str) -> Result<String, String> {
    match args {
        [Value::String(text)] => Ok(text.to_string()),
        _ => Err(format!("{method} takes one string")),
    }
}

impl Object for Files {
    fn type_name(&self) -> &str {
        "engine.files"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn call(&self, method: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let result = match method {
            "Get" | "GetBytes" => string_arg(args, method).map(|name| {
                self.get(&name)
                    .map_or_else(|| s(""), |f| s(&Files::text(f)))
            }),
            "Lines" => string_arg(args, method).map(|name| {
                let lines = match self.get(&name) {
                    Some(f) if !f.data.is_empty() => {
                        let text = Files::text(f);
                        let text = text.strip_suffix('\n').unwrap_or(&text).to_owned();
                        text.split('\n').map(s).collect()
                    }
                    _ => Vec::new(),
                };
                Value::List(Arc::new(lines))
            }),
            "Glob" => string_arg(args, method).and_then(|pattern| {
                let glob = globset::GlobBuilder::new(&pattern)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| format!("Glob {pattern:?}: {e}"))?
                    .compile_matcher();
                let files: Vec<ChartFile> = self
                    .0
                    .iter()
                    .filter(|f| glob.is_match(&f.name))
                    .cloned()
                    .collect();
                Ok(Value::Object(Arc::new(Files(Arc::new(files)))))
            }),
            "AsConfig" => Ok(self.encoded_yaml(Files::text)),
            "AsSecrets" => Ok(self.encoded_yaml(|f| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(f.data.as_slice())
            })),
            _ => return None,
        };
        Some(result)
    }
    fn to_json(&self) -> serde_json::Value {
        let entries = self
            .0
            .iter()
            .map(|f| (f.name.clone(), serde_json::Value::String(Files::text(f))))
            .collect();
        serde_json::Value::Object(entries)
    }
    fn as_map(&self) -> Option<BTreeMap<String, Value>> {
        Some(
            self.0
                .iter()
                .map(|f| (f.name.clone(), s(&Files::text(f))))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::helm::template::{Environment, Limits, TemplateFile, TemplateSet};

    fn render(text: &str) -> String {
        let files: Vec<ChartFile> = [("files/a.conf", "A\n"), ("files/b.conf", "B\n")]
            .iter()
            .map(|(n, t)| ChartFile {
                name: (*n).to_owned(),
                data: Arc::new(t.as_bytes().to_vec()),
            })
            .collect();
        let caps = capabilities(None, &["x/v1".to_owned()]).unwrap_or_else(|e| panic!("{e}"));
        let dot = map(vec![
            ("Files", Value::object(Files::new(&files))),
            ("Capabilities", caps),
        ]);
        let set = TemplateSet::parse(
            vec![TemplateFile {
                name: "t".into(),
                text: text.into(),
            }],
            Limits::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let env = Environment {
            seed: [1; 32],
            now: 0,
            lookup: None,
        };
        set.execute("t", &dot, &env)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn api_versions_and_files_work_as_go_slices_and_maps() {
        // helm3 template --api-versions x/v1 prints the same for the same files.
        assert_eq!(
            render(
                "{{ has \"apps/v1\" .Capabilities.APIVersions }} {{ has \"x/v9\" .Capabilities.APIVersions }} \
                 {{ has \"x/v1\" .Capabilities.APIVersions }}"
            ),
            "true false true"
        );
        assert_eq!(
            render(
                "{{ range $path, $_ := .Files.Glob \"files/*.conf\" }}{{ $path }}={{ $.Files.Get $path | trim }};{{ end }}"
            ),
            "files/a.conf=A;files/b.conf=B;"
        );
        assert_eq!(
            render(
                "{{ len (.Files.Glob \"files/*\") }} {{ if .Files.Glob \"nope/*\" }}yes{{ else }}no{{ end }} \
                 {{ if .Files.Glob \"files/*\" }}yes{{ else }}no{{ end }}"
            ),
            "2 no yes"
        );
        assert_eq!(
            render(
                "{{ gt (len .Capabilities.APIVersions) 10 }} {{ index .Capabilities.APIVersions 0 | kindOf }} \
                 {{ index .Files \"files/b.conf\" | trim }}"
            ),
            "true string B"
        );
    }
}
