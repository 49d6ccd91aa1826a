//! The Go `text/template` engine with Sprig's and Helm's functions, as Helm runs it.
//!
//! Templates are parsed once into a [`TemplateSet`] (every file of a chart and its
//! subcharts, sharing their `define`d names) and executed per template file with Helm's
//! top-level object as dot. The language follows Go's `text/template` exactly: trim
//! markers, pipelines, variables, `if`/`with`/`range` with `else` chains, `break` and
//! `continue`, `define`/`template`/`block`, Go's printing of values (`map[a:1]`, `1e+06`,
//! `<no value>` for a missing value, which Helm then removes from its output) and Go's
//! error wording (`template: NAME:LINE:COL: executing "NAME" at <...>: ...`).
//!
//! Functions: Go's builtins, Sprig v3's (see [`funcs`]) and Helm's (`include`, `tpl`,
//! `required`, `fail`, `toYaml`, `fromYaml`, `toJson`, `fromJson`, `toToml`, `lookup`).
//! Differences from Helm, on purpose:
//! - `env` and `expandenv` are not defined, as in Helm (which removes them from Sprig's).
//! - The random functions (`randAlphaNum`, `uuidv4`, `genCA`, `genPrivateKey`, ...) draw
//!   from a ChaCha20 generator seeded by [`Environment::seed`], which the chart side derives
//!   from the app, release and template: a chart renders the same on every sync, so keys
//!   and passwords it generates are deterministic per app, release and template.
//! - `now` is [`Environment::now`], a fixed clock.
//! - `keys` returns its keys sorted (Go's map order is random).
//!
//! Every render is bounded by [`Limits`]: nesting of `include`/`template`/`tpl`, output
//! size and evaluation steps.

mod ast;
mod exec;
pub mod funcs;
mod lexer;
mod mutation;
mod nodes;
mod parse;
mod print;
mod value;
pub mod yaml;
mod yaml_style;

pub use print::{format_float_v, go_quote, sprintf};
pub use yaml_style::resolves_to_non_string;

use ast::List;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A template value, as Go sees it after Helm loaded values (numbers in values files are
/// float64 in Go, `--set` integers int64), maps print in sorted key order, nil prints as
/// `<nil>` in `%v` and `<no value>` when a template writes a missing value, as Helm 3 does
/// (Helm replaces `<no value>` with "" in its output).
#[derive(Clone)]
pub enum Value {
    /// Go's nil (a missing map key, an unset value).
    Nil,
    /// bool.
    Bool(bool),
    /// int / int64.
    Int(i64),
    /// float64 (every number from JSON/YAML values files, as in Helm).
    Float(f64),
    /// string.
    String(Arc<str>),
    /// []interface{}.
    List(Arc<Vec<Value>>),
    /// map[string]interface{} (sorted keys, as Go's printing and `range` see them).
    Map(Arc<BTreeMap<String, Value>>),
    /// A Go struct or object with fields and methods (`.Files`, `.Capabilities`,
    /// `.Capabilities.APIVersions`, `.Release`, `.Chart`, `.Template`).
    Object(Arc<dyn Object>),
}

/// A value with fields and methods, such as Helm's `.Files` (`Get`, `GetBytes`, `Glob`,
/// `Lines`, `AsConfig`, `AsSecrets`) or `.Capabilities.APIVersions` (`Has`).
pub trait Object: Send + Sync {
    /// The Go type name, for error messages and `typeOf`/`kindOf`.
    fn type_name(&self) -> &str;
    /// A field (`.Release.Name`); `None` when the object has no such field.
    fn field(&self, name: &str) -> Option<Value>;
    /// Calls a method (`.Files.Get "x"`); `None` when there is no such method, `Some(Err)`
    /// with a reason when it failed.
    fn call(&self, method: &str, args: &[Value]) -> Option<Result<Value, String>>;
    /// What Go prints for it (`%v`) when the type has a `String` method (as
    /// `.Capabilities.KubeVersion` does); `None` prints `{TypeName}`.
    fn display(&self) -> Option<String> {
        None
    }
    /// What `toJson`/`toYaml` make of it (Go marshals a struct's exported fields);
    /// `None` marshals as an empty map.
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(serde_json::Map::new())
    }
    /// The elements when Go holds the object as a slice (`.Capabilities.APIVersions` is a
    /// `[]string`), for `range`, `len`, `index`, `has` and the list functions.
    fn as_list(&self) -> Option<Vec<Value>> {
        None
    }
    /// The entries when Go holds the object as a map (`.Files` and what `Glob` returns),
    /// for `range`, `len` and `index`.
    fn as_map(&self) -> Option<BTreeMap<String, Value>> {
        None
    }
    /// The entries when Go holds the object as a map with keys that are not strings (a
    /// struct key, as Flux's `.Changed.Objects`), for `range $key, $value`.
    fn entries(&self) -> Option<Vec<(Value, Value)>> {
        None
    }
}

