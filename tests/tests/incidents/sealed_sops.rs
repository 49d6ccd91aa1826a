//! Sealed Secrets and SOPS: re-sealing scope, Secret ownership and helper programs.

use super::*;

/// CVE-2026-22728 (GHSA-465p-v42x-3fmj): re-encryption took the output scope from
/// caller-supplied fields, widening strict to cluster-wide. Re-sealing keeps the scope verified
/// inside the values.
#[test]
fn cve_2026_22728_resealing_keeps_the_scope_verified_inside_the_values() {
    use tether_seal::sealed::{Scope, SealedSecret, UnsealedSecret, reseal, seal, unseal};
    let old = tether_seal::keys::Identity::generate();
    let manifest = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  password: scope-22728\n";
    let secret = UnsealedSecret::from_manifest(manifest, "db.yaml").expect("reads");
    let sealed = seal(&secret, &[old.recipient()], Scope::Strict).expect("seal");
    // The attacker widens the declared scope and retargets the object.
    let edited = sealed
        .to_yaml()
        .expect("yaml")
        .replace("scope: strict", "scope: cluster");
    let mut edited = SealedSecret::from_text(&edited, "db.sealed.yaml").expect("reads");
    edited.spec.template.metadata.annotations.insert(
        "sealedsecrets.bitnami.com/cluster-wide".into(),
        "true".into(),
    );
    assert_eq!(edited.spec.scope, Scope::Cluster);
    let new = tether_seal::keys::Identity::generate();
    let resealed = reseal(&edited, &[old], &[new.recipient()]).expect("reseal");
    assert_eq!(resealed.spec.scope, Scope::Strict);
    assert!(unseal(&resealed, std::slice::from_ref(&new), "attacker", "db").is_err());
    assert!(unseal(&resealed, std::slice::from_ref(&new), "shop", "other").is_err());
    assert!(unseal(&resealed, &[new], "shop", "db").is_ok());
}

/// The Sealed Secrets ownership guard: a decrypted Secret never replaces a Secret someone
/// else made (nor an object of another app) unless the live object says so, so committing a
/// sealed value cannot overwrite any Secret the agent can write.
#[tokio::test]
async fn sealed_secrets_ownership_guard_a_secret_tether_did_not_create_is_never_overwritten() {
    let agent = Agent::start().await;
    let original = base64::engine::general_purpose::STANDARD.encode("made-by-someone-else");
    agent
        .server
        .put_object(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "web-db", "namespace": APP_NS}, "data": {"password": original}}))
        .expect("a foreign Secret");
    match agent.run("good-web", &good_app(), "good-web").await {
        Outcome::Failed(stage, message) => {
            assert_eq!(stage, Stage::Sync, "{message}");
            assert!(message.contains("not created by Tether"), "{message}");
        }
        Outcome::Synced(result) => panic!("overwrote it: {:?}", result.changes),
    }
    let live = agent
        .server
        .object("secrets", APP_NS, "web-db")
        .expect("still there");
    assert_eq!(live["data"]["password"], json!(original));
    // The owner hands it over on the live object.
    let mut handed = live.clone();
    handed["metadata"]["annotations"] = json!({"tether.dev/adopt": "true"});
    agent.server.put_object(handed).expect("annotate");
    match agent.run("good-web", &good_app(), "good-web").await {
        Outcome::Synced(result) => assert!(result.is_success()),
        Outcome::Failed(stage, message) => panic!("{stage:?}: {message}"),
    }
    let live = agent
        .server
        .object("secrets", APP_NS, "web-db")
        .expect("the Secret");
    let expected = base64::engine::general_purpose::STANDARD.encode("corpus-web-value");
    assert_eq!(live["data"]["password"], json!(expected));

    // Another app's object is not taken either.
    let l = layout(&[
        ("one/cm.yaml", &configmap("shared")),
        ("two/cm.yaml", &configmap("shared")),
    ]);
    match agent.run("app-one", &l.repo, "one").await {
        Outcome::Synced(result) => assert!(result.is_success()),
        Outcome::Failed(stage, message) => panic!("{stage:?}: {message}"),
    }
    let (stage, message) = refused(&agent, "app-two", &l, "two").await;
    assert_eq!(stage, Stage::Sync, "{message}");
    assert!(message.contains("owned by app app-one"), "{message}");
}

// ---- SOPS ----

/// Set in the child process of the test below.
const CHILD: &str = "TETHER_INCIDENT_RELATIVE_PATH_CHILD";

/// GHSA-x5c7-x7m2-rhmf: SOPS ran helper programs found in the working folder. Tether runs
/// `ssh` (and `gpg`) by absolute path: with `.` first in `PATH` and an `ssh` in the working
/// folder, a fetch over SSH still never runs that one. The fetch runs in a child process
/// (this test binary again) so that its `PATH` and working folder are its own.
#[test]
fn ghsa_x5c7_x7m2_rhmf_helper_programs_never_come_from_a_relative_path() {
    if std::env::var_os(CHILD).is_some() {
        let cache = std::env::current_dir().expect("cwd").join("cache");
        let port = tether_tests::peers::free_port();
        let config = source_config(
            &format!("ssh://git@127.0.0.1:{port}/config.git"),
            cache,
            Duration::from_secs(20),
        );
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let result = runtime.block_on(Source::new(config).sync());
        assert!(result.is_err(), "nothing listens there");
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temporary folder");
    let mark = dir.path().join("planted-ssh-ran");
    let planted = dir.path().join("ssh");
    std::fs::write(
        &planted,
        format!("#!/bin/sh\ntouch '{}'\nexit 1\n", mark.display()),
    )
    .expect("write");
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(".:{}", std::env::var("PATH").unwrap_or_default());
    let status = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "sealed_sops::ghsa_x5c7_x7m2_rhmf_helper_programs_never_come_from_a_relative_path",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("PATH", path)
        .current_dir(dir.path())
        .status()
        .expect("run the child");
    assert!(status.success(), "the child failed");
    assert!(!mark.exists(), "the ssh from the working folder ran");
}
