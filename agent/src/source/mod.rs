//! The Git source: fetch, snapshots, app discovery, webhooks.
