//! `tether-agent check`, the real binary, on the repositories under `fixtures/policy/`:
//! report formats, exit codes, custom and default policies, enforcement, redaction.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tether_tests::bins;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/policy")
        .join(name)
}

fn check(dir: &Path, args: &[&str]) -> Output {
    Command::new(bins::tether_agent())
        .arg("check")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("tether-agent runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const PLAINTEXT: &str = "Sup3rS3cret-fixture-value";

#[test]
fn a_repository_with_violations_fails_with_one_line_per_problem() {
    let out = check(&fixture("repo"), &["--config", "check.yaml"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let expected = [
        // manifests
        r#"DENY apps/broken/configmaps.yaml:1: ConfigMap Bad_Name: manifest.invalid-name: metadata.name "Bad_Name" is not a DNS subdomain (lowercase alphanumerics, '-' and '.', at most 253)"#,
        r#"DENY apps/broken/configmaps.yaml:1: ConfigMap Bad_Name: schema.invalid: dta: unknown field "dta""#,
        "DENY apps/broken/configmaps.yaml:8: ConfigMap settings: manifest.duplicate: defined twice in the app (first in apps/broken/configmaps.yaml)",
        // encryption, without a key
        "DENY apps/broken/db-credentials.sops.yaml:1: Secret db-credentials: encryption.sops: stringData.username: malformed encrypted value: iv is not 32 bytes",
        "DENY apps/broken/token.sealed.yaml:1: SealedSecret token: encryption.sealed: spec.encryptedData.token is not an age file",
        "DENY apps/broken/token.sealed.yaml:1: SealedSecret token: encryption.sealed: sealed for age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p but none of the configured recipients",
        // the custom conftest policy from the repository
        "DENY apps/broken/pod.yaml:1: Pod web: main.deny: Pod web has no team label",
        // the default bundle
        "DENY apps/broken/configmaps.yaml:8: ConfigMap settings: tether.secret_references.deny: ref+vault reference at data.url: secret references are resolved only in Secrets",
        r#"DENY apps/broken/pod.yaml:1: Pod web: tether.host_access.deny: container "app" is privileged"#,
        "DENY apps/broken/pod.yaml:1: Pod web: tether.host_access.deny: spec: hostNetwork shares the node's namespace",
        r#"WARN apps/broken/pod.yaml:1: Pod web: tether.image_tags.warn: container "app" uses image "nginx" without a tag (latest): pin a tag or a digest"#,
        r#"WARN apps/broken/pod.yaml:1: Pod web: tether.resources.warn: container "app" has no resource limits"#,
        r#"WARN apps/broken/pod.yaml:1: Pod web: tether.resources.warn: container "app" has no resource requests"#,
        "DENY apps/broken/secret.yaml:2: Secret db: tether.plaintext_secrets.deny: Secret db holds 1 plaintext value(s) committed to Git: encrypt it with sops or tether-seal, or reference a secret store",
        r#"WARN apps/clean/cache.yaml:2: Pod cache: tether.image_tags.warn: container "redis" uses image "redis:latest": pin a tag other than latest, or a digest"#,
        // enforcement "warn" for the legacy app: the denial is reported, not failed
        r#"WARN apps/legacy/pod.yaml:2: Pod tools: tether.host_access.deny: container "tools" is privileged"#,
        "3 app(s), 12 object(s) checked: 11 violation(s), 5 warning(s)",
    ];
    let mut lines: Vec<&str> = stdout.lines().collect();
    let mut expected = expected.to_vec();
    lines.sort_unstable();
    expected.sort_unstable();
    assert_eq!(lines, expected);
}

#[test]
fn the_json_report_has_apps_problems_and_a_summary() {
    let out = check(
        &fixture("repo"),
        &["--config", "check.yaml", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the report is JSON");
    assert_eq!(
        report["summary"],
        serde_json::json!({"apps": 3, "objects": 12, "violations": 11, "warnings": 5})
    );
    let names: Vec<&str> = report["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["broken", "clean", "legacy"]);
    assert_eq!(report["apps"][1]["namespace"], "clean");
    let privileged = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["app"] == "legacy")
        .expect("the legacy app has a finding");
    assert_eq!(
        privileged,
        &serde_json::json!({
            "severity": "warn",
            "app": "legacy",
            "file": "apps/legacy/pod.yaml",
            "line": 2,
            "object": "Pod tools",
            "rule": "tether.host_access.deny",
            "message": "container \"tools\" is privileged"
        })
    );
}

#[test]
fn a_clean_app_passes_with_warnings_and_exit_code_zero() {
    // Without a config, each PATH is one app (read inside the current directory): the SOPS
    // Secret, the SealedSecret and the Deployment pass; the :latest image is a warning only.
    let out = check(&fixture("repo"), &["apps/clean"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("WARN apps/clean/cache.yaml:2: Pod cache: tether.image_tags.warn: "),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("1 app(s), 4 object(s) checked: 0 violation(s), 1 warning(s)\n"),
        "{stdout}"
    );
}

#[test]
fn a_plaintext_secret_value_never_appears_in_either_report() {
    let secret = std::fs::read_to_string(fixture("repo/apps/broken/secret.yaml")).unwrap();
    assert!(
        secret.contains(PLAINTEXT),
        "the fixture holds the value searched for"
    );
    for format in ["text", "json"] {
        let out = check(
            &fixture("repo"),
            &["--config", "check.yaml", "--format", format],
        );
        assert_eq!(out.status.code(), Some(1));
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            all.contains("Secret db holds 1 plaintext value(s)"),
            "{all}"
        );
        assert!(
            !all.contains(PLAINTEXT),
            "{format} report leaks the value: {all}"
        );
        assert!(!all.contains("Sup3rS3cret"), "{all}");
    }
}

#[test]
fn a_policy_that_does_not_compile_is_exit_code_two_naming_file_and_line() {
    let out = check(
        &fixture("broken-policy"),
        &["--config", "check.yaml", "apps/one"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(out.stdout, b"");
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("tether-agent: check: policy policy/broken.rego:4:"),
        "{stderr}"
    );
    assert!(stderr.contains("no_such_function"), "{stderr}");
}

#[test]
fn usage_and_input_errors_are_exit_code_two() {
    let dir = tempfile::tempdir().unwrap();
    // A path that does not exist.
    let out = check(dir.path(), &["missing"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "tether-agent: check: missing: no such directory\n"
    );
    // A config with an unknown field, named in the message.
    std::fs::write(dir.path().join("bad.yaml"), "polcy: {}\n").unwrap();
    let out = check(dir.path(), &["--config", "bad.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("polcy"), "{}", text(&out.stderr));
    // A recipient that is not one.
    std::fs::write(dir.path().join("rcpt.yaml"), "recipients: [age1nope]\n").unwrap();
    let out = check(dir.path(), &["--config", "rcpt.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("recipients[0]"),
        "{}",
        text(&out.stderr)
    );
    // An unknown format.
    let out = check(dir.path(), &["--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn off_enforcement_skips_the_policies_but_not_the_other_checks() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("off.yaml");
    std::fs::write(&config, "policy: {enforcement: \"off\"}\n").unwrap();
    let out = check(
        &fixture("repo"),
        &["--config", config.to_str().unwrap(), "apps/broken"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("tether."), "{stdout}");
    assert!(stdout.contains("manifest.duplicate"), "{stdout}");
    assert!(stdout.contains("encryption.sops"), "{stdout}");
}
