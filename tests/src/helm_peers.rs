//! Peers for remote charts: a Helm chart repository (a folder made by `helm package` and
//! `helm repo index`, served by lighttpd, optionally behind basic auth) and an OCI registry
//! (Debian's `docker-registry`, CNCF distribution, with filesystem storage, optionally with
//! htpasswd basic auth or a bearer-token service) filled by `helm push`. Both on loopback
//! ports chosen at run time and stopped by PID when dropped. `helm3` (Helm 3.17) is the
//! client that packages and pushes.

use crate::gitserver::run;
use crate::peers::{Process, free_port, peer_binary, wait_for_port};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A `helm3` command isolated from the user's configuration (its config, cache and data
/// under `home`).
pub fn helm3(home: &Path) -> Command {
    let mut cmd = Command::new(peer_binary("helm3"));
    cmd.env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("HELM_REGISTRY_CONFIG", home.join("registry.json"));
    cmd
}

/// Writes a small chart `name` at `version` under `dir/src/name` (one ConfigMap carrying
/// `.Values.greeting`, the chart version and the release name; plus whatever `extra` adds
/// as `(path in the chart, text)`), packages it with `helm3 package` into `dir`, and returns
/// the archive's path.
pub fn package_chart(
    dir: &Path,
    name: &str,
    version: &str,
    extra: &[(&str, &str)],
) -> io::Result<PathBuf> {
    let src = dir.join("src").join(format!("{name}-{version}")).join(name);
    std::fs::create_dir_all(src.join("templates"))?;
    std::fs::write(
        src.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"{version}\"\n"),
    )?;
    std::fs::write(src.join("values.yaml"), "greeting: hello\n")?;
    std::fs::write(
        src.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  version: {{ .Chart.Version | quote }}\n",
    )?;
    for (path, text) in extra {
        let file = src.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(file, text)?;
    }
    run(helm3(&dir.join("helm-home"))
        .arg("package")
        .arg(&src)
        .arg("--destination")
        .arg(dir))?;
    Ok(dir.join(format!("{name}-{version}.tgz")))
}

/// A Helm chart repository served by lighttpd.
pub struct HelmRepo {
    /// The server.
    pub process: Process,
    /// The port.
    pub port: u16,
    scheme: &'static str,
    dir: tempfile::TempDir,
}

impl HelmRepo {
    /// Serves `charts` (packaged archives) at `/charts/`, with an index made by
    /// `helm3 repo index` (relative URLs). `basic` is `(user, password)` demanded for
    /// everything under `/charts/`.
    pub fn start(charts: &[PathBuf], basic: Option<(&str, &str)>) -> io::Result<Self> {
        Self::start_with(charts, basic, None)
    }

    /// Like [`HelmRepo::start`], serving HTTPS with `tls` (a PEM file with the server's
    /// certificate and key, as [`crate::gitserver::TestCa`] makes it).
    pub fn start_tls(charts: &[PathBuf], tls: &Path) -> io::Result<Self> {
        Self::start_with(charts, None, Some(tls))
    }

    fn start_with(
        charts: &[PathBuf],
        basic: Option<(&str, &str)>,
        tls: Option<&Path>,
    ) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let docroot = dir.path().join("www");
        let folder = docroot.join("charts");
        std::fs::create_dir_all(&folder)?;
        for chart in charts {
            let name = chart
                .file_name()
                .ok_or_else(|| io::Error::other("a chart path without a file name"))?;
            std::fs::copy(chart, folder.join(name))?;
        }
        run(helm3(&dir.path().join("helm-home"))
            .args(["repo", "index"])
            .arg(&folder))?;
        let port = free_port();
        let auth = match basic {
            Some((user, password)) => {
                let users = dir.path().join("users");
                std::fs::write(&users, format!("{user}:{password}\n"))?;
                format!(
                    r#"auth.backend = "plain"
auth.backend.plain.userfile = "{}"
auth.require = ( "/charts/" => ( "method" => "basic", "realm" => "charts", "require" => "valid-user" ) )
"#,
                    users.display()
                )
            }
            None => String::new(),
        };
        let conf = format!(
            r#"server.bind = "127.0.0.1"
server.port = {port}
server.document-root = "{docroot}"
server.errorlog = "{log}"
server.modules = ( "mod_access", "mod_auth", "mod_authn_file"{tls_module} )
server.stat-cache-engine = "disable"
mimetype.assign = ( ".yaml" => "application/x-yaml", ".tgz" => "application/gzip" )
{tls_conf}
{auth}
"#,
            tls_module = if tls.is_some() {
                r#", "mod_openssl""#
            } else {
                ""
            },
            tls_conf = tls
                .map(|pem| format!(
                    "ssl.engine = \"enable\"\nssl.pemfile = \"{}\"",
                    pem.display()
                ))
                .unwrap_or_default(),
            docroot = docroot.display(),
            log = dir.path().join("error.log").display(),
        );
        let conf_path = dir.path().join("lighttpd.conf");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = Command::new(peer_binary("lighttpd"));
        cmd.arg("-D").arg("-f").arg(&conf_path);
        let process = Process::spawn_guarded("lighttpd", cmd, &dir.path().join("lighttpd.log"))?;
        wait_for_port(port, Duration::from_secs(10))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        Ok(Self {
            process,
            port,
            scheme,
            dir,
        })
    }

    /// `http(s)://127.0.0.1:PORT/charts`.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}/charts", self.scheme, self.port)
    }

    /// The folder served at `/charts/` (the archives and `index.yaml`).
    pub fn folder(&self) -> PathBuf {
        self.dir.path().join("www/charts")
    }

    /// Adds `charts` and indexes the folder again (as a repository owner publishing a
    /// release does).
    pub fn publish(&self, charts: &[PathBuf]) -> io::Result<()> {
        for chart in charts {
            let name = chart
                .file_name()
                .ok_or_else(|| io::Error::other("a chart path without a file name"))?;
            std::fs::copy(chart, self.folder().join(name))?;
        }
        run(helm3(&self.dir.path().join("helm-home"))
            .args(["repo", "index"])
            .arg(self.folder()))?;
        Ok(())
    }
}

