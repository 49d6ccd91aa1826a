//! The SOPS file format, compatible with the `sops` tool (3.11), for every master-key kind sops
//! writes (age, PGP, AWS KMS, Vault Transit, GCP KMS, Azure Key Vault).
//!
//! Written by hand because no maintained crate reads and writes it faithfully. Layout:
//! - [`value`]: plaintext secrets, typed scalars, the `ENC[AES256_GCM,...]` format;
//! - [`tree`]: the ordered document tree with comments;
//! - [`rules`]: which values are encrypted (the six rule keys);
//! - [`mac`] (crate-internal walk): encryption, decryption and the MAC;
//! - [`metadata`]: the `sops` block; [`master`]: the typed master keys; [`keys`]: the data
//!   key and the [`keys::KeyService`] that wraps it; [`identities`]: age; [`shamir`];
//! - stores: [`yaml`] + [`yaml_emit`], [`json`] (also binary), [`dotenv`];
//! - [`config`]: `.sops.yaml` creation rules.
//!
//! ```no_run
//! use tether_seal::sops::{self, Format, keys::Identities};
//! let bytes = std::fs::read("secret.enc.yaml")?;
//! let ids = Identities::from_environment()?;
//! let file = sops::parse_encrypted(&bytes, Format::Yaml)?;
//! let plain = file.decrypt(&ids)?;
//! let yaml = plain.to_bytes(Format::Yaml)?; // what `sops -d` prints
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod config;
pub mod dotenv;
pub mod gostrconv;
pub mod identities;
pub mod json;
pub mod keys;
mod mac;
pub mod master;
pub mod metadata;
pub mod remote;
pub mod rules;
pub mod shamir;
pub mod time;
pub mod tree;
pub mod value;
pub mod yaml;
pub mod yaml_emit;
mod yaml_style;

mod error;
#[cfg(test)]
mod proptests;

pub use error::Error;

use std::path::Path;
use zeroize::Zeroizing;

pub use keys::{Identities, KeyService};
pub use master::{KeyKind, KeyRef, MasterKey};
pub use metadata::Metadata;
pub use rules::Rule;
pub use tree::{Branch, MapItem, Node, PathStep, Tree};
pub use value::{Scalar, Secret};

/// A file format (a sops "store").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML, one or more documents.
    Yaml,
    /// A JSON object.
    Json,
    /// `KEY=value` lines.
    Dotenv,
    /// Any bytes (stored as JSON).
    Binary,
}

impl Format {
    /// The format sops picks by file extension: `.yaml`/`.yml`, `.json`, `.env`, else binary.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            _ => Format::Binary,
        }
    }

    /// Parses a format name (`yaml`, `json`, `dotenv`, `binary`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "dotenv" | "env" => Some(Format::Dotenv),
            "binary" => Some(Format::Binary),
            _ => None,
        }
    }
}

/// An encrypted file: the tree with its `ENC[...]` values, and the metadata.
pub struct EncryptedFile {
    /// The documents, values encrypted as the rule says.
    pub tree: Tree,
    /// The `sops` metadata.
    pub metadata: Metadata,
}

/// A decrypted file: the plaintext tree, plus what is needed to re-encrypt it with the same
/// data key and the same IVs for unchanged values.
pub struct Decrypted {
    /// The plaintext documents.
    pub tree: Tree,
    /// The metadata the file had.
    pub metadata: Metadata,
    key: Zeroizing<[u8; 32]>,
    stash: mac::IvStash,
}

fn utf8(bytes: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|e| Error::Malformed {
        file: String::new(),
        path: format!("byte {}", e.valid_up_to()),
        reason: "not UTF-8 text".into(),
    })
}

