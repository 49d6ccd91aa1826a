//! The validation of one app's rendered objects, as `check` and the daemon run it: the app's
//! own CRDs are added to the catalog first, objects the agent consumes itself (SealedSecrets,
//! ExternalSecrets and their stores: they become Secrets, they are never applied) are left
//! out, and every object that is not valid is returned.

use super::{Outcome, SchemaCatalog, SchemaError};
use crate::policy::ObjectRef;
use serde_json::Value;

/// An object that did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFinding {
    /// `Kind namespace/name`.
    pub object: String,
    /// The file it was rendered from, when known.
    pub file: Option<String>,
    /// Why: invalid fields or no schema.
    pub outcome: Outcome,
}

impl ObjectFinding {
    /// `Deployment shop/web: spec.replicas: expected integer, got string "three"; ...`.
    #[must_use]
    pub fn summary(&self) -> String {
        match &self.outcome {
            Outcome::Invalid(errors) => {
                let fields: Vec<String> = errors.iter().map(ToString::to_string).collect();
                format!("{}: {}", self.object, fields.join("; "))
            }
            Outcome::MissingSchema(gvk) => format!("{}: no schema for {gvk}", self.object),
            Outcome::Valid | Outcome::NotAnObject => self.object.clone(),
        }
    }
}

/// Whether the agent consumes `object` instead of applying it (its secrets stage turns it
/// into a Secret).
#[must_use]
pub fn is_consumed_by_agent(object: &Value) -> bool {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    api_version.starts_with("tether.dev/") || api_version.starts_with("external-secrets.io/")
}

/// Validates an app's objects (with the file each came from) against `catalog` and the CRDs
/// among them; returns the objects that are invalid or have no schema, in order.
pub fn validate_objects<'a>(
    catalog: &SchemaCatalog,
    objects: impl IntoIterator<Item = (&'a Value, Option<&'a str>)> + Clone,
) -> Result<Vec<ObjectFinding>, SchemaError> {
    let mut catalog = catalog.clone();
    catalog.add_crds(objects.clone().into_iter().map(|(o, _)| o));
    let mut findings = Vec::new();
    for (object, file) in objects {
        if is_consumed_by_agent(object) {
            continue;
        }
        let outcome = catalog.validate(object)?;
        if matches!(outcome, Outcome::Invalid(_) | Outcome::MissingSchema(_)) {
            findings.push(ObjectFinding {
                object: ObjectRef::of(object).to_string(),
                file: file.map(str::to_owned),
                outcome,
            });
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Gvk, SchemaOptions};
    use serde_json::json;

    #[test]
    fn an_apps_crds_validate_its_custom_resources_and_consumed_kinds_are_skipped() {
        let catalog = SchemaCatalog::new(&SchemaOptions::default()).expect("catalog");
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema":
                    {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}});
        let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "shop"}, "spec": {"size": "big"}});
        let gadget =
            json!({"apiVersion": "example.org/v1", "kind": "Gadget", "metadata": {"name": "g"}});
        let sealed = json!({"apiVersion": "tether.dev/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "s"}});
        let objects = [
            (&crd, Some("crd.yaml")),
            (&widget, Some("widget.yaml")),
            (&gadget, None),
            (&sealed, None),
        ];
        let findings = validate_objects(&catalog, objects).expect("validates");
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert_eq!(
            findings[0].summary(),
            "Widget shop/w: spec.size: expected integer, got string \"big\""
        );
        assert_eq!(findings[0].file.as_deref(), Some("widget.yaml"));
        assert_eq!(
            findings[1].outcome,
            Outcome::MissingSchema(Gvk::new("example.org", "v1", "Gadget"))
        );
    }
}
