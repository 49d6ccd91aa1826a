//! `helmRepositories`: credentials (from files or a Secret), CA bundles and plain HTTP for
//! remote charts, matched by URL prefix, against real peers: a Helm repository served by
//! lighttpd with basic auth, one over HTTPS with a private CA, and an OCI registry
//! (`docker-registry`) with htpasswd. Used by Kustomize's `helmCharts` and by a `helm:` app
//! with a remote chart (`repoURL`, `chart`, `targetRevision`). Peers start once per binary.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};
use tether_agent::config::helm::{HelmAppConfig, HelmRepositoryConfig};
use tether_agent::render::helm_fetch::RepositoryAccess;
use tether_agent::render::{RenderOptions, render};
use tether_agent::secrets::credentials::{CredentialSource, StaticCredentials};
use tether_agent::tree::{FsTree, RelPath, Tree};
use tether_tests::gitserver::TestCa;
use tether_tests::helm_peers::{HelmRepo, OciRegistry, package_chart};
use zeroize::Zeroizing;

const PASSWORD: &str = "repo-cred-pass-93a1c";

struct Peers {
    auth_repo: HelmRepo,
    tls_repo: HelmRepo,
    ca: TestCa,
    registry: OciRegistry,
    _dir: tempfile::TempDir,
}

fn peers() -> &'static Peers {
    static PEERS: OnceLock<Peers> = OnceLock::new();
    PEERS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let charts: Vec<PathBuf> = ["1.0.0", "1.1.0"]
            .iter()
            .map(|v| package_chart(dir.path(), "greeter", v, &[]).expect("helm package"))
            .collect();
        let auth_repo =
            HelmRepo::start(&charts, Some(("reader", PASSWORD))).expect("start the repository");
        let ca = TestCa::create(dir.path()).expect("a test CA");
        let tls_repo = HelmRepo::start_tls(&charts, &ca.server_pem).expect("start HTTPS");
        let registry = OciRegistry::start(Some(("reader", PASSWORD))).expect("start the registry");
        registry
            .push(&charts[1])
            .unwrap_or_else(|e| panic!("{e}\n{}", registry.log()));
        Peers {
            auth_repo,
            tls_repo,
            ca,
            registry,
            _dir: dir,
        }
    })
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(future)
}

fn access(configs: Value, cluster: Option<&dyn CredentialSource>) -> Arc<RepositoryAccess> {
    let configs: Vec<HelmRepositoryConfig> = serde_json::from_value(configs).expect("config");
    Arc::new(
        block_on(RepositoryAccess::resolve(
            &configs,
            "tether-system",
            cluster,
        ))
        .expect("resolved"),
    )
}

/// Renders a kustomization with one `helmCharts` entry from `repo`.
fn helm_charts(repo: &str, access: Option<Arc<RepositoryAccess>>) -> Result<Vec<Value>, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!("helmCharts:\n- name: greeter\n  repo: {repo}\n  version: 1.1.0\n  releaseName: hi\n  valuesInline: {{greeting: salut}}\n"),
    )
    .expect("write");
    let tree = Tree::new(FsTree::new(dir.path()));
    let options = RenderOptions {
        helm_repositories: access,
        ..RenderOptions::default()
    };
    render(&tree, &RelPath::root(), &options)
        .map(|objects| objects.into_iter().map(|o| o.value).collect())
        .map_err(|e| e.to_string())
}

#[test]
fn helm_charts_use_basic_auth_from_a_file_and_never_quote_it() {
    let peers = peers();
    let url = peers.auth_repo.url();
    let err = helm_charts(&url, None).expect_err("no credentials");
    assert!(
        err.contains("refused the credentials") || err.contains("401"),
        "{err}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("write");
    let good = access(
        json!([{"url": url, "username": "reader", "passwordFile": file}]),
        None,
    );
    let objects = helm_charts(&url, Some(good)).expect("rendered with the credentials");
    assert_eq!(objects[0]["metadata"]["name"], "hi-greeter");
    assert_eq!(objects[0]["data"]["greeting"], "salut");
    std::fs::write(&file, "wrong-password").expect("write");
    let bad = access(
        json!([{"url": url, "username": "reader", "passwordFile": file}]),
        None,
    );
    let err = helm_charts(&url, Some(bad)).expect_err("a wrong password");
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(
        !err.contains("wrong-password") && !err.contains(PASSWORD),
        "{err}"
    );
}

#[test]
fn an_https_repository_is_trusted_through_a_ca_bundle_from_a_secret() {
    let peers = peers();
    let url = peers.tls_repo.url();
    assert!(url.starts_with("https://"));
    let err = helm_charts(&url, None).expect_err("an unknown CA");
    assert!(err.contains("certificate"), "{err}");
    let cluster = StaticCredentials::new();
    let pem = std::fs::read(&peers.ca.ca_pem).expect("the CA");
    cluster.set_secret("tether-system", "charts-ca", "ca.crt", Zeroizing::new(pem));
    let trusted = access(
        json!([{"url": url, "secretRef": {"name": "charts-ca"}}]),
        Some(&cluster),
    );
    let objects = helm_charts(&url, Some(trusted)).expect("trusted through the Secret's CA");
    assert_eq!(objects[0]["data"]["greeting"], "salut");
}

/// A `helm:` app whose chart is remote, rendered from an app directory with a values file.
fn remote_app(url: &str, access: Arc<RepositoryAccess>) -> Result<Vec<Value>, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("apps/greeter")).expect("mkdir");
    std::fs::write(
        dir.path().join("apps/greeter/values.yaml"),
        "greeting: hej\n",
    )
    .expect("write");
    let config: HelmAppConfig = serde_json::from_value(json!({
        "repoURL": url, "chart": "greeter", "targetRevision": "^1.0", "valueFiles": ["values.yaml"]
    }))
    .expect("a helm block");
    let mut settings = config.settings("greeter", "hello");
    settings.repositories = Some(access);
    let options = RenderOptions {
        helm: Some(settings),
        ..RenderOptions::default()
    };
    let tree = Tree::new(FsTree::new(dir.path()));
    let path = RelPath::parse("apps/greeter").expect("a path");
    render(&tree, &path, &options)
        .map(|objects| objects.into_iter().map(|o| o.value).collect())
        .map_err(|e| e.to_string())
}