/// Parses a plaintext file into a tree.
pub fn parse_plain(bytes: &[u8], format: Format) -> Result<Tree, Error> {
    Ok(match format {
        Format::Yaml => Tree {
            documents: yaml::parse(utf8(bytes)?)?,
        },
        Format::Json => Tree::single(json::parse(bytes)?),
        Format::Dotenv => Tree::single(dotenv::parse(bytes)?),
        Format::Binary => Tree::single(json::binary_tree(bytes)),
    })
}

fn take_metadata(doc: &mut Branch) -> Option<Node> {
    doc.remove("sops")
}

/// Parses an encrypted file (tree and metadata) without decrypting it.
pub fn parse_encrypted(bytes: &[u8], format: Format) -> Result<EncryptedFile, Error> {
    let (documents, md) = match format {
        Format::Yaml => {
            let mut docs = yaml::parse(utf8(bytes)?)?;
            let md = docs.first_mut().and_then(take_metadata);
            for d in docs.iter_mut().skip(1) {
                take_metadata(d);
            }
            (docs, md)
        }
        Format::Json | Format::Binary => {
            let mut doc = json::parse(bytes)?;
            let md = take_metadata(&mut doc);
            (vec![doc], md)
        }
        Format::Dotenv => {
            let (doc, md) = dotenv::split_metadata(dotenv::parse(bytes)?);
            let md = if md.items.is_empty() {
                None
            } else {
                Some(Node::Map(md))
            };
            (vec![doc], md)
        }
    };
    let Some(Node::Map(md)) = md else {
        return Err(Error::NotEncrypted {
            file: String::new(),
        });
    };
    Ok(EncryptedFile {
        tree: Tree { documents },
        metadata: Metadata::from_branch(&md)?,
    })
}

/// Whether the bytes are a sops-encrypted file of this format (a `sops` map with a `mac`).
pub fn is_encrypted(bytes: &[u8], format: Format) -> bool {
    parse_encrypted(bytes, format).is_ok_and(|f| !f.metadata.mac.is_empty())
}

impl EncryptedFile {
    /// Recovers the data key with the key service (age [`Identities`] or any other
    /// [`KeyService`]), decrypts every value and verifies the MAC.
    pub fn decrypt(self, keys: &dyn KeyService) -> Result<Decrypted, Error> {
        let key = keys::recover_data_key(&self.metadata, keys)?;
        self.decrypt_with_key(key)
    }

    fn decrypt_with_key(self, key: Zeroizing<[u8; 32]>) -> Result<Decrypted, Error> {
        let EncryptedFile { mut tree, metadata } = self;
        let mut stash = mac::IvStash::default();
        let computed = mac::decrypt_tree(
            &mut tree,
            &key,
            &metadata.rule,
            metadata.mac_only_encrypted,
            &mut stash,
        )?;
        let (stored, _) = mac::open_mac(&key, &metadata.mac, &metadata.lastmodified)?;
        if stored.as_str() != computed.as_str() {
            return Err(Error::MacMismatch {
                file: String::new(),
            });
        }
        Ok(Decrypted {
            tree,
            metadata,
            key,
            stash,
        })
    }

    /// Writes the encrypted file.
    pub fn to_bytes(&self, format: Format) -> Result<Vec<u8>, Error> {
        let md = self.metadata.to_branch();
        match format {
            Format::Yaml => {
                let docs: Vec<Branch> = self
                    .tree
                    .documents
                    .iter()
                    .map(|d| {
                        let mut d = d.duplicate();
                        d.push("sops", Node::Map(md.duplicate()));
                        d
                    })
                    .collect();
                Ok(yaml_emit::emit(&docs).into_bytes())
            }
            Format::Json | Format::Binary => {
                let mut d = self
                    .tree
                    .documents
                    .first()
                    .map(Branch::duplicate)
                    .unwrap_or_default();
                let mut md = md;
                if format == Format::Binary {
                    md.items.retain(|i| !matches!(i, MapItem::Entry(k, _) if rules::RULE_KEYS.contains(&k.as_str())));
                }
                d.push("sops", Node::Map(md));
                Ok(json::emit(&d)?.into_bytes())
            }
            Format::Dotenv => {
                let d = self
                    .tree
                    .documents
                    .first()
                    .map(Branch::duplicate)
                    .unwrap_or_default();
                dotenv::emit(&d, Some(&md))
            }
        }
    }
}

