//! Syntax trees -> compiled matchers. Field names become [`Field`]s, operands are parsed to the
//! field's type, pattern lists become one automaton or set. Nothing here runs per event.
//!
//! Identical tests (and expansions of one macro) across the whole rule set share a result slot
//! ([`Interner`]), so each is evaluated at most once per event however many rules use it; the
//! parts of `and`/`or` are ordered cheapest first; tests of process names against name sets
//! become bits of a name class, read from bitsets computed once per event.

use std::cell::RefCell;

use aho_corasick::{
    AhoCorasick, AhoCorasickBuilder, Anchored, Input as AcInput, MatchKind, StartKind,
};
use regex::RegexSet;
use rustc_hash::{FxHashMap, FxHashSet};

use kdr_model::Source;

use crate::fields::{ArgKind, Field, FieldArg, FieldSource, FieldType, Val};
use crate::glob::Globs;
use crate::input::Input;
use crate::loader::{ExceptionDef, ExceptionValue, ListDef, Location, MacroDef, RuleError, Text};
use crate::memo::{EvalTables, Scan};
use crate::names::{ClassBuilder, NAME_FIELDS};
use crate::parser::{parse_condition, Ast, FieldRef, Op, Operand, Value};

/// Kleene's three-valued logic: a test on a field the event lacks is `Unknown`, and a rule
/// fires only on `True`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tri {
    False,
    True,
    Unknown,
}

impl Tri {
    pub(crate) fn from_bool(b: bool) -> Tri {
        if b {
            Tri::True
        } else {
            Tri::False
        }
    }

