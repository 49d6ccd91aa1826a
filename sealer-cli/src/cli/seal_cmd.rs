//! The kubeseal-like subcommands: `keygen`, `recipient`, `seal`, `unseal`, `verify`, `reseal`.
//!
//! Exit codes: 0 success, 1 other failure (I/O…), 2 usage, 3 malformed input (a manifest,
//! identity or recipient that cannot be read), 4 no matching identity, 5 scope mismatch (a
//! value moved to another namespace, name or key). Messages name the file, the object and the
//! field or key, and never print a plaintext value.

use age::secrecy::ExposeSecret;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tether_seal::keys::{self, Identity, Recipient};
use tether_seal::sealed::{self, Scope, SealedSecret, UnsealedSecret};
use zeroize::Zeroizing;

pub(super) use super::files::{display, read_input, write_in_place, write_stdout};

/// Exit code for a failure without a more specific code.
const EXIT_OTHER: u8 = 1;
/// Exit code for a usage error (also clap's).
pub(super) const EXIT_USAGE: u8 = 2;
/// Exit code for input that cannot be read as what it should be.
pub(super) const EXIT_MALFORMED: u8 = 3;
/// Exit code when no given identity opens a value.
const EXIT_NO_IDENTITY: u8 = 4;
/// Exit code when a value is bound to another namespace, name or key.
const EXIT_SCOPE_MISMATCH: u8 = 5;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  other failure (I/O, ...)
  2  usage error
  3  malformed input (manifest, identity or recipient file)
  4  no matching identity
  5  scope mismatch (a value moved to another namespace, name or key)";

const KEYGEN_HELP: &str = "\
Example:
  tether-seal keygen -o cluster-key.txt      # prints the recipient on stderr
  tether-seal recipient cluster-key.txt > cluster.pub";

const RECIPIENT_HELP: &str = "\
Examples:
  tether-seal recipient cluster-key.txt
  age1...
  tether-seal recipient --from-cluster --namespace tether-system
  age1...";

const SEAL_HELP: &str = "\
Examples:
  kubectl create secret generic db -n shop --from-literal=password=s3cret \\
      --dry-run=client -o yaml | tether-seal seal -R cluster.pub > db.sealed.yaml
  tether-seal seal -f token.yaml -r age1... --merge-into db.sealed.yaml -i
  tether-seal seal -f secret.yaml -r age1a... -r age1b... --scope namespace -o json";

const UNSEAL_HELP: &str = "\
Example (recovery; prints plaintext):
  tether-seal unseal --identity cluster-key.txt db.sealed.yaml";

const VERIFY_HELP: &str = "\
Example:
  tether-seal verify --identity cluster-key.txt db.sealed.yaml";

const RESEAL_HELP: &str = "\
Example (move to a new cluster key; the scope stays the one sealed in each value):
  tether-seal reseal --identity old-key.txt -r age1new... db.sealed.yaml > db.resealed.yaml";

/// Output formats of manifests.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum Format {
    /// YAML.
    #[default]
    Yaml,
    /// JSON.
    Json,
}

/// Subcommands that work on keys and SealedSecrets.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Generate an age X25519 identity (file mode 0600); the recipient goes to stderr.
    #[command(after_help = format!("{KEYGEN_HELP}\n\n{EXIT_CODES}"))]
    Keygen {
        /// Write the identity to this file (never overwritten) instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print the age recipient (age1...) of an identity file.
    #[command(after_help = format!("{RECIPIENT_HELP}\n\n{EXIT_CODES}"))]
    Recipient {
        /// The identity file.
        #[arg(
            required_unless_present = "from_cluster",
            conflicts_with = "from_cluster"
        )]
        file: Option<PathBuf>,
        /// Read the recipient the agent publishes (ConfigMap `tether-recipient`) through the
        /// kubeconfig instead: for sealing without access to any private key.
        #[arg(long)]
        from_cluster: bool,
        /// The agent's namespace, with --from-cluster.
        #[arg(long, default_value = "tether-system", requires = "from_cluster")]
        namespace: String,
        /// The kubeconfig, with --from-cluster (default: KUBECONFIG or ~/.kube/config).
        #[arg(long, requires = "from_cluster")]
        kubeconfig: Option<PathBuf>,
        /// The kubeconfig context, with --from-cluster (default: the current one).
        #[arg(long, requires = "from_cluster")]
        context: Option<String>,
    },
    /// Seal a Kubernetes Secret into a SealedSecret for one or more recipients.
    #[command(after_help = format!("{SEAL_HELP}\n\n{EXIT_CODES}"))]
    Seal(SealArgs),
    /// Print the Secret of a SealedSecret (recovery; prints plaintext).
    #[command(after_help = format!("{UNSEAL_HELP}\n\n{EXIT_CODES}"))]
    Unseal(OpenArgs),
    /// Check that every key of a SealedSecret unseals for its scope, printing key names only.
    #[command(after_help = format!("{VERIFY_HELP}\n\n{EXIT_CODES}"))]
    Verify(OpenArgs),
    /// Re-seal a SealedSecret for new recipients, keeping the scope verified in each value.
    #[command(after_help = format!("{RESEAL_HELP}\n\n{EXIT_CODES}"))]
    Reseal(ResealArgs),
}

