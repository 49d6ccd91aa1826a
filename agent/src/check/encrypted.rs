//! Encrypted values, checked without any private key.
//!
//! SOPS-encrypted objects (a top-level `sops` map with a `mac`):
//! - every `ENC[...]` value is well-formed: `AES256_GCM`, base64 data, a 32-byte IV, a 16-byte
//!   tag and a known type; the MAC is such a value;
//! - in a Secret, every `data`/`stringData` value is encrypted;
//! - there is at least one master key; each age recipient (`sops.age[]`, or in
//!   `sops.key_groups`) is a valid `age1…` or SSH recipient whose `enc` is an armored age file;
//!   when recipients are configured and the file has age keys only, at least one of them is
//!   configured (otherwise the agent cannot decrypt it). PGP and KMS-type keys are checked
//!   when the agent decrypts.
//!
//! SealedSecrets (`tether.dev/v1alpha1`):
//! - the object matches the SealedSecret schema;
//! - every `encryptedData` value is base64 of a well-formed X25519 age file (its header
//!   parses). An age header does not name its recipients, so they cannot be compared from the
//!   ciphertext; when recipients are configured and the object carries a
//!   `tether.dev/recipients` annotation (comma- or space-separated), at least one of those
//!   must be configured. Whether a value opens, and for which scope, needs the private key:
//!   `tether-seal verify` does that.

use super::report::{Problem, Severity};
use crate::policy::ObjectRef;
use base64::Engine as _;
use serde_json::Value;

/// The annotation listing the recipients a SealedSecret was sealed for.
pub const RECIPIENTS_ANNOTATION: &str = "tether.dev/recipients";

/// The rule names of the problems this module reports.
pub mod rules {
    /// A SOPS-encrypted object is malformed or not decryptable by the agent.
    pub const SOPS: &str = "encryption.sops";
    /// A SealedSecret is malformed or sealed for no known recipient.
    pub const SEALED: &str = "encryption.sealed";
}

const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

struct Reporter<'a> {
    app: &'a str,
    file: Option<&'a str>,
    object: ObjectRef,
    rule: &'static str,
    problems: &'a mut Vec<Problem>,
}

impl Reporter<'_> {
    fn push(&mut self, severity: Severity, message: String) {
        self.problems.push(
            Problem::new(
                severity,
                self.app,
                self.file.map(str::to_owned),
                self.rule,
                message,
            )
            .with_object(self.object.clone()),
        );
    }
}

/// Whether an `ENC[...]` value is well-formed; `Err` says what is wrong.
pub fn check_enc_value(text: &str) -> Result<(), String> {
    let inner = text
        .strip_prefix("ENC[")
        .and_then(|t| t.strip_suffix(']'))
        .ok_or("not of the form ENC[...]")?;
    let mut fields = inner.split(',');
    if fields.next() != Some("AES256_GCM") {
        return Err("the cipher is not AES256_GCM".into());
    }
    let decode = |field: Option<&str>, name: &str| -> Result<Vec<u8>, String> {
        let value = field
            .and_then(|f| f.strip_prefix(name))
            .and_then(|f| f.strip_prefix(':'))
            .ok_or(format!("no {name} field"))?;
        base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| format!("{name} is not base64"))
    };
    decode(fields.next(), "data")?;
    if decode(fields.next(), "iv")?.len() != 32 {
        return Err("iv is not 32 bytes".into());
    }
    if decode(fields.next(), "tag")?.len() != 16 {
        return Err("tag is not 16 bytes".into());
    }
    match fields.next().and_then(|f| f.strip_prefix("type:")) {
        Some("str" | "int" | "float" | "bool" | "bytes" | "comment") => {}
        _ => return Err("type is not one of str, int, float, bool, bytes, comment".into()),
    }
    if fields.next().is_some() {
        return Err("extra fields".into());
    }
    Ok(())
}

fn walk_enc(path: &str, value: &Value, bad: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) if text.starts_with("ENC[") => {
            if let Err(reason) = check_enc_value(text) {
                bad.push((path.to_owned(), reason));
            }
        }
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk_enc(&child_path, child, bad);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                walk_enc(&format!("{path}[{index}]"), child, bad);
            }
        }
        _ => {}
    }
}

fn age_header_ok(reader: impl std::io::Read) -> Result<(), String> {
    match age::Decryptor::new(reader) {
        Ok(decryptor) if decryptor.is_scrypt() => Err("a passphrase-encrypted age file".into()),
        Ok(_) => Ok(()),
        Err(err) => Err(format!("not a valid age file: {err}")),
    }
}

