//! Automatic promotion through the daemon: once the staging app has been synced and Healthy
//! at one revision for `healthyFor`, production's overlay gets staging's image as of that
//! revision, in one commit naming what was promoted, which the agent then syncs; a promotion
//! whose gate has not opened (a long `healthyFor`, the human gate's default branch) writes
//! nothing; one for review goes to a branch with a pull request, the branch itself untouched.

use crate::forge::{Forge, GITHUB_TOKEN};
use crate::support::{Agent, Cluster, Repo, Settings};
use std::process::Command;
use std::time::Duration;
use tether_tests::gitserver::run;

fn release(tag: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release # the shop's release\ndata:\n  image: registry.example/shop/web:{tag} # {{\"$imagepolicy\": \"tether-system:web\"}}\n  replicas: \"3\"\n"
    )
}

const KUSTOMIZATION: &str = "resources: [release.yaml]\n";

const PROMOTIONS: &str = "images:
  promotions:
    - name: shop-production
      source: config
      app: shop
      from: staging
      to: production
      healthyFor: 2s
      interval: 1s
      direct: true
      author: {name: Tether Promotions, email: promote@tether.invalid}
    - name: shop-qa
      source: config
      app: shop
      from: staging
      to: qa
      healthyFor: 2s
      interval: 1s
      review: {github: owner/config, api: FORGE, tokenFile: TOKEN}
    - name: shop-canary
      source: config
      app: shop
      from: staging
      to: canary
      healthyFor: 1h
      interval: 1s
";

fn image_in(cluster: &Cluster, namespace: &str) -> String {
    if !cluster.exists(&["configmap", "release", "-n", namespace]) {
        return String::new();
    }
    cluster.ok(&[
        "get",
        "configmap",
        "release",
        "-n",
        namespace,
        "-o",
        "jsonpath={.data.image}",
    ])
}

