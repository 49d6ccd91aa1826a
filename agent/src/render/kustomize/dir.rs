//! One kustomization directory being built: reading the files it names inside the snapshot,
//! with kustomize's load restrictions, and telling remote entries apart.

use super::{KustomizeError, patch};
use crate::render::Decryptor;
use crate::render::yaml::{self, ParseOptions};
use crate::tree::{EntryKind, RelPath, Tree};
use serde_json::Value;

/// One kustomization directory being built: how to read the files it names.
pub(crate) struct Dir<'a> {
    pub(crate) tree: &'a Tree,
    /// The kustomization's directory.
    pub(crate) dir: RelPath,
    /// The kustomization file, for error messages.
    pub(crate) file: RelPath,
    pub(crate) limits: ParseOptions,
    pub(crate) decryptor: Option<&'a dyn Decryptor>,
    /// Access to remote charts' repositories (`helmCharts`).
    pub(crate) helm_repositories: Option<&'a crate::render::helm_fetch::RepositoryAccess>,
    /// The cluster (`helmCharts`' `.Capabilities` and opt-in `lookup`).
    pub(crate) helm_cluster: Option<&'a crate::render::helm::cluster::HelmCluster>,
}

impl Dir<'_> {
    /// Reads a file named by `field`, which must be in or below the kustomization's
    /// directory (kustomize's default load restriction).
    pub(crate) fn read(
        &self,
        field: &str,
        entry: &str,
    ) -> Result<(RelPath, Vec<u8>), KustomizeError> {
        let path = self.join(field, entry)?;
        self.check_inside(field, entry, &path)?;
        let bytes = self
            .tree
            .read(&path)
            .map_err(|source| KustomizeError::ReadFailed {
                path: self.file.to_string(),
                source,
            })?;
        Ok((path, bytes))
    }

    /// Reads a text file named by `field` (see [`Dir::read`]).
    pub(crate) fn read_text(
        &self,
        field: &str,
        entry: &str,
    ) -> Result<(RelPath, String), KustomizeError> {
        let (path, bytes) = self.read(field, entry)?;
        let text = String::from_utf8(bytes).map_err(|_| KustomizeError::ParseFailed {
            path: path.to_string(),
            message: "file is not valid UTF-8".to_owned(),
        })?;
        Ok((path, text))
    }

    /// Joins an entry onto the directory, refusing remote locations, absolute paths and
    /// escapes.
    pub(crate) fn join(&self, field: &str, entry: &str) -> Result<RelPath, KustomizeError> {
        if field_takes_urls(field) && entry.to_ascii_lowercase().contains("://") {
            return Err(KustomizeError::Unsupported {
                path: self.file.to_string(),
                field: field.to_owned(),
                reason: format!(
                    "remote file {entry:?}: only paths inside the repository are allowed"
                ),
            });
        }
        self.dir
            .join(entry)
            .map_err(|err| KustomizeError::PathRefused {
                path: self.file.to_string(),
                field: field.to_owned(),
                target: entry.to_owned(),
                root: "the repository root".to_owned(),
                reason: err.to_string(),
            })
    }

    fn check_inside(&self, field: &str, entry: &str, path: &RelPath) -> Result<(), KustomizeError> {
        let refused = |reason: &str| KustomizeError::PathRefused {
            path: self.file.to_string(),
            field: field.to_owned(),
            target: entry.to_owned(),
            root: self.dir.to_string(),
            reason: reason.to_owned(),
        };
        if !path.starts_with(&self.dir) {
            return Err(refused(
                "files must be in or below the kustomization's directory",
            ));
        }
        let real_dir = self
            .resolve(&self.dir)?
            .map(|(p, _)| p)
            .unwrap_or_else(|| self.dir.clone());
        if let Some((real, _)) = self.resolve(path)?
            && !real.starts_with(&real_dir)
        {
            return Err(refused(
                "the file is a symlink to a place outside the kustomization's directory",
            ));
        }
        Ok(())
    }

    pub(crate) fn resolve(
        &self,
        path: &RelPath,
    ) -> Result<Option<(RelPath, EntryKind)>, KustomizeError> {
        self.tree
            .resolve(path)
            .map_err(|source| KustomizeError::ReadFailed {
                path: self.file.to_string(),
                source,
            })
    }

    /// Parses resource manifests: every document must be a mapping. Where a document holds
    /// empty nulls, their paths ride along in the object under a reserved key that
    /// [`Resource::new`] takes out again (see [`patch::nulls::take_empty_nulls`]).
    pub(crate) fn parse_mappings(
        &self,
        path: &RelPath,
        text: &str,
    ) -> Result<Vec<Value>, KustomizeError> {
        let docs = yaml::parse_documents(text, &self.limits).map_err(|err| {
            KustomizeError::ParseFailed {
                path: path.to_string(),
                message: err.to_string(),
            }
        })?;
        let mut out = Vec::with_capacity(docs.len());
        for (index, doc) in docs.into_iter().enumerate() {
            let Value::Object(mut map) = doc.value else {
                return Err(KustomizeError::ParseFailed {
                    path: path.to_string(),
                    message: yaml::YamlError::NotAMapping { index }.to_string(),
                });
            };
            if !doc.empty_nulls.is_empty() && !map.contains_key(patch::nulls::EMPTY_NULLS_KEY) {
                map.insert(
                    patch::nulls::EMPTY_NULLS_KEY.to_owned(),
                    patch::nulls::encode_paths(&doc.empty_nulls),
                );
            }
            out.push(Value::Object(map));
        }
        Ok(out)
    }
}

/// Whether kustomize would fetch a URL given in `field` (patch files, generator sources,
/// replacement sources, components, crds): everything but the resource lists, which
/// [`is_remote`] checks with their own wording.
fn field_takes_urls(field: &str) -> bool {
    !field.starts_with("resources") && !field.starts_with("bases")
}

/// Whether a resource entry names a remote location (Git URL, HTTP, go-getter style).
pub(crate) fn is_remote(entry: &str) -> bool {
    let lower = entry.to_ascii_lowercase();
    lower.contains("://")
        || lower.starts_with("git@")
        || lower.starts_with("github.com/")
        || lower.starts_with("gitlab.com/")
        || lower.starts_with("bitbucket.org/")
        || lower.contains("?ref=")
        || lower.contains(".git//")
}
