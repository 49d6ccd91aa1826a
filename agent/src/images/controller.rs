//! The daemon's image automation loop: scans each repository on its interval (with up to
//! 10% jitter), lets each policy choose, and runs each automation on its interval or as soon
//! as a choice changed. The repositories, policies and automations are those of `images:`
//! plus the Flux objects the apps' manifests bring ([`Controller::set_app_objects`]).
//!
//! A pushed commit asks for a sync of its source at once ([`Controller::new`]'s `on_push`).
//! The agent's own commits cannot cause another: the next run finds every value already
//! set and commits nothing.

use super::config::{
    AutomationConfig, DigestReflection, ImagesConfig, PolicyConfig, RepositoryConfig,
};
use super::flux::FluxImages;
use super::status::{
    AutomationStatus, ImagesReport, ImagesState, PolicyStatus, Problem, RepositoryStatus,
};
use super::update::Chosen;
use crate::config::Config;
use crate::daemon::time::format_rfc3339;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

mod promotions;

/// The default interval of an automation.
pub const DEFAULT_AUTOMATION_INTERVAL: Duration = Duration::from_secs(60);
/// How many tags the status shows per repository.
const STATUS_TAGS: usize = 10;

/// A callback told the source an automation pushed to.
pub type OnPush = Box<dyn Fn(&str) + Send + Sync>;

/// The image automation of one daemon generation.
pub struct Controller {
    config: Config,
    client: Option<kube::Client>,
    state: Arc<ImagesState>,
    /// Per app: its source and the Flux objects of its latest render.
    apps: Mutex<BTreeMap<String, (String, FluxImages)>>,
    on_push: OnPush,
    wake: tokio::sync::Notify,
    observers: super::events::Observers,
    apps_view: Option<super::promote::auto::AppsView>,
}

#[derive(Default)]
struct RepoRun {
    next: Option<Instant>,
    tags: Vec<String>,
    status: RepositoryStatus,
    /// Digest look-ups wanted after this scan.
    scanned: bool,
}

#[derive(Default)]
struct Memory {
    repos: BTreeMap<String, RepoRun>,
    chosen: BTreeMap<String, Chosen>,
    policies: BTreeMap<String, PolicyStatus>,
    automations: BTreeMap<String, (Option<Instant>, AutomationStatus)>,
    promotions: BTreeMap<String, super::promote::auto::Gate>,
}

fn key(namespace: Option<&str>, default: &str, name: &str) -> String {
    format!("{}:{name}", namespace.unwrap_or(default))
}

fn problem(reason: &str, message: impl ToString) -> Option<Problem> {
    Some(Problem {
        reason: reason.to_owned(),
        message: message.to_string(),
    })
}

fn jittered(interval: Duration) -> Duration {
    use rand::Rng as _;
    interval + interval.mul_f64(rand::thread_rng().gen_range(0.0..=0.1))
}

impl Controller {
    /// A controller for `config`; `on_push` is told the source of each pushed commit.
    #[must_use]
    pub fn new(
        config: Config,
        client: Option<kube::Client>,
        state: Arc<ImagesState>,
        on_push: OnPush,
    ) -> Self {
        Self {
            config,
            client,
            state,
            apps: Mutex::new(BTreeMap::new()),
            on_push,
            wake: tokio::sync::Notify::new(),
            observers: super::events::Observers::default(),
            apps_view: None,
        }
    }

    /// Lets promotions see the apps' revisions and health.
    #[must_use]
    pub fn with_apps(mut self, view: super::promote::auto::AppsView) -> Self {
        self.apps_view = Some(view);
        self
    }

    /// Reports scans and commits to `observers` (the daemon's metrics and Events).
    #[must_use]
    pub fn observed(mut self, observers: super::events::Observers) -> Self {
        self.observers = observers;
        self
    }

    /// Whether there is anything to do (config entries; Flux objects come later).
    #[must_use]
    pub fn configured(&self) -> bool {
        let i = &self.config.images;
        !(i.repositories.is_empty()
            && i.policies.is_empty()
            && i.automations.is_empty()
            && i.promotions.is_empty())
    }

    /// Forgets the Flux objects of the apps of `source` that are not in `apps` (they left
    /// Git).
    pub fn retain_apps(&self, source: &str, apps: &[String]) {
        let mut known = self
            .apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = known.len();
        known.retain(|app, (from, _)| from != source || apps.contains(app));
        if known.len() != before {
            self.wake.notify_one();
        }
    }

