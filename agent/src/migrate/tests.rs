use super::*;
use crate::config::Config;
use std::path::Path;

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

const GOTK_SYNC: &str = "\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 1m0s
  ref: {branch: main}
  secretRef: {name: flux-system}
  url: ssh://git@github.com/example/fleet
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 10m0s
  path: ./clusters/prod
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
";

fn kustomization(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: {name}, namespace: flux-system}}\nspec:\n  interval: 1h\n  sourceRef: {{kind: GitRepository, name: flux-system}}\n  prune: true\n{extra}"
    )
}

fn errors(outcome: &Outcome) -> Vec<String> {
    outcome.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn flux_bootstrap_layout_becomes_ordered_apps_of_one_source() {
    let dir = tempfile::tempdir().unwrap();
    let apps = kustomization(
        "apps",
        "  path: ./apps/prod\n  targetNamespace: shop\n  dependsOn: [{name: infra}]\n  decryption: {provider: sops, secretRef: {name: sops-age}}\n",
    );
    let infra = kustomization("infra", "  path: ./infra\n  wait: true\n  timeout: 5m\n");
    write(
        dir.path(),
        &[
            ("clusters/prod/flux-system/gotk-sync.yaml", GOTK_SYNC),
            ("clusters/prod/apps.yaml", &format!("{apps}---\n{infra}")),
            (
                "apps/prod/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            ),
        ],
    );
    let outcome = import(From::Flux, dir.path());
    assert!(outcome.errors.is_empty(), "{:?}", errors(&outcome));
    let imported = &outcome.imported;
    assert_eq!(imported.sources.len(), 1);
    let source = &imported.sources[0];
    assert_eq!(
        (source.name.as_str(), source.reference.as_str()),
        ("flux-system", "main")
    );
    assert_eq!(source.interval, "1m");
    assert_eq!(
        source.credentials.ssh_private_key.as_deref(),
        Some("/etc/tether/sources/flux-system/identity")
    );
    let names: Vec<&str> = imported.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["infra", "apps"],
        "dependencies first, bootstrap left out"
    );
    let app = &imported.apps[1];
    assert_eq!(app.directories[0].path, "apps/prod");
    assert_eq!(app.namespace.as_deref(), Some("shop"));
    assert!(app.prune && app.self_heal && !app.create_namespace);
    assert!(outcome.notes.iter().any(|n| n.contains("sops-age")));
    assert!(outcome.notes.iter().any(|n| n.contains("bootstrap")));
}

#[test]
fn flux_unsupported_field_is_an_error_naming_it_and_others_still_import() {
    let dir = tempfile::tempdir().unwrap();
    let bad = kustomization("bad", "  path: ./a\n  force: true\n");
    let good = kustomization("good", "  path: ./b\n");
    write(
        dir.path(),
        &[
            ("clusters/prod/flux-system/gotk-sync.yaml", GOTK_SYNC),
            ("clusters/prod/apps.yaml", &format!("{bad}---\n{good}")),
        ],
    );
    let outcome = import(From::Flux, dir.path());
    let errors = errors(&outcome);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("Kustomization flux-system/bad"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("spec.force"), "{}", errors[0]);
    assert!(
        errors[0].contains("clusters/prod/apps.yaml"),
        "{}",
        errors[0]
    );
    assert_eq!(outcome.imported.apps.len(), 1);
    assert_eq!(outcome.imported.apps[0].name, "good");
}

const HELM_RELEASE: &str = "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, namespace: web}
spec:
  chart:
    spec:
      chart: podinfo
      sourceRef: {kind: HelmRepository, name: podinfo}
";

const HELM_REPOSITORY: &str = "apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: podinfo, namespace: web}
spec: {url: https://stefanprodan.github.io/podinfo}
";

#[test]
fn flux_app_holding_a_helm_release_and_its_source_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("clusters/prod/flux-system/gotk-sync.yaml", GOTK_SYNC),
            (
                "clusters/prod/apps.yaml",
                &kustomization("charts", "  path: ./charts\n"),
            ),
            ("charts/release.yaml", HELM_RELEASE),
            ("charts/repository.yaml", HELM_REPOSITORY),
        ],
    );
    let outcome = import(From::Flux, dir.path());
    assert_eq!(outcome.charts_refused, 0);
    assert!(errors(&outcome).is_empty(), "{:?}", errors(&outcome));
    assert_eq!(outcome.imported.apps.len(), 1);
    assert_eq!(outcome.imported.apps[0].name, "charts");
}

