//! `tether-agent check` as the pre-merge gate, the real binary on `fixtures/check/`: the
//! agent's `tether.yaml` found at the root, Kubernetes schema validation (built-in kinds per
//! version, CRDs of the repository, a schema directory), the CI report formats checked with
//! real parsers (junitparser; SARIF against the SARIF 2.1.0 schema with jsonschema), and
//! `--changed-since` with the rendered diff.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tether_tests::{bins, gitserver, peers};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/check")
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

const BROKEN: [&str; 3] = [
    r#"DENY apps/broken/deployment.yaml:2: Deployment web: schema.invalid: spec.replicas: expected integer, got string "three""#,
    r#"DENY apps/broken/deployment.yaml:2: Deployment web: schema.invalid: spec.replicass: unknown field "replicass""#,
    r#"DENY apps/broken/deployment.yaml:2: Deployment web: schema.invalid: spec.template.spec.containers[0].ports[0].containerPort: expected integer, got string "http""#,
];

#[test]
fn the_agents_config_at_the_root_is_found_and_invalid_objects_are_refused_with_their_paths() {
    let out = check(&fixture("repo"), &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    for line in BROKEN {
        assert!(stdout.lines().any(|l| l == line), "{line}\n{stdout}");
    }
    // The repository's CRD validates its custom resources; a kind with no schema warns.
    assert!(stdout.contains("DENY apps/widgets/widgets.yaml:6: Widget big: schema.invalid: spec.size: expected integer, got string \"big\"\n"), "{stdout}");
    assert!(!stdout.contains("Widget small"), "{stdout}");
    assert!(stdout.contains("WARN apps/widgets/widgets.yaml:11: Gadget g: schema.missing: no schema for example.org/v1 Gadget"), "{stdout}");
    // tether.yaml is the configuration, never a manifest; the apps are the generator's.
    assert!(!stdout.contains("tether.yaml"), "{stdout}");
    assert!(
        stdout.ends_with("3 app(s), 7 object(s) checked: 4 violation(s), 2 warning(s)\n"),
        "{stdout}"
    );
    // The same from outside the repository, naming it.
    let parent = check(&fixture(""), &["repo"]);
    assert_eq!(text(&parent.stdout), stdout);
}

#[test]
fn strict_schemas_a_schema_location_and_the_kubernetes_version_change_the_verdicts() {
    let strict = text(&check(&fixture("repo"), &["--strict-schemas"]).stdout);
    assert!(
        strict.contains("DENY apps/widgets/widgets.yaml:11: Gadget g: schema.missing"),
        "{strict}"
    );
    let located = text(&check(&fixture("repo"), &["--schema-location", "../schemas"]).stdout);
    assert!(located.contains(r#"DENY apps/widgets/widgets.yaml:11: Gadget g: schema.invalid: spec.speed: expected integer, got string "fast""#), "{located}");
    assert!(!located.contains("schema.missing"), "{located}");
    // resource.k8s.io/v1 is served from Kubernetes 1.34 on.
    let newest = text(&check(&fixture("repo"), &[]).stdout);
    assert!(!newest.contains("DeviceClass"), "{newest}");
    let old = text(&check(&fixture("repo"), &["--kubernetes-version", "1.30"]).stdout);
    assert!(old.contains("DENY apps/good/objects.yaml:6: DeviceClass gpus: schema.invalid: apiVersion: resource.k8s.io/v1 DeviceClass is not served by Kubernetes 1.30"), "{old}");
    let unsupported = check(&fixture("repo"), &["--kubernetes-version", "1.12"]);
    assert_eq!(unsupported.status.code(), Some(2));
    assert!(text(&unsupported.stderr).contains("Kubernetes version \"1.12\" is not supported (supported: 1.30, 1.31, 1.32, 1.33, 1.34, 1.35)"), "{}", text(&unsupported.stderr));
    let skipped = text(&check(&fixture("repo"), &["--skip-schemas"]).stdout);
    assert!(!skipped.contains("schema."), "{skipped}");
}

#[test]
fn every_object_of_the_examples_passes_and_every_kind_has_a_schema() {
    let examples = peers::workspace_root().join("examples");
    let out = check(&examples, &["--strict-schemas"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout)
            .ends_with("2 app(s), 12 object(s) checked: 0 violation(s), 0 warning(s)\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_older_check_only_format_still_works_with_a_deprecation_warning() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/policy/repo");
    let out = check(&repo, &["--config", "check.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("warning: check.yaml: the check-only config format is deprecated"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("3 app(s), 12 object(s) checked"),
        "{}",
        text(&out.stdout)
    );
}

fn python(script: &str, input: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(peers::peers_bin_dir().join("python"))
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the peers' python runs (scripts/setup-peers)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write");
    child.wait_with_output().expect("python finishes")
}

#[test]
fn the_junit_report_parses_with_a_junit_parser() {
    let out = check(&fixture("repo"), &["--format", "junit"]);
    assert_eq!(out.status.code(), Some(1));
    let script = [
        "import sys, junitparser",
        "xml = junitparser.JUnitXml.fromstring(sys.stdin.read())",
        "for suite in xml:",
        "    failed = [c.name for c in suite if not c.is_passed and not c.is_skipped]",
        "    print(suite.name, suite.tests, len(failed), '|'.join(sorted(failed)))",
    ]
    .join("\n");
    let parsed = python(&script, &out.stdout);
    assert!(
        parsed.status.success(),
        "{}\n{}",
        text(&parsed.stderr),
        text(&out.stdout)
    );
    assert_eq!(
        text(&parsed.stdout),
        "broken 2 1 Deployment web\ngood 3 0 \nwidgets 5 1 Widget big\n"
    );
}

#[test]
fn the_sarif_report_is_valid_sarif_2_1_0() {
    let schema = peers::peers_bin_dir().join("../share/sarif-schema-2.1.0.json");
    assert!(
        schema.is_file(),
        "{} is missing: run scripts/setup-peers",
        schema.display()
    );
    let out = check(&fixture("repo"), &["--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let script = format!(
        "import sys, json, jsonschema\n\
schema = json.load(open({:?}))\n\
report = json.load(sys.stdin)\n\
jsonschema.Draft7Validator(schema).validate(report)\n\
results = report['runs'][0]['results']\n\
print(len(results), sum(r['level'] == 'error' for r in results))\n\
first = results[0]['locations'][0]['physicalLocation']\n\
print(first['artifactLocation']['uri'], first['region']['startLine'])\n",
        schema.display().to_string()
    );
    let parsed = python(&script, &out.stdout);
    assert!(parsed.status.success(), "{}", text(&parsed.stderr));
    assert_eq!(text(&parsed.stdout), "6 4\napps/broken/deployment.yaml 2\n");
    // And a report the schema refuses is refused: the check can fail.
    let broken = text(&out.stdout).replace("\"2.1.0\"", "\"9.9\"");
    assert!(!python(&script, broken.as_bytes()).status.success());
}

#[test]
fn the_github_report_is_workflow_commands_with_file_and_line() {
    let out = check(&fixture("repo"), &["--format", "github"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("::error file=apps/broken/deployment.yaml,line=2,title=schema.invalid::Deployment web: spec.replicas: expected integer, got string \"three\"\n"), "{stdout}");
    assert!(stdout.contains("::warning file=apps/widgets/widgets.yaml,line=11,title=schema.missing::Gadget g: no schema for example.org/v1 Gadget"), "{stdout}");
    for line in stdout.lines().filter(|l| l.starts_with("::")) {
        assert!(
            line.starts_with("::error ") || line.starts_with("::warning "),
            "{line}"
        );
        assert!(line.matches("::").count() == 2, "{line}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn changed_since_checks_only_the_changed_apps_and_prints_their_redacted_rendered_diff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    copy_dir(&fixture("repo"), &repo);
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: old-Pa55word-value}\n";
    std::fs::write(repo.join("apps/good/secret.yaml"), secret).expect("write");
    let git = |args: &[&str]| {
        gitserver::run(gitserver::git().current_dir(&repo).args(args)).expect("git")
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "base"]);
    // The change under review: a value of the good app, its Secret, nothing else.
    let objects = std::fs::read_to_string(repo.join("apps/good/objects.yaml")).expect("read");
    std::fs::write(
        repo.join("apps/good/objects.yaml"),
        objects.replace("{value: a}", "{value: b}"),
    )
    .expect("write");
    std::fs::write(
        repo.join("apps/good/secret.yaml"),
        secret.replace("old-Pa55word-value", "new-Pa55word-value"),
    )
    .expect("write");
    let out = check(&repo, &["--changed-since", "main"]);
    let stdout = text(&out.stdout);
    // Only the good app is checked: the broken ones did not change.
    assert!(!stdout.contains("apps/broken"), "{stdout}");
    assert!(stdout.contains("--- app good: changes against the base\n--- ConfigMap settings (main)\n+++ ConfigMap settings (this change)\n"), "{stdout}");
    assert!(stdout.contains("-  value: a\n+  value: b\n"), "{stdout}");
    assert!(stdout.contains("--- Secret db (main)"), "{stdout}");
    assert!(stdout.contains("<redacted hmac:"), "{stdout}");
    assert!(
        !stdout.contains("Pa55word"),
        "the Secret value leaked: {stdout}"
    );
    assert!(stdout.contains("1 app(s), 3 object(s) checked"), "{stdout}");
    // Nothing changed since the working tree's own state: nothing is checked.
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "the change"]);
    let none = text(&check(&repo, &["--changed-since", "HEAD"]).stdout);
    assert!(
        none.ends_with("0 app(s), 0 object(s) checked: 0 violation(s), 0 warning(s)\n"),
        "{none}"
    );
    // A ref that does not exist is a usage error.
    let bad = check(&repo, &["--changed-since", "no-such-branch"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
}

#[test]
fn an_agent_config_without_apps_checks_nothing_and_is_never_read_as_a_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("tether.yaml"),
        "sources:\n  - {name: config, url: https://git.example.com/config.git}\n",
    )
    .expect("write");
    let out = check(dir.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout),
        "0 app(s), 0 object(s) checked: 0 violation(s), 0 warning(s)\n"
    );
    assert!(
        text(&out.stderr).contains("no app generators (apps[]): nothing to check"),
        "{}",
        text(&out.stderr)
    );
    // A typo in the agent's config is an error naming the field, not a manifest problem.
    std::fs::write(dir.path().join("tether.yaml"), "sourcez: []\n").expect("write");
    let out = check(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown field `sourcez`"),
        "{}",
        text(&out.stderr)
    );
}
