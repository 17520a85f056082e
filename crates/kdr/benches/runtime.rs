//! Runtime detection throughput: sensor events through the detection engine alone (events
//! decoded beforehand), beside the rate of decoding the same recorded JSON lines, on one core.
//!
//!     cargo bench -p kdr --bench runtime -- FILE [ROUNDS]
//!
//! FILE: recorded runtime events, one kdr event per line (`kdr sensor --events FILE`, or the
//! mixes scripts/bench-runtime generates). Rates are per CPU-second of the measuring thread
//! (/proc/thread-self/schedstat), best of ROUNDS, so other load on a shared machine does not
//! count against them. KDR_PROF=1 decodes once only, so a profile of the run is mostly engine.

mod measure;

use std::sync::Arc;

use measure::best_of;

use kdr_engine::Engine;
use kdr_intel::IndicatorSet;
use kdr_model::{Event, Payload};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(path) = args.first() else {
        eprintln!("usage: cargo bench -p kdr --bench runtime -- FILE [ROUNDS]");
        return;
    };
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let text = std::fs::read_to_string(path).expect("read benchmark input");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    // One decoder for the stream, as `kdr detect` reads a file: its events share lineages.
    let mut decoder = kdr_decode::Decoder::new();
    let mut events: Vec<Event> = Vec::with_capacity(lines.len());
    for line in &lines {
        decoder.decode(line, &mut events).expect("decodes");
    }
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for e in &events {
        if let Payload::Runtime(r) = &e.payload {
            *kinds.entry(r.action.type_name()).or_default() += 1;
        }
    }
    println!(
        "input: {} runtime events ({})",
        events.len(),
        kinds
            .iter()
            .map(|(k, n)| format!("{k} {:.0}%", *n as f64 * 100.0 / events.len() as f64))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let decode_rounds = if std::env::var_os("KDR_PROF").is_some() {
        1
    } else {
        rounds
    };
    let decode = best_of(decode_rounds, || {
        let mut decoder = kdr_decode::Decoder::new();
        let mut out = Vec::new();
        let mut n = 0usize;
        for line in &lines {
            out.clear();
            decoder.decode(line, &mut out).expect("decodes");
            n += out.len();
        }
        n
    });

    // KDR_BENCH_RULES=DIR adds rule files (e.g. to disable rules when profiling).
    let extra: Vec<std::path::PathBuf> = std::env::var_os("KDR_BENCH_RULES")
        .map(|d| vec![d.into()])
        .unwrap_or_default();
    let rules = Arc::new(kdr_rules::load(&extra).expect("rules compile"));
    let runtime_rules = rules
        .rules
        .iter()
        .filter(|r| r.source == kdr_model::Source::Runtime)
        .count();
    let mut stats = kdr_engine::EngineStats::default();
    let engine_only = best_of(rounds, || {
        let mut engine = Engine::new(rules.clone(), IndicatorSet::shipped());
        let mut out = Vec::new();
        for event in &events {
            engine.process(event, &mut out);
            out.clear();
        }
        engine.flush(&mut out);
        stats = engine.stats();
        events.len()
    });

    let rate = |secs: f64| events.len() as f64 / secs;
    println!("runtime rules:               {runtime_rules:>12}");
    println!(
        "decode only (kdr-decode):    {:>12.0} events/s/core",
        rate(decode)
    );
    println!(
        "engine only (rules + state): {:>12.0} events/s/core   (target >= 1000000)",
        rate(engine_only)
    );
    println!(
        "decode + engine:             {:>12.0} events/s/core",
        events.len() as f64 / (decode + engine_only)
    );
    println!(
        "alerts opened per pass:      {:>12}   (repeats folded into them: {})",
        stats.alerts_opened, stats.repeats_folded
    );
    println!(
        "programs known / not:        {:>12} / {}   (first seen, not kept: {}; forgotten to stay bounded: {})",
        stats.program_hits, stats.program_misses, stats.programs_first_seen, stats.programs_evicted
    );
}
