//! Reading the configuration: parse, resolve relative paths, validate once with messages
//! that name the field.

use super::{AppGenerator, Config, ConfigError, MAX_CONFIG_BYTES, SourceSpec, WebhookProvider};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A field of the configuration and what is wrong with it.
type Invalid = (String, String);

impl Config {
    /// Reads, parses and validates `path`; relative paths inside are resolved against its
    /// directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let display = path.display().to_string();
        let read_failed = |source| ConfigError::ReadFailed {
            path: display.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_failed)?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::Invalid {
                path: display,
                field: "(file)".into(),
                problem: format!("larger than {MAX_CONFIG_BYTES} bytes"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_failed)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &display, base)
    }

    /// Parses and validates `text` (named `name` in errors), resolving relative paths
    /// against `base`.
    pub fn parse(text: &str, name: &str, base: &Path) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            // An empty file is a write in progress or a mistake, never "sync nothing".
            return Err(ConfigError::Invalid {
                path: name.to_owned(),
                field: "(file)".into(),
                problem: "is empty".into(),
            });
        }
        let mut config: Config =
            serde_saphyr::from_str(text).map_err(|err| ConfigError::ParseFailed {
                path: name.to_owned(),
                message: err.to_string(),
            })?;
        config.resolve_paths(base);
        config.validate(name)?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        let fix_opt = |p: &mut Option<PathBuf>| {
            if let Some(p) = p {
                fix(p);
            }
        };
        fix(&mut self.cache_dir);
        self.images.resolve_paths(base);
        for p in &mut self.notifications.providers {
            fix_opt(&mut p.ca_file);
            for source in [&mut p.address_from, &mut p.token_from, &mut p.password_from]
                .into_iter()
                .flatten()
            {
                fix_opt(&mut source.file);
            }
        }
        self.keys.files.iter_mut().for_each(fix);
        self.keys.pgp_files.iter_mut().for_each(fix);
        if let Some(b) = &mut self.keys.bitnami {
            b.files.iter_mut().for_each(fix);
        }
        let kms = &mut self.keys.kms;
        if let Some(a) = &mut kms.aws {
            fix_opt(&mut a.credentials_file);
            fix_opt(&mut a.web_identity_token_file);
        }
        if let Some(v) = &mut kms.vault {
            fix_opt(&mut v.token_file);
            if let Some(k) = &mut v.kubernetes {
                fix(&mut k.token_file);
            }
        }
        for t in [&mut kms.gcp, &mut kms.azure].into_iter().flatten() {
            fix(&mut t.token_file);
        }
        for source in &mut self.sources {
            let c = &mut source.credentials;
            for p in [
                &mut c.username,
                &mut c.password,
                &mut c.bearer_token,
                &mut c.ssh_private_key,
                &mut c.ssh_known_hosts,
                &mut c.ca_bundle,
            ] {
                fix_opt(p);
            }
            if let Some(v) = &mut source.verify {
                fix_opt(&mut v.ssh_allowed_signers);
                v.gpg_keys.iter_mut().for_each(fix);
            }
            if let Some(w) = &mut source.webhook {
                fix(&mut w.secret_file);
            }
        }
    }

    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        self.check_agent()
            .and_then(|()| self.check_sources())
            .and_then(|sources| self.check_apps(&sources))
            .map_err(|(field, problem)| ConfigError::Invalid {
                path: name.to_owned(),
                field,
                problem,
            })
    }

    /// The agent-wide settings: replicas, listeners, durations, limits, keys, images.
    fn check_agent(&self) -> Result<(), Invalid> {
        let invalid = |field: &str, problem: &str| Err((field.to_owned(), problem.to_owned()));
        if self.replicas == 0 {
            return invalid("replicas", "must be at least 1");
        }
        if self.replicas > 1 && !self.leader_election.enabled {
            return invalid(
                "replicas",
                "sharding across replicas needs leaderElection.enabled (one replica keeps the duties of a leader)",
            );
        }
        if self.admin_listen == self.listen {
            return invalid(
                "adminListen",
                "must differ from listen: the admin endpoints are never served on it",
            );
        }
        for (field, value) in [
            ("inlineRefresh", self.inline_refresh),
            ("limits.hookTimeout", self.limits.hook_timeout),
            ("limits.renderTimeout", self.limits.render_timeout),
        ] {
            if value.0 < Duration::from_secs(1) {
                return invalid(field, "must be at least 1s");
            }
        }
        if let Err(problem) = crate::rollout::wave::Waves::new(&self.waves) {
            return Err(("waves".into(), problem));
        }
        if let Err(err) = crate::rollout::window::Windows::new(&self.sync_windows) {
            return Err(("syncWindows".into(), err.to_string()));
        }
        if let Err((field, problem)) = self.notifications.validate() {
            return Err((format!("notifications.{field}"), problem));
        }
        if self.limits.concurrency == 0 {
            return invalid("limits.concurrency", "must be at least 1");
        }
        if self.limits.max_prune_percent > 100 {
            return invalid("limits.maxPrunePercent", "must be 0 to 100");
        }
        let le = &self.leader_election;
        if le.enabled && le.renew_grace.0 >= le.lease_duration.0 {
            return invalid(
                "leaderElection.renewGrace",
                "must be shorter than leaseDuration",
            );
        }
        if !is_dns_label(&self.namespace) {
            return Err((
                "namespace".into(),
                format!("{:?} is not a DNS label", self.namespace),
            ));
        }
        if let Some(bitnami) = &self.keys.bitnami {
            bitnami
                .validate()
                .map_err(|reason| ("keys.bitnami".to_owned(), reason))?;
        }
        self.images.validate(&self.sources)
    }

    /// The sources; returns their names.
    fn check_sources(&self) -> Result<BTreeSet<&str>, Invalid> {
        let mut seen = BTreeSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            let field = |f: &str| format!("sources[{i}].{f}");
            if !is_dns_label(&source.name) {
                return Err((
                    field("name"),
                    format!("{:?} is not a DNS label", source.name),
                ));
            }
            if !seen.insert(source.name.as_str()) {
                return Err((field("name"), format!("{:?} is used twice", source.name)));
            }
            crate::source::parse_reference(&source.reference)
                .map_err(|err| (field("ref"), err.to_string()))?;
            if source.interval.0 < Duration::from_secs(1) {
                return Err((field("interval"), "must be at least 1s".into()));
            }
            if let Some(w) = &source.webhook
                && w.provider == WebhookProvider::Generic
                && w.header.is_none()
            {
                return Err((
                    field("webhook.header"),
                    "required for the generic provider".into(),
                ));
            }
        }
        Ok(seen)
    }

    /// The app generators, against the `sources` names.
    fn check_apps(&self, sources: &BTreeSet<&str>) -> Result<(), Invalid> {
        for (i, app) in self.apps.iter().enumerate() {
            let field = |f: &str| format!("apps[{i}].{f}");
            match &app.source {
                Some(s) if !sources.contains(s.as_str()) => {
                    return Err((field("source"), format!("no source named {s:?}")));
                }
                None if self.sources.len() != 1 => {
                    return Err((
                        field("source"),
                        "required when there is not exactly one source".into(),
                    ));
                }
                _ => {}
            }
            if app.directories.is_empty() {
                return Err((
                    field("directories"),
                    "must name at least one directory".into(),
                ));
            }
            if let Some(Err((f, problem))) = app.rollout.as_ref().map(|r| r.validate()) {
                return Err((field(&format!("rollout.{f}")), problem));
            }
            if let Some(Err(err)) = app.health.as_ref().map(|h| h.gate()) {
                return Err((field("health"), err.to_string()));
            }
            if app.max_prune_percent.is_some_and(|p| p > 100) {
                return Err((field("maxPrunePercent"), "must be 0 to 100".into()));
            }
        }
        Ok(())
    }

    /// The source an app generator reads.
    #[must_use]
    pub fn source_of<'a>(&'a self, app: &'a AppGenerator) -> Option<&'a SourceSpec> {
        match &app.source {
            Some(name) => self.sources.iter().find(|s| &s.name == name),
            None => self.sources.first(),
        }
    }

    /// The discovery settings of an app generator.
    #[must_use]
    pub fn discovery(app: &AppGenerator) -> crate::source::discovery::DiscoveryConfig {
        crate::source::discovery::DiscoveryConfig {
            directories: app.directories.clone(),
            name: app
                .name
                .clone()
                .unwrap_or_else(|| "{{path.basename}}".into()),
            namespace: app.namespace.clone(),
        }
    }
}

