//! The sops-like subcommands: encrypt, decrypt, edit, rotate, updatekeys, set, filestatus.
//! Master keys other than age are handled by [`super::sops_keys`].
//!
//! Exit codes (kept from sops where it has one):
//! - 0: success;
//! - 1: any other error (unreadable file, invalid input, bad configuration);
//! - 2: usage error (bad flags or arguments);
//! - 25: a value failed authentication (a ciphertext byte was changed, or values were moved);
//! - 51: MAC mismatch (a value was changed, added or removed after encryption);
//! - 128: no identity can decrypt the data key (or too few key groups for the threshold);
//! - 200: `edit` ended without changes;
//! - 203: `encrypt` was given a file that is already encrypted.
//!
//! Error messages name the file and the key path, never a value.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tether_seal::sops::keys::Services;
use tether_seal::sops::{
    self, Decrypted, EncryptOptions, EncryptedFile, Error, Format, Identities, Node, config, tree,
};

use super::sops_keyargs::{self, KeyArgs, RotateArgs, RuleArgs};
use super::sops_keys::CliKeys;
use zeroize::Zeroizing;

const AFTER_HELP_CODES: &str = "Exit codes: 0 ok, 1 error, 2 usage, 25 a value failed authentication \
(changed or moved ciphertext), 51 MAC mismatch, 128 no matching identity, 200 edit without changes, \
203 file already encrypted.";

/// Identity options shared by the subcommands that decrypt.
#[derive(Debug, clap::Args)]
pub struct IdentityArgs {
    /// An age identity file or unencrypted SSH private key (repeatable). SOPS_AGE_KEY,
    /// SOPS_AGE_KEY_FILE, $XDG_CONFIG_HOME/sops/age/keys.txt and SOPS_AGE_SSH_PRIVATE_KEY_FILE
    /// (else ~/.ssh/id_ed25519 or id_rsa) are also used; PGP, KMS and Transit keys as sops
    /// finds them.
    #[arg(long = "identity", value_name = "FILE")]
    identities: Vec<PathBuf>,
}

/// Input/output type options.
#[derive(Debug, clap::Args)]
pub struct TypeArgs {
    /// The input format (yaml, json, dotenv, binary); by default from the file extension.
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// The output format; by default the input format.
    #[arg(long, value_name = "TYPE")]
    output_type: Option<String>,
}

