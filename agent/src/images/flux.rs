//! Flux's image automation objects found in an app's manifests (`ImageRepository`,
//! `ImagePolicy`, `ImageUpdateAutomation`, `image.toolkit.fluxcd.io/v1` and `v1beta2`) are
//! used instead of applied, like the notification objects ([`crate::notify::sources`]):
//! each becomes the `images:` entry it describes, in its namespace (the app's namespace when
//! it names none).

use super::config::{
    AutomationConfig, DigestReflection, ImagesConfig, PolicyConfig, Provider,
    RegistryCredentialsSpec, RepositoryConfig,
};
use crate::config::{CredentialsSpec, Interval};
use crate::sync::Manifest;
use serde_json::Value;

/// The API group of Flux's image objects.
pub const FLUX_IMAGE_GROUP: &str = "image.toolkit.fluxcd.io/";

/// What an app's manifests declare, and what could not be used.
#[derive(Debug, Clone, Default)]
pub struct FluxImages {
    /// The entries, as if written in `images:`.
    pub config: ImagesConfig,
    /// What was refused (object and field), for status and logs.
    pub problems: Vec<String>,
}

/// Whether `object` is a Flux image object (used, never applied).
#[must_use]
pub fn is_flux_image_object(object: &Value) -> bool {
    let api = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    (api == "image.toolkit.fluxcd.io/v1"
        || api == "image.toolkit.fluxcd.io/v1beta2"
        || api == "image.toolkit.fluxcd.io/v1beta1")
        && matches!(
            kind,
            "ImageRepository" | "ImagePolicy" | "ImageUpdateAutomation"
        )
}

