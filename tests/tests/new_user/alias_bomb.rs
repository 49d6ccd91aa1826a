//! A SOPS-shaped YAML file whose aliases repeat a long string: a 3 MiB file that would expand
//! to gigabytes is refused with an error naming the file, and the process stays small.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tether_tests::bins;

use super::support::{Agent, Cluster, Repo, wait_for};

/// A SOPS-shaped Secret: one 3 MB string and a list of 1,000 aliases to it (3 GB expanded).
pub fn alias_bomb() -> String {
    let long = "x".repeat(3_000_000);
    let aliases = vec!["*a"; 1000].join(", ");
    format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: bomb
stringData:
  a: &a {long}
  b: [{aliases}]
sops:
  age:
    - recipient: age1pzfu83pfsz4qs4d89sqptrsshpvm9c0yf4mvfm87eqrk7zw87qls353cyg
      enc: |
        -----BEGIN AGE ENCRYPTED FILE-----
        YWJj
        -----END AGE ENCRYPTED FILE-----
  lastmodified: \"2024-01-01T00:00:00Z\"
  mac: ENC[AES256_GCM,data:YWJj,iv:YWJjYWJjYWJjYWJjYWJjYWJjYWJjYWJjYWJjYWJjYWI=,tag:YWJjYWJjYWJjYWJjYWJjYQ==,type:str]
  version: 3.9.0
"
    )
}

/// The largest address space the CLI may use on the bomb: far below the gigabytes the
/// expansion would take.
const ADDRESS_SPACE_LIMIT: &str = "268435456";

#[test]
fn tether_seal_decrypt_refuses_aliases_that_expand_a_long_string_and_stays_small() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = dir.path().join("bomb.enc.yaml");
    std::fs::write(&file, alias_bomb()).expect("write");
    let out = Command::new("prlimit")
        .arg(format!("--as={ADDRESS_SPACE_LIMIT}"))
        .arg(bins::tether_seal())
        .arg("decrypt")
        .arg(&file)
        .output()
        .expect("run tether-seal under prlimit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("alias expansion exceeds"), "{stderr}");
    assert!(!stderr.contains("memory allocation"), "{stderr}");
    assert!(stderr.len() < 1000, "the error quotes too much: {stderr}");
}

/// The peak resident size of a process, from `/proc/PID/status` (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

fn write_app(repo: &Repo, dir: &str) {
    repo.upstream
        .write(&format!("{dir}/bomb.enc.yaml"), alias_bomb())
        .expect("write");
    repo.upstream
        .write(
            &format!("{dir}/kustomization.yaml"),
            "secretGenerator:\n  - name: creds\n    files: [bomb.enc.yaml]\n",
        )
        .expect("write");
}

#[test]
fn an_alias_bomb_in_a_committed_secret_value_fails_its_app_and_the_agent_stays_small() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    write_app(&repo, "apps/bomb");
    repo.upstream.commit("an alias bomb").expect("commit");
    let dir = tempfile::tempdir().expect("temporary folder");
    let agent = Agent::start(&cluster, &repo, dir.path(), "agent-bomb");
    let status = wait_for("the bomb app to fail", Duration::from_secs(90), || {
        let (code, body) = agent.get("/api/v1/apps/bomb");
        (code == 200 && body.contains("\"Failed\"")).then_some(body)
    });
    assert!(status.contains("alias expansion exceeds"), "{status}");
    assert!(status.contains("bomb.enc.yaml"), "{status}");
    // The other apps synced: one bad app blocks none.
    assert!(cluster.exists(&["configmap", "settings", "-n", "one"]));
    let peak = peak_rss_kib(agent.process.pid());
    assert!(
        peak < 512 * 1024,
        "the agent peaked at {peak} KiB on a 3 MB file"
    );
    assert!(Path::new(&format!("/proc/{}", agent.process.pid())).exists());
}
