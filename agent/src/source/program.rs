//! The helper programs the source runs (`ssh` for SSH remotes, `gpg` for OpenPGP signatures),
//! found by absolute path: only absolute `PATH` entries are searched, so a relative entry
//! (`.`, an empty one, `bin`) can never make the agent run a program from its working folder
//! in place of the system's.

use std::path::{Path, PathBuf};

/// The first executable file `name` in the absolute directories of `PATH`.
#[must_use]
pub fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    find_in(name, &path)
}

fn find_in(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// `name` by absolute path, or the name under `/usr/bin` when `PATH` has it nowhere (running
/// it then fails with a clear "not found" rather than searching elsewhere).
#[must_use]
pub fn find_or_default(name: &str) -> PathBuf {
    find(name).unwrap_or_else(|| Path::new("/usr/bin").join(name))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn relative_path_entries_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let absolute = std::env::join_paths([dir.path()]).unwrap();
        assert_eq!(find_in("tool", &absolute), Some(tool.clone()));
        // The same folder named relatively (as `.` would be from inside it) is not searched.
        let relative =
            std::env::join_paths([Path::new("."), Path::new(""), Path::new("bin")]).unwrap();
        assert_eq!(find_in("tool", &relative), None);
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(find_in("tool", &absolute), None, "not executable");
    }
}
