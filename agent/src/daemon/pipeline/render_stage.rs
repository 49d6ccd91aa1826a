//! The render stage of one app: its Helm inputs and `substituteFrom` variables read, its
//! directory rendered (with the generator's overlay), then its Flux HelmReleases expanded.

use super::{AppDef, PipelineError, namespace_of};
use crate::config::{AppGenerator, Config};
use crate::migrate::transform::TransformError;
use crate::render::flux_helm::ReleaseEnv;
use crate::render::helm::inputs::ResolvedInputs;
use crate::render::{self, RenderError, RenderOptions};
use crate::secrets::{self, Held, RenderDecryptor, SecretsContext, kms::KeyAllowList};
use crate::tree::Tree;
use std::sync::Arc;

/// What rendering one app needs.
pub(super) struct RenderInput<'a> {
    pub(super) tree: &'a Tree,
    pub(super) config: &'a Config,
    pub(super) app: &'a AppDef,
    pub(super) secrets_ctx: &'a SecretsContext,
    /// No cluster is contacted (`plan --offline`).
    pub(super) offline: bool,
    /// Where decrypted Secret values are held while the render carries stand-ins.
    pub(super) held: &'a Arc<Held>,
    pub(super) key_allow: &'a KeyAllowList,
}

/// Renders one app to its objects.
pub(super) async fn render(input: &RenderInput<'_>) -> Result<Vec<render::Object>, PipelineError> {
    let RenderInput {
        tree,
        config,
        app,
        secrets_ctx,
        offline,
        held,
        key_allow,
    } = *input;
    let name = app.spec.name.clone();
    let decryptor = RenderDecryptor::new(
        Arc::clone(&secrets_ctx.keys),
        key_allow.clone(),
        Arc::clone(held),
    );
    let generator = config.apps.get(app.generator);
    let decryptor: Arc<dyn render::Decryptor> = Arc::new(decryptor);
    let inputs = input.helm_inputs(&decryptor).await?;
    let options = RenderOptions {
        max_render_time: config.limits.render_timeout.0,
        max_documents: config.limits.max_objects,
        decryptor: Some(decryptor),
        helm: inputs.settings.clone(),
        helm_repositories: Some(Arc::clone(&inputs.repositories)),
        helm_cluster: inputs.cluster.clone(),
        ..RenderOptions::default()
    };
    // Flux's postBuild.substituteFrom: read before the render (from Git or the cluster).
    let from = substitute_from(
        generator,
        tree,
        &options,
        held,
        (!offline).then(|| secrets_ctx.stores.credentials()),
        &config.namespace,
    )
    .await
    .map_err(|source| PipelineError::SubstituteFailed {
        app: name.clone(),
        source,
    })?;
    let objects = {
        let _span = tracing::info_span!("render", app = %name, path = %app.path, stage = "render")
            .entered();
        // The generator's Kustomize overlay and post-build substitution (apps imported
        // from Argo CD and Flux).
        crate::migrate::transform::render_app(tree, &app.path, &options, generator, from).map_err(
            |err| match err {
                TransformError::RenderFailed(source) => PipelineError::RenderFailed {
                    app: name.clone(),
                    source,
                },
                TransformError::SubstituteFailed(source) => PipelineError::SubstituteFailed {
                    app: name.clone(),
                    source,
                },
            },
        )?
    };
    input.expand_flux(objects, &options, &inputs.flux).await
}

impl RenderInput<'_> {
    /// A `helm:` app's valuesFrom and the charts' repository credentials, read before the
    /// render.
    async fn helm_inputs(
        &self,
        decryptor: &Arc<dyn render::Decryptor>,
    ) -> Result<ResolvedInputs, PipelineError> {
        let (config, app) = (self.config, self.app);
        render::helm::inputs::resolve(&render::helm::inputs::HelmInputs {
            tree: self.tree,
            app: &app.spec.name,
            path: &app.path,
            namespace: namespace_of(app),
            helm: config.apps.get(app.generator).and_then(|g| g.helm.as_ref()),
            repositories: &config.helm_repositories,
            agent_namespace: &config.namespace,
            decryptor,
            held: &**self.held,
            cluster: (!self.offline).then(|| self.secrets_ctx.stores.credentials()),
            archive_dir: Some(&config.cache_dir.join("helm-archives")),
            own_source: config
                .sources
                .iter()
                .find(|s| s.name == app.source)
                .map(|s| (s.url.as_str(), s.reference.as_str())),
            git_cache_dir: Some(&config.cache_dir.join("helm-git")),
        })
        .await
        .map_err(|source| PipelineError::RenderFailed {
            app: app.spec.name.clone(),
            source: Box::new(RenderError::ChartFailed {
                path: app.path.to_string(),
                source,
            }),
        })
    }

    /// The app's Flux HelmReleases rendered, their values read through `held`; whether a
    /// release installs or upgrades comes from the inventory, read only when there is one.
    async fn expand_flux(
        &self,
        objects: Vec<render::Object>,
        options: &RenderOptions,
        env: &ReleaseEnv,
    ) -> Result<Vec<render::Object>, PipelineError> {
        let app = self.app;
        let name = &app.spec.name;
        let applied = if objects
            .iter()
            .any(|o| render::flux_helm::model::is_flux_helm_object(&o.value))
        {
            let cluster = (!self.offline).then(|| self.secrets_ctx.stores.credentials());
            render::helm::inputs::applied_objects(cluster, &self.config.namespace, name).await
        } else {
            None
        };
        let _span = tracing::info_span!("render", app = %name, path = %app.path, stage = "render")
            .entered();
        render::flux_helm::expand_rendered(
            objects,
            name,
            namespace_of(app),
            &**self.held,
            options.decryptor.as_deref(),
            applied.as_ref(),
            env,
        )
        .map_err(|source| PipelineError::RenderFailed {
            app: name.clone(),
            source: Box::new(RenderError::from(source)),
        })
    }
}

/// The variables of the generator's `postBuild.substituteFrom` (none without one).
async fn substitute_from(
    generator: Option<&AppGenerator>,
    tree: &Tree,
    options: &RenderOptions,
    held: &Held,
    cluster: Option<&dyn secrets::CredentialSource>,
    namespace: &str,
) -> Result<
    Vec<crate::migrate::substitute_from::FromValues>,
    crate::migrate::postbuild::PostBuildError,
> {
    let entries = generator
        .and_then(|g| g.post_build.as_ref())
        .map(|p| p.substitute_from.as_slice())
        .unwrap_or_default();
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let input = crate::migrate::substitute_from::FromInput {
        tree,
        decryptor: options.decryptor.as_deref(),
        held,
        cluster: cluster.and_then(secrets::CredentialSource::client),
        namespace,
    };
    crate::migrate::substitute_from::read(entries, &input).await
}
