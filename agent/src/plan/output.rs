//! The plan's data and its text form.

use crate::daemon::pipeline::{AppDef, PipelineError, Prepared, Unresolved};
use crate::policy::Severity;
use serde::Serialize;
use serde_json::Value;
use std::io::Write;

/// What the next sync would do to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PlanAction {
    /// The object does not exist and would be created.
    Create,
    /// The object exists and would change.
    Update,
    /// Nothing would change.
    Unchanged,
    /// The object left Git and would be deleted.
    Prune,
    /// The object left Git and would be left in place (protected).
    Orphan,
}

impl PlanAction {
    fn sign(self) -> &'static str {
        match self {
            Self::Create => "+",
            Self::Update => "~",
            Self::Unchanged => "=",
            Self::Prune => "-",
            Self::Orphan => "!",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Unchanged => "unchanged",
            Self::Prune => "prune",
            Self::Orphan => "orphan",
        }
    }
}

/// One object of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectPlan {
    /// `Kind namespace/name`.
    pub object: String,
    /// What would happen.
    pub action: PlanAction,
    /// Why (orphans).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The changed fields (`path: before -> after`), redacted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<String>,
    /// The whole object for a create, redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Value>,
}

impl ObjectPlan {
    /// A create of `manifest` (already redacted).
    #[must_use]
    pub fn create(object: String, manifest: Value) -> Self {
        Self {
            object,
            action: PlanAction::Create,
            reason: None,
            diff: Vec::new(),
            manifest: Some(manifest),
        }
    }
}

/// A decrypted or resolved Secret: its keys, each value redacted.
#[derive(Debug, Clone, Serialize)]
pub struct SecretPlan {
    /// `Secret namespace/name`.
    pub object: String,
    /// Where the values came from (`sops`, `sealed`, `external`, `inline`, `plain`).
    pub origin: String,
    /// `key: <redacted hmac:...>`.
    pub keys: Vec<(String, String)>,
}

/// One policy finding.
#[derive(Debug, Clone, Serialize)]
pub struct FindingPlan {
    /// `deny` or `warn`.
    pub severity: String,
    /// `object: rule: message`.
    pub message: String,
}

/// The plan of one app.
#[derive(Debug, Clone, Serialize)]
pub struct AppPlan {
    /// The app.
    pub app: String,
    /// Its directory.
    pub path: String,
    /// Its target namespace.
    pub namespace: String,
    /// The revision planned (`working-tree` for a working directory).
    pub revision: String,
    /// Objects rendered.
    pub rendered: usize,
    /// What would happen to each object.
    pub objects: Vec<ObjectPlan>,
    /// The Secrets that would be applied, values redacted.
    pub secrets: Vec<SecretPlan>,
    /// Secret objects that failed (the live Secret would stay; nothing pruned).
    pub secret_failures: Vec<String>,
    /// Objects not resolved offline.
    pub unresolved: Vec<Unresolved>,
    /// `passed`, `warned` or `denied` (with the enforcement).
    pub policy: String,
    /// The policy findings.
    pub findings: Vec<FindingPlan>,
    /// The error that stopped this app's plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AppPlan {
    /// Whether the app could not be planned, or would not sync (denied, failed Secrets).
    #[must_use]
    pub fn failed(&self) -> bool {
        self.error.is_some()
            || self.policy.starts_with("denied")
            || !self.secret_failures.is_empty()
    }

    /// The plan of an app whose stages before apply failed.
    #[must_use]
    pub fn failed_with(app: &AppDef, error: &PipelineError) -> Self {
        let mut plan = Self::empty(app);
        let message = format!("{}: {error}", error.reason());
        plan.error = Some(crate::text::clip_message(&message).into_owned());
        plan
    }

    /// The plan of an app read from an Argo CD or Flux object that could not be mapped
    /// (`message` names the object, file and field).
    #[must_use]
    pub fn import_failed(app: &str, message: &str) -> Self {
        Self {
            app: app.to_owned(),
            path: String::new(),
            namespace: String::new(),
            revision: String::new(),
            rendered: 0,
            objects: Vec::new(),
            secrets: Vec::new(),
            secret_failures: Vec::new(),
            unresolved: Vec::new(),
            policy: "passed".into(),
            findings: Vec::new(),
            error: Some(format!(
                "ImportFailed: {}",
                crate::text::clip_message(message)
            )),
        }
    }

