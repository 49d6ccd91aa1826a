//! The report in the formats CI systems read: `text` and `json` ([`CheckReport`]), `junit`
//! (JUnit XML: GitLab and Jenkins test reports; one suite per app, one case per object),
//! `sarif` (SARIF 2.1.0: code scanning) and `github` (workflow commands
//! `::error file=...,line=...::message`, annotations on the pull request).

use super::report::{CheckReport, CheckedApp, Problem, Severity};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The format names `--format` takes.
pub const FORMATS: [&str; 5] = ["text", "json", "junit", "sarif", "github"];

/// The report in `format` (an unknown name gives the text report).
#[must_use]
pub fn render(report: &CheckReport, format: &str) -> String {
    match format {
        "json" => report.to_json() + "\n",
        "junit" => junit(report),
        "sarif" => sarif(report) + "\n",
        "github" => github(report),
        _ => report.to_text(),
    }
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// Where a problem points: `file:line`, or the file, or the app.
fn location(problem: &Problem) -> String {
    match (&problem.file, problem.line) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        (Some(file), None) => file.clone(),
        (None, _) => format!("app {}", problem.app),
    }
}

/// JUnit XML: a suite per app; per app a case for each object with problems (deny problems
/// are failures, warnings go to the case's output) and one case for the app itself.
#[must_use]
pub fn junit(report: &CheckReport) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut suites = String::new();
    let mut total_cases = 0;
    let mut total_failures = 0;
    for app in &report.apps {
        let mut cases: BTreeMap<String, Vec<&Problem>> = BTreeMap::new();
        cases.entry(format!("app {}", app.name)).or_default();
        for object in &app.object_names {
            cases.entry(object.clone()).or_default();
        }
        for problem in report.problems.iter().filter(|p| p.app == app.name) {
            let key = problem
                .object
                .clone()
                .unwrap_or_else(|| format!("app {}", app.name));
            cases.entry(key).or_default().push(problem);
        }
        let failures = cases
            .values()
            .filter(|ps| ps.iter().any(|p| p.severity == Severity::Deny))
            .count();
        total_cases += cases.len();
        total_failures += failures;
        let _ = writeln!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
            xml_escape(&app.name),
            cases.len()
        );
        for (name, problems) in &cases {
            junit_case(&mut suites, app, name, problems);
        }
        suites.push_str("  </testsuite>\n");
    }
    let _ = writeln!(
        out,
        "<testsuites name=\"tether-agent check\" tests=\"{total_cases}\" failures=\"{total_failures}\" errors=\"0\">"
    );
    out.push_str(&suites);
    out.push_str("</testsuites>\n");
    out
}

/// One `<testcase>`: a failure listing the deny problems, the warnings as its output.
fn junit_case(out: &mut String, app: &CheckedApp, name: &str, problems: &[&Problem]) {
    let file = problems
        .iter()
        .find_map(|p| p.file.as_deref())
        .unwrap_or(&app.path);
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\"",
        xml_escape(&app.name),
        xml_escape(name),
        xml_escape(file)
    );
    if problems.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    let (denied, warned): (Vec<&Problem>, Vec<&Problem>) =
        problems.iter().partition(|p| p.severity == Severity::Deny);
    if let Some(first) = denied.first() {
        let body: Vec<String> = denied
            .iter()
            .map(|p| format!("{}: {}: {}", location(p), p.rule, p.message))
            .collect();
        let _ = writeln!(
            out,
            "      <failure message=\"{}\" type=\"{}\">{}</failure>",
            xml_escape(&first.message),
            xml_escape(&first.rule),
            xml_escape(&body.join("\n"))
        );
    }
    if !warned.is_empty() {
        let body: Vec<String> = warned
            .iter()
            .map(|p| format!("WARN {}: {}: {}", location(p), p.rule, p.message))
            .collect();
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            xml_escape(&body.join("\n"))
        );
    }
    out.push_str("    </testcase>\n");
}

