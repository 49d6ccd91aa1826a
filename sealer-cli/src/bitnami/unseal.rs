//! [`unseal`]: a Bitnami SealedSecret into the parts of its Secret, as the controller does it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

use super::format::hybrid_decrypt;
use super::keys::PrivateKey;
use super::model::{BitnamiSealedSecret, object_ref};
use super::template::{self, Values};
use super::{Error, Result, Scope};

/// The Secret a SealedSecret stands for. Values are in zeroizing memory; the type derives
/// nothing, so they cannot be printed by accident.
pub struct UnsealedBitnami {
    /// The Secret's name: the SealedSecret's (the template's name is ignored, as by the
    /// controller).
    pub name: String,
    /// The namespace it was unsealed for.
    pub namespace: String,
    /// `spec.template.metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `spec.template.metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec.template.type`.
    pub type_: Option<String>,
    /// `spec.template.immutable`.
    pub immutable: Option<bool>,
    /// The scope whose label opened the values (from `metadata.annotations`).
    pub scope: Scope,
    /// Per `encryptedData` key, the name of the key that opened it.
    pub opened_with: BTreeMap<String, String>,
    data: Values,
}

impl UnsealedBitnami {
    /// The Secret's keys.
    pub fn key_names(&self) -> impl Iterator<Item = &str> {
        self.data.keys().map(String::as_str)
    }

    /// The plaintext values, by key.
    #[must_use]
    pub fn expose_data(&self) -> &Values {
        &self.data
    }

    /// Takes the plaintext values.
    #[must_use]
    pub fn into_data(self) -> Values {
        self.data
    }
}

/// Go's `base64.StdEncoding.DecodeString` as the controller calls it: line breaks skipped.
pub(crate) fn decode_value(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let compact: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    STANDARD.decode(compact).ok().map(Zeroizing::new)
}

/// Unseals `sealed` as it is applied in `namespace` (its own, else where the app puts it):
/// every `encryptedData` value with the first of `keys` (newest first) that opens it under the
/// label of the scope its `metadata.annotations` declare, then `spec.template.data`. A value
/// moved to another namespace or name, sealed for another key or scope, truncated or altered,
/// is refused with an error that names the object and the field.
pub fn unseal(
    sealed: &BitnamiSealedSecret,
    keys: &[PrivateKey],
    namespace: &str,
) -> Result<UnsealedBitnami> {
    let object = object_ref(namespace, &sealed.name);
    if keys.is_empty() {
        return Err(Error::NoKeys { object });
    }
    let scope = sealed.scope();
    let label = scope.label(namespace, &sealed.name);
    let mut data = Values::new();
    let mut opened_with = BTreeMap::new();
    for (key, text) in &sealed.encrypted_data {
        let field = format!("spec.encryptedData.{key}");
        let bytes = decode_value(text).ok_or_else(|| Error::InvalidField {
            object: object.clone(),
            field: field.clone(),
            reason: "is not base64".into(),
        })?;
        let (plain, index) =
            hybrid_decrypt(keys, &bytes, &label).map_err(|source| Error::DecryptFailed {
                object: object.clone(),
                field: format!("{field} ({scope} scope)"),
                source,
            })?;
        if let Some(k) = keys.get(index) {
            opened_with.insert(key.clone(), k.name().to_owned());
        }
        data.insert(key.clone(), plain);
    }
    let mut out = data.clone();
    for (key, text) in &sealed.template_data {
        match text {
            None => {
                out.remove(key);
            }
            Some(text) => {
                let value =
                    template::render(text, &data).map_err(|reason| Error::TemplateFailed {
                        object: object.clone(),
                        field: format!("spec.template.data.{key}"),
                        reason,
                    })?;
                out.insert(key.clone(), value);
            }
        }
    }
    Ok(UnsealedBitnami {
        name: sealed.name.clone(),
        namespace: namespace.to_owned(),
        labels: sealed.template_labels.clone(),
        annotations: sealed.template_annotations.clone(),
        type_: sealed.type_.clone(),
        immutable: sealed.immutable,
        scope,
        opened_with,
        data: out,
    })
}
