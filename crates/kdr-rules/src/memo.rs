//! Per-event memory of evaluation: each test's result (identical tests of a rule set share a
//! slot), the name-class bitsets of the process names, and the patterns each shared scan
//! found. It lives in a [`Scratch`] reused from event to event, so evaluation allocates
//! nothing; an [`Input`](crate::Input) borrows the scratch mutably, so one event at a time
//! uses it, and clears it first.

use std::cell::Cell;
use std::sync::Arc;

use aho_corasick::AhoCorasick;

use crate::compile::{Slot, Tri};
use crate::fields::{Field, FieldArg};
use crate::names::{NameCache, NameClasses, NAME_FIELDS};
use crate::triggers::set_bits;

/// What evaluating a compiled rule set needs besides the rules: how many results one event
/// may memoize, the name classes, and the shared scans.
#[derive(Debug, Default)]
pub struct EvalTables {
    pub(crate) slots: usize,
    pub(crate) names: NameClasses,
    pub(crate) scans: Vec<Scan>,
    /// Words of every scan's bitset together.
    pub(crate) scan_words: usize,
}

/// One field's shared scan: every `contains` pattern the rules test the field for, found in
/// one pass per event.
#[derive(Debug)]
pub(crate) struct Scan {
    pub(crate) field: Field,
    pub(crate) arg: FieldArg,
    pub(crate) automaton: AhoCorasick,
    /// Where its bitset starts among all the scans' words.
    pub(crate) offset: usize,
    pub(crate) words: usize,
}

/// Not computed yet for this event (results, name bitsets, scans).
const PENDING: u8 = 0;
/// Computed; for name bitsets and scans, the event has the field.
const DONE: u8 = 1;
/// The event lacks the field.
const MISSING: u8 = 2;

/// The working memory of one rule set ([`Rules::scratch`](crate::Rules::scratch)).
#[derive(Debug)]
pub struct Scratch {
    tables: Arc<EvalTables>,
    /// Per slot: [`PENDING`] or a result code.
    results: Box<[u8]>,
    /// Per name field: [`PENDING`], [`DONE`] or [`MISSING`].
    name_state: [u8; NAME_FIELDS.len()],
    /// The classes of any name and of all names of each name field, interleaved by word
    /// ([`name_word`]).
    name_bits: Box<[u64]>,
    name_cache: NameCache,
    /// Per scan: [`PENDING`], [`DONE`] or [`MISSING`].
    scan_state: Box<[u8]>,
    /// Per scan: the patterns found.
    scan_bits: Box<[u64]>,
}

impl Scratch {
    pub(crate) fn new(tables: Arc<EvalTables>) -> Scratch {
        Scratch {
            results: vec![PENDING; tables.slots].into(),
            name_state: [PENDING; NAME_FIELDS.len()],
            name_bits: vec![0; name_word(tables.names.words, 0, false)].into(),
            name_cache: NameCache::default(),
            scan_state: vec![PENDING; tables.scans.len()].into(),
            scan_bits: vec![0; tables.scan_words].into(),
            tables,
        }
    }

    /// Clears what the previous event left and lends the memory to one event.
    pub(crate) fn begin(&mut self) -> Memo<'_> {
        let Scratch {
            tables,
            results,
            name_state,
            name_bits,
            name_cache,
            scan_state,
            scan_bits,
        } = self;
        results.fill(PENDING);
        name_state.fill(PENDING);
        scan_state.fill(PENDING);
        Memo {
            tables,
            results: Cell::from_mut(&mut **results).as_slice_of_cells(),
            name_state: Cell::from_mut(name_state).as_array_of_cells(),
            name_bits: Cell::from_mut(&mut **name_bits).as_slice_of_cells(),
            name_cache,
            scan_state: Cell::from_mut(&mut **scan_state).as_slice_of_cells(),
            scan_bits: Cell::from_mut(&mut **scan_bits).as_slice_of_cells(),
        }
    }
}

/// One event's view of the scratch.
pub(crate) struct Memo<'a> {
    tables: &'a EvalTables,
    results: &'a [Cell<u8>],
    name_state: &'a [Cell<u8>; NAME_FIELDS.len()],
    name_bits: &'a [Cell<u64>],
    name_cache: &'a NameCache,
    scan_state: &'a [Cell<u8>],
    scan_bits: &'a [Cell<u64>],
}

impl Tri {
    fn code(self) -> u8 {
        match self {
            Tri::False => 1,
            Tri::True => 2,
            Tri::Unknown => 3,
        }
    }

    fn from_code(code: u8) -> Tri {
        match code {
            1 => Tri::False,
            2 => Tri::True,
            _ => Tri::Unknown,
        }
    }
}

