//! Where each Secret of a render comes from: the file in Git (a SOPS file, a SealedSecret, an
//! ExternalSecret, a plain Secret) and, when a store holds the values, the store (kind and
//! name, or the reference's scheme) and the paths and keys read, taken from the rendered
//! `ExternalSecret` or from the inline `ref+vault://...` references of a `Secret`. Never a
//! value: a reference names a place, and only references are kept from here.

use serde_json::Value;

/// The most paths listed per Secret.
const MAX_PATHS: usize = 20;
/// The longest path shown.
const MAX_PATH: usize = 200;
/// The prefixes of inline references.
const INLINE: [&str; 2] = ["ref+vault://", "ref+awssecrets://"];

/// Where one Secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRef {
    /// The Secret's namespace.
    pub namespace: String,
    /// The Secret's name.
    pub name: String,
    /// The file in Git it was rendered from.
    pub file: String,
    /// `SecretStore vault-shop`, `ClusterSecretStore aws`, `vault`, `awssecrets`; empty when
    /// the values are in Git (plain, SOPS, sealed).
    pub store: String,
    /// What is read: `shop/db#password`, `secret/data/shop/db#/password`.
    pub paths: Vec<String>,
    /// How often the values are read again (an ExternalSecret's `refreshInterval`).
    pub refresh: String,
    /// `external` (an ExternalSecret), `inline` (references in a Secret), else `git`.
    pub origin: &'static str,
}

impl StoreRef {
    /// One line for people: `SecretStore vault-shop: shop/db#password (read again every 1h)`;
    /// empty when no store holds the values.
    #[must_use]
    pub fn describe(&self) -> String {
        if self.store.is_empty() {
            return String::new();
        }
        let mut line = format!("{}: {}", self.store, self.paths.join(", "));
        if !self.refresh.is_empty() {
            line.push_str(&format!(" (read again every {})", self.refresh));
        }
        line
    }
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn clipped(path: String) -> String {
    if path.chars().count() <= MAX_PATH {
        path
    } else {
        let mut cut: String = path.chars().take(MAX_PATH).collect();
        cut.push('…');
        cut
    }
}

fn external(object: &Value, namespace: &str, file: String) -> StoreRef {
    let store_kind = match text(object, "/spec/secretStoreRef/kind") {
        "" => "SecretStore",
        kind => kind,
    };
    let mut paths = Vec::new();
    for item in object
        .pointer("/spec/data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = text(item, "/remoteRef/key");
        paths.push(match text(item, "/remoteRef/property") {
            "" => key.to_owned(),
            property => format!("{key}#{property}"),
        });
    }
    for item in object
        .pointer("/spec/dataFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match text(item, "/extract/key") {
            "" => paths.push("(find)".to_owned()),
            key => paths.push(key.to_owned()),
        }
    }
    let own = text(object, "/metadata/name");
    let name = match text(object, "/spec/target/name") {
        "" => own,
        target => target,
    };
    StoreRef {
        namespace: namespace_of(object, namespace),
        name: name.to_owned(),
        file,
        store: format!("{store_kind} {}", text(object, "/spec/secretStoreRef/name")),
        paths: paths.into_iter().take(MAX_PATHS).map(clipped).collect(),
        refresh: match text(object, "/spec/refreshInterval") {
            "" => "1h".to_owned(),
            every => every.to_owned(),
        },
        origin: "external",
    }
}

fn namespace_of(object: &Value, namespace: &str) -> String {
    match text(object, "/metadata/namespace") {
        "" => namespace.to_owned(),
        ns => ns.to_owned(),
    }
}

fn in_git(object: &Value, namespace: &str, file: String) -> StoreRef {
    StoreRef {
        namespace: namespace_of(object, namespace),
        name: text(object, "/metadata/name").to_owned(),
        file,
        store: String::new(),
        paths: Vec::new(),
        refresh: String::new(),
        origin: "git",
    }
}

