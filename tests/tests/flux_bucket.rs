//! Flux `Bucket` sources: a HelmRelease's chart read from an S3 bucket served by moto (its
//! S3 API, with IAM authentication on, so every request must carry a valid Signature
//! Version 4 made with the Bucket's `secretRef` keys), with `prefix`, `ignore`, the bucket's
//! `.sourceignore` and Flux's default exclusions applied.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use tether_agent::render::flux_helm::git::GitSources;
use tether_agent::render::flux_helm::{self, NativeRenderer};
use tether_tests::peers::{Process, free_port, peer_binary, wait_for_port};

#[path = "shared/flux_context.rs"]
mod flux_context;
use flux_context::ctx;

const SETUP: &str = r#"
import boto3, json, sys
endpoint = sys.argv[1]
bootstrap = dict(endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam = boto3.client("iam", **bootstrap)
iam.create_user(UserName="flux")
iam.put_user_policy(UserName="flux", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="flux")["AccessKey"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
s3.create_bucket(Bucket="charts")
for line in sys.stdin.read().split("\0"):
    if line:
        path, body = line.split("\n", 1)
        s3.put_object(Bucket="charts", Key=path, Body=body.encode())
print(key["AccessKeyId"])
print(key["SecretAccessKey"])
"#;

const CHART: &str = "apiVersion: v2\nname: web\nversion: 0.4.0\n";
const TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\ndata:\n  colour: {{ .Values.colour | quote }}\n  logo: {{ .Files.Get \"files/logo.png\" | quote }}\n  note: {{ .Files.Get \"files/note.txt\" | quote }}\n";

/// moto with IAM authentication on (after the three bootstrap calls), a bucket `charts`
/// holding `files`, and the access keys of a user allowed to read it.
struct S3 {
    _process: Process,
    endpoint: String,
    access_key: String,
    secret_key: String,
    _dir: tempfile::TempDir,
}

fn start(files: &[(&str, &str)]) -> S3 {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut cmd = Command::new(peer_binary("moto_server"));
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", "3");
    let process = Process::spawn("moto_server", cmd, &dir.path().join("moto.log")).expect("moto");
    wait_for_port(port, Duration::from_secs(30)).expect("moto listens");
    let endpoint = format!("http://127.0.0.1:{port}");
    let script = dir.path().join("setup.py");
    std::fs::write(&script, SETUP).expect("write");
    let input: String = files
        .iter()
        .map(|(path, body)| format!("{path}\n{body}\0"))
        .collect();
    let mut child = Command::new(peer_binary("python"))
        .arg(&script)
        .arg(&endpoint)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("setup");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines = text.lines();
    let access_key = lines.next().expect("an access key").to_owned();
    let secret_key = lines.next().expect("a secret key").to_owned();
    S3 {
        _process: process,
        endpoint,
        access_key,
        secret_key,
        _dir: dir,
    }
}

fn bucket(s3: &S3, spec: Value) -> Value {
    let mut full = json!({"interval": "5m", "provider": "generic", "bucketName": "charts",
        "endpoint": s3.endpoint.trim_start_matches("http://"), "insecure": true,
        "region": "us-east-1", "secretRef": {"name": "s3-keys"}});
    for (key, value) in spec.as_object().expect("a map") {
        full[key] = value.clone();
    }
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket",
        "metadata": {"name": "charts", "namespace": "shop"}, "spec": full})
}

fn keys(access: &str, secret: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-keys", "namespace": "shop"},
        "stringData": {"accesskey": access, "secretkey": secret}})
}

fn release(values_files: &[&str]) -> Value {
    json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"interval": "10m", "chart": {"spec": {"chart": "./charts/web",
            "valuesFiles": values_files, "sourceRef": {"kind": "Bucket", "name": "charts"}}}}})
}