/// An OCI registry (CNCF distribution 2.8, Debian's `docker-registry`) on plain HTTP.
pub struct OciRegistry {
    /// The server.
    pub process: Process,
    /// The port.
    pub port: u16,
    basic: Option<(String, String)>,
    /// The token service of a registry with bearer-token auth (stopped when dropped).
    _token_service: Option<Process>,
    dir: tempfile::TempDir,
}

impl OciRegistry {
    /// Starts a registry; `basic` is `(user, password)` demanded of every request (an
    /// htpasswd file with a bcrypt hash, made with Python's bcrypt from the peers' venv).
    pub fn start(basic: Option<(&str, &str)>) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let auth = htpasswd_auth(dir.path(), basic)?;
        Self::serve(dir, port, auth, basic, None)
    }

    /// Starts a registry that demands bearer tokens from a token service (the
    /// distribution token protocol, served by `fixtures/helm_release/token_server.py` with
    /// Python's `cryptography`), which hands them out for `(user, password)`.
    pub fn start_with_token_service(user: &str, password: &str) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let token_port = free_port();
        let key = dir.path().join("token.key");
        let cert = dir.path().join("token.pem");
        run(Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(&key))?;
        run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-new",
                "-days",
                "2",
                "-subj",
                "/CN=tether-test-token",
                "-key",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert))?;
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/helm_release/token_server.py");
        let mut cmd = Command::new(peer_binary("python3"));
        cmd.arg(script)
            .arg(token_port.to_string())
            .arg(&key)
            .arg(&cert)
            .args(["tether-test-issuer", user, password]);
        let service = Process::spawn_guarded("token-server", cmd, &dir.path().join("token.log"))?;
        wait_for_port(token_port, Duration::from_secs(10))?;
        let auth = format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: tether-test-registry\n    issuer: tether-test-issuer\n    rootcertbundle: {}\n",
            cert.display()
        );
        Self::serve(dir, port, auth, Some((user, password)), Some(service))
    }

    fn serve(
        dir: tempfile::TempDir,
        port: u16,
        auth: String,
        basic: Option<(&str, &str)>,
        token_service: Option<Process>,
    ) -> io::Result<Self> {
        let conf = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
            dir.path().join("storage").display()
        );
        let conf_path = dir.path().join("config.yml");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = Command::new(peer_binary("docker-registry"));
        cmd.arg("serve").arg(&conf_path);
        let process =
            Process::spawn_guarded("docker-registry", cmd, &dir.path().join("registry.log"))?;
        wait_for_port(port, Duration::from_secs(10))?;
        Ok(Self {
            process,
            port,
            basic: basic.map(|(u, p)| (u.to_owned(), p.to_owned())),
            _token_service: token_service,
            dir,
        })
    }

    /// `oci://127.0.0.1:PORT/charts`.
    pub fn url(&self) -> String {
        format!("oci://127.0.0.1:{}/charts", self.port)
    }

    /// Pushes a packaged chart with `helm3 push ... --plain-http`; returns the manifest
    /// digest helm printed.
    pub fn push(&self, chart: &Path) -> io::Result<String> {
        let mut cmd = helm3(&self.dir.path().join("helm-home"));
        cmd.arg("push")
            .arg(chart)
            .arg(self.url())
            .arg("--plain-http");
        if let Some((user, password)) = &self.basic {
            cmd.args(["--username", user, "--password", password]);
        }
        let out = cmd.output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            return Err(io::Error::other(format!("helm push failed: {text}")));
        }
        text.lines()
            .find_map(|l| l.strip_prefix("Digest: "))
            .map(|d| d.trim().to_owned())
            .ok_or_else(|| io::Error::other(format!("no digest in helm's output: {text}")))
    }

    /// The registry's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

/// The `auth:` section of a registry with htpasswd basic auth (a bcrypt hash made with
/// Python's bcrypt from the peers' venv), or nothing.
fn htpasswd_auth(dir: &Path, basic: Option<(&str, &str)>) -> io::Result<String> {
    Ok(match basic {
        Some((user, password)) => {
            let hash = run(Command::new(peer_binary("python3")).args([
                    "-c",
                    "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(rounds=5)).decode())",
                    password,
                ]))?;
            let file = dir.join("htpasswd");
            std::fs::write(&file, format!("{user}:{hash}\n"))?;
            format!(
                "auth:\n  htpasswd:\n    realm: charts\n    path: {}\n",
                file.display()
            )
        }
        None => String::new(),
    })
}
