//! Sprig's encodings, hashes, paths and URLs: `b64enc`, `b32enc`, `sha256sum`,
//! `adler32sum`, `base`, `clean`, `urlParse`, `urlJoin`, ...

use super::super::exec::Exec;
use super::{Func, Value, arity, dict, s, string, strval};
use base64::Engine;
use sha2::Digest;
use std::collections::BTreeMap;

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("b64enc", b64enc),
    ("b64dec", b64dec),
    ("b32enc", b32enc),
    ("b32dec", b32dec),
    ("sha1sum", sha1sum),
    ("sha256sum", sha256sum),
    ("sha512sum", sha512sum),
    ("adler32sum", adler32sum),
    ("base", base),
    ("dir", dir),
    ("ext", ext),
    ("clean", clean),
    ("isAbs", is_abs),
    ("osBase", base),
    ("osDir", dir),
    ("osExt", ext),
    ("osClean", clean),
    ("osIsAbs", is_abs),
    ("urlParse", url_parse),
    ("urlJoin", url_join),
    ("getHostByName", get_host_by_name),
];

fn b64enc(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(
        base64::engine::general_purpose::STANDARD.encode(string(a, 0)?)
    ))
}

fn b64dec(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    match base64::engine::general_purpose::STANDARD.decode(string(a, 0)?) {
        Ok(b) => Ok(s(String::from_utf8_lossy(&b))),
        Err(e) => Ok(s(go_b64_error(&e))),
    }
}

fn go_b64_error(e: &base64::DecodeError) -> String {
    let at = match e {
        base64::DecodeError::InvalidByte(i, _) | base64::DecodeError::InvalidLastSymbol(i, _) => *i,
        _ => 0,
    };
    format!("illegal base64 data at input byte {at}")
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 with padding (Go's `base32.StdEncoding`).
fn base32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(B32[((bits >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base32_decode(text: &str) -> Result<Vec<u8>, usize> {
    let mut out = Vec::new();
    let mut acc: u64 = 0;
    let mut n = 0;
    let trimmed = text.trim_end_matches('=');
    for (i, c) in trimmed.bytes().enumerate() {
        let v = B32.iter().position(|x| *x == c).ok_or(i)?;
        acc = (acc << 5) | v as u64;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((acc >> n) as u8);
            acc &= (1 << n) - 1;
        }
    }
    if !text.len().is_multiple_of(8) {
        return Err(text.len() - text.len() % 8);
    }
    Ok(out)
}

fn b32enc(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(base32_encode(string(a, 0)?.as_bytes())))
}

fn b32dec(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    match base32_decode(string(a, 0)?) {
        Ok(b) => Ok(s(String::from_utf8_lossy(&b))),
        Err(i) => Ok(s(format!("illegal base32 data at input byte {i}"))),
    }
}

fn sha1sum(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(hex::encode(sha1::Sha1::digest(string(a, 0)?.as_bytes()))))
}

fn sha256sum(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(hex::encode(sha2::Sha256::digest(
        string(a, 0)?.as_bytes(),
    ))))
}

fn sha512sum(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(hex::encode(sha2::Sha512::digest(
        string(a, 0)?.as_bytes(),
    ))))
}

/// Adler-32 (Go's `hash/adler32`), printed in decimal as Sprig does.
pub(crate) fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for x in data {
        a = (a + u32::from(*x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn adler32sum(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(adler32(string(a, 0)?.as_bytes()).to_string()))
}

/// Go's `path.Clean`.
pub(crate) fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_owned();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

fn base(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let p = string(a, 0)?;
    if p.is_empty() {
        return Ok(s("."));
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return Ok(s("/"));
    }
    Ok(s(t.rsplit('/').next().unwrap_or(t)))
}

fn dir(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let p = string(a, 0)?;
    let d = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    Ok(s(path_clean(d)))
}

fn ext(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let p = string(a, 0)?;
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return Ok(s(&p[i..]));
        }
    }
    Ok(s(""))
}

fn clean(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(s(path_clean(string(a, 0)?)))
}

fn is_abs(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(Value::Bool(string(a, 0)?.starts_with('/')))
}

/// The parts of a URL as Go's `url.Parse` splits them.
struct Url<'a> {
    scheme: &'a str,
    userinfo: &'a str,
    host: &'a str,
    path: &'a str,
    query: &'a str,
    fragment: &'a str,
    opaque: &'a str,
}

fn parse_url(v: &str) -> Url<'_> {
    let (rest, fragment) = v.split_once('#').unwrap_or((v, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut u = Url {
        scheme: "",
        userinfo: "",
        host: "",
        path: rest,
        query,
        fragment,
        opaque: "",
    };
    if let Some(i) = rest.find(':') {
        let sch = &rest[..i];
        if !sch.is_empty()
            && sch.starts_with(|c: char| c.is_ascii_alphabetic())
            && sch
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            u.scheme = sch;
            u.path = &rest[i + 1..];
            if !u.path.starts_with('/') {
                u.opaque = u.path;
                u.path = "";
                return u;
            }
        }
    }
    if let Some(after) = u.path.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let auth = &after[..end];
        u.path = &after[end..];
        match auth.rfind('@') {
            Some(i) => {
                u.userinfo = &auth[..i];
                u.host = &auth[i + 1..];
            }
            None => u.host = auth,
        }
    }
    u
}

fn url_parse(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let v = string(a, 0)?;
    let u = parse_url(v);
    let hostname = match u.host.strip_prefix('[') {
        Some(h) => h.split(']').next().unwrap_or(h),
        None => u.host.rsplit_once(':').map_or(u.host, |(h, _)| h),
    };
    let m: BTreeMap<String, Value> = [
        ("scheme", u.scheme),
        ("host", u.host),
        ("hostname", hostname),
        ("path", u.path),
        ("query", u.query),
        ("opaque", u.opaque),
        ("fragment", u.fragment),
        ("userinfo", u.userinfo),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), s(v)))
    .collect();
    Ok(Value::map(m))
}

fn url_join(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let d = dict(a, 0)?;
    let get = |k: &str| d.get(k).map(strval).unwrap_or_default();
    let mut out = String::new();
    let scheme = get("scheme");
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    let opaque = get("opaque");
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        let host = get("host");
        let user = get("userinfo");
        if !scheme.is_empty() || !host.is_empty() || !user.is_empty() {
            out.push_str("//");
            if !user.is_empty() {
                out.push_str(&user);
                out.push('@');
            }
            out.push_str(&host);
        }
        let path = get("path");
        if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        out.push_str(&path);
    }
    let query = get("query");
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    let fragment = get("fragment");
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&fragment);
    }
    Ok(s(out))
}

/// `getHostByName`: a render never reaches the network, so no name resolves.
fn get_host_by_name(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    string(a, 0)?;
    Ok(s(""))
}
