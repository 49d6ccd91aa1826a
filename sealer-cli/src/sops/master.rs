//! The master keys of a sops file, one type per kind as sops' metadata stores them: `age`,
//! `pgp`, `kms`, `hc_vault`, `gcp_kms`, `azure_kv` (and any other kind, such as `hckms`, kept
//! verbatim). Each is read from and written to the metadata with sops 3.11's field order, so
//! a file sops wrote is written back byte for byte.
//!
//! A master key holds its wrapped data key (`enc`); wrapping and unwrapping are done by a
//! [`super::keys::KeyService`], so that this library stays free of cloud SDKs.

use super::Error;
use super::time::Timestamp;
use super::tree::{Branch, Node};
use super::value::Scalar;

/// The kinds of master key, in the order sops writes them in a key group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    /// OpenPGP (GnuPG) keys.
    Pgp,
    /// AWS KMS keys.
    Kms,
    /// Google Cloud KMS keys.
    GcpKms,
    /// Huawei Cloud KMS keys (kept verbatim, never used).
    HcKms,
    /// Azure Key Vault keys.
    AzureKv,
    /// HashiCorp Vault / OpenBao Transit keys.
    HcVault,
    /// age recipients (X25519 or SSH).
    Age,
}

impl KeyKind {
    /// Every kind, in sops' group order.
    pub const ALL: [KeyKind; 7] = [
        KeyKind::Pgp,
        KeyKind::Kms,
        KeyKind::GcpKms,
        KeyKind::HcKms,
        KeyKind::AzureKv,
        KeyKind::HcVault,
        KeyKind::Age,
    ];

    /// The metadata field (`age`, `pgp`, `kms`, `hc_vault`, `gcp_kms`, `azure_kv`, `hckms`).
    pub fn field(self) -> &'static str {
        match self {
            KeyKind::Pgp => "pgp",
            KeyKind::Kms => "kms",
            KeyKind::GcpKms => "gcp_kms",
            KeyKind::HcKms => "hckms",
            KeyKind::AzureKv => "azure_kv",
            KeyKind::HcVault => "hc_vault",
            KeyKind::Age => "age",
        }
    }

    /// The kind of a metadata field.
    pub fn from_field(field: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.field() == field)
    }
}

/// An AWS KMS key entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KmsKey {
    /// The key's ARN (a key or an alias).
    pub arn: String,
    /// A role to assume before calling KMS (empty: none).
    pub role: String,
    /// The encryption context, in the file's order.
    pub context: Vec<(String, String)>,
    /// The AWS profile sops used (empty: the default).
    pub aws_profile: String,
}

impl KmsKey {
    /// Parses `ARN[+ROLE_ARN]` as sops' `--kms` flag does (spaces removed).
    pub fn from_arn(text: &str, context: Vec<(String, String)>) -> Self {
        let text: String = text.chars().filter(|c| *c != ' ').collect();
        let (arn, role) = match text.find("+arn:aws:iam::") {
            Some(i) => (text[..i].to_owned(), text[i + 1..].to_owned()),
            None => (text, String::new()),
        };
        KmsKey {
            arn,
            role,
            context,
            aws_profile: String::new(),
        }
    }

    /// The region named by the ARN (`arn:aws:kms:REGION:...`).
    pub fn region(&self) -> Option<&str> {
        let mut parts = self.arn.splitn(5, ':');
        let (Some("arn"), Some(_), Some("kms"), Some(region)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        (!region.is_empty()).then_some(region)
    }
}

/// A HashiCorp Vault / OpenBao Transit key entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaultKey {
    /// The server, `https://vault.example.com:8200`.
    pub vault_address: String,
    /// The Transit engine's mount path (`transit`).
    pub engine_path: String,
    /// The key's name.
    pub key_name: String,
}

impl VaultKey {
    /// Parses `https://ADDRESS/v1/ENGINE/keys/NAME` as sops' `--hc-vault-transit` flag does.
    pub fn from_uri(uri: &str) -> Result<Self, String> {
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| {
            format!("{uri:?} has no scheme (https://ADDRESS/v1/ENGINE/keys/NAME)")
        })?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let dirs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let n = dirs.len();
        if n < 4 || dirs[0] != "v1" || dirs[n - 2] != "keys" || dirs.iter().any(|d| d.is_empty()) {
            return Err(format!(
                "{uri:?} is not a Transit key URL (https://ADDRESS/v1/ENGINE/keys/NAME)"
            ));
        }
        Ok(VaultKey {
            vault_address: format!("{scheme}://{host}"),
            engine_path: dirs[1..n - 2].join("/"),
            key_name: dirs[n - 1].to_owned(),
        })
    }
}

/// An Azure Key Vault key entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AzureKey {
    /// The vault, `https://NAME.vault.azure.net`.
    pub vault_url: String,
    /// The key's name.
    pub name: String,
    /// The key's version.
    pub version: String,
}

/// An entry of a kind this library does not use, kept as it was read.
pub struct Verbatim(pub Node);

