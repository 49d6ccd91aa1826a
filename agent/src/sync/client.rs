//! The Kubernetes client and discovery.
//!
//! [`connect`] builds a `kube::Client` from a kubeconfig file or the in-cluster service
//! account. A kubeconfig whose user runs a program (`exec`) or uses an `auth-provider` plugin
//! is refused unless [`ClientOptions::allow_exec`] is set: such a kubeconfig taken from a
//! repository or a Secret would run arbitrary binaries inside the agent.
//!
//! [`Resolver`] turns a group/version/kind into its resource (plural, scope, status
//! subresource) through the API's discovery, never a guessed plural, and caches the answers.
//! [`Resolver::forget_group`] drops a group after a CRD of that group was applied.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use kube::api::{ApiResource, GroupVersionKind};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::Scope as KubeScope;
use kube::{Client, Config};

use super::object::Scope;

/// Why no client could be built or a kind could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig file could not be read or parsed.
    #[error("read the kubeconfig {path}: {source}")]
    ReadKubeconfig {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The kubeconfig's user runs a program or an auth-provider plugin.
    #[error(
        "the kubeconfig {path} user {user:?} uses {mechanism}, which runs code inside the agent; \
         it is refused unless explicitly allowed"
    )]
    ExecRefused {
        /// The file.
        path: PathBuf,
        /// The user entry.
        user: String,
        /// `exec` or `auth-provider`.
        mechanism: &'static str,
    },
    /// The kubeconfig does not yield a usable configuration.
    #[error("load the kubeconfig {path}: {source}")]
    LoadKubeconfig {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The in-cluster configuration (service account) is missing or invalid.
    #[error("load the in-cluster configuration: {0}")]
    InCluster(#[source] kube::config::InClusterError),
    /// The client could not be built from the configuration.
    #[error("build the Kubernetes client: {0}")]
    BuildClient(#[source] kube::Error),
    /// Discovery of a group/version failed.
    #[error("discover {gvk}: {source}")]
    DiscoveryFailed {
        /// `group/version/kind`.
        gvk: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The API does not serve the kind.
    #[error("the API serves no resource for {gvk}")]
    UnknownKind {
        /// `group/version/kind`.
        gvk: String,
    },
}

impl ClientError {
    /// The short, stable reason used in status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownKind { .. } => "UnknownKind",
            Self::DiscoveryFailed { .. } => "DiscoveryFailed",
            _ => "ClientFailed",
        }
    }
}

/// Where the client's configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// A kubeconfig file, or a `KUBECONFIG`-style list of them (`a:b`) merged as kubectl
    /// merges them ([`super::kubeconfig`]); `None` means the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// The context of the kubeconfig (its current context when `None`).
    pub context: Option<String>,
    /// Accept kubeconfigs whose user runs `exec` or an `auth-provider`.
    pub allow_exec: bool,
}

/// Builds a client from [`ClientOptions`].
pub async fn connect(options: &ClientOptions) -> Result<Client, ClientError> {
    let config = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = super::kubeconfig::read(path)?;
            if !options.allow_exec {
                refuse_exec(path, &kubeconfig, options.context.as_deref())?;
            }
            let kube_options = KubeConfigOptions {
                context: options.context.clone(),
                ..KubeConfigOptions::default()
            };
            Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                .await
                .map_err(|source| ClientError::LoadKubeconfig {
                    path: path.clone(),
                    source,
                })?
        }
        None => Config::incluster().map_err(ClientError::InCluster)?,
    };
    Client::try_from(config).map_err(ClientError::BuildClient)
}

/// Refuses a kubeconfig whose selected user (every user when the context cannot be told)
/// has `exec` or `auth-provider`.
pub fn refuse_exec(
    path: &std::path::Path,
    kubeconfig: &Kubeconfig,
    context: Option<&str>,
) -> Result<(), ClientError> {
    let context_name = context.or(kubeconfig.current_context.as_deref());
    let selected_user = context_name.and_then(|name| {
        kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.context.as_ref())
            .and_then(|c| c.user.clone())
    });
    for named in &kubeconfig.auth_infos {
        if selected_user.as_ref().is_some_and(|u| *u != named.name) {
            continue;
        }
        let Some(info) = &named.auth_info else {
            continue;
        };
        let mechanism = if info.exec.is_some() {
            "exec"
        } else if info.auth_provider.is_some() {
            "auth-provider"
        } else {
            continue;
        };
        return Err(ClientError::ExecRefused {
            path: path.to_owned(),
            user: named.name.clone(),
            mechanism,
        });
    }
    Ok(())
}

/// A resolved kind: its resource and what applying it needs to know.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The resource (plural, group, version, kind).
    pub resource: ApiResource,
    /// Scope and status subresource.
    pub scope: Scope,
}

/// Resolves kinds through discovery, with a cache.
pub struct Resolver {
    client: Client,
    cache: Mutex<HashMap<GroupVersionKind, Resolved>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("cached", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver with an empty cache.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The resource serving `gvk`, from the cache or the API's discovery of its group/version.
    pub async fn resolve(&self, gvk: &GroupVersionKind) -> Result<Resolved, ClientError> {
        if let Some(found) = self.lock().get(gvk) {
            return Ok(found.clone());
        }
        let name = format!("{}/{}/{}", gvk.group, gvk.version, gvk.kind);
        let (resource, caps) = kube::discovery::oneshot::pinned_kind(&self.client, gvk)
            .await
            .map_err(|source| match &source {
                kube::Error::Api(status) if status.code == 404 => {
                    ClientError::UnknownKind { gvk: name.clone() }
                }
                kube::Error::Discovery(_) => ClientError::UnknownKind { gvk: name.clone() },
                _ => ClientError::DiscoveryFailed {
                    gvk: name.clone(),
                    source,
                },
            })?;
        let resolved = Resolved {
            scope: Scope {
                namespaced: caps.scope == KubeScope::Namespaced,
                status_subresource: caps.subresources.iter().any(|(r, _)| r.plural == "status"),
            },
            resource,
        };
        self.lock().insert(gvk.clone(), resolved.clone());
        Ok(resolved)
    }

    /// Forgets every cached kind of `group` (after a CRD of that group changed).
    pub fn forget_group(&self, group: &str) {
        self.lock().retain(|gvk, _| gvk.group != group);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<GroupVersionKind, Resolved>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(user: &str) -> Kubeconfig {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
             contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n\
             users:\n- name: u\n  user:\n{user}\n"
        );
        Kubeconfig::from_yaml(&text).expect("a kubeconfig")
    }

    #[test]
    fn exec_and_auth_provider_users_are_refused() {
        let path = std::path::Path::new("kc");
        let exec = kubeconfig(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh",
        );
        let err = refuse_exec(path, &exec, None).expect_err("exec");
        assert!(err.to_string().contains("uses exec"), "{err}");
        let provider = kubeconfig("    auth-provider:\n      name: gcp");
        let err = refuse_exec(path, &provider, None).expect_err("auth-provider");
        assert!(err.to_string().contains("auth-provider"), "{err}");
        let token = kubeconfig("    token: abc");
        refuse_exec(path, &token, None).expect("a token is fine");
    }
}
