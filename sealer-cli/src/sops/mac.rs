//! The tree walk that encrypts and decrypts leaves, and the MAC computed along it.
//!
//! The MAC is a SHA-512 over the plaintext bytes of the leaves in file order (all leaves, or
//! only encrypted ones with `mac_only_encrypted`, which first hashes `sha256("sops")`), written
//! as upper-case hex and stored encrypted with the `lastmodified` string as additional data.

use sha2::{Digest, Sha512};
use std::collections::HashMap;
use zeroize::Zeroizing;

use super::Error;
use super::rules::Rule;
use super::tree::{Branch, MapItem, Node, Tree, display_path};
use super::value::{self, Scalar, Secret, ValueError};

/// `sha256("sops")`, hashed first when `mac_only_encrypted` is set.
pub const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// IVs of decrypted values, keyed by a keyed hash of (path, type, plaintext), so that
/// re-encrypting an unchanged value gives back the same ciphertext.
#[derive(Default)]
pub struct IvStash {
    ivs: HashMap<[u8; 64], Vec<u8>>,
}

impl IvStash {
    fn slot(key: &[u8; 32], aad: &str, kind: &str, plain: &[u8]) -> [u8; 64] {
        let mut h = Sha512::new();
        h.update(key);
        h.update(aad.as_bytes());
        h.update([0]);
        h.update(kind.as_bytes());
        h.update([0]);
        h.update(plain);
        h.finalize().into()
    }
}