    fn not(self) -> Tri {
        match self {
            Tri::False => Tri::True,
            Tri::True => Tri::False,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

#[derive(Debug)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Test(Test),
    /// A comparison with a value captured by an earlier step of a sequence (`$name`).
    Captured(CaptureTest),
    /// A macro's expansion; every rule that uses the macro shares its result slot.
    Shared(Slot, Box<Expr>),
}

/// Index of a memoized result in the per-event [`Scratch`](crate::input::Scratch).
pub type Slot = u32;

#[derive(Debug)]
pub struct Test {
    pub field: Field,
    pub arg: FieldArg,
    pub matcher: Matcher,
    /// Every value must match (instead of any); an empty list does not match.
    pub all: bool,
    /// Where the result is kept for the current event (shared by identical tests).
    pub slot: Slot,
    /// For string comparisons (`=`, `in`, `startswith`, `endswith`, `pmatch`, `glob`): the
    /// field's shared scan and its patterns one of which the field contains whenever the
    /// test is true, so a rule can be reached through them ([`triggers`](crate::triggers)).
    pub(crate) required: Option<(u32, Vec<u32>)>,
}

#[derive(Debug)]
pub struct CaptureTest {
    pub field: Field,
    pub arg: FieldArg,
    pub op: Op,
    /// Index of the captured value.
    pub capture: usize,
    pub all: bool,
}

#[derive(Debug)]
pub enum Matcher {
    Exists,
    StrEq(Box<str>),
    StrIn(FxHashSet<Box<str>>),
    Contains(AhoCorasick),
    StartsWith(AhoCorasick),
    EndsWith(Vec<Box<str>>),
    PathPrefix(Vec<Box<str>>),
    Glob(Globs),
    /// `required`: the shared scan and patterns one of which every match contains, when the
    /// expressions yield such literals: without them the expressions need not run.
    Regex {
        set: RegexSet,
        required: Option<(u32, Vec<u32>)>,
    },
    IntCmp(Op, i64),
    IntIn(Vec<i64>),
    BoolEq(bool),
    /// A test of process names (`proc.names`, `proc.pnames`, `proc.anames`) against a set of
    /// names or a pattern: one bit of the per-event name bitsets. `names` is the set (empty for
    /// a pattern), for indexing rules by name.
    NameClass {
        class: u32,
        names: Vec<Box<str>>,
    },
    /// `contains`/`icontains` on a single-valued string field: one of the patterns found by the
    /// field's shared scan (every such pattern of the rule set, searched once per event).
    /// `exact` holds the patterns of a case-sensitive `contains`, checked on a hit.
    Scan {
        scan: u32,
        patterns: Vec<u32>,
        exact: Option<Vec<Box<str>>>,
    },
}

impl Expr {
    pub fn eval(&self, input: &Input<'_>) -> Tri {
        self.eval_with(input, &[])
    }

    /// Evaluates with the values earlier sequence steps captured (`$name` operands); a
    /// capture not available yet makes its test unknown.
    ///
    /// Tests, macros and their negations (most nodes) are read from the memo inline; only
    /// `and`/`or` and what the memo lacks are evaluated out of line.
    #[inline(always)]
    pub fn eval_with(&self, input: &Input<'_>, captures: &[String]) -> Tri {
        match self {
            Expr::Test(test) => test.eval_cached(input),
            Expr::Shared(slot, inner) => {
                input.memoized(*slot, || inner.eval_composite(input, captures))
            }
            Expr::Not(inner) => match &**inner {
                Expr::Test(test) => test.eval_cached(input).not(),
                Expr::Shared(slot, inner) => input
                    .memoized(*slot, || inner.eval_composite(input, captures))
                    .not(),
                _ => self.eval_composite(input, captures),
            },
            _ => self.eval_composite(input, captures),
        }
    }

    #[inline(never)]
    fn eval_composite(&self, input: &Input<'_>, captures: &[String]) -> Tri {
        match self {
            Expr::And(parts) => {
                let mut result = Tri::True;
                for part in parts {
                    match part.eval_with(input, captures) {
                        Tri::False => return Tri::False,
                        Tri::Unknown => result = Tri::Unknown,
                        Tri::True => {}
                    }
                }
                result
            }
            Expr::Or(parts) => {
                let mut result = Tri::False;
                for part in parts {
                    match part.eval_with(input, captures) {
                        Tri::True => return Tri::True,
                        Tri::Unknown => result = Tri::Unknown,
                        Tri::False => {}
                    }
                }
                result
            }
            Expr::Not(inner) => inner.eval_with(input, captures).not(),
            Expr::Test(test) => test.eval_cached(input),
            Expr::Captured(test) => test.eval(input, captures.get(test.capture)),
            Expr::Shared(slot, inner) => input.memoized(*slot, || inner.eval_with(input, captures)),
        }
    }

    /// A rough relative cost of evaluating this on one event, to run cheap parts first.
    /// Detection conditions are mostly false: an `and` usually stops at its cheapest part,
    /// while a false `or` evaluates every part.
    fn cost(&self) -> u32 {
        self.cost_among(None)
    }

    /// The cost on events whose `field` an `and` already requires (as an index routed
    /// them): conjuncts testing `field` reject nothing and do not count.
    pub(crate) fn cost_without(&self, field: Field) -> u32 {
        self.cost_among(Some(field))
    }

    fn cost_among(&self, known: Option<Field>) -> u32 {
        match self {
            Expr::And(parts) => {
                let costs = parts
                    .iter()
                    .filter(|p| !matches!(p, Expr::Test(t) if Some(t.field) == known))
                    .map(|p| p.cost_among(known));
                let cheapest = costs.clone().min().unwrap_or(0);
                cheapest + (costs.sum::<u32>() - cheapest) / 4
            }
            Expr::Or(parts) => parts.iter().map(|p| p.cost_among(known)).sum(),
            Expr::Not(inner) | Expr::Shared(_, inner) => inner.cost_among(known),
            Expr::Test(test) => test.cost(),
            Expr::Captured(test) => 2 + field_cost(test.field),
        }
    }

    /// Whether the value depends only on the event type and the program
    /// ([`Field::reads_process_only`]), so it holds for every event of the program.
    pub(crate) fn reads_process_only(&self) -> bool {
        match self {
            Expr::And(parts) | Expr::Or(parts) => parts.iter().all(Expr::reads_process_only),
            Expr::Not(inner) | Expr::Shared(_, inner) => inner.reads_process_only(),
            Expr::Test(test) => test.field.reads_process_only(),
            Expr::Captured(_) => false,
        }
    }

    /// True when this is false for every event of this event's program, whatever else the
    /// events hold: a process-only part that is false decides an `and`, and an `or` whose
    /// parts are all so decided is false.
    pub(crate) fn refuted_by_program(&self, input: &Input<'_>) -> bool {
        if self.reads_process_only() {
            return self.eval(input) == Tri::False;
        }
        match self {
            Expr::And(parts) => parts.iter().any(|p| p.refuted_by_program(input)),
            Expr::Or(parts) => parts.iter().all(|p| p.refuted_by_program(input)),
            Expr::Shared(_, inner) => inner.refuted_by_program(input),
            Expr::Not(_) | Expr::Test(_) | Expr::Captured(_) => false,
        }
    }

    /// Calls `f` with every result slot in this expression and whether it holds a
    /// process-only result.
    fn for_each_slot(&mut self, f: &mut impl FnMut(&mut Slot, bool)) {
        match self {
            Expr::And(parts) | Expr::Or(parts) => {
                parts.iter_mut().for_each(|p| p.for_each_slot(f));
            }
            Expr::Not(inner) => inner.for_each_slot(f),
            Expr::Shared(slot, inner) => {
                f(slot, inner.reads_process_only());
                inner.for_each_slot(f);
            }
            Expr::Test(test) => f(&mut test.slot, test.field.reads_process_only()),
            Expr::Captured(_) => {}
        }
    }

    fn contains_capture(&self) -> bool {
        match self {
            Expr::And(parts) | Expr::Or(parts) => parts.iter().any(Expr::contains_capture),
            Expr::Not(inner) | Expr::Shared(_, inner) => inner.contains_capture(),
            Expr::Test(_) => false,
            Expr::Captured(_) => true,
        }
    }
}

/// Renumbers the result slots of `exprs` (`slots` of them) so that process-only results come
/// first: a program's results are then one contiguous copy. Returns how many those are.
pub(crate) fn process_slots_first(exprs: &mut [&mut Expr], slots: usize) -> usize {
    let mut process_only = vec![false; slots];
    for expr in exprs.iter_mut() {
        expr.for_each_slot(&mut |slot, process| {
            if let Some(p) = process_only.get_mut(*slot as usize) {
                *p = process;
            }
        });
    }
    let mut renumbered: Vec<Slot> = vec![0; slots];
    let mut next: Slot = 0;
    for pass in [true, false] {
        for (slot, &process) in process_only.iter().enumerate() {
            if process == pass {
                renumbered[slot] = next;
                next += 1;
            }
        }
    }
    for expr in exprs.iter_mut() {
        expr.for_each_slot(&mut |slot, _| {
            if let Some(&new) = renumbered.get(*slot as usize) {
                *slot = new;
            }
        });
    }
    process_only.iter().filter(|p| **p).count()
}

/// Orders the parts of `and`/`or` cheapest first. Three-valued `and`/`or` do not depend on
/// the order of their parts, and evaluation has no side effects, so only the cost changes.
fn cheapest_first(mut parts: Vec<Expr>) -> Vec<Expr> {
    parts.sort_by_cached_key(Expr::cost);
    parts
}

/// Extra cost of reading a field: views built per event (joined command lines, ancestor
/// lists) and audit fields that need the request body parsed.
fn field_cost(field: Field) -> u32 {
    match field {
        Field::ProcCmdline | Field::ProcArgs | Field::ProcPcmdline => 4,
        Field::ProcAname | Field::ProcAexePath | Field::ProcArgv | Field::EvtNsFlags => 2,
        Field::KaTargetKind | Field::KaTargetName => 20,
        f if f.info().name.starts_with("ka.req.") => 20,
        _ => 0,
    }
}

impl Test {
    fn cost(&self) -> u32 {
        let matcher = match self.matcher {
            Matcher::Exists | Matcher::IntCmp(..) | Matcher::BoolEq(_) => 1,
            Matcher::NameClass { .. } | Matcher::StrEq(_) | Matcher::IntIn(_) => 2,
            Matcher::StrIn(_) => 3,
            Matcher::StartsWith(_) | Matcher::EndsWith(_) | Matcher::PathPrefix(_) => 4,
            Matcher::Contains(_) | Matcher::Scan { .. } => 6,
            Matcher::Glob(_) => 8,
            Matcher::Regex { .. } => 10,
        };
        matcher + field_cost(self.field)
    }

    /// The result for this event, from the memo or computed once. Name classes are bits of
    /// bitsets computed once per event: read directly, as cheap as the memo.
    #[inline(always)]
    fn eval_cached(&self, input: &Input<'_>) -> Tri {
        match self.matcher {
            Matcher::NameClass { class, .. } => input.in_name_class(self.field, class, self.all),
            _ => input.memoized(self.slot, || self.eval(input)),
        }
    }

    // Out of line: only memo misses get here, and the evaluation loop stays small.
    #[inline(never)]
    pub fn eval(&self, input: &Input<'_>) -> Tri {
        match &self.matcher {
            Matcher::NameClass { class, .. } => {
                return input.in_name_class(self.field, *class, self.all)
            }
            Matcher::Scan {
                scan,
                patterns,
                exact,
            } => return self.eval_scan(input, *scan, patterns, exact.as_deref()),
            Matcher::Regex {
                required: Some((scan, patterns)),
                ..
            } => match input.scanned(*scan) {
                None => return Tri::Unknown,
                Some(found) if !patterns.iter().any(|&p| found.contains(p)) => return Tri::False,
                Some(_) => {}
            },
            _ => {}
        }
        let value = self.field.extract(&self.arg, input);
        if let Matcher::Exists = self.matcher {
            return Tri::from_bool(match &value {
                Val::Missing => false,
                Val::Strs(s) => !s.is_empty(),
                Val::OwnedStrs(s) => !s.is_empty(),
                Val::Names(names) => names.iter().any(|n| !n.is_empty()),
                Val::StrRefs(s) => !s.is_empty(),
                Val::Ints(s) => !s.is_empty(),
                Val::Bools(s) => !s.is_empty(),
                _ => true,
            });
        }
        let m = &self.matcher;
        let found = match value {
            Val::Missing => return Tri::Unknown,
            Val::Str(s) => m.str(s),
            Val::Int(n) => m.int(n),
            Val::Bool(b) => m.bool(b),
            Val::Strs(list) => quantify(self.all, list, |s| m.str(s)),
            Val::OwnedStrs(list) => quantify(self.all, &list, |s| m.str(s)),
            Val::Names(names) => quantify_names(self.all, &names, |s| m.str(s)),
            Val::StrRefs(list) => quantify(self.all, list, |s| m.str(s)),
            Val::Ints(list) => quantify(self.all, list, |n| m.int(*n)),
            Val::Bools(list) => quantify(self.all, list, |b| m.bool(*b)),
        };
        Tri::from_bool(found)
    }
}

impl Test {
    fn eval_scan(
        &self,
        input: &Input<'_>,
        scan: u32,
        patterns: &[u32],
        exact: Option<&[Box<str>]>,
    ) -> Tri {
        let Some(found) = input.scanned(scan) else {
            return Tri::Unknown;
        };
        let hit = match exact {
            None => patterns.iter().any(|&p| found.contains(p)),
            // The scan ignores case: a case-sensitive pattern it found is checked as written.
            Some(exact) => {
                let mut hits = patterns
                    .iter()
                    .zip(exact)
                    .filter(|(p, _)| found.contains(**p));
                match hits.next() {
                    None => false,
                    Some(first) => match self.field.extract(&self.arg, input) {
                        Val::Str(text) => std::iter::once(first)
                            .chain(hits)
                            .any(|(_, pattern)| text.contains(&**pattern)),
                        _ => false,
                    },
                }
            }
        };
        Tri::from_bool(hit)
    }
}

impl CaptureTest {
    #[inline(never)]
    fn eval(&self, input: &Input<'_>, captured: Option<&String>) -> Tri {
        let Some(captured) = captured else {
            return Tri::Unknown;
        };
        let test = |s: &str| match self.op {
            Op::Contains => s.contains(captured.as_str()),
            Op::StartsWith => s.starts_with(captured.as_str()),
            Op::EndsWith => s.ends_with(captured.as_str()),
            Op::PMatch => path_under(s, captured),
            _ => s == captured,
        };
        let int = |n: i64| captured.parse::<i64>().is_ok_and(|c| c == n);
        let found = match self.field.extract(&self.arg, input) {
            Val::Missing => return Tri::Unknown,
            Val::Str(s) => test(s),
            Val::Int(n) => int(n),
            Val::Bool(b) => captured.as_str() == if b { "true" } else { "false" },
            Val::Strs(list) => quantify(self.all, list, |s| test(s)),
            Val::OwnedStrs(list) => quantify(self.all, &list, |s| test(s)),
            Val::Names(names) => quantify_names(self.all, &names, |s| test(s)),
            Val::StrRefs(list) => quantify(self.all, list, |s| test(s)),
            Val::Ints(list) => quantify(self.all, list, |n| int(*n)),
            Val::Bools(_) => false,
        };
        Tri::from_bool(found)
    }
}

/// Names with blanks for duplicates: blanks never count, for `any` or `all`.
fn quantify_names(all: bool, names: &[&str; 3], test: impl Fn(&str) -> bool) -> bool {
    let mut present = names.iter().filter(|n| !n.is_empty()).peekable();
    if all {
        present.peek().is_some() && present.all(|n| test(n))
    } else {
        present.any(|n| test(n))
    }
}

fn quantify<T>(all: bool, list: &[T], test: impl Fn(&T) -> bool) -> bool {
    if all {
        !list.is_empty() && list.iter().all(test)
    } else {
        list.iter().any(test)
    }
}

impl Matcher {
    pub(crate) fn str(&self, s: &str) -> bool {
        match self {
            Matcher::StrEq(expected) => **expected == *s,
            Matcher::StrIn(set) => set.contains(s),
            Matcher::Contains(ac) => ac.is_match(s),
            Matcher::StartsWith(ac) => ac.is_match(AcInput::new(s).anchored(Anchored::Yes)),
            Matcher::EndsWith(suffixes) => suffixes.iter().any(|x| s.ends_with(&**x)),
            Matcher::PathPrefix(prefixes) => prefixes.iter().any(|p| path_under(s, p)),
            Matcher::Glob(set) => set.is_match(s),
            Matcher::Regex { set, .. } => set.is_match(s),
            _ => false,
        }
    }

    fn int(&self, n: i64) -> bool {
        match self {
            Matcher::IntCmp(op, expected) => match op {
                Op::Lt => n < *expected,
                Op::Le => n <= *expected,
                Op::Gt => n > *expected,
                Op::Ge => n >= *expected,
                _ => n == *expected,
            },
            Matcher::IntIn(set) => set.contains(&n),
            _ => false,
        }
    }

    fn bool(&self, b: bool) -> bool {
        matches!(self, Matcher::BoolEq(expected) if *expected == b)
    }
}

fn path_under(path: &str, prefix: &str) -> bool {
    if prefix == "/" {
        return path.starts_with('/');
    }
    let prefix = prefix.trim_end_matches('/');
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// What a compiler needs to resolve names.
pub struct Scope<'a> {
    pub lists: &'a FxHashMap<String, ListDef>,
    pub macros: &'a FxHashMap<String, MacroDef>,
    pub source: Source,
    /// Names of the values earlier sequence steps capture, by slot (`$name` operands).
    pub captures: &'a [String],
    /// Result slots and name classes of the whole rule set being compiled.
    pub interner: &'a RefCell<Interner>,
}

/// Gives identical tests, and the expansions of one macro, one result slot, so a rule set
/// computes each at most once per event; numbers the name sets process-name tests use.
#[derive(Debug, Default)]
pub struct Interner {
    slots: FxHashMap<SlotKey, Slot>,
    name_classes: ClassBuilder,
    scans: FxHashMap<(Field, FieldArg), ScanPatterns>,
}

/// The patterns of one field's shared scan, by lowercased text.
#[derive(Debug, Default)]
struct ScanPatterns {
    id: u32,
    ids: FxHashMap<String, u32>,
}

#[derive(Debug, PartialEq, Eq, Hash)]
enum SlotKey {
    Test {
        field: Field,
        arg: FieldArg,
        /// `None` for `exists`.
        op: Option<Op>,
        values: Vec<String>,
        all: bool,
    },
    Macro {
        source: Source,
        name: String,
    },
}

impl Interner {
    fn slot(&mut self, key: SlotKey) -> Slot {
        let next = Slot::try_from(self.slots.len()).unwrap_or(Slot::MAX);
        *self.slots.entry(key).or_insert(next)
    }

    /// The scan of `field` and the ids of `patterns` in it.
    fn scan(&mut self, field: Field, arg: &FieldArg, patterns: &[String]) -> (u32, Vec<u32>) {
        let next = u32::try_from(self.scans.len()).unwrap_or(u32::MAX);
        let scan = self
            .scans
            .entry((field, arg.clone()))
            .or_insert_with(|| ScanPatterns {
                id: next,
                ids: FxHashMap::default(),
            });
        let ids = patterns
            .iter()
            .map(|p| {
                let next = u32::try_from(scan.ids.len()).unwrap_or(u32::MAX);
                *scan.ids.entry(p.to_ascii_lowercase()).or_insert(next)
            })
            .collect();
        (scan.id, ids)
    }

    /// What per-event evaluation needs: the number of result slots, the name classes, and
    /// the automaton of every shared scan.
    pub fn finish(self) -> Result<EvalTables, String> {
        let mut scans: Vec<(u32, Scan)> = Vec::with_capacity(self.scans.len());
        for ((field, arg), patterns) in self.scans {
            let mut texts = vec![""; patterns.ids.len()];
            for (text, id) in &patterns.ids {
                texts[*id as usize] = text;
            }
            // A DFA, walked byte by byte by the scan: one transition per byte, on every
            // event that reaches it.
            let automaton = aho_corasick::dfa::DFA::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&texts)
                .map_err(|e| format!("cannot build the scan of `{}`: {e}", field.info().name))?;
            let words = texts.len().div_ceil(64);
            scans.push((
                patterns.id,
                Scan {
                    field,
                    arg,
                    automaton,
                    // Placed below, process-only scans first.
                    state: 0,
                    offset: 0,
                    words,
                    process_only: field.reads_process_only(),
                },
            ));
        }
        scans.sort_by_key(|(id, _)| *id);
        let (mut state, mut offset) = (0, 0);
        let (mut process_scans, mut process_scan_words) = (0, 0);
        for process_only in [true, false] {
            for (_, scan) in scans
                .iter_mut()
                .filter(|(_, s)| s.process_only == process_only)
            {
                scan.state = state;
                scan.offset = offset;
                state += 1;
                offset += scan.words;
            }
            if process_only {
                (process_scans, process_scan_words) = (state, offset);
            }
        }
        Ok(EvalTables {
            slots: self.slots.len(),
            // Set once the slots are renumbered (`process_slots_first`).
            process_slots: 0,
            names: self.name_classes.finish(),
            scans: scans.into_iter().map(|(_, scan)| scan).collect(),
            scan_words: offset,
            process_scans,
            process_scan_words,
        })
    }
}

/// A compile error located in the file: rule location + offset within the condition.
fn located(text: &Text, at: usize, message: String) -> RuleError {
    RuleError {
        location: text.locate(at),
        message,
    }
}

impl Scope<'_> {
    pub fn compile_text(&self, text: &Text) -> Result<Expr, RuleError> {
        let ast = parse_condition(&text.text)
            .map_err(|e| located(text, e.at, format!("condition: {}", e.message)))?;
        self.compile_ast(&ast, text, &mut Vec::new())
    }

