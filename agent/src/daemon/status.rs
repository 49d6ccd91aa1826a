//! Status for people: each app's status in a ConfigMap of the agent's namespace
//! (`tether-status-<app>`, label `tether.dev/status-of`), Kubernetes Events on the app's
//! inventory ConfigMap, and `tether-agent status [APP]`, which prints them as a table.

use super::state::AppStatus;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// The label that marks a status ConfigMap, with the app as its value.
pub const STATUS_LABEL: &str = "tether.dev/status-of";
/// The field manager of status writes.
pub const STATUS_MANAGER: &str = "tether-status";
/// The key of an app's rollout status (gates, hold, revision history) in its status ConfigMap.
pub const ROLLOUT_KEY: &str = "rollout";
/// The key of the sync windows in force for an app (empty: none).
pub const WINDOWS_KEY: &str = "windows";

/// Errors of reading or writing status.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Writing an app's status ConfigMap failed.
    #[error("write status of app {app} to {namespace}/{name}: {source}")]
    WriteFailed {
        /// The app.
        app: String,
        /// The namespace.
        namespace: String,
        /// The ConfigMap.
        name: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Listing the status ConfigMaps failed.
    #[error("list status ConfigMaps in {namespace}: {source}")]
    ListFailed {
        /// The namespace.
        namespace: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The cluster could not be reached.
    #[error(transparent)]
    Client(#[from] crate::sync::client::ClientError),
    /// The token file could not be read (`status --token-file`).
    #[error("token file {path}: {message}")]
    TokenUnreadable {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The agent's API answered with an error or could not be reached (`status --server`).
    #[error("{url}: {message}")]
    ServerFailed {
        /// The URL asked.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// The name of an app's status ConfigMap.
#[must_use]
pub fn config_map_name(app: &str) -> String {
    format!("tether-status-{app}")
}

/// What an app's status ConfigMap holds of `status` (its `data`).
#[must_use]
pub fn data(status: &AppStatus) -> BTreeMap<&'static str, String> {
    let mut data = BTreeMap::new();
    data.insert("app", status.name.clone());
    data.insert("source", status.source.clone());
    data.insert("path", status.path.clone());
    data.insert("revision", status.revision.clone());
    data.insert("sync", status.sync.clone());
    data.insert("reason", status.reason.clone());
    data.insert("health", status.health.clone());
    data.insert("driftCorrections", status.drift_corrections.to_string());
    data.insert(LAST_SYNC_KEY, status.last_sync.clone().unwrap_or_default());
    data.insert("errors", status.errors.join("\n"));
    // `notified` is kept by the notifier itself (crate::notify::ledger).
    if !status.owner.is_empty() {
        data.insert(OWNER_KEY, status.owner.clone());
    }
    if let Some(rollout) = &status.rollout {
        data.insert(ROLLOUT_KEY, rollout.encode());
    }
    if !status.windows.is_empty() {
        data.insert(
            WINDOWS_KEY,
            crate::rollout::window::describe(&status.windows),
        );
    }
    data
}

/// The key of when the last sync ended in a status ConfigMap.
pub const LAST_SYNC_KEY: &str = "lastSync";

/// Writes `status` to its ConfigMap (server-side apply).
pub async fn write(
    client: &kube::Client,
    namespace: &str,
    status: &AppStatus,
) -> Result<(), StatusError> {
    let name = config_map_name(&status.name);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let data = data(status);
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {STATUS_LABEL: status.name, "app.kubernetes.io/part-of": "tether"},
        },
        "data": data,
    });
    api.patch(
        &name,
        &PatchParams::apply(STATUS_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
    .map_err(|source| StatusError::WriteFailed {
        app: status.name.clone(),
        namespace: namespace.to_owned(),
        name,
        source,
    })
}

/// What notifications last said about `app`, as kept in its status ConfigMap (`notified`);
/// `None` when there is no status or it cannot be read.
pub async fn read_notified(client: &kube::Client, namespace: &str, app: &str) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(&config_map_name(app)).await {
        Ok(cm) => cm?.data?.remove("notified"),
        Err(err) => {
            tracing::warn!(app, error = %err, "reading what was notified failed");
            None
        }
    }
}

/// The key of an app's suspension (`"true"` while suspended from the web UI) in its status
/// ConfigMap, written by its own field manager so that status writes keep it.
pub const SUSPENDED_KEY: &str = "suspended";
/// The field manager of suspension writes.
pub const SUSPEND_MANAGER: &str = "tether-ui";

/// Records that `app` is suspended (or resumed) in its status ConfigMap.
pub async fn write_suspended(
    client: &kube::Client,
    namespace: &str,
    app: &str,
    suspended: bool,
) -> Result<(), StatusError> {
    let name = config_map_name(app);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {STATUS_LABEL: app, "app.kubernetes.io/part-of": "tether"},
        },
        "data": {SUSPENDED_KEY: suspended.to_string()},
    });
    api.patch(
        &name,
        &PatchParams::apply(SUSPEND_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
    .map_err(|source| StatusError::WriteFailed {
        app: app.to_owned(),
        namespace: namespace.to_owned(),
        name,
        source,
    })
}

/// The apps whose status ConfigMap says they are suspended.
pub async fn read_suspended(
    client: &kube::Client,
    namespace: &str,
) -> Result<Vec<String>, StatusError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let list = api
        .list(&ListParams::default().labels(STATUS_LABEL))
        .await
        .map_err(|source| StatusError::ListFailed {
            namespace: namespace.to_owned(),
            source,
        })?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|cm| {
            let app = cm.metadata.labels?.remove(STATUS_LABEL)?;
            (cm.data?.get(SUSPENDED_KEY).map(String::as_str) == Some("true")).then_some(app)
        })
        .collect())
}

