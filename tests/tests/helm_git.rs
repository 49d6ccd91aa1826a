//! Flux HelmReleases whose chart is a directory of a `GitRepository` (`chart.spec.sourceRef`
//! or a `HelmChart` named by `chartRef`): fetched from real Git servers (git daemon, and
//! lighttpd + git-http-backend with basic auth from the GitRepository's Secret), or read
//! from the synced snapshot when the GitRepository is the synced repository; compared with
//! what the real `helm template` renders for the same directory and values.

use std::path::Path;

use serde_json::{Value, json};
use tether_agent::render::flux_helm::git::{GitSources, OwnSource};
use tether_agent::render::flux_helm::{self, NativeRenderer};
use tether_agent::source::Reference;
use tether_agent::tree::{FsTree, Tree};
use tether_tests::gitserver::{GitDaemon, HttpGit, Upstream, run};
use tether_tests::helm_peers::helm3;
use tether_tests::render_compare;

#[path = "shared/flux_context.rs"]
mod flux_context;
use flux_context::ctx;

const PASSWORD: &str = "git-pass-8d1c2f";

const CHART: &str = "apiVersion: v2\nname: web\nversion: 0.3.0\n";
const VALUES: &str = "replicas: 1\ncolour: blue\nsize: small\n";
const PROD: &str = "replicas: 3\ncolour: green\n";
const TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\n  labels:\n    chart: {{ .Chart.Name }}-{{ .Chart.Version }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n  colour: {{ .Values.colour | default \"none\" | quote }}\n  size: {{ .Values.size | default \"none\" | quote }}\n  greeting: {{ .Values.greeting | default \"hello\" | quote }}\n";

/// A repository `charts` holding `deploy/web` (a chart and a production values file).
fn upstream(root: &Path) -> Upstream {
    let upstream = Upstream::create(root, "charts").expect("an upstream");
    for (path, text) in [
        ("deploy/web/Chart.yaml", CHART),
        ("deploy/web/values.yaml", VALUES),
        ("deploy/web/templates/cm.yaml", TEMPLATE),
        ("env/prod.yaml", PROD),
    ] {
        upstream.write(path, text).expect("write");
    }
    upstream.commit("the chart").expect("commit");
    upstream
}

fn git_repository(name: &str, url: &str, secret: Option<&str>) -> Value {
    let mut spec = json!({"url": url, "interval": "5m", "ref": {"branch": "main"}});
    if let Some(secret) = secret {
        spec["secretRef"] = json!({"name": secret});
    }
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": name, "namespace": "shop"}, "spec": spec})
}

fn release(name: &str, chart: Value) -> Value {
    let mut spec = json!({"interval": "10m", "values": {"greeting": "bonjour"}});
    for (key, value) in chart.as_object().expect("a map") {
        spec[key] = value.clone();
    }
    json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": "shop"}, "spec": spec})
}

fn from_git(source: &str, values_files: &[&str]) -> Value {
    json!({"chart": {"spec": {"chart": "./deploy/web", "valuesFiles": values_files,
        "sourceRef": {"kind": "GitRepository", "name": source}}}})
}

/// What `helm template` prints for the chart directory with `files` then `values`.
fn helm_template(chart: &Path, release: &str, files: &[&Path], values: &Value) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("values.json");
    std::fs::write(&file, values.to_string()).expect("write values");
    let mut cmd = helm3(&dir.path().join("home"));
    cmd.args(["template", release])
        .arg(chart)
        .args(["--namespace", "shop"]);
    for extra in files {
        cmd.arg("-f").arg(extra);
    }
    cmd.arg("-f").arg(&file);
    render_compare::parse(&run(&mut cmd).expect("helm template")).expect("helm's output parses")
}

/// The release's objects without what the release adds to what helm prints.
fn as_helm_prints(mut object: Value) -> Value {
    let meta = object["metadata"].as_object_mut().expect("metadata");
    meta.remove("namespace");
    meta.remove("annotations");
    object
}

#[test]
fn a_chart_of_another_git_repository_is_fetched_and_renders_as_helm_template_does() {
    let root = tempfile::tempdir().expect("tempdir");
    let upstream = upstream(root.path());
    let daemon = GitDaemon::start(root.path()).expect("git daemon");
    let url = daemon.url("charts.git");
    let git = GitSources::new(None, Some(root.path().join("cache")));
    let renderer = NativeRenderer;
    let unrelated = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "shop"}, "spec": {"url": "https://example.invalid/x"}});
    let objects = vec![
        unrelated.clone(),
        git_repository("charts", &url, None),
        release(
            "web",
            from_git("charts", &["./deploy/web/values.yaml", "env/prod.yaml"]),
        ),
    ];
    let out = flux_helm::expand(objects, &ctx(&renderer, &git)).unwrap_or_else(|e| panic!("{e}"));
    // The GitRepository the release uses is not applied; one no release uses stays.
    assert_eq!(out[0], unrelated);
    assert_eq!(out.len(), 2, "{out:#?}");
    let chart = upstream.work.join("deploy/web");
    let prod = upstream.work.join("env/prod.yaml");
    let expected = helm_template(&chart, "web", &[&prod], &json!({"greeting": "bonjour"}));
    let ours: Vec<Value> = out[1..].iter().cloned().map(as_helm_prints).collect();
    render_compare::compare_objects(&expected, &ours)
        .unwrap_or_else(|diff| panic!("differs from helm template:\n{diff}"));
    assert_eq!(out[1]["data"]["colour"], "green");
    assert_eq!(out[1]["data"]["size"], "small");

    // valuesFiles replace the chart's values.yaml (Flux's meaning): without it, `size` is
    // unset. The same repository is fetched once per render, whatever the releases.
    let objects = vec![
        git_repository("charts", &url, None),
        release("prod-only", from_git("charts", &["env/prod.yaml"])),
        release("defaults", from_git("charts", &[])),
    ];
    let out = flux_helm::expand(objects, &ctx(&renderer, &git)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["metadata"]["name"], "prod-only-cfg");
    assert_eq!(out[0]["data"]["size"], "none");
    assert_eq!(out[0]["data"]["replicas"], "3");
    assert_eq!(out[1]["data"]["size"], "small");
    assert_eq!(out[1]["data"]["replicas"], "1");

    // A HelmChart named by chartRef takes its chart from the GitRepository too.
    let helm_chart = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
        "metadata": {"name": "web-chart", "namespace": "shop"},
        "spec": {"chart": "deploy/web", "sourceRef": {"kind": "GitRepository", "name": "charts"},
            "valuesFiles": ["deploy/web/values.yaml", "env/prod.yaml"]}});
    let objects = vec![
        git_repository("charts", &url, None),
        helm_chart,
        release(
            "web",
            json!({"chartRef": {"kind": "HelmChart", "name": "web-chart"}}),
        ),
    ];
    let out = flux_helm::expand(objects, &ctx(&renderer, &git)).unwrap_or_else(|e| panic!("{e}"));
    let ours: Vec<Value> = out.into_iter().map(as_helm_prints).collect();
    render_compare::compare_objects(&expected, &ours)
        .unwrap_or_else(|diff| panic!("HelmChart differs from helm template:\n{diff}"));

    // A chart path leaving the repository is refused, naming the field.
    let objects = vec![
        git_repository("charts", &url, None),
        release(
            "escape",
            json!({"chart": {"spec": {"chart": "../../etc",
                "sourceRef": {"kind": "GitRepository", "name": "charts"}}}}),
        ),
    ];
    let err = flux_helm::expand(objects, &ctx(&renderer, &git))
        .expect_err("a path outside the repository")
        .to_string();
    assert!(
        err.contains("HelmRelease shop/escape") && err.contains("spec.chart.spec.chart"),
        "{err}"
    );
}

