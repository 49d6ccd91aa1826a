//! The member Leases in the cluster: this replica's own (created, renewed with optimistic
//! concurrency on `resourceVersion`, deleted on a graceful stop) and the list of all of them.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use super::ShardError;
use super::membership::Listed;

/// The label every member Lease carries.
pub const MEMBER_LABEL: &str = "tether.dev/shard-member";

/// The name of the member Lease of `identity`: `tether-member-` and the identity, lowercased,
/// other characters than `[a-z0-9.-]` turned into `-`, at most 253 characters.
#[must_use]
pub fn lease_name(identity: &str) -> String {
    let clean: String = identity
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut name = format!("tether-member-{}", clean.trim_matches(['-', '.']));
    name.truncate(253);
    name.trim_end_matches(['-', '.']).to_owned()
}

/// This replica's Lease.
pub struct OwnLease {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    duration: Duration,
    /// The resourceVersion of the last write; `None` until read or after a conflict.
    version: Option<String>,
}

impl OwnLease {
    /// The Lease of `identity` in `namespace`.
    #[must_use]
    pub fn new(client: kube::Client, namespace: &str, identity: &str, duration: Duration) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: lease_name(identity),
            identity: identity.to_owned(),
            duration,
            version: None,
        }
    }

    fn body(&self, version: Option<&str>) -> Result<Lease, ShardError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut metadata = json!({
            "name": self.name,
            "namespace": self.namespace,
            "labels": {MEMBER_LABEL: "true", "app.kubernetes.io/part-of": "tether"},
        });
        if let Some(version) = version {
            metadata["resourceVersion"] = json!(version);
        }
        let seconds = i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX);
        serde_json::from_value(json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": seconds, "renewTime": now},
        }))
        .map_err(|e| ShardError::EncodeFailed {
            name: self.name.clone(),
            message: e.to_string(),
        })
    }

    fn failed(&self, step: &'static str, source: kube::Error) -> ShardError {
        ShardError::LeaseFailed {
            step,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source: Box::new(source),
        }
    }

    /// Renews the Lease (creating it when missing). A conflict (someone wrote it since it
    /// was read) is an error; the next renewal reads it again.
    pub async fn renew(&mut self) -> Result<(), ShardError> {
        if self.version.is_none() {
            match self.api.get_opt(&self.name).await {
                Ok(Some(found)) => self.version = found.metadata.resource_version,
                Ok(None) => {
                    let created = self
                        .api
                        .create(&PostParams::default(), &self.body(None)?)
                        .await
                        .map_err(|e| self.failed("create", e))?;
                    self.version = created.metadata.resource_version;
                    return Ok(());
                }
                Err(e) => return Err(self.failed("read", e)),
            }
        }
        let body = self.body(self.version.as_deref())?;
        match self
            .api
            .replace(&self.name, &PostParams::default(), &body)
            .await
        {
            Ok(written) => {
                self.version = written.metadata.resource_version;
                Ok(())
            }
            Err(e) => {
                self.version = None;
                Err(self.failed("renew", e))
            }
        }
    }

    /// Deletes the Lease (a graceful stop: the others take its apps over at once).
    pub async fn release(&mut self) {
        match self.api.delete(&self.name, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(lease = %self.name, "member lease released"),
            Err(err) => {
                tracing::warn!(lease = %self.name, error = %err, "releasing the member lease failed")
            }
        }
        self.version = None;
    }
}

/// Lists the member Leases of `api`'s namespace.
pub async fn list(api: &Api<Lease>, namespace: &str) -> Result<Vec<Listed>, ShardError> {
    let leases = api
        .list(&ListParams::default().labels(MEMBER_LABEL))
        .await
        .map_err(|source| ShardError::ListFailed {
            namespace: namespace.to_owned(),
            source: Box::new(source),
        })?;
    Ok(leases
        .items
        .into_iter()
        .filter_map(|lease| {
            let spec = lease.spec?;
            let seconds = u64::try_from(spec.lease_duration_seconds?).ok()?;
            Some(Listed {
                holder: spec.holder_identity?,
                version: lease.metadata.resource_version?,
                duration: Duration::from_secs(seconds),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_are_valid_object_names() {
        assert_eq!(
            lease_name("tether-7f9c-abcde"),
            "tether-member-tether-7f9c-abcde"
        );
        assert_eq!(lease_name("Host_Name:1"), "tether-member-host-name-1");
        assert!(lease_name(&"x".repeat(400)).len() <= 253);
    }
}
