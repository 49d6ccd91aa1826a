//! A chart's `crds/` files in the output of `tether-render` and `tether-agent render`: printed
//! as `helm template --include-crds` prints them (helm 3.17, `helm3` from
//! `scripts/setup-peers`), byte for byte, before the objects; checked to be YAML mappings, so
//! that a malformed file fails the render with the file named.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tether_tests::bins::{tether_agent, tether_render};
use tether_tests::peers::peer_binary;

const RELEASE: &str = "corpus";
const NAMESPACE: &str = "tether-test";
const EXTRA_API: &str = "monitoring.coreos.com/v1";

/// Corpus charts with `crds/` files (in the chart or in an enabled subchart).
const CHARTS_WITH_CRDS: &[&str] = &[
    "external-dns",
    "gatekeeper",
    "kube-prometheus-stack",
    "sealed-secrets",
    "traefik",
];

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/helm")
        .join(name)
}

fn helm3(case: &Path) -> Output {
    Command::new(peer_binary("helm3"))
        .args(["template", RELEASE])
        .arg(case.join("chart"))
        .arg("--values")
        .arg(case.join("test-values.yaml"))
        .args(["--namespace", NAMESPACE, "--api-versions", EXTRA_API])
        .args(["--include-crds", "--skip-tests"])
        .output()
        .unwrap_or_else(|err| panic!("helm3 is installed by scripts/setup-peers: {err}"))
}

/// `tether-render DIR ...` or `tether-agent render DIR ...`.
fn render(command: &[PathBuf], case: &Path) -> Output {
    let (binary, args) = command.split_first().unwrap_or_else(|| panic!("a command"));
    Command::new(binary)
        .args(args)
        .arg(case.join("chart"))
        .arg("--root")
        .arg(case)
        .arg("--values")
        .arg(case.join("test-values.yaml"))
        .args(["--release-name", RELEASE, "--namespace", NAMESPACE])
        .args(["--api-versions", EXTRA_API])
        .output()
        .unwrap_or_else(|err| panic!("{}: {err}", binary.display()))
}

/// The `crds/` part of helm's output: every `---\n# Source: ...` block up to the first one
/// of a template (a path with `/templates/`).
fn crd_part(helm_output: &str) -> &str {
    const MARK: &str = "---\n# Source: ";
    let mut end = 0;
    while let Some(found) = helm_output[end..].find(MARK) {
        let start = end + found;
        let path = helm_output[start + MARK.len()..]
            .lines()
            .next()
            .unwrap_or("");
        if path.contains("/templates/") {
            return &helm_output[..start];
        }
        end = start + MARK.len();
    }
    helm_output
}

#[test]
fn crd_files_are_printed_byte_for_byte_as_helm_template_prints_them() {
    for name in CHARTS_WITH_CRDS {
        let case = case(name);
        let helm = helm3(&case);
        assert!(helm.status.success(), "helm3 failed on {name}");
        let helm = String::from_utf8_lossy(&helm.stdout);
        let crds = crd_part(&helm);
        assert!(crds.contains("/crds/"), "{name}: helm printed no CRD file");
        for command in [vec![tether_render()], vec![tether_agent(), "render".into()]] {
            let out = render(&command, &case);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{name}: {stderr}");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.starts_with(crds),
                "{name}: {} does not start with helm's {} bytes of CRD files",
                command[0].display(),
                crds.len()
            );
            // The objects follow as their own documents.
            let rest = &text[crds.len()..];
            assert!(
                rest.starts_with("---\n") && !rest.starts_with("---\n# Source:"),
                "{name}: {:?}",
                rest.get(..40)
            );
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_malformed_crd_file_fails_the_render_naming_the_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let chart = dir.path().join("web");
    write(
        &chart,
        "Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 1.0.0\n",
    );
    write(
        &chart,
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n",
    );
    write(
        &chart,
        "crds/good.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: a.example.com}\n",
    );
    for (text, reason) in [
        (
            "kind: CustomResourceDefinition\nspec: {names: [\n",
            "invalid YAML: ",
        ),
        (
            "- kind: CustomResourceDefinition\n",
            "document 0 is not a mapping",
        ),
    ] {
        write(&chart, "crds/bad.yaml", text);
        let out = Command::new(tether_render())
            .arg(&chart)
            .arg("--root")
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(out.stdout.is_empty(), "nothing is printed on failure");
        assert!(
            stderr.contains("chart web: YAML parse error on web/crds/bad.yaml: ")
                && stderr.contains(reason),
            "{stderr}"
        );
    }
    // Left out with --skip-crds, the file is not read.
    let out = Command::new(tether_render())
        .arg(&chart)
        .arg("--root")
        .arg(dir.path())
        .arg("--skip-crds")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"
    );
}