#[test]
fn the_synced_repository_is_read_from_the_snapshot_and_another_ref_is_fetched() {
    let root = tempfile::tempdir().expect("tempdir");
    let upstream = upstream(root.path());
    upstream.tag("v0.3.0").expect("tag");
    let daemon = GitDaemon::start(root.path()).expect("git daemon");
    let url = daemon.url("charts.git");
    // The snapshot being rendered differs from what the server holds (as the synced commit
    // differs from the remote's next one): reading it proves no fetch happened.
    let snapshot = tempfile::tempdir().expect("tempdir");
    for (path, text) in [
        ("deploy/web/Chart.yaml", CHART),
        ("deploy/web/values.yaml", "replicas: 7\n"),
        ("deploy/web/templates/cm.yaml", TEMPLATE),
    ] {
        let full = snapshot.path().join(path);
        std::fs::create_dir_all(full.parent().expect("a parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
    let own = OwnSource {
        url: format!("{url}/"),
        reference: Reference::branch("main").expect("a branch"),
        tree: Tree::new(FsTree::new(snapshot.path())),
    };
    // No cache directory: a fetch would fail.
    let git = GitSources::new(Some(own.clone()), None);
    let renderer = NativeRenderer;
    let objects = vec![
        git_repository("self", &url, None),
        release("web", from_git("self", &[])),
    ];
    let out = flux_helm::expand(objects, &ctx(&renderer, &git)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out[0]["data"]["replicas"], "7");

    // The same URL at another reference is another source: it is fetched.
    let mut tagged = git_repository("tagged", &url, None);
    tagged["spec"]["ref"] = json!({"tag": "v0.3.0"});
    let objects = vec![tagged, release("web", from_git("tagged", &[]))];
    let err = flux_helm::expand(objects.clone(), &ctx(&renderer, &git))
        .expect_err("no cache directory")
        .to_string();
    assert!(err.contains("GitRepository shop/tagged"), "{err}");
    let git = GitSources::new(Some(own), Some(root.path().join("cache")));
    let out = flux_helm::expand(objects, &ctx(&renderer, &git)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out[0]["data"]["replicas"], "1");
}

#[test]
fn a_git_repository_secret_authenticates_and_its_password_is_never_quoted() {
    let root = tempfile::tempdir().expect("tempdir");
    let _upstream = upstream(root.path());
    let http = HttpGit::start(root.path(), Some(("ci", PASSWORD)), None).expect("lighttpd");
    let url = http.url("charts.git");
    let renderer = NativeRenderer;
    let secret = |password: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "git-auth", "namespace": "shop"},
            "stringData": {"username": "ci", "password": password}})
    };
    let git = GitSources::new(None, Some(root.path().join("cache")));
    let objects = vec![
        secret(PASSWORD),
        git_repository("private", &url, Some("git-auth")),
        release("web", from_git("private", &[])),
    ];
    let out = flux_helm::expand(objects, &ctx(&renderer, &git))
        .unwrap_or_else(|e| panic!("{e}\n{}", http.error_log()));
    assert_eq!(out[0]["kind"], "Secret", "the app's Secret stays");
    assert_eq!(out[1]["data"]["replicas"], "1");

    // A wrong password: the fetch fails, naming the release and the GitRepository, quoting
    // neither password.
    let git = GitSources::new(None, Some(root.path().join("cache-2")));
    let wrong = "wrong-pass-77a1";
    let objects = vec![
        secret(wrong),
        git_repository("private", &url, Some("git-auth")),
        release("web", from_git("private", &[])),
    ];
    let err = flux_helm::expand(objects, &ctx(&renderer, &git)).expect_err("refused");
    assert_eq!(err.reason(), "GitRepositoryFailed");
    let text = err.to_string();
    assert!(
        text.contains("HelmRelease shop/web") && text.contains("GitRepository shop/private"),
        "{text}"
    );
    assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");

    // A missing Secret is named.
    let objects = vec![
        git_repository("private", &url, Some("absent")),
        release("web", from_git("private", &[])),
    ];
    let err = flux_helm::expand(objects, &ctx(&renderer, &git))
        .expect_err("no Secret")
        .to_string();
    assert!(
        err.contains("spec.secretRef") && err.contains("Secret shop/absent"),
        "{err}"
    );
}

