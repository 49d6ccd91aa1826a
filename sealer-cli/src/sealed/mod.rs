//! Tether SealedSecrets: Kubernetes Secrets sealed with age for one or more clusters.
//!
//! ```yaml
//! apiVersion: tether.dev/v1alpha1
//! kind: SealedSecret
//! metadata: {name: db, namespace: shop}
//! spec:
//!   scope: strict            # strict (default) | namespace | cluster
//!   encryptedData:           # per key: base64 of a binary age file (X25519 recipients)
//!     password: YWdlLWVuY3J5cHRpb24ub3JnL3Yx...
//!   template:                # the non-secret parts of the Secret to produce
//!     type: Opaque
//!     metadata: {labels: {app: db}}
//! ```
//!
//! Each value is a standard age file: `age -d -i key.txt` decrypts it. Its plaintext is an
//! [`envelope`] that binds the value to a scope string (`shop/db` for strict, `shop` for
//! namespace, empty for cluster), the scope kind and the Secret key name. [`unseal`] checks
//! that binding against the namespace, name and key where the object is applied, so a value
//! copied into another namespace, object or key is refused with [`Error::ScopeMismatch`]. The
//! binding inside each value is authoritative; `spec.scope` only declares it. [`reseal`]
//! writes the scope it verified, never one read from the input.
//!
//! Layout: [`model`] (the serde model in Git), [`secret`] (the plaintext side),
//! [`envelope`] (the byte format), and this module (the operations).
//!
//! ```
//! use tether_seal::keys::Identity;
//! use tether_seal::sealed::{self, Scope, UnsealedSecret};
//! use zeroize::Zeroizing;
//!
//! let cluster = Identity::generate();
//! let mut secret = UnsealedSecret::new("db").with_namespace("shop");
//! secret.insert("password", Zeroizing::new(b"s3cret".to_vec()));
//! let sealed = sealed::seal(&secret, &[cluster.recipient()], Scope::Strict).unwrap();
//!
//! let opened = sealed::unseal(&sealed, &[cluster], "shop", "db").unwrap();
//! assert_eq!(opened.expose_secret_json()["data"]["password"], "czNjcmV0");
//! ```

pub mod envelope;
pub mod model;
pub mod secret;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests;

pub use envelope::EnvelopeError;
pub use model::{
    API_VERSION, KIND, ObjectMeta, Scope, SealedSecret, SealedSecretSpec, SecretTemplate,
    TemplateMetadata,
};
pub use secret::UnsealedSecret;

use crate::keys::{Identity, Recipient};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use envelope::{Envelope, MAX_ENVELOPE_LEN};
use std::io::Read as _;
use zeroize::Zeroizing;

/// The largest decoded age file accepted for one value: the largest envelope plus room for
/// the age header of many recipients.
pub const MAX_SEALED_VALUE_BYTES: usize = MAX_ENVELOPE_LEN + 64 * 1024;

