//! The few bits of PEM and DER the key formats need, written by hand (a few dozen lines
//! instead of an X.509 stack): PEM blocks, walking a DER `SEQUENCE`, and wrapping a PKCS#1
//! RSA private key in PKCS#8 (what the crypto backend reads).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// One PEM block: its label (`CERTIFICATE`, `RSA PRIVATE KEY`, ...) and its DER bytes.
pub(crate) struct PemBlock {
    pub(crate) label: String,
    pub(crate) der: Zeroizing<Vec<u8>>,
}

/// Every PEM block of `text`, in order; `Err` names what is wrong (never quotes the text).
pub(crate) fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = Zeroizing::new(String::new());
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if line.contains(':') {
                return Err(format!("the {label} block has headers (an encrypted key?)"));
            }
            body.push_str(line);
        }
        if !closed {
            return Err(format!("the {label} block has no end line"));
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| format!("the {label} block is not valid base64"))?;
        blocks.push(PemBlock {
            label: label.to_owned(),
            der: Zeroizing::new(der),
        });
    }
    Ok(blocks)
}

/// Writes `der` as a PEM block.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// One DER element: tag, the whole encoding, and its contents.
pub(crate) struct Element<'a> {
    pub(crate) tag: u8,
    pub(crate) whole: &'a [u8],
    pub(crate) contents: &'a [u8],
}

/// Reads the element at the start of `input`; returns it and what follows.
pub(crate) fn read(input: &[u8]) -> Result<(Element<'_>, &[u8]), String> {
    let short = || "truncated DER".to_owned();
    let tag = *input.first().ok_or_else(short)?;
    let first = *input.get(1).ok_or_else(short)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err("unsupported DER length".into());
        }
        let bytes = input.get(2..2 + n).ok_or_else(short)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let end = header.checked_add(len).ok_or_else(short)?;
    let whole = input.get(..end).ok_or_else(short)?;
    Ok((
        Element {
            tag,
            whole,
            contents: &whole[header..],
        },
        &input[end..],
    ))
}

/// The elements inside a constructed element's contents.
pub(crate) fn children(contents: &[u8]) -> Result<Vec<Element<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = contents;
    while !rest.is_empty() {
        let (element, next) = read(rest)?;
        out.push(element);
        rest = next;
    }
    Ok(out)
}

const SEQUENCE: u8 = 0x30;

/// The DER `SubjectPublicKeyInfo` of an X.509 certificate.
pub(crate) fn certificate_spki(cert: &[u8]) -> Result<Vec<u8>, String> {
    let (certificate, _) = read(cert)?;
    let parts = children(certificate.contents)?;
    let tbs = parts
        .first()
        .filter(|e| e.tag == SEQUENCE)
        .ok_or("not an X.509 certificate")?;
    let fields = children(tbs.contents)?;
    // [0] version is optional; then serial, signature, issuer, validity, subject, SPKI.
    let skip = usize::from(fields.first().is_some_and(|f| f.tag == 0xa0));
    let spki = fields
        .get(skip + 5)
        .filter(|e| e.tag == SEQUENCE)
        .ok_or("the certificate has no subject public key")?;
    Ok(spki.whole.to_vec())
}

fn write_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

fn write(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    write_len(out, contents.len());
    out.extend_from_slice(contents);
}

/// Wraps a PKCS#1 `RSAPrivateKey` in a PKCS#8 `PrivateKeyInfo` (rsaEncryption, version 0).
pub(crate) fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Zeroizing<Vec<u8>> {
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
    const ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut inner = Zeroizing::new(Vec::with_capacity(pkcs1.len() + 32));
    inner.extend_from_slice(&[0x02, 0x01, 0x00]);
    inner.extend_from_slice(&ALGORITHM);
    write(&mut inner, 0x04, pkcs1);
    let mut out = Zeroizing::new(Vec::with_capacity(inner.len() + 8));
    write(&mut out, SEQUENCE, &inner);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_round_trip_through_read() {
        let contents = vec![7u8; 300];
        let mut out = Vec::new();
        write(&mut out, 0x04, &contents);
        let (element, rest) = read(&out).unwrap();
        assert_eq!(element.tag, 0x04);
        assert_eq!(element.contents, contents.as_slice());
        assert!(rest.is_empty());
    }

    #[test]
    fn fail_truncated_der_is_an_error_not_a_panic() {
        assert!(read(&[0x30, 0x82, 0x01]).is_err());
        assert!(read(&[0x30, 0x05, 0x01]).is_err());
        assert!(certificate_spki(&[0x30, 0x00]).is_err());
    }

    #[test]
    fn pem_blocks_read_every_block_and_refuse_an_unclosed_one() {
        let text = format!(
            "{}junk\n{}",
            pem_encode("A", b"one"),
            pem_encode("B", b"two")
        );
        let blocks = pem_blocks(&text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].label, "B");
        assert_eq!(blocks[1].der.as_slice(), b"two");
        assert!(pem_blocks("-----BEGIN X-----\nAAAA\n").is_err());
    }
}
