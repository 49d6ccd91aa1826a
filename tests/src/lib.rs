//! Support for Tether's end-to-end tests.
//!
//! - [`peers`]: start and stop the real peers the tests run against (sops, OpenBao, moto, git
//!   servers), each on a loopback port chosen at run time and stopped by PID when dropped.
//! - [`memory`]: read a running process's memory, to search it for secret values.
//! - [`bins`]: locate the project's own binaries (`tether-seal`, `tether-agent`).
//! - [`prometheus`]: the real Prometheus scraping an exporter whose values the test sets.
//! - [`registry`]: the OCI registry (Debian's `docker-registry`) anonymous, with htpasswd
//!   basic auth or behind a token endpoint; images pushed through its HTTP API.
//! - [`apiserver`]: an emulation of the Kubernetes API server that kube-rs and kubectl talk to
//!   over real HTTP.
#![deny(missing_docs)]

pub mod apiserver;
pub mod bins;
pub mod gitserver;
pub mod helm_peers;
pub mod keypeers;
pub mod memory;
pub mod peers;
pub mod prometheus;
pub mod registry;
pub mod render_compare;

/// Every file under `dir`, recursively, with its bytes (for searching what a process wrote).
pub fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}
