//! A loaded chart: metadata, values, templates, files and subcharts, as Helm's loader
//! sorts a chart's files.

use super::{HelmError, clip};
use crate::render::yaml::{self, ParseOptions};
use serde_json::{Map, Value};
use std::sync::Arc;

/// One file of a chart, named by its path inside the chart (`templates/x.yaml`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChartFile {
    /// Path inside the chart, `/`-separated.
    pub name: String,
    /// Contents.
    pub data: Arc<Vec<u8>>,
}

/// A dependency as `Chart.yaml` (v2) or `requirements.yaml` (v1) declares it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dependency {
    /// The chart's name.
    pub name: String,
    /// A version constraint.
    pub version: String,
    /// Where it comes from (not used for local charts).
    pub repository: String,
    /// Comma-separated value paths; the first that resolves to a bool decides.
    pub condition: String,
    /// Tags that enable or disable it.
    pub tags: Vec<String>,
    /// The name it is used under.
    pub alias: String,
    /// `import-values`: strings (`exports.X`) or `{child, parent}` maps.
    pub import_values: Vec<Value>,
    /// Whether the dependency is enabled (computed).
    pub enabled: bool,
}

/// `Chart.yaml`, with the fields Helm knows; `raw` keeps the file as parsed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    /// `apiVersion` (`v1` or `v2`).
    pub api_version: String,
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: String,
    /// `type` (`application` or `library`).
    pub chart_type: String,
    /// `dependencies` (v2) or `requirements.yaml`'s (v1).
    pub dependencies: Vec<Dependency>,
    /// The file as parsed (for `.Chart`).
    pub raw: Map<String, Value>,
}

/// A chart and its subcharts, loaded into memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// `Chart.yaml`.
    pub metadata: Metadata,
    /// `values.yaml` (an empty map when absent).
    pub values: Map<String, Value>,
    /// `values.schema.json`, parsed.
    pub schema: Option<Value>,
    /// Files under `templates/`.
    pub templates: Vec<ChartFile>,
    /// Every other file (`.Files`), `crds/` included, in path order.
    pub files: Vec<ChartFile>,
    /// Subcharts from `charts/` (directories and archives), by directory name order.
    pub dependencies: Vec<Chart>,
}

impl Chart {
    /// The chart's name (its alias once dependencies are processed).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Whether this is a library chart (`type: library`): defines only, no output.
    #[must_use]
    pub fn is_library(&self) -> bool {
        self.metadata.chart_type == "library"
    }

    /// The chart's own CRD files (`crds/*.yaml|yml|json`), then its subcharts', as Helm
    /// lists them.
    #[must_use]
    pub fn crd_files(&self) -> Vec<(String, &ChartFile)> {
        let mut out = Vec::new();
        self.collect_crds(self.name(), &mut out);
        out
    }

    fn collect_crds<'a>(&'a self, prefix: &str, out: &mut Vec<(String, &'a ChartFile)>) {
        for file in &self.files {
            let manifest = [".yaml", ".yml", ".json"]
                .iter()
                .any(|ext| file.name.ends_with(ext));
            if file.name.starts_with("crds/") && manifest {
                out.push((format!("{prefix}/{}", file.name), file));
            }
        }
        for dep in &self.dependencies {
            dep.collect_crds(&format!("{prefix}/charts/{}", dep.name()), out);
        }
    }

