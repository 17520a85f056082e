//! The detection engine. Feed it events in (roughly) event-time order; it runs the compiled
//! rules, keeps the state stateful kinds need, and reports alerts as they open and as their
//! throttle window closes with the final count.
//!
//! It knows nothing of input formats, storage or output: events in, [`AlertEvent`]s out.

pub mod entities;
pub mod inventory;
pub mod state;

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use kdr_intel::{Category, IndicatorSet};
use kdr_model::{Alert, Event, Payload, Source, Timestamp};
use kdr_rules::compile::{capture_hash, CaptureGate, GateProbe};
use kdr_rules::template::write_value;
use kdr_rules::{
    CompiledKind, CompiledRule, FieldSel, Input, RuleBits, Rules, Scratch, Step, Tri, Val,
};

use inventory::{Inventory, INVENTORY_RESOURCES};
use state::{Baseline, Bursts, RareLimits, RareOutcome, Sequences};

/// Most steps a sequence rule may have.
const MAX_STEPS: usize = 16;

/// Most evidence event IDs an alert keeps.
const MAX_EVIDENCE: usize = 20;

/// An alert's life as the engine reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertEvent {
    /// First detection: report it now.
    Opened(Alert),
    /// The throttle window ended; the alert as final, with every repeat folded in.
    Closed(Alert),
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineStats {
    pub events: u64,
    pub alerts_opened: u64,
    /// Detections folded into an already open alert.
    pub repeats_folded: u64,
    pub inventory_objects: usize,
    /// Inventory objects not stored because the inventory was full.
    pub inventory_refused: u64,
    /// Baseline and window keys dropped to stay within memory bounds.
    pub state_evictions: u64,
    /// Runtime events whose program (event type and process) the rules' memory knew, and
    /// those it did not (of which, programs seen for the first time, not remembered);
    /// programs it forgot to stay within bounds.
    pub program_hits: u64,
    pub program_misses: u64,
    pub programs_first_seen: u64,
    pub programs_evicted: u64,
    /// Threat-intelligence verdicts forgotten to stay within bounds (those remembered per
    /// program for process-only fields, and per value for single-valued others).
    pub intel_verdicts_evicted: u64,
}

/// Per-rule state, by rule index.
enum RuleState {
    None,
    Rare(Baseline),
    Burst(Bursts),
    Sequence {
        partials: Sequences,
        /// Sequences keyed by the same fields share this id, and the key's hash per event.
        key_id: usize,
    },
    Intel {
        /// `None` when the rule names no known category (it never fires).
        category: Option<Category>,
        /// Verdicts on single values of fields that vary per event (an address), by value:
        /// the detail text of a hit, or `None` (bounded, counted).
        by_value: FxHashMap<Box<str>, Option<String>>,
    },
}

/// An event's hash of one sequence key, computed at most once.
#[derive(Clone, Copy)]
enum KeyHash {
    Pending,
    /// A key field is missing.
    Missing,
    Hash(u64),
}

struct OpenAlert {
    alert: Alert,
    deadline: Timestamp,
    /// Where each distinct reason lies in `alert.reason`, so a repeat's reason is compared
    /// without searching the joined text.
    reasons: Vec<Range<usize>>,
}

pub struct Engine {
    rules: Arc<Rules>,
    intel: IndicatorSet,
    state: Vec<RuleState>,
    inventory: Inventory,
    open: FxHashMap<String, OpenAlert>,
    deadlines: BTreeSet<(Timestamp, String)>,
    watermark: Timestamp,
    /// Event time of the first event ever processed (kept across restarts with the state).
    stream_start: Option<Timestamp>,
    stats: EngineStats,
    has_exposure_rules: bool,
    /// (rule, Service-workload pair) that already raised, so rescans do not raise again.
    raised_exposures: FxHashSet<(usize, String)>,
    /// Reused candidate set for runtime events (no allocation per event).
    candidates: RuleBits,
    /// Sequence rules holding partial matches: visited by every event their steps apply to.
    under_way: RuleBits,
    /// This event's sequence key hashes, by key id.
    key_hashes: Vec<KeyHash>,
    /// The rules' per-event working memory; taken out while an event is evaluated (boxed, so
    /// that moves only a pointer).
    scratch: Option<Box<Scratch>>,
    /// Intel rules' verdicts on process-only fields, by (program, rule): the detail text of a
    /// hit, or `None`.
    intel_verdicts: FxHashMap<(u64, usize), Option<String>>,
    /// Reused buffers for a burst observation's key and value ([`encode_fields`]).
    burst_buffers: (Vec<u8>, Vec<u8>),
    /// Reused buffers for the dedup key and reason of a detection.
    dedup_key: String,
    reason: String,
}

