//! A Flux GitRepository's `spec.include`: another GitRepository's files (from `fromPath`)
//! copied in at `toPath` before the including repository's exclusions apply, as
//! source-controller builds the artifact. Both repositories are served by a real git daemon.

use serde_json::{Value, json};
use tether_agent::render::flux_helm::git::GitSources;
use tether_agent::render::flux_helm::{self, NativeRenderer};
use tether_tests::gitserver::{GitDaemon, Upstream};

#[path = "shared/flux_context.rs"]
mod flux_context;
use flux_context::ctx;

fn repository(name: &str, url: &str, extra: Value) -> Value {
    let mut spec = json!({"url": url, "interval": "5m", "ref": {"branch": "main"}});
    for (key, value) in extra.as_object().expect("a map") {
        spec[key] = value.clone();
    }
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": name, "namespace": "shop"}, "spec": spec})
}

fn release() -> Value {
    json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"interval": "10m", "chart": {"spec": {"chart": "./deploy/web",
            "sourceRef": {"kind": "GitRepository", "name": "charts"}}}}})
}

fn config_map(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  from: {{{{ .Chart.Name }}}}\n"
    )
}

fn names(out: &[Value]) -> Vec<String> {
    out.iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn an_included_repository_is_copied_in_at_to_path_and_the_includer_ignore_applies() {
    let root = tempfile::tempdir().expect("tempdir");
    let charts = Upstream::create(root.path(), "charts").expect("an upstream");
    for (path, text) in [
        (
            "deploy/web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.0.0\n".to_owned(),
        ),
        ("deploy/web/templates/own.yaml", config_map("own")),
    ] {
        charts.write(path, text).expect("write");
    }
    charts.commit("the chart").expect("commit");
    let shared = Upstream::create(root.path(), "shared").expect("an upstream");
    for (path, text) in [
        ("README.md", "# shared\n".to_owned()),
        ("templates/common/shared.yaml", config_map("shared")),
        ("templates/common/skip.yaml", config_map("skip")),
        (".sourceignore", "local.yaml\n".to_owned()),
        ("templates/common/local.yaml", config_map("local")),
    ] {
        shared.write(path, text).expect("write");
    }
    shared.commit("shared templates").expect("commit");
    let daemon = GitDaemon::start(root.path()).expect("git daemon");
    let renderer = NativeRenderer;
    let include = |extra: Value| {
        let mut include = json!({"repository": {"name": "shared"}, "fromPath": "templates/common",
            "toPath": "deploy/web/templates/shared"});
        for (key, value) in extra.as_object().expect("a map") {
            include[key] = value.clone();
        }
        include
    };
    let render = |charts_spec: Value, shared_spec: Value| {
        let git = GitSources::new(None, Some(root.path().join("cache")));
        flux_helm::expand(
            vec![
                repository("charts", &daemon.url("charts.git"), charts_spec),
                repository("shared", &daemon.url("shared.git"), shared_spec),
                release(),
            ],
            &ctx(&renderer, &git),
        )
    };

    // The included templates render with the chart; the shared repository's own
    // .sourceignore hid local.yaml; both GitRepositories are consumed.
    let out = render(json!({"include": [include(json!({}))]}), json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&out), ["own", "shared", "skip"], "{out:#?}");
    assert_eq!(out[1]["data"]["from"], "web");

    // The includer's spec.ignore applies to what was copied in.
    let out = render(
        json!({"include": [include(json!({}))], "ignore": "deploy/web/templates/shared/skip.yaml\n"}),
        json!({}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&out), ["own", "shared"]);

    // Without the include, the chart has only its own template, and the GitRepository no
    // one uses any more is an app object again.
    let out = render(json!({}), json!({})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&out), ["shared", "own"]);
    assert_eq!(out[0]["kind"], "GitRepository");

    // Refusals name the GitRepository and the include.
    for (charts_spec, shared_spec, wanted) in [
        (
            json!({"include": [include(json!({"toPath": "deploy/web/templates"}))]}),
            json!({}),
            "spec.include[0]: deploy/web/templates already exists",
        ),
        (
            json!({"include": [include(json!({"repository": {"name": "absent"}}))]}),
            json!({}),
            "spec.include[0].repository",
        ),
        (
            json!({"include": [include(json!({"fromPath": "../x"}))]}),
            json!({}),
            "spec.include[0].fromPath",
        ),
        (
            json!({"include": [include(json!({}))]}),
            json!({"include": [{"repository": {"name": "charts"}}]}),
            "cycle",
        ),
    ] {
        let err = render(charts_spec, shared_spec)
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("GitRepository shop/") && err.contains(wanted),
            "{wanted}: {err}"
        );
    }
}
