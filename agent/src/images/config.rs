//! The `images:` block of the agent's configuration: image repositories to scan, the
//! policies that choose a tag among their tags, and the automations that write the chosen
//! tags to Git.
//!
//! ```yaml
//! images:
//!   repositories:
//!     - name: podinfo
//!       image: ghcr.io/stefanprodan/podinfo
//!       interval: 5m
//!       exclusionList: ['^.*\.sig$']
//!       credentials: {dockerConfigJson: /etc/tether/registry/config.json}
//!   policies:
//!     - name: podinfo
//!       repository: podinfo
//!       policy: {semver: {range: ">=6.0.0 <7.0.0"}}
//!   automations:
//!     - name: config
//!       source: config
//!       paths: [apps]
//!       credentials: {username: /etc/tether/git-write/username, password: /etc/tether/git-write/password}
//!       author: {name: tether, email: tether@example.com}
//! ```

use crate::config::{CredentialsSpec, Interval};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The default scan interval of an image repository.
pub const DEFAULT_SCAN_INTERVAL: Duration = Duration::from_secs(300);
/// The default bound on the tags of one repository.
pub const DEFAULT_MAX_TAGS: usize = 10_000;

fn default_scan_interval() -> Interval {
    Interval(DEFAULT_SCAN_INTERVAL)
}
fn default_max_tags() -> usize {
    DEFAULT_MAX_TAGS
}
fn default_exclusions() -> Vec<String> {
    vec![r"^.*\.sig$".to_owned()]
}
fn default_retries() -> u32 {
    3
}

/// The `images:` block.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImagesConfig {
    /// Image repositories to scan.
    #[serde(default)]
    pub repositories: Vec<RepositoryConfig>,
    /// Policies choosing a tag of a repository.
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
    /// Automations writing chosen tags to Git.
    #[serde(default)]
    pub automations: Vec<AutomationConfig>,
    /// Automatic promotions from one environment's overlay to the next.
    #[serde(default)]
    pub promotions: Vec<PromotionConfig>,
}

/// An automatic promotion: once the app of overlay `from` has been synced and Healthy at
/// one revision for `healthyFor`, the overlay `to` gets its images (and `files`) as of that
/// revision, committed on `pushBranch` for review (the default), or on the source's branch
/// itself with `direct: true`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromotionConfig {
    /// Its name (status, metrics, the cache folder).
    pub name: String,
    /// The source both overlays live in, and the app of `from` syncs from.
    pub source: String,
    /// The app's base name: its overlays are `apps/APP/overlays/ENV` unless `overlays` says.
    pub app: String,
    /// The folder of the overlays.
    #[serde(default)]
    pub overlays: Option<String>,
    /// The environment promoted from (its overlay folder's name).
    pub from: String,
    /// The environment promoted to.
    pub to: String,
    /// How long the `from` app must have been Healthy at one revision.
    pub healthy_for: Interval,
    /// How often the gate is checked (default 30s).
    #[serde(default)]
    pub interval: Option<Interval>,
    /// Files (relative to the overlay) copied whole as well.
    #[serde(default)]
    pub files: Vec<String>,
    /// Commit on the source's branch itself (no review).
    #[serde(default)]
    pub direct: bool,
    /// The review branch (default `promote/APP-TO`), force-pushed.
    #[serde(default)]
    pub push_branch: Option<String>,
    /// Write credentials.
    #[serde(default)]
    pub credentials: CredentialsSpec,
    /// The commit author.
    #[serde(default)]
    pub author: Author,
    /// Open a pull (GitHub) or merge (GitLab) request for the review branch.
    #[serde(default)]
    pub review: Option<PromotionReview>,
}

/// The pull or merge request of a promotion's review branch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromotionReview {
    /// GitHub: `OWNER/REPO`.
    #[serde(default)]
    pub github: Option<String>,
    /// GitLab: the project id or `group/project`.
    #[serde(default)]
    pub gitlab: Option<String>,
    /// The API address (default `https://api.github.com` or `https://gitlab.com/api/v4`).
    #[serde(default)]
    pub api: Option<String>,
    /// The file holding the token.
    pub token_file: PathBuf,
}

