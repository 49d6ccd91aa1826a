//! `tether-seal kubeseal`: Bitnami SealedSecrets with kubeseal's flags, so scripts written for
//! `kubeseal` keep working with `tether-seal kubeseal` in its place. Sealing needs only the
//! controller's certificate (`--cert FILE` or a URL such as the agent's
//! `/api/v1/bitnami-cert`); `--re-encrypt`, `--validate` and `--recovery-unseal` open values
//! with the private keys given by `--recovery-private-key` (the controller's `tls.key`), since
//! there is no controller to ask.
//!
//! Exit codes as the other sealing commands: 1 other failure, 2 usage, 3 malformed input,
//! 4 a value that no key opens (wrong key, scope, namespace or name; truncated or altered).
//! Messages name the object and the field, never a value.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tether_seal::bitnami::{self, BitnamiSealedSecret, PrivateKey, PublicKey, Scope};
use tether_seal::sealed::UnsealedSecret;
use zeroize::Zeroizing;

use super::seal_cmd::{
    EXIT_MALFORMED, EXIT_USAGE, Failure, chain, display, read_input, write_in_place, write_stdout,
};

/// Exit code when no key opens a value.
const EXIT_NO_KEY: u8 = 4;
/// The largest certificate read from a file or URL.
const MAX_CERT_BYTES: u64 = 256 * 1024;

const HELP: &str = "\
Examples (kubeseal's flags):
  kubectl create secret generic db -n shop --from-literal=password=s3cret --dry-run=client -o yaml \\
      | tether-seal kubeseal --cert https://tether.example/api/v1/bitnami-cert -o yaml > db.yaml
  echo -n s3cret | tether-seal kubeseal --raw --cert cert.pem --namespace shop --name db
  tether-seal kubeseal --cert cert.pem --merge-into db.yaml < token-secret.yaml
  tether-seal kubeseal --re-encrypt --recovery-private-key old.key --cert new.pem < db.yaml
  tether-seal kubeseal --validate --recovery-private-key tls.key < db.yaml

Exit codes: 0 success, 1 other failure, 2 usage, 3 malformed input, 4 no key opens a value";

/// Output formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// JSON (kubeseal's default).
    Json,
    /// YAML.
    Yaml,
}

/// kubeseal's flags.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// The controller's certificate: a PEM file, or an http(s) URL (the agent serves it at
    /// /api/v1/bitnami-cert).
    #[arg(long, value_name = "FILE|URL")]
    cert: Option<String>,
    /// strict (default), namespace-wide or cluster-wide.
    #[arg(long, value_parser = Scope::parse)]
    scope: Option<Scope>,
    /// Seal one value (from --from-file, else stdin) and print its ciphertext.
    #[arg(long)]
    raw: bool,
    /// The Secret's name (with --raw; strict scope needs it).
    #[arg(long)]
    name: Option<String>,
    /// The namespace (with --raw, or for a Secret without one).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// With --raw: the file holding the value.
    #[arg(long, value_name = "FILE", requires = "raw")]
    from_file: Option<PathBuf>,
    /// Seal the Secret's values into this existing SealedSecret file, in place.
    #[arg(long, value_name = "FILE")]
    merge_into: Option<PathBuf>,
    /// Re-encrypt a SealedSecret for the newest key (--cert, else the first private key).
    #[arg(long)]
    re_encrypt: bool,
    /// Check that every value of a SealedSecret opens; prints nothing on success.
    #[arg(long)]
    validate: bool,
    /// Print the Secret of a SealedSecret (prints plaintext).
    #[arg(long)]
    recovery_unseal: bool,
    /// The controller's private keys (PEM; comma-separated or repeated), newest first.
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    recovery_private_key: Vec<PathBuf>,
    /// Print the certificate of --cert.
    #[arg(long)]
    fetch_cert: bool,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value = "json")]
    format: Format,
    /// The input manifest (`-`: stdin).
    #[arg(short = 'f', long = "secret-file", default_value = "-")]
    secret_file: PathBuf,
    /// Write the output to this file instead of stdout.
    #[arg(short = 'w', long = "sealed-secret-file")]
    sealed_secret_file: Option<PathBuf>,
}

