//! The render context the Flux HelmRelease tests of Git and Bucket charts share: app `web`
//! in namespace `shop`, charts from the given sources, no cluster, no held values.

use std::sync::{Arc, Mutex};
use tether_agent::render::flux_helm::git::GitSources;
use tether_agent::render::flux_helm::{Context, NativeRenderer, NothingHeld};
use tether_agent::render::helm_fetch::{ArchiveCache, FetchLimits};

/// A context rendering with `renderer`, charts from `git`.
pub fn ctx<'a>(renderer: &'a NativeRenderer, git: &'a GitSources) -> Context<'a> {
    Context {
        app: "web",
        namespace: "shop",
        renderer,
        held: &NothingHeld,
        hold: None,
        limits: FetchLimits::default(),
        cache: Arc::new(Mutex::new(ArchiveCache::new(1 << 20))),
        applied: None,
        git: Some(git),
        cluster: None,
        repositories: None,
    }
}
