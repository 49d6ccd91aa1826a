//! An earlier revision's files, for a rollback: read from the source's cache repository
//! (fetches keep the objects of earlier commits), else fetched by commit id into a cache of
//! its own. The commit's signature is verified under the source's policy, as for any fetch.

use super::RolloutError;
use crate::source::snapshot::GitTree;
use crate::source::{SourceConfig, parse_reference, signature};
use crate::tree::Tree;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

fn is_commit_id(text: &str) -> bool {
    (4..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The tree of `revision` in the cache repository of `config`, when the cache holds it.
fn from_cache(config: &SourceConfig, revision: &str) -> Result<Option<Tree>, RolloutError> {
    let failed = |message: String| RolloutError::RevisionUnavailable {
        revision: revision.to_owned(),
        message,
    };
    let options = gix::open::Options::isolated().strict_config(false);
    let Ok(repo) = gix::open_opts(&config.cache_dir, options) else {
        return Ok(None);
    };
    let Ok(id) = gix::ObjectId::from_hex(revision.as_bytes()) else {
        return Ok(None);
    };
    let tree = {
        let Ok(commit) = repo.find_commit(id) else {
            return Ok(None);
        };
        commit
            .tree_id()
            .map_err(|e| failed(e.to_string()))?
            .detach()
    };
    signature::verify_commit(&repo, id, &config.signatures).map_err(|e| failed(e.to_string()))?;
    Ok(Some(
        GitTree::new(repo.into_sync(), tree)
            .into_tree()
            .with_max_file_bytes(config.max_file_bytes),
    ))
}

/// The files of `revision` (a full commit id) of the source `config` (the source's own
/// settings, as its loop uses them: credentials, signature policy, limits).
pub async fn tree_at(mut config: SourceConfig, revision: &str) -> Result<Tree, RolloutError> {
    let unavailable = |message: String| RolloutError::RevisionUnavailable {
        revision: crate::text::clip_message(revision).into_owned(),
        message,
    };
    if !is_commit_id(revision) {
        return Err(unavailable("not a commit id".into()));
    }
    if let Some(tree) = from_cache(&config, revision)? {
        return Ok(tree);
    }
    tracing::info!(source = %config.name, revision, "the revision is not in the cache; fetching it by commit id");
    config.reference =
        parse_reference(&format!("commit:{revision}")).map_err(|e| unavailable(e.to_string()))?;
    let name = config
        .cache_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("source")
        .to_owned();
    config.cache_dir = config.cache_dir.with_file_name(format!("{name}-revisions"));
    let snapshot = tokio::task::spawn_blocking(move || {
        crate::source::fetch_snapshot_blocking(&config, Arc::new(AtomicBool::new(false)))
    })
    .await
    .map_err(|e| unavailable(e.to_string()))?
    .map_err(|e| unavailable(e.to_string()))?;
    Ok(snapshot.tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commit_ids_are_looked_up() {
        assert!(is_commit_id("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_commit_id("main"));
        assert!(!is_commit_id("../x"));
        assert!(!is_commit_id(""));
    }
}
