use super::*;

fn controller() -> Controller {
    let config = crate::config::Config::parse("{}", "t.yaml", std::path::Path::new("/"))
        .expect("an empty config");
    Controller::new(config, None, Arc::default(), Box::new(|_| {}))
}

fn flux(name: &str) -> FluxImages {
    let mut found = FluxImages::default();
    found.config.repositories.push(RepositoryConfig {
        name: name.into(),
        namespace: Some("apps".into()),
        image: "ghcr.io/org/app".into(),
        interval: crate::config::Interval(Duration::from_secs(60)),
        exclusion_list: Vec::new(),
        max_tags: 10,
        insecure: false,
        provider: crate::images::config::Provider::Generic,
        credentials: crate::images::config::RegistryCredentialsSpec::default(),
    });
    found
}

#[test]
fn scan_intervals_get_up_to_ten_percent_jitter() {
    let base = Duration::from_secs(100);
    let all: Vec<Duration> = (0..200).map(|_| jittered(base)).collect();
    assert!(
        all.iter()
            .all(|d| *d >= base && *d <= Duration::from_secs(110)),
        "{all:?}"
    );
    assert!(all.iter().any(|d| *d != all[0]), "the jitter varies");
}

#[test]
fn flux_objects_of_apps_that_left_git_are_forgotten_per_source() {
    let c = controller();
    c.set_app_objects("one", "config", flux("a"));
    c.set_app_objects("two", "config", flux("b"));
    c.set_app_objects("three", "other", flux("c"));
    let names = |c: &Controller| {
        let mut n: Vec<String> = c
            .catalog()
            .0
            .repositories
            .iter()
            .map(|r| r.name.clone())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&c), ["a", "b", "c"]);
    c.retain_apps("config", &["one".into()]);
    assert_eq!(
        names(&c),
        ["a", "c"],
        "two left Git; the other source's apps stay"
    );
    c.set_app_objects("one", "config", FluxImages::default());
    assert_eq!(
        names(&c),
        ["c"],
        "an app that no longer declares any is forgotten"
    );
}
