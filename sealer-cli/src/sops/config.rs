//! `.sops.yaml` creation rules: which recipients, key groups and encryption rule a new file
//! gets. The file is searched upward from the target file's folder (then from the working
//! folder, where sops looks); the first rule whose `path_regex` matches the file's path
//! relative to the config file's folder applies (a rule without `path_regex` matches all).

use serde::Deserialize;
use std::path::{Path, PathBuf};

use super::Error;
use super::master::{AzureKey, KeyRef, KmsKey, VaultKey};
use super::rules::Rule;

const MAX_DEPTH: usize = 100;

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConfigFile {
    creation_rules: Option<Vec<CreationRule>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<String> {
        let items: Vec<&str> = match self {
            OneOrMany::One(s) => s.split(',').collect(),
            OneOrMany::Many(v) => v.iter().flat_map(|s| s.split(',')).collect(),
        };
        items
            .into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyGroupConfig {
    age: Vec<String>,
    pgp: Vec<String>,
    kms: Vec<KmsConfig>,
    gcp_kms: Vec<GcpKmsConfig>,
    azure_keyvault: Vec<AzureConfig>,
    hc_vault: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KmsConfig {
    arn: String,
    role: String,
    context: indexmap::IndexMap<String, String>,
    aws_profile: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GcpKmsConfig {
    resource_id: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AzureConfig {
    #[serde(rename = "vaultUrl")]
    vault_url: String,
    key: String,
    version: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreationRule {
    path_regex: String,
    age: Option<OneOrMany>,
    pgp: Option<OneOrMany>,
    kms: Option<OneOrMany>,
    aws_profile: String,
    gcp_kms: Option<OneOrMany>,
    azure_keyvault: Option<OneOrMany>,
    hc_vault_transit_uri: Option<OneOrMany>,
    key_groups: Vec<KeyGroupConfig>,
    shamir_threshold: usize,
    unencrypted_suffix: String,
    encrypted_suffix: String,
    unencrypted_regex: String,
    encrypted_regex: String,
    unencrypted_comment_regex: String,
    encrypted_comment_regex: String,
    mac_only_encrypted: bool,
}

/// What a creation rule says about a new file.
pub struct CreationSettings {
    /// Master keys per key group.
    pub key_groups: Vec<Vec<KeyRef>>,
    /// The Shamir threshold (0: all groups).
    pub shamir_threshold: usize,
    /// The encryption rule, when the creation rule sets one.
    pub rule: Option<Rule>,
    /// Whether the MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
}

/// Finds the nearest `.sops.yaml` (or `.sops.yml`) from the file's folder upward, then from
/// the working folder upward.
pub fn find_config(file: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(file).ok()?;
    let mut starts = vec![abs.parent()?.to_path_buf()];
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    for start in starts {
        let mut dir = Some(start.as_path());
        for _ in 0..MAX_DEPTH {
            let Some(d) = dir else { break };
            for name in [".sops.yaml", ".sops.yml"] {
                let candidate = d.join(name);
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
            dir = d.parent();
        }
    }
    None
}

/// Reads the creation rule for `file` from the config file at `config`. `Ok(None)` when the
/// config has no `creation_rules`. `kms_context` is the encryption context given on the
/// command line, for the rule's top-level `kms` keys.
pub fn creation_settings(
    config: &Path,
    file: &Path,
    kms_context: &[(String, String)],
) -> Result<Option<CreationSettings>, Error> {
    let cfg_err = |reason: String| Error::Config {
        file: config.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(config).map_err(|e| cfg_err(e.to_string()))?;
    let parsed: ConfigFile = serde_saphyr::from_str(&text).map_err(|e| cfg_err(e.to_string()))?;
    let Some(rules) = parsed.creation_rules else {
        return Ok(None);
    };
    let dir = std::path::absolute(config)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let rel = abs.strip_prefix(&dir).map(Path::to_path_buf).unwrap_or(abs);
    let rel = rel.to_string_lossy();
    let mut chosen = None;
    for (i, r) in rules.iter().enumerate() {
        if r.path_regex.is_empty() {
            chosen = Some(r);
            break;
        }
        let re = regex::Regex::new(&r.path_regex)
            .map_err(|e| cfg_err(format!("creation_rules[{i}].path_regex: {e}")))?;
        if re.is_match(&rel) {
            chosen = Some(r);
            break;
        }
    }
    let Some(r) = chosen else {
        return Err(cfg_err(format!(
            "no matching creation rules found for {rel}"
        )));
    };
    let key_groups = if !r.key_groups.is_empty() {
        r.key_groups
            .iter()
            .enumerate()
            .map(|(i, g)| group_keys(g).map_err(|e| cfg_err(format!("key_groups[{i}]: {e}"))))
            .collect::<Result<_, _>>()?
    } else {
        vec![rule_keys(r, kms_context).map_err(cfg_err)?]
    };
    let pairs = [
        ("unencrypted_suffix", r.unencrypted_suffix.as_str()),
        ("encrypted_suffix", r.encrypted_suffix.as_str()),
        ("unencrypted_regex", r.unencrypted_regex.as_str()),
        ("encrypted_regex", r.encrypted_regex.as_str()),
        (
            "unencrypted_comment_regex",
            r.unencrypted_comment_regex.as_str(),
        ),
        (
            "encrypted_comment_regex",
            r.encrypted_comment_regex.as_str(),
        ),
    ];
    let any_rule = pairs.iter().any(|(_, v)| !v.is_empty());
    let rule = if any_rule {
        Some(Rule::from_pairs(pairs).map_err(|e| cfg_err(e.to_string()))?)
    } else {
        None
    };
    Ok(Some(CreationSettings {
        key_groups,
        shamir_threshold: r.shamir_threshold,
        rule,
        mac_only_encrypted: r.mac_only_encrypted,
    }))
}

fn list(v: &Option<OneOrMany>) -> Vec<String> {
    v.as_ref().map(OneOrMany::list).unwrap_or_default()
}

/// The keys of a rule without `key_groups`, in sops' order (age, pgp, kms, gcp, azure, vault).
fn rule_keys(r: &CreationRule, kms_context: &[(String, String)]) -> Result<Vec<KeyRef>, String> {
    let mut keys: Vec<KeyRef> = list(&r.age).into_iter().map(KeyRef::Age).collect();
    keys.extend(list(&r.pgp).into_iter().map(KeyRef::Pgp));
    keys.extend(list(&r.kms).into_iter().map(|a| {
        let mut k = KmsKey::from_arn(&a, kms_context.to_vec());
        k.aws_profile = r.aws_profile.clone();
        KeyRef::Kms(k)
    }));
    keys.extend(list(&r.gcp_kms).into_iter().map(KeyRef::GcpKms));
    for url in list(&r.azure_keyvault) {
        keys.push(KeyRef::AzureKv(azure_from_url(&url)?));
    }
    for uri in list(&r.hc_vault_transit_uri) {
        keys.push(KeyRef::HcVault(VaultKey::from_uri(&uri)?));
    }
    Ok(keys)
}

fn group_keys(g: &KeyGroupConfig) -> Result<Vec<KeyRef>, String> {
    let mut keys: Vec<KeyRef> = OneOrMany::Many(g.age.clone())
        .list()
        .into_iter()
        .map(KeyRef::Age)
        .collect();
    keys.extend(g.pgp.iter().map(|fp| KeyRef::Pgp(fp.trim().to_owned())));
    for k in &g.kms {
        keys.push(KeyRef::Kms(KmsKey {
            arn: k.arn.clone(),
            role: k.role.clone(),
            context: k
                .context
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect(),
            aws_profile: k.aws_profile.clone(),
        }));
    }
    keys.extend(
        g.gcp_kms
            .iter()
            .map(|k| KeyRef::GcpKms(k.resource_id.clone())),
    );
    keys.extend(g.azure_keyvault.iter().map(|k| {
        KeyRef::AzureKv(AzureKey {
            vault_url: k.vault_url.clone(),
            name: k.key.clone(),
            version: k.version.clone(),
        })
    }));
    for uri in &g.hc_vault {
        keys.push(KeyRef::HcVault(VaultKey::from_uri(uri)?));
    }
    Ok(keys)
}

/// Parses `https://VAULT.vault.azure.net/keys/NAME/VERSION`.
pub fn azure_from_url(url: &str) -> Result<AzureKey, String> {
    let (vault, rest) = url.split_once("/keys/").ok_or_else(|| {
        format!("{url:?} is not an Azure Key Vault key URL (.../keys/NAME/VERSION)")
    })?;
    let (name, version) = rest.split_once('/').unwrap_or((rest, ""));
    if name.is_empty() {
        return Err(format!("{url:?} names no key"));
    }
    Ok(AzureKey {
        vault_url: vault.to_owned(),
        name: name.to_owned(),
        version: version.trim_end_matches('/').to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(groups: &[Vec<KeyRef>]) -> Vec<Vec<String>> {
        groups
            .iter()
            .map(|g| g.iter().map(KeyRef::id).collect())
            .collect()
    }

    #[test]
    fn key_groups_of_every_kind_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join(".sops.yaml");
        std::fs::write(
            &cfg,
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [age1a]\n        pgp: [FP1]\n      - kms:\n          - arn: arn:aws:kms:us-east-1:1:key/k\n            context: {app: shop}\n        hc_vault: [http://127.0.0.1:8200/v1/transit/keys/k1]\n      - gcp_kms: [{resource_id: projects/p/locations/l/keyRings/r/cryptoKeys/k}]\n        azure_keyvault: [{vaultUrl: https://v.vault.azure.net, key: k, version: v1}]\n",
        )
        .expect("write");
        let s = creation_settings(&cfg, &dir.path().join("x.yaml"), &[])
            .expect("reads")
            .expect("a rule");
        assert_eq!(s.shamir_threshold, 2);
        assert_eq!(
            ids(&s.key_groups),
            vec![
                vec!["age1a", "FP1"],
                vec![
                    "arn:aws:kms:us-east-1:1:key/k",
                    "http://127.0.0.1:8200/v1/transit/keys/k1"
                ],
                vec![
                    "projects/p/locations/l/keyRings/r/cryptoKeys/k",
                    "https://v.vault.azure.net/keys/k/v1"
                ],
            ]
        );
    }

    #[test]
    fn the_first_matching_creation_rule_applies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join(".sops.yaml");
        std::fs::write(
            &cfg,
            "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    encrypted_regex: ^data$\n    age: age1a,age1b\n  - age: age1c\n",
        )
        .expect("write");
        let s = creation_settings(&cfg, &dir.path().join("secrets/x.yaml"), &[])
            .expect("reads")
            .expect("a rule");
        assert_eq!(ids(&s.key_groups), vec![vec!["age1a", "age1b"]]);
        assert!(matches!(s.rule, Some(Rule::EncryptedRegex(..))));
        let s = creation_settings(&cfg, &dir.path().join("other.json"), &[])
            .expect("reads")
            .expect("a rule");
        assert_eq!(ids(&s.key_groups), vec![vec!["age1c"]]);
        assert_eq!(
            find_config(&dir.path().join("secrets/x.yaml")).as_deref(),
            Some(cfg.as_path())
        );
    }
}