/// What went wrong while sealing or unsealing. Every variant names the object
/// (`namespace/name`, prefixed by the file when there is one) and, where it applies, the field
/// or Secret key; none carries a plaintext value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest could not be parsed as YAML or JSON of the expected shape.
    #[error("{source_name}: cannot read the manifest: {reason}")]
    ReadManifest {
        /// The file.
        source_name: String,
        /// The parser's message (without source snippets).
        reason: String,
    },
    /// A manifest is larger than the bound.
    #[error("{source_name}: larger than {max} bytes")]
    ManifestTooLarge {
        /// The file.
        source_name: String,
        /// The bound.
        max: usize,
    },
    /// The object could not be written out.
    #[error("cannot write the manifest: {reason}")]
    WriteManifest {
        /// The serialiser's message.
        reason: String,
    },
    /// A field is missing.
    #[error("{object}: {field} is required{hint}")]
    MissingField {
        /// The object.
        object: String,
        /// The field.
        field: String,
        /// How to supply it, or empty.
        hint: String,
    },
    /// A field has a value that is not allowed.
    #[error("{object}: {field} {reason}")]
    InvalidField {
        /// The object.
        object: String,
        /// The field (`metadata.name`, `stringData.password`…).
        field: String,
        /// Why (never the value of a Secret key).
        reason: String,
    },
    /// Sealing was asked for without any recipient.
    #[error("{object}: no recipient to seal for")]
    NoRecipients {
        /// The object.
        object: String,
    },
    /// Unsealing was asked for without any identity.
    #[error("{object}: no identity to unseal with")]
    NoIdentities {
        /// The object.
        object: String,
    },
    /// age refused to encrypt.
    #[error("{object}: cannot seal key {key}")]
    Encrypt {
        /// The object.
        object: String,
        /// The Secret key.
        key: String,
        /// The cause (boxed: age's error is large).
        #[source]
        source: Box<age::EncryptError>,
    },
    /// None of the identities can open this value.
    #[error("{object}: key {key} is not sealed for any of the given identities")]
    NoMatchingIdentity {
        /// The object.
        object: String,
        /// The Secret key.
        key: String,
    },
    /// The value is not base64 of a well-formed age file, or decryption failed.
    #[error("{object}: encryptedData.{key} is not a valid sealed value: {reason}")]
    MalformedValue {
        /// The object.
        object: String,
        /// The Secret key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The decrypted payload is not a valid envelope.
    #[error("{object}: encryptedData.{key} holds a malformed envelope")]
    Envelope {
        /// The object.
        object: String,
        /// The Secret key.
        key: String,
        /// The cause.
        #[source]
        source: EnvelopeError,
    },
    /// The value was sealed for another namespace, object or key than the one it is used in.
    #[error(
        "{object}: encryptedData.{key} was sealed for {found}, not for {expected}; \
         a sealed value cannot move to another namespace, name or key"
    )]
    ScopeMismatch {
        /// The object.
        object: String,
        /// The Secret key.
        key: String,
        /// The binding where it is used (scope kind, scope string, key).
        expected: String,
        /// The binding sealed inside the value.
        found: String,
    },
    /// The values of one object are bound to different scope kinds.
    #[error("{object}: its values are sealed with different scopes ({first}, {second})")]
    InconsistentScopes {
        /// The object.
        object: String,
        /// One scope kind.
        first: Scope,
        /// Another scope kind.
        second: Scope,
    },
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Seals `secret` for `recipients` with `scope`.
///
/// The secret needs a name, and a namespace unless `scope` is [`Scope::Cluster`]. Each value is
/// wrapped in an envelope bound to the scope string and its key, then encrypted to every
/// recipient at once, so any one of their identities can unseal it.
pub fn seal(
    secret: &UnsealedSecret,
    recipients: &[Recipient],
    scope: Scope,
) -> Result<SealedSecret> {
    let object = secret.object_ref();
    let name = require_name(secret.name(), &object)?;
    let namespace = secret.namespace().unwrap_or("");
    check_placement(&object, scope, namespace, name)?;
    if recipients.is_empty() {
        return Err(Error::NoRecipients { object });
    }
    let scope_string = scope.scope_string(namespace, name);
    let mut encrypted_data = std::collections::BTreeMap::new();
    for (key, value) in &secret.data {
        check_key(&object, key)?;
        let env = Envelope {
            kind: scope,
            scope: scope_string.clone(),
            key: key.clone(),
            value: value.clone(),
        };
        let sealed = encrypt_envelope(&object, key, &env, recipients)?;
        encrypted_data.insert(key.clone(), sealed);
    }
    Ok(SealedSecret {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: secret.namespace().map(str::to_owned),
            ..ObjectMeta::default()
        },
        spec: SealedSecretSpec {
            scope,
            encrypted_data,
            template: SecretTemplate {
                type_: secret.type_.clone(),
                metadata: TemplateMetadata {
                    labels: secret.labels.clone(),
                    annotations: secret.annotations.clone(),
                },
                immutable: secret.immutable,
            },
        },
    })
}

/// Unseals every value of `sealed` for the object being applied at `namespace`/`name`
/// (`namespace` may be empty for cluster-scoped values).
///
/// Each value must open with one of `identities` and its envelope must be bound to this
/// namespace, name and key, according to the scope kind sealed inside it; otherwise the first
/// failure is returned. The result carries the template's type, labels and annotations.
pub fn unseal(
    sealed: &SealedSecret,
    identities: &[Identity],
    namespace: &str,
    name: &str,
) -> Result<UnsealedSecret> {
    let object = model::object_ref(Some(namespace), name);
    sealed.check_type(&object)?;
    if identities.is_empty() {
        return Err(Error::NoIdentities { object });
    }
    let mut out = UnsealedSecret::new(name);
    if !namespace.is_empty() {
        out.set_namespace(namespace);
    }
    out.type_ = sealed.spec.template.type_.clone();
    out.labels = sealed.spec.template.metadata.labels.clone();
    out.annotations = sealed.spec.template.metadata.annotations.clone();
    out.immutable = sealed.spec.template.immutable;
    for (key, value) in &sealed.spec.encrypted_data {
        let env = open_value(&object, key, value, identities, namespace, name)?;
        out.data.insert(key.clone(), env.value);
    }
    Ok(out)
}

/// The outcome of [`verify`]: which keys unseal for their scope, and why the others do not.
/// Holds key names and errors only, never a value.
#[derive(Debug, Default)]
pub struct Verification {
    /// Keys that unseal where the object is applied.
    pub ok: Vec<String>,
    /// Keys that do not, each with its error.
    pub failed: Vec<(String, Error)>,
}