#[test]
fn flux_helm_release_whose_source_is_in_another_app_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("clusters/prod/flux-system/gotk-sync.yaml", GOTK_SYNC),
            (
                "clusters/prod/apps.yaml",
                &kustomization("charts", "  path: ./charts\n"),
            ),
            (
                "clusters/prod/sources.yaml",
                &kustomization("sources", "  path: ./sources\n"),
            ),
            ("charts/release.yaml", HELM_RELEASE),
            ("sources/repository.yaml", HELM_REPOSITORY),
        ],
    );
    let outcome = import(From::Flux, dir.path());
    let errors = errors(&outcome);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("HelmRelease web/podinfo")
            && errors[0].contains("spec.chart.spec.sourceRef")
            && errors[0].contains("HelmRepository web/podinfo"),
        "{}",
        errors[0]
    );
    let names: Vec<&str> = outcome
        .imported
        .apps
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["sources"]);
}

#[test]
fn flux_refs_map_with_flux_precedence() {
    let repo = |r: &str| {
        format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: s, namespace: n}}\nspec: {{url: https://x/y, ref: {r}}}\n"
        )
    };
    for (r, expected) in [
        ("{branch: dev}", "dev"),
        ("{tag: v1.2.0}", "tag:v1.2.0"),
        ("{semver: '>=1.0.0', tag: v1}", "semver:>=1.0.0"),
        ("{commit: abc123, branch: main}", "commit:abc123"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("s.yaml", &repo(r))]);
        let outcome = import(From::Flux, dir.path());
        assert!(outcome.errors.is_empty(), "{:?}", errors(&outcome));
        assert_eq!(outcome.imported.sources[0].reference, expected, "{r}");
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "s.yaml",
            &repo("{branch: main}").replace("ref:", "recurseSubmodules: true, ref:"),
        )],
    );
    let errors = errors(&import(From::Flux, dir.path()));
    assert!(
        errors.len() == 1 && errors[0].contains("spec.recurseSubmodules"),
        "{errors:?}"
    );
}

#[test]
fn flux_dependency_cycle_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = kustomization("a", "  path: ./a\n  dependsOn: [{name: b}]\n");
    let b = kustomization("b", "  path: ./b\n  dependsOn: [{name: a}]\n");
    write(
        dir.path(),
        &[
            ("clusters/prod/flux-system/gotk-sync.yaml", GOTK_SYNC),
            ("clusters/prod/apps.yaml", &format!("{a}---\n{b}")),
        ],
    );
    let errors = errors(&import(From::Flux, dir.path()));
    assert!(errors.iter().any(|e| e.contains("cycle")), "{errors:?}");
}