#[test]
fn a_remote_chart_from_an_oci_registry_uses_basic_auth_from_a_secret_and_plain_http_when_configured()
 {
    let peers = peers();
    let url = peers.registry.url();
    assert!(url.starts_with("oci://"), "{url}");
    let cluster = StaticCredentials::new();
    cluster.set_secret(
        "registry",
        "oci-creds",
        "username",
        Zeroizing::new(b"reader".to_vec()),
    );
    cluster.set_secret(
        "registry",
        "oci-creds",
        "password",
        Zeroizing::new(PASSWORD.as_bytes().to_vec()),
    );
    let secret = json!({"name": "oci-creds", "namespace": "registry"});
    // Without plainHttp the registry (plain HTTP on loopback) is not reached over HTTP.
    let https_only = access(json!([{"url": url, "secretRef": secret}]), Some(&cluster));
    let err = remote_app(&url, https_only).expect_err("HTTPS only by default");
    assert!(err.contains("greeter"), "{err}");
    // With plainHttp but no credentials, the registry refuses.
    let anonymous = access(json!([{"url": url, "plainHttp": true}]), None);
    let err = remote_app(&url, anonymous).expect_err("anonymous");
    assert!(err.contains("refused the credentials"), "{err}");
    let configured = access(
        json!([{"url": url, "secretRef": secret, "plainHttp": true}]),
        Some(&cluster),
    );
    let objects = remote_app(&url, configured).expect("rendered");
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["metadata"]["name"], "greeter-greeter");
    assert_eq!(objects[0]["data"]["greeting"], "hej");
    assert!(!err.contains(PASSWORD));
}

#[test]
fn archives_cached_on_disk_serve_a_restarted_agent_and_a_corrupt_one_is_fetched_again() {
    use std::sync::Mutex;
    use tether_agent::render::helm_fetch::{ArchiveCache, ChartRequest, FetchLimits, Fetcher};
    let peers = peers();
    let url = peers.auth_repo.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let configs =
        json!([{"url": url, "username": "reader", "passwordFile": dir.path().join("pw")}]);
    std::fs::write(dir.path().join("pw"), PASSWORD).expect("write");
    let cache_dir = dir.path().join("archives");
    let fetch = || {
        let mut cache = ArchiveCache::new(1 << 20);
        cache.set_dir(&cache_dir, 1 << 20).expect("a cache dir");
        let fetcher = Fetcher::new(
            vec![access(configs.clone(), None).repository(&url)],
            FetchLimits::default(),
        )
        .with_cache(Arc::new(Mutex::new(cache)));
        let request = ChartRequest {
            repository: url.clone(),
            name: "greeter".into(),
            version: "1.1.0".into(),
            digest: None,
        };
        let fetched = fetcher.fetch(&request).expect("fetched");
        (fetched.digest, fetcher.downloads())
    };
    let (digest, downloads) = fetch();
    assert_eq!(downloads, 1);
    // A restarted agent (a new cache on the same directory) downloads nothing.
    assert_eq!(fetch(), (digest.clone(), 0));
    // A corrupt file is detected by its digest and the archive fetched again.
    let file = cache_dir.join(format!("{}.tgz", digest.trim_start_matches("sha256:")));
    std::fs::write(&file, b"corrupt").expect("corrupt the cached archive");
    assert_eq!(fetch(), (digest.clone(), 1));
    assert_eq!(
        fetch(),
        (digest, 0),
        "the archive fetched again is cached again"
    );
    let cached: Vec<u8> = std::fs::read_dir(&cache_dir)
        .expect("read the cache")
        .filter_map(Result::ok)
        .flat_map(|e| std::fs::read(e.path()).unwrap_or_default())
        .collect();
    assert!(
        !String::from_utf8_lossy(&cached).contains(PASSWORD),
        "no credential is cached"
    );
}