/// Checks a SOPS-encrypted object (see the module docs). `known` are the configured recipients.
pub fn check_sops(
    app: &str,
    file: Option<&str>,
    object: &Value,
    known: &[String],
    problems: &mut Vec<Problem>,
) {
    let mut r = Reporter {
        app,
        file,
        object: ObjectRef::of(object),
        rule: rules::SOPS,
        problems,
    };
    let Some(sops) = object.get("sops") else {
        return;
    };
    check_sops_values(&mut r, object, sops);
    check_sops_age_keys(&mut r, sops, known);
}

/// The MAC and every value of a SOPS object: well-formed, and a Secret's data all encrypted.
fn check_sops_values(r: &mut Reporter<'_>, object: &Value, sops: &Value) {
    match sops.get("mac").and_then(Value::as_str).map(check_enc_value) {
        Some(Ok(())) => {}
        Some(Err(reason)) => r.push(Severity::Deny, format!("sops.mac: {reason}")),
        None => r.push(Severity::Deny, "sops.mac is missing".into()),
    }
    let mut bad = Vec::new();
    if let Some(map) = object.as_object() {
        for (key, value) in map.iter().filter(|(k, _)| k.as_str() != "sops") {
            walk_enc(key, value, &mut bad);
        }
    }
    for (path, reason) in bad {
        r.push(
            Severity::Deny,
            format!("{path}: malformed encrypted value: {reason}"),
        );
    }
    if crate::policy::input::is_secret(object) {
        for field in ["data", "stringData"] {
            for (key, value) in object
                .get(field)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if !value.as_str().is_some_and(|v| v.starts_with("ENC[")) {
                    r.push(Severity::Deny, format!("{field}.{key} is not encrypted"));
                }
            }
        }
    }
}

/// The age recipients of a SOPS object: valid, their headers well-formed, one configured.
fn check_sops_age_keys(r: &mut Reporter<'_>, sops: &Value, known: &[String]) {
    let mut keys: Vec<&Value> = sops
        .get("age")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    for group in sops
        .get("key_groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        keys.extend(
            group
                .get("age")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
    }
    if keys.is_empty() {
        // PGP, KMS, Transit, GCP and Azure keys are checked when the agent decrypts (its
        // credentials and the app's keyAllow), not here.
        if !has_other_master_keys(sops) {
            r.push(
                Severity::Deny,
                "sops: no master key (age, pgp, kms, hc_vault, gcp_kms or azure_kv)".into(),
            );
        }
        return;
    }
    let mut recipients = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let recipient = key
            .get("recipient")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim();
        if recipient.starts_with("ssh-") {
            // An SSH recipient (sops accepts ssh-ed25519 and ssh-rsa).
            if tether_seal::sops::keys::parse_recipient(recipient).is_err() {
                r.push(
                    Severity::Deny,
                    format!("sops age key {index}: invalid SSH recipient"),
                );
            }
        } else if let Err(err) = tether_seal::keys::Recipient::parse(recipient, "sops.age") {
            r.push(Severity::Deny, format!("sops age key {index}: {err}"));
        }
        let enc = key.get("enc").and_then(Value::as_str).unwrap_or_default();
        let reader = age::armor::ArmoredReader::new(enc.as_bytes());
        if let Err(reason) = age_header_ok(reader) {
            r.push(
                Severity::Deny,
                format!("sops age key {index} ({recipient}): enc is {reason}"),
            );
        }
        recipients.push(recipient.to_owned());
    }
    if !known.is_empty()
        && !has_other_master_keys(sops)
        && !recipients.iter().any(|rcpt| known.contains(rcpt))
    {
        r.push(
            Severity::Deny,
            format!(
                "sops: encrypted for {} but none of the configured recipients",
                recipients.join(", ")
            ),
        );
    }
}

