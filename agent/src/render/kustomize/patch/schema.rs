//! The part of the Kubernetes schema that strategic merge patch needs: which lists of the
//! built-in types merge element by element, and on which keys (`patchMergeKey`, or
//! `x-kubernetes-list-map-keys` when there are several). Every other list is replaced by
//! the patch. Types that are not built in (custom resources) have no schema: their lists are
//! replaced and their maps merged, which is JSON merge patch semantics.
//!
//! The types and keys are those of the Kubernetes 1.21 OpenAPI schema that kustomize v5
//! embeds, so that the results match `kubectl kustomize`.

/// A node of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    /// No merge lists below this point.
    Opaque,
    /// The root of an object of a known built-in type.
    Root(RootKind),
    /// `metadata`.
    ObjectMeta,
    /// `spec.template` of workloads.
    PodTemplateSpec,
    /// A pod spec.
    PodSpec,
    /// A container.
    Container,
    /// The spec of a workload with a pod template.
    WorkloadSpec,
    /// `spec` of a CronJob.
    CronJobSpec,
    /// `spec.jobTemplate` of a CronJob.
    JobTemplateSpec,
    /// `spec` of a Service.
    ServiceSpec,
}

/// Built-in root types whose schema matters for merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RootKind {
    /// A built-in type with no merge lists outside its metadata.
    Generic,
    /// `v1` Pod.
    Pod,
    /// `v1` PodTemplate.
    PodTemplate,
    /// Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job.
    Workload,
    /// CronJob.
    CronJob,
    /// `v1` Service.
    Service,
    /// `v1` ServiceAccount.
    ServiceAccount,
    /// Admission webhook configurations.
    WebhookConfiguration,
}

/// Group versions of the built-in schema (Kubernetes 1.21).
const BUILT_IN_GROUP_VERSIONS: &[&str] = &[
    "v1",
    "apps/v1",
    "batch/v1",
    "batch/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "scheduling.k8s.io/v1beta1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
    "apiextensions.k8s.io/v1beta1",
    "apiregistration.k8s.io/v1",
    "certificates.k8s.io/v1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "node.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
];

/// The schema of an object's root, from its apiVersion and kind.
pub(crate) fn root_type(api_version: &str, kind: &str) -> Ty {
    let root = match (api_version, kind) {
        ("v1", "Pod") => RootKind::Pod,
        ("v1", "PodTemplate") => RootKind::PodTemplate,
        ("v1", "ReplicationController")
        | ("apps/v1", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch/v1", "Job") => RootKind::Workload,
        ("batch/v1" | "batch/v1beta1", "CronJob") => RootKind::CronJob,
        ("v1", "Service") => RootKind::Service,
        ("v1", "ServiceAccount") => RootKind::ServiceAccount,
        (
            "admissionregistration.k8s.io/v1" | "admissionregistration.k8s.io/v1beta1",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => RootKind::WebhookConfiguration,
        _ if BUILT_IN_GROUP_VERSIONS.contains(&api_version) && !kind.is_empty() => {
            RootKind::Generic
        }
        _ => return Ty::Opaque,
    };
    Ty::Root(root)
}

/// The schema of the value of `key` in a mapping of type `ty`.
pub(crate) fn field(ty: Ty, key: &str) -> Ty {
    match (ty, key) {
        (Ty::Root(_), "metadata") => Ty::ObjectMeta,
        (Ty::Root(RootKind::Pod), "spec") => Ty::PodSpec,
        (Ty::Root(RootKind::PodTemplate), "template") => Ty::PodTemplateSpec,
        (Ty::Root(RootKind::Workload), "spec") => Ty::WorkloadSpec,
        (Ty::Root(RootKind::CronJob), "spec") => Ty::CronJobSpec,
        (Ty::Root(RootKind::Service), "spec") => Ty::ServiceSpec,
        (Ty::WorkloadSpec, "template") => Ty::PodTemplateSpec,
        (Ty::CronJobSpec, "jobTemplate") => Ty::JobTemplateSpec,
        (Ty::JobTemplateSpec, "metadata") | (Ty::PodTemplateSpec, "metadata") => Ty::ObjectMeta,
        (Ty::JobTemplateSpec, "spec") => Ty::WorkloadSpec,
        (Ty::PodTemplateSpec, "spec") => Ty::PodSpec,
        _ => Ty::Opaque,
    }
}

/// How a list-valued field of a mapping of type `ty` merges: `Some((keys, element type))`
/// for a list merged by keys (no keys: a list of scalars merged as a set), `None` for a list
/// the patch replaces.
pub(crate) fn merge_list(ty: Ty, key: &str) -> Option<(&'static [&'static str], Ty)> {
    const NAME: &[&str] = &["name"];
    match (ty, key) {
        (Ty::ObjectMeta, "finalizers") => Some((&[], Ty::Opaque)),
        (Ty::ObjectMeta, "ownerReferences") => Some((&["uid"], Ty::Opaque)),
        (Ty::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
            Some((NAME, Ty::Container))
        }
        (Ty::PodSpec, "volumes" | "imagePullSecrets") => Some((NAME, Ty::Opaque)),
        (Ty::PodSpec, "hostAliases") => Some((&["ip"], Ty::Opaque)),
        (Ty::PodSpec, "topologySpreadConstraints") => {
            Some((&["topologyKey", "whenUnsatisfiable"], Ty::Opaque))
        }
        (Ty::Container, "env") => Some((NAME, Ty::Opaque)),
        (Ty::Container, "ports") => Some((&["containerPort", "protocol"], Ty::Opaque)),
        (Ty::Container, "volumeMounts") => Some((&["mountPath"], Ty::Opaque)),
        (Ty::Container, "volumeDevices") => Some((&["devicePath"], Ty::Opaque)),
        (Ty::ServiceSpec, "ports") => Some((&["port", "protocol"], Ty::Opaque)),
        (Ty::Root(RootKind::ServiceAccount), "secrets") => Some((NAME, Ty::Opaque)),
        (Ty::Root(RootKind::WebhookConfiguration), "webhooks") => Some((NAME, Ty::Opaque)),
        _ => None,
    }
}
