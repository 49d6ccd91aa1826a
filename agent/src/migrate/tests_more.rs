//! More import tests: Flux components and Argo CD managedFieldsManagers.

use super::*;

#[test]
fn flux_components_are_relative_to_spec_path_and_bad_ones_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = kustomization(
        "good",
        "  path: ./apps/prod\n  components: [../../components/ha]\n  ignoreMissingComponents: true\n",
    );
    let escapes = kustomization(
        "escapes",
        "  path: ./apps\n  components: [../../../outside]\n",
    );
    let remote = kustomization(
        "remote",
        "  path: ./apps\n  components: [\"https://github.com/x/y//c\"]\n",
    );
    let absolute = kustomization("absolute", "  path: ./apps\n  components: [/etc/c]\n");
    write(
        dir.path(),
        &[
            ("clusters/prod/flux-system/gotk-sync.yaml", GOTK_SYNC),
            (
                "clusters/prod/apps.yaml",
                &format!("{good}---\n{escapes}---\n{remote}---\n{absolute}"),
            ),
        ],
    );
    let outcome = import(From::Flux, dir.path());
    let errors = errors(&outcome);
    assert_eq!(errors.len(), 3, "{errors:?}");
    for (name, problem) in [
        ("escapes", "leaves the repository"),
        ("remote", "local and relative"),
        ("absolute", "local and relative"),
    ] {
        let error = errors
            .iter()
            .find(|e| e.contains(&format!("Kustomization flux-system/{name} ")))
            .unwrap_or_else(|| panic!("no error for {name}: {errors:?}"));
        assert!(error.contains("spec.components[0]"), "{error}");
        assert!(error.contains(problem), "{error}");
    }
    assert_eq!(outcome.imported.apps.len(), 1);
    let overlay = outcome.imported.apps[0].kustomize.as_ref().unwrap();
    assert_eq!(overlay.components, ["../../components/ha"]);
    assert!(overlay.ignore_missing_components);
    let yaml = outcome.to_yaml().unwrap();
    assert!(yaml.contains("components:"), "{yaml}");
    assert!(yaml.contains("ignoreMissingComponents: true"), "{yaml}");
}

#[test]
fn argocd_managed_fields_managers_become_the_rules_managers() {
    let dir = tempfile::tempdir().unwrap();
    let app = APPLICATION.replace(
        "jsonPointers: [/spec/replicas]",
        "jsonPointers: [/spec/replicas]\n      managedFieldsManagers: [kube-controller-manager, rollouts-controller]",
    );
    assert_ne!(app, APPLICATION);
    write(dir.path(), &[("apps/a.yaml", &app)]);
    let outcome = import(From::Argocd, dir.path());
    assert!(outcome.errors.is_empty(), "{:?}", errors(&outcome));
    let rule = &outcome.imported.apps[0].ignore[0];
    assert_eq!(
        rule.managed_fields_managers,
        ["kube-controller-manager", "rollouts-controller"]
    );
    let yaml = outcome.to_yaml().unwrap();
    assert!(yaml.contains("managedFieldsManagers:"), "{yaml}");
    let config =
        Config::parse(&yaml, "imported", dir.path()).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(
        config.apps[0].ignore[0].managed_fields_managers,
        ["kube-controller-manager", "rollouts-controller"]
    );
}

#[test]
fn flux_git_repository_ignore_becomes_the_sources_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let with_ignore = GOTK_SYNC.replace(
        "  url: ssh://git@github.com/example/fleet\n",
        "  url: ssh://git@github.com/example/fleet\n  ignore: |\n    # docs\n    /docs/\n    !/docs/keep.yaml\n",
    );
    assert_ne!(with_ignore, GOTK_SYNC);
    let bad = GOTK_SYNC
        .replace("name: flux-system, namespace", "name: other, namespace")
        .replace(
            "  url: ssh://git@github.com/example/fleet\n",
            "  url: ssh://git@github.com/example/other\n  ignore: [a]\n",
        );
    write(
        dir.path(),
        &[
            ("clusters/prod/flux-system/gotk-sync.yaml", &with_ignore),
            ("clusters/prod/other.yaml", &bad),
            (
                "clusters/prod/apps.yaml",
                &kustomization("web", "  path: ./web\n"),
            ),
        ],
    );
    let outcome = import(From::Flux, dir.path());
    let errors = errors(&outcome);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("GitRepository flux-system/other") && errors[0].contains("spec.ignore"),
        "{errors:?}"
    );
    let source = &outcome.imported.sources[0];
    assert_eq!(
        source.ignore.as_deref(),
        Some("# docs\n/docs/\n!/docs/keep.yaml\n")
    );
    let yaml = outcome.to_yaml().unwrap();
    assert!(yaml.contains("ignore:"), "{yaml}");
    assert!(yaml.contains("!/docs/keep.yaml"), "{yaml}");
}