/// Checks a SealedSecret (see the module docs). `known` are the configured recipients.
pub fn check_sealed(
    app: &str,
    file: Option<&str>,
    object: &Value,
    known: &[String],
    problems: &mut Vec<Problem>,
) {
    let mut r = Reporter {
        app,
        file,
        object: ObjectRef::of(object),
        rule: rules::SEALED,
        problems,
    };
    let sealed: tether_seal::sealed::SealedSecret = match serde_json::from_value(object.clone()) {
        Ok(sealed) => sealed,
        Err(err) => {
            r.push(Severity::Deny, format!("not a valid SealedSecret: {err}"));
            return;
        }
    };
    if sealed.spec.encrypted_data.is_empty() {
        r.push(Severity::Warn, "spec.encryptedData is empty".into());
    }
    for (key, value) in &sealed.spec.encrypted_data {
        let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) else {
            r.push(
                Severity::Deny,
                format!("spec.encryptedData.{key} is not base64"),
            );
            continue;
        };
        if !bytes.starts_with(AGE_MAGIC) {
            r.push(
                Severity::Deny,
                format!("spec.encryptedData.{key} is not an age file"),
            );
            continue;
        }
        if let Err(reason) = age_header_ok(&bytes[..]) {
            r.push(
                Severity::Deny,
                format!("spec.encryptedData.{key} is {reason}"),
            );
        }
    }
    if let Some(listed) = sealed.metadata.annotations.get(RECIPIENTS_ANNOTATION) {
        let listed: Vec<&str> = listed
            .split([',', ' ', '\n'])
            .filter(|s| !s.is_empty())
            .collect();
        for recipient in &listed {
            if let Err(err) = tether_seal::keys::Recipient::parse(recipient, RECIPIENTS_ANNOTATION)
            {
                r.push(
                    Severity::Deny,
                    format!("annotation {RECIPIENTS_ANNOTATION}: {err}"),
                );
            }
        }
        if !known.is_empty() && !listed.iter().any(|rcpt| known.iter().any(|k| k == rcpt)) {
            r.push(
                Severity::Deny,
                format!(
                    "sealed for {} but none of the configured recipients",
                    listed.join(", ")
                ),
            );
        }
    }
}

/// Whether the sops metadata names master keys other than age, at the top or in a group.
fn has_other_master_keys(sops: &Value) -> bool {
    const KINDS: [&str; 5] = ["pgp", "kms", "hc_vault", "gcp_kms", "azure_kv"];
    let non_empty = |v: &Value| {
        KINDS.iter().any(|k| {
            v.get(k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        })
    };
    non_empty(sops)
        || sops
            .get("key_groups")
            .and_then(Value::as_array)
            .is_some_and(|groups| groups.iter().any(non_empty))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IV: &str = "4Lo0NCRg41JAnteUiYvjDpHXLvAn2uyeRaaX79JCnPY=";
    const TAG: &str = "agV4jQ6IVRxkMQ+3iSBaFg==";

    #[test]
    fn a_file_with_kms_pgp_or_transit_keys_and_no_age_key_is_not_refused() {
        let enc = format!("ENC[AES256_GCM,data:AAAA,iv:{IV},tag:{TAG},type:str]");
        let with = |keys: Value| {
            let mut sops = json!({"mac": enc, "lastmodified": "2024-01-01T00:00:00Z"});
            if let (Some(m), Some(k)) = (sops.as_object_mut(), keys.as_object()) {
                m.extend(k.clone());
            }
            let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "sops": sops});
            let mut problems = Vec::new();
            check_sops(
                "app",
                None,
                &object,
                &["age1known".to_owned()],
                &mut problems,
            );
            problems.len()
        };
        assert_eq!(
            with(json!({"kms": [{"arn": "arn:aws:kms:us-east-1:1:key/k", "enc": "x"}]})),
            0
        );
        assert_eq!(
            with(json!({"key_groups": [{"hc_vault": [{"key_name": "k"}], "age": []}]})),
            0
        );
        assert_eq!(with(json!({})), 1, "no master key at all is refused");
    }

    #[test]
    fn well_formed_enc_values_pass_and_each_defect_is_named() {
        assert_eq!(
            check_enc_value(&format!(
                "ENC[AES256_GCM,data:Z+eUzA==,iv:{IV},tag:{TAG},type:str]"
            )),
            Ok(())
        );
        assert_eq!(
            check_enc_value(&format!("ENC[AES256_GCM,data:,iv:{IV},tag:{TAG},type:str]")),
            Ok(())
        );
        assert_eq!(
            check_enc_value(&format!(
                "ENC[AES256_GCM,data:Z+eUzA==,iv:AAAA,tag:{TAG},type:str]"
            )),
            Err("iv is not 32 bytes".into())
        );
        assert_eq!(
            check_enc_value(&format!(
                "ENC[AES256_GCM,data:Z+eUzA==,iv:{IV},tag:{TAG},type:weird]"
            )),
            Err("type is not one of str, int, float, bool, bytes, comment".into())
        );
        assert!(check_enc_value("ENC[AES256_GCM,data:@@,iv:x,tag:y,type:str]").is_err());
    }
}