    fn compile_ast(
        &self,
        ast: &Ast,
        text: &Text,
        stack: &mut Vec<String>,
    ) -> Result<Expr, RuleError> {
        Ok(match ast {
            Ast::And(parts) => Expr::And(cheapest_first(
                parts
                    .iter()
                    .map(|p| self.compile_ast(p, text, stack))
                    .collect::<Result<_, _>>()?,
            )),
            Ast::Or(parts) => Expr::Or(cheapest_first(
                parts
                    .iter()
                    .map(|p| self.compile_ast(p, text, stack))
                    .collect::<Result<_, _>>()?,
            )),
            Ast::Not(inner) => Expr::Not(Box::new(self.compile_ast(inner, text, stack)?)),
            Ast::Macro { name, at } => {
                let Some(def) = self.macros.get(name) else {
                    return Err(located(
                        text,
                        *at,
                        format!("`{name}` is neither a macro nor a field followed by an operator"),
                    ));
                };
                if stack.contains(name) {
                    return Err(located(
                        text,
                        *at,
                        format!("macro `{name}` refers to itself"),
                    ));
                }
                stack.push(name.clone());
                let macro_ast = parse_condition(&def.condition.text).map_err(|e| {
                    located(
                        &def.condition,
                        e.at,
                        format!("macro `{name}`: {}", e.message),
                    )
                })?;
                let expr = self.compile_ast(&macro_ast, &def.condition, stack);
                stack.pop();
                match expr? {
                    // A lone test already has a slot; captured values differ per partial match.
                    expr @ Expr::Test(_) => expr,
                    expr if expr.contains_capture() => expr,
                    expr => {
                        let slot = self.interner.borrow_mut().slot(SlotKey::Macro {
                            source: self.source,
                            name: name.clone(),
                        });
                        Expr::Shared(slot, Box::new(expr))
                    }
                }
            }
            Ast::Exists { field, .. } => {
                let (field, arg) = self.resolve_field(field, text)?;
                Expr::Test(self.test(field, arg, None, &[], Matcher::Exists, false))
            }
            Ast::Compare {
                field,
                op,
                operand,
                all,
                at,
            } => {
                let (resolved, arg) = self.resolve_field(field, text)?;
                if let Operand::Single(value) = operand {
                    if let Some(name) = value.text.strip_prefix('$').filter(|_| !value.quoted) {
                        let slot =
                            self.captures
                                .iter()
                                .position(|c| c == name)
                                .ok_or_else(|| {
                                    located(
                                        text,
                                        value.at,
                                        format!(
                                    "`${name}` is not captured by an earlier step of this sequence"
                                ),
                                    )
                                })?;
                        if !matches!(
                            op,
                            Op::Eq
                                | Op::Ne
                                | Op::Contains
                                | Op::StartsWith
                                | Op::EndsWith
                                | Op::PMatch
                        ) {
                            return Err(located(
                                text,
                                *at,
                                format!("`{}` cannot compare with a captured value", op.name()),
                            ));
                        }
                        let test = Expr::Captured(CaptureTest {
                            field: resolved,
                            arg,
                            op: *op,
                            capture: slot,
                            all: *all,
                        });
                        return Ok(if *op == Op::Ne {
                            Expr::Not(Box::new(test))
                        } else {
                            test
                        });
                    }
                }
                let values = self.expand(operand, text)?;
                let matcher = build_matcher(resolved, *op, &values)
                    .map_err(|message| located(text, *at, message))?;
                let test = Expr::Test(self.test(resolved, arg, Some(*op), &values, matcher, *all));
                if *op == Op::Ne {
                    Expr::Not(Box::new(test))
                } else {
                    test
                }
            }
        })
    }