/// Whether `s` is a DNS label (RFC 1123).
#[must_use]
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_duration;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("5 minutes"), None);
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let err = Config::parse(
            "sources:\n  - name: a\n    url: file:///x\n    intervall: 5m\n",
            "t.yaml",
            Path::new("."),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("intervall"), "{text}");
        assert!(text.contains("line 4"), "{text}");
    }

    #[test]
    fn a_bad_duration_names_its_value() {
        let err = Config::parse(
            "sources:\n  - name: a\n    url: file:///x\n    interval: 5 minutes\n",
            "t.yaml",
            Path::new("."),
        )
        .unwrap_err();
        assert!(err.to_string().contains("5 minutes"), "{err}");
    }

    #[test]
    fn an_empty_file_is_refused() {
        let err = Config::parse("  \n", "t.yaml", Path::new(".")).unwrap_err();
        assert_eq!(err.to_string(), "config t.yaml: (file): is empty");
    }

    #[test]
    fn an_app_must_name_an_existing_source() {
        let err = Config::parse(
            "sources: [{name: a, url: 'file:///x'}]\napps: [{source: b, directories: [{path: x}]}]\n",
            "t.yaml",
            Path::new("."),
        )
        .unwrap_err();
        assert!(err.to_string().contains("apps[0].source"), "{err}");
    }
}
