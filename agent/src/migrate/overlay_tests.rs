use super::*;
use crate::tree::FsTree;
use serde_json::json;

fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, Tree) {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let tree = Tree::new(FsTree::new(dir.path().canonicalize().unwrap()));
    (dir, tree)
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx:1.0}]}\n";

fn render(tree: &Tree, dir: &str, overlay: &Overlay) -> Vec<Value> {
    let dir = RelPath::parse(dir).unwrap();
    render_with(tree, &dir, overlay, &RenderOptions::default())
        .unwrap()
        .into_iter()
        .map(|o| o.value)
        .collect()
}

#[test]
fn patches_images_and_names_apply_over_a_kustomization() {
    let (_dir, tree) = tree(&[
        ("app/deploy.yaml", DEPLOYMENT),
        ("app/kustomization.yaml", "resources: [deploy.yaml]\n"),
    ]);
    let overlay = Overlay {
        patches: vec![json!({
            "patch": "- op: replace\n  path: /spec/replicas\n  value: 3\n",
            "target": {"kind": "Deployment", "name": "web"},
        })],
        images: vec![json!({"name": "nginx", "newTag": "1.25"})],
        name_prefix: Some("prod-".into()),
        common_labels: [("team".to_owned(), "shop".to_owned())].into(),
        namespace: Some("shop".into()),
        ..Overlay::default()
    };
    let objects = render(&tree, "app", &overlay);
    assert_eq!(objects.len(), 1);
    let d = &objects[0];
    assert_eq!(d["metadata"]["name"], "prod-web");
    assert_eq!(d["metadata"]["namespace"], "shop");
    assert_eq!(d["metadata"]["labels"]["team"], "shop");
    assert_eq!(d["spec"]["selector"]["matchLabels"]["team"], "shop");
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
}

#[test]
fn plain_directories_select_files_as_argocd_does() {
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n");
    let (_dir, tree) = tree(&[
        ("app/a.yaml", &cm("a")),
        ("app/b.yml", &cm("b")),
        ("app/skip.yaml", &cm("skip")),
        (
            "app/sub/c.json",
            r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}"#,
        ),
        ("app/notes.txt", "not a manifest"),
    ]);
    let names = |files: FileSelection| {
        let overlay = Overlay {
            files: Some(files),
            ..Overlay::default()
        };
        let mut names: Vec<String> = render(&tree, "app", &overlay)
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    let top = FileSelection {
        recurse: false,
        include: None,
        exclude: None,
    };
    assert_eq!(names(top), ["a", "b", "skip"]);
    let all = FileSelection {
        recurse: true,
        include: None,
        exclude: Some("skip.yaml".into()),
    };
    assert_eq!(names(all), ["a", "b", "c"]);
    let some = FileSelection {
        recurse: true,
        include: Some("{a.yaml,sub/*}".into()),
        exclude: None,
    };
    assert_eq!(names(some), ["a", "c"]);
}

#[test]
fn fail_on_a_patch_that_does_not_apply_naming_the_app() {
    let (_dir, tree) = tree(&[("app/deploy.yaml", DEPLOYMENT)]);
    let overlay = Overlay {
        patches: vec![
            json!({"patch": "- op: replace\n  path: /spec/nothing/here\n  value: 3\n",
            "target": {"kind": "Deployment"}}),
        ],
        ..Overlay::default()
    };
    let dir = RelPath::parse("app").unwrap();
    let err = render_with(&tree, &dir, &overlay, &RenderOptions::default()).unwrap_err();
    assert!(err.to_string().contains("app"), "{err}");
}

const COMPONENT: &str = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n- patch: |-\n    - op: replace\n      path: /spec/replicas\n      value: 3\n  target: {kind: Deployment}\n";

#[test]
fn components_apply_relative_to_the_app_directory_after_its_own() {
    let (_dir, tree) = tree(&[
        ("apps/prod/deploy.yaml", DEPLOYMENT),
        ("components/ha/kustomization.yaml", COMPONENT),
    ]);
    let overlay = Overlay {
        components: vec!["../../components/ha".into()],
        ..Overlay::default()
    };
    let objects = render(&tree, "apps/prod", &overlay);
    assert_eq!(objects.len(), 1);
    assert_eq!(
        objects[0]["spec"]["replicas"], 3,
        "the component's patch applied"
    );
    let missing = Overlay {
        components: vec!["../../components/ha".into(), "../../components/gone".into()],
        ..Overlay::default()
    };
    let dir = RelPath::parse("apps/prod").unwrap();
    let err = render_with(&tree, &dir, &missing, &RenderOptions::default()).unwrap_err();
    assert!(err.to_string().contains("components/gone"), "{err}");
    let ignored = Overlay {
        ignore_missing_components: true,
        ..missing
    };
    assert_eq!(
        render(&tree, "apps/prod", &ignored)[0]["spec"]["replicas"],
        3
    );
    let escapes = Overlay {
        components: vec!["../../../../c".into()],
        ..Overlay::default()
    };
    let err = render_with(&tree, &dir, &escapes, &RenderOptions::default()).unwrap_err();
    assert!(err.to_string().contains("../../../../c"), "{err}");
}
