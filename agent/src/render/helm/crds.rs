//! A chart's `crds/` files, in one of two forms: parsed into objects (to apply them, or to
//! hand them to Kustomize), or kept as text and printed as `helm template --include-crds`
//! prints them (`---\n# Source: NAME\nTEXT\n`, never parsed by helm). The text form is still
//! checked, from the parser's events and without building a tree: each file must be YAML
//! whose documents are mappings (or empty), within the depth and document bounds.

use super::chart::Chart;
use super::release::RenderedObject;
use super::{HelmError, clip};
use crate::render::yaml::{self, ParseOptions, YamlError};
use granit_parser::{Event, Parser, ScalarStyle};
use std::sync::Arc;

/// One `crds/` file of a chart or subchart, as it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct CrdFile {
    /// Helm's name for it (`chart/crds/x.yaml`, `chart/charts/sub/crds/y.yaml`).
    pub template: String,
    /// The file's bytes (shared with the loaded chart: not copied).
    pub data: Arc<Vec<u8>>,
}

impl CrdFile {
    /// Writes the file to `out` as `helm template` prints it: `---`, a `# Source:` line,
    /// the bytes as they are, a line break.
    ///
    /// # Errors
    /// When `out` fails.
    pub fn write_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.write_all(b"---\n# Source: ")?;
        out.write_all(self.template.as_bytes())?;
        out.write_all(b"\n")?;
        out.write_all(&self.data)?;
        out.write_all(b"\n")
    }
}

/// The chart's CRD files (its own, then its subcharts'), each parsed into its objects.
pub(super) fn objects(
    chart: &Chart,
    limits: &ParseOptions,
) -> Result<Vec<RenderedObject>, HelmError> {
    let mut out = Vec::new();
    for (template, file) in chart.crd_files() {
        let text = String::from_utf8_lossy(&file.data);
        let docs = yaml::parse_values(&text, limits).map_err(|e| invalid(chart, &template, &e))?;
        for value in docs.into_iter().filter(serde_json::Value::is_object) {
            out.push(RenderedObject {
                template: template.clone(),
                value,
            });
        }
    }
    Ok(out)
}

/// The chart's CRD files (its own, then its subcharts') as text, each checked.
pub(super) fn files(chart: &Chart, limits: &ParseOptions) -> Result<Vec<CrdFile>, HelmError> {
    let mut out = Vec::new();
    for (template, file) in chart.crd_files() {
        check(&String::from_utf8_lossy(&file.data), limits)
            .map_err(|e| invalid(chart, &template, &e))?;
        out.push(CrdFile {
            template,
            data: file.data.clone(),
        });
    }
    Ok(out)
}

fn invalid(chart: &Chart, template: &str, error: &YamlError) -> HelmError {
    HelmError::ManifestInvalid {
        chart: chart.name().to_owned(),
        template: template.to_owned(),
        reason: clip(&error.to_string()),
    }
}

/// Checks that `text` is YAML whose documents are mappings (or empty), nesting no deeper
/// than the limit and holding no more documents than the limit, from the parser's events
/// alone (no values are built; aliases are not expanded, so they cost nothing here).
fn check(text: &str, limits: &ParseOptions) -> Result<(), YamlError> {
    let mut parser_options = granit_parser::Options::default();
    parser_options.block_scalar_eof_without_line_feed = true;
    parser_options.set_emit_comments(false);
    let (mut depth, mut documents) = (0usize, 0usize);
    for event in Parser::new_from_str_with_options(text, parser_options) {
        let (event, _) = event.map_err(|e| YamlError::ParseFailed {
            message: e.to_string(),
        })?;
        // The document being read, from 0.
        let index = documents.saturating_sub(1);
        // A node outside any collection is a document's root: one per document.
        let root = depth == 0;
        match event {
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > limits.max_documents {
                    return Err(YamlError::ParseFailed {
                        message: format!("more than {} documents", limits.max_documents),
                    });
                }
            }
            Event::SequenceStart(..) if root => return Err(YamlError::NotAMapping { index }),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(YamlError::TooDeep {
                        index,
                        limit: limits.max_depth,
                    });
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            Event::Scalar(value, style, ..) if root => {
                let null = style == ScalarStyle::Plain
                    && matches!(&*value, "" | "~" | "null" | "Null" | "NULL");
                if !null {
                    return Err(YamlError::NotAMapping { index });
                }
            }
            Event::Alias(..) if root => return Err(YamlError::NotAMapping { index }),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(text: &str) -> Result<(), String> {
        check(text, &ParseOptions::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn mappings_empty_documents_and_comments_pass_the_check() {
        let text = "# a comment\n---\napiVersion: v1\nkind: CustomResourceDefinition\nspec:\n  versions: [{name: v1, schema: &s {type: object}}, {name: v2, schema: *s}]\n---\n---\n# only a comment\n---\n~\n...\n";
        assert_eq!(checked(text), Ok(()));
        assert_eq!(checked(""), Ok(()));
    }

    #[test]
    fn a_document_that_is_not_a_mapping_fails_the_check_by_index() {
        assert_eq!(
            checked("kind: A\n---\n- a\n- b\n"),
            Err("document 1 is not a mapping".to_owned())
        );
        assert_eq!(
            checked("just text\n"),
            Err("document 0 is not a mapping".to_owned())
        );
        assert_eq!(
            checked("kind: A\n---\n'null'\n"),
            Err("document 1 is not a mapping".to_owned())
        );
    }

    #[test]
    fn invalid_yaml_and_deep_nesting_fail_the_check() {
        let err = checked("kind: A\nspec: {a: [\n").err().unwrap_or_default();
        assert!(err.starts_with("invalid YAML: "), "{err}");
        assert!(err.contains("line"), "{err}");
        let deep = format!("a: {}1{}\n", "[".repeat(70), "]".repeat(70));
        assert_eq!(
            checked(&deep),
            Err("document 0 nests deeper than 64 levels".to_owned())
        );
    }

    #[test]
    fn a_crd_file_is_written_as_helm_template_prints_it() {
        let file = CrdFile {
            template: "top/charts/sub/crds/x.yaml".into(),
            data: Arc::new(b"# keep\nkind: A # as is\nspec:   {a: 1}".to_vec()),
        };
        let mut out = Vec::new();
        file.write_to(&mut out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&out),
            "---\n# Source: top/charts/sub/crds/x.yaml\n# keep\nkind: A # as is\nspec:   {a: 1}\n"
        );
    }
}
