//! Notifications (issue 18) against real receivers: Prometheus Alertmanager and an SMTP
//! server for real, and a receiver that checks Slack's, Teams', Discord's, Google Chat's,
//! GitHub's, GitLab's and the generic webhooks' documented payloads and auth; then end to
//! end through the daemon.

#[allow(dead_code)]
#[path = "daemon/support.rs"]
mod support;

#[path = "notify/receiver.rs"]
mod receiver;

#[path = "notify/peers.rs"]
mod peers_notify;

#[path = "notify/delivery.rs"]
mod delivery;

#[path = "notify/daemon.rs"]
mod daemon;

#[path = "notify/restart.rs"]
mod restart;

#[path = "notify/kinds.rs"]
mod kinds;

#[path = "notify/sending.rs"]
mod sending;

#[path = "notify/once.rs"]
mod once;

#[path = "notify/lifecycle.rs"]
mod lifecycle;

#[allow(dead_code)]
#[path = "shard/support.rs"]
mod shard_support;

#[path = "notify/shard.rs"]
mod shard;