    /// Records the Flux image objects of the latest render of `app` (of `source`).
    pub fn set_app_objects(&self, app: &str, source: &str, found: FluxImages) {
        let mut apps = self
            .apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = apps.get(app).map(|f| format!("{:?}", f.1.config))
            != Some(format!("{:?}", found.config));
        if found.config.repositories.is_empty()
            && found.config.policies.is_empty()
            && found.config.automations.is_empty()
            && found.problems.is_empty()
        {
            apps.remove(app);
        } else {
            apps.insert(app.to_owned(), (source.to_owned(), found));
        }
        if changed {
            self.wake.notify_one();
        }
    }

    /// The configured entries and the apps' Flux objects, with namespaces filled in.
    fn catalog(&self) -> (ImagesConfig, Vec<String>) {
        let mut all = self.config.images.clone();
        let mut problems = Vec::new();
        let apps = self
            .apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (_, found) in apps.values() {
            all.repositories
                .extend(found.config.repositories.iter().cloned());
            all.policies.extend(found.config.policies.iter().cloned());
            all.automations
                .extend(found.config.automations.iter().cloned());
            problems.extend(found.problems.iter().cloned());
        }
        let ns = &self.config.namespace;
        for r in &mut all.repositories {
            r.namespace.get_or_insert_with(|| ns.clone());
        }
        for p in &mut all.policies {
            p.namespace.get_or_insert_with(|| ns.clone());
        }
        (all, problems)
    }

