//! age identities and recipients: generation, identity files, recipient lists.
//!
//! Tether seals to classic age X25519 keys only: an [`Identity`] is an
//! `AGE-SECRET-KEY-1…` secret key, a [`Recipient`] its `age1…` public key. Identity files use
//! the layout of `age-keygen`, so files made by either tool are read by both:
//!
//! ```text
//! # created: 2026-01-02T03:04:05Z
//! # public key: age1…
//! AGE-SECRET-KEY-1…
//! ```
//!
//! Lines starting with `#` and blank lines are ignored; every other line must be an X25519
//! secret key. Recipients files hold one `age1…` recipient per line, with the same comment
//! rules.
//!
//! Secret key material only ever lives in age's own zeroizing types and in
//! [`age::secrecy::SecretString`]; [`Identity`] implements neither `Debug`, `Display`, `Clone`
//! nor `Serialize`, and no error of this module carries key material or the text of a line.
//!
//! ```
//! use tether_seal::keys::{Identity, parse_identities};
//! use age::secrecy::ExposeSecret;
//!
//! let identity = Identity::generate();
//! let text = identity.identity_file_text(std::time::SystemTime::UNIX_EPOCH);
//! let read = parse_identities(text.expose_secret(), "memory").unwrap();
//! assert_eq!(read[0].recipient(), identity.recipient());
//! ```

use age::secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;
use zeroize::Zeroizing;

/// The largest identity or recipients file read (a few hundred keys fit easily).
pub const MAX_KEY_FILE_BYTES: u64 = 256 * 1024;

/// What went wrong while handling keys. Errors name the file (or other source) and the line,
/// never the text of the line or any key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key file could not be read.
    #[error("cannot read {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key file is larger than [`MAX_KEY_FILE_BYTES`].
    #[error("{source_name}: larger than {MAX_KEY_FILE_BYTES} bytes, not a key file")]
    FileTooLarge {
        /// The file.
        source_name: String,
    },
    /// A key file is not UTF-8 text.
    #[error("{source_name}: not UTF-8 text, not a key file")]
    NotText {
        /// The file.
        source_name: String,
    },
    /// A line of an identity file is not an X25519 age secret key.
    #[error(
        "{source_name}, line {line}: not an age X25519 identity (AGE-SECRET-KEY-1...); \
         passphrase-protected, SSH and plugin identities are not supported"
    )]
    InvalidIdentity {
        /// The file.
        source_name: String,
        /// The 1-based line number.
        line: usize,
    },
    /// An identity file holds no identity.
    #[error("{source_name}: holds no age identity")]
    NoIdentity {
        /// The file.
        source_name: String,
    },
    /// A recipient is not an age X25519 recipient.
    #[error("{source_name}{}: not an age X25519 recipient (age1...): {reason}", line_suffix(*.line))]
    InvalidRecipient {
        /// Where it came from (a file, or `--recipient`).
        source_name: String,
        /// The 1-based line number in a file; `None` for a single value.
        line: Option<usize>,
        /// Why it was refused (the parser's reason, never the text).
        reason: String,
    },
    /// An identity file would overwrite an existing file.
    #[error("{path} already exists; refusing to overwrite an identity file")]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// An identity file could not be written.
    #[error("cannot write {path}")]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An age X25519 identity (secret key). It derives nothing: no `Debug`, `Display`, `Clone` or
/// `Serialize`, so it cannot be printed or copied by accident.
pub struct Identity(age::x25519::Identity);

impl Identity {
    /// Generates a new identity from the operating system's random source.
    #[must_use]
    pub fn generate() -> Self {
        Self(age::x25519::Identity::generate())
    }

    /// The public recipient (`age1…`) of this identity.
    #[must_use]
    pub fn recipient(&self) -> Recipient {
        Recipient(self.0.to_public())
    }

    /// The secret key as `AGE-SECRET-KEY-1…`, for storing it (for example in a Kubernetes
    /// Secret). The string is zeroized when dropped.
    #[must_use]
    pub fn to_secret_string(&self) -> SecretString {
        self.0.to_string()
    }

    /// The text of an identity file for this identity, in `age-keygen`'s layout: a
    /// `# created:` line with `created` in RFC 3339 (UTC), a `# public key:` line, the key.
    #[must_use]
    pub fn identity_file_text(&self, created: SystemTime) -> SecretString {
        let key = self.0.to_string();
        let text = format!(
            "# created: {}\n# public key: {}\n{}\n",
            rfc3339_utc(created),
            self.recipient(),
            key.expose_secret()
        );
        SecretString::from(text)
    }

    /// Parses one `AGE-SECRET-KEY-1…` string. The error names `source_name` only.
    pub fn parse(secret: &str, source_name: &str) -> Result<Self> {
        age::x25519::Identity::from_str(secret.trim())
            .map(Self)
            .map_err(|_| Error::InvalidIdentity {
                source_name: source_name.to_owned(),
                line: 1,
            })
    }

    /// The age identity, for decryption within this crate.
    pub(crate) fn as_age(&self) -> &dyn age::Identity {
        &self.0
    }
}

/// An age X25519 recipient (`age1…`), the public half of an [`Identity`].
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient(age::x25519::Recipient);

impl Recipient {
    /// Parses one `age1…` recipient; `source_name` names where it came from in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        age::x25519::Recipient::from_str(text.trim())
            .map(Self)
            .map_err(|reason| Error::InvalidRecipient {
                source_name: source_name.to_owned(),
                line: None,
                reason: reason.to_owned(),
            })
    }

    /// The age recipient, for encryption within this crate.
    pub(crate) fn as_age(&self) -> &dyn age::Recipient {
        &self.0
    }
}

