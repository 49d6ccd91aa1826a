//! The Flux objects a HelmRelease needs, read from an app's rendered manifests:
//! `HelmRelease` (helm.toolkit.fluxcd.io v2, v2beta2, v2beta1), `HelmRepository`
//! (source.toolkit.fluxcd.io v1, v1beta2; `type: default` or `oci`) and `OCIRepository`
//! (v1beta2, v1). Fields Tether does not use (intervals, timeouts, remediation, drift
//! detection) are read and ignored, as a Flux user's repository holds them.

use serde::Deserialize;
use serde_json::{Map, Value};

/// The API group of HelmRelease.
pub const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";
/// The API group of Flux sources.
pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";

/// Whether `object` is one of the Flux objects rendered instead of applied.
pub fn is_flux_helm_object(object: &Value) -> bool {
    let group = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.split_once('/'))
        .map(|(g, _)| g);
    let kind = object.get("kind").and_then(Value::as_str);
    matches!(
        (group, kind),
        (Some(HELM_GROUP), Some("HelmRelease"))
            | (
                Some(SOURCE_GROUP),
                Some("HelmRepository" | "OCIRepository" | "HelmChart")
            )
    )
}

/// Object metadata.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The namespace (the app's target namespace when empty).
    #[serde(default)]
    pub namespace: String,
    /// Annotations.
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// A `HelmRelease`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmRelease {
    /// Metadata.
    #[serde(default)]
    pub metadata: Meta,
    /// The spec.
    pub spec: ReleaseSpec,
}

/// `HelmRelease.spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSpec {
    /// `chart.spec`: a chart from a HelmRepository.
    #[serde(default)]
    pub chart: Option<ChartTemplate>,
    /// A chart from an OCIRepository (or a HelmChart).
    #[serde(default)]
    pub chart_ref: Option<SourceRef>,
    /// The release name (default `[targetNamespace-]name`).
    #[serde(default)]
    pub release_name: String,
    /// Where the release's objects go (default the HelmRelease's namespace).
    #[serde(default)]
    pub target_namespace: String,
    /// Inline values, merged last.
    #[serde(default)]
    pub values: Option<Map<String, Value>>,
    /// Values from ConfigMaps and Secrets, merged in order.
    #[serde(default)]
    pub values_from: Vec<ValuesReference>,
    /// Install settings.
    #[serde(default)]
    pub install: Option<Action>,
    /// Upgrade settings.
    #[serde(default)]
    pub upgrade: Option<Action>,
    /// Post-renderers.
    #[serde(default)]
    pub post_renderers: Vec<PostRenderer>,
    /// A suspended release is not rendered (its objects stay as they are).
    #[serde(default)]
    pub suspend: bool,
}

/// `spec.chart`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartTemplate {
    /// `spec.chart.spec`.
    pub spec: ChartSpec,
}

/// `spec.chart.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartSpec {
    /// The chart's name in the repository.
    pub chart: String,
    /// A version or semver range (default `*`).
    #[serde(default)]
    pub version: String,
    /// The source.
    pub source_ref: SourceRef,
    /// Values files of the source (paths from its root) replacing the chart's
    /// `values.yaml`, merged in order.
    #[serde(default)]
    pub values_files: Vec<String>,
}

/// A reference to a source object.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    /// `HelmRepository`, `OCIRepository`, ...
    pub kind: String,
    /// The name.
    pub name: String,
    /// The namespace (default the HelmRelease's).
    #[serde(default)]
    pub namespace: String,
}

/// One `valuesFrom` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValuesReference {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// The object's name (in the HelmRelease's namespace).
    pub name: String,
    /// The key (default `values.yaml`).
    #[serde(default)]
    pub values_key: String,
    /// Where the value goes (the whole key is a YAML map of values when empty).
    #[serde(default)]
    pub target_path: String,
    /// A missing object or key is not an error.
    #[serde(default)]
    pub optional: bool,
}

/// `install` / `upgrade`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// `Skip`, `Create` or `CreateReplace`.
    #[serde(default)]
    pub crds: String,
}

/// One post-renderer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostRenderer {
    /// A Kustomize post-renderer.
    #[serde(default)]
    pub kustomize: Option<Map<String, Value>>,
}

/// A `HelmRepository`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmRepository {
    /// Metadata.
    #[serde(default)]
    pub metadata: Meta,
    /// The spec.
    pub spec: RepositorySpec,
}

/// `HelmRepository.spec` and `OCIRepository.spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositorySpec {
    /// `https://...` or `oci://...`.
    pub url: String,
    /// `default` or `oci` (HelmRepository).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// A Secret with `username` and `password`.
    #[serde(default)]
    pub secret_ref: Option<LocalRef>,
    /// A Secret with `ca.crt` (or the legacy `caFile`).
    #[serde(default)]
    pub cert_secret_ref: Option<LocalRef>,
    /// Plain HTTP to an OCI registry.
    #[serde(default)]
    pub insecure: bool,
    /// OCIRepository: which artifact.
    #[serde(default, rename = "ref")]
    pub reference: Option<OciReference>,
}

