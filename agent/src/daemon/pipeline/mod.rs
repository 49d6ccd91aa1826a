//! The stages before apply, shared by the daemon and `tether-agent plan`: discover the apps
//! of a snapshot, then per app render, resolve secrets and evaluate policies.

mod offline;
mod render_stage;
use crate::config::{AppGenerator, Config};
use crate::policy::{AppMeta, AppObject, PolicyError, PolicySet, Report, SecretSource};
use crate::render::{self, RenderError};
use crate::schema::{self, Outcome, SchemaCatalog};
use crate::secrets::{
    self, AllowList, AppContext, Desired, Held, Resolution, SecretOrigin, SecretsContext,
};
use crate::source::discovery::{self, DiscoveryError};
use crate::sync::{AppSpec, Manifest, SecretManifest};
use crate::tree::Tree;
use offline::{has_inline_reference, inline_unresolved, is_external, unresolved_of};
use serde_json::Value;
use std::sync::Arc;

/// Errors of the stages before apply; each names the app.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Discovering the apps of a generator failed.
    #[error("apps[{generator}]: {source}")]
    DiscoveryFailed {
        /// The generator's index in the configuration.
        generator: usize,
        /// The cause.
        #[source]
        source: DiscoveryError,
    },
    /// Two generators produced the same app name.
    #[error("app {app}: produced by apps[{first}] and apps[{second}]")]
    DuplicateApp {
        /// The app.
        app: String,
        /// The first generator.
        first: usize,
        /// The second generator.
        second: usize,
    },
    /// The app's allow-list is invalid.
    #[error("app {app}: secretAllow: {message}")]
    InvalidAllowList {
        /// The app.
        app: String,
        /// What is wrong.
        message: String,
    },
    /// Rendering failed.
    #[error("app {app}: render: {source}")]
    RenderFailed {
        /// The app.
        app: String,
        /// The cause (it names the file).
        #[source]
        source: Box<RenderError>,
    },
    /// A rendered object does not match its schema: nothing of the app is applied.
    #[error("app {app}: invalid: {message}")]
    Invalid {
        /// The app.
        app: String,
        /// The objects and fields refused.
        message: String,
    },
    /// Flux's post-build variable substitution failed.
    #[error("app {app}: {source}")]
    SubstituteFailed {
        /// The app.
        app: String,
        /// The cause (it names the object or variable, never a value).
        #[source]
        source: crate::migrate::postbuild::PostBuildError,
    },
    /// Policies could not be evaluated.
    #[error("app {app}: policy: {source}")]
    PolicyFailed {
        /// The app.
        app: String,
        /// The cause.
        #[source]
        source: PolicyError,
    },
}

impl PipelineError {
    /// A short, stable reason for status, Events and metrics.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::DiscoveryFailed { .. } | Self::DuplicateApp { .. } => "DiscoveryFailed",
            Self::InvalidAllowList { .. } => "InvalidApp",
            Self::RenderFailed { .. } => "RenderFailed",
            Self::SubstituteFailed { .. } => "SubstituteFailed",
            Self::Invalid { .. } => "Invalid",
            Self::PolicyFailed { .. } => "PolicyFailed",
        }
    }
}

/// One app found in a snapshot, with its settings.
#[derive(Debug, Clone)]
pub struct AppDef {
    /// The engine's view (name, namespace, prune, self-heal, ignore rules).
    pub spec: AppSpec,
    /// The app's directory.
    pub path: crate::tree::RelPath,
    /// The generator's index in the configuration.
    pub generator: usize,
    /// The source it is read from.
    pub source: String,
}

/// The apps the generators reading `source` find in `tree`, sorted by name.
pub fn discover_apps(
    config: &Config,
    source: &str,
    tree: &Tree,
) -> Result<Vec<AppDef>, PipelineError> {
    let mut apps: Vec<AppDef> = Vec::new();
    for (index, generator) in config.apps.iter().enumerate() {
        if config.source_of(generator).map(|s| s.name.as_str()) != Some(source) {
            continue;
        }
        let found = discovery::discover(tree, &Config::discovery(generator)).map_err(|source| {
            PipelineError::DiscoveryFailed {
                generator: index,
                source,
            }
        })?;
        for app in found {
            if let Some(other) = apps.iter().find(|a| a.spec.name == app.name) {
                return Err(PipelineError::DuplicateApp {
                    app: app.name,
                    first: other.generator,
                    second: index,
                });
            }
            apps.push(AppDef {
                spec: spec_for(config, generator, &app.name, app.namespace.as_deref()),
                path: app.path,
                generator: index,
                source: source.to_owned(),
            });
        }
    }
    apps.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    Ok(apps)
}

fn spec_for(config: &Config, g: &AppGenerator, name: &str, namespace: Option<&str>) -> AppSpec {
    AppSpec {
        name: name.to_owned(),
        target_namespace: namespace.unwrap_or_default().to_owned(),
        create_namespace: g.create_namespace,
        prune: g.prune,
        self_heal: g.self_heal,
        ignore: g.ignore.clone(),
        max_prune_percent: g
            .max_prune_percent
            .or(Some(config.limits.max_prune_percent)),
        // Checked when the configuration is loaded; an imported block is checked on import.
        health: g.health.as_ref().and_then(|h| h.gate().ok()),
    }
}

