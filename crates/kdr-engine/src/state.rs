//! State of the stateful rule kinds, all on event time: per-key baselines (`rare`), sliding
//! windows of distinct values (`burst`) and step progress (`sequence`). Every map is bounded;
//! what is evicted to stay in bounds is counted.

use std::collections::VecDeque;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use kdr_model::{Nanos, Timestamp};

/// How a baseline learns and how big it may grow.
#[derive(Clone, Copy, Debug)]
pub struct RareLimits {
    pub learning: Nanos,
    /// Learning ends `learning` after the stream's first event for every key (so a key first
    /// seen later is judged at once), instead of after each key's own first event.
    pub learning_global: bool,
    pub max_keys: usize,
    pub max_values: usize,
}

/// Outcome of showing a baseline one (key, value) observation.
#[derive(Debug, PartialEq, Eq)]
pub enum RareOutcome {
    Learning,
    Known,
    /// Outside the learned behaviour: alert. The value is learned from now on.
    New,
    /// The key's baseline is full; the value is neither learned nor alerted on.
    Saturated,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Baseline {
    keys: FxHashMap<String, KeyBaseline>,
    #[serde(default)]
    pub evicted_keys: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct KeyBaseline {
    first_seen: Timestamp,
    last_seen: Timestamp,
    values: FxHashSet<String>,
}

impl Baseline {
    /// `stream_start`: event time of the whole stream's first event (stream-wide learning).
    pub fn observe(
        &mut self,
        key: &str,
        value: &str,
        time: Timestamp,
        limits: &RareLimits,
        stream_start: Timestamp,
    ) -> RareOutcome {
        let RareLimits {
            learning,
            learning_global,
            max_keys,
            max_values,
        } = *limits;
        // Known keys are the common case: look up by &str, allocate only for a new key.
        if !self.keys.contains_key(key) {
            if self.keys.len() >= max_keys {
                self.evict_oldest(max_keys);
            }
            self.keys.insert(
                key.to_owned(),
                KeyBaseline {
                    first_seen: time,
                    last_seen: time,
                    values: FxHashSet::default(),
                },
            );
        }
        let Some(entry) = self.keys.get_mut(key) else {
            return RareOutcome::Learning;
        };
        entry.last_seen = entry.last_seen.max(time);
        if entry.values.contains(value) {
            return RareOutcome::Known;
        }
        if entry.values.len() >= max_values {
            return RareOutcome::Saturated;
        }
        entry.values.insert(value.to_owned());
        let learning_from = if learning_global {
            stream_start
        } else {
            entry.first_seen
        };
        if time < learning_from.saturating_add(learning) {
            RareOutcome::Learning
        } else {
            RareOutcome::New
        }
    }

    /// Drops the least recently seen tenth of the keys, so eviction is amortized.
    fn evict_oldest(&mut self, max_keys: usize) {
        let drop = (max_keys / 10).max(1);
        let mut by_age: Vec<(Timestamp, String)> = self
            .keys
            .iter()
            .map(|(k, v)| (v.last_seen, k.clone()))
            .collect();
        by_age.sort_unstable();
        for (_, key) in by_age.into_iter().take(drop) {
            self.keys.remove(&key);
            self.evicted_keys += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Most keys a window map holds before stale ones are dropped.
const MAX_WINDOW_KEYS: usize = 100_000;

/// Burst windows by key. Keys and values are exact byte encodings of field values, which the
/// engine writes into reused buffers: an observation is looked up without allocating.
#[derive(Debug, Default)]
pub struct Bursts {
    keys: FxHashMap<Box<[u8]>, BurstWindow>,
    pub evicted_keys: u64,
}

/// One key's sliding window: observations in time order, and how often each distinct value
/// occurs among them, so the distinct count is known without rescanning. An observation
/// shares its value with `counts`, so a repeated value is not copied.
#[derive(Debug, Default)]
struct BurstWindow {
    observations: VecDeque<(Timestamp, Option<Arc<[u8]>>)>,
    counts: FxHashMap<Arc<[u8]>, usize>,
    /// Observations counted without a value (rules that count events, not distinct values).
    plain: usize,
}

impl BurstWindow {
    fn distinct(&self) -> usize {
        self.counts.len() + self.plain
    }

    fn pop_front(&mut self) {
        match self.observations.pop_front() {
            Some((_, Some(value))) => {
                if let Some(count) = self.counts.get_mut(&value) {
                    *count -= 1;
                    if *count == 0 {
                        self.counts.remove(&value);
                    }
                }
            }
            Some((_, None)) => self.plain -= 1,
            None => {}
        }
    }

    fn newest(&self) -> Option<Timestamp> {
        self.observations.back().map(|(t, _)| *t)
    }
}

impl Bursts {
    /// Records one observation: `Some(value)` counts distinct values, `None` counts events.
    /// When the window reaches `threshold`, returns how many it holds and a sample of the
    /// distinct values (in no order), and starts a fresh window so one burst raises one alert.
    pub fn observe(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        time: Timestamp,
        window: Nanos,
        threshold: usize,
    ) -> Option<(usize, Vec<Arc<[u8]>>)> {
        let horizon = time.saturating_add(-window);
        // The size first: below the bound no lookup is needed for it.
        if self.keys.len() >= MAX_WINDOW_KEYS && !self.keys.contains_key(key) {
            let before = self.keys.len();
            self.keys
                .retain(|_, w| w.newest().is_some_and(|t| t >= horizon));
            if self.keys.len() >= MAX_WINDOW_KEYS {
                self.keys.clear();
            }
            self.evicted_keys += (before - self.keys.len()) as u64;
        }
        let entry = match self.keys.get_mut(key) {
            Some(entry) => entry,
            None => self.keys.entry(key.into()).or_default(),
        };
        while entry
            .observations
            .front()
            .is_some_and(|(t, _)| *t < horizon)
        {
            entry.pop_front();
        }
        match value {
            Some(value) => {
                let shared = match entry.counts.get_key_value(value) {
                    Some((shared, _)) => Arc::clone(shared),
                    None => Arc::from(value),
                };
                *entry.counts.entry(Arc::clone(&shared)).or_default() += 1;
                entry.observations.push_back((time, Some(shared)));
            }
            None => {
                entry.plain += 1;
                entry.observations.push_back((time, None));
            }
        }
        // Bound per key: past many times the threshold only recency matters.
        if entry.observations.len() > threshold.saturating_mul(64).max(1024) {
            entry.pop_front();
        }
        let distinct = entry.distinct();
        if distinct < threshold {
            return None;
        }
        let sample = entry.counts.keys().take(MAX_SAMPLE).cloned().collect();
        *entry = BurstWindow::default();
        Some((distinct, sample))
    }
}

/// Most distinct values a burst alert lists.
const MAX_SAMPLE: usize = 20;

/// Most partial matches one sequence key follows at once; the oldest is dropped past it.
const MAX_PARTIALS: usize = 8;

/// A sequence in progress: the next step to match, when it started, what earlier steps
/// captured, and the events that matched them (evidence).
#[derive(Clone, Debug, PartialEq)]
pub struct Partial {
    pub next: usize,
    pub start: Timestamp,
    pub captures: Vec<String>,
    /// The [`capture_hash`](kdr_rules::compile::capture_hash) of the captured value the next
    /// step's gate compares (0 without a gate): kept beside the partial, so a gate rules most
    /// partials out without reading their captures.
    pub gate_hash: u64,
    pub evidence: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Sequences {
    /// By a 64-bit hash of the key fields (no allocation per event).
    keys: FxHashMap<u64, Vec<Partial>>,
    pub evicted_keys: u64,
}

impl Sequences {
    /// The key's partial matches still within the window, to advance in place (expired ones
    /// are dropped); `None` if the key holds none. [`Sequences::settle`] the key after.
    pub fn live_mut(
        &mut self,
        key: u64,
        time: Timestamp,
        window: Nanos,
    ) -> Option<&mut Vec<Partial>> {
        let list = self.keys.get_mut(&key)?;
        list.retain(|p| p.start.saturating_add(window) >= time);
        Some(list)
    }

    /// Adds a partial match that starts at `time` to the key's list. A new key past the bound
    /// first drops the keys whose partials all ended (all keys if none did; counted).
    /// [`Sequences::settle`] the key after.
    pub fn push(&mut self, key: u64, partial: Partial, time: Timestamp, window: Nanos) {
        if self.keys.len() >= MAX_WINDOW_KEYS && !self.keys.contains_key(&key) {
            let before = self.keys.len();
            self.keys
                .retain(|_, l| l.iter().any(|p| p.start.saturating_add(window) >= time));
            if self.keys.len() >= MAX_WINDOW_KEYS {
                self.keys.clear();
            }
            self.evicted_keys += (before - self.keys.len()) as u64;
        }
        self.keys.entry(key).or_default().push(partial);
    }

    /// Settles the key's list after an event: identical partials (same step and captures) keep
    /// only the newest, at most [`MAX_PARTIALS`] (the newest) stay, and an empty list goes.
    /// Settled lists hold no identical partials, so unless some partial `advanced` in place
    /// only the newest (just pushed) can repeat an earlier one.
    pub fn settle(&mut self, key: u64, advanced: bool) {
        let Some(list) = self.keys.get_mut(&key) else {
            return;
        };
        let same = |a: &Partial, b: &Partial| a.next == b.next && a.captures == b.captures;
        if advanced {
            // Newest last: drop each partial that a later one repeats.
            let mut index = list.len();
            while index > 0 {
                index -= 1;
                let (earlier, later) = list.split_at(index + 1);
                if later.iter().any(|k| same(k, &earlier[index])) {
                    list.remove(index);
                }
            }
        } else if let Some((newest, earlier)) = list.split_last() {
            if let Some(index) = earlier.iter().position(|p| same(p, newest)) {
                list.remove(index);
            }
        }
        if list.len() > MAX_PARTIALS {
            list.drain(..list.len() - MAX_PARTIALS);
        }
        if list.is_empty() {
            self.keys.remove(&key);
        }
    }

    /// The key's partial matches still within the window, left in place.
    pub fn live(&self, key: u64, time: Timestamp, window: Nanos) -> impl Iterator<Item = &Partial> {
        self.keys
            .get(&key)
            .into_iter()
            .flatten()
            .filter(move |p| p.start.saturating_add(window) >= time)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Nanos = 86_400_000_000_000;

    fn limits(learning: Nanos, max_keys: usize, max_values: usize) -> RareLimits {
        RareLimits {
            learning,
            learning_global: false,
            max_keys,
            max_values,
        }
    }

    #[test]
    fn baseline_learns_then_flags_new_values_once() {
        let mut b = Baseline::default();
        let mut on_day = |value: &str, day: i64| {
            let time = Timestamp(0).saturating_add(day * DAY);
            b.observe("sa", value, time, &limits(7 * DAY, 10, 10), Timestamp(0))
        };
        assert_eq!(on_day("get pods", 0), RareOutcome::Learning);
        assert_eq!(on_day("list pods", 6), RareOutcome::Learning);
        assert_eq!(on_day("get pods", 8), RareOutcome::Known);
        assert_eq!(on_day("list secrets", 8), RareOutcome::New);
        assert_eq!(on_day("list secrets", 9), RareOutcome::Known);
    }

    #[test]
    fn stream_wide_learning_judges_late_keys_at_once() {
        let mut b = Baseline::default();
        let global = RareLimits {
            learning_global: true,
            ..limits(7 * DAY, 10, 10)
        };
        assert_eq!(
            b.observe("old", "list pods", Timestamp(0), &global, Timestamp(0)),
            RareOutcome::Learning
        );
        let late = Timestamp(0).saturating_add(8 * DAY);
        assert_eq!(
            b.observe("newcomer", "list pods", late, &global, Timestamp(0)),
            RareOutcome::New
        );
        assert_eq!(
            b.observe("old", "list pods", late, &global, Timestamp(0)),
            RareOutcome::Known
        );
    }

    #[test]
    fn baseline_is_bounded() {
        let mut b = Baseline::default();
        for i in 0..1000 {
            b.observe(
                &format!("k{i}"),
                "v",
                Timestamp(i),
                &limits(DAY, 100, 2),
                Timestamp(0),
            );
        }
        assert!(b.len() <= 100);
        assert!(b.evicted_keys >= 900);
        assert_eq!(
            b.observe(
                "k999",
                "a",
                Timestamp(1000),
                &limits(DAY, 100, 2),
                Timestamp(0)
            ),
            RareOutcome::Learning
        );
        assert_eq!(
            b.observe(
                "k999",
                "b",
                Timestamp(1000),
                &limits(DAY, 100, 2),
                Timestamp(0)
            ),
            RareOutcome::Saturated
        );
    }

    /// A fired burst's sample, sorted, as text.
    fn sorted(sample: &[Arc<[u8]>]) -> Vec<&str> {
        let mut texts: Vec<&str> = sample
            .iter()
            .map(|v| std::str::from_utf8(v).unwrap())
            .collect();
        texts.sort_unstable();
        texts
    }

    #[test]
    fn burst_counts_distinct_values_in_window() {
        let mut bursts = Bursts::default();
        let s = 1_000_000_000;
        let mut at = |value: &str, secs: i64| {
            bursts
                .observe(b"c", Some(value.as_bytes()), Timestamp(secs * s), 60 * s, 3)
                .map(|(count, sample)| (count, sorted(&sample).join(" ")))
        };
        assert!(at("id", 0).is_none());
        assert!(at("id", 1).is_none());
        assert!(at("whoami", 2).is_none());
        // Outside the window of the first three.
        assert!(at("uname", 90).is_none());
        assert!(at("id", 91).is_none());
        assert_eq!(at("ps", 92), Some((3, "id ps uname".to_string())));
        // The window restarted after the burst.
        assert!(at("whoami", 93).is_none());
    }

    #[test]
    fn burst_keys_never_merge() {
        let mut bursts = Bursts::default();
        let s = 1_000_000_000;
        // Two keys, four distinct values each, interleaved: together they would reach the
        // threshold of five, apart neither does.
        for i in 0..4i64 {
            for key in ["a", "b"] {
                let value = format!("{key}{i}");
                assert!(bursts
                    .observe(
                        key.as_bytes(),
                        Some(value.as_bytes()),
                        Timestamp(i * s),
                        60 * s,
                        5
                    )
                    .is_none());
            }
        }
        let (count, sample) = bursts
            .observe(b"b", Some(b"b4"), Timestamp(5 * s), 60 * s, 5)
            .unwrap();
        assert_eq!(
            (count, sorted(&sample)),
            (5, vec!["b0", "b1", "b2", "b3", "b4"])
        );
    }

    #[test]
    fn burst_counts_events_without_values() {
        let mut bursts = Bursts::default();
        let s = 1_000_000_000;
        for i in 0..4 {
            assert!(bursts
                .observe(b"sa", None, Timestamp(i * s), 60 * s, 5)
                .is_none());
        }
        assert_eq!(
            bursts
                .observe(b"sa", None, Timestamp(4 * s), 60 * s, 5)
                .map(|(count, sample)| (count, sample.len())),
            Some((5, 0))
        );
    }

    #[test]
    fn sequence_partials_dedup_and_bound() {
        let mut seq = Sequences::default();
        let p = |next, start, cap: &str| Partial {
            next,
            start: Timestamp(start),
            captures: vec![cap.to_string()],
            gate_hash: kdr_rules::compile::capture_hash(cap),
            evidence: vec![],
        };
        // Lists built in one event settle in full; a push alone against the newest.
        for partial in [p(1, 0, "a"), p(1, 5, "a"), p(1, 6, "b")] {
            seq.push(1, partial, Timestamp(6), 10);
        }
        seq.settle(1, true);
        seq.push(1, p(1, 6, "b"), Timestamp(6), 10);
        seq.settle(1, false);
        let live = |seq: &mut Sequences, time| seq.live_mut(1, Timestamp(time), 10).cloned();
        assert_eq!(live(&mut seq, 7), Some(vec![p(1, 5, "a"), p(1, 6, "b")]));
        // Expired partials are dropped; a key left with none goes.
        assert_eq!(live(&mut seq, 16), Some(vec![p(1, 6, "b")]));
        assert_eq!(live(&mut seq, 17), Some(vec![]));
        seq.settle(1, false);
        assert!(seq.is_empty());
        for i in 0..20 {
            seq.push(1, p(1, i, &i.to_string()), Timestamp(20), 100);
            seq.settle(1, false);
        }
        let kept = seq.live_mut(1, Timestamp(20), 100).unwrap();
        assert_eq!(kept.len(), MAX_PARTIALS);
        assert_eq!(
            kept[0],
            p(
                1,
                20 - MAX_PARTIALS as i64,
                &(20 - MAX_PARTIALS).to_string()
            )
        );
    }
}
