//! What happens to the keys of a `dataFrom` entry after it is read, in ESO's order: the
//! `rewrite` operations in order (`regexp` with `source`/`target`, `transform` with a template
//! over `.value`, the key), else the `conversionStrategy` (`Default`: characters a Secret key
//! cannot hold become `_`; `Unicode`: `_UXXXX_`); then the `decodingStrategy` of the values
//! (`None`, `Base64`, `Base64URL`, `Auto`). A rewrite that yields an empty or invalid Secret key,
//! or two keys that collide, fails the ExternalSecret naming the key (keys are names, never
//! values).

use base64::Engine as _;
use regex::Regex;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

use super::model::RewriteSpec;
use super::template::{Data, Template};

/// Values by key.
pub(crate) type Values = BTreeMap<String, Zeroizing<Vec<u8>>>;

/// One rewrite operation.
pub(crate) enum Rewrite {
    /// Replace every match of `source` with `target` (`$1`, `${name}` expand).
    Regexp { source: Regex, target: String },
    /// Render a template with `.value` = the key.
    Transform(Template),
}

/// The largest compiled regular expression accepted.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles `dataFrom[i].rewrite`; `Err` is `(field, reason)`.
pub(crate) fn parse(specs: &[RewriteSpec], field: &str) -> Result<Vec<Rewrite>, (String, String)> {
    let mut out = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let here = format!("{field}.rewrite[{i}]");
        match (&spec.regexp, &spec.transform) {
            (Some(r), None) => {
                let source = regex(&r.source).map_err(|e| (format!("{here}.regexp.source"), e))?;
                out.push(Rewrite::Regexp {
                    source,
                    target: r.target.clone(),
                });
            }
            (None, Some(t)) => {
                let template = Template::parse(&t.template)
                    .map_err(|e| (format!("{here}.transform.template"), e))?;
                out.push(Rewrite::Transform(template));
            }
            _ => {
                return Err((here, "needs exactly one of regexp, transform".into()));
            }
        }
    }
    Ok(out)
}

/// Compiles an RE2-style expression with a size bound.
pub(crate) fn regex(source: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(source)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            format!(
                "is not a valid regular expression: {}",
                first_line(&e.to_string())
            )
        })
}

fn first_line(text: &str) -> String {
    let line = text.lines().last().unwrap_or("").trim();
    line.chars().take(200).collect()
}

/// The key conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conversion {
    /// Invalid characters become `_`.
    Default,
    /// Invalid characters become `_UXXXX_`.
    Unicode,
}

impl Conversion {
    pub(crate) fn parse(text: Option<&str>) -> Result<Self, String> {
        match text {
            None | Some("Default") => Ok(Conversion::Default),
            Some("Unicode") => Ok(Conversion::Unicode),
            Some(other) => Err(format!("{other:?} is not Default or Unicode")),
        }
    }
}

/// The value decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoding {
    /// As read.
    None,
    /// Standard base64.
    Base64,
    /// URL-safe base64.
    Base64Url,
    /// Base64, else URL-safe base64, else as read.
    Auto,
}

impl Decoding {
    pub(crate) fn parse(text: Option<&str>) -> Result<Self, String> {
        match text {
            None | Some("None") => Ok(Decoding::None),
            Some("Base64") => Ok(Decoding::Base64),
            Some("Base64URL") => Ok(Decoding::Base64Url),
            Some("Auto") => Ok(Decoding::Auto),
            Some(other) => Err(format!("{other:?} is not None, Base64, Base64URL or Auto")),
        }
    }

    /// Decodes one value; the error never quotes it.
    pub(crate) fn decode(self, value: Zeroizing<Vec<u8>>) -> Result<Zeroizing<Vec<u8>>, String> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let attempt = |engine: &base64::engine::GeneralPurpose| {
            engine.decode(value.as_slice()).map(Zeroizing::new)
        };
        match self {
            Decoding::None => Ok(value),
            Decoding::Base64 => attempt(&STANDARD).map_err(|_| "is not valid base64".into()),
            Decoding::Base64Url => {
                attempt(&URL_SAFE).map_err(|_| "is not valid URL-safe base64".into())
            }
            Decoding::Auto => Ok(attempt(&STANDARD)
                .or_else(|_| attempt(&URL_SAFE))
                .unwrap_or(value)),
        }
    }
}

/// Whether `key` is a valid Secret data key.
pub(crate) fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn convert(conversion: Conversion, key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            out.push(c);
        } else {
            match conversion {
                Conversion::Default => out.push('_'),
                Conversion::Unicode => out.push_str(&format!("_U{:04x}_", u32::from(c))),
            }
        }
    }
    out
}

fn short(key: &str) -> String {
    let mut s: String = key.chars().take(100).collect();
    if s.len() < key.len() {
        s.push_str("...");
    }
    s
}

