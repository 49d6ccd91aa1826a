//! The corpus in `agent/tests/schema`: objects a real API server refuses (each file says how)
//! are refused with the same field path; valid objects and custom resources pass.

use super::*;
use crate::render::yaml::{ParseOptions, parse_values};
use serde_json::json;
use std::path::Path;

fn corpus(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/schema")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("read"))
        })
        .collect()
}

fn objects(text: &str) -> Vec<Value> {
    parse_values(text, &ParseOptions::default()).expect("YAML")
}

fn errors_of(catalog: &SchemaCatalog, object: &Value) -> Vec<String> {
    match catalog.validate(object).expect("validates") {
        Outcome::Invalid(errors) => errors.iter().map(ToString::to_string).collect(),
        Outcome::Valid => Vec::new(),
        other => panic!("unexpected outcome {other:?}"),
    }
}

fn newest() -> SchemaCatalog {
    SchemaCatalog::new(&SchemaOptions::default()).expect("catalog")
}

#[test]
fn every_object_the_api_server_refuses_is_refused_with_its_field_path() {
    let files = corpus("invalid");
    assert!(files.len() >= 18, "the corpus is there");
    for version in ["1.30", "1.35"] {
        let catalog = SchemaCatalog::new(&SchemaOptions {
            kubernetes_version: Some(version.into()),
            ..SchemaOptions::default()
        })
        .expect("catalog");
        for (name, text) in &files {
            assert!(
                text.contains("# apiserver: "),
                "{name} documents the refusal"
            );
            let expected: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("# expect: "))
                .collect();
            assert!(!expected.is_empty(), "{name} has an expectation");
            let object = objects(text).remove(0);
            let errors = errors_of(&catalog, &object);
            for expect in expected {
                assert!(
                    errors.iter().any(|e| e.starts_with(expect)),
                    "{version} {name}: expected {expect:?}, got {errors:?}"
                );
            }
        }
    }
}

#[test]
fn valid_objects_pass_in_every_supported_version() {
    let builtin = builtin::Builtin::get().expect("builtin");
    for version in builtin.versions() {
        let catalog = SchemaCatalog::new(&SchemaOptions {
            kubernetes_version: Some(version.into()),
            ..SchemaOptions::default()
        })
        .expect("catalog");
        for (name, text) in corpus("valid") {
            for object in objects(&text) {
                assert_eq!(
                    catalog.validate(&object).expect("validates"),
                    Outcome::Valid,
                    "{version} {name}: {object}"
                );
            }
        }
    }
}

fn crd_object(name: &str) -> Value {
    let text = corpus("crd")
        .into_iter()
        .find(|(n, _)| n == name)
        .expect("corpus file")
        .1;
    objects(&text).remove(0)
}

#[test]
fn custom_resources_are_validated_against_their_crd_in_the_repository() {
    let crd = crd_object("widgets-crd.yaml");
    let widget = crd_object("widget-valid.yaml");
    let mut catalog = newest();
    assert_eq!(
        catalog.validate(&widget).expect("validates"),
        Outcome::MissingSchema(Gvk::new("example.com", "v1", "Widget"))
    );
    assert_eq!(catalog.add_crds([&crd]), 1);
    assert_eq!(catalog.validate(&crd).expect("validates"), Outcome::Valid);
    assert_eq!(
        catalog.validate(&widget).expect("validates"),
        Outcome::Valid
    );
    let errors = errors_of(&catalog, &crd_object("widget-invalid.yaml"));
    for expected in [
        "spec.size: 30 is more than the maximum 10",
        "spec.color: unsupported value (string \"purple\")",
        "spec.port: expected an integer or a string, got number 1.5",
        "spec.name: (string \"ABC\") does not match the pattern",
        "spec.labels.a: expected string, got integer 1",
        "spec.colour: unknown field \"colour\"",
        "metadata.labels.app: expected string, got integer 7",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "expected {expected:?} in {errors:?}"
        );
    }
    assert_eq!(errors.len(), 7, "{errors:?}");
}

#[test]
fn custom_resources_are_validated_against_a_schema_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("example.com")).expect("mkdir");
    let schema = json!({"type": "object", "additionalProperties": false,
        "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {"type": "object", "additionalProperties": false,
                "properties": {"replicas": {"type": "integer"}}}}});
    std::fs::write(
        dir.path().join("example.com/gizmo_v1alpha1.json"),
        schema.to_string(),
    )
    .expect("write");
    let catalog = SchemaCatalog::new(&SchemaOptions {
        schema_locations: vec![dir.path().to_owned()],
        ..SchemaOptions::default()
    })
    .expect("catalog");
    let good = json!({"apiVersion": "example.com/v1alpha1", "kind": "Gizmo",
        "metadata": {"name": "g"}, "spec": {"replicas": 2}});
    assert_eq!(catalog.validate(&good).expect("validates"), Outcome::Valid);
    let bad = json!({"apiVersion": "example.com/v1alpha1", "kind": "Gizmo",
        "metadata": {"name": "g"}, "spec": {"replicas": "2", "extra": 1}});
    assert_eq!(
        errors_of(&catalog, &bad),
        [
            "spec.replicas: expected integer, got string \"2\"",
            "spec.extra: unknown field \"extra\"",
        ]
    );
}

#[test]
fn secret_values_never_appear_in_messages() {
    let catalog = newest();
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
        "data": {"password": "hunter2!"}, "stringData": {"token": 12345}, "type": ["hunter3"]});
    let errors = errors_of(&catalog, &secret).join("\n");
    assert!(
        errors.contains("data.password: (string) is not base64"),
        "{errors}"
    );
    assert!(
        errors.contains("stringData.token: expected string, got integer"),
        "{errors}"
    );
    for secret_value in ["hunter2", "12345", "hunter3"] {
        assert!(!errors.contains(secret_value), "{errors}");
    }
}

#[test]
fn sops_metadata_and_encrypted_values_are_not_refused() {
    let catalog = newest();
    let encrypted = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
        "data": {"password": "ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]"},
        "sops": {"mac": "ENC[...]", "version": "3.9.0"}});
    assert_eq!(
        catalog.validate(&encrypted).expect("validates"),
        Outcome::Valid
    );
}

#[test]
fn null_optional_fields_are_taken_and_null_required_fields_are_missing() {
    let catalog = newest();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": null},
        "spec": {"containers": null, "nodeSelector": null}});
    assert_eq!(
        errors_of(&catalog, &pod),
        ["spec.containers: required field is missing"]
    );
}

#[test]
fn objects_without_api_version_or_kind_are_left_to_the_manifest_checks() {
    let catalog = newest();
    assert_eq!(
        catalog
            .validate(&json!({"metadata": {"name": "x"}}))
            .expect("ok"),
        Outcome::NotAnObject
    );
}
