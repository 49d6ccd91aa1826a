//! Tether's Kustomize against `kubectl kustomize` (kubectl 1.33, kustomize v5.6) on
//! kustomization directories of public repositories.
//!
//! `tests/fixtures/kustomize-corpus/SOURCES` names, per repository (a folder
//! `<owner>+<name>/` holding only the files the builds read), its commit, the directories
//! that build offline (`build:`) and those that need the network (`network:`). Every
//! `build:` directory is rendered by both tools, with the repository folder as the root,
//! and compared object by object and in order. `network:` directories are counted apart:
//! kubectl cannot fetch their remote bases here, and Tether refuses them by design.
//!
//! Differences that remain are listed, with their reason, in `KNOWN-DIFFERENCES.md` beside
//! the corpus; the test fails on any difference not listed there and prints the pass count
//! per repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tether_tests::render_compare::{compare_objects, parse};

struct Repository {
    folder: String,
    builds: Vec<String>,
    network: Vec<String>,
}

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kustomize-corpus")
}

fn read_sources() -> Vec<Repository> {
    let path = corpus_root().join("SOURCES");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let mut repos: Vec<Repository> = Vec::new();
    for line in text.lines() {
        if let Some(url) = line.strip_prefix("repository: ") {
            let name = url
                .trim_start_matches("https://github.com/")
                .replacen('/', "+", 1);
            repos.push(Repository {
                folder: name,
                builds: Vec::new(),
                network: Vec::new(),
            });
        } else if let Some(dir) = line.strip_prefix("build: ") {
            repos
                .last_mut()
                .expect("a repository first")
                .builds
                .push(dir.to_owned());
        } else if let Some(dir) = line.strip_prefix("network: ") {
            repos
                .last_mut()
                .expect("a repository first")
                .network
                .push(dir.to_owned());
        }
    }
    repos
}

/// `repo-folder/dir` entries of KNOWN-DIFFERENCES.md (lines starting with ``- `path` ``).
fn known_differences() -> Vec<String> {
    let path = corpus_root().join("KNOWN-DIFFERENCES.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.strip_prefix("- `"))
        .filter_map(|rest| rest.split_once('`').map(|(p, _)| p.to_owned()))
        .collect()
}

fn kubectl(dir: &Path) -> Output {
    Command::new(tether_tests::peers::kustomize_kubectl())
        .arg("kustomize")
        .arg(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("run kubectl")
}

fn tether(root: &Path, dir: &Path) -> Output {
    Command::new(tether_tests::bins::tether_agent())
        .arg("render")
        .arg("--root")
        .arg(root)
        .arg(dir)
        .output()
        .expect("run tether-agent")
}

fn compare(root: &Path, dir: &Path) -> Result<usize, String> {
    let expected = kubectl(dir);
    if !expected.status.success() {
        return Err(format!(
            "kubectl kustomize failed (the corpus is out of date): {}",
            String::from_utf8_lossy(&expected.stderr)
        ));
    }
    let actual = tether(root, dir);
    if !actual.status.success() {
        return Err(format!(
            "tether-agent render failed: {}",
            String::from_utf8_lossy(&actual.stderr)
        ));
    }
    let expected = parse(&String::from_utf8_lossy(&expected.stdout))
        .map_err(|err| format!("kubectl output: {err}"))?;
    let actual = parse(&String::from_utf8_lossy(&actual.stdout))
        .map_err(|err| format!("tether output: {err}"))?;
    compare_objects(&expected, &actual)
}

#[test]
fn real_repositories_render_like_kubectl_kustomize() {
    let repos = read_sources();
    let known = known_differences();
    let total: usize = repos.iter().map(|r| r.builds.len()).sum();
    assert!(
        repos.len() >= 8 && total >= 150,
        "the corpus has {total} directories from {} repositories",
        repos.len()
    );
    let mut unexpected = Vec::new();
    let mut listed_but_passing = Vec::new();
    let mut counts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut objects = 0;
    for repo in &repos {
        let root = corpus_root().join(&repo.folder);
        let entry = counts.entry(repo.folder.clone()).or_default();
        for dir in &repo.builds {
            let name = format!("{}/{dir}", repo.folder);
            match compare(&root, &root.join(dir)) {
                Ok(count) => {
                    entry.0 += 1;
                    objects += count;
                    if known.contains(&name) {
                        listed_but_passing.push(name);
                    }
                }
                Err(problem) => {
                    entry.1 += 1;
                    if !known.contains(&name) {
                        unexpected.push(format!("--- {name}\n{problem}"));
                    }
                }
            }
        }
        for dir in &repo.network {
            let name = format!("{}/{dir}", repo.folder);
            let ours = tether(&root, &root.join(dir));
            let stderr = String::from_utf8_lossy(&ours.stderr);
            // Refused (remote bases and files, remote OpenAPI schemas), naming the file.
            if ours.status.code() != Some(1) || !stderr.contains("kustomization") {
                unexpected.push(format!(
                    "--- {name}\nneeds the network, but tether did not refuse it: {stderr}"
                ));
            }
            entry.2 += 1;
        }
    }
    let passed: usize = counts.values().map(|c| c.0).sum();
    let failed: usize = counts.values().map(|c| c.1).sum();
    let network: usize = counts.values().map(|c| c.2).sum();
    println!(
        "kustomize corpus: {passed} of {total} directories render like kubectl ({objects} objects), \
         {failed} known differences, {network} need the network (refused)"
    );
    for (repo, (pass, fail, net)) in &counts {
        println!("  {repo}: {pass} passed, {fail} known differences, {net} need the network");
    }
    for name in &listed_but_passing {
        println!("  listed in KNOWN-DIFFERENCES.md but now passing: {name}");
    }
    assert!(unexpected.is_empty(), "\n{}", unexpected.join("\n"));
}