const APPLICATION: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: argocd}
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: HEAD
    path: ./guestbook
  destination: {server: https://kubernetes.default.svc, namespace: guestbook}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true, ServerSideApply=true, PruneLast=true]
  ignoreDifferences:
    - group: apps
      kind: Deployment
      jsonPointers: [/spec/replicas]
      jqPathExpressions: ['.metadata.annotations[\"a/b\"]']
";

#[test]
fn argocd_application_maps_source_policy_and_ignores() {
    let dir = tempfile::tempdir().unwrap();
    let other = APPLICATION
        .replace("name: guestbook,", "name: other,")
        .replace("ServerSideApply=true", "Prune=false");
    write(
        dir.path(),
        &[("apps/a.yaml", APPLICATION), ("apps/b.yaml", &other)],
    );
    let outcome = import(From::Argocd, dir.path());
    assert!(outcome.errors.is_empty(), "{:?}", errors(&outcome));
    let imported = &outcome.imported;
    assert_eq!(
        imported.sources.len(),
        1,
        "one source per repository and revision"
    );
    assert_eq!(imported.sources[0].name, "argocd-example-apps");
    assert_eq!(imported.sources[0].reference, "main");
    assert!(outcome.notes.iter().any(|n| n.contains("HEAD")));
    let app = &imported.apps[0];
    assert_eq!(app.directories[0].path, "guestbook");
    assert_eq!(app.namespace.as_deref(), Some("guestbook"));
    assert!(app.create_namespace && app.prune && app.self_heal);
    assert_eq!(
        app.ignore[0].paths,
        ["/spec/replicas", "/metadata/annotations/a~1b"]
    );
    let target = app.ignore[0].target.as_ref().unwrap();
    assert_eq!(target.group.as_deref(), Some("apps"));
    assert_eq!(target.kind.as_deref(), Some("Deployment"));
    assert!(
        !imported.apps[1].prune,
        "Prune=false wins over automated.prune"
    );
}

#[test]
fn argocd_unmappable_fields_are_errors_naming_them() {
    for (change, field) in [
        (
            "    automated: {prune: true, selfHeal: true}\n",
            "spec.syncPolicy.automated",
        ),
        ("server: https://kubernetes.default.svc", "spec.destination"),
        (
            "jsonPointers: [/spec/replicas]",
            "ignoreDifferences[0].managedFieldsManagers",
        ),
        (
            "'.metadata.annotations[\"a/b\"]'",
            "ignoreDifferences[0].jqPathExpressions",
        ),
        (
            "path: ./guestbook",
            "spec.source.kustomize.commonAnnotationsEnvsubst",
        ),
        ("path: ./guestbook", "spec.source.helm.fileParameters"),
    ] {
        let replacement = match field {
            "spec.syncPolicy.automated" => String::new(),
            "spec.destination" => "server: https://remote:6443".to_owned(),
            "ignoreDifferences[0].managedFieldsManagers" => {
                "managedFieldsManagers: kube-controller-manager".to_owned()
            }
            "ignoreDifferences[0].jqPathExpressions" => {
                "'.spec.containers[] | select(.name)'".to_owned()
            }
            "spec.source.kustomize.commonAnnotationsEnvsubst" => {
                "path: ./guestbook\n    kustomize: {commonAnnotationsEnvsubst: true}".to_owned()
            }
            _ => "path: ./guestbook\n    helm: {fileParameters: [{name: a, path: b}]}".to_owned(),
        };
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[("a.yaml", &APPLICATION.replace(change, &replacement))],
        );
        let outcome = import(From::Argocd, dir.path());
        let errors = errors(&outcome);
        assert_eq!(errors.len(), 1, "{field}: {errors:?}");
        assert!(errors[0].contains(field), "{field}: {}", errors[0]);
        assert!(
            errors[0].contains("Application argocd/guestbook"),
            "{}",
            errors[0]
        );
        assert!(outcome.imported.apps.is_empty());
    }
}

#[test]
fn imported_config_is_read_by_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("clusters/prod/flux-system/gotk-sync.yaml", GOTK_SYNC),
            (
                "clusters/prod/apps.yaml",
                &kustomization("web", "  path: ./web\n  targetNamespace: web\n"),
            ),
        ],
    );
    let outcome = import(From::Flux, dir.path());
    let text = outcome.to_yaml().unwrap();
    let config =
        Config::parse(&text, "imported", dir.path()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(config.sources[0].url, "ssh://git@github.com/example/fleet");
    assert_eq!(config.apps[0].name.as_deref(), Some("web"));
    assert_eq!(config.apps[0].namespace.as_deref(), Some("web"));
    assert_eq!(config.apps[0].directories[0].path, "web");
}

#[test]
fn command_exits_one_and_prints_errors_when_something_is_not_mapped() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "a.yaml",
            &APPLICATION.replace("project: default", "project: default\n  sources: []"),
        )],
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(command(From::Argocd, dir.path(), &mut out, &mut err), 1);
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("spec.sources"), "{err}");
    assert_eq!(
        command(
            From::Argocd,
            &dir.path().join("none"),
            &mut out,
            &mut Vec::new()
        ),
        2
    );
}