/// Removes the Flux image objects from `objects` and reads them; `namespace` is the app's
/// target namespace, `source` the app's source (an automation whose `sourceRef` names no
/// configured source writes to it).
pub fn take(
    objects: &mut Vec<Manifest>,
    namespace: &str,
    source: &str,
    sources: &[String],
) -> FluxImages {
    let mut found = Vec::new();
    objects.retain(|m| match m {
        Manifest::Plain(v) if is_flux_image_object(v) => {
            found.push(v.clone());
            false
        }
        _ => true,
    });
    let mut out = FluxImages::default();
    for object in &found {
        let ns = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(namespace)
            .to_owned();
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        let id = format!("{kind} {ns}/{name}");
        let result = match kind {
            "ImageRepository" => {
                repository(object, &ns, &name).map(|r| out.config.repositories.push(r))
            }
            "ImagePolicy" => policy(object, &ns, &name).map(|p| out.config.policies.push(p)),
            _ => automation(object, (&ns, &name), source, sources)
                .map(|a| out.config.automations.push(a)),
        };
        if let Err(problem) = result {
            out.problems.push(format!("{id}: {problem}"));
        }
    }
    out
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn interval(v: &Value, pointer: &str, field: &str) -> Result<Option<Interval>, String> {
    match text(v, pointer) {
        None => Ok(None),
        Some(t) => crate::config::parse_duration(t)
            .map(|d| Some(Interval(d)))
            .ok_or_else(|| {
                format!(
                    "{field}: {:?} is not a duration",
                    crate::text::clip_message(t)
                )
            }),
    }
}

fn repository(v: &Value, ns: &str, name: &str) -> Result<RepositoryConfig, String> {
    let image = text(v, "/spec/image").ok_or("spec.image is missing")?;
    let exclusion_list = match v.pointer("/spec/exclusionList") {
        None => vec![r"^.*\.sig$".to_owned()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or("spec.exclusionList: a non-string item")
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("spec.exclusionList: not a list".into()),
    };
    let provider = match text(v, "/spec/provider").unwrap_or("generic") {
        "generic" => Provider::Generic,
        "aws" => Provider::Aws,
        other => {
            return Err(format!(
                "spec.provider {:?} is not supported (generic, aws)",
                crate::text::clip_message(other)
            ));
        }
    };
    let repo = RepositoryConfig {
        name: name.to_owned(),
        namespace: Some(ns.to_owned()),
        image: image.to_owned(),
        interval: interval(v, "/spec/interval", "spec.interval")?
            .unwrap_or(Interval(super::config::DEFAULT_SCAN_INTERVAL)),
        exclusion_list,
        max_tags: super::config::DEFAULT_MAX_TAGS,
        insecure: v
            .pointer("/spec/insecure")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        provider,
        credentials: RegistryCredentialsSpec {
            docker_config_json: None,
            secret_name: text(v, "/spec/secretRef/name").map(str::to_owned),
        },
    };
    super::registry::ImageName::parse(&repo.image).map_err(|e| format!("spec.image: {e}"))?;
    for pattern in &repo.exclusion_list {
        regex::Regex::new(pattern)
            .map_err(|_| "spec.exclusionList: an invalid regex".to_owned())?;
    }
    Ok(repo)
}

fn policy(v: &Value, ns: &str, name: &str) -> Result<PolicyConfig, String> {
    let repository = text(v, "/spec/imageRepositoryRef/name")
        .ok_or("spec.imageRepositoryRef.name is missing")?;
    if let Some(other) = text(v, "/spec/imageRepositoryRef/namespace")
        && other != ns
    {
        return Err("spec.imageRepositoryRef.namespace: another namespace is not supported".into());
    }
    let choice = v
        .pointer("/spec/policy")
        .cloned()
        .ok_or("spec.policy is missing")?;
    let policy = serde_json::from_value(choice)
        .map_err(|e| format!("spec.policy: {}", crate::text::clip_message(&e.to_string())))?;
    let filter_tags = match v.pointer("/spec/filterTags") {
        None => None,
        Some(f) => Some(serde_json::from_value(f.clone()).map_err(|e| {
            format!(
                "spec.filterTags: {}",
                crate::text::clip_message(&e.to_string())
            )
        })?),
    };
    let digest_reflection_policy = match text(v, "/spec/digestReflectionPolicy") {
        None | Some("Never") => DigestReflection::Never,
        Some("IfNotPresent") => DigestReflection::IfNotPresent,
        Some("Always") => DigestReflection::Always,
        Some(other) => {
            return Err(format!(
                "spec.digestReflectionPolicy {:?}: Never, IfNotPresent or Always",
                crate::text::clip_message(other)
            ));
        }
    };
    let config = PolicyConfig {
        name: name.to_owned(),
        namespace: Some(ns.to_owned()),
        repository: repository.to_owned(),
        policy,
        filter_tags,
        digest_reflection_policy,
    };
    super::policy::Policy::new(&config.policy, config.filter_tags.as_ref())
        .map_err(|e| e.to_string())?;
    Ok(config)
}

fn automation(
    v: &Value,
    (namespace, name): (&str, &str),
    source: &str,
    sources: &[String],
) -> Result<AutomationConfig, String> {
    if let Some(strategy) = text(v, "/spec/update/strategy")
        && strategy != "Setters"
    {
        return Err(format!(
            "spec.update.strategy {:?}: only Setters",
            crate::text::clip_message(strategy)
        ));
    }
    let target = text(v, "/spec/sourceRef/name")
        .filter(|n| sources.iter().any(|s| s == n))
        .unwrap_or(source);
    let path = text(v, "/spec/update/path").unwrap_or("./");
    let path = path.trim_start_matches("./").trim_end_matches('/');
    Ok(AutomationConfig {
        name: format!("flux-{name}"),
        source: target.to_owned(),
        url: None,
        branch: text(v, "/spec/git/checkout/ref/branch").map(str::to_owned),
        push_branch: text(v, "/spec/git/push/branch").map(str::to_owned),
        paths: if path.is_empty() {
            Vec::new()
        } else {
            vec![path.to_owned()]
        },
        kustomize_images: Vec::new(),
        credentials: CredentialsSpec::default(),
        author: super::config::Author {
            name: text(v, "/spec/git/commit/author/name")
                .unwrap_or("tether")
                .to_owned(),
            email: text(v, "/spec/git/commit/author/email")
                .unwrap_or("tether@localhost")
                .to_owned(),
        },
        message_template: text(v, "/spec/git/commit/messageTemplate").map(str::to_owned),
        flux_object: Some((namespace.to_owned(), name.to_owned())),
        signing_key: None,
        gpg_signing_key: text(v, "/spec/git/commit/signingKey/secretRef/name").map(|secret| {
            super::config::GpgSigningKey {
                secret_name: Some(secret.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..super::config::GpgSigningKey::default()
            }
        }),
        interval: interval(v, "/spec/interval", "spec.interval")?,
        max_retries: 3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifests(yaml: &str) -> Vec<Manifest> {
        crate::render::yaml::parse_values(yaml, &crate::render::yaml::ParseOptions::default())
            .unwrap()
            .into_iter()
            .map(Manifest::Plain)
            .collect()
    }

    #[test]
    fn flux_image_objects_are_read_and_not_applied() {
        let mut objects = manifests(include_str!("testdata/flux-images.yaml"));
        let found = take(&mut objects, "apps", "config", &["config".into()]);
        assert_eq!(objects.len(), 1, "only the Deployment stays to be applied");
        assert!(found.problems.is_empty(), "{:?}", found.problems);
        let r = &found.config.repositories[0];
        assert_eq!(
            (r.name.as_str(), r.namespace.as_deref(), r.image.as_str()),
            (
                "podinfo",
                Some("flux-system"),
                "ghcr.io/stefanprodan/podinfo"
            )
        );
        assert_eq!(r.credentials.secret_name.as_deref(), Some("regcred"));
        assert_eq!(r.interval.0, std::time::Duration::from_secs(60));
        assert_eq!(found.config.policies.len(), 2);
        assert_eq!(
            found.config.policies[1].digest_reflection_policy,
            DigestReflection::Always
        );
        let a = &found.config.automations[0];
        assert_eq!(
            (
                a.source.as_str(),
                a.branch.as_deref(),
                a.push_branch.as_deref()
            ),
            ("config", Some("main"), Some("image-updates"))
        );
        assert_eq!(a.paths, ["clusters/production"]);
        assert_eq!(a.author.email, "fluxcdbot@users.noreply.github.com");
        let key = a.gpg_signing_key.as_ref().expect("the signing key");
        assert_eq!(
            (key.secret_name.as_deref(), key.namespace.as_deref()),
            (Some("signing-key"), Some("flux-system"))
        );
    }

    #[test]
    fn unusable_flux_objects_are_reported_by_name_and_field() {
        let mut objects = manifests(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: bad, namespace: ns}\nspec:\n  imageRepositoryRef: {name: x}\n  policy: {semver: {range: '>=banana'}}\n",
        );
        let found = take(&mut objects, "apps", "config", &[]);
        assert!(objects.is_empty());
        assert_eq!(found.problems.len(), 1);
        assert!(
            found.problems[0].starts_with("ImagePolicy ns/bad: policy.semver.range"),
            "{:?}",
            found.problems
        );
    }
}
