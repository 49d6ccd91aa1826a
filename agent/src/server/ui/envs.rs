//! The environments page's model: apps that share a base (`BASE/overlays/ENV`), one row
//! each, an environment per column with its revision and container images, marked where it
//! differs from the environment before it (what a promotion would change).

use crate::daemon::state::AppStatus;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Every container image in `objects` (`containers`, `initContainers`,
/// `ephemeralContainers` at any depth: Deployments, CronJobs, Pods, custom resources),
/// without repeats, in order.
pub fn images<'a>(objects: impl Iterator<Item = &'a Value>) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>, depth: usize) {
        if depth > 32 {
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    if matches!(
                        key.as_str(),
                        "containers" | "initContainers" | "ephemeralContainers"
                    ) && let Some(list) = v.as_array()
                    {
                        for c in list {
                            if let Some(image) = c.get("image").and_then(Value::as_str)
                                && !out.iter().any(|i| i == image)
                            {
                                out.push(image.to_owned());
                            }
                        }
                    }
                    walk(v, out, depth + 1);
                }
            }
            Value::Array(list) => list.iter().for_each(|v| walk(v, out, depth + 1)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for object in objects {
        walk(object, &mut out, 0);
    }
    out
}

/// An image split into its repository and its tag or digest (`latest` when neither).
#[must_use]
pub fn split_image(image: &str) -> (&str, &str) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo, digest);
    }
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(colon) => (&image[..slash + colon], &image[slash + colon + 1..]),
        None => (image, "latest"),
    }
}

/// The environments page: apps sharing a base, one row each, an environment per column.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Environments {
    /// The columns, in promotion order (dev, test, staging, production, then by name).
    pub environments: Vec<String>,
    /// The page shown (from 1), [`ENV_PAGE_SIZE`] rows each.
    pub page: usize,
    /// How many pages there are.
    pub pages: usize,
    /// One row per base, on this page.
    pub rows: Vec<EnvRow>,
}

/// Rows per page of the environments page.
pub const ENV_PAGE_SIZE: usize = 50;

/// One base (`apps/shop`) and its app in each environment.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvRow {
    /// The base directory.
    pub base: String,
    /// Per column of [`Environments::environments`], the app there (if any).
    pub cells: Vec<Option<EnvCell>>,
}

/// One app in one environment.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvCell {
    /// The app.
    pub app: String,
    /// The revision, short.
    pub revision_short: String,
    /// Whether the revision differs from the previous environment's.
    pub revision_differs: bool,
    /// The sync state.
    pub sync: String,
    /// The health.
    pub health: String,
    /// Every container image with its tag.
    pub images: Vec<ImageCell>,
}

/// One container image in an environment.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImageCell {
    /// The repository.
    pub repository: String,
    /// The tag or digest.
    pub tag: String,
    /// Whether the previous environment runs another tag of it (what a promotion changes).
    pub differs: bool,
}

/// The environment of an app directory and its base: `apps/shop/overlays/staging` is
/// `staging` of `apps/shop`; `envs/` and `environments/` work the same way.
#[must_use]
pub fn environment_of(path: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let [base @ .., parent, env] = parts.as_slice() else {
        return None;
    };
    if !matches!(*parent, "overlays" | "envs" | "environments") || env.is_empty() {
        return None;
    }
    Some((base.join("/"), (*env).to_owned()))
}

fn env_rank(env: &str) -> (u8, String) {
    const ORDER: [&str; 10] = [
        "dev",
        "development",
        "test",
        "qa",
        "staging",
        "stage",
        "preprod",
        "canary",
        "prod",
        "production",
    ];
    let rank = ORDER.iter().position(|e| *e == env).unwrap_or(ORDER.len());
    (u8::try_from(rank).unwrap_or(u8::MAX), env.to_owned())
}

/// Builds page `page` (from 1) of the environments of `apps`.
#[must_use]
pub fn environments(apps: &[AppStatus], page: usize) -> Environments {
    environments_of(&mut apps.iter(), page)
}

/// Builds page `page` (from 1) of the environments of `apps`, reading them where they are.
#[must_use]
pub fn environments_of(apps: &mut dyn Iterator<Item = &AppStatus>, page: usize) -> Environments {
    let mut bases: BTreeMap<String, BTreeMap<String, &AppStatus>> = BTreeMap::new();
    let mut envs = BTreeSet::new();
    for app in apps {
        if let Some((base, env)) = environment_of(&app.path) {
            let key = format!("{}:{base}", app.source);
            bases.entry(key).or_default().insert(env.clone(), app);
            envs.insert(env);
        }
    }
    let mut environments: Vec<String> = envs.into_iter().collect();
    environments.sort_by_key(|e| env_rank(e));
    let pages = bases.len().div_ceil(ENV_PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let rows = bases
        .into_iter()
        .skip((page - 1) * ENV_PAGE_SIZE)
        .take(ENV_PAGE_SIZE)
        .map(|(key, by_env)| {
            let base = key
                .split_once(':')
                .map_or(key.as_str(), |(_, b)| b)
                .to_owned();
            let mut previous: Option<&AppStatus> = None;
            let cells = environments
                .iter()
                .map(|env| {
                    let app = by_env.get(env)?;
                    let cell = env_cell(app, previous);
                    previous = Some(app);
                    Some(cell)
                })
                .collect();
            EnvRow { base, cells }
        })
        .collect();
    Environments {
        environments,
        page,
        pages,
        rows,
    }
}

fn env_cell(app: &AppStatus, previous: Option<&AppStatus>) -> EnvCell {
    let before: BTreeMap<&str, &str> = previous
        .map(|p| p.images.iter().map(|i| split_image(i)).collect())
        .unwrap_or_default();
    let images = app
        .images
        .iter()
        .map(|image| {
            let (repository, tag) = split_image(image);
            ImageCell {
                repository: repository.to_owned(),
                tag: tag.to_owned(),
                differs: previous.is_some() && before.get(repository) != Some(&tag),
            }
        })
        .collect();
    EnvCell {
        app: app.name.clone(),
        revision_short: app.revision.chars().take(7).collect(),
        revision_differs: previous.is_some_and(|p| p.revision != app.revision),
        sync: app.sync.clone(),
        health: app.health.clone(),
        images,
    }
}
