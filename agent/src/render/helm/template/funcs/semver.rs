//! Sprig's `semver` and `semverCompare`, with Masterminds/semver v3's rules: lenient
//! versions (`v1.2`), constraints with `=`, `!=`, `>`, `<`, `>=`, `<=`, `~`, `^`,
//! wildcards (`1.2.x`), hyphen ranges, `,`/space for and, `||` for or, and pre-release
//! versions matching only constraints that name a pre-release.

use super::super::exec::Exec;
use super::super::{Object, Value};
use super::{Func, arity, s, string};
use std::cmp::Ordering;
use std::sync::Arc;

pub(super) const FUNCS: &[(&str, Func)] = &[("semver", semver), ("semverCompare", semver_compare)];

/// A parsed version.
#[derive(Clone, Debug)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    meta: String,
    original: String,
}

fn version_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$")
            .expect("valid regex")
    })
}

impl Version {
    /// Masterminds' `NewVersion`.
    pub(crate) fn parse(v: &str) -> Result<Version, String> {
        let c = version_re()
            .captures(v)
            .ok_or_else(|| "Invalid Semantic Version".to_owned())?;
        let num = |i: usize| -> Result<u64, String> {
            match c.get(i) {
                Some(m) => m
                    .as_str()
                    .trim_start_matches('.')
                    .parse()
                    .map_err(|_| "Invalid Semantic Version".to_owned()),
                None => Ok(0),
            }
        };
        Ok(Version {
            major: num(1)?,
            minor: num(2)?,
            patch: num(3)?,
            pre: c.get(5).map_or("", |m| m.as_str()).to_owned(),
            meta: c.get(8).map_or("", |m| m.as_str()).to_owned(),
            original: v.to_owned(),
        })
    }

    fn string(&self) -> String {
        let mut out = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            out.push('-');
            out.push_str(&self.pre);
        }
        if !self.meta.is_empty() {
            out.push('+');
            out.push_str(&self.meta);
        }
        out
    }

    pub(crate) fn compare(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| compare_pre(&self.pre, &o.pre))
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut x = a.split('.');
    let mut y = b.split('.');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(i), Ok(j)) => i.cmp(&j),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    _ => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// One constraint (`>=1.2`).
struct Constraint {
    op: String,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn parse_constraint(c: &str) -> Result<Constraint, String> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"^\s*(=|!=|>=|=>|<=|=<|>|<|~>|~|\^)?\s*v?([0-9xX*]+)(\.[0-9xX*]+)?(\.[0-9xX*]+)?(-[0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*)?(\+[0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*)?\s*$")
            .expect("valid regex")
    });
    let m = re
        .captures(c)
        .ok_or_else(|| format!("improper constraint: {c}"))?;
    let op = m.get(1).map_or("", |x| x.as_str()).to_owned();
    let major = m.get(2).map_or("", |x| x.as_str());
    let minor = m.get(3).map_or("", |x| x.as_str().trim_start_matches('.'));
    let patch = m.get(4).map_or("", |x| x.as_str().trim_start_matches('.'));
    let pre = m.get(5).map_or("", |x| x.as_str());
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let ver = if is_x(major) {
        dirty = true;
        minor_dirty = true;
        patch_dirty = true;
        "0.0.0".to_owned()
    } else if is_x(minor) || minor.is_empty() {
        dirty = true;
        minor_dirty = true;
        patch_dirty = true;
        format!("{major}.0.0{pre}")
    } else if is_x(patch) || patch.is_empty() {
        dirty = true;
        patch_dirty = true;
        format!("{major}.{minor}.0{pre}")
    } else {
        format!("{major}.{minor}.{patch}{pre}")
    };
    let con = Version::parse(&ver).map_err(|_| format!("improper constraint: {c}"))?;
    Ok(Constraint {
        op,
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

impl Constraint {
    fn check(&self, v: &Version) -> bool {
        if !v.pre.is_empty() && self.con.pre.is_empty() {
            return false;
        }
        let c = &self.con;
        let ord = v.compare(c);
        match self.op.as_str() {
            "" | "=" => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    ord == Ordering::Equal
                }
            }
            "!=" => {
                if self.dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if self.minor_dirty {
                        return false;
                    }
                    if c.minor != v.minor {
                        return true;
                    }
                    return !self.patch_dirty && c.patch != v.patch;
                }
                ord != Ordering::Equal
            }
            ">" => {
                if !self.dirty {
                    return ord == Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor > c.minor;
                }
                ord == Ordering::Greater
            }
            "<" => ord == Ordering::Less,
            ">=" | "=>" => ord != Ordering::Less,
            "<=" | "=<" => {
                if !self.dirty {
                    return ord != Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major < c.major;
                }
                if self.minor_dirty {
                    return true;
                }
                if v.minor != c.minor {
                    return v.minor < c.minor;
                }
                true
            }
            "~" | "~>" => self.tilde(v),
            "^" => {
                if ord == Ordering::Less {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    v.major == c.major
                } else if c.minor > 0 || self.patch_dirty {
                    v.major == c.major && v.minor == c.minor
                } else {
                    v.major == c.major && v.minor == c.minor && v.patch == c.patch
                }
            }
            _ => false,
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return v.major == c.major;
        }
        if self.minor_dirty {
            return v.major == c.major;
        }
        v.major == c.major && v.minor == c.minor
    }
}

