//! Sprig's random and cryptographic functions, drawing every random byte from the
//! render's ChaCha20 generator (seeded per app, release and template by the chart side),
//! so a chart renders the same keys, certificates and passwords on every sync.

use super::super::exec::Exec;
use super::super::{Object, Value};
use super::x509::{self, extension, name_cn, oid, seq, tlv, uint};
use super::{Func, arity, int, list, s, string, strval};
use base64::Engine;
use rand::{Rng, RngCore};
use sha2::Digest;
use std::sync::Arc;

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("uuidv4", uuidv4),
    ("randInt", rand_int),
    ("randBytes", rand_bytes),
    ("derivePassword", derive_password),
    ("bcrypt", bcrypt),
    ("htpasswd", htpasswd),
    ("encryptAES", encrypt_aes),
    ("decryptAES", decrypt_aes),
    ("genPrivateKey", gen_private_key),
    ("genCA", gen_ca),
    ("genCAWithKey", gen_ca_with_key),
    ("genSelfSignedCert", gen_self_signed_cert),
    ("genSelfSignedCertWithKey", gen_self_signed_cert_with_key),
    ("genSignedCert", gen_signed_cert),
    ("genSignedCertWithKey", gen_signed_cert_with_key),
    ("buildCustomCert", build_custom_cert),
];

fn uuidv4(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 0)?;
    let mut b = [0u8; 16];
    ex.rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(s(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )))
}

fn rand_int(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let (min, max) = (int(a, 0)?, int(a, 1)?);
    if max <= min {
        return Err("invalid argument to Intn".to_owned());
    }
    Ok(Value::Int(ex.rng().gen_range(min..max)))
}

fn rand_bytes(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let n = int(a, 0)?;
    if !(0..=64 * 1024 * 1024).contains(&n) {
        return Err(format!("randBytes: {n} is out of range"));
    }
    let mut b = vec![0u8; n as usize];
    ex.rng().fill_bytes(&mut b);
    Ok(s(base64::engine::general_purpose::STANDARD.encode(b)))
}

const MASTER_SEED: &str = "com.lyndir.masterpassword";

fn password_templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

fn template_chars(c: char) -> &'static str {
    match c {
        'V' => "AEIOU",
        'C' => "BCDFGHJKLMNPQRSTVWXYZ",
        'v' => "aeiou",
        'c' => "bcdfghjklmnpqrstvwxyz",
        'A' => "AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        'a' => "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        'n' => "0123456789",
        'o' => "@&%?,=[]_:-+*$#!'^~;()/.",
        _ => "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// Sprig's `derivePassword`: the Master Password algorithm (scrypt, then HMAC-SHA256).
fn derive_password(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 5)?;
    let counter = int(a, 0)?;
    let (kind, password, user, site) = (string(a, 1)?, string(a, 2)?, string(a, 3)?, string(a, 4)?);
    let Some(templates) = password_templates(kind) else {
        return Ok(s(format!("cannot find password template {kind}")));
    };
    let mut salt = MASTER_SEED.as_bytes().to_vec();
    salt.extend((user.len() as u32).to_be_bytes());
    salt.extend(user.as_bytes());
    let params = scrypt::Params::new(15, 8, 2, 64).map_err(|e| e.to_string())?;
    let mut key = [0u8; 64];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key).map_err(|e| e.to_string())?;
    let mut seed = MASTER_SEED.as_bytes().to_vec();
    seed.extend((site.len() as u32).to_be_bytes());
    seed.extend(site.as_bytes());
    seed.extend((counter as u32).to_be_bytes());
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(&seed);
    let sum = mac.finalize().into_bytes();
    let template = templates[sum[0] as usize % templates.len()];
    let out: String = template
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let chars = template_chars(c).as_bytes();
            chars[sum[i + 1] as usize % chars.len()] as char
        })
        .collect();
    Ok(s(out))
}

