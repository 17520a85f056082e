//! Which runtime rules an event can fire. A rule's *trigger* is a set of cheap per-event facts
//! (*atoms*: a name class of the process, its parent or its ancestors; a pattern a shared
//! scan finds in a command line) at least one of which holds whenever its condition is true.
//! An event visits the rules of its type without a trigger, plus the rules whose trigger
//! holds: an exec of `cat` does not visit the rule about `nohup` children or the one looking
//! for SOCKS URLs on command lines.

use rustc_hash::FxHashMap;

use crate::compile::{Expr, Matcher, Test};
use crate::fields::Field;
use crate::input::Input;
use crate::names::NAME_FIELDS;

/// A set of rules by index, as a bitmap: unions are a few word operations and iterating
/// yields rule order without sorting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleBits(Vec<u64>);

impl RuleBits {
    pub(crate) fn insert(&mut self, index: usize) {
        let word = index / 64;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (index % 64);
    }

    pub fn contains(&self, index: usize) -> bool {
        self.0
            .get(index / 64)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    /// Adds or removes one rule.
    pub fn set(&mut self, index: usize, member: bool) {
        if member {
            self.insert(index);
        } else if let Some(word) = self.0.get_mut(index / 64) {
            *word &= !(1 << (index % 64));
        }
    }

    fn union_with(&mut self, other: &RuleBits) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (word, bits) in self.0.iter_mut().zip(&other.0) {
            *word |= bits;
        }
    }

    /// Adds the rules of `other` that are also in `filter`.
    fn union_with_both(&mut self, other: &RuleBits, filter: &RuleBits) {
        let len = other.0.len().min(filter.0.len());
        if self.0.len() < len {
            self.0.resize(len, 0);
        }
        for ((word, bits), keep) in self.0.iter_mut().zip(&other.0).zip(&filter.0) {
            *word |= bits & keep;
        }
    }

    pub(crate) fn assign(&mut self, other: &RuleBits) {
        self.0.clear();
        self.0.extend_from_slice(&other.0);
    }

    /// Rule indices in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0
            .iter()
            .enumerate()
            .flat_map(|(i, &word)| set_bits(word, i * 64))
    }
}

