//! Leaf values: plaintext secrets, typed scalars, and the `ENC[AES256_GCM,...]` value format.
//!
//! A SOPS leaf is encrypted with AES-256-GCM under the file's 32-byte data key, with a 32-byte
//! random IV and the key path (`a:b:c:`) as additional data. The plaintext bytes of a typed
//! scalar are the ones Go's sops writes: `True`/`False` for booleans, decimal integers, floats
//! in Go's shortest `'f'` notation (never an exponent), RFC 3339 (nanosecond) timestamps.

use aes_gcm::aead::consts::{U12, U16, U32};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rand::RngCore;
use std::sync::LazyLock;
use zeroize::Zeroizing;

use super::gostrconv::{go_format_f, parse_go_atoi, parse_go_bool, parse_go_float};
use super::time::Timestamp;

/// Plaintext bytes that are wiped from memory when dropped.
///
/// Deliberately implements neither `Debug`, `Display`, `Clone` nor `Serialize`, so a secret
/// value cannot end up in a log line or an error message by accident.
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps plaintext bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies a string into a new secret.
    pub fn from_text(text: &str) -> Self {
        Self::new(text.as_bytes().to_vec())
    }

    /// The plaintext bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The plaintext as UTF-8 text, when it is valid UTF-8.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An explicit copy (secrets are not `Clone`, so copies are visible in the code).
    pub fn duplicate(&self) -> Self {
        Self::new(self.0.to_vec())
    }
}

/// A typed scalar, with the types Go's sops distinguishes.
pub enum Scalar {
    /// `null`; never encrypted and never part of the MAC.
    Null,
    /// A string (UTF-8 for YAML/JSON; any bytes for the binary store).
    Str(Secret),
    /// A 64-bit integer (`type:int`).
    Int(i64),
    /// A 64-bit float (`type:float`).
    Float(f64),
    /// A boolean (`type:bool`, plaintext `True`/`False`).
    Bool(bool),
    /// A timestamp (`type:time`), kept as its RFC 3339 (nanosecond) text.
    Time(Secret),
}

impl Scalar {
    /// A string scalar from text.
    pub fn text(text: &str) -> Self {
        Scalar::Str(Secret::from_text(text))
    }

    /// An explicit deep copy.
    pub fn duplicate(&self) -> Self {
        match self {
            Scalar::Null => Scalar::Null,
            Scalar::Str(s) => Scalar::Str(s.duplicate()),
            Scalar::Int(i) => Scalar::Int(*i),
            Scalar::Float(f) => Scalar::Float(*f),
            Scalar::Bool(b) => Scalar::Bool(*b),
            Scalar::Time(t) => Scalar::Time(t.duplicate()),
        }
    }

    /// The bytes sops hashes into the MAC and encrypts (Go's `sops.ToBytes`); `None` for null.
    pub fn to_bytes(&self) -> Option<Zeroizing<Vec<u8>>> {
        Some(Zeroizing::new(match self {
            Scalar::Null => return None,
            Scalar::Str(s) | Scalar::Time(s) => s.expose().to_vec(),
            Scalar::Int(i) => i.to_string().into_bytes(),
            Scalar::Float(f) => go_format_f(*f).into_bytes(),
            Scalar::Bool(true) => b"True".to_vec(),
            Scalar::Bool(false) => b"False".to_vec(),
        }))
    }

    /// The `type:` tag of the encrypted form.
    pub fn type_tag(&self) -> &'static str {
        match self {
            Scalar::Null | Scalar::Str(_) => "str",
            Scalar::Int(_) => "int",
            Scalar::Float(_) => "float",
            Scalar::Bool(_) => "bool",
            Scalar::Time(_) => "time",
        }
    }

    /// The string, when this is a string scalar.
    pub fn as_secret(&self) -> Option<&Secret> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is the empty string (left in clear and out of the MAC's encryption).
    pub fn is_empty_str(&self) -> bool {
        matches!(self, Scalar::Str(s) if s.is_empty())
    }
}

/// Why a value could not be decrypted. The caller adds the file and key path.
#[derive(Debug)]
pub(crate) enum ValueError {
    /// The value is not in the `ENC[...]` format, or a field is not valid base64.
    Format(String),
    /// AES-GCM authentication failed (wrong key, changed byte, or moved value).
    Authentication,
    /// The plaintext does not parse as its declared type.
    Type(String),
}

/// Go's `base64.StdEncoding` for decoding: padding required, non-zero trailing bits accepted.
static GO_STD_B64: LazyLock<GeneralPurpose> = LazyLock::new(|| {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    )
});

static ENC_RE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")
        .expect("a constant regex compiles")
});

/// Whether a string looks like an encrypted sops value.
pub fn is_enc_value(s: &str) -> bool {
    canonical_enc(s).is_some() || ENC_RE.is_match(s)
}

