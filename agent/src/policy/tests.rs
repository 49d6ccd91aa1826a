//! Tests of the policy engine and of the default bundle's fixtures.

use super::*;
use crate::tree::{FsTree, Tree};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn shop() -> AppMeta {
    AppMeta {
        name: "shop".into(),
        namespace: Some("shop".into()),
        path: "apps/shop".into(),
        revision: "abc123".into(),
    }
}

fn only(files: &[(&str, &str)], config: &PolicyConfig) -> Result<PolicySet, PolicyError> {
    let files = files
        .iter()
        .map(|(path, text)| PolicyFile {
            path: (*path).into(),
            text: (*text).into(),
        })
        .collect();
    PolicySet::from_files(files, config)
}

fn privileged_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": "shop/web:1.0",
            "securityContext": {"privileged": true},
            "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}}]}
    })
}

// ---- the default bundle, policy by policy, on its fixtures ----

struct Fixture {
    path: PathBuf,
    app: AppMeta,
    secret_source: SecretSource,
    parameters: serde_json::Map<String, Value>,
    object: Value,
    deny: Vec<String>,
    warn: Vec<String>,
}

fn read_fixture(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: Value =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let app = doc
        .get("app")
        .cloned()
        .unwrap_or(json!({"name": "shop", "namespace": "shop"}));
    let strings = |field: &str| -> Vec<String> {
        let mut list: Vec<String> = doc[field]
            .as_array()
            .unwrap_or_else(|| panic!("{}: {field} must be a list", path.display()))
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect();
        list.sort();
        list
    };
    Fixture {
        path: path.to_owned(),
        app: AppMeta {
            name: app["name"].as_str().unwrap().to_owned(),
            namespace: app
                .get("namespace")
                .and_then(Value::as_str)
                .map(str::to_owned),
            path: "apps/test".into(),
            revision: "0000000".into(),
        },
        secret_source: serde_json::from_value(
            doc.get("secretSource").cloned().unwrap_or(json!("none")),
        )
        .unwrap(),
        parameters: doc
            .get("parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        object: doc["object"].clone(),
        deny: strings("deny"),
        warn: strings("warn"),
    }
}

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

#[test]
fn every_default_policy_gives_exactly_the_expected_messages_on_its_fixtures() {
    let mut policies = Vec::new();
    for entry in std::fs::read_dir(policies_dir()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() && entry.file_name() != "lib" {
            policies.push(entry.path());
        }
    }
    policies.sort();
    assert_eq!(policies.len(), 7, "{policies:?}");
    for policy in policies {
        let name = policy.file_name().unwrap().to_string_lossy().into_owned();
        let package = format!("tether.{name}.");
        let mut fixtures: Vec<PathBuf> = std::fs::read_dir(policy.join("fixtures"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        fixtures.sort();
        let names: Vec<String> = fixtures
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().any(|n| n.starts_with("pass-")),
            "{name}: no passing fixture"
        );
        assert!(
            names.iter().any(|n| n.starts_with("fail-")),
            "{name}: no failing fixture"
        );
        for path in fixtures {
            let fixture = read_fixture(&path);
            let config = PolicyConfig {
                parameters: fixture.parameters.clone(),
                ..PolicyConfig::default()
            };
            let set = PolicySet::load(&config, None).unwrap();
            let object = AppObject::new(&fixture.object, Some("fixture.yaml"))
                .with_secret_source(fixture.secret_source);
            let report = set.evaluate(&fixture.app, &[object]).unwrap();
            let of = |severity: Severity| {
                let mut list: Vec<String> = report
                    .findings
                    .iter()
                    .filter(|f| f.severity == severity && f.rule.starts_with(&package))
                    .map(|f| f.message.clone())
                    .collect();
                list.sort();
                list
            };
            assert_eq!(
                of(Severity::Deny),
                fixture.deny,
                "{}: deny",
                fixture.path.display()
            );
            assert_eq!(
                of(Severity::Warn),
                fixture.warn,
                "{}: warn",
                fixture.path.display()
            );
            let kind = if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("pass-")
            {
                "pass"
            } else {
                "fail"
            };
            assert_eq!(
                kind == "pass",
                fixture.deny.is_empty() && fixture.warn.is_empty(),
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn the_default_bundle_declares_its_rules_under_tether() {
    let set = PolicySet::load(&PolicyConfig::default(), None).unwrap();
    assert_eq!(
        set.rules(),
        [
            "tether.host_access.deny",
            "tether.image_tags.warn",
            "tether.namespaces.deny",
            "tether.plaintext_secrets.deny",
            "tether.prune_annotation.warn",
            "tether.resources.warn",
            "tether.secret_references.deny",
        ]
    );
}

// ---- conftest conventions and custom bundles ----

#[test]
fn a_conftest_policy_from_a_repository_directory_works_unchanged() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("policy")).unwrap();
    std::fs::write(
        repo.path().join("policy/labels.rego"),
        r#"package main

deny contains msg if {
	input.kind == "Deployment"
	not input.metadata.labels.team
	msg := sprintf("Deployment %s must have a team label", [input.metadata.name])
}

violation_replicas contains {"msg": "one replica is not highly available", "details": {"replicas": 1}} if {
	input.spec.replicas == 1
}

warn_owner contains "owned by the shop team" if input.metadata.labels.team == "shop"
"#,
    )
    .unwrap();
    let tree = Tree::new(FsTree::new(repo.path()));
    let config = PolicyConfig {
        default_bundle: false,
        directories: vec![PolicyDirectory::Repository("policy".into())],
        ..PolicyConfig::default()
    };
    let set = PolicySet::load(&config, Some(&tree)).unwrap();
    assert_eq!(
        set.rules(),
        ["main.deny", "main.violation_replicas", "main.warn_owner"]
    );
    let unlabeled = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}});
    let labeled = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "labels": {"team": "shop"}}, "spec": {"replicas": 3}});
    let report = set
        .evaluate(
            &shop(),
            &[
                AppObject::new(&unlabeled, Some("apps/shop/web.yaml")),
                AppObject::new(&labeled, None),
            ],
        )
        .unwrap();
    let lines: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{:?} {f}", f.severity))
        .collect();
    assert_eq!(
        lines,
        [
            "Deny Deployment web: main.deny: Deployment web must have a team label",
            "Deny Deployment web: main.violation_replicas: one replica is not highly available",
            "Warn Deployment api: main.warn_owner: owned by the shop team",
        ]
    );
    assert_eq!(
        report.findings[0].file.as_deref(),
        Some("apps/shop/web.yaml")
    );
    let err = report.check().unwrap_err();
    assert_eq!(err.reason(), "PolicyDenied");
    assert!(
        err.to_string()
            .contains("Deployment web: main.deny: Deployment web must have a team label"),
        "{err}"
    );
}

