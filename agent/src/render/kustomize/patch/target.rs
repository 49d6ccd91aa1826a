//! Selecting objects for a patch or a replacement: group, version, kind, name and namespace
//! as anchored regular expressions, and Kubernetes label and annotation selectors.

use super::super::Resource;
use super::super::kustomization::Selector;
use regex::Regex;
use serde_json::{Map, Value};

fn anchored(pattern: &str) -> Result<Option<Regex>, String> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|err| format!("invalid regular expression {pattern:?}: {err}"))
}

/// A compiled target selector.
pub(crate) struct SelectorRegex {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    label_selector: String,
    annotation_selector: String,
}

fn matches(re: &Option<Regex>, text: &str) -> bool {
    re.as_ref().is_none_or(|re| re.is_match(text))
}

impl SelectorRegex {
    /// Compiles a selector; an invalid regular expression is an error.
    pub(crate) fn new(selector: &Selector) -> Result<Self, String> {
        Ok(Self {
            group: anchored(&selector.group)?,
            version: anchored(&selector.version)?,
            kind: anchored(&selector.kind)?,
            name: anchored(&selector.name)?,
            namespace: anchored(&selector.namespace)?,
            label_selector: selector.label_selector.clone(),
            annotation_selector: selector.annotation_selector.clone(),
        })
    }

    /// Whether the selector picks `res` (by its original or current name and namespace).
    pub(crate) fn selects(&self, res: &Resource) -> Result<bool, String> {
        let (org, cur) = (res.org_id(), res.cur_id());
        if !matches(&self.namespace, org.effective_namespace())
            && !matches(&self.namespace, cur.effective_namespace())
        {
            return Ok(false);
        }
        if !matches(&self.name, &org.name) && !matches(&self.name, &cur.name) {
            return Ok(false);
        }
        let gvk = res.gvk();
        if !matches(&self.group, &gvk.group)
            || !matches(&self.version, &gvk.version)
            || !matches(&self.kind, &gvk.kind)
        {
            return Ok(false);
        }
        Ok(
            label_selector_matches(&self.label_selector, &res.meta_map("labels"))?
                && label_selector_matches(&self.annotation_selector, &res.meta_map("annotations"))?,
        )
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Splits on commas outside parentheses.
fn split_requirements(selector: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&selector[start..]);
    parts
}

fn set_values(rest: &str, requirement: &str) -> Result<Vec<String>, String> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            format!("invalid selector requirement {requirement:?}: expected a (list)")
        })?;
    Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
}

/// Whether a Kubernetes selector (`a=b,c!=d,e in (f,g),!h,i`) matches a map of labels or
/// annotations. The empty selector matches everything.
pub(crate) fn label_selector_matches(
    selector: &str,
    labels: &Map<String, Value>,
) -> Result<bool, String> {
    if selector.trim().is_empty() {
        return Ok(true);
    }
    for requirement in split_requirements(selector) {
        let req = requirement.trim();
        if req.is_empty() {
            return Err(format!("invalid selector {selector:?}: empty requirement"));
        }
        let get = |key: &str| labels.get(key.trim()).map(text);
        let ok = if let Some(key) = req.strip_prefix('!') {
            get(key).is_none()
        } else if let Some((key, value)) = req.split_once("!=") {
            get(key).as_deref() != Some(value.trim())
        } else if let Some((key, value)) = req.split_once("==").or_else(|| req.split_once('=')) {
            get(key).as_deref() == Some(value.trim())
        } else if let Some((key, rest)) = req.split_once(" notin ") {
            let values = set_values(rest, req)?;
            get(key).is_none_or(|v| !values.contains(&v))
        } else if let Some((key, rest)) = req.split_once(" in ") {
            let values = set_values(rest, req)?;
            get(key).is_some_and(|v| values.contains(&v))
        } else if req.contains(char::is_whitespace) || req.contains(['(', ')', '<', '>']) {
            return Err(format!("invalid selector requirement {req:?}"));
        } else {
            get(req).is_some()
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn label_selectors_follow_kubernetes_syntax() {
        let l = labels(json!({"app": "web", "tier": "front"}));
        assert!(label_selector_matches("", &l).expect("ok"));
        assert!(label_selector_matches("app=web", &l).expect("ok"));
        assert!(label_selector_matches("app==web,tier", &l).expect("ok"));
        assert!(!label_selector_matches("app!=web", &l).expect("ok"));
        assert!(label_selector_matches("tier in (front, back)", &l).expect("ok"));
        assert!(!label_selector_matches("tier notin (front)", &l).expect("ok"));
        assert!(label_selector_matches("!missing", &l).expect("ok"));
        assert!(!label_selector_matches("missing", &l).expect("ok"));
        assert!(label_selector_matches("tier in front", &l).is_err());
    }

    #[test]
    fn name_regexes_are_anchored() {
        let sel = SelectorRegex::new(&Selector {
            name: "web".to_owned(),
            ..Selector::default()
        })
        .expect("compile");
        let res = |name: &str| {
            Resource::new(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
                crate::tree::RelPath::root(),
            )
        };
        assert!(sel.selects(&res("web")).expect("ok"));
        assert!(!sel.selects(&res("web-2")).expect("ok"));
        assert!(
            SelectorRegex::new(&Selector {
                name: "(".to_owned(),
                ..Selector::default()
            })
            .is_err()
        );
    }
}
