//! Sharing lineages among decoded events, as the sensor shares them live.
//!
//! The sensor builds a parent's lineage once, and every event below that parent carries the
//! same one ([`Ancestors`] is a reference count). Decoding a recording gives each event a
//! lineage of its own instead; a [`Lineages`] table finds the equal lineage an earlier event of
//! the stream already had and hands out that one, so a replay shares like live and what keys
//! on a lineage (the engine's memory of programs) can tell shared ones apart without reading
//! them.

use std::hash::{Hash, Hasher};

use rustc_hash::{FxHashMap, FxHasher};

use kdr_model::{Ancestors, Event, Payload};

/// Most lineages remembered; past it the table starts over (counted).
const MAX_LINEAGES: usize = 4096;

/// The lineages of one stream, by a hash of their whole content. Compared exactly, pids
/// included: a hash only finds where to look.
#[derive(Clone, Debug, Default)]
pub(crate) struct Lineages {
    by_hash: FxHashMap<u64, Ancestors>,
    /// Lineages forgotten to stay within bounds.
    pub(crate) forgotten: u64,
}

impl Lineages {
    /// Gives the runtime events among `events` the lineage an earlier event of the stream
    /// had, when equal, and remembers the new ones.
    pub(crate) fn share(&mut self, events: &mut [Event]) {
        for event in events {
            if let Payload::Runtime(runtime) = &mut event.payload {
                self.share_one(&mut runtime.process.ancestors);
            }
        }
    }

    fn share_one(&mut self, ancestors: &mut Ancestors) {
        if ancestors.is_empty() {
            return;
        }
        let mut hasher = FxHasher::default();
        for ancestor in ancestors.iter() {
            ancestor.pid.hash(&mut hasher);
            ancestor.exe.hash(&mut hasher);
            ancestor.args.hash(&mut hasher);
        }
        let hash = hasher.finish();
        if let Some(known) = self.by_hash.get(&hash) {
            if known == ancestors {
                *ancestors = known.clone();
                return;
            }
        }
        if self.by_hash.len() >= MAX_LINEAGES {
            self.forgotten += self.by_hash.len() as u64;
            self.by_hash.clear();
        }
        // A colliding hash takes the place over.
        self.by_hash.insert(hash, ancestors.clone());
    }
}

#[cfg(test)]
mod tests {
    use kdr_model::Ancestor;

    use super::*;

    fn lineage(pids: &[u32], exe: &str) -> Ancestors {
        pids.iter()
            .map(|&pid| Ancestor {
                pid,
                exe: exe.into(),
                args: vec![exe.into()],
            })
            .collect()
    }

    #[test]
    fn equal_lineages_are_shared_and_different_ones_never() {
        let mut lineages = Lineages::default();
        let first = lineage(&[7, 1], "/bin/sh");
        let mut again = lineage(&[7, 1], "/bin/sh");
        lineages.share_one(&mut first.clone());
        lineages.share_one(&mut again);
        assert!(again.shares(&first));
        for mut other in [
            lineage(&[8, 1], "/bin/sh"),
            lineage(&[7, 1], "/bin/bash"),
            lineage(&[7], "/bin/sh"),
        ] {
            let before = other.clone();
            lineages.share_one(&mut other);
            assert!(other.shares(&before), "kept its own: {other:?}");
            assert!(!other.shares(&first));
        }
        assert_eq!(lineages.forgotten, 0);
    }

    fn runtime_line(id: u32, parent: u32, parent_exe: &str) -> String {
        format!(
            r#"{{"id":"n:1:{id}","time":"2023-11-14T22:13:20Z","payload":{{"runtime":{{"process":{{"pid":{id},"exe":"/usr/bin/sed","args":["sed"],"ancestors":[{{"pid":{parent},"exe":"{parent_exe}","args":["sh"]}},{{"pid":1,"exe":"/sbin/init"}}]}},"action":{{"type":"exec"}}}}}}}}"#
        )
    }

    fn ancestors(event: &Event) -> &Ancestors {
        match &event.payload {
            Payload::Runtime(runtime) => &runtime.process.ancestors,
            _ => panic!("not a runtime event"),
        }
    }

    #[test]
    fn a_decoder_shares_equal_lineages_among_the_events_of_its_stream() {
        let mut decoder = crate::Decoder::new();
        let mut events = Vec::new();
        for (id, parent, exe) in [
            (10, 5, "/bin/sh"),
            (11, 5, "/bin/sh"),
            (12, 6, "/bin/sh"),
            (13, 5, "/bin/ash"),
            (14, 5, "/bin/sh"),
        ] {
            decoder
                .decode(&runtime_line(id, parent, exe), &mut events)
                .unwrap();
        }
        let lineages: Vec<&Ancestors> = events.iter().map(ancestors).collect();
        assert!(lineages[1].shares(lineages[0]));
        assert!(lineages[4].shares(lineages[0]));
        assert!(!lineages[2].shares(lineages[0]), "another parent pid");
        assert!(!lineages[3].shares(lineages[0]), "another parent program");
        assert_eq!(lineages[2][0].pid, 6);
        assert_eq!(lineages[3][0].exe, "/bin/ash");
        assert_eq!(decoder.stats().lineages_forgotten, 0);
    }

    #[test]
    fn past_the_bound_the_table_starts_over_and_counts_it() {
        let mut lineages = Lineages::default();
        for pid in 0..=MAX_LINEAGES as u32 {
            lineages.share_one(&mut lineage(&[pid], "/bin/sh"));
        }
        assert_eq!(lineages.forgotten, MAX_LINEAGES as u64);
        assert_eq!(lineages.by_hash.len(), 1);
    }
}
