//! The resource types the emulation serves: the built-in kinds table and the registry that
//! custom resource definitions extend at run time.

use std::sync::Arc;

/// How the names of a resource are validated (Kubernetes "Object Names and IDs").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// A DNS-1123 subdomain: most kinds.
    Subdomain,
    /// A DNS-1123 label: Namespace.
    Label,
    /// A DNS-1035 label (starts with a letter): Service.
    Label1035,
    /// A path segment (anything but `/`, `%`, `.` and `..`): RBAC kinds.
    PathSegment,
}

/// One served resource: a kind in one group/version with its plural name and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    /// Version, such as `v1`.
    pub version: String,
    /// Kind, such as `Deployment`.
    pub kind: String,
    /// Plural resource name, such as `deployments`.
    pub plural: String,
    /// Singular resource name, such as `deployment`.
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Verbs served.
    pub verbs: Vec<String>,
    /// Whether a `/status` subresource exists (main-resource writes then ignore `status`).
    pub status_subresource: bool,
    /// Whether `metadata.generation` is maintained.
    pub generation: bool,
    /// Name validation rule.
    pub name_rule: NameRule,
    /// Built-in kind (strategic merge patch and merge keys apply) or custom resource.
    pub builtin: bool,
}

impl ResourceType {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The key objects are stored under, shared by every version of one resource.
    pub fn storage_key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// The resource name as error messages write it: `deployments.apps`, `configmaps`.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

const STANDARD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    generation: bool,
    rule: NameRule,
}

const fn b(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        short,
        all: false,
        status: false,
        generation: false,
        rule: NameRule::Subdomain,
    }
}

impl Builtin {
    const fn all(mut self) -> Self {
        self.all = true;
        self
    }
    const fn status(mut self) -> Self {
        self.status = true;
        self
    }
    const fn generation(mut self) -> Self {
        self.generation = true;
        self
    }
    const fn rule(mut self, rule: NameRule) -> Self {
        self.rule = rule;
        self
    }
}

const RBAC: &str = "rbac.authorization.k8s.io";

/// The kinds served from the start (Kubernetes 1.33 versions).
const BUILTINS: &[Builtin] = &[
    b("", "v1", "Namespace", "namespaces", false, &["ns"])
        .status()
        .rule(NameRule::Label),
    b("", "v1", "ConfigMap", "configmaps", true, &["cm"]),
    b("", "v1", "Secret", "secrets", true, &[]),
    b("", "v1", "Service", "services", true, &["svc"])
        .all()
        .status()
        .rule(NameRule::Label1035),
    b("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"]),
    b(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        &["pvc"],
    )
    .status(),
    b(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        false,
        &["pv"],
    )
    .status(),
    b("", "v1", "Pod", "pods", true, &["po"]).all().status(),
    b("", "v1", "Event", "events", true, &["ev"]),
    b("", "v1", "Endpoints", "endpoints", true, &["ep"]),
    b("", "v1", "LimitRange", "limitranges", true, &["limits"]),
    b(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        true,
        &["quota"],
    )
    .status(),
    b("apps", "v1", "Deployment", "deployments", true, &["deploy"])
        .all()
        .status()
        .generation(),
    b("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"])
        .all()
        .status()
        .generation(),
    b("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"])
        .all()
        .status()
        .generation(),
    b("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"])
        .all()
        .status()
        .generation(),
    b(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        true,
        &[],
    ),
    b("batch", "v1", "Job", "jobs", true, &[])
        .all()
        .status()
        .generation(),
    b("batch", "v1", "CronJob", "cronjobs", true, &["cj"])
        .all()
        .status()
        .generation(),
    b(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        true,
        &["ing"],
    )
    .status()
    .generation(),
    b(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        &["netpol"],
    )
    .generation(),
    b(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        false,
        &[],
    )
    .generation(),
    b(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
    )
    .all()
    .status()
    .generation(),
    b(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        &["pdb"],
    )
    .status()
    .generation(),
    b(RBAC, "v1", "Role", "roles", true, &[]).rule(NameRule::PathSegment),
    b(RBAC, "v1", "RoleBinding", "rolebindings", true, &[]).rule(NameRule::PathSegment),
    b(RBAC, "v1", "ClusterRole", "clusterroles", false, &[]).rule(NameRule::PathSegment),
    b(
        RBAC,
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        &[],
    )
    .rule(NameRule::PathSegment),
    b(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
    )
    .status()
    .generation(),
    b("coordination.k8s.io", "v1", "Lease", "leases", true, &[]),
    b("events.k8s.io", "v1", "Event", "events", true, &["ev"]),
    b(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        false,
        &["sc"],
    ),
    b(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        false,
        &["pc"],
    ),
    b(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
        &[],
    )
    .generation(),
    b(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
        &[],
    )
    .generation(),
];

/// The group of TokenReview: create only, answered from the tokens issued by the test hook.
pub const TOKEN_REVIEW_GROUP: &str = "authentication.k8s.io";

/// The group of the access reviews: create only, always allowed (RBAC is not enforced).
pub const ACCESS_REVIEW_GROUP: &str = "authorization.k8s.io";

