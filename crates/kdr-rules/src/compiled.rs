//! The compiled rule set: every enabled rule as matchers, indexed by source and by the value
//! of the field that most narrows which events a rule can match (the audit resource, the
//! runtime event type).

use std::cell::RefCell;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use kdr_model::{Nanos, Source, NANOS_PER_SEC};

use crate::catalog::Catalog;
use crate::compile::{
    at_location, process_slots_first, required_values, resolve_field_name, split_field_arg,
    CaptureGate, Expr, Interner, Scope,
};
use crate::fields::{Field, FieldArg};
use crate::input::Input;
use crate::loader::{KindDef, Location, RuleError, RuleSet};
use crate::memo::{EvalTables, Scratch};
use crate::template::Template;
use crate::triggers::{Route, RuleBits, TriggerBuilder, TypeTriggers};

/// Default window in which repeats of an alert on the same entity fold into one.
pub const DEFAULT_THROTTLE: Nanos = 10 * 60 * NANOS_PER_SEC;

#[derive(Debug)]
pub struct CompiledRule {
    pub name: String,
    /// Index of the alert type in the catalog.
    pub alert_type: usize,
    pub source: Source,
    pub condition: Option<Expr>,
    pub exceptions: Option<Expr>,
    pub reason: Template,
    pub throttle: Nanos,
    pub dedup: Vec<FieldSel>,
    pub kind: CompiledKind,
    pub tags: Vec<String>,
    pub location: Location,
}

pub type FieldSel = (Field, FieldArg);

impl CompiledRule {
    /// True when the rule cannot act on any event of this event's program (event type and
    /// process): its condition (a sequence: every step's) is false whatever else the event
    /// holds. Such a rule does nothing on the event: kinds other than sequences stop at a
    /// false condition, and a sequence whose steps are all false neither starts nor advances.
    pub(crate) fn refuted_by_program(&self, input: &Input<'_>) -> bool {
        match &self.kind {
            CompiledKind::Sequence { steps, .. } => steps
                .iter()
                .all(|step| step.condition.refuted_by_program(input)),
            _ => self
                .condition
                .as_ref()
                .is_some_and(|condition| condition.refuted_by_program(input)),
        }
    }
}

#[derive(Debug)]
pub enum CompiledKind {
    Match,
    Rare {
        key: Vec<FieldSel>,
        value: Vec<FieldSel>,
        learning: Nanos,
        learning_global: bool,
        max_keys: usize,
        max_values: usize,
    },
    Burst {
        key: Vec<FieldSel>,
        distinct: Vec<FieldSel>,
        threshold: usize,
        window: Nanos,
    },
    Sequence {
        key: Vec<FieldSel>,
        window: Nanos,
        steps: Vec<Step>,
    },
    Intel {
        field: FieldSel,
        category: String,
    },
}

/// One step of a sequence: its condition and the values it captures for later steps.
#[derive(Debug)]
pub struct Step {
    pub condition: Expr,
    /// What the condition requires of the captured values, checked first.
    pub gate: Option<CaptureGate>,
    /// Captured fields, in capture-slot order (slots continue across steps).
    pub captures: Vec<FieldSel>,
    /// Capture names, for reporting.
    pub capture_names: Vec<String>,
}

#[derive(Debug, Default)]
struct SourceIndex {
    by_key: FxHashMap<Box<str>, Vec<usize>>,
    any: Vec<usize>,
}

#[derive(Debug)]
pub struct Rules {
    pub catalog: Catalog,
    pub rules: Vec<CompiledRule>,
    index: [SourceIndex; 4],
    /// Runtime rules by event type, then by trigger.
    runtime_triggers: FxHashMap<Box<str>, TypeTriggers>,
    /// Runtime rules for event types no rule names.
    runtime_other: TypeTriggers,
    tables: Arc<EvalTables>,
}

fn source_slot(source: Source) -> usize {
    match source {
        Source::K8sAudit => 0,
        Source::Runtime => 1,
        Source::Cloud => 2,
        Source::Exposure => 3,
    }
}

