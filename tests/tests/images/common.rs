//! What the image tests share: running `tether-agent images` on a config.

use std::path::Path;
use std::process::Command;

/// Runs `tether-agent images --config FILE [--write]` with `config` (written to `dir`);
/// returns the exit code, the report and stderr.
pub fn images(dir: &Path, config: &str, write: bool) -> (i32, serde_json::Value, String) {
    images_with_env(dir, config, write, &[])
}

/// [`images`] with more environment variables.
pub fn images_with_env(
    dir: &Path,
    config: &str,
    write: bool,
    env: &[(&str, &str)],
) -> (i32, serde_json::Value, String) {
    let file = dir.join("tether.yaml");
    std::fs::write(&file, config).expect("write the config");
    let mut cmd = Command::new(tether_tests::bins::tether_agent());
    cmd.arg("images").arg("--config").arg(&file);
    if write {
        cmd.arg("--write");
    }
    let out = cmd
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .expect("run tether-agent images");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("the report is not JSON ({e}): {stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// The entry of `list` (`repositories`, `policies`, `automations`) named `name`.
pub fn entry<'a>(report: &'a serde_json::Value, list: &str, name: &str) -> &'a serde_json::Value {
    report[list]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["name"] == name))
        .unwrap_or_else(|| panic!("no {list} entry {name} in {report:#}"))
}