#[test]
fn a_mounted_directory_adds_to_the_default_bundle() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("names.rego"),
        "package names\n\nwarn contains \"short name\" if count(input.metadata.name) < 4\n",
    )
    .unwrap();
    let config = PolicyConfig {
        directories: vec![PolicyDirectory::Mounted(dir.path().into())],
        ..PolicyConfig::default()
    };
    let set = PolicySet::load(&config, None).unwrap();
    assert!(set.rules().contains(&"names.warn".to_owned()));
    assert!(set.rules().contains(&"tether.host_access.deny".to_owned()));
    let pod = privileged_pod();
    let report = set
        .evaluate(&shop(), &[AppObject::new(&pod, None)])
        .unwrap();
    let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["names.warn", "tether.host_access.deny"]);
}

#[test]
fn policies_see_the_app_the_object_metadata_and_the_whole_app() {
    let policy = r#"package meta
import rego.v1

warn contains msg if {
	msg := sprintf("%s %v %s %s %s %d %v", [data.tether.app.name, data.tether.app.namespace, data.tether.app.revision,
		data.tether.object.secretSource, data.tether.object.file, count(data.tether.objects), data.tether.parameters.level])
}

deny contains msg if {
	some other in data.tether.objects
	other.kind == input.kind
	other.metadata.name == input.metadata.name
	other != input
	msg := "defined twice"
}
"#;
    let config = PolicyConfig {
        parameters: json!({"level": 3}).as_object().unwrap().clone(),
        ..PolicyConfig::default()
    };
    let set = only(&[("meta.rego", policy)], &config).unwrap();
    let a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1"}});
    let b = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "2"}});
    let objects = [
        AppObject::new(&a, Some("a.yaml")).with_secret_source(SecretSource::Sealed),
        AppObject::new(&b, None),
    ];
    let report = set.evaluate(&shop(), &objects).unwrap();
    let messages: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "defined twice",
            "shop shop abc123 sealed a.yaml 2 3",
            "defined twice",
            "shop shop abc123 none null 2 3"
        ]
    );
}

