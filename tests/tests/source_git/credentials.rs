//! Credentials over smart HTTP (basic auth, bearer tokens, a private CA) and SSH.

use super::*;

// ---- credentials over smart HTTP, and SSH ----

const PASSWORD: &str = "pw-Zq8x-never-logged";
const TOKEN: &str = "tok-Hn4w-never-logged";

fn secret_files(dir: &Path, entries: &[(&str, &str)]) -> CredentialFiles {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut files = CredentialFiles::default();
    for (name, value) in entries {
        let path = dir.join(name);
        std::fs::write(&path, format!("{value}\n")).expect("write");
        match *name {
            "username" => files.username = Some(path),
            "password" => files.password = Some(path),
            "token" => files.bearer_token = Some(path),
            _ => {}
        }
    }
    files
}

#[test]
fn https_with_a_private_ca_is_refused_without_the_ca_bundle_and_works_with_it() {
    let fx = fixture();
    fx.upstream.write("a", "over tls").expect("write");
    let head = fx.upstream.commit("one").expect("commit");
    let ca_dir = fx.root.path().join("ca");
    std::fs::create_dir_all(&ca_dir).expect("mkdir");
    let ca = TestCa::create(&ca_dir).expect("a CA and a server certificate");
    let https = HttpGit::start_tls(fx.root.path(), Some(("ci", PASSWORD)), &ca.server_pem)
        .expect("lighttpd with TLS");
    assert!(https.url("config.git").starts_with("https://127.0.0.1:"));
    let rt = rt();

    // The system roots do not know the private CA: the certificate is refused, clearly,
    // and the password is not in the error.
    let mut config = fx.source(&https.url("config.git"), main_branch());
    config.credentials = Credentials::load(&secret_files(
        &fx.root.path().join("tls-no-ca"),
        &[("username", "ci"), ("password", PASSWORD)],
    ))
    .expect("credentials");
    config.cache_dir = fx.cache("tls-no-ca");
    let err = rt
        .block_on(Source::new(config).sync())
        .expect_err("a server certificate from an unknown CA is refused");
    let message = format!("{err} {err:?}");
    assert!(
        message.to_lowercase().contains("certificate"),
        "the error names the certificate problem: {message}"
    );
    assert!(
        !message.contains(PASSWORD),
        "the password leaked: {message}"
    );

    // With the CA bundle from a file, the clone works over TLS with basic auth.
    let mut files = secret_files(
        &fx.root.path().join("tls-ca"),
        &[("username", "ci"), ("password", PASSWORD)],
    );
    files.ca_bundle = Some(ca.ca_pem.clone());
    let mut config = fx.source(&https.url("config.git"), main_branch());
    config.credentials = Credentials::load(&files).expect("credentials");
    config.cache_dir = fx.cache("tls-ca");
    let mut source = Source::new(config);
    let snapshot = rt
        .block_on(source.sync())
        .unwrap_or_else(|err| panic!("https sync with the CA: {err}\n{}", https.error_log()));
    assert_eq!(snapshot.revision, head);
    let read = snapshot
        .tree
        .read(&RelPath::parse("a").expect("path"))
        .expect("read");
    assert_eq!(read, b"over tls");
}