/// Writes a plaintext tree in a format.
pub fn emit_plain(tree: &Tree, format: Format) -> Result<Zeroizing<Vec<u8>>, Error> {
    let first = || {
        tree.documents.first().ok_or_else(|| Error::Emit {
            file: String::new(),
            reason: "no document".into(),
        })
    };
    Ok(Zeroizing::new(match format {
        Format::Yaml => yaml_emit::emit(&tree.documents).into_bytes(),
        Format::Json => json::emit(first()?)?.into_bytes(),
        Format::Dotenv => dotenv::emit(first()?, None)?,
        Format::Binary => json::binary_plain(first()?)?.to_vec(),
    }))
}

/// How to encrypt a new file.
pub struct EncryptOptions {
    /// Master keys, one list per key group (usually one group).
    pub key_groups: Vec<Vec<KeyRef>>,
    /// Groups needed to decrypt when there are several (0: all).
    pub shamir_threshold: usize,
    /// Which values are encrypted.
    pub rule: Rule,
    /// Whether the MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
}

fn seal(
    mut tree: Tree,
    mut metadata: Metadata,
    key: &[u8; 32],
    stash: Option<&mac::IvStash>,
) -> Result<EncryptedFile, Error> {
    let mac = mac::encrypt_tree(
        &mut tree,
        key,
        &metadata.rule,
        metadata.mac_only_encrypted,
        stash,
    )?;
    metadata.lastmodified = time::Timestamp::now_utc().to_rfc3339_nano();
    metadata.mac = mac::seal_mac(key, &mac, &metadata.lastmodified, None);
    Ok(EncryptedFile { tree, metadata })
}

/// Encrypts a plaintext tree for new age recipients with a fresh data key.
pub fn encrypt(tree: Tree, options: &EncryptOptions) -> Result<EncryptedFile, Error> {
    encrypt_with(tree, options, &Identities::new())
}

/// Encrypts a plaintext tree for new master keys with a fresh data key, wrapping it through
/// `service` (age is always handled).
pub fn encrypt_with(
    tree: Tree,
    options: &EncryptOptions,
    service: &dyn KeyService,
) -> Result<EncryptedFile, Error> {
    let groups: Vec<Vec<KeyRef>> = options
        .key_groups
        .iter()
        .filter(|g| !g.is_empty())
        .cloned()
        .collect();
    if groups.is_empty() {
        return Err(Error::NoRecipients {
            file: String::new(),
        });
    }
    for r in groups.iter().flatten() {
        if let KeyRef::Age(r) = r {
            keys::parse_recipient(r)?;
        }
    }
    let mut metadata = Metadata::new(
        groups,
        options.shamir_threshold,
        options.rule.clone(),
        options.mac_only_encrypted,
    );
    let key = keys::generate_data_key();
    let age = Identities::new();
    let services = keys::Services(vec![&age, service]);
    keys::wrap_for_groups(&key, &mut metadata, &services)?;
    seal(tree, metadata, &key, None)
}

impl Decrypted {
    /// Writes the plaintext (what `sops -d` prints).
    pub fn to_bytes(&self, format: Format) -> Result<Zeroizing<Vec<u8>>, Error> {
        emit_plain(&self.tree, format)
    }

    /// Encrypts the (possibly edited) tree again with the same data key and recipients;
    /// values that did not change keep their ciphertext.
    pub fn reencrypt(self) -> Result<EncryptedFile, Error> {
        let Decrypted {
            tree,
            metadata,
            key,
            stash,
        } = self;
        seal(tree, metadata, &key, Some(&stash))
    }

