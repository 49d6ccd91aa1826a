use super::*;
use crate::tree::FsTree;

fn corpus(name: &str) -> Tree {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/migrate")
        .join(name);
    Tree::new(FsTree::new(root.canonicalize().unwrap()))
}

fn config(text: &str) -> Config {
    Config::parse(text, "tether.yaml", std::path::Path::new(".")).unwrap()
}

#[test]
fn flux_bootstrap_layout_becomes_apps_of_the_configured_source() {
    let config = config(
        "sources: [{name: fleet, url: 'file:///srv/fleet.git'}]\n\
         import: [{from: flux, paths: [clusters/production], urls: ['https://github.com/fluxcd/flux2-kustomize-helm-example']}]\n",
    );
    let tree = corpus("flux2-kustomize-helm-example");
    let found = discover(&config.import[0], &config.sources[0], &tree);
    let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<&str> = found
        .apps
        .iter()
        .filter_map(|a| a.name.as_deref())
        .collect();
    assert_eq!(names, ["infra-controllers", "infra-configs", "apps"]);
    let configs = &found.apps[1];
    assert_eq!(configs.source.as_deref(), Some("fleet"));
    assert_eq!(configs.depends_on, ["infra-controllers"]);
    let patches = &configs.kustomize.as_ref().unwrap().patches;
    assert_eq!(patches[0]["target"]["kind"], "ClusterIssuer");
    assert_eq!(found.apps[2].depends_on, ["infra-configs"]);
    let bootstrap = corpus("flux-bootstrap");
    let spec = ImportSpec {
        paths: vec!["clusters/staging".into()],
        urls: vec!["ssh://git@github.com/example/fleet".into()],
        ..config.import[0].clone()
    };
    let staging = discover(&spec, &config.sources[0], &bootstrap);
    let mut names: Vec<(&str, bool)> = staging
        .apps
        .iter()
        .filter_map(|a| a.name.as_deref().map(|n| (n, a.suspend)))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            ("apps", false),
            ("infra-configs", false),
            ("legacy", true),
            ("team-a", false)
        ],
        "the tenants holder is followed, not an app"
    );
    let effective = effective(&config, "fleet", &tree).unwrap();
    assert_eq!(effective.apps.len(), 3);
    assert!(super::super::live::effective(&config, "other", &tree).is_none());
}

#[test]
fn a_repository_that_is_not_the_source_is_an_error_naming_the_app() {
    let config = config(
        "sources: [{name: fleet, url: 'file:///srv/fleet.git'}]\n\
         import: [{from: flux, paths: [clusters/production]}]\n",
    );
    let found = discover(
        &config.import[0],
        &config.sources[0],
        &corpus("flux2-kustomize-helm-example"),
    );
    assert!(found.apps.is_empty());
    assert_eq!(found.errors.len(), 3);
    let text = found.errors[0].to_string();
    assert!(
        text.contains("source") && text.contains("import[].urls"),
        "{text}"
    );
}

#[test]
fn argocd_app_of_apps_yields_its_children_not_itself() {
    let config = config(
        "sources: [{name: examples, url: 'https://github.com/argoproj/argocd-example-apps.git'}]\n\
         import: [{from: argocd, paths: [argocd]}]\n",
    );
    let found = discover(
        &config.import[0],
        &config.sources[0],
        &corpus("argocd-example-apps"),
    );
    let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let mut names: Vec<&str> = found
        .apps
        .iter()
        .filter_map(|a| a.name.as_deref())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["guestbook", "kustomize-guestbook", "sock-shop"]);
}

#[test]
fn one_app_at_a_time_reads_only_the_files_named() {
    let config = config(
        "sources: [{name: fleet, url: 'https://github.com/fluxcd/flux2-kustomize-helm-example'}]\n\
         import: [{from: flux, paths: [clusters/production/flux-system, clusters/production/apps.yaml]}]\n",
    );
    let found = discover(
        &config.import[0],
        &config.sources[0],
        &corpus("flux2-kustomize-helm-example"),
    );
    let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<&str> = found
        .apps
        .iter()
        .filter_map(|a| a.name.as_deref())
        .collect();
    assert_eq!(names, ["apps"]);
}

#[test]
fn fail_on_a_path_that_leaves_the_repository_naming_the_entry() {
    let config = config(
        "sources: [{name: fleet, url: 'file:///srv/fleet.git'}]\n\
         import: [{from: flux, paths: [../elsewhere]}]\n",
    );
    let found = discover(
        &config.import[0],
        &config.sources[0],
        &corpus("flux-bootstrap"),
    );
    let text = found.errors[0].to_string();
    assert!(
        text.contains("import of source fleet") && text.contains("paths[0]"),
        "{text}"
    );
}

#[test]
fn fail_on_a_path_that_is_missing_or_holds_no_object_of_the_tool_naming_it() {
    let config = config(
        "sources: [{name: fleet, url: 'file:///srv/fleet.git'}]\n\
         import: [{from: flux, paths: [clusters/staging, clusters/nowhere, legacy], urls: ['ssh://git@github.com/example/fleet']}]\n",
    );
    let found = discover(
        &config.import[0],
        &config.sources[0],
        &corpus("flux-bootstrap"),
    );
    let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("clusters/nowhere")
            && errors[0].contains("paths[1]")
            && errors[0].contains("not found"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("legacy")
            && errors[1].contains("paths[2]")
            && errors[1].contains("holds no Flux Kustomization"),
        "{errors:?}"
    );
    assert!(
        found.errors.iter().all(|e| app_of(e).is_none()),
        "shown on the source's import status, not as an app"
    );
    assert!(!found.apps.is_empty(), "the good path still gives its apps");
}
