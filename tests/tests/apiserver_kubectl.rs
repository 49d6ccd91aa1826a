//! The API server emulation as the real `kubectl` sees it: `tether-test-apiserver` runs as a
//! process, and each test drives one kubectl command against it through a kubeconfig the
//! server wrote. Set `TETHER_KUBECTL` to test another kubectl binary (default: `kubectl`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tether_tests::bins;
use tether_tests::peers::Process;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/apiserver")
        .join(name)
        .display()
        .to_string()
}

fn kubectl_binary() -> PathBuf {
    std::env::var_os("TETHER_KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubectl"))
}

/// One server process and a private kubectl environment (kubeconfig, HOME, cache).
struct Cluster {
    _server: Process,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary folder");
        let kubeconfig = dir.path().join("kubeconfig");
        let log = dir.path().join("apiserver.log");
        let mut cmd = Command::new(bins::tether_test_apiserver());
        cmd.arg("--kubeconfig").arg(&kubeconfig);
        let server = Process::spawn("tether-test-apiserver", cmd, &log)
            .expect("start tether-test-apiserver");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let printed = std::fs::read_to_string(&log).unwrap_or_default();
            if printed.contains("http://127.0.0.1:") && kubeconfig.is_file() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "tether-test-apiserver did not start: {printed}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::create_dir_all(dir.path().join("home")).expect("create HOME");
        Self {
            _server: server,
            dir,
            kubeconfig,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubectl_binary());
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path().join("home"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run kubectl")
    }

    /// Runs kubectl and returns stdout; panics with stderr when it fails.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure and returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn with_shop(self) -> Self {
        self.ok(&["create", "namespace", "shop"]);
        self
    }
}

#[test]
fn version_reports_the_server_version() {
    let c = Cluster::start();
    let out = c.ok(&["version", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("kubectl version prints JSON");
    assert_eq!(v["serverVersion"]["major"], "1");
    assert_eq!(v["serverVersion"]["minor"], "33");
}

#[test]
fn api_resources_lists_the_built_in_kinds() {
    let c = Cluster::start();
    let out = c.ok(&["api-resources"]);
    for kind in [
        "Namespace",
        "ConfigMap",
        "Deployment",
        "StatefulSet",
        "CronJob",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Lease",
    ] {
        assert!(
            out.lines().any(|l| l.split_whitespace().any(|w| w == kind)),
            "{kind} missing from:\n{out}"
        );
    }
    assert!(out.contains("deploy "), "short names are listed: {out}");
}

#[test]
fn create_namespace_then_get_it() {
    let c = Cluster::start();
    assert!(
        c.ok(&["create", "namespace", "shop"])
            .contains("namespace/shop created")
    );
    let phase = c.ok(&["get", "namespace", "shop", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Active");
}

#[test]
fn create_in_a_missing_namespace_fails() {
    let c = Cluster::start();
    let err = c.fails(&["apply", "-f", &fixture("configmap.yaml")]);
    assert!(err.contains("namespaces \"shop\" not found"), "{err}");
}

#[test]
fn server_side_apply_records_the_field_manager() {
    let c = Cluster::start().with_shop();
    let out = c.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "A",
        "-f",
        &fixture("configmap.yaml"),
    ]);
    assert!(out.contains("serverside-applied"), "{out}");
    let managers = c.ok(&[
        "-n",
        "shop",
        "get",
        "configmap",
        "settings",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}/{.metadata.managedFields[*].operation}",
    ]);
    assert_eq!(managers, "A/Apply");
}

#[test]
fn a_conflicting_apply_fails_without_force_and_wins_with_it() {
    let c = Cluster::start().with_shop();
    c.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "A",
        "-f",
        &fixture("configmap.yaml"),
    ]);
    let err = c.fails(&[
        "apply",
        "--server-side",
        "--field-manager",
        "B",
        "-f",
        &fixture("configmap-red.yaml"),
    ]);
    assert!(err.contains("conflict with \"A\""), "{err}");
    assert!(err.contains(".data.color"), "{err}");
    c.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "B",
        "--force-conflicts",
        "-f",
        &fixture("configmap-red.yaml"),
    ]);
    assert_eq!(
        c.ok(&[
            "-n",
            "shop",
            "get",
            "cm",
            "settings",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "red"
    );
}

#[test]
fn merge_patch_and_json_patch() {
    let c = Cluster::start().with_shop();
    c.ok(&["apply", "-f", &fixture("configmap.yaml")]);
    c.ok(&[
        "-n",
        "shop",
        "patch",
        "cm",
        "settings",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"extra":"1","size":null}}"#,
    ]);
    c.ok(&[
        "-n",
        "shop",
        "patch",
        "cm",
        "settings",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/data/color","value":"green"}]"#,
    ]);
    let data = c.ok(&[
        "-n",
        "shop",
        "get",
        "cm",
        "settings",
        "-o",
        "jsonpath={.data}",
    ]);
    let data: serde_json::Value = serde_json::from_str(&data).expect("data is JSON");
    assert_eq!(data, serde_json::json!({"color": "green", "extra": "1"}));
    let err = c.fails(&[
        "-n",
        "shop",
        "patch",
        "cm",
        "settings",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/data/nope"}]"#,
    ]);
    assert!(
        err.contains("BadRequest") || err.contains("could not be applied"),
        "{err}"
    );
}