const BCRYPT_B64: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn bcrypt_b64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(BCRYPT_B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// bcrypt with Go's default cost (10) and a salt from the render's generator.
fn bcrypt_hash(ex: &mut Exec<'_>, password: &str) -> String {
    let mut salt = [0u8; 16];
    ex.rng().fill_bytes(&mut salt);
    let mut key = password.as_bytes().to_vec();
    key.truncate(72);
    key.push(0);
    let cost = 10u32;
    let mut state = blowfish::Blowfish::bc_init_state();
    state.salted_expand_key(&salt, &key);
    for _ in 0..(1u32 << cost) {
        state.bc_expand_key(&key);
        state.bc_expand_key(&salt);
    }
    let mut ctext = [0u32; 6];
    for (i, chunk) in b"OrpheanBeholderScryDoubt".chunks(4).enumerate() {
        ctext[i] = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    for i in (0..6).step_by(2) {
        for _ in 0..64 {
            let [l, r] = state.bc_encrypt([ctext[i], ctext[i + 1]]);
            ctext[i] = l;
            ctext[i + 1] = r;
        }
    }
    let mut out = Vec::with_capacity(24);
    for w in ctext {
        out.extend(w.to_be_bytes());
    }
    format!(
        "$2a${cost:02}${}{}",
        bcrypt_b64(&salt),
        bcrypt_b64(&out[..23])
    )
}

fn bcrypt(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let p = string(a, 0)?.to_owned();
    Ok(s(bcrypt_hash(ex, &p)))
}

fn htpasswd(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let user = string(a, 0)?.to_owned();
    let pass = string(a, 1)?.to_owned();
    if user.contains(':') {
        return Ok(s(format!("invalid username: {user}")));
    }
    Ok(s(format!("{user}:{}", bcrypt_hash(ex, &pass))))
}

fn aes_key(password: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let n = password.len().min(32);
    key[..n].copy_from_slice(&password.as_bytes()[..n]);
    key
}

fn encrypt_aes(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    arity(a, 2)?;
    let key = aes_key(string(a, 0)?);
    let plain = string(a, 1)?.to_owned();
    if plain.is_empty() {
        return Ok(s(""));
    }
    let mut iv = [0u8; 16];
    ex.rng().fill_bytes(&mut iv);
    let enc = cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into());
    let ct = enc.encrypt_padded_vec_mut::<Pkcs7>(plain.as_bytes());
    let mut out = iv.to_vec();
    out.extend(ct);
    Ok(s(base64::engine::general_purpose::STANDARD.encode(out)))
}

fn decrypt_aes(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
    arity(a, 2)?;
    let key = aes_key(string(a, 0)?);
    let data = base64::engine::general_purpose::STANDARD
        .decode(string(a, 1)?)
        .map_err(|e| e.to_string())?;
    if data.len() < 16 || data.len() % 16 != 0 {
        return Err("ciphertext too short".to_owned());
    }
    let dec = cbc::Decryptor::<aes::Aes256>::new(&key.into(), data[..16].into());
    let plain = dec
        .decrypt_padded_vec_mut::<Pkcs7>(&data[16..])
        .map_err(|_| "invalid padding".to_owned())?;
    Ok(s(String::from_utf8_lossy(&plain)))
}

fn rsa_key(ex: &mut Exec<'_>, bits: usize) -> Result<rsa::RsaPrivateKey, String> {
    rsa::RsaPrivateKey::new(ex.rng(), bits).map_err(|e| format!("error generating RSA key: {e}"))
}

fn rsa_pem(key: &rsa::RsaPrivateKey) -> Result<String, String> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
    Ok(x509::pem("RSA PRIVATE KEY", der.as_bytes()))
}

fn gen_private_key(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let kind = string(a, 0)?.to_owned();
    let pem = match kind.as_str() {
        "" | "rsa" => rsa_pem(&rsa_key(ex, 4096)?)?,
        "ecdsa" => {
            // SEC1 with the curve named, as Go's x509.MarshalECPrivateKey writes it.
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            let sk = p256::SecretKey::random(ex.rng());
            let point = sk.public_key().to_encoded_point(false);
            let mut bits = vec![0u8];
            bits.extend_from_slice(point.as_bytes());
            let der = seq(&[
                &uint(&[1]),
                &tlv(0x04, &sk.to_bytes()),
                &tlv(0xa0, &oid("1.2.840.10045.3.1.7")),
                &tlv(0xa1, &tlv(0x03, &bits)),
            ]);
            x509::pem("EC PRIVATE KEY", &der)
        }
        "ed25519" => {
            let mut seed = [0u8; 32];
            ex.rng().fill_bytes(&mut seed);
            let mut der = hex::decode("302e020100300506032b657004220420").unwrap_or_default();
            der.extend(seed);
            x509::pem("PRIVATE KEY", &der)
        }
        other => return Ok(s(format!("Unknown type {other}"))),
    };
    Ok(s(pem))
}

/// A certificate and its key, as Sprig's `certificate` struct (`.Cert`, `.Key`).
#[derive(Clone)]
struct Certificate {
    cert: String,
    key: String,
}

impl Object for Certificate {
    fn type_name(&self) -> &str {
        "sprig.certificate"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(s(&self.cert)),
            "Key" => Some(s(&self.key)),
            _ => None,
        }
    }

    fn call(&self, _method: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "Cert": self.cert, "Key": self.key })
    }
}

fn cert_value(c: Certificate) -> Value {
    Value::Object(Arc::new(c))
}

