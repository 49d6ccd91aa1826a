//! ExternalSecret templates (`engineVersion: v2`, the only engine Tether runs): a subset of Go's
//! `text/template` with the functions of ESO's helper set and Sprig that real templates use
//! (see [`funcs`]). Parsed by [`parse`]; evaluated here over the values read from the store,
//! which stay in zeroizing memory throughout ([`Val`] has no `Debug`). Errors name the action
//! or function (template text from Git), never a value.

pub(crate) mod funcs;
pub(crate) mod parse;

use std::collections::BTreeMap;
use zeroize::Zeroizing;

use parse::{Arg, Command, Node, Pipeline};

/// The largest output of one template (a Secret holds at most 1 MiB).
pub(crate) const MAX_OUTPUT: usize = 1 << 20;

/// A value during evaluation. No `Debug`, `Display` or `Serialize`.
pub(crate) enum Val {
    /// Text or bytes (every value read from a store starts as this).
    Bytes(Zeroizing<Vec<u8>>),
    /// A map (from `fromJson`, `fromYaml`, or `.`).
    Map(BTreeMap<String, Val>),
    /// A list.
    List(Vec<Val>),
    /// A boolean.
    Bool(bool),
    /// A number, as written.
    Num(String),
    /// Nothing.
    Null,
}

impl Clone for Val {
    fn clone(&self) -> Self {
        match self {
            Val::Bytes(b) => Val::Bytes(Zeroizing::new(b.to_vec())),
            Val::Map(m) => Val::Map(m.clone()),
            Val::List(l) => Val::List(l.clone()),
            Val::Bool(b) => Val::Bool(*b),
            Val::Num(n) => Val::Num(n.clone()),
            Val::Null => Val::Null,
        }
    }
}

impl Val {
    pub(crate) fn text(s: &str) -> Self {
        Val::Bytes(Zeroizing::new(s.as_bytes().to_vec()))
    }

    /// What kind of value this is, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Val::Bytes(_) => "string",
            Val::Map(_) => "map",
            Val::List(_) => "list",
            Val::Bool(_) => "bool",
            Val::Num(_) => "number",
            Val::Null => "nil",
        }
    }

    /// Appends the value as Go's `fmt` prints it (`%v`).
    pub(crate) fn print(&self, out: &mut Zeroizing<Vec<u8>>) {
        match self {
            Val::Bytes(b) => out.extend_from_slice(b),
            Val::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Val::Num(n) => out.extend_from_slice(n.as_bytes()),
            Val::Null => out.extend_from_slice(b"<no value>"),
            Val::List(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    item.print(out);
                }
                out.push(b']');
            }
            Val::Map(map) => {
                out.extend_from_slice(b"map[");
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(k.as_bytes());
                    out.push(b':');
                    v.print(out);
                }
                out.push(b']');
            }
        }
    }

    /// The value printed into new zeroizing bytes.
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        self.print(&mut out);
        out
    }
}

/// The data a template sees as `.`.
pub(crate) type Data = BTreeMap<String, Zeroizing<Vec<u8>>>;

/// A parsed template, ready to render many times.
pub(crate) struct Template(Vec<Node>);

impl Template {
    /// Parses `text`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        parse::parse(text).map(Template)
    }

    /// Renders with `data` as `.`.
    pub(crate) fn render(&self, data: &Data) -> Result<Zeroizing<Vec<u8>>, String> {
        let mut out = Zeroizing::new(Vec::new());
        for node in &self.0 {
            match node {
                Node::Text(text) => out.extend_from_slice(text.as_bytes()),
                Node::Action(pipeline) => eval_pipeline(pipeline, data)?.print(&mut out),
            }
            if out.len() > MAX_OUTPUT {
                return Err(format!("the output is larger than {MAX_OUTPUT} bytes"));
            }
        }
        Ok(out)
    }
}

/// Parses and renders `text` with `data`.
#[cfg(test)]
pub(crate) fn render(text: &str, data: &Data) -> Result<Zeroizing<Vec<u8>>, String> {
    Template::parse(text)?.render(data)
}

fn eval_pipeline(pipeline: &Pipeline, data: &Data) -> Result<Val, String> {
    let mut piped: Option<Val> = None;
    for command in &pipeline.0 {
        piped = Some(eval_command(command, data, piped)?);
    }
    Ok(piped.unwrap_or(Val::Null))
}

