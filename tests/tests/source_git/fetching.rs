//! Clones, re-fetches, tags and semver ranges, pinned commits, failures, snapshots and app discovery.

use super::*;

// ---- clone, re-fetch, history ----

#[test]
fn shallow_clone_over_git_daemon_reads_files_from_the_object_database() {
    let fx = fixture();
    fx.upstream
        .write("apps/web/cm.yaml", "kind: ConfigMap\n")
        .expect("write");
    fx.upstream.commit("one").expect("commit");
    fx.upstream
        .write("apps/web/cm.yaml", "kind: ConfigMap # 2\n")
        .expect("write");
    let head = fx.upstream.commit("two").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");

    let mut source = Source::new(fx.source(&daemon.url("config.git"), main_branch()));
    let snapshot = rt().block_on(source.sync()).expect("sync");
    assert_eq!(snapshot.revision, head);
    assert_eq!(snapshot.ref_name, "refs/heads/main");
    assert!(snapshot.shallow, "shallow by default");
    assert!(fx.cache("main").join("shallow").is_file());
    assert_eq!(commit_count(&fx.cache("main")), "1");
    assert_eq!(read(&source, "apps/web/cm.yaml"), "kind: ConfigMap # 2\n");
    // No worktree: the cache is a bare repository.
    assert!(!fx.cache("main").join("apps").exists());
    assert_eq!(source.status(), &SourceStatus::Ready { revision: head });
}

#[test]
fn full_clone_on_request_has_the_whole_history() {
    let fx = fixture();
    for i in 0..3 {
        fx.upstream.write("n.txt", i.to_string()).expect("write");
        fx.upstream.commit(&format!("c{i}")).expect("commit");
    }
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut config = fx.source(&daemon.url("config.git"), main_branch());
    config.depth = Depth::Full;
    let mut source = Source::new(config);
    let snapshot = rt().block_on(source.sync()).expect("sync");
    assert!(!snapshot.shallow);
    assert_eq!(commit_count(&fx.cache("main")), "3");
}

#[test]
fn polling_refetch_finds_new_commits_and_follows_a_force_push() {
    let fx = fixture();
    fx.upstream.write("a.yaml", "v1").expect("write");
    let first = fx.upstream.commit("one").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut source = Source::new(fx.source(&daemon.url("config.git"), main_branch()));
    let rt = rt();
    rt.block_on(source.sync()).expect("sync 1");

    fx.upstream.write("a.yaml", "v2").expect("write");
    let second = fx.upstream.commit("two").expect("commit");
    let snapshot = rt.block_on(source.sync()).expect("sync 2");
    assert_eq!(snapshot.revision, second);
    assert_eq!(read(&source, "a.yaml"), "v2");

    // Rewrite history upstream: drop `two`, commit something else, force-push.
    fx.upstream.reset_hard(&first).expect("reset");
    fx.upstream.write("a.yaml", "v3-rewritten").expect("write");
    let rewritten = fx.upstream.commit("rewritten").expect("commit");
    let snapshot = rt.block_on(source.sync()).expect("sync 3");
    assert_eq!(snapshot.revision, rewritten);
    assert_eq!(read(&source, "a.yaml"), "v3-rewritten");
    assert!(snapshot.shallow);
}

#[test]
fn file_url_clone_works() {
    let fx = fixture();
    fx.upstream.write("k.yaml", "x").expect("write");
    let head = fx.upstream.commit("one").expect("commit");
    let url = format!("file://{}", fx.upstream.bare.display());
    let mut source = Source::new(fx.source(&url, main_branch()));
    let snapshot = rt().block_on(source.sync()).expect("sync");
    assert_eq!(snapshot.revision, head);
}

// ---- tags, semver, pinned commits ----

