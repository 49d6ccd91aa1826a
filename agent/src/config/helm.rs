//! The `helm:` block of an app generator: its directories hold Helm charts, rendered as
//! `helm template` renders them (fields named like Argo CD's `spec.source.helm`).

use serde::Deserialize;

/// How the apps' charts are rendered.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HelmAppConfig {
    /// `.Release.Name` (default: the app's name).
    #[serde(default)]
    pub release_name: Option<String>,
    /// A remote chart's repository (`https://...` Helm repository or `oci://...`
    /// registry), instead of a chart in the app's directory (Argo CD's `repoURL`).
    #[serde(default, rename = "repoURL")]
    pub repo_url: Option<String>,
    /// The remote chart's name.
    #[serde(default)]
    pub chart: Option<String>,
    /// The remote chart's version or semver constraint (empty: the latest release).
    #[serde(default)]
    pub target_revision: Option<String>,
    /// `.Release.Namespace` (default: the app's namespace).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Values files, relative to the chart directory, inside the snapshot; later files win.
    #[serde(default)]
    pub value_files: Vec<String>,
    /// Inline values, over the files.
    #[serde(default)]
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
    /// Values read from ConfigMaps and Secrets at sync, over the inline values.
    #[serde(default)]
    pub values_from: Vec<ValuesFrom>,
    /// `helm --set` expressions, applied last.
    #[serde(default)]
    pub parameters: Vec<String>,
    /// Leave the chart's `crds/` out.
    #[serde(default, rename = "skipCrds")]
    pub skip_crds: bool,
    /// Let values read from Secrets (`valuesFrom`) into objects that are not Secrets; by
    /// default such a render is refused, naming the object and field.
    #[serde(default)]
    pub allow_secret_values_outside_secrets: bool,
    /// Answer the chart's `lookup` from the cluster (read-only, in the namespaces the app
    /// writes); by default it answers as `helm template` does offline (empty).
    #[serde(default)]
    pub lookup: bool,
    /// `.Capabilities.KubeVersion` (default: Helm 3's offline default).
    #[serde(default)]
    pub kube_version: Option<String>,
    /// Extra `.Capabilities.APIVersions`.
    #[serde(default)]
    pub api_versions: Vec<String>,
}

/// Where `valuesFrom` reads values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ValuesKind {
    /// A ConfigMap's key.
    ConfigMap,
    /// A Secret's key: its values are secret (never logged or quoted in errors).
    Secret,
}

/// One `valuesFrom` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValuesFrom {
    /// `ConfigMap` or `Secret`.
    pub kind: ValuesKind,
    /// The object's name, in the app's namespace.
    pub name: String,
    /// The key holding YAML values (default `values.yaml`).
    #[serde(default = "default_values_key")]
    pub values_key: String,
    /// Render without it when it is missing.
    #[serde(default)]
    pub optional: bool,
    /// Set the key's text at this dotted path of the values (`a.b`, `\.` for a dot in
    /// a key) instead of reading it as a YAML map.
    #[serde(default)]
    pub target_path: Option<String>,
    /// Read the object from this manifest file of the snapshot (relative to the chart
    /// directory; SOPS-encrypted or not) instead of the cluster.
    #[serde(default)]
    pub path: Option<String>,
}

fn default_values_key() -> String {
    "values.yaml".into()
}

impl HelmAppConfig {
    /// The render settings for the app `app` in `namespace`. `valuesFrom` is read by the
    /// caller; its maps go in `values_from`.
    #[must_use]
    pub fn settings(&self, app: &str, namespace: &str) -> crate::render::helm::ChartSettings {
        crate::render::helm::ChartSettings {
            release_name: Some(self.release_name.clone().unwrap_or_else(|| app.to_owned())),
            namespace: Some(
                self.namespace
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| {
                        if namespace.is_empty() {
                            "default"
                        } else {
                            namespace
                        }
                        .to_owned()
                    }),
            ),
            value_files: self.value_files.clone(),
            values: self.values.clone().unwrap_or_default(),
            remote: self.repo_url.as_ref().map(|repository| {
                crate::render::helm_fetch::ChartRequest {
                    repository: repository.clone(),
                    name: self.chart.clone().unwrap_or_default(),
                    version: self.target_revision.clone().unwrap_or_default(),
                    digest: None,
                }
            }),
            repositories: None,
            lookup: None,
            values_from: None,
            allow_secret_values_outside_secrets: self.allow_secret_values_outside_secrets,
            hold: None,
            set: self.parameters.clone(),
            skip_crds: self.skip_crds,
            kube_version: self.kube_version.clone(),
            api_versions: self.api_versions.clone(),
            app: app.to_owned(),
        }
    }
}

/// Access to Helm repositories and OCI registries (`helmRepositories`), matched by URL
/// prefix (the longest wins), as Argo CD matches repository credentials. Used by
/// Kustomize's `helmCharts` and `helm:` apps; credentials come from files or a Secret,
/// never from this file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HelmRepositoryConfig {
    /// `https://charts.example.com`, `oci://registry.example.com/charts`: every repository
    /// at or below it.
    pub url: String,
    /// The user name for basic auth (or `usernameFile`, or the Secret's `username`).
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the user name.
    #[serde(default)]
    pub username_file: Option<std::path::PathBuf>,
    /// A file holding the password.
    #[serde(default)]
    pub password_file: Option<std::path::PathBuf>,
    /// A PEM CA bundle trusted (besides the system's) for these repositories.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// A Secret with keys `username`, `password` and (optional) `ca.crt`.
    #[serde(default)]
    pub secret_ref: Option<HelmSecretRef>,
    /// OCI only: talk plain HTTP to the registry.
    #[serde(default)]
    pub plain_http: bool,
}

/// A Secret holding repository credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HelmSecretRef {
    /// The Secret's name.
    pub name: String,
    /// Its namespace (default: the agent's).
    #[serde(default)]
    pub namespace: Option<String>,
}

impl HelmAppConfig {
    /// The `valuesFrom` entries, for [`crate::render::helm::values_from::resolve`].
    #[must_use]
    pub fn values_sources(&self) -> Vec<crate::render::helm::values_from::ValuesSource> {
        self.values_from
            .iter()
            .map(|entry| crate::render::helm::values_from::ValuesSource {
                reference: crate::render::flux_helm::model::ValuesReference {
                    kind: match entry.kind {
                        ValuesKind::ConfigMap => "ConfigMap",
                        ValuesKind::Secret => "Secret",
                    }
                    .to_owned(),
                    name: entry.name.clone(),
                    values_key: entry.values_key.clone(),
                    target_path: entry.target_path.clone().unwrap_or_default(),
                    optional: entry.optional,
                },
                path: entry.path.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_helm_block_reads_with_argo_names() {
        let text = "releaseName: web\nvalueFiles: [values-prod.yaml]\nvalues: {replicas: 2}\nvaluesFrom: [{kind: Secret, name: creds}]\nparameters: [a=b]\nskipCrds: true\nkubeVersion: '1.30'\napiVersions: [monitoring.coreos.com/v1]\n";
        let config: HelmAppConfig = serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.values_from[0].values_key, "values.yaml");
        assert_eq!(config.values_from[0].kind, ValuesKind::Secret);
        let settings = config.settings("shop", "");
        assert_eq!(settings.release_name.as_deref(), Some("web"));
        assert_eq!(settings.namespace.as_deref(), Some("default"));
        assert!(settings.skip_crds);
        assert!(serde_saphyr::from_str::<HelmAppConfig>("valueFile: [x]\n").is_err());
    }
}
