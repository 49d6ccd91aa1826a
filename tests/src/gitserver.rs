//! Git servers for the source tests, on loopback ports chosen at run time and stopped by PID:
//! `git daemon` (git://), lighttpd with `git-http-backend` (smart HTTP, optional basic auth
//! and a bearer-token area), and sshd with a client key (ssh://). Plus [`Upstream`], a
//! repository the tests commit to with the real git CLI.

use crate::peers::{Process, free_port, peer_binary, wait_for_port};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A `git` command isolated from the machine's and the user's configuration.
pub fn git() -> Command {
    let mut cmd = Command::new("git");
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_SSH_COMMAND")
        .args([
            "-c",
            "user.name=Tether Test",
            "-c",
            "user.email=test@tether.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ]);
    cmd
}

/// Runs `cmd`, failing with its stderr when it does not succeed; returns trimmed stdout.
pub fn run(cmd: &mut Command) -> io::Result<String> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{:?} failed: {}",
            cmd,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A bare repository that tests serve, and a working copy that pushes to it.
pub struct Upstream {
    /// The bare repository (what servers export).
    pub bare: PathBuf,
    /// The working copy.
    pub work: PathBuf,
}

impl Upstream {
    /// Creates `root/NAME.git` (bare) and a working copy beside it.
    pub fn create(root: &Path, name: &str) -> io::Result<Self> {
        let bare = root.join(format!("{name}.git"));
        let work = root.join(format!("{name}.work"));
        run(git().args(["init", "-q", "--bare"]).arg(&bare))?;
        // Let smart HTTP serve it without a push having run update-server-info.
        run(git()
            .arg("-C")
            .arg(&bare)
            .args(["config", "http.receivepack", "true"]))?;
        run(git().args(["init", "-q"]).arg(&work))?;
        run(git()
            .arg("-C")
            .arg(&work)
            .args(["remote", "add", "origin"])
            .arg(&bare))?;
        Ok(Self { bare, work })
    }

    /// Writes a file in the working copy (creating folders).
    pub fn write(&self, path: &str, body: impl AsRef<[u8]>) -> io::Result<()> {
        let full = self.work.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(full, body)
    }

    /// Creates a symlink in the working copy.
    pub fn symlink(&self, path: &str, target: &str) -> io::Result<()> {
        let full = self.work.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::os::unix::fs::symlink(target, full)
    }

    /// Removes a file or folder from the working copy.
    pub fn remove(&self, path: &str) -> io::Result<()> {
        let full = self.work.join(path);
        if full.is_dir() {
            std::fs::remove_dir_all(full)
        } else {
            std::fs::remove_file(full)
        }
    }

    /// A `git -C WORK` command.
    pub fn git(&self) -> Command {
        let mut cmd = git();
        cmd.arg("-C").arg(&self.work);
        cmd
    }

    /// Commits everything with `extra` options (e.g. signing) and force-pushes to `main`;
    /// returns the commit id.
    pub fn commit_with(&self, message: &str, extra: &[&str]) -> io::Result<String> {
        run(self.git().args(["add", "-A"]))?;
        let mut cmd = git();
        cmd.args(extra).arg("-C").arg(&self.work).args([
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
        ]);
        run(&mut cmd)?;
        run(self
            .git()
            .args(["push", "-q", "--force", "origin", "HEAD:refs/heads/main"]))?;
        self.head()
    }

    /// Commits everything and pushes to `main`.
    pub fn commit(&self, message: &str) -> io::Result<String> {
        self.commit_with(message, &[])
    }

    /// Commits signed with an SSH key (`gpg.format=ssh`).
    pub fn commit_ssh_signed(&self, message: &str, key: &Path) -> io::Result<String> {
        let key = format!("user.signingkey={}", key.display());
        self.commit_with(
            message,
            &[
                "-c",
                "gpg.format=ssh",
                "-c",
                &key,
                "-c",
                "commit.gpgsign=true",
            ],
        )
    }

    /// The working copy's HEAD commit.
    pub fn head(&self) -> io::Result<String> {
        run(self.git().args(["rev-parse", "HEAD"]))
    }

    /// Creates (or moves) a lightweight tag at HEAD and pushes it.
    pub fn tag(&self, name: &str) -> io::Result<()> {
        run(self.git().args(["tag", "-f", name]))?;
        run(self.git().args([
            "push",
            "-q",
            "--force",
            "origin",
            &format!("refs/tags/{name}"),
        ]))?;
        Ok(())
    }

    /// Creates an annotated tag at HEAD and pushes it.
    pub fn annotated_tag(&self, name: &str) -> io::Result<()> {
        run(self.git().args(["tag", "-f", "-a", "-m", name, name]))?;
        run(self.git().args([
            "push",
            "-q",
            "--force",
            "origin",
            &format!("refs/tags/{name}"),
        ]))?;
        Ok(())
    }

    /// Rewrites history: resets the working copy to `commit` (dropping later commits).
    pub fn reset_hard(&self, commit: &str) -> io::Result<()> {
        run(self.git().args(["reset", "-q", "--hard", commit]))?;
        Ok(())
    }
}

/// `git daemon` exporting every repository under a folder.
pub struct GitDaemon {
    /// The daemon.
    pub process: Process,
    /// The port.
    pub port: u16,
    _log_dir: tempfile::TempDir,
}

impl GitDaemon {
    /// Starts `git daemon` on 127.0.0.1 for the repositories under `base`.
    pub fn start(base: &Path) -> io::Result<Self> {
        let log_dir = tempfile::tempdir()?;
        let port = free_port();
        // Start `git-daemon` itself: `git daemon` would run it as a child that outlives a
        // kill of the `git` wrapper.
        let exec_path = run(Command::new("git").arg("--exec-path"))?;
        let mut cmd = Command::new(Path::new(&exec_path).join("git-daemon"));
        cmd.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .arg("--reuseaddr")
            .arg(format!("--base-path={}", base.display()))
            .arg("--export-all")
            .arg("--enable=receive-pack")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(base);
        let process = Process::spawn("git-daemon", cmd, &log_dir.path().join("daemon.log"))?;
        wait_for_port(port, Duration::from_secs(10))?;
        Ok(Self {
            process,
            port,
            _log_dir: log_dir,
        })
    }

    /// `git://127.0.0.1:PORT/NAME`.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

/// lighttpd serving smart HTTP through `git-http-backend`: `/git/` (basic auth when
/// configured) and `/bearer/` (only with `Authorization: Bearer TOKEN`).
pub struct HttpGit {
    /// The server.
    pub process: Process,
    /// The port.
    pub port: u16,
    scheme: &'static str,
    dir: tempfile::TempDir,
}

impl HttpGit {
    /// Starts lighttpd for the repositories under `repos`. `basic` is `(user, password)` for
    /// `/git/`; `bearer` the token `/bearer/` demands.
    pub fn start(
        repos: &Path,
        basic: Option<(&str, &str)>,
        bearer: Option<&str>,
    ) -> io::Result<Self> {
        Self::start_with(repos, basic, bearer, None)
    }

    /// Like [`HttpGit::start`], serving HTTPS with `tls`: a PEM file holding the server's
    /// certificate and private key. URLs then start with `https://`.
    pub fn start_tls(repos: &Path, basic: Option<(&str, &str)>, tls: &Path) -> io::Result<Self> {
        Self::start_with(repos, basic, None, Some(tls))
    }

    fn start_with(
        repos: &Path,
        basic: Option<(&str, &str)>,
        bearer: Option<&str>,
        tls: Option<&Path>,
    ) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let exec_path = run(Command::new("git").arg("--exec-path"))?;
        let backend = format!("{exec_path}/git-http-backend");
        let docroot = dir.path().join("www");
        std::fs::create_dir_all(&docroot)?;
        let mut auth = String::new();
        if let Some((user, password)) = basic {
            let users = dir.path().join("users");
            std::fs::write(&users, format!("{user}:{password}\n"))?;
            auth = format!(
                r#"auth.backend = "plain"
auth.backend.plain.userfile = "{}"
auth.require = ( "/git/" => ( "method" => "basic", "realm" => "git", "require" => "valid-user" ) )
"#,
                users.display()
            );
        }
        let bearer_rule = match bearer {
            Some(token) => format!(
                r#"$HTTP["url"] =~ "^/bearer/" {{
  $REQUEST_HEADER["Authorization"] != "Bearer {token}" {{ url.access-deny = ( "" ) }}
}}
"#
            ),
            None => String::new(),
        };
        let conf = format!(
            r#"server.bind = "127.0.0.1"
server.port = {port}
server.document-root = "{docroot}"
server.errorlog = "{log}"
server.modules = ( "mod_access", "mod_alias", "mod_setenv", "mod_auth", "mod_authn_file", "mod_cgi"{tls_module} )
{tls_conf}
{auth}
{bearer_rule}
alias.url = ( "/git/" => "{backend}/", "/bearer/" => "{backend}/" )
$HTTP["url"] =~ "^/(git|bearer)/" {{
  cgi.assign = ( "" => "" )
  setenv.set-environment = ( "GIT_PROJECT_ROOT" => "{repos}", "GIT_HTTP_EXPORT_ALL" => "1", "GIT_CONFIG_NOSYSTEM" => "1" )
}}
"#,
            docroot = docroot.display(),
            log = dir.path().join("error.log").display(),
            tls_module = if tls.is_some() {
                r#", "mod_openssl""#
            } else {
                ""
            },
            tls_conf = match tls {
                Some(pem) => format!(
                    "ssl.engine = \"enable\"\nssl.pemfile = \"{}\"",
                    pem.display()
                ),
                None => String::new(),
            },
            repos = repos.display(),
        );
        let conf_path = dir.path().join("lighttpd.conf");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = Command::new(peer_binary("lighttpd"));
        cmd.arg("-D").arg("-f").arg(&conf_path);
        let process = Process::spawn("lighttpd", cmd, &dir.path().join("lighttpd.log"))?;
        wait_for_port(port, Duration::from_secs(10))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        Ok(Self {
            process,
            port,
            scheme,
            dir,
        })
    }

    /// `http(s)://127.0.0.1:PORT/git/NAME`.
    pub fn url(&self, name: &str) -> String {
        format!("{}://127.0.0.1:{}/git/{name}", self.scheme, self.port)
    }

    /// `http(s)://127.0.0.1:PORT/bearer/NAME`.
    pub fn bearer_url(&self, name: &str) -> String {
        format!("{}://127.0.0.1:{}/bearer/{name}", self.scheme, self.port)
    }

    /// The server's error log, for failure messages.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

/// A private CA and a server certificate it signed for `127.0.0.1`, made with the `openssl`
/// CLI: `ca.pem` (to trust) and `server.pem` (certificate and key, for lighttpd).
pub struct TestCa {
    /// The CA certificate, PEM.
    pub ca_pem: std::path::PathBuf,
    /// The server certificate followed by its private key, PEM.
    pub server_pem: std::path::PathBuf,
}

impl TestCa {
    /// Makes the CA and the server certificate under `dir`.
    pub fn create(dir: &Path) -> io::Result<Self> {
        let path = |name: &str| dir.join(name);
        let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Tether test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ])?;
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ])?;
        std::fs::write(path("san.ext"), "subjectAltName=IP:127.0.0.1\n")?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ])?;
        let mut pem = std::fs::read(path("server.crt"))?;
        pem.extend(std::fs::read(path("server.key"))?);
        std::fs::write(path("server.pem"), pem)?;
        Ok(Self {
            ca_pem: path("ca.pem"),
            server_pem: path("server.pem"),
        })
    }
}

