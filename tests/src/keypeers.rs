//! The real peers behind SOPS master keys: moto's KMS (keys made with boto3 from the peers'
//! virtual environment), OpenBao's Transit engine, and a GnuPG home with a key made for the
//! test. [`KeyPeers::env`] gives the environment that lets `sops` or `tether-seal` use only
//! the chosen kinds of key, so each kind is proven on its own.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::peers::{Moto, OpenBao, peer_binary};

/// One kind of master key a command may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// age (X25519), the key file of [`KeyPeers::age_key_file`].
    Age,
    /// PGP through the test's GnuPG home.
    Pgp,
    /// AWS KMS through moto.
    Kms,
    /// OpenBao Transit.
    Transit,
}

/// A GnuPG home with one secret key; its agent is stopped when dropped.
pub struct GnuPg {
    /// The home directory.
    pub home: PathBuf,
    /// The key's fingerprint.
    pub fingerprint: String,
    /// The armoured secret key, exported to a file.
    pub secret_key_file: PathBuf,
}

fn run(cmd: &mut Command, what: &str) -> io::Result<String> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl GnuPg {
    /// Makes a home under `dir` with a fresh key for `uid`.
    pub fn new(dir: &Path, uid: &str) -> io::Result<Self> {
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700))?;
        }
        let gpg = |args: &[&str]| {
            let mut c = Command::new("/usr/bin/gpg");
            c.arg("--homedir").arg(&home).arg("--batch").args(args);
            c
        };
        run(
            &mut gpg(&[
                "--passphrase",
                "",
                "--quick-gen-key",
                uid,
                "rsa2048",
                "encr,sign",
                "never",
            ]),
            "gpg --quick-gen-key",
        )?;
        let listing = run(
            &mut gpg(&["--with-colons", "--list-keys", uid]),
            "gpg --list-keys",
        )?;
        let fingerprint = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| f.len() == 40))
            .ok_or_else(|| io::Error::other("no fingerprint in gpg's listing"))?
            .to_owned();
        let secret = run(
            &mut gpg(&["--armor", "--export-secret-keys", &fingerprint]),
            "gpg --export-secret-keys",
        )?;
        let secret_key_file = dir.join("pgp-secret.asc");
        std::fs::write(&secret_key_file, secret)?;
        Ok(Self {
            home,
            fingerprint,
            secret_key_file,
        })
    }
}

impl Drop for GnuPg {
    fn drop(&mut self) {
        let _ = Command::new("/usr/bin/gpgconf")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--kill", "all"])
            .output();
    }
}

/// moto (KMS), OpenBao (Transit), GnuPG and an age key, for one test.
pub struct KeyPeers {
    /// moto.
    pub moto: Moto,
    /// OpenBao.
    pub bao: OpenBao,
    /// The GnuPG home.
    pub gpg: GnuPg,
    /// Two KMS key ARNs.
    pub kms_arns: [String; 2],
    /// Two Transit keys, `http://127.0.0.1:PORT/v1/transit/keys/NAME`.
    pub transit_uris: [String; 2],
    /// An age identity file and its recipient.
    pub age_key_file: PathBuf,
    /// The age recipient.
    pub age_recipient: String,
    /// A folder for the test's files (also `HOME` of the commands).
    pub dir: tempfile::TempDir,
}

