//! The dotenv store: `KEY=value` lines and `#` comments; newlines in values are written `\n`.
//! The metadata is flattened into `sops_`-prefixed keys (`sops_age__list_0__map_enc`), sorted.

use super::Error;
use super::gostrconv::go_format_f;
use super::tree::{Branch, MapItem, Node};
use super::value::{Scalar, Secret};

const PREFIX: &str = "sops_";
const MAP_SEP: &str = "__map_";
const LIST_SEP: &str = "__list_";

/// Reads dotenv text into a branch (all values are strings).
pub fn parse(bytes: &[u8]) -> Result<Branch, Error> {
    let mut b = Branch::new();
    for (n, line) in bytes.split(|c| *c == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if line[0] == b'#' {
            b.items
                .push(MapItem::Comment(Secret::new(line[1..].to_vec())));
            continue;
        }
        let Some(eq) = line.iter().position(|c| *c == b'=') else {
            return Err(Error::Malformed {
                file: String::new(),
                path: format!("line {}", n + 1),
                reason: "invalid dotenv line (no '=')".into(),
            });
        };
        let key = String::from_utf8_lossy(&line[..eq]).into_owned();
        let value = replace_bytes(&line[eq + 1..], b"\\n", b"\n");
        b.items.push(MapItem::Entry(
            key,
            Node::Scalar(Scalar::Str(Secret::new(value))),
        ));
    }
    Ok(b)
}

