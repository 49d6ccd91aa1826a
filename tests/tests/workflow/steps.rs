//! The steps of the workflow, in order; each reads and writes the shared [`World`].

use super::*;

/// Step 0: the agent syncs every app of the repository.
pub(crate) fn step_0_initial_sync(w: &mut World, first: &str, started: Instant) {
    let (cluster, agent) = (&w.cluster, &w.agent);
    for service in SERVICES {
        for env in ENVIRONMENTS {
            synced(agent, &format!("{service}-{env}"), first);
            assert_eq!(
                image(cluster, service, env),
                format!("ghcr.io/acme/{service}:1.0.0")
            );
        }
    }
    w.table.push(("initial sync of 6 apps", started.elapsed()));

    // The SOPS and sealed Secrets are in the cluster with their values from the start (the
    // plaintext checks are in step 9).
    assert_eq!(
        secret_value(cluster, "db", "production", "password"),
        SOPS_PASSWORD.as_bytes(),
        "{}",
        agent.logs()
    );
    assert_eq!(
        secret_value(cluster, "token", "staging", "token"),
        SEALED_TOKEN.as_bytes()
    );
}

/// Step 1: CI commits a new image tag to staging and calls the webhook.
pub(crate) fn step_1_staging_update(w: &mut World) {
    let (cluster, agent, up) = (&w.cluster, &w.agent, &w.repo.upstream);
    up.write(
        &overlay_path("web", "staging"),
        overlay("web", "staging", "1.1.0", &["token.sealed.yaml"]),
    )
    .expect("write");
    let ci = up.commit("ci: web 1.1.0 to staging").expect("commit");
    let sent = webhook(agent);
    wait_for("web 1.1.0 in staging", STEP, || {
        (image(cluster, "web", "staging") == "ghcr.io/acme/web:1.1.0").then_some(())
    });
    let latency = sent.elapsed();
    eprintln!("webhook to image visible in staging: {latency:?}");
    w.table.push(("1. staging update (webhook)", latency));
    synced(agent, "web-production", &ci);
    assert_eq!(
        image(cluster, "web", "production"),
        "ghcr.io/acme/web:1.0.0"
    );
}

/// Step 2: promotion copies the tag to production.
pub(crate) fn step_2_promotion(w: &mut World) {
    let (cluster, agent, up) = (&w.cluster, &w.agent, &w.repo.upstream);
    up.write(
        &overlay_path("web", "production"),
        overlay("web", "production", "1.1.0", &["db.sops.yaml"]),
    )
    .expect("write");
    let promoted = up
        .commit("promote web 1.1.0 to production")
        .expect("commit");
    let sent = webhook(agent);
    wait_for("web 1.1.0 in production", STEP, || {
        (image(cluster, "web", "production") == "ghcr.io/acme/web:1.1.0").then_some(())
    });
    w.table.push(("2. promotion to production", sent.elapsed()));
    synced(agent, "web-production", &promoted);
}

/// Step 3: a failing pre-sync migration keeps the old version running.
pub(crate) fn step_3_failing_migration(w: &mut World) {
    let (cluster, agent, up) = (&w.cluster, &w.agent, &w.repo.upstream);
    up.write(
        "apps/web/overlays/production/migrate.yaml",
        "apiVersion: batch/v1
kind: Job
metadata:
  name: web-migrate
  annotations:
    tether.dev/hook: pre-sync
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: ghcr.io/acme/web-migrate:1.2.0
",
    )
    .expect("write");
    up.write(
        &overlay_path("web", "production"),
        overlay(
            "web",
            "production",
            "1.2.0",
            &["db.sops.yaml", "migrate.yaml"],
        ),
    )
    .expect("write");
    let migration = up.commit("web 1.2.0 with a migration").expect("commit");
    let sent = webhook(agent);
    wait_for("the migration Job", STEP, || {
        cluster
            .exists(&["job", "web-migrate", "-n", "production"])
            .then_some(())
    });
    cluster.ok(&[
        "patch",
        "job",
        "web-migrate",
        "-n",
        "production",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Failed","status":"True"}]}}"#,
    ]);
    let failed = wait_for("the hook failure in the app's status", STEP, || {
        let s = app_status(agent, "web-production")?;
        (s["reason"] == "HookFailed").then_some(s)
    });
    w.table
        .push(("3. failing pre-sync hook reported", sent.elapsed()));
    assert_ne!(failed["sync"], "Succeeded", "{failed}");
    wait_for("the HookFailed Event", STEP, || {
        let events = cluster.ok(&[
            "get",
            "events.events.k8s.io",
            "-n",
            "tether-system",
            "-o",
            "json",
        ]);
        events.contains("HookFailed").then_some(())
    });
    assert_eq!(failed["revision"], migration.as_str(), "{failed}");
    assert_eq!(
        image(cluster, "web", "production"),
        "ghcr.io/acme/web:1.1.0",
        "the old version keeps running"
    );
}