    /// A test with its result slot; tests of process names against name sets become name
    /// classes.
    fn test(
        &self,
        field: Field,
        arg: FieldArg,
        op: Option<Op>,
        values: &[String],
        matcher: Matcher,
        all: bool,
    ) -> Test {
        let mut interner = self.interner.borrow_mut();
        let names_test = NAME_FIELDS.contains(&field) && arg == FieldArg::None;
        let matcher = match (matcher, op) {
            (Matcher::StrEq(_) | Matcher::StrIn(_), _) if names_test => {
                let mut names: Vec<Box<str>> = values.iter().map(|v| v.as_str().into()).collect();
                names.sort_unstable();
                names.dedup();
                let class = interner.name_classes.set(&names);
                Matcher::NameClass { class, names }
            }
            (
                matcher @ (Matcher::Contains(_)
                | Matcher::StartsWith(_)
                | Matcher::EndsWith(_)
                | Matcher::PathPrefix(_)
                | Matcher::Glob(_)
                | Matcher::Regex { .. }),
                Some(op),
            ) if names_test => {
                let class = interner.name_classes.pattern(op, values, matcher);
                Matcher::NameClass {
                    class,
                    names: Vec::new(),
                }
            }
            (
                Matcher::Regex {
                    set,
                    required: None,
                },
                Some(Op::Regex),
            ) if field.info().ty == FieldType::Str => {
                let required =
                    required_literals(values).map(|literals| interner.scan(field, &arg, &literals));
                Matcher::Regex { set, required }
            }
            (Matcher::Contains(_), Some(Op::Contains | Op::IContains))
                if field.info().ty == FieldType::Str =>
            {
                let (scan, patterns) = interner.scan(field, &arg, values);
                let exact = (op == Some(Op::Contains))
                    .then(|| values.iter().map(|v| v.as_str().into()).collect());
                Matcher::Scan {
                    scan,
                    patterns,
                    exact,
                }
            }
            (other, _) => other,
        };
        // The event type picks the rules before any trigger: its literals would tell nothing.
        let required =
            (field.info().ty == FieldType::Str && !names_test && field != Field::EvtType)
                .then(|| literals_required(&matcher, values))
                .flatten()
                .map(|literals| interner.scan(field, &arg, &literals));
        // `!=` is a negated `=`: both share the test.
        let op = op.map(|op| if op == Op::Ne { Op::Eq } else { op });
        let slot = interner.slot(SlotKey::Test {
            field,
            arg: arg.clone(),
            op,
            values: values.to_vec(),
            all,
        });
        Test {
            field,
            arg,
            matcher,
            all,
            slot,
            required,
        }
    }

