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

mod parse;
pub use parse::{Expr, parse};

/// The longest condition accepted, in bytes.
pub const MAX_LEN: usize = 1024;

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
mod tests;
