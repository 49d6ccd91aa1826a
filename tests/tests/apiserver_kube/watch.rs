//! Watches through kube-rs `watcher()`: list-watch and streaming lists, and a relist after
//! `410 Gone`.

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tokio::sync::mpsc;

use super::{WAIT, config_map, start};

type Events = mpsc::UnboundedReceiver<watcher::Event<ConfigMap>>;

fn watch_config_maps(client: Client, config: watcher::Config) -> Events {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = watcher(Api::<ConfigMap>::namespaced(client, "shop"), config)
            .default_backoff()
            .boxed();
        while let Some(event) = stream.next().await {
            if let Ok(event) = event
                && tx.send(event).is_err()
            {
                break;
            }
        }
    });
    rx
}

fn name_of(cm: &ConfigMap) -> &str {
    cm.metadata.name.as_deref().unwrap_or("")
}

/// Waits for the first event that `pick` accepts, returning the events skipped on the way.
async fn wait_for(
    rx: &mut Events,
    what: &str,
    pick: impl Fn(&watcher::Event<ConfigMap>) -> bool,
) -> Vec<String> {
    let mut skipped = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(event) = rx.recv().await {
            if pick(&event) {
                return true;
            }
            skipped.push(format!("{event:?}").chars().take(80).collect());
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "no {what} event; saw {skipped:?}");
    skipped
}

async fn creates_updates_and_deletes_are_seen(config: watcher::Config) {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client.clone(), "shop");
    api.create(&PostParams::default(), &config_map("before", json!({})))
        .await
        .expect("create");
    let mut rx = watch_config_maps(client, config);
    wait_for(
        &mut rx,
        "InitApply(before)",
        |e| matches!(e, watcher::Event::InitApply(c) if name_of(c) == "before"),
    )
    .await;
    wait_for(&mut rx, "InitDone", |e| {
        matches!(e, watcher::Event::InitDone)
    })
    .await;
    api.create(&PostParams::default(), &config_map("w", json!({"a": "1"})))
        .await
        .expect("create");
    wait_for(
        &mut rx,
        "Apply(w)",
        |e| matches!(e, watcher::Event::Apply(c) if name_of(c) == "w"),
    )
    .await;
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "2"}})),
    )
    .await
    .expect("patch");
    wait_for(&mut rx, "Apply(w, a=2)", |e| {
        matches!(e, watcher::Event::Apply(c) if c.data.as_ref().and_then(|d| d.get("a")).map(String::as_str) == Some("2"))
    })
    .await;
    api.delete("w", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for(
        &mut rx,
        "Delete(w)",
        |e| matches!(e, watcher::Event::Delete(c) if name_of(c) == "w"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_sees_creates_updates_and_deletes() {
    creates_updates_and_deletes_are_seen(watcher::Config::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streaming_list_watcher_sees_creates_updates_and_deletes() {
    creates_updates_and_deletes_are_seen(watcher::Config::default().streaming_lists()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_makes_the_watcher_relist_and_carry_on() {
    let (server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client.clone(), "shop");
    let mut rx = watch_config_maps(client, watcher::Config::default());
    wait_for(&mut rx, "InitDone", |e| {
        matches!(e, watcher::Event::InitDone)
    })
    .await;
    api.create(&PostParams::default(), &config_map("one", json!({})))
        .await
        .expect("create");
    wait_for(
        &mut rx,
        "Apply(one)",
        |e| matches!(e, watcher::Event::Apply(c) if name_of(c) == "one"),
    )
    .await;
    let watches_before = server.requests().count("watch", "configmaps");
    server.compact_watch_history();
    wait_for(&mut rx, "a new Init after 410 Gone", |e| {
        matches!(e, watcher::Event::Init)
    })
    .await;
    wait_for(
        &mut rx,
        "InitApply(one)",
        |e| matches!(e, watcher::Event::InitApply(c) if name_of(c) == "one"),
    )
    .await;
    wait_for(&mut rx, "InitDone", |e| {
        matches!(e, watcher::Event::InitDone)
    })
    .await;
    api.create(&PostParams::default(), &config_map("two", json!({})))
        .await
        .expect("create");
    wait_for(
        &mut rx,
        "Apply(two)",
        |e| matches!(e, watcher::Event::Apply(c) if name_of(c) == "two"),
    )
    .await;
    assert!(
        server.requests().count("watch", "configmaps") >= watches_before + 2,
        "resumed, got 410, watched again"
    );
}