// ---- enforcement ----

#[test]
fn enforce_blocks_the_sync() {
    let set = PolicySet::load(&PolicyConfig::default(), None).unwrap();
    let pod = privileged_pod();
    let report = set
        .evaluate(&shop(), &[AppObject::new(&pod, None)])
        .unwrap();
    assert_eq!(report.enforcement, Enforcement::Enforce);
    assert!(report.is_denied());
    let err = report.check().unwrap_err();
    assert_eq!(err.reason(), "PolicyDenied");
    assert_eq!(
        err.to_string(),
        "app shop: denied by 1 policy result(s): Pod shop/web: tether.host_access.deny: container \"app\" is privileged"
    );
}

#[test]
fn warn_enforcement_reports_denials_as_warnings() {
    let config: PolicyConfig =
        serde_json::from_value(json!({"apps": {"shop": {"enforcement": "warn"}}})).unwrap();
    let set = PolicySet::load(&config, None).unwrap();
    let pod = privileged_pod();
    let report = set
        .evaluate(&shop(), &[AppObject::new(&pod, None)])
        .unwrap();
    assert!(!report.is_denied());
    assert!(report.check().is_ok());
    let warning = report.warnings().next().unwrap();
    assert!(warning.downgraded);
    assert_eq!(warning.rule, "tether.host_access.deny");
}

#[test]
fn off_enforcement_skips_evaluation() {
    let config: PolicyConfig = serde_json::from_value(json!({"enforcement": "off"})).unwrap();
    let set = PolicySet::load(&config, None).unwrap();
    let pod = privileged_pod();
    let report = set
        .evaluate(&shop(), &[AppObject::new(&pod, None)])
        .unwrap();
    assert!(report.findings.is_empty());
    assert_eq!(report.objects, 0);
    // The same object under the default enforcement is denied, so "off" is what skipped it.
    let set = PolicySet::load(&PolicyConfig::default(), None).unwrap();
    assert!(
        set.evaluate(&shop(), &[AppObject::new(&pod, None)])
            .unwrap()
            .is_denied()
    );
}

#[test]
fn disabled_packages_are_not_evaluated() {
    let config: PolicyConfig =
        serde_json::from_value(json!({"disabledPackages": ["tether.host_access"]})).unwrap();
    let set = PolicySet::load(&config, None).unwrap();
    assert!(
        !set.rules()
            .iter()
            .any(|r| r.starts_with("tether.host_access"))
    );
    let pod = privileged_pod();
    assert!(
        !set.evaluate(&shop(), &[AppObject::new(&pod, None)])
            .unwrap()
            .is_denied()
    );
}

// ---- secrets never reach policies ----

