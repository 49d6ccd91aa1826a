//! Reading the manifests the sealing subcommands take (a file or stdin, bounded, into
//! zeroizing memory) and writing what they print or rewrite in place.

use super::seal_cmd::{EXIT_MALFORMED, Failure};
use std::io::{Read, Write};
use std::path::Path;
use zeroize::Zeroizing;

/// The largest manifest read from a file or stdin.
const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// How a path is named in messages (`-` is stdin).
pub(super) fn display(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Reads a manifest from a file or stdin (`-`) into zeroizing memory, bounded in size.
pub(super) fn read_input(path: &Path) -> Result<Zeroizing<String>, Failure> {
    let name = display(path);
    let mut bytes = Zeroizing::new(Vec::new());
    let read = if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| Failure::other(format!("cannot read {name}: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Failure {
            code: EXIT_MALFORMED,
            message: format!("{name}: larger than {MAX_INPUT_BYTES} bytes"),
        });
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| Failure {
        code: EXIT_MALFORMED,
        message: format!("{name}: not UTF-8 text"),
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

pub(super) fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| {
            if super::closed_pipe(&e) {
                Failure {
                    code: super::EXIT_CLOSED_PIPE,
                    message: String::new(),
                }
            } else {
                Failure::other(format!("cannot write to stdout: {e}"))
            }
        })
}

/// Replaces `path` with `text` through a temporary file in the same folder and a rename, so a
/// failure never leaves a half-written SealedSecret.
pub(super) fn write_in_place(path: &Path, text: &str) -> Result<(), Failure> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tether-seal-{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let err = |e: std::io::Error| Failure::other(format!("cannot write {}: {e}", path.display()));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}
