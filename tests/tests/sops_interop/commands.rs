//! edit, rotate, creation rules, set, filestatus and extract.

use super::*;

#[test]
fn edit_changes_one_value_and_keeps_the_other_ciphertexts() {
    let lab = Lab::new(1);
    lab.fixture("secret.yaml");
    let enc = ok(
        lab.sops(
            None,
            &["--encrypt", "--age", lab.recipient(0), "secret.yaml"],
        ),
        "sops --encrypt",
    );
    std::fs::write(lab.path("edit.yaml"), &enc).expect("write");
    let script = lab.write(
        "editor.sh",
        b"#!/bin/sh\nsed -i 's/s3cr3t-p4ss/n3w-p4ss/' \"$1\"\n",
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let out = lab
        .seal_cmd()
        .env("EDITOR", &script)
        .args(["edit", "--identity"])
        .arg(lab.key_file(0))
        .arg("edit.yaml")
        .output()
        .expect("runs");
    ok(out, "tether-seal edit");
    let after = std::fs::read_to_string(lab.path("edit.yaml")).expect("read");
    let before = text(&enc);
    let line = |s: &str, key: &str| {
        s.lines()
            .find(|l| l.trim_start().starts_with(key))
            .map(str::to_owned)
    };
    assert_eq!(
        line(&after, "username:"),
        line(&before, "username:"),
        "unchanged value kept its ciphertext"
    );
    assert_eq!(line(&after, "token:"), line(&before, "token:"));
    assert_ne!(line(&after, "password:"), line(&before, "password:"));
    let dec = text(&ok(
        lab.sops(Some(0), &["--decrypt", "edit.yaml"]),
        "sops -d after edit",
    ));
    assert!(dec.contains("password: n3w-p4ss") && dec.contains("username: admin"));
}

#[test]
fn rotate_changes_the_data_key_and_sops_still_decrypts() {
    let lab = Lab::new(2);
    lab.fixture("secret.yaml");
    let enc = ok(
        lab.sops(
            None,
            &["--encrypt", "--age", lab.recipient(0), "secret.yaml"],
        ),
        "sops --encrypt",
    );
    std::fs::write(lab.path("rot.yaml"), &enc).expect("write");
    let expected = ok(lab.sops(Some(0), &["--decrypt", "rot.yaml"]), "sops -d");
    ok(
        lab.seal(
            Some(0),
            &["rotate", "-i", "--add-age", lab.recipient(1), "rot.yaml"],
        ),
        "rotate",
    );
    let rotated = std::fs::read_to_string(lab.path("rot.yaml")).expect("read");
    let first_value = |s: &str| {
        Regex::new(r"ENC\[[^\]]*\]")
            .expect("regex")
            .find(s)
            .map(|m| m.as_str().to_owned())
    };
    assert_ne!(
        first_value(&rotated),
        first_value(&text(&enc)),
        "values are re-encrypted under a new key"
    );
    for k in 0..2 {
        assert_eq!(
            text(&ok(
                lab.sops(Some(k), &["--decrypt", "rot.yaml"]),
                "sops -d rotated"
            )),
            text(&expected)
        );
    }
}

#[test]
fn creation_rules_in_sops_yaml_are_used_by_encrypt() {
    let lab = Lab::new(1);
    std::fs::create_dir_all(lab.path("secrets")).expect("mkdir");
    let config = format!(
        "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {}\n",
        lab.recipient(0)
    );
    lab.write(".sops.yaml", config.as_bytes());
    std::fs::copy(
        peers::workspace_root().join("tests/fixtures/sops/secret.yaml"),
        lab.path("secrets/s.yaml"),
    )
    .expect("copy");
    let ours = text(&ok(
        lab.seal(None, &["encrypt", "secrets/s.yaml"]),
        "encrypt with .sops.yaml",
    ));
    assert!(
        ours.contains("encrypted_regex: ^(data|stringData)$") && ours.contains("name: db"),
        "{ours}"
    );
    assert!(ours.contains(lab.recipient(0)));
    std::fs::write(lab.path("secrets/s.enc.yaml"), &ours).expect("write");
    let dec = text(&ok(
        lab.sops(Some(0), &["--decrypt", "secrets/s.enc.yaml"]),
        "sops -d",
    ));
    assert!(dec.contains("password: s3cr3t-p4ss"));
}

#[test]
fn set_and_filestatus_and_extract_behave_like_sops() {
    let lab = Lab::new(1);
    lab.fixture("secret.yaml");
    let enc = ok(
        lab.sops(
            None,
            &["--encrypt", "--age", lab.recipient(0), "secret.yaml"],
        ),
        "sops --encrypt",
    );
    std::fs::write(lab.path("s.yaml"), &enc).expect("write");
    assert_eq!(
        text(&ok(lab.seal(None, &["filestatus", "s.yaml"]), "filestatus")),
        "{\"encrypted\":true}\n"
    );
    assert_eq!(
        text(&ok(
            lab.seal(None, &["filestatus", "secret.yaml"]),
            "filestatus"
        )),
        "{\"encrypted\":false}\n"
    );
    ok(
        lab.seal(
            Some(0),
            &[
                "set",
                "s.yaml",
                r#"["stringData"]["password"]"#,
                r#""changed""#,
            ],
        ),
        "set",
    );
    let extracted = ok(
        lab.sops(
            Some(0),
            &[
                "--decrypt",
                "--extract",
                r#"["stringData"]["password"]"#,
                "s.yaml",
            ],
        ),
        "sops extract",
    );
    assert_eq!(text(&extracted), "changed");
    let ours = ok(
        lab.seal(
            Some(0),
            &[
                "decrypt",
                "--extract",
                r#"["stringData"]["password"]"#,
                "s.yaml",
            ],
        ),
        "extract",
    );
    assert_eq!(text(&ours), "changed");
    let again = lab.seal(None, &["encrypt", "--age", lab.recipient(0), "s.yaml"]);
    assert_eq!(
        again.status.code(),
        Some(203),
        "an encrypted file is not encrypted twice"
    );
}
