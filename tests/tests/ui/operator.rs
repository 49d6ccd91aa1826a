//! As alice (operator of the shop namespaces): she sees only her apps; suspends one, which
//! stays suspended across a restart of the agent and is not synced after a Git change;
//! resumes it; "Refresh from Git" shows it OutOfSync with the live vs desired diff and writes
//! nothing; "Sync now" applies. Each action's Event names her.

use std::time::Duration;

use fantoccini::{Client, Locator};

use super::fixture::{ALICE, BOB, World};
use super::support::wait_for;
use super::{Seen, Step, click, rows, sign_in};

/// The production web Deployment's `jsonpath` field.
fn deployment(world: &World, jsonpath: &str) -> String {
    world.cluster.ok(&[
        "get",
        "deployment",
        "web",
        "-n",
        "shop-production",
        "-o",
        &format!("jsonpath={jsonpath}"),
    ])
}

fn web_image(world: &World) -> String {
    deployment(world, "{.spec.template.spec.containers[0].image}")
}

fn app_status(world: &World, name: &str) -> serde_json::Value {
    let (_, body) = world.with_token(BOB, "GET", &format!("/api/v1/apps/{name}"));
    serde_json::from_str(&body).unwrap_or_default()
}

fn audit_events(world: &World) -> String {
    world.cluster.ok(&[
        "get",
        "events.events.k8s.io",
        "-n",
        "tether-system",
        "-o",
        "json",
    ])
}

/// Suspends shop-production, restarts the agent, pushes a commit: the app stays suspended
/// and keeps its objects while shop-staging syncs the commit. Returns the commit.
async fn suspension_survives_a_restart(
    world: &mut World,
    client: &Client,
) -> Result<String, Box<dyn std::error::Error>> {
    let base = format!("http://127.0.0.1:{}", world.agent.port);
    client.goto(&format!("{base}/apps/shop-production")).await?;
    click(
        client,
        Locator::Css("form[action='/apps/shop-production/suspend'] button"),
    )
    .await?;
    client
        .wait()
        .for_element(Locator::Css("form[action='/apps/shop-production/resume']"))
        .await?;
    assert_eq!(app_status(world, "shop-production")["suspended"], true);
    assert!(
        audit_events(world).contains("app shop-production suspended by alice"),
        "the audit Event"
    );
    world.restart();
    let base = format!("http://127.0.0.1:{}", world.agent.port);
    sign_in(client, &base, ALICE).await?;
    client.goto(&format!("{base}/apps/shop-production")).await?;
    client
        .wait()
        .for_element(Locator::Css("form[action='/apps/shop-production/resume']"))
        .await?;
    world.repo.upstream.write(
        "apps/shop/overlays/production/kustomization.yaml",
        super::fixture::production_overlay(Some("1.0.2")),
    )?;
    world.repo.upstream.write(
        "apps/shop/overlays/staging/kustomization.yaml",
        "resources: [../../base]\nimages:\n- name: registry.example/shop/web\n  newTag: \"1.1.1\"\n",
    )?;
    let commit = world
        .repo
        .upstream
        .commit("web 1.1.1 in staging, 1.0.2 in production")?
        .trim()
        .to_owned();
    world.webhook();
    world.wait_synced("shop-staging at the new commit", |apps| {
        apps.iter()
            .any(|a| a["name"] == "shop-staging" && a["revision"] == commit.as_str())
    });
    let production = app_status(world, "shop-production");
    assert_eq!(
        production["suspended"], true,
        "still suspended after the restart"
    );
    assert_ne!(production["revision"], commit.as_str(), "not synced");
    assert_eq!(web_image(world), "registry.example/shop/web:1.0.1");
    Ok(commit)
}

