//! The plaintext inside each sealed value's age file: a versioned envelope that binds the value
//! to its scope and key name.
//!
//! Layout, version 1 (integers big-endian, every variable field length-prefixed, nothing after
//! the value):
//!
//! | bytes | field |
//! |---|---|
//! | 18 | magic `tether.dev/sealed\n` |
//! | 1 | version, `0x01` |
//! | 1 | scope kind: `0x01` strict, `0x02` namespace, `0x03` cluster |
//! | 2 + n | scope string, UTF-8: `namespace/name` (strict), `namespace`, or empty (cluster); n ≤ [`MAX_SCOPE_LEN`] |
//! | 2 + n | key name, UTF-8, n ≤ [`MAX_KEY_LEN`] |
//! | 4 + n | value bytes, n ≤ [`MAX_VALUE_LEN`] |
//!
//! [`Envelope::read`] checks every length against its bound before reading, refuses trailing
//! bytes, unknown versions and kinds, and a scope string that does not fit its kind (a strict
//! scope has exactly one `/`, a namespace scope none, a cluster scope is empty). It never
//! panics and never allocates more than the input's size.

use super::model::Scope;
use zeroize::Zeroizing;

/// The first bytes of every envelope.
pub const MAGIC: &[u8; 18] = b"tether.dev/sealed\n";
/// The envelope version this code writes and reads.
pub const VERSION: u8 = 1;
/// The longest scope string: a DNS-1123 subdomain name (253), `/`, a namespace (63), rounded up.
pub const MAX_SCOPE_LEN: usize = 512;
/// The longest key name of a Kubernetes Secret.
pub const MAX_KEY_LEN: usize = 253;
/// The largest value: a Kubernetes Secret holds at most 1 MiB in total.
pub const MAX_VALUE_LEN: usize = 1024 * 1024;
/// The largest encoded envelope.
pub const MAX_ENVELOPE_LEN: usize =
    MAGIC.len() + 2 + 2 + MAX_SCOPE_LEN + 2 + MAX_KEY_LEN + 4 + MAX_VALUE_LEN;

/// Why an envelope could not be read or written. It never carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The bytes do not start with [`MAGIC`]: not a Tether sealed value.
    #[error("not a Tether sealed value (bad magic)")]
    BadMagic,
    /// The version byte is not one this code reads.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// The scope kind byte is unknown.
    #[error("unknown scope kind {0}")]
    UnknownScopeKind(u8),
    /// The input ended inside a field.
    #[error("truncated envelope: {field} is incomplete")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A length field is above its bound.
    #[error("{field} is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A text field is not UTF-8.
    #[error("{field} is not UTF-8")]
    NotUtf8 {
        /// The field.
        field: &'static str,
    },
    /// The scope string does not have the shape of its kind.
    #[error("scope string does not fit scope kind {kind}")]
    ScopeShape {
        /// The kind.
        kind: Scope,
    },
    /// Bytes follow the value.
    #[error("{0} unexpected bytes after the value")]
    TrailingBytes(usize),
}

/// One decoded envelope. The value is zeroized on drop; the type derives nothing.
pub struct Envelope {
    /// The scope kind.
    pub kind: Scope,
    /// The scope string (`namespace/name`, `namespace` or empty).
    pub scope: String,
    /// The Secret key this value belongs to.
    pub key: String,
    /// The plaintext value.
    pub value: Zeroizing<Vec<u8>>,
}

