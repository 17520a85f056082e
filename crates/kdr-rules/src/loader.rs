//! Reads rule files (YAML) into definitions, applying overrides and appends in load order.
//! Every definition remembers its file and line so compile errors can say where.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_yaml_ng::{Mapping, Value as Yaml};

use kdr_model::{Nanos, Plane, Severity, Source, Tactic, NANOS_PER_SEC};

use crate::catalog::{AlertType, Catalog};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub line: usize,
    pub column: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(column) = self.column {
            write!(f, ":{column}")?;
        }
        Ok(())
    }
}

/// An error in a rule file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct RuleError {
    pub location: Location,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct ListDef {
    pub items: Vec<String>,
    pub location: Location,
}

#[derive(Clone, Debug)]
pub struct MacroDef {
    pub condition: Text,
}

/// A condition (or other) text with where its first character sits in the file, so a byte
/// offset into it maps back to a line and column.
#[derive(Clone, Debug)]
pub struct Text {
    pub text: String,
    pub key_location: Location,
    /// For each source line the text spans: where its first character is and the byte offset
    /// in `text` where that line's content starts. Appends bring lines from other files.
    pub line_map: Vec<(Location, usize)>,
}

impl Text {
    /// File position of byte `offset` of the text.
    pub fn locate(&self, offset: usize) -> Location {
        let entry = self
            .line_map
            .iter()
            .rev()
            .find(|(_, start)| *start <= offset);
        match entry {
            Some((location, start)) => Location {
                column: location.column.map(|c| c + (offset - start)),
                ..location.clone()
            },
            None => self.key_location.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ExceptionDef {
    pub name: String,
    pub fields: Vec<String>,
    pub comps: Vec<String>,
    pub rows: Vec<Vec<ExceptionValue>>,
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExceptionValue {
    One(String),
    Many(Vec<String>),
}

#[derive(Clone, Debug)]
pub enum KindDef {
    Match,
    Rare {
        key: Vec<String>,
        value: Vec<String>,
        learning: Nanos,
        /// Learn from the stream's first event for every key, instead of each key's own.
        learning_global: bool,
        max_keys: usize,
        max_values: usize,
    },
    Burst {
        key: Vec<String>,
        distinct: Vec<String>,
        threshold: usize,
        window: Nanos,
    },
    Sequence {
        key: Vec<String>,
        window: Nanos,
        steps: Vec<StepDef>,
    },
    Intel {
        field: String,
        category: String,
    },
}

#[derive(Clone, Debug)]
pub struct StepDef {
    pub condition: Text,
    /// name -> field whose value later steps may compare against with `$name`.
    pub capture: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct RuleDef {
    pub name: String,
    pub alert: String,
    pub source: Source,
    pub kind: KindDef,
    pub condition: Option<Text>,
    pub exceptions: Vec<ExceptionDef>,
    pub reason: Option<String>,
    pub throttle: Option<Nanos>,
    /// Fields whose values name what the alert is about, for folding repeats (default: the
    /// most specific entity of the event).
    pub dedup: Vec<String>,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub location: Location,
}

/// Everything loaded so far, in load order, overrides applied.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    pub catalog: Catalog,
    pub lists: FxHashMap<String, ListDef>,
    pub macros: FxHashMap<String, MacroDef>,
    pub rules: Vec<RuleDef>,
}

/// The rule files shipped with kdr, embedded in the binary.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "rules/catalog/control-plane.yaml",
        include_str!("../../../rules/catalog/control-plane.yaml"),
    ),
    (
        "rules/catalog/runtime.yaml",
        include_str!("../../../rules/catalog/runtime.yaml"),
    ),
    (
        "rules/k8s_audit.yaml",
        include_str!("../../../rules/k8s_audit.yaml"),
    ),
    (
        "rules/cloud.yaml",
        include_str!("../../../rules/cloud.yaml"),
    ),
    (
        "rules/lists/processes.yaml",
        include_str!("../../../rules/lists/processes.yaml"),
    ),
    (
        "rules/lists/tools.yaml",
        include_str!("../../../rules/lists/tools.yaml"),
    ),
    (
        "rules/lists/paths.yaml",
        include_str!("../../../rules/lists/paths.yaml"),
    ),
    (
        "rules/runtime.yaml",
        include_str!("../../../rules/runtime.yaml"),
    ),
];

impl RuleSet {
    /// The shipped rules.
    pub fn embedded() -> Result<RuleSet, Vec<RuleError>> {
        let mut set = RuleSet::default();
        let mut errors = Vec::new();
        for (name, text) in EMBEDDED {
            errors.extend(set.load_str(name, text));
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    /// Loads every `*.yaml`/`*.yml` file of a directory (name order), or one file.
    pub fn load_path(&mut self, path: &Path) -> Vec<RuleError> {
        let io_error = |e: std::io::Error| {
            vec![RuleError {
                location: Location {
                    file: path.display().to_string().into(),
                    line: 0,
                    column: None,
                },
                message: format!("cannot read: {e}"),
            }]
        };
        let mut files = Vec::new();
        if path.is_dir() {
            let entries = match std::fs::read_dir(path) {
                Ok(entries) => entries,
                Err(e) => return io_error(e),
            };
            for entry in entries.flatten() {
                let p = entry.path();
                if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                    files.push(p);
                }
            }
            files.sort();
        } else {
            files.push(path.to_path_buf());
        }
        let mut errors = Vec::new();
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => errors.extend(self.load_str(&file.display().to_string(), &text)),
                Err(e) => errors.extend(io_error(e)),
            }
        }
        errors
    }

    /// Loads one file's text. Items with errors are skipped; the errors are returned.
    pub fn load_str(&mut self, file: &str, text: &str) -> Vec<RuleError> {
        let file: Arc<str> = file.into();
        let at = |line: usize, message: String| RuleError {
            location: Location {
                file: file.clone(),
                line,
                column: None,
            },
            message,
        };
        let document: Yaml = match serde_yaml_ng::from_str(text) {
            Ok(doc) => doc,
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map_or((0, None), |l| (l.line(), Some(l.column())));
                return vec![RuleError {
                    location: Location { file, line, column },
                    message: format!("invalid YAML: {e}"),
                }];
            }
        };
        let items = match document {
            Yaml::Null => return Vec::new(),
            Yaml::Sequence(items) => items,
            _ => return vec![at(1, "a rule file must be a YAML list of items".into())],
        };
        let lines: Vec<&str> = text.lines().collect();
        let starts = item_start_lines(&lines);
        let mut errors = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let start = starts.get(index).copied().unwrap_or(1);
            let end = starts.get(index + 1).copied().unwrap_or(lines.len() + 1);
            let ctx = ItemCtx {
                file: file.clone(),
                lines: &lines,
                start,
                end,
            };
            if let Err(e) = self.load_item(&ctx, item) {
                errors.push(e);
            }
        }
        errors
    }

    fn load_item(&mut self, ctx: &ItemCtx<'_>, item: Yaml) -> Result<(), RuleError> {
        let Yaml::Mapping(map) = item else {
            return Err(ctx.error(
                None,
                "expected a mapping with `alert`, `rule`, `list` or `macro`",
            ));
        };
        let item = Item { ctx, map: &map };
        if item.has("alert") && !item.has("rule") {
            self.load_alert_type(&item)
        } else if item.has("rule") {
            self.load_rule(&item)
        } else if item.has("list") {
            let name = item.string("list")?;
            let items = item.strings("items")?;
            let location = ctx.location(Some("list"));
            if item.bool("append")?.unwrap_or(false) {
                match self.lists.get_mut(&name) {
                    Some(list) => list.items.extend(items),
                    None => {
                        return Err(
                            ctx.error(Some("list"), &format!("append to undefined list `{name}`"))
                        )
                    }
                }
            } else {
                self.lists.insert(name, ListDef { items, location });
            }
            Ok(())
        } else if item.has("macro") {
            let name = item.string("macro")?;
            let condition = item.text("condition")?;
            if item.bool("append")?.unwrap_or(false) {
                match self.macros.get_mut(&name) {
                    Some(existing) => append_text(&mut existing.condition, condition),
                    None => {
                        return Err(ctx.error(
                            Some("macro"),
                            &format!("append to undefined macro `{name}`"),
                        ))
                    }
                }
            } else {
                self.macros.insert(name, MacroDef { condition });
            }
            Ok(())
        } else {
            Err(ctx.error(
                None,
                "unknown item: expected one of `alert`, `rule`, `list`, `macro`",
            ))
        }
    }

    fn load_alert_type(&mut self, item: &Item<'_>) -> Result<(), RuleError> {
        item.only_keys(&[
            "alert",
            "display_name",
            "plane",
            "severity",
            "tactics",
            "techniques",
            "mitigations",
            "aliases",
            "description",
            "impact",
            "remediation",
        ])?;
        let plane = match item.string("plane")?.as_str() {
            "audit" => Plane::Audit,
            "config" => Plane::Config,
            "runtime" => Plane::Runtime,
            "cloud" => Plane::Cloud,
            other => {
                return Err(item.ctx.error(
                    Some("plane"),
                    &format!("unknown plane `{other}`: expected audit, config, runtime or cloud"),
                ))
            }
        };
        let severity_text = item.string("severity")?;
        let severity = Severity::from_name(&severity_text).ok_or_else(|| {
            item.ctx.error(
                Some("severity"),
                &format!("unknown severity `{severity_text}`: expected Informational, Low, Medium or High"),
            )
        })?;
        let tactics = item
            .strings("tactics")?
            .into_iter()
            .map(|t| {
                Tactic::from_name(&t).ok_or_else(|| {
                    item.ctx
                        .error(Some("tactics"), &format!("unknown MITRE tactic `{t}`"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.catalog.upsert(AlertType {
            id: item.string("alert")?,
            display_name: item.string("display_name")?,
            plane,
            severity,
            tactics,
            techniques: item.strings("techniques")?,
            mitigations: item.optional_strings("mitigations")?,
            aliases: item.optional_strings("aliases")?,
            description: item.string("description")?,
            impact: item.optional_string("impact")?.unwrap_or_default(),
            remediation: item.string("remediation")?,
            location: item.ctx.location(Some("alert")),
        });
        Ok(())
    }

    fn load_rule(&mut self, item: &Item<'_>) -> Result<(), RuleError> {
        item.only_keys(&[
            "rule",
            "alert",
            "source",
            "kind",
            "condition",
            "exceptions",
            "reason",
            "throttle",
            "dedup",
            "enabled",
            "tags",
            "append",
            "key",
            "value",
            "learning",
            "learning_scope",
            "max_keys",
            "max_values",
            "distinct",
            "threshold",
            "window",
            "steps",
            "field",
            "category",
        ])?;
        let name = item.string("rule")?;
        let append = item.bool("append")?.unwrap_or(false);
        let existing = self.rules.iter().position(|r| r.name == name);
        if let Some(index) = existing {
            let rule = &mut self.rules[index];
            if let Some(condition) = item.optional_text("condition")? {
                match (&mut rule.condition, append) {
                    (Some(old), true) => append_text(old, condition),
                    (slot, _) => *slot = Some(condition),
                }
            }
            let exceptions = item.exceptions()?;
            if append {
                rule.exceptions.extend(exceptions);
            } else if item.has("exceptions") {
                rule.exceptions = exceptions;
            }
            if let Some(enabled) = item.bool("enabled")? {
                rule.enabled = enabled;
            }
            if let Some(reason) = item.optional_string("reason")? {
                rule.reason = Some(reason);
            }
            if let Some(throttle) = item.optional_string("throttle")? {
                rule.throttle = Some(item.duration("throttle", &throttle)?);
            }
            if item.has("alert") {
                rule.alert = item.string("alert")?;
            }
            if item.has("tags") {
                rule.tags = item.strings("tags")?;
            }
            if item.has("dedup") {
                rule.dedup = item.strings("dedup")?;
            }
            if item.has("kind") || item.has("source") {
                rule.kind = item.kind()?;
                rule.source = item.source()?;
            }
            return Ok(());
        }
        if append {
            return Err(item
                .ctx
                .error(Some("rule"), &format!("append to undefined rule `{name}`")));
        }
        let kind = item.kind()?;
        let condition = item.optional_text("condition")?;
        if condition.is_none() && matches!(kind, KindDef::Match) {
            return Err(item.ctx.error(None, "missing `condition`"));
        }
        let throttle = match item.optional_string("throttle")? {
            Some(text) => Some(item.duration("throttle", &text)?),
            None => None,
        };
        self.rules.push(RuleDef {
            alert: item.string("alert")?,
            source: item.source()?,
            kind,
            condition,
            exceptions: item.exceptions()?,
            reason: item.optional_string("reason")?,
            throttle,
            dedup: item.optional_strings("dedup")?,
            enabled: item.bool("enabled")?.unwrap_or(true),
            tags: item.optional_strings("tags")?,
            location: item.ctx.location(Some("rule")),
            name,
        });
        Ok(())
    }
}

fn append_text(old: &mut Text, new: Text) {
    let offset = old.text.len() + 1;
    old.text.push(' ');
    old.text.push_str(&new.text);
    old.line_map.extend(
        new.line_map
            .into_iter()
            .map(|(location, start)| (location, start + offset)),
    );
}

/// Line numbers (1-based) where each top-level list item starts (`- ` at column 0).
fn item_start_lines(lines: &[&str]) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("- ") || **l == "-")
        .map(|(i, _)| i + 1)
        .collect()
}

struct ItemCtx<'a> {
    file: Arc<str>,
    lines: &'a [&'a str],
    /// First and one-past-last line (1-based) of the item.
    start: usize,
    end: usize,
}

impl ItemCtx<'_> {
    /// Line and column of `key:` inside this item.
    fn key_position(&self, key: &str) -> Option<(usize, usize)> {
        (self.start..self.end).find_map(|line| {
            let text = self.lines.get(line - 1)?;
            let trimmed = text.trim_start_matches([' ', '-']);
            let column = text.len() - trimmed.len() + 1;
            (trimmed.starts_with(key) && trimmed[key.len()..].starts_with(':'))
                .then_some((line, column))
        })
    }

    fn at(&self, line: usize, column: usize) -> Location {
        Location {
            file: self.file.clone(),
            line,
            column: Some(column),
        }
    }

    fn location(&self, key: Option<&str>) -> Location {
        let (line, column) = key
            .and_then(|k| self.key_position(k))
            .map_or((self.start, None), |(l, c)| (l, Some(c)));
        Location {
            file: self.file.clone(),
            line,
            column,
        }
    }

    fn error(&self, key: Option<&str>, message: &str) -> RuleError {
        RuleError {
            location: self.location(key),
            message: message.to_owned(),
        }
    }
}

