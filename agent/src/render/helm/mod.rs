//! Helm charts, rendered in process as `helm template` renders them, with no exec.
//!
//! - [`load_dir`] reads a chart directory through [`Tree`](crate::tree::Tree) (honouring
//!   `.helmignore`), [`load_archive`] a packaged chart (`.tgz`, read into memory under size,
//!   entry-count and expansion bounds, refusing `..`, absolute paths and links). Both give a
//!   [`Chart`]: metadata, values, templates, files, CRDs and subcharts (`charts/`).
//! - [`render`] computes the values as Helm does (value files in order, then `--set`,
//!   dependencies enabled by `condition`/`tags`, `alias`, `import-values`, `global`
//!   propagated down, `null` deleting a key, `values.schema.json` validated), executes every
//!   template with [`template`] and returns a [`Release`]: the CRDs, the objects in Helm's
//!   install order and the hooks (`helm.sh/hook`), as `helm template` prints them.
//!
//! Random functions are seeded from the app, the release and the template name, so a chart
//! renders the same on every sync. `lookup` answers as `helm template` does (empty) unless a
//! [`template::Lookup`] is given.

mod app;
mod archive;
pub mod capabilities;
mod chart;
pub mod cluster;
mod crds;
mod deps;
pub mod exposure;
mod ignore;
pub mod inputs;
mod load;
pub mod lookup;
mod options;
mod release;
mod schema;
mod scope;
mod sort;
pub mod strvals;
pub mod template;
mod values;
pub mod values_from;

pub use app::{
    CHART_FILE, ChartSettings, PrintedChart, is_chart_dir, is_remote, render_app, render_printed,
};
pub use archive::{ArchiveLimits, load_archive};
pub use chart::{Chart, ChartFile, Dependency, Metadata};
pub use crds::CrdFile;
pub use load::load_dir;
pub use options::{DEFAULT_RELEASE_NAME, ReleaseOptions};
pub use release::{Release, RenderedObject, render};
pub use scope::{DEFAULT_KUBE_VERSION, HELM_VERSION};
pub use sort::{Hook, HookEvent, INSTALL_ORDER};
pub use values::{coalesce_tables, merge_maps, read_values_file};

/// Why loading or rendering a chart failed. Each variant names the chart and, where there
/// is one, the file, template and line. No variant quotes a value that came from a Secret.
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    /// A file of the chart could not be read.
    #[error("chart {chart}: {source}")]
    ReadFailed {
        /// The chart directory.
        chart: String,
        /// What went wrong.
        #[source]
        source: crate::tree::TreeError,
    },
    /// `Chart.yaml` (or `requirements.yaml`) is missing or invalid.
    #[error("chart {chart}: {file}: {reason}")]
    InvalidChart {
        /// The chart.
        chart: String,
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A packaged chart was refused or could not be unpacked.
    #[error("archive {archive}: {entry}: {reason}")]
    ArchiveRefused {
        /// The archive.
        archive: String,
        /// The entry (or `-` for the archive as a whole).
        entry: String,
        /// Why.
        reason: String,
    },
    /// A values file is not a YAML map.
    #[error("values {file}: {reason}")]
    InvalidValues {
        /// The values file (or `values.yaml` of a chart).
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A `--set` expression could not be parsed.
    #[error("--set {expression:?}: {reason}")]
    InvalidSet {
        /// The expression, clipped.
        expression: String,
        /// What is wrong.
        reason: String,
    },
    /// The values do not match a chart's `values.schema.json`.
    #[error("chart {chart}: values don't meet the schema: {path}: {reason}")]
    SchemaFailed {
        /// The chart whose schema failed.
        chart: String,
        /// Where in the values (`/a/b/0`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A dependency could not be processed (alias, import-values, type mismatch).
    #[error("chart {chart}: dependency {dependency}: {reason}")]
    DependencyFailed {
        /// The parent chart.
        chart: String,
        /// The dependency.
        dependency: String,
        /// What is wrong.
        reason: String,
    },
    /// A template does not parse or its execution failed.
    #[error("chart {chart}: template {template}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    RenderFailed {
        /// The chart.
        chart: String,
        /// The template (Helm's name, `chart/templates/x.yaml`).
        template: String,
        /// The line, when known.
        line: Option<usize>,
        /// Helm's message (`required`/`fail` messages as written).
        reason: String,
    },
    /// A template rendered something that is not YAML.
    #[error("chart {chart}: YAML parse error on {template}: {reason}")]
    ManifestInvalid {
        /// The chart.
        chart: String,
        /// The template.
        template: String,
        /// What is wrong.
        reason: String,
    },
    /// A `valuesFrom` entry could not be read (names the entry, never a value).
    #[error("{object}: field {field}: {problem}")]
    ValuesFromFailed {
        /// The app (`app shop`).
        object: String,
        /// The entry (`helm.valuesFrom[0]`).
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A value read from a Secret was rendered into an object that is not a Secret.
    #[error(
        "{target}: field {field} carries a value read from a Secret (helm.valuesFrom); keep it in a Secret, or set helm.allowSecretValuesOutsideSecrets: true"
    )]
    SecretValueExposed {
        /// The rendered object, `Kind namespace/name`.
        target: String,
        /// The field that carries the value.
        field: String,
    },
    /// The configured access to a chart repository is unusable (`helmRepositories`).
    #[error("{source}")]
    RepositoryFailed {
        /// The cause (names the repository, never a credential).
        #[source]
        source: crate::render::helm_fetch::FetchError,
    },
    /// A `lookup` was refused or failed (names the kind, namespace and name).
    #[error("{reason}")]
    LookupRefused {
        /// Why.
        reason: String,
    },
    /// A bound on what a chart may cost was reached.
    #[error("chart {chart}: {what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// The chart.
        chart: String,
        /// What is bounded.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

/// At most about 400 bytes of `text`: its start and its end (where Go's nested template
/// errors put the cause), cut at character boundaries.
pub(crate) fn clip_middle(text: &str) -> String {
    if text.len() <= 400 {
        return text.to_owned();
    }
    let mut head = 100;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - 300;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{} ... {}", &text[..head], &text[tail..])
}

/// At most 300 bytes of `text`, cut at a character boundary.
pub(crate) fn clip(text: &str) -> String {
    let mut end = text.len().min(300);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() {
        format!("{}...", &text[..end])
    } else {
        text.to_owned()
    }
}
