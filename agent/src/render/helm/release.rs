//! The render: every template of the chart and its enabled subcharts parsed into one set,
//! each non-partial template executed with its chart's scope, the output split, sorted and
//! separated into CRDs, objects and hooks as `helm template` prints them.

use super::HelmError;
use super::chart::Chart;
use super::crds::{self, CrdFile};
use super::options::{ReleaseOptions, prepare};
use super::scope::{self, ChartObject, Files, map, s};
use super::sort::{self, Hook};
use super::template::{Environment, Runner, TemplateError, TemplateFile, TemplateSet, Value};
use crate::render::yaml::ParseOptions;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most bytes all templates of one release may render.
const MAX_RELEASE_OUTPUT: usize = 64 * 1024 * 1024;

/// One rendered object and the template (Helm's name) it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedObject {
    /// Helm's template name (`chart/templates/x.yaml`, `chart/crds/y.yaml`).
    pub template: String,
    /// The object.
    pub value: serde_json::Value,
}

/// What `helm template` produces for a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// The `crds/` documents (empty unless `include_crds`, and `crds_as_text` unset), first
    /// to apply.
    pub crds: Vec<RenderedObject>,
    /// The `crds/` files as text (empty unless `include_crds` and `crds_as_text`).
    pub crd_files: Vec<CrdFile>,
    /// The objects, in Helm's install order.
    pub objects: Vec<RenderedObject>,
    /// The hooks in Helm's order (`test` hooks only with `include_tests`).
    pub hooks: Vec<Hook>,
}

/// One template to execute, with its chart's scope.
struct Renderable {
    text: String,
    scope: Arc<BTreeMap<String, Value>>,
    base_path: String,
    library: bool,
}

/// Collects the templates of `chart` and its subcharts, building each chart's scope
/// (Helm's `recAllTpls`); returns the chart's scope.
fn collect(
    chart: &Chart,
    values: Value,
    path: &str,
    is_root: bool,
    shared: &BTreeMap<String, Value>,
    out: &mut BTreeMap<String, Renderable>,
) -> Arc<BTreeMap<String, Value>> {
    let mut subcharts = BTreeMap::new();
    for sub in &chart.dependencies {
        let sub_values = match &values {
            Value::Map(m) => match m.get(sub.name()) {
                Some(v @ Value::Map(_)) => v.clone(),
                _ => Value::Map(Arc::new(BTreeMap::new())),
            },
            _ => Value::Map(Arc::new(BTreeMap::new())),
        };
        let sub_path = format!("{path}/charts/{}", sub.name());
        let sub_scope = collect(sub, sub_values, &sub_path, false, shared, out);
        subcharts.insert(sub.name().to_owned(), Value::Map(sub_scope));
    }
    let mut scope = shared.clone();
    scope.insert(
        "Chart".into(),
        Value::Object(Arc::new(ChartObject::new(chart, is_root))),
    );
    scope.insert(
        "Files".into(),
        Value::Object(Arc::new(Files::new(&chart.files))),
    );
    scope.insert("Values".into(), values);
    scope.insert("Subcharts".into(), Value::Map(Arc::new(subcharts)));
    let scope = Arc::new(scope);
    for file in &chart.templates {
        let base = file.name.rsplit('/').next().unwrap_or(&file.name);
        let library = chart.is_library() && !base.starts_with('_');
        out.insert(
            format!("{path}/{}", file.name),
            Renderable {
                text: String::from_utf8_lossy(&file.data).into_owned(),
                scope: scope.clone(),
                base_path: format!("{path}/templates"),
                library,
            },
        );
    }
    scope
}

/// Helm's parse order: deeper paths first, then names in reverse order, so that a
/// parent's `define` replaces a subchart's.
fn parse_order(names: &mut [String]) {
    names.sort_by(|a, b| {
        let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
        cb.cmp(&ca).then_with(|| b.cmp(a))
    });
}

/// The seed of the random functions for one template.
fn seed(options: &ReleaseOptions, template: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in [&options.app_seed, &options.release_name, template] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize().into()
}