impl KeyPeers {
    /// Starts moto and OpenBao, makes two KMS keys, enables Transit with keys `shop` and
    /// `bank`, makes a GnuPG key and an age key.
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let moto = Moto::start()?;
        let bao = OpenBao::start()?;
        let script = format!(
            "import boto3\nc=boto3.client('kms',endpoint_url='{}',region_name='us-east-1',aws_access_key_id='testing',aws_secret_access_key='testing')\nprint(c.create_key()['KeyMetadata']['Arn'])\nprint(c.create_key()['KeyMetadata']['Arn'])\n",
            moto.endpoint
        );
        let arns = run(
            Command::new(peer_binary("python")).arg("-c").arg(script),
            "creating KMS keys",
        )?;
        let arns: Vec<String> = arns.lines().map(str::to_owned).collect();
        let [a, b] = arns.as_slice() else {
            return Err(io::Error::other("expected two KMS key ARNs"));
        };
        let bao_cli = |args: &[&str]| {
            let mut c = Command::new(peer_binary("bao"));
            c.args(args)
                .env("BAO_ADDR", &bao.address)
                .env("BAO_TOKEN", &bao.root_token)
                .env("HOME", dir.path());
            c
        };
        run(
            &mut bao_cli(&["secrets", "enable", "transit"]),
            "enable transit",
        )?;
        for name in ["shop", "bank"] {
            run(
                &mut bao_cli(&["write", "-f", &format!("transit/keys/{name}")]),
                "transit key",
            )?;
        }
        let gpg = GnuPg::new(dir.path(), "Tether Test <test@example.com>")?;
        let age_key_file = dir.path().join("age.txt");
        run(
            Command::new(peer_binary("age-keygen"))
                .arg("-o")
                .arg(&age_key_file),
            "age-keygen",
        )?;
        let text = std::fs::read_to_string(&age_key_file)?;
        let age_recipient = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .ok_or_else(|| io::Error::other("no public key in the age key file"))?
            .to_owned();
        let transit_uris = [
            format!("{}/v1/transit/keys/shop", bao.address),
            format!("{}/v1/transit/keys/bank", bao.address),
        ];
        Ok(Self {
            kms_arns: [a.clone(), b.clone()],
            transit_uris,
            moto,
            bao,
            gpg,
            age_key_file,
            age_recipient,
            dir,
        })
    }

    /// Runs the `bao` CLI as root against the server; its standard output.
    pub fn bao(&self, args: &[&str], stdin: Option<&str>) -> io::Result<String> {
        use std::io::Write as _;
        let mut child = Command::new(peer_binary("bao"))
            .args(args)
            .env("BAO_ADDR", &self.bao.address)
            .env("BAO_TOKEN", &self.bao.root_token)
            .env("HOME", self.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
            input.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "bao {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The environment for a `sops` or `tether-seal` command that may use only `kinds`
    /// (the others point nowhere: no GnuPG home, a closed KMS port, no Vault token).
    pub fn env(&self, kinds: &[Kind]) -> Vec<(String, String)> {
        let home = self.dir.path().display().to_string();
        let has = |k| kinds.contains(&k);
        let mut env = vec![
            ("HOME".to_owned(), home.clone()),
            ("SOPS_DISABLE_VERSION_CHECK".into(), "1".into()),
            ("XDG_CONFIG_HOME".into(), format!("{home}/no-config")),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_MAX_ATTEMPTS".into(), "1".into()),
            (
                "AWS_ENDPOINT_URL".into(),
                if has(Kind::Kms) {
                    self.moto.endpoint.clone()
                } else {
                    "http://127.0.0.1:9".into()
                },
            ),
            (
                "GNUPGHOME".into(),
                if has(Kind::Pgp) {
                    self.gpg.home.display().to_string()
                } else {
                    format!("{home}/no-gnupg")
                },
            ),
            ("VAULT_ADDR".into(), self.bao.address.clone()),
            (
                "VAULT_TOKEN".into(),
                if has(Kind::Transit) {
                    self.bao.root_token.clone()
                } else {
                    String::new()
                },
            ),
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ];
        if has(Kind::Age) {
            env.push((
                "SOPS_AGE_KEY_FILE".into(),
                self.age_key_file.display().to_string(),
            ));
        }
        env
    }

    /// `program` with a clean environment from [`KeyPeers::env`], in the test's folder.
    pub fn command(&self, program: &Path, kinds: &[Kind]) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .envs(self.env(kinds))
            .current_dir(self.dir.path());
        cmd
    }
}