impl Memo<'_> {
    #[inline(always)]
    pub(crate) fn memoized(&self, slot: Slot, compute: impl FnOnce() -> Tri) -> Tri {
        let Some(cell) = self.results.get(slot as usize) else {
            return compute();
        };
        match cell.get() {
            PENDING => {
                let result = compute();
                cell.set(result.code());
                result
            }
            code => Tri::from_code(code),
        }
    }

    /// Whether the names of a name field belong to `class` (any of them, or every one with
    /// `all`). On first use the field's bitsets are computed: `names(field, fold)` calls
    /// `fold` on each name and returns false when the event lacks the field.
    #[inline(always)]
    pub(crate) fn in_name_class(
        &self,
        field: Field,
        class: u32,
        all: bool,
        names: impl FnOnce(Field, &mut dyn FnMut(&str)) -> bool,
    ) -> Tri {
        let index = match field {
            Field::ProcNames => 0,
            Field::ProcPnames => 1,
            Field::ProcAnames => 2,
            _ => return Tri::Unknown,
        };
        let state = &self.name_state[index];
        if state.get() == PENDING {
            self.compute_name_bits(field, index, names);
        }
        if state.get() == MISSING {
            return Tri::Unknown;
        }
        let word = name_word(class as usize / 64, index, all);
        Tri::from_bool(
            self.name_bits
                .get(word)
                .is_some_and(|w| w.get() & (1 << (class % 64)) != 0),
        )
    }

    /// Calls `f` with every class some name of name field `index` is in.
    pub(crate) fn for_each_name_class(
        &self,
        index: usize,
        names: impl FnOnce(Field, &mut dyn FnMut(&str)) -> bool,
        mut f: impl FnMut(usize),
    ) {
        let (Some(state), Some(&field)) = (self.name_state.get(index), NAME_FIELDS.get(index))
        else {
            return;
        };
        if state.get() == PENDING {
            self.compute_name_bits(field, index, names);
        }
        if state.get() == MISSING {
            return;
        }
        for word in 0..self.tables.names.words {
            let bits = self.name_bits[name_word(word, index, false)].get();
            set_bits(bits, word * 64).for_each(&mut f);
        }
    }

    /// Computes the bitsets of name field `index` from the names of `field`.
    #[inline(never)]
    fn compute_name_bits(
        &self,
        field: Field,
        index: usize,
        names: impl FnOnce(Field, &mut dyn FnMut(&str)) -> bool,
    ) {
        let classes = &self.tables.names;
        let words = classes.words;
        let cell = |word: usize, all: bool| &self.name_bits[name_word(word, index, all)];
        for word in 0..words {
            cell(word, false).set(0);
            cell(word, true).set(0);
        }
        let mut first = true;
        let present = names(field, &mut |name| {
            classes.with_classes(name, self.name_cache, |row| {
                for (word, &found) in row.iter().enumerate().take(words) {
                    let (any, every) = (cell(word, false), cell(word, true));
                    any.set(any.get() | found);
                    every.set(if first { found } else { every.get() & found });
                }
                // Words the row lacks are empty: the name is in none of those classes.
                for word in row.len()..words {
                    cell(word, true).set(0);
                }
            });
            first = false;
        });
        self.name_state[index].set(if present { DONE } else { MISSING });
    }

    /// Which patterns of a shared scan the event's field holds, searched on first use;
    /// `None` when the event lacks the field (`text` reads the field).
    pub(crate) fn scanned<'t>(
        &self,
        scan: u32,
        text: impl FnOnce(Field, &FieldArg) -> Option<&'t str>,
    ) -> Option<Found<'_>> {
        let state = self.scan_state.get(scan as usize)?;
        let scan = self.tables.scans.get(scan as usize)?;
        let bits = &self.scan_bits[scan.offset..scan.offset + scan.words];
        if state.get() == PENDING {
            for cell in bits {
                cell.set(0);
            }
            let found = text(scan.field, &scan.arg).map(|text| {
                for found in scan.automaton.find_overlapping_iter(text) {
                    let id = found.pattern().as_usize();
                    bits[id / 64].set(bits[id / 64].get() | 1 << (id % 64));
                }
            });
            state.set(if found.is_some() { DONE } else { MISSING });
        }
        (state.get() == DONE).then_some(Found(bits))
    }
}

/// The patterns a scan found in one event.
pub(crate) struct Found<'a>(&'a [Cell<u64>]);

impl Found<'_> {
    /// Calls `f` with every pattern found.
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize)) {
        for (word, bits) in self.0.iter().enumerate() {
            set_bits(bits.get(), word * 64).for_each(&mut f);
        }
    }

    pub(crate) fn contains(&self, pattern: u32) -> bool {
        let id = pattern as usize;
        self.0
            .get(id / 64)
            .is_some_and(|w| w.get() & (1 << (id % 64)) != 0)
    }
}

/// Where word `word` of a name field's any-bitset (or all-bitset) lies: the fields' words are
/// interleaved, so a class's bit is found without knowing how many words there are.
fn name_word(word: usize, field: usize, all: bool) -> usize {
    (word * NAME_FIELDS.len() + field) * 2 + usize::from(all)
}