const COMMON_CHART: &str = "apiVersion: v2\nname: common\nversion: 2.4.0\ntype: library\n";
const COMMON_HELPERS: &str = "{{- define \"common.labels\" -}}\napp.kubernetes.io/part-of: {{ .Values.partOf | default \"shop\" }}\nrelease: {{ .Release.Name }}\n{{- end -}}\n";
const APP_CHART: &str = "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: common\n  version: ^2.0.0\n  repository: file://../../lib/common\n";
const APP_TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-app\n  labels:\n    {{- include \"common.labels\" . | nindent 4 }}\ndata:\n  greeting: {{ .Values.greeting | default \"hello\" | quote }}\n";

#[test]
fn a_file_dependency_of_a_git_chart_is_read_from_the_same_repository_as_helm_builds_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let upstream = Upstream::create(root.path(), "charts").expect("an upstream");
    for (path, text) in [
        ("lib/common/Chart.yaml", COMMON_CHART),
        ("lib/common/templates/_labels.tpl", COMMON_HELPERS),
        ("deploy/app/Chart.yaml", APP_CHART),
        ("deploy/app/values.yaml", "partOf: platform\n"),
        ("deploy/app/templates/cm.yaml", APP_TEMPLATE),
        (
            "deploy/escape/Chart.yaml",
            "apiVersion: v2\nname: escape\nversion: 1.0.0\ndependencies:\n- name: etc\n  repository: file://../../../etc\n",
        ),
    ] {
        upstream.write(path, text).expect("write");
    }
    upstream
        .commit("charts with file:// dependencies")
        .expect("commit");
    let daemon = GitDaemon::start(root.path()).expect("git daemon");
    let url = daemon.url("charts.git");
    let git = GitSources::new(None, Some(root.path().join("cache")));
    let renderer = NativeRenderer;
    let chart = |path: &str| {
        json!({"chart": {"spec": {"chart": path,
            "sourceRef": {"kind": "GitRepository", "name": "charts"}}}})
    };
    let objects = vec![
        git_repository("charts", &url, None),
        release("app", chart("./deploy/app")),
    ];
    let out = flux_helm::expand(objects, &ctx(&renderer, &git)).unwrap_or_else(|e| panic!("{e}"));

    // The reference: the real helm builds the dependency from the same path, then renders.
    let work = tempfile::tempdir().expect("tempdir");
    let copy = work.path().join("repo");
    run(std::process::Command::new("cp")
        .arg("-a")
        .arg(&upstream.work)
        .arg(&copy))
    .expect("copy");
    let home = work.path().join("home");
    run(helm3(&home)
        .args(["dependency", "build"])
        .arg(copy.join("deploy/app")))
    .expect("helm dependency build");
    let expected = helm_template(
        &copy.join("deploy/app"),
        "app",
        &[],
        &json!({"greeting": "bonjour"}),
    );
    let ours: Vec<Value> = out.into_iter().map(as_helm_prints).collect();
    render_compare::compare_objects(&expected, &ours)
        .unwrap_or_else(|diff| panic!("differs from helm template:\n{diff}"));
    assert_eq!(
        ours[0]["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "platform"
    );

    // A file:// dependency leaving the repository is refused, naming the release, the
    // chart's Chart.yaml and the dependency; nothing of the app is rendered.
    let objects = vec![
        git_repository("charts", &url, None),
        release("app", chart("./deploy/app")),
        release("escape", chart("./deploy/escape")),
    ];
    let err = flux_helm::expand(objects, &ctx(&renderer, &git))
        .expect_err("a dependency outside the repository")
        .to_string();
    assert!(
        err.contains("HelmRelease shop/escape")
            && err.contains("deploy/escape")
            && err.contains("Chart.yaml dependencies[0].repository")
            && err.contains("dependency etc")
            && err.contains("leaves the repository"),
        "{err}"
    );
}

const FILES_TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-files\ndata:\n  logo: {{ .Files.Get \"files/logo.png\" | quote }}\n  note: {{ .Files.Get \"files/note.txt\" | quote }}\n";

/// A repository whose chart has files Flux's exclusions hide: a default (`*.png`), a
/// `.sourceignore` of `deploy/`, and what `spec.ignore` names.
fn ignoring_upstream(root: &Path) -> Upstream {
    let upstream = Upstream::create(root, "charts").expect("an upstream");
    for (path, text) in [
        ("README.md", "# charts\n"),
        (".github/workflows/ci.yaml", "on: push\n"),
        ("deploy/.sourceignore", "# scoped to deploy/\nextra.yaml\n"),
        ("deploy/web/Chart.yaml", CHART),
        ("deploy/web/values.yaml", VALUES),
        ("deploy/web/templates/cm.yaml", TEMPLATE),
        ("deploy/web/templates/files.yaml", FILES_TEMPLATE),
        (
            "deploy/web/templates/extra.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n",
        ),
        (
            "deploy/web/templates/debug.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: debug\n",
        ),
        ("deploy/web/files/logo.png", "not-really-a-png"),
        ("deploy/web/files/note.txt", "a note"),
    ] {
        upstream.write(path, text).expect("write");
    }
    upstream
        .commit("a chart with excluded files")
        .expect("commit");
    upstream
}

#[test]
fn git_repository_ignore_applies_on_top_of_flux_default_exclusions_and_sourceignore() {
    let root = tempfile::tempdir().expect("tempdir");
    let _upstream = ignoring_upstream(root.path());
    let daemon = GitDaemon::start(root.path()).expect("git daemon");
    let url = daemon.url("charts.git");
    let git = GitSources::new(None, Some(root.path().join("cache")));
    let renderer = NativeRenderer;
    let names = |out: &[Value]| -> Vec<String> {
        out.iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };

    // Without spec.ignore: the defaults hide the .png, deploy/.sourceignore hides extra.yaml.
    let objects = vec![
        git_repository("charts", &url, None),
        release("web", from_git("charts", &[])),
    ];
    let out = flux_helm::expand(objects, &ctx(&renderer, &git)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&out), ["web-cfg", "debug", "web-files"], "{out:#?}");
    let files = &out[2]["data"];
    assert_eq!(
        (files["logo"].as_str(), files["note"].as_str()),
        (Some(""), Some("a note"))
    );

    // spec.ignore comes last: it hides more, and `!` brings back what a default hid.
    let mut source = git_repository("charts", &url, None);
    source["spec"]["ignore"] =
        json!("# gitignore format\ndeploy/web/templates/debug.yaml\n!*.png\nnote.txt\n");
    let objects = vec![source, release("web", from_git("charts", &[]))];
    let out = flux_helm::expand(objects, &ctx(&renderer, &git)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&out), ["web-cfg", "web-files"], "{out:#?}");
    let files = &out[1]["data"];
    assert_eq!(
        (files["logo"].as_str(), files["note"].as_str()),
        (Some("not-really-a-png"), Some(""))
    );

    // An ignore that hides the chart itself: the chart is not found, the error names it.
    let mut source = git_repository("charts", &url, None);
    source["spec"]["ignore"] = json!("/deploy/web/\n");
    let objects = vec![source, release("web", from_git("charts", &[]))];
    let err = flux_helm::expand(objects, &ctx(&renderer, &git))
        .expect_err("the chart is excluded")
        .to_string();
    assert!(
        err.contains("HelmRelease shop/web") && err.contains("deploy/web"),
        "{err}"
    );
}

#[test]
fn a_source_with_ignore_hides_what_flux_would_not_archive() {
    let root = tempfile::tempdir().expect("tempdir");
    let _upstream = ignoring_upstream(root.path());
    let daemon = GitDaemon::start(root.path()).expect("git daemon");
    let mut config = tether_agent::source::SourceConfig::new(
        "charts",
        tether_agent::source::RedactedUrl::new(daemon.url("charts.git")),
        Reference::branch("main").expect("a branch"),
        root.path().join("cache-source"),
    );
    let fetch = |config: &tether_agent::source::SourceConfig| {
        tether_agent::source::fetch_snapshot_blocking(config, Default::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .tree
    };
    let has = |tree: &Tree, path: &str| {
        tree.kind(&tether_agent::tree::RelPath::parse(path).expect("a path"))
            .expect("readable")
            .is_some()
    };
    // Without `ignore` nothing is hidden (Tether's own sources are unchanged).
    let tree = fetch(&config);
    assert!(has(&tree, ".github/workflows/ci.yaml") && has(&tree, "README.md"));

    // An empty `ignore`: Flux's defaults and .sourceignore files only.
    config.ignore = Some(String::new());
    let tree = fetch(&config);
    for hidden in [
        ".github",
        "deploy/web/files/logo.png",
        "deploy/web/templates/extra.yaml",
    ] {
        assert!(!has(&tree, hidden), "{hidden} is excluded by default");
    }
    assert!(has(&tree, "README.md") && has(&tree, "deploy/web/files/note.txt"));

    config.ignore = Some("/*\n!/deploy/\n".into());
    let tree = fetch(&config);
    for hidden in [".github", "README.md"] {
        assert!(!has(&tree, hidden), "{hidden} is excluded");
    }
    // The last matching pattern decides, and go-git's (Flux's) `!/deploy/` matches every
    // path below deploy/: what the defaults and deploy/.sourceignore hid there is back.
    for kept in [
        "deploy/web/Chart.yaml",
        "deploy/web/files/logo.png",
        "deploy/web/templates/extra.yaml",
        "deploy/.sourceignore",
    ] {
        assert!(has(&tree, kept), "{kept} is kept");
    }
    let root_names: Vec<String> = tree
        .list(&tether_agent::tree::RelPath::root())
        .expect("a listing")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(root_names, ["deploy"]);
}
