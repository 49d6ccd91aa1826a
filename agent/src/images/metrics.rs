//! The metrics of image automation, registered in the agent's registry (`/metrics`).
//! Labels are bounded by the configuration: repository, automation and promotion names,
//! and a result from a fixed set.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of `tether_image_updates_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpdateLabels {
    /// The automation (`NAMESPACE/NAME`).
    pub automation: String,
    /// `pushed` or `failed`.
    pub result: String,
}

/// Labels of `tether_image_promotions_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PromotionLabels {
    /// The promotion.
    pub promotion: String,
    /// `pushed` or `failed`.
    pub result: String,
}

/// Labels of per-repository metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RepositoryLabel {
    /// The image repository (`NAMESPACE:NAME`).
    pub repository: String,
}

/// The image automation metrics (cheap to clone: the families are shared).
#[derive(Debug, Clone, Default)]
pub struct ImageMetrics {
    /// Image update commits by automation and result.
    pub updates: Family<UpdateLabels, Counter>,
    /// Failed scans by repository.
    pub scan_errors: Family<RepositoryLabel, Counter>,
    /// The time of the last successful scan (Unix seconds), by repository.
    pub last_scan: Family<RepositoryLabel, Gauge>,
    /// The tags the last scan kept, by repository.
    pub tags: Family<RepositoryLabel, Gauge>,
    /// Automatic promotions by promotion and result.
    pub promotions: Family<PromotionLabels, Counter>,
}

impl ImageMetrics {
    /// Registers every metric in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "tether_image_updates",
            "Image update commits by automation and result (pushed, failed)",
            self.updates.clone(),
        );
        registry.register(
            "tether_image_scan_errors",
            "Failed image repository scans",
            self.scan_errors.clone(),
        );
        registry.register(
            "tether_image_last_scan_timestamp_seconds",
            "When each image repository was last scanned successfully",
            self.last_scan.clone(),
        );
        registry.register(
            "tether_image_tags",
            "Tags found by the last scan of each image repository",
            self.tags.clone(),
        );
        registry.register(
            "tether_image_promotions",
            "Automatic promotions by promotion and result (pushed, failed)",
            self.promotions.clone(),
        );
    }

    /// Counts an automation's run that pushed or failed.
    pub fn update(&self, automation: &str, pushed: bool) {
        self.updates
            .get_or_create(&UpdateLabels {
                automation: automation.to_owned(),
                result: if pushed { "pushed" } else { "failed" }.into(),
            })
            .inc();
    }

    /// Records a scan of `repository`: its tag count, or a failure.
    pub fn scan(&self, repository: &str, tags: Option<usize>) {
        let label = RepositoryLabel {
            repository: repository.to_owned(),
        };
        match tags {
            Some(n) => {
                self.tags
                    .get_or_create(&label)
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                self.last_scan
                    .get_or_create(&label)
                    .set(i64::try_from(now).unwrap_or(i64::MAX));
            }
            None => {
                self.scan_errors.get_or_create(&label).inc();
            }
        }
    }

    /// Counts a promotion that pushed or failed.
    pub fn promotion(&self, promotion: &str, pushed: bool) {
        self.promotions
            .get_or_create(&PromotionLabels {
                promotion: promotion.to_owned(),
                result: if pushed { "pushed" } else { "failed" }.into(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_metrics_encode_with_their_names_and_labels() {
        let metrics = ImageMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.update("tether-system/web", true);
        metrics.update("tether-system/web", false);
        metrics.scan("tether-system:web", Some(3));
        metrics.scan("tether-system:broken", None);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        for line in [
            "tether_image_updates_total{automation=\"tether-system/web\",result=\"pushed\"} 1",
            "tether_image_updates_total{automation=\"tether-system/web\",result=\"failed\"} 1",
            "tether_image_tags{repository=\"tether-system:web\"} 3",
            "tether_image_scan_errors_total{repository=\"tether-system:broken\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(
            text.contains(
                "tether_image_last_scan_timestamp_seconds{repository=\"tether-system:web\"} 1"
            ),
            "{text}"
        );
    }
}