/// The field a source's rules are indexed by.
fn index_field(source: Source) -> Option<Field> {
    match source {
        Source::K8sAudit => Some(Field::KaTargetResource),
        Source::Runtime => Some(Field::EvtType),
        Source::Cloud | Source::Exposure => None,
    }
}

pub const INTEL_CATEGORIES: [&str; 4] = ["proxy", "malware-source", "mining-pool", "c2"];

impl Rules {
    pub fn compile(set: &RuleSet) -> Result<Rules, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        let interner = RefCell::new(Interner::default());
        for def in set.rules.iter().filter(|r| r.enabled) {
            let scope = Scope {
                lists: &set.lists,
                macros: &set.macros,
                source: def.source,
                captures: &[],
                interner: &interner,
            };
            match compile_rule(&scope, set, def) {
                Ok(rule) => rules.push(rule),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut index: [SourceIndex; 4] = Default::default();
        for (i, rule) in rules.iter().enumerate() {
            let slot = &mut index[source_slot(rule.source)];
            let keys = index_field(rule.source).and_then(|field| {
                let condition = match &rule.kind {
                    CompiledKind::Sequence { steps, .. } => steps.first().map(|s| &s.condition),
                    _ => rule.condition.as_ref(),
                }?;
                required_values(condition, field)
            });
            match keys {
                Some(keys) => {
                    for key in keys {
                        slot.by_key.entry(key.into_boxed_str()).or_default().push(i);
                    }
                }
                None => slot.any.push(i),
            }
        }
        // A sequence's later steps may need events its first step's index would not route:
        // index sequences under every key of every step.
        for (i, rule) in rules.iter().enumerate() {
            if let (CompiledKind::Sequence { steps, .. }, Some(field)) =
                (&rule.kind, index_field(rule.source))
            {
                let slot = &mut index[source_slot(rule.source)];
                for step in steps.iter().skip(1) {
                    match required_values(&step.condition, field) {
                        Some(keys) => {
                            for key in keys {
                                let list = slot.by_key.entry(key.into_boxed_str()).or_default();
                                if !list.contains(&i) {
                                    list.push(i);
                                }
                            }
                        }
                        None if !slot.any.contains(&i) => slot.any.push(i),
                        None => {}
                    }
                }
            }
        }
        for slot in &mut index {
            for list in slot.by_key.values_mut() {
                list.sort_unstable();
            }
        }
        let runtime = &index[source_slot(Source::Runtime)];
        let triggers_for = |key: Option<&str>, keyed: &[usize]| {
            let mut triggers = TriggerBuilder::default();
            for &i in keyed.iter().chain(&runtime.any) {
                match &rules[i].kind {
                    CompiledKind::Sequence { steps, .. } => {
                        let first = steps.first().map(|s| &s.condition);
                        let starts_here = first.is_some_and(|c| {
                            required_values(c, Field::EvtType).is_none_or(|types| {
                                key.is_some_and(|k| types.iter().any(|t| t == k))
                            })
                        });
                        let route = match first {
                            Some(condition) if starts_here => Route::When(condition),
                            _ => Route::WhileUnderWay,
                        };
                        triggers.add(i, route, true);
                    }
                    _ => {
                        let route = rules[i]
                            .condition
                            .as_ref()
                            .map_or(Route::Always, Route::When);
                        triggers.add(i, route, false);
                    }
                }
            }
            triggers.finish()
        };
        let runtime_triggers = runtime
            .by_key
            .iter()
            .map(|(key, keyed)| (key.clone(), triggers_for(Some(key), keyed)))
            .collect();
        let runtime_other = triggers_for(None, &[]);
        let mut tables = interner.into_inner().finish().map_err(|message| {
            vec![RuleError {
                location: Location::default(),
                message,
            }]
        })?;
        let mut exprs: Vec<&mut Expr> = rules
            .iter_mut()
            .flat_map(|rule| {
                let steps = match &mut rule.kind {
                    CompiledKind::Sequence { steps, .. } => &mut steps[..],
                    _ => &mut [],
                };
                rule.condition
                    .iter_mut()
                    .chain(rule.exceptions.iter_mut())
                    .chain(steps.iter_mut().map(|step| &mut step.condition))
            })
            .collect();
        tables.process_slots = process_slots_first(&mut exprs, tables.slots);
        Ok(Rules {
            catalog: set.catalog.clone(),
            rules,
            index,
            runtime_triggers,
            runtime_other,
            tables: Arc::new(tables),
        })
    }

    /// Working memory for evaluating these rules on one event at a time ([`Input::new`]).
    ///
    /// [`Input::new`]: crate::Input::new
    pub fn scratch(&self) -> Scratch {
        Scratch::new(Arc::clone(&self.tables))
    }

    /// Whether any runtime rule can visit an event of type `key` (`exit` events, say, may
    /// have none): an event no rule visits needs no evaluation at all.
    pub fn runtime_type_has_rules(&self, key: &str) -> bool {
        self.runtime_triggers
            .get(key)
            .unwrap_or(&self.runtime_other)
            .has_rules()
    }

    /// The runtime rules an event of type `key` visits, into `out` (replaced): those that
    /// can match it; `under_way`: the sequence rules holding partial matches. Worked out once
    /// per program (event type and process, [`ProcessKey`](crate::memo::ProcessKey)): the
    /// rules whose trigger holds, less those that what the program is already rules out;
    /// triggers on per-event fields (the path an open names) are looked up on each event.
    pub fn runtime_candidates(
        &self,
        key: &str,
        input: &Input<'_>,
        under_way: &RuleBits,
        out: &mut RuleBits,
    ) {
        let triggers = self
            .runtime_triggers
            .get(key)
            .unwrap_or(&self.runtime_other);
        let mut worked_out = input.program_candidates().borrow_mut();
        let (rules, per_event) = match input.kept_candidates() {
            Some((rules, per_event)) => (rules, per_event),
            None => {
                if !worked_out.known {
                    triggers.triggered(input, out);
                    if input.program().is_some() {
                        let mut rules = RuleBits::default();
                        let mut per_event = RuleBits::default();
                        for (from, into) in [
                            (&*out, &mut rules),
                            (triggers.event_routed(), &mut per_event),
                        ] {
                            for index in from.iter() {
                                if !self.rules[index].refuted_by_program(input) {
                                    into.insert(index);
                                }
                            }
                        }
                        worked_out.rules = rules;
                        worked_out.per_event = per_event;
                    } else {
                        // A program not remembered: ruling rules out first would cost what
                        // visiting them costs, for this one event.
                        worked_out.rules.assign(out);
                        worked_out.per_event.assign(triggers.event_routed());
                    }
                    worked_out.known = true;
                }
                (&worked_out.rules, &worked_out.per_event)
            }
        };
        out.assign(rules);
        triggers.add_event_triggered(input, per_event, out);
        triggers.add_under_way(under_way, out);
    }

    /// Rules that can match an event of `source` whose index field has value `key`: the ones
    /// indexed under `key` followed by the unindexed ones.
    pub fn candidates<'a>(&'a self, source: Source, key: &str) -> impl Iterator<Item = usize> + 'a {
        let slot = &self.index[source_slot(source)];
        let keyed = slot.by_key.get(key).map_or(&[][..], Vec::as_slice);
        keyed.iter().chain(slot.any.iter()).copied()
    }

    pub fn has_source(&self, source: Source) -> bool {
        let slot = &self.index[source_slot(source)];
        !slot.any.is_empty() || !slot.by_key.is_empty()
    }
}