impl Envelope {
    /// Serialises the envelope. Fails only when a field is above its bound or the scope string
    /// does not fit its kind.
    pub fn write(&self) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
        check_len("scope", self.scope.len(), MAX_SCOPE_LEN)?;
        check_len("key", self.key.len(), MAX_KEY_LEN)?;
        check_len("value", self.value.len(), MAX_VALUE_LEN)?;
        check_scope_shape(self.kind, &self.scope)?;
        let mut out = Zeroizing::new(Vec::with_capacity(
            MAGIC.len() + 2 + 2 + self.scope.len() + 2 + self.key.len() + 4 + self.value.len(),
        ));
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(kind_byte(self.kind));
        // The lengths were checked above, so they fit their prefixes.
        out.extend_from_slice(&u16_len(self.scope.len()).to_be_bytes());
        out.extend_from_slice(self.scope.as_bytes());
        out.extend_from_slice(&u16_len(self.key.len()).to_be_bytes());
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(&u32_len(self.value.len()).to_be_bytes());
        out.extend_from_slice(&self.value);
        Ok(out)
    }

    /// Parses an envelope (see the module docs for every check).
    pub fn read(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let mut r = Reader { rest: bytes };
        let magic = r
            .take(MAGIC.len(), "magic")
            .map_err(|_| EnvelopeError::BadMagic)?;
        if magic != MAGIC {
            return Err(EnvelopeError::BadMagic);
        }
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        let kind_raw = r.u8("scope kind")?;
        let kind = kind_from_byte(kind_raw).ok_or(EnvelopeError::UnknownScopeKind(kind_raw))?;
        let scope_len = usize::from(r.u16("scope length")?);
        check_len("scope", scope_len, MAX_SCOPE_LEN)?;
        let scope = r.text(scope_len, "scope")?;
        check_scope_shape(kind, &scope)?;
        let key_len = usize::from(r.u16("key length")?);
        check_len("key", key_len, MAX_KEY_LEN)?;
        let key = r.text(key_len, "key")?;
        let value_len = usize::try_from(r.u32("value length")?).unwrap_or(usize::MAX);
        check_len("value", value_len, MAX_VALUE_LEN)?;
        let value = Zeroizing::new(r.take(value_len, "value")?.to_vec());
        if !r.rest.is_empty() {
            return Err(EnvelopeError::TrailingBytes(r.rest.len()));
        }
        Ok(Self {
            kind,
            scope,
            key,
            value,
        })
    }
}

/// The wire byte of a scope kind.
fn kind_byte(kind: Scope) -> u8 {
    match kind {
        Scope::Strict => 1,
        Scope::Namespace => 2,
        Scope::Cluster => 3,
    }
}

fn kind_from_byte(byte: u8) -> Option<Scope> {
    match byte {
        1 => Some(Scope::Strict),
        2 => Some(Scope::Namespace),
        3 => Some(Scope::Cluster),
        _ => None,
    }
}

fn check_len(field: &'static str, len: usize, max: usize) -> Result<(), EnvelopeError> {
    if len > max {
        return Err(EnvelopeError::TooLong { field, len, max });
    }
    Ok(())
}

fn check_scope_shape(kind: Scope, scope: &str) -> Result<(), EnvelopeError> {
    let slashes = scope.bytes().filter(|b| *b == b'/').count();
    let fits = match kind {
        Scope::Strict => {
            slashes == 1 && !scope.starts_with('/') && !scope.ends_with('/') && !scope.is_empty()
        }
        Scope::Namespace => slashes == 0 && !scope.is_empty(),
        Scope::Cluster => scope.is_empty(),
    };
    if fits {
        Ok(())
    } else {
        Err(EnvelopeError::ScopeShape { kind })
    }
}

