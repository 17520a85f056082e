//! Ingest benchmark: generates realistic runtime and audit events (synthetic::Generator) and
//! stores them in batches, timing only the store's part. Run it with scripts/bench-store.
//!
//! Usage: kdr-store-bench [--events N] [--batch N] [--location DIR|URL]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use kdr_store::synthetic::Generator;
use kdr_store::{Backend, Store, StoreOptions};

/// CPU time (user + system) used so far, in nanoseconds, from a /proc stat file (Linux;
/// clock ticks of 10 ms): `thread-self` for the calling thread, `self` for the whole process
/// (the row-building and checkpointing threads too). CPU time rather than wall time alone, so
/// that a busy shared machine does not count other processes' time against the store.
fn cpu_ns(stat_file: &str) -> Option<u64> {
    let text = std::fs::read_to_string(stat_file).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10_000_000)
}

/// CPU time of the calling thread and of the whole process.
fn cpu_now() -> Option<(u64, u64)> {
    Some((
        cpu_ns("/proc/thread-self/stat")?,
        cpu_ns("/proc/self/stat")?,
    ))
}

struct Options {
    events: usize,
    batch: usize,
    location: Option<String>,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        events: 1_000_000,
        batch: 10_000,
        location: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--events" => {
                options.events = value("--events")?
                    .parse()
                    .map_err(|e| format!("--events: {e}"))?
            }
            "--batch" => {
                options.batch = value("--batch")?
                    .parse()
                    .map_err(|e| format!("--batch: {e}"))?
            }
            "--location" => options.location = Some(value("--location")?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.batch == 0 {
        return Err("--batch must be at least 1".to_owned());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("kdr-store-bench: {message}");
            eprintln!("usage: kdr-store-bench [--events N] [--batch N] [--location DIR|URL]");
            return ExitCode::from(2);
        }
    };
    let scratch = std::env::temp_dir().join(format!("kdr-store-bench-{}", std::process::id()));
    let location = options
        .location
        .clone()
        .unwrap_or_else(|| scratch.display().to_string());
    let mut store = match Store::open(&location, StoreOptions::default()) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("kdr-store-bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut generator = Generator::new(42);
    let mut stored = 0usize;
    let mut ingest_time = Duration::ZERO;
    let mut ingest_thread_cpu_ns = 0u64;
    let wall = Instant::now();
    let cpu_at_start = cpu_now();
    while stored < options.events {
        let batch: Vec<_> = generator
            .by_ref()
            .take(options.batch.min(options.events - stored))
            .collect();
        let started = Instant::now();
        let cpu_before = cpu_ns("/proc/thread-self/stat");
        if let Err(error) = store.ingest(&batch, &[]) {
            eprintln!("kdr-store-bench: {error}");
            return ExitCode::FAILURE;
        }
        ingest_time += started.elapsed();
        if let (Some(before), Some(after)) = (cpu_before, cpu_ns("/proc/thread-self/stat")) {
            ingest_thread_cpu_ns += after.saturating_sub(before);
        }
        stored += batch.len();
    }
    let wall = wall.elapsed();
    // The store's CPU: the whole process's, less what this thread spent generating events
    // (the store's helper threads also work while the next batch is generated).
    let store_cpu_ns = match (cpu_at_start, cpu_now()) {
        (Some(start), Some(end)) => {
            let this_thread = end.0.saturating_sub(start.0);
            let process = end.1.saturating_sub(start.1);
            process.saturating_sub(this_thread.saturating_sub(ingest_thread_cpu_ns))
        }
        _ => 0,
    };
    let counts = store.hunting_counts().unwrap_or_default();
    let bytes = store.hunting_bytes().unwrap_or(0);
    match store.backend() {
        Backend::Sqlite => println!(
            "backend: SQLite {} at {}",
            rusqlite::version(),
            store.location()
        ),
        Backend::Postgres => println!("backend: PostgreSQL at {}", store.location()),
    }
    println!("events: {stored} in batches of {}", options.batch);
    for (table, rows) in counts {
        println!("  {table}: {rows} rows");
    }
    println!(
        "ingest: {:.0} events/s ({:.2} s in the store; {:.2} s with generating the events)",
        stored as f64 / ingest_time.as_secs_f64(),
        ingest_time.as_secs_f64(),
        wall.as_secs_f64()
    );
    let per_cpu_second = |cpu_ns: u64| stored as f64 / (cpu_ns as f64 / 1e9);
    if store_cpu_ns > 0 {
        println!(
            "ingest per CPU second: {:.0} events/s over all of the store's threads ({:.2} s of \
             CPU); {:.0} events/s on the calling thread ({:.2} s). Wall time beyond the CPU \
             time is waiting for the disk, or for a CPU on a busy machine",
            per_cpu_second(store_cpu_ns),
            store_cpu_ns as f64 / 1e9,
            per_cpu_second(ingest_thread_cpu_ns.max(1)),
            ingest_thread_cpu_ns as f64 / 1e9
        );
    }
    println!(
        "size: {:.1} MiB ({:.0} bytes/event)",
        bytes as f64 / 1048576.0,
        bytes as f64 / stored.max(1) as f64
    );
    drop(store);
    if options.location.is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    ExitCode::SUCCESS
}
