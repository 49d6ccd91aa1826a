//! `tether-agent images --write` against a registry and a `git daemon` that accepts
//! pushes: the marked values change and nothing else; nothing to change makes no commit; a
//! push refused because the branch moved is fetched, applied again and pushed; markers in
//! broken YAML make no commit.

use crate::common::{entry, images};
use std::process::Command;
use tether_tests::gitserver::{GitDaemon, Upstream, run};
use tether_tests::registry::Registry;

const DEPLOY: &str = "# the shop's web tier
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      containers:
        - name: web
          image: REGISTRY/shop/web:1.0.0 # {\"$imagepolicy\": \"tether-system:web\"}
          ports: [{containerPort: 8080}]   # unchanged
";

pub(crate) struct Setup {
    pub(crate) registry: Registry,
    pub(crate) upstream: Upstream,
    daemon: GitDaemon,
    pub(crate) dir: tempfile::TempDir,
}

pub(crate) fn setup() -> Setup {
    let registry = Registry::start().expect("docker-registry");
    for tag in ["1.0.0", "1.1.0", "latest"] {
        registry.push("shop/web", tag).expect("push");
    }
    let dir = tempfile::tempdir().expect("temporary folder");
    let upstream = Upstream::create(dir.path(), "config").expect("repository");
    upstream
        .write(
            "apps/shop/deploy.yaml",
            DEPLOY.replace("REGISTRY", &registry.host()),
        )
        .expect("write");
    upstream
        .write(
            "apps/other/deploy.yaml",
            DEPLOY.replace("REGISTRY", &registry.host()),
        )
        .expect("write");
    upstream.commit("the shop").expect("commit");
    let daemon = GitDaemon::start(dir.path()).expect("git daemon");
    Setup {
        registry,
        upstream,
        daemon,
        dir,
    }
}

pub(crate) fn config(s: &Setup) -> String {
    format!(
        "cacheDir: {cache}
sources:
  - {{name: config, url: {url}, ref: main}}
images:
  repositories:
    - {{name: web, image: {host}/shop/web, insecure: true}}
  policies:
    - {{name: web, repository: web, policy: {{semver: {{range: '>=1.0.0'}}}}}}
  automations:
    - name: shop
      source: config
      paths: [apps/shop]
      author: {{name: Tether Images, email: images@tether.invalid}}
",
        cache = s.dir.path().join("cache").display(),
        url = s.daemon.url("config.git"),
        host = s.registry.host(),
    )
}

pub(crate) fn git(s: &Setup, args: &[&str]) -> String {
    run(Command::new("git")
        .arg("-C")
        .arg(&s.upstream.bare)
        .args(args))
    .unwrap_or_default()
}

#[test]
fn a_new_tag_is_committed_changing_only_the_marked_value_and_nothing_twice() {
    let s = setup();
    let before = s.upstream.head().expect("head");
    let (code, report, stderr) = images(s.dir.path(), &config(&s), true);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let automation = entry(&report, "automations", "shop");
    let commit = automation["lastCommit"]
        .as_str()
        .expect("a commit")
        .to_owned();
    assert_eq!(git(&s, &["rev-parse", "main"]), commit);
    assert_eq!(git(&s, &["rev-parse", "main~1"]), before);
    let diff = git(&s, &["diff", &before, &commit]);
    let host = s.registry.host();
    let old_line = format!(
        "-          image: {host}/shop/web:1.0.0 # {{\"$imagepolicy\": \"tether-system:web\"}}"
    );
    let new_line = format!(
        "+          image: {host}/shop/web:1.1.0 # {{\"$imagepolicy\": \"tether-system:web\"}}"
    );
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect();
    assert_eq!(changed, [old_line.as_str(), new_line.as_str()], "{diff}");
    assert!(
        diff.contains("a/apps/shop/deploy.yaml") && !diff.contains("apps/other"),
        "{diff}"
    );
    assert_eq!(
        git(&s, &["log", "-1", "--format=%an <%ae>"]),
        "Tether Images <images@tether.invalid>"
    );
    let message = git(&s, &["log", "-1", "--format=%B"]);
    assert!(
        message.starts_with("images: update shop")
            && message.contains("1.0.0 -> ")
            && message.contains(":1.1.0"),
        "{message}"
    );
    // Run again: every value is set, no commit.
    let (code, report, _) = images(s.dir.path(), &config(&s), true);
    assert_eq!(code, 0, "{report:#}");
    assert!(entry(&report, "automations", "shop")["lastCommit"].is_null());
    assert_eq!(git(&s, &["rev-parse", "main"]), commit);
}

