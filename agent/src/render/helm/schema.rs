//! `values.schema.json`: the JSON Schema keywords charts use (draft 4 to 2020-12 subset:
//! `type`, `properties`, `required`, `additionalProperties`, `patternProperties`, `items`,
//! `enum`, `const`, bounds, `pattern`, `allOf`/`anyOf`/`oneOf`/`not`, `if`/`then`/`else`,
//! local `$ref`), reporting the first failing path.

use serde_json::{Map, Value};

/// Deepest schema recursion (a `$ref` loop ends here).
const MAX_DEPTH: usize = 64;

/// Validates `value` against `schema`; `Err((path, reason))` names the first failure.
pub(crate) fn validate(schema: &Value, value: &Value) -> Result<(), (String, String)> {
    let mut v = Validator { root: schema };
    v.check(schema, value, "", 0)
}

struct Validator<'a> {
    root: &'a Value,
}

type Outcome = Result<(), (String, String)>;

fn fail(path: &str, reason: String) -> Outcome {
    Err((
        if path.is_empty() {
            "/".into()
        } else {
            path.to_owned()
        },
        reason,
    ))
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

impl<'a> Validator<'a> {
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    fn check(&mut self, schema: &'a Value, value: &Value, path: &str, depth: usize) -> Outcome {
        if depth > MAX_DEPTH {
            return fail(path, "schema nesting too deep".into());
        }
        let schema = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return fail(path, "no value is allowed here".into()),
            Value::Object(map) => map,
            _ => return Ok(()),
        };
        if let Some(Value::String(reference)) = schema.get("$ref") {
            match self.resolve(reference) {
                Some(target) => self.check(target, value, path, depth + 1)?,
                None => return fail(path, format!("unresolvable $ref {reference:?}")),
            }
        }
        self.check_type(schema, value, path)?;
        self.check_combinators(schema, value, path, depth)?;
        match value {
            Value::Object(map) => self.check_object(schema, map, path, depth)?,
            Value::Array(list) => self.check_array(schema, list, path, depth)?,
            Value::String(s) => check_string(schema, s, path)?,
            Value::Number(_) => check_number(schema, value, path)?,
            _ => {}
        }
        Ok(())
    }

    fn check_type(&self, schema: &Map<String, Value>, value: &Value, path: &str) -> Outcome {
        let ok = match schema.get("type") {
            Some(Value::String(t)) => type_matches(t, value),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| type_matches(t, value)),
            _ => true,
        };
        if !ok {
            let wanted = schema.get("type").map(Value::to_string).unwrap_or_default();
            return fail(
                path,
                format!(
                    "invalid type: expected {wanted}, given {}",
                    type_name(value)
                ),
            );
        }
        if let Some(Value::Array(options)) = schema.get("enum")
            && !options.iter().any(|o| equal(o, value))
        {
            return fail(
                path,
                format!(
                    "value must be one of {}",
                    super::clip(&Value::Array(options.clone()).to_string())
                ),
            );
        }
        if let Some(constant) = schema.get("const")
            && !equal(constant, value)
        {
            return fail(
                path,
                format!("value must be {}", super::clip(&constant.to_string())),
            );
        }
        Ok(())
    }

    fn check_combinators(
        &mut self,
        schema: &'a Map<String, Value>,
        value: &Value,
        path: &str,
        depth: usize,
    ) -> Outcome {
        if let Some(Value::Array(all)) = schema.get("allOf") {
            for sub in all {
                self.check(sub, value, path, depth + 1)?;
            }
        }
        if let Some(Value::Array(any)) = schema.get("anyOf")
            && !any
                .iter()
                .any(|sub| self.check(sub, value, path, depth + 1).is_ok())
        {
            return fail(path, "must validate at least one schema (anyOf)".into());
        }
        if let Some(Value::Array(one)) = schema.get("oneOf") {
            let passing = one
                .iter()
                .filter(|sub| self.check(sub, value, path, depth + 1).is_ok())
                .count();
            if passing != 1 {
                return fail(path, "must validate one and only one schema (oneOf)".into());
            }
        }
        if let Some(not) = schema.get("not")
            && self.check(not, value, path, depth + 1).is_ok()
        {
            return fail(path, "must not validate the schema (not)".into());
        }
        if let Some(condition) = schema.get("if") {
            let branch = if self.check(condition, value, path, depth + 1).is_ok() {
                "then"
            } else {
                "else"
            };
            if let Some(sub) = schema.get(branch) {
                self.check(sub, value, path, depth + 1)?;
            }
        }
        Ok(())
    }

    fn check_object(
        &mut self,
        schema: &'a Map<String, Value>,
        map: &Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Outcome {
        if let Some(Value::Array(required)) = schema.get("required") {
            for key in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(key) {
                    return fail(path, format!("{key} is required"));
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let patterns: Vec<(regex::Regex, &Value)> = schema
            .get("patternProperties")
            .and_then(Value::as_object)
            .map(|p| {
                p.iter()
                    .filter_map(|(k, v)| regex::Regex::new(k).ok().map(|r| (r, v)))
                    .collect()
            })
            .unwrap_or_default();
        for (key, item) in map {
            let child = format!("{path}/{key}");
            let mut known = false;
            if let Some(sub) = properties.and_then(|p| p.get(key)) {
                known = true;
                self.check(sub, item, &child, depth + 1)?;
            }
            for (pattern, sub) in &patterns {
                if pattern.is_match(key) {
                    known = true;
                    self.check(sub, item, &child, depth + 1)?;
                }
            }
            if !known {
                match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return fail(path, format!("additional property {key:?} is not allowed"));
                    }
                    Some(sub @ Value::Object(_)) => self.check(sub, item, &child, depth + 1)?,
                    _ => {}
                }
            }
        }
        let count = map.len() as f64;
        if schema
            .get("minProperties")
            .and_then(Value::as_f64)
            .is_some_and(|m| count < m)
        {
            return fail(path, "too few properties".into());
        }
        if schema
            .get("maxProperties")
            .and_then(Value::as_f64)
            .is_some_and(|m| count > m)
        {
            return fail(path, "too many properties".into());
        }
        Ok(())
    }

    fn check_array(
        &mut self,
        schema: &'a Map<String, Value>,
        list: &[Value],
        path: &str,
        depth: usize,
    ) -> Outcome {
        match schema.get("items") {
            Some(Value::Array(tuple)) => {
                for (i, (item, sub)) in list.iter().zip(tuple).enumerate() {
                    self.check(sub, item, &format!("{path}/{i}"), depth + 1)?;
                }
            }
            Some(sub) => {
                for (i, item) in list.iter().enumerate() {
                    self.check(sub, item, &format!("{path}/{i}"), depth + 1)?;
                }
            }
            None => {}
        }
        let count = list.len() as f64;
        if schema
            .get("minItems")
            .and_then(Value::as_f64)
            .is_some_and(|m| count < m)
        {
            return fail(
                path,
                format!("array must have at least {} items", schema["minItems"]),
            );
        }
        if schema
            .get("maxItems")
            .and_then(Value::as_f64)
            .is_some_and(|m| count > m)
        {
            return fail(
                path,
                format!("array must have at most {} items", schema["maxItems"]),
            );
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (i, a) in list.iter().enumerate() {
                if list[..i].iter().any(|b| equal(a, b)) {
                    return fail(path, "array items must be unique".into());
                }
            }
        }
        Ok(())
    }
}

