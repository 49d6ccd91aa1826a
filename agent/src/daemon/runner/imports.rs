//! Errors of reading a source's `import:` entries (Argo CD and Flux objects), in status and
//! Events as well as the log:
//!
//! - an error about one Application, ApplicationSet or Kustomization is that app's status
//!   (`Failed`, reason `ImportFailed`, the error naming the object, file and field), and a
//!   Warning Event `ImportFailed` on the app's ConfigMap when the error is new;
//! - an error that names no app (a `paths` entry that is invalid, missing or holds no object
//!   of the tool; a file that does not parse) is written to the source's import status, the
//!   ConfigMap `tether-import-<source>` (key `errors`, one line each; removed once there is
//!   none), with a Warning Event `ImportFailed` on it for each new error.

use super::Ctx;
use crate::migrate::live::ImportErrors;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

/// The most Events published for the errors of one round (the ConfigMap lists them all).
const MAX_EVENTS: usize = 10;

/// The name of the import status ConfigMap of `source`.
#[must_use]
pub(crate) fn config_map_name(source: &str) -> String {
    format!("tether-import-{source}")
}

/// Records the import errors of `source` for this round (`reads`: an `import:` entry reads
/// it); the apps shown by their errors are added to `names` (they have not departed: their
/// objects stay).
pub(super) async fn record(
    ctx: &Ctx,
    source: &str,
    reads: bool,
    errors: ImportErrors,
    names: &mut Vec<String>,
) {
    for (app, message) in errors.named {
        if names.contains(&app) {
            continue;
        }
        let newly = ctx
            .state
            .app(&app)
            .is_none_or(|s| s.reason != "ImportFailed" || s.errors.first() != Some(&message));
        ctx.state.update_app(&app, |s| {
            s.source = source.to_owned();
            s.sync = "Failed".into();
            s.reason = "ImportFailed".into();
            s.errors = vec![message.clone()];
            s.first_sync_done = true;
        });
        if newly && super::ownership::may_write(ctx, &app) {
            ctx.events
                .publish(&app, true, "ImportFailed", message)
                .await;
            if let Some(status) = ctx.state.app(&app) {
                super::record::write_status(ctx, &status).await;
            }
        }
        names.push(app);
    }
    // One replica writes a source's import status (the one the pseudo-app hashes to).
    if reads && super::ownership::may_write(ctx, &config_map_name(source)) {
        source_status(ctx, source, &errors.unnamed).await;
    }
}

/// Writes (or removes) the import status ConfigMap of `source`, and an Event per new error.
async fn source_status(ctx: &Ctx, source: &str, errors: &[String]) {
    let namespace = &ctx.config.namespace;
    let name = config_map_name(source);
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    let before: Vec<String> = match api.get_opt(&name).await {
        Ok(found) => found
            .and_then(|cm| cm.data)
            .and_then(|mut data| data.remove("errors"))
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default(),
        Err(err) => {
            tracing::warn!(source, error = %err, "reading the import status failed");
            return;
        }
    };
    let lines: Vec<String> = errors.iter().map(|e| e.replace('\n', " ")).collect();
    if lines == before {
        return;
    }
    if lines.is_empty() {
        if let Err(err) = api.delete(&name, &DeleteParams::default()).await {
            tracing::warn!(source, error = %err, "removing the import status failed");
        }
        return;
    }
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"tether.dev/import-of": source, "app.kubernetes.io/part-of": "tether"},
        },
        "data": {"source": source, "errors": lines.join("\n")},
    });
    let params = PatchParams::apply(crate::daemon::status::STATUS_MANAGER).force();
    if let Err(err) = api.patch(&name, &params, &Patch::Apply(&body)).await {
        tracing::warn!(source, error = %err, "writing the import status failed");
        return;
    }
    let subject = format!("source {source}");
    for line in lines
        .iter()
        .filter(|l| !before.contains(l))
        .take(MAX_EVENTS)
    {
        ctx.events
            .publish_about(&name, &subject, true, "ImportFailed", line.clone())
            .await;
    }
}
