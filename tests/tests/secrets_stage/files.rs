//! SOPS files and sealed Secrets made by the real tools.

use super::*;

#[tokio::test]
async fn sops_objects_and_data_entries_made_by_real_sops_decrypt_and_tampering_or_leftovers_are_refused()
 {
    use base64::Engine as _;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let identity = Identity::generate();
    let recipient = identity.recipient().to_string();
    let mut keys = KeyRing::new();
    keys.push(identity).expect("a valid key");
    let ctx = context(keys, Stores::new(Arc::new(StaticCredentials::new())));

    let secret = yaml(&sops_encrypt(
        "db-secret.yaml",
        &recipient,
        Some("^(data|stringData)$"),
        dir.path(),
    ));
    let config = yaml(&sops_encrypt(
        "app-config.yaml",
        &recipient,
        Some("^data$"),
        dir.path(),
    ));
    let settings = sops_encrypt("settings.yaml", &recipient, None, dir.path());
    let generated = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "settings", "namespace": "shop"},
        "data": {"settings.yaml": base64::engine::general_purpose::STANDARD.encode(settings.as_bytes())}});
    let mut tampered = secret.clone();
    tampered["metadata"]["name"] = json!("tampered");
    let enc = tampered["stringData"]["password"]
        .as_str()
        .expect("encrypted")
        .to_owned();
    let flipped = enc.replacen("data:", "data:A", 1);
    tampered["stringData"]["password"] = json!(flipped);
    let mut stripped = secret.clone();
    stripped["metadata"]["name"] = json!("stripped");
    stripped.as_object_mut().expect("a map").remove("sops");
    let mut opted_out = config.clone();
    opted_out["metadata"]["name"] = json!("opted-out");
    opted_out["metadata"]["annotations"] = json!({"tether.dev/decrypt": "disabled"});

    let out = secrets::resolve(
        &shop(),
        vec![secret, config, generated, tampered, stripped, opted_out],
        &ctx,
    )
    .await;
    assert_eq!(text(&out, "db", "password"), "sops-db-password-7f3a");
    assert_eq!(text(&out, "db", "username"), "shop-app");
    let settings = text(&out, "settings", "settings.yaml");
    assert!(
        settings.contains("api_key: sops-settings-key-91c2"),
        "{settings}"
    );
    assert!(!settings.contains("ENC["));
    let plain_config = out
        .desired
        .iter()
        .find_map(|d| match d {
            Desired::Plain(v) if v["metadata"]["name"] == "app-config" => Some(v.clone()),
            _ => None,
        })
        .expect("the decrypted ConfigMap");
    assert_eq!(
        plain_config["data"]["endpoint"],
        "https://sops-config.shop.internal"
    );
    assert!(plain_config.get("sops").is_none());
    let reasons: Vec<(&str, &str)> = out
        .failures
        .iter()
        .map(|f| (f.object.as_str(), f.error.reason()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("Secret shop/tampered", "DecryptFailed"),
            ("Secret shop/stripped", "DecryptFailed"),
            ("ConfigMap shop/opted-out", "DecryptFailed"),
        ],
        "{}",
        out.message()
    );
    assert!(
        out.failures[1]
            .error
            .to_string()
            .contains("still encrypted"),
        "{}",
        out.failures[1].error
    );
    assert!(
        out.failures[2]
            .error
            .to_string()
            .contains("tether.dev/decrypt"),
        "{}",
        out.failures[2].error
    );
    assert_eq!(out.desired.len(), 3);
}

#[tokio::test]
async fn sealed_secrets_unseal_where_they_are_applied_and_a_scope_violation_is_refused() {
    let identity = Identity::generate();
    let mut plain = UnsealedSecret::new("db").with_namespace("shop");
    plain.insert("password", Zeroizing::new(b"sealed-pass-3e1d".to_vec()));
    let sealed = seal::seal(&plain, &[identity.recipient()], Scope::Strict).expect("seals");
    let mut manifest: Value = serde_json::from_str(&sealed.to_json().expect("JSON")).expect("JSON");
    // Rendered without a namespace: the app's target namespace applies.
    manifest["metadata"]
        .as_object_mut()
        .expect("a map")
        .remove("namespace");
    let mut keys = KeyRing::new();
    keys.push(identity).expect("a valid key");
    let ctx = context(keys, Stores::new(Arc::new(StaticCredentials::new())));

    let out = secrets::resolve(&shop(), vec![manifest.clone()], &ctx).await;
    assert!(out.failures.is_empty(), "{}", out.message());
    assert_eq!(text(&out, "db", "password"), "sealed-pass-3e1d");
    assert_eq!(
        out.desired.len(),
        1,
        "only the Secret, never the SealedSecret"
    );

    let bank = AppContext::new("bank", "bank").expect("allow-list");
    let out = secrets::resolve(&bank, vec![manifest.clone()], &ctx).await;
    assert!(out.desired.is_empty());
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].error.reason(), "DecryptFailed");
    assert!(
        out.failures[0].error.to_string().contains("was sealed for"),
        "{}",
        out.failures[0].error
    );
    assert!(!out.prune_allowed());

    // A key the agent does not hold: refused too.
    let stranger = context(
        {
            let mut k = KeyRing::new();
            k.push(Identity::generate()).expect("a key");
            k
        },
        Stores::new(Arc::new(StaticCredentials::new())),
    );
    let out = secrets::resolve(&shop(), vec![manifest], &stranger).await;
    assert_eq!(out.failures.len(), 1);
    assert!(
        out.failures[0].error.to_string().contains("not sealed for"),
        "{}",
        out.failures[0].error
    );
}
