//! `tether-agent render overlays/production` with a `../../base`: the root defaults to the Git
//! work tree that contains the directory (else the current directory), as `kubectl kustomize`
//! reads it; `--root` still overrides, and `check` of an app directory does the same.

use std::path::Path;
use std::process::{Command, Output};

use tether_tests::bins;
use tether_tests::gitserver;

/// A base and an overlay that uses it.
fn base_and_overlay(repo: &Path) {
    let base = repo.join("apps/web/base");
    let overlay = repo.join("apps/web/overlays/production");
    std::fs::create_dir_all(&base).expect("mkdir");
    std::fs::create_dir_all(&overlay).expect("mkdir");
    std::fs::write(
        base.join("kustomization.yaml"),
        "resources: [settings.yaml]\n",
    )
    .expect("write");
    std::fs::write(
        base.join("settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {tier: base}\n",
    )
    .expect("write");
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "resources: [../../base]\nnamePrefix: prod-\n",
    )
    .expect("write");
}

fn render(cwd: &Path, args: &[&str]) -> Output {
    Command::new(bins::tether_agent())
        .arg("render")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run tether-agent render")
}

#[test]
fn render_reads_the_base_of_an_overlay_inside_the_git_work_tree_by_default() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let repo = dir.path().join("repo");
    base_and_overlay(&repo);
    // Without Git, from the repository's folder: the current directory is the root.
    let out = render(&repo, &["apps/web/overlays/production"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("name: prod-settings"), "{text}");
    // kubectl kustomize agrees.
    let kubectl = Command::new("kubectl")
        .args(["kustomize", "apps/web/overlays/production"])
        .current_dir(&repo)
        .output()
        .expect("run kubectl kustomize");
    assert!(String::from_utf8_lossy(&kubectl.stdout).contains("name: prod-settings"));

    // In a Git work tree, from anywhere: the work tree is the root.
    gitserver::run(gitserver::git().arg("init").arg("-q").arg(&repo)).expect("git init");
    let overlay = repo.join("apps/web/overlays/production");
    let out = render(dir.path(), &[&overlay.to_string_lossy()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("name: prod-settings"));

    // `--root` still bounds what is read.
    let out = render(
        dir.path(),
        &[
            &overlay.to_string_lossy(),
            "--root",
            &overlay.to_string_lossy(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("base"), "{stderr}");

    // `check` of the overlay directory, from a folder outside the work tree, reads its
    // base the same way.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let out = Command::new(bins::tether_agent())
        .arg("check")
        .arg(&overlay)
        .current_dir(&elsewhere)
        .output()
        .expect("run tether-agent check");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.contains("1 object(s) checked"),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
