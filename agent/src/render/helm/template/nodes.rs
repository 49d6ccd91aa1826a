//! Go's printing of template nodes (`<.Values.x>`, `<include "x" .>`) and its wording of
//! argument type errors, for execution errors that read as Go's.

use super::Value;
use super::ast::{Arg, Cmd, Pipe};
use super::exec::{Exec, Fail};

impl Exec<'_> {
    /// Go's wording for an argument that does not fit its parameter's type.
    pub(crate) fn arg_type_error(
        &self,
        node: Option<&Arg>,
        rest: &[Arg],
        fpos: usize,
        fname: &str,
        value: &Value,
        go_type: &str,
    ) -> Fail {
        let Some(node) = node else {
            // The piped value: Go reports it at the last argument evaluated (or the function).
            let (pos, s) = match rest.last() {
                Some(a) => (a.pos(), arg_string(a)),
                None => (fpos, fname.to_owned()),
            };
            let msg = match value {
                Value::Nil => format!("invalid value; expected {go_type}"),
                v => format!(
                    "wrong type for value; expected {go_type}; got {}",
                    v.type_name()
                ),
            };
            return self.error_at(pos, &s, &msg);
        };
        let s = arg_string(node);
        let msg = match node {
            Arg::Const(v, lit, _) => {
                let lit = const_text(v, lit);
                match go_type {
                    "string" => format!("expected string; found {lit}"),
                    "int" => format!("expected integer; found {lit}"),
                    "bool" => format!("expected bool; found {lit}"),
                    t => format!("can't handle {lit} for arg of type {t}"),
                }
            }
            Arg::Nil(_) => format!("cannot assign nil to {go_type}"),
            Arg::Var(_, c, _) | Arg::Pipe(_, c, _)
                if c.is_empty() && matches!(value, Value::Nil) =>
            {
                format!("invalid value; expected {go_type}")
            }
            Arg::Ident(..) if matches!(value, Value::Nil) => {
                format!("invalid value; expected {go_type}")
            }
            _ => match value {
                Value::Nil => {
                    format!("wrong type for value; expected {go_type}; got interface {{}}")
                }
                v => format!(
                    "wrong type for value; expected {go_type}; got {}",
                    v.type_name()
                ),
            },
        };
        self.error_at(node.pos(), &s, &msg)
    }
}

/// What an action prints for a value: `<no value>` for nil, else Go's `%v`.
pub(crate) fn printable(v: &Value) -> String {
    match v {
        Value::Nil => "<no value>".to_owned(),
        Value::String(s) => s.to_string(),
        other => other.to_v(),
    }
}

fn chain_string(chain: &[String]) -> String {
    let mut s = String::new();
    for c in chain {
        s.push('.');
        s.push_str(c);
    }
    s
}

pub(crate) fn arg_string(a: &Arg) -> String {
    match a {
        Arg::Field(c, _) => chain_string(c),
        Arg::Var(n, c, _) => format!("{n}{}", chain_string(c)),
        Arg::Dot(_) => ".".to_owned(),
        Arg::Nil(_) => "nil".to_owned(),
        Arg::Const(v, s, _) => const_text(v, s),
        Arg::Ident(n, ..) => n.clone(),
        Arg::Pipe(p, c, _) => format!("({}){}", pipe_string(p), chain_string(c)),
    }
}

/// The node Go last visited when a pipeline's value is refused (`range` over a number).
pub(crate) fn last_node(p: &Pipe) -> (usize, String) {
    match p.cmds.last() {
        Some(c) if c.args.len() == 1 && !matches!(c.args[0], Arg::Ident(..)) => {
            (c.args[0].pos(), arg_string(&c.args[0]))
        }
        Some(c) => (c.pos, cmd_string(c)),
        None => (p.pos, pipe_string(p)),
    }
}

/// Reads `\0INDEX\0GO_TYPE[\0nil-ok]`.
pub(crate) fn parse_arg_error(e: &str) -> (usize, &str, bool) {
    let mut parts = e.split(super::funcs::ARG_ERROR).skip(1);
    let i = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let t = parts.next().unwrap_or("interface {}");
    let nil_ok = parts.next() == Some("nil-ok");
    (i, t, nil_ok)
}

/// How Go prints a literal: as written for numbers and characters, quoted for strings.
pub(crate) fn const_text(v: &Value, lit: &str) -> String {
    if !lit.is_empty() {
        return lit.to_owned();
    }
    match v {
        Value::String(s) => super::print::go_quote(s),
        Value::Bool(b) => b.to_string(),
        other => other.to_v(),
    }
}

pub(crate) fn cmd_string(c: &Cmd) -> String {
    args_string(&c.args)
}

/// A command's operands as Go prints them, separated by spaces.
pub(crate) fn args_string(args: &[Arg]) -> String {
    let mut s = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&arg_string(a));
    }
    s
}

pub(crate) fn pipe_string(p: &Pipe) -> String {
    let mut s = String::new();
    if !p.decl.is_empty() {
        let names: Vec<&str> = p.decl.iter().map(|d| &**d).collect();
        s.push_str(&names.join(", "));
        s.push_str(if p.is_assign { " = " } else { " := " });
    }
    let cmds: Vec<String> = p.cmds.iter().map(cmd_string).collect();
    s.push_str(&cmds.join(" | "));
    s
}
