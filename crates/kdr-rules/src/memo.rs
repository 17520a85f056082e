//! Per-event memory of evaluation: each test's result (identical tests of a rule set share a
//! slot), the name-class bitsets of the process names, and the patterns each shared scan
//! found. It lives in a [`Scratch`] reused from event to event, so evaluation allocates
//! nothing; an [`Input`](crate::Input) borrows the scratch mutably, so one event at a time
//! uses it, and clears it first.
//!
//! What depends only on the event type and the program ([`ProcessKey`]: the results of tests
//! on [process-only fields](Field::reads_process_only), the name bitsets, the scans of such
//! fields, the rules worth visiting) is also remembered across events, per program, in a
//! bounded table: a node runs the same programs over and over, and an event of a program seen
//! before starts with all of it known. Keys are compared exactly, never trusted by hash. A
//! program gets an entry when it comes back, not on its first event: many command lines run
//! once (a compiler on one file) and would only cost a copy of their key.

use std::cell::{Cell, RefCell};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHasher};

use kdr_model::{Ancestors, Event, FdKind, Payload, Process, RuntimeEvent};

use crate::compile::{Slot, Tri};
use crate::fields::{Field, FieldArg};
use crate::names::{NameCache, NameClasses, NAME_FIELDS};
use crate::triggers::{set_bits, RuleBits};

/// What evaluating a compiled rule set needs besides the rules: how many results one event
/// may memoize, the name classes, and the shared scans.
#[derive(Debug, Default)]
pub struct EvalTables {
    pub(crate) slots: usize,
    /// Slots `0..process_slots` hold results of process-only tests and macros.
    pub(crate) process_slots: usize,
    pub(crate) names: NameClasses,
    pub(crate) scans: Vec<Scan>,
    /// Words of every scan's bitset together.
    pub(crate) scan_words: usize,
    /// How many scans are of process-only fields (remembered per program): their states
    /// come first, as do their words, so a program's are one contiguous copy of each.
    pub(crate) process_scans: usize,
    /// Words of the process-only scans' bitsets together.
    pub(crate) process_scan_words: usize,
}

/// One field's shared scan: every `contains` pattern the rules test the field for, found in
/// one pass per event.
#[derive(Debug)]
pub(crate) struct Scan {
    pub(crate) field: Field,
    pub(crate) arg: FieldArg,
    pub(crate) automaton: aho_corasick::dfa::DFA,
    /// Where its state lies among the scans' states.
    pub(crate) state: usize,
    /// Where its bitset starts among all the scans' words.
    pub(crate) offset: usize,
    pub(crate) words: usize,
    /// It scans a process-only field: its findings are kept per program.
    pub(crate) process_only: bool,
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
    /// The rules this event's program visits for its type, when known ([`Candidates`]).
    candidates: RefCell<Candidates>,
    /// Whether this event worked out a process-only result, name bitset or scan its program
    /// did not know: only then is there anything to keep for the program.
    learned: bool,
    programs: Programs,
}

/// The rules an event of a program visits (by type, before sequences under way), when this
/// event worked them out: its program did not know them yet, and keeps them when the event
/// ends (what it knew already is read in place, [`Memo::kept_candidates`]).
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    pub(crate) known: bool,
    pub(crate) rules: RuleBits,
    /// Rules reached through per-event triggers that the program does not rule out.
    pub(crate) per_event: RuleBits,
}

/// Most programs remembered; past it the table starts over (counted).
const MAX_PROGRAMS: usize = 4096;

/// Slots of the table of program hashes seen once ([`Programs::seen_once`]).
const SEEN_ONCE_SLOTS: usize = 8192;

/// What is remembered per program, and which program the current event runs.
#[derive(Debug, Default)]
struct Programs {
    by_hash: FxHashMap<u64, usize>,
    entries: Vec<Program>,
    /// Hashes of programs seen once, by slot (a later hash may take a slot over). A program
    /// gets an entry only when it comes back: a command line seen once (a compiler on one
    /// source file) would cost a copy of its key and push others out, for nothing.
    seen_once: Box<[u64]>,
    /// The entry of the event being evaluated, written back when the next one begins.
    current: Option<usize>,
    /// The serial the next new entry gets.
    next_serial: u64,
    stats: ProgramStats,
}

