//! `plan --offline` on the bundled example and configuration errors: no cluster needed.

use super::support::{agent, fixture, root};

/// The example's plaintexts: they must never be printed.
const EXAMPLE_PLAINTEXTS: [&str; 2] = [
    "example-production-password-do-not-use",
    "example-staging-password-do-not-use",
];

/// The sealed token of the example, unsealed with the example key through the library.
fn example_sealed_token() -> String {
    use base64::Engine as _;
    use tether_agent::secrets::{
        self, AppContext, Desired, KeyRing, SecretsContext, StaticCredentials, Stores,
    };
    let mut keys = KeyRing::new();
    keys.add_file(&root().join("examples/keys/example.agekey"))
        .expect("the example key");
    let text = std::fs::read_to_string(
        root().join("examples/apps/shop/overlays/production/api-token.sealed.yaml"),
    )
    .expect("read the SealedSecret");
    let object: serde_json::Value = serde_saphyr::from_str(&text).expect("parse the SealedSecret");
    let ctx = SecretsContext {
        keys: std::sync::Arc::new(keys),
        stores: std::sync::Arc::new(Stores::new(std::sync::Arc::new(StaticCredentials::new()))),
    };
    let app = AppContext::new("shop-production", "shop-production").expect("allow-list");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let out = runtime.block_on(secrets::resolve(&app, vec![object], &ctx));
    let json = match out.desired.first() {
        Some(Desired::Secret(s)) => s.to_apply_json(),
        _ => panic!("the SealedSecret did not unseal: {}", out.message()),
    };
    let value: serde_json::Value = serde_json::from_str(&json).expect("apply JSON");
    let token = value["data"]["token"].as_str().expect("token");
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(token)
            .expect("base64"),
    )
    .expect("UTF-8")
}

#[test]
fn plan_offline_shows_the_example_apps_with_secrets_redacted_and_policy_results() {
    let out = agent(&["plan", "--config", "examples/tether.yaml", "--offline"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "plan failed: {stderr}\n{stdout}");
    for expected in [
        "app shop-production (apps/shop/overlays/production -> namespace shop-production)",
        "app shop-staging (apps/shop/overlays/staging -> namespace shop-staging)",
        "Secret shop-production/db-credentials (sops):",
        "Secret shop-staging/db-credentials (sops):",
        "Secret shop-production/api-token (sealed):",
        "+ create Deployment shop-production/shop",
        "+ create PersistentVolumeClaim shop-production/shop-uploads",
        "unresolved: ExternalSecret shop-production/payment-keys (store ClusterSecretStore vault): offline",
        "policy: passed",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    for key in [
        "password: <redacted hmac:",
        "username: <redacted hmac:",
        "token: <redacted hmac:",
    ] {
        assert!(stdout.contains(key), "missing {key:?} in:\n{stdout}");
    }
    let token = example_sealed_token();
    assert!(token.len() >= 8, "the example token is a real value");
    for secret in EXAMPLE_PLAINTEXTS.iter().copied().chain([token.as_str()]) {
        assert!(!stdout.contains(secret), "a plaintext leaked into the plan");
        assert!(!stderr.contains(secret), "a plaintext leaked into the log");
    }
    // The ExternalSecret's target is not planned: its store was not contacted.
    assert!(
        !stdout.contains("create Secret shop-production/payment-keys"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("    Secret shop-production/payment-keys ("),
        "{stdout}"
    );
}

#[test]
fn plan_offline_as_json_carries_no_plaintext_either() {
    let out = agent(&[
        "plan",
        "--config",
        "examples/tether.yaml",
        "--offline",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plans: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let apps: Vec<&str> = plans
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|p| p["app"].as_str())
        .collect();
    assert_eq!(apps, ["shop-production", "shop-staging"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for secret in EXAMPLE_PLAINTEXTS {
        assert!(
            !text.contains(secret),
            "a plaintext leaked into the JSON plan"
        );
    }
}

#[test]
fn plan_offline_reports_a_policy_denial_and_exits_1() {
    let config = fixture("denied/tether.yaml");
    let out = agent(&[
        "plan",
        "--config",
        config.to_str().expect("UTF-8 path"),
        "--offline",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("app bad (apps/bad -> namespace bad)"),
        "{stdout}"
    );
    assert!(stdout.contains("policy: denied"), "{stdout}");
    assert!(
        stdout.contains("deny: Pod web: tether.host_access.deny: spec: hostNetwork"),
        "{stdout}"
    );
}

#[test]
fn fail_config_with_an_unknown_field_names_the_field_and_line() {
    let config = fixture("unknown-field.yaml");
    let out = agent(&["run", "--config", config.to_str().expect("UTF-8 path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown-field.yaml"), "{stderr}");
    assert!(stderr.contains("intervall"), "{stderr}");
    assert!(stderr.contains("line 5"), "{stderr}");
}

#[test]
fn fail_config_with_a_bad_duration_names_the_value() {
    let config = fixture("bad-duration.yaml");
    let out = agent(&[
        "plan",
        "--config",
        config.to_str().expect("UTF-8 path"),
        "--offline",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid duration \"5 minutes\""),
        "{stderr}"
    );
    assert!(stderr.contains("line 5"), "{stderr}");
}

/// The mark `plan --offline` shows for the production password.
fn production_password_mark() -> String {
    let out = agent(&["plan", "--config", "examples/tether.yaml", "--offline"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    let section = stdout
        .split("Secret shop-production/db-credentials (sops):")
        .nth(1)
        .unwrap_or_else(|| panic!("no production Secret in:\n{stdout}"));
    let line = section
        .lines()
        .find(|l| l.trim_start().starts_with("password: "))
        .unwrap_or_else(|| panic!("no password line in:\n{stdout}"));
    line.trim_start()["password: ".len()..].trim().to_owned()
}

#[test]
fn plan_offline_marks_are_keyed_per_run_and_never_a_plain_hash() {
    use sha2::Digest as _;
    let first = production_password_mark();
    let second = production_password_mark();
    assert!(first.starts_with("<redacted hmac:"), "{first}");
    assert_ne!(
        first, second,
        "without the installation's key, each run draws its own"
    );
    let plain = hex::encode(&sha2::Sha256::digest(EXAMPLE_PLAINTEXTS[0].as_bytes())[..4]);
    assert!(!first.contains(&plain) && !second.contains(&plain));
}
