//! Benchmark (not a test) of the web UI, run by `scripts/bench/ui`: the overview of APPS apps
//! rendered on the server (model and HTML, as `GET /` does; median and max of ROUNDS), the
//! sizes of the overview, environments and app pages, and the memory the UI's state adds to
//! the agent (resident set before and after filling each app's UI fields: commit, history of
//! 50 syncs, images, Secret origins, policy results; then after one render of every page, the
//! overview, the environments and each app's page, each dropped when done as a request's is).
//!
//! Usage: bench_ui [APPS] [ROUNDS]   (defaults: 1000 apps, 50 rounds)

use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tether_agent::daemon::state::{SecretSource, Shared, SyncRecord};
use tether_agent::server::ui::{app, model, pages};
use tether_agent::sync::{Action, Change, ObjectRef};
use tether_agent::telemetry::LogControl;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn object(kind: &str, ns: &str, name: &str) -> ObjectRef {
    ObjectRef {
        group: if kind == "Deployment" {
            "apps".into()
        } else {
            String::new()
        },
        version: "v1".into(),
        kind: kind.into(),
        namespace: ns.into(),
        name: name.into(),
    }
}

/// The status the daemon keeps without the UI: name, source, path, revision, result, changes.
fn base_status(state: &Shared, i: usize) {
    let env = ["staging", "production"][i % 2];
    let name = format!("app{:04}-{env}", i / 2);
    let ns = name.clone();
    state.update_app(&name, |s| {
        s.source = "config".into();
        s.path = format!("apps/app{:04}/overlays/{env}", i / 2);
        s.namespace = ns.clone();
        s.revision = format!("{:040x}", i * 7919);
        s.last_sync = Some("2026-12-07T09:00:00Z".into());
        s.sync = if i.is_multiple_of(37) { "Failed" } else { "Succeeded" }.into();
        s.reason = if i.is_multiple_of(37) { "ApplyFailed" } else { "Succeeded" }.into();
        s.health = if i.is_multiple_of(23) { "Degraded" } else { "Healthy" }.into();
        if i.is_multiple_of(37) {
            s.errors = vec![format!(
                "ApplyFailed: Deployment {ns}/web: spec.template.spec.containers[0].image: Required value"
            )];
        }
        s.changes = ["Deployment", "Service", "ConfigMap", "Secret", "ServiceAccount"]
            .iter()
            .map(|kind| Change {
                object: object(kind, &ns, "web"),
                action: Action::Unchanged,
                reason: None,
                diff: Vec::new(),
            })
            .collect();
    });
}

/// What the UI adds to each app's status.
fn ui_fields(state: &Shared, name: &str) {
    state.update_app(name, |s| {
        s.commit = tether_agent::source::snapshot::CommitInfo {
            subject: "shop: promote web 1.4.2 to production after the staging soak".into(),
            author: "Dana Developer".into(),
            time: 1_796_000_000,
        };
        s.duration_ms = Some(840);
        s.trigger = "webhook".into();
        s.images = vec![
            format!("registry.example/{}/web:1.4.{}", s.name, s.name.len() % 3),
            "redis:7.2".into(),
        ];
        s.secrets = vec![SecretSource {
            namespace: s.namespace.clone(),
            name: "db".into(),
            origin: "sops".into(),
            read_at: "2026-12-07T09:00:00Z".into(),
            store: String::new(),
            file: format!("apps/app/overlays/{}/db.sops.yaml", s.name),
        }];
        // What an app page's comparison with Git leaves behind.
        s.compared = Some(tether_agent::server::ui::desired::Compared {
            revision: s.revision.clone(),
            out_of_sync: 1,
            at: "2026-12-07T09:00:00Z".into(),
            last_sync: "2026-12-07T09:00:00Z".into(),
        });
        s.policy = vec!["warn: Deployment web: tether.resources.warn: no memory limit".into()];
        for n in 0..tether_agent::daemon::state::HISTORY_LEN {
            s.record(&SyncRecord {
                revision: format!("{:040x}", n),
                at: "2026-12-07T09:00:00Z".into(),
                result: "Succeeded".into(),
                reason: "Succeeded".into(),
                duration_ms: 800 + n as u64,
                trigger: "poll".into(),
                created: 0,
                configured: 1,
                pruned: 0,
                hooks: 0,
            });
        }
    });
}

fn main() {
    let mut args = std::env::args().skip(1);
    let apps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let state = Arc::new(Shared::new(LogControl::detached("info")));
    for i in 0..apps {
        base_status(&state, i);
    }
    let before = rss_kib();
    for app in state.apps() {
        ui_fields(&state, &app.name);
    }
    let filled = rss_kib();
    let chrome = pages::Chrome {
        user: "bench".into(),
        signed_in: true,
        csrf: "0".repeat(64),
    };
    let now = SystemTime::now();
    // One render of every page as the server makes it (statuses read where they are), each
    // dropped when done, as a request's are; then the resident set again.
    let sizes = {
        let overview = state.with_apps(|apps| model::overview_of(apps, &model::Filter::default()));
        let overview_html = pages::overview(&overview, &chrome, now).into_string();
        let envs = state.with_apps(|apps| model::environments_of(apps, 1));
        let env_html = pages::environments(&envs, &chrome).into_string();
        let mut app_html = String::new();
        for name in state.with_apps(|apps| apps.map(|a| a.name.clone()).collect::<Vec<_>>()) {
            if let Some(status) = state.app(&name) {
                app_html = pages::app(&app::app_view(&status), &chrome, true, now).into_string();
            }
        }
        (overview_html.len(), env_html.len(), app_html.len())
    };
    let after = rss_kib();
    let mut times = Vec::with_capacity(rounds);
    let mut bytes = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        let view = state.with_apps(|apps| model::overview_of(apps, &model::Filter::default()));
        let html = pages::overview(&view, &chrome, SystemTime::now()).into_string();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        bytes = html.len();
    }
    times.sort_by(f64::total_cmp);
    let filtered = {
        let started = Instant::now();
        let filter = model::Filter {
            state: "Failed".into(),
            ..model::Filter::default()
        };
        let view = state.with_apps(|apps| model::overview_of(apps, &filter));
        let html = pages::overview(&view, &chrome, now).into_string();
        (started.elapsed().as_secs_f64() * 1000.0, html.len())
    };
    println!(
        "web UI, {apps} apps, {rounds} rounds (server-side render of GET /: state snapshot, model, HTML)"
    );
    println!(
        "  overview render: median {:.1} ms, max {:.1} ms (goal < 50 ms)",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    println!(
        "  overview page: {:.1} KiB for {apps} apps",
        bytes as f64 / 1024.0
    );
    println!(
        "  overview filtered to Failed: {:.1} ms, {:.1} KiB",
        filtered.0,
        filtered.1 as f64 / 1024.0
    );
    println!(
        "  environments page: {:.1} KiB; app page: {:.1} KiB",
        sizes.1 as f64 / 1024.0,
        sizes.2 as f64 / 1024.0
    );
    println!(
        "  memory added by the UI's per-app state (commit, 50-sync history, images, Secret origins, policy): {:.2} MiB; after one render of every page (overview, environments, each app's page): {:.2} MiB (RSS {} -> {} -> {} KiB; goal < 5 MiB)",
        filled.saturating_sub(before) as f64 / 1024.0,
        after.saturating_sub(before) as f64 / 1024.0,
        before,
        filled,
        after
    );
}