/// One image repository (Flux `ImageRepository`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RepositoryConfig {
    /// Its name, which policies refer to.
    pub name: String,
    /// Its namespace (default: the agent's), for `NS:NAME` references.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The image without tag: `ghcr.io/org/app`, `nginx`, `127.0.0.1:5000/app`.
    pub image: String,
    /// How often the tags are listed (a jitter of up to 10% is added).
    #[serde(default = "default_scan_interval")]
    pub interval: Interval,
    /// Tags matching any of these regexes are ignored (default: cosign signatures).
    #[serde(default = "default_exclusions")]
    pub exclusion_list: Vec<String>,
    /// The most tags the repository may list; more is an error.
    #[serde(default = "default_max_tags")]
    pub max_tags: usize,
    /// Plain HTTP instead of HTTPS.
    #[serde(default)]
    pub insecure: bool,
    /// `generic` (default: the credentials below) or `aws` (an ECR token from the AWS SDK).
    #[serde(default)]
    pub provider: Provider,
    /// Read credentials.
    #[serde(default)]
    pub credentials: RegistryCredentialsSpec,
}

/// Where registry credentials come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The configured credentials (or none).
    #[default]
    Generic,
    /// AWS ECR: `GetAuthorizationToken` with the default credential chain.
    Aws,
}

/// Registry credentials: a `dockerconfigjson` file or Secret (the entry of the image's host).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryCredentialsSpec {
    /// A Docker `config.json` file (a mounted `kubernetes.io/dockerconfigjson` Secret).
    #[serde(default)]
    pub docker_config_json: Option<PathBuf>,
    /// A `kubernetes.io/dockerconfigjson` Secret in the repository's namespace.
    #[serde(default)]
    pub secret_name: Option<String>,
}

/// One policy (Flux `ImagePolicy`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyConfig {
    /// Its name (markers say `NAMESPACE:NAME`).
    pub name: String,
    /// Its namespace (default: the agent's).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The repository's name (same namespace).
    pub repository: String,
    /// How the tag is chosen.
    pub policy: crate::images::policy::PolicyChoice,
    /// Which tags are considered, and what of them is compared.
    #[serde(default)]
    pub filter_tags: Option<crate::images::policy::FilterTags>,
    /// Whether the chosen image is pinned to its digest.
    #[serde(default)]
    pub digest_reflection_policy: DigestReflection,
}

/// Flux's `digestReflectionPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum DigestReflection {
    /// No digest (default).
    #[default]
    Never,
    /// The digest is read when the tag changes.
    IfNotPresent,
    /// The digest is read on every scan (a tag moved to another image is noticed).
    Always,
}

/// One automation (Flux `ImageUpdateAutomation`): files of a Git branch updated to the
/// policies' choices, committed and pushed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AutomationConfig {
    /// Its name (status, logs, the cache directory).
    pub name: String,
    /// The source written to (its URL and branch); the write URL may differ (`url`).
    pub source: String,
    /// The URL pushed to (default: the source's).
    #[serde(default)]
    pub url: Option<String>,
    /// The branch read (default: the source's `ref` when it is a branch).
    #[serde(default)]
    pub branch: Option<String>,
    /// The branch pushed to (default: `branch`): another one is force-pushed for review.
    #[serde(default)]
    pub push_branch: Option<String>,
    /// The folders whose YAML files are updated (default: the whole repository).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Kustomize `images:` entries to set from policies.
    #[serde(default)]
    pub kustomize_images: Vec<KustomizeImage>,
    /// Write credentials (separate from the source's read credentials). None: the source's
    /// URL is pushed to without credentials.
    #[serde(default)]
    pub credentials: CredentialsSpec,
    /// The commit author.
    #[serde(default)]
    pub author: Author,
    /// The commit message: a Go template with Flux's data (`.AutomationObject`,
    /// `.Changed`, ...), or Tether's `{{automation}}` and `{{changes}}` (one line per change).
    #[serde(default)]
    pub message_template: Option<String>,
    /// The Flux `ImageUpdateAutomation` this came from (namespace, name), for
    /// `.AutomationObject`.
    #[serde(skip)]
    pub flux_object: Option<(String, String)>,
    /// Sign commits with this SSH private key (OpenSSH format).
    #[serde(default)]
    pub signing_key: Option<PathBuf>,
    /// Sign commits with this OpenPGP key (as Flux's `spec.git.commit.signingKey`).
    #[serde(default)]
    pub gpg_signing_key: Option<GpgSigningKey>,
    /// How often the files are checked (default: 1m).
    #[serde(default)]
    pub interval: Option<Interval>,
    /// How many times a rejected push is fetched, re-applied and pushed again.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
}