/// Applies the rewrites (or, when there are none, the conversion), then the decoding.
pub(crate) fn apply(
    values: Values,
    rewrites: &[Rewrite],
    conversion: Conversion,
    decoding: Decoding,
) -> Result<Values, String> {
    let mut out = Values::new();
    for (key, value) in values {
        let new_key = if rewrites.is_empty() {
            convert(conversion, &key)
        } else {
            rewrite_key(&key, rewrites)?
        };
        if !valid_key(&new_key) {
            return Err(format!(
                "key {:?} (from {:?}) is not a valid Secret key ([-._a-zA-Z0-9]+, at most 253 characters)",
                short(&new_key),
                short(&key)
            ));
        }
        let value = decoding
            .decode(value)
            .map_err(|e| format!("the value of {:?} {e}", short(&key)))?;
        if out.insert(new_key.clone(), value).is_some() {
            return Err(format!("two keys become {:?}", short(&new_key)));
        }
    }
    Ok(out)
}

fn rewrite_key(key: &str, rewrites: &[Rewrite]) -> Result<String, String> {
    let mut current = key.to_owned();
    for (i, rewrite) in rewrites.iter().enumerate() {
        current = match rewrite {
            Rewrite::Regexp { source, target } => {
                source.replace_all(&current, target.as_str()).into_owned()
            }
            Rewrite::Transform(template) => {
                let mut data = Data::new();
                data.insert("value".into(), Zeroizing::new(current.as_bytes().to_vec()));
                let out = template
                    .render(&data)
                    .map_err(|e| format!("rewrite[{i}].transform of key {:?}: {e}", short(key)))?;
                String::from_utf8(out.to_vec())
                    .map_err(|_| format!("rewrite[{i}].transform made a key that is not UTF-8"))?
            }
        };
    }
    Ok(current)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::model::{RewriteRegexp, RewriteTransform};
    use super::*;

    fn values(keys: &[&str]) -> Values {
        keys.iter()
            .map(|k| ((*k).to_owned(), Zeroizing::new(b"v".to_vec())))
            .collect()
    }

    fn keys(v: &Values) -> Vec<&str> {
        v.keys().map(String::as_str).collect()
    }

    #[test]
    fn rewrites_apply_in_order_and_conversion_only_without_them() {
        let specs = vec![
            RewriteSpec {
                regexp: Some(RewriteRegexp {
                    source: "^path/to/(.*)$".into(),
                    target: "$1".into(),
                }),
                transform: None,
            },
            RewriteSpec {
                regexp: None,
                transform: Some(RewriteTransform {
                    template: "{{ .value | upper }}".into(),
                }),
            },
        ];
        let rewrites = parse(&specs, "spec.dataFrom[0]").unwrap();
        let out = apply(
            values(&["path/to/db", "other"]),
            &rewrites,
            Conversion::Default,
            Decoding::None,
        )
        .unwrap();
        assert_eq!(keys(&out), ["DB", "OTHER"]);
        let out = apply(
            values(&["/a/b", "a c"]),
            &[],
            Conversion::Default,
            Decoding::None,
        )
        .unwrap();
        assert_eq!(keys(&out), ["_a_b", "a_c"]);
        let out = apply(values(&["a/c"]), &[], Conversion::Unicode, Decoding::None).unwrap();
        assert_eq!(keys(&out), ["a_U002f_c"]);
    }

    #[test]
    fn invalid_keys_collisions_and_bad_regexps_are_errors() {
        let bad = vec![RewriteSpec {
            regexp: Some(RewriteRegexp {
                source: "(".into(),
                target: "x".into(),
            }),
            transform: None,
        }];
        let (field, _) = parse(&bad, "spec.dataFrom[1]").err().unwrap();
        assert_eq!(field, "spec.dataFrom[1].rewrite[0].regexp.source");
        let slash = parse(
            &[RewriteSpec {
                regexp: Some(RewriteRegexp {
                    source: "a".into(),
                    target: "a/".into(),
                }),
                transform: None,
            }],
            "f",
        )
        .unwrap();
        let err = apply(values(&["a"]), &slash, Conversion::Default, Decoding::None).unwrap_err();
        assert!(err.contains("not a valid Secret key"), "{err}");
        let err = apply(
            values(&["a/c", "a_c"]),
            &[],
            Conversion::Default,
            Decoding::None,
        )
        .unwrap_err();
        assert!(err.contains("two keys"), "{err}");
        let neither = parse(
            &[RewriteSpec {
                regexp: None,
                transform: None,
            }],
            "f",
        );
        assert!(neither.is_err());
    }

    #[test]
    fn decoding_strategies() {
        let v = |s: &str| Zeroizing::new(s.as_bytes().to_vec());
        assert_eq!(
            Decoding::Base64.decode(v("aGk=")).unwrap().as_slice(),
            b"hi"
        );
        assert_eq!(
            Decoding::Base64Url.decode(v("_w==")).unwrap().as_slice(),
            [255]
        );
        assert_eq!(
            Decoding::Auto.decode(v("not base64!")).unwrap().as_slice(),
            b"not base64!"
        );
        let err = Decoding::Base64.decode(v("s3cr3t!")).unwrap_err();
        assert!(!err.contains("s3cr3t"));
        assert!(Decoding::parse(Some("Hex")).is_err());
    }
}
