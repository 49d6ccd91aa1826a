//! Sprig's `semver` and `semverCompare`, with the Masterminds/semver v3 rules of
//! [`crate::semver`]; errors read as Masterminds writes them.

use super::super::exec::Exec;
use super::super::{Object, Value};
use super::{Func, arity, s, string};
use crate::semver::{Constraint, Version};
use std::cmp::Ordering;
use std::sync::Arc;

pub(super) const FUNCS: &[(&str, Func)] = &[("semver", semver), ("semverCompare", semver_compare)];

/// Masterminds' `NewVersion`.
fn parse_version(text: &str) -> Result<Version, String> {
    Version::parse(text).map_err(|_| "Invalid Semantic Version".to_owned())
}

/// Masterminds' `NewConstraint(constraint).Check(version)`.
fn satisfies(constraint: &str, version: &Version) -> Result<bool, String> {
    let parsed =
        Constraint::parse(constraint).map_err(|_| format!("improper constraint: {constraint}"))?;
    Ok(parsed.matches(version))
}

fn semver_compare(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let c = string(a, 0)?;
    let v = parse_version(string(a, 1)?)?;
    Ok(Value::Bool(satisfies(c, &v)?))
}

fn semver(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(Value::Object(Arc::new(parse_version(string(a, 0)?)?)))
}

impl Object for Version {
    fn type_name(&self) -> &str {
        "*semver.Version"
    }

    fn field(&self, _name: &str) -> Option<Value> {
        None
    }

    fn call(&self, method: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let other = || -> Result<Version, String> {
            match args.first() {
                Some(Value::Object(o)) if o.type_name() == "*semver.Version" => {
                    parse_version(&o.display().unwrap_or_default())
                }
                _ => Err("wrong type for value; expected *semver.Version".to_owned()),
            }
        };
        let v = match method {
            "Major" => Value::Int(self.major() as i64),
            "Minor" => Value::Int(self.minor() as i64),
            "Patch" => Value::Int(self.patch() as i64),
            "Prerelease" => s(self.prerelease()),
            "Metadata" => s(self.metadata()),
            "Original" => s(self.original()),
            "String" => s(self.canonical()),
            "Compare" => return Some(other().map(|o| Value::Int(self.precedence(&o) as i64))),
            "LessThan" => {
                return Some(other().map(|o| Value::Bool(self.precedence(&o) == Ordering::Less)));
            }
            "GreaterThan" => {
                return Some(
                    other().map(|o| Value::Bool(self.precedence(&o) == Ordering::Greater)),
                );
            }
            "Equal" => {
                return Some(other().map(|o| Value::Bool(self.precedence(&o) == Ordering::Equal)));
            }
            _ => return None,
        };
        Some(Ok(v))
    }

    fn display(&self) -> Option<String> {
        Some(self.canonical())
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.canonical())
    }
}
