//! The lexer of template actions: operands (`.a.b`, `$v.a`, strings, numbers, function
//! names), `|`, parentheses (with `).field` chains), `,`, `:=` and `=`.

use super::parse::{Arg, quote};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    Arg(Arg),
    Pipe,
    Open,
    Close,
    /// `).a.b`.
    CloseChain(Vec<String>),
    Comma,
    Declare,
    Assign,
}

#[derive(Clone)]
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

fn word_end(s: &str) -> usize {
    s.find(|c: char| c.is_whitespace() || matches!(c, '|' | '(' | ')' | ',' | ':' | '='))
        .unwrap_or(s.len())
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    pub(crate) fn next(&mut self) -> Result<Option<Token>, String> {
        let rest = &self.text[self.pos..];
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
        let Some(c) = trimmed.chars().next() else {
            return Ok(None);
        };
        let (token, len) = match c {
            '|' => (Token::Pipe, 1),
            '(' => (Token::Open, 1),
            ',' => (Token::Comma, 1),
            '=' => (Token::Assign, 1),
            ':' if trimmed[1..].starts_with('=') => (Token::Declare, 2),
            ')' if trimmed[1..].starts_with('.') => {
                let end = 1 + word_end(&trimmed[1..]);
                let Token::Arg(Arg::Field(fields)) = field_token(&trimmed[1..end])? else {
                    return Err("a field must follow ).".into());
                };
                (Token::CloseChain(fields), end)
            }
            ')' => (Token::Close, 1),
            '"' => {
                let (value, len) = string_literal(trimmed)?;
                (Token::Arg(Arg::Str(value)), len)
            }
            '`' => {
                let end = trimmed[1..]
                    .find('`')
                    .ok_or_else(|| "unclosed raw string".to_owned())?;
                (Token::Arg(Arg::Str(trimmed[1..=end].to_owned())), end + 2)
            }
            '.' => {
                let end = word_end(trimmed);
                (field_token(&trimmed[..end])?, end)
            }
            '$' => {
                let end = word_end(trimmed);
                (var_token(&trimmed[..end])?, end)
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let end = word_end(trimmed);
                let word = &trimmed[..end];
                if word.parse::<f64>().is_err() {
                    return Err(format!("{:?} is not a number", quote(word)));
                }
                (Token::Arg(Arg::Num(word.to_owned())), end)
            }
            c if c.is_alphabetic() || c == '_' => {
                let end = word_end(trimmed);
                (word_token(&trimmed[..end])?, end)
            }
            other => return Err(format!("unexpected {other:?}")),
        };
        self.pos += len;
        Ok(Some(token))
    }
}

fn fields_of(word: &str, path: &str) -> Result<Vec<String>, String> {
    let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.chars().all(|c| c.is_alphanumeric() || c == '_'))
    {
        return Err(format!(
            "{:?} is not a field name (use index . \"key\" for keys with other characters)",
            quote(word)
        ));
    }
    Ok(parts)
}

/// `.` or `.a.b`.
fn field_token(word: &str) -> Result<Token, String> {
    if word == "." {
        return Ok(Token::Arg(Arg::Field(Vec::new())));
    }
    Ok(Token::Arg(Arg::Field(fields_of(word, &word[1..])?)))
}

/// `$`, `$name` or `$name.a.b`.
fn var_token(word: &str) -> Result<Token, String> {
    let body = &word[1..];
    let (name, path) = body.split_once('.').unwrap_or((body, ""));
    if !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(format!("{:?} is not a variable", quote(word)));
    }
    let fields = if path.is_empty() && !body.ends_with('.') {
        Vec::new()
    } else {
        fields_of(word, path)?
    };
    Ok(Token::Arg(Arg::Var(name.to_owned(), fields)))
}

/// A function name, `true`, `false` or `nil`.
fn word_token(word: &str) -> Result<Token, String> {
    Ok(match word {
        "true" => Token::Arg(Arg::Bool(true)),
        "false" => Token::Arg(Arg::Bool(false)),
        "nil" => Token::Arg(Arg::Nil),
        w if KEYWORDS.contains(&w) => return Err(format!("{w:?} actions are not supported here")),
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
