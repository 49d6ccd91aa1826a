//! The installation's redaction key: 32 random bytes in the Secret `tether-redaction-key` of
//! the agent's namespace, created by the first agent that finds none. Every replica and every
//! online `plan` of one installation use it, so their redaction marks can be compared; nobody
//! without it can test guesses against a mark ([`crate::redact`]).

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use zeroize::{Zeroize as _, Zeroizing};

use crate::redact::KEY_LEN;

/// The name of the Secret that holds the key.
pub const SECRET_NAME: &str = "tether-redaction-key";

/// The data key of the Secret.
const DATA_KEY: &str = "key";

/// Why the redaction key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RedactionKeyError {
    /// Reading the Secret failed.
    #[error("reading the redaction key Secret {namespace}/{SECRET_NAME}: {source}")]
    ReadFailed {
        /// The agent's namespace.
        namespace: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Creating the Secret failed.
    #[error("creating the redaction key Secret {namespace}/{SECRET_NAME}: {source}")]
    CreateFailed {
        /// The agent's namespace.
        namespace: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The Secret exists but its `key` is not 32 bytes.
    #[error(
        "the redaction key Secret {namespace}/{SECRET_NAME}: data.key must hold {KEY_LEN} bytes"
    )]
    Malformed {
        /// The agent's namespace.
        namespace: String,
    },
    /// Another key is in use in this process already.
    #[error(transparent)]
    Install(#[from] crate::redact::RedactError),
}

/// Reads the installation's key and installs it for this process. With `create`, makes it
/// when there is none (a replica that loses the race reads the winner's); without, a missing
/// key leaves the process with its own (read-only callers such as `plan`). True when the
/// installation's key is in use.
pub async fn load_or_create(
    client: &kube::Client,
    namespace: &str,
    create: bool,
) -> Result<bool, RedactionKeyError> {
    let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), namespace);
    let key = match read(&api, namespace).await? {
        Some(key) => key,
        None if !create => return Ok(false),
        None => {
            let key = crate::redact::random_key();
            let secret = Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some(SECRET_NAME.to_owned()),
                    namespace: Some(namespace.to_owned()),
                    labels: Some(
                        [(
                            "app.kubernetes.io/managed-by".to_owned(),
                            "tether-agent".to_owned(),
                        )]
                        .into(),
                    ),
                    ..Default::default()
                },
                data: Some([(DATA_KEY.to_owned(), ByteString(key.to_vec()))].into()),
                ..Default::default()
            };
            match api.create(&Default::default(), &secret).await {
                Ok(mut created) => {
                    wipe(&mut created);
                    tracing::info!(namespace, secret = SECRET_NAME, "created the redaction key");
                    key
                }
                Err(kube::Error::Api(status)) if status.code == 409 => read(&api, namespace)
                    .await?
                    .ok_or_else(|| RedactionKeyError::Malformed {
                        namespace: namespace.to_owned(),
                    })?,
                Err(source) => {
                    return Err(RedactionKeyError::CreateFailed {
                        namespace: namespace.to_owned(),
                        source,
                    });
                }
            }
        }
    };
    crate::redact::install_key(&key)?;
    Ok(true)
}

async fn read(
    api: &kube::Api<Secret>,
    namespace: &str,
) -> Result<Option<Zeroizing<[u8; KEY_LEN]>>, RedactionKeyError> {
    let found = api
        .get_opt(SECRET_NAME)
        .await
        .map_err(|source| RedactionKeyError::ReadFailed {
            namespace: namespace.to_owned(),
            source,
        })?;
    let Some(mut secret) = found else {
        return Ok(None);
    };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(DATA_KEY))
        .map(|b| b.0.as_slice())
        .filter(|b| b.len() == KEY_LEN);
    let out = bytes.map(|b| {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(b);
        key
    });
    wipe(&mut secret);
    out.map(Some).ok_or_else(|| RedactionKeyError::Malformed {
        namespace: namespace.to_owned(),
    })
}

fn wipe(secret: &mut Secret) {
    if let Some(data) = secret.data.as_mut() {
        for value in data.values_mut() {
            value.0.zeroize();
        }
    }
}