    /// Builds a chart from its files (paths inside the chart), as Helm's `LoadFiles`:
    /// `label` names the chart in errors. Subchart files (`charts/...`) are passed in
    /// `subcharts` already loaded.
    pub(crate) fn from_files(
        label: &str,
        files: Vec<ChartFile>,
        subcharts: Vec<Chart>,
    ) -> Result<Chart, HelmError> {
        let invalid = |file: &str, reason: String| HelmError::InvalidChart {
            chart: label.to_owned(),
            file: file.to_owned(),
            reason,
        };
        let mut metadata: Option<Metadata> = None;
        let mut requirements: Option<Map<String, Value>> = None;
        let mut chart = Chart {
            metadata: Metadata::default(),
            values: Map::new(),
            schema: None,
            templates: Vec::new(),
            files: Vec::new(),
            dependencies: subcharts,
        };
        for file in files {
            match file.name.as_str() {
                "Chart.yaml" => {
                    let map = parse_map(&file).map_err(|r| invalid("Chart.yaml", r))?;
                    metadata = Some(Metadata::from_map(map).map_err(|r| invalid("Chart.yaml", r))?);
                }
                "values.yaml" => {
                    chart.values =
                        super::values::read_values_bytes(&file.data).map_err(|reason| {
                            HelmError::InvalidValues {
                                file: format!("{label}/values.yaml"),
                                reason,
                            }
                        })?;
                }
                "values.schema.json" => {
                    let schema = serde_json::from_slice(&file.data)
                        .map_err(|e| invalid("values.schema.json", clip(&e.to_string())))?;
                    chart.schema = Some(schema);
                }
                // Helm keeps the lock of Chart.yaml dependencies out of `.Files`.
                "Chart.lock" => {}
                "requirements.yaml" | "requirements.lock" => {
                    if file.name == "requirements.yaml" {
                        requirements =
                            Some(parse_map(&file).map_err(|r| invalid("requirements.yaml", r))?);
                    }
                    chart.files.push(file);
                }
                name if name.starts_with("templates/") => chart.templates.push(file),
                _ => chart.files.push(file),
            }
        }
        let mut metadata =
            metadata.ok_or_else(|| invalid("Chart.yaml", "Chart.yaml file is missing".into()))?;
        if let Some(req) = requirements
            && metadata.api_version == "v1"
        {
            metadata.dependencies = parse_dependencies(req.get("dependencies"))
                .map_err(|r| invalid("requirements.yaml", r))?;
        }
        // Helm keeps requirements/lock files among `.Files` only for v1 charts.
        if metadata.api_version != "v1" {
            chart
                .files
                .retain(|f| !matches!(f.name.as_str(), "requirements.yaml" | "requirements.lock"));
        }
        chart.metadata = metadata;
        chart.templates.sort_by(|a, b| a.name.cmp(&b.name));
        chart.files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(chart)
    }
}

fn parse_map(file: &ChartFile) -> Result<Map<String, Value>, String> {
    let text = std::str::from_utf8(&file.data).map_err(|_| "not UTF-8".to_owned())?;
    let docs =
        yaml::parse_values(text, &ParseOptions::default()).map_err(|e| clip(&e.to_string()))?;
    match docs.into_iter().next() {
        Some(Value::Object(map)) => Ok(map),
        None | Some(Value::Null) => Ok(Map::new()),
        Some(_) => Err("not a YAML map".into()),
    }
}

fn string_field(map: &Map<String, Value>, key: &str) -> Result<String, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(_) => Err(format!("field `{key}` must be a string")),
    }
}

impl Metadata {
    fn from_map(raw: Map<String, Value>) -> Result<Metadata, String> {
        let api_version = string_field(&raw, "apiVersion")?;
        let name = string_field(&raw, "name")?;
        if api_version.is_empty() {
            return Err("chart.metadata.apiVersion is required".into());
        }
        if name.is_empty() {
            return Err("chart.metadata.name is required".into());
        }
        if name.contains('/') || name.contains("..") {
            return Err(format!("chart.metadata.name {:?} is invalid", clip(&name)));
        }
        let version = string_field(&raw, "version")?;
        if version.is_empty() {
            return Err("chart.metadata.version is required".into());
        }
        let dependencies = parse_dependencies(raw.get("dependencies"))?;
        Ok(Metadata {
            api_version,
            name,
            version,
            chart_type: string_field(&raw, "type")?,
            dependencies,
            raw,
        })
    }
}

fn parse_dependencies(value: Option<&Value>) -> Result<Vec<Dependency>, String> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("field `dependencies` must be a list".into()),
    };
    let mut out = Vec::new();
    for (index, item) in list.iter().enumerate() {
        let Value::Object(map) = item else {
            if item.is_null() {
                continue;
            }
            return Err(format!("dependencies[{index}] must be a map"));
        };
        let field =
            |key: &str| string_field(map, key).map_err(|e| format!("dependencies[{index}]: {e}"));
        let tags = match map.get("tags") {
            Some(Value::Array(tags)) => tags
                .iter()
                .map(|t| match t {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let import_values = match map.get("import-values") {
            Some(Value::Array(list)) => list.clone(),
            _ => Vec::new(),
        };
        let name = field("name")?;
        if name.is_empty() {
            return Err(format!("dependencies[{index}]: `name` is required"));
        }
        out.push(Dependency {
            name,
            version: field("version")?,
            repository: field("repository")?,
            condition: field("condition")?,
            tags,
            alias: field("alias")?,
            import_values,
            enabled: true,
        });
    }
    Ok(out)
}
