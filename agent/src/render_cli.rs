//! The command line of `render`, shared by `tether-agent render` and the `tether-render`
//! binary (the same command without the daemon linked in: one short process per directory
//! in CI starts faster, see README "Rendering in CI").

use crate::render::helm::{self, CrdFile};
use crate::render::{self, Object, RenderError, RenderOptions};
use crate::tree::{FsTree, RelPath, Tree, relative_to};
use crate::{output, repo_root};
use clap::{CommandFactory as _, FromArgMatches as _};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `render`'s arguments.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The directory (plain manifests or a kustomization).
    pub dir: PathBuf,
    /// The directory everything read must stay inside (the repository root); by
    /// default the Git work tree that contains DIR, else the current directory (when it
    /// contains DIR), else DIR itself.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Helm charts (a DIR with `Chart.yaml`): how to render them, as `helm template`.
    #[command(flatten)]
    pub chart: ChartArgs,
}

/// `render` parsed on its own: a render is often one short process per directory (CI,
/// scripts), where building the parser of every other command costs a visible share of the
/// run. Same arguments, help and errors as the subcommand.
#[derive(Debug, clap::Parser)]
#[command(
    name = "render",
    about = "Print the objects a directory renders to, as multi-document YAML.",
    long_about = None
)]
struct RenderCli {
    #[command(flatten)]
    args: RenderArgs,
}

/// Parses `argv` (program name first) as `render`'s arguments; `bin_name` is how help and
/// errors name the command (`tether-agent render`, `tether-render`). Prints the help, the
/// version or the usage error and exits as clap does.
pub fn parse(bin_name: &'static str, argv: impl IntoIterator<Item = OsString>) -> RenderArgs {
    let command = RenderCli::command()
        .bin_name(bin_name)
        .version(env!("CARGO_PKG_VERSION"));
    let parsed = command
        .try_get_matches_from(argv)
        .and_then(|mut matches| RenderCli::from_arg_matches_mut(&mut matches));
    match parsed {
        Ok(cli) => cli.args,
        Err(err) => err.exit(),
    }
}

/// `render`'s options for a chart directory (as `helm template`'s).
#[derive(Debug, Clone, clap::Args)]
pub struct ChartArgs {
    /// A values file, relative to DIR (repeatable; later files win).
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    pub values: Vec<String>,
    /// A value as `helm --set` takes it, `a.b=c,d[0]=e` (repeatable; applied last).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The release name (default `release-name`).
    #[arg(long)]
    pub release_name: Option<String>,
    /// The release namespace (default `default`).
    #[arg(long)]
    pub namespace: Option<String>,
    /// The Kubernetes version for `.Capabilities` (default v1.32.0).
    #[arg(long)]
    pub kube_version: Option<String>,
    /// Extra API versions for `.Capabilities.APIVersions.Has` (repeatable).
    #[arg(long = "api-versions", value_name = "GROUP/VERSION")]
    pub api_versions: Vec<String>,
    /// Leave the chart's `crds/` out.
    #[arg(long)]
    pub skip_crds: bool,
}