/// Publishes Events about apps on their inventory ConfigMaps.
#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
    namespace: String,
    /// Per app, the orphans last reported by this process.
    orphans: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
}

impl Events {
    /// A publisher reporting as `tether` (instance: this replica).
    #[must_use]
    pub fn new(client: kube::Client, namespace: &str, instance: &str) -> Self {
        let reporter = Reporter {
            controller: "tether".into(),
            instance: Some(instance.to_owned()),
        };
        Self {
            orphans: std::sync::Arc::default(),
            recorder: Recorder::new(client, reporter),
            namespace: namespace.to_owned(),
        }
    }

    /// Publishes one Event on a managed object of `app` (failures logged, never fatal).
    pub async fn publish_on(
        &self,
        object: &crate::sync::ObjectRef,
        app: &str,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        let reference = ObjectReference {
            api_version: Some(object.api_version()),
            kind: Some(object.kind.clone()),
            name: Some(object.name.clone()),
            namespace: (!object.namespace.is_empty()).then(|| object.namespace.clone()),
            ..ObjectReference::default()
        };
        self.send(&reference, app, warning, reason, note).await;
    }

    /// Whether `objects` (the app's orphans, as listed in a report) differ from what this
    /// process last reported for `app`; records them. Orphans stay in the inventory and come
    /// back at every sync: they are reported when the set changes, and once after a restart.
    pub fn orphans_changed(&self, app: &str, objects: &str) -> bool {
        let mut reported = self
            .orphans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if reported.get(app).map(String::as_str) == Some(objects) {
            return false;
        }
        reported.insert(app.to_owned(), objects.to_owned());
        true
    }

    /// Publishes one Event about `app` (reason: `SyncSucceeded`, `SyncFailed`,
    /// `DriftCorrected`, `PruneBlocked`, `Orphaned`, `PolicyDenied`, `SecretResolveFailed`).
    /// Failures are logged, never fatal.
    pub async fn publish(&self, app: &str, warning: bool, reason: &str, note: String) {
        let reference = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
            name: Some(crate::sync::inventory::config_map_name(app)),
            namespace: Some(self.namespace.clone()),
            ..ObjectReference::default()
        };
        self.send(&reference, app, warning, reason, note).await;
    }

    /// Publishes one Event on the ConfigMap `name` of the agent's namespace about something
    /// that is not one app (`subject`, e.g. `source fleet`), as an `import:` entry's error.
    pub async fn publish_about(
        &self,
        config_map: &str,
        subject: &str,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        let reference = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
            name: Some(config_map.to_owned()),
            namespace: Some(self.namespace.clone()),
            ..ObjectReference::default()
        };
        self.send_note(
            &reference,
            subject,
            warning,
            reason,
            format!("{subject}: {note}"),
        )
        .await;
    }

    async fn send(
        &self,
        reference: &ObjectReference,
        app: &str,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        self.send_note(
            reference,
            app,
            warning,
            reason,
            format!("app {app}: {note}"),
        )
        .await;
    }

    async fn send_note(
        &self,
        reference: &ObjectReference,
        app: &str,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        let mut note = note;
        if note.len() > 1000 {
            let mut cut = 1000;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
        }
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            action: action_for(&note),
            note: Some(note),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, reference).await {
            tracing::warn!(app = %app, reason = %reason, error = %err, "publishing an Event failed");
        }
    }
}

/// The Event's action: `Sync`, with a short hash of the note. The event recorder merges
/// Events by type, reason, action and object for a few minutes and keeps the first note, so
/// a different note (another failure, another orphan) must make another Event; the same note
/// still counts up on one.
fn action_for(note: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(note.as_bytes());
    format!("Sync-{}", hex::encode(&digest[..4]))
}

/// The arguments of `tether-agent status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Only this app.
    pub app: Option<String>,
    /// The agent's namespace.
    #[arg(long, short = 'n', default_value = "tether-system")]
    pub namespace: String,
    /// A kubeconfig (default: `$KUBECONFIG`, else in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Read a running agent's `/api/v1/apps` at this URL (`http://127.0.0.1:8080` through
    /// `kubectl port-forward`) instead of the status ConfigMaps.
    #[arg(long)]
    pub server: Option<String>,
    /// The bearer token for `--server` (default: the kubeconfig's or ServiceAccount's token).
    #[arg(long, requires = "server")]
    pub token_file: Option<PathBuf>,
}

