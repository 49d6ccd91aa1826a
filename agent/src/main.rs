//! `tether-agent`: the Tether GitOps agent.

use clap::Parser;

/// Every heap block is wiped when it is freed: plaintext that passed through a buffer this
/// process does not control (the HTTP client's, the JSON parser's) leaves no copy behind.
/// Under it, jemalloc: it returns freed pages to the system (the daemon's steady RSS is a
/// third lower than with glibc's malloc, whose arenas keep the first sync's freed memory)
/// and spends less CPU on the renders' many small allocations (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: zeroizing_alloc::ZeroAlloc<tikv_jemallocator::Jemalloc> =
    zeroizing_alloc::ZeroAlloc(tikv_jemallocator::Jemalloc);
use std::process::ExitCode;
use tether_agent::render_cli::{self, RenderArgs, write_stdout};

/// The Tether GitOps agent.
#[derive(Debug, Parser)]
#[command(name = "tether-agent", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Check a configuration repository as the agent and the API server would (render,
    /// encryption, manifests, Kubernetes schemas, policies): exit 0 when clean, 1 on
    /// violations, 2 on usage or internal errors.
    Check(tether_agent::check::CheckArgs),
    /// Run the agent: sync the configured sources into the cluster, serve health, metrics,
    /// webhooks and the apps API.
    Run(tether_agent::daemon::RunArgs),
    /// Show what the next sync would do, per app (`--offline`: no cluster needed).
    Plan(tether_agent::plan::PlanArgs),
    /// Print each app's sync status as the cluster records it.
    Status(tether_agent::daemon::status::StatusArgs),
    /// Roll an app back by hand (`rollback APP [--to REV]`: to REV or the last revision that
    /// passed its gates, held there) or end its hold (`rollback clear APP`).
    Rollback(tether_agent::rollout::request::RollbackArgs),
    /// Print the objects a directory renders to, as multi-document YAML.
    Render(RenderArgs),
    /// Print the `tether.yaml` equivalent of a repository's Argo CD Applications or Flux
    /// Kustomizations, for review (exit 1 when some objects could not be mapped).
    Import {
        /// Which tool's objects to read.
        #[arg(long = "from", value_enum)]
        from: tether_agent::migrate::From,
        /// The repository's directory.
        dir: std::path::PathBuf,
    },
    /// Set an app's overlay to the images another overlay runs, on a new branch: commit,
    /// push, print the diff, and open the pull/merge request when asked.
    Promote(Box<tether_agent::images::promote::PromoteArgs>),
    /// Scan the configured image repositories once and print what each policy chooses (as
    /// JSON); `--write` also runs the automations (commit and push).
    Images {
        /// The configuration file.
        #[arg(long)]
        config: std::path::PathBuf,
        /// Run the automations too.
        #[arg(long)]
        write: bool,
    },
    /// Fetch a Git source once into a cache directory and print the commit (benchmarks).
    #[command(hide = true)]
    Fetch {
        /// The remote URL.
        #[arg(long)]
        url: String,
        /// What to follow: a branch, `tag:NAME`, `semver:RANGE` or `commit:ID`.
        #[arg(long = "ref", default_value = "main")]
        reference: String,
        /// The cache directory (a bare repository, created when missing).
        #[arg(long)]
        cache: std::path::PathBuf,
        /// Fetch the whole history instead of depth 1.
        #[arg(long)]
        full: bool,
    },
}

/// The `render` arguments when the command line is `tether-agent render ...` (parsed
/// without building every other command's parser).
fn render_only() -> Option<RenderArgs> {
    let mut argv = std::env::args_os();
    let program = argv.next()?;
    if argv.next()? != "render" {
        return None;
    }
    let rest = std::iter::once(program).chain(argv);
    Some(render_cli::parse("tether-agent render", rest))
}

/// A multi-threaded runtime for the async commands.
fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| eprintln!("tether-agent: cannot start the runtime: {err}"))
        .ok()
}

fn main() -> ExitCode {
    if let Some(args) = render_only() {
        return render_cli::run("tether-agent", args);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => ExitCode::from(tether_agent::check::command(
            &args,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )),
        Command::Run(args) => {
            // The daemon idles between rounds: jemalloc's background thread purges the
            // freed pages then (without it, purging waits for the next allocations). If it
            // cannot start, memory is still purged, later.
            let _ = tikv_jemalloc_ctl::background_thread::write(true);
            tether_agent::daemon::main(&args)
        }
        Command::Plan(args) => runtime().map_or(ExitCode::from(2), |rt| {
            ExitCode::from(rt.block_on(tether_agent::plan::command(
                &args,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )))
        }),
        Command::Status(args) => runtime().map_or(ExitCode::from(2), |rt| {
            ExitCode::from(rt.block_on(tether_agent::daemon::status::command(
                &args,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )))
        }),
        Command::Rollback(args) => runtime().map_or(ExitCode::from(2), |rt| {
            ExitCode::from(rt.block_on(tether_agent::rollout::request::command(
                &args,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )))
        }),
        Command::Import { from, dir } => ExitCode::from(tether_agent::migrate::command(
            from,
            &dir,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )),
        Command::Promote(args) => ExitCode::from(tether_agent::images::promote::command(
            &args,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )),
        Command::Images { config, write } => runtime().map_or(ExitCode::from(2), |rt| {
            ExitCode::from(rt.block_on(tether_agent::images::command(
                &config,
                write,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )))
        }),
        Command::Render(args) => render_cli::run("tether-agent", args),
        Command::Fetch {
            url,
            reference,
            cache,
            full,
        } => match tether_agent::source::fetch_once(&url, &reference, &cache, full) {
            Ok(line) => write_stdout("tether-agent", format!("{line}\n").as_bytes(), "fetch"),
            Err(err) => {
                eprintln!("tether-agent: fetch: {err}");
                ExitCode::from(1)
            }
        },
    }
}