const APPSET: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: cluster-addons, namespace: argocd}
spec:
  generators:
    - git:
        repoURL: https://github.com/example/addons.git
        revision: main
        directories:
          - path: addons/*
          - path: addons/legacy
            exclude: true
  template:
    metadata: {name: '{{path.basename}}'}
    spec:
      project: default
      source:
        repoURL: https://github.com/example/addons.git
        targetRevision: main
        path: '{{path}}'
      destination: {server: https://kubernetes.default.svc, namespace: '{{path[1]}}'}
      syncPolicy:
        automated: {prune: true}
";

#[test]
fn applicationset_git_directories_becomes_one_generator_with_the_same_templates() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("appset.yaml", APPSET)]);
    let outcome = import(From::Argocd, dir.path());
    assert!(outcome.errors.is_empty(), "{:?}", errors(&outcome));
    let app = &outcome.imported.apps[0];
    assert_eq!(app.name, "{{path.basename}}");
    assert_eq!(app.namespace.as_deref(), Some("{{path[1]}}"));
    let dirs: Vec<(&str, bool)> = app
        .directories
        .iter()
        .map(|d| (d.path.as_str(), d.exclude))
        .collect();
    assert_eq!(dirs, [("addons/*", false), ("addons/legacy", true)]);
    assert!(app.prune && !app.self_heal);
    let config = Config::parse(&outcome.to_yaml().unwrap(), "imported", dir.path()).unwrap();
    assert!(config.apps[0].directories[1].exclude);
}

#[test]
fn applicationset_list_generator_makes_one_app_per_element() {
    let list = APPSET
        .replace(
            "    - git:\n        repoURL: https://github.com/example/addons.git\n        revision: main\n        directories:\n          - path: addons/*\n          - path: addons/legacy\n            exclude: true\n",
            "    - list:\n        elements: [{app: web}, {app: api}]\n",
        )
        .replace("'{{path.basename}}'", "'{{app}}'")
        .replace("'{{path}}'", "'apps/{{app}}'")
        .replace("'{{path[1]}}'", "'{{app}}'");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("appset.yaml", &list)]);
    let outcome = import(From::Argocd, dir.path());
    assert!(outcome.errors.is_empty(), "{:?}", errors(&outcome));
    let apps: Vec<(&str, &str)> = outcome
        .imported
        .apps
        .iter()
        .map(|a| (a.name.as_str(), a.directories[0].path.as_str()))
        .collect();
    assert_eq!(apps, [("web", "apps/web"), ("api", "apps/api")]);
}

#[test]
fn applicationset_unsupported_generators_are_errors_naming_the_field() {
    for (from, to, field) in [
        (
            "directories:",
            "files: [{exclude: false}]\n        ignored:",
            "git.files[0].path",
        ),
        (
            "  generators:",
            "  goTemplate: true\n  generators:",
            "spec.goTemplate",
        ),
        (
            "path: '{{path}}'",
            "path: '{{path}}/x'",
            "spec.template.spec.source.path",
        ),
        (
            "automated: {prune: true}",
            "syncOptions: [Replace=true]",
            "spec.template.spec.syncPolicy",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("appset.yaml", &APPSET.replace(from, to))]);
        let errors = errors(&import(From::Argocd, dir.path()));
        assert_eq!(errors.len(), 1, "{field}: {errors:?}");
        assert!(errors[0].contains(field), "{field}: {}", errors[0]);
        assert!(
            errors[0].contains("ApplicationSet argocd/cluster-addons"),
            "{}",
            errors[0]
        );
    }
}

#[test]
fn names_that_are_not_dns_labels_are_errors_and_repository_names_are_sanitised() {
    let dir = tempfile::tempdir().unwrap();
    let app = APPLICATION
        .replace("name: guestbook,", "name: example.guestbook,")
        .replace("argocd-example-apps.git", "Example_Apps.git");
    write(dir.path(), &[("a.yaml", &app)]);
    let outcome = import(From::Argocd, dir.path());
    let errors = errors(&outcome);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("app example.guestbook") && errors[0].contains("metadata.name"));
    assert!(outcome.imported.apps.is_empty());
    assert_eq!(outcome.imported.sources[0].name, "example-apps");
}

#[path = "tests_more.rs"]
mod more;