/// Step 4: `git revert` of that commit syncs back to the previous state.
pub(crate) fn step_4_revert(w: &mut World) {
    let (cluster, agent, up) = (&w.cluster, &w.agent, &w.repo.upstream);
    tether_tests::gitserver::run(up.git().args(["revert", "--no-edit", "HEAD"])).expect("revert");
    tether_tests::gitserver::run(up.git().args([
        "push",
        "-q",
        "--force",
        "origin",
        "HEAD:refs/heads/main",
    ]))
    .expect("push");
    let reverted = up.head().expect("head");
    let sent = webhook(agent);
    synced(agent, "web-production", &reverted);
    w.table.push(("4. revert synced", sent.elapsed()));
    assert_eq!(
        image(cluster, "web", "production"),
        "ghcr.io/acme/web:1.1.0"
    );
}

/// Step 5: a manual edit of a label Tether set is reverted by drift correction.
pub(crate) fn step_5_drift(w: &mut World) {
    let (cluster, agent) = (&w.cluster, &w.agent);
    let edited = Instant::now();
    cluster.ok(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "production",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"env":"edited-by-hand"}}}"#,
    ]);
    let label = || {
        cluster
            .ok(&[
                "get",
                "deployment",
                "web",
                "-n",
                "production",
                "-o",
                "jsonpath={.metadata.labels.env}",
            ])
            .trim()
            .to_owned()
    };
    wait_for("the manual edit reverted", STEP, || {
        (label() == "production").then_some(())
    });
    w.table.push(("5. drift corrected", edited.elapsed()));
    wait_for("the drift correction counted", STEP, || {
        let s = app_status(agent, "web-production")?;
        (s["driftCorrections"].as_u64() >= Some(1)).then_some(())
    });
}

/// Step 6: deleting a service's directory prunes its objects and keeps its PVC.
pub(crate) fn step_6_prune(w: &mut World) {
    let (cluster, agent, up) = (&w.cluster, &w.agent, &w.repo.upstream);
    up.remove("apps/cache").expect("remove");
    up.commit("retire the cache service").expect("commit");
    let sent = webhook(agent);
    for env in ENVIRONMENTS {
        wait_for(&format!("cache pruned from {env}"), STEP, || {
            (!cluster.exists(&["deployment", "cache", "-n", env])
                && !cluster.exists(&["service", "cache", "-n", env]))
            .then_some(())
        });
    }
    w.table
        .push(("6. service directory pruned", sent.elapsed()));
    for env in ENVIRONMENTS {
        assert!(
            cluster.exists(&["pvc", "cache-data", "-n", env]),
            "the PVC of {env} is kept"
        );
    }
    wait_for("the Orphaned Event", STEP, || {
        let events = cluster.ok(&[
            "get",
            "events.events.k8s.io",
            "-n",
            "tether-system",
            "-o",
            "json",
        ]);
        (events.contains("Orphaned") && events.contains("cache-data")).then_some(())
    });
    assert!(
        cluster.exists(&["deployment", "web", "-n", "production"]),
        "the other services stay"
    );
    wait_for("the status of the removed apps gone", STEP, || {
        ENVIRONMENTS
            .iter()
            .all(|env| agent.get(&format!("/api/v1/apps/cache-{env}")).0 == 404)
            .then_some(())
    });
}

/// Step 7: `api` in production reads OpenBao and moto through its own SecretStores, whose
/// credentials are Secrets of its namespace (created here, never in Git), and OpenBao
/// through the agent's inline store.
pub(crate) fn step_7_external_secrets(w: &mut World) -> String {
    let (cluster, agent, stores, up) = (&w.cluster, &w.agent, &w.stores, &w.repo.upstream);
    for args in [
        vec![
            "bao-token".to_owned(),
            format!("--from-literal=token={}", w.app_token),
        ],
        vec![
            "aws-credentials".to_owned(),
            format!("--from-literal=access-key-id={AWS_ACCESS_KEY_ID}"),
            format!("--from-literal=secret-access-key={AWS_SECRET_KEY}"),
        ],
    ] {
        let mut all = vec!["create", "secret", "generic", "-n", "production"];
        all.extend(args.iter().map(String::as_str));
        cluster.ok(&all);
    }
    let files = store_manifests(stores);
    for (file, text) in &files {
        up.write(&format!("apps/api/overlays/production/{file}"), text)
            .expect("write");
    }
    let names: Vec<&str> = files.iter().map(|(file, _)| *file).collect();
    up.write(
        &overlay_path("api", "production"),
        overlay("api", "production", "1.0.0", &names),
    )
    .expect("write");
    let external = up
        .commit("api reads OpenBao and Secrets Manager")
        .expect("commit");
    let sent = webhook(agent);
    secret_becomes(cluster, "api-vault", "production", "password", BAO_PASSWORD);
    secret_becomes(cluster, "api-aws", "production", "apiKey", MOTO_KEY);
    secret_becomes(
        cluster,
        "api-inline",
        "production",
        "password",
        INLINE_PASSWORD,
    );
    w.table
        .push(("7. OpenBao and moto secrets synced", sent.elapsed()));
    synced(agent, "api-production", &external);
    // All four sources in the cluster at once, with their values.
    for (name, namespace, key, value) in [
        ("db", "production", "password", SOPS_PASSWORD),
        ("token", "staging", "token", SEALED_TOKEN),
        ("api-vault", "production", "password", BAO_PASSWORD),
        ("api-aws", "production", "apiKey", MOTO_KEY),
        ("api-inline", "production", "password", INLINE_PASSWORD),
    ] {
        assert_eq!(
            secret_value(cluster, name, namespace, key),
            value.as_bytes(),
            "{namespace}/{name}"
        );
    }
    external
}

