//! Execution of parsed templates: Go's `text/template` semantics over [`Value`]s.

use super::ast::{Arg, Cmd, List, Node, Pipe};
use super::mutation::Mutations;
use super::nodes::{arg_string, last_node, printable};
use super::{Def, Environment, TemplateSet, Value};
use std::collections::HashMap;
use std::sync::Arc;

mod call;

/// Why execution stopped: a formatted error or a control flow signal.
pub(crate) type Fail = String;

/// How a list of nodes ended.
#[derive(PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// A `tpl` text, parsed: its body and the templates it `define`s.
pub(crate) struct Tpl {
    pub root: Arc<Def>,
    pub layer: Arc<HashMap<String, Arc<Def>>>,
}

/// The state of one render (one top-level template), shared by nested includes.
pub(crate) struct Exec<'a> {
    pub set: &'a TemplateSet,
    pub env: &'a Environment,
    /// Templates `define`d by `tpl` texts being executed (innermost last).
    pub overlay: Vec<Arc<HashMap<String, Arc<Def>>>>,
    /// The definition being executed (for error positions).
    pub def: Arc<Def>,
    /// The name it was called by (`executing "NAME"`).
    pub exec_name: Arc<str>,
    /// Variables in scope; the flag marks a nil that Go holds as a nil `interface{}` (a
    /// `range` element), whose fields are a nil pointer error, unlike a pipeline's nil.
    vars: Vec<(Arc<str>, Value, bool)>,
    /// Whether dot is a `range` element that is a nil `interface{}` (see `vars`).
    dot_nil_iface: bool,
    /// The name of the root variable, `$`.
    dollar: Arc<str>,
    pub steps: u64,
    pub depth: usize,
    pub written: usize,
    /// Set when a bound in the limits was reached, so the error is reported as such.
    pub limit_hit: bool,
    /// Per-name include counts, as Helm bounds recursion.
    pub included: HashMap<String, usize>,
    pub rng: Option<rand_chacha::ChaCha20Rng>,
    /// Parsed `tpl` texts, by text (kept from one template to the next).
    pub tpl_cache: HashMap<Arc<str>, Arc<Tpl>>,
    /// Maps changed in place (`set`, `merge`, ...), as Go's shared maps would show them.
    pub mutations: Mutations,
}

impl<'a> Exec<'a> {
    pub(crate) fn new(
        set: &'a TemplateSet,
        env: &'a Environment,
        def: Arc<Def>,
        name: &str,
    ) -> Self {
        Exec {
            set,
            env,
            overlay: Vec::new(),
            def,
            exec_name: Arc::from(name),
            vars: Vec::new(),
            dot_nil_iface: false,
            dollar: Arc::from("$"),
            steps: 0,
            depth: 0,
            written: 0,
            limit_hit: false,
            included: HashMap::new(),
            rng: None,
            tpl_cache: HashMap::new(),
            mutations: Mutations::default(),
        }
    }

    /// Records that the map `old` was changed in place into `new`.
    pub(crate) fn mutated(&mut self, old: &Value, new: &Value) {
        self.mutations.record(old, new);
    }

    /// The current state of a value read from a variable, a field or dot.
    fn fix(&mut self, v: Value) -> Value {
        self.mutations.resolve(v)
    }

    /// The random generator, seeded from the environment on first use.
    pub(crate) fn rng(&mut self) -> &mut rand_chacha::ChaCha20Rng {
        use rand::SeedableRng;
        let seed = self.env.seed;
        self.rng
            .get_or_insert_with(|| rand_chacha::ChaCha20Rng::from_seed(seed))
    }

    /// The bounds of this render.
    pub(crate) fn set_limits(&self) -> &super::Limits {
        &self.set.limits
    }

    /// Finds a template by name (tpl overlays first).
    pub(crate) fn lookup_def(&self, name: &str) -> Option<Arc<Def>> {
        for o in self.overlay.iter().rev() {
            if let Some(d) = o.get(name) {
                return Some(d.clone());
            }
        }
        self.set.defs.get(name).cloned()
    }

