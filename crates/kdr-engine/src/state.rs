//! State of the stateful rule kinds, all on event time: per-key baselines (`rare`), sliding
//! windows of distinct values (`burst`) and step progress (`sequence`). Every map is bounded;
//! what is evicted to stay in bounds is counted.

use std::collections::VecDeque;

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
        if !self.keys.contains_key(key) && self.keys.len() >= max_keys {
            self.evict_oldest(max_keys);
        }
        let entry = self
            .keys
            .entry(key.to_owned())
            .or_insert_with(|| KeyBaseline {
                first_seen: time,
                last_seen: time,
                values: FxHashSet::default(),
            });
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

#[derive(Debug, Default)]
pub struct Bursts {
    keys: FxHashMap<String, VecDeque<(Timestamp, String)>>,
    pub evicted_keys: u64,
}

impl Bursts {
    /// Records one observation; returns the distinct values in the window when they reach
    /// `threshold` (then starts a fresh window, so one burst raises one alert).
    pub fn observe(
        &mut self,
        key: &str,
        value: String,
        time: Timestamp,
        window: Nanos,
        threshold: usize,
    ) -> Option<Vec<String>> {
        if !self.keys.contains_key(key) && self.keys.len() >= MAX_WINDOW_KEYS {
            let horizon = time.saturating_add(-window);
            let before = self.keys.len();
            self.keys
                .retain(|_, q| q.back().is_some_and(|(t, _)| *t >= horizon));
            if self.keys.len() >= MAX_WINDOW_KEYS {
                self.keys.clear();
            }
            self.evicted_keys += (before - self.keys.len()) as u64;
        }
        let queue = self.keys.entry(key.to_owned()).or_default();
        let horizon = time.saturating_add(-window);
        while queue.front().is_some_and(|(t, _)| *t < horizon) {
            queue.pop_front();
        }
        // Bound per key: beyond the threshold's worth of distinct values, only recency matters.
        if queue.len() > threshold.saturating_mul(64).max(1024) {
            queue.pop_front();
        }
        queue.push_back((time, value));
        let mut distinct: Vec<&str> = queue.iter().map(|(_, v)| v.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() >= threshold {
            let values = distinct.into_iter().map(str::to_owned).collect();
            queue.clear();
            Some(values)
        } else {
            None
        }
    }
}

#[derive(Debug, Default)]
pub struct Sequences {
    keys: FxHashMap<String, (usize, Timestamp)>,
    pub evicted_keys: u64,
}

impl Sequences {
    /// Advances the key's progress given which steps this event satisfies. Returns true when
    /// the last step completes within the window.
    pub fn observe(&mut self, key: &str, matches: &[bool], time: Timestamp, window: Nanos) -> bool {
        if !self.keys.contains_key(key) && self.keys.len() >= MAX_WINDOW_KEYS {
            let before = self.keys.len();
            self.keys
                .retain(|_, (_, start)| start.saturating_add(window) >= time);
            self.evicted_keys += (before - self.keys.len()) as u64;
        }
        let progress = self.keys.get(key).copied();
        let (next, start) = match progress {
            Some((next, start)) if start.saturating_add(window) >= time => (next, start),
            _ => (0, time),
        };
        if matches.get(next).copied().unwrap_or(false) {
            let start = if next == 0 { time } else { start };
            if next + 1 == matches.len() {
                self.keys.remove(key);
                return true;
            }
            self.keys.insert(key.to_owned(), (next + 1, start));
        } else if next > 0 && matches.first().copied().unwrap_or(false) {
            // A fresh first step restarts a stalled sequence.
            self.keys.insert(key.to_owned(), (1, time));
        }
        false
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
        let t0 = Timestamp(0);
        assert_eq!(
            b.observe("sa", "get pods", t0, &limits(7 * DAY, 10, 10), Timestamp(0)),
            RareOutcome::Learning
        );
        assert_eq!(
            b.observe(
                "sa",
                "list pods",
                t0.saturating_add(6 * DAY),
                &limits(7 * DAY, 10, 10),
                Timestamp(0),
            ),
            RareOutcome::Learning
        );
        assert_eq!(
            b.observe(
                "sa",
                "get pods",
                t0.saturating_add(8 * DAY),
                &limits(7 * DAY, 10, 10),
                Timestamp(0),
            ),
            RareOutcome::Known
        );
        assert_eq!(
            b.observe(
                "sa",
                "list secrets",
                t0.saturating_add(8 * DAY),
                &limits(7 * DAY, 10, 10),
                Timestamp(0),
            ),
            RareOutcome::New
        );
        assert_eq!(
            b.observe(
                "sa",
                "list secrets",
                t0.saturating_add(9 * DAY),
                &limits(7 * DAY, 10, 10),
                Timestamp(0),
            ),
            RareOutcome::Known
        );
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

    #[test]
    fn burst_counts_distinct_values_in_window() {
        let mut bursts = Bursts::default();
        let s = 1_000_000_000;
        assert!(bursts
            .observe("c", "id".into(), Timestamp(0), 60 * s, 3)
            .is_none());
        assert!(bursts
            .observe("c", "id".into(), Timestamp(s), 60 * s, 3)
            .is_none());
        assert!(bursts
            .observe("c", "whoami".into(), Timestamp(2 * s), 60 * s, 3)
            .is_none());
        // Outside the window of the first two.
        assert!(bursts
            .observe("c", "uname".into(), Timestamp(90 * s), 60 * s, 3)
            .is_none());
        assert!(bursts
            .observe("c", "id".into(), Timestamp(91 * s), 60 * s, 3)
            .is_none());
        let hit = bursts
            .observe("c", "ps".into(), Timestamp(92 * s), 60 * s, 3)
            .unwrap();
        assert_eq!(hit, vec!["id", "ps", "uname"]);
    }

    #[test]
    fn sequence_needs_order_and_window() {
        let mut seq = Sequences::default();
        let s = 1_000_000_000;
        assert!(!seq.observe("k", &[false, true], Timestamp(0), 10 * s));
        assert!(!seq.observe("k", &[true, false], Timestamp(s), 10 * s));
        assert!(seq.observe("k", &[false, true], Timestamp(2 * s), 10 * s));
        assert!(!seq.observe("k", &[true, false], Timestamp(3 * s), 10 * s));
        assert!(!seq.observe("k", &[false, true], Timestamp(30 * s), 10 * s));
    }
}
