//! The name references kustomize knows for the built-in types: which fields of which
//! objects hold the name of which other object (a ConfigMap in a pod's volumes, a
//! ServiceAccount in a binding's subjects, ...), so that renaming an object (prefix,
//! suffix, hash) renames the references to it.

use super::Gvk;
use super::fieldspec::FieldSpec;
use super::names::NameBackRef;

/// Group, version and kind.
type GvkText = (&'static str, &'static str, &'static str);
/// Group, version, kind and field path.
type FieldText = (&'static str, &'static str, &'static str, &'static str);

/// Built-in name references: (referral group, version, kind), then the fields that
/// refer to it as (referrer group, version, kind, path).
#[rustfmt::skip]
const NAME_REFERENCES: &[(GvkText, &[FieldText])] = &[
    (("", "", "Deployment"), &[
        ("", "", "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"),
    ]),
    (("", "", "ReplicationController"), &[
        ("", "", "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"),
    ]),
    (("", "", "ReplicaSet"), &[
        ("", "", "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"),
    ]),
    (("", "", "StatefulSet"), &[
        ("", "", "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"),
    ]),
    (("", "v1", "ConfigMap"), &[
        ("", "v1", "Pod", "spec/volumes/configMap/name"),
        ("", "v1", "Pod", "spec/containers/env/valueFrom/configMapKeyRef/name"),
        ("", "v1", "Pod", "spec/initContainers/env/valueFrom/configMapKeyRef/name"),
        ("", "v1", "Pod", "spec/containers/envFrom/configMapRef/name"),
        ("", "v1", "Pod", "spec/initContainers/envFrom/configMapRef/name"),
        ("", "v1", "Pod", "spec/volumes/projected/sources/configMap/name"),
        ("", "", "PodTemplate", "template/spec/volumes/configMap/name"),
        ("", "", "PodTemplate", "template/spec/containers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "PodTemplate", "template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "PodTemplate", "template/spec/containers/envFrom/configMapRef/name"),
        ("", "", "PodTemplate", "template/spec/initContainers/envFrom/configMapRef/name"),
        ("", "", "PodTemplate", "template/spec/volumes/projected/sources/configMap/name"),
        ("", "", "Deployment", "spec/template/spec/volumes/configMap/name"),
        ("", "", "Deployment", "spec/template/spec/containers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "Deployment", "spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "Deployment", "spec/template/spec/containers/envFrom/configMapRef/name"),
        ("", "", "Deployment", "spec/template/spec/initContainers/envFrom/configMapRef/name"),
        ("", "", "Deployment", "spec/template/spec/volumes/projected/sources/configMap/name"),
        ("", "", "ReplicaSet", "spec/template/spec/volumes/configMap/name"),
        ("", "", "ReplicaSet", "spec/template/spec/containers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "ReplicaSet", "spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "ReplicaSet", "spec/template/spec/containers/envFrom/configMapRef/name"),
        ("", "", "ReplicaSet", "spec/template/spec/initContainers/envFrom/configMapRef/name"),
        ("", "", "ReplicaSet", "spec/template/spec/volumes/projected/sources/configMap/name"),
        ("", "", "DaemonSet", "spec/template/spec/volumes/configMap/name"),
        ("", "", "DaemonSet", "spec/template/spec/containers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "DaemonSet", "spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "DaemonSet", "spec/template/spec/containers/envFrom/configMapRef/name"),
        ("", "", "DaemonSet", "spec/template/spec/initContainers/envFrom/configMapRef/name"),
        ("", "", "DaemonSet", "spec/template/spec/volumes/projected/sources/configMap/name"),
        ("", "", "StatefulSet", "spec/template/spec/volumes/configMap/name"),
        ("", "", "StatefulSet", "spec/template/spec/containers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "StatefulSet", "spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "StatefulSet", "spec/template/spec/containers/envFrom/configMapRef/name"),
        ("", "", "StatefulSet", "spec/template/spec/initContainers/envFrom/configMapRef/name"),
        ("", "", "StatefulSet", "spec/template/spec/volumes/projected/sources/configMap/name"),
        ("", "", "Job", "spec/template/spec/volumes/configMap/name"),
        ("", "", "Job", "spec/template/spec/containers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "Job", "spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "Job", "spec/template/spec/containers/envFrom/configMapRef/name"),
        ("", "", "Job", "spec/template/spec/initContainers/envFrom/configMapRef/name"),
        ("", "", "Job", "spec/template/spec/volumes/projected/sources/configMap/name"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/volumes/configMap/name"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/volumes/projected/sources/configMap/name"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/containers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/containers/envFrom/configMapRef/name"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/initContainers/envFrom/configMapRef/name"),
        ("", "", "Node", "spec/configSource/configMap"),
        ("", "", "Role", "rules/resourceNames"),
        ("", "", "ClusterRole", "rules/resourceNames"),
        ("", "", "Ingress", "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap"),
    ]),
    (("", "v1", "Secret"), &[
        ("", "v1", "Pod", "spec/volumes/secret/secretName"),
        ("", "v1", "Pod", "spec/containers/env/valueFrom/secretKeyRef/name"),
        ("", "v1", "Pod", "spec/initContainers/env/valueFrom/secretKeyRef/name"),
        ("", "v1", "Pod", "spec/containers/envFrom/secretRef/name"),
        ("", "v1", "Pod", "spec/initContainers/envFrom/secretRef/name"),
        ("", "v1", "Pod", "spec/imagePullSecrets/name"),
        ("", "v1", "Pod", "spec/volumes/projected/sources/secret/name"),
        ("", "", "PodTemplate", "template/spec/volumes/secret/secretName"),
        ("", "", "PodTemplate", "template/spec/containers/env/valueFrom/secretKeyRef/name"),
        ("", "", "PodTemplate", "template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
        ("", "", "PodTemplate", "template/spec/containers/envFrom/secretRef/name"),
        ("", "", "PodTemplate", "template/spec/initContainers/envFrom/secretRef/name"),
        ("", "", "PodTemplate", "template/spec/imagePullSecrets/name"),
        ("", "", "PodTemplate", "template/spec/volumes/projected/sources/secret/name"),
        ("", "", "Deployment", "spec/template/spec/volumes/secret/secretName"),
        ("", "", "Deployment", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
        ("", "", "Deployment", "spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
        ("", "", "Deployment", "spec/template/spec/containers/envFrom/secretRef/name"),
        ("", "", "Deployment", "spec/template/spec/initContainers/envFrom/secretRef/name"),
        ("", "", "Deployment", "spec/template/spec/imagePullSecrets/name"),
        ("", "", "Deployment", "spec/template/spec/volumes/projected/sources/secret/name"),
        ("", "", "ReplicaSet", "spec/template/spec/volumes/secret/secretName"),
        ("", "", "ReplicaSet", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
        ("", "", "ReplicaSet", "spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
        ("", "", "ReplicaSet", "spec/template/spec/containers/envFrom/secretRef/name"),
        ("", "", "ReplicaSet", "spec/template/spec/initContainers/envFrom/secretRef/name"),
        ("", "", "ReplicaSet", "spec/template/spec/imagePullSecrets/name"),
        ("", "", "ReplicaSet", "spec/template/spec/volumes/projected/sources/secret/name"),
        ("", "", "DaemonSet", "spec/template/spec/volumes/secret/secretName"),
        ("", "", "DaemonSet", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
        ("", "", "DaemonSet", "spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
        ("", "", "DaemonSet", "spec/template/spec/containers/envFrom/secretRef/name"),
        ("", "", "DaemonSet", "spec/template/spec/initContainers/envFrom/secretRef/name"),
        ("", "", "DaemonSet", "spec/template/spec/imagePullSecrets/name"),
        ("", "", "DaemonSet", "spec/template/spec/volumes/projected/sources/secret/name"),
        ("", "", "StatefulSet", "spec/template/spec/volumes/secret/secretName"),
        ("", "", "StatefulSet", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
        ("", "", "StatefulSet", "spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
        ("", "", "StatefulSet", "spec/template/spec/containers/envFrom/secretRef/name"),
        ("", "", "StatefulSet", "spec/template/spec/initContainers/envFrom/secretRef/name"),
        ("", "", "StatefulSet", "spec/template/spec/imagePullSecrets/name"),
        ("", "", "StatefulSet", "spec/template/spec/volumes/projected/sources/secret/name"),
        ("", "", "Job", "spec/template/spec/volumes/secret/secretName"),
        ("", "", "Job", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
        ("", "", "Job", "spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
        ("", "", "Job", "spec/template/spec/containers/envFrom/secretRef/name"),
        ("", "", "Job", "spec/template/spec/initContainers/envFrom/secretRef/name"),
        ("", "", "Job", "spec/template/spec/imagePullSecrets/name"),
        ("", "", "Job", "spec/template/spec/volumes/projected/sources/secret/name"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/volumes/secret/secretName"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/volumes/projected/sources/secret/name"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/containers/envFrom/secretRef/name"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/initContainers/envFrom/secretRef/name"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/imagePullSecrets/name"),
        ("", "", "Ingress", "spec/tls/secretName"),
        ("", "", "Ingress", "metadata/annotations/ingress.kubernetes.io\\/auth-secret"),
        ("", "", "Ingress", "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret"),
        ("", "", "Ingress", "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret"),
        ("", "", "Ingress", "spec/tls/secretName"),
        ("", "", "ServiceAccount", "imagePullSecrets/name"),
        ("", "", "StorageClass", "parameters/secretName"),
        ("", "", "StorageClass", "parameters/adminSecretName"),
        ("", "", "StorageClass", "parameters/userSecretName"),
        ("", "", "StorageClass", "parameters/secretRef"),
        ("", "", "Role", "rules/resourceNames"),
        ("", "", "ClusterRole", "rules/resourceNames"),
        ("serving.knative.dev", "v1", "Service", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
        ("", "", "PersistentVolume", "spec/azureFile/secretName"),
    ]),
    (("", "v1", "Service"), &[
        ("apps", "", "StatefulSet", "spec/serviceName"),
        ("", "", "Ingress", "spec/rules/http/paths/backend/serviceName"),
        ("", "", "Ingress", "spec/backend/serviceName"),
        ("", "", "Ingress", "spec/rules/http/paths/backend/service/name"),
        ("", "", "Ingress", "spec/defaultBackend/service/name"),
        ("apiregistration.k8s.io", "", "APIService", "spec/service/name"),
        ("admissionregistration.k8s.io", "", "ValidatingWebhookConfiguration", "webhooks/clientConfig/service"),
        ("admissionregistration.k8s.io", "", "MutatingWebhookConfiguration", "webhooks/clientConfig/service"),
    ]),
    (("rbac.authorization.k8s.io", "", "Role"), &[
        ("rbac.authorization.k8s.io", "", "RoleBinding", "roleRef/name"),
    ]),
    (("rbac.authorization.k8s.io", "", "ClusterRole"), &[
        ("rbac.authorization.k8s.io", "", "RoleBinding", "roleRef/name"),
        ("rbac.authorization.k8s.io", "", "ClusterRoleBinding", "roleRef/name"),
    ]),
    (("", "v1", "ServiceAccount"), &[
        ("rbac.authorization.k8s.io", "", "RoleBinding", "subjects"),
        ("rbac.authorization.k8s.io", "", "ClusterRoleBinding", "subjects"),
        ("", "", "Pod", "spec/serviceAccountName"),
        ("", "", "StatefulSet", "spec/template/spec/serviceAccountName"),
        ("", "", "Deployment", "spec/template/spec/serviceAccountName"),
        ("", "", "ReplicationController", "spec/template/spec/serviceAccountName"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/serviceAccountName"),
        ("", "", "Job", "spec/template/spec/serviceAccountName"),
        ("", "", "DaemonSet", "spec/template/spec/serviceAccountName"),
    ]),
    (("", "v1", "PersistentVolumeClaim"), &[
        ("", "", "Pod", "spec/volumes/persistentVolumeClaim/claimName"),
        ("", "", "StatefulSet", "spec/template/spec/volumes/persistentVolumeClaim/claimName"),
        ("", "", "Deployment", "spec/template/spec/volumes/persistentVolumeClaim/claimName"),
        ("", "", "ReplicationController", "spec/template/spec/volumes/persistentVolumeClaim/claimName"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/volumes/persistentVolumeClaim/claimName"),
        ("", "", "Job", "spec/template/spec/volumes/persistentVolumeClaim/claimName"),
        ("", "", "DaemonSet", "spec/template/spec/volumes/persistentVolumeClaim/claimName"),
    ]),
    (("", "v1", "PersistentVolume"), &[
        ("", "", "PersistentVolumeClaim", "spec/volumeName"),
        ("", "", "ClusterRole", "rules/resourceNames"),
    ]),
    (("storage.k8s.io", "v1", "StorageClass"), &[
        ("", "", "PersistentVolume", "spec/storageClassName"),
        ("", "", "PersistentVolumeClaim", "spec/storageClassName"),
        ("", "", "StatefulSet", "spec/volumeClaimTemplates/spec/storageClassName"),
    ]),
    (("scheduling.k8s.io", "v1", "PriorityClass"), &[
        ("", "", "Pod", "spec/priorityClassName"),
        ("", "", "StatefulSet", "spec/template/spec/priorityClassName"),
        ("", "", "Deployment", "spec/template/spec/priorityClassName"),
        ("", "", "ReplicationController", "spec/template/spec/priorityClassName"),
        ("", "", "CronJob", "spec/jobTemplate/spec/template/spec/priorityClassName"),
        ("", "", "Job", "spec/template/spec/priorityClassName"),
        ("", "", "DaemonSet", "spec/template/spec/priorityClassName"),
    ]),
    (("networking.k8s.io/v1", "v1", "IngressClass"), &[
        ("", "", "Ingress", "spec/ingressClassName"),
    ]),
    (("admissionregistration.k8s.io", "", "ValidatingAdmissionPolicy"), &[
        ("admissionregistration.k8s.io", "", "ValidatingAdmissionPolicyBinding", "spec/policyName"),
    ]),
];

/// The built-in name references, one rule per referring field.
pub(crate) fn name_references() -> Vec<NameBackRef> {
    // Deduplicated on the table's own strings: comparing built rules pairwise was most of
    // the cost of a small render.
    let mut seen = std::collections::HashSet::new();
    let mut rules = Vec::new();
    for ((group, version, kind), referrers) in NAME_REFERENCES {
        let referral = Gvk {
            group: (*group).to_owned(),
            version: (*version).to_owned(),
            kind: (*kind).to_owned(),
        };
        for (g, v, k, path) in *referrers {
            if !seen.insert((*group, *version, *kind, *g, *v, *k, *path)) {
                continue;
            }
            rules.push(NameBackRef {
                referral: referral.clone(),
                referrer: FieldSpec::new(g, v, k, path, false),
            });
        }
    }
    rules
}
