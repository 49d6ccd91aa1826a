//! PGP decryption of SOPS data keys with GnuPG, run by absolute path, in a private GnuPG home
//! the agent fills with the secret keys of its mounted key files (removed when dropped).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use zeroize::Zeroizing;

/// The GnuPG binary (run by absolute path, never from the PATH).
pub(super) const GPG: &str = "/usr/bin/gpg";

/// A private GnuPG home holding the agent's PGP secret keys.
pub(super) struct GpgHome {
    dir: tempfile::TempDir,
}

fn run(home: &Path, args: &[&str], input: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut child = Command::new(GPG)
        .arg("--homedir")
        .arg(home)
        .args([
            "--batch",
            "--quiet",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {GPG}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| format!("writing to {GPG}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("running {GPG}: {e}"))?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err: Vec<&str> = err
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        return Err(format!(
            "gpg: {}",
            err.join(" / ").chars().take(300).collect::<String>()
        ));
    }
    Ok(stdout)
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        // Stop the gpg-agent GnuPG started for this home before the folder goes.
        let _ = Command::new("/usr/bin/gpgconf")
            .arg("--homedir")
            .arg(self.dir.path())
            .args(["--kill", "all"])
            .output();
    }
}

impl GpgHome {
    /// Imports the secret keys of `files`; `Err` names the file.
    pub(super) fn with_keys(files: &[PathBuf]) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("tether-gnupg")
            .tempdir()
            .map_err(|e| format!("creating a GnuPG home: {e}"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700));
        }
        for f in files {
            let key = Zeroizing::new(
                std::fs::read(f).map_err(|e| format!("keys.pgpFiles {}: {e}", f.display()))?,
            );
            run(dir.path(), &["--import"], &key)
                .map_err(|e| format!("keys.pgpFiles {}: {e}", f.display()))?;
        }
        Ok(GpgHome { dir })
    }

    /// Decrypts one armoured PGP message (a wrapped data key).
    pub(super) fn decrypt(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let out = run(self.dir.path(), &["--decrypt"], enc.as_bytes())?;
        if out.is_empty() {
            return Err("gpg returned no data".into());
        }
        Ok(out)
    }
}
