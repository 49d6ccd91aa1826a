//! Remote charts against real peers: a Helm repository (`helm repo index` output served by
//! lighttpd, with and without basic auth) and an OCI registry (`docker-registry`, filled by
//! `helm push`, anonymous and with htpasswd basic auth). The versions chosen are compared
//! with what the real `helm pull` chooses for the same constraints. Peers start once per
//! test binary and are stopped by PID when the binary ends.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::Digest;
use tether_agent::render::helm_fetch::{
    ChartRequest, Credentials, FetchError, FetchLimits, Fetcher, Repository,
};
use tether_tests::gitserver::run;
use tether_tests::helm_peers::{HelmRepo, OciRegistry, helm3, package_chart};
use zeroize::Zeroizing;

const VERSIONS: [&str; 5] = ["1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "0.3.0+build.7"];
const PASSWORD: &str = "s3cret-helm-pass";

struct Peers {
    charts: Vec<PathBuf>,
    repo: HelmRepo,
    auth_repo: HelmRepo,
    registry: OciRegistry,
    auth_registry: OciRegistry,
    digests: Vec<String>,
    _dir: tempfile::TempDir,
}

fn peers() -> &'static Peers {
    static PEERS: OnceLock<Peers> = OnceLock::new();
    PEERS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let charts: Vec<PathBuf> = VERSIONS
            .iter()
            .map(|v| package_chart(dir.path(), "greeter", v, &[]).expect("helm package"))
            .collect();
        let repo = HelmRepo::start(&charts, None).expect("start the Helm repository");
        let auth_repo = HelmRepo::start(&charts, Some(("reader", PASSWORD)))
            .expect("start the Helm repository");
        let registry = OciRegistry::start(None).expect("start the OCI registry");
        let auth_registry =
            OciRegistry::start(Some(("reader", PASSWORD))).expect("start the OCI registry");
        let digests = charts
            .iter()
            .map(|c| {
                registry
                    .push(c)
                    .unwrap_or_else(|e| panic!("{e}\n{}", registry.log()))
            })
            .collect();
        auth_registry
            .push(&charts[0])
            .unwrap_or_else(|e| panic!("{e}\n{}", auth_registry.log()));
        Peers {
            charts,
            repo,
            auth_repo,
            registry,
            auth_registry,
            digests,
            _dir: dir,
        }
    })
}

fn request(repository: &str, version: &str) -> ChartRequest {
    ChartRequest {
        repository: repository.to_owned(),
        name: "greeter".into(),
        version: version.to_owned(),
        digest: None,
    }
}

fn basic(password: &str) -> Option<Credentials> {
    Some(Credentials::Basic {
        username: "reader".into(),
        password: Zeroizing::new(password.to_owned()),
    })
}

fn fetcher(url: &str, credentials: Option<Credentials>) -> Fetcher {
    let mut repository = Repository::new(url);
    repository.credentials = credentials;
    repository.plain_http = url.starts_with("oci://");
    Fetcher::new(vec![repository], FetchLimits::default())
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read archive");
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The version the real `helm pull` downloads for `constraint` (empty: the latest).
fn helm_pulls(source: &[&str], constraint: &str) -> Option<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = helm3(&dir.path().join("home"));
    cmd.arg("pull")
        .args(source)
        .arg("--destination")
        .arg(dir.path());
    if !constraint.is_empty() {
        cmd.args(["--version", constraint]);
    }
    run(&mut cmd).ok()?;
    let file = std::fs::read_dir(dir.path())
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".tgz"))?;
    Some(
        file.trim_start_matches("greeter-")
            .trim_end_matches(".tgz")
            .to_owned(),
    )
}

const CONSTRAINTS: [&str; 9] = [
    "",
    "^1.0",
    "~1.2",
    "1.x",
    ">=1.0 <1.5",
    ">=2.0.0-0",
    "1.2.0",
    "<1",
    "0.3.0+build.7",
];

