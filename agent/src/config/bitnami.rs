//! `keys.bitnami`: where the agent finds the Sealed Secrets controller's private keys, to
//! unseal Bitnami SealedSecrets (`bitnami.com/v1alpha1`) found in Git.
//!
//! ```yaml
//! keys:
//!   bitnami:
//!     namespace: kube-system      # the controller's namespace (default)
//!     fromCluster: true           # read every Secret labelled sealedsecrets.bitnami.com/sealed-secrets-key there
//!     files: [/etc/tether/bitnami/tls.key]   # and/or PEM private keys from files
//! ```

use serde::Deserialize;
use std::path::PathBuf;

/// The controller's namespace when none is set (the Helm chart's and the manifests' default).
pub const DEFAULT_CONTROLLER_NAMESPACE: &str = "kube-system";

/// Where the Sealed Secrets controller's keys are read from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BitnamiKeysConfig {
    /// The controller's namespace, where its key Secrets are.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Read the key Secrets (label `sealedsecrets.bitnami.com/sealed-secrets-key`, all of
    /// them: old keys stay for old SealedSecrets) from the cluster.
    #[serde(default = "default_true")]
    pub from_cluster: bool,
    /// PEM private key files (`tls.key` of a key Secret, PKCS#1 or PKCS#8), read too.
    #[serde(default)]
    pub files: Vec<PathBuf>,
}

fn default_namespace() -> String {
    DEFAULT_CONTROLLER_NAMESPACE.to_owned()
}

fn default_true() -> bool {
    true
}

impl Default for BitnamiKeysConfig {
    fn default() -> Self {
        Self {
            namespace: default_namespace(),
            from_cluster: true,
            files: Vec::new(),
        }
    }
}

impl BitnamiKeysConfig {
    /// Checks the fields once at start-up; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !super::is_dns_label(&self.namespace) {
            return Err("keys.bitnami.namespace must be a namespace name".into());
        }
        if !self.from_cluster && self.files.is_empty() {
            return Err(
                "keys.bitnami: with fromCluster: false, files must name at least one key".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_read_the_cluster_in_kube_system_and_unknown_fields_are_refused() {
        let c: BitnamiKeysConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c.namespace, "kube-system");
        assert!(c.from_cluster && c.validate().is_ok());
        let err = serde_json::from_str::<BitnamiKeysConfig>(r#"{"keyFiles": []}"#)
            .err()
            .unwrap();
        assert!(err.to_string().contains("keyFiles"), "{err}");
        let c: BitnamiKeysConfig = serde_json::from_str(r#"{"fromCluster": false}"#).unwrap();
        assert!(c.validate().unwrap_err().contains("files"));
    }
}
