//! The `sops` metadata block: key groups, MAC, `lastmodified`, the rule, the version.
//!
//! Written in the field order of sops 3.11.0 (`shamir_threshold`, `key_groups`, the key types,
//! `lastmodified`, `mac`, `pgp`, the rule, `mac_only_encrypted`, `version`); read in any order.
//! The keys of each group are typed [`MasterKey`]s (see [`super::master`]); kinds this library
//! does not know (`hckms`) are kept verbatim.

use super::Error;
use super::master::{self, KeyKind, KeyRef, MasterKey};
use super::rules::{RULE_KEYS, Rule};
use super::time::Timestamp;
use super::tree::{Branch, Node};
use super::value::Scalar;

/// The sops format version written into new files (the sops release this format matches).
pub const FORMAT_VERSION: &str = "3.11.0";

/// A key group: any one of its keys unlocks the group's share of the data key.
#[derive(Default, Clone, Debug)]
pub struct KeyGroup {
    /// The master keys, in the order they were read or given.
    pub keys: Vec<MasterKey>,
}

impl KeyGroup {
    /// The keys of one kind.
    pub fn of_kind(&self, kind: KeyKind) -> impl Iterator<Item = &MasterKey> {
        self.keys.iter().filter(move |k| k.kind() == kind)
    }
}

/// The parsed `sops` metadata.
pub struct Metadata {
    /// The key groups (one unless Shamir sharing is used).
    pub key_groups: Vec<KeyGroup>,
    /// Groups needed to recover the key (0 means all of them).
    pub shamir_threshold: usize,
    /// `lastmodified`, as stored (RFC 3339).
    pub lastmodified: String,
    /// The encrypted MAC (`ENC[...]`).
    pub mac: String,
    /// Which values are encrypted.
    pub rule: Rule,
    /// Whether the rule was written in the file (the binary store writes none).
    pub write_rule: bool,
    /// Whether the MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
    /// The sops version that wrote the file.
    pub version: String,
}

fn malformed(field: &str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        file: String::new(),
        path: format!("sops.{field}"),
        reason: reason.into(),
    }
}

fn scalar_text(node: &Node) -> Option<String> {
    match node {
        Node::Scalar(Scalar::Str(s) | Scalar::Time(s)) => s.expose_str().map(str::to_owned),
        Node::Scalar(Scalar::Int(i)) => Some(i.to_string()),
        Node::Scalar(Scalar::Float(f)) => Some(super::gostrconv::go_format_f(*f)),
        Node::Scalar(Scalar::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

fn group_from(branch: &Branch, field: &str) -> Result<KeyGroup, Error> {
    let mut group = KeyGroup::default();
    for (k, v) in branch.entries() {
        if let Some(kind) = KeyKind::from_field(k) {
            let name = if field.is_empty() {
                k.to_owned()
            } else {
                format!("{field}.{k}")
            };
            group.keys.extend(master::parse_entries(kind, v, &name)?);
        }
    }
    Ok(group)
}

impl Metadata {
    /// Reads the metadata from the `sops` mapping of a document.
    pub fn from_branch(b: &Branch) -> Result<Self, Error> {
        let text = |k: &str| b.get(k).and_then(scalar_text);
        let top = group_from(b, "")?;
        let key_groups = if !top.keys.is_empty() {
            vec![top]
        } else if let Some(Node::Seq(groups)) = b.get("key_groups") {
            let mut out = Vec::new();
            for (i, g) in groups
                .iter()
                .filter(|g| !matches!(g, Node::Comment(_)))
                .enumerate()
            {
                let Node::Map(gb) = g else {
                    return Err(malformed("key_groups", "a group that is not a mapping"));
                };
                out.push(group_from(gb, &format!("key_groups[{i}]"))?);
            }
            out
        } else {
            return Err(malformed("age", "no keys found in file"));
        };
        let shamir_threshold = match text("shamir_threshold") {
            None => 0,
            Some(t) => t
                .parse::<f64>()
                .ok()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as usize)
                .ok_or_else(|| malformed("shamir_threshold", "not an integer"))?,
        };
        let lastmodified =
            text("lastmodified").ok_or_else(|| malformed("lastmodified", "missing"))?;
        let parsed = Timestamp::parse_rfc3339(&lastmodified)
            .ok_or_else(|| malformed("lastmodified", "not an RFC 3339 time"))?;
        let mac = text("mac").ok_or_else(|| Error::MacMissing {
            file: String::new(),
        })?;
        let pairs: Vec<(&str, String)> = RULE_KEYS
            .iter()
            .filter_map(|k| text(k).map(|v| (*k, v)))
            .collect();
        let rule = Rule::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))?;
        let mac_only_encrypted =
            matches!(text("mac_only_encrypted").as_deref(), Some("true" | "True"));
        Ok(Metadata {
            key_groups,
            shamir_threshold,
            // Go re-formats the parsed time with RFC 3339 (no fraction) to build the MAC's AAD.
            lastmodified: rfc3339_seconds(&parsed.to_rfc3339_nano()),
            mac,
            write_rule: !pairs.is_empty(),
            rule,
            mac_only_encrypted,
            version: text("version").unwrap_or_default(),
        })
    }

    /// Fresh metadata for new master keys (one group each entry of `groups`).
    pub fn new(
        groups: Vec<Vec<KeyRef>>,
        shamir_threshold: usize,
        rule: Rule,
        mac_only_encrypted: bool,
    ) -> Self {
        Metadata {
            key_groups: groups
                .into_iter()
                .map(|g| KeyGroup {
                    keys: g.into_iter().map(MasterKey::new).collect(),
                })
                .collect(),
            shamir_threshold,
            lastmodified: String::new(),
            mac: String::new(),
            rule,
            write_rule: true,
            mac_only_encrypted,
            version: FORMAT_VERSION.to_owned(),
        }
    }

    /// The names of all master keys of all groups (see [`KeyRef::id`]).
    pub fn recipients(&self) -> Vec<String> {
        self.key_groups
            .iter()
            .flat_map(|g| g.keys.iter().map(MasterKey::id))
            .collect()
    }

    /// The metadata as a mapping, in sops 3.11.0 field order.
    pub fn to_branch(&self) -> Branch {
        let mut b = Branch::new();
        if self.shamir_threshold > 0 {
            b.push(
                "shamir_threshold",
                Node::Scalar(Scalar::Int(self.shamir_threshold as i64)),
            );
        }
        if self.key_groups.len() > 1 {
            let groups = self
                .key_groups
                .iter()
                .map(|g| Node::Map(group_branch(g)))
                .collect();
            b.push("key_groups", Node::Seq(groups));
        } else if let Some(g) = self.key_groups.first() {
            for kind in KeyKind::ALL {
                if kind != KeyKind::Pgp {
                    push_kind(&mut b, g, kind, false);
                }
            }
        }
        b.push("lastmodified", Node::text(&self.lastmodified));
        b.push("mac", Node::text(&self.mac));
        if let [g] = self.key_groups.as_slice() {
            push_kind(&mut b, g, KeyKind::Pgp, false);
        }
        if self.write_rule {
            let (k, v) = self.rule.key_value();
            b.push(k, Node::text(v));
        }
        if self.mac_only_encrypted {
            b.push("mac_only_encrypted", Node::Scalar(Scalar::Bool(true)));
        }
        b.push("version", Node::text(&self.version));
        b
    }
}