/// The four fields of a value in the form sops writes, found without the regex: one line, the
/// three commas that separate the fields, and the only `]` at the end. For such a string the
/// regex's greedy groups can only match these same fields; anything else goes to the regex.
fn canonical_enc(s: &str) -> Option<[&str; 4]> {
    let body = s.strip_prefix("ENC[AES256_GCM,data:")?.strip_suffix(']')?;
    if body.contains(['\n', '\r', ']']) || body.bytes().filter(|b| *b == b',').count() != 3 {
        return None;
    }
    let (data, rest) = body.split_once(",iv:")?;
    let (iv, rest) = rest.split_once(",tag:")?;
    let (tag, kind) = rest.split_once(",type:")?;
    let fields = [data, iv, tag, kind];
    fields.iter().all(|f| !f.is_empty()).then_some(fields)
}

/// The four fields of an encrypted value, by the fast path or by the regex.
fn enc_fields(s: &str) -> Option<[&str; 4]> {
    if let Some(fields) = canonical_enc(s) {
        return Some(fields);
    }
    let caps = ENC_RE.captures(s)?;
    let group = |i: usize| caps.get(i).map(|m| m.as_str()).unwrap_or_default();
    Some([group(1), group(2), group(3), group(4)])
}

struct EncParts {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    kind: String,
}

fn parse_enc(s: &str) -> Result<EncParts, ValueError> {
    let [data, iv, tag, kind] = enc_fields(s)
        .ok_or_else(|| ValueError::Format("not an ENC[AES256_GCM,...] value".into()))?;
    let field = |text: &str, name: &str| -> Result<Vec<u8>, ValueError> {
        GO_STD_B64
            .decode(text)
            .map_err(|e| ValueError::Format(format!("{name} is not base64: {e}")))
    };
    Ok(EncParts {
        data: field(data, "data")?,
        iv: field(iv, "iv")?,
        tag: field(tag, "tag")?,
        kind: kind.to_owned(),
    })
}

fn open(key: &[u8; 32], parts: &EncParts, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, ValueError> {
    if parts.tag.len() != 16 {
        return Err(ValueError::Format(format!(
            "tag is {} bytes, not 16",
            parts.tag.len()
        )));
    }
    let mut buf = Zeroizing::new(parts.data.clone());
    let tag = Tag::<U16>::from_slice(&parts.tag);
    macro_rules! open_with {
        ($n:ty) => {{
            let cipher = AesGcm::<Aes256, $n>::new(key.into());
            cipher
                .decrypt_in_place_detached(Nonce::<$n>::from_slice(&parts.iv), aad, &mut buf, tag)
                .map_err(|_| ValueError::Authentication)?
        }};
    }
    match parts.iv.len() {
        32 => open_with!(U32),
        12 => open_with!(U12),
        16 => open_with!(U16),
        n => return Err(ValueError::Format(format!("unsupported IV length {n}"))),
    }
    Ok(buf)
}

/// Decrypts an `ENC[...]` value into a typed scalar, also returning its IV (for reuse).
pub(crate) fn decrypt_scalar(
    key: &[u8; 32],
    value: &str,
    aad: &str,
) -> Result<(Scalar, Vec<u8>), ValueError> {
    let parts = parse_enc(value)?;
    let plain = open(key, &parts, aad.as_bytes())?;
    let text = || {
        std::str::from_utf8(&plain)
            .map_err(|_| ValueError::Type(format!("{} value is not UTF-8", parts.kind)))
    };
    let scalar = match parts.kind.as_str() {
        "str" | "bytes" => Scalar::Str(Secret::new(plain.to_vec())),
        "int" => Scalar::Int(
            parse_go_atoi(text()?).ok_or_else(|| ValueError::Type("invalid int".into()))?,
        ),
        "float" => Scalar::Float(
            parse_go_float(text()?).ok_or_else(|| ValueError::Type("invalid float".into()))?,
        ),
        "bool" => Scalar::Bool(
            parse_go_bool(text()?).ok_or_else(|| ValueError::Type("invalid bool".into()))?,
        ),
        "time" => {
            let ts = Timestamp::parse_rfc3339(text()?)
                .ok_or_else(|| ValueError::Type("invalid time".into()))?;
            Scalar::Time(Secret::from_text(&ts.to_rfc3339_nano()))
        }
        "comment" => {
            return Err(ValueError::Type(
                "a comment where a value was expected".into(),
            ));
        }
        other => return Err(ValueError::Type(format!("unknown datatype {other:?}"))),
    };
    Ok((scalar, parts.iv))
}

/// Decrypts an encrypted comment (`type:comment`), returning the text and the IV.
pub(crate) fn decrypt_comment(
    key: &[u8; 32],
    value: &str,
    aad: &str,
) -> Result<(Secret, Vec<u8>), ValueError> {
    let parts = parse_enc(value)?;
    let plain = open(key, &parts, aad.as_bytes())?;
    if parts.kind != "comment" {
        return Err(ValueError::Type(format!(
            "a {} value where a comment was expected",
            parts.kind
        )));
    }
    Ok((Secret::new(plain.to_vec()), parts.iv))
}

/// A fresh random 32-byte IV.
pub(crate) fn random_iv() -> Vec<u8> {
    let mut iv = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut iv);
    iv
}

