//! Packaged charts (`.tgz`), unpacked into memory under bounds: the archive's size, the
//! bytes it expands to (and the expansion ratio), the number of entries and each entry's
//! size. Entries with `..`, absolute paths, links or device files are refused, naming the
//! archive and the entry.

use super::chart::{Chart, ChartFile};
use super::{HelmError, clip, load};
use std::io::Read;
use std::sync::Arc;

/// Bounds on one archive.
#[derive(Debug, Clone)]
pub struct ArchiveLimits {
    /// Largest archive accepted, compressed.
    pub max_archive_bytes: usize,
    /// Most bytes the archive may expand to (the tar stream).
    pub max_expanded_bytes: u64,
    /// Largest expansion ratio (expanded / compressed) once past 1 MiB expanded.
    pub max_ratio: u64,
    /// Most entries.
    pub max_entries: usize,
    /// Largest single file.
    pub max_file_bytes: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self {
            max_archive_bytes: 32 * 1024 * 1024,
            max_expanded_bytes: 128 * 1024 * 1024,
            max_ratio: 200,
            max_entries: 20_000,
            max_file_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Loads a packaged chart from `bytes`; `name` (a file name or URL) labels errors.
pub fn load_archive(name: &str, bytes: &[u8]) -> Result<Chart, HelmError> {
    load_nested(name, bytes, 0, &ArchiveLimits::default())
}

/// Loads a packaged chart found at nesting `depth`.
pub(crate) fn load_nested(
    name: &str,
    bytes: &[u8],
    depth: usize,
    limits: &ArchiveLimits,
) -> Result<Chart, HelmError> {
    let files = unpack(name, bytes, limits)?;
    load::build(name, files, depth, limits)
}

/// Counts what the decompressor yields and stops a bomb early.
struct Bounded<R> {
    inner: R,
    read: u64,
    limit: u64,
    compressed: u64,
    max_ratio: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(std::io::Error::other(format!(
                "expands to more than {} bytes",
                self.limit
            )));
        }
        if self.read > 1024 * 1024 && self.read > self.compressed.saturating_mul(self.max_ratio) {
            return Err(std::io::Error::other(format!(
                "expands more than {}-fold",
                self.max_ratio
            )));
        }
        Ok(n)
    }
}