/// Bound on remembered intel verdicts (per program, and per value of each rule); past it the
/// memory restarts (counted).
const MAX_INTEL_VERDICTS: usize = 16_384;

/// Bound on remembered exposure alerts; past it the memory restarts (at worst a repeat alert).
const MAX_REMEMBERED_EXPOSURES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read engine state: {0}")]
    Parse(#[from] serde_json::Error),
}

#[derive(Serialize, Deserialize, Default)]
struct SavedState {
    #[serde(default)]
    stream_start: Option<Timestamp>,
    /// Baselines by rule name.
    baselines: FxHashMap<String, Baseline>,
}

impl Engine {
    pub fn new(rules: Arc<Rules>, intel: IndicatorSet) -> Engine {
        let mut sequence_keys: Vec<&[FieldSel]> = Vec::new();
        let state = rules
            .rules
            .iter()
            .map(|rule| match &rule.kind {
                CompiledKind::Rare { .. } => RuleState::Rare(Baseline::default()),
                CompiledKind::Burst { .. } => RuleState::Burst(Bursts::default()),
                CompiledKind::Sequence { key, .. } => RuleState::Sequence {
                    partials: Sequences::default(),
                    key_id: match sequence_keys.iter().position(|k| k == key) {
                        Some(id) => id,
                        None => {
                            sequence_keys.push(key);
                            sequence_keys.len() - 1
                        }
                    },
                },
                CompiledKind::Intel { category, .. } => RuleState::Intel {
                    category: Category::from_name(category),
                    by_value: FxHashMap::default(),
                },
                _ => RuleState::None,
            })
            .collect();
        let key_hashes = vec![KeyHash::Pending; sequence_keys.len()];
        let has_exposure_rules = rules.has_source(Source::Exposure);
        Engine {
            intel,
            state,
            inventory: Inventory::default(),
            open: FxHashMap::default(),
            deadlines: BTreeSet::new(),
            watermark: Timestamp::default(),
            stream_start: None,
            stats: EngineStats::default(),
            has_exposure_rules,
            raised_exposures: FxHashSet::default(),
            candidates: RuleBits::default(),
            under_way: RuleBits::default(),
            key_hashes,
            scratch: Some(Box::new(rules.scratch())),
            intel_verdicts: FxHashMap::default(),
            burst_buffers: (Vec::new(), Vec::new()),
            dedup_key: String::new(),
            reason: String::new(),
            rules,
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn stats(&self) -> EngineStats {
        let mut stats = self.stats.clone();
        stats.inventory_objects = self.inventory.object_count();
        stats.inventory_refused = self.inventory.refused;
        stats.state_evictions = self
            .state
            .iter()
            .map(|s| match s {
                RuleState::Rare(b) => b.evicted_keys,
                RuleState::Burst(b) => b.evicted_keys,
                RuleState::Sequence { partials, .. } => partials.evicted_keys,
                RuleState::Intel { .. } | RuleState::None => 0,
            })
            .sum();
        if let Some(scratch) = &self.scratch {
            let programs = scratch.program_stats();
            stats.program_hits = programs.hits;
            stats.program_misses = programs.misses;
            stats.programs_first_seen = programs.first_seen;
            stats.programs_evicted = programs.evicted;
        }
        stats
    }

    /// Runs every candidate rule on one event.
    pub fn process(&mut self, event: &Event, out: &mut Vec<AlertEvent>) {
        self.stats.events += 1;
        self.stream_start.get_or_insert(event.time);
        if event.time > self.watermark {
            self.watermark = event.time;
            self.close_expired(out);
        }
        if let Payload::Runtime(runtime) = &event.payload {
            if !self
                .rules
                .runtime_type_has_rules(runtime.action.type_name())
            {
                return;
            }
        }
        self.key_hashes.fill(KeyHash::Pending);
        let mut scratch = match self.scratch.take() {
            Some(scratch) => scratch,
            None => {
                // A new scratch numbers programs afresh.
                self.intel_verdicts.clear();
                Box::new(self.rules.scratch())
            }
        };
        let (source, key) = match &event.payload {
            Payload::K8sAudit(audit) => (
                Source::K8sAudit,
                audit
                    .object_ref
                    .as_ref()
                    .map_or("", |r| r.resource.as_str()),
            ),
            Payload::Runtime(runtime) => (Source::Runtime, runtime.action.type_name()),
            Payload::Cloud(_) => (Source::Cloud, ""),
        };
        let rules = Arc::clone(&self.rules);
        // The event's input ends with this block (dropped in place, not moved), so the joined
        // inputs below can reuse the scratch, one at a time.
        let exposures = {
            let input = Input::new(event, &mut scratch);
            if source == Source::Runtime {
                let mut candidates = std::mem::take(&mut self.candidates);
                rules.runtime_candidates(key, &input, &self.under_way, &mut candidates);
                for index in candidates.iter() {
                    self.run_rule(&rules.rules[index], index, &input, out);
                }
                self.candidates = candidates;
            } else {
                for index in rules.candidates(source, key) {
                    self.run_rule(&rules.rules[index], index, &input, out);
                }
            }
            if self.has_exposure_rules
                && source == Source::K8sAudit
                && INVENTORY_RESOURCES.contains(&key)
            {
                self.inventory.apply(&input)
            } else {
                Vec::new()
            }
        };
        for exposure in &exposures {
            let joined = Input::with_exposure(event, exposure, &mut scratch);
            let pair = exposure.pair_key();
            for index in rules.candidates(Source::Exposure, "") {
                let seen = (index, pair.clone());
                if exposure.rescan && self.raised_exposures.contains(&seen) {
                    continue;
                }
                if self.run_rule(&rules.rules[index], index, &joined, out) {
                    if self.raised_exposures.len() >= MAX_REMEMBERED_EXPOSURES {
                        self.raised_exposures.clear();
                    }
                    self.raised_exposures.insert(seen);
                }
            }
        }
        self.scratch = Some(scratch);
    }

    /// Runs one rule; true when it raised (or folded into) an alert.
    fn run_rule(
        &mut self,
        rule: &CompiledRule,
        index: usize,
        input: &Input<'_>,
        out: &mut Vec<AlertEvent>,
    ) -> bool {
        let time = input.event.time;
        let passes =
            |expr: Option<&kdr_rules::Expr>| expr.is_none_or(|e| e.eval(input) == Tri::True);
        match &rule.kind {
            CompiledKind::Match => {
                if passes(rule.condition.as_ref()) && !excepted(rule, input) {
                    self.raise(rule, input, None, out);
                    return true;
                }
            }
            CompiledKind::Rare {
                key,
                value,
                learning,
                learning_global,
                max_keys,
                max_values,
            } => {
                if !passes(rule.condition.as_ref()) || excepted(rule, input) {
                    return false;
                }
                let (Some(k), Some(v)) = (join_fields(key, input), join_fields(value, input))
                else {
                    return false;
                };
                let RuleState::Rare(baseline) = &mut self.state[index] else {
                    return false;
                };
                let limits = RareLimits {
                    learning: *learning,
                    learning_global: *learning_global,
                    max_keys: *max_keys,
                    max_values: *max_values,
                };
                let stream_start = self.stream_start.unwrap_or(time);
                if baseline.observe(&k, &v, time, &limits, stream_start) == RareOutcome::New {
                    let detail = format!(
                        "operation `{}` never seen for `{}` during its baseline",
                        v.replace('\u{1f}', " "),
                        k.replace('\u{1f}', " ")
                    );
                    self.raise(rule, input, Some(detail), out);
                    return true;
                }
            }
            CompiledKind::Burst {
                key,
                distinct,
                threshold,
                window,
            } => {
                if !passes(rule.condition.as_ref()) || excepted(rule, input) {
                    return false;
                }
                // Key and value are encoded into reused buffers: no allocation per event.
                let (key_buffer, value_buffer) = &mut self.burst_buffers;
                key_buffer.clear();
                if !encode_fields(key, input, key_buffer) {
                    return false;
                }
                let value = if distinct.is_empty() {
                    None
                } else {
                    value_buffer.clear();
                    if !encode_fields(distinct, input, value_buffer) {
                        return false;
                    }
                    Some(value_buffer.as_slice())
                };
                let RuleState::Burst(bursts) = &mut self.state[index] else {
                    return false;
                };
                if let Some((count, sample)) =
                    bursts.observe(key_buffer, value, time, *window, *threshold)
                {
                    let detail = if distinct.is_empty() {
                        format!("{count} events within the window")
                    } else {
                        let mut sample: Vec<String> =
                            sample.iter().map(|value| decode_fields(value)).collect();
                        sample.sort_unstable();
                        format!(
                            "{count} distinct: {}",
                            sample.join(", ").replace('\u{1f}', " ")
                        )
                    };
                    self.raise(rule, input, Some(detail), out);
                    return true;
                }
            }
            CompiledKind::Sequence { key, window, steps } => {
                let RuleState::Sequence {
                    partials: sequences,
                    key_id,
                } = &mut self.state[index]
                else {
                    return false;
                };
                let Some(first) = steps.first() else {
                    return false;
                };
                let starts = first.condition.eval(input) == Tri::True;
                // Nothing under way and no first step: nothing to do (the common case).
                if sequences.is_empty() && !starts {
                    return false;
                }
                // The key first: an event that does not start the sequence can only advance
                // partial matches of its own key, and most keys hold none.
                let Some(k) = self
                    .key_hashes
                    .get_mut(*key_id)
                    .and_then(|slot| key_hash(slot, key, input))
                else {
                    return false;
                };
                // Each later step without captures, evaluated once and only for a partial
                // match waiting on it: a step false whatever was captured advances nothing.
                let mut results: [Option<Tri>; MAX_STEPS] = [None; MAX_STEPS];
                // The gates' field values, read once per step.
                let mut probes: [Option<GateProbe>; MAX_STEPS] = Default::default();
                let mut advances = |partial: &state::Partial| {
                    let step = &steps[partial.next];
                    let gated = |gate: &CaptureGate| {
                        probes[partial.next]
                            .get_or_insert_with(|| gate.probe(input))
                            .admits(&partial.captures, partial.gate_hash)
                    };
                    results.get_mut(partial.next).is_some_and(|result| {
                        *result.get_or_insert_with(|| step.condition.eval(input)) != Tri::False
                    }) && step.gate.as_ref().is_none_or(gated)
                        && step.condition.eval_with(input, &partial.captures) == Tri::True
                };
                // Most events advance nothing: then the state stays as it is, untouched.
                if !starts && !sequences.live(k, time, *window).any(&mut advances) {
                    return false;
                }
                if excepted(rule, input) {
                    return false;
                }
                let mut completed: Option<state::Partial> = None;
                let mut advanced = false;
                if let Some(list) = sequences.live_mut(k, time, *window) {
                    list.retain_mut(|partial| {
                        let values = if advances(partial) {
                            capture(&steps[partial.next].captures, input)
                        } else {
                            None
                        };
                        let Some(values) = values else {
                            return true;
                        };
                        // A partial that advances becomes its successor, in place.
                        advanced = true;
                        partial.captures.extend(values);
                        partial.evidence.push(input.event.id.clone());
                        partial.next += 1;
                        partial.gate_hash = gate_hash(steps, partial.next, &partial.captures);
                        if partial.next < steps.len() {
                            return true;
                        }
                        completed.get_or_insert_with(|| state::Partial {
                            captures: std::mem::take(&mut partial.captures),
                            evidence: std::mem::take(&mut partial.evidence),
                            ..*partial
                        });
                        false
                    });
                }
                if starts {
                    if let Some(values) = capture(&steps[0].captures, input) {
                        let partial = state::Partial {
                            next: 1,
                            start: time,
                            gate_hash: gate_hash(steps, 1, &values),
                            captures: values,
                            evidence: vec![input.event.id.clone()],
                        };
                        if steps.len() == 1 {
                            completed.get_or_insert(partial);
                        } else {
                            sequences.push(k, partial, time, *window);
                        }
                    }
                }
                sequences.settle(k, advanced);
                self.under_way.set(index, !sequences.is_empty());
                if let Some(done) = completed {
                    let names: Vec<&String> =
                        steps.iter().flat_map(|s| s.capture_names.iter()).collect();
                    let detail = (!done.captures.is_empty()).then(|| {
                        let parts: Vec<String> = names
                            .iter()
                            .zip(&done.captures)
                            .map(|(n, v)| format!("{n}={v}"))
                            .collect();
                        format!("sequence captured {}", parts.join(", "))
                    });
                    self.raise_with(rule, input, detail, &done.evidence, out);
                    return true;
                }
            }
            CompiledKind::Intel { field, .. } => {
                if !passes(rule.condition.as_ref()) || excepted(rule, input) {
                    return false;
                }
                let RuleState::Intel {
                    category: Some(category),
                    by_value,
                } = &mut self.state[index]
                else {
                    return false;
                };
                let category = *category;
                // A field of the process alone has the same value for every event of the
                // program: its verdict is looked up once.
                let program = input
                    .program()
                    .filter(|_| field.0.reads_process_only())
                    .map(|program| (program, index));
                let detail = match program {
                    Some(key) => match self.intel_verdicts.get(&key) {
                        Some(detail) => detail.clone(),
                        None => {
                            let value = field.0.extract(&field.1, input);
                            let detail = intel_verdict(&self.intel, &value, category);
                            if self.intel_verdicts.len() >= MAX_INTEL_VERDICTS {
                                self.stats.intel_verdicts_evicted +=
                                    self.intel_verdicts.len() as u64;
                                self.intel_verdicts.clear();
                            }
                            self.intel_verdicts.insert(key, detail.clone());
                            detail
                        }
                    },
                    None => match field.0.extract(&field.1, input) {
                        // One value (an address): looked up once per distinct value.
                        Val::Str(value) => match by_value.get(value) {
                            Some(detail) => detail.clone(),
                            None => {
                                let detail = intel_verdict(&self.intel, &Val::Str(value), category);
                                if by_value.len() >= MAX_INTEL_VERDICTS {
                                    self.stats.intel_verdicts_evicted += by_value.len() as u64;
                                    by_value.clear();
                                }
                                by_value.insert(value.into(), detail.clone());
                                detail
                            }
                        },
                        values => intel_verdict(&self.intel, &values, category),
                    },
                };
                if let Some(detail) = detail {
                    self.raise(rule, input, Some(detail), out);
                    return true;
                }
            }
        }
        false
    }

    fn raise(
        &mut self,
        rule: &CompiledRule,
        input: &Input<'_>,
        detail: Option<String>,
        out: &mut Vec<AlertEvent>,
    ) {
        self.raise_with(rule, input, detail, &[], out);
    }

    /// Raises with earlier evidence events (a sequence's previous steps) before this one.
    fn raise_with(
        &mut self,
        rule: &CompiledRule,
        input: &Input<'_>,
        detail: Option<String>,
        earlier: &[String],
        out: &mut Vec<AlertEvent>,
    ) {
        let event = input.event;
        let alert_type = self.rules.catalog.get(rule.alert_type);
        // Key and reason go to reused buffers: most detections of a noisy rule fold into an
        // alert already open, and need nothing else.
        let dedup_key = &mut self.dedup_key;
        dedup_key.clear();
        dedup_key.push_str(&alert_type.id);
        dedup_key.push('|');
        if rule.dedup.is_empty() {
            entities::subject(input).write_key(dedup_key);
        } else {
            let prefix = dedup_key.len();
            if !write_fields(&rule.dedup, input, dedup_key) {
                // A missing dedup field makes the subject empty.
                dedup_key.truncate(prefix);
            }
        }
        if let Some(open) = self.open.get_mut(self.dedup_key.as_str()) {
            if event.time <= open.deadline {
                // An alert listing its most reasons takes no more: no need to render this one.
                let reason = (open.reasons.len() < MAX_REASONS).then(|| {
                    render_reason(rule, input, detail, &mut self.reason);
                    self.reason.as_str()
                });
                fold(open, event, reason);
                self.stats.repeats_folded += 1;
                return;
            }
        }
        render_reason(rule, input, detail, &mut self.reason);
        let dedup_key = self.dedup_key.clone();
        let reason = self.reason.clone();
        let entities = entities::entities(input);
        let alert = Alert {
            alert_type: alert_type.id.clone(),
            display_name: alert_type.display_name.clone(),
            description: alert_type.description.clone(),
            severity: alert_type.severity,
            tactics: alert_type.tactics.clone(),
            techniques: alert_type.techniques.clone(),
            plane: alert_type.plane,
            rule: rule.name.clone(),
            time_generated: event.time,
            start_time: event.time,
            end_time: event.time,
            count: 1,
            reason,
            entities,
            evidence: earlier
                .iter()
                .filter(|id| **id != event.id)
                .take(MAX_EVIDENCE - 1)
                .cloned()
                .chain(std::iter::once(event.id.clone()))
                .collect(),
            remediation: alert_type.remediation.clone(),
            dedup_key: dedup_key.clone(),
        };
        self.stats.alerts_opened += 1;
        out.push(AlertEvent::Opened(alert.clone()));
        if rule.throttle <= 0 {
            out.push(AlertEvent::Closed(alert));
            return;
        }
        // A previous alert with this key whose window passed is closed first.
        if let Some(previous) = self.open.remove(&dedup_key) {
            self.deadlines
                .remove(&(previous.deadline, dedup_key.clone()));
            out.push(AlertEvent::Closed(previous.alert));
        }
        let deadline = event.time.saturating_add(rule.throttle);
        self.deadlines.insert((deadline, dedup_key.clone()));
        let reasons = std::iter::once(0..alert.reason.len()).collect();
        self.open.insert(
            dedup_key,
            OpenAlert {
                alert,
                deadline,
                reasons,
            },
        );
    }

    fn close_expired(&mut self, out: &mut Vec<AlertEvent>) {
        while let Some(first) = self.deadlines.first() {
            if first.0 >= self.watermark {
                break;
            }
            let (_, key) = self.deadlines.pop_first().expect("checked non-empty");
            if let Some(open) = self.open.remove(&key) {
                out.push(AlertEvent::Closed(open.alert));
            }
        }
    }

    /// Closes every open alert (end of input, shutdown).
    pub fn flush(&mut self, out: &mut Vec<AlertEvent>) {
        let mut open: Vec<OpenAlert> = self.open.drain().map(|(_, v)| v).collect();
        open.sort_by(|a, b| {
            (a.alert.time_generated, &a.alert.dedup_key)
                .cmp(&(b.alert.time_generated, &b.alert.dedup_key))
        });
        self.deadlines.clear();
        out.extend(open.into_iter().map(|o| AlertEvent::Closed(o.alert)));
    }

    /// Learned baselines as JSON, so a restart does not learn again.
    pub fn save_state(&self) -> Result<String, StateError> {
        let mut saved = SavedState {
            stream_start: self.stream_start,
            ..SavedState::default()
        };
        for (rule, state) in self.rules.rules.iter().zip(&self.state) {
            if let RuleState::Rare(baseline) = state {
                saved.baselines.insert(rule.name.clone(), baseline.clone());
            }
        }
        Ok(serde_json::to_string(&saved)?)
    }

    /// Restores baselines saved by [`Engine::save_state`]; rules that no longer exist are
    /// ignored.
    pub fn load_state(&mut self, text: &str) -> Result<(), StateError> {
        let mut saved: SavedState = serde_json::from_str(text)?;
        self.stream_start = saved.stream_start.or(self.stream_start);
        for (rule, state) in self.rules.rules.iter().zip(&mut self.state) {
            if let (RuleState::Rare(baseline), Some(loaded)) =
                (state, saved.baselines.remove(&rule.name))
            {
                *baseline = loaded;
            }
        }
        Ok(())
    }
}

/// What threat intelligence says of a field's values: the detail of the first listed one.
fn intel_verdict(intel: &IndicatorSet, value: &Val<'_>, category: Category) -> Option<String> {
    let hit = match value {
        Val::Str(s) => intel.lookup(s, category),
        Val::Strs(list) => list.iter().find_map(|s| intel.lookup(s, category)),
        Val::Names(names) => names.iter().find_map(|s| intel.lookup(s, category)),
        Val::OwnedStrs(list) => list.iter().find_map(|s| intel.lookup(s, category)),
        _ => None,
    };
    hit.map(|hit| format!("threat intelligence lists {hit}"))
}

/// Most distinct reasons a folded alert lists.
const MAX_REASONS: usize = 5;
const REASON_SEPARATOR: &str = " | ";

/// A detection's reason: the rule's text, then the kind's detail.
fn render_reason(rule: &CompiledRule, input: &Input<'_>, detail: Option<String>, out: &mut String) {
    out.clear();
    rule.reason.render(input, out);
    if let Some(detail) = detail {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(&detail);
    }
}

/// Folds a repeat detection into an open alert: count, time span, evidence, and what the
/// repeat adds (a different reason, new source addresses). `reason` is `None` when the alert
/// already lists [`MAX_REASONS`] reasons.
fn fold(open: &mut OpenAlert, event: &Event, reason: Option<&str>) {
    let alert = &mut open.alert;
    alert.count += 1;
    alert.end_time = alert.end_time.max(event.time);
    alert.start_time = alert.start_time.min(event.time);
    if alert.evidence.len() < MAX_EVIDENCE && !alert.evidence.contains(&event.id) {
        alert.evidence.push(event.id.clone());
    }
    if let Some(reason) = reason {
        let known = open
            .reasons
            .iter()
            .any(|r| alert.reason[r.clone()] == *reason);
        if !known && open.reasons.len() < MAX_REASONS {
            alert.reason.push_str(REASON_SEPARATOR);
            let start = alert.reason.len();
            alert.reason.push_str(reason);
            open.reasons.push(start..alert.reason.len());
        }
    }
    for ip in &event.context.source_ips {
        if !alert.entities.source_ips.contains(ip) && alert.entities.source_ips.len() < MAX_EVIDENCE
        {
            alert.entities.source_ips.push(ip.clone());
        }
    }
}

fn excepted(rule: &CompiledRule, input: &Input<'_>) -> bool {
    rule.exceptions
        .as_ref()
        .is_some_and(|e| e.eval(input) == Tri::True)
}

/// The [`capture_hash`] of the captured value that step `next`'s gate compares, or 0 when it
/// has no gate (see [`state::Partial::gate_hash`]).
fn gate_hash(steps: &[Step], next: usize, captures: &[String]) -> u64 {
    steps
        .get(next)
        .and_then(|step| step.gate.as_ref())
        .and_then(|gate| captures.get(gate.capture))
        .map_or(0, |value| capture_hash(value))
}

/// The values a step captures, rendered as text; `None` if any is missing.
fn capture(fields: &[FieldSel], input: &Input<'_>) -> Option<Vec<String>> {
    let mut values = Vec::with_capacity(fields.len());
    for (field, arg) in fields {
        let value = field.extract(arg, input);
        if value == Val::Missing {
            return None;
        }
        let mut text = String::new();
        write_value(&mut text, value);
        values.push(text);
    }
    Some(values)
}

/// This event's hash of a sequence key, computed on first use and kept in `slot` for the
/// other sequences sharing the key; `None` if a key field is missing.
fn key_hash(slot: &mut KeyHash, fields: &[FieldSel], input: &Input<'_>) -> Option<u64> {
    if let KeyHash::Pending = slot {
        *slot = hash_fields(fields, input).map_or(KeyHash::Missing, KeyHash::Hash);
    }
    match slot {
        KeyHash::Hash(hash) => Some(*hash),
        _ => None,
    }
}

/// A 64-bit hash of several fields' values (sequence keys); `None` if any is missing.
fn hash_fields(fields: &[FieldSel], input: &Input<'_>) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = rustc_hash::FxHasher::default();
    for (field, arg) in fields {
        match field.extract(arg, input) {
            Val::Missing => return None,
            Val::Str(s) => s.hash(&mut hasher),
            Val::Int(n) => n.hash(&mut hasher),
            Val::Bool(b) => b.hash(&mut hasher),
            other => {
                let mut text = String::new();
                write_value(&mut text, other);
                text.hash(&mut hasher);
            }
        }
        0xffu8.hash(&mut hasher);
    }
    Some(hasher.finish())
}

/// Tags of [`encode_fields`]: what kind of value follows.
const ENCODED_STR: u8 = 0;
const ENCODED_INT: u8 = 1;
const ENCODED_BOOL: u8 = 2;
const ENCODED_LIST: u8 = 3;

/// Appends an exact encoding of several fields' values (burst keys and values): each value is
/// its kind, then its length where it varies, then its bytes, so different values never
/// encode alike and numbers need no formatting. False if any is missing (what was appended is
/// then incomplete). [`decode_fields`] renders it as [`write_fields`] would.
fn encode_fields(fields: &[FieldSel], input: &Input<'_>, out: &mut Vec<u8>) -> bool {
    fn text(out: &mut Vec<u8>, tag: u8, text: &str) {
        out.push(tag);
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    for (field, arg) in fields {
        match field.extract(arg, input) {
            Val::Missing => return false,
            Val::Str(s) => text(out, ENCODED_STR, s),
            Val::Int(n) => {
                out.push(ENCODED_INT);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Val::Bool(b) => out.extend_from_slice(&[ENCODED_BOOL, u8::from(b)]),
            list => {
                let mut rendered = String::new();
                write_value(&mut rendered, list);
                text(out, ENCODED_LIST, &rendered);
            }
        }
    }
    true
}

/// The text of values encoded by [`encode_fields`], joined with U+001F.
fn decode_fields(mut encoded: &[u8]) -> String {
    let mut out = String::new();
    let mut first = true;
    while let Some((&tag, rest)) = encoded.split_first() {
        if !std::mem::take(&mut first) {
            out.push('\u{1f}');
        }
        let (value, rest) = match tag {
            ENCODED_INT => match rest.split_first_chunk::<8>() {
                Some((bytes, rest)) => (Val::Int(i64::from_le_bytes(*bytes)), rest),
                None => break,
            },
            ENCODED_BOOL => match rest.split_first() {
                Some((&b, rest)) => (Val::Bool(b != 0), rest),
                None => break,
            },
            _ => {
                let Some((len, rest)) = rest.split_first_chunk::<8>() else {
                    break;
                };
                let len = usize::try_from(u64::from_le_bytes(*len)).unwrap_or(usize::MAX);
                let Some((bytes, rest)) = rest.split_at_checked(len) else {
                    break;
                };
                (
                    Val::Str(std::str::from_utf8(bytes).unwrap_or_default()),
                    rest,
                )
            }
        };
        write_value(&mut out, value);
        encoded = rest;
    }
    out
}

/// Values of several fields joined with U+001F; `None` if any is missing.
fn join_fields(fields: &[FieldSel], input: &Input<'_>) -> Option<String> {
    let mut out = String::new();
    write_fields(fields, input, &mut out).then_some(out)
}

/// Appends the values of several fields joined with U+001F; false if any is missing (what
/// was appended is then incomplete).
fn write_fields(fields: &[FieldSel], input: &Input<'_>, out: &mut String) -> bool {
    for (i, (field, arg)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\u{1f}');
        }
        let value = field.extract(arg, input);
        if value == Val::Missing {
            return false;
        }
        write_value(out, value);
    }
    true
}