/// Subcommands that work on SOPS files.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Encrypt a file for age, PGP, AWS KMS or Transit keys, like `sops --encrypt`.
    #[command(after_help = format!("Example:\n  tether-seal encrypt --age age1... --encrypted-regex '^(data|stringData)$' secret.yaml > secret.enc.yaml\n\n{AFTER_HELP_CODES}"))]
    Encrypt {
        #[command(flatten)]
        keys: Box<KeyArgs>,
        #[command(flatten)]
        rules: RuleArgs,
        /// Compute the MAC over encrypted values only.
        #[arg(long)]
        mac_only_encrypted: bool,
        /// With several key groups, how many are needed to decrypt.
        #[arg(long, value_name = "N")]
        shamir_secret_sharing_threshold: Option<usize>,
        #[command(flatten)]
        types: TypeArgs,
        /// Write the result back to the file instead of stdout.
        #[arg(short = 'i', long)]
        in_place: bool,
        /// The file (`-` for stdin).
        file: PathBuf,
    },
    /// Decrypt a file and print it, like `sops --decrypt`.
    #[command(after_help = format!("Example:\n  tether-seal decrypt --identity key.txt --extract '[\"data\"][\"password\"]' secret.enc.yaml\n\n{AFTER_HELP_CODES}"))]
    Decrypt {
        #[command(flatten)]
        ids: IdentityArgs,
        /// Print only the value at this path, e.g. '["data"]["password"]'.
        #[arg(long, value_name = "PATH")]
        extract: Option<String>,
        #[command(flatten)]
        types: TypeArgs,
        /// Write the plaintext back to the file instead of stdout.
        #[arg(short = 'i', long)]
        in_place: bool,
        /// The file (`-` for stdin).
        file: PathBuf,
    },
    /// Edit an encrypted file in $EDITOR; unchanged values keep their ciphertext.
    #[command(after_help = format!("Example:\n  EDITOR=vim tether-seal edit secret.enc.yaml\n\n{AFTER_HELP_CODES}"))]
    Edit {
        #[command(flatten)]
        ids: IdentityArgs,
        /// The encrypted file.
        file: PathBuf,
    },
    /// Re-encrypt a file with a new data key (optionally changing recipients).
    #[command(after_help = format!("Example:\n  tether-seal rotate -i --add-age age1new... --rm-age age1old... secret.enc.yaml\n\n{AFTER_HELP_CODES}"))]
    Rotate {
        #[command(flatten)]
        ids: IdentityArgs,
        #[command(flatten)]
        change: Box<RotateArgs>,
        /// Write the result back to the file instead of stdout.
        #[arg(short = 'i', long)]
        in_place: bool,
        /// The encrypted file.
        file: PathBuf,
    },
    /// Give a file the keys of its `.sops.yaml` creation rule (same data key), like
    /// `sops updatekeys`; prints the keys added and removed.
    #[command(after_help = format!("Example:\n  tether-seal updatekeys -y secret.enc.yaml\n\n{AFTER_HELP_CODES}"))]
    Updatekeys {
        #[command(flatten)]
        ids: IdentityArgs,
        /// Apply without asking (accepted for sops compatibility; nothing is asked).
        #[arg(short = 'y', long)]
        yes: bool,
        /// The encrypted file (changed in place).
        file: PathBuf,
    },
    /// Set one value in an encrypted file (VALUE is JSON, like sops).
    #[command(after_help = format!("Example:\n  tether-seal set secret.enc.yaml '[\"data\"][\"password\"]' '\"new-value\"'\n\n{AFTER_HELP_CODES}"))]
    Set {
        #[command(flatten)]
        ids: IdentityArgs,
        /// Read the JSON value from the file named by VALUE.
        #[arg(long)]
        value_file: bool,
        /// The encrypted file (changed in place).
        file: PathBuf,
        /// The path, e.g. '["data"]["password"]'.
        path: String,
        /// The value as JSON (or a file name with --value-file).
        value: String,
    },
    /// Print whether a file is encrypted, as `{"encrypted":true}`.
    #[command(after_help = format!("Example:\n  tether-seal filestatus secret.enc.yaml\n\n{AFTER_HELP_CODES}"))]
    Filestatus {
        /// The input format; by default from the file extension.
        #[arg(long, value_name = "TYPE")]
        input_type: Option<String>,
        /// The file.
        file: PathBuf,
    },
}