fn replace_bytes(s: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Splits the `sops_` keys off a parsed encrypted dotenv branch and rebuilds the metadata
/// mapping from them.
pub fn split_metadata(b: Branch) -> (Branch, Branch) {
    let mut data = Branch::new();
    let mut flat: Vec<(String, String)> = Vec::new();
    for item in b.items {
        match item {
            MapItem::Entry(k, v) if k.starts_with(PREFIX) => {
                let text = match &v {
                    Node::Scalar(Scalar::Str(s)) => {
                        String::from_utf8_lossy(s.expose()).into_owned()
                    }
                    _ => String::new(),
                };
                flat.push((k[PREFIX.len()..].to_owned(), text));
            }
            other => data.items.push(other),
        }
    }
    (data, unflatten(&flat))
}

enum Tok {
    Key(String),
    Index(usize),
}

fn tokenize(path: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut rest = path;
    let mut kind_list = false;
    let mut first = true;
    loop {
        let next_map = rest.find(MAP_SEP);
        let next_list = rest.find(LIST_SEP);
        let (end, sep_len, is_list) = match (next_map, next_list) {
            (Some(m), Some(l)) if l < m => (l, LIST_SEP.len(), true),
            (Some(m), _) => (m, MAP_SEP.len(), false),
            (None, Some(l)) => (l, LIST_SEP.len(), true),
            (None, None) => (rest.len(), 0, false),
        };
        let piece = &rest[..end];
        if !(first && piece.is_empty() && end == 0 && sep_len > 0) {
            toks.push(if kind_list {
                Tok::Index(piece.parse().unwrap_or(0))
            } else {
                Tok::Key(piece.to_owned())
            });
        }
        first = false;
        if sep_len == 0 {
            break;
        }
        kind_list = is_list;
        rest = &rest[end + sep_len..];
    }
    toks
}

/// Places `value` at `toks`. A list index must be below `max_index` (the number of flattened
/// keys, which no real list exceeds): a larger one is ignored rather than allocated.
fn insert(node: &mut Node, toks: &[Tok], value: &str, max_index: usize) {
    let Some((tok, rest)) = toks.split_first() else {
        return;
    };
    let leaf = || match rest.first() {
        None => Node::text(value),
        Some(Tok::Index(_)) => Node::Seq(Vec::new()),
        Some(Tok::Key(_)) => Node::Map(Branch::new()),
    };
    match (node, tok) {
        (Node::Map(b), Tok::Key(k)) => {
            if b.get(k).is_none() {
                b.push(k.clone(), leaf());
            }
            if let Some(child) = b.get_mut(k) {
                insert(child, rest, value, max_index);
            }
        }
        (Node::Seq(_), Tok::Index(i)) if *i >= max_index => {}
        (Node::Seq(items), Tok::Index(i)) => {
            while items.len() <= *i {
                items.push(Node::Scalar(Scalar::Null));
            }
            if matches!(items[*i], Node::Scalar(Scalar::Null)) {
                items[*i] = leaf();
            }
            insert(&mut items[*i], rest, value, max_index);
        }
        _ => {}
    }
}

fn unflatten(flat: &[(String, String)]) -> Branch {
    let mut root = Node::Map(Branch::new());
    for (k, v) in flat {
        let v = v.replace("\\n", "\n");
        insert(&mut root, &tokenize(k), &v, flat.len());
    }
    match root {
        Node::Map(b) => b,
        _ => Branch::new(),
    }
}

fn flatten(prefix: &str, node: &Node, out: &mut Vec<(String, String)>) {
    match node {
        Node::Map(b) => {
            for (k, v) in b.entries() {
                flatten(&format!("{prefix}{MAP_SEP}{k}"), v, out);
            }
        }
        Node::Seq(items) => {
            for (i, v) in items
                .iter()
                .filter(|n| !matches!(n, Node::Comment(_)))
                .enumerate()
            {
                flatten(&format!("{prefix}{LIST_SEP}{i}"), v, out);
            }
        }
        Node::Scalar(s) => {
            if let Some(text) = scalar_text(s) {
                out.push((prefix.to_owned(), text.replace('\n', "\\n")));
            }
        }
        Node::Comment(_) => {}
    }
}

fn scalar_text(s: &Scalar) -> Option<String> {
    Some(match s {
        Scalar::Null => return None,
        Scalar::Str(t) | Scalar::Time(t) => String::from_utf8_lossy(t.expose()).into_owned(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => go_format_f(*f),
        Scalar::Bool(b) => b.to_string(),
    })
}

fn push_line(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(&replace_bytes(value, b"\n", b"\\n"));
    out.push(b'\n');
}

/// Writes a branch as dotenv text, with the flattened metadata (if any) at the end.
pub fn emit(b: &Branch, metadata: Option<&Branch>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    for item in &b.items {
        match item {
            MapItem::Comment(c) => {
                out.push(b'#');
                out.extend_from_slice(c.expose());
                out.push(b'\n');
            }
            MapItem::Entry(k, Node::Scalar(s)) => match s {
                Scalar::Str(t) => push_line(&mut out, k, t.expose()),
                other => push_line(
                    &mut out,
                    k,
                    scalar_text(other).unwrap_or_default().as_bytes(),
                ),
            },
            MapItem::Entry(k, _) => {
                return Err(Error::Emit {
                    file: String::new(),
                    reason: format!("cannot use complex value in dotenv file; offending key {k}"),
                });
            }
        }
    }
    if let Some(md) = metadata {
        let mut flat = Vec::new();
        for (k, v) in md.entries() {
            flatten(k, v, &mut flat);
        }
        flat.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in flat {
            push_line(&mut out, &format!("{PREFIX}{k}"), v.as_bytes());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_list_index_is_ignored_not_allocated() {
        let parsed = parse(b"sops_age__list_999999999__map_recipient=x\nsops_mac=m\n").unwrap();
        let (_, metadata) = split_metadata(parsed);
        match metadata.get("age") {
            Some(Node::Seq(items)) => assert!(items.is_empty()),
            _ => panic!("no age list"),
        }
    }

    #[test]
    fn metadata_flattens_and_back() {
        let mut md = Branch::new();
        let mut key = Branch::new();
        key.push("recipient", Node::text("age1x"));
        key.push("enc", Node::text("line1\nline2\n"));
        md.push("age", Node::Seq(vec![Node::Map(key)]));
        md.push("mac", Node::text("ENC[m]"));
        let text = emit(&Branch::new(), Some(&md)).expect("emits");
        assert_eq!(
            String::from_utf8_lossy(&text),
            "sops_age__list_0__map_enc=line1\\nline2\\n\nsops_age__list_0__map_recipient=age1x\nsops_mac=ENC[m]\n"
        );
        let (data, back) = split_metadata(parse(&text).expect("parses"));
        assert!(data.items.is_empty());
        let Some(Node::Seq(ages)) = back.get("age") else {
            panic!("age list")
        };
        let Node::Map(k) = &ages[0] else {
            panic!("a map")
        };
        assert!(
            matches!(k.get("enc"), Some(Node::Scalar(Scalar::Str(s))) if s.expose() == b"line1\nline2\n")
        );
    }
}
