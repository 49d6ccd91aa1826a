//! The kubeseal-like subcommands.

use std::process::ExitCode;

/// Subcommands that work on keys and SealedSecrets.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the age recipient of an identity file.
    Recipient {
        /// The identity file.
        file: std::path::PathBuf,
    },
}

/// Runs one sealing subcommand.
pub fn run(cmd: Command) -> ExitCode {
    match cmd {
        Command::Recipient { file } => {
            eprintln!("tether-seal: recipient {}: not implemented yet", file.display());
            ExitCode::from(2)
        }
    }
}