fn inline(object: &Value, namespace: &str, file: String) -> StoreRef {
    let mut stores: Vec<&str> = Vec::new();
    let mut paths = Vec::new();
    for (field, encoded) in [("stringData", false), ("data", true)] {
        for value in object
            .get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(Value::as_str)
        {
            let decoded = if encoded {
                crate::secrets::object::decode_data(value)
                    .ok()
                    .and_then(|b| String::from_utf8(b.to_vec()).ok())
            } else {
                Some(value.to_owned())
            };
            let Some(reference) = decoded else { continue };
            for prefix in INLINE {
                if let Some(rest) = reference.strip_prefix(prefix) {
                    let scheme = &prefix["ref+".len()..prefix.len() - "://".len()];
                    if !stores.contains(&scheme) {
                        stores.push(scheme);
                    }
                    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
                    paths.push(clipped(path.to_owned()));
                }
            }
        }
    }
    if paths.is_empty() {
        return in_git(object, namespace, file);
    }
    StoreRef {
        namespace: namespace_of(object, namespace),
        name: text(object, "/metadata/name").to_owned(),
        file,
        store: stores.join(", "),
        paths: paths.into_iter().take(MAX_PATHS).collect(),
        refresh: String::new(),
        origin: "inline",
    }
}

/// Where each Secret of a render comes from, with the file each object was read from
/// (`namespace`: the app's, for objects without one).
pub fn store_refs<'a>(
    objects: impl Iterator<Item = (&'a Value, String)>,
    namespace: &str,
) -> Vec<StoreRef> {
    objects
        .filter_map(|(object, file)| {
            let api = text(object, "/apiVersion");
            match text(object, "/kind") {
                "ExternalSecret" if api.starts_with("external-secrets.io/") => {
                    Some(external(object, namespace, file))
                }
                "Secret" if api == "v1" => Some(inline(object, namespace, file)),
                "SealedSecret" => Some(in_git(object, namespace, file)),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_external_secret_names_its_store_paths_and_refresh() {
        let es = json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "db"},
            "spec": {"secretStoreRef": {"name": "vault-shop"}, "refreshInterval": "15m",
                "target": {"name": "db-credentials"},
                "data": [{"secretKey": "password", "remoteRef": {"key": "shop/db", "property": "password"}}],
                "dataFrom": [{"extract": {"key": "shop/api"}}]}});
        let refs = store_refs([(&es, "apps/shop/db.yaml".to_owned())].into_iter(), "shop");
        assert_eq!(
            refs,
            [StoreRef {
                namespace: "shop".into(),
                name: "db-credentials".into(),
                file: "apps/shop/db.yaml".into(),
                store: "SecretStore vault-shop".into(),
                paths: vec!["shop/db#password".into(), "shop/api".into()],
                refresh: "15m".into(),
                origin: "external",
            }]
        );
        assert_eq!(
            refs[0].describe(),
            "SecretStore vault-shop: shop/db#password, shop/api (read again every 15m)"
        );
    }

    #[test]
    fn inline_references_are_found_in_string_data_and_data_but_values_are_not() {
        use base64::Engine as _;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode("ref+awssecrets://shop/api#/token");
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "mixed", "namespace": "web"},
            "stringData": {"password": "ref+vault://secret/data/shop/db#/password?version=2",
                           "plain": "not-a-reference-value"},
            "data": {"token": encoded}});
        let refs = store_refs([(&secret, "s.yaml".to_owned())].into_iter(), "shop");
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].namespace, "web");
        assert_eq!(refs[0].store, "vault, awssecrets");
        assert_eq!(refs[0].origin, "inline");
        assert_eq!(
            refs[0].paths,
            ["secret/data/shop/db#/password", "shop/api#/token"]
        );
        assert!(!refs[0].describe().contains("not-a-reference-value"));
        let plain = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "p"},
            "stringData": {"a": "b"}});
        let refs = store_refs([(&plain, "p.sops.yaml".to_owned())].into_iter(), "shop");
        assert_eq!(
            (refs[0].origin, refs[0].file.as_str()),
            ("git", "p.sops.yaml")
        );
        assert_eq!(refs[0].describe(), "", "no store");
    }
}
