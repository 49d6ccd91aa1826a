//! Bad ExternalSecrets: every unsupported or malformed field is refused before any read,
//! naming the ExternalSecret and the field.

use std::sync::Arc;

use serde_json::{Value, json};
use tether_agent::secrets::{self, KeyRing, StaticCredentials, Stores};

use crate::failure;
use crate::manifests::{context, external, remote, shop, vault_store};

#[tokio::test]
async fn bad_fields_are_refused_naming_the_external_secret_and_the_field() {
    let ctx = context(
        KeyRing::new(),
        Stores::new(Arc::new(StaticCredentials::new())),
    );
    let store = vault_store(
        "vault",
        "http://127.0.0.1:9",
        "secret",
        "v2",
        json!({"tokenSecretRef": {"name": "t", "key": "t"}}),
    );
    let cases = cases();
    let mut objects = vec![store];
    for (name, spec, _) in &cases {
        let mut es = external(name, "vault", "1h", spec.clone());
        if name == &"too-fast" {
            es["spec"]["refreshInterval"] = json!("500ms");
        }
        objects.push(es);
    }
    let out = secrets::resolve(&shop(), objects, &ctx).await;
    for (name, _, field) in &cases {
        let f = failure(&out, &format!("ExternalSecret shop/{name}"));
        let message = f.error.to_string();
        assert!(
            message.starts_with(&format!("ExternalSecret shop/{name}: {field}")),
            "{name}: {message}"
        );
        assert_eq!(f.error.reason(), "InvalidObject", "{message}");
    }
    assert_eq!(out.failures.len(), cases.len(), "{}", out.message());
}

/// `(ExternalSecret name, spec, the field its error must name)`.
fn cases() -> Vec<(&'static str, Value, &'static str)> {
    let mut all = data_from_cases();
    all.extend(target_cases());
    all
}

/// Bad `data`, `dataFrom`, `find` and `rewrite` fields.
fn data_from_cases() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "typo",
            json!({"dataFrom": [{"find": {"nmae": {"regexp": "x"}}}]}),
            "spec.dataFrom[0].find.nmae",
        ),
        (
            "no-criteria",
            json!({"dataFrom": [{"find": {"path": "shop"}}]}),
            "spec.dataFrom[0].find",
        ),
        (
            "bad-regexp",
            json!({"dataFrom": [{"find": {"name": {"regexp": "(x"}}}]}),
            "spec.dataFrom[0].find.name.regexp",
        ),
        (
            "bad-rewrite",
            json!({"dataFrom": [{"extract": {"key": "shop/a"}, "rewrite": [{"regexp": {"source": "[", "target": "x"}}]}]}),
            "spec.dataFrom[0].rewrite[0].regexp.source",
        ),
        (
            "empty-rewrite",
            json!({"dataFrom": [{"extract": {"key": "shop/a"}, "rewrite": [{}]}]}),
            "spec.dataFrom[0].rewrite[0]",
        ),
        (
            "bad-decoding",
            json!({"dataFrom": [{"find": {"name": {"regexp": "x"}, "decodingStrategy": "Hex"}}]}),
            "spec.dataFrom[0].find.decodingStrategy",
        ),
        (
            "bad-conversion",
            json!({"dataFrom": [{"extract": {"key": "shop/a", "conversionStrategy": "Ascii"}}]}),
            "spec.dataFrom[0].extract.conversionStrategy",
        ),
    ]
}

/// Bad `target` and `refreshInterval` fields.
fn target_cases() -> Vec<(&'static str, Value, &'static str)> {
    let data = json!([remote("a", "shop/a", None, None)]);
    let template = |t: Value| json!({"data": data, "target": {"template": t}});
    vec![
        (
            "unknown-function",
            template(json!({"data": {"x": "{{ .a | htpasswd }}"}})),
            "spec.target.template.data.x",
        ),
        (
            "unclosed-range",
            template(json!({"data": {"x": "{{ range . }}x"}})),
            "spec.target.template.data.x",
        ),
        (
            "define",
            template(json!({"data": {"x": "{{ define \"y\" }}{{ end }}"}})),
            "spec.target.template.data.x",
        ),
        (
            "v1-engine",
            template(json!({"engineVersion": "v1"})),
            "spec.target.template.engineVersion",
        ),
        (
            "annotations",
            template(json!({"templateFrom": [{"target": "Annotations", "literal": "a: b"}]})),
            "spec.target.template.templateFrom[0].target",
        ),
        (
            "templated-label",
            template(json!({"metadata": {"labels": {"l": "{{ .a }}"}}})),
            "spec.target.template.metadata.labels.l",
        ),
        (
            "no-items",
            template(json!({"templateFrom": [{"configMap": {"name": "c"}}]})),
            "spec.target.template.templateFrom[0].configMap.items",
        ),
        (
            "bad-scope",
            template(
                json!({"templateFrom": [{"configMap": {"name": "c", "items": [{"key": "k", "templateAs": "Keys"}]}}]}),
            ),
            "spec.target.template.templateFrom[0].configMap.items[0].templateAs",
        ),
        (
            "bad-merge",
            template(json!({"mergePolicy": "Append"})),
            "spec.target.template.mergePolicy",
        ),
        (
            "too-fast",
            json!({"data": data, "refreshInterval": "500ms"}),
            "spec.refreshInterval",
        ),
        (
            "source-ref",
            json!({"dataFrom": [{"sourceRef": {"generatorRef": {"name": "g"}}}]}),
            "spec.dataFrom[0].sourceRef",
        ),
        (
            "deletion",
            json!({"data": data, "target": {"deletionPolicy": "Delete"}}),
            "spec.target.deletionPolicy",
        ),
    ]
}
