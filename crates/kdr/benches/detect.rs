//! Detection throughput on a recorded audit mix, beside the rate of merely parsing the same
//! JSON with serde_json, in the same run on one core.
//!
//!     cargo bench -p kdr --bench detect -- FILE [ROUNDS]
//!
//! FILE: audit events, one per line (scripts/bench-detect generates a realistic mix).
//! Rates are per CPU-second of the measuring thread (one core), best of ROUNDS.
//! Prints events/s for: parse only (serde_json::Value), decode only (kdr-decode), and
//! decode + detection (the whole `kdr detect` path but output), their ratio, and peak RSS.

mod measure;

use std::sync::Arc;

use measure::{best_of, peak_rss_kib};

use kdr_engine::Engine;
use kdr_intel::IndicatorSet;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(path) = args.first() else {
        eprintln!("usage: cargo bench -p kdr --bench detect -- FILE [ROUNDS]");
        return;
    };
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let text = std::fs::read_to_string(path).expect("read benchmark input");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    println!(
        "input: {} events, {:.1} MiB, mean {} bytes/event",
        lines.len(),
        bytes as f64 / 1048576.0,
        bytes / lines.len().max(1)
    );

    let parse = best_of(rounds, || {
        let mut n = 0usize;
        for line in &lines {
            let value: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
            n += usize::from(value.is_object());
        }
        n
    });

    let decode = best_of(rounds, || {
        let mut events = Vec::new();
        let mut n = 0usize;
        for line in &lines {
            events.clear();
            kdr_decode::decode_record(line, &mut events).expect("decodes");
            n += events.len();
        }
        n
    });

    let rules = Arc::new(kdr_rules::load(&[]).expect("shipped rules compile"));
    let mut alerts_total = 0usize;
    let detect = best_of(rounds, || {
        let mut engine = Engine::new(rules.clone(), IndicatorSet::shipped());
        let mut events = Vec::new();
        let mut out = Vec::new();
        let mut n = 0usize;
        for line in &lines {
            events.clear();
            kdr_decode::decode_record(line, &mut events).expect("decodes");
            for event in &events {
                engine.process(event, &mut out);
                n += 1;
            }
            out.clear();
        }
        engine.flush(&mut out);
        alerts_total = engine.stats().alerts_opened as usize;
        n
    });

    let rate = |secs: f64| lines.len() as f64 / secs;
    println!(
        "parse only (serde_json::Value): {:>12.0} events/s/core",
        rate(parse)
    );
    println!(
        "decode only (kdr-decode):       {:>12.0} events/s/core",
        rate(decode)
    );
    println!(
        "decode + detect (kdr detect):   {:>12.0} events/s/core",
        rate(detect)
    );
    println!(
        "detect / parse-only ratio:      {:>12.2}   (target >= 0.50)",
        parse / detect
    );
    println!("alerts opened per pass:         {alerts_total:>12}");
    println!("peak RSS:                       {:>12} KiB", peak_rss_kib());
}
