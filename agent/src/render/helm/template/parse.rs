//! The parser of Go's `text/template`: actions, control structures, pipelines and
//! `define`d templates.

use super::ast::{Arg, Callee, Cmd, List, Node, Pipe};
use super::lexer::{Tok, Token, lex, line_of, parse_number};
use super::{TemplateError, Value};
use std::sync::Arc;

/// A parsed template file plus the templates it `define`s.
pub(crate) struct Parsed {
    pub root: Arc<List>,
    pub defines: Vec<(String, Arc<List>)>,
}

/// Parses one template text.
pub(crate) fn parse(name: &str, text: &str) -> Result<Parsed, TemplateError> {
    let toks = lex(name, text)?;
    let mut p = Parser {
        name,
        text,
        toks,
        i: 0,
        defines: Vec::new(),
        vars: vec![vec!["$".to_owned()]],
        depth: 0,
    };
    let (root, end) = p.list(true)?;
    if let Some(end) = end {
        return Err(p.err_at(end.1, format!("unexpected {{{{{}}}}}", end.0)));
    }
    Ok(Parsed {
        root: Arc::new(root),
        defines: p.defines,
    })
}

struct Parser<'a> {
    name: &'a str,
    text: &'a str,
    toks: Vec<Token>,
    i: usize,
    defines: Vec<(String, Arc<List>)>,
    vars: Vec<Vec<String>>,
    depth: usize,
}

/// How a list ended: `end`, `else` (with what follows on the same action), at a position.
type Ending = Option<(String, usize)>;