enum Leaf<'a> {
    Value(&'a mut Scalar),
    /// A comment, and whether it is an item of a sequence.
    Comment(&'a mut Secret, bool),
}

/// The visitor may return a node to put in place of a sequence item (sops stores an encrypted
/// comment of a sequence as a plain string item, and turns it back into a comment on decrypt).
type Visit<'f> =
    dyn FnMut(Leaf<'_>, &[String], &[Vec<Vec<u8>>]) -> Result<Option<Node>, Error> + 'f;

fn walk_branch(
    branch: &mut Branch,
    path: &mut Vec<String>,
    stack: &mut Vec<Vec<Vec<u8>>>,
    f: &mut Visit<'_>,
) -> Result<(), Error> {
    stack.push(Vec::new());
    for item in &mut branch.items {
        match item {
            MapItem::Comment(c) => {
                if let Some(level) = stack.last_mut() {
                    level.push(c.expose().to_vec());
                }
                f(Leaf::Comment(c, false), path, stack)?;
            }
            MapItem::Entry(k, v) => {
                path.push(k.clone());
                walk_node(v, path, stack, f)?;
                path.pop();
                if let Some(level) = stack.last_mut() {
                    level.clear();
                }
            }
        }
    }
    stack.pop();
    Ok(())
}

fn walk_node(
    node: &mut Node,
    path: &mut Vec<String>,
    stack: &mut Vec<Vec<Vec<u8>>>,
    f: &mut Visit<'_>,
) -> Result<(), Error> {
    match node {
        Node::Map(b) => walk_branch(b, path, stack, f),
        Node::Seq(items) => {
            stack.push(Vec::new());
            for item in items {
                if let Node::Comment(c) = item {
                    if let Some(level) = stack.last_mut() {
                        level.push(c.expose().to_vec());
                    }
                    if let Some(replacement) = f(Leaf::Comment(c, true), path, stack)? {
                        *item = replacement;
                    }
                } else if let Node::Scalar(s) = item {
                    if !matches!(s, Scalar::Null)
                        && let Some(replacement) = f(Leaf::Value(s), path, stack)?
                    {
                        *item = replacement;
                    }
                    if let Some(level) = stack.last_mut() {
                        level.clear();
                    }
                } else {
                    walk_node(item, path, stack, f)?;
                    if let Some(level) = stack.last_mut() {
                        level.clear();
                    }
                }
            }
            stack.pop();
            Ok(())
        }
        Node::Scalar(Scalar::Null) => Ok(()),
        Node::Scalar(s) => f(Leaf::Value(s), path, stack).map(|_| ()),
        Node::Comment(c) => f(Leaf::Comment(c, true), path, stack).map(|_| ()),
    }
}

fn walk_tree(tree: &mut Tree, f: &mut Visit<'_>) -> Result<(), Error> {
    for doc in &mut tree.documents {
        walk_branch(doc, &mut Vec::new(), &mut Vec::new(), f)?;
    }
    Ok(())
}

fn aad_of(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

fn new_hasher(mac_only_encrypted: bool) -> Sha512 {
    let mut h = Sha512::new();
    if mac_only_encrypted {
        h.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    h
}

fn finish(h: Sha512) -> Zeroizing<String> {
    Zeroizing::new(hex::encode_upper(h.finalize()))
}

/// Decrypts every leaf the rule says is encrypted, in place; returns the computed MAC.
pub(crate) fn decrypt_tree(
    tree: &mut Tree,
    key: &[u8; 32],
    rule: &Rule,
    mac_only_encrypted: bool,
    stash: &mut IvStash,
) -> Result<Zeroizing<String>, Error> {
    let mut hasher = new_hasher(mac_only_encrypted);
    walk_tree(tree, &mut |leaf, path, stack| {
        let is_comment = matches!(leaf, Leaf::Comment(..));
        let encrypted = rule.should_encrypt(path, stack, is_comment);
        let aad = aad_of(path);
        match leaf {
            Leaf::Comment(c, _) => {
                if encrypted && !c.is_empty() {
                    // Like sops, a comment that does not decrypt is kept as it is.
                    if let Some(text) = c.expose_str()
                        && let Ok((plain, iv)) = value::decrypt_comment(key, text, &aad)
                    {
                        stash
                            .ivs
                            .insert(IvStash::slot(key, &aad, "comment", plain.expose()), iv);
                        *c = plain;
                    }
                }
            }
            Leaf::Value(s) => {
                if encrypted && !s.is_empty_str() {
                    let Scalar::Str(text) = &*s else {
                        return Err(Error::Malformed {
                            file: String::new(),
                            path: display_path(path),
                            reason: "a value that should be encrypted is not an ENC[...] string"
                                .into(),
                        });
                    };
                    let text = text.expose_str().unwrap_or_default();
                    if let Ok((comment, iv)) = value::decrypt_comment(key, text, &aad) {
                        stash
                            .ivs
                            .insert(IvStash::slot(key, &aad, "comment", comment.expose()), iv);
                        return Ok(Some(Node::Comment(comment)));
                    }
                    let (plain, iv) =
                        value::decrypt_scalar(key, text, &aad).map_err(|e| match e {
                            ValueError::Authentication => Error::AuthenticationFailed {
                                file: String::new(),
                                path: display_path(path),
                            },
                            ValueError::Format(reason) | ValueError::Type(reason) => {
                                Error::Malformed {
                                    file: String::new(),
                                    path: display_path(path),
                                    reason,
                                }
                            }
                        })?;
                    if let Some(bytes) = plain.to_bytes() {
                        stash
                            .ivs
                            .insert(IvStash::slot(key, &aad, plain.type_tag(), &bytes), iv);
                    }
                    *s = plain;
                }
                if (!mac_only_encrypted || encrypted)
                    && let Some(bytes) = s.to_bytes()
                {
                    hasher.update(&bytes[..]);
                }
            }
        }
        Ok(None)
    })?;
    Ok(finish(hasher))
}

/// Encrypts every leaf the rule selects, in place; returns the MAC of the plaintext.
pub(crate) fn encrypt_tree(
    tree: &mut Tree,
    key: &[u8; 32],
    rule: &Rule,
    mac_only_encrypted: bool,
    stash: Option<&IvStash>,
) -> Result<Zeroizing<String>, Error> {
    let mut hasher = new_hasher(mac_only_encrypted);
    let iv_for = |aad: &str, kind: &str, plain: &[u8]| -> Vec<u8> {
        stash
            .and_then(|st| st.ivs.get(&IvStash::slot(key, aad, kind, plain)).cloned())
            .unwrap_or_else(value::random_iv)
    };
    walk_tree(tree, &mut |leaf, path, stack| {
        let is_comment = matches!(leaf, Leaf::Comment(..));
        let encrypted = rule.should_encrypt(path, stack, is_comment);
        let aad = aad_of(path);
        match leaf {
            Leaf::Comment(c, seq_item) => {
                if encrypted && !c.is_empty() {
                    let iv = iv_for(&aad, "comment", c.expose());
                    let enc = value::encrypt_bytes(key, c.expose(), "comment", &aad, &iv);
                    if let Rule::UnencryptedCommentRegex(_, re) = rule
                        && re.is_match(enc.as_bytes())
                    {
                        return Err(Error::InvalidRules {
                            reason: format!(
                                "an encrypted comment under {} matches unencrypted_comment_regex",
                                display_path(path)
                            ),
                        });
                    }
                    if seq_item {
                        // sops writes an encrypted sequence comment as a string item.
                        return Ok(Some(Node::text(&enc)));
                    }
                    *c = Secret::from_text(&enc);
                }
            }
            Leaf::Value(s) => {
                let Some(bytes) = s.to_bytes() else {
                    return Ok(None);
                };
                if !mac_only_encrypted || encrypted {
                    hasher.update(&bytes[..]);
                }
                if encrypted && !s.is_empty_str() {
                    let kind = s.type_tag();
                    let iv = iv_for(&aad, kind, &bytes);
                    *s = Scalar::text(&value::encrypt_bytes(key, &bytes, kind, &aad, &iv));
                }
            }
        }
        Ok(None)
    })?;
    Ok(finish(hasher))
}

/// Encrypts a MAC for storage (`sops.mac`), with `lastmodified` as additional data.
pub(crate) fn seal_mac(key: &[u8; 32], mac: &str, lastmodified: &str, iv: Option<&[u8]>) -> String {
    let iv = iv.map(<[u8]>::to_vec).unwrap_or_else(value::random_iv);
    value::encrypt_bytes(key, mac.as_bytes(), "str", lastmodified, &iv)
}

/// Decrypts the stored MAC; returns the MAC text and its IV.
pub(crate) fn open_mac(
    key: &[u8; 32],
    stored: &str,
    lastmodified: &str,
) -> Result<(Zeroizing<String>, Vec<u8>), Error> {
    match value::decrypt_scalar(key, stored, lastmodified) {
        Ok((Scalar::Str(s), iv)) => Ok((
            Zeroizing::new(String::from_utf8_lossy(s.expose()).into_owned()),
            iv,
        )),
        Ok(_) => Err(Error::Malformed {
            file: String::new(),
            path: "sops.mac".into(),
            reason: "not a string".into(),
        }),
        Err(ValueError::Authentication) => Err(Error::MacMismatch {
            file: String::new(),
        }),
        Err(ValueError::Format(reason) | ValueError::Type(reason)) => Err(Error::Malformed {
            file: String::new(),
            path: "sops.mac".into(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Sha256;

    #[test]
    fn mac_only_encrypted_init_is_sha256_of_sops() {
        assert_eq!(Sha256::digest(b"sops").as_slice(), MAC_ONLY_ENCRYPTED_INIT);
    }

    #[test]
    fn mac_of_a_known_tree() {
        // Leaves: "v" (str), 420 (int), true (bool), 1.5 (float), "" and null.
        let mut doc = Branch::new();
        doc.push("a", Node::text("v"));
        doc.push("b", Node::Scalar(Scalar::Int(420)));
        doc.push(
            "c",
            Node::Seq(vec![
                Node::Scalar(Scalar::Bool(true)),
                Node::Scalar(Scalar::Float(1.5)),
            ]),
        );
        doc.push("d", Node::text(""));
        doc.push("e", Node::Scalar(Scalar::Null));
        let mut tree = Tree::single(doc);
        let mac =
            encrypt_tree(&mut tree, &[3u8; 32], &Rule::default(), false, None).expect("encrypts");
        let expected = hex::encode_upper(Sha512::digest(b"v420True1.5"));
        assert_eq!(mac.as_str(), expected);
        let mut stash = IvStash::default();
        let again = decrypt_tree(&mut tree, &[3u8; 32], &Rule::default(), false, &mut stash)
            .expect("decrypts");
        assert_eq!(again.as_str(), expected);
    }
}
