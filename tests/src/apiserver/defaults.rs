//! The defaults the real server fills in on every write, where they matter for drift
//! detection (the `SetDefaults_*` functions of the built-in API groups). Each default only
//! fills a field that is absent, so defaulting is idempotent.

use base64::Engine;
use serde_json::{Map, Value, json};

/// Allocates Service cluster IPs (from 10.96.0.0/12) and node ports (30000-32767).
#[derive(Debug)]
pub struct Allocator {
    next_ip: u32,
    next_node_port: u32,
}

impl Default for Allocator {
    fn default() -> Self {
        // 10.96.0.1 is the `kubernetes` Service on a real cluster; start after it.
        Self {
            next_ip: (10 << 24) | (96 << 16) | 10,
            next_node_port: 30_000,
        }
    }
}

impl Allocator {
    fn cluster_ip(&mut self) -> String {
        let ip = self.next_ip;
        self.next_ip += 1;
        if self.next_ip >= (10 << 24) | (112 << 16) {
            self.next_ip = (10 << 24) | (96 << 16) | 10;
        }
        format!(
            "{}.{}.{}.{}",
            ip >> 24,
            (ip >> 16) & 0xff,
            (ip >> 8) & 0xff,
            ip & 0xff
        )
    }

    fn node_port(&mut self) -> u32 {
        let port = self.next_node_port;
        self.next_node_port = if port >= 32_767 { 30_000 } else { port + 1 };
        port
    }
}

fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_owned(), value);
    }
}

fn child<'a>(value: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = value;
    for p in path {
        cur = cur.as_object_mut()?.get_mut(*p)?;
    }
    cur.as_object_mut()
}