impl Parser<'_> {
    fn err_at(&self, pos: usize, reason: impl Into<String>) -> TemplateError {
        TemplateError::Parse {
            name: self.name.to_owned(),
            line: line_of(self.text, pos),
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.text.len(), |t| t.pos)
    }

    /// Takes the next token (the parser never goes back over a token it took).
    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get_mut(self.i).map(|t| Token {
            tok: std::mem::replace(&mut t.tok, Tok::Space),
            pos: t.pos,
        });
        self.i += 1;
        t
    }

    /// The keyword of the next token, when it is an identifier.
    fn peek_ident(&self) -> Option<&'static str> {
        const KEYWORDS: &[&str] = &[
            "end", "else", "if", "with", "range", "define", "block", "template", "break",
            "continue",
        ];
        match self.peek() {
            Some(Tok::Ident(kw)) => KEYWORDS.iter().copied().find(|k| *k == kw.as_str()),
            _ => None,
        }
    }

    fn skip_space(&mut self) {
        while self.peek() == Some(&Tok::Space) {
            self.i += 1;
        }
    }

    fn next_non_space(&mut self) -> Option<Token> {
        self.skip_space();
        self.next()
    }

    fn expect_close(&mut self, ctx: &str) -> Result<(), TemplateError> {
        let pos = self.pos();
        match self.next_non_space() {
            Some(Token {
                tok: Tok::Close, ..
            }) => Ok(()),
            _ => Err(self.err_at(pos, format!("unexpected token in {ctx}"))),
        }
    }

    /// Parses nodes until `{{end}}`, `{{else ...}}` or the end of input. Returns the
    /// keyword that ended it (the `else` keyword leaves the rest of its action unread).
    fn list(&mut self, top: bool) -> Result<(List, Ending), TemplateError> {
        self.depth += 1;
        if self.depth > 200 {
            return Err(self.err_at(self.pos(), "template nesting too deep"));
        }
        let mut out = Vec::new();
        while let Some(tok) = self.next() {
            match tok.tok {
                Tok::Text(s) => out.push(Node::Text(s)),
                Tok::Open => {
                    self.skip_space();
                    let kw_pos = self.pos();
                    if let Some(kw) = self.peek_ident() {
                        match kw {
                            "end" | "else" => {
                                self.i += 1;
                                if kw == "end" {
                                    self.expect_close("end")?;
                                }
                                if top && self.depth == 1 {
                                    return Err(
                                        self.err_at(kw_pos, format!("unexpected {{{{{kw}}}}}"))
                                    );
                                }
                                self.depth -= 1;
                                return Ok((out, Some((kw.to_owned(), kw_pos))));
                            }
                            "if" | "with" | "range" => {
                                self.i += 1;
                                out.push(self.control(kw)?);
                                continue;
                            }
                            "define" | "block" => {
                                self.i += 1;
                                if let Some(n) = self.define(kw == "block", kw_pos)? {
                                    out.push(n);
                                }
                                continue;
                            }
                            "template" => {
                                self.i += 1;
                                out.push(self.template(kw_pos)?);
                                continue;
                            }
                            "break" | "continue" => {
                                self.i += 1;
                                self.expect_close(kw)?;
                                out.push(if kw == "break" {
                                    Node::Break
                                } else {
                                    Node::Continue
                                });
                                continue;
                            }
                            _ => {}
                        }
                    }
                    let pipe = self.pipeline("command", true)?;
                    out.push(Node::Action(pipe));
                }
                other => return Err(self.err_at(tok.pos, format!("unexpected {other:?}"))),
            }
        }
        self.depth -= 1;
        if !top {
            return Err(self.err_at(self.text.len(), "unexpected EOF"));
        }
        Ok((out, None))
    }

    fn control(&mut self, kw: &str) -> Result<Node, TemplateError> {
        self.vars.push(Vec::new());
        let pipe = self.pipeline(kw, kw == "range")?;
        let (body, end) = self.list(false)?;
        let mut otherwise = Vec::new();
        if let Some((k, _)) = &end
            && k == "else"
        {
            self.skip_space();
            // `else if` / `else with` chain: parse as a nested control in the else branch.
            match self.peek_ident() {
                Some(next) if (next == "if" && kw == "if") || (next == "with" && kw == "with") => {
                    self.i += 1;
                    self.vars.pop();
                    self.vars.push(Vec::new());
                    otherwise.push(self.control(next)?);
                    self.vars.pop();
                    return Ok(self.make(kw, pipe, body, otherwise));
                }
                _ => {
                    self.expect_close("else")?;
                    let (rest, end2) = self.list(false)?;
                    if end2.as_ref().map(|e| e.0.as_str()) != Some("end") {
                        return Err(self.err_at(self.pos(), "expected end; found else"));
                    }
                    otherwise = rest;
                }
            }
        }
        self.vars.pop();
        Ok(self.make(kw, pipe, body, otherwise))
    }

    fn make(&self, kw: &str, pipe: Pipe, then: List, otherwise: List) -> Node {
        match kw {
            "range" => Node::Range {
                pipe,
                body: then,
                otherwise,
            },
            _ => Node::If {
                pipe,
                then,
                otherwise,
                with: kw == "with",
            },
        }
    }

    fn define(&mut self, block: bool, pos: usize) -> Result<Option<Node>, TemplateError> {
        let name = match self.next_non_space() {
            Some(Token {
                tok: Tok::Str(s), ..
            }) => s,
            _ => return Err(self.err_at(pos, "name of template must be a string")),
        };
        let pipe = if block {
            Some(self.pipeline("block", false)?)
        } else {
            self.expect_close("define clause")?;
            None
        };
        let saved = std::mem::replace(&mut self.vars, vec![vec!["$".to_owned()]]);
        let (body, end) = self.list(false)?;
        self.vars = saved;
        if end.as_ref().map(|e| e.0.as_str()) != Some("end") {
            return Err(self.err_at(pos, "unexpected else in define"));
        }
        // Go refuses two non-empty definitions of one name in one text.
        let empty = |l: &List| {
            l.iter()
                .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
        };
        if let Some(i) = self.defines.iter().position(|(n, _)| *n == name) {
            if !empty(&self.defines[i].1) && !empty(&body) {
                return Err(self.err_at(pos, format!("multiple definition of template {name:?}")));
            }
            if empty(&body) {
                return Ok(pipe.map(|pipe| Node::Template {
                    name,
                    pipe: Some(pipe),
                    pos,
                }));
            }
            self.defines.remove(i);
        }
        self.defines.push((name.clone(), Arc::new(body)));
        Ok(pipe.map(|pipe| Node::Template {
            name,
            pipe: Some(pipe),
            pos,
        }))
    }

    fn template(&mut self, pos: usize) -> Result<Node, TemplateError> {
        // Go places the node at its name.
        let (name, pos) = match self.next_non_space() {
            Some(Token {
                tok: Tok::Str(s),
                pos,
            }) => (s, pos),
            _ => return Err(self.err_at(pos, "unexpected name in template clause")),
        };
        self.skip_space();
        if self.peek() == Some(&Tok::Close) {
            self.i += 1;
            return Ok(Node::Template {
                name,
                pipe: None,
                pos,
            });
        }
        let pipe = self.pipeline("template clause", false)?;
        Ok(Node::Template {
            name,
            pipe: Some(pipe),
            pos,
        })
    }

    fn declared(&self, name: &str) -> bool {
        self.vars
            .iter()
            .any(|scope| scope.iter().any(|v| v == name))
    }

    /// Parses a pipeline up to `}}` (or `)` when inside parentheses).
    fn pipeline(&mut self, ctx: &str, multi_decl: bool) -> Result<Pipe, TemplateError> {
        self.skip_space();
        let pos = self.pos();
        let mut decl = Vec::new();
        let mut is_assign = false;
        // Look for `$x :=`, `$x =` or `$k, $v :=`.
        let save = self.i;
        if let Some(Tok::Var(v)) = self.peek().cloned() {
            self.i += 1;
            self.skip_space();
            match self.peek().cloned() {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    is_assign = self.peek() == Some(&Tok::Assign);
                    self.i += 1;
                    decl.push(Arc::from(v));
                }
                Some(Tok::Comma) if multi_decl => {
                    self.i += 1;
                    self.skip_space();
                    match (self.next(), self.next_non_space()) {
                        (
                            Some(Token {
                                tok: Tok::Var(v2), ..
                            }),
                            Some(Token {
                                tok: t @ (Tok::Declare | Tok::Assign),
                                ..
                            }),
                        ) => {
                            is_assign = t == Tok::Assign;
                            decl.push(Arc::from(v));
                            decl.push(Arc::from(v2));
                        }
                        _ => {
                            return Err(self.err_at(pos, format!("too many declarations in {ctx}")));
                        }
                    }
                }
                _ => self.i = save,
            }
        }
        if is_assign {
            for v in &decl {
                if !self.declared(v) {
                    return Err(self.err_at(pos, format!("undefined variable \"{v}\"")));
                }
            }
        } else if let Some(scope) = self.vars.last_mut() {
            scope.extend(decl.iter().map(|v| v.to_string()));
        }
        let mut cmds = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(Tok::Close) => {
                    self.i += 1;
                    break;
                }
                Some(Tok::RParen) if ctx == "parenthesized pipeline" => {
                    self.i += 1;
                    break;
                }
                None => return Err(self.err_at(pos, format!("unclosed action in {ctx}"))),
                _ => {}
            }
            cmds.push(self.command(ctx)?);
            self.skip_space();
            if self.peek() == Some(&Tok::Pipe) {
                self.i += 1;
                self.skip_space();
                if matches!(self.peek(), Some(Tok::Close) | Some(Tok::RParen)) {
                    return Err(self.err_at(pos, "missing command after |"));
                }
            }
        }
        if cmds.is_empty() {
            return Err(self.err_at(pos, format!("missing value for {ctx}")));
        }
        for c in &cmds[1..] {
            if let Some(Arg::Const(v, lit, _)) = c.args.first() {
                let s = super::nodes::const_text(v, lit);
                return Err(self.err_at(
                    c.pos,
                    format!("non executable command in pipeline stage 2: {s}"),
                ));
            }
        }
        Ok(Pipe {
            pos,
            decl,
            is_assign,
            cmds,
        })
    }

    fn command(&mut self, ctx: &str) -> Result<Cmd, TemplateError> {
        let pos = self.pos();
        let mut args = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None | Some(Tok::Close) | Some(Tok::Pipe) | Some(Tok::RParen) => break,
                _ => {}
            }
            let arg = self.operand()?;
            args.push(arg);
            // Operands must be separated by space.
            match self.peek() {
                Some(Tok::Space) | Some(Tok::Close) | Some(Tok::Pipe) | Some(Tok::RParen)
                | None => {}
                Some(other) => {
                    let other = format!("{other:?}");
                    return Err(self.err_at(self.pos(), format!("unexpected {other} in operand")));
                }
            }
        }
        if args.is_empty() {
            return Err(self.err_at(pos, format!("empty command in {ctx}")));
        }
        Ok(Cmd { pos, args })
    }

    /// Reads the field names that follow an operand, and the position of the first.
    fn fields(&mut self) -> (Vec<String>, Option<usize>) {
        let mut out = Vec::new();
        let first = self.toks.get(self.i).map(|t| t.pos);
        while let Some(Tok::Field(_)) = self.peek() {
            if let Some(Token {
                tok: Tok::Field(f), ..
            }) = self.next()
            {
                out.push(f);
            }
        }
        let pos = if out.is_empty() { None } else { first };
        (out, pos)
    }

    fn operand(&mut self) -> Result<Arg, TemplateError> {
        let Some(t) = self.next() else {
            return Err(self.err_at(self.text.len(), "unexpected EOF"));
        };
        let arg = match t.tok {
            Tok::Field(f) => {
                let mut chain = vec![f];
                let (more, pos) = self.fields();
                chain.extend(more);
                Arg::Field(chain, pos.unwrap_or(t.pos))
            }
            Tok::Var(v) => {
                if !self.declared(&v) {
                    return Err(self.err_at(t.pos, format!("undefined variable \"{v}\"")));
                }
                let (chain, pos) = self.fields();
                Arg::Var(v, chain, pos.unwrap_or(t.pos))
            }
            Tok::Dot => {
                if matches!(self.peek(), Some(Tok::Field(_))) {
                    return Err(self.err_at(t.pos, "unexpected . after term \".\""));
                }
                Arg::Dot(t.pos)
            }
            Tok::Nil => Arg::Nil(t.pos),
            Tok::Bool(b) => Arg::Const(Value::Bool(b), String::new(), t.pos),
            Tok::Str(s) => Arg::Const(Value::String(Arc::from(s)), String::new(), t.pos),
            Tok::Char(c) => {
                let end = self.toks.get(self.i).map_or(self.text.len(), |n| n.pos);
                Arg::Const(
                    Value::Int(c),
                    self.text[t.pos..end].trim_end().to_owned(),
                    t.pos,
                )
            }
            Tok::Number(n) => {
                let v = parse_number(&n)
                    .ok_or_else(|| self.err_at(t.pos, format!("bad number syntax: {n:?}")))?;
                Arg::Const(v, n, t.pos)
            }
            Tok::Ident(name) => {
                let callee = match name.as_str() {
                    "and" => Callee::And,
                    "or" => Callee::Or,
                    _ => match super::funcs::lookup(&name) {
                        Some(func) => Callee::Func(func),
                        None => {
                            return Err(
                                self.err_at(t.pos, format!("function {name:?} not defined"))
                            );
                        }
                    },
                };
                Arg::Ident(name, callee, t.pos)
            }
            Tok::LParen => {
                let pipe = self.pipeline("parenthesized pipeline", false)?;
                let (chain, pos) = self.fields();
                Arg::Pipe(Box::new(pipe), chain, pos.unwrap_or(t.pos))
            }
            other => return Err(self.err_at(t.pos, format!("unexpected {other:?} in operand"))),
        };
        Ok(arg)
    }
}
