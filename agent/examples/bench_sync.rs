//! Benchmark of the sync engine (not a test; `scripts/bench/sync` runs it against
//! `tether-test-apiserver`): N apps of M objects each, first sync, steady-state resync with
//! the API calls it makes, drift-to-revert latency, and the process's peak RSS.
//!
//! Usage: `bench_sync --kubeconfig PATH [--apps 100] [--objects 50] [--concurrency 8]
//! [--drift-samples 50]`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};
use tether_agent::sync::{AppSpec, Engine, EngineConfig};

#[derive(Debug)]
struct Args {
    kubeconfig: String,
    apps: usize,
    objects: usize,
    concurrency: usize,
    drift_samples: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        kubeconfig: String::new(),
        apps: 100,
        objects: 50,
        concurrency: 8,
        drift_samples: 50,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--kubeconfig" => args.kubeconfig = value,
            "--apps" => args.apps = value.parse()?,
            "--objects" => args.objects = value.parse()?,
            "--concurrency" => args.concurrency = value.parse()?,
            "--drift-samples" => args.drift_samples = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if args.kubeconfig.is_empty() {
        bail!("--kubeconfig is required");
    }
    Ok(args)
}

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

/// A client that counts its requests by method (watches apart).
async fn counting_client(path: &str, counts: Counts) -> anyhow::Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path)?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    let layer = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        let watch = req.uri().query().is_some_and(|q| q.contains("watch=true"));
        let key = if watch {
            "WATCH".to_owned()
        } else {
            req.method().as_str().to_owned()
        };
        *counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert(0) += 1;
        req
    });
    Ok(ClientBuilder::try_from(config)?.with_layer(&layer).build())
}

fn objects_of(app: usize, count: usize) -> Vec<Value> {
    (0..count)
        .map(|j| {
            let name = format!("obj-{j:03}");
            match j % 10 {
                0..=3 => json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                    "data": {"app": app.to_string(), "index": j.to_string(), "settings": "a=1\nb=2\n"}}),
                4 | 5 => json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                    "type": "Opaque", "data": {"password": "aHVudGVyMg=="}}),
                6 | 7 => json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                    "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}),
                8 => json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}),
                _ => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}},
                            "spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/app:1.0.0",
                                "ports": [{"containerPort": 8080}]}]}}}}),
            }
        })
        .collect()
}

fn snapshot(counts: &Counts) -> BTreeMap<String, u64> {
    counts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let counts: Counts = Arc::default();
    let client = counting_client(&args.kubeconfig, counts.clone()).await?;
    let config = EngineConfig {
        namespace: "default".into(),
        concurrency: args.concurrency,
        health_timeout: Duration::ZERO,
        ..EngineConfig::default()
    };
    let engine = Engine::new(client.clone(), config);
    let apps: Vec<(AppSpec, String, Vec<Value>)> = (0..args.apps)
        .map(|i| {
            let mut app = AppSpec::new(&format!("app-{i:03}"), &format!("bench-{i:03}"));
            app.create_namespace = true;
            (app, "rev1".to_owned(), objects_of(i, args.objects))
        })
        .collect();
    println!(
        "workload: {} apps x {} objects = {} objects, concurrency {}",
        args.apps,
        args.objects,
        args.apps * args.objects,
        args.concurrency
    );

    let before = snapshot(&counts);
    let started = Instant::now();
    let results = engine.sync_all(apps.clone()).await;
    let first = started.elapsed();
    let failed = results.iter().filter(|r| !r.is_success()).count();
    if let Some(r) = results.iter().find(|r| !r.is_success()) {
        println!("first failure: {}: {:?}", r.app, r.error);
    }
    println!(
        "first sync: {:.2} s ({failed} apps failed)",
        first.as_secs_f64()
    );
    println!(
        "first sync API calls: {:?}",
        diff(&snapshot(&counts), &before)
    );

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let drift = {
        let engine = engine.clone();
        tokio::spawn(async move {
            engine
                .run_drift(async {
                    let _ = stopped.await;
                })
                .await;
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;

    let before = snapshot(&counts);
    let started = Instant::now();
    let results = engine.sync_all(apps.clone()).await;
    let steady = started.elapsed();
    let calls = diff(&snapshot(&counts), &before);
    let writes: u64 = ["POST", "PUT", "PATCH", "DELETE"]
        .iter()
        .map(|m| calls.get(*m).copied().unwrap_or(0))
        .sum();
    let noop = results
        .iter()
        .filter(|r| r.is_success() && r.changes.is_noop())
        .count();
    println!(
        "steady-state resync: {:.2} s, {noop}/{} apps unchanged, API calls {:?}, writes {writes}",
        steady.as_secs_f64(),
        args.apps,
        calls
    );

    let mut corrections = engine.subscribe_corrections();
    let gvk = GroupVersionKind::gvk("", "v1", "ConfigMap");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "configmaps");
    let params = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    let mut latencies = Vec::new();
    for s in 0..args.drift_samples {
        let app = s % args.apps;
        let object = format!("obj-{:03}", (s / args.apps) * 10 % args.objects.max(1));
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &format!("bench-{app:03}"), &resource);
        let t0 = Instant::now();
        api.patch(
            &object,
            &params,
            &Patch::Merge(json!({"data": {"index": "drifted"}})),
        )
        .await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout_at(deadline, corrections.recv()).await {
                Ok(Ok(c))
                    if c.object.name == object
                        && c.object.namespace == format!("bench-{app:03}") =>
                {
                    latencies.push(t0.elapsed());
                    break;
                }
                Ok(_) => {}
                Err(_) => bail!("no correction of {object} in bench-{app:03} within 30 s"),
            }
        }
    }
    latencies.sort();
    println!(
        "drift-to-revert latency over {} samples: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 50.0).as_secs_f64() * 1000.0,
        percentile(&latencies, 99.0).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    let _ = stop.send(());
    let _ = drift.await;
    println!("agent peak RSS (VmHWM): {} MiB", peak_rss_kib() / 1024);
    Ok(())
}