impl Verification {
    /// Whether every key unseals.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Checks that every value of `sealed` unseals at `namespace`/`name` with `identities`,
/// dropping the plaintexts at once. Fails as a whole only when the object itself is not a
/// SealedSecret or no identity is given.
pub fn verify(
    sealed: &SealedSecret,
    identities: &[Identity],
    namespace: &str,
    name: &str,
) -> Result<Verification> {
    let object = model::object_ref(Some(namespace), name);
    sealed.check_type(&object)?;
    if identities.is_empty() {
        return Err(Error::NoIdentities { object });
    }
    let mut result = Verification::default();
    for (key, value) in &sealed.spec.encrypted_data {
        match open_value(&object, key, value, identities, namespace, name) {
            Ok(_env) => result.ok.push(key.clone()),
            Err(e) => result.failed.push((key.clone(), e)),
        }
    }
    Ok(result)
}

/// Adds or replaces the keys of `update` in `target`, without opening anything: no identity is
/// needed and the other values stay byte-identical. Both objects must be sealed for the same
/// scope (kind, and namespace/name as far as the kind binds them); the merged object keeps the
/// target's name, namespace, scope and template. Returns the merged key names.
pub fn merge_into(target: &mut SealedSecret, update: &SealedSecret) -> Result<Vec<String>> {
    let object = target.object_ref();
    target.check_type(&object)?;
    update.check_type(&update.object_ref())?;
    let bound = |s: &SealedSecret| {
        s.spec.scope.scope_string(
            s.metadata.namespace.as_deref().unwrap_or(""),
            s.metadata.name.as_deref().unwrap_or(""),
        )
    };
    let (target_scope, update_scope) = (bound(target), bound(update));
    if target.spec.scope != update.spec.scope || target_scope != update_scope {
        let key = update
            .spec
            .encrypted_data
            .keys()
            .next()
            .cloned()
            .unwrap_or_default();
        return Err(Error::ScopeMismatch {
            object,
            expected: describe(target.spec.scope, &target_scope, &key),
            found: describe(update.spec.scope, &update_scope, &key),
            key,
        });
    }
    let mut merged = Vec::new();
    for (key, value) in &update.spec.encrypted_data {
        check_key(&object, key)?;
        target
            .spec
            .encrypted_data
            .insert(key.clone(), value.clone());
        merged.push(key.clone());
    }
    Ok(merged)
}

/// Re-seals every value of `sealed` for `recipients`: each value is opened with `identities`
/// and verified at the object's own namespace and name, then its envelope (scope and key
/// unchanged) is encrypted to the new recipients. The output's `spec.scope` is the scope kind
/// verified inside the values; the input's `spec.scope` and annotations are never used.
pub fn reseal(
    sealed: &SealedSecret,
    identities: &[Identity],
    recipients: &[Recipient],
) -> Result<SealedSecret> {
    let object = sealed.object_ref();
    sealed.check_type(&object)?;
    let name = require_name(sealed.metadata.name.as_deref(), &object)?;
    let namespace = sealed.metadata.namespace.as_deref().unwrap_or("");
    if identities.is_empty() {
        return Err(Error::NoIdentities { object });
    }
    if recipients.is_empty() {
        return Err(Error::NoRecipients { object });
    }
    let mut verified: Option<Scope> = None;
    let mut encrypted_data = std::collections::BTreeMap::new();
    for (key, value) in &sealed.spec.encrypted_data {
        let env = open_value(&object, key, value, identities, namespace, name)?;
        match verified {
            Some(first) if first != env.kind => {
                return Err(Error::InconsistentScopes {
                    object,
                    first,
                    second: env.kind,
                });
            }
            _ => verified = Some(env.kind),
        }
        encrypted_data.insert(
            key.clone(),
            encrypt_envelope(&object, key, &env, recipients)?,
        );
    }
    let mut out = sealed.clone();
    out.spec.encrypted_data = encrypted_data;
    // With no value there is nothing to verify, and nothing a scope could protect.
    out.spec.scope = verified.unwrap_or(sealed.spec.scope);
    Ok(out)
}

/// Encrypts one envelope to all recipients and returns the base64 of the age file.
fn encrypt_envelope(
    object: &str,
    key: &str,
    env: &Envelope,
    recipients: &[Recipient],
) -> Result<String> {
    let plaintext = env.write().map_err(|source| Error::Envelope {
        object: object.to_owned(),
        key: key.to_owned(),
        source,
    })?;
    let encrypt_err = |source| Error::Encrypt {
        object: object.to_owned(),
        key: key.to_owned(),
        source: Box::new(source),
    };
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(Recipient::as_age))
        .map_err(encrypt_err)?;
    let mut out = Vec::with_capacity(plaintext.len() + 256 * recipients.len());
    let io_err = |e: std::io::Error| encrypt_err(age::EncryptError::Io(e));
    let mut writer = encryptor.wrap_output(&mut out).map_err(io_err)?;
    std::io::Write::write_all(&mut writer, &plaintext).map_err(io_err)?;
    writer.finish().map_err(io_err)?;
    Ok(STANDARD.encode(out))
}

