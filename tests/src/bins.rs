//! The project's own binaries, as built by `cargo build --workspace --bins` into the same
//! target directory as the test executables.

use std::path::PathBuf;

/// The directory holding the binaries of the current profile (`target/debug`): the parent of
/// the `deps/` folder the test executable runs from.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let mut dir = exe
        .parent()
        .expect("the test executable is in a folder")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The path of one of the workspace's binaries; panics with the command to run when it has
/// not been built, since every test that needs it would fail less clearly.
pub fn binary(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// The `tether-seal` CLI.
pub fn tether_seal() -> PathBuf {
    binary("tether-seal")
}

/// The `tether-agent` binary.
pub fn tether_agent() -> PathBuf {
    binary("tether-agent")
}

/// The `tether-render` binary (`tether-agent render` without the daemon linked in).
pub fn tether_render() -> PathBuf {
    binary("tether-render")
}

/// The `tether-test-apiserver` binary.
pub fn tether_test_apiserver() -> PathBuf {
    binary("tether-test-apiserver")
}
