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

/// A stand-in for Helm's `.Capabilities.APIVersions` (a field and a method).
struct ApiVersions;

impl Object for ApiVersions {
    fn type_name(&self) -> &str {
        "chartutil.VersionSet"
    }
    fn field(&self, name: &str) -> Option<Value> {
        (name == "Count").then_some(Value::Int(2))
    }
    fn call(&self, method: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match (method, args) {
            ("Has", [Value::String(s)]) => Some(Ok(Value::Bool(&**s == "apps/v1"))),
            ("Has", _) => Some(Err("Has takes one string".to_owned())),
            _ => None,
        }
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

#[test]
fn objects_expose_fields_and_methods() {
    let dot = Value::map(
        [("Api".to_owned(), Value::object(ApiVersions))]
            .into_iter()
            .collect(),
    );
    assert_eq!(
        render_dot(
            "{{ .Api.Count }} {{ .Api.Has \"apps/v1\" }} {{ .Api.Has \"x/v1\" }}",
            &dot
        )
        .unwrap(),
        "2 true false"
    );
    let e = render_dot("{{ .Api.Nope }}", &dot).unwrap_err().to_string();
    assert!(
        e.ends_with("can't evaluate field Nope in type chartutil.VersionSet"),
        "{e}"
    );
    let e = render_dot("{{ .Api.Has 1 }}", &dot)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("error calling Has: Has takes one string"),
        "{e}"
    );
}

#[test]
fn set_through_one_variable_is_seen_through_another_and_across_templates() {
    let files = vec![
        TemplateFile {
            name: "a".into(),
            text: "{{ $v := .Values }}{{ $_ := set $v \"added\" 1 }}{{ .Values.added }}".into(),
        },
        TemplateFile {
            name: "b".into(),
            text: "{{ .Values.added }}".into(),
        },
    ];
    let set = TemplateSet::parse(files, Limits::default()).unwrap();
    let dot = values();
    assert_eq!(set.execute("a", &dot, &env()).unwrap(), "1");
    // Helm's templates share their values: a change made by one is seen by the next.
    assert_eq!(set.execute("b", &dot, &env()).unwrap(), "1");
    // A dict that holds itself does not loop.
    assert_eq!(
        render("{{ $d := dict }}{{ $_ := set $d \"me\" $d }}{{ len $d }}").unwrap(),
        "1"
    );
}

#[test]
fn a_change_inside_maps_read_before_is_seen_through_every_holder() {
    // helm3 template prints the same: maps are shared, whoever reads them after a change.
    let text = "{{ $outer := dict \"inner\" (dict \"x\" 1) }}{{ $o2 := $outer }}\
                {{ $b := dict \"k\" $outer.inner }}{{ $i := $outer.inner }}{{ $o2.inner.x }} \
                {{ $_ := set $i \"x\" 2 }}{{ $o2.inner.x }}{{ $b.k.x }} \
                {{ $_ := set $outer.inner \"y\" 3 }}{{ $o2.inner.y }}{{ $b.k.y }}{{ $i.x }} \
                {{ $_ := set $o2 \"z\" 4 }}{{ $outer.z }}{{ len $b.k }}";
    assert_eq!(render(text).unwrap(), "1 22 332 42");
}

#[test]
fn tpl_defines_stay_inside_the_tpl_call() {
    let out = render("{{ tpl \"{{ define \\\"in\\\" }}I{{ end }}{{ include \\\"in\\\" . }}\" . }}")
        .unwrap();
    assert_eq!(out, "I");
    let e = render("{{ tpl \"{{ define \\\"in\\\" }}I{{ end }}\" . }}{{ include \"in\" . }}")
        .unwrap_err();
    assert!(e.to_string().contains("no template \"in\""), "{e}");
}

#[test]
fn parse_errors_name_file_and_line() {
    let e = render("ok\n{{ if }}").unwrap_err();
    assert!(matches!(e, TemplateError::Parse { line: 2, .. }), "{e}");
    let e = render("{{ nosuch 1 }}").unwrap_err().to_string();
    assert_eq!(
        e,
        "parse error at (c/templates/t.yaml:1): function \"nosuch\" not defined"
    );
    let e = render("{{ range .Values.l }}").unwrap_err();
    assert!(matches!(e, TemplateError::Parse { .. }), "{e}");
}

#[test]
fn to_yaml_follows_go_yaml() {
    let v = serde_json::json!({"b": [1, {"c": "yes"}], "a": "multi\nline\n", "a10": 1.5, "a9": null, "k": "1:20"});
    let out = yaml::to_yaml(&Value::from_json(&v));
    assert_eq!(
        out,
        "a: |\n  multi\n  line\na9: null\na10: 1.5\nb:\n- 1\n- c: \"yes\"\nk: \"1:20\""
    );
}

#[test]
fn deep_include_recursion_at_the_default_bound_fails_cleanly() {
    // On a test thread's small stack: the default bound must fail before the stack does.
    let text = "{{ define \"x\" }}{{ include \"x\" . | nindent 2 }}{{ end }}{{ include \"x\" . }}";
    let e = render(text).unwrap_err();
    assert!(matches!(e, TemplateError::Limit(_)), "{e}");
    assert!(e.to_string().contains("exceeds 1000"), "{e}");
}

#[test]
fn deeply_nested_values_built_in_a_loop_render() {
    let text = "{{ $d := dict }}{{ range until 3000 }}{{ $d = dict \"a\" $d }}{{ end }}{{ len (toYaml $d) }} {{ len (toJson $d) }} {{ len (print $d) }}";
    let out = render(text).unwrap();
    // As helm 3.17 prints it.
    assert_eq!(out, "9006002 18002 21005");
    // Indented YAML of a deep value grows with the square of its depth: bounded.
    let e = render_with(
        text,
        Limits {
            max_output: 1 << 20,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, TemplateError::Limit(_)), "{e}");
}