fn names(out: &[Value]) -> Vec<String> {
    out.iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn a_helm_release_chart_is_read_from_an_s3_bucket_with_signed_requests() {
    let s3 = start(&[
        (".sourceignore", "debug.yaml\n"),
        ("charts/web/Chart.yaml", CHART),
        ("charts/web/values.yaml", "colour: blue\n"),
        ("charts/web/templates/cm.yaml", TEMPLATE),
        (
            "charts/web/templates/debug.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: debug\n",
        ),
        (
            "charts/web/templates/extra.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n",
        ),
        ("charts/web/files/logo.png", "png-bytes"),
        ("charts/web/files/note.txt", "a note"),
        ("env/prod.yaml", "colour: green\n"),
    ]);
    let renderer = NativeRenderer;
    let run = |objects: Vec<Value>| {
        let git = GitSources::new(None, None);
        flux_helm::expand(objects, &ctx(&renderer, &git))
    };

    // The bucket's .sourceignore hides debug.yaml, the defaults the .png; the Bucket and the
    // Secret's keys are consumed (the Secret stays an app object).
    let out = run(vec![
        keys(&s3.access_key, &s3.secret_key),
        bucket(&s3, json!({})),
        release(&["charts/web/values.yaml", "env/prod.yaml"]),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        names(&out),
        ["Secret/s3-keys", "ConfigMap/web-cfg", "ConfigMap/extra"]
    );
    let data = &out[1]["data"];
    assert_eq!(data["colour"], "green");
    assert_eq!(
        (data["logo"].as_str(), data["note"].as_str()),
        (Some(""), Some("a note"))
    );

    // spec.ignore comes last; `prefix` lists only keys under it (env/ is then absent).
    let out = run(vec![
        keys(&s3.access_key, &s3.secret_key),
        bucket(
            &s3,
            json!({"ignore": "extra.yaml\n!*.png\n", "prefix": "charts/"}),
        ),
        release(&[]),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&out), ["Secret/s3-keys", "ConfigMap/web-cfg"]);
    assert_eq!(out[1]["data"]["logo"], "png-bytes");
    let err = run(vec![
        keys(&s3.access_key, &s3.secret_key),
        bucket(&s3, json!({"prefix": "charts/"})),
        release(&["env/prod.yaml"]),
    ])
    .expect_err("env/ is outside the prefix")
    .to_string();
    assert!(
        err.contains("HelmRelease shop/web") && err.contains("env/prod.yaml"),
        "{err}"
    );

    // A wrong secret key: moto refuses the signature; the error names the Bucket and the
    // operation and quotes neither key.
    let wrong = "wrong-secret-key-0d9a7c";
    let err = run(vec![
        keys(&s3.access_key, wrong),
        bucket(&s3, json!({})),
        release(&[]),
    ])
    .expect_err("a bad signature")
    .to_string();
    assert!(
        err.contains("Bucket shop/charts") && err.contains("charts") && err.contains("403"),
        "{err}"
    );
    assert!(
        !err.contains(wrong) && !err.contains(&s3.secret_key),
        "{err}"
    );

    // Without a secretRef the requests are anonymous: refused by moto's IAM.
    let mut anonymous = bucket(&s3, json!({}));
    anonymous["spec"]
        .as_object_mut()
        .expect("a map")
        .remove("secretRef");
    let err = run(vec![anonymous, release(&[])])
        .expect_err("anonymous")
        .to_string();
    assert!(err.contains("Bucket shop/charts"), "{err}");

    // Bad fields are named.
    for (spec, field) in [
        (json!({"provider": "gcp"}), "spec.provider"),
        (json!({"endpoint": ""}), "spec.endpoint"),
        (json!({"secretRef": {"name": "absent"}}), "spec.secretRef"),
        (json!({"sts": {"provider": "ldap"}}), "spec.sts"),
    ] {
        let err = run(vec![
            keys(&s3.access_key, &s3.secret_key),
            bucket(&s3, spec),
            release(&[]),
        ])
        .expect_err("a bad field")
        .to_string();
        assert!(
            err.contains("Bucket shop/charts") && err.contains(field),
            "{field}: {err}"
        );
    }
}

#[test]
fn a_bucket_source_reads_the_objects_as_a_snapshot_with_an_index_revision() {
    let s3 = start(&[
        ("apps/web/deploy.yaml", "kind: ConfigMap\n"),
        ("apps/web/logo.png", "png"),
        ("infra/ns.yaml", "kind: Namespace\n"),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let config = |prefix: &str, secret: &str, ignore: Option<&str>| {
        let mut config = tether_agent::source::SourceConfig::new(
            "platform",
            tether_agent::source::RedactedUrl::new(&s3.endpoint),
            tether_agent::source::Reference::branch("main").expect("a branch"),
            dir.path().join("cache"),
        );
        config.ignore = ignore.map(str::to_owned);
        config.bucket = Some(tether_agent::source::bucket::BucketSource {
            bucket: "charts".into(),
            region: String::new(),
            prefix: prefix.into(),
            credentials: Some(tether_agent::source::bucket::s3::S3Credentials {
                access_key: s3.access_key.clone(),
                secret_key: zeroize::Zeroizing::new(secret.to_owned()),
            }),
        });
        config
    };
    let sync = |config| rt.block_on(tether_agent::source::Source::new(config).sync());
    let has = |snapshot: &tether_agent::source::Snapshot, path: &str| {
        snapshot
            .tree
            .kind(&tether_agent::tree::RelPath::parse(path).expect("a path"))
            .expect("readable")
            .is_some()
    };

    let all = sync(config("", &s3.secret_key, None)).unwrap_or_else(|e| panic!("{e}"));
    assert!(all.revision.starts_with("sha256:"), "{}", all.revision);
    assert!(has(&all, "apps/web/deploy.yaml") && has(&all, "infra/ns.yaml"));
    // Flux's default exclusions apply to a bucket whatever the source's `ignore`.
    assert!(!has(&all, "apps/web/logo.png"));
    let again = sync(config("", &s3.secret_key, None)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        again.revision, all.revision,
        "the same objects, the same revision"
    );

    let apps =
        sync(config("apps/", &s3.secret_key, Some("!*.png\n"))).unwrap_or_else(|e| panic!("{e}"));
    assert!(has(&apps, "apps/web/deploy.yaml") && has(&apps, "apps/web/logo.png"));
    assert!(!has(&apps, "infra/ns.yaml"));
    assert_ne!(apps.revision, all.revision);

    let wrong = "wrong-secret-key-51c2";
    let err = sync(config("", wrong, None)).expect_err("a bad signature");
    assert_eq!(err.reason(), "BucketFailed");
    let text = err.to_string();
    assert!(
        text.contains("source platform") && text.contains("403"),
        "{text}"
    );
    assert!(
        !text.contains(wrong) && !text.contains(&s3.secret_key),
        "{text}"
    );
}
