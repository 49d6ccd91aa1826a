//! ExternalSecret templates (`engineVersion: v2`, the only engine Tether runs): a subset of Go's
//! `text/template` with the functions of ESO's helper set and Sprig that real templates use
//! (see [`funcs`]). Parsed by [`parse`]; evaluated here over the values read from the store,
//! which stay in zeroizing memory throughout ([`Val`] has no `Debug`). Errors name the action
//! or function (template text from Git), never a value.

pub(crate) mod funcs;
pub(crate) mod lex;
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

/// The most nodes and commands one rendering evaluates (ranges over ranges of large lists
/// would otherwise keep the agent busy).
const MAX_STEPS: usize = 1_000_000;

impl Template {
    /// Parses `text`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        parse::parse(text).map(Template)
    }

    /// Renders with `data` as `.` (and `$`).
    pub(crate) fn render(&self, data: &Data) -> Result<Zeroizing<Vec<u8>>, String> {
        let root = Val::Map(
            data.iter()
                .map(|(k, v)| (k.clone(), Val::Bytes(Zeroizing::new(v.to_vec()))))
                .collect(),
        );
        let mut eval = Eval {
            vars: vec![(String::new(), root.clone())],
            out: Zeroizing::new(Vec::new()),
            steps: 0,
        };
        eval.nodes(&self.0, &root)?;
        Ok(eval.out)
    }
}

/// Parses and renders `text` with `data`.
#[cfg(test)]
pub(crate) fn render(text: &str, data: &Data) -> Result<Zeroizing<Vec<u8>>, String> {
    Template::parse(text)?.render(data)
}

struct Eval {
    /// In scope, innermost last; `$` is the name "".
    vars: Vec<(String, Val)>,
    out: Zeroizing<Vec<u8>>,
    steps: usize,
}

impl Eval {
    fn step(&mut self) -> Result<(), String> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(format!("the template takes more than {MAX_STEPS} steps"));
        }
        if self.out.len() > MAX_OUTPUT {
            return Err(format!("the output is larger than {MAX_OUTPUT} bytes"));
        }
        Ok(())
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Val) -> Result<(), String> {
        for node in nodes {
            self.step()?;
            match node {
                Node::Text(text) => self.out.extend_from_slice(text.as_bytes()),
                Node::Action(pipeline) => {
                    let value = self.pipeline(pipeline, dot)?;
                    value.print(&mut self.out);
                }
                Node::Set { var, declare, pipe } => {
                    let value = self.pipeline(pipe, dot)?;
                    self.set(var, *declare, value)?;
                }
                Node::If {
                    with,
                    cond,
                    body,
                    otherwise,
                } => {
                    let value = self.pipeline(cond, dot)?;
                    let scope = self.vars.len();
                    let result = if funcs::truthy(&value) {
                        self.nodes(body, if *with { &value } else { dot })
                    } else {
                        self.nodes(otherwise, dot)
                    };
                    self.vars.truncate(scope);
                    result?;
                }
                Node::Range {
                    vars,
                    over,
                    body,
                    otherwise,
                } => {
                    let value = self.pipeline(over, dot)?;
                    self.range(vars, value, body, otherwise, dot)?;
                }
            }
        }
        Ok(())
    }

    fn range(
        &mut self,
        vars: &[String],
        over: Val,
        body: &[Node],
        otherwise: &[Node],
        dot: &Val,
    ) -> Result<(), String> {
        let items: Vec<(Val, Val)> = match over {
            Val::Map(map) => map.into_iter().map(|(k, v)| (Val::text(&k), v)).collect(),
            Val::List(list) => list
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Val::Num(i.to_string()), v))
                .collect(),
            Val::Null => Vec::new(),
            other => return Err(format!("range over a {}", other.kind())),
        };
        if items.is_empty() {
            let scope = self.vars.len();
            let result = self.nodes(otherwise, dot);
            self.vars.truncate(scope);
            return result;
        }
        for (key, value) in items {
            let scope = self.vars.len();
            match vars {
                [v] => self.vars.push((v.clone(), value.clone())),
                [k, v] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((v.clone(), value.clone()));
                }
                _ => {}
            }
            let result = self.nodes(body, &value);
            self.vars.truncate(scope);
            result?;
        }
        Ok(())
    }

    fn set(&mut self, var: &str, declare: bool, value: Val) -> Result<(), String> {
        if declare {
            self.vars.push((var.to_owned(), value));
            return Ok(());
        }
        match self.vars.iter_mut().rev().find(|(name, _)| name == var) {
            Some((_, slot)) => {
                *slot = value;
                Ok(())
            }
            None => Err(format!("undefined variable ${var}")),
        }
    }

    fn pipeline(&mut self, pipeline: &Pipeline, dot: &Val) -> Result<Val, String> {
        let mut piped: Option<Val> = None;
        for command in &pipeline.0 {
            self.step()?;
            piped = Some(self.command(command, dot, piped)?);
        }
        Ok(piped.unwrap_or(Val::Null))
    }

    fn command(&mut self, command: &Command, dot: &Val, piped: Option<Val>) -> Result<Val, String> {
        match command.0.as_slice() {
            [Arg::Func(name), rest @ ..] => {
                let mut args = Vec::with_capacity(rest.len() + 1);
                for arg in rest {
                    args.push(self.arg(arg, dot)?);
                }
                args.extend(piped);
                funcs::call(name, args)
            }
            [single] => self.arg(single, dot),
            _ => Err("empty command".into()),
        }
    }

    fn arg(&mut self, arg: &Arg, dot: &Val) -> Result<Val, String> {
        match arg {
            Arg::Func(name) => funcs::call(name, Vec::new()),
            Arg::Str(s) => Ok(Val::text(s)),
            Arg::Num(n) => Ok(Val::Num(n.clone())),
            Arg::Bool(b) => Ok(Val::Bool(*b)),
            Arg::Nil => Ok(Val::Null),
            Arg::Sub(pipeline) => self.pipeline(pipeline, dot),
            Arg::Field(path) => fields(dot.clone(), path, "."),
            Arg::Var(name, path) => {
                let value = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("undefined variable ${name}"))?;
                fields(value, path, &format!("${name}"))
            }
            Arg::Chain(inner, path) => {
                let value = self.arg(inner, dot)?;
                fields(value, path, "(...)")
            }
        }
    }
}

