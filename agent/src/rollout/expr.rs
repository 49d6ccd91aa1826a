//! A small, bounded expression language for analysis conditions, in the spirit of the
//! `expr` language Argo Rollouts evaluates `successCondition`/`failureCondition` with:
//! `result[0] >= 0.99`, `len(result) > 0 && result[0] < 0.05`, `result.status == "ok"`.
//!
//! Values are numbers, booleans, strings, `nil`, lists and maps. Operators: `||`/`or`,
//! `&&`/`and`, `!`/`not`, comparisons, `+ - * /`, unary `-`, indexing `[i]`/`["k"]`, member
//! access `.k`, and the functions `len`, `abs`, `isNaN`, `isInf`, `default(x, y)`.
//! Work is bounded: the text (1 KiB), its tokens (256) and its nesting (32).
//!
//! Written by hand: the conditions need a tiny, total, side-effect-free evaluator, and no
//! crate of the field offers one this small without a scripting engine behind it.

use std::collections::BTreeMap;
use std::fmt;

/// The longest condition accepted, in bytes.
pub const MAX_LEN: usize = 1024;
const MAX_TOKENS: usize = 256;
const MAX_DEPTH: usize = 32;

/// Why a condition could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    /// The condition is too long, too deep or has too many tokens.
    #[error("condition too large: {0}")]
    TooLarge(&'static str),
    /// The text is not a valid condition.
    #[error("syntax error at byte {at}: {message}")]
    Syntax {
        /// Where.
        at: usize,
        /// What was expected.
        message: String,
    },
    /// Evaluation failed (a type mismatch, an index out of range, an unknown name).
    #[error("{0}")]
    Eval(String),
}

/// A value of the language.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `nil`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Value>),
    /// A map.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// The language's value of a JSON value.
    #[must_use]
    pub fn from_json(json: &serde_json::Value) -> Self {
        match json {
            serde_json::Value::Null => Self::Nil,
            serde_json::Value::Bool(b) => Self::Bool(*b),
            serde_json::Value::Number(n) => Self::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Self::Str(s.clone()),
            serde_json::Value::Array(a) => Self::List(a.iter().map(Self::from_json).collect()),
            serde_json::Value::Object(m) => Self::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Self::from_json(v)))
                    .collect(),
            ),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Self::Nil => "nil",
            Self::Bool(_) => "bool",
            Self::Number(_) => "number",
            Self::Str(_) => "string",
            Self::List(_) => "list",
            Self::Map(_) => "map",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nil => f.write_str("nil"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write!(f, "{n}"),
            Self::Str(s) => write!(f, "{s:?}"),
            Self::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Self::Map(m) => write!(f, "<map of {}>", m.len()),
        }
    }
}

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

fn number(v: &Value, what: &str) -> Result<f64, ExprError> {
    match v {
        Value::Number(n) => Ok(*n),
        other => Err(ExprError::Eval(format!(
            "{what}: expected a number, got {}",
            other.type_name()
        ))),
    }
}

fn truthy(v: &Value, what: &str) -> Result<bool, ExprError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(ExprError::Eval(format!(
            "{what}: expected a boolean, got {}",
            other.type_name()
        ))),
    }
}

fn index(base: Value, key: Value) -> Result<Value, ExprError> {
    match (base, key) {
        (Value::List(items), Value::Number(n)) => {
            let len = items.len();
            // A negative index counts from the end, as in `expr`.
            let i = if n < 0.0 { len as f64 + n } else { n };
            if i.fract() != 0.0 || i < 0.0 || i >= len as f64 {
                return Err(ExprError::Eval(format!(
                    "index {n} out of range (length {len})"
                )));
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(items.into_iter().nth(i as usize).unwrap_or(Value::Nil))
        }
        (Value::Map(mut m), Value::Str(k)) => Ok(m.remove(&k).unwrap_or(Value::Nil)),
        (base, key) => Err(ExprError::Eval(format!(
            "cannot index a {} with a {}",
            base.type_name(),
            key.type_name()
        ))),
    }
}

fn compare(op: &str, a: &Value, b: &Value) -> Result<bool, ExprError> {
    match op {
        "==" => return Ok(a == b),
        "!=" => return Ok(a != b),
        _ => {}
    }
    let ordering = match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        _ => {
            return Err(ExprError::Eval(format!(
                "cannot compare a {} with a {}",
                a.type_name(),
                b.type_name()
            )));
        }
    };
    // NaN compares false with everything, as in Go.
    let Some(ordering) = ordering else {
        return Ok(false);
    };
    Ok(match op {
        "<" => ordering.is_lt(),
        "<=" => ordering.is_le(),
        ">" => ordering.is_gt(),
        _ => ordering.is_ge(),
    })
}

