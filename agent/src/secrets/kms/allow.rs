//! Which remote master keys an app's SOPS files may use: glob patterns over the key's name
//! as sops prints it (the KMS ARN, `https://ADDRESS/v1/ENGINE/keys/NAME` for Transit, the GCP
//! resource id, `VAULT_URL/keys/NAME/VERSION` for Azure). `*` stays within a `/` segment, `**`
//! crosses them; `{namespace}` and `{app}` stand for the app's namespace and name. Without a
//! pattern for a kind, no app may use a key of that kind. age and PGP keys are the agent's
//! own and need no entry.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use tether_seal::sops::KeyKind;

/// The key allow-list as configured (per app generator, or the agent's default).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyAllowConfig {
    /// AWS KMS key ARN patterns.
    #[serde(default)]
    pub aws_kms: Vec<String>,
    /// Transit key URL patterns (`https://vault:8200/v1/transit/keys/{namespace}`).
    #[serde(default)]
    pub hc_vault: Vec<String>,
    /// GCP KMS resource id patterns.
    #[serde(default)]
    pub gcp_kms: Vec<String>,
    /// Azure Key Vault key URL patterns.
    #[serde(default)]
    pub azure_kv: Vec<String>,
}

/// The compiled key allow-list of one app.
#[derive(Debug, Clone)]
pub struct KeyAllowList {
    sets: Vec<(KeyKind, GlobSet, Vec<String>)>,
}

impl Default for KeyAllowList {
    fn default() -> Self {
        Self::deny_all()
    }
}

impl KeyAllowList {
    /// Compiles `config` for the app `app` deploying to `namespace`; `Err` names the pattern.
    pub fn new(config: &KeyAllowConfig, app: &str, namespace: &str) -> Result<Self, String> {
        let mut sets = Vec::new();
        for (kind, field, patterns) in [
            (KeyKind::Kms, "awsKms", &config.aws_kms),
            (KeyKind::HcVault, "hcVault", &config.hc_vault),
            (KeyKind::GcpKms, "gcpKms", &config.gcp_kms),
            (KeyKind::AzureKv, "azureKv", &config.azure_kv),
        ] {
            let filled: Vec<String> = patterns
                .iter()
                .map(|p| p.replace("{namespace}", namespace).replace("{app}", app))
                .collect();
            let mut set = GlobSetBuilder::new();
            for p in &filled {
                let glob = GlobBuilder::new(p)
                    .literal_separator(true)
                    .backslash_escape(false)
                    .build()
                    .map_err(|e| format!("keyAllow.{field}: pattern {p:?} is invalid: {e}"))?;
                set.add(glob);
            }
            let set = set.build().map_err(|e| format!("keyAllow.{field}: {e}"))?;
            sets.push((kind, set, filled));
        }
        Ok(Self { sets })
    }

    /// An allow-list that lets no remote key through.
    #[must_use]
    pub fn deny_all() -> Self {
        Self { sets: Vec::new() }
    }

    /// Checks a key of `kind` named `id`; `Err` says why it is refused.
    pub fn check(&self, kind: KeyKind, id: &str) -> Result<(), String> {
        if matches!(kind, KeyKind::Age | KeyKind::Pgp) {
            return Ok(());
        }
        let entry = self.sets.iter().find(|(k, _, _)| *k == kind);
        match entry {
            Some((_, set, _)) if set.is_match(id) => Ok(()),
            Some((_, _, patterns)) if !patterns.is_empty() => Err(format!(
                "the app may not use {} key {id} (keyAllow: {})",
                kind.field(),
                patterns.join(", ")
            )),
            _ => Err(format!(
                "the app may not use {} key {id} (no keyAllow pattern for {} keys)",
                kind.field(),
                kind.field()
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn patterns_with_placeholders_select_keys_per_app() {
        let config = KeyAllowConfig {
            aws_kms: vec!["arn:aws:kms:us-east-1:111122223333:key/*".into()],
            hc_vault: vec!["http://127.0.0.1:8200/v1/transit/keys/{namespace}-*".into()],
            ..Default::default()
        };
        let allow = KeyAllowList::new(&config, "shop-app", "shop").unwrap();
        assert!(
            allow
                .check(KeyKind::Kms, "arn:aws:kms:us-east-1:111122223333:key/abc")
                .is_ok()
        );
        assert!(
            allow
                .check(KeyKind::Kms, "arn:aws:kms:us-east-1:999999999999:key/abc")
                .is_err()
        );
        assert!(
            allow
                .check(
                    KeyKind::HcVault,
                    "http://127.0.0.1:8200/v1/transit/keys/shop-db"
                )
                .is_ok()
        );
        let err = allow
            .check(
                KeyKind::HcVault,
                "http://127.0.0.1:8200/v1/transit/keys/bank-db",
            )
            .unwrap_err();
        assert!(err.contains("bank-db"), "{err}");
        assert!(allow.check(KeyKind::GcpKms, "projects/p").is_err());
        assert!(allow.check(KeyKind::Age, "age1x").is_ok());
        assert!(KeyAllowList::deny_all().check(KeyKind::Kms, "arn").is_err());
    }
}
