//! The master-key flags of the SOPS subcommands (`--age`, `--pgp`, `--kms`,
//! `--hc-vault-transit`, ...), the encryption rule flags, the `rotate` add/remove flags, and
//! `updatekeys`.

use std::path::Path;
use tether_seal::sops::master::{KmsKey, VaultKey};
use tether_seal::sops::{self, KeyRef, Rule, config};

use super::sops_cmd::{Failure, fail};

/// The encryption rule flags (at most one).
#[derive(Debug, clap::Args)]
#[group(multiple = false)]
pub struct RuleArgs {
    /// Encrypt only keys matching this regex (e.g. '^(data|stringData)$').
    #[arg(long, value_name = "RE")]
    encrypted_regex: Option<String>,
    /// Leave keys matching this regex in clear.
    #[arg(long, value_name = "RE")]
    unencrypted_regex: Option<String>,
    /// Encrypt only keys with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    encrypted_suffix: Option<String>,
    /// Leave keys with this suffix in clear (default `_unencrypted`).
    #[arg(long, value_name = "SUFFIX")]
    unencrypted_suffix: Option<String>,
    /// Encrypt only values preceded by a comment matching this regex.
    #[arg(long, value_name = "RE")]
    encrypted_comment_regex: Option<String>,
    /// Leave values preceded by a comment matching this regex in clear.
    #[arg(long, value_name = "RE")]
    unencrypted_comment_regex: Option<String>,
}

/// The rule the flags give, if any.
pub(super) fn rule_from_args(r: &RuleArgs) -> Result<Option<Rule>, Failure> {
    let pairs = [
        ("encrypted_regex", &r.encrypted_regex),
        ("unencrypted_regex", &r.unencrypted_regex),
        ("encrypted_suffix", &r.encrypted_suffix),
        ("unencrypted_suffix", &r.unencrypted_suffix),
        ("encrypted_comment_regex", &r.encrypted_comment_regex),
        ("unencrypted_comment_regex", &r.unencrypted_comment_regex),
    ];
    for (k, v) in pairs {
        if let Some(v) = v {
            return Ok(Some(Rule::from_key(k, v)?));
        }
    }
    Ok(None)
}

/// The master keys of a new file (each a comma-separated list). Without any, the
/// `SOPS_AGE_RECIPIENTS`, `SOPS_PGP_FP`, `SOPS_KMS_ARN`, `SOPS_VAULT_URIS` variables, else the
/// `.sops.yaml` creation rule, give them.
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// age recipients: `age1...`, `ssh-ed25519 ...` or `ssh-rsa ...`.
    #[arg(long, value_name = "R1,R2")]
    pub age: Option<String>,
    /// PGP fingerprints (encrypted with GnuPG).
    #[arg(long, value_name = "FP1,FP2")]
    pub pgp: Option<String>,
    /// AWS KMS key ARNs, each optionally `+ROLE_ARN` to assume.
    #[arg(long, value_name = "ARN[+ROLE],...")]
    pub kms: Option<String>,
    /// The KMS encryption context, `key:value,key2:value2`.
    #[arg(long, value_name = "K:V,...")]
    pub encryption_context: Option<String>,
    /// The AWS profile for the KMS keys.
    #[arg(long, value_name = "NAME")]
    pub aws_profile: Option<String>,
    /// Vault / OpenBao Transit keys, `https://ADDRESS/v1/ENGINE/keys/NAME`.
    #[arg(long, value_name = "URI,...")]
    pub hc_vault_transit: Option<String>,
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

fn env_or(flag: &Option<String>, var: &str) -> Option<String> {
    flag.clone()
        .or_else(|| std::env::var(var).ok().filter(|v| !v.is_empty()))
}

/// Parses `key:value,key2:value2`.
pub fn parse_context(text: &str) -> Result<Vec<(String, String)>, Failure> {
    split_list(text)
        .into_iter()
        .map(|pair| {
            pair.split_once(':')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    fail(
                        2,
                        format!("--encryption-context: {pair:?} is not key:value"),
                    )
                })
        })
        .collect()
}

fn vault_keys(text: &str) -> Result<Vec<KeyRef>, Failure> {
    split_list(text)
        .iter()
        .map(|u| {
            VaultKey::from_uri(u)
                .map(KeyRef::HcVault)
                .map_err(|e| fail(2, e))
        })
        .collect()
}

fn kms_keys(text: &str, context: &[(String, String)], profile: &str) -> Vec<KeyRef> {
    split_list(text)
        .iter()
        .map(|a| {
            let mut k = KmsKey::from_arn(a, context.to_vec());
            k.aws_profile = profile.to_owned();
            KeyRef::Kms(k)
        })
        .collect()
}

impl KeyArgs {
    /// The encryption context given.
    pub fn context(&self) -> Result<Vec<(String, String)>, Failure> {
        self.encryption_context
            .as_deref()
            .map_or(Ok(Vec::new()), parse_context)
    }

