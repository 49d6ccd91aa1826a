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

#[test]
fn nil_dot_of_include_is_no_value_but_nil_range_element_is_a_nil_pointer() {
    // helm3: `include` and `tpl` of nil print "[]" and ""; a nil element of a range is
    // a nil interface{}, whose field is an error through dot and through the variable.
    assert_eq!(
        render(
            "{{ define \"inc\" }}[{{ .y }}]{{ end }}{{ include \"inc\" .Values.x.missing }}\
             [{{ tpl \"{{ .y }}\" nil }}]"
        )
        .unwrap(),
        "[][]"
    );
    let v = serde_json::json!({"Values": {"l": [null]}});
    let dot = Value::from_json(&v);
    for text in [
        "{{ range $v := .Values.l }}{{ $v.y }}{{ end }}",
        "{{ range $i, $v := .Values.l }}{{ $v.y }}{{ end }}",
        "{{ range .Values.l }}{{ .y }}{{ end }}",
    ] {
        let e = render_dot(text, &dot).unwrap_err().to_string();
        assert!(
            e.contains("nil pointer evaluating interface {}.y"),
            "{text}: {e}"
        );
    }
    // Reassigned from a pipeline, the variable holds Go's invalid value again.
    assert_eq!(
        render_dot(
            "{{ range $v := .Values.l }}{{ $v = index $.Values \"none\" }}[{{ $v.y }}]{{ end }}",
            &dot
        )
        .unwrap(),
        "[]"
    );
}