/// A failure with its exit code.
pub(super) struct Failure {
    code: u8,
    message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match e {
            Error::AuthenticationFailed { .. } => 25,
            Error::MacMismatch { .. } => 51,
            Error::NoMatchingIdentity { .. } | Error::NotEnoughKeyGroups { .. } => 128,
            _ => 1,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

pub(super) fn fail(code: u8, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

type Outcome = Result<(), Failure>;

/// Runs one SOPS subcommand.
pub fn run(cmd: Command) -> ExitCode {
    let result = match cmd {
        Command::Encrypt {
            keys,
            rules,
            mac_only_encrypted,
            shamir_secret_sharing_threshold,
            types,
            in_place,
            file,
        } => encrypt(
            &keys,
            &rules,
            mac_only_encrypted,
            shamir_secret_sharing_threshold,
            &types,
            in_place,
            &file,
        ),
        Command::Decrypt {
            ids,
            extract,
            types,
            in_place,
            file,
        } => decrypt(&ids, extract.as_deref(), &types, in_place, &file),
        Command::Edit { ids, file } => edit(&ids, &file),
        Command::Rotate {
            ids,
            change,
            in_place,
            file,
        } => rotate(&ids, &change, in_place, &file),
        Command::Updatekeys { ids, yes: _, file } => updatekeys(&ids, &file),
        Command::Set {
            ids,
            value_file,
            file,
            path,
            value,
        } => set(&ids, value_file, &file, &path, &value),
        Command::Filestatus { input_type, file } => filestatus(input_type.as_deref(), &file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // A closed stdout ends the command quietly.
            if !f.message.is_empty() {
                eprintln!("tether-seal: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

fn name(file: &Path) -> String {
    file.display().to_string()
}

fn read_input(file: &Path) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let mut buf = Zeroizing::new(Vec::new());
    if file == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| fail(1, format!("<stdin>: {e}")))?;
    } else {
        let mut f =
            std::fs::File::open(file).map_err(|e| fail(1, format!("{}: {e}", name(file))))?;
        f.read_to_end(&mut buf)
            .map_err(|e| fail(1, format!("{}: {e}", name(file))))?;
    }
    Ok(buf)
}

fn format_of(explicit: Option<&str>, file: &Path) -> Result<Format, Failure> {
    match explicit {
        Some(t) => Format::from_name(t).ok_or_else(|| {
            fail(
                2,
                format!("unknown type {t:?} (yaml, json, dotenv, binary)"),
            )
        }),
        None => Ok(Format::from_path(file)),
    }
}

/// Writes the output to stdout, or atomically over the file with `-i`.
fn write_output(bytes: &[u8], in_place: bool, file: &Path) -> Outcome {
    if in_place && file != Path::new("-") {
        let err = |e: std::io::Error| fail(1, format!("{}: {e}", name(file)));
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
        tmp.write_all(bytes).map_err(err)?;
        if let Ok(meta) = std::fs::metadata(file) {
            let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
        }
        tmp.persist(file).map_err(|e| err(e.error))?;
        Ok(())
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|e| {
                if super::closed_pipe(&e) {
                    fail(super::EXIT_CLOSED_PIPE, "")
                } else {
                    fail(1, format!("<stdout>: {e}"))
                }
            })
    }
}

/// age identities from the flags and the environment, and the other key kinds.
struct KeySet {
    ids: Identities,
    cli: CliKeys,
}

impl KeySet {
    fn services(&self) -> Services<'_> {
        Services(vec![&self.ids, &self.cli])
    }
}

fn keyset(args: &IdentityArgs) -> Result<KeySet, Failure> {
    Ok(KeySet {
        ids: identities(args)?,
        cli: CliKeys::default(),
    })
}

fn identities(args: &IdentityArgs) -> Result<Identities, Failure> {
    let mut ids = Identities::from_environment()?;
    for f in &args.identities {
        ids.add_file(f)?;
    }
    Ok(ids)
}

fn encrypt(
    keys: &KeyArgs,
    rules: &RuleArgs,
    mac_only: bool,
    threshold: Option<usize>,
    types: &TypeArgs,
    in_place: bool,
    file: &Path,
) -> Outcome {
    let n = name(file);
    let input_format = format_of(types.input_type.as_deref(), file)?;
    let output_format = match &types.output_type {
        Some(t) => format_of(Some(t), file)?,
        None => input_format,
    };
    let bytes = read_input(file)?;
    if sops::is_encrypted(&bytes, input_format) {
        return Err(fail(203, format!("{n}: the file is already encrypted")));
    }
    let settings = match config::find_config(file) {
        Some(cfg) => {
            config::creation_settings(&cfg, file, &keys.context()?).map_err(Failure::from)?
        }
        None => None,
    };
    let key_groups = match keys.keys()? {
        Some(list) => vec![list],
        None => settings
            .as_ref()
            .map(|s| s.key_groups.clone())
            .unwrap_or_default(),
    };
    let rule = match sops_keyargs::rule_from_args(rules)? {
        Some(r) => r,
        None => settings
            .as_ref()
            .and_then(|s| s.rule.clone())
            .unwrap_or_default(),
    };
    let options = EncryptOptions {
        key_groups,
        shamir_threshold: threshold
            .or(settings.as_ref().map(|s| s.shamir_threshold))
            .unwrap_or(0),
        rule,
        mac_only_encrypted: mac_only || settings.as_ref().is_some_and(|s| s.mac_only_encrypted),
    };
    let tree = sops::parse_plain(&bytes, input_format).map_err(|e| e.in_file(&n))?;
    let enc = sops::encrypt_with(tree, &options, &CliKeys::default()).map_err(|e| e.in_file(&n))?;
    let out = enc.to_bytes(output_format).map_err(|e| e.in_file(&n))?;
    write_output(&out, in_place, file)
}

fn open(ids: &IdentityArgs, file: &Path, format: Format) -> Result<Decrypted, Failure> {
    let n = name(file);
    let bytes = read_input(file)?;
    let keys = keyset(ids)?;
    let enc = sops::parse_encrypted(&bytes, format).map_err(|e| e.in_file(&n))?;
    Ok(enc.decrypt(&keys.services()).map_err(|e| e.in_file(&n))?)
}

fn decrypt(
    ids: &IdentityArgs,
    extract: Option<&str>,
    types: &TypeArgs,
    in_place: bool,
    file: &Path,
) -> Outcome {
    let n = name(file);
    let input_format = format_of(types.input_type.as_deref(), file)?;
    let output_format = match &types.output_type {
        Some(t) => format_of(Some(t), file)?,
        None => input_format,
    };
    let plain = open(ids, file, input_format)?;
    let out = match extract {
        None => plain.to_bytes(output_format).map_err(|e| e.in_file(&n))?,
        Some(p) => {
            let path = tree::parse_path(p)
                .ok_or_else(|| fail(2, format!("invalid --extract path {p:?}")))?;
            let node = plain
                .tree
                .get(&path)
                .ok_or_else(|| fail(1, format!("{n}: {p}: no such key")))?;
            extract_bytes(node, output_format).map_err(|e| e.in_file(&n))?
        }
    };
    write_output(&out, in_place, file)
}

fn extract_bytes(node: &Node, format: Format) -> Result<Zeroizing<Vec<u8>>, Error> {
    Ok(Zeroizing::new(match (node, format) {
        (Node::Scalar(sops::Scalar::Str(s)), _) => s.expose().to_vec(),
        (Node::Map(b), _) => return sops::emit_plain(&sops::Tree::single(b.duplicate()), format),
        (_, Format::Json) => {
            serde_json::to_vec_pretty(&sops::json::to_value(node)?).unwrap_or_default()
        }
        _ => sops::yaml_emit::emit_value(node).into_bytes(),
    }))
}

fn edit(ids: &IdentityArgs, file: &Path) -> Outcome {
    let n = name(file);
    let format = Format::from_path(file);
    let mut plain = open(ids, file, format)?;
    let text = plain.to_bytes(format).map_err(|e| e.in_file(&n))?;
    let dir = tempfile::Builder::new()
        .prefix("tether-seal-edit")
        .tempdir()
        .map_err(|e| fail(1, format!("temporary folder: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700));
    }
    let base = file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.path().join(base);
    let result = (|| -> Outcome {
        std::fs::write(&tmp, &text[..]).map_err(|e| fail(1, format!("temporary file: {e}")))?;
        let editor = std::env::var("SOPS_EDITOR")
            .or_else(|_| std::env::var("EDITOR"))
            .unwrap_or_else(|_| "vi".into());
        let mut parts = editor.split_whitespace();
        let program = parts.next().unwrap_or("vi");
        let status = std::process::Command::new(program)
            .args(parts)
            .arg(&tmp)
            .status()
            .map_err(|e| fail(1, format!("running editor {program:?}: {e}")))?;
        if !status.success() {
            return Err(fail(1, format!("editor {program:?} exited with {status}")));
        }
        let edited = Zeroizing::new(
            std::fs::read(&tmp).map_err(|e| fail(1, format!("temporary file: {e}")))?,
        );
        if edited[..] == text[..] {
            return Err(fail(200, format!("{n}: the file was not changed")));
        }
        plain.tree = sops::parse_plain(&edited, format).map_err(|e| e.in_file(&n))?;
        Ok(())
    })();
    // Overwrite the plaintext before the folder is removed.
    if let Ok(meta) = std::fs::metadata(&tmp) {
        let _ = std::fs::write(&tmp, vec![0u8; meta.len() as usize]);
    }
    drop(dir);
    result?;
    let enc = plain.reencrypt().map_err(|e| e.in_file(&n))?;
    write_output(
        &enc.to_bytes(format).map_err(|e| e.in_file(&n))?,
        true,
        file,
    )
}

fn rotate(ids: &IdentityArgs, change: &RotateArgs, in_place: bool, file: &Path) -> Outcome {
    let n = name(file);
    let format = Format::from_path(file);
    let plain = open(ids, file, format)?;
    let groups = if change.changes() {
        Some(change.apply(sops_keyargs::file_groups(&plain.metadata))?)
    } else {
        None
    };
    let enc: EncryptedFile = plain
        .rotate(groups, &CliKeys::default())
        .map_err(|e| e.in_file(&n))?;
    write_output(
        &enc.to_bytes(format).map_err(|e| e.in_file(&n))?,
        in_place,
        file,
    )
}

fn updatekeys(ids: &IdentityArgs, file: &Path) -> Outcome {
    let n = name(file);
    let format = Format::from_path(file);
    let (groups, threshold) = sops_keyargs::rule_groups(file, &[])?;
    let plain = open(ids, file, format)?;
    let (added, removed) =
        sops_keyargs::key_changes(&sops_keyargs::file_groups(&plain.metadata), &groups);
    if added.is_empty() && removed.is_empty() && plain.metadata.shamir_threshold == threshold {
        eprintln!("{n}: already up to date");
        return Ok(());
    }
    for k in &added {
        eprintln!("+++ {k}");
    }
    for k in &removed {
        eprintln!("--- {k}");
    }
    let enc = plain
        .update_keys(groups, threshold, &CliKeys::default())
        .map_err(|e| e.in_file(&n))?;
    write_output(
        &enc.to_bytes(format).map_err(|e| e.in_file(&n))?,
        true,
        file,
    )
}

fn set(ids: &IdentityArgs, value_file: bool, file: &Path, path: &str, value: &str) -> Outcome {
    let n = name(file);
    let format = Format::from_path(file);
    let steps = tree::parse_path(path).ok_or_else(|| fail(2, format!("invalid path {path:?}")))?;
    let json_text = if value_file {
        Zeroizing::new(
            std::fs::read_to_string(value).map_err(|e| fail(1, format!("{value}: {e}")))?,
        )
    } else {
        Zeroizing::new(value.to_owned())
    };
    let parsed: serde_json::Value = serde_json::from_str(&json_text)
        .map_err(|_| fail(2, "the value is not valid JSON (quote strings: '\"text\"')"))?;
    let node = sops::json::from_value(&parsed, 0).map_err(|e| e.in_file(&n))?;
    let mut plain = open(ids, file, format)?;
    if !plain.tree.set(&steps, node) {
        return Err(fail(
            1,
            format!("{n}: {path}: the path runs through a value that is not a mapping or list"),
        ));
    }
    let enc = plain.reencrypt().map_err(|e| e.in_file(&n))?;
    write_output(
        &enc.to_bytes(format).map_err(|e| e.in_file(&n))?,
        true,
        file,
    )
}

fn filestatus(input_type: Option<&str>, file: &Path) -> Outcome {
    let format = format_of(input_type, file)?;
    let bytes = read_input(file)?;
    let encrypted = sops::is_encrypted(&bytes, format);
    write_output(
        format!("{{\"encrypted\":{encrypted}}}\n").as_bytes(),
        false,
        file,
    )
}
