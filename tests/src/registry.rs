//! The OCI registry of Debian's `docker-registry` package (CNCF distribution) on a loopback
//! port: anonymous, with htpasswd basic auth (bcrypt entries made with the peers venv's
//! `bcrypt`), or behind a token endpoint served here that signs registry tokens (RS256 with
//! an `x5c` certificate, as distribution verifies them) and records each request. Images are
//! pushed through the registry's HTTP API: a config blob, one small layer, an OCI manifest.
//!
//! [`Served`] runs an axum router on a thread of its own (the token endpoint, fake
//! registries, pull-request receivers).

use crate::peers::{Process, free_port, peers_bin_dir, wait_for_port};
use base64::Engine as _;
use sha2::Digest as _;
use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The service name the token registry expects in tokens.
pub const TOKEN_SERVICE: &str = "tether-test-registry";
const TOKEN_ISSUER: &str = "tether-test-issuer";

/// An axum router served on 127.0.0.1 by a thread; stops when dropped.
pub struct Served {
    /// The port.
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Serves `router` on a free port.
    pub fn start(router: axum::Router) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Ok(Self {
            port,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One request the token endpoint answered.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The `service` parameter.
    pub service: String,
    /// The `scope` parameter.
    pub scope: String,
    /// Whether the basic credentials were the expected ones.
    pub authenticated: bool,
    /// The status answered.
    pub answered: u16,
}

/// The key and certificate tokens are signed with.
struct Signer {
    key: PathBuf,
    cert_der_b64: String,
}

impl Signer {
    fn sign(&self, claims: &serde_json::Value) -> io::Result<String> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [self.cert_der_b64]});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("no stdin"))?
            .write_all(input.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(io::Error::other("openssl dgst -sign failed"));
        }
        Ok(format!("{input}.{}", b64(&out.stdout)))
    }

    /// A token granting `actions` on `repository`.
    fn token(&self, subject: &str, repository: &str, actions: &[&str]) -> io::Result<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(io::Error::other)?
            .as_secs();
        self.sign(&serde_json::json!({
            "iss": TOKEN_ISSUER,
            "sub": subject,
            "aud": TOKEN_SERVICE,
            "exp": now + 3600,
            "nbf": now - 60,
            "iat": now - 60,
            "jti": format!("{now}-{repository}"),
            "access": [{"type": "repository", "name": repository, "actions": actions}],
        }))
    }
}

/// What the token endpoint checks and records.
struct Endpoint {
    signer: Arc<Signer>,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    /// The `Authorization` header of the right credentials.
    expected: String,
}

impl Endpoint {
    fn answer(
        &self,
        headers: &axum::http::HeaderMap,
        query: &std::collections::BTreeMap<String, String>,
    ) -> (axum::http::StatusCode, String) {
        use axum::http::StatusCode;
        let authenticated = headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(self.expected.as_str());
        let scope = query.get("scope").cloned().unwrap_or_default();
        let service = query.get("service").cloned().unwrap_or_default();
        let parts: Vec<&str> = scope.split(':').collect();
        let answer = if !authenticated || service != TOKEN_SERVICE || parts.len() != 3 {
            (
                StatusCode::UNAUTHORIZED,
                String::from("{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}"),
            )
        } else {
            let actions: Vec<&str> = parts[2].split(',').collect();
            match self.signer.token("tester", parts[1], &actions) {
                Ok(t) => (
                    StatusCode::OK,
                    serde_json::json!({"token": t, "expires_in": 3600}).to_string(),
                ),
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        };
        if let Ok(mut r) = self.requests.lock() {
            r.push(TokenRequest {
                service,
                scope,
                authenticated,
                answered: answer.0.as_u16(),
            });
        }
        answer
    }
}

/// The token endpoint a registry's `auth.token.realm` points at: it answers
/// `GET /token?service=...&scope=repository:NAME:ACTIONS` with a signed token when the basic
/// credentials are right, else 401.
pub struct TokenServer {
    /// The server.
    pub served: Served,
    signer: Arc<Signer>,
    /// `rootcertbundle` for the registry.
    pub cert: PathBuf,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    /// Starts the endpoint accepting `user`/`password`.
    pub fn start(user: &str, password: &str) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let key = dir.path().join("token.key");
        let cert = dir.path().join("token.crt");
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=tether-test-token",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(io::Error::other("openssl req failed"));
        }
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()?;
        let signer = Arc::new(Signer {
            key,
            cert_der_b64: base64::engine::general_purpose::STANDARD.encode(&der.stdout),
        });
        let requests: Arc<Mutex<Vec<TokenRequest>>> = Arc::default();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let endpoint = Arc::new(Endpoint {
            signer: Arc::clone(&signer),
            requests: Arc::clone(&requests),
            expected,
        });
        let router =
            axum::Router::new().route(
                "/token",
                axum::routing::get(
                    move |headers: axum::http::HeaderMap,
                          query: axum::extract::Query<
                        std::collections::BTreeMap<String, String>,
                    >| {
                        let endpoint = Arc::clone(&endpoint);
                        async move { endpoint.answer(&headers, &query.0) }
                    },
                ),
            );
        Ok(Self {
            served: Served::start(router)?,
            signer,
            cert,
            requests,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("{}/token", self.served.url())
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// A push-and-pull token for the tests' own pushes.
    pub fn push_token(&self, repository: &str) -> io::Result<String> {
        self.signer.token("tests", repository, &["pull", "push"])
    }
}

/// How the tests authenticate their own pushes.
#[derive(Clone)]
enum PushAuth {
    None,
    Basic(String),
}

/// A `docker-registry serve` process.
pub struct Registry {
    /// The process.
    pub process: Process,
    /// The port.
    pub port: u16,
    auth: PushAuth,
    dir: tempfile::TempDir,
}

fn bcrypt(password: &str) -> io::Result<String> {
    let python = peers_bin_dir().join("python");
    let out = Command::new(python)
        .args(["-c", "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(rounds=5)).decode())"])
        .arg(password)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "bcrypt in the peers venv: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Registry {
    fn start_with(auth_yaml: &str, auth: PushAuth, dir: tempfile::TempDir) -> io::Result<Self> {
        let port = free_port();
        let conf = dir.path().join("config.yml");
        std::fs::write(
            &conf,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_yaml}",
                dir.path().join("data").display()
            ),
        )?;
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve").arg(&conf);
        let process =
            Process::spawn_guarded("docker-registry", cmd, &dir.path().join("registry.log"))?;
        wait_for_port(port, Duration::from_secs(20))?;
        Ok(Self {
            process,
            port,
            auth,
            dir,
        })
    }

