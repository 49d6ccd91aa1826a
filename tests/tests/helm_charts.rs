//! Conformance of `tether-agent render` on Helm charts with the real `helm template`
//! (helm 3.17 as `helm3` and helm 4.1 as `helm`, installed by `scripts/setup-peers`).
//!
//! Every directory under `tests/corpus/helm/` is a public chart as published (`chart/`,
//! dependencies in `chart/charts/`), with non-default values (`test-values.yaml`) and a
//! `SOURCES` file. Both tools render it with the same release name, namespace, values and
//! an extra API version (`monitoring.coreos.com/v1`, as on a cluster running the
//! Prometheus operator), CRDs included and tests skipped; both outputs are parsed the same
//! way and compared object by object, in order. The test prints the pass count and every
//! difference, and fails when a chart of the expected-pass list differs.
//!
//! Known differences (charts not in the lists below), each with its reason, are listed in
//! `KNOWN_DIFFERENCES` and in the README. Values that use random functions are set in
//! `test-values.yaml` (helm's own output is random there; Tether's is seeded).
//!
//! A second test checks that tampered chart archives (`..` entries, links, bombs) under a
//! chart's `charts/` are refused with the archive and the entry named.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tether_tests::render_compare::{describe, differences, parse};

/// Charts that must render exactly as `helm3 template` renders them.
const EXPECTED_PASS_HELM3: &[&str] = &[
    "alertmanager",
    "argo-cd",
    "argo-rollouts",
    "cert-manager",
    "external-dns",
    "external-secrets",
    "gatekeeper",
    "grafana",
    "ingress-nginx",
    "kube-prometheus-stack",
    "kube-state-metrics",
    "loki",
    "metrics-server",
    "mysql",
    "nginx",
    "podinfo",
    "postgresql",
    "prometheus",
    "prometheus-adapter",
    "prometheus-blackbox-exporter",
    "prometheus-node-exporter",
    "promtail",
    "rabbitmq",
    "redis",
    "sealed-secrets",
    "tempo",
    "traefik",
];

/// Charts that must render exactly as helm 4's `helm template` renders them.
const EXPECTED_PASS_HELM4: &[&str] = &[
    "alertmanager",
    "argo-cd",
    "argo-rollouts",
    "external-dns",
    "external-secrets",
    "gatekeeper",
    "grafana",
    "kube-state-metrics",
    "loki",
    "metrics-server",
    "mysql",
    "nginx",
    "podinfo",
    "postgresql",
    "prometheus",
    "prometheus-adapter",
    "prometheus-blackbox-exporter",
    "prometheus-node-exporter",
    "promtail",
    "rabbitmq",
    "redis",
    "sealed-secrets",
    "tempo",
    "traefik",
];

/// Charts that differ, and why.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "ingress-nginx",
        "helm 4 only: helm 4 installs ValidatingWebhookConfiguration after APIService; Tether follows helm 3 (unknown kinds last)",
    ),
    (
        "cert-manager",
        "helm 4 only: helm 4 installs ValidatingWebhookConfiguration after APIService; Tether follows helm 3 (unknown kinds last)",
    ),
    (
        "kube-prometheus-stack",
        "helm 4 only: helm 4 installs MutatingWebhookConfiguration after APIService; Tether follows helm 3 (unknown kinds last)",
    ),
];

const RELEASE: &str = "corpus";
const NAMESPACE: &str = "tether-test";
const EXTRA_API: &str = "monitoring.coreos.com/v1";

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/helm");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|err| panic!("{}: {err}", root.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("chart/Chart.yaml").is_file())
        .collect();
    cases.sort();
    cases
}