/// One row of the status table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The app.
    pub app: String,
    /// The revision, shortened.
    pub revision: String,
    /// The sync result.
    pub sync: String,
    /// The health.
    pub health: String,
    /// Drift corrections.
    pub drift: String,
    /// Time since the last sync.
    pub age: String,
    /// The sync windows in force (empty: none).
    pub windows: String,
    /// The replica that syncs the app when apps are sharded (empty: not sharded).
    pub owner: String,
}

/// The status ConfigMap's key naming the replica that syncs the app (sharded replicas).
pub const OWNER_KEY: &str = "owner";

/// Reads the status rows from the cluster.
pub async fn rows(
    client: &kube::Client,
    namespace: &str,
    app: Option<&str>,
) -> Result<Vec<Row>, StatusError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let selector = match app {
        Some(a) => format!("{STATUS_LABEL}={a}"),
        None => STATUS_LABEL.to_owned(),
    };
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| StatusError::ListFailed {
            namespace: namespace.to_owned(),
            source,
        })?;
    let now = std::time::SystemTime::now();
    let mut rows: Vec<Row> = list
        .items
        .iter()
        .map(|cm| {
            let data = cm.data.clone().unwrap_or_default();
            let get = |k: &str| data.get(k).cloned().unwrap_or_default();
            let revision: String = get("revision").chars().take(12).collect();
            let sync = match get("reason").as_str() {
                "" | "Succeeded" => get("sync"),
                reason => format!("{} ({reason})", get("sync")),
            };
            Row {
                app: get("app"),
                revision: if revision.is_empty() {
                    "<none>".into()
                } else {
                    revision
                },
                sync,
                health: get("health"),
                drift: get("driftCorrections"),
                age: age(&get("lastSync"), now),
                windows: get(WINDOWS_KEY),
                owner: get(OWNER_KEY),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.app.cmp(&b.app));
    Ok(rows)
}

pub(crate) fn age(rfc3339: &str, now: std::time::SystemTime) -> String {
    let Some(then) = super::time::parse_rfc3339(rfc3339) else {
        return "<unknown>".into();
    };
    let secs = now.duration_since(then).map_or(0, |d| d.as_secs());
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        7200..172_800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

/// Writes `rows` as a table like `kubectl get`.
pub fn write_table(rows: &[Row], out: &mut dyn Write) -> std::io::Result<()> {
    // The OWNER column only when apps are sharded across replicas.
    let sharded = rows.iter().any(|r| !r.owner.is_empty());
    let mut header = vec!["APP", "REVISION", "SYNC", "HEALTH", "DRIFT", "AGE"];
    if sharded {
        header.push("OWNER");
    }
    let cells: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                r.app.as_str(),
                &r.revision,
                &r.sync,
                &r.health,
                &r.drift,
                &r.age,
            ];
            if sharded {
                row.push(&r.owner);
            }
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    for row in std::iter::once(&header).chain(cells.iter()) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths.iter().copied()).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}   "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    let windows: Vec<&Row> = rows.iter().filter(|r| !r.windows.is_empty()).collect();
    if !windows.is_empty() {
        writeln!(out, "\nSync windows in force:")?;
        for row in windows {
            writeln!(out, "  {}: {}", row.app, row.windows)?;
        }
    }
    Ok(())
}

/// Runs `tether-agent status`: exit 0, 1 when an asked-for app has no status, 2 on errors.
pub async fn command(args: &StatusArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let result = async {
        if let Some(server) = &args.server {
            let token =
                super::status_server::token(args.token_file.as_deref(), args.kubeconfig.as_deref())
                    .await?;
            return super::status_server::rows(server, token.as_ref(), args.app.as_deref()).await;
        }
        let client = crate::sync::connect(&crate::sync::ClientOptions {
            kubeconfig: args.kubeconfig.clone(),
            ..Default::default()
        })
        .await?;
        rows(&client, &args.namespace, args.app.as_deref()).await
    }
    .await;
    match result {
        Ok(rows) if rows.is_empty() => {
            let _ = match &args.app {
                Some(app) => writeln!(
                    err,
                    "tether-agent: status: no status for app {app:?} in {}",
                    args.namespace
                ),
                None => writeln!(err, "tether-agent: status: no apps in {}", args.namespace),
            };
            1
        }
        Ok(rows) => match write_table(&rows, out) {
            Ok(()) => 0,
            Err(e) if crate::output::closed_pipe(&e) => crate::output::EXIT_CLOSED_PIPE,
            Err(e) => {
                let _ = writeln!(err, "tether-agent: status: {e}");
                2
            }
        },
        Err(e) => {
            let _ = writeln!(err, "tether-agent: status: {e}");
            2
        }
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
