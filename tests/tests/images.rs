//! Image automation (issue 22) against real peers: Debian's `docker-registry` (anonymous,
//! htpasswd basic auth, and behind a token endpoint), `git daemon` accepting pushes, and
//! receivers standing in for GitHub's and GitLab's pull/merge request APIs; then end to end
//! through the daemon: a new tag in the registry becomes a commit in Git and a change in the
//! cluster.

#[allow(dead_code)]
#[path = "daemon/support.rs"]
mod support;

#[path = "images/common.rs"]
mod common;

#[path = "images/scan.rs"]
mod scan;

#[path = "images/faults.rs"]
mod faults;

#[path = "images/forge.rs"]
mod forge;

#[path = "images/promote.rs"]
mod promote;

#[path = "images/write.rs"]
mod write;

#[path = "images/sign.rs"]
mod sign;

#[path = "images/autopromote.rs"]
mod autopromote;

#[path = "images/daemon.rs"]
mod daemon;