#[test]
fn an_http_repository_gives_the_version_helm_pull_gives() {
    let peers = peers();
    let fetcher = fetcher(&peers.repo.url(), None);
    for constraint in CONSTRAINTS {
        let ours = fetcher
            .fetch(&request(&peers.repo.url(), constraint))
            .unwrap_or_else(|e| panic!("{constraint:?}: {e}"));
        let helm = helm_pulls(&["greeter", "--repo", &peers.repo.url()], constraint);
        assert_eq!(
            Some(ours.version.clone()),
            helm,
            "constraint {constraint:?}"
        );
        let file = peers
            .charts
            .iter()
            .find(|c| c.ends_with(format!("greeter-{}.tgz", ours.version)))
            .expect("the archive chosen");
        assert_eq!(ours.digest, sha256(file), "constraint {constraint:?}");
        assert_eq!(*ours.archive, std::fs::read(file).expect("read"));
    }
}

#[test]
fn an_oci_registry_gives_the_version_helm_pull_gives() {
    let peers = peers();
    let url = peers.registry.url();
    let fetcher = fetcher(&url, None);
    let chart = format!("{url}/greeter");
    for constraint in CONSTRAINTS {
        let ours = fetcher
            .fetch(&request(&url, constraint))
            .unwrap_or_else(|e| panic!("{constraint:?}: {e}\n{}", peers.registry.log()));
        let helm = helm_pulls(&[&chart, "--plain-http"], constraint);
        assert_eq!(
            Some(ours.version.clone()),
            helm,
            "constraint {constraint:?}"
        );
        let file = peers
            .charts
            .iter()
            .find(|c| c.ends_with(format!("greeter-{}.tgz", ours.version)))
            .expect("the archive chosen");
        assert_eq!(ours.digest, sha256(file), "constraint {constraint:?}");
    }
}

#[test]
fn a_chart_pinned_by_manifest_digest_is_that_manifest() {
    let peers = peers();
    let url = peers.registry.url();
    let fetcher = fetcher(&url, None);
    let pinned = ChartRequest {
        digest: Some(peers.digests[1].clone()),
        ..request(&url, "")
    };
    let fetched = fetcher.fetch(&pinned).expect("fetch by digest");
    assert_eq!(fetched.version, "1.2.0");
    assert_eq!(fetched.digest, sha256(&peers.charts[1]));
    let wrong = ChartRequest {
        digest: Some(format!("sha256:{}", "0".repeat(64))),
        ..request(&url, "1.2.0")
    };
    let err = fetcher.fetch(&wrong).expect_err("an unknown digest");
    assert!(matches!(err, FetchError::NoMatchingVersion { .. }), "{err}");
}

#[test]
fn one_digest_is_downloaded_once() {
    let peers = peers();
    let repo = HelmRepo::start(&peers.charts[..2], None).expect("start");
    let http = fetcher(&repo.url(), None);
    let first = http.fetch(&request(&repo.url(), "1.2.0")).expect("fetch");
    // The archive leaves the server: later fetches of the same digest cannot download it.
    std::fs::remove_file(repo.folder().join("greeter-1.2.0.tgz")).expect("remove");
    for _ in 0..2 {
        let again = http
            .fetch(&request(&repo.url(), "1.2.0"))
            .expect("fetch from the cache");
        assert_eq!(again.digest, first.digest);
    }
    let gone = fetcher(&repo.url(), None).fetch(&request(&repo.url(), "1.2.0"));
    assert!(
        matches!(gone, Err(FetchError::DownloadFailed { .. })),
        "{gone:?}"
    );
    assert_eq!(http.downloads(), 1);
    let oci = fetcher(&peers.registry.url(), None);
    for _ in 0..2 {
        oci.fetch(&request(&peers.registry.url(), "1.0.0"))
            .expect("fetch");
    }
    assert_eq!(oci.downloads(), 1);
}