#[test]
fn http_credentials_work_never_leak_and_wrong_ones_fail_clearly() {
    let fx = fixture();
    fx.upstream.write("a", "private").expect("write");
    let head = fx.upstream.commit("one").expect("commit");
    let http =
        HttpGit::start(fx.root.path(), Some(("ci", PASSWORD)), Some(TOKEN)).expect("lighttpd");
    let rt = rt();
    let mut errors = Vec::new();

    // Basic auth from files.
    let mut config = fx.source(&http.url("config.git"), main_branch());
    config.credentials = Credentials::load(&secret_files(
        &fx.root.path().join("basic"),
        &[("username", "ci"), ("password", PASSWORD)],
    ))
    .expect("credentials");
    config.cache_dir = fx.cache("basic");
    let mut source = Source::new(config);
    let snapshot = rt
        .block_on(source.sync())
        .unwrap_or_else(|err| panic!("basic auth sync: {err}\n{}", http.error_log()));
    assert_eq!(snapshot.revision, head);

    // Bearer token from a file.
    let mut config = fx.source(&http.bearer_url("config.git"), main_branch());
    config.credentials = Credentials::load(&secret_files(
        &fx.root.path().join("bearer"),
        &[("token", TOKEN)],
    ))
    .expect("credentials");
    config.cache_dir = fx.cache("bearer");
    let mut source = Source::new(config);
    let snapshot = rt.block_on(source.sync()).expect("bearer sync");
    assert_eq!(snapshot.revision, head);

    // Wrong password: a clear authentication error.
    let mut config = fx.source(&http.url("config.git"), main_branch());
    config.credentials = Credentials::load(&secret_files(
        &fx.root.path().join("wrong"),
        &[("username", "ci"), ("password", "wrong-password-value")],
    ))
    .expect("credentials");
    config.cache_dir = fx.cache("wrong");
    let mut source = Source::new(config);
    let err = rt.block_on(source.sync()).expect_err("wrong password");
    assert_eq!(err.reason(), "AuthFailed", "{err}");
    assert!(
        err.to_string().contains("authentication failed")
            && err.to_string().contains("/git/config.git"),
        "the error says what failed and where: {err}"
    );
    errors.push(err.to_string());
    errors.push(format!("{err:?}"));
    errors.push(format!("{:?}", source.status()));

    // Wrong token.
    let mut config = fx.source(&http.bearer_url("config.git"), main_branch());
    config.credentials = Credentials::load(&secret_files(
        &fx.root.path().join("wrongtok"),
        &[("token", "tok-wrong-value")],
    ))
    .expect("credentials");
    config.cache_dir = fx.cache("wrongtok");
    let mut source = Source::new(config);
    let err = rt.block_on(source.sync()).expect_err("wrong token");
    assert_eq!(err.reason(), "AuthFailed", "{err}");
    errors.push(err.to_string());

    // Credentials in the URL itself, against a server that is down: the error and logs
    // show the URL redacted.
    let port = tether_tests::peers::free_port();
    let url = format!("http://ci:{PASSWORD}@127.0.0.1:{port}/git/config.git");
    let mut config = fx.source(&url, main_branch());
    config.cache_dir = fx.cache("userinfo");
    let mut source = Source::new(config);
    let err = rt.block_on(source.sync()).expect_err("nothing listens");
    let text = err.to_string();
    assert!(text.contains("ci:***@127.0.0.1"), "{text}");
    errors.push(text);
    errors.push(format!("{:?}", source.status()));
    errors.push(format!("{:?}", source.config().url));

    let logs = captured();
    assert!(logs.contains("fetch failed"), "failures are logged");
    for secret in [PASSWORD, TOKEN] {
        assert!(!logs.contains(secret), "secret in the logs:\n{logs}");
        for error in &errors {
            assert!(!error.contains(secret), "secret in an error: {error}");
        }
    }
}

#[test]
fn ssh_clone_with_a_key_and_strict_known_hosts() {
    let fx = fixture();
    fx.upstream.write("a", "over ssh").expect("write");
    let head = fx.upstream.commit("one").expect("commit");
    let sshd = SshGit::start().expect("sshd");
    let url = sshd.url(&fx.upstream.bare);
    let rt = rt();

    let mut config = fx.source(&url, main_branch());
    config.credentials = Credentials {
        ssh: Some(SshAuth {
            private_key: sshd.client_key.clone(),
            known_hosts: Some(sshd.known_hosts.clone()),
            insecure_ignore_host_key: false,
            agent: None,
        }),
        ..Credentials::none()
    };
    let mut source = Source::new(config);
    let snapshot = rt.block_on(source.sync()).expect("ssh sync");
    assert_eq!(snapshot.revision, head);
    assert_eq!(read(&source, "a"), "over ssh");

    // An unknown host key is refused (strict checking, no prompt).
    let empty = fx.root.path().join("empty_known_hosts");
    std::fs::write(&empty, "").expect("write");
    let mut config = fx.source(&url, main_branch());
    config.cache_dir = fx.cache("strict");
    config.credentials = Credentials {
        ssh: Some(SshAuth {
            private_key: sshd.client_key.clone(),
            known_hosts: Some(empty),
            insecure_ignore_host_key: false,
            agent: None,
        }),
        ..Credentials::none()
    };
    let mut source = Source::new(config);
    let err = rt.block_on(source.sync()).expect_err("unknown host key");
    assert_eq!(err.reason(), "AuthFailed", "{err}");
    assert!(
        err.to_string().contains("Host key verification failed"),
        "ssh's own reason is in the error: {err}"
    );
}
