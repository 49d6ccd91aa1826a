//! The OpenPGP signing key of an automation (`gpgSigningKey`, or Flux's
//! `spec.git.commit.signingKey.secretRef`), read from its file or Secret before each run so
//! that a rotated key is used at once. The key and passphrase go straight into zeroizing
//! buffers; errors name the file or Secret and the key, never a value.

use super::config::GpgSigningKey;
use super::push::GpgKey;
use zeroize::Zeroizing;

/// The Secret key holding the armored key (as Flux's).
pub const KEY_FIELD: &str = "git.asc";
/// The Secret key holding the passphrase (as Flux's).
pub const PASSPHRASE_FIELD: &str = "passphrase";

/// Why a signing key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A file could not be read.
    #[error("gpgSigningKey: {path}: {problem}")]
    FileUnreadable {
        /// The file.
        path: String,
        /// The cause (an I/O error kind).
        problem: String,
    },
    /// The Secret could not be read.
    #[error("gpgSigningKey: Secret {secret}: {problem}")]
    SecretUnreadable {
        /// `NAMESPACE/NAME`.
        secret: String,
        /// The cause.
        problem: String,
    },
    /// The Secret lacks the key, or it is not UTF-8 text.
    #[error("gpgSigningKey: Secret {secret}: no UTF-8 text under key {key}")]
    SecretIncomplete {
        /// `NAMESPACE/NAME`.
        secret: String,
        /// The missing key.
        key: &'static str,
    },
}

fn read_file(path: &std::path::Path) -> Result<Zeroizing<String>, SigningError> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| SigningError::FileUnreadable {
            path: path.display().to_string(),
            problem: e.kind().to_string(),
        })
}

/// Reads the key of `spec`; a Secret is read in `spec.namespace`, else `namespace`.
pub async fn load(
    spec: &GpgSigningKey,
    namespace: &str,
    client: Option<&kube::Client>,
) -> Result<GpgKey, SigningError> {
    if let Some(path) = &spec.file {
        let armored = read_file(path)?;
        let passphrase = match &spec.passphrase_file {
            Some(p) => Some(Zeroizing::new(
                read_file(p)?.trim_end_matches(['\n', '\r']).to_owned(),
            )),
            None => None,
        };
        return Ok(GpgKey::new(
            armored,
            passphrase,
            &path.display().to_string(),
        ));
    }
    let name = spec.secret_name.as_deref().unwrap_or_default();
    let namespace = spec.namespace.as_deref().unwrap_or(namespace);
    let secret = format!("{namespace}/{name}");
    let unreadable = |problem: String| SigningError::SecretUnreadable {
        secret: secret.clone(),
        problem,
    };
    let Some(client) = client else {
        return Err(unreadable("no cluster connection to read it".into()));
    };
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), namespace);
    let found = api
        .get_opt(name)
        .await
        .map_err(|e| unreadable(crate::text::clip_message(&e.to_string()).into_owned()))?
        .ok_or_else(|| unreadable("not found".into()))?;
    let mut data = found.data.unwrap_or_default();
    let text = |bytes: Option<k8s_openapi::ByteString>, key: &'static str| {
        let bytes = Zeroizing::new(bytes.map(|b| b.0).unwrap_or_default());
        match std::str::from_utf8(&bytes) {
            Ok(t) if !t.trim().is_empty() => Ok(Zeroizing::new(t.to_owned())),
            _ => Err(SigningError::SecretIncomplete {
                secret: secret.clone(),
                key,
            }),
        }
    };
    let armored = text(data.remove(KEY_FIELD), KEY_FIELD)?;
    let passphrase = match data.remove(PASSPHRASE_FIELD) {
        None => None,
        Some(b) => Some(Zeroizing::new(
            text(Some(b), PASSPHRASE_FIELD)?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        )),
    };
    Ok(GpgKey::new(
        armored,
        passphrase,
        &format!("Secret {secret}"),
    ))
}