fn builtin_types() -> Vec<ResourceType> {
    let mut out: Vec<ResourceType> = BUILTINS
        .iter()
        .map(|b| {
            let mut verbs: Vec<String> = STANDARD.iter().map(|v| (*v).to_owned()).collect();
            if b.plural == "namespaces" {
                verbs.retain(|v| v != "deletecollection");
            }
            ResourceType {
                group: b.group.to_owned(),
                version: b.version.to_owned(),
                kind: b.kind.to_owned(),
                plural: b.plural.to_owned(),
                singular: b.kind.to_ascii_lowercase(),
                namespaced: b.namespaced,
                short_names: b.short.iter().map(|s| (*s).to_owned()).collect(),
                categories: if b.all {
                    vec!["all".to_owned()]
                } else {
                    Vec::new()
                },
                verbs,
                status_subresource: b.status,
                generation: b.generation,
                name_rule: b.rule,
                builtin: true,
            }
        })
        .collect();
    let reviews = [
        (TOKEN_REVIEW_GROUP, "TokenReview", "tokenreviews", false),
        (
            ACCESS_REVIEW_GROUP,
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            false,
        ),
        (
            ACCESS_REVIEW_GROUP,
            "SubjectAccessReview",
            "subjectaccessreviews",
            false,
        ),
        (
            ACCESS_REVIEW_GROUP,
            "LocalSubjectAccessReview",
            "localsubjectaccessreviews",
            true,
        ),
    ];
    for (group, kind, plural, namespaced) in reviews {
        out.push(ResourceType {
            group: group.to_owned(),
            version: "v1".to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            singular: kind.to_ascii_lowercase(),
            namespaced,
            short_names: Vec::new(),
            categories: Vec::new(),
            verbs: vec!["create".to_owned()],
            status_subresource: false,
            generation: false,
            name_rule: NameRule::Subdomain,
            builtin: true,
        });
    }
    out
}

/// The set of served resource types: the built-ins plus those defined by CRDs.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<Arc<ResourceType>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            types: builtin_types().into_iter().map(Arc::new).collect(),
        }
    }
}

impl Registry {
    /// Every served type, built-ins first, in a stable order.
    pub fn all(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    /// The type served at `group/version/plural`.
    pub fn by_path(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// The type of `apiVersion` + `kind`.
    pub fn by_gvk(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = split_api_version(api_version);
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
            .cloned()
    }

    /// Whether `group/version` is served at all.
    pub fn serves_group_version(&self, group: &str, version: &str) -> bool {
        self.types
            .iter()
            .any(|t| t.group == group && t.version == version)
    }

    /// Resolves a loose reference as tests write it: a kind (`Deployment`), a plural
    /// (`deployments`), a short name (`deploy`), `plural.group` (`deployments.apps`),
    /// `group/version/plural`, `v1/plural` or `apiVersion/Kind` (`apps/v1/Deployment`).
    pub fn resolve(&self, reference: &str) -> Option<Arc<ResourceType>> {
        let parts: Vec<&str> = reference.split('/').collect();
        let matches = |t: &ResourceType, word: &str| {
            t.plural == word
                || t.kind.eq_ignore_ascii_case(word)
                || t.singular == word
                || t.short_names.iter().any(|s| s == word)
        };
        match parts.as_slice() {
            [word] => {
                if let Some(t) = self.types.iter().find(|t| matches(t, word)) {
                    return Some(t.clone());
                }
                let (plural, group) = word.split_once('.')?;
                self.types
                    .iter()
                    .find(|t| t.group == group && matches(t, plural))
                    .cloned()
            }
            [version, word] => self
                .types
                .iter()
                .find(|t| t.group.is_empty() && t.version == *version && matches(t, word))
                .cloned(),
            [group, version, word] => self
                .types
                .iter()
                .find(|t| t.group == *group && t.version == *version && matches(t, word))
                .cloned(),
            _ => None,
        }
    }

    /// Adds or replaces a custom type (keyed by group, version and plural).
    pub fn upsert(&mut self, ty: ResourceType) {
        if let Some(slot) = self
            .types
            .iter_mut()
            .find(|t| t.group == ty.group && t.version == ty.version && t.plural == ty.plural)
        {
            *slot = Arc::new(ty);
        } else {
            self.types.push(Arc::new(ty));
        }
    }

    /// Removes every custom type of `group` with this plural.
    pub fn remove_custom(&mut self, group: &str, plural: &str) {
        self.types
            .retain(|t| t.builtin || !(t.group == group && t.plural == plural));
    }

    /// The served groups in discovery order: each with its versions (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        for (_, versions) in &mut out {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Kubernetes version priority (`v2` > `v1` > `v1beta2` > `v1beta1` > `v1alpha1`), as
/// discovery orders versions ("API versioning" in the API overview).
pub fn version_priority(version: &str) -> (u8, u32, u32) {
    let Some(rest) = version.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major: u32 = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, minor_text) = if tail.is_empty() {
        (3, "")
    } else if let Some(m) = tail.strip_prefix("beta") {
        (2, m)
    } else if let Some(m) = tail.strip_prefix("alpha") {
        (1, m)
    } else {
        return (0, 0, 0);
    };
    (stage, major, minor_text.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_kinds_plurals_short_names_and_groups() {
        let r = Registry::default();
        assert_eq!(
            r.resolve("Deployment").map(|t| t.plural.clone()).as_deref(),
            Some("deployments")
        );
        assert_eq!(
            r.resolve("deploy").map(|t| t.group.clone()).as_deref(),
            Some("apps")
        );
        assert_eq!(
            r.resolve("events.events.k8s.io")
                .map(|t| t.group.clone())
                .as_deref(),
            Some("events.k8s.io")
        );
        assert_eq!(
            r.resolve("apps/v1/Deployment")
                .map(|t| t.kind.clone())
                .as_deref(),
            Some("Deployment")
        );
        assert!(r.resolve("nothing").is_none());
    }

    #[test]
    fn version_priority_orders_like_discovery() {
        let mut v = vec!["v1alpha1", "v1", "v2beta1", "v1beta1", "v2"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta1", "v1alpha1"]);
    }
}
