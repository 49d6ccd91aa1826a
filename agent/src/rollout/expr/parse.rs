//! The tokenizer and the recursive-descent parser of conditions, bounded in length, tokens and
//! nesting.

use super::{ExprError, MAX_LEN, Value};

const MAX_TOKENS: usize = 256;
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(f64),
    Str(String),
    Ident(String),
    Op(&'static str),
}

const OPS: [&str; 20] = [
    "||", "&&", "==", "!=", "<=", ">=", "<", ">", "!", "+", "-", "*", "/", "(", ")", "[", "]", ".",
    ",", "%",
];

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ExprError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if out.len() >= MAX_TOKENS {
            return Err(ExprError::TooLarge("more than 256 tokens"));
        }
        let start = i;
        if c.is_ascii_digit() {
            while i < bytes.len()
                && (bytes[i].is_ascii_digit()
                    || bytes[i] == b'.'
                    || bytes[i] == b'e'
                    || bytes[i] == b'E'
                    || ((bytes[i] == b'-' || bytes[i] == b'+')
                        && matches!(bytes[i - 1], b'e' | b'E')))
            {
                i += 1;
            }
            let number = text[start..i]
                .parse::<f64>()
                .map_err(|_| ExprError::Syntax {
                    at: start,
                    message: format!("bad number {:?}", &text[start..i]),
                })?;
            out.push((start, Token::Num(number)));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((start, Token::Ident(text[start..i].to_owned())));
        } else if c == b'"' || c == b'\'' {
            i += 1;
            let mut s = String::new();
            loop {
                let Some(&b) = bytes.get(i) else {
                    return Err(ExprError::Syntax {
                        at: start,
                        message: "unterminated string".into(),
                    });
                };
                if b == c {
                    i += 1;
                    break;
                }
                if b == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                s.push(ch);
                i += ch.len_utf8();
            }
            out.push((start, Token::Str(s)));
        } else if let Some(op) = OPS.iter().find(|op| text[i..].starts_with(**op)) {
            i += op.len();
            out.push((start, Token::Op(op)));
        } else {
            return Err(ExprError::Syntax {
                at: start,
                message: format!(
                    "unexpected character {:?}",
                    text[i..].chars().next().unwrap_or('?')
                ),
            });
        }
    }
    Ok(out)
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal.
    Lit(Value),
    /// A variable.
    Var(String),
    /// `!x`, `-x`.
    Unary(&'static str, Box<Expr>),
    /// `a op b`.
    Binary(&'static str, Box<Expr>, Box<Expr>),
    /// `a[b]`, `a.b`.
    Index(Box<Expr>, Box<Expr>),
    /// `f(args)`.
    Call(String, Vec<Expr>),
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    depth: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(at, _)| *at)
    }

    fn error(&self, message: impl Into<String>) -> ExprError {
        ExprError::Syntax {
            at: self.at(),
            message: message.into(),
        }
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Token::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Ident(w)) if w == word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::TooLarge("nested more than 32 deep"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        self.enter()?;
        let mut left = self.and()?;
        while self.eat_op("||") || self.eat_word("or") {
            left = Expr::Binary("||", Box::new(left), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.not()?;
        while self.eat_op("&&") || self.eat_word("and") {
            left = Expr::Binary("&&", Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.eat_op("!") || self.eat_word("not") {
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Unary("!", Box::new(inner)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ExprError> {
        let left = self.sum()?;
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if self.eat_op(op) {
                let right = self.sum()?;
                return Ok(Expr::Binary(op, Box::new(left), Box::new(right)));
            }
        }
        Ok(left)
    }

    fn sum(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.product()?;
        loop {
            let op = if self.eat_op("+") {
                "+"
            } else if self.eat_op("-") {
                "-"
            } else {
                return Ok(left);
            };
            left = Expr::Binary(op, Box::new(left), Box::new(self.product()?));
        }
    }

    fn product(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        loop {
            let op = if self.eat_op("*") {
                "*"
            } else if self.eat_op("/") {
                "/"
            } else if self.eat_op("%") {
                "%"
            } else {
                return Ok(left);
            };
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.eat_op("-") {
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Unary("-", Box::new(inner)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, ExprError> {
        let mut value = self.primary()?;
        loop {
            if self.eat_op("[") {
                let index = self.or()?;
                if !self.eat_op("]") {
                    return Err(self.error("expected ]"));
                }
                value = Expr::Index(Box::new(value), Box::new(index));
            } else if self.eat_op(".") {
                match self.tokens.get(self.pos).map(|(_, t)| t.clone()) {
                    Some(Token::Ident(name)) => {
                        self.pos += 1;
                        value = Expr::Index(Box::new(value), Box::new(Expr::Lit(Value::Str(name))));
                    }
                    _ => return Err(self.error("expected a field name after .")),
                }
            } else {
                return Ok(value);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let Some((_, token)) = self.tokens.get(self.pos).cloned() else {
            return Err(self.error("unexpected end of the condition"));
        };
        self.pos += 1;
        match token {
            Token::Num(n) => Ok(Expr::Lit(Value::Number(n))),
            Token::Str(s) => Ok(Expr::Lit(Value::Str(s))),
            Token::Op("(") => {
                let inner = self.or()?;
                if !self.eat_op(")") {
                    return Err(self.error("expected )"));
                }
                Ok(inner)
            }
            Token::Ident(word) => match word.as_str() {
                "true" => Ok(Expr::Lit(Value::Bool(true))),
                "false" => Ok(Expr::Lit(Value::Bool(false))),
                "nil" | "null" => Ok(Expr::Lit(Value::Nil)),
                _ if self.eat_op("(") => {
                    let mut args = Vec::new();
                    if !self.eat_op(")") {
                        loop {
                            args.push(self.or()?);
                            if self.eat_op(")") {
                                break;
                            }
                            if !self.eat_op(",") {
                                return Err(self.error("expected , or )"));
                            }
                        }
                    }
                    Ok(Expr::Call(word, args))
                }
                _ => Ok(Expr::Var(word)),
            },
            Token::Op(op) => {
                self.pos -= 1;
                Err(self.error(format!("unexpected {op:?}")))
            }
        }
    }
}

/// Parses a condition.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    if text.len() > MAX_LEN {
        return Err(ExprError::TooLarge("longer than 1024 bytes"));
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
        end: text.len(),
    };
    let expr = parser.or()?;
    if parser.pos != parser.tokens.len() {
        return Err(parser.error("unexpected text after the condition"));
    }
    Ok(expr)
}