/// An OpenPGP signing key: an ASCII-armored secret key in a file, or in a Secret under
/// `git.asc` with an optional `passphrase` (the layout of Flux's `signingKey.secretRef`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GpgSigningKey {
    /// The armored secret key file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// A file holding the key's passphrase (with `file`).
    #[serde(default)]
    pub passphrase_file: Option<PathBuf>,
    /// A Secret in the automation's namespace (the agent's, or the Flux object's) with keys
    /// `git.asc` and optionally `passphrase`.
    #[serde(default)]
    pub secret_name: Option<String>,
    /// The namespace of `secretName` (set for Flux objects).
    #[serde(skip)]
    pub namespace: Option<String>,
}

/// A Kustomize `images:` entry set from a policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KustomizeImage {
    /// The entry's `name`.
    pub name: String,
    /// The policy, `NAMESPACE:NAME` or `NAME` (the agent's namespace).
    pub policy: String,
}

/// A commit author.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Author {
    /// The name.
    pub name: String,
    /// The e-mail address.
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Self {
            name: "tether".into(),
            email: "tether@localhost".into(),
        }
    }
}

impl ImagesConfig {
    /// Resolves relative file paths against the config file's folder.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        let fix = |p: &mut Option<PathBuf>| {
            if let Some(p) = p
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        for r in &mut self.repositories {
            fix(&mut r.credentials.docker_config_json);
        }
        for a in &mut self.automations {
            let c = &mut a.credentials;
            for p in [
                &mut c.username,
                &mut c.password,
                &mut c.bearer_token,
                &mut c.ca_bundle,
                &mut c.ssh_private_key,
                &mut c.ssh_known_hosts,
                &mut a.signing_key,
            ] {
                fix(p);
            }
            if let Some(g) = &mut a.gpg_signing_key {
                fix(&mut g.file);
                fix(&mut g.passphrase_file);
            }
        }
        for p in &mut self.promotions {
            let c = &mut p.credentials;
            for f in [
                &mut c.username,
                &mut c.password,
                &mut c.bearer_token,
                &mut c.ca_bundle,
                &mut c.ssh_private_key,
                &mut c.ssh_known_hosts,
            ] {
                fix(f);
            }
            if let Some(r) = &mut p.review
                && r.token_file.is_relative()
            {
                r.token_file = base.join(&r.token_file);
            }
        }
    }

    /// Checks names, references, regexes and policies; the error is `(field, problem)`.
    pub fn validate(&self, sources: &[crate::config::SourceSpec]) -> Result<(), (String, String)> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, r) in self.repositories.iter().enumerate() {
            let field = |f: &str| format!("images.repositories[{i}].{f}");
            if !seen.insert((r.namespace.clone(), r.name.clone())) {
                return Err((field("name"), format!("{:?} is declared twice", r.name)));
            }
            crate::images::registry::ImageName::parse(&r.image)
                .map_err(|e| (field("image"), e.to_string()))?;
            for (j, pattern) in r.exclusion_list.iter().enumerate() {
                regex::Regex::new(pattern).map_err(|e| {
                    (
                        field(&format!("exclusionList[{j}]")),
                        crate::text::clip_message(&e.to_string()).into_owned(),
                    )
                })?;
            }
            if r.max_tags == 0 {
                return Err((field("maxTags"), "must be at least 1".into()));
            }
            if r.interval.0 < Duration::from_secs(1) {
                return Err((field("interval"), "must be at least 1s".into()));
            }
        }
        for (i, p) in self.policies.iter().enumerate() {
            let field = |f: &str| format!("images.policies[{i}].{f}");
            crate::images::policy::Policy::new(&p.policy, p.filter_tags.as_ref())
                .map_err(|e| (field("policy"), e.to_string()))?;
            if !self
                .repositories
                .iter()
                .any(|r| r.name == p.repository && r.namespace == p.namespace)
            {
                return Err((
                    field("repository"),
                    format!("no repository {:?} in the same namespace", p.repository),
                ));
            }
        }
        for (i, a) in self.automations.iter().enumerate() {
            let field = |f: &str| format!("images.automations[{i}].{f}");
            if !sources.iter().any(|s| s.name == a.source) {
                return Err((field("source"), format!("no source {:?}", a.source)));
            }
            if !crate::config::is_dns_label(&a.name) {
                return Err((field("name"), format!("{:?} is not a DNS label", a.name)));
            }
            if let Some(g) = &a.gpg_signing_key {
                match (&g.file, &g.secret_name, &g.passphrase_file) {
                    (Some(_), None, _) | (None, Some(_), None) => {}
                    (None, Some(_), Some(_)) => {
                        return Err((
                            field("gpgSigningKey.passphraseFile"),
                            "goes with `file`; a Secret carries its own `passphrase`".into(),
                        ));
                    }
                    _ => {
                        return Err((
                            field("gpgSigningKey"),
                            "set exactly one of `file` and `secretName`".into(),
                        ));
                    }
                }
                if a.signing_key.is_some() {
                    return Err((
                        field("gpgSigningKey"),
                        "`signingKey` (SSH) is set too: choose one".into(),
                    ));
                }
            }
            if a.max_retries > 20 {
                return Err((field("maxRetries"), "at most 20".into()));
            }
        }
        self.validate_promotions(sources)
    }

    fn validate_promotions(
        &self,
        sources: &[crate::config::SourceSpec],
    ) -> Result<(), (String, String)> {
        let mut names = std::collections::BTreeSet::new();
        for (i, p) in self.promotions.iter().enumerate() {
            let field = |f: &str| format!("images.promotions[{i}].{f}");
            if !crate::config::is_dns_label(&p.name) || !names.insert(&p.name) {
                return Err((
                    field("name"),
                    format!("{:?} is not a DNS label, or is used twice", p.name),
                ));
            }
            let Some(source) = sources.iter().find(|s| s.name == p.source) else {
                return Err((field("source"), format!("no source {:?}", p.source)));
            };
            if source.reference.contains(':') {
                return Err((
                    field("source"),
                    format!("source {:?} does not follow a branch", p.source),
                ));
            }
            for (f, env) in [("from", &p.from), ("to", &p.to)] {
                if env.is_empty() || env.contains('/') || env.starts_with('.') {
                    return Err((field(f), format!("{env:?} is not an overlay folder name")));
                }
            }
            if p.from == p.to {
                return Err((field("to"), "names the same environment as `from`".into()));
            }
            if let Some(r) = &p.review {
                if r.github.is_some() == r.gitlab.is_some() {
                    return Err((
                        field("review"),
                        "set exactly one of `github` and `gitlab`".into(),
                    ));
                }
                if p.direct {
                    return Err((field("review"), "a direct promotion has no review".into()));
                }
            }
            if p.healthy_for.0 < Duration::from_secs(1) {
                return Err((field("healthyFor"), "must be at least 1s".into()));
            }
        }
        Ok(())
    }
}
