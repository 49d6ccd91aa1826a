//! RBAC for access reviews: a `SubjectAccessReview` (or `LocalSubjectAccessReview`) naming a
//! user is decided from the Role, ClusterRole, RoleBinding and ClusterRoleBinding objects the
//! emulation holds, as the RBAC authorizer does ("Using RBAC Authorization" in the Kubernetes
//! docs): a ClusterRoleBinding grants its ClusterRole everywhere, a RoleBinding grants its
//! Role or ClusterRole in the binding's namespace; a rule matches when its verbs, apiGroups,
//! resources (`resource/subresource`) and resourceNames match, `*` matching anything.
//! Subjects: `User` by name, `Group` by the review's groups, `ServiceAccount` as
//! `system:serviceaccount:NS:NAME`. Aggregated ClusterRoles are not expanded.

use serde_json::Value;

use super::store::Store;

/// What is asked: the review's `spec.resourceAttributes` or `spec.nonResourceAttributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The user.
    pub user: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// The verb.
    pub verb: String,
    /// The API group.
    pub group: String,
    /// The resource (with `/subresource` when asked).
    pub resource: String,
    /// The namespace (empty: cluster-wide).
    pub namespace: String,
    /// The object's name (empty: any).
    pub name: String,
    /// A non-resource path (`/healthz`), when that is asked instead.
    pub path: Option<String>,
}

impl Request {
    /// Reads a review's spec.
    pub fn from_spec(spec: &Value) -> Self {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let groups = spec
            .get("groups")
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let mut request = Self {
            user: s(spec, "user"),
            groups,
            ..Self::default()
        };
        if let Some(attrs) = spec.get("resourceAttributes") {
            request.verb = s(attrs, "verb");
            request.group = s(attrs, "group");
            request.resource = s(attrs, "resource");
            let sub = s(attrs, "subresource");
            if !sub.is_empty() {
                request.resource = format!("{}/{sub}", request.resource);
            }
            request.namespace = s(attrs, "namespace");
            request.name = s(attrs, "name");
        } else if let Some(attrs) = spec.get("nonResourceAttributes") {
            request.verb = s(attrs, "verb");
            request.path = Some(s(attrs, "path"));
        }
        request
    }
}

fn strings<'a>(rule: &'a Value, key: &str) -> Vec<&'a str> {
    rule.get(key)
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn matches(list: &[&str], value: &str) -> bool {
    list.iter().any(|v| *v == "*" || *v == value)
}

fn rule_allows(rule: &Value, request: &Request) -> bool {
    if !matches(&strings(rule, "verbs"), &request.verb) {
        return false;
    }
    if let Some(path) = &request.path {
        return strings(rule, "nonResourceURLs").iter().any(|u| {
            *u == "*" || u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
        });
    }
    let names = strings(rule, "resourceNames");
    matches(&strings(rule, "apiGroups"), &request.group)
        && matches(&strings(rule, "resources"), &request.resource)
        && (names.is_empty()
            || (!request.name.is_empty() && names.contains(&request.name.as_str())))
}

fn subject_matches(subject: &Value, request: &Request) -> bool {
    let field = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or("");
    match field("kind") {
        "User" => field("name") == request.user,
        "Group" => request.groups.iter().any(|g| g == field("name")),
        "ServiceAccount" => {
            request.user
                == format!(
                    "system:serviceaccount:{}:{}",
                    field("namespace"),
                    field("name")
                )
        }
        _ => false,
    }
}

fn objects<'a>(store: &'a Store, plural: &str, namespace: Option<&str>) -> Vec<&'a Value> {
    store.list(&format!("rbac.authorization.k8s.io/{plural}"), namespace)
}

fn role_rules<'a>(store: &'a Store, role_ref: &Value, namespace: &str) -> Vec<&'a Value> {
    let kind = role_ref.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = role_ref.get("name").and_then(Value::as_str).unwrap_or("");
    let (plural, ns) = match kind {
        "ClusterRole" => ("clusterroles", None),
        "Role" => ("roles", Some(namespace)),
        _ => return Vec::new(),
    };
    objects(store, plural, ns)
        .into_iter()
        .filter(|r| super::meta::name(r) == name)
        .flat_map(|r| {
            r.get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .collect()
}

/// Whether RBAC allows `request`, and the binding that did (or why not).
pub fn authorize(store: &Store, request: &Request) -> (bool, String) {
    let bound = |binding: &Value| {
        binding
            .get("subjects")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|s| subject_matches(s, request)))
    };
    for binding in objects(store, "clusterrolebindings", None) {
        if bound(binding)
            && let Some(role_ref) = binding.get("roleRef")
            && role_rules(store, role_ref, "")
                .iter()
                .any(|r| rule_allows(r, request))
        {
            return (
                true,
                format!(
                    "allowed by ClusterRoleBinding {:?}",
                    super::meta::name(binding)
                ),
            );
        }
    }
    if !request.namespace.is_empty() {
        for binding in objects(store, "rolebindings", Some(&request.namespace)) {
            if bound(binding)
                && let Some(role_ref) = binding.get("roleRef")
                && role_rules(store, role_ref, &request.namespace)
                    .iter()
                    .any(|r| rule_allows(r, request))
            {
                return (
                    true,
                    format!(
                        "allowed by RoleBinding {:?} in {}",
                        super::meta::name(binding),
                        request.namespace
                    ),
                );
            }
        }
    }
    (false, String::new())
}
