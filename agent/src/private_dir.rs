//! Folders only the agent's user may read: the Git and chart caches hold a repository's
//! files (encrypted secrets included), so no other user of the machine or container reads
//! them or plants files in them (as Argo CD's predictable, world-readable chart folders
//! allowed, CVE-2022-31036).

use std::io;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;

/// Creates `dir` and any missing parents with mode 0700, and narrows `dir` itself to 0700
/// if it already existed.
pub fn create(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_and_existing_folders_are_private() {
        let root = tempfile::tempdir().expect("temporary folder");
        let fresh = root.path().join("a/b/cache");
        create(&fresh).expect("created");
        let existing = root.path().join("old");
        std::fs::create_dir(&existing).expect("mkdir");
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        create(&existing).expect("narrowed");
        for dir in [
            root.path().join("a"),
            root.path().join("a/b"),
            fresh,
            existing,
        ] {
            let mode = std::fs::metadata(&dir).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", dir.display());
        }
    }
}
