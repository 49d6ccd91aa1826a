//! What image automation reports: per repository the last scan, per policy the chosen
//! image, per automation the last commit or error. Served as `GET /api/v1/images`; never
//! holds a credential.

use serde::Serialize;
use std::sync::Mutex;

/// An error as status shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// A short, stable reason (`RegistryAuthFailed`).
    pub reason: String,
    /// The message (names the object and field; never a secret).
    pub message: String,
}

/// One repository's last scan.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryStatus {
    /// `NAMESPACE:NAME`.
    pub name: String,
    /// The image.
    pub image: String,
    /// How many tags were kept (after `exclusionList`).
    pub tag_count: usize,
    /// The last few tags (sorted), for a glance.
    pub latest_tags: Vec<String>,
    /// When the last successful scan ended (RFC 3339).
    pub last_scan: Option<String>,
    /// The last scan's error, if it failed (the tags of the scan before are kept).
    pub error: Option<Problem>,
}

/// One policy's choice.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// `NAMESPACE:NAME`.
    pub name: String,
    /// The repository (`NAMESPACE:NAME`).
    pub repository: String,
    /// The chosen image (`IMAGE:TAG[@DIGEST]`).
    pub latest_image: Option<String>,
    /// The chosen tag.
    pub tag: Option<String>,
    /// The digest, when pinned.
    pub digest: Option<String>,
    /// Why there is no choice.
    pub error: Option<Problem>,
}

/// One automation's last run.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AutomationStatus {
    /// The name.
    pub name: String,
    /// The source written to.
    pub source: String,
    /// The branch pushed to.
    pub push_branch: String,
    /// The last commit pushed.
    pub last_commit: Option<String>,
    /// When it was pushed (RFC 3339).
    pub last_push: Option<String>,
    /// Its changes.
    pub last_changes: Vec<crate::images::update::Change>,
    /// When the files were last checked (RFC 3339).
    pub last_run: Option<String>,
    /// The last run's error.
    pub error: Option<Problem>,
}

/// Everything, as `GET /api/v1/images` answers.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ImagesReport {
    /// Repositories.
    pub repositories: Vec<RepositoryStatus>,
    /// Policies.
    pub policies: Vec<PolicyStatus>,
    /// Automations.
    pub automations: Vec<AutomationStatus>,
    /// Flux image objects that could not be used (object and field).
    pub problems: Vec<String>,
    /// Automatic promotions.
    pub promotions: Vec<crate::images::promote::auto::PromotionStatus>,
}

/// The shared report.
#[derive(Debug, Default)]
pub struct ImagesState {
    report: Mutex<ImagesReport>,
}

impl ImagesState {
    /// The current report.
    #[must_use]
    pub fn report(&self) -> ImagesReport {
        self.report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the report.
    pub fn set(&self, report: ImagesReport) {
        *self
            .report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = report;
    }
}
