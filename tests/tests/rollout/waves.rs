//! Waves over three apps in two steps: `stage` (labels env: staging) first, then `eu` and
//! `us` (env: production) one at a time; each app gated on its error ratio in the real
//! Prometheus. A revision that fails its gates in staging halts production.

use std::time::Duration;

use crate::agent::{Setup, app_status, live, settings};
use crate::support::wait_for;
use tether_tests::prometheus::Prometheus;

const STEP: Duration = Duration::from_secs(120);
const APPS: [&str; 3] = ["stage", "eu", "us"];

fn apps_block(prometheus: &str) -> String {
    let rollout = format!(
        "    rollout:
      health: {{timeout: 20s}}
      metrics:
        - name: error-ratio
          successCondition: result[0] < 0.05
          provider:
            prometheus:
              address: \"{prometheus}\"
              query: 'tether_test_error_ratio{{app=\"{{{{app}}}}\"}}'
"
    );
    format!(
        "apps:
  - directories: [{{path: apps/stage}}]
    namespace: \"{{{{path.basename}}}}\"
    createNamespace: true
    labels: {{env: staging}}
{rollout}  - directories: [{{path: apps/eu}}, {{path: apps/us}}]
    namespace: \"{{{{path.basename}}}}\"
    createNamespace: true
    labels: {{env: production}}
{rollout}"
    )
}

const WAVES: &str = "waves:
  steps:
    - matchLabels: {env: staging}
    - matchLabels: {env: production}
      maxUpdate: 1
";

fn commit(setup: &Setup, version: &str) -> String {
    for app in APPS {
        setup
            .upstream
            .write(&format!("apps/{app}/settings.yaml"), settings(version))
            .expect("write");
    }
    setup.upstream.commit(version).expect("commit")
}

fn version(setup: &Setup, app: &str) -> serde_json::Value {
    live(&setup.cluster, "configmap", "settings", app)["data"]["version"].clone()
}

pub fn run(prometheus: &Prometheus) {
    for app in APPS {
        prometheus.set_error_ratio(app, 0.0);
        prometheus.wait_scraped(app, 0.0);
    }
    let setup = Setup::new();
    let first = commit(&setup, "1");
    let agent = setup.start_agent_raw("agent-waves", |ports| {
        setup.config_raw(ports, &apps_block(&prometheus.address), WAVES)
    });
    // The order in which the apps pass their gates at the first revision.
    let mut order: Vec<&str> = Vec::new();
    wait_for("every app through its wave", STEP, || {
        for app in APPS {
            let passed = app_status(&agent, app).is_some_and(|s| {
                s["rollout"]["revision"] == first.as_str() && s["rollout"]["phase"] == "Passed"
            });
            if passed && !order.contains(&app) {
                order.push(app);
            }
        }
        (order.len() == APPS.len()).then_some(())
    });
    assert_eq!(
        order,
        ["stage", "eu", "us"],
        "staging first, then one production app at a time"
    );

    // A revision that fails in staging: rolled back there, production never takes it.
    prometheus.set_error_ratio("stage", 0.5);
    prometheus.wait_scraped("stage", 0.5);
    let second = commit(&setup, "2");
    wait_for("the staging rollback", STEP, || {
        let s = app_status(&agent, "stage")?;
        (s["rollout"]["hold"]["failedRevision"] == second.as_str() && s["sync"] == "RolledBack")
            .then_some(())
    });
    for app in ["eu", "us"] {
        let s = wait_for(&format!("{app} halted"), STEP, || {
            let s = app_status(&agent, app)?;
            let why = s["errors"][0].as_str().unwrap_or_default().to_owned();
            (s["sync"] == "Waiting" && why.contains("halted: app stage failed")).then_some(s)
        });
        assert_eq!(s["revision"], first.as_str(), "{s}");
        assert_eq!(version(&setup, app), "1", "{app} keeps the first revision");
    }
    assert_eq!(
        version(&setup, "stage"),
        "1",
        "staging is back at the first revision"
    );
}
