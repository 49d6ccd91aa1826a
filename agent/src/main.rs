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
use std::path::Path;
use std::process::ExitCode;
use tether_agent::render::{self, RenderOptions};
use tether_agent::tree::{FsTree, RelPath, Tree, relative_to};
use tether_agent::{output, repo_root};

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

/// `tether-agent render`'s arguments.
#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// The directory (plain manifests or a kustomization).
    dir: std::path::PathBuf,
    /// The directory everything read must stay inside (the repository root); by
    /// default the Git work tree that contains DIR, else the current directory (when it
    /// contains DIR), else DIR itself.
    #[arg(long)]
    root: Option<std::path::PathBuf>,
    /// Helm charts (a DIR with `Chart.yaml`): how to render them, as `helm template`.
    #[command(flatten)]
    chart: ChartArgs,
}

/// `tether-agent render` parsed on its own: a render is often one short process per
/// directory (CI, scripts), where building the parser of every other command costs a
/// visible share of the run. Same arguments, help and errors as the subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "render",
    bin_name = "tether-agent render",
    about = "Print the objects a directory renders to, as multi-document YAML.",
    long_about = None
)]
struct RenderCli {
    #[command(flatten)]
    args: RenderArgs,
}

/// The `render` arguments when the command line is `tether-agent render ...`.
fn render_only() -> Option<RenderArgs> {
    let mut argv = std::env::args_os();
    let program = argv.next()?;
    if argv.next()? != "render" {
        return None;
    }
    let rest = std::iter::once(program).chain(argv);
    Some(RenderCli::parse_from(rest).args)
}

/// `tether-agent render`'s options for a chart directory (as `helm template`'s).
#[derive(Debug, Clone, clap::Args)]
struct ChartArgs {
    /// A values file, relative to DIR (repeatable; later files win).
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    values: Vec<String>,
    /// A value as `helm --set` takes it, `a.b=c,d[0]=e` (repeatable; applied last).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The release name (default `release-name`).
    #[arg(long)]
    release_name: Option<String>,
    /// The release namespace (default `default`).
    #[arg(long)]
    namespace: Option<String>,
    /// The Kubernetes version for `.Capabilities` (default v1.32.0).
    #[arg(long)]
    kube_version: Option<String>,
    /// Extra API versions for `.Capabilities.APIVersions.Has` (repeatable).
    #[arg(long = "api-versions", value_name = "GROUP/VERSION")]
    api_versions: Vec<String>,
    /// Leave the chart's `crds/` out.
    #[arg(long)]
    skip_crds: bool,
}

/// Renders `dir`, reading nothing outside `root`, and prints the objects.
fn render_command(dir: &Path, root: Option<&Path>, chart: ChartArgs) -> ExitCode {
    let usage = |message: String| {
        eprintln!("tether-agent: render: {message}");
        ExitCode::from(2)
    };
    let Ok(dir_abs) = dir.canonicalize() else {
        return usage(format!("{}: no such directory", dir.display()));
    };
    if !dir_abs.is_dir() {
        return usage(format!("{}: not a directory", dir.display()));
    }
    let root_abs = match root {
        Some(root) => match root.canonicalize() {
            Ok(root) => root,
            Err(_) => return usage(format!("{}: no such directory", root.display())),
        },
        None => {
            let cwd = std::env::current_dir()
                .and_then(|c| c.canonicalize())
                .unwrap_or_else(|_| dir_abs.clone());
            repo_root::repository_root(&dir_abs, &cwd)
        }
    };
    let root = root_abs.as_path();
    let Some(rel) = relative_to(&root_abs, &dir_abs) else {
        return usage(format!(
            "{} is not inside {}",
            dir.display(),
            root.display()
        ));
    };
    let rel = match RelPath::parse(&rel.to_string_lossy()) {
        Ok(rel) => rel,
        Err(err) => return usage(err.to_string()),
    };
    let tree = Tree::new(FsTree::new(root_abs.clone()));
    // Values files are given relative to the current directory and must lie inside the
    // root; the chart reads them relative to itself (`../` climbing inside the root).
    let climb = "../".repeat(rel.components().count());
    let mut value_files = Vec::new();
    for file in &chart.values {
        let absolute = std::env::current_dir()
            .map(|cwd| cwd.join(file))
            .and_then(|p| p.canonicalize());
        let Some(inside) = absolute.ok().and_then(|a| relative_to(&root_abs, &a)) else {
            return usage(format!("{file}: no such file inside {}", root.display()));
        };
        value_files.push(format!("{climb}{}", inside.to_string_lossy()));
    }
    let options = RenderOptions {
        helm: Some(render::helm::ChartSettings {
            release_name: chart.release_name,
            namespace: chart.namespace,
            value_files,
            set: chart.set,
            skip_crds: chart.skip_crds,
            kube_version: chart.kube_version,
            api_versions: chart.api_versions,
            ..render::helm::ChartSettings::default()
        }),
        ..RenderOptions::default()
    };
    let rendered = render::render(&tree, &rel, &options)
        .map_err(|err| err.to_string())
        .and_then(|objects| {
            render::yaml::emit_documents(objects.iter().map(|o| &o.value))
                .map_err(|err| err.to_string())
        });
    match rendered {
        Ok(text) => write_stdout(text.as_bytes(), "render"),
        Err(err) => {
            let message = format!("{}: {err}", dir.display());
            eprintln!(
                "tether-agent: render {}",
                tether_agent::text::clip_message(&message)
            );
            ExitCode::from(1)
        }
    }
}

/// Writes a command's output; a closed stdout ends the command quietly.
fn write_stdout(bytes: &[u8], command: &str) -> ExitCode {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if output::closed_pipe(&err) => ExitCode::from(output::EXIT_CLOSED_PIPE),
        Err(err) => {
            eprintln!("tether-agent: {command}: cannot write the output: {err}");
            ExitCode::from(2)
        }
    }
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
        return render_command(&args.dir, args.root.as_deref(), args.chart);
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
        Command::Render(args) => render_command(&args.dir, args.root.as_deref(), args.chart),
        Command::Fetch {
            url,
            reference,
            cache,
            full,
        } => match tether_agent::source::fetch_once(&url, &reference, &cache, full) {
            Ok(line) => write_stdout(format!("{line}\n").as_bytes(), "fetch"),
            Err(err) => {
                eprintln!("tether-agent: fetch: {err}");
                ExitCode::from(1)
            }
        },
    }
}
