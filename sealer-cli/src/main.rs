//! `tether-seal`: encrypt files like `sops`, seal Secrets for a cluster like `kubeseal`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
