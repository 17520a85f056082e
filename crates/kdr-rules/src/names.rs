//! Name classes: every distinct test a rule set makes of process names (`proc.names`,
//! `proc.pnames`, `proc.anames`) against a set of names or a pattern is one class. The classes
//! of a name are computed once (a table for name sets, a bounded cache for patterns), and an
//! event's names fold into one bitset per field, so each test is a bit lookup.

use std::cell::RefCell;

use rustc_hash::FxHashMap;

use crate::compile::Matcher;
use crate::fields::Field;
use crate::parser::Op;

/// The fields whose values are process names, tested through name classes.
pub const NAME_FIELDS: [Field; 3] = [Field::ProcNames, Field::ProcPnames, Field::ProcAnames];

/// Distinct names whose pattern classes are cached before the cache starts over.
const MAX_CACHED_NAMES: usize = 4096;

#[derive(Debug, PartialEq, Eq, Hash)]
enum ClassKey {
    /// Sorted, without duplicates.
    Set(Vec<Box<str>>),
    Pattern(Op, Vec<String>),
}

/// Numbers the classes while rules compile.
#[derive(Debug, Default)]
pub(crate) struct ClassBuilder {
    classes: FxHashMap<ClassKey, u32>,
    sets: Vec<(u32, Vec<Box<str>>)>,
    patterns: Vec<(u32, Matcher)>,
}

impl ClassBuilder {
    fn class(&mut self, key: ClassKey) -> (u32, bool) {
        let next = u32::try_from(self.classes.len()).unwrap_or(u32::MAX);
        let class = *self.classes.entry(key).or_insert(next);
        (class, class == next)
    }

    /// The class of a set of names (sorted, without duplicates).
    pub(crate) fn set(&mut self, names: &[Box<str>]) -> u32 {
        let (class, new) = self.class(ClassKey::Set(names.to_vec()));
        if new {
            self.sets.push((class, names.to_vec()));
        }
        class
    }

    /// The class of names that `matcher` (built from `op` and `values`) accepts.
    pub(crate) fn pattern(&mut self, op: Op, values: &[String], matcher: Matcher) -> u32 {
        let (class, new) = self.class(ClassKey::Pattern(op, values.to_vec()));
        if new {
            self.patterns.push((class, matcher));
        }
        class
    }

    pub(crate) fn finish(self) -> NameClasses {
        let words = self.classes.len().div_ceil(64).max(1);
        let mut rows: FxHashMap<Box<str>, Box<[u64]>> = FxHashMap::default();
        for (class, names) in self.sets {
            for name in names {
                let row = rows
                    .entry(name)
                    .or_insert_with(|| vec![0; words].into_boxed_slice());
                set_bit(row, class);
            }
        }
        NameClasses {
            words,
            rows,
            patterns: self.patterns,
        }
    }
}

/// The classes of names, for evaluation.
#[derive(Debug, Default)]
pub(crate) struct NameClasses {
    /// Words of one name's class bitset.
    pub(crate) words: usize,
    /// The set classes of every name some set holds.
    rows: FxHashMap<Box<str>, Box<[u64]>>,
    patterns: Vec<(u32, Matcher)>,
}

/// Pattern classes of the names seen lately, so each name is matched against the patterns
/// once, not on every event.
pub(crate) type NameCache = RefCell<FxHashMap<Box<str>, Box<[u64]>>>;

impl NameClasses {
    /// Calls `with` on the class bitset of `name`.
    pub(crate) fn with_classes(&self, name: &str, cache: &NameCache, with: impl FnOnce(&[u64])) {
        if self.patterns.is_empty() {
            return with(self.rows.get(name).map_or(&[][..], |row| row));
        }
        let mut cache = cache.borrow_mut();
        if let Some(row) = cache.get(name) {
            return with(row);
        }
        let mut row = match self.rows.get(name) {
            Some(row) => row.clone(),
            None => vec![0; self.words].into_boxed_slice(),
        };
        for (class, matcher) in &self.patterns {
            if matcher.str(name) {
                set_bit(&mut row, *class);
            }
        }
        with(&row);
        if cache.len() >= MAX_CACHED_NAMES {
            cache.clear();
        }
        cache.insert(name.into(), row);
    }
}

fn set_bit(row: &mut [u64], class: u32) {
    if let Some(word) = row.get_mut(class as usize / 64) {
        *word |= 1 << (class % 64);
    }
}
