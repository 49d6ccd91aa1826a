//! Policies before apply: Rego (OPA v1 syntax, evaluated by `regorus`) on every rendered
//! object of an app, with conftest's conventions so that existing policies work unchanged.
//!
//! # Conventions
//! - Rules named `deny`, `violation` (or `deny_*`, `violation_*`) block the app's sync
//!   (reason `PolicyDenied`); `warn` (or `warn_*`) rules produce notes. Every package of every
//!   loaded file is evaluated (conftest's `--all-namespaces`), `main` included.
//! - A result is a string, or an object whose `msg` is the message (conftest's
//!   `{"msg": ..., "details": ...}`); each becomes a [`Finding`] naming the object and the rule.
//!
//! # What a policy sees
//! - `input` is the object itself, exactly as conftest gives a plain manifest, except that every
//!   value of a Secret's `data`/`stringData` is replaced by `<redacted hmac:HEX>` (see
//!   [`input::redact`]). No plaintext secret value ever reaches a policy or its messages.
//! - `data.tether.app`: `{name, namespace, path, revision}` of the app (`namespace` is `null`
//!   when the app has no target namespace).
//! - `data.tether.object`: `{secretSource, file}`: where a Secret's values came from
//!   (`sops`, `sealed`, `external`, or `none` for a Secret written in Git as it is) and the
//!   file the object was rendered from (or `null`).
//! - `data.tether.objects`: every object of the app (redacted the same way), for policies that
//!   need the whole app at once (duplicates, cross-object references).
//! - `data.tether.parameters`: the configured parameters (global, with the app's overrides).
//!
//! These four names are reserved: a package `tether.app` (and so on) is refused. The default
//! bundle lives in packages `tether.*` (see the repository's `policies/` directory).
//!
//! # Cost and bounds
//! All files are parsed and analysed once, in [`PolicySet::load`]; a policy that does not
//! compile is an error naming its file, line and column. Each evaluation clones the prepared
//! engine and runs one query per object. The objects per app, the size of each object and the
//! time of each object's evaluation are bounded ([`PolicyLimits`]).
//!
//! ```
//! use tether_agent::policy::{AppMeta, AppObject, PolicyConfig, PolicySet};
//! let policies = PolicySet::load(&PolicyConfig::default(), None).unwrap();
//! let pod = serde_json::json!({
//!     "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
//!     "spec": {"hostNetwork": true, "containers": [{"name": "app", "image": "nginx:1.27",
//!         "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}}]}
//! });
//! let app = AppMeta { name: "shop".into(), namespace: Some("shop".into()), ..AppMeta::default() };
//! let report = policies.evaluate(&app, &[AppObject::new(&pod, Some("shop/pod.yaml"))]).unwrap();
//! assert!(report.is_denied());
//! assert_eq!(
//!     report.findings[0].to_string(),
//!     "Pod shop/web: tether.host_access.deny: spec: hostNetwork shares the node's namespace"
//! );
//! ```

pub mod bundle;
pub mod enforcement;
mod engine;
pub mod input;
pub mod report;

pub use bundle::PolicyFile;
pub use enforcement::{AppPolicyConfig, Enforcement, PolicyConfig, PolicyDirectory, PolicyLimits};
pub use engine::{PolicySet, RESERVED_DATA};
pub use input::{AppMeta, AppObject, ObjectRef, SecretSource};
pub use report::{Finding, Report, Severity};

use std::time::Duration;

/// Errors of loading or evaluating policies. [`PolicyError::reason`] gives the short reason.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy file does not parse or does not pass analysis.
    #[error("policy {file}:{line}:{column}: {message}")]
    CompileFailed {
        /// The file (as [`PolicyFile::path`]).
        file: String,
        /// The line (0 when the engine gave none).
        line: u32,
        /// The column (0 when the engine gave none).
        column: u32,
        /// The engine's message.
        message: String,
    },
    /// Two policy files have the same name.
    #[error("policy {file}: loaded twice")]
    DuplicateFile {
        /// The file.
        file: String,
    },
    /// A package is declared where Tether puts its metadata.
    #[error(
        "policy {file}: package {package} is reserved (data.tether.{{app,object,objects,parameters}})"
    )]
    ReservedPackage {
        /// The file.
        file: String,
        /// The package.
        package: String,
    },
    /// A package path with quoted components, which cannot be addressed unambiguously.
    #[error("policy {file}: package {package}: only identifier components are supported")]
    UnsupportedPackage {
        /// The file.
        file: String,
        /// The package.
        package: String,
    },
    /// A repository policy directory is configured but there is no repository to read.
    #[error("policy directory {dir}: no repository snapshot to read it from")]
    NoRepository {
        /// The directory.
        dir: String,
    },
    /// Reading a repository policy directory failed.
    #[error("policy directory: {source}")]
    RepositoryReadFailed {
        /// The path.
        path: String,
        /// The cause (it names the path).
        #[source]
        source: crate::tree::TreeError,
    },
    /// Reading a mounted policy directory failed.
    #[error("policy directory {path}: {source}")]
    MountedReadFailed {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A policy file is over the size limit.
    #[error("policy {path}: {size} bytes, over the limit of {limit}")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The policy directories hold too many files.
    #[error("policy directory {dir}: more than {limit} policy files in all")]
    TooManyFiles {
        /// The directory being read.
        dir: String,
        /// The limit.
        limit: usize,
    },
    /// A policy directory is nested too deep.
    #[error("policy directory {dir}: nested deeper than {limit} levels")]
    TooDeep {
        /// The directory.
        dir: String,
        /// The limit.
        limit: usize,
    },
    /// An app has more objects than are evaluated.
    #[error("app {app}: {count} objects, over the policy limit of {limit}")]
    TooManyObjects {
        /// The app.
        app: String,
        /// Its object count.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An object is larger than what is evaluated.
    #[error("app {app}: {object}: {size} bytes, over the policy limit of {limit}")]
    ObjectTooLarge {
        /// The app.
        app: String,
        /// The object.
        object: String,
        /// Its size as JSON.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A policy failed while evaluating an object.
    #[error("app {app}: {object}: policy evaluation failed: {message}")]
    EvaluationFailed {
        /// The app.
        app: String,
        /// The object.
        object: String,
        /// The engine's message (about redacted input only).
        message: String,
    },
    /// Evaluating an object took too long.
    #[error("app {app}: {object}: policy evaluation took longer than {limit:?}")]
    TimedOut {
        /// The app.
        app: String,
        /// The object.
        object: String,
        /// The limit.
        limit: Duration,
    },
    /// Policies denied the app's objects.
    #[error("app {app}: denied by {count} policy result(s): {denials}")]
    Denied {
        /// The app.
        app: String,
        /// How many denials.
        count: usize,
        /// Each denial (`Kind ns/name: rule: message`), joined by `; `.
        denials: String,
    },
}

impl PolicyError {
    /// A short, stable reason: `PolicyDenied` for denials, `PolicyInvalid` for policies that
    /// cannot be loaded, `PolicyFailed` for evaluation errors and limits.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Denied { .. } => "PolicyDenied",
            Self::TooManyObjects { .. }
            | Self::ObjectTooLarge { .. }
            | Self::EvaluationFailed { .. }
            | Self::TimedOut { .. } => "PolicyFailed",
            _ => "PolicyInvalid",
        }
    }
}

#[cfg(test)]
mod tests;
