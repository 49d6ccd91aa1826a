//! `tether-agent render DIR | head` and every other printing command: a stdout closed by its
//! reader ends the command quietly (exit 0, or 141 as after `SIGPIPE`), with no panic text.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};

use tether_tests::bins;

/// A directory of 3,000 ConfigMaps: its render is far larger than a pipe's buffer.
fn many_objects(dir: &Path) {
    let app = dir.join("apps/many");
    std::fs::create_dir_all(&app).expect("mkdir");
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-{i}\ndata:\n  value: \"{}\"\n",
            "v".repeat(64)
        ));
    }
    std::fs::write(app.join("objects.yaml"), text).expect("write");
}

/// Runs `cmd`, reads one small chunk of its stdout like `head -c`, closes the pipe, and
/// checks that the command ended quietly.
fn ends_quietly_when_stdout_closes(what: &str, mut cmd: Command) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("KUBECONFIG")
        .env("RUST_BACKTRACE", "1")
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 64];
    let read = stdout.read(&mut first).expect("read");
    assert!(read > 0, "{what} printed nothing");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 141)),
        "{what}: {:?}\n{stderr}",
        out.status
    );
    assert!(
        !stderr.contains("panicked")
            && !stderr.contains("Broken pipe")
            && !stderr.contains("backtrace"),
        "{what}: {stderr}"
    );
}

#[test]
fn a_closed_stdout_ends_render_plan_and_check_quietly() {
    let dir = tempfile::tempdir().expect("temporary folder");
    many_objects(dir.path());
    let mut render = Command::new(bins::tether_agent());
    render.arg("render").arg(dir.path().join("apps/many"));
    ends_quietly_when_stdout_closes("render", render);

    let config = super::generator::offline_config(dir.path());
    let mut plan = Command::new(bins::tether_agent());
    plan.arg("plan")
        .arg("--offline")
        .arg("--config")
        .arg(&config)
        .arg("--repo")
        .arg(dir.path());
    ends_quietly_when_stdout_closes("plan", plan);

    let mut plan_json = Command::new(bins::tether_agent());
    plan_json
        .arg("plan")
        .arg("--offline")
        .arg("--json")
        .arg("--config")
        .arg(&config)
        .arg("--repo")
        .arg(dir.path());
    ends_quietly_when_stdout_closes("plan --json", plan_json);

    let mut check = Command::new(bins::tether_agent());
    check
        .arg("check")
        .arg("--format")
        .arg("json")
        .arg(dir.path().join("apps/many"));
    ends_quietly_when_stdout_closes("check", check);
}

#[test]
fn a_closed_stdout_ends_tether_seal_decrypt_quietly() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let plain = dir.path().join("big.yaml");
    let text: String = (0..5000)
        .map(|i| format!("key{i}: value-{i}-{}\n", "x".repeat(40)))
        .collect();
    std::fs::write(&plain, text).expect("write");
    let key = super::support::root().join("examples/keys/example.agekey");
    let encrypted = Command::new(bins::tether_seal())
        .args(["encrypt", "--age", super::support::EXAMPLE_RECIPIENT])
        .arg(&plain)
        .output()
        .expect("run tether-seal encrypt");
    assert!(
        encrypted.status.success(),
        "{}",
        String::from_utf8_lossy(&encrypted.stderr)
    );
    let file = dir.path().join("big.enc.yaml");
    std::fs::write(&file, encrypted.stdout).expect("write");
    let mut decrypt = Command::new(bins::tether_seal());
    decrypt
        .arg("decrypt")
        .arg(&file)
        .env("SOPS_AGE_KEY_FILE", &key);
    ends_quietly_when_stdout_closes("tether-seal decrypt", decrypt);
}