    /// An anonymous registry.
    pub fn start() -> io::Result<Self> {
        Self::start_with("", PushAuth::None, tempfile::tempdir()?)
    }

    /// A registry with htpasswd basic auth for `user`/`password`.
    pub fn start_basic(user: &str, password: &str) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("htpasswd");
        std::fs::write(&file, format!("{user}:{}\n", bcrypt(password)?))?;
        let auth = format!(
            "auth:\n  htpasswd: {{realm: tether-test, path: {}}}\n",
            file.display()
        );
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        Self::start_with(&auth, PushAuth::Basic(header), dir)
    }

    /// A registry that trusts the tokens of `tokens`; the tests push with a token for
    /// `repository`.
    pub fn start_token(tokens: &TokenServer, repository: &str) -> io::Result<Self> {
        let auth = format!(
            "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
            tokens.realm(),
            tokens.cert.display()
        );
        let header = format!("Bearer {}", tokens.push_token(repository)?);
        Self::start_with(&auth, PushAuth::Basic(header), tempfile::tempdir()?)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> io::Result<(u16, String, String)> {
        let auth = match &self.auth {
            PushAuth::None => String::new(),
            PushAuth::Basic(h) => format!("Authorization: {h}\r\n"),
        };
        let accept = "Accept: application/vnd.oci.image.manifest.v1+json, application/json\r\n";
        http(
            self.port,
            method,
            path,
            &format!("{auth}{accept}Content-Type: {content_type}\r\n"),
            body,
        )
    }

    fn blob(&self, repository: &str, bytes: &[u8]) -> io::Result<String> {
        let digest = format!("sha256:{}", hex(&sha2::Sha256::digest(bytes)));
        // Start an upload, then finish it with the whole blob (monolithic upload).
        let (status, head, text) = self.request(
            "POST",
            &format!("/v2/{repository}/blobs/uploads/"),
            "application/octet-stream",
            b"",
        )?;
        let location = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("location")
                    .then(|| v.trim().to_owned())
            })
            .filter(|_| status == 202)
            .ok_or_else(|| io::Error::other(format!("blob upload start: HTTP {status}: {text}")))?;
        let path = match location.find("/v2/") {
            Some(i) => location[i..].to_owned(),
            None => location,
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, _, text) = self.request(
            "PUT",
            &format!("{path}{sep}digest={digest}"),
            "application/octet-stream",
            bytes,
        )?;
        if status != 201 {
            return Err(io::Error::other(format!(
                "blob upload: HTTP {status}: {text}"
            )));
        }
        Ok(digest)
    }

    /// Pushes a minimal image (config blob, one small layer, OCI manifest) as
    /// `repository:tag`; returns the manifest's digest.
    pub fn push(&self, repository: &str, tag: &str) -> io::Result<String> {
        let config = format!(
            "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{\"Labels\":{{\"tag\":\"{tag}\"}}}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[]}}}}"
        );
        let layer = format!("layer of {repository}:{tag}");
        let config_digest = self.blob(repository, config.as_bytes())?;
        let layer_digest = self.blob(repository, layer.as_bytes())?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
        })
        .to_string();
        self.put_manifest(repository, tag, &manifest)
    }

    /// Tags an already pushed manifest again (cheap: no blobs).
    pub fn put_manifest(&self, repository: &str, tag: &str, manifest: &str) -> io::Result<String> {
        let (status, headers, text) = self.request(
            "PUT",
            &format!("/v2/{repository}/manifests/{tag}"),
            "application/vnd.oci.image.manifest.v1+json",
            manifest.as_bytes(),
        )?;
        if status != 201 {
            return Err(io::Error::other(format!(
                "manifest {repository}:{tag}: HTTP {status}: {text}"
            )));
        }
        Ok(headers
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("docker-content-digest")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| {
                format!("sha256:{}", hex(&sha2::Sha256::digest(manifest.as_bytes())))
            }))
    }

    /// The response head of `GET path` (status line and headers).
    pub fn head(&self, path: &str) -> io::Result<String> {
        Ok(self.request("GET", path, "application/json", b"")?.1)
    }

    /// The manifest of `repository:tag` as pushed.
    pub fn manifest(&self, repository: &str, tag: &str) -> io::Result<String> {
        let (status, _, text) = self.request(
            "GET",
            &format!("/v2/{repository}/manifests/{tag}"),
            "application/json",
            b"",
        )?;
        if status != 200 {
            return Err(io::Error::other(format!(
                "manifest {repository}:{tag}: HTTP {status}"
            )));
        }
        Ok(text)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One HTTP/1.1 request; returns status, head and body (bodies are small here).
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok((status, head.to_owned(), body.to_owned()))
}