/// Recipients given on the command line.
#[derive(Debug, clap::Args)]
pub struct RecipientArgs {
    /// An age recipient (age1...); repeat for several clusters.
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    recipients: Vec<String>,
    /// A file of recipients, one per line, `#` comments allowed.
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    recipients_files: Vec<PathBuf>,
}

/// Arguments of `seal`.
#[derive(Debug, clap::Args)]
pub struct SealArgs {
    /// The Secret manifest (YAML or JSON); `-` for stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE", default_value = "-")]
    file: PathBuf,
    #[command(flatten)]
    recipients: RecipientArgs,
    /// Where the values may be unsealed [default: strict, or the scope of --merge-into].
    #[arg(long, value_name = "SCOPE")]
    scope: Option<Scope>,
    /// Namespace of the Secret, when its manifest has none.
    #[arg(short = 'n', long, value_name = "NS")]
    namespace: Option<String>,
    /// Name of the Secret, when its manifest has none.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Add or replace the Secret's keys in this existing SealedSecret (no identity needed).
    #[arg(long, value_name = "FILE")]
    merge_into: Option<PathBuf>,
    /// With --merge-into, write the merged object back to that file instead of stdout.
    #[arg(short = 'i', long = "in-place", requires = "merge_into")]
    in_place: bool,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: Format,
}

/// Arguments of `unseal` and `verify`.
#[derive(Debug, clap::Args)]
pub struct OpenArgs {
    /// An identity file (repeat to try several).
    #[arg(short = 'i', long = "identity", value_name = "FILE", required = true)]
    identities: Vec<PathBuf>,
    /// Unseal as if applied in this namespace [default: the object's].
    #[arg(short = 'n', long, value_name = "NS")]
    namespace: Option<String>,
    /// Unseal as if applied under this name [default: the object's].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Output format (unseal only).
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: Format,
    /// The SealedSecret file; `-` for stdin.
    file: PathBuf,
}

/// Arguments of `reseal`.
#[derive(Debug, clap::Args)]
pub struct ResealArgs {
    /// An identity file that opens the current values (repeat to try several).
    #[arg(short = 'i', long = "identity", value_name = "FILE", required = true)]
    identities: Vec<PathBuf>,
    #[command(flatten)]
    recipients: RecipientArgs,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: Format,
    /// The SealedSecret file; `-` for stdin.
    file: PathBuf,
}

/// A failed command: its exit code and its message (never a plaintext).
pub(super) struct Failure {
    pub(super) code: u8,
    pub(super) message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    pub(super) fn usage_text(message: impl Into<String>) -> Self {
        Self::usage(message)
    }

    pub(super) fn other(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_OTHER,
            message: message.into(),
        }
    }

    /// A library error, prefixed with `context` (a file name) when it does not name it.
    fn sealed(context: Option<&str>, err: &sealed::Error) -> Self {
        use sealed::Error as E;
        let code = match err {
            E::ReadManifest { .. }
            | E::ManifestTooLarge { .. }
            | E::MissingField { .. }
            | E::InvalidField { .. }
            | E::MalformedValue { .. }
            | E::Envelope { .. } => EXIT_MALFORMED,
            E::ScopeMismatch { .. } | E::InconsistentScopes { .. } => EXIT_SCOPE_MISMATCH,
            E::NoMatchingIdentity { .. } => EXIT_NO_IDENTITY,
            E::NoRecipients { .. } | E::NoIdentities { .. } => EXIT_USAGE,
            _ => EXIT_OTHER,
        };
        let text = chain(err);
        let message = match context {
            Some(file) if !text.starts_with(file) => format!("{file}: {text}"),
            _ => text,
        };
        Self { code, message }
    }
}

impl From<keys::Error> for Failure {
    fn from(err: keys::Error) -> Self {
        use keys::Error as E;
        let code = match err {
            E::FileTooLarge { .. }
            | E::NotText { .. }
            | E::InvalidIdentity { .. }
            | E::NoIdentity { .. }
            | E::InvalidRecipient { .. } => EXIT_MALFORMED,
            _ => EXIT_OTHER,
        };
        Self {
            code,
            message: chain(&err),
        }
    }
}