    fn empty(app: &AppDef) -> Self {
        Self {
            app: app.spec.name.clone(),
            path: app.path.to_string(),
            namespace: app.spec.target_namespace.clone(),
            revision: String::new(),
            rendered: 0,
            objects: Vec::new(),
            secrets: Vec::new(),
            secret_failures: Vec::new(),
            unresolved: Vec::new(),
            policy: "passed".into(),
            findings: Vec::new(),
            error: None,
        }
    }

    /// The parts every plan shares: render count, Secrets, failures, policy.
    #[must_use]
    pub fn from_prepared(app: &AppDef, prepared: &Prepared) -> Self {
        let mut plan = Self::empty(app);
        plan.rendered = prepared.rendered;
        for desired in &prepared.resolution.desired {
            if let crate::secrets::Desired::Secret(secret) = desired {
                let redacted = secret.redacted();
                let keys = redacted
                    .get("data")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                plan.secrets.push(SecretPlan {
                    object: secret.object_ref(),
                    origin: secret.origin().as_str().to_owned(),
                    keys,
                });
            }
        }
        plan.secret_failures = prepared
            .resolution
            .failures
            .iter()
            .map(|f| {
                let message = format!("{}: {}", f.error.reason(), f.error);
                crate::text::clip_message(&message).into_owned()
            })
            .collect();
        plan.unresolved = prepared.unresolved.clone();
        let report = &prepared.policy;
        let enforcement = serde_json::to_value(report.enforcement)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let denials = report.denials().count();
        let warnings = report.warnings().count();
        plan.policy = if report.is_denied() {
            format!("denied ({denials} denials, {warnings} warnings; enforcement {enforcement})")
        } else if denials + warnings > 0 {
            format!("warned ({denials} denials, {warnings} warnings; enforcement {enforcement})")
        } else {
            format!(
                "passed ({} objects; enforcement {enforcement})",
                report.objects
            )
        };
        plan.findings = report
            .findings
            .iter()
            .map(|f| FindingPlan {
                severity: match f.severity {
                    Severity::Deny => "deny".into(),
                    Severity::Warn => "warn".into(),
                },
                message: f.to_string(),
            })
            .collect();
        plan
    }
}

/// Writes one app's plan as text.
pub fn write_text(plan: &AppPlan, out: &mut dyn Write) -> std::io::Result<()> {
    let namespace = if plan.namespace.is_empty() {
        "(from the manifests)"
    } else {
        &plan.namespace
    };
    writeln!(
        out,
        "app {} ({} -> namespace {namespace}) at {}",
        plan.app, plan.path, plan.revision
    )?;
    if let Some(error) = &plan.error {
        writeln!(out, "  error: {}", crate::text::clip_message(error))?;
        writeln!(out)?;
        return Ok(());
    }
    let count = |a: PlanAction| plan.objects.iter().filter(|o| o.action == a).count();
    writeln!(
        out,
        "  rendered {} objects: {} to create, {} to update, {} unchanged, {} to prune, {} orphaned",
        plan.rendered,
        count(PlanAction::Create),
        count(PlanAction::Update),
        count(PlanAction::Unchanged),
        count(PlanAction::Prune),
        count(PlanAction::Orphan)
    )?;
    if !plan.secrets.is_empty() {
        writeln!(out, "  secrets:")?;
        for secret in &plan.secrets {
            writeln!(out, "    {} ({}):", secret.object, secret.origin)?;
            for (key, value) in &secret.keys {
                writeln!(out, "      {key}: {value}")?;
            }
        }
    }
    for failure in &plan.secret_failures {
        writeln!(out, "  secret failed: {failure}")?;
    }
    for u in &plan.unresolved {
        writeln!(
            out,
            "  unresolved: {} (store {}): {}",
            u.object, u.store, u.note
        )?;
    }
    writeln!(out, "  policy: {}", plan.policy)?;
    for f in &plan.findings {
        writeln!(out, "    {}: {}", f.severity, f.message)?;
    }
    writeln!(out, "  changes:")?;
    for object in &plan.objects {
        write!(
            out,
            "  {} {} {}",
            object.action.sign(),
            object.action.word(),
            object.object
        )?;
        if let Some(reason) = &object.reason {
            write!(out, " ({reason})")?;
        }
        writeln!(out)?;
        for line in &object.diff {
            writeln!(out, "      {line}")?;
        }
        if let Some(manifest) = &object.manifest {
            let text = crate::render::yaml::emit_documents(std::iter::once(manifest))
                .unwrap_or_else(|e| format!("<unprintable: {e}>\n"));
            for line in text.lines().filter(|l| *l != "---") {
                writeln!(out, "      + {line}")?;
            }
        }
    }
    writeln!(out)?;
    Ok(())
}
