use super::*;

fn files(entries: &[(&str, &str)]) -> Files {
    entries
        .iter()
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
        .collect()
}

const STAGING: &str = "resources: [../../base]\nimages:\n- name: shop/frontend\n  newTag: 1.4.0\n- name: shop/worker\n  newName: registry.example/worker\n  newTag: 2.0.0\n";
const PRODUCTION: &str = "resources: [../../base]\n# production pins\nimages:\n- name: shop/frontend\n  newTag: 1.2.0 # reviewed\nnamePrefix: prod-\n";

#[test]
fn the_target_overlay_gets_the_source_overlays_images_and_nothing_else() {
    let files = files(&[
        ("o/staging/kustomization.yaml", STAGING),
        ("o/production/kustomization.yaml", PRODUCTION),
        ("o/staging/patch.yaml", "replicas: 1\n"),
        ("o/production/patch.yaml", "replicas: 5\n"),
    ]);
    let (edits, diff) = promote_files(&files, "o/staging", "o/production", &[], "main").unwrap();
    assert_eq!(
        edits.files["o/production/kustomization.yaml"],
        "resources: [../../base]\n# production pins\nimages:\n- name: shop/frontend\n  newTag: 1.4.0 # reviewed\n- name: shop/worker\n  newName: registry.example/worker\n  newTag: 2.0.0\nnamePrefix: prod-\n"
    );
    assert_eq!(
        edits.files.len(),
        1,
        "the patch differs but was not asked for"
    );
    assert_eq!(
        diff,
        "--- a/o/production/kustomization.yaml\n+++ b/o/production/kustomization.yaml\n@@ -2,5 +2,8 @@\n # production pins\n images:\n - name: shop/frontend\n-  newTag: 1.2.0 # reviewed\n+  newTag: 1.4.0 # reviewed\n+- name: shop/worker\n+  newName: registry.example/worker\n+  newTag: 2.0.0\n namePrefix: prod-\n"
    );
}

#[test]
fn markers_take_the_values_the_source_overlay_holds() {
    let marker =
        |tag: &str| format!("image: ghcr.io/org/app:{tag} # {{\"$imagepolicy\": \"apps:app\"}}\n");
    let files = files(&[
        ("o/staging/deploy.yaml", &marker("3.1.0")),
        ("o/production/deploy.yaml", &marker("3.0.0")),
    ]);
    let (edits, _) = promote_files(&files, "o/staging", "o/production", &[], "main").unwrap();
    assert_eq!(edits.files["o/production/deploy.yaml"], marker("3.1.0"));
}

#[test]
fn named_files_are_copied_whole_and_missing_overlays_are_named() {
    let files = files(&[
        ("o/staging/kustomization.yaml", STAGING),
        ("o/production/kustomization.yaml", STAGING),
        ("o/staging/config.yaml", "a: 2\n"),
        ("o/production/config.yaml", "a: 1\n"),
    ]);
    let (edits, _) = promote_files(
        &files,
        "o/staging",
        "o/production",
        &["config.yaml".into()],
        "main",
    )
    .unwrap();
    assert_eq!(edits.files["o/production/config.yaml"], "a: 2\n");
    let (same, diff) = promote_files(&files, "o/staging", "o/production", &[], "main").unwrap();
    assert!(same.files.is_empty() && diff.is_empty());
    let err = promote_files(&files, "o/staging", "o/prod", &[], "main")
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "o/prod: no such overlay on branch main");
}

#[test]
fn a_named_file_the_target_lacks_is_created() {
    let files = files(&[
        ("o/staging/kustomization.yaml", STAGING),
        ("o/production/kustomization.yaml", STAGING),
        ("o/staging/extra.yaml", "b: 1\n"),
    ]);
    let (edits, diff) = promote_files(
        &files,
        "o/staging",
        "o/production",
        &["extra.yaml".into()],
        "main",
    )
    .unwrap();
    assert_eq!(edits.files["o/production/extra.yaml"], "b: 1\n");
    assert!(diff.ends_with("@@ -1,0 +1,1 @@\n+b: 1\n"), "{diff}");
}
