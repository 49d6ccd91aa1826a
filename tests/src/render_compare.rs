//! Comparing `tether-agent render` with `kubectl kustomize`: both outputs parsed the same
//! way (YAML 1.1, as kubectl reads manifests) and compared object by object, in order.

use serde_json::Value;

/// Parses a multi-document output into its objects (empty documents dropped).
pub fn parse(text: &str) -> Result<Vec<Value>, String> {
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(|err| err.to_string())?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// `Kind/name ns=...` of an object, for messages.
pub fn describe(value: &Value) -> String {
    let text = |path: &[&str]| {
        let mut node = value;
        for part in path {
            node = &node[*part];
        }
        node.as_str().unwrap_or("").to_owned()
    };
    format!(
        "{}/{} ns={:?}",
        text(&["kind"]),
        text(&["metadata", "name"]),
        text(&["metadata", "namespace"])
    )
}

/// A readable difference between two objects: the paths whose values differ.
pub fn differences(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let child = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => differences(value, other, &child, out),
                    None => out.push(format!(
                        "  {child}: kubectl has {value}, tether has nothing"
                    )),
                }
            }
            for (key, value) in b {
                if !a.contains_key(key) {
                    out.push(format!(
                        "  {path}.{key}: kubectl has nothing, tether has {value}"
                    ));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ if expected != actual => {
            out.push(format!(
                "  {path}: kubectl has {expected}, tether has {actual}"
            ));
        }
        _ => {}
    }
}

/// Compares two outputs object by object and in order; the number of objects when they
/// agree, otherwise every difference.
pub fn compare_objects(expected: &[Value], actual: &[Value]) -> Result<usize, String> {
    let mut problems = Vec::new();
    if expected.len() != actual.len() {
        problems.push(format!(
            "kubectl printed {} objects, tether {}:\n  kubectl: {:?}\n  tether:  {:?}",
            expected.len(),
            actual.len(),
            expected.iter().map(describe).collect::<Vec<_>>(),
            actual.iter().map(describe).collect::<Vec<_>>()
        ));
    }
    for (index, (e, a)) in expected.iter().zip(actual).enumerate() {
        if e != a {
            let mut diff = Vec::new();
            differences(e, a, "", &mut diff);
            problems.push(format!(
                "object {index}: kubectl {} / tether {}\n{}",
                describe(e),
                describe(a),
                diff.join("\n")
            ));
        }
    }
    if problems.is_empty() {
        Ok(expected.len())
    } else {
        Err(problems.join("\n"))
    }
}
