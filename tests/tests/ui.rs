//! The web UI as people use it: `tether-agent run` against the API emulation and a git
//! daemon, headless Chromium through chromedriver clicking through every page, checking
//! that a commit shows up on the overview without a reload (Server-Sent Events), that an
//! action works only for a user RBAC allows, that no page, JSON answer or event stream holds
//! a secret's plaintext, and that axe-core finds no serious accessibility violation. A PNG
//! of each page is saved under `$CARGO_TARGET_TMPDIR/ui-screenshots` (with
//! `TETHER_UPDATE_SCREENSHOTS=1`, the overview and environments also under `docs/`).
//!
//! Single sign-on is tested against a certified OpenID provider (node-oidc-provider 9) on
//! loopback, with two users in different groups.
//!
//! One browser test runs every scenario in order with one chromedriver, to stay fast.

#[path = "ui/browser.rs"]
mod browser;
#[path = "ui/fixture.rs"]
mod fixture;
#[path = "ui/operator.rs"]
mod operator;
#[allow(dead_code)] // shared with the daemon tests, which use more of it
#[path = "daemon/support.rs"]
mod support;

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use fantoccini::{Client, Locator};
use fixture::{ALICE, BOB, SEALED_VALUE, SOPS_VALUE, World};

type Step = Result<(), Box<dyn std::error::Error>>;

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// Everything the test saw, to check that no secret value is in it.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, what: &str, text: String) {
        self.0.push((what.to_owned(), text));
    }

    fn assert_no_secret(&self) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let forbidden = [
            SEALED_VALUE.to_owned(),
            SOPS_VALUE.to_owned(),
            b64.encode(SEALED_VALUE),
            b64.encode(SOPS_VALUE),
        ];
        assert!(self.0.len() >= 10, "the test saw {} answers", self.0.len());
        for (what, text) in &self.0 {
            for value in &forbidden {
                assert!(
                    !text.contains(value.as_str()),
                    "{what} holds a secret value"
                );
            }
        }
    }
}

/// Saves a screenshot, runs axe-core, records the page source.
async fn check_page(client: &Client, axe: &str, name: &str, seen: &mut Seen) -> Step {
    let png = client.screenshot().await?;
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), &png)?;
    if std::env::var_os("TETHER_UPDATE_SCREENSHOTS").is_some()
        && matches!(name, "overview" | "environments")
    {
        let docs = tether_tests::peers::workspace_root().join("docs");
        std::fs::create_dir_all(&docs)?;
        std::fs::write(docs.join(format!("ui-{name}.png")), &png)?;
    }
    let violations = browser::serious_violations(client, axe).await?;
    assert!(violations.is_empty(), "{name}: axe-core: {violations:?}");
    seen.add(name, client.source().await?);
    Ok(())
}