fn check_string(schema: &Map<String, Value>, s: &str, path: &str) -> Outcome {
    let len = s.chars().count() as f64;
    if schema
        .get("minLength")
        .and_then(Value::as_f64)
        .is_some_and(|m| len < m)
    {
        return fail(
            path,
            format!("string length must be at least {}", schema["minLength"]),
        );
    }
    if schema
        .get("maxLength")
        .and_then(Value::as_f64)
        .is_some_and(|m| len > m)
    {
        return fail(
            path,
            format!("string length must be at most {}", schema["maxLength"]),
        );
    }
    if let Some(Value::String(pattern)) = schema.get("pattern")
        && let Ok(re) = regex::Regex::new(pattern)
        && !re.is_match(s)
    {
        return fail(
            path,
            format!("does not match pattern {:?}", super::clip(pattern)),
        );
    }
    Ok(())
}

fn check_number(schema: &Map<String, Value>, value: &Value, path: &str) -> Outcome {
    let Some(n) = value.as_f64() else {
        return Ok(());
    };
    let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
    // Draft 4 writes exclusive bounds as booleans beside minimum/maximum.
    let exclusive = |key: &str| schema.get(key) == Some(&Value::Bool(true));
    if let Some(min) = bound("minimum")
        && (n < min || (exclusive("exclusiveMinimum") && n == min))
    {
        return fail(path, format!("must be greater than or equal to {min}"));
    }
    if let Some(max) = bound("maximum")
        && (n > max || (exclusive("exclusiveMaximum") && n == max))
    {
        return fail(path, format!("must be less than or equal to {max}"));
    }
    if bound("exclusiveMinimum").is_some_and(|m| n <= m) {
        return fail(path, "must be greater than the exclusive minimum".into());
    }
    if bound("exclusiveMaximum").is_some_and(|m| n >= m) {
        return fail(path, "must be less than the exclusive maximum".into());
    }
    if let Some(step) = bound("multipleOf")
        && step > 0.0
        && ((n / step).round() * step - n).abs() > 1e-9
    {
        return fail(path, format!("must be a multiple of {step}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_failures_name_the_path() {
        let schema = json!({
            "type": "object",
            "required": ["image"],
            "definitions": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}},
            "properties": {
                "image": {"type": "object", "properties": {"tag": {"type": "string", "pattern": "^v"}}},
                "ports": {"type": "array", "items": {"$ref": "#/definitions/port"}},
                "mode": {"enum": ["a", "b"]},
                "strict": {"type": "object", "additionalProperties": false, "properties": {"x": {}}}
            }
        });
        assert!(validate(&schema, &json!({"image": {"tag": "v1"}, "ports": [80.0]})).is_ok());
        assert_eq!(
            validate(&schema, &json!({})).err().map(|e| e.1),
            Some("image is required".into())
        );
        let err = validate(&schema, &json!({"image": {"tag": "1"}})).err();
        assert_eq!(err.map(|e| e.0), Some("/image/tag".into()));
        let err = validate(&schema, &json!({"image": {}, "ports": [80, 70000]})).err();
        assert_eq!(err.map(|e| e.0), Some("/ports/1".into()));
        let err = validate(&schema, &json!({"image": {}, "ports": [1.5]})).err();
        assert!(err.is_some_and(|e| e.1.contains("invalid type")));
        assert!(validate(&schema, &json!({"image": {}, "mode": "c"})).is_err());
        let err = validate(&schema, &json!({"image": {}, "strict": {"y": 1}})).err();
        assert!(err.is_some_and(|e| e.0 == "/strict" && e.1.contains("\"y\"")));
    }
}
