//! `tether-agent promote`: on a new branch of a repository served by `git daemon`, the
//! production overlay gets what staging runs; the printed diff is exactly the change; the
//! pull (GitHub) or merge (GitLab) request is opened through their REST API.

use crate::forge::{Forge, GITHUB_TOKEN, GITLAB_TOKEN};
use std::process::Command;
use tether_tests::gitserver::{GitDaemon, Upstream, run};

const STAGING: &str = "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../base]
images:
  - name: shop/frontend
    newName: registry.example/shop/frontend
    newTag: 1.4.0
  - name: shop/worker
    newTag: 2.1.0 # {\"$imagepolicy\": \"shop:worker:tag\"}
";

const PRODUCTION: &str = "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../base]
# production runs what was reviewed
images:
  - name: shop/frontend
    newName: registry.example/shop/frontend
    newTag: 1.2.0
  - name: shop/worker
    newTag: 2.0.0 # {\"$imagepolicy\": \"shop:worker:tag\"}
namePrefix: prod-
";

const EXPECTED_DIFF: &str = "--- a/apps/shop/overlays/production/kustomization.yaml
+++ b/apps/shop/overlays/production/kustomization.yaml
@@ -5,7 +5,7 @@
 images:
   - name: shop/frontend
     newName: registry.example/shop/frontend
-    newTag: 1.2.0
+    newTag: 1.4.0
   - name: shop/worker
-    newTag: 2.0.0 # {\"$imagepolicy\": \"shop:worker:tag\"}
+    newTag: 2.1.0 # {\"$imagepolicy\": \"shop:worker:tag\"}
 namePrefix: prod-
";

struct Setup {
    upstream: Upstream,
    daemon: GitDaemon,
    main: String,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temporary folder");
    let upstream = Upstream::create(dir.path(), "config").expect("repository");
    upstream
        .write(
            "apps/shop/base/kustomization.yaml",
            "resources: [deploy.yaml]\n",
        )
        .expect("write");
    upstream
        .write("apps/shop/overlays/staging/kustomization.yaml", STAGING)
        .expect("write");
    upstream
        .write(
            "apps/shop/overlays/production/kustomization.yaml",
            PRODUCTION,
        )
        .expect("write");
    upstream
        .write(
            "apps/shop/overlays/production/replicas.yaml",
            "replicas: 5\n",
        )
        .expect("write");
    upstream
        .write("apps/shop/overlays/staging/replicas.yaml", "replicas: 1\n")
        .expect("write");
    let main = upstream
        .commit("shop in staging and production")
        .expect("commit");
    let daemon = GitDaemon::start(dir.path()).expect("git daemon");
    Setup {
        upstream,
        daemon,
        main,
        dir,
    }
}

fn show(setup: &Setup, rev: &str) -> String {
    run(Command::new("git")
        .arg("-C")
        .arg(&setup.upstream.bare)
        .args(["show", rev]))
    .unwrap_or_default()
}

