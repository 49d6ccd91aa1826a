//! The bad-input corpus (`tests/fixtures/bad-inputs/`): every case is fed to the stage it
//! targets (render, secrets, policy and sync against the API server emulation, or webhook
//! verification), and must be refused by that stage, without a panic, with an error that names
//! the file or object and the field. One bad app beside good ones never blocks them.
//!
//! A case that the agent does not yet refuse as expected is listed in [`KNOWN_GAPS`] with the
//! reason; the test checks that each listed case still falls short, so that the list stays
//! honest and a fixed gap is removed from it.

#[path = "bad_inputs/cases.rs"]
mod cases;
#[path = "bad_inputs/pipeline.rs"]
mod pipeline;
#[path = "bad_inputs/webhook.rs"]
mod webhook;

use std::path::Path;

use cases::{Case, Stage};
use pipeline::{APP_NS, Agent, Outcome};

/// Cases the agent does not handle as expected yet: `(case, what happens instead)`. Empty: a
/// gap found later is listed here with its reason until it is fixed.
const KNOWN_GAPS: &[(&str, &str)] = &[];

/// Plaintext values of the corpus's secrets (the SOPS and sealed Secrets' password, the plain
/// Secret's value, the webhook secret): no error message may contain them.
const SECRET_VALUES: &[&str] = &[
    "corpus-test-password",
    "corpus-webhook-secret",
    "plain-in-git",
];

/// The corpus must stay at least this large.
const MIN_CASES: usize = 100;

/// Runs one case: its stage and message when it met its expectation, otherwise why not.
async fn check(agent: &Agent, case: &Case) -> Result<String, String> {
    let expect = &case.expect;
    let (stage, message) = if let Some(request) = &expect.webhook {
        webhook::run(&case.dir, request)
    } else {
        // Cases with generated inputs run from a copy of the case directory.
        let copy;
        let root: &Path = if expect.generate.is_empty() {
            &case.dir
        } else {
            copy = tempfile::tempdir().map_err(|e| format!("a temporary folder: {e}"))?;
            cases::copy_dir(&case.dir, copy.path()).map_err(|e| format!("copy the case: {e}"))?;
            for generate in &expect.generate {
                let path = copy.path().join(&generate.file);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::write(&path, cases::generated(generate.kind, generate.size))
                    .map_err(|e| format!("write {}: {e}", generate.file))?;
            }
            copy.path()
        };
        let app = format!("bad-{}", short_name(&case.name));
        match agent.run(&app, root, "app").await {
            Outcome::Failed(stage, message) => (stage, message),
            Outcome::Synced(result) => {
                return Err(format!(
                    "every stage accepted it (synced: {:?})",
                    result.changes
                ));
            }
        }
    };
    if stage != expect.stage {
        return Err(format!(
            "refused by the {stage:?} stage instead of {:?}: {message}",
            expect.stage
        ));
    }
    if let Some(leaked) = SECRET_VALUES.iter().find(|v| message.contains(**v)) {
        return Err(format!(
            "the error message contains the secret value {leaked:?}"
        ));
    }
    let missing: Vec<&String> = expect
        .mentions
        .iter()
        .filter(|word| !message.contains(word.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "refused by the {stage:?} stage, but the message does not name {missing:?}: {message}"
        ));
    }
    Ok(format!("{stage:?}: {message}"))
}

/// An app name (a DNS label) from a case name.
fn short_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_refused_by_its_stage_with_an_error_naming_file_and_field() {
    let agent = std::sync::Arc::new(Agent::start().await);
    let corpus = cases::load_all();
    assert!(
        corpus.len() >= MIN_CASES,
        "the corpus has {} cases, fewer than {MIN_CASES}",
        corpus.len()
    );
    for (gap, _) in KNOWN_GAPS {
        assert!(
            corpus.iter().any(|c| c.name == *gap),
            "KNOWN_GAPS names {gap}, which is not in the corpus"
        );
    }
    let mut failures = Vec::new();
    let mut fixed_gaps = Vec::new();
    let mut by_stage = std::collections::BTreeMap::<String, usize>::new();
    for case in corpus {
        *by_stage
            .entry(format!("{:?}", case.expect.stage))
            .or_default() += 1;
        let name = case.name.clone();
        let about = case.expect.about.clone();
        let shared = agent.clone();
        // Each case runs in its own task, so that a panic is caught and reported as a failure
        // of that case.
        let outcome = tokio::spawn(async move { check(&shared, &case).await }).await;
        let result = match outcome {
            Ok(result) => result,
            Err(err) if err.is_panic() => Err(format!("PANIC: {err}")),
            Err(err) => Err(format!("the case's task failed: {err}")),
        };
        let gap = KNOWN_GAPS.iter().find(|(g, _)| *g == name);
        match (result, gap) {
            // Shown with `--nocapture`, to read every message.
            (Ok(message), None) => eprintln!("{name}: {message}"),
            (Ok(_), Some(_)) => fixed_gaps.push(name),
            (Err(why), None) => failures.push(format!("{name} ({about}): {why}")),
            (Err(why), Some(_)) => eprintln!("known gap {name}: {why}"),
        }
    }
    eprintln!("cases by stage: {by_stage:?}");
    assert!(
        failures.is_empty(),
        "{} bad inputs were not refused as expected:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        fixed_gaps.is_empty(),
        "these cases now pass: remove them from KNOWN_GAPS: {fixed_gaps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_app_never_blocks_the_others() {
    let agent = Agent::start().await;
    let root = cases::corpus_root().join("_apps");
    let good = ["good-web", "good-api"];
    let (web, bad, api) = tokio::join!(
        agent.run(good[0], &root, good[0]),
        agent.run("broken", &root, "broken"),
        agent.run(good[1], &root, good[1]),
    );
    for (name, outcome) in [(good[0], web), (good[1], api)] {
        match outcome {
            Outcome::Synced(result) => assert!(result.is_success(), "{name}: {:?}", result.error),
            Outcome::Failed(stage, message) => panic!("{name} failed at {stage:?}: {message}"),
        }
    }
    match bad {
        Outcome::Failed(Stage::Render, message) => assert!(
            message.contains("broken/deployment.yaml"),
            "the bad app's error names its file: {message}"
        ),
        other => panic!("the bad app was not refused by render: {other:?}"),
    }
    // The good apps' objects are in the cluster, their Secrets decrypted; the bad app left
    // nothing behind.
    for (kind, name) in [
        ("ConfigMap", "web-config"),
        ("Deployment", "web"),
        ("Secret", "web-db"),
        ("ConfigMap", "api-config"),
        ("Deployment", "api"),
        ("Secret", "api-token"),
    ] {
        assert!(
            agent.server.object(kind, APP_NS, name).is_some(),
            "{kind} {APP_NS}/{name} was applied"
        );
    }
    assert!(
        agent
            .server
            .object("ConfigMap", pipeline::AGENT_NS, "tether-inventory-broken")
            .is_none(),
        "the bad app has no inventory"
    );
    assert!(
        agent
            .server
            .object("ConfigMap", APP_NS, "broken-config")
            .is_none()
    );
}
