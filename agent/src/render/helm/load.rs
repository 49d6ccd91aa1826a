//! Loading a chart directory through [`Tree`], and building a chart and its subcharts from
//! a flat list of files (shared with archives), as Helm's loader does.

use super::HelmError;
use super::archive::{self, ArchiveLimits};
use super::chart::{Chart, ChartFile};
use super::ignore::IgnoreRules;
use crate::tree::{EntryKind, RelPath, Tree};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Deepest nesting of subcharts accepted (`charts/a/charts/b/...`).
pub(crate) const MAX_CHART_NESTING: usize = 16;

/// Most files one chart directory may hold (subcharts included).
const MAX_FILES: usize = 20_000;

/// Loads the chart in directory `dir` of `tree`: `.helmignore` applied, every file read
/// through the tree (so nothing outside the snapshot is read), `charts/` subdirectories and
/// `.tgz` archives loaded as subcharts.
pub fn load_dir(tree: &Tree, dir: &RelPath) -> Result<Chart, HelmError> {
    let label = dir.to_string();
    let read_err = |source| HelmError::ReadFailed {
        chart: label.clone(),
        source,
    };
    let ignore_path = dir.join(".helmignore").map_err(read_err)?;
    let rules = if tree.is_file(&ignore_path).map_err(read_err)? {
        let text = tree.read_to_string(&ignore_path).map_err(read_err)?;
        IgnoreRules::parse(&text).map_err(|reason| HelmError::InvalidChart {
            chart: label.clone(),
            file: ".helmignore".into(),
            reason,
        })?
    } else {
        IgnoreRules::parse("").map_err(|reason| HelmError::InvalidChart {
            chart: label.clone(),
            file: ".helmignore".into(),
            reason,
        })?
    };
    // Symlinks are followed inside the chart only: `.Files` never reads outside it.
    let real_dir = tree
        .resolve(dir)
        .map_err(read_err)?
        .map_or_else(|| dir.clone(), |(real, _)| real);
    let mut files = Vec::new();
    // (directory, its path inside the chart)
    let mut pending = vec![(dir.clone(), String::new())];
    while let Some((current, inner)) = pending.pop() {
        for entry in tree.list(&current).map_err(read_err)? {
            let name = if inner.is_empty() {
                entry.name.clone()
            } else {
                format!("{inner}/{}", entry.name)
            };
            let is_dir = entry.kind == EntryKind::Dir;
            if rules.ignored(&name, is_dir) {
                continue;
            }
            if let Some((real, _)) = tree.resolve(&entry.path).map_err(read_err)?
                && !real.starts_with(&real_dir)
            {
                return Err(HelmError::InvalidChart {
                    chart: label,
                    file: name,
                    reason: format!(
                        "a symlink to {real} leaves the chart's directory (.Files never reads outside the chart)"
                    ),
                });
            }
            if is_dir {
                pending.push((entry.path, name));
                continue;
            }
            let mut data = tree.read(&entry.path).map_err(read_err)?;
            if data.starts_with(b"\xef\xbb\xbf") {
                data.drain(..3);
            }
            files.push(ChartFile {
                name,
                data: Arc::new(data),
            });
            if files.len() > MAX_FILES {
                return Err(HelmError::LimitExceeded {
                    chart: label,
                    what: "the number of files",
                    limit: MAX_FILES,
                });
            }
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    build(&label, files, 0, &ArchiveLimits::default())
}

/// Builds a chart from its files, as Helm's `LoadFiles`: entries under `charts/` become
/// subcharts (a directory per name, or a `.tgz` archive); names starting with `_` or `.`
/// there are skipped, `.prov` files kept as files.
pub(crate) fn build(
    label: &str,
    files: Vec<ChartFile>,
    depth: usize,
    limits: &ArchiveLimits,
) -> Result<Chart, HelmError> {
    if depth > MAX_CHART_NESTING {
        return Err(HelmError::LimitExceeded {
            chart: label.to_owned(),
            what: "the nesting of subcharts",
            limit: MAX_CHART_NESTING,
        });
    }
    let mut own = Vec::new();
    let mut subs: BTreeMap<String, Vec<ChartFile>> = BTreeMap::new();
    for file in files {
        let Some(rest) = file.name.strip_prefix("charts/") else {
            own.push(file);
            continue;
        };
        if rest.ends_with(".prov") {
            own.push(file);
            continue;
        }
        let (cname, inner) = rest.split_once('/').unwrap_or((rest, ""));
        let (cname, inner) = (cname.to_owned(), inner.to_owned());
        subs.entry(cname).or_default().push(ChartFile {
            name: inner,
            data: file.data,
        });
    }
    let mut subcharts = Vec::new();
    for (cname, files) in subs {
        if cname.starts_with('_') || cname.starts_with('.') {
            continue;
        }
        let sub_label = format!("{label}/charts/{cname}");
        let chart = if cname.ends_with(".tgz") {
            let Some(file) = files.into_iter().find(|f| f.name.is_empty()) else {
                continue;
            };
            archive::load_nested(&sub_label, &file.data, depth + 1, limits)?
        } else {
            let files: Vec<ChartFile> = files.into_iter().filter(|f| !f.name.is_empty()).collect();
            build(&sub_label, files, depth + 1, limits)?
        };
        subcharts.push(chart);
    }
    Chart::from_files(label, own, subcharts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::FsTree;

    fn write(dir: &std::path::Path, name: &str, text: &str) {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn a_chart_directory_loads_with_subcharts_and_helmignore() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        write(
            d,
            "Chart.yaml",
            "apiVersion: v2\nname: top\nversion: 1.0.0\n",
        );
        write(d, "values.yaml", "a: 1\n");
        write(d, ".helmignore", "*.bak\n");
        write(d, "templates/cm.yaml", "kind: ConfigMap\n");
        write(d, "templates/_h.tpl", "{{ define \"x\" }}{{ end }}");
        write(d, "templates/old.bak", "junk");
        write(d, "files/a.txt", "hello");
        write(d, "crds/crd.yaml", "kind: CustomResourceDefinition\n");
        write(
            d,
            "charts/sub/Chart.yaml",
            "apiVersion: v1\nname: sub\nversion: 0.1.0\n",
        );
        write(
            d,
            "charts/sub/requirements.yaml",
            "dependencies:\n- name: x\n  version: 1.x\n",
        );
        write(d, "charts/_skip/Chart.yaml", "name: skipped\n");
        let tree = Tree::new(FsTree::new(d));
        let chart = load_dir(&tree, &RelPath::root()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(chart.name(), "top");
        assert_eq!(chart.values["a"], 1.0);
        let templates: Vec<&str> = chart.templates.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(templates, ["templates/_h.tpl", "templates/cm.yaml"]);
        let files: Vec<&str> = chart.files.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(files, [".helmignore", "crds/crd.yaml", "files/a.txt"]);
        assert_eq!(chart.dependencies.len(), 1);
        assert_eq!(chart.dependencies[0].metadata.dependencies[0].name, "x");
        assert_eq!(chart.crd_files()[0].0, "top/crds/crd.yaml");
    }

    #[test]
    fn a_chart_without_chart_yaml_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(dir.path(), "values.yaml", "a: 1\n");
        let tree = Tree::new(FsTree::new(dir.path()));
        let err = load_dir(&tree, &RelPath::root())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("chart .: Chart.yaml: Chart.yaml file is missing")
        );
    }
}
