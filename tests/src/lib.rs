//! Support for Tether's end-to-end tests.
//!
//! - [`peers`]: start and stop the real peers the tests run against (sops, OpenBao, moto, git
//!   servers), each on a loopback port chosen at run time and stopped by PID when dropped.
//! - [`bins`]: locate the project's own binaries (`tether-seal`, `tether-agent`).
//! - [`apiserver`]: an emulation of the Kubernetes API server that kube-rs and kubectl talk to
//!   over real HTTP.
#![deny(missing_docs)]

pub mod apiserver;
pub mod bins;
pub mod gitserver;
pub mod peers;