#[test]
fn basic_auth_is_sent_to_the_repository_and_never_quoted() {
    let peers = peers();
    let url = peers.auth_repo.url();
    let anonymous = fetcher(&url, None).fetch(&request(&url, "1.0.0"));
    assert!(
        matches!(anonymous, Err(FetchError::Unauthorized { status: 401, .. })),
        "{anonymous:?}"
    );
    let wrong = fetcher(&url, basic("not-the-password")).fetch(&request(&url, "1.0.0"));
    let err = wrong.expect_err("a wrong password");
    assert!(matches!(err, FetchError::Unauthorized { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains("not-the-password"));
    let fetched = fetcher(&url, basic(PASSWORD))
        .fetch(&request(&url, "^1"))
        .expect("fetch with credentials");
    assert_eq!(fetched.version, "1.10.0");
}

#[test]
fn an_oci_registry_with_htpasswd_demands_the_credentials() {
    let peers = peers();
    let url = peers.auth_registry.url();
    let anonymous = fetcher(&url, None).fetch(&request(&url, "1.0.0"));
    assert!(
        matches!(anonymous, Err(FetchError::Unauthorized { .. })),
        "{anonymous:?}"
    );
    let wrong = fetcher(&url, basic("not-the-password"))
        .fetch(&request(&url, "1.0.0"))
        .expect_err("a wrong password");
    assert!(!format!("{wrong} {wrong:?}").contains("not-the-password"));
    let fetched = fetcher(&url, basic(PASSWORD))
        .fetch(&request(&url, ""))
        .unwrap_or_else(|e| panic!("{e}\n{}", peers.auth_registry.log()));
    assert_eq!(fetched.version, "1.0.0");
    assert_eq!(fetched.digest, sha256(&peers.charts[0]));
}

#[test]
fn an_https_repository_is_trusted_through_its_ca_bundle_only() {
    let peers = peers();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = tether_tests::gitserver::TestCa::create(dir.path()).expect("a test CA");
    let repo = HelmRepo::start_tls(&peers.charts[..1], &ca.server_pem).expect("start");
    let url = repo.url();
    assert!(url.starts_with("https://"));
    let err = fetcher(&url, None)
        .fetch(&request(&url, "1.0.0"))
        .expect_err("an unknown CA");
    assert!(
        matches!(err, FetchError::DownloadFailed { .. }) && err.to_string().contains("certificate"),
        "{err}"
    );
    let mut trusted = Repository::new(&url);
    trusted.ca_pem = Some(std::fs::read(&ca.ca_pem).expect("the CA"));
    let fetched = Fetcher::new(vec![trusted], FetchLimits::default())
        .fetch(&request(&url, "1.0.0"))
        .expect("trusted through the CA bundle");
    assert_eq!(fetched.digest, sha256(&peers.charts[0]));
    let mut bad = Repository::new(&url);
    bad.ca_pem = Some(b"not a certificate".to_vec());
    let err = Fetcher::new(vec![bad], FetchLimits::default())
        .fetch(&request(&url, "1.0.0"))
        .expect_err("a bad CA bundle");
    assert!(matches!(err, FetchError::InvalidRepository { .. }), "{err}");
}

#[test]
fn a_registry_with_a_token_service_is_read_with_a_bearer_token() {
    let peers = peers();
    let registry = OciRegistry::start_with_token_service("reader", PASSWORD)
        .expect("start the registry and its token service");
    registry
        .push(&peers.charts[1])
        .unwrap_or_else(|e| panic!("{e}\n{}", registry.log()));
    let url = registry.url();
    let anonymous = fetcher(&url, None).fetch(&request(&url, "1.2.0"));
    assert!(
        matches!(anonymous, Err(FetchError::Unauthorized { .. })),
        "{anonymous:?}"
    );
    let wrong = fetcher(&url, basic("not-the-password"))
        .fetch(&request(&url, "^1"))
        .expect_err("a wrong password");
    assert!(matches!(wrong, FetchError::Unauthorized { .. }), "{wrong}");
    assert!(!format!("{wrong} {wrong:?}").contains("not-the-password"));
    let fetched = fetcher(&url, basic(PASSWORD))
        .fetch(&request(&url, "^1"))
        .unwrap_or_else(|e| panic!("{e}\n{}", registry.log()));
    assert_eq!(fetched.version, "1.2.0");
    assert_eq!(fetched.digest, sha256(&peers.charts[1]));
}

#[test]
fn a_repository_that_is_not_configured_is_never_contacted() {
    let peers = peers();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();
    let only_registry = fetcher(&peers.registry.url(), None);
    for url in [
        format!("http://127.0.0.1:{port}/charts"),
        format!("oci://127.0.0.1:{port}/charts"),
    ] {
        let err = only_registry
            .fetch(&request(&url, "1.0.0"))
            .expect_err("not configured");
        assert!(matches!(err, FetchError::NotAllowed { .. }), "{err}");
    }
    let contacted = listener.accept();
    assert!(
        matches!(&contacted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the unconfigured repository was contacted"
    );
}

#[test]
fn an_archive_that_does_not_match_the_index_digest_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = package_chart(dir.path(), "greeter", "3.0.0", &[]).expect("package");
    let repo = HelmRepo::start(std::slice::from_ref(&chart), None).expect("start");
    // A release replaced in place after it was indexed.
    let other = package_chart(
        &dir.path().join("other"),
        "greeter",
        "3.0.0",
        &[("templates/extra.yaml", "# changed\n")],
    )
    .expect("package");
    std::fs::copy(&other, repo.folder().join("greeter-3.0.0.tgz")).expect("replace");
    let err = fetcher(&repo.url(), None)
        .fetch(&request(&repo.url(), "3.0.0"))
        .expect_err("a replaced archive");
    assert!(matches!(err, FetchError::DigestMismatch { .. }), "{err}");
}

#[test]
fn no_matching_version_names_the_constraint() {
    let peers = peers();
    let url = peers.repo.url();
    let err = fetcher(&url, None)
        .fetch(&request(&url, "^9"))
        .expect_err("no 9.x");
    assert!(matches!(err, FetchError::NoMatchingVersion { .. }), "{err}");
    assert!(err.to_string().contains("^9"));
    let err = fetcher(&url, None)
        .fetch(&request(&url, ">>1"))
        .expect_err("a bad constraint");
    assert!(matches!(err, FetchError::InvalidVersion { .. }), "{err}");
}

// ---- Kustomize `helmCharts`, compared with `kubectl kustomize --enable-helm` (helm 3) ----

use tether_agent::render::{RenderOptions, render};
use tether_agent::tree::{FsTree, RelPath, Tree};
use tether_tests::render_compare;

/// Writes the `webapp` test chart (unpacked) at `dir`.
fn write_webapp(dir: &Path, version: &str) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/helm_release");
    let files = [
        ("values.yaml", "values.yaml"),
        ("templates/secret.yaml", "secret.yaml"),
        ("templates/deployment.yaml", "deployment.yaml"),
        ("templates/hook.yaml", "hook.yaml"),
        ("templates/tests/smoke.yaml", "test-hook.yaml"),
        ("crds/widgets.yaml", "crd.yaml"),
    ];
    for (to, from) in files {
        let path = dir.join(to);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(fixtures.join(from), path).expect("copy");
    }
    std::fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: webapp\nversion: {version}\nappVersion: \"{version}\"\n"),
    )
    .expect("Chart.yaml");
}

