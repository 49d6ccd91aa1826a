//! The subset of ESO's `target.template.data` Tether renders: text with `{{ .key }}` and
//! `{{ index . "key" }}` substitutions of the values read. Anything else inside `{{ }}`
//! (pipelines, functions) is refused with the expression named, rather than rendered wrongly.
//! The output is built in zeroizing memory.

use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// Renders `text` with `values`. The error names the expression (template text from Git),
/// never a value.
pub(crate) fn render(
    text: &str,
    values: &BTreeMap<String, Zeroizing<Vec<u8>>>,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        parts.push(&rest.as_bytes()[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "an unclosed {{ in the template".to_owned())?;
        let expr = after[..end]
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let key = variable(expr)
            .ok_or_else(|| format!("unsupported template expression {{{{ {expr} }}}}"))?;
        let value = values
            .get(key)
            .ok_or_else(|| format!("template variable {key:?} was not read from the store"))?;
        parts.push(value.as_slice());
        rest = &after[end + 2..];
    }
    parts.push(rest.as_bytes());
    let mut out = Zeroizing::new(Vec::with_capacity(parts.iter().map(|p| p.len()).sum()));
    for part in parts {
        out.extend_from_slice(part);
    }
    Ok(out)
}

/// `.key` or `index . "key"`.
fn variable(expr: &str) -> Option<&str> {
    if let Some(key) = expr.strip_prefix('.')
        && !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Some(key);
    }
    let rest = expr.strip_prefix("index")?.trim_start();
    let rest = rest.strip_prefix('.')?.trim();
    let key = rest.strip_prefix('"')?.strip_suffix('"')?;
    (!key.contains('"')).then_some(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_substituted_and_functions_refused() {
        let mut values = BTreeMap::new();
        values.insert("user".to_owned(), Zeroizing::new(b"admin".to_vec()));
        values.insert("pass-word".to_owned(), Zeroizing::new(b"s3cr3t".to_vec()));
        let out = render(
            "postgres://{{ .user }}:{{index . \"pass-word\"}}@db/{{- .user -}}",
            &values,
        )
        .unwrap();
        assert_eq!(out.as_slice(), b"postgres://admin:s3cr3t@db/admin");
        let err = render("{{ .user | b64enc }}", &values).unwrap_err();
        assert!(err.contains("unsupported"), "{err}");
        assert!(
            render("{{ .missing }}", &values)
                .unwrap_err()
                .contains("missing")
        );
        assert!(render("{{ .user ", &values).is_err());
    }
}