impl Clone for Verbatim {
    fn clone(&self) -> Self {
        Verbatim(self.0.duplicate())
    }
}

impl std::fmt::Debug for Verbatim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verbatim(..)")
    }
}

/// What a master key is, without its wrapped data key.
#[derive(Clone, Debug)]
pub enum KeyRef {
    /// An age recipient (`age1...`, `ssh-ed25519 ...`, `ssh-rsa ...`).
    Age(String),
    /// An OpenPGP key fingerprint.
    Pgp(String),
    /// An AWS KMS key.
    Kms(KmsKey),
    /// A Vault / OpenBao Transit key.
    HcVault(VaultKey),
    /// A Google Cloud KMS key (`projects/.../cryptoKeys/NAME`).
    GcpKms(String),
    /// An Azure Key Vault key.
    AzureKv(AzureKey),
    /// Another kind, kept verbatim (never used to decrypt).
    Other(KeyKind, Verbatim),
}

impl KeyRef {
    /// The kind.
    pub fn kind(&self) -> KeyKind {
        match self {
            KeyRef::Age(_) => KeyKind::Age,
            KeyRef::Pgp(_) => KeyKind::Pgp,
            KeyRef::Kms(_) => KeyKind::Kms,
            KeyRef::HcVault(_) => KeyKind::HcVault,
            KeyRef::GcpKms(_) => KeyKind::GcpKms,
            KeyRef::AzureKv(_) => KeyKind::AzureKv,
            KeyRef::Other(k, _) => *k,
        }
    }

    /// The key's name as sops prints it: the recipient, fingerprint, ARN (`+ROLE`), Transit
    /// URL, resource id, or `VAULT_URL/keys/NAME/VERSION`.
    pub fn id(&self) -> String {
        match self {
            KeyRef::Age(r) | KeyRef::Pgp(r) | KeyRef::GcpKms(r) => r.clone(),
            KeyRef::Kms(k) if k.role.is_empty() => k.arn.clone(),
            KeyRef::Kms(k) => format!("{}+{}", k.arn, k.role),
            KeyRef::HcVault(v) => format!(
                "{}/v1/{}/keys/{}",
                v.vault_address, v.engine_path, v.key_name
            ),
            KeyRef::AzureKv(a) => format!("{}/keys/{}/{}", a.vault_url, a.name, a.version),
            KeyRef::Other(k, _) => format!("({} key)", k.field()),
        }
    }
}

/// One master key of a key group and the data key (or Shamir share) wrapped for it.
#[derive(Clone, Debug)]
pub struct MasterKey {
    /// Which key.
    pub key: KeyRef,
    /// When the data key was wrapped (RFC 3339; empty for age, which stores none).
    pub created_at: String,
    /// The wrapped data key.
    pub enc: String,
}

impl MasterKey {
    /// A key with nothing wrapped yet.
    pub fn new(key: KeyRef) -> Self {
        MasterKey {
            key,
            created_at: String::new(),
            enc: String::new(),
        }
    }

    /// Stores a freshly wrapped data key, stamping `created_at` with the current time.
    pub fn set_wrapped(&mut self, enc: String) {
        self.enc = enc;
        if self.key.kind() != KeyKind::Age {
            self.created_at = rfc3339_now();
        }
    }

    /// The kind.
    pub fn kind(&self) -> KeyKind {
        self.key.kind()
    }

    /// The key's name (see [`KeyRef::id`]).
    pub fn id(&self) -> String {
        self.key.id()
    }
}

/// The current UTC time as Go's `time.RFC3339` writes it (no fraction).
fn rfc3339_now() -> String {
    let nano = Timestamp::now_utc().to_rfc3339_nano();
    match (nano.find('.'), nano.rfind('Z')) {
        (Some(dot), Some(z)) if z > dot => format!("{}Z", &nano[..dot]),
        _ => nano,
    }
}

fn malformed(field: &str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        file: String::new(),
        path: format!("sops.{field}"),
        reason: reason.into(),
    }
}

fn text_of(node: &Node) -> Option<String> {
    match node {
        Node::Scalar(Scalar::Str(s) | Scalar::Time(s)) => s.expose_str().map(str::to_owned),
        Node::Scalar(Scalar::Int(i)) => Some(i.to_string()),
        Node::Scalar(Scalar::Bool(b)) => Some(b.to_string()),
        Node::Scalar(Scalar::Null) => Some(String::new()),
        _ => None,
    }
}

/// Reads the entries of one key field (`age: [...]`, `kms: [...]`, ...).
pub fn parse_entries(kind: KeyKind, node: &Node, field: &str) -> Result<Vec<MasterKey>, Error> {
    let items = match node {
        Node::Seq(items) => items,
        Node::Scalar(Scalar::Null) => return Ok(Vec::new()),
        _ => return Err(malformed(field, "not a list")),
    };
    let mut keys = Vec::new();
    for item in items {
        match item {
            Node::Comment(_) => {}
            Node::Map(b) => keys.push(parse_entry(kind, b, field)?),
            _ => return Err(malformed(field, "an entry that is not a mapping")),
        }
    }
    Ok(keys)
}