fn call(name: &str, args: Vec<Value>) -> Result<Value, ExprError> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(ExprError::Eval(format!(
                "{name}() takes {n} argument(s), got {}",
                args.len()
            )))
        }
    };
    match name {
        "len" => {
            arity(1)?;
            let n = match &args[0] {
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                Value::Str(s) => s.chars().count(),
                other => {
                    return Err(ExprError::Eval(format!("len() of a {}", other.type_name())));
                }
            };
            Ok(Value::Number(n as f64))
        }
        "abs" => {
            arity(1)?;
            Ok(Value::Number(number(&args[0], "abs()")?.abs()))
        }
        "isNaN" => {
            arity(1)?;
            Ok(Value::Bool(number(&args[0], "isNaN()")?.is_nan()))
        }
        "isInf" => {
            arity(1)?;
            Ok(Value::Bool(number(&args[0], "isInf()")?.is_infinite()))
        }
        "default" => {
            arity(2)?;
            let mut args = args.into_iter();
            let first = args.next().unwrap_or(Value::Nil);
            Ok(if first == Value::Nil {
                args.next().unwrap_or(Value::Nil)
            } else {
                first
            })
        }
        other => Err(ExprError::Eval(format!("unknown function {other}()"))),
    }
}

/// Evaluates `expr` with the variables `vars`.
pub fn eval(expr: &Expr, vars: &BTreeMap<String, Value>) -> Result<Value, ExprError> {
    match expr {
        Expr::Lit(v) => Ok(v.clone()),
        Expr::Var(name) => vars
            .get(name)
            .cloned()
            .ok_or_else(|| ExprError::Eval(format!("unknown name {name}"))),
        Expr::Unary("!", inner) => Ok(Value::Bool(!truthy(&eval(inner, vars)?, "!")?)),
        Expr::Unary(_, inner) => Ok(Value::Number(-number(&eval(inner, vars)?, "-")?)),
        Expr::Binary(op @ ("||" | "&&"), a, b) => {
            let left = truthy(&eval(a, vars)?, op)?;
            // Short-circuit, so that `len(result) > 0 && result[0] > 1` is safe.
            if (*op == "||" && left) || (*op == "&&" && !left) {
                return Ok(Value::Bool(left));
            }
            Ok(Value::Bool(truthy(&eval(b, vars)?, op)?))
        }
        Expr::Binary(op, a, b) => {
            let (a, b) = (eval(a, vars)?, eval(b, vars)?);
            if matches!(*op, "==" | "!=" | "<" | "<=" | ">" | ">=") {
                return Ok(Value::Bool(compare(op, &a, &b)?));
            }
            if let ("+", Value::Str(x), Value::Str(y)) = (*op, &a, &b) {
                return Ok(Value::Str(format!("{x}{y}")));
            }
            let (x, y) = (number(&a, op)?, number(&b, op)?);
            Ok(Value::Number(match *op {
                "+" => x + y,
                "-" => x - y,
                "*" => x * y,
                "/" => x / y,
                _ => x % y,
            }))
        }
        Expr::Index(base, key) => index(eval(base, vars)?, eval(key, vars)?),
        Expr::Call(name, args) => {
            let args = args
                .iter()
                .map(|a| eval(a, vars))
                .collect::<Result<Vec<_>, _>>()?;
            call(name, args)
        }
    }
}

/// A condition: parsed once, evaluated per measurement with `result` bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    text: String,
    expr: Expr,
}