/// One template file of a chart or subchart, named as Helm names it
/// (`mychart/templates/deployment.yaml`, `mychart/charts/common/templates/_labels.tpl`).
pub struct TemplateFile {
    /// Helm's template name: chart path joined with the file's path in the chart.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// Bounds on what an untrusted chart can cost.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Nesting of `include`/`template`/`tpl` calls.
    pub max_depth: usize,
    /// Bytes written by one render of one template.
    pub max_output: usize,
    /// Evaluation steps (actions, iterations) per template render.
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 1000,
            max_output: 64 * 1024 * 1024,
            max_steps: 50_000_000,
        }
    }
}

/// What Helm's functions need beyond the data: the seed for the random functions (so a
/// chart renders the same on every sync), a fixed clock for `now`, and `lookup`.
pub struct Environment {
    /// Seed for `randAlphaNum`, `genCA`, `uuidv4`, ...: the chart side derives it from the
    /// app, the release and the template name.
    pub seed: [u8; 32],
    /// `now`, seconds since the epoch (UTC).
    pub now: i64,
    /// `lookup apiVersion kind namespace name`: `None` answers as `helm template` does
    /// (an empty map).
    pub lookup: Option<Arc<dyn Lookup>>,
}

/// Read-only cluster lookups for `lookup`.
pub trait Lookup: Send + Sync {
    /// Returns the object (or, with an empty name, a list object with `items`), or an empty
    /// map when absent; `Err` with a reason when refused.
    fn lookup(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<serde_json::Value, String>;
}

/// Why parsing or executing a template failed, with Helm's wording where charts match on
/// it: `template: NAME:LINE:COL: executing "NAME" at <.Values.x>: ...`, `required` and `fail`
/// messages passed through as written.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The text is not a valid template.
    #[error("parse error at ({name}:{line}): {reason}")]
    Parse {
        /// The template file.
        name: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Executing it failed.
    #[error("{0}")]
    Execute(String),
    /// A bound in [`Limits`] was reached.
    #[error("{0}")]
    Limit(String),
}

/// A parsed template: a file or a `define`.
pub(crate) struct Def {
    /// The file it was parsed from (Go's `ParseName`, used in error positions).
    pub parse_name: Arc<str>,
    /// That file's text (for line and column of errors).
    pub text: Arc<str>,
    /// The nodes.
    pub body: Arc<List>,
}

/// All templates of a chart and its subcharts, parsed once; `define`d names are shared by
/// all of them, later definitions replacing earlier ones in Helm's order (the caller passes
/// files in the order Helm parses them).
pub struct TemplateSet {
    defs: HashMap<String, Arc<Def>>,
    limits: Limits,
    /// What executions of this set share, one after the other: maps changed in place
    /// and parsed `tpl` texts.
    shared: std::sync::Mutex<Shared>,
}

/// See [`TemplateSet`]'s `shared`.
#[derive(Default)]
struct Shared {
    mutations: mutation::Mutations,
    tpl_cache: HashMap<Arc<str>, Arc<exec::Tpl>>,
}

/// Adds a definition unless it is empty and one already exists (Go keeps the old one).
fn add_def(defs: &mut HashMap<String, Arc<Def>>, name: String, def: Def) {
    let empty = def
        .body
        .iter()
        .all(|n| matches!(n, ast::Node::Text(t) if t.trim().is_empty()));
    if empty && defs.contains_key(&name) {
        return;
    }
    defs.insert(name, Arc::new(def));
}

/// Parses `text` named `name` into `defs` (the file itself and what it defines).
fn parse_into(
    defs: &mut HashMap<String, Arc<Def>>,
    name: &str,
    text: &str,
) -> Result<(), TemplateError> {
    let parsed = parse::parse(name, text)?;
    let text: Arc<str> = Arc::from(text);
    let parse_name: Arc<str> = Arc::from(name);
    for (dname, body) in parsed.defines {
        add_def(
            defs,
            dname,
            Def {
                parse_name: parse_name.clone(),
                text: text.clone(),
                body,
            },
        );
    }
    add_def(
        defs,
        name.to_owned(),
        Def {
            parse_name,
            text,
            body: parsed.root,
        },
    );
    Ok(())
}

impl TemplateSet {
    /// Parses every file; a file that does not parse fails with its name and line.
    pub fn parse(files: Vec<TemplateFile>, limits: Limits) -> Result<TemplateSet, TemplateError> {
        let mut defs = HashMap::new();
        for f in &files {
            parse_into(&mut defs, &f.name, &f.text)?;
        }
        Ok(TemplateSet {
            defs,
            limits,
            shared: Default::default(),
        })
    }

