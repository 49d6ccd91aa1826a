//! Flux: shells, kubeconfigs, kustomize file access, cycles and durations.

use super::*;

/// CVE-2021-41254 (GHSA-35rf-v2jv-gfg7): tenant data reached a shell command. Tether runs no
/// shell on data from a repository or a URL: a host that reads as an ssh option and git's
/// `ext::` transport are refused, and nothing runs.
#[tokio::test]
async fn cve_2021_41254_no_shell_ever_runs_data_from_a_url() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mark = dir.path().join("ran");
    for url in [
        format!("ssh://-oProxyCommand=touch%20{}/config.git", mark.display()),
        format!("ext::sh -c touch% {}", mark.display()),
        format!("-u touch {}", mark.display()),
    ] {
        let config = source_config(&url, dir.path().join("cache"), Duration::from_secs(10));
        let result = Source::new(config).sync().await;
        assert!(result.is_err(), "{url} was accepted");
        assert!(!mark.exists(), "{url} ran a command");
    }
}

/// CVE-2022-24817 (GHSA-vvmq-fwmg-2gjc): a kubeconfig's `exec` plugin ran arbitrary programs in
/// the controller. A kubeconfig with `exec` or an `auth-provider` is refused unless explicitly
/// allowed, and its program never runs.
#[tokio::test]
async fn cve_2022_24817_kubeconfigs_with_exec_or_auth_provider_are_refused() {
    use tether_agent::sync::client::{ClientOptions, connect};
    let dir = tempfile::tempdir().expect("temporary folder");
    let mark = dir.path().join("ran");
    let user_exec = format!(
        "exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [\"-c\", \"touch {}\"]\n      interactiveMode: Never\n",
        mark.display()
    );
    let user_provider = "auth-provider:\n      name: oidc\n      config: {client-id: x, idp-issuer-url: https://127.0.0.1:1}\n".to_owned();
    for (name, user) in [("exec", user_exec), ("provider", user_provider)] {
        let path = dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"https://127.0.0.1:1\"}}\nusers:\n- name: u\n  user:\n    {user}contexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n"
            ),
        )
        .expect("write");
        let options = ClientOptions {
            kubeconfig: Some(path),
            context: None,
            allow_exec: false,
        };
        let err = connect(&options).await.err().expect("refused");
        assert!(
            err.to_string().contains(if name == "exec" {
                "exec"
            } else {
                "auth-provider"
            }),
            "{err}"
        );
        assert!(!mark.exists(), "the exec program ran");
    }
}