    /// Formats an execution error at a node, as Go does.
    pub(crate) fn error_at(&self, pos: usize, node: &str, msg: &str) -> Fail {
        let text = &self.def.text;
        let pos = pos.min(text.len());
        let before = &text[..pos];
        let line = 1 + before.matches('\n').count();
        let col = before.rfind('\n').map_or(pos, |i| pos - i - 1);
        let ctx = node;
        format!(
            "template: {}:{line}:{col}: executing \"{}\" at <{ctx}>: {msg}",
            self.def.parse_name, self.exec_name
        )
    }

    fn step(&mut self, pos: usize) -> Result<(), Fail> {
        self.steps += 1;
        if self.steps > self.set.limits.max_steps {
            self.limit_hit = true;
            return Err(self.error_at(
                pos,
                "",
                &format!(
                    "the template exceeded {} evaluation steps",
                    self.set.limits.max_steps
                ),
            ));
        }
        Ok(())
    }

    fn write(&mut self, out: &mut String, s: &str) -> Result<(), Fail> {
        self.written += s.len();
        if self.written > self.set.limits.max_output {
            self.limit_hit = true;
            return Err(format!(
                "template: {}: output exceeds the limit of {} bytes",
                self.exec_name, self.set.limits.max_output
            ));
        }
        out.push_str(s);
        Ok(())
    }

    /// Runs the definition `def` with `dot` in a fresh variable scope, writing to `out`.
    pub(crate) fn run_def(
        &mut self,
        def: Arc<Def>,
        name: &str,
        dot: &Value,
        out: &mut String,
    ) -> Result<(), Fail> {
        if self.depth >= self.set.limits.max_depth {
            self.limit_hit = true;
            return Err(format!(
                "template: {}: nesting of include, template and tpl calls exceeds {} (while calling \"{name}\")",
                self.exec_name, self.set.limits.max_depth
            ));
        }
        self.depth += 1;
        let saved_def = std::mem::replace(&mut self.def, def.clone());
        let saved_name = std::mem::replace(&mut self.exec_name, Arc::from(name));
        let saved_vars = std::mem::replace(
            &mut self.vars,
            vec![(self.dollar.clone(), dot.clone(), false)],
        );
        let saved_iface = std::mem::replace(&mut self.dot_nil_iface, false);
        let r = self.list(&def.body, dot, out);
        self.dot_nil_iface = saved_iface;
        self.vars = saved_vars;
        self.exec_name = saved_name;
        self.def = saved_def;
        self.depth -= 1;
        r.map(|_| ())
    }

