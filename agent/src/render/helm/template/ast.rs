//! The nodes of a parsed Go `text/template`: text, actions, control structures,
//! pipelines, commands and their operands.

use super::Value;
use super::funcs::Func;
use std::sync::Arc;

/// A sequence of nodes.
pub(crate) type List = Vec<Node>;

/// A node of a parsed template.
#[derive(Debug)]
pub(crate) enum Node {
    /// Literal text.
    Text(Arc<str>),
    /// `{{ pipeline }}`: prints unless it declares variables.
    Action(Pipe),
    /// `if` / `with` (`with` sets dot) with their `else` branch.
    If {
        pipe: Pipe,
        then: List,
        otherwise: List,
        with: bool,
    },
    /// `range`.
    Range {
        pipe: Pipe,
        body: List,
        otherwise: List,
    },
    /// `{{ template "name" pipeline }}`.
    Template {
        name: String,
        pipe: Option<Pipe>,
        pos: usize,
    },
    /// `break`.
    Break,
    /// `continue`.
    Continue,
}

/// A pipeline, possibly declaring or assigning variables.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub decl: Vec<Arc<str>>,
    pub is_assign: bool,
    pub cmds: Vec<Cmd>,
}

/// A command of a pipeline: a function, method or value with its arguments.
#[derive(Debug)]
pub(crate) struct Cmd {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// An operand, with the position Go reports for it (for a field chain, the position of
/// its second field, as Go's parser builds the node).
#[derive(Debug)]
pub(crate) enum Arg {
    /// `.A.B` chain from dot.
    Field(Vec<String>, usize),
    /// `$x.A.B`.
    Var(String, Vec<String>, usize),
    /// `.`.
    Dot(usize),
    /// `nil`.
    Nil(usize),
    /// A literal (bool, string, number) and how Go prints it when that is not the
    /// value's own printing (number and character literals as written; empty otherwise,
    /// see [`super::nodes::const_text`]).
    Const(Value, String, usize),
    /// A function name and the function, resolved when the template is parsed.
    Ident(String, Callee, usize),
    /// `( pipeline )` with an optional field chain after it.
    Pipe(Box<Pipe>, Vec<String>, usize),
}

impl Arg {
    /// The position Go reports for this node.
    pub(crate) fn pos(&self) -> usize {
        match self {
            Arg::Field(_, p)
            | Arg::Var(_, _, p)
            | Arg::Dot(p)
            | Arg::Nil(p)
            | Arg::Const(_, _, p)
            | Arg::Ident(_, _, p)
            | Arg::Pipe(_, _, p) => *p,
        }
    }
}

/// What a function name calls: `and` and `or` (which evaluate their arguments lazily) or a
/// function of the table, found once when the template is parsed rather than by name at
/// every call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Callee {
    /// `and`.
    And,
    /// `or`.
    Or,
    /// Any other function.
    Func(Func),
}
