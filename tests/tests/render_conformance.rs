//! Conformance of `tether-agent render` with `kubectl kustomize` (kubectl 1.33, kustomize
//! v5.6, installed by `scripts/setup-peers`).
//!
//! Every directory under `tests/fixtures/kustomize/` is a case: both tools render it, the
//! outputs are parsed the same way (YAML 1.1, as kubectl reads manifests) and compared
//! object by object: same objects (semantic equality of the parsed values) in the same
//! order. Every mismatch is reported with both objects, then the test fails.
//!
//! Cases under `tests/fixtures/kustomize-invalid/` must be refused by both tools; cases under
//! `tests/fixtures/render-refused/` must be refused by Tether (paths leaving the root,
//! remote bases, Helm, plugins), with a message naming the kustomization file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tether_tests::render_compare::{compare_objects, parse};

fn fixtures(group: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(group);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|err| panic!("{}: {err}", root.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

fn kubectl(dir: &Path) -> Output {
    Command::new(tether_tests::peers::kustomize_kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl is installed (it is part of the test environment)")
}

fn tether(dir: &Path) -> Output {
    Command::new(tether_tests::bins::tether_agent())
        .arg("render")
        .arg(dir)
        .output()
        .expect("run tether-agent")
}

/// `tether-agent render DIR --root DIR`: nothing outside the case's own directory may be read
/// (by default the root is the Git work tree that holds DIR).
fn tether_rooted(dir: &Path) -> Output {
    Command::new(tether_tests::bins::tether_agent())
        .arg("render")
        .arg(dir)
        .arg("--root")
        .arg(dir)
        .output()
        .expect("run tether-agent")
}

fn compare(case: &Path) -> Result<usize, String> {
    let expected = kubectl(case);
    if !expected.status.success() {
        return Err(format!(
            "kubectl kustomize failed: {}",
            String::from_utf8_lossy(&expected.stderr)
        ));
    }
    let actual = tether(case);
    if !actual.status.success() {
        return Err(format!(
            "tether-agent render failed: {}",
            String::from_utf8_lossy(&actual.stderr)
        ));
    }
    let expected = parse(&String::from_utf8_lossy(&expected.stdout))
        .map_err(|err| format!("kubectl output: {err}"))?;
    let actual = parse(&String::from_utf8_lossy(&actual.stdout))
        .map_err(|err| format!("tether output: {err}"))?;
    compare_objects(&expected, &actual)
}

#[test]
fn every_kustomization_renders_like_kubectl_kustomize() {
    let cases = fixtures("kustomize");
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    let mut objects = 0;
    for case in &cases {
        match compare(case) {
            Ok(count) => {
                assert!(count > 0, "{}: renders to nothing", case.display());
                objects += count;
            }
            Err(problem) => failures.push(format!("--- {}\n{problem}", case.display())),
        }
    }
    println!(
        "render conformance: {} passed, {} failed ({objects} objects compared)",
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn invalid_kustomizations_are_refused_by_both() {
    let cases = fixtures("kustomize-invalid");
    assert!(
        cases.len() >= 5,
        "the invalid corpus has {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let theirs = kubectl(case);
        let ours = tether(case);
        let stderr = String::from_utf8_lossy(&ours.stderr);
        if theirs.status.success() {
            failures.push(format!("{}: kubectl accepted it", case.display()));
        }
        if ours.status.code() != Some(1) {
            failures.push(format!(
                "{}: tether-agent exited with {:?}, not 1",
                case.display(),
                ours.status.code()
            ));
        }
        if !stderr.contains("kustomization") && !stderr.contains(".yaml") {
            failures.push(format!(
                "{}: the message names no file: {stderr}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn unsafe_or_unsupported_kustomizations_are_refused_by_tether() {
    let cases = fixtures("render-refused");
    assert!(
        cases.len() >= 6,
        "the refused corpus has {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let ours = tether_rooted(case);
        let stderr = String::from_utf8_lossy(&ours.stderr);
        if ours.status.code() != Some(1) || !ours.stdout.is_empty() {
            failures.push(format!(
                "{}: exit {:?}, stdout {} bytes",
                case.display(),
                ours.status.code(),
                ours.stdout.len()
            ));
        }
        if !stderr.contains("kustomization.yaml") {
            failures.push(format!(
                "{}: the message does not name the file: {stderr}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn render_fails_with_usage_exit_code_on_a_missing_directory() {
    let out = Command::new(tether_tests::bins::tether_agent())
        .arg("render")
        .arg("/nonexistent/tether-render-test")
        .output()
        .expect("run tether-agent");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn the_reference_is_kubectl_1_33_with_kustomize_5_6() {
    let out = Command::new(tether_tests::peers::kustomize_kubectl())
        .args(["version", "--client"])
        .output()
        .expect("run kubectl version");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kubectl version failed: {text}");
    assert!(text.contains("Client Version: v1.33."), "{text}");
    assert!(text.contains("Kustomize Version: v5.6."), "{text}");
}

#[test]
fn an_empty_component_built_directly_renders_nothing_like_kubectl() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: []\n",
    )
    .expect("write");
    let theirs = kubectl(dir.path());
    assert!(
        theirs.status.success(),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    let ours = tether(dir.path());
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let theirs = parse(&String::from_utf8_lossy(&theirs.stdout)).expect("kubectl output");
    let ours = parse(&String::from_utf8_lossy(&ours.stdout)).expect("tether output");
    assert!(
        theirs.is_empty() && ours.is_empty(),
        "{theirs:?} / {ours:?}"
    );
}
