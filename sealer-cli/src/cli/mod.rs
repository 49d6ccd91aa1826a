//! Command-line parsing and dispatch. Each family of subcommands lives in its own module:
//! [`sops_cmd`] (encrypt, decrypt, edit, rotate, set, filestatus) and [`seal_cmd`] (keygen,
//! recipient, seal, unseal, verify) and [`kubeseal_cmd`] (Bitnami SealedSecrets, kubeseal's flags).

use clap::Parser;
use std::process::ExitCode;

mod cluster;
mod files;
mod kubeseal_cmd;
mod seal_cmd;
mod sops_cmd;
mod sops_keyargs;
mod sops_keys;

/// The exit code when stdout was closed by its reader (`tether-seal decrypt f | head`): the
/// code a shell reports for a process ended by `SIGPIPE`, with nothing printed.
const EXIT_CLOSED_PIPE: u8 = 141;

/// Whether writing failed because the reader of stdout went away.
fn closed_pipe(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::BrokenPipe
}

/// Encrypt files like sops; seal Kubernetes Secrets for a cluster like kubeseal.
#[derive(Debug, Parser)]
#[command(name = "tether-seal", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    #[command(flatten)]
    Sops(sops_cmd::Command),
    #[command(flatten)]
    Seal(seal_cmd::Command),
    /// Bitnami SealedSecrets with kubeseal's flags (--cert, --scope, --raw, --merge-into,
    /// --re-encrypt, --validate).
    Kubeseal(kubeseal_cmd::Args),
}

/// Parses the arguments and runs the chosen subcommand; the exit code says how it ended.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sops(cmd) => sops_cmd::run(cmd),
        Command::Seal(cmd) => seal_cmd::run(cmd),
        Command::Kubeseal(args) => kubeseal_cmd::run(args),
    }
}
