//! The Helm template engine against the real `helm template` (helm 3.17 and helm 4.1).
//!
//! Every case in `tests/data/helm-template/*.cases` (`### name`, then the template text)
//! becomes one template file of one generated chart, with `values.yaml` beside the cases.
//! The chart is rendered once by each helm (`--debug`, so that helm prints every file as
//! rendered, valid YAML or not) and each file's output is compared with what the engine
//! renders for the same file. Cases marked `!error` must fail: each is rendered alone and
//! the error messages compared. Where helm 3 and helm 4 differ, the engine follows helm 3
//! and the test prints the differing cases.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use tether_agent::render::helm::template::{
    Environment, Limits, TemplateError, TemplateFile, TemplateSet, Value,
};
use tether_tests::peers::{peer_binary, workspace_root};

const CHART: &str = "c";

/// Cases where the engine knowingly differs from helm 3, with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "typeof-after-math",
    "Sprig's integer math returns int64 and template literals are int; the engine has one \
     integer type, so only `typeOf`/`kindOf`/`%T` of a math result differ (int, not int64)",
)];

struct Case {
    name: String,
    text: String,
    error: bool,
}

fn data_dir() -> PathBuf {
    workspace_root().join("tests/data/helm-template")
}

fn load_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("data dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cases"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("cases file");
        let mut current: Option<Case> = None;
        for line in text.split_inclusive('\n') {
            if let Some(head) = line.strip_prefix("### ") {
                if let Some(c) = current.take() {
                    cases.push(c);
                }
                let head = head.trim();
                let (name, error) = match head.strip_suffix("!error") {
                    Some(n) => (n.trim().to_owned(), true),
                    None => (head.to_owned(), false),
                };
                current = Some(Case {
                    name,
                    text: String::new(),
                    error,
                });
            } else if let Some(c) = current.as_mut() {
                c.text.push_str(line);
            }
        }
        cases.extend(current);
    }
    for c in &mut cases {
        if c.text.ends_with('\n') {
            c.text.pop();
        }
    }
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    cases
}

fn file_name(case: &str) -> String {
    format!("{CHART}/templates/{case}.yaml")
}

/// Each case's text, wrapped so that leading and trailing white space survive helm's
/// output and an empty result still prints.
fn wrapped(text: &str) -> String {
    format!("<<{text}>>")
}

fn write_chart(dir: &Path, cases: &[&Case]) {
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).expect("chart dir");
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )
    .expect("Chart.yaml");
    std::fs::copy(data_dir().join("values.yaml"), dir.join("values.yaml")).expect("values.yaml");
    for c in cases {
        std::fs::write(templates.join(format!("{}.yaml", c.name)), wrapped(&c.text))
            .expect("template");
    }
    // Invalid YAML, so that helm takes the path that prints every file as rendered.
    std::fs::write(templates.join("zz-invalid.yaml"), "<<a: b: c>>").expect("template");
}