fn eval_command(command: &Command, data: &Data, piped: Option<Val>) -> Result<Val, String> {
    match command.0.as_slice() {
        [Arg::Func(name), rest @ ..] => {
            let mut args = Vec::with_capacity(rest.len() + 1);
            for arg in rest {
                args.push(eval_arg(arg, data)?);
            }
            args.extend(piped);
            funcs::call(name, args)
        }
        [single] => eval_arg(single, data),
        _ => Err("empty command".into()),
    }
}

fn eval_arg(arg: &Arg, data: &Data) -> Result<Val, String> {
    match arg {
        Arg::Func(name) => funcs::call(name, Vec::new()),
        Arg::Str(s) => Ok(Val::text(s)),
        Arg::Num(n) => Ok(Val::Num(n.clone())),
        Arg::Bool(b) => Ok(Val::Bool(*b)),
        Arg::Nil => Ok(Val::Null),
        Arg::Sub(pipeline) => eval_pipeline(pipeline, data),
        Arg::Field(path) => field(path, data),
    }
}

/// `.` or `.a.b`: a missing key is an error (ESO renders with `missingkey=error`).
fn field(path: &[String], data: &Data) -> Result<Val, String> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(Val::Map(
            data.iter()
                .map(|(k, v)| (k.clone(), Val::Bytes(Zeroizing::new(v.to_vec()))))
                .collect(),
        ));
    };
    let value = data
        .get(first)
        .ok_or_else(|| format!("map has no entry for key {first:?}"))?;
    if let Some(next) = rest.first() {
        return Err(format!(
            ".{first} is a string, it has no field {next:?} (use fromJson first)"
        ));
    }
    Ok(Val::Bytes(Zeroizing::new(value.to_vec())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn data() -> Data {
        let mut values = BTreeMap::new();
        values.insert("user".to_owned(), Zeroizing::new(b"admin".to_vec()));
        values.insert("pass-word".to_owned(), Zeroizing::new(b"s3cr3t".to_vec()));
        values.insert(
            "config".to_owned(),
            Zeroizing::new(br#"{"host":"db","port":5432,"tags":["a","b"]}"#.to_vec()),
        );
        values.insert("b64".to_owned(), Zeroizing::new(b"aGVsbG8=".to_vec()));
        values
    }

    fn out(text: &str) -> String {
        String::from_utf8(render(text, &data()).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn variables_are_substituted_and_whitespace_trimmed() {
        assert_eq!(
            out("postgres://{{ .user }}:{{index . \"pass-word\"}}@db/ \n {{- .user -}} \n x"),
            "postgres://admin:s3cr3t@db/adminx"
        );
    }

    #[test]
    fn pipelines_and_functions_evaluate() {
        assert_eq!(out("{{ .b64 | b64dec | upper }}"), "HELLO");
        assert_eq!(out("{{ .user | b64enc }}"), "YWRtaW4=");
        assert_eq!(out("{{ index (.config | fromJson) \"tags\" 1 }}"), "b");
        assert_eq!(out("{{ index (.config | fromJson) \"port\" }}"), "5432");
        assert_eq!(
            out("{{ .config | fromJson | toJson }}"),
            r#"{"host":"db","port":5432,"tags":["a","b"]}"#
        );
        assert_eq!(
            out("{{ printf \"%s@%s\" .user \"x\" | quote }}"),
            "\"admin@x\""
        );
        assert_eq!(
            out("{{ .user | replace \"ad\" \"AD\" | trimSuffix \"in\" }}"),
            "ADm"
        );
        assert_eq!(
            out("{{ \"\" | default \"d\" }}-{{ .user | default \"d\" }}"),
            "d-admin"
        );
        assert_eq!(
            out(
                "{{ \"-----BEGIN A-----\\nx\\n-----END A-----\\n-----BEGIN B-----\\ny\\n-----END B-----\\n\" | filterPEM \"B\" }}"
            ),
            "-----BEGIN B-----\ny\n-----END B-----\n"
        );
    }

    #[test]
    fn errors_name_the_action_never_a_value() {
        for (text, needle) in [
            ("{{ .missing }}", "missing"),
            ("{{ .user | nosuchfunc }}", "nosuchfunc"),
            ("{{ .user | base64encode }}", "b64enc"),
            ("{{ .user | b64dec }}", "b64dec"),
            ("{{ .user.x }}", "fromJson"),
            ("{{ .user | fromJson }}", "fromJson"),
        ] {
            let err = render(text, &data()).err().unwrap();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(!err.contains("admin"), "{err}");
        }
    }
}