/// Step 8: new values in OpenBao and moto (and behind the inline reference) reach the
/// cluster within the refresh interval.
pub(crate) fn step_8_rotation(w: &mut World, external: &str) {
    let (cluster, agent, stores) = (&w.cluster, &w.agent, &w.stores);
    let rotated = Instant::now();
    stores.put_password("production/api", BAO_ROTATED);
    stores.put_api_key("production/api-key", MOTO_ROTATED, false);
    stores.put_password("production/inline", INLINE_ROTATED);
    secret_becomes(cluster, "api-vault", "production", "password", BAO_ROTATED);
    secret_becomes(cluster, "api-aws", "production", "apiKey", MOTO_ROTATED);
    secret_becomes(
        cluster,
        "api-inline",
        "production",
        "password",
        INLINE_ROTATED,
    );
    w.table
        .push(("8. rotation in OpenBao, moto and inline", rotated.elapsed()));
    let status = app_status(agent, "api-production").expect("the status of api-production");
    assert_eq!(status["sync"], "Succeeded", "{status}");
    assert_eq!(status["revision"], external, "{status}");
}

/// Step 9: the plaintexts (and the store credentials) appear nowhere but in the Secrets:
/// not in the agent's log, its API and metrics, any object of the cluster but a Secret,
/// the files it wrote, or the repository.
pub(crate) fn step_9_plaintexts(w: &mut World) {
    let (cluster, up) = (&w.cluster, &w.repo.upstream);
    let places = emitted(w);
    let plaintexts = [
        SOPS_PASSWORD,
        SEALED_TOKEN,
        BAO_PASSWORD,
        BAO_ROTATED,
        MOTO_KEY,
        MOTO_ROTATED,
        INLINE_PASSWORD,
        INLINE_ROTATED,
        AWS_ACCESS_KEY_ID,
        AWS_SECRET_KEY,
        &w.app_token,
        &w.agent_token,
    ];
    for (name, text) in &places {
        for plain in plaintexts {
            assert!(!text.contains(plain), "{name} holds a plaintext");
            for encoded in tether_tests::memory::base64_forms(plain) {
                assert!(
                    !text.contains(&encoded),
                    "{name} holds a plaintext in base64"
                );
            }
        }
    }
    // The same search finds the values where they belong.
    let secrets = cluster.ok(&["get", "secrets", "-A", "-o", "json"]);
    for plain in [
        SOPS_PASSWORD,
        SEALED_TOKEN,
        BAO_ROTATED,
        MOTO_ROTATED,
        INLINE_ROTATED,
        AWS_SECRET_KEY,
        &w.app_token,
    ] {
        assert!(
            tether_tests::memory::base64_forms(plain)
                .iter()
                .any(|e| secrets.contains(e)),
            "the search does not find a value in the Secrets"
        );
    }
    for plain in plaintexts {
        let grep = up
            .git()
            .args(["grep", "-I", "-q", "-F", "-e", plain, "--", "."])
            .status()
            .expect("run git grep");
        assert_eq!(grep.code(), Some(1), "the repository holds a plaintext");
    }
    let objects = &places[2].1;
    for read in [
        "tether-status-api-production",
        "tether-inventory-api-production",
        "Orphaned",
        "SyncSucceeded",
    ] {
        assert!(
            objects.contains(read),
            "{read} was not among the objects read"
        );
    }
    assert!(places.len() > 8, "the agent's files were read");
}

/// Everything the agent emitted or wrote, by where it was found: its log, metrics and API,
/// every object of the cluster but a Secret, and the files under its cache.
fn emitted(w: &World) -> Vec<(String, String)> {
    let (cluster, agent) = (&w.cluster, &w.agent);
    let mut places = vec![
        ("agent log".to_owned(), agent.logs()),
        ("metrics".to_owned(), agent.get("/metrics").1),
        (
            "cluster objects".to_owned(),
            everything_but_secrets(cluster),
        ),
    ];
    for path in ["/api/v1/apps".to_owned(), "/api/v1/recipient".to_owned()]
        .into_iter()
        .chain(
            ["web", "api"]
                .iter()
                .flat_map(|s| ENVIRONMENTS.map(|env| format!("/api/v1/apps/{s}-{env}"))),
        )
    {
        let (code, body) = agent.get(&path);
        assert_eq!(code, 200, "{path}: {body}");
        places.push((path, body));
    }
    let cache = w.dir.path().join("cache-workflow");
    for (path, bytes) in tether_tests::files_under(&cache) {
        places.push((
            path.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    places
}
