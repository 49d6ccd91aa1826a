//! Just enough DER to build the X.509 certificates of Sprig's `genCA`, `genSelfSignedCert`
//! and `genSignedCert` (RSA keys, SHA-256 signatures), as Go's `x509.CreateCertificate`
//! lays them out, and to read a certificate's subject and key identifier back.

/// A TLV with a short or long length.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of already encoded elements.
pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A non-negative INTEGER from big-endian bytes.
pub(crate) fn uint(bytes: &[u8]) -> Vec<u8> {
    let mut b: Vec<u8> = bytes.iter().copied().skip_while(|x| *x == 0).collect();
    if b.is_empty() || b[0] & 0x80 != 0 {
        b.insert(0, 0);
    }
    tlv(0x02, &b)
}

/// An OBJECT IDENTIFIER from its dotted form.
pub(crate) fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|x| x.parse().ok()).collect();
    let mut body = Vec::new();
    if arcs.len() >= 2 {
        body.push((arcs[0] * 40 + arcs[1]) as u8);
    }
    for &a in arcs.iter().skip(2) {
        let mut stack = vec![(a & 0x7f) as u8];
        let mut v = a >> 7;
        while v > 0 {
            stack.push(((v & 0x7f) as u8) | 0x80);
            v >>= 7;
        }
        stack.reverse();
        body.extend(stack);
    }
    tlv(0x06, &body)
}

/// A time as Go encodes it: UTCTime before 2050, GeneralizedTime after.
pub(crate) fn time(year: i64, rest: &str) -> Vec<u8> {
    if (1950..2050).contains(&year) {
        tlv(0x17, format!("{:02}{rest}Z", year % 100).as_bytes())
    } else {
        tlv(0x18, format!("{year:04}{rest}Z").as_bytes())
    }
}

/// A Name with one CommonName (PrintableString when it fits, as Go chooses).
pub(crate) fn name_cn(cn: &str) -> Vec<u8> {
    if cn.is_empty() {
        return seq(&[]);
    }
    let printable = cn
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&c));
    let value = tlv(if printable { 0x13 } else { 0x0c }, cn.as_bytes());
    let atv = seq(&[&oid("2.5.4.3"), &value]);
    seq(&[&tlv(0x31, &atv)])
}

/// One extension.
pub(crate) fn extension(id: &str, critical: bool, value: &[u8]) -> Vec<u8> {
    let o = oid(id);
    let v = tlv(0x04, value);
    if critical {
        seq(&[&o, &tlv(0x01, &[0xff]), &v])
    } else {
        seq(&[&o, &v])
    }
}

/// The elements of a DER SEQUENCE (tag, whole element bytes).
pub(crate) fn elements(der: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let (tag, body, _) = read(der)?;
    if tag != 0x30 {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (t, _, total) = read(rest)?;
        out.push((t, &rest[..total]));
        rest = &rest[total..];
    }
    Some(out)
}

/// Reads one TLV: (tag, content, total length).
pub(crate) fn read(der: &[u8]) -> Option<(u8, &[u8], usize)> {
    let tag = *der.first()?;
    let first = *der.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *der.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let body = der.get(hdr..hdr + len)?;
    Some((tag, body, hdr + len))
}

/// The subject Name (encoded) of a certificate.
pub(crate) fn cert_subject(cert: &[u8]) -> Option<Vec<u8>> {
    let outer = elements(cert)?;
    let tbs = elements(outer.first()?.1)?;
    // [0] version, serial, signature, issuer, validity, subject
    let offset = usize::from(tbs.first()?.0 == 0xa0);
    Some(tbs.get(offset + 4)?.1.to_vec())
}

/// PEM armour.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER inside the first PEM block with `label`.
pub(crate) fn unpem(text: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text[start..].find(&end)? + start;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}