    /// Runs until `stop` completes.
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut memory = Memory::default();
        loop {
            let next = self.round(&mut memory, true).await;
            let wait = next.map_or(Duration::from_secs(60), |n| {
                n.saturating_duration_since(Instant::now())
            });
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    /// Scans every repository once and lets every policy choose; with `automate`, runs
    /// every automation too. Returns the report (`tether-agent images`).
    pub async fn once(&self, automate: bool) -> ImagesReport {
        let mut memory = Memory::default();
        self.round(&mut memory, automate).await;
        self.state.report()
    }

    /// One pass: what is due is done; returns when something is next due.
    async fn round(&self, memory: &mut Memory, automate: bool) -> Option<Instant> {
        let (catalog, problems) = self.catalog();
        let now = Instant::now();
        memory.repos.retain(|k, _| {
            catalog
                .repositories
                .iter()
                .any(|r| key(r.namespace.as_deref(), "", &r.name) == *k)
        });
        for repo in &catalog.repositories {
            let k = key(repo.namespace.as_deref(), "", &repo.name);
            let run = memory.repos.entry(k.clone()).or_default();
            run.scanned = false;
            if run.next.is_some_and(|n| n > now) {
                continue;
            }
            self.scan(&k, repo, run).await;
        }
        let mut changed = false;
        let mut policies = BTreeMap::new();
        for policy in &catalog.policies {
            let (k, status) = self.choose(policy, memory).await;
            let before = memory.chosen.get(&k).cloned();
            match (&status.tag, &status.latest_image) {
                (Some(tag), Some(_)) => {
                    let chosen = Chosen {
                        image: catalog
                            .repositories
                            .iter()
                            .find(|r| {
                                r.name == policy.repository && r.namespace == policy.namespace
                            })
                            .map(|r| r.image.clone())
                            .unwrap_or_default(),
                        tag: tag.clone(),
                        digest: status.digest.clone(),
                    };
                    changed |= before.as_ref() != Some(&chosen);
                    memory.chosen.insert(k.clone(), chosen);
                }
                _ => {
                    memory.chosen.remove(&k);
                }
            }
            policies.insert(k, status);
        }
        memory.chosen.retain(|k, _| policies.contains_key(k));
        memory.policies = policies;
        for automation in catalog.automations.iter().filter(|_| automate) {
            let entry = memory
                .automations
                .entry(automation.name.clone())
                .or_insert_with(|| (None, AutomationStatus::default()));
            let due = entry.0.is_none_or(|n| n <= Instant::now()) || changed;
            if !due {
                continue;
            }
            let status = self
                .automate(automation, &memory.chosen, entry.1.clone())
                .await;
            let interval = automation
                .interval
                .map_or(DEFAULT_AUTOMATION_INTERVAL, |i| i.0);
            let entry = memory
                .automations
                .entry(automation.name.clone())
                .or_default();
            *entry = (Some(Instant::now() + jittered(interval)), status);
        }
        memory
            .automations
            .retain(|k, _| catalog.automations.iter().any(|a| a.name == *k));
        if automate {
            self.promote(memory).await;
        }
        self.publish(memory, problems);
        memory
            .repos
            .values()
            .filter_map(|r| r.next)
            .chain(memory.automations.values().filter_map(|a| a.0))
            .chain(
                memory
                    .promotions
                    .values()
                    .filter_map(super::promote::auto::Gate::next),
            )
            .min()
    }

    async fn scan(&self, k: &str, repo: &RepositoryConfig, run: &mut RepoRun) {
        let namespace = repo.namespace.as_deref().unwrap_or(&self.config.namespace);
        run.next = Some(Instant::now() + jittered(repo.interval.0));
        run.status.name = k.to_owned();
        run.status.image = repo.image.clone();
        match super::scan::scan(repo, namespace, self.client.as_ref()).await {
            Ok(scanned) => {
                tracing::debug!(repository = %k, tags = scanned.tags.len(), "image repository scanned");
                run.status.tag_count = scanned.tags.len();
                run.status.latest_tags = scanned
                    .tags
                    .iter()
                    .rev()
                    .take(STATUS_TAGS)
                    .cloned()
                    .collect();
                run.status.last_scan = Some(format_rfc3339(SystemTime::now()));
                run.status.error = None;
                run.tags = scanned.tags;
                run.scanned = true;
                self.observers
                    .scanned((namespace, &repo.name), Ok(run.tags.len()), false)
                    .await;
            }
            Err(err) => {
                tracing::warn!(repository = %k, reason = err.reason(), error = %err, "image repository scan failed");
                let message = err.to_string();
                let news = run
                    .status
                    .error
                    .as_ref()
                    .is_none_or(|p| p.message != message);
                run.status.error = problem(err.reason(), &message);
                self.observers
                    .scanned((namespace, &repo.name), Err(&message), news)
                    .await;
            }
        }
    }

    async fn choose(&self, policy: &PolicyConfig, memory: &Memory) -> (String, PolicyStatus) {
        let ns = policy
            .namespace
            .as_deref()
            .unwrap_or(&self.config.namespace);
        let k = key(Some(ns), ns, &policy.name);
        let repo_key = key(Some(ns), ns, &policy.repository);
        let mut status = PolicyStatus {
            name: k.clone(),
            repository: repo_key.clone(),
            ..PolicyStatus::default()
        };
        let Some(run) = memory.repos.get(&repo_key) else {
            status.error = problem(
                "RepositoryMissing",
                format!("no image repository {repo_key}"),
            );
            return (k, status);
        };
        let compiled = match super::policy::Policy::new(&policy.policy, policy.filter_tags.as_ref())
        {
            Ok(p) => p,
            Err(err) => {
                status.error = problem("PolicyInvalid", err);
                return (k, status);
            }
        };
        let tag = match compiled.choose(run.tags.iter().map(String::as_str)) {
            Ok(Some(tag)) => tag,
            Ok(None) => {
                status.error = problem(
                    "NoTagMatches",
                    format!("no tag of {repo_key} matches the policy"),
                );
                return (k, status);
            }
            Err(err) => {
                status.error = problem("PolicyFailed", err);
                return (k, status);
            }
        };
        let previous = memory.chosen.get(&k);
        let digest = match policy.digest_reflection_policy {
            DigestReflection::Never => None,
            DigestReflection::IfNotPresent
                if previous.is_some_and(|p| p.tag == tag && p.digest.is_some()) =>
            {
                previous.and_then(|p| p.digest.clone())
            }
            DigestReflection::Always if !run.scanned && previous.is_some_and(|p| p.tag == tag) => {
                previous.and_then(|p| p.digest.clone())
            }
            _ => match self.digest(&repo_key, &tag).await {
                Ok(d) => Some(d),
                Err(err) => {
                    status.error = problem(err.reason(), &err);
                    return (k, status);
                }
            },
        };
        let image = &run.status.image;
        status.latest_image = Some(match &digest {
            Some(d) => format!("{image}:{tag}@{d}"),
            None => format!("{image}:{tag}"),
        });
        status.tag = Some(tag);
        status.digest = digest;
        (k, status)
    }

    async fn digest(
        &self,
        repo_key: &str,
        tag: &str,
    ) -> Result<String, super::registry::RegistryError> {
        let (catalog, _) = self.catalog();
        let repo = catalog
            .repositories
            .iter()
            .find(|r| key(r.namespace.as_deref(), "", &r.name) == repo_key)
            .ok_or_else(|| super::registry::RegistryError::CredentialsInvalid {
                origin: repo_key.to_owned(),
                problem: "the repository is gone".into(),
            })?;
        let namespace = repo.namespace.as_deref().unwrap_or(&self.config.namespace);
        let name = super::registry::ImageName::parse(&repo.image)?;
        let credentials =
            super::scan::credentials(repo, namespace, &name, self.client.as_ref()).await?;
        let mut registry = super::registry::Registry::new(name, repo.insecure, credentials)?;
        registry.digest(tag).await
    }

    /// Runs one automation and reports a pushed commit, or a failure that differs from the
    /// last one, as an Event and in the metrics.
    async fn automate(
        &self,
        automation: &AutomationConfig,
        chosen: &BTreeMap<String, Chosen>,
        status: AutomationStatus,
    ) -> AutomationStatus {
        let previous = status.error.as_ref().map(|p| p.message.clone());
        let last_commit = status.last_commit.clone();
        let status = self.automate_once(automation, chosen, status).await;
        let (namespace, name) = automation
            .flux_object
            .clone()
            .unwrap_or_else(|| (self.config.namespace.clone(), automation.name.clone()));
        let subject = (namespace.as_str(), name.as_str());
        if let Some(error) = &status.error {
            let news = previous.as_deref() != Some(error.message.as_str());
            self.observers
                .automated(subject, Err(&error.message), news)
                .await;
        } else if status.last_commit != last_commit
            && let Some(commit) = &status.last_commit
        {
            let note =
                super::automation::pushed_note(commit, &status.push_branch, &status.last_changes);
            self.observers.automated(subject, Ok(&note), true).await;
        }
        status
    }

    async fn automate_once(
        &self,
        automation: &AutomationConfig,
        chosen: &BTreeMap<String, Chosen>,
        mut status: AutomationStatus,
    ) -> AutomationStatus {
        status.name = automation.name.clone();
        status.source = automation.source.clone();

        status.last_run = Some(format_rfc3339(SystemTime::now()));
        let mut target = match super::automation::write_target(&self.config, automation) {
            Ok(t) => t,
            Err(err) => {
                status.error = problem("AutomationInvalid", &err);
                return status;
            }
        };
        if let Some(spec) = &automation.gpg_signing_key {
            match super::signing::load(spec, &self.config.namespace, self.client.as_ref()).await {
                Ok(key) => target.signer = Some(super::push::Signer::Gpg(key)),
                Err(err) => {
                    status.error = problem("SigningKeyUnreadable", &err);
                    return status;
                }
            }
        }
        status.push_branch = target.push_branch.clone();
        if chosen.is_empty() {
            status.error = None;
            return status;
        }
        let ns = self.config.namespace.clone();
        let kustomize: Vec<(String, String)> = automation
            .kustomize_images
            .iter()
            .map(|k| {
                let policy = if k.policy.contains(':') {
                    k.policy.clone()
                } else {
                    format!("{ns}:{}", k.policy)
                };
                (k.name.clone(), policy)
            })
            .collect();
        let chosen = chosen.clone();
        let paths = automation.paths.clone();
        let name = automation.name.clone();
        let template = automation.message_template.clone();
        let flux_object = automation.flux_object.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut edit =
                |files: &super::push::Files| super::automation::edit(files, &chosen, &kustomize);
            let object = flux_object.unwrap_or((ns, name));
            let message = |changes: &[super::update::Change], files: &super::push::Files| {
                super::automation::message(
                    template.as_deref(),
                    (&object.0, &object.1),
                    changes,
                    files,
                )
            };
            target.update(&paths, &mut edit, &message)
        })
        .await;
        status.error = None;
        match result {
            Ok(Ok(Some(pushed))) => {
                tracing::info!(automation = %automation.name, commit = %pushed.commit, changes = pushed.changes.len(), "image updates committed");
                status.last_commit = Some(pushed.commit);
                status.last_push = Some(format_rfc3339(SystemTime::now()));
                status.last_changes = pushed.changes;
                (self.on_push)(&automation.source);
            }
            Ok(Ok(None)) => {}
            Ok(Err(err)) => {
                tracing::warn!(automation = %automation.name, reason = err.reason(), error = %err, "image automation failed");
                status.error = problem(err.reason(), &err);
            }
            Err(err) => status.error = problem("TaskFailed", err),
        }
        status
    }

    fn publish(&self, memory: &Memory, problems: Vec<String>) {
        self.state.set(ImagesReport {
            promotions: memory
                .promotions
                .values()
                .map(|g| g.status.clone())
                .collect(),
            repositories: memory.repos.values().map(|r| r.status.clone()).collect(),
            policies: memory.policies.values().cloned().collect(),
            automations: memory.automations.values().map(|a| a.1.clone()).collect(),
            problems,
        });
    }
}

#[cfg(test)]
mod tests;
