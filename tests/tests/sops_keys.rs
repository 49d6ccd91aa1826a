//! Every SOPS master-key kind against real peers, both directions: the real `sops` 3.11
//! encrypts with age, PGP (GnuPG, key made here), AWS KMS (moto) and Transit (OpenBao), and
//! `tether-seal` and the agent decrypt, each kind alone; `tether-seal` encrypts and `sops -d`
//! decrypts, each kind alone; Shamir key groups across kinds in both directions; and the
//! failures (wrong key, a key the app may not use, a passphrase-protected identity, an
//! unreachable KMS) name the file and the key, never a value.

#[path = "sops_keys/agent.rs"]
mod agent;
#[path = "sops_keys/support.rs"]
mod support;

use serde_json::json;
use std::process::Command;
use support::{
    SECRET, agent_decrypt, agent_ring, allow_all, ok, seal, shop_app, sops_encrypt_all, stderr,
    to_json, write_plain,
};
use tether_agent::config::KeysConfig;
use tether_agent::secrets::KeyRing;
use tether_agent::secrets::kms::KeyAllowConfig;
use tether_tests::bins;
use tether_tests::keypeers::{KeyPeers, Kind};
use tether_tests::peers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sops_encrypted_files_decrypt_with_each_key_type_alone_in_tether_seal_and_the_agent() {
    let p = KeyPeers::start().expect("the key peers start");
    let plain = write_plain(&p, "secret.yaml");
    let enc = sops_encrypt_all(&p, &plain);
    assert!(enc.contains("hc_vault:") && enc.contains("kms:") && enc.contains("pgp:"));
    let file = p.dir.path().join("secret.enc.yaml");
    std::fs::write(&file, &enc).expect("write");
    let object = to_json(&enc);
    for kind in [Kind::Age, Kind::Pgp, Kind::Kms, Kind::Transit] {
        let out = seal(&p, &[kind], &["decrypt", file.to_str().expect("utf-8")]);
        let text = ok(&out, &format!("tether-seal decrypt with {kind:?} only"));
        assert!(text.contains(SECRET), "{kind:?}: {text}");
        let password = agent_decrypt(
            agent_ring(&p, kind),
            &shop_app(allow_all(&p)),
            object.clone(),
        )
        .await
        .unwrap_or_else(|e| panic!("the agent with {kind:?} only: {e}"));
        assert_eq!(password, SECRET, "{kind:?}");
    }
    // A KMS key with a role (`ARN+ROLE`): sops assumes it through moto's STS, and so do
    // tether-seal and the agent.
    let role = format!(
        "{}+arn:aws:iam::123456789012:role/sops-decrypt",
        p.kms_arns[1]
    );
    let out = p
        .command(&peers::sops(), &[Kind::Kms])
        .args([
            "--encrypt",
            "--encrypted-regex",
            "^stringData$",
            "--kms",
            &role,
        ])
        .arg(&plain)
        .output()
        .expect("sops runs");
    let with_role = ok(&out, "sops --kms ARN+ROLE");
    assert!(with_role.contains("role: arn:aws:iam::123456789012:role/sops-decrypt"));
    let role_file = p.dir.path().join("role.enc.yaml");
    std::fs::write(&role_file, &with_role).expect("write");
    let out = seal(
        &p,
        &[Kind::Kms],
        &["decrypt", role_file.to_str().expect("utf-8")],
    );
    assert!(ok(&out, "tether-seal decrypt with a role").contains(SECRET));
    // The allow-list names the role too: a file cannot make the agent assume another role.
    let allow = KeyAllowConfig {
        aws_kms: vec![
            "arn:aws:kms:us-east-1:123456789012:key/*+arn:aws:iam::123456789012:role/sops-decrypt"
                .into(),
        ],
        ..Default::default()
    };
    let err = agent_decrypt(
        agent_ring(&p, Kind::Kms),
        &shop_app(allow_all(&p)),
        to_json(&with_role),
    )
    .await
    .expect_err("a role the allow-list does not name is refused");
    assert!(
        err.contains("sops-decrypt") && err.contains("may not use"),
        "{err}"
    );
    let password = agent_decrypt(
        agent_ring(&p, Kind::Kms),
        &shop_app(allow),
        to_json(&with_role),
    )
    .await
    .expect("the agent assumes the key's role");
    assert_eq!(password, SECRET);
    // IRSA-style web identity: the agent trades a projected token for credentials at STS.
    let token = p.dir.path().join("web-identity-token");
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGV0aGVyIn0.c2ln",
    )
    .expect("write the token");
    let config: KeysConfig = serde_json::from_value(json!({"kms": {"aws": {
        "endpoint": p.moto.endpoint,
        "roleArn": "arn:aws:iam::123456789012:role/tether-agent",
        "webIdentityTokenFile": token,
    }}}))
    .expect("config");
    let mut ring = KeyRing::new();
    ring.set_remote(&config).expect("set up");
    let password = agent_decrypt(ring, &shop_app(allow_all(&p)), object.clone())
        .await
        .expect("the agent decrypts with web identity credentials");
    assert_eq!(password, SECRET);
    // Re-encrypting after an edit keeps the metadata of every key as sops wrote it.
    let copy = p.dir.path().join("copy.enc.yaml");
    std::fs::write(&copy, &enc).expect("write");
    let out = seal(
        &p,
        &[Kind::Age],
        &[
            "set",
            copy.to_str().expect("utf-8"),
            r#"["stringData"]["user"]"#,
            r#""other""#,
        ],
    );
    ok(&out, "tether-seal set");
    let after = std::fs::read_to_string(&copy).expect("read");
    let keys_block = |t: &str| -> String {
        t.lines()
            .skip_while(|l| !l.starts_with("sops:"))
            .filter(|l| !l.contains("lastmodified:") && !l.contains("mac:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        keys_block(&after),
        keys_block(&enc),
        "the key metadata changed"
    );
    let out = p
        .command(&peers::sops(), &[Kind::Kms])
        .args(["--decrypt", copy.to_str().expect("utf-8")])
        .output()
        .expect("sops runs");
    assert!(ok(&out, "sops -d after tether-seal set").contains("user: other"));
}

#[test]
fn tether_seal_encrypts_for_each_key_type_and_sops_decrypts_with_that_type_alone() {
    let p = KeyPeers::start().expect("the key peers start");
    let plain = write_plain(&p, "secret.yaml");
    let plain = plain.to_str().expect("utf-8");
    let cases: [(Kind, Vec<&str>); 4] = [
        (Kind::Age, vec!["--age", &p.age_recipient]),
        (Kind::Pgp, vec!["--pgp", &p.gpg.fingerprint]),
        (
            Kind::Kms,
            vec![
                "--kms",
                &p.kms_arns[1],
                "--encryption-context",
                "app:shop,env:prod",
            ],
        ),
        (
            Kind::Transit,
            vec!["--hc-vault-transit", &p.transit_uris[1]],
        ),
    ];
    for (kind, flags) in cases {
        let mut args = vec!["encrypt"];
        args.extend(flags);
        args.push(plain);
        let enc = ok(
            &seal(&p, &[kind], &args),
            &format!("tether-seal encrypt {kind:?}"),
        );
        let file = p.dir.path().join(format!("{kind:?}.enc.yaml"));
        std::fs::write(&file, &enc).expect("write");
        let out = p
            .command(&peers::sops(), &[kind])
            .args(["--decrypt", file.to_str().expect("utf-8")])
            .output()
            .expect("sops runs");
        assert!(ok(&out, &format!("sops -d {kind:?}")).contains(SECRET));
        // And no other kind opens it.
        let other = if kind == Kind::Age {
            Kind::Kms
        } else {
            Kind::Age
        };
        let out = p
            .command(&peers::sops(), &[other])
            .args(["--decrypt", file.to_str().expect("utf-8")])
            .output()
            .expect("sops runs");
        assert!(!out.status.success(), "{kind:?} file opened with {other:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shamir_key_groups_across_key_types_work_both_ways_with_sops() {
    let p = KeyPeers::start().expect("the key peers start");
    let config = format!(
        "creation_rules:\n  - path_regex: \\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - pgp: [{}]\n      - kms:\n          - arn: {}\n            context: {{app: shop}}\n        hc_vault: [{}]\n",
        p.age_recipient, p.gpg.fingerprint, p.kms_arns[0], p.transit_uris[0]
    );
    std::fs::write(p.dir.path().join(".sops.yaml"), config).expect("write .sops.yaml");
    let all = [Kind::Age, Kind::Pgp, Kind::Kms, Kind::Transit];
    // sops encrypts; tether-seal decrypts with two groups of three (age + Transit), and
    // refuses with one.
    write_plain(&p, "by-sops.yaml");
    let out = p
        .command(&peers::sops(), &all)
        .args(["--encrypt", "by-sops.yaml"])
        .output()
        .expect("sops runs");
    std::fs::write(
        p.dir.path().join("by-sops.enc.yaml"),
        ok(&out, "sops shamir"),
    )
    .expect("write");
    let out = seal(
        &p,
        &[Kind::Age, Kind::Transit],
        &["decrypt", "by-sops.enc.yaml"],
    );
    assert!(ok(&out, "tether-seal shamir decrypt").contains(SECRET));
    let out = seal(&p, &[Kind::Age], &["decrypt", "by-sops.enc.yaml"]);
    assert_eq!(out.status.code(), Some(128), "{}", stderr(&out));
    assert!(stderr(&out).contains("2 needed"), "{}", stderr(&out));
    // The agent too: its age key and Transit credentials make two groups of three.
    let object =
        to_json(&std::fs::read_to_string(p.dir.path().join("by-sops.enc.yaml")).expect("read"));
    let mut ring = agent_ring(&p, Kind::Transit);
    ring.add_file(&p.age_key_file).expect("age key");
    let password = agent_decrypt(ring, &shop_app(allow_all(&p)), object.clone())
        .await
        .expect("the agent recovers the key from two groups");
    assert_eq!(password, SECRET);
    let err = agent_decrypt(agent_ring(&p, Kind::Age), &shop_app(allow_all(&p)), object)
        .await
        .expect_err("one group is not enough");
    assert!(err.contains("2 needed") && !err.contains(SECRET), "{err}");
    // tether-seal encrypts from the same rule; sops decrypts with two groups (PGP + KMS).
    write_plain(&p, "by-tether.yaml");
    let enc = ok(
        &seal(&p, &all, &["encrypt", "by-tether.yaml"]),
        "tether-seal shamir",
    );
    assert!(
        enc.contains("shamir_threshold: 2") && enc.contains("key_groups:"),
        "{enc}"
    );
    std::fs::write(p.dir.path().join("by-tether.enc.yaml"), &enc).expect("write");
    let out = p
        .command(&peers::sops(), &[Kind::Pgp, Kind::Kms])
        .args(["--decrypt", "by-tether.enc.yaml"])
        .output()
        .expect("sops runs");
    assert!(ok(&out, "sops -d of tether-seal's shamir file").contains(SECRET));
    let out = p
        .command(&peers::sops(), &[Kind::Pgp])
        .args(["--decrypt", "by-tether.enc.yaml"])
        .output()
        .expect("sops runs");
    assert!(!out.status.success(), "one group of three opened the file");
    // updatekeys to a rule with one KMS key: same values, sops opens it with KMS alone.
    std::fs::write(
        p.dir.path().join(".sops.yaml"),
        format!("creation_rules:\n  - kms: {}\n", p.kms_arns[1]),
    )
    .expect("write .sops.yaml");
    let out = seal(&p, &all, &["updatekeys", "-y", "by-tether.enc.yaml"]);
    ok(&out, "tether-seal updatekeys");
    assert!(stderr(&out).contains(&p.kms_arns[1]), "{}", stderr(&out));
    let out = p
        .command(&peers::sops(), &[Kind::Kms])
        .args(["--decrypt", "by-tether.enc.yaml"])
        .output()
        .expect("sops runs");
    assert!(ok(&out, "sops -d after updatekeys").contains(SECRET));
    // rotate: add a Transit key, remove the KMS key; a new data key, sops opens it with Transit.
    let out = seal(
        &p,
        &[Kind::Kms, Kind::Transit],
        &[
            "rotate",
            "-i",
            "--add-hc-vault-transit",
            &p.transit_uris[0],
            "--rm-kms",
            &p.kms_arns[1],
            "by-tether.enc.yaml",
        ],
    );
    ok(&out, "tether-seal rotate");
    let out = p
        .command(&peers::sops(), &[Kind::Transit])
        .args(["--decrypt", "by-tether.enc.yaml"])
        .output()
        .expect("sops runs");
    assert!(ok(&out, "sops -d after rotate").contains(SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_wrong_keys_keys_not_allowed_and_unreachable_kms_name_the_file_and_the_key() {
    let p = KeyPeers::start().expect("the key peers start");
    let plain = write_plain(&p, "secret.yaml");
    let enc = sops_encrypt_all(&p, &plain);
    let file = p.dir.path().join("secret.enc.yaml");
    std::fs::write(&file, &enc).expect("write");
    // No usable key: the message says which key types were tried, and names the file.
    let out = seal(&p, &[], &["decrypt", "secret.enc.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    let msg = stderr(&out);
    for needle in [
        "secret.enc.yaml",
        "age ",
        "pgp ",
        "kms ",
        "hc_vault ",
        &p.kms_arns[0],
    ] {
        assert!(msg.contains(needle), "{needle:?} missing: {msg}");
    }
    assert!(!msg.contains(SECRET));
    // The agent: a KMS key the app may not use is refused, naming the object and the key.
    let object = to_json(&enc);
    let deny_kms = KeyAllowConfig {
        aws_kms: vec!["arn:aws:kms:us-east-1:*:key/not-this-one".into()],
        ..Default::default()
    };
    let err = agent_decrypt(
        agent_ring(&p, Kind::Kms),
        &shop_app(deny_kms),
        object.clone(),
    )
    .await
    .expect_err("a key outside the allow-list is refused");
    assert!(
        err.contains("Secret shop/db")
            && err.contains(&p.kms_arns[0])
            && err.contains("may not use"),
        "{err}"
    );
    assert!(!err.contains(SECRET));
    // Another namespace's Transit key is refused the same way ({namespace} is shop).
    let bank_only = KeyAllowConfig {
        hc_vault: vec![format!("{}/v1/transit/keys/bank", p.bao.address)],
        ..Default::default()
    };
    let err = agent_decrypt(
        agent_ring(&p, Kind::Transit),
        &shop_app(bank_only),
        object.clone(),
    )
    .await
    .expect_err("refused");
    assert!(
        err.contains(&p.transit_uris[0]) && err.contains("may not use"),
        "{err}"
    );
    // Unreachable KMS: the error names the object and the key, no value.
    let mut ring = KeyRing::new();
    let config: KeysConfig =
        serde_json::from_value(json!({"kms": {"aws": {"endpoint": "http://127.0.0.1:9"}}}))
            .expect("config");
    ring.set_remote(&config).expect("set up");
    let err = agent_decrypt(ring, &shop_app(allow_all(&p)), object.clone())
        .await
        .expect_err("unreachable");
    assert!(
        err.contains("Secret shop/db") && err.contains(&p.kms_arns[0]),
        "{err}"
    );
    // The wrong Transit key: a file wrapped for `bank` cannot be opened through `shop`.
    let mut forged = object.clone();
    forged["sops"]["hc_vault"][0]["key_name"] = json!("bank");
    let allow = KeyAllowConfig {
        hc_vault: vec![format!("{}/v1/transit/keys/*", p.bao.address)],
        ..Default::default()
    };
    let err = agent_decrypt(agent_ring(&p, Kind::Transit), &shop_app(allow), forged)
        .await
        .expect_err("the wrong key fails");
    assert!(
        err.contains("transit/keys/bank") && !err.contains(SECRET),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_age_keys_work_both_ways_and_passphrase_protected_identities_are_refused() {
    let p = KeyPeers::start().expect("the key peers start");
    let plain = write_plain(&p, "secret.yaml");
    for (kind, bits) in [("ed25519", None), ("rsa", Some("2048"))] {
        let key = p.dir.path().join(format!("id_{kind}"));
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-t", kind, "-N", "", "-f"]).arg(&key);
        if let Some(b) = bits {
            cmd.args(["-b", b]);
        }
        ok(&cmd.output().expect("ssh-keygen runs"), "ssh-keygen");
        let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
        let public = public.trim();
        // sops encrypts for the SSH recipient; tether-seal decrypts with the SSH key.
        let out = p
            .command(&peers::sops(), &[])
            .args(["--encrypt", "--age", public])
            .arg(&plain)
            .output()
            .expect("sops runs");
        let file = p.dir.path().join(format!("ssh-{kind}.enc.yaml"));
        std::fs::write(&file, ok(&out, "sops --age ssh")).expect("write");
        let out = p
            .command(&bins::tether_seal(), &[])
            .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key)
            .args(["decrypt"])
            .arg(&file)
            .output()
            .expect("tether-seal runs");
        assert!(ok(&out, &format!("tether-seal decrypt ssh-{kind}")).contains(SECRET));
        // The agent decrypts it with the SSH key among its key files.
        let mut ring = KeyRing::new();
        ring.add_file(&key).expect("an SSH key file is accepted");
        let encrypted = std::fs::read_to_string(&file).expect("read");
        let password = agent_decrypt(ring, &shop_app(allow_all(&p)), to_json(&encrypted))
            .await
            .expect("the agent decrypts with its SSH key");
        assert_eq!(password, SECRET);
        // tether-seal encrypts for it; sops decrypts with the SSH key.
        let enc = ok(
            &seal(
                &p,
                &[],
                &["encrypt", "--age", public, plain.to_str().expect("utf-8")],
            ),
            "tether-seal encrypt ssh",
        );
        std::fs::write(&file, enc).expect("write");
        let out = p
            .command(&peers::sops(), &[])
            .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key)
            .args(["--decrypt"])
            .arg(&file)
            .output()
            .expect("sops runs");
        assert!(ok(&out, &format!("sops -d ssh-{kind}")).contains(SECRET));
        // With a passphrase, the key is refused with a clear error.
        ok(
            &Command::new("ssh-keygen")
                .args(["-q", "-p", "-P", "", "-N", "a passphrase", "-f"])
                .arg(&key)
                .output()
                .expect("ssh-keygen runs"),
            "ssh-keygen -p",
        );
        let out = p
            .command(&bins::tether_seal(), &[])
            .args(["decrypt", "--identity"])
            .arg(&key)
            .arg(&file)
            .output()
            .expect("tether-seal runs");
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("passphrase-protected"),
            "{}",
            stderr(&out)
        );
        let err = KeyRing::new()
            .add_file(&key)
            .expect_err("the agent refuses a passphrase-protected key")
            .to_string();
        assert!(
            err.contains("passphrase-protected") && err.contains("id_"),
            "{err}"
        );
    }
    // An age identity file encrypted with a passphrase is refused the same way.
    let protected = p.dir.path().join("protected.age");
    std::fs::write(
        &protected,
        "-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCg==\n-----END AGE ENCRYPTED FILE-----\n",
    )
    .expect("write");
    let out = seal(
        &p,
        &[],
        &["decrypt", "--identity", "protected.age", "ssh-rsa.enc.yaml"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("protected.age") && stderr(&out).contains("passphrase-protected"),
        "{}",
        stderr(&out)
    );
}