/// How the table of programs fared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgramStats {
    /// Events whose program was known.
    pub hits: u64,
    /// Events whose program was not (or whose entry a hash collision took).
    pub misses: u64,
    /// Of the misses, programs seen for the first time (as far as the table of hashes seen
    /// once tells): not remembered.
    pub first_seen: u64,
    /// Programs forgotten to stay within bounds.
    pub evicted: u64,
}

#[derive(Debug)]
struct Program {
    /// Names this entry, never reused: what others remember per program stays exact.
    serial: u64,
    key: ProcessKey,
    results: Box<[u8]>,
    name_state: [u8; NAME_FIELDS.len()],
    name_bits: Box<[u64]>,
    scan_state: Box<[u8]>,
    scan_bits: Box<[u64]>,
    /// [`Candidates::rules`] and [`Candidates::per_event`], once worked out.
    candidates: Option<(RuleBits, RuleBits)>,
}

/// Everything process-only fields read ([`Field::reads_process_only`]): the event type and
/// the process without its pids (the lineage without its pids too).
#[derive(Debug)]
pub struct ProcessKey {
    event_type: &'static str,
    comm: String,
    exe: String,
    args: Vec<String>,
    args_truncated: bool,
    cwd: String,
    user: Option<String>,
    stdio: [FdKind; 3],
    uid: u32,
    euid: u32,
    exe_upper_layer: bool,
    /// Shared with the events: compared by executable and arguments ([`Ancestors::same_programs`]).
    ancestors: Ancestors,
}

impl ProcessKey {
    fn of(runtime: &RuntimeEvent) -> ProcessKey {
        let p = &runtime.process;
        ProcessKey {
            event_type: runtime.action.type_name(),
            comm: p.comm.clone(),
            exe: p.exe.clone(),
            args: p.args.clone(),
            args_truncated: p.args_truncated,
            cwd: p.cwd.clone(),
            user: p.user.clone(),
            stdio: p.stdio,
            uid: p.uid,
            euid: p.euid,
            exe_upper_layer: p.exe_upper_layer,
            ancestors: p.ancestors.clone(),
        }
    }

    fn hash(runtime: &RuntimeEvent) -> u64 {
        let p: &Process = &runtime.process;
        let mut h = FxHasher::default();
        runtime.action.type_name().hash(&mut h);
        p.comm.hash(&mut h);
        p.exe.hash(&mut h);
        p.args.hash(&mut h);
        p.args_truncated.hash(&mut h);
        p.cwd.hash(&mut h);
        p.user.hash(&mut h);
        p.stdio.map(|k| k as u8).hash(&mut h);
        p.uid.hash(&mut h);
        p.euid.hash(&mut h);
        p.exe_upper_layer.hash(&mut h);
        // Worked out once per lineage: a lineage is shared by the events below its parent.
        p.ancestors.identity_hash().hash(&mut h);
        h.finish()
    }