    /// Encrypts the tree with a new data key, for the given key groups (or the file's
    /// current master keys when `None`), wrapping it through `service` (age always).
    pub fn rotate(
        self,
        key_groups: Option<Vec<Vec<KeyRef>>>,
        service: &dyn KeyService,
    ) -> Result<EncryptedFile, Error> {
        let Decrypted {
            tree, mut metadata, ..
        } = self;
        if let Some(groups) = key_groups {
            let fresh = Metadata::new(
                groups,
                metadata.shamir_threshold,
                metadata.rule.clone(),
                metadata.mac_only_encrypted,
            );
            metadata.key_groups = fresh.key_groups;
        }
        if metadata.key_groups.iter().all(|g| g.keys.is_empty()) {
            return Err(Error::NoRecipients {
                file: String::new(),
            });
        }
        metadata.version = metadata::FORMAT_VERSION.to_owned();
        let key = keys::generate_data_key();
        let age = Identities::new();
        let services = keys::Services(vec![&age, service]);
        keys::wrap_for_groups(&key, &mut metadata, &services)?;
        seal(tree, metadata, &key, None)
    }
}

impl Decrypted {
    /// Wraps the same data key for new key groups, as `sops updatekeys` does: values keep
    /// their ciphertext.
    pub fn update_keys(
        self,
        key_groups: Vec<Vec<KeyRef>>,
        shamir_threshold: usize,
        service: &dyn KeyService,
    ) -> Result<EncryptedFile, Error> {
        let Decrypted {
            tree,
            mut metadata,
            key,
            stash,
        } = self;
        let groups: Vec<Vec<KeyRef>> = key_groups.into_iter().filter(|g| !g.is_empty()).collect();
        if groups.is_empty() {
            return Err(Error::NoRecipients {
                file: String::new(),
            });
        }
        let fresh = Metadata::new(groups, shamir_threshold, metadata.rule.clone(), false);
        metadata.key_groups = fresh.key_groups;
        metadata.shamir_threshold = shamir_threshold;
        let age = Identities::new();
        let services = keys::Services(vec![&age, service]);
        keys::wrap_for_groups(&key, &mut metadata, &services)?;
        seal(tree, metadata, &key, Some(&stash))
    }
}

/// Decrypts one Kubernetes object (as rendered, a JSON value with a top-level `sops` map),
/// the way Flux does after `kustomize build`: through sops's JSON store, so key order is kept
/// and numbers are compared as floats. Returns the object without its `sops` field.
pub fn decrypt_object(
    object: &serde_json::Value,
    ids: &dyn KeyService,
) -> Result<serde_json::Value, Error> {
    let Node::Map(mut doc) = json::from_value(object, 0)? else {
        return Err(Error::Malformed {
            file: String::new(),
            path: "(root)".into(),
            reason: "not an object".into(),
        });
    };
    let Some(Node::Map(md)) = doc.remove("sops") else {
        return Err(Error::NotEncrypted {
            file: String::new(),
        });
    };
    let file = EncryptedFile {
        tree: Tree::single(doc),
        metadata: Metadata::from_branch(&md)?,
    };
    let plain = file.decrypt(ids)?;
    let doc = plain.tree.documents.into_iter().next().unwrap_or_default();
    json::to_value(&Node::Map(doc))
}

/// Whether a Kubernetes object carries sops metadata (a top-level `sops` map with a `mac`).
pub fn object_is_encrypted(object: &serde_json::Value) -> bool {
    object
        .get("sops")
        .and_then(|s| s.get("mac"))
        .is_some_and(serde_json::Value::is_string)
}

/// Decrypts a file's bytes to plaintext bytes in the same format (a convenience).
pub fn decrypt_bytes(
    bytes: &[u8],
    format: Format,
    ids: &dyn KeyService,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    parse_encrypted(bytes, format)?
        .decrypt(ids)?
        .to_bytes(format)
}

#[cfg(test)]
mod tests;