/// Fills the defaults of `kind` into `obj`.
pub fn apply(kind: &str, group: &str, obj: &mut Value, alloc: &mut Allocator) {
    match (group, kind) {
        ("", "Namespace") => namespace(obj),
        ("", "Secret") => secret(obj),
        ("", "Service") => service(obj, alloc),
        ("", "Pod") => {
            if let Some(spec) = child(obj, &["spec"]) {
                pod_spec(spec);
            }
            if let Some(o) = obj.as_object_mut() {
                set_default(
                    o,
                    "status",
                    json!({"phase": "Pending", "qosClass": "BestEffort"}),
                );
            }
        }
        ("", "PersistentVolumeClaim") => {
            if let Some(spec) = child(obj, &["spec"]) {
                set_default(spec, "volumeMode", json!("Filesystem"));
            }
            if let Some(o) = obj.as_object_mut() {
                set_default(o, "status", json!({"phase": "Pending"}));
            }
        }
        ("", "PersistentVolume") => {
            if let Some(spec) = child(obj, &["spec"]) {
                set_default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
                set_default(spec, "volumeMode", json!("Filesystem"));
            }
        }
        ("apps", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => stateful_set(obj),
        ("apps", "DaemonSet") => daemon_set(obj),
        ("apps", "ReplicaSet") => {
            if let Some(spec) = child(obj, &["spec"]) {
                set_default(spec, "replicas", json!(1));
                template(spec);
            }
        }
        ("batch", "Job") => {
            if let Some(spec) = child(obj, &["spec"]) {
                job_spec(spec);
            }
        }
        ("batch", "CronJob") => {
            if let Some(spec) = child(obj, &["spec"]) {
                set_default(spec, "concurrencyPolicy", json!("Allow"));
                set_default(spec, "suspend", json!(false));
                set_default(spec, "successfulJobsHistoryLimit", json!(3));
                set_default(spec, "failedJobsHistoryLimit", json!(1));
                if let Some(job) = spec
                    .get_mut("jobTemplate")
                    .and_then(|j| j.get_mut("spec"))
                    .and_then(Value::as_object_mut)
                {
                    job_spec(job);
                }
            }
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            if let Some(spec) = child(obj, &["spec"]) {
                if spec.get("policyTypes").is_none() {
                    let mut types = vec![json!("Ingress")];
                    if spec.contains_key("egress") {
                        types.push(json!("Egress"));
                    }
                    spec.insert("policyTypes".into(), Value::Array(types));
                }
                for dir in ["ingress", "egress"] {
                    for rule in spec
                        .get_mut(dir)
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                    {
                        for port in rule
                            .get_mut("ports")
                            .and_then(Value::as_array_mut)
                            .into_iter()
                            .flatten()
                        {
                            if let Some(p) = port.as_object_mut() {
                                set_default(p, "protocol", json!("TCP"));
                            }
                        }
                    }
                }
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if let Some(spec) = child(obj, &["spec"]) {
                set_default(spec, "conversion", json!({"strategy": "None"}));
            }
        }
        _ => {}
    }
}

fn namespace(obj: &mut Value) {
    let name = super::meta::name(obj).to_owned();
    if let Some(meta) = super::meta::metadata_mut(obj) {
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(l) = labels.as_object_mut() {
            l.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
    if let Some(o) = obj.as_object_mut() {
        set_default(o, "spec", json!({"finalizers": ["kubernetes"]}));
        set_default(o, "status", json!({"phase": "Active"}));
    }
}

fn secret(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    set_default(o, "type", json!("Opaque"));
    // `data` is stored as bytes: read back, a value is canonical base64 on one line.
    if let Some(Value::Object(data)) = o.get_mut("data") {
        for value in data.values_mut() {
            if let Some(bytes) = value
                .as_str()
                .and_then(|text| super::validation::go_std_decode(text).ok())
            {
                *value = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
            }
        }
    }
    // `stringData` is write-only: merged into `data` (base64) and dropped.
    if let Some(Value::Object(string_data)) = o.remove("stringData") {
        let data = o.entry("data").or_insert_with(|| Value::Object(Map::new()));
        if !data.is_object() {
            *data = Value::Object(Map::new());
        }
        if let Some(d) = data.as_object_mut() {
            for (k, v) in string_data {
                let text = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                d.insert(
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(text)),
                );
            }
        }
    }
}

fn service(obj: &mut Value, alloc: &mut Allocator) {
    let Some(spec) = child(obj, &["spec"]) else {
        return;
    };
    set_default(spec, "type", json!("ClusterIP"));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_owned();
    set_default(spec, "sessionAffinity", json!("None"));
    if ty != "ExternalName" {
        if spec.get("clusterIP").is_none_or(|v| v.is_null() || v == "") {
            spec.insert("clusterIP".into(), json!(alloc.cluster_ip()));
        }
        let ip = spec.get("clusterIP").cloned().unwrap_or(Value::Null);
        set_default(spec, "clusterIPs", json!([ip]));
        set_default(spec, "ipFamilies", json!(["IPv4"]));
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    for port in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let Some(p) = port.as_object_mut() else {
            continue;
        };
        set_default(p, "protocol", json!("TCP"));
        if let Some(number) = p.get("port").cloned() {
            set_default(p, "targetPort", number);
        }
        if ty == "NodePort" || ty == "LoadBalancer" {
            let np = alloc.node_port();
            set_default(p, "nodePort", json!(np));
        }
    }
    if let Some(o) = obj.as_object_mut() {
        set_default(o, "status", json!({"loadBalancer": {}}));
    }
}

fn deployment(obj: &mut Value) {
    let Some(spec) = child(obj, &["spec"]) else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    set_default(spec, "strategy", json!({}));
    if let Some(strategy) = spec.get_mut("strategy").and_then(Value::as_object_mut) {
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type") == Some(&json!("RollingUpdate")) {
            set_default(strategy, "rollingUpdate", json!({}));
            if let Some(ru) = strategy
                .get_mut("rollingUpdate")
                .and_then(Value::as_object_mut)
            {
                set_default(ru, "maxUnavailable", json!("25%"));
                set_default(ru, "maxSurge", json!("25%"));
            }
        }
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    template(spec);
}

fn stateful_set(obj: &mut Value) {
    let Some(spec) = child(obj, &["spec"]) else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
    set_default(
        spec,
        "updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
    );
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(
        spec,
        "persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    for pvc in spec
        .get_mut("volumeClaimTemplates")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(p) = pvc.as_object_mut() {
            set_default(p, "apiVersion", json!("v1"));
            set_default(p, "kind", json!("PersistentVolumeClaim"));
        }
        if let Some(s) = child(pvc, &["spec"]) {
            set_default(s, "volumeMode", json!("Filesystem"));
        }
    }
    template(spec);
}

fn daemon_set(obj: &mut Value) {
    let Some(spec) = child(obj, &["spec"]) else {
        return;
    };
    set_default(
        spec,
        "updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
    );
    set_default(spec, "revisionHistoryLimit", json!(10));
    template(spec);
}

fn job_spec(spec: &mut Map<String, Value>) {
    if spec.get("completions").is_none() && spec.get("parallelism").is_none() {
        spec.insert("completions".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "manualSelector", json!(false));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    template(spec);
}

fn template(spec: &mut Map<String, Value>) {
    if let Some(pod) = spec
        .get_mut("template")
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        pod_spec(pod);
    }
}

fn pod_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    for list in ["containers", "initContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(c) = c.as_object_mut() {
                container(c);
            }
        }
    }
    for v in spec
        .get_mut("volumes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for source in ["configMap", "secret", "projected", "downwardAPI"] {
            if let Some(s) = v.get_mut(source).and_then(Value::as_object_mut) {
                set_default(s, "defaultMode", json!(420));
            }
        }
    }
}

