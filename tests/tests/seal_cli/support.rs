//! Helpers of the `seal_cli` tests: running `tether-seal` and Debian's `age-keygen`, the
//! fixtures and their plaintexts, and the check that no output holds a plaintext.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tether_seal::sealed::SealedSecret;
use tether_tests::{bins, peers};

/// Plaintexts of the fixtures, searched for in every output that must not hold them.
pub const PASSWORD: &str = "hunter2-plaintext-9f3k";
pub const USERNAME: &str = "admin-7Qz";
pub const OLD_PASSWORD_B64: &str = "b2xkLWxlYWtlZC1wYXNzd29yZA==";
pub const TOKEN: &str = "tok-merged-5d8w";
pub const REDIS_URL: &str = "redis-secret-url-3j2n";
pub const PIN: &str = "864209753";

pub const EXIT_USAGE: i32 = 2;
pub const EXIT_MALFORMED: i32 = 3;
pub const EXIT_NO_IDENTITY: i32 = 4;
pub const EXIT_SCOPE_MISMATCH: i32 = 5;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sealed")
        .join(name)
}

/// Runs `tether-seal` with `args` in `dir`.
pub fn seal_cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(bins::tether_seal())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("tether-seal runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

/// Neither stream of `out` contains any of the plaintexts (raw or base64).
#[track_caller]
pub fn assert_no_plaintext(out: &Output) {
    let all = format!("{}\n{}", stdout(out), stderr(out));
    for secret in [PASSWORD, USERNAME, TOKEN, REDIS_URL, PIN] {
        assert!(!all.contains(secret), "{secret} leaked:\n{all}");
        let b64 = STANDARD.encode(secret);
        assert!(!all.contains(&b64), "{secret} leaked as base64:\n{all}");
    }
    assert!(
        !all.contains(OLD_PASSWORD_B64),
        "last-applied leaked:\n{all}"
    );
}

/// A fresh identity made by `tether-seal keygen`, and its recipient.
pub fn keygen(dir: &Path, file: &str) -> String {
    let out = seal_cli(dir, &["keygen", "-o", file]);
    assert_ok(&out);
    let out = seal_cli(dir, &["recipient", file]);
    assert_ok(&out);
    stdout(&out).trim().to_owned()
}

/// Seals `secret` for `recipient` with extra `args` into `dir/out`, returning the object.
pub fn seal_to(
    dir: &Path,
    secret: &Path,
    recipient: &str,
    args: &[&str],
    out: &str,
) -> SealedSecret {
    let secret = secret.to_str().expect("utf-8 path");
    let mut all = vec!["seal", "-f", secret, "-r", recipient];
    all.extend_from_slice(args);
    let result = seal_cli(dir, &all);
    assert_ok(&result);
    assert_no_plaintext(&result);
    std::fs::write(dir.join(out), &result.stdout).expect("write sealed file");
    read_sealed(&dir.join(out))
}

pub fn read_sealed(path: &Path) -> SealedSecret {
    let text = std::fs::read_to_string(path).expect("read sealed file");
    SealedSecret::from_text(&text, &path.display().to_string()).expect("a SealedSecret")
}

pub fn write_sealed(path: &Path, sealed: &SealedSecret) {
    std::fs::write(path, sealed.to_yaml().expect("yaml")).expect("write sealed file");
}

/// `unseal` output parsed as the Secret JSON.
pub fn unseal_json(dir: &Path, identity: &str, file: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["unseal", "-i", identity, "-o", "json"];
    args.extend_from_slice(extra);
    args.push(file);
    let out = seal_cli(dir, &args);
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).expect("unseal prints JSON")
}

pub fn data_value(secret: &serde_json::Value, key: &str) -> String {
    let b64 = secret["data"][key].as_str().unwrap_or_default();
    String::from_utf8(STANDARD.decode(b64).expect("base64 data")).expect("utf-8 value")
}

pub fn age_keygen(dir: &Path, file: &str) {
    let status = Command::new(peers::peer_binary("age-keygen"))
        .args(["-o", file])
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .expect("age-keygen runs");
    assert!(status.success());
}

pub fn age_keygen_recipient(dir: &Path, file: &str) -> String {
    let out = Command::new(peers::peer_binary("age-keygen"))
        .args(["-y", file])
        .current_dir(dir)
        .output()
        .expect("age-keygen -y runs");
    assert_ok(&out);
    stdout(&out).trim().to_owned()
}

/// Seals the fixture with strict scope and returns (temporary folder with `key.txt`, the object also in `db.yaml`).
pub fn strict_db() -> (tempfile::TempDir, SealedSecret) {
    let dir = tempfile::tempdir().unwrap();
    let recipient = keygen(dir.path(), "key.txt");
    let sealed = seal_to(
        dir.path(),
        &fixture("secret.yaml"),
        &recipient,
        &[],
        "db.yaml",
    );
    (dir, sealed)
}

/// The recipient named on the `# public key:` line of an identity file.
pub fn public_key_of(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .unwrap()
}
