//! Waves across apps (Argo CD's ApplicationSet `RollingSync`, for every app): a new revision
//! reaches the apps step by step. Each step selects apps by labels (an app generator's
//! `labels`) or name globs; a step starts only when every app of the steps before it is at the
//! new revision, healthy and past its gates; `maxUpdate` (a count or a percentage of the
//! step's apps) bounds how many of a step's apps take the revision at once; a failure halts
//! the later steps. Apps no step selects form a last step of their own.
//!
//! ```yaml
//! waves:
//!   steps:
//!     - matchLabels: {env: staging}
//!     - matchLabels: {env: production}
//!       maxUpdate: 25%
//!     - apps: ["*"]
//! ```

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// The `waves:` block.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WavesConfig {
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<StepConfig>,
}

/// One step.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepConfig {
    /// Labels the app must carry (its generator's `labels`).
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Globs on app names (with `matchLabels`: both must match).
    #[serde(default)]
    pub apps: Vec<String>,
    /// How many of the step's apps take a revision at once (default: all).
    #[serde(default)]
    pub max_update: Option<MaxUpdate>,
}

/// `maxUpdate`: a count or a percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxUpdate {
    /// This many apps.
    Count(u32),
    /// This share of the step's apps (rounded up, at least one).
    Percent(u8),
}

impl<'de> Deserialize<'de> for MaxUpdate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u32),
            Text(String),
        }
        let bad = || serde::de::Error::custom("expected a count (2) or a percentage (25%)");
        match Raw::deserialize(d)? {
            Raw::Count(0) => Err(bad()),
            Raw::Count(n) => Ok(Self::Count(n)),
            Raw::Text(t) => {
                let t = t.trim();
                if let Some(p) = t.strip_suffix('%') {
                    match p.trim().parse::<u8>() {
                        Ok(p) if (1..=100).contains(&p) => Ok(Self::Percent(p)),
                        _ => Err(bad()),
                    }
                } else {
                    match t.parse::<u32>() {
                        Ok(n) if n > 0 => Ok(Self::Count(n)),
                        _ => Err(bad()),
                    }
                }
            }
        }
    }
}

impl MaxUpdate {
    /// How many of `total` apps at once.
    #[must_use]
    pub fn limit(self, total: usize) -> usize {
        match self {
            Self::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Self::Percent(p) => (total * usize::from(p)).div_ceil(100).max(1),
        }
    }
}

/// Where an app stands with the revision being rolled out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// At the revision, healthy, past its gates.
    Done,
    /// The revision failed there (gates, rollback, sync), with why.
    Failed(String),
    /// Not at the revision yet (or still being judged).
    Pending,
}

/// One app as the planner sees it.
#[derive(Debug, Clone)]
pub struct AppView {
    /// The app.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its progress at the revision.
    pub progress: Progress,
}

/// What an app does this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Sync as usual.
    Go,
    /// Keep what runs; why.
    Wait(String),
}

/// The steps, parsed.
#[derive(Debug, Default)]
pub struct Waves {
    steps: Vec<(StepConfig, globset::GlobSet)>,
}

impl Waves {
    /// Parses the steps; an invalid glob names its step.
    pub fn new(config: &WavesConfig) -> Result<Self, String> {
        let mut steps = Vec::new();
        for (i, step) in config.steps.iter().enumerate() {
            let mut builder = globset::GlobSetBuilder::new();
            for g in &step.apps {
                builder
                    .add(globset::Glob::new(g).map_err(|e| format!("waves.steps[{i}].apps: {e}"))?);
            }
            let set = builder
                .build()
                .map_err(|e| format!("waves.steps[{i}].apps: {e}"))?;
            steps.push((step.clone(), set));
        }
        Ok(Self { steps })
    }

    /// Whether there are steps.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The step of an app (the number of steps for apps no step selects).
    #[must_use]
    pub fn step_of(&self, app: &AppView) -> usize {
        self.steps
            .iter()
            .position(|(step, globs)| {
                let labels = step
                    .match_labels
                    .iter()
                    .all(|(k, v)| app.labels.get(k) == Some(v));
                let names = step.apps.is_empty() || globs.is_match(&app.name);
                labels && names
            })
            .unwrap_or(self.steps.len())
    }