#[test]
fn a_push_refused_because_the_branch_moved_is_applied_again_on_top() {
    let s = setup();
    race_once(&s);
    let (code, report, stderr) = images(s.dir.path(), &config(&s), true);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert!(s.upstream.bare.join("raced").exists(), "the race happened");
    assert_eq!(
        git(&s, &["log", "-1", "--format=%s", "main~1"]),
        "a colleague's change"
    );
    assert!(git(&s, &["show", "main:apps/shop/deploy.yaml"]).contains("shop/web:1.1.0"));
    assert_eq!(
        git(&s, &["log", "-1", "--format=%an", "main"]),
        "Tether Images"
    );
}

/// Makes the server move main once, while our push is being received: a colleague got
/// there first. Only the first push meets it.
fn race_once(s: &Setup) {
    race_once_in(&s.upstream.bare);
}

/// [`race_once`] on the bare repository `bare`.
pub(crate) fn race_once_in(bare: &std::path::Path) {
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nset -e\n[ -e \"$GIT_DIR/raced\" ] && exit 0\ntouch \"$GIT_DIR/raced\"\nunset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\ntree=$(git rev-parse 'refs/heads/main^{tree}')\nc=$(echo \"a colleague's change\" | GIT_AUTHOR_NAME=colleague GIT_AUTHOR_EMAIL=c@x GIT_COMMITTER_NAME=colleague GIT_COMMITTER_EMAIL=c@x git commit-tree \"$tree\" -p refs/heads/main)\ngit update-ref refs/heads/main \"$c\"\nexit 0\n",
    )
    .expect("write the hook");
    run(Command::new("chmod").arg("+x").arg(&hook)).expect("chmod");
}

#[test]
fn markers_in_broken_yaml_make_no_commit_and_name_the_file() {
    let s = setup();
    s.upstream
        .write(
            "apps/shop/broken.yaml",
            "data: [1, 2\nimage: x:1 # {\"$imagepolicy\": \"tether-system:web\"}\n",
        )
        .expect("write");
    let before = s.upstream.commit("a broken file").expect("commit");
    let (code, report, _) = images(s.dir.path(), &config(&s), true);
    assert_eq!(code, 1);
    let error = &entry(&report, "automations", "shop")["error"];
    assert_eq!(error["reason"], "ManifestInvalid", "{report:#}");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("apps/shop/broken.yaml: not valid YAML"),
        "{error}"
    );
    assert_eq!(git(&s, &["rev-parse", "main"]), before);
}

