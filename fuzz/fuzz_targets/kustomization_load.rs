//! The render stage from an untrusted kustomization: the input is `kustomization.yaml` at the
//! root of a fixed in-memory tree (the files under `fuzz/tree/`, plus symlinks inside and
//! outside the root), rendered with small bounds and a decryptor holding the fuzz identity.
//! The same input is also rendered as a plain manifest file, and read by the YAML parser under
//! both boolean rules.
//!
//! Property: nothing panics, and no render reads outside the tree (the tree has no way to).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use tether_agent::render::yaml::{self, ParseOptions};
use tether_agent::render::{self, Decryptor, RenderOptions};
use tether_agent::tree::{RawEntry, RawTree, RelPath, Tree, TreeError};
use tether_seal::sops::{self, Format};

/// The fixed files beside the fuzzed kustomization.
const FILES: &[(&str, &[u8])] = &[
    ("deployment.yaml", include_bytes!("../tree/deployment.yaml")),
    ("service.yaml", include_bytes!("../tree/service.yaml")),
    ("configmap.yaml", include_bytes!("../tree/configmap.yaml")),
    ("patch.yaml", include_bytes!("../tree/patch.yaml")),
    ("patch-json.yaml", include_bytes!("../tree/patch-json.yaml")),
    (
        "replacements.yaml",
        include_bytes!("../tree/replacements.yaml"),
    ),
    ("settings.env", include_bytes!("../tree/settings.env")),
    (
        "credentials.enc.env",
        include_bytes!("../tree/credentials.enc.env"),
    ),
    ("files/web.conf", include_bytes!("../tree/files/web.conf")),
    (
        "base/kustomization.yaml",
        include_bytes!("../tree/base/kustomization.yaml"),
    ),
    (
        "base/worker.yaml",
        include_bytes!("../tree/base/worker.yaml"),
    ),
    (
        "components/monitoring/kustomization.yaml",
        include_bytes!("../tree/components/monitoring/kustomization.yaml"),
    ),
];

/// Symlinks: one inside the tree, one leaving it, one loop.
const LINKS: &[(&str, &str)] = &[
    ("link.yaml", "configmap.yaml"),
    ("base-link", "base"),
    ("escape.yaml", "../outside.yaml"),
    ("loop.yaml", "loop.yaml"),
];

/// An in-memory [`RawTree`]: files, symlinks, and the directories implied by their paths.
struct MemTree {
    entries: BTreeMap<String, MemEntry>,
}

enum MemEntry {
    File(Vec<u8>),
    Dir(Vec<String>),
    Link(String),
}

impl MemTree {
    fn new(files: &[(&str, &[u8])], links: &[(&str, &str)]) -> Self {
        let mut tree = Self {
            entries: BTreeMap::from([(String::new(), MemEntry::Dir(Vec::new()))]),
        };
        for (path, body) in files {
            tree.add(path, MemEntry::File(body.to_vec()));
        }
        for (path, target) in links {
            tree.add(path, MemEntry::Link((*target).to_owned()));
        }
        tree
    }

    fn add(&mut self, path: &str, entry: MemEntry) {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        if !self.entries.contains_key(parent) {
            self.add(parent, MemEntry::Dir(Vec::new()));
        }
        if let Some(MemEntry::Dir(names)) = self.entries.get_mut(parent) {
            names.push(name.to_owned());
        }
        self.entries.insert(path.to_owned(), entry);
    }
}

impl RawTree for MemTree {
    fn entry(&self, path: &RelPath) -> Result<Option<RawEntry>, TreeError> {
        Ok(self.entries.get(path.as_str()).map(|entry| match entry {
            MemEntry::File(body) => RawEntry::File {
                size: body.len() as u64,
            },
            MemEntry::Dir(_) => RawEntry::Dir,
            MemEntry::Link(target) => RawEntry::Symlink {
                target: target.clone(),
            },
        }))
    }

    fn read_file(&self, path: &RelPath, limit: u64) -> Result<Vec<u8>, TreeError> {
        match self.entries.get(path.as_str()) {
            Some(MemEntry::File(body)) if body.len() as u64 > limit => {
                Err(TreeError::FileTooLarge {
                    path: path.to_string(),
                    size: body.len() as u64,
                    limit,
                })
            }
            Some(MemEntry::File(body)) => Ok(body.clone()),
            _ => Err(TreeError::NotAFile {
                path: path.to_string(),
            }),
        }
    }

    fn list_dir(&self, path: &RelPath) -> Result<Vec<String>, TreeError> {
        match self.entries.get(path.as_str()) {
            Some(MemEntry::Dir(names)) => Ok(names.clone()),
            _ => Err(TreeError::NotADirectory {
                path: path.to_string(),
            }),
        }
    }
}

/// Decrypts SOPS generator inputs with the fuzz identity, as the agent's secrets stage does
/// with its keys.
struct FuzzDecryptor;

impl Decryptor for FuzzDecryptor {
    fn decrypt_file(
        &self,
        path: &RelPath,
        bytes: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
        let format = Format::from_path(std::path::Path::new(path.as_str()));
        sops::decrypt_bytes(bytes, format, tether_fuzz::sops_identities())
            .map_err(|err| err.to_string())
    }

    fn decrypt_object(
        &self,
        _path: &RelPath,
        object: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        sops::decrypt_object(object, tether_fuzz::sops_identities()).map_err(|err| err.to_string())
    }

    fn hold(&self, value: zeroize::Zeroizing<Vec<u8>>) -> String {
        tether_agent::render::stand_in(&value.len().to_string())
    }
}

#[allow(
    clippy::needless_update,
    reason = "bounds added to RenderOptions later keep their defaults"
)]
fn options() -> &'static RenderOptions {
    static OPTIONS: OnceLock<RenderOptions> = OnceLock::new();
    OPTIONS.get_or_init(|| RenderOptions {
        max_documents: 64,
        max_output_bytes: 256 * 1024,
        max_depth: 24,
        max_yaml_nodes: 20_000,
        max_kustomizations: 16,
        max_render_time: std::time::Duration::from_secs(5),
        decryptor: Some(Arc::new(FuzzDecryptor)),
        ..RenderOptions::default()
    })
}

/// A tree with the fixed files and `extra` added.
fn tree_with(extra: &[(&str, &[u8])]) -> Tree {
    let files: Vec<(&str, &[u8])> = FILES.iter().chain(extra).copied().collect();
    Tree::new(MemTree::new(&files, LINKS)).with_max_file_bytes(256 * 1024)
}

fuzz_target!(|data: &[u8]| {
    let options = options();
    let kustomized = tree_with(&[("kustomization.yaml", data)]);
    let _ = render::render(&kustomized, &RelPath::root(), options);
    let plain = tree_with(&[("plain/input.yaml", data)]);
    let dir = RelPath::parse("plain").expect("a valid path");
    let _ = render::render(&plain, &dir, options);
    if let Ok(text) = std::str::from_utf8(data) {
        for core_booleans in [false, true] {
            let limits = ParseOptions {
                core_booleans,
                ..options.yaml_limits()
            };
            if let Ok(values) = yaml::parse_values(text, &limits) {
                let _ = yaml::emit_documents(&values);
            }
        }
    }
});
