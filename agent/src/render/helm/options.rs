//! What a release is rendered with, and the values Helm computes from it.

use super::chart::Chart;
use super::template::{Limits, Lookup};
use super::values::{coalesce, merge_maps};
use super::{HelmError, clip, deps, schema, strvals};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The release name `helm template` uses when none is given.
pub const DEFAULT_RELEASE_NAME: &str = "release-name";

/// How a chart is rendered: the release, the values in Helm's order of precedence (value
/// files in order, then inline values, then `--set`), the cluster's capabilities.
#[derive(Clone)]
pub struct ReleaseOptions {
    /// `.Release.Name`.
    pub release_name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// Values files, in order (a label for errors, and the parsed map).
    pub value_files: Vec<(String, Map<String, Value>)>,
    /// Inline values (Argo CD's `values`), merged after the files.
    pub values: Map<String, Value>,
    /// `--set` expressions, applied last, in order.
    pub set: Vec<String>,
    /// Whether the values of `value_files`/`values` came (in part) from a Secret: then no
    /// error quotes a value.
    pub secret_values: bool,
    /// `.Capabilities.KubeVersion` (`v1.32.0` when unset, as `helm template` 3.17).
    pub kube_version: Option<String>,
    /// Extra `.Capabilities.APIVersions` (added to Helm's defaults).
    pub api_versions: Vec<String>,
    /// Put the `crds/` files in the release (`--include-crds`).
    pub include_crds: bool,
    /// Keep the `crds/` files as text, as `helm template` prints them, instead of parsing
    /// them into objects (they are still checked to be YAML mappings).
    pub crds_as_text: bool,
    /// Keep `test` hooks.
    pub include_tests: bool,
    /// Skip `values.schema.json`.
    pub skip_schema_validation: bool,
    /// What seeds the random functions with the release and template names (the app).
    pub app_seed: String,
    /// `now` for the date functions, seconds since the epoch.
    pub now: i64,
    /// Answers `lookup`; `None` answers as `helm template` does (empty).
    pub lookup: Option<Arc<dyn Lookup>>,
    /// Bounds on each template's execution.
    pub limits: Limits,
}

impl Default for ReleaseOptions {
    fn default() -> Self {
        Self {
            release_name: DEFAULT_RELEASE_NAME.into(),
            namespace: "default".into(),
            value_files: Vec::new(),
            values: Map::new(),
            set: Vec::new(),
            secret_values: false,
            kube_version: None,
            api_versions: Vec::new(),
            include_crds: true,
            crds_as_text: false,
            include_tests: false,
            skip_schema_validation: false,
            app_seed: String::new(),
            now: 0,
            lookup: None,
            limits: Limits::default(),
        }
    }
}

impl std::fmt::Debug for ReleaseOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secret: only their sources are shown.
        f.debug_struct("ReleaseOptions")
            .field("release_name", &self.release_name)
            .field("namespace", &self.namespace)
            .field(
                "value_files",
                &self.value_files.iter().map(|(l, _)| l).collect::<Vec<_>>(),
            )
            .field("set", &self.set.len())
            .field("kube_version", &self.kube_version)
            .field("include_crds", &self.include_crds)
            .finish_non_exhaustive()
    }
}

/// The user's values as `helm template` assembles them: files merged in order, inline
/// values, then each `--set`.
pub(crate) fn user_values(options: &ReleaseOptions) -> Result<Map<String, Value>, HelmError> {
    let mut values = Map::new();
    for (_, file) in &options.value_files {
        values = merge_maps(values, file.clone());
    }
    values = merge_maps(values, super::values::floats_map(options.values.clone()));
    for expression in &options.set {
        strvals::parse_into(expression, &mut values).map_err(|reason| HelmError::InvalidSet {
            expression: if options.secret_values {
                "(redacted)".into()
            } else {
                clip(expression)
            },
            reason: if options.secret_values {
                "invalid expression".into()
            } else {
                reason
            },
        })?;
    }
    Ok(values)
}

/// The chart with its dependencies processed for these values, and `.Values`: Helm's
/// `ProcessDependenciesWithMerge`, `CoalesceValues` and schema validation.
pub(crate) fn prepare(
    chart: &Chart,
    options: &ReleaseOptions,
) -> Result<(Chart, Map<String, Value>), HelmError> {
    let user = user_values(options)?;
    let mut chart = chart.clone();
    deps::process(&mut chart, &user)?;
    let values = coalesce(&chart, user, false)?;
    if !options.skip_schema_validation {
        validate_schemas(&chart, &values, options.secret_values)?;
    }
    Ok((chart, values))
}

