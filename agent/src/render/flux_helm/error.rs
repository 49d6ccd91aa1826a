//! Why a HelmRelease could not be rendered.

use crate::render::helm_fetch::FetchError;

use super::SECRET_VALUES_ANNOTATION;

/// Why a HelmRelease could not be rendered. Each variant names the HelmRelease; none quotes
/// a value.
#[derive(Debug, thiserror::Error)]
pub enum FluxHelmError {
    /// A Flux object is malformed.
    #[error("{object}: {problem}")]
    InvalidObject {
        /// The object.
        object: String,
        /// What is wrong.
        problem: String,
    },
    /// A field of a HelmRelease or source cannot be used.
    #[error("{object}: field {field}: {problem}")]
    InvalidField {
        /// The object.
        object: String,
        /// The field.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The source a HelmRelease names is not in the app's manifests.
    #[error("{object}: {source_kind} {source_name} is not in the app's manifests")]
    SourceNotFound {
        /// The HelmRelease.
        object: String,
        /// The source's kind.
        source_kind: String,
        /// `namespace/name`.
        source_name: String,
    },
    /// The chart could not be fetched.
    #[error("{object}: {source}")]
    FetchFailed {
        /// The HelmRelease.
        object: String,
        /// The cause.
        #[source]
        source: FetchError,
    },
    /// The GitRepository holding the chart could not be fetched.
    #[error("{object}: {source_name}: {reason}")]
    GitFailed {
        /// The HelmRelease.
        object: String,
        /// The GitRepository.
        source_name: String,
        /// Why (names the repository without credentials).
        reason: String,
    },
    /// The chart could not be rendered.
    #[error("{object}: {reason}")]
    RenderFailed {
        /// The HelmRelease.
        object: String,
        /// The renderer's message.
        reason: String,
    },
    /// A value read from a Secret was rendered into an object that is not a Secret.
    #[error(
        "{object}: {target}: field {field} carries a value read from a Secret (valuesFrom); keep it in a Secret, or annotate the HelmRelease {SECRET_VALUES_ANNOTATION}: allow"
    )]
    SecretValueExposed {
        /// The HelmRelease.
        object: String,
        /// The rendered object, `Kind namespace/name`.
        target: String,
        /// The field that carries the value.
        field: String,
    },
    /// The HelmRelease is suspended (`spec.suspend: true`): it is not rendered, and the app
    /// is not synced (nothing applied or pruned) until it is resumed.
    #[error(
        "{object} is suspended (spec.suspend: true): the app is not synced until it is resumed"
    )]
    Suspended {
        /// The HelmRelease.
        object: String,
    },
    /// A post-renderer failed.
    #[error("{object}: spec.postRenderers[{index}].kustomize: {reason}")]
    PostRenderFailed {
        /// The HelmRelease.
        object: String,
        /// The post-renderer.
        index: usize,
        /// Kustomize's message.
        reason: String,
    },
}

impl FluxHelmError {
    /// The short, stable reason used in status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::FetchFailed { source, .. } => source.reason(),
            Self::GitFailed { .. } => "GitRepositoryFailed",
            Self::SecretValueExposed { .. } => "SecretValueExposed",
            Self::Suspended { .. } => "HelmReleaseSuspended",
            _ => "HelmReleaseFailed",
        }
    }
}
