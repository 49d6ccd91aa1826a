//! The document tree: ordered mappings, sequences, typed scalars and comments.
//!
//! This is the shape sops works on: a file is a list of documents (branches); a branch is an
//! ordered mapping whose items are key/value entries or comments; a sequence holds values and
//! comments. Key order and comment positions are kept, so a file survives decryption and
//! re-encryption unchanged apart from its ciphertexts.

use super::value::{Scalar, Secret};

/// A node of the tree.
pub enum Node {
    /// An ordered mapping (also the root of each document).
    Map(Branch),
    /// A sequence; its items may include [`Node::Comment`]s.
    Seq(Vec<Node>),
    /// A typed scalar leaf.
    Scalar(Scalar),
    /// A comment inside a sequence (text after `#`).
    Comment(Secret),
}

/// One item of a mapping.
pub enum MapItem {
    /// A key and its value.
    Entry(String, Node),
    /// A comment line (text after `#`).
    Comment(Secret),
}

/// An ordered mapping.
#[derive(Default)]
pub struct Branch {
    /// The items in file order.
    pub items: Vec<MapItem>,
}

/// All documents of a file (one for JSON, dotenv and binary; one or more for YAML).
#[derive(Default)]
pub struct Tree {
    /// The documents in file order.
    pub documents: Vec<Branch>,
}

/// One step of a path into the tree, as in `["a"][0]["b"]`.
#[derive(Clone, Debug, PartialEq)]
pub enum PathStep {
    /// A mapping key.
    Key(String),
    /// A sequence index (comments not counted).
    Index(usize),
}

impl Branch {
    /// An empty mapping.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.items.iter().find_map(|item| match item {
            MapItem::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// The value of a key, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.items.iter_mut().find_map(|item| match item {
            MapItem::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// Adds an entry at the end.
    pub fn push(&mut self, key: impl Into<String>, value: Node) {
        self.items.push(MapItem::Entry(key.into(), value));
    }

    /// Removes the entries with this key; returns the first removed value.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let pos = self
            .items
            .iter()
            .position(|i| matches!(i, MapItem::Entry(k, _) if k == key))?;
        match self.items.remove(pos) {
            MapItem::Entry(_, v) => Some(v),
            MapItem::Comment(_) => None,
        }
    }

    /// Sets a key (replacing its value in place, or appending it).
    pub fn set(&mut self, key: &str, value: Node) {
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => self.push(key, value),
        }
    }

    /// The entries (comments skipped).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.items.iter().filter_map(|i| match i {
            MapItem::Entry(k, v) => Some((k.as_str(), v)),
            MapItem::Comment(_) => None,
        })
    }

    /// An explicit deep copy.
    pub fn duplicate(&self) -> Self {
        Branch {
            items: self
                .items
                .iter()
                .map(|i| match i {
                    MapItem::Entry(k, v) => MapItem::Entry(k.clone(), v.duplicate()),
                    MapItem::Comment(c) => MapItem::Comment(c.duplicate()),
                })
                .collect(),
        }
    }
}

impl Node {
    /// A string leaf.
    pub fn text(text: &str) -> Self {
        Node::Scalar(Scalar::text(text))
    }

    /// An explicit deep copy.
    pub fn duplicate(&self) -> Self {
        match self {
            Node::Map(b) => Node::Map(b.duplicate()),
            Node::Seq(items) => Node::Seq(items.iter().map(Node::duplicate).collect()),
            Node::Scalar(s) => Node::Scalar(s.duplicate()),
            Node::Comment(c) => Node::Comment(c.duplicate()),
        }
    }

    /// The node at a path below this one.
    pub fn at(&self, path: &[PathStep]) -> Option<&Node> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        match (self, first) {
            (Node::Map(b), PathStep::Key(k)) => b.get(k)?.at(rest),
            (Node::Seq(items), PathStep::Index(i)) => items
                .iter()
                .filter(|n| !matches!(n, Node::Comment(_)))
                .nth(*i)?
                .at(rest),
            _ => None,
        }
    }
}

impl Tree {
    /// A tree of one document.
    pub fn single(branch: Branch) -> Self {
        Tree {
            documents: vec![branch],
        }
    }

