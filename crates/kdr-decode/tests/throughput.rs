//! Decode rate on the hot path, compared with parsing the same lines into
//! `serde_json::Value`. Not a pass/fail test; run it in release mode:
//!
//! ```text
//! cargo test --release -p kdr-decode --test throughput -- --ignored --nocapture
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use kdr_decode::{Decoder, EventReader};

const AUDIT: &str = include_str!("data/audit.jsonl");
const EVENT_LIST: &str = include_str!("data/eventlist.jsonl");
const AKS: &str = include_str!("data/aks.jsonl");

/// Runs `body` over `lines` in windows of about 200 ms for at least `min`, and returns the
/// best window's records per second: on a shared machine the best window is the one least
/// disturbed by other work.
fn rate(lines: &[&str], min: Duration, mut body: impl FnMut(&str)) -> f64 {
    let start = Instant::now();
    let mut best = 0f64;
    while start.elapsed() < min {
        let window = Instant::now();
        let mut done = 0u64;
        while window.elapsed() < Duration::from_millis(200) {
            for line in lines {
                body(line);
            }
            done += lines.len() as u64;
        }
        best = best.max(done as f64 / window.elapsed().as_secs_f64());
    }
    best
}

#[test]
#[ignore = "benchmark; run with --release -- --ignored --nocapture"]
fn audit_line_throughput() {
    let lines: Vec<&str> = AUDIT.lines().collect();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let mean = bytes / lines.len();
    let min = Duration::from_secs(2);

    let mut decoder = Decoder::new();
    let mut out = Vec::with_capacity(1);
    // Warm up, then measure.
    rate(&lines, Duration::from_millis(300), |l| {
        out.clear();
        decoder.decode(l, &mut out).unwrap();
    });
    let ours = rate(&lines, min, |l| {
        out.clear();
        decoder.decode(black_box(l), &mut out).unwrap();
        black_box(&out);
    });
    let value = rate(&lines, min, |l| {
        black_box(serde_json::from_str::<serde_json::Value>(black_box(l)).unwrap());
    });
    // The floor for any serde_json-based decoder: validating the JSON and nothing else.
    let validate = rate(&lines, min, |l| {
        black_box(serde_json::from_str::<serde::de::IgnoredAny>(black_box(l)).unwrap());
    });
    let list_lines: Vec<&str> = EVENT_LIST.lines().collect();
    let list = 4.0
        * rate(&list_lines, min, |l| {
            out.clear();
            decoder.decode(black_box(l), &mut out).unwrap();
        });
    let aks_lines: Vec<&str> = AKS.lines().collect();
    let aks_events_per_pass = {
        out.clear();
        for l in &aks_lines {
            decoder.decode(l, &mut out).unwrap();
        }
        out.len() as f64 / aks_lines.len() as f64
    };
    let aks = aks_events_per_pass
        * rate(&aks_lines, min, |l| {
            out.clear();
            decoder.decode(black_box(l), &mut out).unwrap();
        });

    // The reader over a large in-memory file (line splitting and queueing included).
    let file = AUDIT.repeat(20_000);
    let start = Instant::now();
    let mut reader = EventReader::new("bench", file.as_bytes());
    let count = reader.by_ref().filter(Result::is_ok).count();
    let reader_rate = count as f64 / start.elapsed().as_secs_f64();

    println!("audit lines: {} bytes mean, {} lines", mean, lines.len());
    println!(
        "kdr-decode audit Event lines: {:>10.0} events/s ({:.0} MB/s)",
        ours,
        ours * mean as f64 / 1e6
    );
    println!(
        "serde_json::Value, same lines: {:>10.0} lines/s ({:.0} MB/s)",
        value,
        value * mean as f64 / 1e6
    );
    println!("ratio decode / Value: {:.2}", ours / value);
    println!(
        "serde_json IgnoredAny (validate only): {:>10.0} lines/s ({:.0} MB/s)",
        validate,
        validate * mean as f64 / 1e6
    );
    println!("EventReader over {count} lines: {reader_rate:>10.0} events/s");
    println!("EventList (4 items per record): {list:>10.0} events/s");
    println!("AKS envelope (embedded JSON strings): {aks:>10.0} events/s");
}