impl Condition {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        Ok(Self {
            text: text.to_owned(),
            expr: parse(text)?,
        })
    }

    /// The condition as written.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the condition holds for `result`; it must evaluate to a boolean.
    pub fn holds(&self, result: &Value) -> Result<bool, ExprError> {
        let mut vars = BTreeMap::new();
        vars.insert("result".to_owned(), result.clone());
        truthy(&eval(&self.expr, &vars)?, "the condition")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(text: &str, result: Value) -> Result<bool, ExprError> {
        Condition::parse(text)?.holds(&result)
    }

    fn vector(values: &[f64]) -> Value {
        Value::List(values.iter().map(|v| Value::Number(*v)).collect())
    }

    #[test]
    fn argo_style_conditions_on_a_vector_hold_or_not() {
        assert_eq!(holds("result[0] >= 0.99", vector(&[0.995])), Ok(true));
        assert_eq!(holds("result[0] >= 0.99", vector(&[0.5])), Ok(false));
        assert_eq!(
            holds("len(result) == 0 || result[0] < 0.05", vector(&[])),
            Ok(true)
        );
        assert_eq!(
            holds(
                "result[0] > 0.1 and not (result[1] == 2)",
                vector(&[0.2, 3.0])
            ),
            Ok(true)
        );
        assert_eq!(holds("result[-1] == 3", vector(&[1.0, 3.0])), Ok(true));
        assert_eq!(holds("isNaN(result)", Value::Number(f64::NAN)), Ok(true));
        assert_eq!(
            holds("result * 100 - 1 >= 98", Value::Number(0.99)),
            Ok(true)
        );
    }

    #[test]
    fn json_results_are_read_by_field_and_key() {
        let json = serde_json::json!({"status": "ok", "checks": [{"pass": true}], "ratio": 0.5});
        let v = Value::from_json(&json);
        assert_eq!(
            holds(
                "result.status == \"ok\" && result.checks[0].pass",
                v.clone()
            ),
            Ok(true)
        );
        assert_eq!(holds("result['ratio'] < 1", v.clone()), Ok(true));
        assert_eq!(holds("default(result.missing, 3) == 3", v), Ok(true));
    }

    #[test]
    fn evaluation_errors_name_the_problem_instead_of_panicking() {
        let err = holds("result[0] > 1", vector(&[])).expect_err("out of range");
        assert!(err.to_string().contains("out of range"), "{err}");
        let err = holds("result > 1", Value::Str("x".into())).expect_err("type");
        assert!(err.to_string().contains("compare a string"), "{err}");
        let err = holds("result[0]", vector(&[1.0])).expect_err("not a boolean");
        assert!(err.to_string().contains("expected a boolean"), "{err}");
        let err = holds("foo > 1", vector(&[1.0])).expect_err("unknown name");
        assert!(err.to_string().contains("unknown name foo"), "{err}");
        assert!(matches!(
            holds("nope(1)", Value::Nil),
            Err(ExprError::Eval(_))
        ));
    }

    #[test]
    fn syntax_errors_and_oversized_conditions_are_refused() {
        assert!(matches!(
            parse("result[0] >="),
            Err(ExprError::Syntax { .. })
        ));
        assert!(matches!(parse("(result"), Err(ExprError::Syntax { .. })));
        assert!(matches!(parse("result ~ 1"), Err(ExprError::Syntax { .. })));
        assert!(matches!(parse("'open"), Err(ExprError::Syntax { .. })));
        assert!(matches!(parse("1 2"), Err(ExprError::Syntax { .. })));
        let deep = format!("{}1{}", "(".repeat(40), ")".repeat(40));
        assert!(matches!(parse(&deep), Err(ExprError::TooLarge(_))));
        let bangs = format!("{}true", "!".repeat(40));
        assert!(matches!(parse(&bangs), Err(ExprError::TooLarge(_))));
        let long = "1 + ".repeat(300) + "1";
        assert!(matches!(parse(&long), Err(ExprError::TooLarge(_))));
        let many = vec!["1"; 200].join("+");
        assert!(matches!(parse(&many), Err(ExprError::TooLarge(_))));
    }
}