fn fields(
    names: &[String],
    source: Source,
    location: &Location,
    what: &str,
) -> Result<Vec<FieldSel>, RuleError> {
    names
        .iter()
        .map(|name| {
            let (base, arg) = split_field_arg(name);
            resolve_field_name(base, arg, source)
                .map_err(|e| at_location(location, format!("`{what}`: {e}")))
        })
        .collect()
}

fn compile_rule(
    scope: &Scope<'_>,
    set: &RuleSet,
    def: &crate::loader::RuleDef,
) -> Result<CompiledRule, RuleError> {
    let here =
        |message: String| at_location(&def.location, format!("rule `{}`: {message}", def.name));
    let alert_type = set.catalog.index_of(&def.alert).ok_or_else(|| {
        here(format!(
            "unknown alert type `{}` (define it with an `alert` item)",
            def.alert
        ))
    })?;
    let condition = def
        .condition
        .as_ref()
        .map(|text| scope.compile_text(text))
        .transpose()?;
    let exceptions = scope.compile_exceptions(&def.exceptions)?;
    let reason = match &def.reason {
        Some(text) => {
            Template::parse(text, def.source).map_err(|e| here(format!("reason: {e}")))?
        }
        None => Template::default(),
    };
    let kind = match &def.kind {
        KindDef::Match => CompiledKind::Match,
        KindDef::Rare {
            key,
            value,
            learning,
            learning_global,
            max_keys,
            max_values,
        } => CompiledKind::Rare {
            key: fields(key, def.source, &def.location, "key")?,
            value: fields(value, def.source, &def.location, "value")?,
            learning: *learning,
            learning_global: *learning_global,
            max_keys: (*max_keys).max(1),
            max_values: (*max_values).max(1),
        },
        KindDef::Burst {
            key,
            distinct,
            threshold,
            window,
        } => CompiledKind::Burst {
            key: fields(key, def.source, &def.location, "key")?,
            distinct: fields(distinct, def.source, &def.location, "distinct")?,
            threshold: (*threshold).max(1),
            window: *window,
        },
        KindDef::Sequence { key, window, steps } => {
            if steps.len() > 16 {
                return Err(here(format!(
                    "a sequence has at most 16 steps, this one has {}",
                    steps.len()
                )));
            }
            let mut names: Vec<String> = Vec::new();
            let mut compiled = Vec::with_capacity(steps.len());
            for step in steps {
                let step_scope = Scope {
                    captures: &names,
                    ..*scope
                };
                let condition = step_scope.compile_text(&step.condition)?;
                let mut captures = Vec::new();
                let mut capture_names = Vec::new();
                for (name, field) in &step.capture {
                    if names.contains(name) || capture_names.contains(name) {
                        return Err(here(format!("capture `{name}` is defined twice")));
                    }
                    let mut selected = fields(
                        std::slice::from_ref(field),
                        def.source,
                        &def.location,
                        "capture",
                    )?;
                    captures.push(selected.remove(0));
                    capture_names.push(name.clone());
                }
                names.extend(capture_names.iter().cloned());
                compiled.push(Step {
                    gate: CaptureGate::of(&condition),
                    condition,
                    captures,
                    capture_names,
                });
            }
            CompiledKind::Sequence {
                key: fields(key, def.source, &def.location, "key")?,
                window: *window,
                steps: compiled,
            }
        }
        KindDef::Intel { field, category } => {
            if !INTEL_CATEGORIES.contains(&category.as_str()) {
                return Err(here(format!(
                    "unknown intel category `{category}`: expected one of {}",
                    INTEL_CATEGORIES.join(", ")
                )));
            }
            let mut selected = fields(
                std::slice::from_ref(field),
                def.source,
                &def.location,
                "field",
            )?;
            CompiledKind::Intel {
                field: selected.remove(0),
                category: category.clone(),
            }
        }
    };
    Ok(CompiledRule {
        name: def.name.clone(),
        alert_type,
        source: def.source,
        condition,
        exceptions,
        reason,
        throttle: def.throttle.unwrap_or(DEFAULT_THROTTLE),
        dedup: fields(&def.dedup, def.source, &def.location, "dedup")?,
        kind,
        tags: def.tags.clone(),
        location: def.location.clone(),
    })
}
