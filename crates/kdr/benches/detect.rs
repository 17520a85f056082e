//! Detection throughput on a recorded audit mix, beside the rate of merely parsing the same
//! JSON with serde_json, in the same run on one core.
//!
//!     cargo bench -p kdr --bench detect -- FILE [ROUNDS]
//!
//! FILE: audit events, one per line (scripts/bench-detect generates a realistic mix).
//! Rates are per CPU-second of the measuring thread (one core), best of ROUNDS.
//! Prints events/s for: parse only (serde_json::Value), decode only (kdr-decode), and
//! decode + detection (the whole `kdr detect` path but output), their ratio, and peak RSS.

use std::sync::Arc;
use std::time::Instant;

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

/// Runs `work` `rounds` times and returns the smallest CPU time it took, in seconds. CPU time
/// of this thread (not wall time), so other load on the machine does not count against it.
fn best_of(rounds: usize, mut work: impl FnMut() -> usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..rounds.max(1) {
        let wall = Instant::now();
        let start = thread_cpu_ns();
        std::hint::black_box(work());
        let cpu = thread_cpu_ns().saturating_sub(start);
        let seconds = if cpu > 0 {
            cpu as f64 / 1e9
        } else {
            wall.elapsed().as_secs_f64()
        };
        best = best.min(seconds);
    }
    best
}

/// This thread's CPU time in nanoseconds (first field of /proc/thread-self/schedstat), or 0
/// where that file does not exist.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