    pub fn resolve_field(
        &self,
        field: &FieldRef,
        text: &Text,
    ) -> Result<(Field, FieldArg), RuleError> {
        resolve_field_name(&field.name, field.arg.as_deref(), self.source)
            .map_err(|message| located(text, field.at, message))
    }

    /// Operand values as strings, with list names inside `( )` expanded.
    fn expand(&self, operand: &Operand, text: &Text) -> Result<Vec<String>, RuleError> {
        match operand {
            Operand::Single(value) => Ok(vec![value.text.clone()]),
            Operand::List(values) => {
                let mut out = Vec::new();
                for value in values {
                    self.expand_value(value, text, &mut out, 0)?;
                }
                Ok(out)
            }
        }
    }

    fn expand_value(
        &self,
        value: &Value,
        text: &Text,
        out: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), RuleError> {
        match self.lists.get(&value.text) {
            Some(list) if !value.quoted => {
                if depth > 16 {
                    return Err(located(
                        text,
                        value.at,
                        format!("list `{}` nests too deeply (a cycle?)", value.text),
                    ));
                }
                for item in &list.items {
                    let inner = Value {
                        text: item.clone(),
                        quoted: false,
                        at: value.at,
                    };
                    self.expand_value(&inner, text, out, depth + 1)?;
                }
            }
            _ => out.push(value.text.clone()),
        }
        Ok(())
    }