/// Runs `tether-seal kubeseal`.
pub fn run(args: Args) -> ExitCode {
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("tether-seal kubeseal: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

fn dispatch(args: &Args) -> Result<(), Failure> {
    if args.fetch_cert {
        return output(args, &read_cert_text(args)?);
    }
    if args.raw {
        return raw(args);
    }
    if args.re_encrypt || args.validate || args.recovery_unseal {
        return open_mode(args);
    }
    let key = cert(args)?;
    let text = read_input(&args.secret_file)?;
    let mut secret =
        UnsealedSecret::from_manifest(&text, &display(&args.secret_file)).map_err(|e| Failure {
            code: EXIT_MALFORMED,
            message: chain(&e),
        })?;
    if secret.namespace().is_none_or(str::is_empty)
        && let Some(ns) = &args.namespace
    {
        secret.set_namespace(ns.clone());
    }
    if let Some(target) = &args.merge_into {
        let existing_text = read_input(target)?;
        let mut existing = read_value(&existing_text, &display(target))?;
        bitnami::merge_into(&mut existing, &secret, &key).map_err(failure)?;
        return write_in_place(target, &render(&existing, args.format)?);
    }
    let sealed = bitnami::seal_secret(&secret, &key, args.scope).map_err(failure)?;
    output(args, &render(&sealed, args.format)?)
}

fn raw(args: &Args) -> Result<(), Failure> {
    let scope = args.scope.unwrap_or_default();
    let namespace = args.namespace.as_deref().unwrap_or("");
    let name = args.name.as_deref().unwrap_or("");
    if scope != Scope::ClusterWide && namespace.is_empty() {
        return Err(Failure::usage_text(
            "--raw needs --namespace unless --scope cluster-wide",
        ));
    }
    if scope == Scope::Strict && name.is_empty() {
        return Err(Failure::usage_text(
            "--raw with the strict scope needs --name",
        ));
    }
    let key = cert(args)?;
    let path = args.from_file.clone().unwrap_or_else(|| PathBuf::from("-"));
    let value = read_bytes(&path)?;
    let sealed = bitnami::seal_raw(&key, &value, scope, namespace, name).map_err(failure)?;
    output(args, &sealed)
}

fn open_mode(args: &Args) -> Result<(), Failure> {
    if args.recovery_private_key.is_empty() {
        return Err(Failure::usage_text(
            "--re-encrypt, --validate and --recovery-unseal need --recovery-private-key (the controller's tls.key)",
        ));
    }
    let mut keys = Vec::new();
    for path in &args.recovery_private_key {
        let text = read_input(path)?;
        keys.extend(
            PrivateKey::from_pem(&text, &display(path)).map_err(|e| Failure {
                code: EXIT_MALFORMED,
                message: chain(&e),
            })?,
        );
    }
    let text = read_input(&args.secret_file)?;
    let manifest = read_value(&text, &display(&args.secret_file))?;
    let namespace = args.namespace.clone().unwrap_or_default();
    if args.re_encrypt {
        let new_key = match &args.cert {
            Some(_) => cert(args)?,
            None => keys
                .first()
                .map(|k| PublicKey::from_pem(&k.public_key().to_pem(), k.name()))
                .transpose()
                .map_err(|e| Failure::other(chain(&e)))?
                .ok_or_else(|| Failure::usage_text("no key"))?,
        };
        let out = bitnami::re_encrypt(&manifest, &keys, &new_key, &namespace).map_err(failure)?;
        return output(args, &render(&out, args.format)?);
    }
    let parsed = BitnamiSealedSecret::from_value(&manifest, &namespace).map_err(failure)?;
    let ns = parsed.namespace.clone().unwrap_or(namespace);
    let opened = bitnami::unseal(&parsed, &keys, &ns).map_err(failure)?;
    if args.validate {
        return Ok(());
    }
    let mut secret = UnsealedSecret::new(opened.name.clone()).with_namespace(ns);
    if let Some(t) = &opened.type_ {
        secret = secret.with_type(t.clone());
    }
    for (k, v) in opened.into_data() {
        secret.insert(k, v);
    }
    // The binary's allocator wipes every freed block, this JSON included.
    let json = secret.expose_secret_json();
    output(args, &render(&json, args.format)?)
}

fn failure(err: bitnami::Error) -> Failure {
    let code = match &err {
        bitnami::Error::DecryptFailed { .. } => EXIT_NO_KEY,
        bitnami::Error::InvalidField { .. } | bitnami::Error::TemplateFailed { .. } => {
            EXIT_MALFORMED
        }
        bitnami::Error::NoKeys { .. } => EXIT_USAGE,
        bitnami::Error::EncryptFailed { .. } => 1,
    };
    Failure {
        code,
        message: chain(&err),
    }
}

fn read_value(text: &str, source: &str) -> Result<serde_json::Value, Failure> {
    let parsed = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    };
    parsed.map_err(|reason| Failure {
        code: EXIT_MALFORMED,
        message: format!("{source}: cannot read the manifest: {reason}"),
    })
}

fn read_bytes(path: &Path) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let mut bytes = Zeroizing::new(Vec::new());
    let read = if path == Path::new("-") {
        std::io::stdin().lock().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes))
    };
    read.map_err(|e| Failure::other(format!("cannot read {}: {e}", display(path))))?;
    Ok(bytes)
}

fn read_cert_text(args: &Args) -> Result<String, Failure> {
    let Some(cert) = &args.cert else {
        return Err(Failure::usage_text(
            "--cert is required (a PEM file, or the agent's /api/v1/bitnami-cert URL)",
        ));
    };
    if cert.starts_with("http://") || cert.starts_with("https://") {
        let fetch = || -> Result<String, String> {
            let client = reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(|e| e.to_string())?;
            let response = client
                .get(cert)
                .send()
                .and_then(reqwest::blocking::Response::error_for_status)
                .map_err(|e| e.to_string())?;
            let mut text = String::new();
            response
                .take(MAX_CERT_BYTES)
                .read_to_string(&mut text)
                .map_err(|e| e.to_string())?;
            Ok(text)
        };
        return fetch()
            .map_err(|e| Failure::other(format!("cannot fetch the certificate {cert}: {e}")));
    }
    Ok(read_input(Path::new(cert))?.to_string())
}

fn cert(args: &Args) -> Result<PublicKey, Failure> {
    let text = read_cert_text(args)?;
    let source = args.cert.as_deref().unwrap_or("--cert");
    PublicKey::from_pem(&text, source).map_err(|e| Failure {
        code: EXIT_MALFORMED,
        message: chain(&e),
    })
}

fn render(value: &serde_json::Value, format: Format) -> Result<String, Failure> {
    match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| Failure::other(e.to_string())),
        Format::Yaml => serde_saphyr::to_string(value).map_err(|e| Failure::other(e.to_string())),
    }
}

fn output(args: &Args, text: &str) -> Result<(), Failure> {
    match &args.sealed_secret_file {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Failure::other(format!("cannot write {}: {e}", path.display()))),
        None => write_stdout(text),
    }
}
