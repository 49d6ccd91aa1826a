//! Fencing of writes: a check the engine makes right before every write of an app (apply,
//! delete, inventory), so that a replica that lost the right to write an app (its Lease
//! expired while it stalled, or the app now hashes to another replica) writes nothing more.
//!
//! The engine only asks; what decides is a [`WriteFence`] given by the caller (the daemon's
//! shard membership). Without one, every write is allowed (a single agent, `tether-agent
//! plan`, the tests of the engine).

use std::sync::Arc;

/// Decides whether this process may write `app` now.
pub trait WriteFence: Send + Sync {
    /// `Ok` when the write may happen; otherwise why not (no secret value, ever).
    fn check(&self, app: &str) -> Result<(), String>;
}

/// The fence of an engine: none by default (every write allowed); cheap to clone.
#[derive(Clone, Default)]
pub struct Fence(Option<Arc<dyn WriteFence>>);

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Fence").field(&self.0.is_some()).finish()
    }
}

/// A write refused by the fence.
#[derive(Debug, Clone, thiserror::Error)]
#[error("write of app {app} fenced: {why}")]
pub struct Fenced {
    /// The app.
    pub app: String,
    /// Why this process may not write it now.
    pub why: String,
}

impl Fence {
    /// A fence that asks `fence` before each write.
    #[must_use]
    pub fn new(fence: Arc<dyn WriteFence>) -> Self {
        Self(Some(fence))
    }

    /// Whether a write of `app` may happen now.
    pub fn check(&self, app: &str) -> Result<(), Fenced> {
        match &self.0 {
            None => Ok(()),
            Some(fence) => fence.check(app).map_err(|why| {
                tracing::warn!(app, reason = %why, "write fenced");
                Fenced {
                    app: app.to_owned(),
                    why,
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Only(&'static str);

    impl WriteFence for Only {
        fn check(&self, app: &str) -> Result<(), String> {
            if app == self.0 {
                Ok(())
            } else {
                Err(format!("{app} is not {}", self.0))
            }
        }
    }

    #[test]
    fn no_fence_allows_every_write_and_a_fence_names_the_refused_app() {
        assert!(Fence::default().check("any").is_ok());
        let fence = Fence::new(Arc::new(Only("shop")));
        assert!(fence.check("shop").is_ok());
        let err = fence.check("blog").expect_err("fenced");
        assert_eq!(
            err.to_string(),
            "write of app blog fenced: blog is not shop"
        );
    }
}