/// Renders `chart` as `helm template` would with `options`.
pub fn render(chart: &Chart, options: &ReleaseOptions) -> Result<Release, HelmError> {
    let (chart, values) = prepare(chart, options)?;
    let name = chart.name().to_owned();
    let capabilities = scope::capabilities(options.kube_version.as_deref(), &options.api_versions)
        .map_err(|reason| HelmError::InvalidChart {
            chart: name.clone(),
            file: "kubeVersion".into(),
            reason,
        })?;
    let release = map(vec![
        ("Name", s(&options.release_name)),
        ("Namespace", s(&options.namespace)),
        ("IsUpgrade", Value::Bool(false)),
        ("IsInstall", Value::Bool(true)),
        ("Revision", Value::Int(1)),
        ("Service", s("Helm")),
    ]);
    let mut shared = BTreeMap::new();
    shared.insert("Release".to_owned(), release);
    shared.insert("Capabilities".to_owned(), capabilities);
    let values = scope::from_values(&serde_json::Value::Object(values));
    let mut templates = BTreeMap::new();
    collect(&chart, values, &name, true, &shared, &mut templates);
    // Library charts' non-partial templates are neither parsed nor rendered.
    templates.retain(|_, r| !r.library);
    let mut order: Vec<String> = templates.keys().cloned().collect();
    parse_order(&mut order);
    // The texts move into the set (it keeps them for error positions): no second copy.
    let files = order
        .iter()
        .map(|n| TemplateFile {
            name: n.clone(),
            text: templates
                .get_mut(n)
                .map(|r| std::mem::take(&mut r.text))
                .unwrap_or_default(),
        })
        .collect();
    let set = TemplateSet::parse(files, options.limits.clone())
        .map_err(|e| template_error(&name, e, options.secret_values))?;
    let rendered = set
        .with_runner(|runner| execute_all(runner, &order, &templates, options, &name))
        .map_err(|e| template_error(&name, e, options.secret_values))??;
    // The parsed templates and their scopes are done with: freed before the output is
    // parsed, so that the peak holds one of them, not both.
    drop(set);
    drop(templates);
    let limits = ParseOptions::default();
    let (mut hooks, generic) =
        sort::sort_manifests(rendered, &limits).map_err(|(template, reason)| {
            HelmError::ManifestInvalid {
                chart: name.clone(),
                template,
                reason: if options.secret_values {
                    "invalid YAML".into()
                } else {
                    reason
                },
            }
        })?;
    if !options.include_tests {
        hooks.retain(|h| !h.is_test());
    }
    let (crds, crd_files) = match (options.include_crds, options.crds_as_text) {
        (false, _) => (Vec::new(), Vec::new()),
        (true, false) => (crds::objects(&chart, &limits)?, Vec::new()),
        (true, true) => (Vec::new(), crds::files(&chart, &limits)?),
    };
    Ok(Release {
        crds,
        crd_files,
        objects: generic
            .into_iter()
            .map(|m| RenderedObject {
                template: m.template,
                value: m.value,
            })
            .collect(),
        hooks,
    })
}

/// Executes every non-partial template in `order` with its chart's scope on `runner`:
/// Helm's template name → output (`NOTES.txt` executed but left out).
fn execute_all(
    runner: &Runner<'_>,
    order: &[String],
    templates: &BTreeMap<String, Renderable>,
    options: &ReleaseOptions,
    name: &str,
) -> Result<BTreeMap<String, String>, HelmError> {
    let mut rendered = BTreeMap::new();
    let mut total = 0;
    for template in order {
        let base = template.rsplit('/').next().unwrap_or(template);
        if base.starts_with('_') {
            continue;
        }
        let item = &templates[template];
        let mut dot = (*item.scope).clone();
        dot.insert(
            "Template".into(),
            map(vec![
                ("Name", s(template)),
                ("BasePath", s(&item.base_path)),
            ]),
        );
        let env = Environment {
            seed: seed(options, template),
            now: options.now,
            lookup: options.lookup.clone(),
        };
        let text = runner
            .execute(template, &Value::Map(Arc::new(dot)), &env)
            .map_err(|e| template_error(name, e, options.secret_values))?;
        // NOTES.txt is executed (its errors fail the render, as in Helm) but not output.
        if template.ends_with("/NOTES.txt") {
            continue;
        }
        total += text.len();
        if total > MAX_RELEASE_OUTPUT {
            return Err(HelmError::LimitExceeded {
                chart: name.to_owned(),
                what: "the rendered output",
                limit: MAX_RELEASE_OUTPUT,
            });
        }
        rendered.insert(template.clone(), text);
    }
    Ok(rendered)
}