#[test]
fn write_credentials_are_separate_from_the_read_url_and_optional() {
    let s = setup();
    let http = tether_tests::gitserver::HttpGit::start(
        s.dir.path(),
        Some(("writer", "wr1te-pass-77")),
        Some("bearer-write-token-88"),
    )
    .expect("lighttpd");
    let user = s.dir.path().join("user");
    let pass = s.dir.path().join("pass");
    let token = s.dir.path().join("token");
    std::fs::write(&user, "writer").expect("write");
    std::fs::write(&pass, "wr1te-pass-77\n").expect("write");
    std::fs::write(&token, "bearer-write-token-88").expect("write");
    let head = git(&s, &["rev-parse", "main"]);
    // Without write credentials the installation stays read-only: a clear error, no commit.
    let anonymous = config(&s).replace(
        "      paths: [apps/shop]\n",
        &format!(
            "      paths: [apps/shop]\n      url: {}\n",
            http.url("config.git")
        ),
    );
    let (code, report, _) = images(s.dir.path(), &anonymous, true);
    assert_eq!(code, 1);
    let error = entry(&report, "automations", "shop")["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("none are configured for writing"), "{error}");
    assert_eq!(git(&s, &["rev-parse", "main"]), head);
    // Basic credentials over smart HTTP.
    let basic = anonymous.replace(
        "      paths: [apps/shop]\n",
        &format!(
            "      paths: [apps/shop]\n      credentials: {{username: {}, password: {}}}\n",
            user.display(),
            pass.display()
        ),
    );
    let (code, report, stderr) = images(s.dir.path(), &basic, true);
    assert_eq!(code, 0, "{report:#}\n{stderr}\n{}", http.error_log());
    assert_ne!(git(&s, &["rev-parse", "main"]), head);
    assert!(!report.to_string().contains("wr1te-pass-77"));
    // A bearer token (sent as a header) on the area that demands one; nothing left to change.
    let bearer = config(&s).replace(
        "      paths: [apps/shop]\n",
        &format!(
            "      paths: [apps/shop]\n      url: {}\n      credentials: {{bearerToken: {}}}\n",
            http.bearer_url("config.git"),
            token.display()
        ),
    );
    let (code, report, stderr) = images(s.dir.path(), &bearer, true);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert!(entry(&report, "automations", "shop")["error"].is_null());
}

#[test]
fn an_https_remote_is_fetched_with_gix_and_pushed_by_send_pack_with_basic_credentials() {
    let s = setup();
    let ca = tether_tests::gitserver::TestCa::create(s.dir.path()).expect("test CA");
    let https = tether_tests::gitserver::HttpGit::start_tls(
        s.dir.path(),
        Some(("writer", "tls-wr1te-pass")),
        &ca.server_pem,
    )
    .expect("lighttpd with TLS");
    let user = s.dir.path().join("user");
    let pass = s.dir.path().join("pass");
    std::fs::write(&user, "writer").expect("write");
    std::fs::write(&pass, "tls-wr1te-pass").expect("write");
    let head = git(&s, &["rev-parse", "main"]);
    let creds = |password: &std::path::Path| {
        config(&s).replace(
            "      paths: [apps/shop]\n",
            &format!(
                "      paths: [apps/shop]\n      url: {}\n      credentials: {{username: {}, password: {}, caBundle: {}}}\n",
                https.url("config.git"),
                user.display(),
                password.display(),
                ca.ca_pem.display()
            ),
        )
    };
    // A wrong password: refused, named, never quoted; no commit.
    let wrong = s.dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-pass-123").expect("write");
    let (code, report, _) = images(s.dir.path(), &creds(&wrong), true);
    assert_eq!(code, 1, "{report:#}");
    assert!(!report.to_string().contains("not-the-pass-123"));
    assert_eq!(git(&s, &["rev-parse", "main"]), head);
    // The right one: the commit lands on main, on top of the fetched tip.
    let (code, report, stderr) = images(s.dir.path(), &creds(&pass), true);
    assert_eq!(code, 0, "{report:#}\n{stderr}\n{}", https.error_log());
    let commit = entry(&report, "automations", "shop")["lastCommit"]
        .as_str()
        .expect("a commit")
        .to_owned();
    assert_eq!(git(&s, &["rev-parse", "main"]), commit);
    assert_eq!(git(&s, &["rev-parse", "main~1"]), head);
    assert!(git(&s, &["show", "main:apps/shop/deploy.yaml"]).contains("shop/web:1.1.0"));
    assert_eq!(
        git(&s, &["fsck", "--strict"]),
        "",
        "the pushed pack is sound"
    );
}

#[test]
fn an_ssh_remote_is_pushed_with_the_write_key_survives_a_race_and_refuses_a_wrong_key() {
    let s = setup();
    let sshd = tether_tests::gitserver::SshGit::start().expect("sshd");
    let head = git(&s, &["rev-parse", "main"]);
    let with_key = |key: &std::path::Path| {
        config(&s).replace(
            "      paths: [apps/shop]\n",
            &format!(
                "      paths: [apps/shop]\n      url: {}\n      credentials: {{sshPrivateKey: {}, sshKnownHosts: {}}}\n",
                sshd.url(&s.upstream.bare),
                key.display(),
                sshd.known_hosts.display()
            ),
        )
    };
    // A key the server does not know: refused with ssh's reason, no key material, no commit.
    let wrong = s.dir.path().join("wrong_ed25519");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&wrong))
    .expect("ssh-keygen");
    let (code, report, stderr) = images(s.dir.path(), &with_key(&wrong), true);
    assert_eq!(code, 1, "{report:#}");
    let error = entry(&report, "automations", "shop")["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("Permission denied"), "{error}");
    let private = std::fs::read_to_string(&wrong).expect("read the key");
    for line in private.lines().filter(|l| !l.starts_with("-----")) {
        assert!(
            !report.to_string().contains(line),
            "key material in {report:#}"
        );
        assert!(!stderr.contains(line), "key material in the log");
    }
    assert_eq!(git(&s, &["rev-parse", "main"]), head);
    // The right key; a colleague pushes first: the refused push is applied again on top.
    race_once(&s);
    let (code, report, stderr) = images(s.dir.path(), &with_key(&sshd.client_key), true);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert!(s.upstream.bare.join("raced").exists(), "the race happened");
    let commit = entry(&report, "automations", "shop")["lastCommit"]
        .as_str()
        .expect("a commit")
        .to_owned();
    assert_eq!(git(&s, &["rev-parse", "main"]), commit);
    assert_eq!(
        git(&s, &["log", "-1", "--format=%s", "main~1"]),
        "a colleague's change"
    );
    assert_eq!(git(&s, &["rev-parse", "main~2"]), head);
    assert!(git(&s, &["show", "main:apps/shop/deploy.yaml"]).contains("shop/web:1.1.0"));
    // The refused first push leaves its commit dangling on the server; nothing is broken.
    assert_eq!(
        git(&s, &["fsck", "--strict", "--no-dangling"]),
        "",
        "the pushed packs are sound"
    );
}