impl FromStr for Recipient {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s, "recipient")
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({})", self.0)
    }
}

/// Parses the text of an identity file (see the module docs). `source_name` names the file in
/// errors. At least one identity is required.
pub fn parse_identities(text: &str, source_name: &str) -> Result<Vec<Identity>> {
    let mut identities = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let identity =
            age::x25519::Identity::from_str(line).map_err(|_| Error::InvalidIdentity {
                source_name: source_name.to_owned(),
                line: index + 1,
            })?;
        identities.push(Identity(identity));
    }
    if identities.is_empty() {
        return Err(Error::NoIdentity {
            source_name: source_name.to_owned(),
        });
    }
    Ok(identities)
}

/// Reads an identity file (made by `tether-seal keygen` or `age-keygen`).
pub fn read_identity_file(path: &Path) -> Result<Vec<Identity>> {
    let text = read_key_file(path)?;
    parse_identities(&text, &path.display().to_string())
}

/// Writes a new identity file with mode 0600 (on Unix), refusing to overwrite an existing file.
pub fn write_identity_file(path: &Path, identity: &Identity) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            Error::AlreadyExists {
                path: path.to_owned(),
            }
        } else {
            Error::WriteFile {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let text = identity.identity_file_text(SystemTime::now());
    file.write_all(text.expose_secret().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| Error::WriteFile {
            path: path.to_owned(),
            source,
        })
}

/// Parses a list of recipients: one `age1…` per line, blank lines and `#` comments ignored.
/// An empty list is not an error here (the caller decides).
pub fn parse_recipients(text: &str, source_name: &str) -> Result<Vec<Recipient>> {
    let mut recipients = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let recipient =
            age::x25519::Recipient::from_str(line).map_err(|reason| Error::InvalidRecipient {
                source_name: source_name.to_owned(),
                line: Some(index + 1),
                reason: reason.to_owned(),
            })?;
        recipients.push(Recipient(recipient));
    }
    Ok(recipients)
}

/// Reads a recipients file (see [`parse_recipients`]).
pub fn read_recipients_file(path: &Path) -> Result<Vec<Recipient>> {
    let text = read_key_file(path)?;
    parse_recipients(&text, &path.display().to_string())
}

/// Reads a small text file into zeroizing memory, bounded by [`MAX_KEY_FILE_BYTES`].
fn read_key_file(path: &Path) -> Result<Zeroizing<String>> {
    let file = std::fs::File::open(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::ReadFile {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(Error::FileTooLarge {
            source_name: path.display().to_string(),
        });
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::NotText {
        source_name: path.display().to_string(),
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// `, line N` when there is a line number.
fn line_suffix(line: Option<usize>) -> String {
    line.map(|n| format!(", line {n}")).unwrap_or_default()
}

/// Formats a time as RFC 3339 in UTC with second precision (`2026-01-02T03:04:05Z`).
fn rfc3339_utc(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=31, 1..=12).
    (year, day_or_month(month), day_or_month(day))
}

fn day_or_month(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_format_like_age_keygen() {
        assert_eq!(rfc3339_utc(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_164_800 + 3_661);
        assert_eq!(rfc3339_utc(t), "2024-02-29T01:01:01Z");
    }

    #[test]
    fn identity_file_round_trips_and_names_its_public_key() {
        let identity = Identity::generate();
        let text = identity.identity_file_text(SystemTime::UNIX_EPOCH);
        let text = text.expose_secret();
        assert!(text.starts_with("# created: 1970-01-01T00:00:00Z\n# public key: age1"));
        assert!(text.contains(&format!("# public key: {}\n", identity.recipient())));
        let read = parse_identities(text, "mem").unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].recipient(), identity.recipient());
    }

    #[test]
    fn fail_identity_line_error_names_line_not_content() {
        let text = "# comment\n\nAGE-SECRET-KEY-1NOTAKEY\n";
        let err = parse_identities(text, "keys.txt").err().unwrap();
        let msg = err.to_string();
        assert!(msg.contains("keys.txt, line 3"), "{msg}");
        assert!(!msg.contains("NOTAKEY"), "{msg}");
    }

    #[test]
    fn fail_empty_identity_file() {
        let err = parse_identities("# nothing\n", "empty.txt").err().unwrap();
        assert!(matches!(err, Error::NoIdentity { .. }));
    }

    #[test]
    fn recipients_file_skips_comments_and_blank_lines() {
        let a = Identity::generate().recipient();
        let b = Identity::generate().recipient();
        let text = format!("# cluster a\n{a}\n\n  {b}  \n");
        let list = parse_recipients(&text, "r.txt").unwrap();
        assert_eq!(list, vec![a, b]);
    }

    #[test]
    fn fail_recipient_of_another_type_names_the_line() {
        let text = "# x\nssh-ed25519 AAAAC3Nza\n";
        let err = parse_recipients(text, "r.txt").err().unwrap();
        assert!(err.to_string().contains("r.txt, line 2"), "{err}");
    }

    #[test]
    fn recipient_display_round_trips() {
        let r = Identity::generate().recipient();
        let again: Recipient = r.to_string().parse().unwrap();
        assert_eq!(r, again);
    }

    #[test]
    fn write_identity_file_is_private_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.txt");
        let identity = Identity::generate();
        write_identity_file(&path, &identity).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = write_identity_file(&path, &Identity::generate())
            .err()
            .unwrap();
        assert!(matches!(err, Error::AlreadyExists { .. }));
        let read = read_identity_file(&path).unwrap();
        assert_eq!(read[0].recipient(), identity.recipient());
    }
}
