//! Dependencies as Helm processes them before a render: `alias`, `tags`, `condition` (the
//! first path that resolves to a bool wins), disabled subcharts removed, then
//! `import-values` (both forms) merged into the parent's values, bottom-up.

use super::HelmError;
use super::chart::{Chart, Dependency};
use super::values::{coalesce, coalesce_tables, path_value, table};
use serde_json::{Map, Value};

/// Helm's `ProcessDependenciesWithMerge`: enables, aliases and removes subcharts for the
/// user's `values`, then imports values.
pub(crate) fn process(chart: &mut Chart, values: &Map<String, Value>) -> Result<(), HelmError> {
    process_enabled(chart, values, "", 0)?;
    process_imports(chart)
}

fn process_enabled(
    chart: &mut Chart,
    values: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> Result<(), HelmError> {
    if chart.metadata.dependencies.is_empty() || depth > super::load::MAX_CHART_NESTING {
        return Ok(());
    }
    let existing = std::mem::take(&mut chart.dependencies);
    let mut deps: Vec<Chart> = Vec::new();
    for sub in &existing {
        let declared =
            chart.metadata.dependencies.iter().any(|req| {
                req.name == sub.name() && compatible(&req.version, &sub.metadata.version)
            });
        if !declared {
            deps.push(sub.clone());
        }
    }
    for req in &mut chart.metadata.dependencies {
        let found = existing
            .iter()
            .find(|c| c.name() == req.name && compatible(&req.version, &c.metadata.version));
        if let Some(found) = found {
            let mut copy = found.clone();
            if !req.alias.is_empty() {
                copy.metadata.name.clone_from(&req.alias);
            }
            deps.push(copy);
        }
        if !req.alias.is_empty() {
            req.name.clone_from(&req.alias);
        }
        req.enabled = true;
    }
    chart.dependencies = deps;
    let cvals = coalesce(chart, values.clone(), false)?;
    apply_tags(&mut chart.metadata.dependencies, &cvals);
    apply_conditions(&mut chart.metadata.dependencies, &cvals, path);
    let disabled: Vec<String> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !d.enabled)
        .map(|d| d.name.clone())
        .collect();
    chart
        .dependencies
        .retain(|c| !disabled.iter().any(|n| n == c.name()));
    chart
        .metadata
        .dependencies
        .retain(|d| !disabled.contains(&d.name));
    for sub in &mut chart.dependencies {
        let subpath = format!("{path}{}.", sub.name());
        process_enabled(sub, &cvals, &subpath, depth + 1)?;
    }
    Ok(())
}

fn apply_tags(deps: &mut [Dependency], cvals: &Map<String, Value>) {
    let Some(Value::Object(tags)) = cvals.get("tags") else {
        return;
    };
    for dep in deps {
        let (mut has_true, mut has_false) = (false, false);
        for tag in &dep.tags {
            match tags.get(tag) {
                Some(Value::Bool(true)) => has_true = true,
                Some(Value::Bool(false)) => has_false = true,
                _ => {}
            }
        }
        dep.enabled = has_true || !has_false;
    }
}

fn apply_conditions(deps: &mut [Dependency], cvals: &Map<String, Value>, path: &str) {
    for dep in deps {
        for condition in dep.condition.trim().split(',') {
            if condition.is_empty() {
                continue;
            }
            if let Some(Value::Bool(enabled)) = path_value(cvals, &format!("{path}{condition}")) {
                dep.enabled = *enabled;
                break;
            }
        }
    }
}

fn process_imports(chart: &mut Chart) -> Result<(), HelmError> {
    for sub in &mut chart.dependencies {
        process_imports(sub)?;
    }
    if chart.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let cvals = coalesce(chart, Map::new(), true)?;
    let mut imported = Map::new();
    for dep in &chart.metadata.dependencies {
        for spec in &dep.import_values {
            let (child, parent) = match spec {
                Value::String(name) => (format!("exports.{name}"), ".".to_owned()),
                Value::Object(map) => (text(map.get("child")), text(map.get("parent"))),
                _ => continue,
            };
            let Some(found) = table(&cvals, &format!("{}.{child}", dep.name)) else {
                tracing::debug!(
                    chart = chart.name(),
                    dependency = dep.name,
                    child,
                    "import-values: missing table"
                );
                continue;
            };
            let mut piece = found.clone();
            if parent != "." {
                for part in parent.rsplit('.') {
                    let mut outer = Map::new();
                    outer.insert(part.to_owned(), Value::Object(piece));
                    piece = outer;
                }
            }
            coalesce_tables(&mut imported, &piece, true);
        }
    }
    let mut values = cvals;
    coalesce_tables(&mut values, &imported, true);
    chart.values = values;
    Ok(())
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Whether `version` satisfies the constraint, as Helm's `IsCompatibleRange` (Masterminds
/// semver, [`crate::semver`]): a constraint or version that does not parse matches nothing.
pub(crate) fn compatible(constraint: &str, version: &str) -> bool {
    let (Ok(constraint), Ok(version)) = (
        crate::semver::Constraint::parse(constraint.trim()),
        crate::semver::Version::parse(version.trim()),
    ) else {
        return false;
    };
    constraint.matches(&version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ranges_match_as_helm_matches_them() {
        assert!(compatible("2.x.x", "2.31.4"));
        assert!(compatible("~1.2.0", "1.2.9"));
        assert!(!compatible("~1.2.0", "1.3.0"));
        assert!(compatible("^0.2.3", "0.2.9"));
        assert!(!compatible("^0.2.3", "0.3.0"));
        assert!(compatible(">=1.0.0 <2.0.0", "1.5.0"));
        assert!(compatible(">= 1.0.0, < 2", "1.5.0"));
        assert!(compatible("1.2.3", "1.2.3"));
        assert!(!compatible("1.2.3", "1.2.4"));
        assert!(compatible("*", "3.0.0"));
        assert!(compatible("1.0.0 - 2.0.0", "1.9.0"));
        assert!(compatible("<1 || >=3", "3.1.0"));
        assert!(!compatible("", "1.0.0"));
        assert!(compatible("6.0.*", "6.0.3"));
        assert!(compatible("1.2", "1.2.0"));
    }
}