    fn matches(&self, runtime: &RuntimeEvent) -> bool {
        let p = &runtime.process;
        self.event_type == runtime.action.type_name()
            && self.uid == p.uid
            && self.euid == p.euid
            && self.stdio == p.stdio
            && self.args_truncated == p.args_truncated
            && self.exe_upper_layer == p.exe_upper_layer
            && self.exe == p.exe
            && self.comm == p.comm
            && self.args == p.args
            && self.cwd == p.cwd
            && self.user == p.user
            && self.ancestors.same_programs(&p.ancestors)
    }
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
            candidates: RefCell::default(),
            learned: false,
            programs: Programs::default(),
            tables,
        }
    }

    /// How the memory of programs fared so far.
    pub fn program_stats(&self) -> ProgramStats {
        self.programs.stats
    }

    /// Keeps what the previous event worked out about its program, clears what it left, and
    /// lends the memory to `event`, with what is known of its program.
    pub(crate) fn begin(&mut self, event: &Event) -> Memo<'_> {
        self.keep_program();
        self.learned = false;
        self.candidates.get_mut().known = false;
        let recalled = match &event.payload {
            Payload::Runtime(runtime) => self.recall_program(runtime),
            _ => false,
        };
        if !recalled {
            self.results.fill(PENDING);
            self.name_state.fill(PENDING);
            self.scan_state.fill(PENDING);
        }
        let Scratch {
            tables,
            results,
            name_state,
            name_bits,
            name_cache,
            scan_state,
            scan_bits,
            candidates,
            learned,
            programs,
        } = self;
        let program = programs.current.map(|at| &programs.entries[at]);
        Memo {
            tables,
            results: Cell::from_mut(&mut **results).as_slice_of_cells(),
            name_state: Cell::from_mut(name_state).as_array_of_cells(),
            name_bits: Cell::from_mut(&mut **name_bits).as_slice_of_cells(),
            name_cache,
            scan_state: Cell::from_mut(&mut **scan_state).as_slice_of_cells(),
            scan_bits: Cell::from_mut(&mut **scan_bits).as_slice_of_cells(),
            candidates,
            kept_candidates: program.and_then(|p| p.candidates.as_ref()),
            learned: Cell::from_mut(learned),
            program: program.map(|p| p.serial),
        }
    }

    /// Loads what is known of the program of `runtime` and clears the rest (true), or starts
    /// an entry for it (false: nothing is known, the caller clears everything).
    fn recall_program(&mut self, runtime: &RuntimeEvent) -> bool {
        let hash = ProcessKey::hash(runtime);
        let programs = &mut self.programs;
        if let Some(&at) = programs.by_hash.get(&hash) {
            let program = &programs.entries[at];
            if program.key.matches(runtime) {
                programs.stats.hits += 1;
                let p = self.tables.process_slots;
                self.results[..p].copy_from_slice(&program.results);
                self.results[p..].fill(PENDING);
                self.name_state = program.name_state;
                self.name_bits.copy_from_slice(&program.name_bits);
                let (states, words) = (self.tables.process_scans, self.tables.process_scan_words);
                self.scan_state[..states].copy_from_slice(&program.scan_state);
                self.scan_state[states..].fill(PENDING);
                self.scan_bits[..words].copy_from_slice(&program.scan_bits);
                programs.current = Some(at);
                return true;
            }
        }
        programs.stats.misses += 1;
        if programs.seen_once.is_empty() {
            programs.seen_once = vec![0; SEEN_ONCE_SLOTS].into();
        }
        // The top bits choose the slot: the map above already spends the low ones.
        let slot = (hash >> 51) as usize % SEEN_ONCE_SLOTS;
        if programs.seen_once[slot] != hash {
            programs.seen_once[slot] = hash;
            programs.stats.first_seen += 1;
            return false;
        }
        if programs.entries.len() >= MAX_PROGRAMS {
            programs.stats.evicted += programs.entries.len() as u64;
            programs.entries.clear();
            programs.by_hash.clear();
        }
        programs.next_serial += 1;
        let program = Program {
            serial: programs.next_serial,
            key: ProcessKey::of(runtime),
            results: vec![PENDING; self.tables.process_slots].into(),
            name_state: [PENDING; NAME_FIELDS.len()],
            name_bits: vec![0; self.name_bits.len()].into(),
            scan_state: vec![PENDING; self.tables.process_scans].into(),
            scan_bits: vec![0; self.tables.process_scan_words].into(),
            candidates: None,
        };
        // A colliding hash takes the entry over.
        let at = match programs.by_hash.get(&hash) {
            Some(&at) => {
                programs.entries[at] = program;
                at
            }
            None => {
                programs.entries.push(program);
                programs.by_hash.insert(hash, programs.entries.len() - 1);
                programs.entries.len() - 1
            }
        };
        programs.current = Some(at);
        false
    }

    /// Stores what the event that just ended worked out about its program.
    fn keep_program(&mut self) {
        let Some(at) = self.programs.current.take() else {
            return;
        };
        let program = &mut self.programs.entries[at];
        if self.learned {
            let p = self.tables.process_slots;
            program.results.copy_from_slice(&self.results[..p]);
            program.name_state = self.name_state;
            program.name_bits.copy_from_slice(&self.name_bits);
            let (states, words) = (self.tables.process_scans, self.tables.process_scan_words);
            program
                .scan_state
                .copy_from_slice(&self.scan_state[..states]);
            program.scan_bits.copy_from_slice(&self.scan_bits[..words]);
        }
        let candidates = self.candidates.get_mut();
        if candidates.known {
            program.candidates = Some((candidates.rules.clone(), candidates.per_event.clone()));
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
    pub(crate) candidates: &'a RefCell<Candidates>,
    /// [`Candidates::rules`] and [`Candidates::per_event`] of the event's program, when an
    /// earlier event worked them out.
    pub(crate) kept_candidates: Option<&'a (RuleBits, RuleBits)>,
    /// Set where something its program keeps is first worked out ([`Scratch::learned`]).
    learned: &'a Cell<bool>,
    /// The serial of the event's program entry (runtime events).
    pub(crate) program: Option<u64>,
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
                if (slot as usize) < self.tables.process_slots {
                    self.learned.set(true);
                }
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
        self.learned.set(true);
    }

    /// Which patterns of a shared scan the event's field holds, searched on first use;
    /// `None` when the event lacks the field (`text` reads the field).
    pub(crate) fn scanned<'t>(
        &self,
        scan: u32,
        text: impl FnOnce(Field, &FieldArg) -> Option<&'t str>,
    ) -> Option<Found<'_>> {
        let scan = self.tables.scans.get(scan as usize)?;
        let state = &self.scan_state[scan.state];
        let bits = &self.scan_bits[scan.offset..scan.offset + scan.words];
        if state.get() == PENDING {
            for cell in bits {
                cell.set(0);
            }
            let found = text(scan.field, &scan.arg).map(|text| {
                each_pattern_in(&scan.automaton, text.as_bytes(), |id| {
                    bits[id / 64].set(bits[id / 64].get() | 1 << (id % 64));
                });
            });
            state.set(if found.is_some() { DONE } else { MISSING });
            if scan.process_only {
                self.learned.set(true);
            }
        }
        (state.get() == DONE).then_some(Found(bits))
    }
}

