//! kdr's rule language. Rule files (YAML, Falco-style) are loaded into a [`RuleSet`],
//! compiled once into [`Rules`]: matchers over typed [`Field`]s, indexed by source and event
//! kind. Evaluating a rule against an [`Input`] never looks a field up by name.
//!
//! This crate knows the event model and Kubernetes object shapes; it holds no detection state
//! across events (that is `kdr-engine`), only caches of results that depend on nothing but
//! their key (the per-program memory of the [`Scratch`]).

pub mod catalog;
pub mod compile;
pub mod compiled;
pub mod fields;
pub mod glob;
pub mod input;
pub mod k8s;
pub mod loader;
pub mod memo;
pub mod names;
pub mod parser;
pub mod template;
pub mod triggers;

pub use catalog::{AlertType, Catalog};
pub use compile::{Expr, Tri};
pub use compiled::{CompiledKind, CompiledRule, FieldSel, Rules, Step};
pub use fields::{Field, FieldArg, Val, FIELDS};
pub use input::{Exposure, Input};
pub use loader::{Location, RuleError, RuleSet};
pub use memo::Scratch;
pub use triggers::RuleBits;

/// Loads the shipped rules plus every extra path, then compiles them.
pub fn load(extra: &[std::path::PathBuf]) -> Result<Rules, Vec<RuleError>> {
    let mut set = RuleSet::embedded()?;
    let mut errors = Vec::new();
    for path in extra {
        errors.extend(set.load_path(path));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Rules::compile(&set)
}