/// A template error as a [`HelmError`] naming the chart, template and line.
fn template_error(chart: &str, error: TemplateError, secret: bool) -> HelmError {
    let (template, line, reason) = match error {
        TemplateError::Parse { name, line, reason } => (name, Some(line), reason),
        TemplateError::Execute(message) | TemplateError::Limit(message) => {
            let (template, line) = position(&message);
            (template, line, message)
        }
    };
    HelmError::RenderFailed {
        chart: chart.to_owned(),
        template,
        line,
        reason: if secret {
            "the template failed (details withheld: the values include a Secret's)".into()
        } else {
            super::clip_middle(&reason)
        },
    }
}

/// The template and line of Go's `template: NAME:LINE:COL: ...` or Helm's
/// `execution error at (NAME:LINE:COL): ...`.
fn position(message: &str) -> (String, Option<usize>) {
    let rest = if let Some(rest) = message.strip_prefix("template: ") {
        rest
    } else if let Some(rest) = message.strip_prefix("execution error at (") {
        rest
    } else {
        return (String::new(), None);
    };
    let mut parts = rest.splitn(3, ':');
    let name = parts.next().unwrap_or_default().to_owned();
    let line = parts.next().and_then(|l| l.trim().parse().ok());
    (name, line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::helm::chart::ChartFile;

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

    fn top() -> Chart {
        let lib = chart(
            &[
                (
                    "Chart.yaml",
                    "apiVersion: v2\nname: lib\nversion: 1.0.0\ntype: library\n",
                ),
                (
                    "templates/_n.tpl",
                    "{{ define \"lib.name\" }}lib-{{ .Release.Name }}{{ end }}",
                ),
                (
                    "templates/ignored.yaml",
                    "kind: ConfigMap\nmetadata: {name: never}\n",
                ),
            ],
            Vec::new(),
        );
        let sub = chart(
            &[
                ("Chart.yaml", "apiVersion: v2\nname: sub\nversion: 1.0.0\n"),
                ("values.yaml", "port: 80\n"),
                (
                    "templates/svc.yaml",
                    "kind: Service\nmetadata:\n  name: {{ .Chart.Name }}-{{ .Values.port }}\n  annotations: {template: {{ .Template.Name }}, global: {{ .Values.global.env }}}\n",
                ),
            ],
            Vec::new(),
        );
        chart(
            &[
                (
                    "Chart.yaml",
                    "apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n- {name: sub, version: 1.x, alias: api}\n- {name: lib, version: 1.0.0}\n",
                ),
                ("values.yaml", "global: {env: prod}\napi: {port: 8080}\n"),
                ("files/a.txt", "hello"),
                (
                    "crds/crd.yaml",
                    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: xs.example.com}\n",
                ),
                ("templates/NOTES.txt", "{{ .Release.Name }} installed"),
                (
                    "templates/all.yaml",
                    "kind: Deployment\nmetadata: {name: {{ include \"lib.name\" . }}}\n---\nkind: ConfigMap\nmetadata: {name: cm, namespace: {{ .Release.Namespace }}}\ndata:\n  file: {{ .Files.Get \"files/a.txt\" }}\n  has: {{ .Capabilities.APIVersions.Has \"apps/v1\" | quote }}\n  kube: {{ .Capabilities.KubeVersion.Version }}\n  sub: {{ .Subcharts.api.Values.port | quote }}\n  missing: {{ .Values.nothing }}\n",
                ),
                (
                    "templates/hooks.yaml",
                    "kind: Job\nmetadata:\n  name: migrate\n  annotations: {helm.sh/hook: pre-install, helm.sh/hook-weight: \"2\"}\n---\nkind: Pod\nmetadata:\n  name: test\n  annotations: {helm.sh/hook: test}\n",
                ),
            ],
            vec![sub, lib],
        )
    }

    #[test]
    fn a_chart_renders_in_helms_order_with_its_scope() {
        let options = ReleaseOptions {
            release_name: "r".into(),
            namespace: "ns".into(),
            ..ReleaseOptions::default()
        };
        let release = render(&top(), &options).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(release.crds.len(), 1);
        assert_eq!(release.crds[0].template, "top/crds/crd.yaml");
        let kinds: Vec<&str> = release
            .objects
            .iter()
            .map(|o| o.value["kind"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(kinds, ["ConfigMap", "Service", "Deployment"]);
        let cm = &release.objects[0].value;
        assert_eq!(cm["metadata"]["namespace"], "ns");
        assert_eq!(cm["data"]["file"], "hello");
        assert_eq!(cm["data"]["has"], "true");
        assert_eq!(cm["data"]["kube"], "v1.32.0");
        assert_eq!(cm["data"]["sub"], "8080");
        assert_eq!(cm["data"]["missing"], serde_json::Value::Null);
        let svc = &release.objects[1];
        assert_eq!(svc.template, "top/charts/api/templates/svc.yaml");
        assert_eq!(svc.value["metadata"]["name"], "api-8080");
        assert_eq!(
            svc.value["metadata"]["annotations"]["template"],
            "top/charts/api/templates/svc.yaml"
        );
        assert_eq!(svc.value["metadata"]["annotations"]["global"], "prod");
        assert_eq!(release.objects[2].value["metadata"]["name"], "lib-r");
        assert_eq!(release.hooks.len(), 1, "the test hook is left out");
        assert_eq!(release.hooks[0].weight, 2);
        let with_tests = ReleaseOptions {
            include_tests: true,
            include_crds: false,
            ..options
        };
        let release = render(&top(), &with_tests).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(release.hooks.len(), 2);
        assert!(release.crds.is_empty());
    }

    #[test]
    fn crds_as_text_are_the_files_as_read_and_a_malformed_one_is_named() {
        let options = ReleaseOptions {
            crds_as_text: true,
            ..ReleaseOptions::default()
        };
        let release = render(&top(), &options).unwrap_or_else(|e| panic!("{e}"));
        assert!(release.crds.is_empty());
        assert_eq!(release.crd_files.len(), 1);
        assert_eq!(release.crd_files[0].template, "top/crds/crd.yaml");
        assert!(
            release.crd_files[0]
                .data
                .starts_with(b"apiVersion: apiextensions.k8s.io/v1\n")
        );
        let broken = chart(
            &[
                ("Chart.yaml", "apiVersion: v2\nname: b\nversion: 1.0.0\n"),
                ("crds/a.yaml", "kind: A\n"),
                ("crds/b.yaml", "kind: B\nspec: [\n"),
            ],
            Vec::new(),
        );
        let err = render(&broken, &options).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(
            err.starts_with("chart b: YAML parse error on b/crds/b.yaml: invalid YAML: "),
            "{err}"
        );
    }

    #[test]
    fn a_failing_template_is_named_with_its_line() {
        let broken = chart(
            &[
                ("Chart.yaml", "apiVersion: v2\nname: b\nversion: 1.0.0\n"),
                ("templates/x.yaml", "a: 1\nb: {{ fail \"no way\" }}\n"),
            ],
            Vec::new(),
        );
        let err = render(&broken, &ReleaseOptions::default()).err();
        match err {
            Some(HelmError::RenderFailed {
                template,
                line,
                reason,
                ..
            }) => {
                assert_eq!(template, "b/templates/x.yaml");
                assert_eq!(line, Some(2));
                assert!(reason.contains("no way"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let secret = ReleaseOptions {
            secret_values: true,
            ..ReleaseOptions::default()
        };
        let err = render(&broken, &secret)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            !err.contains("no way") && err.contains("b/templates/x.yaml"),
            "{err}"
        );
    }

    #[test]
    fn random_functions_are_seeded_per_app_release_and_template() {
        let a = seed(
            &ReleaseOptions {
                app_seed: "a".into(),
                ..ReleaseOptions::default()
            },
            "t/templates/x.yaml",
        );
        let b = seed(
            &ReleaseOptions {
                app_seed: "b".into(),
                ..ReleaseOptions::default()
            },
            "t/templates/x.yaml",
        );
        let c = seed(
            &ReleaseOptions {
                app_seed: "a".into(),
                ..ReleaseOptions::default()
            },
            "t/templates/y.yaml",
        );
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a,
            seed(
                &ReleaseOptions {
                    app_seed: "a".into(),
                    ..ReleaseOptions::default()
                },
                "t/templates/x.yaml"
            )
        );
    }
}
