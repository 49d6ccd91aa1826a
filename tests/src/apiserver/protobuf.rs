//! Request bodies in the Kubernetes protobuf encoding ("Kubernetes Protobuf encoding"
//! design: the `k8s\0` magic, a `runtime.Unknown` envelope, then the object message). kubectl's
//! typed clients (`kubectl create namespace|configmap|secret|serviceaccount|deployment|
//! service|role|rolebinding|...`, `kubectl auth can-i`) send them. The decoder knows the fields those commands set;
//! a non-empty field it does not know is refused with 415, never dropped silently.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::meta::format_rfc3339;
use super::status::ApiError;

#[derive(Clone, Copy)]
enum T {
    Str,
    Int,
    Bool,
    Msg(&'static [F]),
    MapStr,
    MapBytes,
    RepStr,
    RepMsg(&'static [F]),
    IntOrString,
    Time,
}

struct F(u32, &'static str, T);

static OWNER_REF: &[F] = &[
    F(1, "kind", T::Str),
    F(3, "name", T::Str),
    F(4, "uid", T::Str),
    F(5, "apiVersion", T::Str),
    F(6, "controller", T::Bool),
    F(7, "blockOwnerDeletion", T::Bool),
];
static OBJECT_META: &[F] = &[
    F(1, "name", T::Str),
    F(2, "generateName", T::Str),
    F(3, "namespace", T::Str),
    F(5, "uid", T::Str),
    F(6, "resourceVersion", T::Str),
    F(7, "generation", T::Int),
    F(8, "creationTimestamp", T::Time),
    F(11, "labels", T::MapStr),
    F(12, "annotations", T::MapStr),
    F(13, "ownerReferences", T::RepMsg(OWNER_REF)),
    F(14, "finalizers", T::RepStr),
];
static NAMESPACE: &[F] = &[
    F(1, "metadata", T::Msg(OBJECT_META)),
    F(2, "spec", T::Msg(&[F(1, "finalizers", T::RepStr)])),
];
static CONFIG_MAP: &[F] = &[
    F(1, "metadata", T::Msg(OBJECT_META)),
    F(2, "data", T::MapStr),
    F(3, "binaryData", T::MapBytes),
    F(4, "immutable", T::Bool),
];
static SECRET: &[F] = &[
    F(1, "metadata", T::Msg(OBJECT_META)),
    F(2, "data", T::MapBytes),
    F(3, "type", T::Str),
    F(4, "stringData", T::MapStr),
    F(5, "immutable", T::Bool),
];
static NAME_REF: &[F] = &[F(1, "name", T::Str)];
static SERVICE_ACCOUNT: &[F] = &[
    F(1, "metadata", T::Msg(OBJECT_META)),
    F(3, "imagePullSecrets", T::RepMsg(NAME_REF)),
    F(4, "automountServiceAccountToken", T::Bool),
];
static POLICY_RULE: &[F] = &[
    F(1, "verbs", T::RepStr),
    F(2, "apiGroups", T::RepStr),
    F(3, "resources", T::RepStr),
    F(4, "resourceNames", T::RepStr),
    F(5, "nonResourceURLs", T::RepStr),
];
static ROLE: &[F] = &[
    F(1, "metadata", T::Msg(OBJECT_META)),
    F(2, "rules", T::RepMsg(POLICY_RULE)),
];
static SUBJECT: &[F] = &[
    F(1, "kind", T::Str),
    F(2, "apiGroup", T::Str),
    F(3, "name", T::Str),
    F(4, "namespace", T::Str),
];
static ROLE_REF: &[F] = &[
    F(1, "apiGroup", T::Str),
    F(2, "kind", T::Str),
    F(3, "name", T::Str),
];
static ROLE_BINDING: &[F] = &[
    F(1, "metadata", T::Msg(OBJECT_META)),
    F(2, "subjects", T::RepMsg(SUBJECT)),
    F(3, "roleRef", T::Msg(ROLE_REF)),
];
static LABEL_SELECTOR: &[F] = &[F(1, "matchLabels", T::MapStr)];
static CONTAINER_PORT: &[F] = &[
    F(1, "name", T::Str),
    F(2, "hostPort", T::Int),
    F(3, "containerPort", T::Int),
    F(4, "protocol", T::Str),
];
static ENV_VAR: &[F] = &[F(1, "name", T::Str), F(2, "value", T::Str)];
static CONTAINER: &[F] = &[
    F(1, "name", T::Str),
    F(2, "image", T::Str),
    F(3, "command", T::RepStr),
    F(4, "args", T::RepStr),
    F(5, "workingDir", T::Str),
    F(6, "ports", T::RepMsg(CONTAINER_PORT)),
    F(7, "env", T::RepMsg(ENV_VAR)),
    F(8, "resources", T::Msg(&[])),
    F(14, "imagePullPolicy", T::Str),
];
static POD_SPEC: &[F] = &[
    F(2, "containers", T::RepMsg(CONTAINER)),
    F(3, "restartPolicy", T::Str),
    F(8, "serviceAccountName", T::Str),
];
static POD_TEMPLATE: &[F] = &[
    F(1, "metadata", T::Msg(OBJECT_META)),
    F(2, "spec", T::Msg(POD_SPEC)),
];
static DEPLOYMENT_SPEC: &[F] = &[
    F(1, "replicas", T::Int),
    F(2, "selector", T::Msg(LABEL_SELECTOR)),
    F(3, "template", T::Msg(POD_TEMPLATE)),
    F(4, "strategy", T::Msg(&[F(1, "type", T::Str)])),
];
static DEPLOYMENT: &[F] = &[
    F(1, "metadata", T::Msg(OBJECT_META)),
    F(2, "spec", T::Msg(DEPLOYMENT_SPEC)),
];
static SERVICE_PORT: &[F] = &[
    F(1, "name", T::Str),
    F(2, "protocol", T::Str),
    F(3, "port", T::Int),
    F(4, "targetPort", T::IntOrString),
    F(5, "nodePort", T::Int),
];
static SERVICE_SPEC: &[F] = &[
    F(1, "ports", T::RepMsg(SERVICE_PORT)),
    F(2, "selector", T::MapStr),
    F(3, "clusterIP", T::Str),
    F(4, "type", T::Str),
    F(11, "externalName", T::Str),
];
static SERVICE: &[F] = &[
    F(1, "metadata", T::Msg(OBJECT_META)),
    F(2, "spec", T::Msg(SERVICE_SPEC)),
];

static RESOURCE_ATTRIBUTES: &[F] = &[
    F(1, "namespace", T::Str),
    F(2, "verb", T::Str),
    F(3, "group", T::Str),
    F(4, "version", T::Str),
    F(5, "resource", T::Str),
    F(6, "subresource", T::Str),
    F(7, "name", T::Str),
];
static NON_RESOURCE_ATTRIBUTES: &[F] = &[F(1, "path", T::Str), F(2, "verb", T::Str)];
static SELF_ACCESS_REVIEW_SPEC: &[F] = &[
    F(1, "resourceAttributes", T::Msg(RESOURCE_ATTRIBUTES)),
    F(2, "nonResourceAttributes", T::Msg(NON_RESOURCE_ATTRIBUTES)),
];
static SELF_ACCESS_REVIEW: &[F] = &[
    F(1, "metadata", T::Msg(OBJECT_META)),
    F(2, "spec", T::Msg(SELF_ACCESS_REVIEW_SPEC)),
];

fn schema_of(kind: &str) -> Option<&'static [F]> {
    Some(match kind {
        "Namespace" => NAMESPACE,
        "ConfigMap" => CONFIG_MAP,
        "Secret" => SECRET,
        "ServiceAccount" => SERVICE_ACCOUNT,
        "Role" | "ClusterRole" => ROLE,
        "RoleBinding" | "ClusterRoleBinding" => ROLE_BINDING,
        "Deployment" => DEPLOYMENT,
        "Service" => SERVICE,
        "SelfSubjectAccessReview" => SELF_ACCESS_REVIEW,
        _ => return None,
    })
}

/// A wire-format field: number and value.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

fn fields(buf: &[u8]) -> Option<Vec<(u32, Wire<'_>)>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let tag = varint(buf, &mut pos)?;
        let num = u32::try_from(tag >> 3).ok()?;
        let wire = match tag & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len).filter(|e| *e <= buf.len())?;
                let bytes = &buf[pos..end];
                pos = end;
                Wire::Bytes(bytes)
            }
            1 => {
                pos += 8;
                Wire::Fixed
            }
            5 => {
                pos += 4;
                Wire::Fixed
            }
            _ => return None,
        };
        if pos > buf.len() {
            return None;
        }
        out.push((num, wire));
    }
    Some(out)
}