fn promote(setup: &Setup, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(tether_tests::bins::tether_agent())
        .args([
            "promote",
            "shop",
            "--from",
            "staging",
            "--to",
            "production",
            "--url",
        ])
        .arg(setup.daemon.url("config.git"))
        .args(extra)
        .output()
        .expect("run tether-agent promote");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn promotion_pushes_a_branch_with_exactly_the_expected_diff_and_opens_a_pull_request() {
    let setup = setup();
    let forge = Forge::start();
    let token = setup.dir.path().join("github-token");
    std::fs::write(&token, format!("{GITHUB_TOKEN}\n")).expect("write");
    let api = forge.served.url();
    let (code, stdout, stderr) = promote(
        &setup,
        &[
            "--github",
            "owner/config",
            "--github-api",
            &api,
            "--token-file",
            token.to_str().expect("path"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, EXPECTED_DIFF);
    assert!(
        stderr.contains("review opened: https://github.example/owner/config/pull/7"),
        "{stderr}"
    );
    assert!(!stderr.contains(GITHUB_TOKEN) && !stdout.contains(GITHUB_TOKEN));
    // The branch holds exactly that change on top of main; main is untouched.
    let branch = "promote/shop-production";
    assert_eq!(
        show(
            &setup,
            &format!("{branch}:apps/shop/overlays/production/kustomization.yaml")
        ),
        PRODUCTION
            .replace("1.2.0", "1.4.0")
            .replace("2.0.0 #", "2.1.0 #")
            .trim_end()
    );
    assert_eq!(
        show(&setup, &format!("{branch}~1")).lines().next(),
        Some(format!("commit {}", setup.main).as_str())
    );
    assert_eq!(
        show(
            &setup,
            &format!("{branch}:apps/shop/overlays/production/replicas.yaml")
        ),
        "replicas: 5"
    );
    assert_eq!(setup.upstream.head().expect("head"), setup.main);
    let names = run(Command::new("git")
        .arg("-C")
        .arg(&setup.upstream.bare)
        .args(["diff", "--name-only", &setup.main, branch]))
    .expect("diff");
    assert_eq!(names, "apps/shop/overlays/production/kustomization.yaml");
    let requests = forge.received();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let pr = &requests[0];
    assert_eq!(pr.path, "/repos/owner/config/pulls");
    assert!(pr.problems.is_empty(), "{:?}", pr.problems);
    assert_eq!(pr.json["head"], branch);
    assert_eq!(pr.json["base"], "main");
    assert_eq!(
        pr.json["title"],
        "Promote shop to production (from staging)"
    );
    assert!(
        pr.json["body"]
            .as_str()
            .unwrap_or_default()
            .contains("1.2.0 -> 1.4.0"),
        "{}",
        pr.json
    );

    // Promoting again changes nothing more on the branch's base: the same diff, force-pushed.
    let (code, again, _) = promote(&setup, &[]);
    assert_eq!((code, again.as_str()), (0, EXPECTED_DIFF));
}

#[test]
fn a_gitlab_merge_request_is_opened_and_a_named_file_is_promoted_whole() {
    let setup = setup();
    let forge = Forge::start();
    let token = setup.dir.path().join("gitlab-token");
    std::fs::write(&token, GITLAB_TOKEN).expect("write");
    let api = format!("{}/api/v4", forge.served.url());
    let (code, stdout, stderr) = promote(
        &setup,
        &[
            "--gitlab",
            "group/config",
            "--gitlab-api",
            &api,
            "--token-file",
            token.to_str().expect("path"),
            "--file",
            "replicas.yaml",
            "--head",
            "promote/shop",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("-replicas: 5\n+replicas: 1\n"), "{stdout}");
    assert!(stderr.contains("merge_requests/3"), "{stderr}");
    let requests = forge.received();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].path,
        "/api/v4/projects/group%2Fconfig/merge_requests"
    );
    assert!(
        requests[0].problems.is_empty(),
        "{:?}",
        requests[0].problems
    );
    assert_eq!(requests[0].json["source_branch"], "promote/shop");
    assert_eq!(requests[0].json["target_branch"], "main");
}

#[test]
fn a_dry_run_or_nothing_to_promote_pushes_nothing_and_a_missing_overlay_is_named() {
    let setup = setup();
    let (code, _, stderr) = promote(&setup, &["--overlays", "apps/shop/overlays", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("dry run"), "{stderr}");
    let branches = run(Command::new("git")
        .arg("-C")
        .arg(&setup.upstream.bare)
        .args(["branch", "--list"]))
    .expect("branches");
    assert_eq!(branches.trim(), "* main", "a dry run pushes nothing");
    // Once promoted, promoting from that branch again finds nothing to do.
    assert_eq!(promote(&setup, &[]).0, 0);
    let (code, stdout, stderr) = promote(
        &setup,
        &[
            "--branch",
            "promote/shop-production",
            "--head",
            "promote/again",
        ],
    );
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert!(stderr.contains("nothing to promote"), "{stderr}");
    let branches = run(Command::new("git")
        .arg("-C")
        .arg(&setup.upstream.bare)
        .args(["branch", "--list", "promote/again"]))
    .expect("branches");
    assert!(branches.is_empty(), "{branches}");
    let out = Command::new(tether_tests::bins::tether_agent())
        .args([
            "promote", "shop", "--from", "staging", "--to", "prod", "--url",
        ])
        .arg(setup.daemon.url("config.git"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("apps/shop/overlays/prod: no such overlay on branch main")
    );
    // Staging promoted onto itself is a usage error.
    let out = Command::new(tether_tests::bins::tether_agent())
        .args([
            "promote",
            "shop",
            "--from",
            "staging",
            "--to",
            "staging",
            "--url",
            "git://127.0.0.1:1/x",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}
