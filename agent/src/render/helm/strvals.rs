//! Helm's `--set` syntax (its `strvals` parser): `a.b=c`, `a[0]=x`, `a[0].b=y`, `a={x,y}`,
//! several assignments separated by commas, `\` escaping the next character. Values are
//! typed as Helm types them: `true`/`false`, `null`, integers as int64 (not starting with
//! `0` unless `0` itself), everything else a string.

use serde_json::{Map, Number, Value};

/// Largest list index accepted.
pub const MAX_INDEX: usize = 65_536;
/// Deepest `a.b.c...` nesting accepted.
pub const MAX_NESTED_NAME_LEVEL: usize = 30;

/// Parses `expression` into `data`, as `helm --set` does on top of the values files.
pub fn parse_into(expression: &str, data: &mut Map<String, Value>) -> Result<(), String> {
    let mut parser = Parser {
        chars: expression.chars().collect(),
        pos: 0,
    };
    loop {
        match parser.key(data, 0) {
            Ok(()) => {}
            Err(Stop::Eof) => return Ok(()),
            Err(Stop::Error(reason)) => return Err(reason),
        }
    }
}

enum Stop {
    Eof,
    Error(String),
}

fn err<T>(reason: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Error(reason.into()))
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

/// What `runes_until` stopped on.
enum Last {
    Char(char),
    Eof,
}

impl Parser {
    fn runes_until(&mut self, stop: &[char]) -> (String, Last) {
        let mut out = String::new();
        while let Some(&c) = self.chars.get(self.pos) {
            self.pos += 1;
            if stop.contains(&c) {
                return (out, Last::Char(c));
            }
            if c == '\\' {
                match self.chars.get(self.pos) {
                    Some(&next) => {
                        self.pos += 1;
                        out.push(next);
                    }
                    None => return (out, Last::Eof),
                }
            } else {
                out.push(c);
            }
        }
        (out, Last::Eof)
    }

    fn key(&mut self, data: &mut Map<String, Value>, level: usize) -> Result<(), Stop> {
        let (key, last) = self.runes_until(&['=', '[', ',', '.']);
        match last {
            Last::Eof if key.is_empty() => Err(Stop::Eof),
            Last::Eof => err(format!("key {key:?} has no value")),
            Last::Char('[') => {
                let index = self.key_index()?;
                let mut list = match data.get(&key) {
                    None => Vec::new(),
                    Some(Value::Array(list)) => list.clone(),
                    Some(_) => return err(format!("unable to parse key: {key:?} is not a list")),
                };
                let result = self.list_item(&mut list, index, level);
                set(data, &key, Value::Array(list));
                result
            }
            Last::Char('=') => match self.val_list() {
                Ok(list) => {
                    set(data, &key, Value::Array(list));
                    Ok(())
                }
                Err(ListStop::Eof) => {
                    set(data, &key, Value::String(String::new()));
                    Err(Stop::Eof)
                }
                Err(ListStop::NotList) => {
                    let (raw, _) = self.runes_until(&[',']);
                    set(data, &key, typed(&raw));
                    Ok(())
                }
                Err(ListStop::Error(reason)) => err(reason),
            },
            Last::Char(',') => {
                set(data, &key, Value::String(String::new()));
                err(format!("key {key:?} has no value (cannot end with ,)"))
            }
            Last::Char(_) => {
                // '.'
                let level = level + 1;
                if level > MAX_NESTED_NAME_LEVEL {
                    return err(format!(
                        "value name nested level is greater than maximum supported nested level of {MAX_NESTED_NAME_LEVEL}"
                    ));
                }
                let mut inner = match data.get(&key) {
                    None => Map::new(),
                    Some(Value::Object(map)) => map.clone(),
                    Some(_) => return err(format!("unable to parse key: {key:?} is not a map")),
                };
                let result = self.key(&mut inner, level);
                if result.is_ok() && inner.is_empty() {
                    return err(format!("key map {key:?} has no value"));
                }
                if !inner.is_empty() {
                    set(data, &key, Value::Object(inner));
                }
                result
            }
        }
    }

    fn key_index(&mut self) -> Result<usize, Stop> {
        let (raw, last) = self.runes_until(&[']']);
        if matches!(last, Last::Eof) {
            return Err(Stop::Eof);
        }
        let index: i64 = raw
            .parse()
            .map_err(|_| Stop::Error(format!("error parsing index: {raw:?} is not a number")))?;
        if index < 0 {
            return err(format!("negative {index} index not allowed"));
        }
        let index = usize::try_from(index).unwrap_or(usize::MAX);
        if index > MAX_INDEX {
            return err(format!(
                "index of {index} is greater than maximum supported index of {MAX_INDEX}"
            ));
        }
        Ok(index)
    }