    /// The node at a path in the first document.
    pub fn get(&self, path: &[PathStep]) -> Option<&Node> {
        let (first, rest) = path.split_first()?;
        let doc = self.documents.first()?;
        match first {
            PathStep::Key(k) => doc.get(k)?.at(rest),
            PathStep::Index(_) => None,
        }
    }

    /// Sets the value at a path in the first document, creating mappings on the way like
    /// `sops set` does. Returns `false` when the path runs through a non-container.
    pub fn set(&mut self, path: &[PathStep], value: Node) -> bool {
        if self.documents.is_empty() {
            self.documents.push(Branch::new());
        }
        let Some(doc) = self.documents.first_mut() else {
            return false;
        };
        set_in_branch(doc, path, value)
    }
}

fn set_in_branch(branch: &mut Branch, path: &[PathStep], value: Node) -> bool {
    let Some((PathStep::Key(key), rest)) = path.split_first() else {
        return false;
    };
    if rest.is_empty() {
        branch.set(key, value);
        return true;
    }
    if branch.get(key).is_none() {
        let empty = match rest.first() {
            Some(PathStep::Index(_)) => Node::Seq(Vec::new()),
            _ => Node::Map(Branch::new()),
        };
        branch.push(key.clone(), empty);
    }
    match branch.get_mut(key) {
        Some(node) => set_in_node(node, rest, value),
        None => false,
    }
}

fn set_in_node(node: &mut Node, path: &[PathStep], value: Node) -> bool {
    match (node, path.first()) {
        (Node::Map(b), Some(PathStep::Key(_))) => set_in_branch(b, path, value),
        (Node::Seq(items), Some(PathStep::Index(i))) => {
            let positions: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, n)| !matches!(n, Node::Comment(_)))
                .map(|(p, _)| p)
                .collect();
            let rest = &path[1..];
            let slot = match positions.get(*i) {
                Some(&p) => p,
                None => {
                    items.push(match rest.first() {
                        None => Node::Scalar(Scalar::Null),
                        Some(PathStep::Index(_)) => Node::Seq(Vec::new()),
                        Some(PathStep::Key(_)) => Node::Map(Branch::new()),
                    });
                    items.len() - 1
                }
            };
            if rest.is_empty() {
                items[slot] = value;
                true
            } else {
                set_in_node(&mut items[slot], rest, value)
            }
        }
        _ => false,
    }
}

/// Parses a sops tree path such as `["data"]["password"]` or `["list"][0]`.
pub fn parse_path(s: &str) -> Option<Vec<PathStep>> {
    let mut steps = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        rest = rest.strip_prefix('[')?;
        if let Some(after) = rest.strip_prefix('"') {
            let mut key = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => key.push(chars.next()?.1),
                    '"' => break i,
                    c => key.push(c),
                }
            };
            rest = after[end + 1..].strip_prefix(']')?;
            steps.push(PathStep::Key(key));
        } else if let Some(after) = rest.strip_prefix('\'') {
            let end = after.find('\'')?;
            steps.push(PathStep::Key(after[..end].to_owned()));
            rest = after[end + 1..].strip_prefix(']')?;
        } else {
            let end = rest.find(']')?;
            steps.push(PathStep::Index(rest[..end].trim().parse().ok()?));
            rest = &rest[end + 1..];
        }
    }
    Some(steps)
}

/// The display form of a key path for messages: `data.password`, `list[]`.
pub fn display_path(path: &[String]) -> String {
    if path.is_empty() {
        "(root)".to_owned()
    } else {
        path.join(".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_like_sops() {
        assert_eq!(
            parse_path(r#"["a"]["b c"][2]"#),
            Some(vec![
                PathStep::Key("a".into()),
                PathStep::Key("b c".into()),
                PathStep::Index(2)
            ])
        );
        assert_eq!(parse_path(r#"["a""#), None);
        assert_eq!(parse_path("a"), None);
    }

    #[test]
    fn set_creates_missing_mappings() {
        let mut tree = Tree::single(Branch::new());
        assert!(tree.set(
            &parse_path(r#"["a"]["b"]"#).unwrap_or_default(),
            Node::text("v")
        ));
        assert!(matches!(
            tree.get(&parse_path(r#"["a"]["b"]"#).unwrap_or_default()),
            Some(Node::Scalar(Scalar::Str(s))) if s.expose() == b"v"
        ));
    }
}
