//! Function calls: the arguments evaluated (the piped value last), `and`/`or` evaluated
//! lazily, the function called, and its argument errors worded as Go words them.

use super::{Exec, Fail};
use crate::render::helm::template::Value;
use crate::render::helm::template::ast::{Arg, Callee};
use crate::render::helm::template::funcs::{self, Func};
use crate::render::helm::template::nodes::{args_string, parse_arg_error};

impl Exec<'_> {
    /// Evaluates the arguments of a call, then the piped value last.
    pub(super) fn args(
        &mut self,
        rest: &[Arg],
        fin: Option<Value>,
        dot: &Value,
    ) -> Result<Vec<Value>, Fail> {
        let mut out = Vec::with_capacity(rest.len() + 1);
        for a in rest {
            out.push(self.arg(a, dot)?);
        }
        if let Some(f) = fin {
            out.push(f);
        }
        Ok(out)
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, Fail> {
        match a {
            Arg::Field(chain, _) => {
                let d = self.fix(dot.clone());
                self.chain(d, chain, &[], None, a, dot)
            }
            Arg::Var(name, chain, pos) => {
                let v = self.var(name, *pos)?;
                if chain.is_empty() {
                    return Ok(v);
                }
                self.chain(v, chain, &[], None, a, dot)
            }
            Arg::Pipe(p, chain, _) => {
                let v = self.pipe_value(p, dot)?;
                if chain.is_empty() {
                    return Ok(v);
                }
                self.chain(v, chain, &[], None, a, dot)
            }
            Arg::Ident(name, callee, pos) => self.call(
                name,
                *callee,
                *pos,
                (*pos, std::slice::from_ref(a)),
                &[],
                None,
                dot,
            ),
            Arg::Dot(_) => Ok(self.fix(dot.clone())),
            Arg::Nil(_) => Ok(Value::Nil),
            Arg::Const(v, _, _) => Ok(v.clone()),
        }
    }

    /// Calls the function `name` (`callee`) at `pos`, in the command at `cmd` (its position
    /// and operands, for errors), with the arguments `rest` and the piped value `fin`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn call(
        &mut self,
        name: &str,
        callee: Callee,
        pos: usize,
        cmd: (usize, &[Arg]),
        rest: &[Arg],
        fin: Option<Value>,
        dot: &Value,
    ) -> Result<Value, Fail> {
        let func = match callee {
            Callee::Func(func) => func,
            // `and` / `or` evaluate their arguments lazily.
            Callee::And | Callee::Or => return self.and_or(name, callee, pos, cmd, rest, fin, dot),
        };
        let has_final = fin.is_some();
        let mut args = self.args(rest, fin, dot)?;
        for _ in 0..8 {
            match self.invoke(func, name, &args) {
                Ok(v) => return Ok(v),
                Err(e) if e.starts_with(funcs::ARG_ERROR) => {
                    let parsed = parse_arg_error(&e);
                    let (i, go_type, nil_ok) = parsed;
                    let is_final = has_final && i + 1 == args.len() && i >= rest.len();
                    let node = if is_final { None } else { rest.get(i) };
                    let value = args.get(i).cloned().unwrap_or(Value::Nil);
                    // A nil that Go holds as an invalid value (a variable, a pipeline's
                    // result, the piped value) becomes a nil map or slice.
                    let invalid_nil = matches!(value, Value::Nil)
                        && match node {
                            None => true,
                            Some(Arg::Var(_, c, _)) | Some(Arg::Pipe(_, c, _)) => c.is_empty(),
                            Some(Arg::Ident(..)) | Some(Arg::Nil(_)) => true,
                            _ => false,
                        };
                    if nil_ok && invalid_nil {
                        if let Some(slot) = args.get_mut(i) {
                            *slot = if go_type.starts_with('[') {
                                Value::list(Vec::new())
                            } else {
                                Value::map(Default::default())
                            };
                        }
                        continue;
                    }
                    return Err(self.arg_type_error(node, rest, pos, name, &value, go_type));
                }
                Err(e) => {
                    if e.starts_with("template: ") && self.limit_hit {
                        return Err(e);
                    }
                    return Err(self.error_at(
                        cmd.0,
                        &args_string(cmd.1),
                        &format!("error calling {name}: {e}"),
                    ));
                }
            }
        }
        Err(self.error_at(
            cmd.0,
            &args_string(cmd.1),
            &format!("error calling {name}: bad arguments"),
        ))
    }

    fn invoke(&mut self, func: Func, _name: &str, args: &[Value]) -> Result<Value, String> {
        func(self, args)
    }

    /// `and` / `or`: the arguments evaluated in turn until one decides (the piped value
    /// last), as Go's builtins do.
    #[allow(clippy::too_many_arguments)]
    fn and_or(
        &mut self,
        name: &str,
        callee: Callee,
        pos: usize,
        cmd: (usize, &[Arg]),
        rest: &[Arg],
        fin: Option<Value>,
        dot: &Value,
    ) -> Result<Value, Fail> {
        let want = matches!(callee, Callee::Or);
        let total = rest.len() + usize::from(fin.is_some());
        if total == 0 {
            return Err(self.error_at(
                pos,
                &args_string(cmd.1),
                &format!("wrong number of args for {name}: want at least 1 got 0"),
            ));
        }
        let mut last = Value::Nil;
        for a in rest {
            last = self.arg(a, dot)?;
            if last.truth() == want {
                return Ok(last);
            }
        }
        if let Some(f) = fin {
            last = f;
        }
        Ok(last)
    }
}