/// What a certificate says about itself, beyond its key.
struct Template {
    cn: String,
    ips: Vec<Vec<u8>>,
    dns: Vec<String>,
    days: i64,
    is_ca: bool,
}

fn ip_bytes(v: &Value) -> Result<Vec<u8>, String> {
    let text = strval(v);
    match text.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => Ok(ip.octets().to_vec()),
        Ok(std::net::IpAddr::V6(ip)) => Ok(ip.octets().to_vec()),
        Err(_) => Err(format!("error parsing ip: {text}")),
    }
}

fn template(
    a: &[Value],
    cn: usize,
    ips: Option<usize>,
    days: usize,
    is_ca: bool,
) -> Result<Template, String> {
    let cn = string(a, cn)?.to_owned();
    let (ips, dns) = match ips {
        Some(i) => (
            list(a, i)?
                .iter()
                .map(ip_bytes)
                .collect::<Result<Vec<_>, _>>()?,
            list(a, i + 1)?.iter().map(strval).collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    Ok(Template {
        cn,
        ips,
        dns,
        days: int(a, days)?,
        is_ca,
    })
}

fn validity(now: i64, days: i64) -> Vec<u8> {
    let t = |secs: i64| {
        let v = super::dates_time(secs);
        x509::time(v.0, &v.1)
    };
    seq(&[&t(now), &t(now.saturating_add(days.saturating_mul(86_400)))])
}

fn sha256_rsa_sign(key: &rsa::RsaPrivateKey, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut info = hex::decode("3031300d060960864801650304020105000420").unwrap_or_default();
    info.extend(sha2::Sha256::digest(data));
    key.sign(rsa::Pkcs1v15Sign::new_unprefixed(), &info)
        .map_err(|e| e.to_string())
}

fn spki(key: &rsa::RsaPrivateKey) -> Result<Vec<u8>, String> {
    use rsa::pkcs8::EncodePublicKey;
    Ok(key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| e.to_string())?
        .as_bytes()
        .to_vec())
}

/// The key identifier Go computes: SHA-1 of the public key's bits.
fn key_id(spki_der: &[u8]) -> Vec<u8> {
    let bits = x509::elements(spki_der)
        .and_then(|e| {
            e.get(1)
                .and_then(|(_, el)| x509::read(el).map(|(_, b, _)| b[1..].to_vec()))
        })
        .unwrap_or_default();
    sha1::Sha1::digest(&bits).to_vec()
}

/// Builds and signs a certificate (issuer = the signer's subject).
fn build(
    ex: &mut Exec<'_>,
    t: &Template,
    key: &rsa::RsaPrivateKey,
    issuer: Option<(&[u8], &rsa::RsaPrivateKey, Vec<u8>)>,
) -> Result<String, String> {
    let mut serial = [0u8; 16];
    ex.rng().fill_bytes(&mut serial);
    let pub_der = spki(key)?;
    let subject = name_cn(&t.cn);
    let sig_alg = seq(&[&oid("1.2.840.113549.1.1.11"), &tlv(0x05, &[])]);
    let mut exts: Vec<Vec<u8>> = Vec::new();
    // keyUsage: digitalSignature, keyEncipherment (+ keyCertSign for a CA).
    let ku = if t.is_ca {
        tlv(0x03, &[0x02, 0xa4])
    } else {
        tlv(0x03, &[0x05, 0xa0])
    };
    exts.push(extension("2.5.29.15", true, &ku));
    exts.push(extension(
        "2.5.29.37",
        false,
        &seq(&[&oid("1.3.6.1.5.5.7.3.1"), &oid("1.3.6.1.5.5.7.3.2")]),
    ));
    let bc = if t.is_ca {
        seq(&[&tlv(0x01, &[0xff])])
    } else {
        seq(&[])
    };
    exts.push(extension("2.5.29.19", true, &bc));
    if t.is_ca {
        exts.push(extension("2.5.29.14", false, &tlv(0x04, &key_id(&pub_der))));
    }
    if let Some((_, _, aki)) = &issuer
        && !aki.is_empty()
    {
        exts.push(extension("2.5.29.35", false, &seq(&[&tlv(0x80, aki)])));
    }
    if !t.dns.is_empty() || !t.ips.is_empty() {
        let mut names: Vec<Vec<u8>> = t.dns.iter().map(|d| tlv(0x82, d.as_bytes())).collect();
        names.extend(t.ips.iter().map(|ip| tlv(0x87, ip)));
        let refs: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
        exts.push(extension("2.5.29.17", false, &seq(&refs)));
    }
    let ext_refs: Vec<&[u8]> = exts.iter().map(Vec::as_slice).collect();
    let (issuer_name, signer) = match &issuer {
        Some((name, k, _)) => (name.to_vec(), *k),
        None => (subject.clone(), key),
    };
    let tbs = seq(&[
        &tlv(0xa0, &uint(&[2])),
        &uint(&serial),
        &sig_alg,
        &issuer_name,
        &validity(ex.env.now, t.days),
        &subject,
        &pub_der,
        &tlv(0xa3, &seq(&ext_refs)),
    ]);
    let sig = sha256_rsa_sign(signer, &tbs)?;
    let mut bits = vec![0u8];
    bits.extend(sig);
    let cert = seq(&[&tbs, &sig_alg, &tlv(0x03, &bits)]);
    Ok(x509::pem("CERTIFICATE", &cert))
}

fn parse_rsa_pem(text: &str) -> Result<rsa::RsaPrivateKey, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    if let Some(der) = x509::unpem(text, "RSA PRIVATE KEY") {
        return rsa::RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| e.to_string());
    }
    if let Some(der) = x509::unpem(text, "PRIVATE KEY") {
        return rsa::RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| e.to_string());
    }
    Err("error decoding PEM: only RSA keys are supported".to_owned())
}

