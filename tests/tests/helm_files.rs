//! `.Files` (Get, Glob, Lines, AsConfig, AsSecrets), in a chart and in its subchart, never
//! reaches outside the chart: `../` and absolute paths, `.helmignore`d files, symlinks in a
//! Git snapshot and in a `.tgz`. Compared with the real `helm template` on the same chart:
//! where helm reads nothing outside, Tether renders the same objects; where helm follows a
//! symlink out of a chart directory (it does), Tether refuses the chart, naming the link.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::Value;
use tether_agent::render::helm::{ReleaseOptions, load_archive, load_dir, render};
use tether_agent::source::{RedactedUrl, Reference, SourceConfig, fetch_snapshot_blocking};
use tether_agent::tree::{RelPath, Tree};
use tether_tests::gitserver::{Upstream, run};
use tether_tests::helm_peers::helm3;
use tether_tests::render_compare;

const OUTSIDE: &str = "OUTSIDE-THE-CHART-5b1e";
const IGNORED: &str = "IGNORED-BY-HELMIGNORE-2c7a";

const TEMPLATE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: files
data:
  own: {{ .Files.Get "files/a.txt" | quote }}
  alias: {{ .Files.Get "files/alias.txt" | quote }}
  parent: {{ .Files.Get "../outside.txt" | quote }}
  climb: {{ .Files.Get "files/../../outside.txt" | quote }}
  absolute: {{ .Files.Get "/etc/hostname" | quote }}
  ignored: {{ .Files.Get "secret.txt" | quote }}
  glob: "{{ range $p, $_ := .Files.Glob "**" }}{{ $p }},{{ end }}"
  globParent: "{{ range $p, $_ := .Files.Glob "../*" }}{{ $p }},{{ end }}"
  globAbsolute: "{{ range $p, $_ := .Files.Glob "/etc/*" }}{{ $p }},{{ end }}"
  lines: {{ .Files.Lines "../outside.txt" | len | quote }}
  linesOwn: {{ .Files.Lines "files/a.txt" | len | quote }}
  config: {{ (.Files.Glob "../*").AsConfig | quote }}
  configOwn: {{ (.Files.Glob "files/*.txt").AsConfig | quote }}
  secrets: {{ (.Files.Glob "{../*,/etc/*}").AsSecrets | quote }}
  secretsOwn: {{ (.Files.Glob "files/a.txt").AsSecrets | quote }}
"#;

const SUB_TEMPLATE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: sub-files
data:
  own: {{ .Files.Get "b.txt" | quote }}
  parentsFile: {{ .Files.Get "../../files/a.txt" | quote }}
  up: {{ .Files.Get "../../../outside.txt" | quote }}
  glob: "{{ range $p, $_ := .Files.Glob "../**" }}{{ $p }},{{ end }}"
  config: {{ (.Files.Glob "**.txt").AsConfig | quote }}
"#;

/// Writes the chart `name` (and a file beside it, outside it) into the working copy.
fn write_chart(upstream: &Upstream, name: &str) {
    let files = [
        ("outside.txt", OUTSIDE.to_owned()),
        (
            "Chart.yaml",
            format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"),
        ),
        (".helmignore", "secret.txt\n".to_owned()),
        ("secret.txt", IGNORED.to_owned()),
        ("files/a.txt", "alpha\nbeta\n".to_owned()),
        ("templates/cm.yaml", TEMPLATE.to_owned()),
        (
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 0.1.0\n".to_owned(),
        ),
        ("charts/sub/b.txt", "bravo\n".to_owned()),
        ("charts/sub/templates/cm.yaml", SUB_TEMPLATE.to_owned()),
    ];
    for (path, text) in files {
        let path = if path == "outside.txt" {
            path.to_owned()
        } else {
            format!("{name}/{path}")
        };
        upstream.write(&path, text).expect("write");
    }
    // A symlink inside the chart is followed, as helm follows it.
    upstream
        .symlink(&format!("{name}/files/alias.txt"), "a.txt")
        .expect("symlink");
}

/// The repository's commit as the Git source reads it.
fn snapshot(root: &Path, upstream: &Upstream) -> Tree {
    let url = format!("file://{}", upstream.bare.display());
    let config = SourceConfig::new(
        "files",
        RedactedUrl::new(&url),
        Reference::branch("main").expect("a branch"),
        root.join("cache"),
    );
    fetch_snapshot_blocking(&config, Arc::new(AtomicBool::new(false)))
        .expect("a snapshot")
        .tree
}

fn options() -> ReleaseOptions {
    ReleaseOptions {
        release_name: "files".into(),
        ..ReleaseOptions::default()
    }
}

fn helm_template(root: &Path, chart: &Path) -> Result<String, String> {
    let mut cmd = helm3(&root.join("helm-home"));
    cmd.args(["template", "files"]).arg(chart);
    run(&mut cmd).map_err(|e| e.to_string())
}

fn ours(objects: impl Iterator<Item = Value>) -> Vec<Value> {
    objects.collect()
}

fn assert_nothing_from_outside(objects: &[Value]) {
    let text = serde_json::to_string(objects).expect("JSON");
    for secret in [OUTSIDE, IGNORED] {
        assert!(!text.contains(secret), "{secret} was read: {text}");
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret);
        assert!(!text.contains(&encoded), "{secret} was read: {text}");
    }
}

#[test]
fn files_in_a_git_snapshot_and_a_tgz_stay_inside_the_chart_as_helm_template_renders_them() {
    let root = tempfile::tempdir().expect("tempdir");
    let upstream = Upstream::create(root.path(), "charts").expect("an upstream");
    write_chart(&upstream, "web");
    upstream.commit("a chart").expect("commit");
    let tree = snapshot(root.path(), &upstream);

    let chart = load_dir(&tree, &RelPath::parse("web").expect("a path")).expect("loaded");
    let release = render(&chart, &options()).expect("rendered");
    let objects = ours(release.objects.into_iter().map(|o| o.value));
    assert_nothing_from_outside(&objects);
    let main = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "files")
        .expect("the chart's ConfigMap");
    assert_eq!(main["data"]["own"], "alpha\nbeta\n");
    assert_eq!(main["data"]["alias"], "alpha\nbeta\n");
    assert_eq!(main["data"]["linesOwn"], "2");
    let sub = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "sub-files")
        .expect("the subchart's ConfigMap");
    assert_eq!(sub["data"]["own"], "bravo\n");
    assert_eq!(sub["data"]["parentsFile"], "");

    // The real helm renders the same directory to the same objects.
    let printed = helm_template(root.path(), &upstream.work.join("web")).expect("helm template");
    let expected = render_compare::parse(&printed).expect("helm's output parses");
    render_compare::compare_objects(&expected, &objects)
        .unwrap_or_else(|diff| panic!("the Git snapshot differs from helm template:\n{diff}"));

    // The same chart packaged: `helm template` and Tether agree on the archive too.
    let archive = root.path().join("web-0.1.0.tgz");
    run(std::process::Command::new("tar")
        .arg("-C")
        .arg(&upstream.work)
        .args(["--hard-dereference", "-czhf"])
        .arg(&archive)
        .arg("web"))
    .expect("tar");
    let bytes = std::fs::read(&archive).expect("read the archive");
    let chart = load_archive("web-0.1.0.tgz", &bytes).expect("the archive loads");
    let from_archive = ours(
        render(&chart, &options())
            .expect("rendered")
            .objects
            .into_iter()
            .map(|o| o.value),
    );
    assert!(
        !serde_json::to_string(&from_archive)
            .expect("JSON")
            .contains(OUTSIDE)
    );
    let printed = helm_template(root.path(), &archive).expect("helm template of the archive");
    let expected = render_compare::parse(&printed).expect("helm's output parses");
    render_compare::compare_objects(&expected, &from_archive)
        .unwrap_or_else(|diff| panic!("the archive differs from helm template:\n{diff}"));
}

#[test]
fn a_symlink_out_of_the_chart_is_refused_where_helm_would_follow_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let upstream = Upstream::create(root.path(), "charts").expect("an upstream");
    write_chart(&upstream, "climbs");
    upstream
        .symlink("climbs/files/link.txt", "../../outside.txt")
        .expect("symlink");
    write_chart(&upstream, "absolute");
    upstream
        .symlink("absolute/files/link.txt", "/etc/hostname")
        .expect("symlink");
    upstream.commit("charts with links").expect("commit");
    let tree = snapshot(root.path(), &upstream);

    // helm follows the link out of the chart directory: `AsConfig` prints the outside file.
    let printed = helm_template(root.path(), &upstream.work.join("climbs")).expect("helm");
    assert!(
        printed.contains(OUTSIDE),
        "helm reads through the link: {printed}"
    );

    // Tether refuses the chart, naming the link, and reads nothing.
    let err = load_dir(&tree, &RelPath::parse("climbs").expect("a path"))
        .expect_err("a link out of the chart")
        .to_string();
    assert!(
        err.contains("climbs")
            && err.contains("files/link.txt")
            && err.contains("leaves the chart"),
        "{err}"
    );
    assert!(!err.contains(OUTSIDE), "{err}");
    let err = load_dir(&tree, &RelPath::parse("absolute").expect("a path"))
        .expect_err("a link out of the repository")
        .to_string();
    assert!(err.contains("link.txt"), "{err}");

    // In an archive, a link entry is refused (helm reads it as an empty file).
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = dir.path().join("linked");
    std::fs::create_dir_all(chart.join("templates")).expect("mkdir");
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: linked\nversion: 0.1.0\n",
    )
    .expect("write");
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: linked}\ndata:\n  link: {{ .Files.Get \"link.txt\" | quote }}\n",
    )
    .expect("write");
    std::os::unix::fs::symlink("/etc/hostname", chart.join("link.txt")).expect("symlink");
    let archive = dir.path().join("linked-0.1.0.tgz");
    run(std::process::Command::new("tar")
        .arg("-C")
        .arg(dir.path())
        .arg("-czf")
        .arg(&archive)
        .arg("linked"))
    .expect("tar");
    let printed = helm_template(root.path(), &archive).expect("helm template of the archive");
    assert!(
        printed.contains("link: \"\""),
        "helm reads nothing: {printed}"
    );
    let err = load_archive("linked-0.1.0.tgz", &std::fs::read(&archive).expect("read"))
        .expect_err("a link entry")
        .to_string();
    assert!(err.contains("linked/link.txt"), "{err}");
}