/// Polls `script` (returning a boolean) in the page until true, for at most 60 s.
async fn wait_in_page(client: &Client, what: &str, script: &str) -> Step {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if client.execute(script, vec![]).await?.as_bool() == Some(true) {
            return Ok(());
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sign_in(client: &Client, base: &str, token: &str) -> Step {
    client.goto(&format!("{base}/login")).await?;
    client
        .find(Locator::Css("input[name=token]"))
        .await?
        .send_keys(token)
        .await?;
    click(client, Locator::Css("main form[action='/login'] button")).await?;
    client.wait().for_element(Locator::Css("#live")).await?;
    Ok(())
}

/// Finds `locator` and clicks it; when the page replaced the element in between (a
/// navigation, or a live update of the overview), it is found again, a few times at most.
async fn click(client: &Client, locator: Locator<'_>) -> Result<(), fantoccini::error::CmdError> {
    let mut tries = 0;
    loop {
        let result = match client.find(locator).await {
            Ok(element) => element.click().await,
            Err(err) => Err(err),
        };
        match result {
            // A navigation or a live update replaced the element, or the next page is still
            // loading (a loaded machine): find it again, for up to about 5 s.
            Err(err)
                if tries < 25
                    && (err.to_string().contains("stale element")
                        || err.to_string().contains("no such element")) =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

async fn rows(client: &Client) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let found = client
        .execute(
            "return Array.from(document.querySelectorAll('#live tbody tr')).map(r => r.id);",
            vec![],
        )
        .await?;
    Ok(found
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// Reads an event stream for `limit`, with `token`.
fn read_stream(port: u16, path: &str, token: &str, limit: Duration) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// As bob (a viewer of every namespace): every page, a filter, a commit arriving live.
async fn viewer(world: &World, client: &Client, axe: &str, seen: &mut Seen) -> Step {
    let base = format!("http://127.0.0.1:{}", world.agent.port);
    client.goto(&base).await?;
    assert!(client.current_url().await?.path().ends_with("/login"));
    check_page(client, axe, "login", seen).await?;
    sign_in(client, &base, BOB).await?;
    let ids = rows(client).await?;
    assert_eq!(ids.len(), 4, "bob sees every app: {ids:?}");
    assert_eq!(ids[0], "app-broken-production", "problems first: {ids:?}");
    let page = client.source().await?;
    assert!(
        page.contains("RenderFailed") && page.contains("missing.yaml"),
        "the broken app's reason and error"
    );
    check_page(client, axe, "overview", seen).await?;
    // The filter, as a form.
    client
        .find(Locator::Css("select[name=state]"))
        .await?
        .select_by_value("Failed")
        .await?;
    click(client, Locator::Css("form.filter button")).await?;
    wait_in_page(
        client,
        "the filtered overview",
        "return location.search.includes('state=Failed') && document.readyState === 'complete';",
    )
    .await?;
    assert_eq!(rows(client).await?, ["app-broken-production"]);
    // A commit shows up without a reload: a hotfix tag in production, the orphan's file gone.
    client.goto(&base).await?;
    client
        .execute("window.__sameDocument = 42; return true;", vec![])
        .await?;
    world.repo.upstream.write(
        "apps/shop/overlays/production/kustomization.yaml",
        fixture::production_overlay(Some("1.0.1")),
    )?;
    world
        .repo
        .upstream
        .remove("apps/vault/overlays/production/keep.yaml")?;
    let commit = world
        .repo
        .upstream
        .commit("production: web 1.0.1 hotfix; keep leaves Git")?;
    world.webhook();
    let short: String = commit.trim().chars().take(7).collect();
    wait_in_page(
        client,
        "the new commit on the overview",
        &format!(
            "return document.getElementById('app-shop-production').innerText.includes('{short}');"
        ),
    )
    .await?;
    let same = client
        .execute("return window.__sameDocument;", vec![])
        .await?;
    assert_eq!(same, serde_json::json!(42), "the page was not reloaded");
    Ok(())
}

/// As bob: the environments page and the app pages, no action offered.
async fn pages(world: &World, client: &Client, axe: &str, seen: &mut Seen) -> Step {
    let base = format!("http://127.0.0.1:{}", world.agent.port);
    world.wait_synced("the orphan", |apps| {
        apps.iter().any(|a| {
            a["name"] == "vault-production"
                && a["changes"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["action"] == "orphaned"))
        })
    });
    click(client, Locator::LinkText("Environments")).await?;
    client
        .wait()
        .for_element(Locator::Css("table.envs"))
        .await?;
    let table = client
        .find(Locator::Css("table.envs"))
        .await?
        .text()
        .await?;
    assert!(
        table.contains("apps/shop") && table.contains("staging") && table.contains("production")
    );
    let differs = client
        .execute(
            "return Array.from(document.querySelectorAll('table.envs li.differs')).map(e => e.textContent);",
            vec![],
        )
        .await?;
    assert_eq!(
        differs,
        serde_json::json!(["registry.example/shop/web:1.0.1 (differs)"]),
        "production runs another web tag than staging; redis is the same"
    );
    check_page(client, axe, "environments", seen).await?;
    client.goto(&format!("{base}/apps/shop-production")).await?;
    let page = client.source().await?;
    for text in [
        "Deployment",
        "ReplicaSet web-5d4f",
        "Pod web-5d4f-x7k2p",
        "1.0.1",
        "webhook",
    ] {
        assert!(page.contains(text), "the app page shows {text:?}");
    }
    assert!(!page.contains("Suspend"), "bob may not act");
    check_page(client, axe, "app", seen).await?;
    client
        .goto(&format!("{base}/apps/vault-production"))
        .await?;
    let page = client.source().await?;
    for text in [
        "vault-production/token",
        "sealed",
        "apps/vault/overlays/production/token.sealed.yaml",
        "vault-production/db",
        "sops",
        "apps/vault/overlays/production/db.sops.yaml",
        "ConfigMap vault-production/keep",
        "tether.dev/prune: disabled",
    ] {
        assert!(page.contains(text), "the secrets app page shows {text:?}");
    }
    check_page(client, axe, "app-secrets", seen).await?;
    client
        .goto(&format!("{base}/apps/broken-production"))
        .await?;
    assert!(client.source().await?.contains("missing.yaml"));
    check_page(client, axe, "app-broken", seen).await?;
    // The JSON twins and the event stream, with bob's token.
    for path in [
        "/api/v1/overview",
        "/api/v1/environments",
        "/api/v1/apps/vault-production/view",
        "/api/v1/apps/shop-production/view",
        "/api/v1/apps",
    ] {
        let (code, body) = world.with_token(BOB, "GET", path);
        assert_eq!(code, 200, "{path}: {body}");
        seen.add(path, body);
    }
    let stream = read_stream(
        world.agent.port,
        "/api/v1/events/stream",
        BOB,
        Duration::from_secs(2),
    );
    assert!(stream.contains("event: apps"), "{stream}");
    seen.add("the event stream", stream);
    let (code, _) = world.with_token(BOB, "POST", "/api/v1/apps/shop-production/actions/suspend");
    assert_eq!(code, 403, "bob may only read");
    status_command(world, seen)
}

/// `tether-agent status --server`: the same API with bob's token; refused without one.
fn status_command(world: &World, seen: &mut Seen) -> Step {
    let (code, body) = world.agent.get("/api/v1/apps");
    assert_eq!(code, 401, "no anonymous reads unless configured: {body}");
    let server = format!("http://127.0.0.1:{}", world.agent.port);
    let token = world.dir.path().join("bob.token");
    std::fs::write(&token, format!("{BOB}\n"))?;
    let out = support::agent(&[
        "status",
        "--server",
        &server,
        "--token-file",
        token.to_str().ok_or("UTF-8 path")?,
    ]);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for app in fixture::APPS {
        assert!(table.contains(app), "status lists {app}: {table}");
    }
    seen.add("tether-agent status", table);
    let out = support::agent(&[
        "status",
        "--server",
        &server,
        "--kubeconfig",
        "/nonexistent",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    Ok(())
}

/// Signs in through the provider's development login form as `user` (any password), then
/// its consent form.
async fn sso_sign_in(client: &Client, base: &str, user: &str) -> Step {
    client.delete_all_cookies().await?;
    client.goto(&format!("{base}/login")).await?;
    click(client, Locator::LinkText("Sign in with single sign-on")).await?;
    client
        .wait()
        .for_element(Locator::Css("input[name=login]"))
        .await?
        .send_keys(user)
        .await?;
    client
        .find(Locator::Css("input[name=password]"))
        .await?
        .send_keys("any")
        .await?;
    click(client, Locator::Css("button[type=submit]")).await?;
    // The consent form, then back to the agent.
    client
        .wait()
        .for_element(Locator::Css("button[type=submit], #live"))
        .await?;
    if client.find(Locator::Css("#live")).await.is_err() {
        click(client, Locator::Css("button[type=submit]")).await?;
    }
    client.wait().for_element(Locator::Css("#live")).await?;
    Ok(())
}

/// Single sign-on: the agent's configuration gains `ui.oidc` (reloaded on SIGHUP); bob and
/// alice sign in at a real OpenID provider and see what their `groups` claim is allowed.
async fn single_sign_on(world: &World, client: &Client, axe: &str, seen: &mut Seen) -> Step {
    let base = format!("http://127.0.0.1:{}", world.agent.port);
    let provider = fixture::OidcProvider::start(world.dir.path(), world.agent.port);
    let secret = world.dir.path().join("oidc-client-secret");
    std::fs::write(&secret, fixture::OIDC_CLIENT_SECRET)?;
    let mut config = std::fs::read_to_string(&world.agent.config)?;
    config.push_str(&format!(
        "ui:\n  oidc:\n    issuer: {}\n    clientId: tether\n    clientSecretFile: {}\n    redirectUrl: {base}/oidc/callback\n",
        provider.issuer,
        secret.display()
    ));
    std::fs::write(&world.agent.config, config)?;
    world.agent.signal("-HUP");
    support::wait_for(
        "the reloaded configuration",
        Duration::from_secs(30),
        || {
            world
                .agent
                .get("/login")
                .1
                .contains("single sign-on")
                .then_some(())
        },
    );
    sso_sign_in(client, &base, "bob").await?;
    let user = client
        .find(Locator::Css("header .user strong"))
        .await?
        .text()
        .await?;
    assert_eq!(user, "bob@example.com");
    assert_eq!(
        rows(client).await?.len(),
        4,
        "the viewers group sees every app"
    );
    check_page(client, axe, "overview-sso", seen).await?;
    sso_sign_in(client, &base, "alice").await?;
    assert_eq!(
        rows(client).await?,
        ["app-shop-production", "app-shop-staging"],
        "the shop-team group sees the shop apps"
    );
    client.goto(&format!("{base}/apps/shop-staging")).await?;
    assert!(
        client.source().await?.contains("Sync now"),
        "and may act on them"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_in_a_browser_shows_every_page_live_with_rbac_and_without_secrets() {
    let mut world = World::start();
    world.add_children();
    let axe = browser::axe_source().expect("axe-core");
    let driver = browser::Chromedriver::start(world.dir.path()).expect("chromedriver");
    let client = driver.session().await.expect("a browser session");
    let mut seen = Seen::default();
    let result = async {
        viewer(&world, &client, &axe, &mut seen).await?;
        pages(&world, &client, &axe, &mut seen).await?;
        operator::operator(&mut world, &client, &mut seen).await?;
        single_sign_on(&world, &client, &axe, &mut seen).await
    }
    .await;
    let _ = client.close().await;
    if let Err(err) = result {
        panic!("{err}\nagent log:\n{}", world.agent.logs());
    }
    seen.assert_no_secret();
}

/// The emulation's reviews, as the agent asks them: TokenReviews of the users a test added,
/// SubjectAccessReviews decided by the RBAC objects it holds.
#[tokio::test]
async fn access_reviews_follow_the_rbac_objects_the_emulation_holds() {
    use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    use kube::api::{Api, PostParams};
    let server = tether_tests::apiserver::ApiServer::start()
        .await
        .expect("start");
    server.add_user_token(ALICE, "alice", &["shop-team"]);
    for object in fixture::rbac_objects() {
        server.put_object(object).expect("store RBAC");
    }
    let config = kube::Config::new(server.url().parse().expect("URL"));
    let client = kube::Client::try_from(config).expect("client");
    let review = |token: &str| TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_owned()),
            audiences: None,
        },
        ..TokenReview::default()
    };
    let tokens: Api<TokenReview> = Api::all(client.clone());
    let alice = tokens
        .create(&PostParams::default(), &review(ALICE))
        .await
        .expect("review");
    let status = alice.status.expect("status");
    assert_eq!(status.authenticated, Some(true));
    let user = status.user.expect("user");
    assert_eq!(user.username.as_deref(), Some("alice"));
    assert_eq!(
        user.groups,
        Some(vec![
            "shop-team".to_owned(),
            "system:authenticated".to_owned()
        ])
    );
    let nobody = tokens
        .create(&PostParams::default(), &review("nope"))
        .await
        .expect("review");
    assert_eq!(nobody.status.and_then(|s| s.authenticated), Some(false));
    let access: Api<SubjectAccessReview> = Api::all(client);
    let can = |user: &'static str,
               groups: &'static [&'static str],
               verb: &'static str,
               ns: &'static str| {
        let access = access.clone();
        async move {
            let review = SubjectAccessReview {
                spec: SubjectAccessReviewSpec {
                    user: Some(user.to_owned()),
                    groups: Some(groups.iter().map(|g| (*g).to_owned()).collect()),
                    resource_attributes: Some(ResourceAttributes {
                        group: Some("tether.dev".into()),
                        resource: Some("apps".into()),
                        verb: Some(verb.into()),
                        namespace: Some(ns.into()),
                        ..ResourceAttributes::default()
                    }),
                    ..SubjectAccessReviewSpec::default()
                },
                ..SubjectAccessReview::default()
            };
            access
                .create(&PostParams::default(), &review)
                .await
                .expect("review")
                .status
                .is_some_and(|s| s.allowed)
        }
    };
    assert!(
        can("alice", &["shop-team"], "patch", "shop-staging").await,
        "RoleBinding"
    );
    assert!(
        !can("alice", &["shop-team"], "patch", "vault-production").await,
        "no binding there"
    );
    assert!(
        !can("alice", &[], "get", "shop-staging").await,
        "the binding names the group"
    );
    assert!(
        can("bob", &["viewers"], "get", "vault-production").await,
        "ClusterRoleBinding"
    );
    assert!(
        !can("bob", &["viewers"], "patch", "shop-staging").await,
        "viewers only read"
    );
    assert!(can("root", &["system:masters"], "delete", "anywhere").await);
    server.shutdown().await;
}