    /// Decides, for the revision being rolled out, which apps take it this round.
    #[must_use]
    pub fn plan(&self, apps: &[AppView]) -> BTreeMap<String, Decision> {
        let mut groups: Vec<Vec<&AppView>> = vec![Vec::new(); self.steps.len() + 1];
        for app in apps {
            groups[self.step_of(app)].push(app);
        }
        let mut out = BTreeMap::new();
        let mut halted: Option<String> = None;
        let mut before_done = true;
        for (k, group) in groups.iter_mut().enumerate() {
            group.sort_by(|a, b| a.name.cmp(&b.name));
            let limit = self
                .steps
                .get(k)
                .and_then(|(s, _)| s.max_update)
                .map_or(usize::MAX, |m| m.limit(group.len()));
            let mut started = 0;
            for app in group.iter() {
                let decision = match (&app.progress, &halted) {
                    (Progress::Done | Progress::Failed(_), _) => Decision::Go,
                    (Progress::Pending, Some(why)) => {
                        Decision::Wait(format!("wave step {}: halted: {why}", k + 1))
                    }
                    (Progress::Pending, None) if !before_done => Decision::Wait(format!(
                        "wave step {} waits for the apps of the steps before it",
                        k + 1
                    )),
                    (Progress::Pending, None) if started >= limit => Decision::Wait(format!(
                        "wave step {}: maxUpdate {limit}: waits its turn",
                        k + 1
                    )),
                    (Progress::Pending, None) => {
                        started += 1;
                        Decision::Go
                    }
                };
                out.insert(app.name.clone(), decision);
            }
            if halted.is_none()
                && let Some((app, why)) = group.iter().find_map(|a| match &a.progress {
                    Progress::Failed(why) => Some((a.name.clone(), why.clone())),
                    _ => None,
                })
            {
                halted = Some(format!("app {app} failed: {why}"));
            }
            before_done &= group.iter().all(|a| a.progress == Progress::Done);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waves(yaml: &str) -> Waves {
        let config: WavesConfig = serde_saphyr::from_str(yaml).expect("parses");
        Waves::new(&config).expect("valid")
    }

    fn app(name: &str, env: &str, progress: Progress) -> AppView {
        AppView {
            name: name.into(),
            labels: [("env".to_owned(), env.to_owned())].into(),
            progress,
        }
    }

    fn waiting(plan: &BTreeMap<String, Decision>) -> Vec<&str> {
        plan.iter()
            .filter(|(_, d)| matches!(d, Decision::Wait(_)))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    const STEPS: &str = "steps:
  - matchLabels: {env: staging}
  - matchLabels: {env: production}
    maxUpdate: 50%
";

    #[test]
    fn a_step_starts_when_the_steps_before_it_are_done_and_max_update_bounds_it() {
        let w = waves(STEPS);
        let mut apps = vec![
            app("stage", "staging", Progress::Pending),
            app("eu", "production", Progress::Pending),
            app("us", "production", Progress::Pending),
            app("tools", "other", Progress::Pending),
        ];
        assert_eq!(waiting(&w.plan(&apps)), ["eu", "tools", "us"]);
        apps[0].progress = Progress::Done;
        assert_eq!(
            waiting(&w.plan(&apps)),
            ["tools", "us"],
            "50% of two: one at once"
        );
        apps[1].progress = Progress::Done;
        assert_eq!(waiting(&w.plan(&apps)), ["tools"]);
        apps[2].progress = Progress::Done;
        assert!(waiting(&w.plan(&apps)).is_empty(), "the rest last");
    }

    #[test]
    fn a_failure_halts_the_later_steps() {
        let w = waves(STEPS);
        let apps = vec![
            app(
                "stage",
                "staging",
                Progress::Failed("gate error-ratio".into()),
            ),
            app("eu", "production", Progress::Pending),
        ];
        let plan = w.plan(&apps);
        assert_eq!(
            plan["stage"],
            Decision::Go,
            "the failed app is handled by its hold"
        );
        match &plan["eu"] {
            Decision::Wait(why) => assert!(why.contains("halted: app stage failed"), "{why}"),
            Decision::Go => panic!("a failure must halt the later steps"),
        }
    }

    #[test]
    fn max_update_reads_counts_and_percentages() {
        let parse = |t: &str| serde_saphyr::from_str::<StepConfig>(t).map(|s| s.max_update);
        assert_eq!(
            parse("maxUpdate: 2").ok().flatten(),
            Some(MaxUpdate::Count(2))
        );
        assert_eq!(
            parse("maxUpdate: '25%'").ok().flatten(),
            Some(MaxUpdate::Percent(25))
        );
        assert!(parse("maxUpdate: 0").is_err());
        assert!(parse("maxUpdate: '150%'").is_err());
        assert_eq!(MaxUpdate::Percent(25).limit(10), 3);
        assert_eq!(MaxUpdate::Percent(1).limit(3), 1);
        assert!(
            Waves::new(&serde_saphyr::from_str("steps: [{apps: ['[']}]").expect("parses")).is_err()
        );
    }
}