    fn list_item(&mut self, list: &mut Vec<Value>, index: usize, level: usize) -> Result<(), Stop> {
        let (rest, last) = self.runes_until(&['[', '.', '=']);
        if !rest.is_empty() {
            return err(format!("unexpected data at end of array index: {rest:?}"));
        }
        match last {
            Last::Eof => Err(Stop::Eof),
            Last::Char('=') => match self.val_list() {
                Ok(values) => set_index(list, index, Value::Array(values)),
                Err(ListStop::Eof) => set_index(list, index, Value::String(String::new())),
                Err(ListStop::NotList) => {
                    let (raw, _) = self.runes_until(&[',']);
                    set_index(list, index, typed(&raw))
                }
                Err(ListStop::Error(reason)) => err(reason),
            },
            Last::Char('[') => {
                let next = self.key_index()?;
                let mut inner = match list.get(index) {
                    Some(Value::Array(inner)) => inner.clone(),
                    None | Some(Value::Null) => Vec::new(),
                    Some(_) => return err("unable to parse key: not a list"),
                };
                self.list_item(&mut inner, next, level)?;
                set_index(list, index, Value::Array(inner))
            }
            Last::Char(_) => {
                // '.'
                let mut inner = match list.get(index) {
                    Some(Value::Object(map)) => map.clone(),
                    _ => Map::new(),
                };
                self.key(&mut inner, level)?;
                set_index(list, index, Value::Object(inner))
            }
        }
    }

    fn val_list(&mut self) -> Result<Vec<Value>, ListStop> {
        match self.chars.get(self.pos) {
            None => return Err(ListStop::Eof),
            Some('{') => self.pos += 1,
            Some(_) => return Err(ListStop::NotList),
        }
        let mut list = Vec::new();
        loop {
            let (raw, last) = self.runes_until(&[',', '}']);
            match last {
                Last::Eof => return Err(ListStop::Error("list must terminate with '}'".into())),
                Last::Char('}') => {
                    if self.chars.get(self.pos) == Some(&',') {
                        self.pos += 1;
                    }
                    list.push(typed(&raw));
                    return Ok(list);
                }
                Last::Char(_) => list.push(typed(&raw)),
            }
        }
    }
}

enum ListStop {
    Eof,
    NotList,
    Error(String),
}

fn set(data: &mut Map<String, Value>, key: &str, value: Value) {
    if !key.is_empty() {
        data.insert(key.to_owned(), value);
    }
}

fn set_index(list: &mut Vec<Value>, index: usize, value: Value) -> Result<(), Stop> {
    if index > MAX_INDEX {
        return err(format!(
            "index of {index} is greater than maximum supported index of {MAX_INDEX}"
        ));
    }
    if list.len() <= index {
        list.resize(index + 1, Value::Null);
    }
    list[index] = value;
    Ok(())
}

/// Types a `--set` value as Helm does.
fn typed(raw: &str) -> Value {
    if raw.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if raw.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if raw.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    if raw == "0" {
        return Value::Number(Number::from(0i64));
    }
    if !raw.is_empty()
        && !raw.starts_with('0')
        && let Ok(n) = raw.parse::<i64>()
    {
        return Value::Number(Number::from(n));
    }
    Value::String(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(exprs: &[&str]) -> Result<Value, String> {
        let mut data = Map::new();
        for e in exprs {
            parse_into(e, &mut data)?;
        }
        Ok(Value::Object(data))
    }

    #[test]
    fn set_parses_as_helm_does() {
        assert_eq!(set(&["a.b=c,d=1"]), Ok(json!({"a": {"b": "c"}, "d": 1})));
        assert_eq!(set(&["a[0]=x,a[2]=y"]), Ok(json!({"a": ["x", null, "y"]})));
        assert_eq!(
            set(&["a[0].b=1,a[0].c=true"]),
            Ok(json!({"a": [{"b": 1, "c": true}]}))
        );
        assert_eq!(
            set(&["a={x,y},b=z"]),
            Ok(json!({"a": ["x", "y"], "b": "z"}))
        );
        assert_eq!(set(&[r"a\.b=c\,d"]), Ok(json!({"a.b": "c,d"})));
        assert_eq!(
            set(&["a=0123,b=0,c=null,d=-5,e=1.5"]),
            Ok(json!({"a": "0123", "b": 0, "c": null, "d": -5, "e": "1.5"}))
        );
        assert_eq!(set(&["a="]), Ok(json!({"a": ""})));
        assert_eq!(set(&["a.b=1", "a.c=2"]), Ok(json!({"a": {"b": 1, "c": 2}})));
        assert_eq!(set(&["a[0][1]=x"]), Ok(json!({"a": [[null, "x"]]})));
        assert_eq!(set(&[""]), Ok(json!({})));
    }

    #[test]
    fn bad_set_expressions_fail_with_helms_reason() {
        assert_eq!(set(&["a"]), Err("key \"a\" has no value".into()));
        assert_eq!(
            set(&["a,b=c"]),
            Err("key \"a\" has no value (cannot end with ,)".into())
        );
        assert_eq!(set(&["a={x,y"]), Err("list must terminate with '}'".into()));
        assert!(set(&["a[-1]=x"]).is_err_and(|e| e.contains("negative")));
        assert!(set(&["a[99999999]=x"]).is_err_and(|e| e.contains("maximum supported index")));
        assert!(set(&["a=1", "a.b=2"]).is_err_and(|e| e.contains("not a map")));
    }
}
