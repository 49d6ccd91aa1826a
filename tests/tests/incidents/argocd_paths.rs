//! Argo CD: files outside the repository (path traversal and symlinks).

use super::*;
use tether_agent::render::RenderOptions;

/// CVE-2022-24348 (GHSA-63qx-x74g-jcr7): a Helm values path with `../`, an absolute path or a
/// symlink let an app read files outside its repository. Every file a kustomization names is
/// held to the same.
#[tokio::test]
async fn cve_2022_24348_dotdot_absolute_and_symlinked_paths_leaving_the_repository_are_refused() {
    let agent = Agent::start().await;
    let l = layout(&[
        (
            "dotdot/kustomization.yaml",
            "resources:\n- ../../outside/leak.yaml\n",
        ),
        (
            "absolute/kustomization.yaml",
            "resources:\n- /etc/hostname\n",
        ),
        ("abs-link/kustomization.yaml", "resources:\n- leak.yaml\n"),
        ("rel-link/kustomization.yaml", "resources:\n- leak.yaml\n"),
    ]);
    let outside = l.outside.join("leak.yaml");
    symlink(&outside, &l.repo.join("abs-link/leak.yaml"));
    symlink(
        Path::new("../../outside/leak.yaml"),
        &l.repo.join("rel-link/leak.yaml"),
    );
    for app in ["dotdot", "absolute", "abs-link", "rel-link"] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Render, "{app}: {message}");
        assert!(
            message.contains(&format!("{app}/kustomization.yaml")),
            "{app}: {message}"
        );
    }
}

/// CVE-2022-24731 (GHSA-h6h5-6fmq-rh28): a crafted chart leaked text files through rendered
/// manifests and error messages. A render error names the file and what is wrong, never the
/// file's content.
#[tokio::test]
async fn cve_2022_24731_render_errors_never_echo_file_contents() {
    let agent = Agent::start().await;
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nKEY-MATERIAL-24731-abcdef\n-----END OPENSSH PRIVATE KEY-----\n";
    let l = layout(&[
        ("key/kustomization.yaml", "resources:\n- id_ed25519\n"),
        ("key/id_ed25519", key),
        ("broken/kustomization.yaml", "resources:\n- values.yaml\n"),
        (
            "broken/values.yaml",
            "password: [unclosed, VALUE-LINE-24731\n  : : :\n",
        ),
        (
            "patch/kustomization.yaml",
            "resources:\n- cm.yaml\npatches:\n- path: token.txt\n",
        ),
        ("patch/cm.yaml", &configmap("cm")),
        ("patch/token.txt", "TOKEN-TEXT-24731 is not a patch\n"),
        ("plain/notes.yaml", "just: [text, PLAIN-TEXT-24731\n"),
    ]);
    for (app, content) in [
        ("key", "KEY-MATERIAL-24731"),
        ("broken", "VALUE-LINE-24731"),
        ("patch", "TOKEN-TEXT-24731"),
        ("plain", "PLAIN-TEXT-24731"),
    ] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Render, "{app}: {message}");
        assert!(
            !message.contains(content),
            "{app}: the error echoes the file: {message}"
        );
        assert!(
            message.contains(app),
            "{app}: the error names no file: {message}"
        );
    }
}

/// CVE-2022-24904 (GHSA-6gcg-hp2x-q54h) and CVE-2022-31036: symlinks in directory apps (and
/// chart folders) leaked manifests from outside the repository. A symlink that leaves the root
/// is a hard error, for absolute and relative targets alike.
#[tokio::test]
async fn cve_2022_24904_a_symlink_leaving_the_repository_is_a_hard_error() {
    let agent = Agent::start().await;
    let l = layout(&[
        ("abs/cm.yaml", &configmap("a")),
        ("rel/cm.yaml", &configmap("b")),
    ]);
    symlink(&l.outside.join("leak.yaml"), &l.repo.join("abs/leak.yaml"));
    symlink(
        Path::new("../../outside/leak.yaml"),
        &l.repo.join("rel/leak.yaml"),
    );
    symlink(&l.outside, &l.repo.join("dir-link"));
    for app in ["abs", "rel", "dir-link"] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Render, "{app}: {message}");
    }
    // A symlink inside the repository is followed.
    symlink(Path::new("../abs/cm.yaml"), &l.repo.join("inside/cm.yaml"));
    match agent.run("inside", &l.repo, "inside").await {
        Outcome::Synced(result) => assert!(result.is_success()),
        Outcome::Failed(stage, message) => panic!("an inside symlink: {stage:?}: {message}"),
    }
}

/// A chart whose templates read the outside file through `.Files`, or whose files are links
/// leaving the repository.
const CHART: &str = "apiVersion: v2\nname: probe\nversion: 0.1.0\n";

