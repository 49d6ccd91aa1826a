//! Tests of the snapshot tree: paths, symlinks, limits.

use super::*;
use std::os::unix::fs::symlink;

fn tree_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Tree) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, body) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, body).expect("write");
    }
    let tree = Tree::new(FsTree::new(dir.path()));
    (dir, tree)
}

#[test]
fn rel_paths_normalize_dots_and_refuse_escapes() {
    assert_eq!(
        RelPath::parse("a/./b//c/../d").expect("ok").as_str(),
        "a/b/d"
    );
    assert_eq!(RelPath::parse("a/..").expect("ok"), RelPath::root());
    assert!(matches!(
        RelPath::parse("../x"),
        Err(TreeError::EscapesRoot { .. })
    ));
    assert!(matches!(
        RelPath::parse("a/../../x"),
        Err(TreeError::EscapesRoot { .. })
    ));
    assert!(matches!(
        RelPath::parse("/etc/passwd"),
        Err(TreeError::AbsolutePath { .. })
    ));
    let base = RelPath::parse("apps/web").expect("ok");
    assert_eq!(
        base.join("../db/k.yaml").expect("ok").as_str(),
        "apps/db/k.yaml"
    );
    assert!(base.join("../../../x").is_err());
}

#[test]
fn starts_with_matches_whole_components_only() {
    let a = RelPath::parse("apps/web").expect("ok");
    assert!(RelPath::parse("apps/web/x").expect("ok").starts_with(&a));
    assert!(!RelPath::parse("apps/webber").expect("ok").starts_with(&a));
    assert!(a.starts_with(&RelPath::root()));
}

#[test]
fn reads_files_and_lists_sorted() {
    let (_dir, tree) = tree_with(&[("b.yaml", "b"), ("a.yaml", "a"), ("sub/c.yaml", "c")]);
    let names: Vec<_> = tree
        .list(&RelPath::root())
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["a.yaml", "b.yaml", "sub"]);
    assert_eq!(
        tree.read(&RelPath::parse("sub/c.yaml").expect("ok"))
            .expect("read"),
        b"c"
    );
    assert!(matches!(
        tree.read(&RelPath::parse("nope").expect("ok")),
        Err(TreeError::NotFound { .. })
    ));
}

#[test]
fn symlinks_inside_the_tree_resolve() {
    let (dir, tree) = tree_with(&[("base/cm.yaml", "cm")]);
    symlink("base", dir.path().join("alias")).expect("symlink");
    symlink("../base/cm.yaml", dir.path().join("base/link.yaml")).expect("symlink");
    let read = |p: &str| tree.read(&RelPath::parse(p).expect("ok")).expect("read");
    assert_eq!(read("alias/cm.yaml"), b"cm");
    assert_eq!(read("alias/link.yaml"), b"cm");
}

#[test]
fn fail_symlink_leaving_the_root() {
    let (dir, tree) = tree_with(&[("a.yaml", "a")]);
    symlink("/etc/passwd", dir.path().join("abs")).expect("symlink");
    symlink("../../outside", dir.path().join("up")).expect("symlink");
    for name in ["abs", "up"] {
        let err = tree
            .read(&RelPath::parse(name).expect("ok"))
            .expect_err("must fail");
        assert!(
            matches!(err, TreeError::SymlinkEscapesRoot { .. }),
            "{name}: {err}"
        );
    }
    // A listing does not hide the escaping link: it fails and names it.
    let err = tree.list(&RelPath::root()).expect_err("must fail");
    assert!(err.to_string().contains("abs"), "{err}");
}

#[test]
fn fail_symlink_loop() {
    let (dir, tree) = tree_with(&[]);
    symlink("b", dir.path().join("a")).expect("symlink");
    symlink("a", dir.path().join("b")).expect("symlink");
    let err = tree
        .read(&RelPath::parse("a").expect("ok"))
        .expect_err("must fail");
    assert!(matches!(err, TreeError::SymlinkLoop { .. }), "{err}");
}

#[test]
fn fail_file_over_the_size_limit() {
    let (_dir, tree) = tree_with(&[("big.yaml", "0123456789")]);
    let tree = tree.with_max_file_bytes(4);
    let err = tree
        .read(&RelPath::parse("big.yaml").expect("ok"))
        .expect_err("must fail");
    assert!(
        matches!(
            err,
            TreeError::FileTooLarge {
                size: 10,
                limit: 4,
                ..
            }
        ),
        "{err}"
    );
}
