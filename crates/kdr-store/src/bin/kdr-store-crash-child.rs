//! Test helper for the crash test (tests/crash.rs): ingests batches into a SQLite store until
//! it is killed, and after each commit prints `ack <alert id>` for the batch's alerts. What
//! it printed is what the store acknowledged.
//!
//! Usage: kdr-store-crash-child DATA_DIR RUN

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use kdr_engine::AlertEvent;
use kdr_store::synthetic::{alert, Generator};
use kdr_store::{Store, StoreOptions};

/// Events and alerts in each batch; the test checks batches stayed whole.
const EVENTS_PER_BATCH: usize = 200;
const ALERTS_PER_BATCH: usize = 3;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(run)) = (args.next(), args.next()) else {
        eprintln!("usage: kdr-store-crash-child DATA_DIR RUN");
        return ExitCode::from(2);
    };
    let mut store = match Store::open_sqlite_dir(&PathBuf::from(&dir), StoreOptions::default()) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("kdr-store-crash-child: {error}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = std::io::stdout();
    for batch in 0u64.. {
        let events: Vec<_> = Generator::new(batch).take(EVENTS_PER_BATCH).collect();
        let alerts: Vec<_> = (0..ALERTS_PER_BATCH)
            .map(|i| {
                let mut a = alert("K8S_Crash", batch as i64, "shop", &format!("pod-{i}"));
                a.dedup_key = format!("K8S_Crash|run-{run}-batch-{batch}-{i}");
                a
            })
            .collect();
        let alert_events: Vec<_> = alerts.iter().cloned().map(AlertEvent::Opened).collect();
        if let Err(error) = store.ingest(&events, &alert_events) {
            eprintln!("kdr-store-crash-child: {error}");
            return ExitCode::FAILURE;
        }
        let mut out = stdout.lock();
        for a in &alerts {
            let _ = writeln!(out, "ack {}", kdr_incidents::alert_id(a));
        }
        let _ = out.flush();
    }
    ExitCode::SUCCESS
}