/// Runs `helm template --debug` and returns each file's output (or the error line).
fn run_helm(helm: &str, dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let out = Command::new(peer_binary(helm))
        .args(["template", "r", "--namespace", "default", "--debug"])
        .arg(dir)
        .output()
        .expect("helm runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let marker = format!("---\n# Source: {CHART}/templates/");
    let mut files = BTreeMap::new();
    for chunk in stdout.split(&marker).skip(1) {
        let Some((name, rest)) = chunk.split_once('\n') else {
            continue;
        };
        let Some(body) = rest.strip_prefix("<<") else {
            continue;
        };
        let Some(end) = body.rfind(">>") else {
            continue;
        };
        files.insert(
            name.trim_end_matches(".yaml").to_owned(),
            body[..end].to_owned(),
        );
    }
    if files.is_empty() {
        let all = format!("{stderr}\n{stdout}");
        let line = all
            .lines()
            .find(|l| l.starts_with("Error: "))
            .unwrap_or("Error: (none)");
        return Err(line.trim_start_matches("Error: ").to_owned());
    }
    Ok(files)
}

fn values() -> Value {
    let text = std::fs::read_to_string(data_dir().join("values.yaml")).expect("values");
    let json =
        tether_agent::render::yaml::parse_one(&text, &Default::default()).expect("values parse");
    Value::from_json(&json)
}

fn top(values: &Value, case: &str) -> Value {
    let s = |x: &str| Value::String(Arc::from(x));
    let map = |pairs: Vec<(&str, Value)>| {
        Value::Map(Arc::new(
            pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ))
    };
    map(vec![
        ("Values", values.clone()),
        (
            "Release",
            map(vec![
                ("Name", s("r")),
                ("Namespace", s("default")),
                ("Service", s("Helm")),
                ("IsInstall", Value::Bool(true)),
                ("IsUpgrade", Value::Bool(false)),
                ("Revision", Value::Int(1)),
            ]),
        ),
        (
            "Chart",
            map(vec![("Name", s(CHART)), ("Version", s("0.1.0"))]),
        ),
        (
            "Template",
            map(vec![
                ("Name", s(&file_name(case))),
                ("BasePath", s(&format!("{CHART}/templates"))),
            ]),
        ),
    ])
}

fn engine(cases: &[&Case]) -> Result<TemplateSet, TemplateError> {
    let files = cases
        .iter()
        .map(|c| TemplateFile {
            name: file_name(&c.name),
            text: c.text.clone(),
        })
        .collect();
    TemplateSet::parse(files, Limits::default())
}

fn env() -> Environment {
    Environment {
        seed: [1; 32],
        now: 1_700_000_000,
        lookup: None,
    }
}

#[test]
fn engine_matches_helm_template() {
    let cases = load_cases();
    let ok: Vec<&Case> = cases.iter().filter(|c| !c.error).collect();
    let bad: Vec<&Case> = cases.iter().filter(|c| c.error).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    write_chart(dir.path(), &ok);
    let helm3 = run_helm("helm3", dir.path()).expect("helm3 renders the chart");
    let helm4 = run_helm("helm", dir.path()).expect("helm renders the chart");
    let vals = values();
    let known: BTreeMap<&str, &str> = KNOWN_DIFFERENCES.iter().copied().collect();
    let mut failures = Vec::new();
    let mut differ_3_4 = Vec::new();
    let mut passed = 0;
    for c in &ok {
        let want = helm3.get(&c.name).cloned().unwrap_or_default();
        if helm4.get(&c.name) != helm3.get(&c.name) {
            differ_3_4.push(c.name.clone());
        }
        let got = engine(&[c])
            .and_then(|set| set.execute(&file_name(&c.name), &top(&vals, &c.name), &env()))
            .unwrap_or_else(|e| format!("ERROR: {e}"));
        if got == want {
            passed += 1;
        } else if !known.contains_key(c.name.as_str()) {
            failures.push(format!(
                "{}:\n  helm3:  {want:?}\n  engine: {got:?}",
                c.name
            ));
        }
    }
    for c in &bad {
        let cdir = tempfile::tempdir().expect("tempdir");
        let ctemplates = cdir.path().join("templates");
        std::fs::create_dir_all(&ctemplates).expect("dir");
        std::fs::write(
            cdir.path().join("Chart.yaml"),
            "apiVersion: v2\nname: c\nversion: 0.1.0\n",
        )
        .expect("chart");
        std::fs::copy(
            data_dir().join("values.yaml"),
            cdir.path().join("values.yaml"),
        )
        .expect("values");
        std::fs::write(ctemplates.join(format!("{}.yaml", c.name)), &c.text).expect("template");
        let want3 = run_helm("helm3", cdir.path())
            .err()
            .unwrap_or_else(|| "(no error)".to_owned());
        let want4 = run_helm("helm", cdir.path())
            .err()
            .unwrap_or_else(|| "(no error)".to_owned());
        if want3 != want4 {
            differ_3_4.push(c.name.clone());
        }
        let set = engine(&[c]);
        let got = match set {
            Err(e) => e.to_string(),
            Ok(set) => match set.execute(&file_name(&c.name), &top(&vals, &c.name), &env()) {
                Ok(out) => format!("(no error) {out}"),
                Err(e) => e.to_string(),
            },
        };
        if got == want3 {
            passed += 1;
        } else if !known.contains_key(c.name.as_str()) {
            failures.push(format!("{}:\n  helm3:  {want3}\n  engine: {got}", c.name));
        }
    }
    println!(
        "helm template cases: {passed}/{} identical to helm 3",
        cases.len()
    );
    println!(
        "cases where helm 3 and helm 4 differ ({}): {differ_3_4:?}",
        differ_3_4.len()
    );
    assert!(
        failures.is_empty(),
        "{} cases differ from helm 3:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn render_one(text: &str, seed: u8) -> String {
    let set = TemplateSet::parse(
        vec![TemplateFile {
            name: "c/templates/t.yaml".to_owned(),
            text: text.to_owned(),
        }],
        Limits::default(),
    )
    .expect("parses");
    let env = Environment {
        seed: [seed; 32],
        now: 1_700_000_000,
        lookup: None,
    };
    set.execute("c/templates/t.yaml", &top(&values(), "t"), &env)
        .expect("renders")
}

fn openssl(args: &[&str], dir: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Random functions cannot match helm's output; they must be deterministic per seed and
/// produce what a real X.509 implementation accepts.
#[test]
fn generated_certificates_verify_and_are_deterministic_per_seed() {
    let text = r#"{{- $ca := genCA "tether-ca" 365 -}}
{{- $cert := genSignedCert "web" (list "10.0.0.7") (list "web.ns.svc" "web") 30 $ca -}}
{{ $ca.Cert }}SPLIT
{{ $cert.Cert }}SPLIT
{{ $cert.Key }}SPLIT
{{ uuidv4 }} {{ randAlphaNum 12 }} {{ bcrypt "pw" }}"#;
    let first = render_one(text, 3);
    assert_eq!(first, render_one(text, 3), "same seed, same output");
    assert_ne!(first, render_one(text, 4), "another seed, other keys");
    let parts: Vec<&str> = first.split("SPLIT\n").collect();
    assert_eq!(parts.len(), 4, "{first}");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ca.pem"), parts[0]).expect("write");
    std::fs::write(dir.path().join("cert.pem"), parts[1]).expect("write");
    std::fs::write(dir.path().join("key.pem"), parts[2]).expect("write");
    let verified = openssl(
        &[
            "verify",
            "-attime",
            "1700000100",
            "-CAfile",
            "ca.pem",
            "cert.pem",
        ],
        dir.path(),
    );
    assert!(verified.contains("cert.pem: OK"), "{verified}");
    let shown = openssl(&["x509", "-in", "cert.pem", "-noout", "-text"], dir.path());
    for want in [
        "CN = tether-ca",
        "CN = web",
        "DNS:web.ns.svc",
        "DNS:web",
        "IP Address:10.0.0.7",
        "TLS Web Server Authentication",
    ] {
        assert!(shown.contains(want), "{want} missing in:\n{shown}");
    }
    let ca = openssl(&["x509", "-in", "ca.pem", "-noout", "-text"], dir.path());
    assert!(ca.contains("CA:TRUE"), "{ca}");
    // The key belongs to the certificate.
    let cert_mod = openssl(
        &["x509", "-in", "cert.pem", "-noout", "-modulus"],
        dir.path(),
    );
    let key_mod = openssl(&["rsa", "-in", "key.pem", "-noout", "-modulus"], dir.path());
    assert_eq!(cert_mod, key_mod);
    let tail: Vec<&str> = parts[3].split(' ').collect();
    assert_eq!(tail[0].len(), 36);
    assert_eq!(tail[0].as_bytes()[14], b'4', "a version 4 UUID");
    assert_eq!(tail[1].len(), 12);
    assert!(
        tail[2].starts_with("$2a$10$") && tail[2].len() == 60,
        "{}",
        tail[2]
    );
}

/// `genPrivateKey` keys parse as the key types they claim.
#[test]
fn generated_private_keys_parse() {
    let out = render_one(
        r#"{{ genPrivateKey "ecdsa" }}SPLIT{{ genPrivateKey "ed25519" }}"#,
        5,
    );
    let (ec, ed) = out.split_once("SPLIT").expect("two keys");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ec.pem"), ec).expect("write");
    std::fs::write(dir.path().join("ed.pem"), ed).expect("write");
    let ec_text = openssl(&["ec", "-in", "ec.pem", "-noout", "-text"], dir.path());
    assert!(
        ec_text.contains("prime256v1") || ec_text.contains("P-256"),
        "{ec_text}"
    );
    let ed_text = openssl(&["pkey", "-in", "ed.pem", "-noout", "-text"], dir.path());
    assert!(ed_text.contains("ED25519"), "{ed_text}");
}