fn ca_of(v: &Value) -> Result<(Vec<u8>, rsa::RsaPrivateKey, Vec<u8>), String> {
    let Value::Object(o) = v else {
        return Err("wrong type for value; expected sprig.certificate".to_owned());
    };
    let (Some(Value::String(cert)), Some(Value::String(key))) = (o.field("Cert"), o.field("Key"))
    else {
        return Err("wrong type for value; expected sprig.certificate".to_owned());
    };
    let der = x509::unpem(&cert, "CERTIFICATE").ok_or("error decoding the CA certificate")?;
    let subject = x509::cert_subject(&der).ok_or("error parsing the CA certificate")?;
    let key = parse_rsa_pem(&key)?;
    let aki = key_id(&spki(&key)?);
    Ok((subject, key, aki))
}

fn gen_ca(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let t = template(a, 0, None, 1, true)?;
    let key = rsa_key(ex, 2048)?;
    let cert = build(ex, &t, &key, None)?;
    Ok(cert_value(Certificate {
        cert,
        key: rsa_pem(&key)?,
    }))
}

fn gen_ca_with_key(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 3)?;
    let t = template(a, 0, None, 1, true)?;
    let key = parse_rsa_pem(string(a, 2)?)?;
    let cert = build(ex, &t, &key, None)?;
    Ok(cert_value(Certificate {
        cert,
        key: rsa_pem(&key)?,
    }))
}

fn gen_self_signed_cert(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 4)?;
    let t = template(a, 0, Some(1), 3, false)?;
    let key = rsa_key(ex, 2048)?;
    let cert = build(ex, &t, &key, None)?;
    Ok(cert_value(Certificate {
        cert,
        key: rsa_pem(&key)?,
    }))
}

fn gen_self_signed_cert_with_key(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 5)?;
    let t = template(a, 0, Some(1), 3, false)?;
    let key = parse_rsa_pem(string(a, 4)?)?;
    let cert = build(ex, &t, &key, None)?;
    Ok(cert_value(Certificate {
        cert,
        key: rsa_pem(&key)?,
    }))
}

fn gen_signed_cert(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 5)?;
    let t = template(a, 0, Some(1), 3, false)?;
    let (subject, ca_key, aki) = ca_of(&a[4])?;
    let key = rsa_key(ex, 2048)?;
    let cert = build(ex, &t, &key, Some((&subject, &ca_key, aki)))?;
    Ok(cert_value(Certificate {
        cert,
        key: rsa_pem(&key)?,
    }))
}

fn gen_signed_cert_with_key(ex: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 6)?;
    let t = template(a, 0, Some(1), 3, false)?;
    let (subject, ca_key, aki) = ca_of(&a[4])?;
    let key = parse_rsa_pem(string(a, 5)?)?;
    let cert = build(ex, &t, &key, Some((&subject, &ca_key, aki)))?;
    Ok(cert_value(Certificate {
        cert,
        key: rsa_pem(&key)?,
    }))
}

fn build_custom_cert(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let dec = |i: usize| -> Result<String, String> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(string(a, i)?)
            .map_err(|_| "unable to decode base64 certificate".to_owned())?;
        Ok(String::from_utf8_lossy(&raw).into_owned())
    };
    let cert = dec(0)?;
    let key = dec(1)?;
    if x509::unpem(&cert, "CERTIFICATE").is_none() {
        return Err("error decoding certificate".to_owned());
    }
    Ok(cert_value(Certificate { cert, key }))
}