fn parse_entry(kind: KeyKind, b: &Branch, field: &str) -> Result<MasterKey, Error> {
    let get = |k: &str| b.get(k).and_then(text_of).unwrap_or_default();
    let need = |k: &str| {
        b.get(k)
            .and_then(text_of)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| malformed(field, format!("an entry without {k}")))
    };
    let key = match kind {
        KeyKind::Age => KeyRef::Age(need("recipient")?),
        KeyKind::Pgp => KeyRef::Pgp(need("fp")?),
        KeyKind::Kms => {
            let context = match b.get("context") {
                None | Some(Node::Scalar(Scalar::Null)) => Vec::new(),
                Some(Node::Map(c)) => c
                    .entries()
                    .map(|(k, v)| {
                        text_of(v)
                            .map(|v| (k.to_owned(), v))
                            .ok_or_else(|| malformed(field, format!("context.{k} is not a string")))
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(malformed(field, "context is not a mapping")),
            };
            KeyRef::Kms(KmsKey {
                arn: need("arn")?,
                role: get("role"),
                context,
                aws_profile: get("aws_profile"),
            })
        }
        KeyKind::HcVault => KeyRef::HcVault(VaultKey {
            vault_address: need("vault_address")?,
            engine_path: need("engine_path")?,
            key_name: need("key_name")?,
        }),
        KeyKind::GcpKms => KeyRef::GcpKms(need("resource_id")?),
        KeyKind::AzureKv => KeyRef::AzureKv(AzureKey {
            vault_url: need("vault_url")?,
            name: need("name")?,
            version: get("version"),
        }),
        KeyKind::HcKms => KeyRef::Other(kind, Verbatim(Node::Map(b.duplicate()))),
    };
    Ok(MasterKey {
        key,
        created_at: get("created_at"),
        enc: get("enc"),
    })
}

/// Writes one entry in sops 3.11's field order.
pub fn entry_node(k: &MasterKey) -> Node {
    let mut b = Branch::new();
    let created = |b: &mut Branch| b.push("created_at", Node::text(&k.created_at));
    match &k.key {
        KeyRef::Age(r) => {
            b.push("recipient", Node::text(r));
            b.push("enc", Node::text(&k.enc));
        }
        KeyRef::Pgp(fp) => {
            created(&mut b);
            b.push("enc", Node::text(&k.enc));
            b.push("fp", Node::text(fp));
        }
        KeyRef::Kms(m) => {
            b.push("arn", Node::text(&m.arn));
            if !m.role.is_empty() {
                b.push("role", Node::text(&m.role));
            }
            if !m.context.is_empty() {
                let mut c = Branch::new();
                for (ck, cv) in &m.context {
                    c.push(ck, Node::text(cv));
                }
                b.push("context", Node::Map(c));
            }
            created(&mut b);
            b.push("enc", Node::text(&k.enc));
            b.push("aws_profile", Node::text(&m.aws_profile));
        }
        KeyRef::HcVault(v) => {
            b.push("vault_address", Node::text(&v.vault_address));
            b.push("engine_path", Node::text(&v.engine_path));
            b.push("key_name", Node::text(&v.key_name));
            created(&mut b);
            b.push("enc", Node::text(&k.enc));
        }
        KeyRef::GcpKms(id) => {
            b.push("resource_id", Node::text(id));
            created(&mut b);
            b.push("enc", Node::text(&k.enc));
        }
        KeyRef::AzureKv(a) => {
            b.push("vault_url", Node::text(&a.vault_url));
            b.push("name", Node::text(&a.name));
            b.push("version", Node::text(&a.version));
            created(&mut b);
            b.push("enc", Node::text(&k.enc));
        }
        KeyRef::Other(_, node) => return node.0.duplicate(),
    }
    Node::Map(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_arn_with_a_role_splits_like_sops() {
        let k = KmsKey::from_arn(
            "arn:aws:kms:eu-west-1:111122223333:key/abc+arn:aws:iam::111122223333:role/sops",
            vec![],
        );
        assert_eq!(k.arn, "arn:aws:kms:eu-west-1:111122223333:key/abc");
        assert_eq!(k.role, "arn:aws:iam::111122223333:role/sops");
        assert_eq!(k.region(), Some("eu-west-1"));
    }

    #[test]
    fn transit_urls_split_into_address_engine_and_key() {
        let v = VaultKey::from_uri("https://vault.example.com:8200/v1/team/transit/keys/k1")
            .expect("parses");
        assert_eq!(v.vault_address, "https://vault.example.com:8200");
        assert_eq!(v.engine_path, "team/transit");
        assert_eq!(v.key_name, "k1");
        assert_eq!(
            KeyRef::HcVault(v).id(),
            "https://vault.example.com:8200/v1/team/transit/keys/k1"
        );
        assert!(VaultKey::from_uri("vault.example.com/v1/transit/keys/k").is_err());
        assert!(VaultKey::from_uri("https://vault.example.com/transit/k").is_err());
    }
}
