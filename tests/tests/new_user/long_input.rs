//! A 2 MB object name and a 1 MB generator key: every error names them, cut to a few hundred
//! bytes, in `render`, `plan`, `check`, and the daemon's status and logs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tether_tests::bins;

use super::support::{Agent, Cluster, Repo, wait_for};

/// The most bytes an error about one of these inputs may take.
const ERROR_BUDGET: usize = 4096;

fn big_name() -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\ndata: {{a: b}}\n",
        "n".repeat(2_000_000)
    )
}

fn big_key() -> String {
    format!(
        "configMapGenerator:\n  - name: gen\n    literals: [\"{}=v\"]\n",
        "k".repeat(1_000_000)
    )
}

fn write_apps(root: &Path) {
    for (dir, file, text) in [
        ("apps/big", "cm.yaml", big_name()),
        ("apps/gen", "kustomization.yaml", big_key()),
    ] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        std::fs::write(root.join(dir).join(file), text).expect("write");
    }
}

fn agent(args: &[&str], cwd: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(bins::tether_agent())
        .args(args)
        .current_dir(cwd)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run tether-agent");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn errors_quote_a_two_megabyte_name_and_a_one_megabyte_key_in_a_few_hundred_bytes() {
    let dir = tempfile::tempdir().expect("temporary folder");
    write_apps(dir.path());
    let config = super::generator::offline_config(dir.path());
    let config = config.display().to_string();
    let repo = dir.path().display().to_string();

    let (code, stdout, stderr) = agent(
        &["plan", "--offline", "--config", &config, "--repo", &repo],
        dir.path(),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.contains("invalid key \"kkkk"), "{}", &stdout[..500]);
    assert!(stdout.contains("…(1000000 bytes)"), "the cut is marked");
    assert!(stdout.contains("…(2000000 bytes)"), "the cut is marked");
    assert!(
        stdout.len() < 2 * ERROR_BUDGET,
        "plan printed {} bytes",
        stdout.len()
    );

    let (code, _, stderr) = agent(&["render", "apps/gen"], dir.path());
    assert_eq!(code, Some(1));
    assert!(stderr.contains("invalid key"), "{stderr}");
    assert!(
        stderr.len() < ERROR_BUDGET,
        "render printed {} bytes",
        stderr.len()
    );

    for app in ["apps/big", "apps/gen"] {
        let (code, stdout, stderr) = agent(&["check", app], dir.path());
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stdout.len() + stderr.len() < 2 * ERROR_BUDGET,
            "check {app} printed {} bytes",
            stdout.len() + stderr.len()
        );
    }
}

#[test]
fn the_daemon_reports_a_huge_name_and_key_in_bounded_status_and_logs() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    repo.upstream
        .write("apps/big/cm.yaml", big_name())
        .expect("write");
    repo.upstream
        .write("apps/gen/kustomization.yaml", big_key())
        .expect("write");
    repo.upstream.commit("huge inputs").expect("commit");
    let dir = tempfile::tempdir().expect("temporary folder");
    let agent = Agent::start(&cluster, &repo, dir.path(), "agent-long");
    for app in ["big", "gen"] {
        let status = wait_for("the failed app", Duration::from_secs(60), || {
            let (code, body) = agent.get(&format!("/api/v1/apps/{app}"));
            (code == 200 && body.contains("\"Failed\"")).then_some(body)
        });
        assert!(
            status.len() < ERROR_BUDGET,
            "{app}: status of {} bytes",
            status.len()
        );
    }
    let logs = agent.logs();
    let longest = logs.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < ERROR_BUDGET, "a log line of {longest} bytes");
}
