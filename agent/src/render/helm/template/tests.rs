//! Unit tests of the engine: language, printing, bounds and error messages.

use super::*;

fn env() -> Environment {
    Environment {
        seed: [7; 32],
        now: 1_700_000_000,
        lookup: None,
    }
}

fn values() -> Value {
    let v: serde_json::Value = serde_json::json!({
        "Values": {"m": {"b": 2, "a": 1}, "l": [1, 2, 3], "s": "hello", "big": 1000000, "f": 3.5, "n": null}
    });
    Value::from_json(&v)
}

fn render(text: &str) -> Result<String, TemplateError> {
    render_with(text, Limits::default())
}

fn render_with(text: &str, limits: Limits) -> Result<String, TemplateError> {
    let set = TemplateSet::parse(
        vec![TemplateFile {
            name: "c/templates/t.yaml".into(),
            text: text.into(),
        }],
        limits,
    )?;
    set.execute("c/templates/t.yaml", &values(), &env())
}

#[test]
fn prints_values_as_go_does() {
    assert_eq!(
        render("{{ .Values.m }} {{ .Values.l }} {{ .Values.big }} {{ .Values.f }}").unwrap(),
        "map[a:1 b:2] [1 2 3] 1e+06 3.5"
    );
    assert_eq!(
        render("[{{ .Values.n }}][{{ .Values.nope }}][{{ printf \"%v\" .Values.n }}]").unwrap(),
        "[][][<nil>]"
    );
}

#[test]
fn trims_and_controls() {
    assert_eq!(render("a  {{- \"b\" -}}  c").unwrap(), "abc");
    assert_eq!(
        render("{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}").unwrap(),
        "a=1;b=2;"
    );
    assert_eq!(
        render("{{ range .Values.l }}{{ if eq . 2.0 }}{{ break }}{{ end }}{{ . }}{{ end }}")
            .unwrap(),
        "1"
    );
    assert_eq!(
        render("{{ with .Values.nope }}a{{ else with .Values.s }}{{ . }}{{ end }}").unwrap(),
        "hello"
    );
    assert_eq!(
        render("{{ define \"x\" }}X{{ . }}{{ end }}{{ include \"x\" 1 | quote }}").unwrap(),
        "\"X1\""
    );
}

#[test]
fn errors_name_template_line_and_node() {
    let e = render("a\n{{ eq 1 2.0 }}").unwrap_err().to_string();
    assert_eq!(
        e,
        "template: c/templates/t.yaml:2:3: executing \"c/templates/t.yaml\" at <eq 1 2.0>: error calling eq: incompatible types for comparison"
    );
    let e = render("{{ required \"x is required\" .Values.nope }}")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "execution error at (c/templates/t.yaml:1:3): x is required"
    );
    let e = render("{{ .Values.nope.x }}").unwrap_err().to_string();
    assert!(
        e.ends_with("at <.Values.nope.x>: nil pointer evaluating interface {}.x"),
        "{e}"
    );
}

#[test]
fn include_loops_are_bounded() {
    let e = render_with(
        "{{ define \"x\" }}{{ include \"x\" . }}{{ end }}{{ include \"x\" . }}",
        Limits {
            max_depth: 50,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, TemplateError::Limit(_)), "{e}");
    assert!(e.to_string().contains("exceeds 50"), "{e}");
}

#[test]
fn output_size_is_bounded() {
    let e = render_with(
        "{{ range until 1000 }}xxxxxxxxxx{{ end }}",
        Limits {
            max_output: 5000,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, TemplateError::Limit(_)), "{e}");
}

#[test]
fn steps_are_bounded() {
    let e = render_with(
        "{{ range until 100000 }}{{ end }}",
        Limits {
            max_steps: 1000,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, TemplateError::Limit(_)), "{e}");
}

#[test]
fn random_functions_are_deterministic_per_seed() {
    let a = render("{{ randAlphaNum 16 }}").unwrap();
    let b = render("{{ randAlphaNum 16 }}").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 16);
    let set = TemplateSet::parse(
        vec![TemplateFile {
            name: "t".into(),
            text: "{{ randAlphaNum 16 }}".into(),
        }],
        Limits::default(),
    )
    .unwrap();
    let other = set
        .execute(
            "t",
            &values(),
            &Environment {
                seed: [8; 32],
                now: 0,
                lookup: None,
            },
        )
        .unwrap();
    assert_ne!(a, other);
}
