//! The check report: every problem found, as text for people or JSON for tools.

use crate::policy::ObjectRef;
pub use crate::policy::Severity;
use std::fmt::Write as _;

/// One problem: a rule that failed for an object (or a whole app, when rendering failed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `deny` fails the check; `warn` is reported only.
    pub severity: Severity,
    /// The app.
    pub app: String,
    /// The file, relative to the repository root, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The 1-based line of the object in its file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The object (`Kind namespace/name`), when the problem is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The object's reference, to find its line.
    #[serde(skip)]
    pub object_ref: Option<ObjectRef>,
    /// The rule: a policy rule (`tether.host_access.deny`), `render`, `manifest.*`,
    /// `encryption.*`.
    pub rule: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem of `app` in `file`, about no object yet.
    #[must_use]
    pub fn new(
        severity: Severity,
        app: &str,
        file: Option<String>,
        rule: &str,
        message: String,
    ) -> Self {
        Self {
            severity,
            app: app.to_owned(),
            file,
            line: None,
            object: None,
            object_ref: None,
            rule: rule.to_owned(),
            message,
        }
    }

    /// The problem is about `object`.
    #[must_use]
    pub fn with_object(mut self, object: ObjectRef) -> Self {
        self.object = Some(object.to_string());
        self.object_ref = Some(object);
        self
    }
}

/// One checked app.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckedApp {
    /// The app name.
    pub name: String,
    /// Its directory, relative to the repository root.
    pub path: String,
    /// The target namespace, when the app has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// How many objects it rendered to.
    pub objects: usize,
    /// The objects (`Kind namespace/name`), in render order.
    #[serde(skip)]
    pub object_names: Vec<String>,
}

/// The outcome of a check.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    /// The apps checked, in order.
    pub apps: Vec<CheckedApp>,
    /// The problems, app by app.
    pub problems: Vec<Problem>,
    /// Per app, what the merge would change in the rendered objects (`--changed-since`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<AppDiff>,
}

/// The rendered change of one app against a Git ref (Secret values redacted).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppDiff {
    /// The app.
    pub app: String,
    /// A unified diff of the rendered YAML, object by object.
    pub diff: String,
}

/// The counts of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Apps checked.
    pub apps: usize,
    /// Objects checked.
    pub objects: usize,
    /// Problems that fail the check.
    pub violations: usize,
    /// Problems reported only.
    pub warnings: usize,
}

impl CheckReport {
    /// The counts.
    #[must_use]
    pub fn summary(&self) -> Summary {
        let violations = self
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Deny)
            .count();
        Summary {
            apps: self.apps.len(),
            objects: self.apps.iter().map(|a| a.objects).sum(),
            violations,
            warnings: self.problems.len() - violations,
        }
    }

    /// Whether the check failed (any problem of severity `deny`).
    #[must_use]
    pub fn failed(&self) -> bool {
        self.summary().violations > 0
    }

    /// The report for people: one line per problem
    /// (`DENY file: object: rule: message`), then a summary line.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for problem in &self.problems {
            let level = match problem.severity {
                Severity::Deny => "DENY",
                Severity::Warn => "WARN",
            };
            let _ = write!(out, "{level} ");
            let _ = write!(out, "{}", problem.file.as_deref().unwrap_or(&problem.app));
            match problem.line {
                Some(line) => {
                    let _ = write!(out, ":{line}: ");
                }
                None => out.push_str(": "),
            }
            if let Some(object) = &problem.object {
                let _ = write!(out, "{object}: ");
            }
            let _ = writeln!(out, "{}: {}", problem.rule, problem.message);
        }
        for diff in &self.diffs {
            let _ = writeln!(out, "--- app {}: changes against the base", diff.app);
            out.push_str(&diff.diff);
        }
        let s = self.summary();
        let _ = writeln!(
            out,
            "{} app(s), {} object(s) checked: {} violation(s), {} warning(s)",
            s.apps, s.objects, s.violations, s.warnings
        );
        out
    }

    /// The report for tools: `{"apps": [...], "problems": [...], "summary": {...}}`.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut value = serde_json::json!({
            "apps": self.apps,
            "problems": self.problems,
            "summary": self.summary(),
        });
        if !self.diffs.is_empty() {
            value["diffs"] = serde_json::json!(self.diffs);
        }
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }
}