    /// Expands list names in plain values (exception rows).
    pub fn expand_plain(&self, values: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack: Vec<(String, usize)> = values.iter().rev().map(|v| (v.clone(), 0)).collect();
        while let Some((value, depth)) = stack.pop() {
            match self.lists.get(&value) {
                Some(list) if depth < 16 => {
                    stack.extend(list.items.iter().rev().map(|i| (i.clone(), depth + 1)))
                }
                _ => out.push(value),
            }
        }
        out
    }

    /// Exceptions compile to one `Or` of rows, each an `And` of tests.
    pub fn compile_exceptions(
        &self,
        exceptions: &[ExceptionDef],
    ) -> Result<Option<Expr>, RuleError> {
        let mut rows = Vec::new();
        for exception in exceptions {
            let at = |message: String| RuleError {
                location: exception.location.clone(),
                message: format!("exception `{}`: {message}", exception.name),
            };
            let mut fields = Vec::new();
            for name in &exception.fields {
                let (base, arg) = split_field_arg(name);
                fields.push(resolve_field_name(base, arg, self.source).map_err(at)?);
            }
            for row in &exception.rows {
                if row.len() != fields.len() {
                    return Err(at(format!(
                        "a row has {} values for {} fields",
                        row.len(),
                        fields.len()
                    )));
                }
                let mut tests = Vec::new();
                for (i, ((field, arg), cell)) in fields.iter().zip(row).enumerate() {
                    // A lone value naming a list stands for the list's items.
                    let (values, default_op) = match cell {
                        ExceptionValue::One(v) if self.lists.contains_key(v) => {
                            (self.expand_plain(std::slice::from_ref(v)), Op::In)
                        }
                        ExceptionValue::One(v) => (vec![v.clone()], Op::Eq),
                        ExceptionValue::Many(vs) => (self.expand_plain(vs), Op::In),
                    };
                    let op = match exception.comps.get(i) {
                        Some(comp) => parse_op(comp)
                            .ok_or_else(|| at(format!("unknown comparison `{comp}`")))?,
                        None => default_op,
                    };
                    let matcher = build_matcher(*field, op, &values).map_err(at)?;
                    // An exception excuses a multi-valued field only when every value is
                    // covered: one allowed image must not excuse another container.
                    // `intersects` asks for any value on purpose (e.g. a group membership).
                    let multi = op != Op::Intersects
                        && matches!(
                            field.info().ty,
                            FieldType::Strs | FieldType::Ints | FieldType::Bools
                        );
                    let test = Expr::Test(self.test(
                        *field,
                        arg.clone(),
                        Some(op),
                        &values,
                        matcher,
                        multi,
                    ));
                    tests.push(if op == Op::Ne {
                        Expr::Not(Box::new(test))
                    } else {
                        test
                    });
                }
                rows.push(Expr::And(cheapest_first(tests)));
            }
        }
        Ok((!rows.is_empty()).then_some(Expr::Or(rows)))
    }
}

pub fn split_field_arg(name: &str) -> (&str, Option<&str>) {
    match name.find('[') {
        Some(open) if name.ends_with(']') => (&name[..open], Some(&name[open + 1..name.len() - 1])),
        _ => (name, None),
    }
}

fn parse_op(text: &str) -> Option<Op> {
    Some(match text {
        "=" | "==" => Op::Eq,
        "!=" => Op::Ne,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "in" => Op::In,
        "intersects" => Op::Intersects,
        "contains" => Op::Contains,
        "icontains" => Op::IContains,
        "startswith" => Op::StartsWith,
        "endswith" => Op::EndsWith,
        "glob" => Op::Glob,
        "pmatch" => Op::PMatch,
        "regex" => Op::Regex,
        _ => return None,
    })
}

