//! `deploy/`: rendered by kustomize and applied to the API emulation.

use super::support::{Cluster, root};

#[test]
fn deploy_renders_with_kustomize_and_applies_to_the_api_emulation() {
    let cluster = Cluster::start();
    for dir in [
        "deploy",
        "deploy/overlays/daemonset",
        "deploy/overlays/namespaced",
    ] {
        let out = std::process::Command::new("kubectl")
            .arg("kustomize")
            .arg(root().join(dir))
            .output()
            .expect("run kubectl kustomize");
        assert!(
            out.status.success(),
            "{dir}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rendered = cluster.ok(&["kustomize", root().join("deploy").to_str().expect("UTF-8")]);
    let manifests = cluster.dir.path().join("deploy.yaml");
    std::fs::write(&manifests, &rendered).expect("write");
    let applied = cluster.ok(&[
        "apply",
        "--server-side",
        "--field-manager=install",
        "-f",
        manifests.to_str().expect("UTF-8"),
    ]);
    for object in [
        "namespace/tether-system serverside-applied",
        "serviceaccount/tether serverside-applied",
        "clusterrole.rbac.authorization.k8s.io/tether-agent serverside-applied",
        "role.rbac.authorization.k8s.io/tether-agent serverside-applied",
        "configmap/tether-config serverside-applied",
        "secret/tether-keys serverside-applied",
        "service/tether serverside-applied",
        "deployment.apps/tether serverside-applied",
        "poddisruptionbudget.policy/tether serverside-applied",
    ] {
        assert!(
            applied.contains(object),
            "missing {object:?} in:\n{applied}"
        );
    }
    let deployment: serde_json::Value = serde_json::from_str(&cluster.ok(&[
        "get",
        "deployment",
        "tether",
        "-n",
        "tether-system",
        "-o",
        "json",
    ]))
    .expect("JSON");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert!(container["resources"]["requests"]["cpu"].is_string());
    // The shipped config is a valid agent config.
    let config = cluster.ok(&[
        "get",
        "configmap",
        "tether-config",
        "-n",
        "tether-system",
        "-o",
        "jsonpath={.data.tether\\.yaml}",
    ]);
    tether_agent::config::Config::parse(
        &config,
        "deploy/base/config.yaml",
        std::path::Path::new("/"),
    )
    .expect("the shipped config parses");
    // The DaemonSet overlay applies too.
    let daemonset = cluster.ok(&[
        "kustomize",
        root()
            .join("deploy/overlays/daemonset")
            .to_str()
            .expect("UTF-8"),
    ]);
    assert!(daemonset.contains("kind: DaemonSet") && !daemonset.contains("kind: Deployment"));
    let file = cluster.dir.path().join("daemonset.yaml");
    std::fs::write(&file, daemonset).expect("write");
    cluster.ok(&[
        "apply",
        "--server-side",
        "--field-manager=install",
        "-f",
        file.to_str().expect("UTF-8"),
    ]);
    assert!(cluster.exists(&["daemonset", "tether", "-n", "tether-system"]));
    // The namespace-scoped variant: no cluster-wide rights, a Role in the app namespace.
    let namespaced = cluster.ok(&[
        "kustomize",
        root()
            .join("deploy/overlays/namespaced")
            .to_str()
            .expect("UTF-8"),
    ]);
    assert!(!namespaced.contains("kind: ClusterRole"), "{namespaced}");
    cluster.ok(&["create", "namespace", "shop"]);
    let file = cluster.dir.path().join("namespaced.yaml");
    std::fs::write(&file, namespaced).expect("write");
    cluster.ok(&[
        "apply",
        "--server-side",
        "--field-manager=install",
        "-f",
        file.to_str().expect("UTF-8"),
    ]);
    assert!(cluster.exists(&["role", "tether-agent", "-n", "shop"]));
}