/// Renders `args.dir`, reading nothing outside the root, and prints the objects;
/// `program` prefixes the error messages (`tether-agent`, `tether-render`).
pub fn run(program: &str, args: RenderArgs) -> ExitCode {
    let RenderArgs { dir, root, chart } = args;
    let usage = |message: String| {
        eprintln!("{program}: render: {message}");
        ExitCode::from(2)
    };
    let Ok(dir_abs) = dir.canonicalize() else {
        return usage(format!("{}: no such directory", dir.display()));
    };
    if !dir_abs.is_dir() {
        return usage(format!("{}: not a directory", dir.display()));
    }
    let root_abs = match root.as_deref() {
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
    let Some(rel) = relative_to(&root_abs, &dir_abs) else {
        return usage(format!(
            "{} is not inside {}",
            dir.display(),
            root_abs.display()
        ));
    };
    let rel = match RelPath::parse(&rel.to_string_lossy()) {
        Ok(rel) => rel,
        Err(err) => return usage(err.to_string()),
    };
    let options = match options(&root_abs, &rel, chart) {
        Ok(options) => options,
        Err(message) => return usage(message),
    };
    let tree = Tree::new(FsTree::new(root_abs.clone()));
    let rendered = render_output(&tree, &rel, &options).and_then(|(crd_files, objects)| {
        let text = render::yaml::emit_documents(objects.iter().map(|o| &o.value))
            .map_err(|err| err.to_string())?;
        Ok((crd_files, text))
    });
    match rendered {
        Ok((crd_files, text)) => write_with(program, "render", |out| {
            for file in &crd_files {
                file.write_to(out)?;
            }
            if !crd_files.is_empty() && !text.is_empty() {
                out.write_all(b"---\n")?;
            }
            out.write_all(text.as_bytes())
        }),
        Err(err) => {
            let message = format!("{}: {err}", dir.display());
            eprintln!("{program}: render {}", crate::text::clip_message(&message));
            ExitCode::from(1)
        }
    }
}

/// What `dir` renders to: a chart's `crds/` files as text (as `helm template` prints them,
/// checked but not parsed), then the objects. Other directories have no CRD files apart.
fn render_output(
    tree: &Tree,
    dir: &RelPath,
    options: &RenderOptions,
) -> Result<(Vec<CrdFile>, Vec<Object>), String> {
    let Some(settings) = options
        .helm
        .as_ref()
        .filter(|_| helm::is_chart_dir(tree, dir))
    else {
        let objects = render::render(tree, dir, options).map_err(|err| err.to_string())?;
        return Ok((Vec::new(), objects));
    };
    let printed = helm::render_printed(tree, dir, settings).map_err(|source| {
        RenderError::ChartFailed {
            path: dir.to_string(),
            source,
        }
        .to_string()
    })?;
    // The bounds `render::render` applies, the CRD files counted with the objects.
    let limit = |what, limit| {
        RenderError::LimitExceeded {
            path: dir.to_string(),
            what,
            limit,
        }
        .to_string()
    };
    let count = printed.crd_files.len() + printed.objects.len();
    if count > options.max_documents {
        return Err(limit("the number of objects", options.max_documents));
    }
    let size = printed
        .crd_files
        .iter()
        .map(|f| f.data.len())
        .sum::<usize>()
        + printed
            .objects
            .iter()
            .map(|o| render::yaml::approximate_size(&o.value))
            .sum::<usize>();
    if size > options.max_output_bytes {
        return Err(limit("the size of the output", options.max_output_bytes));
    }
    Ok((printed.crd_files, printed.objects))
}

/// The render options of the command line: values files are given relative to the current
/// directory and must lie inside the root; the chart reads them relative to itself (`../`
/// climbing inside the root).
fn options(root_abs: &Path, rel: &RelPath, chart: ChartArgs) -> Result<RenderOptions, String> {
    let climb = "../".repeat(rel.components().count());
    let mut value_files = Vec::new();
    for file in &chart.values {
        let absolute = std::env::current_dir()
            .map(|cwd| cwd.join(file))
            .and_then(|p| p.canonicalize());
        let Some(inside) = absolute.ok().and_then(|a| relative_to(root_abs, &a)) else {
            return Err(format!(
                "{file}: no such file inside {}",
                root_abs.display()
            ));
        };
        value_files.push(format!("{climb}{}", inside.to_string_lossy()));
    }
    Ok(RenderOptions {
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
    })
}

/// Writes a command's output; a closed stdout ends the command quietly.
pub fn write_stdout(program: &str, bytes: &[u8], command: &str) -> ExitCode {
    write_with(program, command, |out| out.write_all(bytes))
}

/// Writes a command's output with `write` (through a buffer); a closed stdout ends the
/// command quietly.
fn write_with(
    program: &str,
    command: &str,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> ExitCode {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if output::closed_pipe(&err) => ExitCode::from(output::EXIT_CLOSED_PIPE),
        Err(err) => {
            eprintln!("{program}: {command}: cannot write the output: {err}");
            ExitCode::from(2)
        }
    }
}