/// A reference to an object in the same namespace.
#[derive(Debug, Clone, Deserialize)]
pub struct LocalRef {
    /// The name.
    pub name: String,
}

/// `OCIRepository.spec.ref`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciReference {
    /// A tag.
    #[serde(default)]
    pub tag: String,
    /// A semver range over the tags.
    #[serde(default)]
    pub semver: String,
    /// A manifest digest (wins over tag and semver).
    #[serde(default)]
    pub digest: String,
}

/// An `OCIRepository`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciRepository {
    /// Metadata.
    #[serde(default)]
    pub metadata: Meta,
    /// The spec.
    pub spec: RepositorySpec,
}

/// A `GitRepository` (source.toolkit.fluxcd.io v1, v1beta2): a chart directory of a Git
/// repository (`chart.spec.chart: ./path`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepository {
    /// Metadata.
    #[serde(default)]
    pub metadata: Meta,
    /// The spec.
    pub spec: GitRepositorySpec,
}

/// `GitRepository.spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositorySpec {
    /// `https://...`, `http://...`, `ssh://...`, `git://...`.
    pub url: String,
    /// What to check out (Flux's default: the `master` branch).
    #[serde(default, rename = "ref")]
    pub reference: Option<GitReference>,
    /// A Secret with `username`/`password`, `bearerToken`, `ca.crt` (or SSH `identity`).
    #[serde(default)]
    pub secret_ref: Option<LocalRef>,
    /// Exclusions in gitignore format, on top of Flux's defaults and `.sourceignore` files
    /// ([`crate::source::ignore`]).
    #[serde(default)]
    pub ignore: Option<String>,
    /// Other GitRepositories' files copied in.
    #[serde(default)]
    pub include: Vec<GitInclude>,
}

/// `GitRepository.spec.include[]`: another GitRepository (same namespace), its `fromPath`
/// (default: its root) copied in at `toPath` (default: its name).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitInclude {
    /// The GitRepository.
    pub repository: LocalRef,
    /// The directory of it to copy.
    #[serde(default)]
    pub from_path: String,
    /// Where it lands.
    #[serde(default)]
    pub to_path: String,
}

/// `GitRepository.spec.ref`, in Flux's precedence: commit, name, semver, tag, branch.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitReference {
    /// A branch.
    #[serde(default)]
    pub branch: String,
    /// A tag.
    #[serde(default)]
    pub tag: String,
    /// A semver range over the tags.
    #[serde(default)]
    pub semver: String,
    /// A full ref name (`refs/heads/x`, `refs/tags/y`).
    #[serde(default)]
    pub name: String,
    /// A commit.
    #[serde(default)]
    pub commit: String,
}

/// A `HelmChart` (source.toolkit.fluxcd.io v1, v1beta2), named by a HelmRelease's
/// `chartRef`: the same fields as `spec.chart.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmChart {
    /// Metadata.
    #[serde(default)]
    pub metadata: Meta,
    /// The spec.
    pub spec: ChartSpec,
}

/// The release name Flux gives: `spec.releaseName`, else `[targetNamespace-]name`,
/// shortened as Flux shortens names longer than 53 characters.
pub fn release_name(release: &HelmRelease) -> String {
    if !release.spec.release_name.is_empty() {
        return release.spec.release_name.clone();
    }
    let name = if release.spec.target_namespace.is_empty() {
        release.metadata.name.clone()
    } else {
        format!(
            "{}-{}",
            release.spec.target_namespace, release.metadata.name
        )
    };
    if name.len() <= 53 {
        return name;
    }
    use sha2::Digest;
    let sum = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    format!("{}-{}", &name[..40], &sum[..12])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn release(spec: Value) -> HelmRelease {
        serde_json::from_value(
            json!({"metadata": {"name": "podinfo", "namespace": "flux"}, "spec": spec}),
        )
        .expect("a HelmRelease")
    }

    #[test]
    fn the_release_name_defaults_as_flux_makes_it() {
        assert_eq!(release_name(&release(json!({}))), "podinfo");
        assert_eq!(
            release_name(&release(json!({"targetNamespace": "apps"}))),
            "apps-podinfo"
        );
        assert_eq!(
            release_name(&release(
                json!({"targetNamespace": "apps", "releaseName": "web"})
            )),
            "web"
        );
        let long =
            release(json!({"targetNamespace": "a-very-long-namespace-name-for-the-platform-team"}));
        let name = release_name(&long);
        assert_eq!(name.len(), 53);
        assert!(name.starts_with("a-very-long-namespace-name-for-the-platf-"));
    }

    #[test]
    fn flux_objects_are_recognised_by_group_and_kind() {
        assert!(is_flux_helm_object(
            &json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease"})
        ));
        assert!(is_flux_helm_object(
            &json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository"})
        ));
        assert!(is_flux_helm_object(
            &json!({"apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "OCIRepository"})
        ));
        assert!(is_flux_helm_object(
            &json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart"})
        ));
        assert!(!is_flux_helm_object(
            &json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository"})
        ));
        assert!(!is_flux_helm_object(
            &json!({"apiVersion": "v1", "kind": "ConfigMap"})
        ));
    }
}