/// An ExternalSecret (or inline reference) that was not resolved because no store was
/// contacted (`plan --offline`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Unresolved {
    /// `ExternalSecret namespace/name`.
    pub object: String,
    /// The store it reads (`SecretStore vault-shop`).
    pub store: String,
    /// Why it is unresolved.
    pub note: String,
}

/// The result of the stages before apply for one app.
pub struct Prepared {
    /// How many objects the render produced.
    pub rendered: usize,
    /// The secrets stage's output: what to apply and what failed.
    pub resolution: Resolution,
    /// The policy findings (`None` when policies are off for the app).
    pub policy: Report,
    /// Objects skipped because no store may be contacted (offline only).
    pub unresolved: Vec<Unresolved>,
    /// Where each Secret comes from: its file, and the store holding its values (references
    /// only, no value).
    pub store_refs: Vec<crate::server::ui::origins::StoreRef>,
}

impl Prepared {
    /// Whether the policies deny the sync.
    #[must_use]
    pub fn denied(&self) -> bool {
        self.policy.is_denied()
    }

    /// The objects to hand the engine: Secrets stay in zeroizing types
    /// ([`SecretManifest`]) until the engine builds their apply requests.
    #[must_use]
    pub fn manifests(&self) -> Vec<Manifest> {
        self.resolution
            .desired
            .iter()
            .map(|d| match d {
                Desired::Plain(v) => Manifest::Plain(v.clone()),
                Desired::Secret(s) => {
                    let (object, data) = s.to_parts();
                    Manifest::Secret(SecretManifest::new(object, data))
                }
            })
            .collect()
    }

    /// The objects as JSON, for the online plan's comparison with live objects. **Secrets
    /// leave the zeroizing types here**: call it right before the comparison and drop the
    /// result right after; everything shown is sanitized.
    #[must_use]
    pub fn apply_objects(&self) -> Vec<Value> {
        self.resolution
            .desired
            .iter()
            .filter_map(|d| match d {
                Desired::Plain(v) => Some(v.clone()),
                Desired::Secret(s) => serde_json::from_str(&s.to_apply_json()).ok(),
            })
            .collect()
    }
}

/// The allow-list of an app: its generator's, else the agent's default, else its namespace's.
pub fn allow_list(config: &Config, app: &AppDef) -> Result<AllowList, PipelineError> {
    let namespace = namespace_of(app);
    let configured = config
        .apps
        .get(app.generator)
        .and_then(|g| g.secret_allow.as_ref())
        .or(config.secret_allow.as_ref());
    let result = match configured {
        Some(c) => AllowList::new(c, &app.spec.name, namespace),
        None => AllowList::for_namespace(&app.spec.name, namespace),
    };
    result.map_err(|err| PipelineError::InvalidAllowList {
        app: app.spec.name.clone(),
        message: err.to_string(),
    })
}

/// The SOPS key allow-list of an app: its generator's, else the agent's default, else none.
pub fn key_allow_list(
    config: &Config,
    app: &AppDef,
) -> Result<secrets::kms::KeyAllowList, PipelineError> {
    let configured = config
        .apps
        .get(app.generator)
        .and_then(|g| g.key_allow.as_ref())
        .or(config.key_allow.as_ref());
    match configured {
        Some(c) => secrets::kms::KeyAllowList::new(c, &app.spec.name, namespace_of(app)).map_err(
            |message| PipelineError::InvalidAllowList {
                app: app.spec.name.clone(),
                message,
            },
        ),
        None => Ok(secrets::kms::KeyAllowList::deny_all()),
    }
}

fn namespace_of(app: &AppDef) -> &str {
    if app.spec.target_namespace.is_empty() {
        "default"
    } else {
        &app.spec.target_namespace
    }
}

/// Renders, validates, resolves and evaluates one app. With `offline`, ExternalSecrets and
/// Secrets with inline store references are not resolved but listed in
/// [`Prepared::unresolved`].
#[allow(clippy::too_many_arguments)]
pub async fn prepare(
    tree: &Tree,
    config: &Config,
    app: &AppDef,
    revision: &str,
    secrets_ctx: &SecretsContext,
    policies: &PolicySet,
    schemas: &SchemaCatalog,
    offline: bool,
) -> Result<Prepared, PipelineError> {
    let name = app.spec.name.clone();
    // SOPS documents and generator inputs are decrypted as the render loads them; the values
    // of decrypted Secrets stay in `held` (zeroizing) and the render carries stand-ins.
    let key_allow = key_allow_list(config, app)?;
    let held = Arc::new(Held::new());
    let rendered = render_stage::render(&render_stage::RenderInput {
        tree,
        config,
        app,
        secrets_ctx,
        offline,
        held: &held,
        key_allow: &key_allow,
    })
    .await?;
    validate(schemas, &name, &rendered)?;
    let count = rendered.len();
    let namespace = namespace_of(app).to_owned();
    let store_refs = crate::server::ui::origins::store_refs(
        rendered.iter().map(|o| (&o.value, o.source.to_string())),
        &namespace,
    );
    let mut unresolved = Vec::new();
    let mut objects = Vec::with_capacity(count);
    for object in rendered {
        if offline && is_external(&object.value) {
            unresolved.push(unresolved_of(&object.value, &namespace));
        } else if offline && has_inline_reference(&object.value) {
            unresolved.push(inline_unresolved(&object.value, &namespace));
        } else {
            objects.push(object.value);
        }
    }
    let allow = allow_list(config, app)?;
    let ctx = AppContext {
        name: name.clone(),
        namespace: namespace.clone(),
        allow,
        key_allow,
    };
    let resolution = secrets::resolve_rendered(&ctx, objects, secrets_ctx, &held).await;
    drop(held);
    let policy = evaluate(policies, app, revision, &resolution)?;
    Ok(Prepared {
        rendered: count,
        resolution,
        policy,
        unresolved,
        store_refs,
    })
}

