use super::*;

fn chosen(image: &str, tag: &str, digest: Option<char>) -> Chosen {
    Chosen {
        image: image.into(),
        tag: tag.into(),
        digest: digest.map(|c| format!("sha256:{}", c.to_string().repeat(64))),
    }
}

fn policies() -> BTreeMap<String, Chosen> {
    BTreeMap::from([
        (
            "flux-system:podinfo".into(),
            chosen("ghcr.io/stefanprodan/podinfo", "6.1.2", None),
        ),
        (
            "flux-system:sidecar".into(),
            chosen("registry.example/tools/sidecar", "1.4", None),
        ),
        (
            "flux-system:pinned".into(),
            chosen("ghcr.io/x/pinned", "2.0", Some('1')),
        ),
    ])
}

/// The lines that differ between two texts of the same line count.
fn changed_lines(a: &str, b: &str) -> Vec<usize> {
    assert_eq!(a.lines().count(), b.lines().count());
    a.lines()
        .zip(b.lines())
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn setters_change_only_the_values_they_mark() {
    let input = include_str!("testdata/deployment.yaml");
    let expected = include_str!("testdata/deployment.expected.yaml");
    let (out, changes) = apply_setters("apps/shop/deploy.yaml", input, &policies()).unwrap();
    assert_eq!(out, expected);
    assert_eq!(changed_lines(input, &out), [12, 15, 26, 27, 29]);
    assert_eq!(changes.len(), 5);
    assert_eq!(changes[0].old, "ghcr.io/stefanprodan/podinfo:6.0.0");
    assert_eq!(changes[0].new, "ghcr.io/stefanprodan/podinfo:6.1.2");
    assert_eq!(changes[0].policy, "flux-system:podinfo");
    // Applying again changes nothing: the agent's own commit cannot cause another.
    let (again, none) = apply_setters("apps/shop/deploy.yaml", &out, &policies()).unwrap();
    assert!(none.is_empty());
    assert_eq!(again, out);
}

#[test]
fn a_pinned_policy_writes_tag_and_digest() {
    let text = "image: ghcr.io/x/pinned:1.0 # {\"$imagepolicy\": \"flux-system:pinned\"}\n";
    let (out, _) = apply_setters("f.yaml", text, &policies()).unwrap();
    assert_eq!(
        out,
        format!(
            "image: ghcr.io/x/pinned:2.0@sha256:{} # {{\"$imagepolicy\": \"flux-system:pinned\"}}\n",
            "1".repeat(64)
        )
    );
}

#[test]
fn markers_in_broken_yaml_are_an_error_naming_the_file() {
    let text = "a: [1, 2\nimage: x:1 # {\"$imagepolicy\": \"flux-system:podinfo\"}\n";
    let err = apply_setters("apps/broken.yaml", text, &policies()).unwrap_err();
    assert!(matches!(err, UpdateError::YamlInvalid { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("apps/broken.yaml: not valid YAML"),
        "{err}"
    );
}

#[test]
fn malformed_markers_name_the_line() {
    let text = "a: 1\nimage: x:1 # {\"$imagepolicy\": \"podinfo\"}\n";
    let err = apply_setters("f.yaml", text, &policies()).unwrap_err();
    assert!(err.to_string().starts_with("f.yaml:2: marker"), "{err}");
    let text = "image: x:1 # {\"$imagepolicy\": \"flux-system:podinfo:size\"}\n";
    assert!(apply_setters("f.yaml", text, &policies()).is_err());
    let text = "image: {a: 1} # {\"$imagepolicy\": \"flux-system:podinfo\"}\n";
    let err = apply_setters("f.yaml", text, &policies()).unwrap_err();
    assert!(err.to_string().contains("no scalar"), "{err}");
}

#[test]
fn kustomize_images_entries_are_set_in_place() {
    let input = include_str!("testdata/kustomization.yaml");
    let expected = include_str!("testdata/kustomization.expected.yaml");
    let front = chosen("registry.example/shop/frontend", "1.2.0", None);
    let back = chosen("registry.example/shop/backend", "2.0.1", Some('2'));
    let targets = [
        kustomize::Target::from_chosen("shop/frontend", "ns:front", &front),
        kustomize::Target::from_chosen("shop/backend", "ns:back", &back),
    ];
    let (out, changes) =
        kustomize::apply("overlays/prod/kustomization.yaml", input, &targets).unwrap();
    assert_eq!(out, expected);
    assert_eq!(changes.len(), 3);
    assert_eq!(
        (changes[0].old.as_str(), changes[0].new.as_str()),
        ("1.0.0", "1.2.0")
    );
    let (_, none) = kustomize::apply("k.yaml", &out, &targets).unwrap();
    assert!(none.is_empty());
}

#[test]
fn kustomize_images_in_flow_style_are_refused() {
    let front = chosen("x", "1", None);
    let targets = [kustomize::Target::from_chosen("x", "ns:x", &front)];
    let err =
        kustomize::apply("k.yaml", "images: [{name: x, newTag: '0'}]\n", &targets).unwrap_err();
    assert!(err.to_string().contains("flow style"), "{err}");
}
