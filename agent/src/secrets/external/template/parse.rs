//! Parsing the subset of Go's `text/template` that ExternalSecret templates use: text and
//! actions (`{{ }}`, with `{{-` / `-}}` trimming and `{{/* comments */}}`); pipelines of
//! commands (`.key | b64dec | upper`, `index . "k"`, `printf "%s" (.a | trim)`,
//! `(.cfg | fromJson).host`); variables (`$x := ...`, `$x = ...`, `$`, `$x.field`); and `if` /
//! `else if` / `else`, `range` (with `$k, $v :=`) and `with` blocks closed by `end`. `define`,
//! `template`, `block`, `break` and `continue` are refused with the action named: an error
//! quotes template text (from Git), never a value.

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// Literal text.
    Text(String),
    /// An action to evaluate and print.
    Action(Pipeline),
    /// `$a := pipeline` (declare) or `$a = pipeline`: prints nothing.
    Set {
        /// The variable.
        var: String,
        /// Whether it is declared here.
        declare: bool,
        /// Its value.
        pipe: Pipeline,
    },
    /// `if` / `with`: `body` when the value is not empty, else `otherwise`; `with` also sets
    /// `.` to the value.
    If {
        /// `with` rather than `if`.
        with: bool,
        /// The condition.
        cond: Pipeline,
        /// When true.
        body: Vec<Node>,
        /// When false.
        otherwise: Vec<Node>,
    },
    /// `range`: `body` per element (`.` the element; `vars` its key/index and value), else
    /// `otherwise` when there is none.
    Range {
        /// `$v` or `$k, $v`.
        vars: Vec<String>,
        /// The map or list.
        over: Pipeline,
        /// Per element.
        body: Vec<Node>,
        /// When empty.
        otherwise: Vec<Node>,
    },
}

/// `cmd | cmd | ...`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipeline(pub(crate) Vec<Command>);

/// A function call with arguments, or a single operand.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Command(pub(crate) Vec<Arg>);

/// An argument or operand.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// A function name.
    Func(String),
    /// `.` (empty) or `.a.b`, relative to the current `.`.
    Field(Vec<String>),
    /// `$name.a.b` (`$` alone is the name "").
    Var(String, Vec<String>),
    /// `(pipeline).a.b`.
    Chain(Box<Arg>, Vec<String>),
    /// A string literal.
    Str(String),
    /// A number literal, as written.
    Num(String),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `( pipeline )`.
    Sub(Pipeline),
}

/// The longest action quoted in an error.
const QUOTE: usize = 120;

/// How deeply blocks and parentheses may nest.
const MAX_NESTING: usize = 32;

pub(crate) fn quote(text: &str) -> String {
    let mut end = text.len().min(QUOTE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() {
        format!("{}...", &text[..end])
    } else {
        text.to_owned()
    }
}

/// Text or an action's body, after trimming.
enum Piece<'a> {
    Text(String),
    Action(&'a str),
}

use super::lex::{Lexer, Token};

/// Parses a whole template.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, String> {
    let pieces = scan(text)?;
    let mut parser = Parser { pieces, pos: 0 };
    let (nodes, stop) = parser.list(0)?;
    match stop {
        Stop::Eof => Ok(nodes),
        Stop::End => Err("{{end}} without a block".into()),
        Stop::Else(_) => Err("{{else}} without a block".into()),
    }
}

/// Splits `text` into text and action bodies, applying `{{-` / `-}}` and dropping comments.
fn scan(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut literal = &rest[..start];
        if trim_next {
            literal = literal.trim_start();
        }
        let after = &rest[start + 2..];
        let trim_before =
            after.starts_with('-') && after[1..].starts_with(|c: char| c.is_ascii_whitespace());
        if trim_before {
            literal = literal.trim_end();
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal.to_owned()));
        }
        let body_start = if trim_before { &after[1..] } else { after };
        let (body, consumed, trim_after) = action_body(body_start)?;
        trim_next = trim_after;
        let trimmed = body.trim();
        if trimmed.starts_with("/*") {
            if !trimmed.ends_with("*/") {
                return Err(format!("unclosed comment in {{{{{}}}}}", quote(body)));
            }
        } else {
            pieces.push(Piece::Action(body));
        }
        rest = &body_start[consumed..];
    }
    let literal = if trim_next { rest.trim_start() } else { rest };
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal.to_owned()));
    }
    Ok(pieces)
}

/// The text of an action up to its `}}` (outside string literals): the body, how many bytes
/// were consumed including the closing delimiter, and whether it ends with ` -}}`.
fn action_body(text: &str) -> Result<(&str, usize, bool), String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                let body = &text[..i];
                let trim = body.ends_with('-')
                    && body[..body.len() - 1].ends_with(|c: char| c.is_ascii_whitespace());
                let body = if trim { &body[..body.len() - 1] } else { body };
                return Ok((body, i + 2, trim));
            }
            _ => {}
        }
        i += 1;
    }
    Err(format!("unclosed action {{{{{}", quote(text)))
}