/// Masterminds' `NewConstraint(...).Check(version)`.
pub(crate) fn satisfies(constraint: &str, version: &Version) -> Result<bool, String> {
    static HYPHEN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let hyphen =
        HYPHEN.get_or_init(|| regex::Regex::new(r"\s*(\S+)\s+-\s+(\S+)\s*").expect("valid regex"));
    let mut any = false;
    for group in constraint.split("||") {
        let group = hyphen.replace_all(group, ">= $1, <= $2");
        let mut parts: Vec<String> = Vec::new();
        for piece in group.split(',') {
            // Space separates constraints too, but not an operator from its version.
            let mut cur = String::new();
            for tok in piece.split_whitespace() {
                let op_only = matches!(
                    tok,
                    "=" | "!=" | ">=" | "=>" | "<=" | "=<" | ">" | "<" | "~>" | "~" | "^"
                );
                cur.push_str(tok);
                if !op_only {
                    parts.push(std::mem::take(&mut cur));
                }
            }
            if !cur.is_empty() {
                parts.push(cur);
            }
        }
        let mut ok = !parts.is_empty();
        for p in &parts {
            let c = parse_constraint(p)?;
            if !c.check(version) {
                ok = false;
            }
        }
        any |= ok;
    }
    Ok(any)
}

fn semver_compare(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 2)?;
    let c = string(a, 0)?;
    let v = Version::parse(string(a, 1)?)?;
    Ok(Value::Bool(satisfies(c, &v)?))
}

fn semver(_: &mut Exec<'_>, a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    Ok(Value::Object(Arc::new(Version::parse(string(a, 0)?)?)))
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
                    Version::parse(&o.display().unwrap_or_default())
                }
                _ => Err("wrong type for value; expected *semver.Version".to_owned()),
            }
        };
        let v = match method {
            "Major" => Value::Int(self.major as i64),
            "Minor" => Value::Int(self.minor as i64),
            "Patch" => Value::Int(self.patch as i64),
            "Prerelease" => s(&self.pre),
            "Metadata" => s(&self.meta),
            "Original" => s(&self.original),
            "String" => s(self.string()),
            "Compare" => return Some(other().map(|o| Value::Int(self.compare(&o) as i64))),
            "LessThan" => {
                return Some(other().map(|o| Value::Bool(self.compare(&o) == Ordering::Less)));
            }
            "GreaterThan" => {
                return Some(other().map(|o| Value::Bool(self.compare(&o) == Ordering::Greater)));
            }
            "Equal" => {
                return Some(other().map(|o| Value::Bool(self.compare(&o) == Ordering::Equal)));
            }
            _ => return None,
        };
        Some(Ok(v))
    }

    fn display(&self) -> Option<String> {
        Some(self.string())
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.string())
    }
}
