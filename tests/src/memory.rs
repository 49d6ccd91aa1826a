//! Reading a running process's memory, to check that no secret value stays in it.

use std::io::{Read as _, Seek as _, SeekFrom};

/// The contents of every readable, private or anonymous mapping of process `pid` (heap,
/// stacks, anonymous and file-backed writable pages), read through `/proc/PID/mem`.
/// Mappings that cannot be read (guard pages, `[vvar]`) are skipped.
pub fn snapshot(pid: u32) -> std::io::Result<Vec<u8>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        // Writable or anonymous memory is where a process keeps data; read-only file
        // mappings are the program itself.
        let path = line.split_whitespace().nth(5).unwrap_or("");
        if !perms.starts_with('r') || (!perms.contains('w') && !path.is_empty()) {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        let len = end.saturating_sub(start);
        if len == 0 || len > (1 << 31) {
            continue;
        }
        let mut buf = vec![0u8; len as usize];
        if mem.seek(SeekFrom::Start(start)).is_ok() && mem.read_exact(&mut buf).is_ok() {
            out.extend_from_slice(&buf);
        }
    }
    Ok(out)
}

/// The base64 forms of `plain` wherever it starts in an encoded text (three alignments),
/// without the characters its neighbours share.
pub fn base64_forms(plain: &str) -> Vec<String> {
    (0..3)
        .map(|offset: usize| {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(plain.as_bytes());
            let encoded =
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, &bytes);
            let start = (offset * 8).div_ceil(6);
            let end = bytes.len() * 8 / 6;
            encoded[start..end].to_owned()
        })
        .collect()
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
