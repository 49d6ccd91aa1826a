//! OpenPGP-signed image update commits: the agent signs in process (run here with a `PATH`
//! that holds no `gpg`), and the real `git` with the real `gpg` verifies the commit against
//! the public key alone; the `gpgsig` header has the shape of one `git commit -S` writes. A
//! wrong passphrase makes no commit and no error quotes key material.

use crate::common::{entry, images_with_env};
use crate::write::{Setup, config, git, setup};
use std::path::{Path, PathBuf};
use std::process::Command;
use tether_tests::gitserver::run;

const PASSPHRASE: &str = "correct-horse-7731";
const UID: &str = "Tether Images <images@tether.invalid>";

/// A GnuPG home for the test; its agent is stopped when dropped.
pub(crate) struct Gpg {
    pub(crate) home: PathBuf,
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--kill", "all"])
            .output();
    }
}

impl Gpg {
    pub(crate) fn new(dir: &Path, name: &str) -> Self {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).expect("GnuPG home");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        Self { home }
    }

    pub(crate) fn run(&self, args: &[&str], input: Option<&str>) -> String {
        use std::io::Write as _;
        let mut child = Command::new("gpg")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--batch", "--pinentry-mode", "loopback"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run gpg");
        if let Some(text) = input {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write to gpg");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("gpg output");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Makes a key for `uid` protected by `passphrase` (empty: none); returns its armored
    /// secret key and armored public key.
    pub(crate) fn generate(
        &self,
        uid: &str,
        algorithm: &str,
        passphrase: &str,
    ) -> (String, String) {
        self.run(
            &[
                "--passphrase",
                passphrase,
                "--quick-gen-key",
                uid,
                algorithm,
                "sign",
                "never",
            ],
            None,
        );
        let secret = self.run(
            &[
                "--passphrase",
                passphrase,
                "--armor",
                "--export-secret-keys",
                uid,
            ],
            None,
        );
        let public = self.run(&["--armor", "--export", uid], None);
        (secret, public)
    }
}

/// The `gpgsig` header of `commit` (raw object text), one entry per line.
fn gpgsig(raw: &str) -> Vec<String> {
    let mut lines = raw.lines().skip_while(|l| !l.starts_with("gpgsig "));
    let mut out: Vec<String> = lines.next().map(str::to_owned).into_iter().collect();
    out.extend(lines.take_while(|l| l.starts_with(' ')).map(str::to_owned));
    out
}

/// The header's shape: base64 lines collapsed, the rest kept.
fn shape(header: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in header {
        let kind = if line.starts_with("gpgsig ") || line.contains("-----") || line == " " {
            line.clone()
        } else if line.starts_with(" =") && line.len() == 6 {
            " =CRC".into()
        } else {
            " BASE64".into()
        };
        if kind != " BASE64" || out.last().map(String::as_str) != Some(" BASE64") {
            out.push(kind);
        }
    }
    out
}

fn sign_config(s: &Setup, key: &Path, passphrase: &Path) -> String {
    format!(
        "{}      gpgSigningKey: {{file: {}, passphraseFile: {}}}\n",
        config(s),
        key.display(),
        passphrase.display()
    )
}