#[test]
fn staging_healthy_for_long_enough_is_promoted_to_production_and_synced() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    for (env, tag) in [
        ("staging", "1.4.0"),
        ("production", "1.2.0"),
        ("canary", "1.2.0"),
        ("qa", "1.2.0"),
    ] {
        let dir = format!("apps/shop/overlays/{env}");
        repo.upstream
            .write(&format!("{dir}/kustomization.yaml"), KUSTOMIZATION)
            .expect("write");
        repo.upstream
            .write(&format!("{dir}/release.yaml"), release(tag))
            .expect("write");
    }
    repo.upstream.commit("shop overlays").expect("commit");
    let before = repo.upstream.head().expect("head");
    let dir = tempfile::tempdir().expect("temporary folder");
    let forge = Forge::start();
    let token = dir.path().join("github-token");
    std::fs::write(&token, format!("{GITHUB_TOKEN}\n")).expect("write");
    let extra = PROMOTIONS
        .replace("FORGE", &forge.served.url())
        .replace("TOKEN", &token.display().to_string());
    let settings = Settings {
        apps: "apps/shop/overlays/*",
        name: Some("shop-{{path.basename}}"),
        extra: &extra,
        ..Settings::default()
    };
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "promote-e2e", settings);
    let git = |args: &[&str]| {
        run(Command::new("git")
            .arg("-C")
            .arg(&repo.upstream.bare)
            .args(args))
        .unwrap_or_default()
    };
    let mut promoted = false;
    for _ in 0..300 {
        if image_in(&cluster, "production").ends_with(":1.4.0") {
            promoted = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(promoted, "production never ran 1.4.0: {}", agent.logs());
    assert_eq!(
        image_in(&cluster, "staging"),
        "registry.example/shop/web:1.4.0"
    );

    // One commit on main, on top of the one staging was healthy at, changing one line.
    let head = git(&["rev-parse", "main"]);
    assert_eq!(git(&["rev-parse", "main~1"]), before);
    let message = git(&["log", "-1", "--format=%B", "main"]);
    let short = &before[..12];
    assert!(
        message.starts_with(&format!(
            "Promote shop to production (from staging at {short})"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("Promoted-From: staging@{before}")),
        "{message}"
    );
    assert!(
        message.contains("apps/shop/overlays/production/release.yaml:")
            && message
                .contains("registry.example/shop/web:1.2.0 -> registry.example/shop/web:1.4.0"),
        "{message}"
    );
    assert_eq!(
        git(&["log", "-1", "--format=%an <%ae>", "main"]),
        "Tether Promotions <promote@tether.invalid>"
    );
    assert_eq!(git(&["diff", "--stat", &before, &head]).lines().count(), 2);
    assert_eq!(
        git(&["show", "main:apps/shop/overlays/production/release.yaml"]),
        release("1.4.0").trim_end()
    );

    // The report: one promoted, one still waiting out its hour; no review branch for it.
    let (_, body) = agent.get("/api/v1/images");
    let report: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let promotions = report["promotions"].as_array().cloned().unwrap_or_default();
    let by_name = |name: &str| {
        promotions
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no promotion {name}: {report:#}"))
    };
    let production = by_name("shop-production");
    // Promoted; the agent's own commit moved staging's revision, whose clock now runs (its
    // promotion, when it comes, changes nothing).
    assert!(
        production["state"] == "Promoted" || production["state"] == "Healthy",
        "{report:#}"
    );
    assert!(production["promotedRevision"].is_string(), "{report:#}");
    assert_eq!(production["lastCommit"], head.as_str());
    assert_eq!(production["fromApp"], "shop-staging");
    let canary = by_name("shop-canary");
    assert_eq!(canary["state"], "Healthy", "{report:#}");
    assert!(canary["lastCommit"].is_null(), "{report:#}");
    assert!(
        git(&["branch", "--list", "promote/shop-canary"]).is_empty(),
        "the gate that has not opened wrote nothing"
    );
    assert_eq!(
        image_in(&cluster, "canary"),
        "registry.example/shop/web:1.2.0"
    );

    // The review promotion: a branch with the change and a pull request; qa untouched on main.
    let mut requests = Vec::new();
    for _ in 0..300 {
        requests = forge.received();
        if !requests.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(requests.len(), 1, "{requests:#?}\n{}", agent.logs());
    assert!(
        requests[0].problems.is_empty(),
        "{:?}",
        requests[0].problems
    );
    assert_eq!(requests[0].json["head"], "promote/shop-qa");
    assert_eq!(requests[0].json["base"], "main");
    assert!(
        requests[0].json["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Promote shop to qa (from staging at ")),
        "{}",
        requests[0].json
    );
    assert_eq!(
        git(&["show", "promote/shop-qa:apps/shop/overlays/qa/release.yaml"]),
        release("1.4.0").trim_end()
    );
    assert_eq!(
        git(&["show", "main:apps/shop/overlays/qa/release.yaml"]),
        release("1.2.0").trim_end()
    );

    // An Event on the staging app says what was promoted; the metric counts it.
    let text = cluster.ok(&[
        "get",
        "events.events.k8s.io",
        "-n",
        "tether-system",
        "-o",
        "json",
    ]);
    let list: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let event = list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|e| e["reason"] == "PromotionPushed"))
        .cloned()
        .unwrap_or_else(|| panic!("no PromotionPushed Event: {list:#}"));
    let note = event["note"].as_str().unwrap_or_default();
    assert!(note.contains(&head) && note.contains(&before), "{note}");
    let (_, metrics) = agent.get("/metrics");
    assert!(
        metrics.contains(
            "tether_image_promotions_total{promotion=\"shop-production\",result=\"pushed\"} 1"
        ),
        "{metrics}"
    );
    // The promoted revision is not promoted again: more rounds, same head.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(git(&["rev-parse", "main"]), head, "{}", agent.logs());
}
