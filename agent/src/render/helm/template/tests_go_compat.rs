//! Unit tests of Go `text/template` behaviours found missing by rendering real charts.

use super::*;

fn env() -> Environment {
    Environment {
        seed: [7; 32],
        now: 1_700_000_000,
        lookup: None,
    }
}

fn render_dot(text: &str, dot: &Value) -> Result<String, TemplateError> {
    let set = TemplateSet::parse(
        vec![TemplateFile {
            name: "t".into(),
            text: text.into(),
        }],
        Limits::default(),
    )?;
    set.execute("t", dot, &env())
}

fn render(text: &str) -> Result<String, TemplateError> {
    let v = serde_json::json!({"Values": {"x": {"a": 1}, "n": null}});
    render_dot(text, &Value::from_json(&v))
}

#[test]
fn number_literals_parse_in_every_go_form() {
    // What helm3 template prints for the same literals.
    assert_eq!(
        render(
            "{{ 0x1p60 }} {{ 0x10 }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ .5 }} {{ 1e3 }} \
             {{ 017 }} {{ 1.5e3 }} {{ 0X1P-2 }} {{ 0x_1F }} {{ -0x1.8p1 }}"
        )
        .unwrap(),
        "1.152921504606847e+18 16 15 5 1000 0.5 1000 15 1500 0.25 31 -3"
    );
    assert!(render("{{ 0x1p }}").is_err());
    assert!(render("{{ 0xp1 }}").is_err());
}

#[test]
fn field_of_a_nil_pipeline_or_variable_is_no_value() {
    // helm3 prints "" for each of these (Go's invalid value, not a nil pointer error).
    assert_eq!(
        render(
            "[{{ (.Values.x.missing).y }}][{{ (.Values.x.missing).y.z }}]\
             [{{ $v := .Values.x.missing }}{{ $v.y }}][{{ (index .Values \"n\").y }}]"
        )
        .unwrap(),
        "[][][][]"
    );
    // A nil map value reached through a field chain is still a nil pointer in Go.
    let e = render("{{ .Values.x.missing.y }}").unwrap_err().to_string();
    assert!(e.contains("nil pointer evaluating interface {}.y"), "{e}");
    let e = render("{{ (.Values.x).missing.y }}")
        .unwrap_err()
        .to_string();
    assert!(e.contains("nil pointer evaluating interface {}.y"), "{e}");
}

#[test]
fn regex_functions_accept_go_class_syntax() {
    // helm3 prints "true false a-b.c": `-` after `\w` in a class is a literal in Go.
    assert_eq!(
        render(
            r#"{{ regexMatch "^[\\w-\\.]+$" "a-b.c" }} {{ regexMatch "^[\\w-\\.]+$" "a b" }} {{ regexFind "[\\w-\\.]+" "a-b.c d" }}"#
        )
        .unwrap(),
        "true false a-b.c"
    );
    // helm3 prints "true false true false true true true".
    assert_eq!(
        render(
            r#"{{ regexMatch "^[\x41-\x5A-z]+$" "A-z" }} {{ regexMatch "^[\x41-\x5A-z]+$" "b" }} {{ regexMatch "^[a-c-e]+$" "a-e" }} {{ regexMatch "^[a-c-e]+$" "d" }} {{ regexMatch "^a{$" "a{" }} {{ regexMatch "^[a&&b]+$" "&" }} {{ regexMatch "^[a[b]+$" "[" }}"#
        )
        .unwrap(),
        "true false true false true true true"
    );
}