/// SARIF 2.1.0: one run of the `tether-agent` driver, a rule per rule name, a result per
/// problem with its file and line.
#[must_use]
pub fn sarif(report: &CheckReport) -> String {
    let mut rules: Vec<&str> = report.problems.iter().map(|p| p.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let results: Vec<serde_json::Value> = report
        .problems
        .iter()
        .map(|p| {
            let index = rules.iter().position(|r| *r == p.rule).unwrap_or_default();
            let text = match &p.object {
                Some(object) => format!("{object}: {}", p.message),
                None => format!("app {}: {}", p.app, p.message),
            };
            let mut result = serde_json::json!({
                "ruleId": p.rule,
                "ruleIndex": index,
                "level": if p.severity == Severity::Deny { "error" } else { "warning" },
                "message": {"text": text},
            });
            if let Some(file) = &p.file {
                let mut physical = serde_json::json!({"artifactLocation": {"uri": file}});
                if let Some(line) = p.line {
                    physical["region"] = serde_json::json!({"startLine": line});
                }
                result["locations"] = serde_json::json!([{"physicalLocation": physical}]);
            }
            result
        })
        .collect();
    let rules: Vec<serde_json::Value> = rules
        .iter()
        .map(|r| serde_json::json!({"id": r, "shortDescription": {"text": r}}))
        .collect();
    let value = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "tether-agent",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// Escapes a workflow command's message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub workflow commands: `::error file=F,line=L,title=RULE::message` per problem
/// (`::warning` for warnings), then the summary line.
#[must_use]
pub fn github(report: &CheckReport) -> String {
    let mut out = String::new();
    for p in &report.problems {
        let level = if p.severity == Severity::Deny {
            "error"
        } else {
            "warning"
        };
        let mut properties = Vec::new();
        if let Some(file) = &p.file {
            properties.push(format!("file={}", escape_property(file)));
            if let Some(line) = p.line {
                properties.push(format!("line={line}"));
            }
        }
        properties.push(format!("title={}", escape_property(&p.rule)));
        let message = match &p.object {
            Some(object) => format!("{object}: {}", p.message),
            None => format!("app {}: {}", p.app, p.message),
        };
        let _ = writeln!(
            out,
            "::{level} {}::{}",
            properties.join(","),
            escape_data(&message)
        );
    }
    let s = report.summary();
    let _ = writeln!(
        out,
        "{} app(s), {} object(s) checked: {} violation(s), {} warning(s)",
        s.apps, s.objects, s.violations, s.warnings
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> CheckReport {
        let mut deny = Problem::new(
            Severity::Deny,
            "shop",
            Some("apps/shop/deploy.yaml".into()),
            "schema.invalid",
            "spec.replicas: expected integer, got string \"3, <4>\"\nnext".into(),
        );
        deny.line = Some(7);
        deny.object = Some("Deployment shop/web".into());
        let warn = Problem::new(
            Severity::Warn,
            "shop",
            None,
            "schema.missing",
            "50% done".into(),
        );
        CheckReport {
            apps: vec![CheckedApp {
                name: "shop".into(),
                path: "apps/shop".into(),
                namespace: None,
                objects: 2,
                object_names: vec!["Deployment shop/web".into()],
            }],
            problems: vec![deny, warn],
            diffs: Vec::new(),
        }
    }

    #[test]
    fn github_commands_escape_their_properties_and_messages() {
        let text = github(&report());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "::error file=apps/shop/deploy.yaml,line=7,title=schema.invalid::Deployment shop/web: spec.replicas: expected integer, got string \"3, <4>\"%0Anext"
        );
        assert_eq!(
            lines[1],
            "::warning title=schema.missing::app shop: 50%25 done"
        );
    }

    #[test]
    fn junit_escapes_xml_and_counts_failures() {
        let xml = junit(&report());
        assert!(
            xml.contains("<testsuites name=\"tether-agent check\" tests=\"2\" failures=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("got string &quot;3, &lt;4&gt;&quot;"), "{xml}");
        assert!(
            xml.contains("<system-out>WARN app shop: schema.missing: 50% done</system-out>"),
            "{xml}"
        );
    }
}
