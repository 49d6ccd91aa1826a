//! Tests of the status table and the status ConfigMaps.

use super::*;

#[test]
fn the_table_aligns_like_kubectl() {
    let rows = vec![Row {
        app: "shop".into(),
        revision: "3f2a9c1".into(),
        sync: "Succeeded".into(),
        health: "Healthy".into(),
        drift: "0".into(),
        age: "5s".into(),
        windows: String::new(),
        owner: String::new(),
    }];
    let mut out = Vec::new();
    write_table(&rows, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "APP    REVISION   SYNC        HEALTH    DRIFT   AGE\nshop   3f2a9c1    Succeeded   Healthy   0       5s\n"
    );
}

#[test]
fn sharded_apps_show_the_replica_that_syncs_them() {
    let row = |app: &str, owner: &str| Row {
        app: app.into(),
        revision: "3f2a9c1".into(),
        sync: "Succeeded".into(),
        health: "Healthy".into(),
        drift: "0".into(),
        age: "5s".into(),
        windows: String::new(),
        owner: owner.into(),
    };
    let mut out = Vec::new();
    write_table(&[row("shop", "tether-1"), row("web", "tether-0")], &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "APP    REVISION   SYNC        HEALTH    DRIFT   AGE   OWNER\n\
         shop   3f2a9c1    Succeeded   Healthy   0       5s    tether-1\n\
         web    3f2a9c1    Succeeded   Healthy   0       5s    tether-0\n"
    );
}

#[test]
fn the_windows_in_force_are_listed_under_the_table() {
    let row = |app: &str, windows: &str| Row {
        app: app.into(),
        revision: "3f2a9c1".into(),
        sync: "Waiting (SyncWindow)".into(),
        health: "Healthy".into(),
        drift: "0".into(),
        age: "5s".into(),
        windows: windows.into(),
        owner: String::new(),
    };
    let rows = vec![
        row("shop", "deny 0 22 * * 5 until 2026-12-14T09:00:00Z"),
        row("web", ""),
    ];
    let mut out = Vec::new();
    write_table(&rows, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.ends_with(
            "\nSync windows in force:\n  shop: deny 0 22 * * 5 until 2026-12-14T09:00:00Z\n"
        ),
        "{text}"
    );
    assert!(!text.contains("  web:"), "{text}");
}
