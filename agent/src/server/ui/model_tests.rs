use super::*;
use crate::daemon::state::AppStatus;
use serde_json::json;

fn app(name: &str, path: &str, sync: &str, health: &str) -> AppStatus {
    AppStatus {
        name: name.into(),
        source: "config".into(),
        path: path.into(),
        namespace: name.split('-').next().unwrap_or(name).into(),
        revision: "0123456789abcdef".into(),
        sync: sync.into(),
        health: health.into(),
        reason: if sync == "Failed" {
            "ApplyFailed".into()
        } else {
            "Succeeded".into()
        },
        ..AppStatus::default()
    }
}

#[test]
fn the_overview_puts_problems_first_and_counts_every_state() {
    let mut broken = app("zeta", "apps/zeta", "Failed", "Degraded");
    broken.errors = vec!["ApplyFailed:\n  Deployment zeta/web:   invalid".into()];
    let apps = vec![
        app("alpha", "apps/alpha", "Succeeded", "Healthy"),
        broken,
        app("beta", "apps/beta", "Succeeded", "Progressing"),
    ];
    let view = overview(&apps, &Filter::default());
    let names: Vec<&str> = view.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["zeta", "beta", "alpha"]);
    assert_eq!(
        view.apps[0].error,
        "ApplyFailed: Deployment zeta/web: invalid"
    );
    assert_eq!(view.counts.get("Succeeded"), Some(&2));
    assert_eq!(view.counts.get("Failed"), Some(&1));
    assert_eq!(view.counts.get("Degraded"), Some(&1));
    assert_eq!(view.total, 3);
}

#[test]
fn the_overview_filters_by_state_namespace_source_and_text() {
    let apps = vec![
        app(
            "shop-staging",
            "apps/shop/overlays/staging",
            "Succeeded",
            "Healthy",
        ),
        app(
            "shop-production",
            "apps/shop/overlays/production",
            "Failed",
            "Degraded",
        ),
        app("blog", "apps/blog", "Succeeded", "Healthy"),
    ];
    let only = |f: Filter| -> Vec<String> {
        overview(&apps, &f)
            .apps
            .into_iter()
            .map(|a| a.name)
            .collect()
    };
    let f = |state: &str, namespace: &str, source: &str, q: &str| Filter {
        state: state.into(),
        namespace: namespace.into(),
        source: source.into(),
        q: q.into(),
        page: 0,
    };
    assert_eq!(only(f("degraded", "", "", "")), ["shop-production"]);
    assert_eq!(only(f("", "blog", "", "")), ["blog"]);
    assert_eq!(only(f("", "", "other", "")), Vec::<String>::new());
    assert_eq!(only(f("", "", "", "STAGING")), ["shop-staging"]);
    let view = overview(&apps, &f("Failed", "", "", ""));
    assert_eq!(view.total, 3, "counts are over every visible app");
    assert_eq!(
        f("Failed", "", "", "a b&c").query(),
        "state=Failed&q=a%20b%26c"
    );
}

#[test]
fn environments_group_overlays_of_a_base_and_mark_what_a_promotion_changes() {
    let mut staging = app(
        "shop-staging",
        "apps/shop/overlays/staging",
        "Succeeded",
        "Healthy",
    );
    staging.images = vec!["registry:5000/shop/web:1.3.0".into(), "redis:7".into()];
    staging.revision = "bbbbbbbbbb".into();
    let mut production = app(
        "shop-production",
        "apps/shop/overlays/production",
        "Succeeded",
        "Healthy",
    );
    production.images = vec!["registry:5000/shop/web:1.2.0".into(), "redis:7".into()];
    production.revision = "aaaaaaaaaa".into();
    let blog = app("blog", "apps/blog", "Succeeded", "Healthy");
    let view = environments(&[production, blog, staging], 1);
    assert_eq!(view.environments, ["staging", "production"]);
    assert_eq!(view.rows.len(), 1);
    let row = &view.rows[0];
    assert_eq!(row.base, "apps/shop");
    let staging = row.cells[0].as_ref().expect("staging");
    let production = row.cells[1].as_ref().expect("production");
    assert!(!staging.revision_differs && staging.images.iter().all(|i| !i.differs));
    assert!(production.revision_differs);
    assert_eq!(production.images[0].repository, "registry:5000/shop/web");
    assert_eq!(production.images[0].tag, "1.2.0");
    assert!(production.images[0].differs, "another tag than staging");
    assert!(!production.images[1].differs, "redis:7 in both");
}

#[test]
fn images_are_found_at_any_depth_and_split_into_repository_and_tag() {
    let cron = json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "initContainers": [{"image": "busybox"}],
        "containers": [{"image": "ghcr.io/a/b@sha256:abc"}, {"image": "busybox"}]}}}}}});
    assert_eq!(
        images([&cron].into_iter()),
        ["busybox", "ghcr.io/a/b@sha256:abc"]
    );
    assert_eq!(split_image("busybox"), ("busybox", "latest"));
    assert_eq!(
        split_image("localhost:5000/app"),
        ("localhost:5000/app", "latest")
    );
    assert_eq!(
        split_image("localhost:5000/app:2"),
        ("localhost:5000/app", "2")
    );
    assert_eq!(split_image("a/b@sha256:abc"), ("a/b", "sha256:abc"));
    assert_eq!(
        environment_of("apps/shop/overlays/staging"),
        Some(("apps/shop".into(), "staging".into()))
    );
    assert_eq!(environment_of("apps/shop"), None);
}

#[test]
fn the_overview_is_paged_after_sorting_problems_first() {
    let apps: Vec<AppStatus> = (0..250)
        .map(|i| {
            let sync = if i == 249 { "Failed" } else { "Succeeded" };
            app(&format!("app{i:03}"), "apps/x", sync, "Healthy")
        })
        .collect();
    let first = overview(&apps, &Filter::default());
    assert_eq!((first.page, first.pages, first.matched), (1, 3, 250));
    assert_eq!(first.apps.len(), PAGE_SIZE);
    assert_eq!(
        first.apps[0].name, "app249",
        "the failed app leads the first page"
    );
    let last = overview(
        &apps,
        &Filter {
            page: 9,
            ..Filter::default()
        },
    );
    assert_eq!(
        (last.page, last.apps.len()),
        (3, 50),
        "a page past the end is the last"
    );
    assert_eq!(last.filter.query(), "page=3");
}