fn name(case: &Path) -> String {
    case.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn helm(binary: &str, case: &Path) -> Output {
    Command::new(tether_tests::peers::peer_binary(binary))
        .args(["template", RELEASE])
        .arg(case.join("chart"))
        .arg("--values")
        .arg(case.join("test-values.yaml"))
        .args(["--namespace", NAMESPACE, "--api-versions", EXTRA_API])
        .args(["--include-crds", "--skip-tests"])
        .output()
        .unwrap_or_else(|err| panic!("{binary} is installed by scripts/setup-peers: {err}"))
}

fn tether(case: &Path) -> Output {
    Command::new(tether_tests::bins::tether_agent())
        .arg("render")
        .arg(case.join("chart"))
        .arg("--root")
        .arg(case)
        .arg("--values")
        .arg(case.join("test-values.yaml"))
        .args(["--release-name", RELEASE, "--namespace", NAMESPACE])
        .args(["--api-versions", EXTRA_API])
        .output()
        .expect("run tether-agent")
}

/// Compares the objects in order; `Ok(count)` or every difference.
fn compare_objects(expected: &[Value], actual: &[Value]) -> Result<usize, String> {
    let mut problems = Vec::new();
    if expected.len() != actual.len() {
        problems.push(format!(
            "helm printed {} objects, tether {}:\n  helm:   {:?}\n  tether: {:?}",
            expected.len(),
            actual.len(),
            expected.iter().map(describe).collect::<Vec<_>>(),
            actual.iter().map(describe).collect::<Vec<_>>()
        ));
    }
    for (index, (e, a)) in expected.iter().zip(actual).enumerate() {
        if e != a {
            let mut diff = Vec::new();
            differences(e, a, "", &mut diff);
            let diff: Vec<String> = diff
                .into_iter()
                .map(|d| d.replace("kubectl has", "helm has"))
                .take(12)
                .collect();
            problems.push(format!(
                "object {index}: helm {} / tether {}\n{}",
                describe(e),
                describe(a),
                diff.join("\n")
            ));
        }
        if problems.len() > 8 {
            problems.push("(more differences left out)".into());
            break;
        }
    }
    if problems.is_empty() {
        Ok(expected.len())
    } else {
        Err(problems.join("\n"))
    }
}

fn compare(binary: &str, case: &Path, tether_out: &Output) -> Result<usize, String> {
    let expected = helm(binary, case);
    if !expected.status.success() {
        return Err(format!(
            "{binary} template failed: {}",
            String::from_utf8_lossy(&expected.stderr)
        ));
    }
    if !tether_out.status.success() {
        return Err(format!(
            "tether-agent render failed: {}",
            String::from_utf8_lossy(&tether_out.stderr)
        ));
    }
    let expected = parse(&String::from_utf8_lossy(&expected.stdout))
        .map_err(|err| format!("{binary} output: {err}"))?;
    let actual = parse(&String::from_utf8_lossy(&tether_out.stdout))
        .map_err(|err| format!("tether output: {err}"))?;
    compare_objects(&expected, &actual)
}

/// Renders the corpus with Tether once and compares with both helm versions.
#[test]
fn charts_render_as_helm_template_renders_them() {
    let cases = corpus();
    assert!(cases.len() >= 25, "the corpus holds {} charts", cases.len());
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (binary, expected_pass) in [
        ("helm3", EXPECTED_PASS_HELM3),
        ("helm", EXPECTED_PASS_HELM4),
    ] {
        let mut passed = 0;
        for case in &cases {
            let chart = name(case);
            let tether_out = tether(case);
            match compare(binary, case, &tether_out) {
                Ok(count) => {
                    passed += 1;
                    report.push(format!("{binary} {chart}: ok ({count} objects)"));
                }
                Err(diff) => {
                    let known = KNOWN_DIFFERENCES
                        .iter()
                        .find(|(n, _)| *n == chart)
                        .map_or("", |(_, reason)| *reason);
                    report.push(format!("{binary} {chart}: DIFFERS {known}\n{diff}"));
                    if expected_pass.contains(&chart.as_str()) {
                        failures.push(format!("{binary} {chart}"));
                    }
                }
            }
        }
        report.push(format!(
            "{binary}: {passed} of {} charts match",
            cases.len()
        ));
    }
    println!("{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "charts expected to match differ: {failures:?}"
    );
    for chart in EXPECTED_PASS_HELM3.iter().chain(EXPECTED_PASS_HELM4) {
        assert!(
            cases.iter().any(|c| name(c) == *chart),
            "{chart} is in an expected-pass list but not in the corpus"
        );
    }
}

/// Writes `chart/charts/NAME.tgz` holding the given entries (python's tarfile, so that
/// unsafe names and links can be written as an attacker would).
fn write_archive(chart: &Path, name: &str, script: &str) {
    let out = chart.join("charts").join(name);
    std::fs::create_dir_all(chart.join("charts")).expect("create charts/");
    let program = format!(
        "import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w:gz')\n\
         def add(name, data=b'', kind=tarfile.REGTYPE, link=''):\n    \
         i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data)\n    \
         t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)\n\
         add('sub/Chart.yaml', b'apiVersion: v2\\nname: sub\\nversion: 1.0.0\\n')\n{script}\nt.close()\n"
    );
    let status = Command::new("python3")
        .arg("-c")
        .arg(program)
        .arg(&out)
        .status()
        .expect("python3 is installed");
    assert!(status.success(), "writing {}", out.display());
}

#[test]
fn tampered_chart_archives_are_refused_with_archive_and_entry_named() {
    let cases = [
        (
            "climb.tgz",
            "add('sub/../../../etc/evil', b'x')",
            "sub/../../../etc/evil: paths with `..` are not allowed",
        ),
        (
            "absolute.tgz",
            "add('/etc/passwd', b'x')",
            "/etc/passwd: absolute paths are not allowed",
        ),
        (
            "symlink.tgz",
            "add('sub/templates/x.yaml', kind=tarfile.SYMTYPE, link='/etc/passwd')",
            "sub/templates/x.yaml: links are not allowed in a chart archive",
        ),
        (
            "hardlink.tgz",
            "add('sub/values.yaml', kind=tarfile.LNKTYPE, link='sub/Chart.yaml')",
            "sub/values.yaml: links are not allowed in a chart archive",
        ),
        (
            "bomb.tgz",
            "for i in range(8): add(f'sub/f{i}', b'\\0' * (4 * 1024 * 1024))",
            "expands more than 200-fold",
        ),
    ];
    for (archive, script, wanted) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let chart = dir.path().join("top");
        std::fs::create_dir_all(chart.join("templates")).expect("mkdir");
        std::fs::write(
            chart.join("Chart.yaml"),
            "apiVersion: v2\nname: top\nversion: 1.0.0\n",
        )
        .expect("write Chart.yaml");
        write_archive(&chart, archive, script);
        let out = Command::new(tether_tests::bins::tether_agent())
            .arg("render")
            .arg(&chart)
            .arg("--root")
            .arg(dir.path())
            .output()
            .expect("run tether-agent");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{archive}: {stderr}");
        assert!(
            stderr.contains(&format!("archive top/charts/{archive}: ")) && stderr.contains(wanted),
            "{archive}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{archive}: nothing is printed");
    }
}