#[test]
fn strategic_merge_patch_merges_containers_by_name() {
    let c = Cluster::start().with_shop();
    c.ok(&["apply", "-f", &fixture("deployment.yaml")]);
    c.ok(&[
        "-n",
        "shop",
        "patch",
        "deployment",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}"#,
    ]);
    let images = c.ok(&[
        "-n",
        "shop",
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={range .spec.template.spec.containers[*]}{.name}={.image};{end}",
    ]);
    assert_eq!(images, "app=nginx:1.27;sidecar=busybox:1.36;");
    let env = c.ok(&[
        "-n",
        "shop",
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env[0].value}",
    ]);
    assert_eq!(env, "production", "the other container is untouched");
}

#[test]
fn label_then_select_by_label() {
    let c = Cluster::start().with_shop();
    c.ok(&["apply", "-f", &fixture("configmap.yaml")]);
    c.ok(&[
        "-n",
        "shop",
        "create",
        "configmap",
        "other",
        "--from-literal=a=b",
    ]);
    assert!(
        c.ok(&["-n", "shop", "label", "configmap", "settings", "tier=front"])
            .contains("labeled")
    );
    let selected = c.ok(&["-n", "shop", "get", "cm", "-l", "tier=front", "-o", "name"]);
    assert_eq!(selected.trim(), "configmap/settings");
    let none = c.ok(&[
        "-n",
        "shop",
        "get",
        "cm",
        "-l",
        "tier in (back),app",
        "-o",
        "name",
    ]);
    assert_eq!(none.trim(), "");
    let not_front = c.ok(&["-n", "shop", "get", "cm", "-l", "!tier", "-o", "name"]);
    assert_eq!(not_front.trim(), "configmap/other");
    let manager = c.ok(&[
        "-n",
        "shop",
        "get",
        "cm",
        "settings",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(manager.contains("kubectl-label"), "{manager}");
}

#[test]
fn creating_an_existing_name_fails_with_already_exists() {
    let c = Cluster::start().with_shop();
    let err = c.fails(&["create", "namespace", "shop"]);
    assert!(
        err.contains("AlreadyExists") && err.contains("namespaces \"shop\" already exists"),
        "{err}"
    );
}

#[test]
fn an_invalid_name_fails() {
    let c = Cluster::start().with_shop();
    let err = c.fails(&[
        "-n",
        "shop",
        "create",
        "configmap",
        "Bad_Name",
        "--from-literal=a=b",
    ]);
    assert!(
        err.contains("is invalid") && err.contains("metadata.name"),
        "{err}"
    );
}

#[test]
fn server_dry_run_creates_nothing() {
    let c = Cluster::start().with_shop();
    let out = c.ok(&[
        "apply",
        "--dry-run=server",
        "-f",
        &fixture("deployment.yaml"),
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(out, "1", "the dry-run answer is defaulted");
    c.ok(&[
        "-n",
        "shop",
        "create",
        "configmap",
        "dry",
        "--from-literal=a=b",
        "--dry-run=server",
    ]);
    assert_eq!(
        c.ok(&["-n", "shop", "get", "deploy,cm", "-o", "name"])
            .trim(),
        ""
    );
}

#[test]
fn get_watch_sees_a_new_object() {
    let c = Cluster::start().with_shop();
    let log = c.dir.path().join("watch.log");
    let mut watch = Process::spawn(
        "kubectl get -w",
        c.command(&["-n", "shop", "get", "configmaps", "-w"]),
        &log,
    )
    .expect("start kubectl get -w");
    std::thread::sleep(Duration::from_millis(500));
    c.ok(&[
        "-n",
        "shop",
        "create",
        "configmap",
        "watched",
        "--from-literal=a=b",
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("watched") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    watch.stop();
    assert!(seen.contains("watched"), "kubectl get -w printed: {seen}");
}

#[test]
fn a_crd_then_one_of_its_objects() {
    let c = Cluster::start().with_shop();
    c.ok(&["apply", "-f", &fixture("crd-widgets.yaml")]);
    c.ok(&[
        "wait",
        "--for",
        "condition=Established",
        "crd/widgets.example.com",
        "--timeout=20s",
    ]);
    assert!(
        c.ok(&["apply", "-f", &fixture("widget.yaml")])
            .contains("widget.example.com/gear created")
    );
    assert_eq!(
        c.ok(&[
            "-n",
            "shop",
            "get",
            "wd",
            "gear",
            "-o",
            "jsonpath={.spec.size}"
        ]),
        "3"
    );
    assert!(
        c.ok(&["api-resources", "--api-group", "example.com"])
            .contains("Widget")
    );
    c.ok(&["delete", "crd", "widgets.example.com"]);
    let err = c.fails(&["-n", "shop", "get", "widgets.example.com", "gear"]);
    assert!(
        err.contains("doesn't have a resource type")
            || err.contains("NotFound")
            || err.contains("not found"),
        "{err}"
    );
}

#[test]
fn namespace_deletion_removes_its_objects() {
    let c = Cluster::start().with_shop();
    c.ok(&[
        "apply",
        "-f",
        &fixture("configmap.yaml"),
        "-f",
        &fixture("deployment.yaml"),
        "-f",
        &fixture("service.yaml"),
    ]);
    c.ok(&["delete", "namespace", "shop", "--timeout=20s"]);
    let err = c.fails(&["get", "namespace", "shop"]);
    assert!(err.contains("NotFound"), "{err}");
    assert_eq!(
        c.ok(&["get", "configmaps,deployments,services", "-A", "-o", "name"])
            .trim(),
        ""
    );
}

#[test]
fn client_side_apply_twice_is_idempotent() {
    let c = Cluster::start().with_shop();
    assert!(
        c.ok(&["apply", "-f", &fixture("deployment.yaml")])
            .contains("created")
    );
    let rv = |c: &Cluster| {
        c.ok(&[
            "-n",
            "shop",
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
    };
    let before = rv(&c);
    assert!(
        c.ok(&["apply", "-f", &fixture("deployment.yaml")])
            .contains("unchanged")
    );
    assert_eq!(rv(&c), before);
    c.ok(&["apply", "-f", &fixture("service.yaml")]);
    assert!(
        c.ok(&["apply", "-f", &fixture("service.yaml")])
            .contains("unchanged")
    );
}

#[test]
fn auth_can_i_is_answered() {
    let c = Cluster::start();
    assert_eq!(
        c.ok(&["auth", "can-i", "create", "deployments", "-n", "default"])
            .trim(),
        "yes"
    );
}