fn validate_schemas(
    chart: &Chart,
    values: &Map<String, Value>,
    secret: bool,
) -> Result<(), HelmError> {
    if let Some(schema) = &chart.schema {
        let json = Value::Object(values.clone());
        schema::validate(schema, &json).map_err(|(path, reason)| HelmError::SchemaFailed {
            chart: chart.name().to_owned(),
            path,
            reason: if secret {
                "invalid value".into()
            } else {
                reason
            },
        })?;
    }
    for sub in &chart.dependencies {
        if let Some(Value::Object(sub_values)) = values.get(sub.name()) {
            validate_schemas(sub, sub_values, secret)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::helm::chart::ChartFile;
    use serde_json::json;

    fn chart(files: &[(&str, &str)], subs: Vec<Chart>) -> Chart {
        let files = files
            .iter()
            .map(|(n, t)| ChartFile {
                name: (*n).to_owned(),
                data: Arc::new(t.as_bytes().to_vec()),
            })
            .collect();
        Chart::from_files("t", files, subs).unwrap_or_else(|e| panic!("{e}"))
    }

    fn values(chart: &Chart, options: &ReleaseOptions) -> Value {
        match prepare(chart, options) {
            Ok((_, v)) => Value::Object(v),
            Err(e) => panic!("{e}"),
        }
    }

    fn sub(name: &str, values: &str) -> Chart {
        let meta = format!("apiVersion: v2\nname: {name}\nversion: 1.2.3\n");
        chart(
            &[("Chart.yaml", &meta), ("values.yaml", values)],
            Vec::new(),
        )
    }

    #[test]
    fn subchart_values_globals_and_nulls_coalesce_as_helm() {
        let top = chart(
            &[
                (
                    "Chart.yaml",
                    "apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n- name: db\n  version: 1.x\n  condition: db.enabled\n- name: cache\n  version: '>=1'\n  alias: redis\n  tags: [cache]\n",
                ),
                (
                    "values.yaml",
                    "global: {region: eu, img: {reg: a}}\ndb: {enabled: true, port: 1}\nkeep: 1\ndrop: 2\n",
                ),
            ],
            vec![
                sub("db", "port: 5\nuser: u\nglobal: {img: {reg: z, pull: x}}\n"),
                sub("cache", "size: 1\n"),
            ],
        );
        let mut options = ReleaseOptions::default();
        options.value_files.push((
            "f".into(),
            crate::render::helm::values::read_values_bytes(b"drop: null\ndb: {user: null}\n")
                .unwrap_or_default(),
        ));
        options.set.push("redis.size=3".into());
        let v = values(&top, &options);
        assert_eq!(v["keep"], 1.0);
        assert!(v.get("drop").is_none());
        assert_eq!(v["db"]["port"], 1.0);
        assert!(v["db"].get("user").is_none());
        assert_eq!(v["db"]["global"]["region"], "eu");
        assert_eq!(v["db"]["global"]["img"], json!({"reg": "a", "pull": "x"}));
        assert_eq!(v["redis"]["size"], 3);
        options.set = vec!["db.enabled=false".into(), "tags.cache=false".into()];
        let (processed, v) = prepare(&top, &options).unwrap_or_else(|e| panic!("{e}"));
        assert!(processed.dependencies.is_empty());
        assert!(v.get("redis").is_none());
    }

    #[test]
    fn import_values_reach_the_parent_under_its_own_values() {
        let top = chart(
            &[
                (
                    "Chart.yaml",
                    "apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n- name: lib\n  version: 1.2.3\n  import-values: [defaults, {child: nested.x, parent: from.child}]\n",
                ),
                ("values.yaml", "a: mine\n"),
            ],
            vec![sub(
                "lib",
                "exports: {defaults: {a: theirs, b: theirs}}\nnested: {x: {y: 1}}\n",
            )],
        );
        let v = values(&top, &ReleaseOptions::default());
        assert_eq!(v["a"], "mine");
        assert_eq!(v["b"], "theirs");
        assert_eq!(v["from"]["child"]["y"], 1.0);
    }

    #[test]
    fn a_schema_failure_names_chart_and_path() {
        let top = chart(
            &[
                ("Chart.yaml", "apiVersion: v2\nname: top\nversion: 1.0.0\n"),
                ("values.yaml", "port: 80\n"),
                (
                    "values.schema.json",
                    r#"{"properties": {"port": {"type": "integer", "maximum": 1000}}}"#,
                ),
            ],
            Vec::new(),
        );
        let options = ReleaseOptions {
            set: vec!["port=5000".into()],
            ..ReleaseOptions::default()
        };
        let err = prepare(&top, &options).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "chart top: values don't meet the schema: /port: must be less than or equal to 1000"
            )
        );
    }
}
