use super::*;

fn semver(range: &str) -> Policy {
    Policy::new(
        &PolicyChoice::Semver(SemverPolicy {
            range: range.into(),
        }),
        None,
    )
    .unwrap()
}

const TAGS: &[&str] = &[
    "1.0.0",
    "v1.2.3",
    "1.2.10",
    "1.3.0-rc.1",
    "2.0.0",
    "2.1.0-beta.2",
    "latest",
    "1.4",
    "main-abc",
];

#[test]
fn semver_ranges_choose_the_highest_release_in_range() {
    let choose = |r: &str| semver(r).choose(TAGS.iter().copied()).unwrap();
    assert_eq!(choose(">=1.0.0 <2.0.0").as_deref(), Some("1.4"));
    assert_eq!(choose(">=1.0.0, <1.4.0").as_deref(), Some("1.2.10"));
    assert_eq!(choose("1.2.x").as_deref(), Some("1.2.10"));
    assert_eq!(choose("~1.2.0").as_deref(), Some("1.2.10"));
    assert_eq!(choose("^1.0").as_deref(), Some("1.4"));
    assert_eq!(choose(">=3.0.0").as_deref(), None);
    assert_eq!(choose("1.0.0 - 1.2").as_deref(), Some("1.2.10"));
    assert_eq!(choose("<1.1.0 || >=2.0.0").as_deref(), Some("2.0.0"));
    assert_eq!(choose("*").as_deref(), Some("2.0.0"));
}

#[test]
fn pre_releases_are_chosen_only_when_the_range_names_one() {
    let choose = |r: &str| semver(r).choose(TAGS.iter().copied()).unwrap();
    assert_eq!(choose(">=1.3.0 <2.0.0").as_deref(), Some("1.4"));
    assert_eq!(choose(">=1.3.0-0 <1.4.0").as_deref(), Some("1.3.0-rc.1"));
    assert_eq!(choose(">=2.0.0-0").as_deref(), Some("2.1.0-beta.2"));
}

#[test]
fn invalid_ranges_name_the_range() {
    for bad in ["", ">=banana", "1.2.3.4", "1 - ", "||"] {
        let err = Policy::new(
            &PolicyChoice::Semver(SemverPolicy { range: bad.into() }),
            None,
        )
        .err()
        .unwrap_or_else(|| panic!("{bad:?} was accepted"));
        assert!(err.to_string().contains("policy.semver.range"), "{err}");
    }
}

#[test]
fn alphabetical_and_numerical_orders_follow_flux() {
    let alpha =
        |order| Policy::new(&PolicyChoice::Alphabetical(OrderPolicy { order }), None).unwrap();
    let tags = [
        "RELEASE.2023-01-02",
        "RELEASE.2024-05-01",
        "RELEASE.2022-12-31",
    ];
    assert_eq!(
        alpha(Order::Asc).choose(tags).unwrap().as_deref(),
        Some("RELEASE.2024-05-01")
    );
    assert_eq!(
        alpha(Order::Desc).choose(tags).unwrap().as_deref(),
        Some("RELEASE.2022-12-31")
    );
    let num = |order| Policy::new(&PolicyChoice::Numerical(OrderPolicy { order }), None).unwrap();
    let tags = ["9", "10", "100", "2.5"];
    assert_eq!(
        num(Order::Asc).choose(tags).unwrap().as_deref(),
        Some("100")
    );
    assert_eq!(
        num(Order::Desc).choose(tags).unwrap().as_deref(),
        Some("2.5")
    );
    let err = num(Order::Asc)
        .choose(["1", "latest"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("latest") && err.contains("filterTags"),
        "{err}"
    );
}

#[test]
fn filter_tags_extract_compares_the_named_group_and_returns_the_tag() {
    let filter = FilterTags {
        pattern: "^main-[a-f0-9]+-(?P<ts>[0-9]+)".into(),
        extract: Some("$ts".into()),
    };
    let policy = Policy::new(
        &PolicyChoice::Numerical(OrderPolicy::default()),
        Some(&filter),
    )
    .unwrap();
    let tags = [
        "main-abc123-1700000009",
        "main-def456-1700000100",
        "latest",
        "feature-x-1800000000",
    ];
    assert_eq!(
        policy.choose(tags).unwrap().as_deref(),
        Some("main-def456-1700000100")
    );
    let bad = FilterTags {
        pattern: "([".into(),
        extract: None,
    };
    let err =
        Policy::new(&PolicyChoice::Numerical(OrderPolicy::default()), Some(&bad)).unwrap_err();
    assert!(err.to_string().starts_with("filterTags.pattern"), "{err}");
}

#[test]
fn versions_are_read_like_flux_reads_tags() {
    let parts = |tag: &str| parse_version(tag).map(|v| (v.major(), v.minor(), v.patch()));
    assert_eq!(parts("v1.2.3"), Some((1, 2, 3)));
    assert_eq!(parts("1.4"), Some((1, 4, 0)));
    assert_eq!(parts("2"), Some((2, 0, 0)));
    assert!(parse_version("latest").is_none() && parse_version("sha-abc").is_none());
}