/// sshd on a loopback port accepting one client key, with a known_hosts file for it.
pub struct SshGit {
    /// The server.
    pub process: Process,
    /// The port.
    pub port: u16,
    /// The client's private key.
    pub client_key: PathBuf,
    /// A known_hosts file holding the server's host key.
    pub known_hosts: PathBuf,
    _dir: tempfile::TempDir,
}

impl SshGit {
    /// Starts sshd; the client key logs in as the current user.
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        std::fs::create_dir_all("/run/sshd")?;
        let host_key = dir.path().join("host_ed25519");
        let client_key = dir.path().join("client_ed25519");
        for key in [&host_key, &client_key] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "tether-test", "-f"])
                .arg(key))?;
        }
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized)?;
        let conf = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\nAuthorizedKeysFile {auth}\n\
             StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n",
            host = host_key.display(),
            pid = dir.path().join("sshd.pid").display(),
            auth = authorized.display(),
        );
        let conf_path = dir.path().join("sshd_config");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = Command::new("/usr/sbin/sshd");
        cmd.arg("-D").arg("-e").arg("-f").arg(&conf_path);
        let process = Process::spawn("sshd", cmd, &dir.path().join("sshd.log"))?;
        wait_for_port(port, Duration::from_secs(10))?;
        let host_pub = std::fs::read_to_string(host_key.with_extension("pub"))?;
        let mut parts = host_pub.split_whitespace();
        let known = format!(
            "[127.0.0.1]:{port} {} {}\n",
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default()
        );
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(&known_hosts, known)?;
        Ok(Self {
            process,
            port,
            client_key,
            known_hosts,
            _dir: dir,
        })
    }

    /// `ssh://USER@127.0.0.1:PORT/ABS/PATH`.
    pub fn url(&self, repo: &Path) -> String {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
        format!("ssh://{user}@127.0.0.1:{}{}", self.port, repo.display())
    }
}