/// Follows `.a.b` from `value`: a missing key is an error (ESO renders with
/// `missingkey=error`).
fn fields(mut value: Val, path: &[String], from: &str) -> Result<Val, String> {
    for name in path {
        value = match value {
            Val::Map(mut map) => map
                .remove(name.as_str())
                .ok_or_else(|| format!("map has no entry for key {name:?}"))?,
            other => {
                return Err(format!(
                    "{from} is a {}, it has no field {name:?} (use fromJson first)",
                    other.kind()
                ));
            }
        };
    }
    Ok(value)
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
        assert_eq!(out("{{ (.config | fromJson).host }}"), "db");
        assert_eq!(
            out("{{ .config | fromJson | toYaml | fromYaml | toJson }}"),
            r#"{"host":"db","port":5432,"tags":["a","b"]}"#
        );
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
    fn blocks_ranges_and_variables_evaluate() {
        assert_eq!(
            out(
                "{{- range $k, $v := . }}{{ if eq $k \"user\" \"b64\" }}{{ $k }}={{ $v }};{{ end }}{{ end }}"
            ),
            "b64=aGVsbG8=;user=admin;"
        );
        assert_eq!(
            out(
                "{{ $c := .config | fromJson }}{{ range $c.tags }}[{{ . }}]{{ else }}none{{ end }}{{ with $c.host }}@{{ . }}{{ end }}"
            ),
            "[a][b]@db"
        );
        assert_eq!(
            out(
                "{{ $x := \"a\" }}{{ if .user }}{{ $x = \"b\" }}{{ end }}{{ $x }}{{ if not .user }}no{{ else if .b64 }}yes{{ end }}"
            ),
            "byes"
        );
        assert_eq!(
            out(
                "{{ $l := list }}{{ range $u, $p := . }}{{ $l = append $l $u }}{{ end }}{{ join \",\" $l }}"
            ),
            "b64,config,pass-word,user"
        );
        assert!(
            render(
                "{{ range . }}{{ range $.config }}{{ end }}{{ end }}",
                &data()
            )
            .is_err()
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
            ("{{ $nope }}", "undefined variable"),
            ("{{ .user | fromJson }}", "fromJson"),
        ] {
            let err = render(text, &data()).err().unwrap();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(!err.contains("admin"), "{err}");
        }
    }
}
