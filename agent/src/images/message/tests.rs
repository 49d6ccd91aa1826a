use super::*;

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/acme/web:1.1.0 # {\"$imagepolicy\": \"flux-system:web\"}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - image: ghcr.io/acme/report:2.0.0 # {\"$imagepolicy\": \"flux-system:report\"}
";

fn changes() -> (Vec<Change>, BTreeMap<String, String>) {
    let change = |line, policy: &str, old: &str, new: &str| Change {
        file: "apps/shop.yaml".into(),
        line,
        policy: policy.into(),
        old: old.into(),
        new: new.into(),
    };
    (
        vec![
            change(
                8,
                "flux-system:web",
                "ghcr.io/acme/web:1.0.0",
                "ghcr.io/acme/web:1.1.0",
            ),
            change(
                20,
                "flux-system:report",
                "ghcr.io/acme/report:1.9.0",
                "ghcr.io/acme/report:2.0.0",
            ),
        ],
        BTreeMap::from([("apps/shop.yaml".to_owned(), DEPLOY.to_owned())]),
    )
}

fn run(template: &str) -> Result<String, String> {
    let (changes, files) = changes();
    render(template, ("flux-system", "shop"), &changes, &files)
}

/// The example of Flux's image-automation-controller documentation (ImageUpdateAutomation,
/// "Commit message template").
/// (`{{ end -}}` trims the blank line after the file list, as Go does.)
#[test]
fn fluxs_documented_example_lists_files_objects_and_changes() {
    let template = "Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
";
    assert_eq!(
        run(template).unwrap(),
        "Automated image update

Automation name: flux-system/shop

Files:
- apps/shop.yaml
Objects:
- CronJob report
  Changes:
    - ghcr.io/acme/report:1.9.0 -> ghcr.io/acme/report:2.0.0
- Deployment web
  Changes:
    - ghcr.io/acme/web:1.0.0 -> ghcr.io/acme/web:1.1.0
"
    );
}

#[test]
fn the_flat_list_the_setters_and_sprig_functions_are_there() {
    let template = "{{ len .Changed.Changes }} change(s) by {{ .AutomationObject.Name | upper }}
{{ range .Changed.Changes }}{{ print .OldValue }} -> {{ println .NewValue }}{{ end -}}
{{ range .Changed.Changes }}{{ .Setter }};{{ end }}";
    assert_eq!(
        run(template).unwrap(),
        "2 change(s) by SHOP
ghcr.io/acme/web:1.0.0 -> ghcr.io/acme/web:1.1.0
ghcr.io/acme/report:1.9.0 -> ghcr.io/acme/report:2.0.0
flux-system:web;flux-system:report;"
    );
}

#[test]
fn the_deprecated_updated_data_of_v1beta2_names_images_and_files() {
    let template = "[ci skip] {{ range .Updated.Images }}{{ .Repository }}={{ .Identifier }} {{ end }}
{{ range $file, $r := .Updated.Files }}{{ $file }}:{{ range $o, $_ := $r.Objects }} {{ $o.Namespace }}/{{ $o.Name }}{{ end }}{{ end }}";
    assert_eq!(
        run(template).unwrap(),
        "[ci skip] acme/web=1.1.0 acme/report=2.0.0 \napps/shop.yaml: shop/report shop/web"
    );
}

#[test]
fn a_broken_template_is_an_error_naming_the_field() {
    let err = run("{{ range .Changed.Changes }}").unwrap_err();
    assert!(err.starts_with("messageTemplate: "), "{err}");
    let err = run("{{ .Changed.Nope.Deeper }}").unwrap_err();
    assert!(err.starts_with("messageTemplate: "), "{err}");
    assert!(is_go_template("{{ .AutomationObject }}"));
    assert!(!is_go_template("bump {{automation}}\n\n{{changes}}"));
}