#[test]
fn a_secret_value_never_appears_in_policy_input_or_output() {
    // A policy that echoes everything it can see.
    let policy = r#"package leak
warn contains sprintf("input=%v", [input])
warn contains sprintf("objects=%v", [data.tether.objects])
deny contains json.marshal(input)
"#;
    let set = only(&[("leak.rego", policy)], &PolicyConfig::default()).unwrap();
    let plaintext = "s3cr3t-Value-42";
    let encoded = "czNjcjN0LVZhbHVlLTQy"; // base64 of the plaintext
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
        "data": {"password": encoded}, "stringData": {"again": plaintext}
    });
    let report = set
        .evaluate(
            &shop(),
            &[AppObject::new(&secret, None).with_secret_source(SecretSource::Sops)],
        )
        .unwrap();
    let everything = serde_json::to_string(&report).unwrap();
    assert!(everything.contains("<redacted hmac:"), "{everything}");
    assert!(everything.contains(&input::redaction_marker(plaintext.as_bytes())));
    for needle in [plaintext, encoded] {
        assert!(
            !everything.contains(needle),
            "{needle} leaked: {everything}"
        );
    }
    assert!(!everything.to_lowercase().contains("s3cr3t"));
}

// ---- errors ----

#[test]
fn a_policy_that_does_not_parse_is_an_error_naming_the_file_and_line() {
    let err = only(
        &[(
            "policy/broken.rego",
            "package broken\n\ndeny contains msg if {\n\tmsg := \n}\n",
        )],
        &PolicyConfig::default(),
    )
    .unwrap_err();
    match &err {
        PolicyError::CompileFailed { file, line, .. } => {
            assert_eq!(file, "policy/broken.rego");
            assert_eq!(*line, 4);
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string().starts_with("policy policy/broken.rego:4:"),
        "{err}"
    );
    assert_eq!(err.reason(), "PolicyInvalid");
}

#[test]
fn a_policy_that_calls_an_unknown_function_fails_the_load_with_its_line() {
    let text = "package broken\n\ndeny contains msg if {\n\tmsg := no_such_function(input)\n}\n";
    let err = only(
        &[
            ("ok.rego", "package ok\nwarn contains 1 if false\n"),
            ("policy/unknown.rego", text),
        ],
        &PolicyConfig::default(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("policy policy/unknown.rego:4:"), "{text}");
    assert!(text.contains("no_such_function"), "{text}");
}

#[test]
fn a_package_in_the_reserved_metadata_is_refused() {
    let err = only(
        &[("x.rego", "package tether.app\nname := 1\n")],
        &PolicyConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(err, PolicyError::ReservedPackage { .. }), "{err}");
}

#[test]
fn a_repository_directory_needs_a_repository() {
    let config = PolicyConfig {
        directories: vec![PolicyDirectory::Repository("policy".into())],
        ..PolicyConfig::default()
    };
    let err = PolicySet::load(&config, None).unwrap_err();
    assert!(matches!(err, PolicyError::NoRepository { .. }), "{err}");
}

#[test]
fn evaluation_is_bounded_in_objects_size_and_time() {
    let config: PolicyConfig = serde_json::from_value(json!({
        "limits": {"maxObjectsPerApp": 2, "maxObjectBytes": 200, "evaluationTimeout": "1ms"}
    }))
    .unwrap();
    let slow = r#"package slow
deny contains "done" if {
	n := count([1 | some a in numbers.range(1, 3000); some b in numbers.range(1, 3000); a != b])
	n > 0
}
"#;
    let set = only(&[("slow.rego", slow)], &config).unwrap();
    let small = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"x": "y".repeat(500)}});
    let three = [
        AppObject::new(&small, None),
        AppObject::new(&small, None),
        AppObject::new(&small, None),
    ];
    assert!(matches!(
        set.evaluate(&shop(), &three),
        Err(PolicyError::TooManyObjects {
            count: 3,
            limit: 2,
            ..
        })
    ));
    let err = set
        .evaluate(&shop(), &[AppObject::new(&big, None)])
        .unwrap_err();
    assert!(matches!(err, PolicyError::ObjectTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("ConfigMap b"), "{err}");
    let err = set
        .evaluate(&shop(), &[AppObject::new(&small, None)])
        .unwrap_err();
    assert!(matches!(err, PolicyError::TimedOut { .. }), "{err}");
    assert_eq!(err.reason(), "PolicyFailed");
}