#[test]
fn tag_and_semver_tracking_pick_the_right_commit() {
    let fx = fixture();
    let mut commits = std::collections::BTreeMap::new();
    for tag in ["v1.1.0", "v1.2.0", "1.9.3", "v1.10.0", "v2.0.0"] {
        fx.upstream.write("version", tag).expect("write");
        commits.insert(tag, fx.upstream.commit(tag).expect("commit"));
        if tag == "v1.10.0" {
            fx.upstream.annotated_tag(tag).expect("tag");
        } else {
            fx.upstream.tag(tag).expect("tag");
        }
    }
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let url = daemon.url("config.git");
    let rt = rt();

    let mut config = fx.source(&url, Reference::tag("v1.2.0").expect("tag"));
    config.cache_dir = fx.cache("tag");
    let mut source = Source::new(config);
    let snapshot = rt.block_on(source.sync()).expect("tag sync");
    assert_eq!(snapshot.revision, commits["v1.2.0"]);
    assert_eq!(snapshot.ref_name, "refs/tags/v1.2.0");

    // The highest tag in range is an annotated tag: it is peeled to its commit.
    let mut config = fx.source(&url, Reference::semver(">=1.2.0 <2.0.0").expect("range"));
    config.cache_dir = fx.cache("semver");
    let mut source = Source::new(config);
    let snapshot = rt.block_on(source.sync()).expect("semver sync");
    assert_eq!(snapshot.revision, commits["v1.10.0"]);
    assert_eq!(snapshot.ref_name, "refs/tags/v1.10.0");
    assert_eq!(read(&source, "version"), "v1.10.0");

    // A new matching tag is followed on the next fetch.
    fx.upstream.write("version", "v1.11.0").expect("write");
    let newer = fx.upstream.commit("v1.11.0").expect("commit");
    fx.upstream.tag("v1.11.0").expect("tag");
    let snapshot = rt.block_on(source.sync()).expect("semver sync 2");
    assert_eq!(snapshot.revision, newer);

    // No matching tag: RefNotFound.
    let mut config = fx.source(&url, Reference::semver(">=3.0.0").expect("range"));
    config.cache_dir = fx.cache("none");
    let mut source = Source::new(config);
    let err = rt.block_on(source.sync()).expect_err("no tag matches");
    assert_eq!(err.reason(), "RefNotFound", "{err}");
}

#[test]
fn pinned_commit_is_fetched_even_when_the_branch_moved_on() {
    let fx = fixture();
    fx.upstream.write("a", "pinned").expect("write");
    let pinned = fx.upstream.commit("pinned").expect("commit");
    fx.upstream.write("a", "later").expect("write");
    fx.upstream.commit("later").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut source = Source::new(fx.source(
        &daemon.url("config.git"),
        Reference::commit(&pinned).expect("commit"),
    ));
    let snapshot = rt().block_on(source.sync()).expect("sync");
    assert_eq!(snapshot.revision, pinned);
    assert_eq!(read(&source, "a"), "pinned");
}

// ---- failures ----

#[test]
fn unreachable_remote_or_deleted_branch_keeps_the_last_good_snapshot_and_degrades() {
    let fx = fixture();
    fx.upstream
        .write("apps/web/cm.yaml", "kind: ConfigMap\n")
        .expect("write");
    let head = fx.upstream.commit("one").expect("commit");
    let mut daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let url = daemon.url("config.git");
    let mut source = Source::new(fx.source(&url, main_branch()));
    let rt = rt();
    rt.block_on(source.sync()).expect("sync");

    daemon.process.stop();
    let err = rt.block_on(source.sync()).expect_err("remote is down");
    assert_eq!(err.reason(), "FetchFailed", "{err}");
    match source.status() {
        SourceStatus::Degraded {
            reason, last_good, ..
        } => {
            assert_eq!(*reason, "FetchFailed");
            assert_eq!(last_good.as_deref(), Some(head.as_str()));
        }
        other => panic!("expected Degraded, got {other:?}"),
    }
    // The last good snapshot is still served, with its files.
    assert_eq!(source.current().expect("kept").revision, head);
    assert_eq!(read(&source, "apps/web/cm.yaml"), "kind: ConfigMap\n");

    // The branch is followed but deleted upstream: RefNotFound, last good kept.
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut config = fx.source(
        &daemon.url("config.git"),
        Reference::branch("gone").expect("b"),
    );
    config.cache_dir = fx.cache("main");
    let mut gone = Source::new(config);
    let err = rt.block_on(gone.sync()).expect_err("no such branch");
    assert_eq!(err.reason(), "RefNotFound", "{err}");
    assert!(gone.current().is_none(), "never an empty snapshot");
}

#[test]
fn corrupt_cache_is_recloned() {
    let fx = fixture();
    fx.upstream.write("a.yaml", "ok").expect("write");
    let head = fx.upstream.commit("one").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let url = daemon.url("config.git");
    let rt = rt();
    {
        let mut source = Source::new(fx.source(&url, main_branch()));
        rt.block_on(source.sync()).expect("sync");
    }
    // Overwrite every pack and loose object with garbage, as a disk error would.
    let objects = fx.cache("main").join("objects");
    let mut corrupted = 0;
    let mut stack = vec![objects];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "pack" || e == "idx")
                || path
                    .parent()
                    .is_some_and(|p| p.file_name().is_some_and(|n| n.len() == 2))
            {
                let mut perms = std::fs::metadata(&path).expect("meta").permissions();
                #[allow(clippy::permissions_set_readonly_false)]
                perms.set_readonly(false);
                std::fs::set_permissions(&path, perms).expect("chmod");
                std::fs::write(&path, b"garbage garbage garbage").expect("corrupt");
                corrupted += 1;
            }
        }
    }
    assert!(corrupted > 0, "something was corrupted");

    // A restarted agent (a new Source over the same cache) re-clones and serves the commit.
    let mut source = Source::new(fx.source(&url, main_branch()));
    let snapshot = rt.block_on(source.sync()).expect("sync after corruption");
    assert_eq!(snapshot.revision, head);
    assert_eq!(read(&source, "a.yaml"), "ok");
    assert!(captured().contains("re-cloning"), "the re-clone is logged");
}