    /// The keys given by flags or variables (one group), `None` when none is.
    pub fn keys(&self) -> Result<Option<Vec<KeyRef>>, Failure> {
        let context = self.context()?;
        let profile = self.aws_profile.clone().unwrap_or_default();
        let mut keys = Vec::new();
        if let Some(list) = env_or(&self.age, "SOPS_AGE_RECIPIENTS") {
            keys.extend(split_list(&list).into_iter().map(KeyRef::Age));
        }
        if let Some(list) = env_or(&self.pgp, "SOPS_PGP_FP") {
            keys.extend(split_list(&list).into_iter().map(KeyRef::Pgp));
        }
        if let Some(list) = env_or(&self.kms, "SOPS_KMS_ARN") {
            keys.extend(kms_keys(&list, &context, &profile));
        }
        if let Some(list) = env_or(&self.hc_vault_transit, "SOPS_VAULT_URIS") {
            keys.extend(vault_keys(&list)?);
        }
        Ok((!keys.is_empty()).then_some(keys))
    }
}

/// Keys to add to or remove from a file when rotating (each a comma-separated list).
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// age recipients to add.
    #[arg(long, value_name = "R1,R2")]
    add_age: Option<String>,
    /// age recipients to remove.
    #[arg(long, value_name = "R1,R2")]
    rm_age: Option<String>,
    /// PGP fingerprints to add.
    #[arg(long, value_name = "FP1,FP2")]
    add_pgp: Option<String>,
    /// PGP fingerprints to remove.
    #[arg(long, value_name = "FP1,FP2")]
    rm_pgp: Option<String>,
    /// AWS KMS ARNs to add (`ARN[+ROLE]`).
    #[arg(long, value_name = "ARN,...")]
    add_kms: Option<String>,
    /// AWS KMS ARNs to remove.
    #[arg(long, value_name = "ARN,...")]
    rm_kms: Option<String>,
    /// Transit key URIs to add.
    #[arg(long, value_name = "URI,...")]
    add_hc_vault_transit: Option<String>,
    /// Transit key URIs to remove.
    #[arg(long, value_name = "URI,...")]
    rm_hc_vault_transit: Option<String>,
}

impl RotateArgs {
    /// Whether any key is added or removed.
    pub fn changes(&self) -> bool {
        [
            &self.add_age,
            &self.rm_age,
            &self.add_pgp,
            &self.rm_pgp,
            &self.add_kms,
            &self.rm_kms,
            &self.add_hc_vault_transit,
            &self.rm_hc_vault_transit,
        ]
        .iter()
        .any(|o| o.is_some())
    }

    /// The file's key groups with the changes applied (added keys go to the first group).
    pub fn apply(&self, mut groups: Vec<Vec<KeyRef>>) -> Result<Vec<Vec<KeyRef>>, Failure> {
        if groups.is_empty() {
            groups.push(Vec::new());
        }
        let mut add = Vec::new();
        let mut gone = Vec::new();
        let list = |o: &Option<String>| o.as_deref().map(split_list).unwrap_or_default();
        add.extend(list(&self.add_age).into_iter().map(KeyRef::Age));
        add.extend(list(&self.add_pgp).into_iter().map(KeyRef::Pgp));
        add.extend(kms_keys(self.add_kms.as_deref().unwrap_or(""), &[], ""));
        add.extend(vault_keys(
            self.add_hc_vault_transit.as_deref().unwrap_or(""),
        )?);
        gone.extend(list(&self.rm_age));
        gone.extend(list(&self.rm_pgp));
        gone.extend(
            kms_keys(self.rm_kms.as_deref().unwrap_or(""), &[], "")
                .iter()
                .map(KeyRef::id),
        );
        gone.extend(
            vault_keys(self.rm_hc_vault_transit.as_deref().unwrap_or(""))?
                .iter()
                .map(KeyRef::id),
        );
        for k in add {
            if !groups[0].iter().any(|g| g.id() == k.id()) {
                groups[0].push(k);
            }
        }
        for g in &mut groups {
            g.retain(|k| !gone.contains(&k.id()));
        }
        Ok(groups)
    }
}

/// The key groups of a file's metadata, as key references.
pub fn file_groups(meta: &sops::Metadata) -> Vec<Vec<KeyRef>> {
    meta.key_groups
        .iter()
        .map(|g| g.keys.iter().map(|k| k.key.clone()).collect())
        .collect()
}

/// What `updatekeys` would change: the keys added and removed, as `KIND ID` lines.
pub fn key_changes(old: &[Vec<KeyRef>], new: &[Vec<KeyRef>]) -> (Vec<String>, Vec<String>) {
    let flat = |g: &[Vec<KeyRef>]| -> Vec<String> {
        g.iter()
            .enumerate()
            .flat_map(|(i, ks)| {
                ks.iter()
                    .map(move |k| format!("group {i}: {} {}", k.kind().field(), k.id()))
            })
            .collect()
    };
    let (o, n) = (flat(old), flat(new));
    let added = n.iter().filter(|k| !o.contains(k)).cloned().collect();
    let removed = o.iter().filter(|k| !n.contains(k)).cloned().collect();
    (added, removed)
}

/// The creation rule's key groups and threshold for `file` (an error when no `.sops.yaml`
/// applies).
pub fn rule_groups(
    file: &Path,
    context: &[(String, String)],
) -> Result<(Vec<Vec<KeyRef>>, usize), Failure> {
    let cfg = config::find_config(file)
        .ok_or_else(|| fail(1, format!("{}: no .sops.yaml found", file.display())))?;
    let settings = config::creation_settings(&cfg, file, context)
        .map_err(Failure::from)?
        .ok_or_else(|| fail(1, format!("{}: no creation_rules", cfg.display())))?;
    Ok((settings.key_groups, settings.shamir_threshold))
}