/// Resolves a field name (and bracket argument) for a rule of `source`.
pub fn resolve_field_name(
    name: &str,
    arg: Option<&str>,
    source: Source,
) -> Result<(Field, FieldArg), String> {
    let info =
        Field::lookup(name).ok_or_else(|| format!("unknown field `{name}` (see `kdr fields`)"))?;
    let allowed = match info.source {
        FieldSource::Any => true,
        FieldSource::Only(s) => {
            s == source || (source == Source::Exposure && s == Source::K8sAudit)
        }
    };
    if !allowed {
        return Err(format!(
            "field `{name}` is not available for source `{}`",
            source.name()
        ));
    }
    let arg = match (info.arg, arg) {
        (_, None) => FieldArg::None,
        (ArgKind::None, Some(_)) => return Err(format!("field `{name}` takes no [argument]")),
        (ArgKind::Text, Some(text)) => FieldArg::Text(text.into()),
        (ArgKind::Index, Some(text)) => FieldArg::Index(
            text.parse()
                .map_err(|_| format!("field `{name}` takes a number argument, found `{text}`"))?,
        ),
    };
    Ok((info.field, arg))
}

fn build_matcher(field: Field, op: Op, values: &[String]) -> Result<Matcher, String> {
    let info = field.info();
    // A text argument on env/labels selects values: the result is a list of strings.
    let ty = info.ty.scalar();
    if values.is_empty() {
        return Err(format!("`{}` needs at least one value", op.name()));
    }
    match ty {
        FieldType::Int => {
            let numbers = values
                .iter()
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| format!("field `{}` is a number; `{v}` is not", info.name))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(match op {
                Op::Eq | Op::Ne if numbers.len() == 1 => Matcher::IntCmp(Op::Eq, numbers[0]),
                Op::In | Op::Intersects | Op::Eq | Op::Ne => Matcher::IntIn(numbers),
                Op::Lt | Op::Le | Op::Gt | Op::Ge if numbers.len() == 1 => {
                    Matcher::IntCmp(op, numbers[0])
                }
                _ => {
                    return Err(format!(
                        "`{}` does not apply to the number field `{}`",
                        op.name(),
                        info.name
                    ))
                }
            })
        }
        FieldType::Bool => {
            let bools = values
                .iter()
                .map(|v| match v.as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err(format!(
                        "field `{}` is true or false; `{v}` is neither",
                        info.name
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            match op {
                Op::Eq | Op::Ne | Op::In | Op::Intersects
                    if bools.iter().all(|b| *b == bools[0]) =>
                {
                    Ok(Matcher::BoolEq(bools[0]))
                }
                _ => Err(format!(
                    "`{}` with these values does not apply to the boolean field `{}`",
                    op.name(),
                    info.name
                )),
            }
        }
        _ => string_matcher(op, values).map_err(|e| format!("field `{}`: {e}", info.name)),
    }
}

fn string_matcher(op: Op, values: &[String]) -> Result<Matcher, String> {
    let automaton = |case_insensitive: bool, anchored: bool| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(case_insensitive)
            .match_kind(MatchKind::Standard)
            .start_kind(if anchored {
                StartKind::Anchored
            } else {
                StartKind::Unanchored
            })
            .build(values)
            .map_err(|e| format!("cannot build pattern set: {e}"))
    };
    Ok(match op {
        Op::Eq | Op::Ne if values.len() == 1 => Matcher::StrEq(values[0].as_str().into()),
        Op::Eq | Op::Ne | Op::In | Op::Intersects => {
            Matcher::StrIn(values.iter().map(|v| v.as_str().into()).collect())
        }
        Op::Contains => Matcher::Contains(automaton(false, false)?),
        Op::IContains => Matcher::Contains(automaton(true, false)?),
        Op::StartsWith => Matcher::StartsWith(automaton(false, true)?),
        Op::EndsWith => Matcher::EndsWith(values.iter().map(|v| v.as_str().into()).collect()),
        Op::PMatch => Matcher::PathPrefix(values.iter().map(|v| v.as_str().into()).collect()),
        Op::Glob => Matcher::Glob(Globs::new(values)?),
        Op::Regex => Matcher::Regex {
            set: RegexSet::new(values).map_err(|e| format!("bad regular expression: {e}"))?,
            required: None,
        },
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            return Err(format!("`{}` compares numbers, not strings", op.name()))
        }
    })
}

/// Literals one of which a text that a string comparison accepts contains: its values, or
/// for globs of literals, `*` and `?` the longest literal run of each; `None` for other
/// matchers, when a literal is shorter than three bytes (found almost anywhere), and past
/// [`MAX_REQUIRED_LITERALS`].
fn literals_required(matcher: &Matcher, values: &[String]) -> Option<Vec<String>> {
    let literals: Vec<String> = match matcher {
        Matcher::StrEq(_)
        | Matcher::StrIn(_)
        | Matcher::StartsWith(_)
        | Matcher::EndsWith(_)
        | Matcher::PathPrefix(_) => values.to_vec(),
        Matcher::Glob(globs) if globs.all_simple() => values
            .iter()
            .map(|glob| {
                glob.split(['*', '?'])
                    .max_by_key(|run| run.len())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect(),
        _ => return None,
    };
    (literals.len() <= MAX_REQUIRED_LITERALS && literals.iter().all(|l| l.len() >= 3))
        .then_some(literals)
}

/// Literals one of which every match of any of `patterns` contains (the prefixes, or else
/// the suffixes, regular expression engines search for first); `None` when some pattern has
/// no such finite set of non-empty literals.
fn required_literals(patterns: &[String]) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let mut all = Vec::new();
    for pattern in patterns {
        let hir = regex_syntax::parse(pattern).ok()?;
        let literals = [ExtractKind::Prefix, ExtractKind::Suffix]
            .into_iter()
            .find_map(|kind| {
                let seq = Extractor::new().kind(kind).extract(&hir);
                let literals = seq.literals()?;
                literals
                    .iter()
                    .map(|l| {
                        std::str::from_utf8(l.as_bytes())
                            .ok()
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned)
                    })
                    .collect::<Option<Vec<String>>>()
                    .filter(|l| !l.is_empty())
            })?;
        all.extend(literals);
    }
    (all.len() <= MAX_REQUIRED_LITERALS).then_some(all)
}