#[test]
fn oversize_repository_is_refused() {
    let fx = fixture();
    // Incompressible content, larger than the limit.
    let mut noise = Vec::with_capacity(400_000);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..400_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.push((x & 0xff) as u8);
    }
    fx.upstream.write("big.bin", &noise).expect("write");
    fx.upstream.commit("big").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut config = fx.source(&daemon.url("config.git"), main_branch());
    config.max_bytes = 100_000;
    let mut source = Source::new(config);
    let err = rt().block_on(source.sync()).expect_err("over the limit");
    assert_eq!(err.reason(), "SizeLimitExceeded", "{err}");
    assert!(source.current().is_none());
}

// ---- snapshots ----

#[test]
fn snapshot_refuses_path_and_symlink_escapes() {
    let fx = fixture();
    fx.upstream.write("base/cm.yaml", "cm").expect("write");
    fx.upstream.symlink("alias", "base").expect("symlink");
    fx.upstream
        .symlink("base/link.yaml", "../base/cm.yaml")
        .expect("symlink");
    fx.upstream.symlink("abs", "/etc/passwd").expect("symlink");
    fx.upstream
        .symlink("up/escape.yaml", "../../outside.yaml")
        .expect("symlink");
    fx.upstream.commit("links").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut source = Source::new(fx.source(&daemon.url("config.git"), main_branch()));
    rt().block_on(source.sync()).expect("sync");
    let tree = &source.current().expect("snapshot").tree;

    // Links inside the tree resolve.
    assert_eq!(read(&source, "alias/cm.yaml"), "cm");
    assert_eq!(read(&source, "base/link.yaml"), "cm");
    // Links that leave it are refused.
    for path in ["abs", "up/escape.yaml"] {
        let err = tree
            .read(&RelPath::parse(path).expect("path"))
            .expect_err(path);
        assert!(
            matches!(err, TreeError::SymlinkEscapesRoot { .. }),
            "{path}: {err}"
        );
    }
    // Paths cannot even name anything above the root.
    assert!(RelPath::parse("../config.git/HEAD").is_err());
    assert!(RelPath::parse("/etc/passwd").is_err());
    // A listing names the escaping link instead of hiding it.
    let err = tree.list(&RelPath::root()).expect_err("abs escapes");
    assert!(err.to_string().contains("abs"), "{err}");
}

// ---- app discovery ----

#[test]
fn discovery_follows_directories_across_commits() {
    let fx = fixture();
    for app in ["web", "db"] {
        fx.upstream
            .write(
                &format!("apps/{app}/overlays/production/kustomization.yaml"),
                "resources: []\n",
            )
            .expect("write");
    }
    fx.upstream.commit("two apps").expect("commit");
    let daemon = GitDaemon::start(fx.root.path()).expect("git daemon");
    let mut source = Source::new(fx.source(&daemon.url("config.git"), main_branch()));
    let config = DiscoveryConfig {
        directories: vec![
            DirectoryRule {
                path: "apps/*/overlays/production".to_owned(),
                exclude: false,
            },
            DirectoryRule {
                path: "apps/legacy/**".to_owned(),
                exclude: true,
            },
        ],
        name: "{{path[1]}}".to_owned(),
        namespace: Some("{{path.basename}}-{{path[1]}}".to_owned()),
    };
    let rt = rt();
    let names = |source: &Source| -> Vec<String> {
        discover(&source.current().expect("snapshot").tree, &config)
            .expect("discover")
            .into_iter()
            .map(|app| format!("{}@{}", app.name, app.namespace.unwrap_or_default()))
            .collect()
    };
    rt.block_on(source.sync()).expect("sync");
    assert_eq!(names(&source), ["db@production-db", "web@production-web"]);

    fx.upstream.remove("apps/db").expect("remove");
    for app in ["shop", "legacy"] {
        fx.upstream
            .write(
                &format!("apps/{app}/overlays/production/kustomization.yaml"),
                "resources: []\n",
            )
            .expect("write");
    }
    fx.upstream
        .commit("db leaves, shop arrives")
        .expect("commit");
    rt.block_on(source.sync()).expect("sync");
    assert_eq!(
        names(&source),
        ["shop@production-shop", "web@production-web"]
    );
}