/// Whether a field the decoder does not know carries nothing (zero values all the way down).
fn is_empty(w: &Wire<'_>) -> bool {
    match w {
        Wire::Varint(v) => *v == 0,
        Wire::Bytes(b) => {
            b.is_empty() || fields(b).is_some_and(|fs| fs.iter().all(|(_, w)| is_empty(w)))
        }
        Wire::Fixed => false,
    }
}

fn text(b: &[u8], field: &str) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| format!("{field} is not UTF-8"))
}

fn decode_message(buf: &[u8], schema: &[F], path: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let parsed = fields(buf).ok_or_else(|| format!("{path}: malformed protobuf"))?;
    for (num, wire) in parsed {
        let Some(F(_, name, ty)) = schema.iter().find(|f| f.0 == num) else {
            if is_empty(&wire) {
                continue;
            }
            return Err(format!(
                "{path}: field number {num} is not supported by the emulation's protobuf decoder"
            ));
        };
        let here = format!("{path}.{name}");
        let value = match (ty, &wire) {
            (T::Str, Wire::Bytes(b)) => Some(json!(text(b, &here)?)).filter(|v| v != ""),
            (T::Int, Wire::Varint(v)) => Some(json!(*v as i64)).filter(|v| v != 0),
            (T::Bool, Wire::Varint(v)) => Some(json!(*v != 0)),
            (T::Msg(inner), Wire::Bytes(b)) => {
                Some(Value::Object(decode_message(b, inner, &here)?))
            }
            (T::Time, Wire::Bytes(b)) => {
                let secs = fields(b).and_then(|fs| {
                    fs.iter().find_map(|(n, w)| match (n, w) {
                        (1, Wire::Varint(s)) => Some(*s),
                        _ => None,
                    })
                });
                secs.filter(|s| *s > 0).map(|s| json!(format_rfc3339(s)))
            }
            (T::IntOrString, Wire::Bytes(b)) => {
                let fs = fields(b).ok_or_else(|| format!("{here}: malformed"))?;
                let mut v = Value::Null;
                for (n, w) in fs {
                    match (n, w) {
                        (2, Wire::Varint(i)) => v = json!(i),
                        (3, Wire::Bytes(s)) if !s.is_empty() => v = json!(text(s, &here)?),
                        _ => {}
                    }
                }
                Some(v).filter(|v| !v.is_null())
            }
            (T::MapStr | T::MapBytes, Wire::Bytes(b)) => {
                let fs = fields(b).ok_or_else(|| format!("{here}: malformed map entry"))?;
                let mut key = String::new();
                let mut val = json!("");
                for (n, w) in fs {
                    if let Wire::Bytes(x) = w {
                        match n {
                            1 => key = text(x, &here)?,
                            2 if matches!(ty, T::MapBytes) => {
                                val = json!(base64::engine::general_purpose::STANDARD.encode(x));
                            }
                            2 => val = json!(text(x, &here)?),
                            _ => {}
                        }
                    }
                }
                let entry = out.entry(name.to_owned()).or_insert_with(|| json!({}));
                if let Some(m) = entry.as_object_mut() {
                    m.insert(key, val);
                }
                None
            }
            (T::RepStr, Wire::Bytes(b)) => {
                let s = text(b, &here)?;
                push(&mut out, name, json!(s));
                None
            }
            (T::RepMsg(inner), Wire::Bytes(b)) => {
                let item = decode_message(b, inner, &here)?;
                push(&mut out, name, Value::Object(item));
                None
            }
            _ => return Err(format!("{here}: unexpected wire type")),
        };
        if let Some(v) = value {
            out.insert((*name).to_owned(), v);
        }
    }
    Ok(out)
}

