//! `tether-seal`: encrypt files like `sops`, seal Secrets for a cluster like `kubeseal`.

mod cli;

/// Every heap block is wiped when it is freed, so decrypted values leave no copy behind.
#[global_allocator]
static ALLOCATOR: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

fn main() -> std::process::ExitCode {
    cli::main()
}