/// Calls `found` with every pattern of `dfa` that occurs in `text` (once per occurrence):
/// the automaton walked a byte at a time, which costs a fraction of an overlapping search
/// through the iterator API on the short texts of events.
fn each_pattern_in(dfa: &aho_corasick::dfa::DFA, text: &[u8], mut found: impl FnMut(usize)) {
    use aho_corasick::automaton::Automaton;
    use aho_corasick::Anchored;
    let Ok(mut state) = dfa.start_state(Anchored::No) else {
        return;
    };
    let mut report = |state| {
        for index in 0..dfa.match_len(state) {
            found(dfa.match_pattern(state, index).as_usize());
        }
    };
    if dfa.is_match(state) {
        report(state);
    }
    for &byte in text {
        state = dfa.next_state(Anchored::No, state, byte);
        if dfa.is_special(state) {
            if dfa.is_dead(state) {
                return;
            }
            if dfa.is_match(state) {
                report(state);
            }
        }
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

#[cfg(test)]
mod tests {
    use kdr_model::{Ancestor, Process, RuntimeAction, Timestamp};

    use super::*;

    /// The byte-at-a-time walk finds what an overlapping search finds: every occurrence of
    /// every pattern, nested and overlapping ones too, whatever the ASCII case.
    #[test]
    fn a_scan_finds_every_occurrence_of_every_pattern() {
        let patterns = ["/etc/", "shadow", "had", "/etc/shadow", "sha", "w-", "xyz"];
        let dfa = aho_corasick::dfa::DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(aho_corasick::MatchKind::Standard)
            .build(patterns)
            .unwrap();
        let reference = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(patterns)
            .unwrap();
        for text in [
            "/ETC/Shadow-/etc/shadow",
            "",
            "sh",
            "shadoww-shadow",
            "/var/log",
        ] {
            let mut walked = Vec::new();
            each_pattern_in(&dfa, text.as_bytes(), |id| walked.push(id));
            let mut searched: Vec<usize> = reference
                .find_overlapping_iter(text)
                .map(|m| m.pattern().as_usize())
                .collect();
            walked.sort_unstable();
            searched.sort_unstable();
            assert_eq!(walked, searched, "{text}");
        }
    }

    /// Slot 0 holds a process-only result, slot 1 a per-event one.
    fn scratch() -> Scratch {
        Scratch::new(Arc::new(EvalTables {
            slots: 2,
            process_slots: 1,
            ..EvalTables::default()
        }))
    }

    fn exec(args: &[&str], parent_pid: u32, parent_args: &[&str]) -> Event {
        let strings = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        Event {
            id: "n:1:1".into(),
            time: Timestamp(0),
            context: Default::default(),
            payload: Payload::Runtime(Box::new(RuntimeEvent {
                process: Process {
                    exe: "/bin/sh".into(),
                    args: strings(args),
                    ancestors: Ancestors::from(vec![Ancestor {
                        pid: parent_pid,
                        exe: "/usr/sbin/nginx".into(),
                        args: strings(parent_args),
                    }]),
                    ..Process::default()
                },
                container_privileged: None,
                image_id: None,
                cgroup_id: 0,
                mnt_ns: 0,
                action: RuntimeAction::Exec,
            })),
        }
    }

    /// `compute` for a result that must come from the program's memory.
    fn remembered() -> Tri {
        panic!("worked out again")
    }

    #[test]
    fn a_program_keeps_what_any_of_its_events_worked_out() {
        let mut scratch = scratch();
        let a = exec(&["sh", "-c", "id"], 7, &["nginx"]);
        // Seen once: not remembered yet.
        assert_eq!(scratch.begin(&a).memoized(1, || Tri::True), Tri::True);
        // Remembered from now on; learns nothing of the program: a per-event result only.
        assert_eq!(scratch.begin(&a).memoized(1, || Tri::True), Tri::True);
        // Learns the process-only result; the per-event one is worked out again.
        let memo = scratch.begin(&a);
        assert_eq!(memo.memoized(1, || Tri::False), Tri::False);
        assert_eq!(memo.memoized(0, || Tri::False), Tri::False);
        // Learns nothing new, and forgets nothing.
        assert_eq!(scratch.begin(&a).memoized(0, remembered), Tri::False);
        let b = exec(&["sh", "-c", "whoami"], 7, &["nginx"]);
        for _ in 0..2 {
            assert_eq!(scratch.begin(&b).memoized(0, || Tri::True), Tri::True);
        }
        let memo = scratch.begin(&a);
        assert_eq!(memo.memoized(0, remembered), Tri::False);
        assert_eq!(memo.memoized(1, || Tri::Unknown), Tri::Unknown);
        // A non-runtime event has no program and starts from nothing.
        let mut audit = a.clone();
        audit.payload = Payload::K8sAudit(Box::default());
        assert_eq!(scratch.begin(&audit).memoized(0, || Tri::True), Tri::True);
        assert_eq!(scratch.begin(&b).memoized(0, remembered), Tri::True);
        assert_eq!(
            scratch.program_stats(),
            ProgramStats {
                hits: 4,
                misses: 4,
                first_seen: 2,
                evicted: 0
            }
        );
    }

    #[test]
    fn lineages_count_by_their_programs_never_by_their_hash_alone() {
        let mut scratch = scratch();
        let a = exec(&["sh"], 7, &["nginx", "-g"]);
        // Remembered from its second event on.
        for _ in 0..2 {
            assert_eq!(scratch.begin(&a).memoized(0, || Tri::True), Tri::True);
        }
        // Another lineage of the same programs (another parent pid, not shared): the same
        // program.
        let same = exec(&["sh"], 8, &["nginx", "-g"]);
        assert_eq!(scratch.begin(&same).memoized(0, remembered), Tri::True);
        // Where one argument ends counts.
        let other = exec(&["sh"], 7, &["nginx-g"]);
        for _ in 0..2 {
            assert_eq!(scratch.begin(&other).memoized(0, || Tri::False), Tri::False);
        }
        assert_eq!(scratch.program_stats().misses, 4);
        assert_eq!(scratch.program_stats().hits, 1);
    }
}
