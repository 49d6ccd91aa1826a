use super::*;
use crate::images::update::{Change, Chosen, apply_setters};

/// A bare "remote" with one commit holding `files`.
fn origin(dir: &std::path::Path, files: &[(&str, &str)]) -> git2::Repository {
    let repo = git2::Repository::init_bare(dir.join("origin.git")).unwrap();
    commit_to(&repo, files, "initial");
    repo
}

fn commit_to(repo: &git2::Repository, files: &[(&str, &str)], message: &str) -> git2::Oid {
    let parent = repo
        .find_reference("refs/heads/main")
        .ok()
        .and_then(|r| r.peel_to_commit().ok());
    let base = parent.as_ref().map(|p| p.tree().unwrap());
    let mut builder = git2::build::TreeUpdateBuilder::new();
    for (path, text) in files {
        let blob = repo.blob(text.as_bytes()).unwrap();
        builder.upsert(*path, blob, git2::FileMode::Blob);
    }
    let tree_id = match &base {
        Some(b) => builder.create_updated(repo, b).unwrap(),
        None => {
            let empty = repo.treebuilder(None).unwrap().write().unwrap();
            builder
                .create_updated(repo, &repo.find_tree(empty).unwrap())
                .unwrap()
        }
    };
    let tree = repo.find_tree(tree_id).unwrap();
    let sig = git2::Signature::now("someone", "someone@example.com").unwrap();
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(
        Some("refs/heads/main"),
        &sig,
        &sig,
        message,
        &tree,
        &parents,
    )
    .unwrap()
}

fn read(repo: &git2::Repository, branch: &str, path: &str) -> String {
    let commit = repo
        .find_reference(&format!("refs/heads/{branch}"))
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let entry = commit
        .tree()
        .unwrap()
        .get_path(std::path::Path::new(path))
        .unwrap();
    String::from_utf8(repo.find_blob(entry.id()).unwrap().content().to_vec()).unwrap()
}

fn target(dir: &std::path::Path) -> WriteTarget {
    WriteTarget {
        url: RedactedUrl::new(format!("file://{}", dir.join("origin.git").display())),
        branch: "main".into(),
        push_branch: "main".into(),
        cache: dir.join("cache.git"),
        credentials: Credentials::none(),
        author_name: "tether".into(),
        author_email: "tether@example.com".into(),
        signer: None,
        max_retries: 2,
    }
}

const DEPLOY: &str = "image: ghcr.io/org/app:1.0.0 # {\"$imagepolicy\": \"ns:app\"}\n";

fn setter_edit(tag: &str) -> impl FnMut(&Files) -> Result<Edits, PushError> {
    let chosen = BTreeMap::from([(
        "ns:app".to_owned(),
        Chosen {
            image: "ghcr.io/org/app".into(),
            tag: tag.into(),
            digest: None,
        },
    )]);
    move |files: &Files| {
        let mut edits = Edits {
            files: BTreeMap::new(),
            changes: Vec::new(),
        };
        for (path, text) in files {
            let (new, changes) = apply_setters(path, text, &chosen)?;
            if !changes.is_empty() {
                edits.files.insert(path.clone(), new);
                edits.changes.extend(changes);
            }
        }
        Ok(edits)
    }
}

fn message(changes: &[Change], _files: &Files) -> Result<String, String> {
    Ok(format!("images: {} change(s)", changes.len()))
}

#[test]
fn updates_are_committed_and_pushed_and_nothing_to_change_makes_no_commit() {
    let dir = tempfile::tempdir().unwrap();
    let remote = origin(
        dir.path(),
        &[("apps/app/deploy.yaml", DEPLOY), ("README.md", "x")],
    );
    let target = target(dir.path());
    let pushed = target
        .update(&["apps".into()], &mut setter_edit("1.1.0"), &message)
        .unwrap()
        .expect("a commit");
    assert_eq!(pushed.changes.len(), 1);
    assert_eq!(
        read(&remote, "main", "apps/app/deploy.yaml"),
        DEPLOY.replace("1.0.0", "1.1.0")
    );
    let head = remote
        .find_reference("refs/heads/main")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(head.id().to_string(), pushed.commit);
    assert_eq!(head.author().name(), Some("tether"));
    assert_eq!(head.message(), Some("images: 1 change(s)"));
    // The same choice again: nothing to change, no commit.
    assert!(
        target
            .update(&["apps".into()], &mut setter_edit("1.1.0"), &message)
            .unwrap()
            .is_none()
    );
    let again = remote
        .find_reference("refs/heads/main")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(again.id(), head.id());
}