/// What git says of a commit, with a GnuPG home that holds only the public key.
fn verify(s: &Setup, verifier: &Gpg, commit: &str) -> (bool, String) {
    let out = Command::new("git")
        .arg("-C")
        .arg(&s.upstream.bare)
        .args(["verify-commit", "-v", commit])
        .env("GNUPGHOME", &verifier.home)
        .output()
        .expect("git verify-commit");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn image_commits_are_gpg_signed_in_process_and_git_verifies_them() {
    let s = setup();
    let signer = Gpg::new(s.dir.path(), "signer");
    let (secret, public) = signer.generate(UID, "ed25519", PASSPHRASE);
    let key = s.dir.path().join("git.asc");
    std::fs::write(&key, &secret).expect("key file");
    let passphrase = s.dir.path().join("passphrase");
    std::fs::write(&passphrase, format!("{PASSPHRASE}\n")).expect("passphrase file");
    // No gpg on the agent's PATH: the signature is made in process.
    let empty = s.dir.path().join("no-bin");
    std::fs::create_dir_all(&empty).expect("folder");
    let path = empty.display().to_string();
    let (code, report, stderr) = images_with_env(
        s.dir.path(),
        &sign_config(&s, &key, &passphrase),
        true,
        &[("PATH", path.as_str())],
    );
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let commit = entry(&report, "automations", "shop")["lastCommit"]
        .as_str()
        .expect("a commit")
        .to_owned();
    assert_eq!(git(&s, &["rev-parse", "main"]), commit);

    let verifier = Gpg::new(s.dir.path(), "verifier");
    verifier.run(&["--import"], Some(&public));
    let (ok, said) = verify(&s, &verifier, &commit);
    assert!(ok, "git verify-commit refused the commit: {said}");
    let shown = Command::new("git")
        .arg("-C")
        .arg(&s.upstream.bare)
        .args(["log", "--show-signature", "-1", &commit])
        .env("GNUPGHOME", &verifier.home)
        .output()
        .expect("git log");
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        shown.contains(&format!("Good signature from \"{UID}\"")),
        "{shown}"
    );

    // The header has the shape of one git writes with gpg (same key kind, no passphrase).
    let raw = git(&s, &["cat-file", "commit", &commit]);
    let ours = gpgsig(&raw);
    signer.generate("Git Itself <git@tether.invalid>", "ed25519", "");
    s.upstream
        .write("apps/other/note.yaml", "a: 1\n")
        .expect("write");
    let work = |args: &[&str]| {
        run(s.upstream.git().env("GNUPGHOME", &signer.home).args(args))
            .unwrap_or_else(|e| panic!("git {args:?}: {e}"))
    };
    work(&["add", "-A"]);
    work(&[
        "-c",
        "user.signingkey=git@tether.invalid",
        "commit",
        "-q",
        "-S",
        "-m",
        "signed by git",
    ]);
    let theirs = gpgsig(&work(&["cat-file", "commit", "HEAD"]));
    assert_eq!(
        shape(&ours),
        shape(&theirs),
        "ours:\n{ours:#?}\ngit's:\n{theirs:#?}"
    );
    assert!(raw.contains("\n\nimages: update shop"), "{raw}");
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
}

#[test]
fn a_wrong_passphrase_makes_no_commit_and_shows_no_key_material() {
    let s = setup();
    let signer = Gpg::new(s.dir.path(), "signer");
    let (secret, _) = signer.generate(UID, "rsa2048", PASSPHRASE);
    let key = s.dir.path().join("git.asc");
    std::fs::write(&key, &secret).expect("key file");
    let passphrase = s.dir.path().join("passphrase");
    std::fs::write(&passphrase, "not-the-passphrase-4410\n").expect("passphrase file");
    let before = git(&s, &["rev-parse", "main"]);
    let (code, report, stderr) =
        images_with_env(s.dir.path(), &sign_config(&s, &key, &passphrase), true, &[]);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    let error = entry(&report, "automations", "shop")["error"].to_string();
    assert!(
        error.contains("SignFailed") && error.contains("git.asc"),
        "{error}"
    );
    assert!(error.contains("passphrase does not unlock"), "{error}");
    assert_eq!(
        git(&s, &["rev-parse", "main"]),
        before,
        "no commit was pushed"
    );
    let all = format!("{report}{stderr}");
    let body_line = secret
        .lines()
        .find(|l| l.len() > 40 && !l.contains("-----"))
        .expect("a base64 line of the key");
    for secret_text in [
        "not-the-passphrase-4410",
        PASSPHRASE,
        body_line,
        "PRIVATE KEY",
    ] {
        assert!(!all.contains(secret_text), "{secret_text} leaked: {all}");
    }
}