fn push(out: &mut Map<String, Value>, name: &str, v: Value) {
    let entry = out.entry(name.to_owned()).or_insert_with(|| json!([]));
    if let Some(list) = entry.as_array_mut() {
        list.push(v);
    }
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into the JSON object it encodes.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let refuse = |why: String| {
        ApiError::unsupported_media_type(
            &format!("application/vnd.kubernetes.protobuf ({why})"),
            &["application/json", "application/yaml"],
        )
    };
    let envelope = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| refuse("no k8s magic number".to_owned()))?;
    let parts = fields(envelope).ok_or_else(|| refuse("malformed envelope".to_owned()))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, w) in parts {
        match (n, w) {
            (1, Wire::Bytes(tm)) => {
                for (m, x) in fields(tm).unwrap_or_default() {
                    match (m, x) {
                        (1, Wire::Bytes(v)) => {
                            api_version = String::from_utf8_lossy(v).into_owned()
                        }
                        (2, Wire::Bytes(v)) => kind = String::from_utf8_lossy(v).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    let schema = schema_of(&kind)
        .ok_or_else(|| refuse(format!("kind {kind:?} is not decoded by the emulation")))?;
    let mut obj = decode_message(raw, schema, &kind).map_err(refuse)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_namespace_as_kubectl_sends_it() {
        // kubectl create namespace shop
        let body: &[u8] = &[
            0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0f, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x09, b'N', b'a',
            b'm', b'e', b's', b'p', b'a', b'c', b'e', 0x12, 0x12, 0x0a, 0x0a, 0x0a, 0x04, b's',
            b'h', b'o', b'p', 0x12, 0x00, 0x42, 0x00, 0x12, 0x00, 0x1a, 0x02, 0x0a, 0x00,
        ];
        let obj = decode(body).expect("decodes");
        assert_eq!(
            obj,
            json!({"metadata": {"name": "shop"}, "spec": {}, "apiVersion": "v1", "kind": "Namespace"})
        );
    }

    #[test]
    fn refuses_unknown_non_empty_fields() {
        let body: &[u8] = &[
            0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0f, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x09, b'N', b'a',
            b'm', b'e', b's', b'p', b'a', b'c', b'e', 0x12, 0x04, 0x48, 0x07, 0x20, 0x01,
        ];
        assert_eq!(decode(body).expect_err("refused").code, 415);
    }
}
