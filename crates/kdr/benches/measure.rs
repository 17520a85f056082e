//! Measuring helpers the benchmarks share.

use std::time::Instant;

/// Runs `work` `rounds` times and returns the smallest CPU time it took, in seconds. CPU time
/// of this thread (not wall time), so other load on the machine does not count against it.
pub fn best_of(rounds: usize, mut work: impl FnMut() -> usize) -> f64 {
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
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Peak resident memory of this process (VmHWM), in KiB.
#[allow(dead_code)] // not every benchmark reports memory
pub fn peak_rss_kib() -> u64 {
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
