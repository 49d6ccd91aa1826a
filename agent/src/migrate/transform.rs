//! An app's render with the transforms its generator asks for: the [`Overlay`] (Kustomize
//! patches, images, names, labels over the directory) and then the [`PostBuild`]
//! substitution, in Flux's order (kustomize build, then variables, then apply).
//!
//! [`Overlay`]: super::overlay::Overlay
//! [`PostBuild`]: super::postbuild::PostBuild

use super::postbuild::{self, PostBuildError, Variables};
use super::substitute_from::FromValues;
use crate::config::AppGenerator;
use crate::render::{self, Object, RenderError, RenderOptions};
use crate::tree::{RelPath, Tree};

/// Errors of an app's render with its transforms.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The render (with the overlay) failed.
    #[error(transparent)]
    RenderFailed(Box<RenderError>),
    /// The post-build substitution failed.
    #[error(transparent)]
    SubstituteFailed(#[from] PostBuildError),
}

/// Renders `dir` as `generator` (none: as it is) asks; `from` are the variables read for
/// its `postBuild.substituteFrom` ([`super::substitute_from::read`]).
pub fn render_app(
    tree: &Tree,
    dir: &RelPath,
    options: &RenderOptions,
    generator: Option<&AppGenerator>,
    from: Vec<FromValues>,
) -> Result<Vec<Object>, TransformError> {
    let overlay = generator
        .and_then(|g| g.kustomize.as_ref())
        .filter(|o| !o.is_empty());
    let mut objects = match overlay {
        Some(overlay) => super::overlay::render_with(tree, dir, overlay, options)?,
        None => render::render(tree, dir, options)?,
    };
    if let Some(post) = generator.and_then(|g| g.post_build.as_ref()) {
        let vars = Variables::new(post, from)?;
        let mut values: Vec<serde_json::Value> = objects
            .iter_mut()
            .map(|o| std::mem::take(&mut o.value))
            .collect();
        postbuild::apply(&mut values, &vars, options.decryptor.as_deref())?;
        for (object, value) in objects.iter_mut().zip(values) {
            object.value = value;
        }
    }
    Ok(objects)
}

impl From<RenderError> for TransformError {
    fn from(source: RenderError) -> Self {
        Self::RenderFailed(Box::new(source))
    }
}