/// The policies' findings on the app's objects, Secrets redacted.
fn evaluate(
    policies: &PolicySet,
    app: &AppDef,
    revision: &str,
    resolution: &Resolution,
) -> Result<Report, PipelineError> {
    let name = app.spec.name.clone();
    let redacted: Vec<(Value, SecretSource)> = resolution
        .desired
        .iter()
        .map(|d| {
            let source = match d {
                Desired::Plain(_) => SecretSource::None,
                Desired::Secret(s) => match s.origin() {
                    SecretOrigin::Sops => SecretSource::Sops,
                    SecretOrigin::Sealed => SecretSource::Sealed,
                    SecretOrigin::External | SecretOrigin::Inline => SecretSource::External,
                    SecretOrigin::Plain => SecretSource::None,
                },
            };
            (d.redacted(), source)
        })
        .collect();
    let meta = AppMeta {
        name: name.clone(),
        namespace: (!app.spec.target_namespace.is_empty())
            .then(|| app.spec.target_namespace.clone()),
        path: app.path.to_string(),
        revision: revision.to_owned(),
    };
    let inputs: Vec<AppObject<'_>> = redacted
        .iter()
        .map(|(v, s)| AppObject::new(v, None).with_secret_source(*s))
        .collect();
    let policy = {
        let _span = tracing::info_span!("policy", app = %name, stage = "policy").entered();
        policies
            .evaluate(&meta, &inputs)
            .map_err(|source| PipelineError::PolicyFailed {
                app: name.clone(),
                source,
            })?
    };
    Ok(policy)
}

/// Refuses the app when a rendered object does not match its schema; objects without a schema
/// are logged and applied.
fn validate(
    schemas: &SchemaCatalog,
    app: &str,
    rendered: &[render::Object],
) -> Result<(), PipelineError> {
    let _span = tracing::info_span!("validate", app = %app, stage = "validate").entered();
    let objects = rendered.iter().map(|o| (&o.value, None));
    let findings =
        schema::app::validate_objects(schemas, objects).map_err(|err| PipelineError::Invalid {
            app: app.to_owned(),
            message: err.to_string(),
        })?;
    let (invalid, missing): (Vec<_>, Vec<_>) = findings
        .iter()
        .partition(|f| matches!(f.outcome, Outcome::Invalid(_)));
    for finding in missing {
        tracing::warn!(app = %app, object = %finding.object, "no schema to validate the object against");
    }
    if invalid.is_empty() {
        return Ok(());
    }
    let message: Vec<String> = invalid.iter().take(5).map(|f| f.summary()).collect();
    Err(PipelineError::Invalid {
        app: app.to_owned(),
        message: message.join("; "),
    })
}

/// The policy settings with each app's generator enforcement as a per-app override (an
/// explicit `policy.apps` entry wins).
#[must_use]
pub fn policy_config(config: &Config, apps: &[AppDef]) -> crate::policy::PolicyConfig {
    let mut policy = config.policy.clone();
    for app in apps {
        if let Some(enforcement) = config.apps.get(app.generator).and_then(|g| g.policy) {
            policy
                .apps
                .entry(app.spec.name.clone())
                .or_default()
                .enforcement
                .get_or_insert(enforcement);
        }
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inline_references_are_found_in_string_data_and_data() {
        let plain = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "stringData": {"password": "ref+vault://secret/data/shop/db#/password"}});
        assert!(has_inline_reference(&plain));
        // base64 of "ref+awssecrets://shop/db#/password"
        let encoded = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "data": {"password": "cmVmK2F3c3NlY3JldHM6Ly9zaG9wL2RiIy9wYXNzd29yZA=="}});
        assert!(has_inline_reference(&encoded));
        let none = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "stringData": {"password": "hunter2"}});
        assert!(!has_inline_reference(&none));
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"url": "ref+vault://x"}});
        assert!(!has_inline_reference(&config));
        assert_eq!(inline_unresolved(&plain, "shop").object, "Secret shop/db");
    }
}