/// Encrypts plaintext bytes with a given type tag into the `ENC[...]` form. The IV must be
/// 32 bytes (sops's nonce size).
pub(crate) fn encrypt_bytes(
    key: &[u8; 32],
    plain: &[u8],
    kind: &str,
    aad: &str,
    iv: &[u8],
) -> String {
    let cipher = AesGcm::<Aes256, U32>::new(key.into());
    let mut buf = Zeroizing::new(plain.to_vec());
    let nonce_bytes: [u8; 32] = match iv.try_into() {
        Ok(n) => n,
        Err(_) => {
            let mut fresh = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut fresh);
            fresh
        }
    };
    let tag = cipher
        .encrypt_in_place_detached(
            Nonce::<U32>::from_slice(&nonce_bytes),
            aad.as_bytes(),
            &mut buf,
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
        b64.encode(&buf[..]),
        b64.encode(nonce_bytes),
        b64.encode(tag),
        kind
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_format_round_trips_byte_for_byte() {
        let key = [7u8; 32];
        let iv = [9u8; 32];
        let enc = encrypt_bytes(&key, b"hunter2", "str", "data:password:", &iv);
        assert!(enc.starts_with("ENC[AES256_GCM,data:"));
        assert!(enc.contains(",iv:CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=,tag:"));
        assert!(enc.ends_with(",type:str]"));
        let (scalar, got_iv) = decrypt_scalar(&key, &enc, "data:password:").expect("decrypts");
        assert_eq!(got_iv, iv);
        let bytes = scalar.to_bytes().expect("a string");
        assert_eq!(&bytes[..], b"hunter2");
        // Re-encrypting with the same IV gives the same bytes.
        assert_eq!(
            encrypt_bytes(&key, &bytes, "str", "data:password:", &got_iv),
            enc
        );
    }

    #[test]
    fn fail_wrong_aad_is_an_authentication_failure() {
        let key = [1u8; 32];
        let enc = encrypt_bytes(&key, b"v", "str", "a:", &random_iv());
        assert!(matches!(
            decrypt_scalar(&key, &enc, "b:"),
            Err(ValueError::Authentication)
        ));
    }

    #[test]
    fn typed_values_decrypt_to_their_types() {
        let key = [2u8; 32];
        let iv = random_iv();
        let int = encrypt_bytes(&key, b"420", "int", "mode:", &iv);
        assert!(matches!(
            decrypt_scalar(&key, &int, "mode:"),
            Ok((Scalar::Int(420), _))
        ));
        let b = encrypt_bytes(&key, b"True", "bool", "x:", &iv);
        assert!(matches!(
            decrypt_scalar(&key, &b, "x:"),
            Ok((Scalar::Bool(true), _))
        ));
        let f = encrypt_bytes(&key, b"1000000000000000000000", "float", "x:", &iv);
        assert!(matches!(decrypt_scalar(&key, &f, "x:"), Ok((Scalar::Float(v), _)) if v == 1e21));
    }

    #[test]
    fn non_canonical_base64_padding_bits_are_accepted() {
        // "Zh==" has non-zero trailing bits; Go decodes it to "f", like "Zg==".
        assert_eq!(GO_STD_B64.decode("Zh==").expect("accepted"), b"f");
    }

    #[test]
    fn encrypted_value_fields_found_without_the_regex_match_the_regex() {
        let by_regex = |s: &str| {
            ENC_RE.captures(s).map(|c| {
                [1, 2, 3, 4].map(|i| c.get(i).map(|m| m.as_str().to_owned()).unwrap_or_default())
            })
        };
        let cases = [
            "ENC[AES256_GCM,data:YQ==,iv:aXY=,tag:dGFn,type:str]",
            "ENC[AES256_GCM,data:YQ==,iv:aXY=,tag:dGFn,type:str]tail",
            "ENC[AES256_GCM,data:a,b,iv:c,tag:d,type:str]",
            "ENC[AES256_GCM,data:a,iv:b,iv:c,tag:d,type:str]",
            "ENC[AES256_GCM,data:a,iv:b,tag:c,type:s]t]",
            "ENC[AES256_GCM,data:,iv:b,tag:c,type:str]",
            "ENC[AES256_GCM,data:a\r,iv:b,tag:c,type:str]",
            "ENC[AES256_GCM,data:a\n,iv:b,tag:c,type:str]",
            "ENC[AES256_GCM,data:a,iv:b,tag:c,type:str",
            "plain text",
        ];
        for case in cases {
            let fast = enc_fields(case).map(|f| f.map(str::to_owned));
            assert_eq!(fast, by_regex(case), "{case:?}");
            assert_eq!(is_enc_value(case), ENC_RE.is_match(case), "{case:?}");
        }
    }
}
