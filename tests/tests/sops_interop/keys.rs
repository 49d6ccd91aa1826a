//! Several recipients, Shamir key groups, and tampered files.

use super::*;

#[test]
fn several_recipients_each_decrypt_in_both_tools() {
    let lab = Lab::new(2);
    lab.fixture("secret.yaml");
    let both = format!("{},{}", lab.recipient(0), lab.recipient(1));
    let ours = ok(
        lab.seal(None, &["encrypt", "--age", &both, "secret.yaml"]),
        "encrypt",
    );
    std::fs::write(lab.path("ours.yaml"), &ours).expect("write");
    let theirs = ok(
        lab.sops(None, &["--encrypt", "--age", &both, "secret.yaml"]),
        "sops --encrypt",
    );
    std::fs::write(lab.path("theirs.yaml"), &theirs).expect("write");
    let expected = ok(lab.sops(Some(0), &["--decrypt", "theirs.yaml"]), "sops -d");
    for k in 0..2 {
        assert_eq!(
            text(&ok(
                lab.sops(Some(k), &["--decrypt", "ours.yaml"]),
                "sops -d ours"
            )),
            text(&expected)
        );
        assert_eq!(
            text(&ok(
                lab.seal(Some(k), &["decrypt", "theirs.yaml"]),
                "decrypt theirs"
            )),
            text(&expected)
        );
    }
}

#[test]
fn shamir_key_groups_made_by_sops_decrypt_with_a_threshold_of_groups() {
    let lab = Lab::new(3);
    let config = format!(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - age: [{}]\n      - age: [{}]\n",
        lab.recipient(0),
        lab.recipient(1),
        lab.recipient(2)
    );
    lab.write(".sops.yaml", config.as_bytes());
    lab.fixture("multi.yaml");
    let enc = ok(
        lab.sops(None, &["--encrypt", "multi.yaml"]),
        "sops --encrypt with key groups",
    );
    assert!(text(&enc).contains("shamir_threshold: 2"));
    std::fs::write(lab.path("groups.yaml"), &enc).expect("write");
    let both = format!(
        "{}\n{}",
        std::fs::read_to_string(lab.key_file(0)).expect("k0"),
        std::fs::read_to_string(lab.key_file(2)).expect("k2")
    );
    let both_path = lab.write("k02.txt", both.as_bytes());
    let mut sops = peers::sops_command();
    let expected = ok(
        sops.current_dir(lab.dir.path())
            .env("SOPS_AGE_KEY_FILE", &both_path)
            .args(["--decrypt", "groups.yaml"])
            .output()
            .expect("sops"),
        "sops -d with groups 0 and 2",
    );
    let got = ok(
        lab.seal_cmd()
            .args(["decrypt", "--identity"])
            .arg(lab.key_file(0))
            .arg("--identity")
            .arg(lab.key_file(2))
            .arg("groups.yaml")
            .output()
            .expect("runs"),
        "tether-seal decrypt with two groups",
    );
    assert_eq!(text(&got), text(&expected));
    // One group alone is below the threshold.
    let one = lab.seal(Some(1), &["decrypt", "groups.yaml"]);
    assert_eq!(one.status.code(), Some(128), "{}", text(&one.stderr));
    assert!(text(&one.stderr).contains("groups.yaml"));
}

#[test]
fn tampering_gives_sops_exit_codes_and_messages_without_plaintext() {
    let lab = Lab::new(2);
    lab.fixture("secret.yaml");
    let enc = text(&ok(
        lab.sops(
            None,
            &[
                "--encrypt",
                "--age",
                lab.recipient(0),
                "--encrypted-regex",
                "^(data|stringData)$",
                "secret.yaml",
            ],
        ),
        "sops --encrypt",
    ));
    let secrets = ["admin", "s3cr3t-p4ss", "dG9rZW4tdmFsdWU="];
    let check = |name: &str, content: &str, key: usize, code: i32, needle: &str| {
        std::fs::write(lab.path(name), content).expect("write");
        let out = lab.seal(Some(key), &["decrypt", name]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{name}: {err}");
        assert!(
            err.contains(name),
            "{name}: the message names the file: {err}"
        );
        assert!(
            err.contains(needle),
            "{name}: the message names {needle}: {err}"
        );
        for s in secrets {
            assert!(
                !err.contains(s) && !text(&out.stdout).contains(s),
                "{name}: plaintext leaked"
            );
        }
    };
    // An edited clear value: MAC mismatch (51).
    check(
        "clear-edited.yaml",
        &enc.replace("name: db", "name: dc"),
        0,
        51,
        "MAC mismatch",
    );
    // A changed ciphertext byte: authentication failure (25) at the key path.
    let re = Regex::new(r"password: ENC\[AES256_GCM,data:(.)").expect("regex");
    let flipped = re
        .replace(&enc, |c: &regex::Captures| {
            let ch = if &c[1] == "A" { "B" } else { "A" };
            format!("password: ENC[AES256_GCM,data:{ch}")
        })
        .into_owned();
    check("byte-changed.yaml", &flipped, 0, 25, "stringData.password");
    // Two values swapped: the AAD binds each value to its key path (25).
    let user = Regex::new(r"username: (ENC\[[^\]]*\])")
        .expect("regex")
        .captures(&enc)
        .expect("username")[1]
        .to_owned();
    let pass = Regex::new(r"password: (ENC\[[^\]]*\])")
        .expect("regex")
        .captures(&enc)
        .expect("password")[1]
        .to_owned();
    let swapped = enc
        .replace(&user, "@U@")
        .replace(&pass, &user)
        .replace("@U@", &pass);
    check("swapped.yaml", &swapped, 0, 25, "stringData.");
    // An identity that is not a recipient (128).
    check("other-key.yaml", &enc, 1, 128, lab.recipient(0));
}