/// The positions of the bits set in `word`, plus `base`.
pub(crate) fn set_bits(word: u64, base: usize) -> impl Iterator<Item = usize> {
    let mut rest = word;
    std::iter::from_fn(move || {
        (rest != 0).then(|| {
            let bit = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            base + bit
        })
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Atom {
    /// Some name of name field `field` (an index into [`NAME_FIELDS`]) is in `class`.
    Name { field: usize, class: u32 },
    /// Shared scan `scan` found pattern `pattern`; `per_event` when the scanned field is not
    /// the process's (a file path, a module name), so its result is not the program's.
    Pattern {
        scan: u32,
        pattern: u32,
        per_event: bool,
    },
}

/// What establishing an atom takes, once per event for all atoms of the kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Fact {
    /// The class bitset of a name field.
    Names(usize),
    /// A shared scan.
    Scan(u32),
}

impl Atom {
    fn fact(self) -> Fact {
        match self {
            Atom::Name { field, .. } => Fact::Names(field),
            Atom::Pattern { scan, .. } => Fact::Scan(scan),
        }
    }
}

impl Fact {
    /// On the scale of [`Expr::cost`]: a name is a lookup (the process has up to three
    /// names, the parent two, the ancestors a few each); a scan reads a joined command line.
    fn cost(self) -> u32 {
        match self {
            Fact::Names(0) => 9,
            Fact::Names(1) => 6,
            Fact::Names(_) => 12,
            Fact::Scan(_) => 14,
        }
    }
}

/// Atoms one of which holds whenever `expr` is true; `None` when none is known.
fn trigger(expr: &Expr) -> Option<Vec<Atom>> {
    match expr {
        Expr::Test(Test {
            field,
            matcher: Matcher::NameClass { class, .. },
            ..
        }) => {
            // With `all`, every name is in the class, and there is at least one.
            let field = NAME_FIELDS.iter().position(|f| f == field)?;
            Some(vec![Atom::Name {
                field,
                class: *class,
            }])
        }
        // The scan ignores case: it finds a case-sensitive pattern too. Every regex match
        // contains one of its required literals.
        Expr::Test(Test {
            field,
            matcher:
                Matcher::Scan { scan, patterns, .. }
                | Matcher::Regex {
                    required: Some((scan, patterns)),
                    ..
                },
            ..
        }) => Some(pattern_atoms(*field, *scan, patterns)),
        // A string comparison holds only where its field contains one of its literals.
        Expr::Test(Test {
            field,
            required: Some((scan, patterns)),
            ..
        }) => Some(pattern_atoms(*field, *scan, patterns)),
        Expr::And(parts) => parts
            .iter()
            .filter_map(trigger)
            .min_by_key(|atoms| facts(atoms).iter().map(|f| f.cost()).sum::<u32>()),
        Expr::Or(parts) => {
            let mut atoms = Vec::new();
            for part in parts {
                atoms.extend(trigger(part)?);
            }
            Some(atoms)
        }
        Expr::Shared(_, inner) => trigger(inner),
        Expr::Not(_) | Expr::Test(_) | Expr::Captured(_) => None,
    }
}

/// The atoms of patterns of a shared scan of `field`.
fn pattern_atoms(field: Field, scan: u32, patterns: &[u32]) -> Vec<Atom> {
    patterns
        .iter()
        .map(|&pattern| Atom::Pattern {
            scan,
            pattern,
            per_event: !field.reads_process_only(),
        })
        .collect()
}

/// The facts a trigger's atoms need, each once.
fn facts(atoms: &[Atom]) -> Vec<Fact> {
    let mut facts: Vec<Fact> = Vec::new();
    for atom in atoms {
        if !facts.contains(&atom.fact()) {
            facts.push(atom.fact());
        }
    }
    facts
}

/// On the scale of [`Expr::cost`]: what visiting a rule costs besides its condition (the
/// dispatch on its kind, its exceptions and state). Measured with callgrind on the runtime
/// bench: a visit that ends at a false condition costs about as much as a scan of a path.
const RULE_VISIT_COST: u32 = 12;

/// How a rule is reached for events of one type.
pub(crate) enum Route<'a> {
    /// Every event of the type visits it.
    Always,
    /// Events where its condition (a sequence: its first step) can hold.
    When(&'a Expr),
    /// A sequence whose first step never matches the type: only while it holds partial
    /// matches.
    WhileUnderWay,
}

/// The rules of one event type, by trigger.
#[derive(Debug, Default)]
pub(crate) struct TypeTriggers {
    always: RuleBits,
    /// Sequence rules, visited while they hold partial matches.
    sequences: RuleBits,
    /// By name field (index into [`NAME_FIELDS`]), then class.
    by_class: [Vec<RuleBits>; NAME_FIELDS.len()],
    /// By scan of a process field, then pattern.
    by_pattern: FxHashMap<u32, Vec<RuleBits>>,
    /// By scan of a per-event field, then pattern: looked up on every event, since what the
    /// program visits is remembered across its events.
    by_event_pattern: FxHashMap<u32, Vec<RuleBits>>,
    /// Every rule in `by_event_pattern`.
    event_routed: RuleBits,
    /// Whether any rule can visit an event of this type.
    has_rules: bool,
}

/// Collects the rules of one event type, then decides which facts pay for themselves.
#[derive(Default)]
pub(crate) struct TriggerBuilder {
    triggers: TypeTriggers,
    /// Rules with a trigger: index, atoms, and the cost of evaluating the condition.
    routed: Vec<(usize, Vec<Atom>, u32)>,
}

impl TriggerBuilder {
    /// Adds rule `index`; `sequence` for sequence rules.
    pub(crate) fn add(&mut self, index: usize, route: Route<'_>, sequence: bool) {
        self.triggers.has_rules = true;
        if sequence {
            self.triggers.sequences.insert(index);
        }
        match route {
            Route::Always => self.triggers.always.insert(index),
            Route::When(condition) => match trigger(condition) {
                Some(atoms) => {
                    let cost = condition.cost_without(Field::EvtType) + RULE_VISIT_COST;
                    self.routed.push((index, atoms, cost));
                }
                None => self.triggers.always.insert(index),
            },
            Route::WhileUnderWay => {}
        }
    }

    /// Establishing a fact costs every event of the type, and spares the rules triggered by
    /// it (with facts already chosen) their evaluation: facts are chosen, most profitable
    /// first, while they pay. Rules whose trigger needs a fact not chosen are always visited.
    pub(crate) fn finish(mut self) -> TypeTriggers {
        let needs: Vec<Vec<Fact>> = self.routed.iter().map(|(_, a, _)| facts(a)).collect();
        let mut chosen: Vec<Fact> = Vec::new();
        loop {
            let covered = |with: &[Fact], extra: &[Fact]| {
                self.routed
                    .iter()
                    .zip(&needs)
                    .filter(|(_, need)| need.iter().all(|f| with.contains(f) || extra.contains(f)))
                    .map(|((_, _, cost), _)| *cost)
                    .sum::<u32>()
            };
            let now = covered(&chosen, &[]);
            // Each step adds what one rule still needs, all at once: a rule whose trigger
            // reads several fields (`fd.name` or `fd.target`) is covered by no single fact.
            let best = needs
                .iter()
                .map(|need| {
                    need.iter()
                        .filter(|f| !chosen.contains(f))
                        .copied()
                        .collect::<Vec<Fact>>()
                })
                .filter(|extra| !extra.is_empty())
                .map(|extra| {
                    let cost = extra.iter().map(|f| f.cost()).sum::<u32>();
                    (covered(&chosen, &extra) - now, cost, extra)
                })
                .filter(|(spared, cost, _)| spared > cost)
                .max_by_key(|(spared, cost, _)| spared - cost);
            match best {
                Some((_, _, extra)) => chosen.extend(extra),
                None => break,
            }
        }
        for ((index, atoms, _), need) in self.routed.into_iter().zip(&needs) {
            if !need.iter().all(|f| chosen.contains(f)) {
                self.triggers.always.insert(index);
                continue;
            }
            for atom in atoms {
                let (list, at) = match atom {
                    Atom::Name { field, class } => (&mut self.triggers.by_class[field], class),
                    Atom::Pattern {
                        scan,
                        pattern,
                        per_event,
                    } => {
                        let by_pattern = if per_event {
                            self.triggers.event_routed.insert(index);
                            &mut self.triggers.by_event_pattern
                        } else {
                            &mut self.triggers.by_pattern
                        };
                        (by_pattern.entry(scan).or_default(), pattern)
                    }
                };
                let at = at as usize;
                if list.len() <= at {
                    list.resize(at + 1, RuleBits::default());
                }
                list[at].insert(index);
            }
        }
        self.triggers
    }
}

impl TypeTriggers {
    /// The rules `input`'s program visits into `out` (replaced), sequences under way and
    /// per-event triggers aside: those without a trigger and those whose trigger holds.
    pub(crate) fn triggered(&self, input: &Input<'_>, out: &mut RuleBits) {
        out.assign(&self.always);
        for (field, by_class) in self.by_class.iter().enumerate() {
            if by_class.is_empty() {
                continue;
            }
            input.for_each_name_class(field, |class| {
                if let Some(rules) = by_class.get(class) {
                    out.union_with(rules);
                }
            });
        }
        for (scan, by_pattern) in &self.by_pattern {
            if let Some(found) = input.scanned(*scan) {
                found.for_each(|pattern| {
                    if let Some(rules) = by_pattern.get(pattern) {
                        out.union_with(rules);
                    }
                });
            }
        }
    }

    /// The rules reached through a per-event trigger (a scan of the path, say).
    pub(crate) fn event_routed(&self) -> &RuleBits {
        &self.event_routed
    }

    /// Adds to `out` the rules of `allowed` whose per-event trigger holds for `input`.
    pub(crate) fn add_event_triggered(
        &self,
        input: &Input<'_>,
        allowed: &RuleBits,
        out: &mut RuleBits,
    ) {
        for (scan, by_pattern) in &self.by_event_pattern {
            if let Some(found) = input.scanned(*scan) {
                found.for_each(|pattern| {
                    if let Some(rules) = by_pattern.get(pattern) {
                        out.union_with_both(rules, allowed);
                    }
                });
            }
        }
    }

    /// Whether any rule can visit an event of this type.
    pub(crate) fn has_rules(&self) -> bool {
        self.has_rules
    }

    /// Adds to `out` the sequence rules of this type that hold partial matches (`under_way`).
    pub(crate) fn add_under_way(&self, under_way: &RuleBits, out: &mut RuleBits) {
        out.union_with_both(&self.sequences, under_way);
    }
}