    /// Whether a template (a file or a `define`) of this name exists.
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        self.defs.contains_key(name)
    }

    /// Executes the template `name` with `dot` as `.` (Helm's top-level object for that
    /// template: a Map with `Values`, `Release`, `Chart`, `Capabilities`, `Files`,
    /// `Template`, `Subcharts`). `include` and `tpl` use this set; `tpl` parses its text as
    /// a template inside this set, as Helm does. The output has `<no value>` removed, as
    /// Helm's has.
    pub fn execute(
        &self,
        name: &str,
        dot: &Value,
        env: &Environment,
    ) -> Result<String, TemplateError> {
        self.with_runner(|runner| runner.execute(name, dot, env))
            .unwrap_or_else(|_| {
                Err(TemplateError::Execute(format!(
                    "template: {name}: the engine failed"
                )))
            })
    }

    /// Runs `work` with a [`Runner`] that executes templates of this set one after the
    /// other on one thread (as [`TemplateSet::execute`] does for one template): nested
    /// includes recurse, so the thread's stack is sized for the nesting bound (reserved,
    /// not committed) and the bound fails cleanly before the stack runs out. `Err` when
    /// the engine itself failed.
    pub fn with_runner<R: Send>(
        &self,
        work: impl FnOnce(&Runner<'_>) -> R + Send,
    ) -> Result<R, TemplateError> {
        let stack =
            STACK_BASE.saturating_add(self.limits.max_depth.saturating_mul(STACK_PER_LEVEL));
        let runner = Runner { set: self };
        let work = std::sync::Mutex::new(Some(work));
        let take = || {
            work.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        };
        let failed = || TemplateError::Execute("template: the engine failed".to_owned());
        std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("helm-template".to_owned())
                .stack_size(stack.min(STACK_MAX))
                .spawn_scoped(scope, || take().map(|w| w(&runner)));
            match worker {
                Ok(handle) => handle.join().ok().flatten().ok_or_else(failed),
                // No thread: run here (the work was not taken).
                Err(_) => take().map(|w| w(&runner)).ok_or_else(failed),
            }
        })
    }

    fn execute_here(
        &self,
        name: &str,
        dot: &Value,
        env: &Environment,
    ) -> Result<String, TemplateError> {
        let Some(def) = self.defs.get(name).cloned() else {
            return Err(TemplateError::Execute(format!(
                "template: no template {name:?} associated with template \"gotpl\""
            )));
        };
        // Changes made in place to shared maps persist from one template to the next, as
        // Helm's templates share their values; executions of one set take turns.
        let mut shared = self
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ex = exec::Exec::new(self, env, def.clone(), name);
        ex.mutations = std::mem::take(&mut shared.mutations);
        ex.tpl_cache = std::mem::take(&mut shared.tpl_cache);
        let mut out = String::new();
        let result = ex.run_def(def, name, dot, &mut out);
        shared.mutations = std::mem::take(&mut ex.mutations);
        shared.tpl_cache = std::mem::take(&mut ex.tpl_cache);
        drop(shared);
        match result {
            Ok(()) if out.contains("<no value>") => Ok(out.replace("<no value>", "")),
            Ok(()) => Ok(out),
            Err(e) if ex.limit_hit => Err(TemplateError::Limit(e)),
            Err(e) => Err(TemplateError::Execute(cleanup_error(name, &e))),
        }
    }
}

/// Executes templates of a [`TemplateSet`] on the thread [`TemplateSet::with_runner`]
/// made for them.
pub struct Runner<'a> {
    set: &'a TemplateSet,
}

impl Runner<'_> {
    /// [`TemplateSet::execute`] on this runner's thread.
    pub fn execute(
        &self,
        name: &str,
        dot: &Value,
        env: &Environment,
    ) -> Result<String, TemplateError> {
        self.set.execute_here(name, dot, env)
    }
}

/// Stack of an execution beyond its nesting (bytes).
const STACK_BASE: usize = 8 << 20;
/// Stack per level of `include`/`template`/`tpl` nesting (generous for debug builds).
const STACK_PER_LEVEL: usize = 64 << 10;
/// Largest stack reserved for one execution.
const STACK_MAX: usize = 1 << 30;

/// Helm's `cleanupExecError`: a `required`/`fail` message becomes
/// `execution error at (LOCATION): MESSAGE`.
fn cleanup_error(name: &str, err: &str) -> String {
    let tokens: Vec<&str> = err.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return format!("execution error in ({name}): {err}");
    }
    if let Some(start) = tokens[2].find("HELM[") {
        let rest = &tokens[2][start + 5..];
        if let Some(end) = rest.rfind("]HELM") {
            return format!("execution error at ({}): {}", tokens[1], &rest[..end]);
        }
    }
    err.to_owned()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_go_compat;