/// CVE-2022-31036 (GHSA-q4w5-4gq2-98vm; Helm-type apps followed symlinks out of the repository)
/// and CVE-2022-24348 for charts: a values file, template, chart file or packaged subchart that
/// leaves the repository is refused, naming the file; `.Files` answers only from the chart
/// itself (as `helm template` does, a path outside it reads as empty). GHSA-6jqw-jwf5-rp8h (one
/// app reading another's chart by a predictable path) is the absolute case: an app names only
/// files of its own snapshot, never the archive cache or another source's folder.
#[tokio::test]
async fn cve_2022_31036_ghsa_6jqw_charts_read_nothing_outside_the_repository() {
    let agent = Agent::start().await;
    let files_template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: files\ndata:\n  up: {{ .Files.Get \"../../outside/leak.yaml\" | quote }}\n  abs: {{ .Files.Get \"/etc/hostname\" | quote }}\n  glob: \"{{ range $p, $_ := .Files.Glob \"../**\" }}{{ $p }} {{ end }}\"\n";
    let l = layout(&[
        ("values-up/Chart.yaml", CHART),
        ("values-abs/Chart.yaml", CHART),
        ("values-link/Chart.yaml", CHART),
        ("template-link/Chart.yaml", CHART),
        ("files/Chart.yaml", CHART),
        ("files/templates/cm.yaml", files_template),
        ("file-link/Chart.yaml", CHART),
        (
            "file-link/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: f\ndata:\n  v: {{ .Files.Get \"leak.txt\" | quote }}\n",
        ),
        (
            "kustomize/kustomization.yaml",
            "helmCharts:\n- name: local\n  valuesFile: ../../outside/leak.yaml\n",
        ),
        (
            "kustomize/charts/local/Chart.yaml",
            "apiVersion: v2\nname: local\nversion: 0.1.0\n",
        ),
        ("packaged/Chart.yaml", CHART),
    ]);
    let outside = l.outside.join("leak.yaml");
    symlink(&outside, &l.repo.join("values-link/values.yaml"));
    symlink(&outside, &l.repo.join("template-link/templates/leak.yaml"));
    symlink(&outside, &l.repo.join("file-link/leak.txt"));
    package_with_escape(&l, &l.repo.join("packaged/charts/sub-0.1.0.tgz"));
    let chart = |values: &str| RenderOptions {
        helm: Some(tether_agent::render::helm::ChartSettings {
            value_files: if values.is_empty() {
                vec![]
            } else {
                vec![values.to_owned()]
            },
            ..Default::default()
        }),
        ..RenderOptions::default()
    };
    for (app, values, names) in [
        ("values-up", "../../outside/leak.yaml", "leak.yaml"),
        ("values-abs", "/etc/hostname", "/etc/hostname"),
        ("values-link", "values.yaml", "values-link/values.yaml"),
        ("template-link", "", "template-link/templates/leak.yaml"),
        ("file-link", "", "file-link/leak.txt"),
        ("kustomize", "", "valuesFile"),
        ("packaged", "", "sub-0.1.0.tgz"),
    ] {
        let (stage, message) = match agent.run_with(app, &l.repo, app, &chart(values)).await {
            Outcome::Failed(stage, message) => (stage, message),
            Outcome::Synced(result) => panic!("{app}: accepted: {:?}", result.changes),
        };
        assert!(
            !message.contains(OUTSIDE_MARK),
            "{app}: shows the file: {message}"
        );
        assert_eq!(stage, Stage::Render, "{app}: {message}");
        assert!(
            message.contains(names),
            "{app}: does not name {names}: {message}"
        );
    }
    // `.Files` outside the chart reads as empty, as with `helm template`.
    let tree = tether_agent::tree::Tree::new(tether_agent::tree::FsTree::new(&l.repo));
    let dir = tether_agent::tree::RelPath::parse("files").expect("a path");
    let objects = tether_agent::render::render(&tree, &dir, &chart("")).expect("renders");
    let [object] = objects.as_slice() else {
        panic!("one ConfigMap: {} objects", objects.len())
    };
    let data = &object.value["data"];
    assert_eq!(data["up"], "", "{}", object.value);
    assert_eq!(data["abs"], "", "{}", object.value);
    assert_eq!(data["glob"], "", "{}", object.value);
    assert!(!object.value.to_string().contains(OUTSIDE_MARK));
}

/// Packages a subchart whose archive holds a member named `../escape.yaml` and a link to the
/// outside file, as a crafted chart would.
fn package_with_escape(layout: &Layout, archive: &Path) {
    let staging = layout.outside.join("staging");
    std::fs::create_dir_all(staging.join("sub/templates")).expect("mkdir");
    std::fs::write(
        staging.join("sub/Chart.yaml"),
        "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
    )
    .expect("write");
    symlink(
        &layout.outside.join("leak.yaml"),
        &staging.join("sub/templates/leak.yaml"),
    );
    std::fs::write(staging.join("escape.yaml"), "a: b\n").expect("write");
    std::fs::create_dir_all(archive.parent().expect("a parent")).expect("mkdir");
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(staging.join("sub"))
        .args(["-czPf"])
        .arg(archive)
        .args([
            "--transform",
            "s,^\\./,sub/,",
            "./Chart.yaml",
            "./templates",
            "../escape.yaml",
        ])
        .status()
        .expect("run tar");
    assert!(status.success(), "tar failed");
}