/// An error with its causes, joined by `: `.
pub(super) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Runs one sealing subcommand.
pub fn run(cmd: Command) -> ExitCode {
    let (name, result) = match cmd {
        Command::Keygen { output } => ("keygen", keygen(output.as_deref())),
        Command::Recipient {
            file,
            from_cluster,
            namespace,
            kubeconfig,
            context,
        } => (
            "recipient",
            match file {
                Some(file) if !from_cluster => recipient(&file),
                _ => recipient_from_cluster(kubeconfig.as_deref(), context.as_deref(), &namespace),
            },
        ),
        Command::Seal(args) => ("seal", seal(&args)),
        Command::Unseal(args) => ("unseal", unseal(&args)),
        Command::Verify(args) => ("verify", verify(&args)),
        Command::Reseal(args) => ("reseal", reseal(&args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // A closed stdout ends the command quietly.
            if !failure.message.is_empty() {
                eprintln!("tether-seal {name}: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

fn keygen(output: Option<&Path>) -> Result<(), Failure> {
    let identity = Identity::generate();
    match output {
        Some(path) => keys::write_identity_file(path, &identity)?,
        None => {
            let text = identity.identity_file_text(std::time::SystemTime::now());
            write_stdout(text.expose_secret())?;
        }
    }
    eprintln!("Public key: {}", identity.recipient());
    Ok(())
}

fn recipient(file: &Path) -> Result<(), Failure> {
    let identities = keys::read_identity_file(file)?;
    let mut out = String::new();
    for identity in &identities {
        out.push_str(&identity.recipient().to_string());
        out.push('\n');
    }
    write_stdout(&out)
}

fn recipient_from_cluster(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    namespace: &str,
) -> Result<(), Failure> {
    let text = super::cluster::published_recipient(kubeconfig, context, namespace)
        .map_err(Failure::other)?;
    let recipient: keys::Recipient = text.trim().parse().map_err(|_| Failure {
        code: EXIT_MALFORMED,
        message: format!(
            "the recipient published in {namespace}/tether-recipient is not an age1... recipient"
        ),
    })?;
    write_stdout(&format!("{recipient}\n"))
}

fn seal(args: &SealArgs) -> Result<(), Failure> {
    let recipients = read_recipients(&args.recipients)?;
    let source = display(&args.file);
    let text = read_input(&args.file)?;
    let mut secret = UnsealedSecret::from_manifest(&text, &source)
        .map_err(|e| Failure::sealed(Some(&source), &e))?;
    drop(text);
    if let Some(ns) = apply_override(
        &source,
        "namespace",
        secret.namespace(),
        args.namespace.as_deref(),
    )? {
        secret.set_namespace(ns);
    }
    if let Some(n) = apply_override(&source, "name", secret.name(), args.name.as_deref())? {
        secret.set_name(n);
    }

    let Some(target_path) = &args.merge_into else {
        let sealed = sealed::seal(&secret, &recipients, args.scope.unwrap_or_default())
            .map_err(|e| Failure::sealed(Some(&source), &e))?;
        return write_stdout(&render(&sealed, args.output)?);
    };

    let target_name = display(target_path);
    let target_text = read_input(target_path)?;
    let mut target = SealedSecret::from_text(&target_text, &target_name)
        .map_err(|e| Failure::sealed(Some(&target_name), &e))?;
    // The Secret takes the target's place unless it names another one, which merge refuses.
    if let (None, Some(ns)) = (secret.namespace(), &target.metadata.namespace) {
        secret.set_namespace(ns.clone());
    }
    if let (None, Some(n)) = (secret.name(), &target.metadata.name) {
        secret.set_name(n.clone());
    }
    let scope = args.scope.unwrap_or(target.spec.scope);
    let update = sealed::seal(&secret, &recipients, scope)
        .map_err(|e| Failure::sealed(Some(&source), &e))?;
    sealed::merge_into(&mut target, &update)
        .map_err(|e| Failure::sealed(Some(&target_name), &e))?;
    let rendered = render(&target, args.output)?;
    if args.in_place {
        write_in_place(target_path, &rendered)
    } else {
        write_stdout(&rendered)
    }
}

fn unseal(args: &OpenArgs) -> Result<(), Failure> {
    let (source, sealed, identities, namespace, name) = open(args)?;
    let secret = sealed::unseal(&sealed, &identities, &namespace, &name)
        .map_err(|e| Failure::sealed(Some(&source), &e))?;
    // The recovery command's one purpose is to print the plaintext Secret.
    let json = secret.expose_secret_json();
    let text = Zeroizing::new(match args.output {
        Format::Json => serde_json::to_string_pretty(&json)
            .map(|s| s + "\n")
            .map_err(|e| Failure::other(format!("cannot write the Secret: {e}")))?,
        Format::Yaml => serde_saphyr::to_string(&json)
            .map_err(|e| Failure::other(format!("cannot write the Secret: {e}")))?,
    });
    write_stdout(&text)
}

fn verify(args: &OpenArgs) -> Result<(), Failure> {
    let (source, sealed, identities, namespace, name) = open(args)?;
    let report = sealed::verify(&sealed, &identities, &namespace, &name)
        .map_err(|e| Failure::sealed(Some(&source), &e))?;
    let object = sealed.object_ref();
    if !report.ok.is_empty() {
        write_stdout(&format!(
            "{source}: {object}: ok: {}\n",
            report.ok.join(", ")
        ))?;
    }
    let mut first = None;
    for (key, err) in &report.failed {
        let failure = Failure::sealed(Some(&source), err);
        eprintln!("tether-seal verify: {}", failure.message);
        first.get_or_insert((key.clone(), failure.code));
    }
    match first {
        None => Ok(()),
        Some((_, code)) => {
            let names: Vec<&str> = report.failed.iter().map(|(k, _)| k.as_str()).collect();
            Err(Failure {
                code,
                message: format!("{source}: {object}: failed: {}", names.join(", ")),
            })
        }
    }
}

fn reseal(args: &ResealArgs) -> Result<(), Failure> {
    let recipients = read_recipients(&args.recipients)?;
    let identities = read_identities(&args.identities)?;
    let source = display(&args.file);
    let text = read_input(&args.file)?;
    let sealed =
        SealedSecret::from_text(&text, &source).map_err(|e| Failure::sealed(Some(&source), &e))?;
    let resealed = sealed::reseal(&sealed, &identities, &recipients)
        .map_err(|e| Failure::sealed(Some(&source), &e))?;
    write_stdout(&render(&resealed, args.output)?)
}

/// The parts every opening command needs: file name, object, identities, and where the object
/// is taken to be applied.
type Opened = (String, SealedSecret, Vec<Identity>, String, String);

fn open(args: &OpenArgs) -> Result<Opened, Failure> {
    let identities = read_identities(&args.identities)?;
    let source = display(&args.file);
    let text = read_input(&args.file)?;
    let sealed =
        SealedSecret::from_text(&text, &source).map_err(|e| Failure::sealed(Some(&source), &e))?;
    let namespace = args
        .namespace
        .clone()
        .or_else(|| sealed.metadata.namespace.clone())
        .unwrap_or_default();
    let Some(name) = args.name.clone().or_else(|| sealed.metadata.name.clone()) else {
        return Err(Failure {
            code: EXIT_MALFORMED,
            message: format!("{source}: metadata.name is required (or give --name)"),
        });
    };
    Ok((source, sealed, identities, namespace, name))
}

/// A flag that fills a field the manifest lacks; a flag that contradicts it is a usage error.
fn apply_override<'a>(
    source: &str,
    field: &str,
    current: Option<&str>,
    flag: Option<&'a str>,
) -> Result<Option<&'a str>, Failure> {
    match (current, flag) {
        (Some(c), Some(f)) if c != f => Err(Failure::usage(format!(
            "{source}: metadata.{field} is {c:?} but --{field} says {f:?}"
        ))),
        (None, Some(f)) => Ok(Some(f)),
        _ => Ok(None),
    }
}

fn read_recipients(args: &RecipientArgs) -> Result<Vec<Recipient>, Failure> {
    let mut recipients = Vec::new();
    for text in &args.recipients {
        recipients.push(Recipient::parse(text, "--recipient")?);
    }
    for file in &args.recipients_files {
        recipients.extend(keys::read_recipients_file(file)?);
    }
    if recipients.is_empty() {
        return Err(Failure::usage(
            "no recipient: give --recipient age1... or --recipients-file FILE",
        ));
    }
    Ok(recipients)
}

fn read_identities(files: &[PathBuf]) -> Result<Vec<Identity>, Failure> {
    let mut identities = Vec::new();
    for file in files {
        identities.extend(keys::read_identity_file(file)?);
    }
    Ok(identities)
}

fn render(sealed: &SealedSecret, format: Format) -> Result<String, Failure> {
    let text = match format {
        Format::Yaml => sealed.to_yaml(),
        Format::Json => sealed.to_json().map(|s| s + "\n"),
    };
    text.map_err(|e| Failure::sealed(None, &e))
}