    fn list(&mut self, list: &List, dot: &Value, out: &mut String) -> Result<Flow, Fail> {
        for node in list {
            let flow = self.node(node, dot, out)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn node(&mut self, node: &Node, dot: &Value, out: &mut String) -> Result<Flow, Fail> {
        match node {
            Node::Text(t) => self.write(out, t)?,
            Node::Action(pipe) => {
                self.step(pipe.pos)?;
                let v = self.pipe(pipe, dot)?;
                if pipe.decl.is_empty() {
                    match &v {
                        Value::String(s) => self.write(out, s)?,
                        other => {
                            let s = printable(other);
                            self.write(out, &s)?;
                        }
                    }
                }
            }
            Node::If {
                pipe,
                then,
                otherwise,
                with,
            } => {
                self.step(pipe.pos)?;
                let mark = self.vars.len();
                let v = self.pipe(pipe, dot)?;
                let r = if v.truth() {
                    if *with {
                        self.list(then, &v, out)
                    } else {
                        self.list(then, dot, out)
                    }
                } else {
                    self.list(otherwise, dot, out)
                };
                self.vars.truncate(mark);
                return r;
            }
            Node::Range {
                pipe,
                body,
                otherwise,
            } => {
                self.step(pipe.pos)?;
                return self.range(pipe, body, otherwise, dot, out);
            }
            Node::Template { name, pipe, pos } => {
                self.step(*pos)?;
                let arg = match pipe {
                    Some(p) => self.pipe(p, dot)?,
                    None => Value::Nil,
                };
                let Some(def) = self.lookup_def(name) else {
                    let node = match pipe {
                        Some(p) => format!(
                            "{{{{template {} {}}}}}",
                            super::print::go_quote(name),
                            super::nodes::pipe_string(p)
                        ),
                        None => format!("{{{{template {}}}}}", super::print::go_quote(name)),
                    };
                    return Err(self.error_at(
                        *pos,
                        &node,
                        &format!("template {name:?} not defined"),
                    ));
                };
                self.run_def(def, name, &arg, out)?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn range(
        &mut self,
        pipe: &Pipe,
        body: &List,
        otherwise: &List,
        dot: &Value,
        out: &mut String,
    ) -> Result<Flow, Fail> {
        let mark = self.vars.len();
        // The pipeline's value without declaring: range declares per iteration.
        let v = self.pipe_value(pipe, dot)?.collection();
        let mut items: Vec<(Value, Value)> = Vec::new();
        let iterate =
            |this: &mut Self, k: Value, e: Value, out: &mut String| -> Result<Flow, Fail> {
                this.step(pipe.pos)?;
                this.vars.truncate(mark);
                let iface = matches!(e, Value::Nil);
                match pipe.decl.len() {
                    1 => this.set_or_push(&pipe.decl[0], e.clone(), pipe.is_assign, iface),
                    2 => {
                        this.set_or_push(&pipe.decl[0], k, pipe.is_assign, false);
                        this.set_or_push(&pipe.decl[1], e.clone(), pipe.is_assign, iface);
                    }
                    _ => {}
                }
                let saved = std::mem::replace(&mut this.dot_nil_iface, iface);
                let r = this.list(body, &e, out);
                this.dot_nil_iface = saved;
                r
            };
        match &v {
            Value::List(l) => {
                for (i, e) in l.iter().enumerate() {
                    items.push((Value::Int(i as i64), e.clone()));
                }
            }
            Value::Map(m) => {
                for (k, e) in m.iter() {
                    items.push((Value::str(k), e.clone()));
                }
            }
            Value::Object(o) if o.entries().is_some() => items = o.entries().unwrap_or_default(),
            Value::Nil => {}
            other => {
                let (pos, node) = last_node(pipe);
                return Err(self.error_at(
                    pos,
                    &node,
                    &format!("range can't iterate over {}", other.to_v()),
                ));
            }
        }
        if items.is_empty() {
            let r = self.list(otherwise, dot, out);
            self.vars.truncate(mark);
            return r;
        }
        for (k, e) in items {
            let flow = iterate(self, k, e, out)?;
            if flow == Flow::Break {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn set_or_push(&mut self, name: &Arc<str>, v: Value, assign: bool, iface: bool) {
        if assign && let Some(slot) = self.vars.iter_mut().rev().find(|(n, ..)| n == name) {
            slot.1 = v;
            slot.2 = iface;
            return;
        }
        self.vars.push((name.clone(), v, iface));
    }

    /// Whether a nil at the head of this node's field chain is Go's invalid value (a field
    /// of it is no value) rather than a nil `interface{}` (a nil pointer error).
    fn nil_is_invalid(&self, node: &Arg) -> bool {
        match node {
            Arg::Pipe(..) => true,
            Arg::Var(name, ..) => !self
                .vars
                .iter()
                .rev()
                .find(|(n, ..)| **n == **name)
                .is_some_and(|v| v.2),
            Arg::Field(..) => !self.dot_nil_iface,
            _ => false,
        }
    }

    /// Evaluates a pipeline and declares or assigns its variables.
    pub(crate) fn pipe(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value, Fail> {
        let v = self.pipe_value(pipe, dot)?;
        for name in &pipe.decl {
            self.set_or_push(name, v.clone(), pipe.is_assign, false);
        }
        Ok(v)
    }

    fn pipe_value(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value, Fail> {
        let mut last: Option<Value> = None;
        for cmd in &pipe.cmds {
            last = Some(self.cmd(cmd, dot, last)?);
        }
        Ok(last.unwrap_or(Value::Nil))
    }

    fn cmd(&mut self, cmd: &Cmd, dot: &Value, fin: Option<Value>) -> Result<Value, Fail> {
        let first = &cmd.args[0];
        let rest = &cmd.args[1..];
        match first {
            Arg::Field(chain, _) => {
                let d = self.fix(dot.clone());
                self.chain(d, chain, rest, fin, first, dot)
            }
            Arg::Var(name, chain, pos) => {
                let v = self.var(name, *pos)?;
                if chain.is_empty() {
                    self.not_a_function(first, rest, &fin)?;
                    return Ok(v);
                }
                self.chain(v, chain, rest, fin, first, dot)
            }
            Arg::Pipe(p, chain, _) => {
                let v = self.pipe_value(p, dot)?;
                if chain.is_empty() {
                    self.not_a_function(first, rest, &fin)?;
                    return Ok(v);
                }
                self.chain(v, chain, rest, fin, first, dot)
            }
            Arg::Ident(name, callee, pos) => {
                self.call(name, *callee, *pos, (cmd.pos, &cmd.args), rest, fin, dot)
            }
            Arg::Dot(_) => {
                self.not_a_function(first, rest, &fin)?;
                Ok(self.fix(dot.clone()))
            }
            Arg::Nil(pos) => Err(self.error_at(*pos, "nil", "nil is not a command")),
            Arg::Const(v, _, _) => {
                self.not_a_function(first, rest, &fin)?;
                Ok(v.clone())
            }
        }
    }

    fn not_a_function(&self, first: &Arg, rest: &[Arg], fin: &Option<Value>) -> Result<(), Fail> {
        if !rest.is_empty() || fin.is_some() {
            let s = arg_string(first);
            return Err(self.error_at(
                first.pos(),
                &s,
                &format!("can't give argument to non-function {s}"),
            ));
        }
        Ok(())
    }

    fn var(&mut self, name: &str, pos: usize) -> Result<Value, Fail> {
        match self.vars.iter().rev().find(|(n, ..)| &**n == name) {
            Some((_, v, _)) => {
                let v = v.clone();
                Ok(self.fix(v))
            }
            None => Err(self.error_at(pos, name, &format!("undefined variable: {name}"))),
        }
    }

    /// Walks a field chain from `v` (`.A.B`, `$x.A`, `(pipe).A`); the last field may be a
    /// method of an object called with the arguments.
    fn chain(
        &mut self,
        mut v: Value,
        chain: &[String],
        rest: &[Arg],
        fin: Option<Value>,
        node: &Arg,
        dot: &Value,
    ) -> Result<Value, Fail> {
        let n = chain.len();
        let pos = node.pos();
        for (i, name) in chain.iter().enumerate() {
            let last = i + 1 == n;
            let has_args = last && (!rest.is_empty() || fin.is_some());
            v = match &v {
                Value::Map(m) => {
                    if has_args {
                        return Err(self.error_at(
                            pos,
                            &arg_string(node),
                            &format!("{name} is not a method but has arguments"),
                        ));
                    }
                    m.get(name.as_str()).cloned().unwrap_or(Value::Nil)
                }
                Value::Object(o) => {
                    let field = if has_args { None } else { o.field(name) };
                    match field {
                        Some(f) => f,
                        None => {
                            let args = if last {
                                self.args(rest, fin.clone(), dot)?
                            } else {
                                Vec::new()
                            };
                            match o.call(name, &args) {
                                Some(Ok(r)) => r,
                                Some(Err(e)) => {
                                    return Err(self.error_at(
                                        pos,
                                        &arg_string(node),
                                        &format!("error calling {name}: {e}"),
                                    ));
                                }
                                None => {
                                    return Err(self.error_at(
                                        pos,
                                        &arg_string(node),
                                        &format!(
                                            "can't evaluate field {name} in type {}",
                                            o.type_name()
                                        ),
                                    ));
                                }
                            }
                        }
                    }
                }
                // Go digs a pipeline's nil interface{} down to an invalid value (so are
                // variables set from one, and dot in `include`/`tpl` of nil), and a field of
                // an invalid value is no value (no error).
                Value::Nil if i == 0 && self.nil_is_invalid(node) => {
                    return Ok(Value::Nil);
                }
                Value::Nil => {
                    return Err(self.error_at(
                        pos,
                        &arg_string(node),
                        &format!("nil pointer evaluating interface {{}}.{name}"),
                    ));
                }
                other => {
                    // Values read from maps are held as interface{} in Go.
                    let ty = if i == 0 && matches!(node, Arg::Pipe(..)) {
                        other.type_name()
                    } else {
                        "interface {}".to_owned()
                    };
                    return Err(self.error_at(
                        pos,
                        &arg_string(node),
                        &format!("can't evaluate field {name} in type {ty}"),
                    ));
                }
            };
        }
        Ok(v)
    }
}