/// Resumes, refreshes (OutOfSync, nothing written), syncs (applied).
async fn refresh_then_sync(world: &World, client: &Client, seen: &mut Seen, commit: &str) -> Step {
    let base = format!("http://127.0.0.1:{}", world.agent.port);
    click(
        client,
        Locator::Css("form[action='/apps/shop-production/resume'] button"),
    )
    .await?;
    client
        .wait()
        .for_element(Locator::Css("form[action='/apps/shop-production/suspend']"))
        .await?;
    let version = deployment(world, "{.metadata.resourceVersion}");
    click(
        client,
        Locator::Css("form[action='/apps/shop-production/refresh'] button"),
    )
    .await?;
    client
        .wait()
        .for_element(Locator::Css("form[action='/apps/shop-production/suspend']"))
        .await?;
    let page = client.source().await?;
    seen.add("the app page after a refresh", page.clone());
    for text in ["OutOfSync", "registry.example/shop/web:1.0.2", "Live → Git"] {
        assert!(page.contains(text), "the refreshed page shows {text:?}");
    }
    assert_eq!(
        deployment(world, "{.metadata.resourceVersion}"),
        version,
        "a refresh writes nothing"
    );
    assert_eq!(web_image(world), "registry.example/shop/web:1.0.1");
    let (code, view) = world.with_token(ALICE, "GET", "/api/v1/apps/shop-production/view");
    assert_eq!(code, 200, "{view}");
    let json: serde_json::Value = serde_json::from_str(&view)?;
    assert_eq!(json["comparison"]["revision"], commit);
    assert!(
        json["comparison"]["outOfSync"].as_u64() >= Some(1),
        "{view}"
    );
    seen.add("the app's JSON after a refresh", view);
    client.goto(&base).await?;
    let row = client
        .execute(
            "return document.getElementById('app-shop-production').innerText;",
            vec![],
        )
        .await?;
    assert!(
        row.as_str().is_some_and(|r| r.contains("OutOfSync")),
        "the overview shows it too: {row}"
    );
    client.goto(&format!("{base}/apps/shop-production")).await?;
    click(
        client,
        Locator::Css("form[action='/apps/shop-production/sync'] button"),
    )
    .await?;
    wait_for("the sync to apply", Duration::from_secs(60), || {
        (web_image(world) == "registry.example/shop/web:1.0.2").then_some(())
    });
    world.wait_synced("shop-production at the new commit", |apps| {
        apps.iter()
            .any(|a| a["name"] == "shop-production" && a["revision"] == commit)
    });
    client.goto(&format!("{base}/apps/shop-production")).await?;
    let page = client.source().await?;
    assert!(
        page.contains("0 objects differ"),
        "synced with Git after the sync"
    );
    let events = audit_events(world);
    for note in [
        "app shop-production resumed by alice",
        "app shop-production refreshed from Git by alice",
        "sync of app shop-production requested by alice",
    ] {
        assert!(events.contains(note), "the audit Event {note:?}");
    }
    Ok(())
}

/// The operator scenario (after the viewer's).
pub async fn operator(world: &mut World, client: &Client, seen: &mut Seen) -> Step {
    let base = format!("http://127.0.0.1:{}", world.agent.port);
    click(client, Locator::Css("header form[action='/logout'] button")).await?;
    sign_in(client, &base, ALICE).await?;
    assert_eq!(
        rows(client).await?,
        ["app-shop-production", "app-shop-staging"]
    );
    client
        .goto(&format!("{base}/apps/vault-production"))
        .await?;
    assert!(
        client.source().await?.contains("no app"),
        "alice does not see vault"
    );
    let commit = suspension_survives_a_restart(world, client).await?;
    refresh_then_sync(world, client, seen, &commit).await?;
    let (code, body) = world.with_token(ALICE, "POST", "/api/v1/apps/shop-production/actions/sync");
    assert_eq!(code, 202, "{body}");
    let (code, _) = world.with_token(ALICE, "POST", "/api/v1/apps/vault-production/actions/sync");
    assert_eq!(code, 404, "alice cannot act on what she cannot see");
    Ok(())
}