fn container(c: &mut Map<String, Value>) {
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    set_default(c, "resources", json!({}));
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let policy = if image_tag(image).is_none_or(|t| t == "latest") {
        "Always"
    } else {
        "IfNotPresent"
    };
    set_default(c, "imagePullPolicy", json!(policy));
    for port in c
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(p) = port.as_object_mut() {
            set_default(p, "protocol", json!("TCP"));
        }
    }
}

/// The tag of an image reference (`nginx:1.27` → `1.27`); `None` when it has none or only a
/// digest.
fn image_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return Some("digest");
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, tag)| tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_defaults_match_the_real_server() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx"},
            {"name": "b", "image": "registry:5000/app:1.2"}]}}}});
        apply("Deployment", "apps", &mut d, &mut Allocator::default());
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Always"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"],
            "IfNotPresent"
        );
        let again = d.clone();
        apply("Deployment", "apps", &mut d, &mut Allocator::default());
        assert_eq!(d, again, "defaulting is idempotent");
    }

    #[test]
    fn services_get_a_cluster_ip_and_target_ports() {
        let mut s = json!({"spec": {"ports": [{"port": 80}]}});
        apply("Service", "", &mut s, &mut Allocator::default());
        assert_eq!(s["spec"]["clusterIP"], "10.96.0.10");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(s["spec"]["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn secret_string_data_moves_into_data() {
        let mut s = json!({"stringData": {"k": "v"}});
        apply("Secret", "", &mut s, &mut Allocator::default());
        assert_eq!(s, json!({"type": "Opaque", "data": {"k": "dg=="}}));
    }

    #[test]
    fn secret_data_folded_over_lines_is_stored_on_one_line() {
        let mut s = json!({"data": {"k": "YWJj\nZGVm\r\n"}});
        apply("Secret", "", &mut s, &mut Allocator::default());
        assert_eq!(s, json!({"type": "Opaque", "data": {"k": "YWJjZGVm"}}));
        assert!(super::super::validation::go_std_decode("Zg").is_err());
        assert_eq!(
            super::super::validation::go_std_decode("Zh==").ok(),
            Some(b"f".to_vec())
        );
    }
}
