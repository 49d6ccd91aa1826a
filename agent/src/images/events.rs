//! Kubernetes Events about image automation, on the object each comes from as Flux records
//! them: `ImageUpdateAutomation` (a commit pushed, a push failed), `ImageRepository` (a scan
//! failed), in the object's namespace (an `images:` entry's namespace is the agent's). A
//! promotion's Events are on the source app's status ConfigMap. Notes never carry a
//! credential or key: they come from errors that are scrubbed.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// The API version of the objects Events are recorded on.
pub const FLUX_IMAGE_API: &str = "image.toolkit.fluxcd.io/v1";

/// What an Event is about.
pub struct Subject<'a> {
    /// `ImageUpdateAutomation` or `ImageRepository` (or `ConfigMap`).
    pub kind: &'a str,
    /// The namespace.
    pub namespace: &'a str,
    /// The name.
    pub name: &'a str,
}

/// Publishes image automation Events (failures are logged, never fatal).
#[derive(Clone)]
pub struct ImageEvents {
    recorder: Recorder,
}

impl ImageEvents {
    /// A publisher reporting as `tether` (instance: this replica).
    #[must_use]
    pub fn new(client: kube::Client, instance: &str) -> Self {
        let reporter = Reporter {
            controller: "tether".into(),
            instance: Some(instance.to_owned()),
        };
        Self {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// Publishes one Event; `reason` is one of `ImageUpdatePushed`, `ImageUpdateFailed`,
    /// `ImageScanFailed`, `PromotionPushed`, `PromotionFailed`.
    pub async fn publish(&self, subject: &Subject<'_>, warning: bool, reason: &str, note: &str) {
        let api_version = if subject.kind == "ConfigMap" {
            "v1"
        } else {
            FLUX_IMAGE_API
        };
        let reference = ObjectReference {
            api_version: Some(api_version.into()),
            kind: Some(subject.kind.to_owned()),
            name: Some(subject.name.to_owned()),
            namespace: Some(subject.namespace.to_owned()),
            ..ObjectReference::default()
        };
        let note = crate::text::clip_message(note).into_owned();
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            action: action_for(reason, &note),
            note: Some(note),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(kind = subject.kind, name = subject.name, reason, error = %err, "publishing an Event failed");
        }
    }
}

/// The action: the reason's step with a short hash of the note, so that another commit or
/// failure makes another Event while a repeated one counts up on the same.
fn action_for(reason: &str, note: &str) -> String {
    use sha2::Digest as _;
    let step = if reason.contains("Scan") {
        "Scan"
    } else if reason.starts_with("Promotion") {
        "Promote"
    } else {
        "Push"
    };
    let digest = sha2::Sha256::digest(note.as_bytes());
    format!("{step}-{}", hex::encode(&digest[..4]))
}

/// The metrics and Events of the image controller.
#[derive(Clone, Default)]
pub struct Observers {
    /// The metrics (registered in the agent's registry by the daemon).
    pub metrics: super::metrics::ImageMetrics,
    /// Events (none: `tether-agent images`, which has no cluster to report to).
    pub events: Option<ImageEvents>,
}

impl Observers {
    /// Records a scan of the repository `(namespace, name)`: its tag count, or its error;
    /// `news` says whether the failure differs from the last one (only news is an Event).
    pub async fn scanned(
        &self,
        (namespace, name): (&str, &str),
        result: Result<usize, &str>,
        news: bool,
    ) {
        let key = format!("{namespace}:{name}");
        self.metrics.scan(&key, result.ok());
        if let (Err(message), true, Some(events)) = (result, news, &self.events) {
            let subject = Subject {
                kind: "ImageRepository",
                namespace,
                name,
            };
            events
                .publish(
                    &subject,
                    true,
                    "ImageScanFailed",
                    &format!("scan failed: {message}"),
                )
                .await;
        }
    }

    /// Records an automation's run that pushed `Ok(note)` or failed `Err(message)`; `news`
    /// as for [`Observers::scanned`] (a push is always news).
    pub async fn automated(
        &self,
        (namespace, name): (&str, &str),
        result: Result<&str, &str>,
        news: bool,
    ) {
        self.metrics
            .update(&format!("{namespace}/{name}"), result.is_ok());
        let Some(events) = &self.events else {
            return;
        };
        let subject = Subject {
            kind: "ImageUpdateAutomation",
            namespace,
            name,
        };
        match result {
            Ok(note) => {
                events
                    .publish(&subject, false, "ImageUpdatePushed", note)
                    .await
            }
            Err(message) if news => {
                events
                    .publish(
                        &subject,
                        true,
                        "ImageUpdateFailed",
                        &format!("image update failed: {message}"),
                    )
                    .await;
            }
            Err(_) => {}
        }
    }
}

impl Observers {
    /// Records a promotion of `revision` that pushed, changed nothing, or failed; an Event
    /// on the `from` app's status ConfigMap (`subject`: its namespace and name).
    pub async fn promoted(
        &self,
        promotion: &str,
        subject: (&str, &str),
        result: Result<Option<&str>, &str>,
    ) {
        match result {
            Ok(None) => return,
            Ok(Some(_)) => self.metrics.promotion(promotion, true),
            Err(_) => self.metrics.promotion(promotion, false),
        }
        let Some(events) = &self.events else {
            return;
        };
        let s = Subject {
            kind: "ConfigMap",
            namespace: subject.0,
            name: subject.1,
        };
        match result {
            Ok(Some(note)) => events.publish(&s, false, "PromotionPushed", note).await,
            Err(message) => {
                let note = format!("promotion {promotion} failed: {message}");
                events.publish(&s, true, "PromotionFailed", &note).await;
            }
            Ok(None) => {}
        }
    }
}
