//! The corpus of bad inputs: one directory per case under `tests/fixtures/bad-inputs/`, each
//! with an `expect.yaml` (the stage that must refuse the input and the words its error must
//! contain) and the input itself: an app under `app/`, or a webhook request. Inputs too big to
//! commit (huge files, deep nesting, many documents, large bodies) are generated at test time
//! from the `generate` entry.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where a bad input must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Rendering (YAML, Kustomize, paths, limits).
    Render,
    /// The secrets stage (SOPS, SealedSecrets, references, leftover ciphertext).
    Secrets,
    /// Policies (the default bundle).
    Policy,
    /// The sync engine against the API server emulation.
    Sync,
    /// Webhook verification.
    Webhook,
    /// Webhook verification accepts the request (it is signed) but finds nothing in it to
    /// act on: no ref, no commit, no repository.
    WebhookIgnored,
    /// Nothing refused it (never expected by a case; reported as a failure).
    Accepted,
}

/// What a case expects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expect {
    /// Why the input is bad, in one line.
    pub about: String,
    /// The stage that must refuse it.
    pub stage: Stage,
    /// Words the error message must contain (the file or object, and the field).
    #[serde(default)]
    pub mentions: Vec<String>,
    /// Inputs generated at test time, written into a copy of the case.
    #[serde(default)]
    pub generate: Vec<Generate>,
    /// The request, for webhook cases.
    #[serde(default)]
    pub webhook: Option<WebhookCase>,
}

/// A generated input file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Generate {
    /// The file, relative to the case directory.
    pub file: String,
    /// What to write.
    pub kind: GenerateKind,
    /// Bytes (huge-value), depth (deep-nesting) or documents (many-documents).
    pub size: usize,
}

/// The kinds of generated input.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GenerateKind {
    /// A ConfigMap with one value of `size` bytes.
    HugeValue,
    /// A ConfigMap whose `data` nests `size` flow sequences deep.
    DeepNesting,
    /// A ConfigMap whose `data` nests `size` block mappings deep.
    DeepMappings,
    /// `size` ConfigMap documents in one file.
    ManyDocuments,
    /// `size` bytes of plain text (a generator input or a patch).
    PlainText,
}

/// A webhook request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookCase {
    /// `github`, `gitlab` or `generic`.
    pub auth: String,
    /// The configured secret (a test value).
    pub secret: String,
    /// The header of `generic` auth.
    #[serde(default)]
    pub header: Option<String>,
    /// The header value sent; `valid` means a correct signature of the body; absent means the
    /// header is not sent.
    #[serde(default)]
    pub signature: Option<String>,
    /// Extra headers sent as they are (name, value).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body file in the case directory.
    #[serde(default)]
    pub body: Option<String>,
    /// A generated body of this many bytes instead.
    #[serde(default)]
    pub body_bytes: Option<usize>,
    /// A generated body of JSON arrays nested this deep instead.
    #[serde(default)]
    pub body_nesting: Option<usize>,
}

/// One case.
pub struct Case {
    /// The directory's name.
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// What it expects.
    pub expect: Expect,
}

/// The corpus root.
pub fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bad-inputs")
}

/// Every case, sorted by name; panics on a malformed `expect.yaml` (a defect of the corpus).
pub fn load_all() -> Vec<Case> {
    let root = corpus_root();
    let mut cases: Vec<Case> = std::fs::read_dir(&root)
        .unwrap_or_else(|err| panic!("{}: {err}", root.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("expect.yaml").is_file())
        .map(|dir| {
            let name = dir
                .file_name()
                .and_then(|n| n.to_str())
                .expect("a UTF-8 case name")
                .to_owned();
            let text = std::fs::read_to_string(dir.join("expect.yaml"))
                .unwrap_or_else(|err| panic!("{name}/expect.yaml: {err}"));
            let expect: Expect = serde_saphyr::from_str(&text)
                .unwrap_or_else(|err| panic!("{name}/expect.yaml: {err}"));
            Case { name, dir, expect }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// The generated contents of one file.
pub fn generated(kind: GenerateKind, size: usize) -> Vec<u8> {
    match kind {
        GenerateKind::HugeValue => {
            let mut out =
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\ndata:\n  blob: "
                    .to_vec();
            out.resize(out.len() + size, b'x');
            out.push(b'\n');
            out
        }
        GenerateKind::DeepNesting => format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  nested: {}1{}\n",
            "[".repeat(size),
            "]".repeat(size)
        )
        .into_bytes(),
        GenerateKind::DeepMappings => {
            let mut out =
                String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n");
            for level in 0..size {
                out.push_str(&" ".repeat(level + 1));
                out.push_str("a:\n");
            }
            out.push_str(&" ".repeat(size + 1));
            out.push_str("b: 1\n");
            out.into_bytes()
        }
        GenerateKind::ManyDocuments => {
            let mut out = String::new();
            for i in 0..size {
                out.push_str(&format!(
                    "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n"
                ));
            }
            out.into_bytes()
        }
        GenerateKind::PlainText => vec![b'k'; size],
    }
}

/// Copies the regular files and directories of `from` into `to` (symlinks are recreated as
/// they are), for cases that get generated files.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