/// Decodes, decrypts and verifies one value for the object at `namespace`/`name`.
fn open_value(
    object: &str,
    key: &str,
    value: &str,
    identities: &[Identity],
    namespace: &str,
    name: &str,
) -> Result<Envelope> {
    check_key(object, key)?;
    let malformed = |reason: &str| Error::MalformedValue {
        object: object.to_owned(),
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    // base64 grows 4/3; refuse before decoding anything larger than the bound.
    if value.len() > MAX_SEALED_VALUE_BYTES / 3 * 4 + 4 {
        return Err(malformed("larger than the largest sealed value"));
    }
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| malformed("not base64"))?;
    let decryptor = age::Decryptor::new_buffered(bytes.as_slice())
        .map_err(|e| malformed(&format!("not an age file ({e})")))?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(Identity::as_age))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => Error::NoMatchingIdentity {
                object: object.to_owned(),
                key: key.to_owned(),
            },
            other => malformed(&format!("decryption failed ({other})")),
        })?;
    let mut plaintext = Zeroizing::new(Vec::new());
    let limit = u64::try_from(MAX_ENVELOPE_LEN).unwrap_or(u64::MAX) + 1;
    (&mut reader)
        .take(limit)
        .read_to_end(&mut plaintext)
        .map_err(|_| malformed("decryption failed (payload corrupted)"))?;
    let env = Envelope::read(&plaintext).map_err(|source| Error::Envelope {
        object: object.to_owned(),
        key: key.to_owned(),
        source,
    })?;
    if env.kind.needs_namespace() && namespace.is_empty() {
        return Err(Error::MissingField {
            object: object.to_owned(),
            field: "metadata.namespace".to_owned(),
            hint: format!(" (encryptedData.{key} is sealed with {} scope)", env.kind),
        });
    }
    let expected = env.kind.scope_string(namespace, name);
    if env.scope != expected || env.key != key {
        return Err(Error::ScopeMismatch {
            object: object.to_owned(),
            key: key.to_owned(),
            expected: describe(env.kind, &expected, key),
            found: describe(env.kind, &env.scope, &env.key),
        });
    }
    Ok(env)
}

/// A binding in words: `strict scope "shop/db", key "password"`.
fn describe(kind: Scope, scope: &str, key: &str) -> String {
    format!("{kind} scope {scope:?}, key {key:?}")
}

fn require_name<'a>(name: Option<&'a str>, object: &str) -> Result<&'a str> {
    match name {
        Some(n) if !n.is_empty() => Ok(n),
        _ => Err(Error::MissingField {
            object: object.to_owned(),
            field: "metadata.name".to_owned(),
            hint: " (or give --name)".to_owned(),
        }),
    }
}

/// Checks namespace and name for sealing: DNS names, and a namespace where the scope needs one.
fn check_placement(object: &str, scope: Scope, namespace: &str, name: &str) -> Result<()> {
    if scope.needs_namespace() && namespace.is_empty() {
        return Err(Error::MissingField {
            object: object.to_owned(),
            field: "metadata.namespace".to_owned(),
            hint: format!(" for {scope} scope (or give --namespace)"),
        });
    }
    if !is_dns_subdomain(name) {
        return Err(Error::InvalidField {
            object: object.to_owned(),
            field: "metadata.name".to_owned(),
            reason: "must be a DNS-1123 subdomain (lowercase letters, digits, '-', '.')".into(),
        });
    }
    if !namespace.is_empty() && !is_dns_label(namespace) {
        return Err(Error::InvalidField {
            object: object.to_owned(),
            field: "metadata.namespace".to_owned(),
            reason: "must be a DNS-1123 label (lowercase letters, digits, '-')".into(),
        });
    }
    Ok(())
}

/// Checks a Secret key name: 1 to 253 of `[-._a-zA-Z0-9]`.
fn check_key(object: &str, key: &str) -> Result<()> {
    let valid = !key.is_empty()
        && key.len() <= envelope::MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidField {
            object: object.to_owned(),
            field: format!("key {key:?}"),
            reason: "must be 1 to 253 characters of letters, digits, '-', '_' and '.'".into(),
        })
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}
