//! The API emulation counts `dryRun` requests apart: they change nothing, so they are not
//! writes (a test asserting "no writes" must not fail on a server-side dry run, nor pass
//! because a real write was sent as a dry run).

use std::process::Command;

use tether_tests::apiserver::ApiServer;

const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\ndata: {a: b}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_requests_are_not_counted_as_writes() {
    let server = ApiServer::start().await.expect("start the emulation");
    let dir = tempfile::tempdir().expect("temporary folder");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let manifest = dir.path().join("c.yaml");
    std::fs::write(&manifest, CONFIG_MAP).expect("write");
    let kubectl = move |args: Vec<String>| {
        let kubeconfig = kubeconfig.clone();
        let home = kubeconfig.with_file_name("home");
        async move {
            tokio::task::spawn_blocking(move || {
                let out = Command::new("kubectl")
                    .env("KUBECONFIG", &kubeconfig)
                    .env("HOME", home)
                    .args(&args)
                    .output()
                    .expect("run kubectl");
                assert!(
                    out.status.success(),
                    "kubectl {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            })
            .await
            .expect("kubectl task");
        }
    };
    let file = manifest.display().to_string();
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // Server-side dry runs of apply, create and delete.
    kubectl(args(&[
        "apply",
        "--server-side",
        "--dry-run=server",
        "-f",
        &file,
    ]))
    .await;
    kubectl(args(&["create", "--dry-run=server", "-f", &file])).await;
    assert_eq!(server.requests().writes(), 0);
    assert_eq!(server.requests().dry_runs(), 2);
    assert!(server.requests().count("apply?dryRun", "configmaps") == 1);
    // A real create is a write; a dry-run delete of it is not, and deletes nothing.
    kubectl(args(&["create", "-f", &file])).await;
    kubectl(args(&["delete", "--dry-run=server", "-f", &file])).await;
    assert_eq!(server.requests().writes(), 1);
    assert_eq!(server.requests().count("create", "configmaps"), 1);
    assert_eq!(server.requests().dry_runs(), 3);
    kubectl(args(&["get", "configmap", "c", "-n", "default"])).await;
    server.shutdown().await;
}