/// Why a list of nodes ended.
enum Stop {
    Eof,
    End,
    /// `else` and what follows it (`if ...` for `else if`).
    Else(String),
}

struct Parser<'a> {
    pieces: Vec<Piece<'a>>,
    pos: usize,
}

impl Parser<'_> {
    fn list(&mut self, depth: usize) -> Result<(Vec<Node>, Stop), String> {
        if depth > MAX_NESTING {
            return Err(format!("blocks nest deeper than {MAX_NESTING}"));
        }
        let mut nodes = Vec::new();
        while self.pos < self.pieces.len() {
            let body = match &self.pieces[self.pos] {
                Piece::Text(text) => {
                    nodes.push(Node::Text(text.clone()));
                    self.pos += 1;
                    continue;
                }
                Piece::Action(body) => *body,
            };
            self.pos += 1;
            let trimmed = body.trim();
            let (word, rest) = trimmed
                .split_once(|c: char| c.is_ascii_whitespace())
                .map_or((trimmed, ""), |(w, r)| (w, r.trim()));
            let wrap = |e: String| format!("{{{{{}}}}}: {e}", quote(body));
            match word {
                "end" if rest.is_empty() => return Ok((nodes, Stop::End)),
                "else" => return Ok((nodes, Stop::Else(rest.to_owned()))),
                "if" | "with" => {
                    nodes.push(self.if_block(word == "with", rest, depth).map_err(wrap)?)
                }
                "range" => nodes.push(self.range_block(rest, depth).map_err(wrap)?),
                _ => nodes.push(action(body).map_err(wrap)?),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn if_block(&mut self, with: bool, cond: &str, depth: usize) -> Result<Node, String> {
        let cond = parse_pipeline(&mut Lexer::new(cond), 0)?;
        let (body, stop) = self.list(depth + 1)?;
        let otherwise = match stop {
            Stop::Eof => return Err("no {{end}}".into()),
            Stop::End => Vec::new(),
            Stop::Else(rest) if rest.is_empty() => self.until_end(depth)?,
            Stop::Else(rest) => match rest.split_once(|c: char| c.is_ascii_whitespace()) {
                // `else if` / `else with` share the block's one `end`.
                Some(("if", cond)) => vec![self.if_block(false, cond, depth + 1)?],
                Some(("with", cond)) => vec![self.if_block(true, cond, depth + 1)?],
                _ => return Err(format!("{{{{else {}}}}} is not supported", quote(&rest))),
            },
        };
        Ok(Node::If {
            with,
            cond,
            body,
            otherwise,
        })
    }

    fn range_block(&mut self, rest: &str, depth: usize) -> Result<Node, String> {
        let mut lexer = Lexer::new(rest);
        let vars = match declaration(&mut lexer)? {
            Some((_, false)) => return Err("range assigns with :=".into()),
            Some((vars, true)) => vars,
            None => Vec::new(),
        };
        let over = parse_pipeline(&mut lexer, 0)?;
        let (body, stop) = self.list(depth + 1)?;
        let otherwise = match stop {
            Stop::Eof => return Err("no {{end}}".into()),
            Stop::End => Vec::new(),
            Stop::Else(rest) if rest.is_empty() => self.until_end(depth)?,
            Stop::Else(_) => return Err("range has a plain {{else}} only".into()),
        };
        Ok(Node::Range {
            vars,
            over,
            body,
            otherwise,
        })
    }

    fn until_end(&mut self, depth: usize) -> Result<Vec<Node>, String> {
        match self.list(depth + 1)? {
            (nodes, Stop::End) => Ok(nodes),
            (_, Stop::Eof) => Err("no {{end}}".into()),
            (_, Stop::Else(_)) => Err("a second {{else}}".into()),
        }
    }
}

/// An action that is not a block: a declaration, an assignment or a pipeline to print.
fn action(body: &str) -> Result<Node, String> {
    let mut lexer = Lexer::new(body);
    match declaration(&mut lexer)? {
        Some((mut vars, declare)) => {
            if vars.len() != 1 {
                return Err("only range declares two variables".into());
            }
            let pipe = parse_pipeline(&mut lexer, 0)?;
            Ok(Node::Set {
                var: vars.remove(0),
                declare,
                pipe,
            })
        }
        None => Ok(Node::Action(parse_pipeline(&mut lexer, 0)?)),
    }
}

/// `$a :=`, `$a, $b :=` or `$a =` at the lexer's position: the variables and whether they
/// are declared; `None` (the lexer untouched) when there is none.
fn declaration(lexer: &mut Lexer<'_>) -> Result<Option<(Vec<String>, bool)>, String> {
    let mut probe = lexer.clone();
    let mut vars = Vec::new();
    loop {
        match probe.next()? {
            Some(Token::Arg(Arg::Var(name, fields))) if fields.is_empty() && !name.is_empty() => {
                vars.push(name);
            }
            _ => return Ok(None),
        }
        match probe.next()? {
            Some(Token::Comma) if vars.len() == 1 => {}
            Some(Token::Declare) => {
                *lexer = probe;
                return Ok(Some((vars, true)));
            }
            Some(Token::Assign) if vars.len() == 1 => {
                *lexer = probe;
                return Ok(Some((vars, false)));
            }
            _ => return Ok(None),
        }
    }
}

fn parse_pipeline(lexer: &mut Lexer<'_>, depth: usize) -> Result<Pipeline, String> {
    if depth > MAX_NESTING {
        return Err(format!("parentheses nest deeper than {MAX_NESTING}"));
    }
    let (pipeline, chain) = pipeline_until(lexer, depth)?;
    if depth > 0 || chain.is_some() {
        return Err("unexpected )".into());
    }
    Ok(pipeline)
}

/// A pipeline up to the end (`depth` 0) or its closing `)` (with the fields after it).
fn pipeline_until(
    lexer: &mut Lexer<'_>,
    depth: usize,
) -> Result<(Pipeline, Option<Vec<String>>), String> {
    let mut commands = Vec::new();
    let mut args = Vec::new();
    let mut chain = None;
    loop {
        match lexer.next()? {
            None if depth > 0 => return Err("unclosed (".into()),
            None => break,
            Some(Token::Close) if depth > 0 => {
                chain = Some(Vec::new());
                break;
            }
            Some(Token::CloseChain(fields)) if depth > 0 => {
                chain = Some(fields);
                break;
            }
            Some(Token::Pipe) => {
                if args.is_empty() {
                    return Err("empty command before |".into());
                }
                commands.push(Command(std::mem::take(&mut args)));
            }
            Some(Token::Open) => {
                if depth >= MAX_NESTING {
                    return Err(format!("parentheses nest deeper than {MAX_NESTING}"));
                }
                let (sub, fields) = pipeline_until(lexer, depth + 1)?;
                let sub = Arg::Sub(sub);
                args.push(match fields {
                    Some(f) if !f.is_empty() => Arg::Chain(Box::new(sub), f),
                    _ => sub,
                });
            }
            Some(Token::Arg(arg)) => args.push(arg),
            Some(other) => return Err(format!("unexpected {other:?}")),
        }
    }
    if args.is_empty() {
        return Err("empty command".into());
    }
    commands.push(Command(args));
    for (i, command) in commands.iter().enumerate() {
        let is_func = matches!(command.0.first(), Some(Arg::Func(_)));
        if !is_func && command.0.len() > 1 {
            return Err("only a function takes arguments".into());
        }
        if i > 0 && !is_func {
            return Err("only a function can follow |".into());
        }
    }
    Ok((Pipeline(commands), chain))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn actions_pipelines_and_trimming_parse() {
        let nodes = parse("a  {{- .x | b64dec -}}  b{{/* c */}}{{ index . \"k-1\" }}").unwrap();
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[0], Node::Text("a".into()));
        assert_eq!(nodes[2], Node::Text("b".into()));
        let Node::Action(Pipeline(cmds)) = &nodes[1] else {
            panic!("an action")
        };
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[1].0, vec![Arg::Func("b64dec".into())]);
        assert!(parse("{{ printf \"%s}}\" (.a | trim) }}").is_ok());
        let chained = parse("{{ (.a | fromJson).b.c }}").unwrap();
        let Node::Action(Pipeline(cmds)) = &chained[0] else {
            panic!("an action")
        };
        assert!(matches!(&cmds[0].0[0], Arg::Chain(_, f) if f == &["b", "c"]));
    }

    #[test]
    fn blocks_and_variables_parse() {
        let nodes = parse(
            "{{ range $k, $v := . }}{{ if eq $k \"a\" }}A{{ else if $v }}V{{ else }}-{{ end }}{{ end }}{{ $x := .a }}{{ $x = 1 }}{{ $x.b }}",
        )
        .unwrap();
        assert!(matches!(&nodes[0], Node::Range { vars, .. } if vars == &["k", "v"]));
        assert!(matches!(&nodes[1], Node::Set { var, declare: true, .. } if var == "x"));
        assert!(matches!(&nodes[2], Node::Set { declare: false, .. }));
        assert!(matches!(&nodes[3], Node::Action(_)));
    }

    #[test]
    fn bad_templates_are_refused_by_name() {
        for (text, needle) in [
            ("{{ define \"x\" }}{{ end }}", "define"),
            ("{{ if .a }}x", "no {{end}}"),
            ("{{ end }}", "without a block"),
            ("{{ .a ", "unclosed"),
            ("{{ (.a }}", "unclosed ("),
            ("{{ .a .b }}", "only a function"),
            ("{{ $a, $b := .x }}", "only range"),
            ("{{ .a | nosuch }}", "nosuch"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let deep = "{{ if .a }}".repeat(40) + &"{{ end }}".repeat(40);
        assert!(parse(&deep).unwrap_err().contains("nest"));
    }
}
