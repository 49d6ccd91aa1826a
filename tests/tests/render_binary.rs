//! `tether-render DIR` is `tether-agent render DIR` in a binary without the daemon: the same
//! output byte for byte, the same errors and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tether_tests::bins;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kustomize-corpus")
}

/// Every `build:` directory of the corpus, with its repository folder (the root).
fn corpus_dirs() -> Vec<(PathBuf, PathBuf)> {
    let root = corpus_root();
    let text = std::fs::read_to_string(root.join("SOURCES")).expect("the corpus SOURCES");
    let mut repo = None;
    let mut dirs = Vec::new();
    for line in text.lines() {
        if let Some(url) = line.strip_prefix("repository: ") {
            let folder = url
                .trim_start_matches("https://github.com/")
                .replacen('/', "+", 1);
            repo = Some(root.join(folder));
        } else if let Some(dir) = line.strip_prefix("build: ") {
            let repo = repo.clone().expect("a repository before its builds");
            dirs.push((repo.clone(), repo.join(dir)));
        }
    }
    dirs
}

fn agent_render(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(bins::tether_agent())
        .arg("render")
        .args(args)
        .output()
        .expect("run tether-agent render")
}

fn tether_render(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(bins::tether_render())
        .args(args)
        .output()
        .expect("run tether-render")
}

#[test]
fn tether_render_prints_what_tether_agent_render_prints_on_every_corpus_directory() {
    let dirs = corpus_dirs();
    assert!(dirs.len() >= 150, "{} corpus directories", dirs.len());
    for (root, dir) in &dirs {
        let args = ["--root".as_ref(), root.as_os_str(), dir.as_os_str()];
        let agent = agent_render(&args);
        let render = tether_render(&args);
        // A few corpus directories are refused by design (KNOWN-DIFFERENCES.md): then the
        // error must be the same.
        assert_eq!(
            render.status.code(),
            agent.status.code(),
            "{}",
            dir.display()
        );
        assert_eq!(
            String::from_utf8_lossy(&render.stderr).replace("tether-render: ", ""),
            String::from_utf8_lossy(&agent.stderr).replace("tether-agent: ", ""),
            "{}",
            dir.display()
        );
        assert!(
            render.stdout == agent.stdout,
            "{}: tether-render's output differs from tether-agent render's",
            dir.display()
        );
    }
}

#[test]
fn tether_render_refuses_what_tether_agent_render_refuses_with_the_same_exit_codes() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let missing = dir.path().join("missing");
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(
        broken.join("kustomization.yaml"),
        "resources: [absent.yaml]\n",
    )
    .expect("write");
    for (case, code) in [(&missing, 2), (&broken, 1)] {
        let args = ["--root".as_ref(), dir.path().as_os_str(), case.as_os_str()];
        let agent = agent_render(&args);
        let render = tether_render(&args);
        assert_eq!(agent.status.code(), Some(code), "{}", case.display());
        assert_eq!(render.status.code(), Some(code), "{}", case.display());
        let agent_err = String::from_utf8_lossy(&agent.stderr);
        let render_err = String::from_utf8_lossy(&render.stderr);
        assert!(
            render_err.starts_with("tether-render: render"),
            "{render_err}"
        );
        assert_eq!(
            render_err.trim_start_matches("tether-render: "),
            agent_err.trim_start_matches("tether-agent: "),
            "the same message after the program's name"
        );
    }
    // A usage error (no directory) is clap's, naming the binary.
    let usage = tether_render(&[]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&usage.stderr).contains("tether-render"),
        "{}",
        String::from_utf8_lossy(&usage.stderr)
    );
}
