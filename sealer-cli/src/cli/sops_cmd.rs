//! The sops-like subcommands.

use std::process::ExitCode;

/// Subcommands that work on SOPS files.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print a decrypted SOPS file.
    Decrypt {
        /// The encrypted file.
        file: std::path::PathBuf,
    },
}

/// Runs one SOPS subcommand.
pub fn run(cmd: Command) -> ExitCode {
    match cmd {
        Command::Decrypt { file } => {
            eprintln!("tether-seal: decrypt {}: not implemented yet", file.display());
            ExitCode::from(2)
        }
    }
}
