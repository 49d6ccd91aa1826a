use super::*;
use crate::migrate::postbuild::{self, PostBuild, Variables};
use crate::tree::FsTree;
use serde_json::json;

fn entry(kind: &str, name: &str, path: Option<&str>, optional: bool) -> SubstituteFrom {
    SubstituteFrom {
        kind: kind.into(),
        name: name.into(),
        namespace: Some("flux-system".into()),
        optional,
        path: path.map(Into::into),
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .block_on(future)
}

/// Holds values as the render's decryptor does.
struct Holder<'a>(&'a Held);

impl Decryptor for Holder<'_> {
    fn decrypt_file(&self, path: &RelPath, _: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        Err(format!("{path}: no keys here"))
    }

    fn hold(&self, value: Zeroizing<Vec<u8>>) -> String {
        self.0.hold(value)
    }
}

fn repo() -> (tempfile::TempDir, Tree) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("vars.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-vars, namespace: flux-system}\n\
         data: {cluster: prod, region: eu}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {name: cluster-secrets}\n\
         data: {token: czNjcjN0LXQwa2Vu}\nstringData: {password: hunter2-pass}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("sealed.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: sealed}\n\
         stringData:\n  password: ENC[AES256_GCM,data:x]\nsops:\n  mac: ENC[x]\n  version: 3.9.0\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let tree = Tree::new(FsTree::new(dir.path()));
    (dir, tree)
}

#[test]
fn config_maps_and_secrets_are_read_from_the_repository_file_that_holds_them() {
    let (_dir, tree) = repo();
    let held = Held::new();
    let input = FromInput {
        tree: &tree,
        decryptor: None,
        held: &held,
        cluster: None,
        namespace: "tether-system",
    };
    let entries = [
        entry("ConfigMap", "cluster-vars", Some("vars.yaml"), false),
        entry("Secret", "cluster-secrets", Some("vars.yaml"), false),
        entry("ConfigMap", "absent", Some("vars.yaml"), true),
    ];
    let read = block_on(read(&entries, &input)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read.len(), 2, "the optional missing entry is skipped");
    assert!(!read[0].secret);
    assert_eq!(read[0].values["cluster"].as_str(), "prod");
    assert!(read[1].secret);
    assert_eq!(read[1].values["token"].as_str(), "s3cr3t-t0ken");
    assert_eq!(read[1].values["password"].as_str(), "hunter2-pass");
}

#[test]
fn a_missing_required_entry_an_encrypted_file_without_keys_and_offline_reads_are_named() {
    let (_dir, tree) = repo();
    let held = Held::new();
    let holder = Holder(&held);
    let input = FromInput {
        tree: &tree,
        decryptor: Some(&holder),
        held: &held,
        cluster: None,
        namespace: "flux-system",
    };
    for (entry, expected) in [
        (
            entry("ConfigMap", "absent", Some("vars.yaml"), false),
            "substituteFrom[0]: ConfigMap absent: not found in vars.yaml",
        ),
        (
            entry("Secret", "sealed", Some("sealed.yaml"), false),
            "could not be decrypted",
        ),
        (entry("ConfigMap", "live", None, false), "offline"),
        (
            entry("Service", "x", None, false),
            "only ConfigMap or Secret",
        ),
    ] {
        let err = block_on(read(std::slice::from_ref(&entry), &input))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(expected), "{err}");
    }
}

fn variables(held_from: Vec<FromValues>) -> Variables {
    let post = PostBuild {
        substitute: [("cluster".to_owned(), "staging".to_owned())].into(),
        substitute_from: Vec::new(),
    };
    Variables::new(&post, held_from).unwrap_or_else(|e| panic!("{e}"))
}

fn secret_values() -> Vec<FromValues> {
    vec![
        FromValues {
            values: [("cluster".to_owned(), Zeroizing::new("from-map".to_owned()))].into(),
            secret: false,
        },
        FromValues {
            values: [
                (
                    "password".to_owned(),
                    Zeroizing::new("hunter2-pass".to_owned()),
                ),
                ("region".to_owned(), Zeroizing::new("eu".to_owned())),
            ]
            .into(),
            secret: true,
        },
    ]
}

#[test]
fn secret_variables_are_held_inside_a_secrets_data_and_never_written_in_clear() {
    let held = Held::new();
    let holder = Holder(&held);
    let vars = variables(secret_values());
    let mut objects = vec![json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db-${cluster}"},
        "stringData": {"url": "postgres://app:${password}@db", "plain": "${cluster}"},
        "data": {"raw": "${password}"}})];
    // `data` must be base64 once substituted: "hunter2-pass" is not.
    let err = postbuild::apply(&mut objects.clone(), &vars, Some(&holder))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("data.raw") && !err.contains("hunter2"),
        "{err}"
    );
    objects[0]["data"] = json!({});
    postbuild::apply(&mut objects, &vars, Some(&holder)).unwrap_or_else(|e| panic!("{e}"));
    let secret = &objects[0];
    assert_eq!(secret["metadata"]["name"], "db-staging", "substitute wins");
    assert_eq!(secret["stringData"]["plain"], "staging");
    let url = secret["stringData"]["url"].as_str().unwrap_or_default();
    assert!(is_stand_in(url), "{url}");
    assert!(!objects[0].to_string().contains("hunter2"));
    let value = held.value(url).unwrap_or_default();
    assert_eq!(value.as_slice(), b"postgres://app:hunter2-pass@db");
}

#[test]
fn a_secret_variable_outside_a_secrets_data_is_refused_by_field_without_its_value() {
    let held = Held::new();
    let holder = Holder(&held);
    let vars = variables(secret_values());
    for (object, field) in [
        (
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                "data": {"region": "${region:=us}"}}),
            "data.region",
        ),
        (
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s",
                "labels": {"pw": "${password}"}}}),
            "metadata.labels.pw",
        ),
    ] {
        let err = postbuild::apply(&mut [object], &vars, Some(&holder))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(field), "{err}");
        assert!(!err.contains("hunter2") && !err.contains(": eu"), "{err}");
    }
    assert_eq!(held.len(), 0, "nothing held for a refused object");
}