#[test]
fn files_outside_the_paths_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let remote = origin(
        dir.path(),
        &[
            ("apps/app/deploy.yaml", DEPLOY),
            ("other/deploy.yaml", DEPLOY),
        ],
    );
    target(dir.path())
        .update(&["apps/app".into()], &mut setter_edit("2.0.0"), &message)
        .unwrap();
    assert_eq!(read(&remote, "main", "other/deploy.yaml"), DEPLOY);
    assert!(read(&remote, "main", "apps/app/deploy.yaml").contains("2.0.0"));
}

#[test]
fn a_push_refused_because_someone_pushed_first_is_applied_again_on_their_commit() {
    let dir = tempfile::tempdir().unwrap();
    let remote = origin(dir.path(), &[("apps/app/deploy.yaml", DEPLOY)]);
    let target = target(dir.path());
    let mut inner = setter_edit("1.2.0");
    let mut raced = false;
    let mut edit = |files: &Files| {
        if !raced {
            raced = true;
            // Someone else pushes between our fetch and our push.
            commit_to(
                &remote,
                &[("apps/app/other.yaml", "a: 1\n")],
                "a colleague's change",
            );
        }
        inner(files)
    };
    let pushed = target
        .update(&[], &mut edit, &message)
        .unwrap()
        .expect("a commit");
    assert_eq!(pushed.retries, 1);
    assert_eq!(read(&remote, "main", "apps/app/other.yaml"), "a: 1\n");
    assert!(read(&remote, "main", "apps/app/deploy.yaml").contains("1.2.0"));
    let head = remote
        .find_reference("refs/heads/main")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(
        head.parent(0).unwrap().message(),
        Some("a colleague's change")
    );
}

#[test]
fn a_separate_push_branch_leaves_the_branch_alone() {
    let dir = tempfile::tempdir().unwrap();
    let remote = origin(dir.path(), &[("deploy.yaml", DEPLOY)]);
    let mut target = target(dir.path());
    target.push_branch = "images/updates".into();
    target
        .update(&[], &mut setter_edit("3.0.0"), &message)
        .unwrap()
        .expect("a commit");
    assert_eq!(read(&remote, "main", "deploy.yaml"), DEPLOY);
    assert!(read(&remote, "images/updates", "deploy.yaml").contains("3.0.0"));
}

#[test]
fn broken_yaml_stops_the_update_before_any_commit() {
    let dir = tempfile::tempdir().unwrap();
    let broken = "a: [1\nimage: x:1 # {\"$imagepolicy\": \"ns:app\"}\n";
    let remote = origin(
        dir.path(),
        &[("deploy.yaml", DEPLOY), ("broken.yaml", broken)],
    );
    let before = remote.find_reference("refs/heads/main").unwrap().target();
    let err = target(dir.path())
        .update(&[], &mut setter_edit("9.0.0"), &message)
        .unwrap_err();
    assert_eq!(err.reason(), "ManifestInvalid", "{err}");
    assert!(err.to_string().contains("broken.yaml"), "{err}");
    assert_eq!(
        remote.find_reference("refs/heads/main").unwrap().target(),
        before
    );
}

#[test]
fn commits_are_signed_with_an_ssh_key_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let remote = origin(dir.path(), &[("deploy.yaml", DEPLOY)]);
    let key =
        ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, ssh_key::Algorithm::Ed25519).unwrap();
    let key_path = dir.path().join("signing");
    std::fs::write(
        &key_path,
        key.to_openssh(ssh_key::LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    let mut target = target(dir.path());
    target.signer = Some(super::Signer::Ssh(key_path));
    let pushed = target
        .update(&[], &mut setter_edit("1.5.0"), &message)
        .unwrap()
        .unwrap();
    let (signature, signed) = remote
        .extract_signature(&git2::Oid::from_str(&pushed.commit).unwrap(), None)
        .unwrap();
    let sig = ssh_key::SshSig::from_pem(signature.as_str().unwrap()).unwrap();
    key.public_key().verify("git", &signed, &sig).unwrap();
}

#[test]
fn unknown_schemes_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut target = target(dir.path());
    target.url = RedactedUrl::new("ftp://user:hunter22@git.example/config.git");
    let err = target
        .update(&[], &mut setter_edit("1"), &message)
        .unwrap_err();
    assert_eq!(err.reason(), "PushUnsupported");
    assert!(err.to_string().contains("over ftp"), "{err}");
    assert!(!err.to_string().contains("hunter22"), "{err}");
}