/// Renders `dir` with Tether and with `kubectl kustomize --enable-helm --helm-command helm3`
/// (on a copy, since kustomize pulls remote charts into the tree), and compares them.
fn compare_with_kubectl(dir: &Path) -> usize {
    let copy = tempfile::tempdir().expect("tempdir");
    run(std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", dir.display()))
        .arg(copy.path()))
    .expect("copy the kustomization");
    let home = tempfile::tempdir().expect("tempdir");
    let out = run(
        std::process::Command::new(tether_tests::peers::kustomize_kubectl())
            .env("HOME", home.path())
            .args(["kustomize", "--enable-helm", "--helm-command"])
            .arg(tether_tests::peers::peer_binary("helm3"))
            .arg(copy.path()),
    )
    .expect("kubectl kustomize --enable-helm");
    let expected = render_compare::parse(&out).expect("kubectl's output parses");
    let tree = Tree::new(FsTree::new(dir));
    let ours: Vec<serde_json::Value> = render(&tree, &RelPath::root(), &RenderOptions::default())
        .unwrap_or_else(|e| panic!("tether render: {e}"))
        .into_iter()
        .map(|o| o.value)
        .collect();
    render_compare::compare_objects(&expected, &ours)
        .unwrap_or_else(|diff| panic!("differs from kubectl kustomize --enable-helm:\n{diff}"))
}

