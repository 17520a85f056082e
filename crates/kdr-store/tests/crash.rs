//! Kill -9 while writing: a child process ingests batches and prints `ack <id>` after each
//! commit; we kill it at random moments, 30 times, over the same data directory. Afterwards
//! every acknowledged alert is there exactly once, every batch is whole (its events and
//! alerts together, or neither), and SQLite finds the file intact.

use std::collections::HashSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kdr_store::synthetic::Rng;
use kdr_store::{AlertFilter, AlertSort, Page, Store, StoreOptions};

const RUNS: u64 = 30;
const EVENTS_PER_BATCH: u64 = 200;
const ALERTS_PER_BATCH: u64 = 3;

#[test]
fn killed_writers_lose_nothing_they_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    println!("crash test seed {seed}");
    let mut rng = Rng::new(seed);
    let mut acknowledged: Vec<String> = Vec::new();
    for run in 0..RUNS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kdr-store-crash-child"))
            .arg(&data)
            .arg(run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the child");
        // Opening (and on the first run migrating) takes a moment; kill anywhere from before
        // the first commit to well into the stream.
        let delay = Duration::from_millis(5 + rng.below(400));
        let started = Instant::now();
        while started.elapsed() < delay {
            if child.try_wait().expect("poll").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        let mut output = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut output)
            .expect("read stdout");
        let mut errors = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut errors)
            .expect("read stderr");
        assert!(errors.is_empty(), "run {run}: child failed: {errors}");
        // Only whole lines count: the kill may cut the last one.
        let complete = output.rfind('\n').map_or("", |end| &output[..end]);
        acknowledged.extend(
            complete
                .lines()
                .filter_map(|line| line.strip_prefix("ack "))
                .map(str::to_owned),
        );
    }
    assert!(
        acknowledged.len() as u64 >= ALERTS_PER_BATCH,
        "the children acknowledged nothing in {RUNS} runs: the test proves nothing"
    );

    let mut store = Store::open_sqlite_dir(&data, StoreOptions::default()).expect("reopen");
    assert_eq!(store.integrity_check().expect("integrity"), "ok");
    let page = store
        .list_alerts(
            &AlertFilter::default(),
            AlertSort::default(),
            Page::first(Page::MAX_LIMIT),
        )
        .expect("list");
    let mut all: Vec<String> = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .list_alerts(
                &AlertFilter::default(),
                AlertSort::default(),
                Page {
                    offset,
                    limit: Page::MAX_LIMIT,
                },
            )
            .expect("page");
        if page.alerts.is_empty() {
            break;
        }
        offset += page.alerts.len() as u64;
        all.extend(page.alerts.into_iter().map(|a| a.id));
    }
    assert_eq!(all.len() as u64, page.total);
    let stored: HashSet<&str> = all.iter().map(String::as_str).collect();
    assert_eq!(stored.len(), all.len(), "an alert is stored twice");
    for id in &acknowledged {
        assert!(stored.contains(id.as_str()), "acknowledged alert {id} lost");
    }
    // Batches are atomic: alerts come in threes, with their 200 events each.
    let alerts = all.len() as u64;
    assert_eq!(alerts % ALERTS_PER_BATCH, 0, "a batch was stored in part");
    let rows: u64 = store
        .hunting_counts()
        .expect("counts")
        .iter()
        .map(|c| c.1)
        .sum();
    assert_eq!(rows, alerts / ALERTS_PER_BATCH * EVENTS_PER_BATCH);
    println!(
        "{RUNS} kills: {} alerts acknowledged, {alerts} stored, {rows} hunting rows",
        acknowledged.len()
    );
}
