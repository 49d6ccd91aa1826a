//! Tests of the render entry point: plain directories, path safety, bounds, decryption of
//! generator inputs.

use super::*;
use crate::tree::FsTree;
use std::os::unix::fs::symlink;

fn tree_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Tree) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, body) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, body).expect("write");
    }
    let tree = Tree::new(FsTree::new(dir.path()));
    (dir, tree)
}

fn render_root(tree: &Tree) -> Result<Vec<Object>, RenderError> {
    render(tree, &RelPath::root(), &RenderOptions::default())
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n";

#[test]
fn plain_directories_are_read_recursively_in_path_order() {
    let (_dir, tree) = tree_with(&[
        (
            "b.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        ),
        (
            "a/z.yml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        ),
        ("README.md", "not a manifest: [\n"),
        (
            "x.json",
            r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "j"}}"#,
        ),
        (".hidden/h.yaml", "this is: [not read\n"),
    ]);
    let objects = render_root(&tree).expect("render");
    let names: Vec<&str> = objects
        .iter()
        .map(|o| o.value["metadata"]["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["a", "b", "c", "j"]);
    assert_eq!(objects[0].source.as_str(), "a/z.yml");
}

#[test]
fn plain_manifests_read_yaml_1_1_booleans_like_kubectl_apply() {
    let (_dir, tree) = tree_with(&[(
        "a.yaml",
        "apiVersion: v1\nkind: X\nmetadata: {name: a}\nspec: {on: yes, mode: 0644}\n",
    )]);
    let objects = render_root(&tree).expect("render");
    assert_eq!(objects[0].value["spec"]["mode"], 420);
    assert_eq!(objects[0].value["spec"]["on"], true);
}

#[test]
fn fail_plain_document_without_kind() {
    let (_dir, tree) = tree_with(&[("a.yaml", "apiVersion: v1\nmetadata: {name: a}\n")]);
    let err = render_root(&tree).expect_err("no kind");
    assert!(
        matches!(err, RenderError::NotAnObject { field: "kind", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("a.yaml"), "{err}");
}

#[test]
fn fail_resource_outside_the_root() {
    let (_dir, tree) = tree_with(&[(
        "app/kustomization.yaml",
        "resources:\n- ../../outside.yaml\n",
    )]);
    let err = render(
        &tree,
        &RelPath::parse("app").expect("path"),
        &RenderOptions::default(),
    )
    .expect_err("escape");
    assert!(
        matches!(
            err,
            RenderError::KustomizeFailed(KustomizeError::PathRefused { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("app/kustomization.yaml"), "{err}");
}

#[test]
fn fail_absolute_resource_path() {
    let (_dir, tree) = tree_with(&[("kustomization.yaml", "resources:\n- /etc/passwd\n")]);
    let err = render_root(&tree).expect_err("absolute");
    assert_eq!(err.reason(), "PathRefused", "{err}");
}

#[test]
fn fail_symlink_leaving_the_root() {
    let (dir, tree) = tree_with(&[("kustomization.yaml", "resources:\n- link.yaml\n")]);
    symlink("/etc/hostname", dir.path().join("link.yaml")).expect("symlink");
    let err = render_root(&tree).expect_err("symlink");
    assert!(
        err.to_string().contains("leaves the repository root"),
        "{err}"
    );
}

#[test]
fn fail_patch_file_outside_the_kustomization_directory() {
    let (_dir, tree) = tree_with(&[
        ("patch.yaml", CM),
        ("app/cm.yaml", CM),
        (
            "app/kustomization.yaml",
            "resources:\n- cm.yaml\npatches:\n- path: ../patch.yaml\n",
        ),
    ]);
    let err = render(
        &tree,
        &RelPath::parse("app").expect("path"),
        &RenderOptions::default(),
    )
    .expect_err("outside");
    assert!(
        matches!(
            err,
            RenderError::KustomizeFailed(KustomizeError::PathRefused { .. })
        ),
        "{err}"
    );
}

#[test]
fn fail_kustomization_cycle() {
    let (_dir, tree) = tree_with(&[
        ("kustomization.yaml", "resources:\n- a\n"),
        ("a/kustomization.yaml", "resources:\n- ../b\n"),
        ("b/kustomization.yaml", "resources:\n- ../a\n"),
    ]);
    let err = render_root(&tree).expect_err("cycle");
    assert!(
        matches!(
            err,
            RenderError::KustomizeFailed(KustomizeError::CycleDetected { .. })
        ),
        "{err}"
    );
}

/// Level `i` builds two overlays of level `i + 1` (`a` and `b`, with different prefixes and,
/// from components, different labels): no cycle, but twice the work at every level.
fn diamond(levels: usize, via_components: bool) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for i in 0..levels {
        let next = i + 1;
        let (field, kind) = if via_components && i > 0 {
            ("components", "kind: Component\n")
        } else {
            ("resources", "")
        };
        files.push((
            format!("l{i}/kustomization.yaml"),
            format!("{kind}{field}:\n- a\n- b\n"),
        ));
        for side in ["a", "b"] {
            let body = if via_components {
                format!(
                    "kind: Component\ncommonAnnotations: {{side-{i}: {side}}}\ncomponents:\n- ../../l{next}\n"
                )
            } else {
                format!("namePrefix: {side}-\nresources:\n- ../../l{next}\n")
            };
            files.push((format!("l{i}/{side}/kustomization.yaml"), body));
        }
    }
    let last = if via_components {
        "kind: Component\ncommonLabels: {leaf: \"yes\"}\n"
    } else {
        "resources:\n- cm.yaml\n"
    };
    files.push((format!("l{levels}/kustomization.yaml"), last.to_owned()));
    files.push((
        format!("l{levels}/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n".to_owned(),
    ));
    files
}

#[test]
fn fail_exponential_bases_and_components_are_bounded() {
    for via_components in [false, true] {
        let mut files = diamond(25, via_components);
        if via_components {
            // The components apply to one ConfigMap of the top kustomization.
            files.push((
                "top/kustomization.yaml".into(),
                "resources:\n- cm.yaml\ncomponents:\n- ../l0\n".into(),
            ));
            files.push((
                "top/cm.yaml".into(),
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n".into(),
            ));
            files[0].1 = files[0]
                .1
                .replace("resources", "kind: Component\ncomponents");
        }
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_str()))
            .collect();
        let (_dir, tree) = tree_with(&refs);
        let start = if via_components { "top" } else { "l0" };
        let err = render(
            &tree,
            &RelPath::parse(start).expect("path"),
            &RenderOptions::default(),
        )
        .expect_err("exponential work is refused");
        assert_eq!(err.reason(), "LimitExceeded", "{err}");
        assert!(
            err.to_string().contains("kustomization files loaded"),
            "{err}"
        );
    }
}

/// A chain of `levels` kustomizations, each a resource of the one above; the last holds a
/// ConfigMap.
fn chain(levels: usize) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = (0..levels)
        .map(|i| {
            (
                format!("c{i}/kustomization.yaml"),
                format!("namePrefix: p{i}-\nresources:\n- ../c{}\n", i + 1),
            )
        })
        .collect();
    files.push((
        format!("c{levels}/kustomization.yaml"),
        "resources:\n- cm.yaml\n".into(),
    ));
    files.push((
        format!("c{levels}/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n".into(),
    ));
    files
}

#[test]
fn deep_nesting_renders_on_the_builds_own_stack_and_deeper_is_refused() {
    // 63 levels below the top: the deepest accepted, whatever the calling thread's stack.
    let deepest = chain(crate::render::kustomize::load::MAX_NESTING - 1);
    let refs: Vec<(&str, &str)> = deepest
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    let (_dir, tree) = tree_with(&refs);
    let objects = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            render(
                &tree,
                &RelPath::parse("c0").expect("path"),
                &RenderOptions::default(),
            )
        })
        .expect("thread")
        .join()
        .expect("no overflow")
        .expect("renders");
    assert_eq!(objects.len(), 1);
    assert!(
        objects[0].value["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("p0-p1-") && n.ends_with("-x")),
        "{}",
        objects[0].value
    );

    let deeper = chain(crate::render::kustomize::load::MAX_NESTING + 1);
    let refs: Vec<(&str, &str)> = deeper
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    let (_dir, tree) = tree_with(&refs);
    let err = render(
        &tree,
        &RelPath::parse("c0").expect("path"),
        &RenderOptions::default(),
    )
    .expect_err("too deep");
    assert_eq!(err.reason(), "LimitExceeded", "{err}");
    assert!(
        err.to_string().contains("nesting of kustomizations"),
        "{err}"
    );
}

#[test]
fn fail_render_time_budget() {
    let files = diamond(6, false);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    let (_dir, tree) = tree_with(&refs);
    let l0 = RelPath::parse("l0").expect("path");
    let rendered = render(&tree, &l0, &RenderOptions::default()).expect("64 objects");
    assert_eq!(rendered.len(), 64);
    let options = RenderOptions {
        max_render_time: std::time::Duration::ZERO,
        ..RenderOptions::default()
    };
    let err = render(&tree, &l0, &options).expect_err("no time at all");
    assert!(err.to_string().contains("budget"), "{err}");
}

#[test]
fn fail_too_many_documents() {
    let many: String = (0..50)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n---\n"))
        .collect();
    let (_dir, tree) = tree_with(&[
        ("kustomization.yaml", "resources:\n- many.yaml\n"),
        ("many.yaml", &many),
    ]);
    let options = RenderOptions {
        max_documents: 10,
        ..RenderOptions::default()
    };
    let err = render(&tree, &RelPath::root(), &options).expect_err("too many");
    assert!(err.to_string().contains("many.yaml"), "{err}");
    let plain = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    let files: Vec<(String, String)> = (0..12)
        .map(|i| {
            (
                format!("f{i}.yaml"),
                plain.replace("name: c", &format!("name: c{i}")),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    let (_dir, tree) = tree_with(&refs);
    let err = render(&tree, &RelPath::root(), &options).expect_err("too many files");
    assert!(err.to_string().contains("limit of 10"), "{err}");
}

#[test]
fn fail_output_over_the_size_limit() {
    let (_dir, tree) = tree_with(&[("a.yaml", CM)]);
    let options = RenderOptions {
        max_output_bytes: 10,
        ..RenderOptions::default()
    };
    let err = render(&tree, &RelPath::root(), &options).expect_err("too big");
    assert!(matches!(err, RenderError::LimitExceeded { .. }), "{err}");
}

#[test]
fn fail_alias_bomb_in_a_resource() {
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let (_dir, tree) = tree_with(&[
        ("kustomization.yaml", "resources:\n- bomb.yaml\n"),
        ("bomb.yaml", &bomb),
    ]);
    let err = render_root(&tree).expect_err("bomb");
    assert!(err.to_string().contains("bomb.yaml"), "{err}");
}

struct FakeDecryptor;

impl Decryptor for FakeDecryptor {
    fn decrypt_file(&self, path: &RelPath, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        assert!(
            is_sops_dotenv(bytes),
            "{path}: only encrypted inputs are decrypted"
        );
        Ok(Zeroizing::new(b"PASSWORD=plain\n".to_vec()))
    }

    fn decrypt_object(&self, _path: &RelPath, object: &Value) -> Result<Value, String> {
        let mut plain = object.clone();
        if let Some(map) = plain.as_object_mut() {
            map.remove("sops");
        }
        if plain["metadata"]["name"] == "broken" {
            return Err("MAC mismatch".into());
        }
        plain["data"]["a"] = Value::from(self.hold(Zeroizing::new(b"plain".to_vec())));
        Ok(plain)
    }

    fn hold(&self, value: Zeroizing<Vec<u8>>) -> String {
        crate::render::stand_in(&String::from_utf8_lossy(&value))
    }
}

const SOPS_ENV: &str = "PASSWORD=ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops_mac=ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n";

#[test]
fn encrypted_generator_inputs_go_through_the_decryptor() {
    let (_dir, tree) = tree_with(&[
        (
            "kustomization.yaml",
            "secretGenerator:\n- name: s\n  envs: [s.env]\n",
        ),
        ("s.env", SOPS_ENV),
    ]);
    let options = RenderOptions {
        decryptor: Some(Arc::new(FakeDecryptor)),
        ..RenderOptions::default()
    };
    let objects = render(&tree, &RelPath::root(), &options).expect("render");
    assert_eq!(
        objects[0].value["data"]["PASSWORD"],
        crate::render::stand_in("plain"),
        "a decrypted generator value is held by the decryptor, not base64 in the object"
    );
}

#[test]
fn encrypted_manifests_are_decrypted_before_the_overlay_transforms_them() {
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata:\n  a: ENC[AES256_GCM,data:x]\nsops:\n  mac: ENC[AES256_GCM,data:y]\n  version: 3.9.0\n";
    let (_dir, tree) = tree_with(&[
        ("base/kustomization.yaml", "resources:\n- s.yaml\n"),
        ("base/s.yaml", secret),
        (
            "prod/kustomization.yaml",
            "resources: [../base]\nnamespace: prod\nnamePrefix: p-\nlabels:\n- pairs: {tier: db}\n",
        ),
    ]);
    let options = RenderOptions {
        decryptor: Some(Arc::new(FakeDecryptor)),
        ..RenderOptions::default()
    };
    let objects = render(&tree, &RelPath::parse("prod").expect("path"), &options).expect("render");
    let s = &objects[0].value;
    assert!(!is_sops_object(s), "{s}");
    assert_eq!(s["metadata"]["name"], "p-db");
    assert_eq!(s["metadata"]["namespace"], "prod");
    assert_eq!(s["metadata"]["labels"]["tier"], "db");
    assert_eq!(s["data"]["a"], crate::render::stand_in("plain"));
}

#[test]
fn an_encrypted_manifest_that_fails_to_decrypt_is_marked_and_the_rest_renders() {
    let broken = "apiVersion: v1\nkind: Secret\nmetadata: {name: broken}\ndata:\n  a: ENC[AES256_GCM,data:x]\nsops:\n  mac: ENC[AES256_GCM,data:y]\n  version: 3.9.0\n";
    let (_dir, tree) = tree_with(&[
        ("kustomization.yaml", "resources: [s.yaml, cm.yaml]\n"),
        ("s.yaml", broken),
        (
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        ),
    ]);
    let options = RenderOptions {
        decryptor: Some(Arc::new(FakeDecryptor)),
        ..RenderOptions::default()
    };
    let objects = render(&tree, &RelPath::root(), &options).expect("render");
    assert_eq!(objects.len(), 2);
    let s = objects
        .iter()
        .find(|o| o.value["kind"] == "Secret")
        .expect("secret");
    assert_eq!(
        s.value["metadata"]["annotations"][crate::render::DECRYPT_FAILED_ANNOTATION],
        "MAC mismatch"
    );
}

#[test]
fn fail_encrypted_generator_input_without_decryptor() {
    let (_dir, tree) = tree_with(&[
        (
            "kustomization.yaml",
            "secretGenerator:\n- name: s\n  envs: [s.env]\n",
        ),
        ("s.env", SOPS_ENV),
    ]);
    let err = render_root(&tree).expect_err("no decryptor");
    assert!(
        matches!(
            err,
            RenderError::KustomizeFailed(KustomizeError::DecryptFailed { .. })
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("ENC["), "{err}");
}

#[test]
fn sops_encrypted_manifests_pass_through_untouched() {
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  a: ENC[AES256_GCM,data:x]\nsops:\n  mac: ENC[AES256_GCM,data:y]\n  version: 3.9.0\n";
    let (_dir, tree) = tree_with(&[
        ("kustomization.yaml", "resources:\n- s.yaml\n"),
        ("s.yaml", secret),
    ]);
    let objects = render_root(&tree).expect("render");
    assert!(is_sops_object(&objects[0].value));
    assert!(is_sops_document(secret.as_bytes()));
}

#[test]
fn fail_malformed_secret_literal_without_echoing_it() {
    let (_dir, tree) = tree_with(&[(
        "kustomization.yaml",
        "secretGenerator:\n- name: s\n  literals:\n  - hunter2-not-a-pair\n",
    )]);
    let err = render_root(&tree).expect_err("malformed literal");
    let text = err.to_string();
    assert!(text.contains("secretGenerator"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
