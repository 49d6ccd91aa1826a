//! `tether-agent`: the Tether GitOps agent.

use clap::Parser;
use std::process::ExitCode;

/// The Tether GitOps agent.
#[derive(Debug, Parser)]
#[command(name = "tether-agent", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the objects a directory renders to, as multi-document YAML.
    Render {
        /// The directory (plain manifests or a kustomization).
        dir: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Render { dir } => {
            eprintln!("tether-agent: render {}: not implemented yet", dir.display());
            ExitCode::from(2)
        }
    }
}
