//! Rollbacks by hand: `tether-agent rollback APP [--to REV]` and
//! `tether-agent rollback clear APP` record a request in the app's status ConfigMap (key
//! `rolloutRequest`, written with its own field manager so the agent's status writes keep
//! it); the leading agent sees it within a few seconds, acts on it in a round of the app's
//! source, and removes it.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

/// The key of a pending request in the status ConfigMap.
pub const REQUEST_KEY: &str = "rolloutRequest";
/// The field manager of requests (the agent removes a request by applying as it).
pub const REQUEST_MANAGER: &str = "tether-rollback";

/// What an operator asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum Request {
    /// Go back to `to`, or to the last revision that passed its gates, and hold there.
    Rollback {
        /// The revision (a commit id); none: the last that passed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// End the hold: the app follows Git again.
    Clear,
}

/// Errors of the rollback command.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The cluster could not be reached.
    #[error(transparent)]
    Client(#[from] crate::sync::client::ClientError),
    /// The app has no status in the agent's namespace.
    #[error("no status for app {app:?} in {namespace}: is it an app of this agent?")]
    UnknownApp {
        /// The app.
        app: String,
        /// The namespace.
        namespace: String,
    },
    /// The revision is not a full commit id.
    #[error("--to {0:?}: expected a full commit id (40 or 64 hexadecimal digits)")]
    BadRevision(String),
    /// Writing the request failed.
    #[error("record the request for app {app}: {source}")]
    WriteFailed {
        /// The app.
        app: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

/// The arguments of `tether-agent rollback`.
#[derive(Debug, Clone, clap::Args)]
pub struct RollbackArgs {
    /// The app; or `clear APP` to end an app's hold.
    pub app: String,
    /// With `clear`: the app.
    pub clear_app: Option<String>,
    /// The revision to go back to (default: the last that passed its gates).
    #[arg(long)]
    pub to: Option<String>,
    /// The agent's namespace.
    #[arg(long, short = 'n', default_value = "tether-system")]
    pub namespace: String,
    /// A kubeconfig (default: `$KUBECONFIG`, else in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

impl RollbackArgs {
    /// The app and the request the arguments name.
    pub fn request(&self) -> Result<(String, Request), RequestError> {
        if let Some(to) = &self.to
            && (!matches!(to.len(), 40 | 64) || !to.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(RequestError::BadRevision(
                crate::text::clip_message(to).into_owned(),
            ));
        }
        Ok(match (&self.clear_app, self.app.as_str()) {
            (Some(app), "clear") => (app.clone(), Request::Clear),
            _ => (
                self.app.clone(),
                Request::Rollback {
                    to: self.to.clone(),
                },
            ),
        })
    }
}

/// Records `request` for `app` in its status ConfigMap.
pub async fn record(
    client: &kube::Client,
    namespace: &str,
    app: &str,
    request: &Request,
) -> Result<(), RequestError> {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, Patch, PatchParams};
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let name = crate::daemon::status::config_map_name(app);
    let exists = api
        .get_opt(&name)
        .await
        .map_err(|source| RequestError::WriteFailed {
            app: app.to_owned(),
            source,
        })?;
    if exists.is_none() {
        return Err(RequestError::UnknownApp {
            app: app.to_owned(),
            namespace: namespace.to_owned(),
        });
    }
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {REQUEST_KEY: serde_json::to_string(request).unwrap_or_default()},
    });
    api.patch(
        &name,
        &PatchParams::apply(REQUEST_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
    .map_err(|source| RequestError::WriteFailed {
        app: app.to_owned(),
        source,
    })
}

/// Removes the pending request of `app` (applies as the request's manager without it).
pub async fn remove(client: &kube::Client, namespace: &str, app: &str) -> Result<(), kube::Error> {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, Patch, PatchParams};
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let name = crate::daemon::status::config_map_name(app);
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
    });
    api.patch(
        &name,
        &PatchParams::apply(REQUEST_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
}

/// Runs `tether-agent rollback`: exit 0 when recorded, 1 for an unknown app, 2 on errors.
pub async fn command(args: &RollbackArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let (app, request) = match args.request() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "tether-agent: rollback: {e}");
            return 2;
        }
    };
    let result = async {
        let client = crate::sync::connect(&crate::sync::ClientOptions {
            kubeconfig: args.kubeconfig.clone(),
            ..Default::default()
        })
        .await?;
        record(&client, &args.namespace, &app, &request).await
    }
    .await;
    match result {
        Ok(()) => {
            let what = match &request {
                Request::Clear => "clearing the hold".to_owned(),
                Request::Rollback { to: Some(to) } => format!("a rollback to {to}"),
                Request::Rollback { to: None } => {
                    "a rollback to the last revision that passed its gates".to_owned()
                }
            };
            let _ = writeln!(
                out,
                "app {app}: {what} requested; the agent acts on it within seconds (see tether-agent status {app})"
            );
            0
        }
        Err(e @ RequestError::UnknownApp { .. }) => {
            let _ = writeln!(err, "tether-agent: rollback: {e}");
            1
        }
        Err(e) => {
            let _ = writeln!(err, "tether-agent: rollback: {e}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(app: &str, clear_app: Option<&str>, to: Option<&str>) -> RollbackArgs {
        RollbackArgs {
            app: app.into(),
            clear_app: clear_app.map(Into::into),
            to: to.map(Into::into),
            namespace: "tether-system".into(),
            kubeconfig: None,
        }
    }

    #[test]
    fn the_arguments_name_a_rollback_or_a_clear() {
        assert_eq!(
            args("web", None, None).request().ok(),
            Some(("web".into(), Request::Rollback { to: None }))
        );
        assert_eq!(
            args("clear", Some("web"), None).request().ok(),
            Some(("web".into(), Request::Clear))
        );
        assert_eq!(
            args("web", None, Some(&"ab".repeat(20))).request().ok(),
            Some((
                "web".into(),
                Request::Rollback {
                    to: Some("ab".repeat(20))
                }
            ))
        );
        assert!(matches!(
            args("web", None, Some("abc123")).request(),
            Err(RequestError::BadRevision(_))
        ));
        assert!(matches!(
            args("web", None, Some("main; rm")).request(),
            Err(RequestError::BadRevision(_))
        ));
        let text = serde_json::to_string(&Request::Rollback { to: None }).unwrap_or_default();
        assert_eq!(text, r#"{"action":"rollback"}"#);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"action":"clear"}"#).ok(),
            Some(Request::Clear)
        );
    }
}