struct Item<'a> {
    ctx: &'a ItemCtx<'a>,
    map: &'a Mapping,
}

impl Item<'_> {
    fn get(&self, key: &str) -> Option<&Yaml> {
        self.map.get(key)
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn only_keys(&self, allowed: &[&str]) -> Result<(), RuleError> {
        for key in self.map.keys() {
            let name = key.as_str().unwrap_or("");
            if !allowed.contains(&name) {
                return Err(self.ctx.error(
                    Some(name),
                    &format!(
                        "unknown key `{name}`; expected one of: {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn type_error(&self, key: &str, expected: &str) -> RuleError {
        self.ctx
            .error(Some(key), &format!("`{key}` must be {expected}"))
    }

    fn optional_string(&self, key: &str) -> Result<Option<String>, RuleError> {
        match self.get(key) {
            None | Some(Yaml::Null) => Ok(None),
            Some(value) => scalar_text(value)
                .map(Some)
                .ok_or_else(|| self.type_error(key, "a string")),
        }
    }

    fn string(&self, key: &str) -> Result<String, RuleError> {
        self.optional_string(key)?
            .ok_or_else(|| self.ctx.error(None, &format!("missing `{key}`")))
    }

    fn optional_strings(&self, key: &str) -> Result<Vec<String>, RuleError> {
        match self.get(key) {
            None | Some(Yaml::Null) => Ok(Vec::new()),
            Some(Yaml::Sequence(items)) => items
                .iter()
                .map(|v| scalar_text(v).ok_or_else(|| self.type_error(key, "a list of strings")))
                .collect(),
            Some(_) => Err(self.type_error(key, "a list of strings")),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, RuleError> {
        if !self.has(key) {
            return Err(self.ctx.error(None, &format!("missing `{key}`")));
        }
        self.optional_strings(key)
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, RuleError> {
        match self.get(key) {
            None => Ok(None),
            Some(Yaml::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.type_error(key, "true or false")),
        }
    }

    fn number(&self, key: &str) -> Result<Option<usize>, RuleError> {
        match self.get(key) {
            None => Ok(None),
            Some(Yaml::Number(n)) => n
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.type_error(key, "a non-negative whole number")),
            Some(_) => Err(self.type_error(key, "a non-negative whole number")),
        }
    }

    fn duration(&self, key: &str, text: &str) -> Result<Nanos, RuleError> {
        parse_duration(text).ok_or_else(|| {
            self.ctx.error(
                Some(key),
                &format!("invalid duration `{text}`: expected e.g. 500ms, 30s, 10m, 1h, 7d"),
            )
        })
    }

    fn optional_duration(&self, key: &str) -> Result<Option<Nanos>, RuleError> {
        match self.optional_string(key)? {
            Some(text) => self.duration(key, &text).map(Some),
            None => Ok(None),
        }
    }

    fn optional_text(&self, key: &str) -> Result<Option<Text>, RuleError> {
        let Some(text) = self.optional_string(key)? else {
            return Ok(None);
        };
        Ok(Some(make_text(self.ctx, key, text)))
    }

    fn text(&self, key: &str) -> Result<Text, RuleError> {
        self.optional_text(key)?
            .ok_or_else(|| self.ctx.error(None, &format!("missing `{key}`")))
    }

    fn source(&self) -> Result<Source, RuleError> {
        let name = self.string("source")?;
        Source::from_name(&name).ok_or_else(|| {
            self.ctx.error(
                Some("source"),
                &format!("unknown source `{name}`: expected k8s_audit, runtime, cloud or exposure"),
            )
        })
    }

    fn kind(&self) -> Result<KindDef, RuleError> {
        let kind = self
            .optional_string("kind")?
            .unwrap_or_else(|| "match".into());
        Ok(match kind.as_str() {
            "match" => KindDef::Match,
            "rare" => KindDef::Rare {
                key: self.strings("key")?,
                value: self.strings("value")?,
                learning: self
                    .optional_duration("learning")?
                    .unwrap_or(7 * 86_400 * NANOS_PER_SEC),
                learning_global: match self.optional_string("learning_scope")?.as_deref() {
                    None | Some("key") => false,
                    Some("stream") => true,
                    Some(other) => {
                        return Err(self.ctx.error(
                            Some("learning_scope"),
                            &format!("unknown learning_scope `{other}`: expected key or stream"),
                        ))
                    }
                },
                max_keys: self.number("max_keys")?.unwrap_or(50_000),
                max_values: self.number("max_values")?.unwrap_or(1_000),
            },
            "burst" => KindDef::Burst {
                key: self.strings("key")?,
                distinct: self.optional_strings("distinct")?,
                threshold: self
                    .number("threshold")?
                    .ok_or_else(|| self.ctx.error(None, "missing `threshold`"))?,
                window: self
                    .optional_duration("window")?
                    .ok_or_else(|| self.ctx.error(None, "missing `window`"))?,
            },
            "sequence" => KindDef::Sequence {
                key: self.strings("key")?,
                window: self
                    .optional_duration("window")?
                    .ok_or_else(|| self.ctx.error(None, "missing `window`"))?,
                steps: self.steps()?,
            },
            "intel" => KindDef::Intel {
                field: self.string("field")?,
                category: self.string("category")?,
            },
            other => {
                return Err(self.ctx.error(
                    Some("kind"),
                    &format!(
                    "unknown rule kind `{other}`: expected match, rare, burst, sequence or intel"
                ),
                ))
            }
        })
    }

    fn steps(&self) -> Result<Vec<StepDef>, RuleError> {
        let Some(Yaml::Sequence(steps)) = self.get("steps") else {
            return Err(self.type_error("steps", "a list of steps with `condition`"));
        };
        steps
            .iter()
            .map(|step| {
                let condition = step
                    .get("condition")
                    .and_then(scalar_text)
                    .ok_or_else(|| self.type_error("steps", "a list of steps with `condition`"))?;
                let capture = match step.get("capture") {
                    None => Vec::new(),
                    Some(Yaml::Mapping(map)) => map
                        .iter()
                        .map(|(k, v)| match (scalar_text(k), scalar_text(v)) {
                            (Some(k), Some(v)) => Ok((k, v)),
                            _ => Err(self.type_error("capture", "a mapping of name: field")),
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => return Err(self.type_error("capture", "a mapping of name: field")),
                };
                Ok(StepDef {
                    condition: make_step_text(self.ctx, &condition),
                    capture,
                })
            })
            .collect()
    }

    fn exceptions(&self) -> Result<Vec<ExceptionDef>, RuleError> {
        let Some(value) = self.get("exceptions") else {
            return Ok(Vec::new());
        };
        let Yaml::Sequence(items) = value else {
            return Err(self.type_error("exceptions", "a list"));
        };
        let mut out = Vec::new();
        for item in items {
            let error = |what: &str| self.type_error("exceptions", what);
            let name = item
                .get("name")
                .and_then(scalar_text)
                .ok_or_else(|| error("a list of {name, fields, values}"))?;
            let fields = match item.get("fields") {
                Some(Yaml::Sequence(f)) => f.iter().filter_map(scalar_text).collect(),
                Some(v) => {
                    vec![scalar_text(v).ok_or_else(|| error("exception `fields` as a list"))?]
                }
                None => return Err(error("exceptions with `fields`")),
            };
            let comps = match item.get("comps") {
                Some(Yaml::Sequence(c)) => c.iter().filter_map(scalar_text).collect(),
                Some(v) => vec![scalar_text(v).unwrap_or_default()],
                None => Vec::new(),
            };
            let rows = match item.get("values") {
                Some(Yaml::Sequence(rows)) => rows
                    .iter()
                    .map(|row| {
                        exception_row(row)
                            .ok_or_else(|| error("exception `values` as a list of rows"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                None => Vec::new(),
                Some(_) => return Err(error("exception `values` as a list of rows")),
            };
            out.push(ExceptionDef {
                name,
                fields,
                comps,
                rows,
                location: self.ctx.location(Some("exceptions")),
            });
        }
        Ok(out)
    }
}

fn exception_row(row: &Yaml) -> Option<Vec<ExceptionValue>> {
    let cell = |v: &Yaml| match v {
        Yaml::Sequence(items) => Some(ExceptionValue::Many(
            items.iter().filter_map(scalar_text).collect(),
        )),
        other => scalar_text(other).map(ExceptionValue::One),
    };
    match row {
        // A single-field exception may list plain values.
        Yaml::Sequence(cells) => cells.iter().map(cell).collect(),
        other => Some(vec![cell(other)?]),
    }
}

fn scalar_text(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Maps a text value back to its lines in the file: for a value on the key's own line, the
/// column where it starts; for a block scalar, each following line's content.
fn make_text(ctx: &ItemCtx<'_>, key: &str, text: String) -> Text {
    let key_location = ctx.location(Some(key));
    let mut line_map = Vec::new();
    if let Some((line, column)) = ctx.key_position(key) {
        let source = ctx.lines.get(line - 1).copied().unwrap_or("");
        let after_key = &source[(column - 1 + key.len() + 1).min(source.len())..];
        let value = after_key.trim_start();
        let value_column = source.len() - value.len() + 1;
        let block = value.is_empty() || value.starts_with(['>', '|']);
        if block {
            let key_indent = column - 1;
            let mut offset = 0;
            for (i, body) in ctx.lines[line.min(ctx.lines.len())..(ctx.end - 1).max(line)]
                .iter()
                .enumerate()
            {
                let indent = body.len() - body.trim_start().len();
                if !body.trim().is_empty() && indent <= key_indent {
                    break;
                }
                if body.trim().is_empty() {
                    continue;
                }
                line_map.push((ctx.at(line + 1 + i, indent + 1), offset));
                offset += body.trim().len() + 1;
            }
        } else {
            let quoted = value.starts_with(['"', '\'']);
            line_map.push((ctx.at(line, value_column + usize::from(quoted)), 0));
        }
    }
    Text {
        text,
        key_location,
        line_map,
    }
}

fn make_step_text(ctx: &ItemCtx<'_>, condition: &str) -> Text {
    // Steps are nested; point at the step's own `condition:` line when found.
    let found = (ctx.start..ctx.end).find(|line| {
        ctx.lines.get(line - 1).is_some_and(|l| {
            l.contains("condition:") && l.contains(condition.trim().split(' ').next().unwrap_or(""))
        })
    });
    let location = Location {
        file: ctx.file.clone(),
        line: found.unwrap_or(ctx.start),
        column: None,
    };
    Text {
        text: condition.to_owned(),
        key_location: location,
        line_map: Vec::new(),
    }
}

/// `500ms`, `30s`, `10m`, `1h`, `7d`.
pub fn parse_duration(text: &str) -> Option<Nanos> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok()?;
    let scale = match unit {
        "ms" => 1_000_000,
        "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3_600 * NANOS_PER_SEC,
        "d" => 86_400 * NANOS_PER_SEC,
        _ => return None,
    };
    number.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal_catalog() -> &'static str {
        "- alert: T_One\n  display_name: One\n  plane: audit\n  severity: Low\n  tactics: [Execution]\n  techniques: [T1609]\n  description: d\n  remediation: r\n"
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Some(600 * NANOS_PER_SEC));
        assert_eq!(parse_duration("7d"), Some(7 * 86_400 * NANOS_PER_SEC));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let mut set = RuleSet::default();
        let errors = set.load_str(
            "x.yaml",
            "- list: a\n  items: [b]\n- rule: r\n  alert: T\n  source: k8s_audit\n  condition: ka.verb = get\n  throttle: soon\n",
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].location.line, 7);
        assert!(
            errors[0].message.contains("invalid duration"),
            "{}",
            errors[0]
        );
        let errors = set.load_str(
            "y.yaml",
            minimal_catalog().replace("Low", "Urgent").as_str(),
        );
        assert!(
            errors[0]
                .to_string()
                .starts_with("y.yaml:4:3: unknown severity"),
            "{}",
            errors[0]
        );
        let errors = set.load_str(
            "z.yaml",
            "- rule: r\n  alert: T\n  source: nowhere\n  condition: a\n",
        );
        assert!(
            errors[0].to_string().contains("z.yaml:3:3: unknown source"),
            "{}",
            errors[0]
        );
        let errors = set.load_str("w.yaml", "- rule: [unclosed\n");
        assert!(errors[0].message.contains("invalid YAML"));
    }

    #[test]
    fn overrides_and_appends() {
        let mut set = RuleSet::default();
        assert!(set
            .load_str(
                "a.yaml",
                "- list: l\n  items: [a]\n- rule: r\n  alert: T\n  source: k8s_audit\n  condition: ka.verb = get\n",
            )
            .is_empty());
        assert!(set
            .load_str(
                "b.yaml",
                "- list: l\n  items: [b]\n  append: true\n- rule: r\n  condition: and ka.user.name = x\n  append: true\n- rule: r\n  enabled: false\n",
            )
            .is_empty());
        assert_eq!(set.lists["l"].items, vec!["a", "b"]);
        let rule = &set.rules[0];
        assert_eq!(
            rule.condition.as_ref().unwrap().text,
            "ka.verb = get and ka.user.name = x"
        );
        assert!(!rule.enabled);
        let located = rule.condition.as_ref().unwrap().locate(18);
        assert_eq!((located.file.as_ref(), located.line), ("b.yaml", 5));
    }

    #[test]
    fn block_condition_offsets_map_to_lines() {
        let mut set = RuleSet::default();
        let errors = set.load_str(
            "c.yaml",
            "- rule: r\n  alert: T\n  source: k8s_audit\n  condition: >\n    ka.verb = get\n    and ka.user.name = x\n",
        );
        assert!(errors.is_empty());
        let text = set.rules[0].condition.as_ref().unwrap();
        assert_eq!(text.text.trim_end(), "ka.verb = get and ka.user.name = x");
        let location = text.locate(18);
        assert_eq!((location.line, location.column), (6, Some(9)));
    }
}
