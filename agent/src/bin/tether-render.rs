//! `tether-render`: `tether-agent render` alone, in a binary without the daemon.
//!
//! A CI job or a script renders one directory per process. The full agent links the daemon's
//! network stack (Kubernetes and cloud clients, TLS, HTTP/2, the web UI), whose vtables and
//! static tables the loader must relocate at every start of a position-independent binary;
//! this binary links only what rendering needs, so it starts with a fraction of those page
//! faults. Same arguments, output, errors and exit codes as `tether-agent render`.

use std::process::ExitCode;
use tether_agent::render_cli;

/// Every heap block is wiped when it is freed, as in `tether-agent` (rendered Secrets pass
/// through these buffers). Under it, glibc's malloc rather than the agent's jemalloc: for one
/// short render per process jemalloc's start-up (~80 more page faults) costs more than it
/// saves (corpus CPU 1,090-1,145 ms against 1,006-1,012 ms, bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

fn main() -> ExitCode {
    let args = render_cli::parse("tether-render", std::env::args_os());
    render_cli::run("tether-render", args)
}