/// Writes the keys of one kind: omitted when there are none, except `hc_vault` and `age`
/// inside `key_groups`, which sops always writes.
fn push_kind(b: &mut Branch, g: &KeyGroup, kind: KeyKind, in_key_groups: bool) {
    let entries: Vec<Node> = g.of_kind(kind).map(master::entry_node).collect();
    if !entries.is_empty() || (in_key_groups && matches!(kind, KeyKind::HcVault | KeyKind::Age)) {
        b.push(kind.field(), Node::Seq(entries));
    }
}

/// A group inside `key_groups`.
fn group_branch(g: &KeyGroup) -> Branch {
    let mut b = Branch::new();
    for kind in KeyKind::ALL {
        push_kind(&mut b, g, kind, true);
    }
    b
}

/// Drops the fractional seconds of an RFC 3339 time (Go's `time.RFC3339` layout).
fn rfc3339_seconds(nano: &str) -> String {
    match (nano.find('.'), nano.rfind(['Z', '+', '-'])) {
        (Some(dot), Some(zone)) if zone > dot => format!("{}{}", &nano[..dot], &nano[zone..]),
        _ => nano.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lastmodified_is_reformatted_without_fraction() {
        assert_eq!(
            rfc3339_seconds("2024-01-02T03:04:05.5Z"),
            "2024-01-02T03:04:05Z"
        );
        assert_eq!(
            rfc3339_seconds("2024-01-02T03:04:05+02:00"),
            "2024-01-02T03:04:05+02:00"
        );
    }

    #[test]
    fn metadata_round_trips_through_a_branch() {
        let mut m = Metadata::new(
            vec![
                vec![KeyRef::Age("age1a".into())],
                vec![KeyRef::Age("age1b".into())],
            ],
            2,
            Rule::default(),
            true,
        );
        m.lastmodified = "2024-01-02T03:04:05Z".into();
        m.mac = "ENC[x]".into();
        let back = Metadata::from_branch(&m.to_branch()).expect("parses");
        assert_eq!(back.key_groups.len(), 2);
        assert_eq!(back.shamir_threshold, 2);
        assert!(back.mac_only_encrypted);
        assert_eq!(
            back.recipients(),
            vec!["age1a".to_owned(), "age1b".to_owned()]
        );
    }
}