fn u16_len(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

fn u32_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// A cursor over the input that only ever hands out what is there.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], EnvelopeError> {
        if self.rest.len() < n {
            return Err(EnvelopeError::Truncated { field });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, EnvelopeError> {
        let b = self.take(1, field)?;
        Ok(b.first().copied().unwrap_or_default())
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, EnvelopeError> {
        let b = self.take(2, field)?;
        let mut a = [0u8; 2];
        a.copy_from_slice(b);
        Ok(u16::from_be_bytes(a))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, EnvelopeError> {
        let b = self.take(4, field)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_be_bytes(a))
    }

    fn text(&mut self, n: usize, field: &'static str) -> Result<String, EnvelopeError> {
        let b = self.take(n, field)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| EnvelopeError::NotUtf8 { field })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn envelope(kind: Scope, scope: &str, key: &str, value: &[u8]) -> Envelope {
        Envelope {
            kind,
            scope: scope.to_owned(),
            key: key.to_owned(),
            value: Zeroizing::new(value.to_vec()),
        }
    }

    /// The byte-exact encoding of one envelope, written out field by field.
    const STRICT_VECTOR: &[u8] =
        b"tether.dev/sealed\n\x01\x01\x00\x07shop/db\x00\x08password\x00\x00\x00\x03s3\xff";

    #[test]
    fn envelope_round_trips_byte_exact() {
        let env = envelope(Scope::Strict, "shop/db", "password", b"s3\xff");
        let bytes = env.write().unwrap();
        assert_eq!(bytes.as_slice(), STRICT_VECTOR);
        let back = Envelope::read(STRICT_VECTOR).unwrap();
        assert_eq!(back.kind, Scope::Strict);
        assert_eq!(back.scope, "shop/db");
        assert_eq!(back.key, "password");
        assert_eq!(back.value.as_slice(), b"s3\xff");
        assert_eq!(back.write().unwrap().as_slice(), STRICT_VECTOR);
    }

    #[test]
    fn namespace_and_cluster_envelopes_round_trip() {
        for (kind, scope) in [(Scope::Namespace, "shop"), (Scope::Cluster, "")] {
            let env = envelope(kind, scope, "k", b"");
            let bytes = env.write().unwrap();
            let back = Envelope::read(&bytes).unwrap();
            assert_eq!((back.kind, back.scope.as_str()), (kind, scope));
            assert_eq!(back.write().unwrap(), bytes);
        }
    }

    #[test]
    fn fail_truncated_envelope_at_every_length() {
        for cut in 0..STRICT_VECTOR.len() {
            let err = Envelope::read(&STRICT_VECTOR[..cut]).err().unwrap();
            assert!(
                matches!(
                    err,
                    EnvelopeError::Truncated { .. } | EnvelopeError::BadMagic
                ),
                "cut at {cut}: {err}"
            );
        }
    }

    #[test]
    fn fail_trailing_bytes() {
        let mut bytes = STRICT_VECTOR.to_vec();
        bytes.push(0);
        assert_eq!(
            Envelope::read(&bytes).err(),
            Some(EnvelopeError::TrailingBytes(1))
        );
    }

    #[test]
    fn fail_oversized_value_length_is_refused_before_reading() {
        let mut bytes = b"tether.dev/sealed\n\x01\x03\x00\x00\x00\x01k".to_vec();
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        let err = Envelope::read(&bytes).err().unwrap();
        assert!(
            matches!(err, EnvelopeError::TooLong { field: "value", .. }),
            "{err}"
        );
        let too_big = envelope(Scope::Cluster, "", "k", &vec![0; MAX_VALUE_LEN + 1]);
        assert!(matches!(
            too_big.write().err(),
            Some(EnvelopeError::TooLong { field: "value", .. })
        ));
    }

    #[test]
    fn fail_oversized_scope_and_key() {
        let mut bytes = b"tether.dev/sealed\n\x01\x01".to_vec();
        bytes.extend_from_slice(&u16::MAX.to_be_bytes());
        assert!(matches!(
            Envelope::read(&bytes).err(),
            Some(EnvelopeError::TooLong { field: "scope", .. })
        ));
        let long_key = "k".repeat(MAX_KEY_LEN + 1);
        assert!(matches!(
            envelope(Scope::Cluster, "", &long_key, b"").write().err(),
            Some(EnvelopeError::TooLong { field: "key", .. })
        ));
    }

    #[test]
    fn fail_wrong_version() {
        let mut bytes = STRICT_VECTOR.to_vec();
        bytes[MAGIC.len()] = 2;
        assert_eq!(
            Envelope::read(&bytes).err(),
            Some(EnvelopeError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn fail_wrong_magic() {
        let mut bytes = STRICT_VECTOR.to_vec();
        bytes[0] = b'T';
        assert_eq!(Envelope::read(&bytes).err(), Some(EnvelopeError::BadMagic));
    }

    #[test]
    fn fail_unknown_scope_kind() {
        let mut bytes = STRICT_VECTOR.to_vec();
        bytes[MAGIC.len() + 1] = 9;
        assert_eq!(
            Envelope::read(&bytes).err(),
            Some(EnvelopeError::UnknownScopeKind(9))
        );
    }

    #[test]
    fn fail_wrong_scope_shape_for_kind() {
        // A strict kind with a namespace-shaped scope, and the other way round.
        let mut bytes = STRICT_VECTOR.to_vec();
        bytes[MAGIC.len() + 1] = 2;
        assert_eq!(
            Envelope::read(&bytes).err(),
            Some(EnvelopeError::ScopeShape {
                kind: Scope::Namespace
            })
        );
        assert!(envelope(Scope::Strict, "shop", "k", b"").write().is_err());
        assert!(envelope(Scope::Strict, "a/b/c", "k", b"").write().is_err());
        assert!(envelope(Scope::Cluster, "shop", "k", b"").write().is_err());
    }

    #[test]
    fn fail_non_utf8_key() {
        let bytes = b"tether.dev/sealed\n\x01\x03\x00\x00\x00\x01\xff\x00\x00\x00\x00";
        assert_eq!(
            Envelope::read(bytes).err(),
            Some(EnvelopeError::NotUtf8 { field: "key" })
        );
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        // A scope and key that a separator-based format would confuse.
        let a = envelope(Scope::Strict, "a/b", "c", b"v").write().unwrap();
        let b = envelope(Scope::Strict, "a/bc", "", b"v").write();
        assert!(b.is_ok());
        assert_ne!(a, b.unwrap());
    }

    proptest::proptest! {
        #[test]
        fn reading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = Envelope::read(&bytes);
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = Envelope::read(&with_magic);
        }
    }
}
