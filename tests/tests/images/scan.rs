//! Scanning a real registry: tag lists, the three policies, digests, basic auth
//! from a dockerconfigjson file, bearer tokens from a token endpoint.

use crate::common::{entry, images};
use base64::Engine as _;
use tether_tests::registry::{Registry, TokenServer};

#[test]
fn tags_are_listed_and_each_policy_chooses_as_flux_does() {
    let registry = Registry::start().expect("start docker-registry");
    let digest_12 = registry.push("team/app", "1.2.0").expect("push");
    for tag in [
        "1.0.0",
        "2.0.0-rc.1",
        "main-abc123-1700000100",
        "main-def456-1700000200",
        "app.sig",
    ] {
        registry.push("team/app", tag).expect("push");
    }
    // Tags that share one manifest (pagination is tested with a fake registry: this
    // registry version answers every tag at once).
    let manifest = registry.manifest("team/app", "1.0.0").expect("manifest");
    for n in 0..20 {
        registry
            .put_manifest("team/app", &format!("build-{n:04}"), &manifest)
            .expect("tag");
    }
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = format!(
        "images:
  repositories:
    - name: app
      image: {host}/team/app
      insecure: true
  policies:
    - name: stable
      repository: app
      policy: {{semver: {{range: '>=1.0.0 <3.0.0'}}}}
      digestReflectionPolicy: IfNotPresent
    - name: candidate
      repository: app
      policy: {{semver: {{range: '>=2.0.0-0'}}}}
    - name: main
      repository: app
      filterTags: {{pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)$', extract: '$ts'}}
      policy: {{numerical: {{order: asc}}}}
    - name: oldest-build
      repository: app
      filterTags: {{pattern: '^build-'}}
      policy: {{alphabetical: {{order: desc}}}}
",
        host = registry.host()
    );
    let (code, report, stderr) = images(dir.path(), &config, false);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let repo = entry(&report, "repositories", "tether-system:app");
    assert_eq!(
        repo["tagCount"], 25,
        "the cosign signature tag excluded: {repo:#}"
    );
    assert!(repo["error"].is_null());
    let stable = entry(&report, "policies", "tether-system:stable");
    assert_eq!(stable["tag"], "1.2.0");
    assert_eq!(stable["digest"], digest_12.as_str());
    assert_eq!(
        stable["latestImage"],
        format!("{}/team/app:1.2.0@{digest_12}", registry.host())
    );
    assert_eq!(
        entry(&report, "policies", "tether-system:candidate")["tag"],
        "2.0.0-rc.1"
    );
    assert_eq!(
        entry(&report, "policies", "tether-system:main")["tag"],
        "main-def456-1700000200"
    );
    assert_eq!(
        entry(&report, "policies", "tether-system:oldest-build")["tag"],
        "build-0000"
    );
}

fn docker_config(
    dir: &std::path::Path,
    host: &str,
    user: &str,
    password: &str,
) -> std::path::PathBuf {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let path = dir.join(format!("config-{user}.json"));
    std::fs::write(
        &path,
        format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"{auth}\"}}}}}}"),
    )
    .expect("write");
    path
}

fn one_repository(host: &str, credentials: &str) -> String {
    format!(
        "images:
  repositories:
    - name: app
      image: {host}/app
      insecure: true
{credentials}  policies:
    - name: app
      repository: app
      policy: {{semver: {{range: '*'}}}}
"
    )
}

#[test]
fn a_registry_with_basic_auth_is_read_with_dockerconfigjson_credentials() {
    let registry =
        Registry::start_basic("robot", "b4sic-pass-w0rd").expect("start docker-registry");
    registry.push("app", "3.1.4").expect("push");
    let dir = tempfile::tempdir().expect("temporary folder");
    let good = docker_config(dir.path(), &registry.host(), "robot", "b4sic-pass-w0rd");
    let creds = format!(
        "      credentials: {{dockerConfigJson: {}}}\n",
        good.display()
    );
    let (code, report, _) = images(dir.path(), &one_repository(&registry.host(), &creds), false);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        entry(&report, "policies", "tether-system:app")["tag"],
        "3.1.4"
    );

    let (code, report, _) = images(dir.path(), &one_repository(&registry.host(), ""), false);
    assert_eq!(code, 1);
    let error = &entry(&report, "repositories", "tether-system:app")["error"];
    assert_eq!(error["reason"], "RegistryAuthFailed", "{report:#}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no credentials are configured"),
        "{error}"
    );

    let bad = docker_config(dir.path(), &registry.host(), "intruder", "wrong-pass-9999");
    let creds = format!(
        "      credentials: {{dockerConfigJson: {}}}\n",
        bad.display()
    );
    let (code, report, stderr) =
        images(dir.path(), &one_repository(&registry.host(), &creds), false);
    assert_eq!(code, 1);
    let text = report.to_string();
    assert!(text.contains("the credentials were refused"), "{report:#}");
    assert!(!text.contains("wrong-pass-9999") && !stderr.contains("wrong-pass-9999"));
}

#[test]
fn a_bearer_challenge_is_answered_with_a_token_from_the_realm() {
    let tokens = TokenServer::start("robot", "t0ken-pass").expect("start the token endpoint");
    let registry = Registry::start_token(&tokens, "app").expect("start docker-registry");
    registry.push("app", "0.9.0").expect("push with a token");
    registry.push("app", "1.0.0").expect("push with a token");
    let dir = tempfile::tempdir().expect("temporary folder");
    let creds = docker_config(dir.path(), &registry.host(), "robot", "t0ken-pass");
    let creds = format!(
        "      credentials: {{dockerConfigJson: {}}}\n",
        creds.display()
    );
    let (code, report, stderr) =
        images(dir.path(), &one_repository(&registry.host(), &creds), false);
    assert_eq!(code, 0, "{report:#}\n{stderr}\n{}", registry.log());
    assert_eq!(
        entry(&report, "policies", "tether-system:app")["tag"],
        "1.0.0"
    );
    let asked = tokens.requests();
    assert!(
        asked.iter().any(|r| r.scope == "repository:app:pull"
            && r.service == tether_tests::registry::TOKEN_SERVICE
            && r.authenticated
            && r.answered == 200),
        "{asked:?}"
    );
    // Without credentials the token endpoint refuses, and the error says so.
    let (code, report, _) = images(dir.path(), &one_repository(&registry.host(), ""), false);
    assert_eq!(code, 1);
    assert_eq!(
        entry(&report, "repositories", "tether-system:app")["error"]["reason"],
        "RegistryAuthFailed",
        "{report:#}"
    );
}

#[test]
fn an_ecr_repository_is_read_with_a_token_from_the_aws_sdk() {
    // moto answers GetAuthorizationToken with `AWS:ACCOUNT-auth-token`; the registry accepts
    // exactly that, so the tags are listed only when the token came through the SDK.
    let moto = tether_tests::peers::Moto::start().expect("start moto");
    let registry =
        Registry::start_basic("AWS", "123456789012-auth-token").expect("start docker-registry");
    registry.push("app", "7.0.0").expect("push");
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = one_repository(&registry.host(), "      provider: aws\n");
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ];
    let (code, report, stderr) = crate::common::images_with_env(dir.path(), &config, false, &env);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(
        entry(&report, "policies", "tether-system:app")["tag"],
        "7.0.0"
    );
    assert!(!report.to_string().contains("auth-token"));
}