#[test]
fn helm_charts_under_chart_home_render_as_kubectl_kustomize_enable_helm_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_webapp(&dir.path().join("charts/webapp"), "1.4.0");
    std::fs::write(
        dir.path().join("extra-values.yaml"),
        "replicas: 4\ndb: {password: extra-pw}\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: prod}\n",
    )
    .expect("write");
    let cases = [
        // 5 objects: the ConfigMap, the CRD, the Secret, the Deployment, the hook Job.
        // Inline values override the chart's values file; CRDs in; tests out; transformers
        // apply to the chart's objects.
        "namespace: shop\nnamePrefix: eu-\ncommonLabels: {team: web}\nresources: [settings.yaml]\n\
         helmCharts:\n- name: webapp\n  releaseName: web\n  namespace: shop\n  includeCRDs: true\n  skipTests: true\n\
         \x20 valuesInline: {db: {password: inline-pw}, replicas: 2}\n",
        // 4: merge: the values file wins; additional files come last; test hooks stay.
        "helmCharts:\n- name: webapp\n  releaseName: api\n  valuesMerge: merge\n\
         \x20 valuesInline: {db: {user: inline-user}, greeting: hi}\n  additionalValuesFiles: [extra-values.yaml]\n",
        // 2: replace, and no hooks (the test hook is a hook too).
        "helmCharts:\n- name: webapp\n  releaseName: jobs\n  valuesMerge: replace\n  skipHooks: true\n\
         \x20 valuesInline: {db: {password: replaced}}\n  apiVersions: [example.com/v1]\n  kubeVersion: \"1.30\"\n",
    ];
    std::fs::write(
        dir.path().join("helm-plugin.yaml"),
        "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata: {name: plugin}\n\
         name: webapp\nreleaseName: plugin\nvaluesInline: {db: {password: plugin-pw}}\n",
    )
    .expect("write");
    let cases = cases.into_iter().chain([
        // 3: the builtin plugin under `generators:` (CRDs and tests left out by default).
        "generators: [helm-plugin.yaml]\nnamePrefix: p-\n",
    ]);
    for (kustomization, objects) in cases.zip([5, 4, 2, 4]) {
        std::fs::write(dir.path().join("kustomization.yaml"), kustomization).expect("write");
        assert_eq!(compare_with_kubectl(dir.path()), objects, "{kustomization}");
    }
}

#[test]
fn helm_charts_from_a_repository_render_as_kubectl_kustomize_enable_helm_does() {
    let peers = peers();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!(
            "namespace: greeters\nhelmCharts:\n- name: greeter\n  repo: {}\n  version: 1.2.0\n  releaseName: hi\n\
             \x20 valuesInline: {{greeting: bonjour}}\n",
            peers.repo.url()
        ),
    )
    .expect("write");
    assert_eq!(compare_with_kubectl(dir.path()), 1);
    assert!(
        !dir.path().join("charts").exists(),
        "Tether fetches into memory, never into the tree"
    );
}

#[test]
fn a_chart_already_under_chart_home_is_used_without_network() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The repository does not exist: the chart pulled before (kustomize's layout for a
    // versioned remote chart) is used.
    write_webapp(&dir.path().join("vendor/webapp-9.9.9/webapp"), "9.9.9");
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "helmGlobals: {chartHome: vendor}\nhelmCharts:\n- name: webapp\n  repo: https://charts.invalid/none\n  version: 9.9.9\n  releaseName: offline\n  valuesInline: {db: {password: x}}\n",
    )
    .expect("write");
    let tree = Tree::new(FsTree::new(dir.path()));
    let objects = render(&tree, &RelPath::root(), &RenderOptions::default()).expect("rendered");
    let deployment = objects
        .iter()
        .find(|o| o.value["kind"] == "Deployment")
        .expect("the Deployment");
    assert_eq!(
        deployment.value["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/acme/webapp:9.9.9"
    );
}

#[test]
fn a_missing_local_chart_and_bad_values_merge_name_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = Tree::new(FsTree::new(dir.path()));
    let write =
        |text: &str| std::fs::write(dir.path().join("kustomization.yaml"), text).expect("write");
    write("helmCharts:\n- name: absent\n");
    let err = render(&tree, &RelPath::root(), &RenderOptions::default()).expect_err("no chart");
    assert!(
        err.to_string().contains("helmCharts[0]") && err.to_string().contains("charts/absent"),
        "{err}"
    );
    write_webapp(&dir.path().join("charts/webapp"), "1.0.0");
    write("helmCharts:\n- name: webapp\n  valuesMerge: sometimes\n");
    let err = render(&tree, &RelPath::root(), &RenderOptions::default()).expect_err("bad merge");
    assert!(err.to_string().contains("valuesMerge"), "{err}");
    write("helmCharts:\n- name: webapp\n  chartVersion: 1\n");
    let err =
        render(&tree, &RelPath::root(), &RenderOptions::default()).expect_err("unknown field");
    assert!(err.to_string().contains("chartVersion"), "{err}");
}
