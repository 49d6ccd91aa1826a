//! The GitOps workflow end to end: a gitops-config repository (`apps/<service>/base` with
//! `overlays/staging` and `overlays/production`) served by `git daemon`, and `tether-agent
//! run` as a process against the API emulation. One long test, in labelled steps: a staging
//! update by webhook, promotion to production, a failing pre-sync migration that keeps the
//! old version, `git revert`, a manual edit reverted by drift correction, a service
//! directory deleted (its PVC kept), Secrets from OpenBao and moto (ExternalSecrets with the
//! app's own SecretStores, an inline reference through the agent's store) and their rotation,
//! and the values of all four sources (SOPS, sealed, OpenBao, Secrets Manager) in the cluster
//! and nowhere else. Each step's latency is printed (never asserted).

#[path = "workflow/fixtures.rs"]
mod fixtures;
#[path = "workflow/steps.rs"]
mod steps;
#[path = "daemon/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use hmac::Mac;
use support::{Agent, Cluster, Repo, Settings, WEBHOOK_SECRET, http, wait_for};
use tether_tests::peers;

use fixtures::*;
use steps::*;

/// Everything the steps share. Fields drop in order: the agent first, the cluster last.
struct World {
    agent: Agent,
    dir: tempfile::TempDir,
    repo: Repo,
    stores: Stores,
    cluster: Cluster,
    /// The token of the app's own SecretStore (created in step 7).
    app_token: String,
    /// The token of the agent's inline store.
    agent_token: String,
    /// Each step's latency, printed at the end (never asserted).
    table: Vec<(&'static str, Duration)>,
}

impl World {
    /// The cluster, the stores, the repository with three services in two environments, and
    /// the agent started on it; returns the first commit and when the agent was started.
    fn start() -> (Self, String, Instant) {
        let cluster = Cluster::start();
        cluster.ok(&["create", "namespace", "tether-system"]);
        // OpenBao and moto hold the values of `api` in production (read from step 7 on). The
        // tokens and AWS keys only go to the cluster, as Secrets the test creates.
        let stores = Stores::start();
        stores.put_password("production/api", BAO_PASSWORD);
        stores.put_password("production/inline", INLINE_PASSWORD);
        stores.put_api_key("production/api-key", MOTO_KEY, true);
        let app_token = stores.production_token();
        let agent_token = stores.production_token();
        cluster.ok(&[
            "create",
            "secret",
            "generic",
            "inline-bao-token",
            "-n",
            "tether-system",
            &format!("--from-literal=token={agent_token}"),
        ]);
        // The repository of the support module starts with `apps/one` and `apps/two`, which the
        // glob `apps/*/overlays/*` does not match.
        let repo = Repo::start();
        let dir = tempfile::tempdir().expect("temporary folder");
        for service in SERVICES {
            for (path, text) in base(service) {
                repo.upstream.write(&path, text).expect("write");
            }
            for env in ENVIRONMENTS {
                let extra: &[&str] = match (service, env) {
                    ("web", "production") => &["db.sops.yaml"],
                    ("web", "staging") => &["token.sealed.yaml"],
                    _ => &[],
                };
                repo.upstream
                    .write(
                        &overlay_path(service, env),
                        overlay(service, env, "1.0.0", extra),
                    )
                    .expect("write");
            }
        }
        repo.upstream
            .write(
                "apps/web/overlays/production/db.sops.yaml",
                sops_secret(dir.path()),
            )
            .expect("write");
        repo.upstream
            .write(
                "apps/web/overlays/staging/token.sealed.yaml",
                support::sealed("staging", "token", "token", SEALED_TOKEN),
            )
            .expect("write");
        let first = repo
            .upstream
            .commit("three services, two environments")
            .expect("commit");
        let started = Instant::now();
        let agent = start_agent(&cluster, &repo, dir.path(), &stores);
        let world = Self {
            agent,
            dir,
            repo,
            stores,
            cluster,
            app_token,
            agent_token,
            table: Vec::new(),
        };
        (world, first, started)
    }
}

#[test]
fn the_gitops_workflow_runs_from_commit_to_cluster() {
    let (mut w, first, started) = World::start();
    step_0_initial_sync(&mut w, &first, started);
    step_1_staging_update(&mut w);
    step_2_promotion(&mut w);
    step_3_failing_migration(&mut w);
    step_4_revert(&mut w);
    step_5_drift(&mut w);
    step_6_prune(&mut w);
    let external = step_7_external_secrets(&mut w);
    step_8_rotation(&mut w, &external);
    step_9_plaintexts(&mut w);
    eprintln!("\nstep                                latency");
    for (step, took) in &w.table {
        eprintln!("{step:<36}{took:>10.2?}");
    }
}