/// More literals than this make a poor filter.
const MAX_REQUIRED_LITERALS: usize = 64;

/// Index keys a compiled condition requires: the values a top-level conjunct demands of
/// `field` (e.g. `ka.target.resource in (pods, deployments)`). `None` when the condition does
/// not pin the field, so the rule must see every event.
pub fn required_values(expr: &Expr, field: Field) -> Option<Vec<String>> {
    match expr {
        Expr::Test(Test {
            field: f,
            arg: FieldArg::None,
            matcher,
            ..
        }) if *f == field => match matcher {
            Matcher::StrEq(v) => Some(vec![v.to_string()]),
            Matcher::StrIn(set) => Some(set.iter().map(|v| v.to_string()).collect()),
            // A pattern class (no set of names) pins nothing.
            Matcher::NameClass { names, .. } if !names.is_empty() => {
                Some(names.iter().map(|v| v.to_string()).collect())
            }
            _ => None,
        },
        Expr::Shared(_, inner) => required_values(inner, field),
        Expr::And(parts) => parts.iter().find_map(|p| required_values(p, field)),
        Expr::Or(parts) => {
            let mut all = Vec::new();
            for part in parts {
                all.extend(required_values(part, field)?);
            }
            Some(all)
        }
        _ => None,
    }
}

/// A condition that can be true only when a captured value equals the event's value of one of
/// some string fields (`proc.exepath = $file or proc.argv = $file`): partial matches whose
/// capture equals none of them are skipped without evaluating the condition.
#[derive(Debug)]
pub struct CaptureGate {
    pub capture: usize,
    pub fields: Vec<(Field, FieldArg)>,
}

impl CaptureGate {
    /// The gate of a step condition, if it has one.
    pub fn of(expr: &Expr) -> Option<CaptureGate> {
        match expr {
            Expr::Captured(test)
                if test.op == Op::Eq
                    && matches!(test.field.info().ty, FieldType::Str | FieldType::Strs) =>
            {
                Some(CaptureGate {
                    capture: test.capture,
                    fields: vec![(test.field, test.arg.clone())],
                })
            }
            Expr::And(parts) => parts.iter().find_map(CaptureGate::of),
            // Every alternative must be gated by the same capture.
            Expr::Or(parts) => {
                let mut gate: Option<CaptureGate> = None;
                for part in parts {
                    let next = CaptureGate::of(part)?;
                    match &mut gate {
                        None => gate = Some(next),
                        Some(gate) if gate.capture == next.capture => {
                            gate.fields.extend(next.fields)
                        }
                        Some(_) => return None,
                    }
                }
                gate
            }
            Expr::Shared(_, inner) => CaptureGate::of(inner),
            Expr::Not(_) | Expr::Test(_) | Expr::Captured(_) => None,
        }
    }

    /// The event's values of the gate's fields, read once for checking many partial matches.
    pub fn probe<'a>(&self, input: &'a Input<'_>) -> GateProbe<'a> {
        let mut probe = GateProbe {
            capture: self.capture,
            values: [""; GATE_VALUES],
            hashes: [0; GATE_VALUES],
            len: 0,
            overflow: false,
        };
        for (field, arg) in &self.fields {
            match field.extract(arg, input) {
                Val::Str(s) => probe.add(s),
                Val::Strs(list) => list.iter().for_each(|s| probe.add(s)),
                Val::Names(names) => names.iter().for_each(|s| probe.add(s)),
                Val::StrRefs(list) => list.iter().for_each(|s| probe.add(s)),
                // Values computed for this read only: too short-lived to keep.
                Val::OwnedStrs(_) => probe.overflow = true,
                _ => {}
            }
        }
        probe
    }
}

/// Most field values a gate probe keeps; past it the probe admits everything.
const GATE_VALUES: usize = 8;

/// One event's values of a gate's fields, with their [`capture_hash`]es.
pub struct GateProbe<'a> {
    capture: usize,
    values: [&'a str; GATE_VALUES],
    hashes: [u64; GATE_VALUES],
    len: usize,
    overflow: bool,
}

/// The hash a gate compares first: a partial match keeps the one of the value its next step's
/// gate compares, so most values it did not capture are told apart without reading text.
pub fn capture_hash(value: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = rustc_hash::FxHasher::default();
    value.hash(&mut hasher);
    hasher.finish()
}

impl<'a> GateProbe<'a> {
    fn add(&mut self, value: &'a str) {
        match self.values.get_mut(self.len) {
            Some(slot) => {
                *slot = value;
                self.hashes[self.len] = capture_hash(value);
                self.len += 1;
            }
            None => self.overflow = true,
        }
    }

    /// False when the gated condition cannot be true with these captures (`hash`: the
    /// [`capture_hash`] of the gate's captured value).
    pub fn admits(&self, captures: &[String], hash: u64) -> bool {
        let hashes = &self.hashes[..self.len];
        if !self.overflow && !hashes.contains(&hash) {
            return false;
        }
        let Some(captured) = captures.get(self.capture) else {
            // Not captured yet: the condition is unknown, never true.
            return false;
        };
        self.overflow
            || self.values[..self.len]
                .iter()
                .zip(hashes)
                .any(|(v, h)| *h == hash && *v == captured)
    }
}

/// The location to blame for errors in a rule without a condition text.
pub fn at_location(location: &Location, message: String) -> RuleError {
    RuleError {
        location: location.clone(),
        message,
    }
}
