//! Parsing the subset of Go's `text/template` that ExternalSecret templates use: text and
//! actions (`{{ }}`, with `{{-` / `-}}` trimming and `{{/* comments */}}`), each action a
//! pipeline of commands (`.key | b64dec | upper`, `index . "k"`, `printf "%s" (.a | trim)`).
//! Control structures (`if`, `range`, `with`, `define`, ...) and variables are refused with the
//! action named: the error quotes template text (from Git), never a value.

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// Literal text.
    Text(String),
    /// An action to evaluate and print.
    Action(Pipeline),
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
    /// `.` (empty) or `.a.b`.
    Field(Vec<String>),
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

fn quote(text: &str) -> String {
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

/// Parses a whole template.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    let mut rest = text;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut literal = &rest[..start];
        if trim_next {
            literal = literal.trim_start();
        }
        let after = &rest[start + 2..];
        let trim_before = after.starts_with("- ")
            || after.starts_with("-\t")
            || after.starts_with("-\n")
            || after.starts_with("-\r");
        if trim_before {
            literal = literal.trim_end();
        }
        if !literal.is_empty() {
            nodes.push(Node::Text(literal.to_owned()));
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
            let pipeline = parse_pipeline(&mut Lexer::new(body), false)
                .map_err(|e| format!("{{{{{}}}}}: {e}", quote(body)))?;
            nodes.push(Node::Action(pipeline));
        }
        rest = &body_start[consumed..];
    }
    let literal = if trim_next { rest.trim_start() } else { rest };
    if !literal.is_empty() {
        nodes.push(Node::Text(literal.to_owned()));
    }
    Ok(nodes)
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
                let trim = body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-");
                let body = if trim { &body[..body.len() - 1] } else { body };
                return Ok((body, i + 2, trim));
            }
            _ => {}
        }
        i += 1;
    }
    Err(format!("unclosed action {{{{{}", quote(text)))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Arg(Arg),
    Pipe,
    Open,
    Close,
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn next(&mut self) -> Result<Option<Token>, String> {
        let rest = &self.text[self.pos..];
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
        let Some(c) = trimmed.chars().next() else {
            return Ok(None);
        };
        let word_end = |s: &str| {
            s.find(|c: char| c.is_whitespace() || matches!(c, '|' | '(' | ')'))
                .unwrap_or(s.len())
        };
        let token = match c {
            '|' => {
                self.pos += 1;
                Token::Pipe
            }
            '(' => {
                self.pos += 1;
                Token::Open
            }
            ')' => {
                self.pos += 1;
                Token::Close
            }
            '"' => {
                let (value, len) = string_literal(trimmed)?;
                self.pos += len;
                Token::Arg(Arg::Str(value))
            }
            '`' => {
                let end = trimmed[1..]
                    .find('`')
                    .ok_or_else(|| "unclosed raw string".to_owned())?;
                self.pos += end + 2;
                Token::Arg(Arg::Str(trimmed[1..=end].to_owned()))
            }
            '.' => {
                let end = word_end(trimmed);
                self.pos += end;
                field_token(&trimmed[..end])?
            }
            '$' => return Err("variables are not supported".into()),
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let end = word_end(trimmed);
                let word = &trimmed[..end];
                if word.parse::<f64>().is_err() {
                    return Err(format!("{word:?} is not a number"));
                }
                self.pos += end;
                Token::Arg(Arg::Num(word.to_owned()))
            }
            c if c.is_alphabetic() || c == '_' => {
                let end = word_end(trimmed);
                self.pos += end;
                word_token(&trimmed[..end])?
            }
            other => return Err(format!("unexpected {other:?}")),
        };
        Ok(Some(token))
    }
}

/// `.` or `.a.b`.
fn field_token(word: &str) -> Result<Token, String> {
    if word == "." {
        return Ok(Token::Arg(Arg::Field(Vec::new())));
    }
    let parts: Vec<String> = word[1..].split('.').map(str::to_owned).collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.chars().all(|c| c.is_alphanumeric() || c == '_'))
    {
        return Err(format!(
            "{:?} is not a field name (use index . \"key\" for keys with other characters)",
            quote(word)
        ));
    }
    Ok(Token::Arg(Arg::Field(parts)))
}

/// A function name, `true`, `false` or `nil`.
fn word_token(word: &str) -> Result<Token, String> {
    Ok(match word {
        "true" => Token::Arg(Arg::Bool(true)),
        "false" => Token::Arg(Arg::Bool(false)),
        "nil" => Token::Arg(Arg::Nil),
        w if KEYWORDS.contains(&w) => return Err(format!("{w:?} actions are not supported")),
        w if w.chars().all(|c| c.is_alphanumeric() || c == '_') => {
            super::funcs::check_name(w)?;
            Token::Arg(Arg::Func(w.to_owned()))
        }
        w => return Err(format!("unexpected {:?}", quote(w))),
    })
}

/// A double-quoted Go string literal at the start of `text`: its value and length.
fn string_literal(text: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('\'') => out.push('\''),
                Some(other) => return Err(format!("unsupported escape \\{other}")),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err("unclosed string".into())
}

fn parse_pipeline(lexer: &mut Lexer<'_>, nested: bool) -> Result<Pipeline, String> {
    let mut commands = Vec::new();
    let mut args = Vec::new();
    loop {
        match lexer.next()? {
            None if nested => return Err("unclosed (".into()),
            None => break,
            Some(Token::Close) if nested => break,
            Some(Token::Close) => return Err("unexpected )".into()),
            Some(Token::Pipe) => {
                if args.is_empty() {
                    return Err("empty command before |".into());
                }
                commands.push(Command(std::mem::take(&mut args)));
            }
            Some(Token::Open) => args.push(Arg::Sub(parse_pipeline(lexer, true)?)),
            Some(Token::Arg(arg)) => args.push(arg),
        }
    }
    if args.is_empty() {
        return Err("empty command".into());
    }
    commands.push(Command(args));
    for (i, command) in commands.iter().enumerate() {
        if !matches!(command.0.first(), Some(Arg::Func(_))) && command.0.len() > 1 {
            return Err("only a function takes arguments".into());
        }
        if i > 0 && !matches!(command.0.first(), Some(Arg::Func(_))) {
            return Err("only a function can follow |".into());
        }
    }
    Ok(Pipeline(commands))
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
    }

    #[test]
    fn control_structures_and_variables_are_refused_by_name() {
        for (text, needle) in [
            ("{{ range . }}x{{ end }}", "range"),
            ("{{ if .a }}x{{ end }}", "if"),
            ("{{ $x := .a }}", "variables"),
            ("{{ .a ", "unclosed"),
            ("{{ (.a }}", "unclosed ("),
            ("{{ .a .b }}", "only a function"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