/// The archive's files, paths inside the chart (the top directory stripped), in path order.
pub(crate) fn unpack(
    name: &str,
    bytes: &[u8],
    limits: &ArchiveLimits,
) -> Result<Vec<ChartFile>, HelmError> {
    let refuse = |entry: &str, reason: String| HelmError::ArchiveRefused {
        archive: name.to_owned(),
        entry: clip(entry),
        reason,
    };
    if bytes.len() > limits.max_archive_bytes {
        return Err(refuse(
            "-",
            format!(
                "archive is {} bytes, over the limit of {}",
                bytes.len(),
                limits.max_archive_bytes
            ),
        ));
    }
    let reader = Bounded {
        inner: flate2::read::GzDecoder::new(bytes),
        read: 0,
        limit: limits.max_expanded_bytes,
        compressed: bytes.len() as u64,
        max_ratio: limits.max_ratio,
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| refuse("-", format!("not a gzipped tar archive: {e}")))?;
    let mut files = Vec::new();
    for (count, entry) in entries.enumerate() {
        if count >= limits.max_entries {
            return Err(refuse(
                "-",
                format!("more than {} entries", limits.max_entries),
            ));
        }
        let mut entry = entry.map_err(|e| refuse("-", format!("unreadable: {e}")))?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(refuse(
                &raw_path,
                "links are not allowed in a chart archive".into(),
            ));
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            return Err(refuse(
                &raw_path,
                format!("entry type {kind:?} is not allowed"),
            ));
        }
        let inner = chart_path(&raw_path).map_err(|reason| refuse(&raw_path, reason))?;
        let Some(inner) = inner else { continue };
        let size = entry.size();
        if size > limits.max_file_bytes {
            return Err(refuse(
                &raw_path,
                format!(
                    "file is {size} bytes, over the limit of {}",
                    limits.max_file_bytes
                ),
            ));
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
        (&mut entry)
            .take(limits.max_file_bytes + 1)
            .read_to_end(&mut data)
            .map_err(|e| refuse(&raw_path, format!("unreadable: {e}")))?;
        if data.starts_with(b"\xef\xbb\xbf") {
            data.drain(..3);
        }
        files.push(ChartFile {
            name: inner,
            data: Arc::new(data),
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files.dedup_by(|b, a| a.name == b.name);
    Ok(files)
}

/// The path inside the chart of an archive entry (`mychart/templates/x.yaml` →
/// `templates/x.yaml`); `None` for the top directory itself; `Err` for an unsafe path.
fn chart_path(raw: &str) -> Result<Option<String>, String> {
    if raw.starts_with('/')
        || raw.starts_with('\\')
        || raw.contains(':') && raw.find(':') == Some(1)
    {
        return Err("absolute paths are not allowed".into());
    }
    let parts: Vec<&str> = raw
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err("paths with `..` are not allowed".into());
    }
    if parts.len() == 1 && parts[0] == "Chart.yaml" {
        return Err("Chart.yaml is not in a base directory".into());
    }
    if parts.len() < 2 {
        return Ok(None);
    }
    Ok(Some(parts[1..].join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            // Write the name bytes directly, so that unsafe names reach the reader as is.
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            if !link.is_empty() {
                let target = &mut header.as_old_mut().linkname;
                target[..link.len()].copy_from_slice(link.as_bytes());
            }
            header.set_cksum();
            builder
                .append(&header, *data)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let tar = builder.into_inner().unwrap_or_else(|e| panic!("{e}"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &tar).unwrap_or_else(|e| panic!("{e}"));
        gz.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    const CHART: &[u8] = b"apiVersion: v2\nname: c\nversion: 1.0.0\n";
    const REG: tar::EntryType = tar::EntryType::Regular;

    #[test]
    fn a_packaged_chart_loads() {
        let bytes = tgz(&[
            ("c/Chart.yaml", REG, CHART, ""),
            ("c/templates/a.yaml", REG, b"kind: A\n", ""),
        ]);
        let chart = load_archive("c-1.0.0.tgz", &bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(chart.name(), "c");
        assert_eq!(chart.templates[0].name, "templates/a.yaml");
    }

    fn refused(bytes: &[u8]) -> String {
        match load_archive("evil.tgz", bytes) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn archive_entries_climbing_out_are_refused() {
        let bytes = tgz(&[
            ("c/../../etc/x", REG, b"x", ""),
            ("c/Chart.yaml", REG, CHART, ""),
        ]);
        assert_eq!(
            refused(&bytes),
            "archive evil.tgz: c/../../etc/x: paths with `..` are not allowed"
        );
        let bytes = tgz(&[("/etc/passwd", REG, b"x", "")]);
        assert_eq!(
            refused(&bytes),
            "archive evil.tgz: /etc/passwd: absolute paths are not allowed"
        );
    }

    #[test]
    fn archive_links_are_refused() {
        let bytes = tgz(&[(
            "c/templates/l.yaml",
            tar::EntryType::Symlink,
            b"",
            "/etc/passwd",
        )]);
        assert_eq!(
            refused(&bytes),
            "archive evil.tgz: c/templates/l.yaml: links are not allowed in a chart archive"
        );
        let bytes = tgz(&[("c/x", tar::EntryType::Link, b"", "c/Chart.yaml")]);
        assert!(refused(&bytes).contains("c/x: links are not allowed"));
    }

    #[test]
    fn an_archive_bomb_is_refused() {
        let zeros = vec![0u8; 8 * 1024 * 1024];
        let bytes = tgz(&[("c/Chart.yaml", REG, CHART, ""), ("c/big", REG, &zeros, "")]);
        let err = refused(&bytes);
        assert!(err.starts_with("archive evil.tgz: "), "{err}");
        assert!(err.contains("expands more than 200-fold"), "{err}");
    }

    #[test]
    fn garbage_is_not_an_archive() {
        assert!(
            refused(b"not gzip").contains("not a gzipped tar archive")
                || refused(b"not gzip").contains("unreadable")
        );
    }
}
