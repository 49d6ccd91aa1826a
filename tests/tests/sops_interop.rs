//! Interoperability of `tether-seal` with the real `sops` 3.11.0, both directions.
//!
//! The encrypted corpus is made at test time by `sops` from the small plaintext fixtures in
//! `tests/fixtures/sops/`, with age keys made by `age-keygen`. Each test names what it proves.

use regex::Regex;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tether_tests::{bins, peers};

/// A scratch folder with age keys and helpers to run `sops` and `tether-seal` in it.
struct Lab {
    dir: tempfile::TempDir,
    keys: Vec<(PathBuf, String)>,
}

impl Lab {
    fn new(key_count: usize) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut keys = Vec::new();
        for i in 0..key_count {
            let path = dir.path().join(format!("key{i}.txt"));
            let out = Command::new(peers::peer_binary("age-keygen"))
                .arg("-o")
                .arg(&path)
                .output()
                .expect("age-keygen runs");
            assert!(
                out.status.success(),
                "age-keygen: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = std::fs::read_to_string(&path).expect("key file");
            let recipient = text
                .lines()
                .find_map(|l| l.strip_prefix("# public key: "))
                .expect("a public key line")
                .to_owned();
            keys.push((path, recipient));
        }
        Lab { dir, keys }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn recipient(&self, i: usize) -> &str {
        &self.keys[i].1
    }

    fn key_file(&self, i: usize) -> &Path {
        &self.keys[i].0
    }

    fn fixture(&self, name: &str) -> PathBuf {
        let src = peers::workspace_root()
            .join("tests/fixtures/sops")
            .join(name);
        let dst = self.path(name);
        std::fs::copy(&src, &dst).expect("copy fixture");
        dst
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }

    /// Runs sops with the identity of key `key` (if any).
    fn sops(&self, key: Option<usize>, args: &[&str]) -> Output {
        let mut cmd = peers::sops_command();
        cmd.current_dir(self.dir.path()).args(args);
        if let Some(k) = key {
            cmd.env("SOPS_AGE_KEY_FILE", self.key_file(k));
        }
        cmd.output().expect("sops runs")
    }

    fn seal_cmd(&self) -> Command {
        let mut cmd = Command::new(bins::tether_seal());
        cmd.current_dir(self.dir.path())
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_RECIPIENTS")
            .env("XDG_CONFIG_HOME", "/nonexistent-tether-test-config");
        cmd
    }

    /// Runs tether-seal with the identity of key `key` (if any) given by `--identity`.
    fn seal(&self, key: Option<usize>, args: &[&str]) -> Output {
        let mut cmd = self.seal_cmd();
        cmd.arg(args[0]);
        if let Some(k) = key {
            cmd.arg("--identity").arg(self.key_file(k));
        }
        cmd.args(&args[1..]);
        cmd.output().expect("tether-seal runs")
    }
}

fn ok(out: Output, what: &str) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The encrypted form with ciphertexts, key wrapping and time replaced by placeholders, so
/// two encryptions of the same input can be compared byte for byte.
fn normalized(enc: &[u8]) -> String {
    let s = text(enc);
    let s = Regex::new(r"ENC\[AES256_GCM,[^\]]*\]")
        .expect("regex")
        .replace_all(&s, "ENC")
        .into_owned();
    let s = Regex::new(r#"(lastmodified"?[:=] ?)"?[0-9TZ:-]+"?"#)
        .expect("regex")
        .replace_all(&s, "${1}LM")
        .into_owned();
    let s = Regex::new(
        r"-----BEGIN AGE ENCRYPTED FILE-----(?s:.*?)-----END AGE ENCRYPTED FILE-----(\\n)?",
    )
    .expect("regex")
    .replace_all(&s, "AGE")
    .into_owned();
    s.lines()
        .filter(|l| {
            !Regex::new(r"^ {8,}[A-Za-z0-9+/=]+$")
                .expect("regex")
                .is_match(l)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const STORES: [&str; 6] = [
    "tricky.yaml",
    "multi.yaml",
    "secret.yaml",
    "rules.yaml",
    "plain.json",
    "plain.env",
];

#[path = "sops_interop/commands.rs"]
mod commands;
#[path = "sops_interop/formats.rs"]
mod formats;
#[path = "sops_interop/keys.rs"]
mod keys;
