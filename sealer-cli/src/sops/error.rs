//! The errors of the SOPS format.

/// Errors of the SOPS format. Messages name the file and the key path, never a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not valid for its format, or a value is not in the sops format.
    #[error("{}: {path}: {reason}", show(file))]
    Malformed {
        /// The file (empty when unknown).
        file: String,
        /// Where in the file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The file has no `sops` metadata: it is not encrypted.
    #[error("{}: sops metadata not found (the file is not encrypted)", show(file))]
    NotEncrypted {
        /// The file.
        file: String,
    },
    /// The metadata has no `mac`.
    #[error("{}: the sops metadata has no mac", show(file))]
    MacMissing {
        /// The file.
        file: String,
    },
    /// The MAC does not match the content: a value was changed, added or removed.
    #[error(
        "{}: MAC mismatch: the file was modified after it was encrypted",
        show(file)
    )]
    MacMismatch {
        /// The file.
        file: String,
    },
    /// A ciphertext failed authentication: it was changed, or moved to another key path.
    #[error(
        "{}: {path}: authentication failed: the encrypted value was changed or moved",
        show(file)
    )]
    AuthenticationFailed {
        /// The file.
        file: String,
        /// The key path of the value.
        path: String,
    },
    /// No master key of the file could unwrap the data key.
    #[error(
        "{}: no key could decrypt the data key; tried: {}",
        show(file),
        tried(recipients)
    )]
    NoMatchingIdentity {
        /// The file.
        file: String,
        /// Each key tried (`KIND ID: why it failed`).
        recipients: Vec<String>,
    },
    /// Too few key groups could be unlocked for the Shamir threshold.
    #[error(
        "{}: {recovered} key group(s) unlocked, {needed} needed (shamir_threshold)",
        show(file)
    )]
    NotEnoughKeyGroups {
        /// The file.
        file: String,
        /// Groups needed.
        needed: usize,
        /// Groups unlocked.
        recovered: usize,
    },
    /// An identity could not be read.
    #[error("identity {source_name}: {reason}")]
    Identity {
        /// Where it was read from (file or variable name).
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// A recipient is not an age X25519 recipient.
    #[error("invalid age recipient {recipient:?}")]
    Recipient {
        /// The text given.
        recipient: String,
    },
    /// Wrapping the data key for a recipient failed.
    #[error("wrapping the data key for {recipient}: {reason}")]
    DataKeyWrap {
        /// The recipient.
        recipient: String,
        /// What failed.
        reason: String,
    },
    /// The encryption rules are invalid.
    #[error("invalid encryption rules: {reason}")]
    InvalidRules {
        /// What is wrong.
        reason: String,
    },
    /// No recipient was given for a new file.
    #[error(
        "{}: no recipients: use --age, SOPS_AGE_RECIPIENTS or a .sops.yaml creation rule",
        show(file)
    )]
    NoRecipients {
        /// The file.
        file: String,
    },
    /// The `.sops.yaml` configuration is invalid.
    #[error("config {file}: {reason}")]
    Config {
        /// The config file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The input is larger than accepted.
    #[error("{}: input larger than {limit} bytes", show(file))]
    TooLarge {
        /// The file.
        file: String,
        /// The limit.
        limit: usize,
    },
    /// The tree cannot be written in the requested format.
    #[error("{}: cannot write the output: {reason}", show(file))]
    Emit {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
}

fn tried(list: &[String]) -> String {
    if list.is_empty() {
        "no key".to_owned()
    } else {
        list.join("; ")
    }
}

fn show(file: &str) -> &str {
    if file.is_empty() { "<input>" } else { file }
}

impl Error {
    /// Names the file in the error, when it does not name one yet.
    #[must_use]
    pub fn in_file(mut self, name: &str) -> Self {
        match &mut self {
            Error::Malformed { file, .. }
            | Error::NotEncrypted { file }
            | Error::MacMissing { file }
            | Error::MacMismatch { file }
            | Error::AuthenticationFailed { file, .. }
            | Error::NoMatchingIdentity { file, .. }
            | Error::NotEnoughKeyGroups { file, .. }
            | Error::NoRecipients { file }
            | Error::TooLarge { file, .. }
            | Error::Emit { file, .. }
                if file.is_empty() =>
            {
                *file = name.to_owned();
            }
            _ => {}
        }
        self
    }
}