/// CVE-2022-24877 (GHSA-j77r-2fxf-5jrw): a kustomization read the controller's filesystem (its
/// service account token). Every field of a kustomization that names a file is confined to the
/// snapshot.
#[tokio::test]
async fn cve_2022_24877_every_kustomize_field_that_reads_files_stays_inside_the_snapshot() {
    let agent = Agent::start().await;
    let token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
    let escape = "../../outside/leak.yaml";
    let cm = configmap("cm");
    let cases = [
        ("resources", format!("resources:\n- {escape}\n")),
        (
            "patches",
            format!("resources:\n- cm.yaml\npatches:\n- path: {escape}\n"),
        ),
        (
            "patchesStrategicMerge",
            format!("resources:\n- cm.yaml\npatchesStrategicMerge:\n- {token}\n"),
        ),
        (
            "configMapGenerator",
            format!("configMapGenerator:\n- name: t\n  files:\n  - {token}\n"),
        ),
        (
            "secretGenerator",
            format!("secretGenerator:\n- name: t\n  envs:\n  - {escape}\n"),
        ),
        (
            "components",
            "resources:\n- cm.yaml\ncomponents:\n- ../../outside\n".to_owned(),
        ),
        ("crds", format!("resources:\n- cm.yaml\ncrds:\n- {token}\n")),
    ];
    let mut files: Vec<(String, String)> = Vec::new();
    for (field, kustomization) in &cases {
        files.push((format!("{field}/kustomization.yaml"), kustomization.clone()));
        files.push((format!("{field}/cm.yaml"), cm.clone()));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    let l = layout(&refs);
    for (field, _) in &cases {
        let (stage, message) = refused(&agent, field, &l, field).await;
        assert_eq!(stage, Stage::Render, "{field}: {message}");
        assert!(
            message.contains(field),
            "{field}: names no field: {message}"
        );
    }
}

/// CVE-2022-24878 (GHSA-7pwf-jg34-hxwp): a crafted kustomization looped forever. Cycles are
/// found, and bases reached by doubling paths (no cycle, exponential work) end at the load
/// limit.
#[tokio::test]
async fn cve_2022_24878_cycles_and_doubling_bases_end_with_an_error() {
    let agent = Agent::start().await;
    let mut files = vec![
        (
            "cycle/kustomization.yaml".to_owned(),
            "resources:\n- ../loop\n".to_owned(),
        ),
        (
            "loop/kustomization.yaml".to_owned(),
            "resources:\n- ../cycle\n".to_owned(),
        ),
    ];
    let levels = 25;
    for i in 0..levels {
        files.push((
            format!("d{i}/kustomization.yaml"),
            "resources:\n- a\n- b\n".to_owned(),
        ));
        for side in ["a", "b"] {
            files.push((
                format!("d{i}/{side}/kustomization.yaml"),
                format!("namePrefix: {side}-\nresources:\n- ../../d{}\n", i + 1),
            ));
        }
    }
    files.push((format!("d{levels}/cm.yaml"), configmap("x")));
    files.push((
        format!("d{levels}/kustomization.yaml"),
        "resources:\n- cm.yaml\n".to_owned(),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    let l = layout(&refs);
    let (stage, message) = refused(&agent, "cycle", &l, "cycle").await;
    assert_eq!(stage, Stage::Render);
    assert!(message.contains("cycle"), "{message}");
    let (stage, message) = refused(&agent, "doubling", &l, "d0").await;
    assert_eq!(stage, Stage::Render);
    assert!(message.contains("kustomization files loaded"), "{message}");
    // The other apps keep syncing.
    match agent.run("good-web", &good_app(), "good-web").await {
        Outcome::Synced(result) => assert!(result.is_success()),
        Outcome::Failed(stage, message) => panic!("{stage:?}: {message}"),
    }
}

/// CVE-2022-39272 (GHSA-f4p5-x4vc-mh4v): an invalid duration halted the processing of a whole
/// object type. Durations are validated with bounds, the bad object fails alone with its field
/// named, and the next app syncs.
#[tokio::test]
async fn cve_2022_39272_bad_durations_fail_their_own_object_only() {
    let agent = Agent::start().await;
    let external = |interval: &str| {
        format!(
            "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: vault\nspec:\n  provider:\n    vault:\n      server: http://127.0.0.1:9\n      auth:\n        tokenSecretRef: {{name: vault-token, key: token}}\n---\napiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: db\nspec:\n  refreshInterval: \"{interval}\"\n  secretStoreRef: {{name: vault}}\n  target: {{name: db}}\n  data:\n  - secretKey: password\n    remoteRef: {{key: {APP_NS}/db, property: password}}\n"
        )
    };
    let l = layout(&[
        ("tight/es.yaml", &external("1ms")),
        ("word/es.yaml", &external("soon")),
        ("huge/es.yaml", &external("99999999999999999999h")),
    ]);
    for app in ["tight", "word", "huge"] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Secrets, "{app}: {message}");
        assert!(message.contains("spec.refreshInterval"), "{app}: {message}");
    }
    match agent.run("good-api", &good_app(), "good-api").await {
        Outcome::Synced(result) => assert!(result.is_success()),
        Outcome::Failed(stage, message) => panic!("{stage:?}: {message}"),
    }
    // The agent's own durations are bounded too, with the field named.
    let config = "sources:\n  - name: config\n    url: git://127.0.0.1:9/config.git\n    ref: main\n    interval: 0s\napps: []\n";
    let err = tether_agent::config::Config::parse(config, "tether.yaml", Path::new("/"))
        .expect_err("an interval of zero");
    assert!(err.to_string().contains("sources[0].interval"), "{err}");
}
