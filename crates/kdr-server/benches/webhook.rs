//! Load test of the audit webhook over loopback, driven the way Kubernetes API servers drive
//! it: the whole `kdr serve` stack runs in this process (fresh SQLite store, API store plus
//! the ingest writer, engine with the shipped rules and intel, HTTP on 127.0.0.1), and
//! `--senders` threads (several API servers) each POST `EventList` batches back to back for
//! `--seconds`, retrying a 503 after its Retry-After. Prints the accepted rate, latency
//! percentiles, memory over the run and CPU by thread, then checks the store: every
//! acknowledged event is there exactly once, and nothing else.
//!
//!     cargo bench -p kdr-server --bench webhook -- POOL.jsonl [--senders 4] [--seconds 30] [--batch 400]
//!
//! POOL.jsonl holds audit events, one per line (scripts/bench-webhook generates it). Batches
//! take the pool's events in order and loop over it; every event gets a fresh auditID, and
//! each pass over the pool is moved later in time by the pool's span, so the stream the
//! server sees never repeats.

#[path = "../tests/support/no_cluster.rs"]
mod no_cluster;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::value::RawValue;

use kdr_engine::Engine;
use kdr_model::{Timestamp, NANOS_PER_SEC};
use kdr_server::{auth, AppState, Ingest, Permission, ServerOptions};
use kdr_store::{Store, StoreOptions, TokenRecord};

use no_cluster::NoCluster;

/// How often a 503'd batch is sent again before the sender gives up on it (client-go's
/// default for requests answered with Retry-After).
const MAX_RETRIES: u32 = 10;
/// How often memory is sampled during the run.
const MEMORY_SAMPLE_EVERY: Duration = Duration::from_millis(200);

struct Options {
    pool: PathBuf,
    senders: usize,
    seconds: u64,
    batch: usize,
}

fn parse_options() -> anyhow::Result<Options> {
    let mut pool = None;
    let mut options = Options {
        pool: PathBuf::new(),
        senders: 4,
        seconds: 30,
        batch: 400,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> anyhow::Result<u64> {
            let value = args
                .next()
                .with_context(|| format!("{name} needs a value"))?;
            let parsed: u64 = value
                .parse()
                .with_context(|| format!("{name} {value:?}: not a whole number"))?;
            if parsed == 0 {
                bail!("{name} must be at least 1");
            }
            Ok(parsed)
        };
        match arg.as_str() {
            "--senders" => options.senders = usize::try_from(number("--senders")?)?,
            "--seconds" => options.seconds = number("--seconds")?,
            "--batch" => options.batch = usize::try_from(number("--batch")?)?,
            // `cargo bench` passes this to every bench target.
            "--bench" => {}
            _ if arg.starts_with("--") => bail!("unknown option {arg}"),
            _ => pool = Some(PathBuf::from(arg)),
        }
    }
    options.pool = pool.context(
        "usage: webhook POOL.jsonl [--senders N] [--seconds S] [--batch N] (see scripts/bench-webhook)",
    )?;
    Ok(options)
}

// ---------------------------------------------------------------------------------------------
// The event pool

/// Where a pool event gets this send's values.
enum Slot {
    AuditId,
    Time(Timestamp),
}

/// One pool event: its JSON text as recorded, and where its auditID and timestamps sit.
struct Template {
    text: String,
    slots: Vec<(Range<usize>, Slot)>,
}

impl Template {
    fn parse(line: &str) -> anyhow::Result<Template> {
        let fields: HashMap<&str, &RawValue> =
            serde_json::from_str(line).context("not a JSON object of an audit event")?;
        let mut slots = Vec::new();
        for key in ["auditID", "requestReceivedTimestamp", "stageTimestamp"] {
            let raw = fields.get(key).with_context(|| format!("no {key}"))?.get();
            let value: &str =
                serde_json::from_str(raw).with_context(|| format!("{key} is not a string"))?;
            let slot = if key == "auditID" {
                Slot::AuditId
            } else {
                Slot::Time(Timestamp::parse_rfc3339(value)?)
            };
            // `raw` borrows from `line`: its offset there is where the value is.
            let start = raw.as_ptr() as usize - line.as_ptr() as usize;
            slots.push((start..start + raw.len(), slot));
        }
        slots.sort_by_key(|(range, _)| range.start);
        Ok(Template {
            text: line.to_owned(),
            slots,
        })
    }

    fn times(&self) -> impl Iterator<Item = Timestamp> + '_ {
        self.slots.iter().filter_map(|(_, slot)| match slot {
            Slot::Time(time) => Some(*time),
            Slot::AuditId => None,
        })
    }

    fn render(&self, audit_id: &str, shift: i64, out: &mut String) {
        let mut at = 0;
        for (range, slot) in &self.slots {
            out.push_str(&self.text[at..range.start]);
            match slot {
                Slot::AuditId => write!(out, "\"{audit_id}\""),
                Slot::Time(time) => write!(out, "\"{}\"", time.saturating_add(shift)),
            }
            .expect("writing to a String");
            at = range.end;
        }
        out.push_str(&self.text[at..]);
    }
}

struct Pool {
    templates: Vec<Template>,
    /// How much later each pass over the pool is than the one before.
    pass_shift: i64,
    bytes: usize,
    /// Tells this run's events from anything else in the store.
    run_id: u32,
}

impl Pool {
    fn load(path: &Path) -> anyhow::Result<Pool> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the event pool {}", path.display()))?;
        let mut templates = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let template = Template::parse(line)
                .with_context(|| format!("{}:{}", path.display(), index + 1))?;
            templates.push(template);
        }
        let times = || templates.iter().flat_map(Template::times);
        let (Some(first), Some(last)) = (times().min(), times().max()) else {
            bail!("{}: no events", path.display());
        };
        Ok(Pool {
            pass_shift: last.0 - first.0 + NANOS_PER_SEC,
            bytes: templates.iter().map(|t| t.text.len()).sum(),
            templates,
            run_id: u32::from_le_bytes(auth::random_bytes::<4>()),
        })
    }

    fn audit_id(&self, sequence: u64) -> String {
        format!("{:08x}-0000-4000-8000-{sequence:012x}", self.run_id)
    }

    /// The event sequence number of one of this run's audit IDs.
    fn sequence_of(&self, audit_id: &str) -> Option<u64> {
        let sequence = audit_id.strip_prefix(&format!("{:08x}-0000-4000-8000-", self.run_id))?;
        u64::from_str_radix(sequence, 16).ok()
    }

    /// The `EventList` of events `first..first + count` of the endless stream.
    fn render_batch(&self, first: u64, count: usize, out: &mut String) {
        out.clear();
        out.push_str(
            r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":["#,
        );
        let len = self.templates.len() as u64;
        for sequence in first..first + count as u64 {
            if sequence > first {
                out.push(',');
            }
            let pass = i64::try_from(sequence / len).unwrap_or(i64::MAX);
            self.templates[(sequence % len) as usize].render(
                &self.audit_id(sequence),
                pass.saturating_mul(self.pass_shift),
                out,
            );
        }
        out.push_str("]}");
    }
}

// ---------------------------------------------------------------------------------------------
// The server

struct Server {
    url: String,
    token: String,
    database: PathBuf,
    state: Arc<AppState>,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// Starts the stack as `kdr serve` does, with an admin user and an ingest token of theirs.
fn start_server() -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let location = dir.path().display().to_string();
    let mut store = Store::open(&location, StoreOptions::default())?;
    let database = store
        .sqlite_path()
        .context("the store is not SQLite")?
        .to_owned();
    store.create_user(
        "admin",
        &auth::hash_password(&auth::random_password())?,
        &auth::permission_keys(&[Permission::Admin]),
    )?;
    let issued = auth::IssuedToken::generate();
    store.create_token(&TokenRecord {
        id: issued.id.clone(),
        name: "webhook benchmark".into(),
        owner: "admin".into(),
        secret_hash: auth::sha256_hex(&issued.secret),
        permissions: auth::permission_keys(
            &auth::role_permissions("ingest").context("no ingest role")?,
        ),
        created_at: kdr_server::now(),
        last_used_at: None,
        revoked_at: None,
    })?;
    let writer = Store::open(&location, StoreOptions::default())?;
    let rules = Arc::new(
        kdr_rules::load(&[]).map_err(|e| anyhow::anyhow!("shipped rules: {} errors", e.len()))?,
    );
    let engine = Engine::new(Arc::clone(&rules), kdr_intel::IndicatorSet::shipped());
    let (ingest, _writer_thread) = Ingest::start(engine, writer);
    let state = AppState::new(
        store,
        ingest,
        rules,
        Arc::new(NoCluster),
        ServerOptions::default(),
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}/api/v1/audit/webhook", listener.local_addr()?);
    runtime.spawn(kdr_server::serve(
        listener,
        Arc::clone(&state),
        std::future::pending(),
    ));
    Ok(Server {
        url,
        token: issued.text(),
        database,
        state,
        _runtime: runtime,
        _dir: dir,
    })
}

// ---------------------------------------------------------------------------------------------
// The senders

struct Shared {
    pool: Pool,
    url: String,
    authorization: String,
    batch: usize,
    next_batch: AtomicU64,
    events_acknowledged: AtomicU64,
    stop: AtomicBool,
}

#[derive(Default)]
struct SenderReport {
    /// Latency of each accepted request, in microseconds.
    latencies_us: Vec<u64>,
    acknowledged: Vec<u64>,
    given_up: u64,
    refused_busy: u64,
    waited_for_retry: Duration,
    cpu_ns: u64,
}

fn send_batches(shared: &Shared) -> anyhow::Result<SenderReport> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut report = SenderReport::default();
    let mut body = String::new();
    while !shared.stop.load(Ordering::Relaxed) {
        let batch = shared.next_batch.fetch_add(1, Ordering::Relaxed);
        shared
            .pool
            .render_batch(batch * shared.batch as u64, shared.batch, &mut body);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let sent = Instant::now();
            let mut response = agent
                .post(&shared.url)
                .header("authorization", &shared.authorization)
                .header("content-type", "application/json")
                .send(body.as_bytes())
                .with_context(|| format!("sending batch {batch}"))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            let text = response.body_mut().read_to_string()?;
            let latency = sent.elapsed();
            match status {
                200 => {
                    let answer: serde_json::Value = serde_json::from_str(&text)?;
                    if answer["stored"].as_u64() != Some(shared.batch as u64) {
                        bail!("batch {batch}: {} events sent, answer {text}", shared.batch);
                    }
                    report
                        .latencies_us
                        .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
                    report.acknowledged.push(batch);
                    shared
                        .events_acknowledged
                        .fetch_add(shared.batch as u64, Ordering::Relaxed);
                    break;
                }
                503 if attempts <= MAX_RETRIES => {
                    report.refused_busy += 1;
                    let wait = Duration::from_secs(retry_after.unwrap_or(1));
                    report.waited_for_retry += wait;
                    std::thread::sleep(wait);
                }
                503 => {
                    report.refused_busy += 1;
                    report.given_up += 1;
                    break;
                }
                _ => bail!("batch {batch}: HTTP {status}: {text}"),
            }
        }
    }
    report.cpu_ns = thread_cpu_ns();
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// This thread's CPU time in nanoseconds (first field of /proc/thread-self/schedstat).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time of the whole process so far (threads that ended included), in seconds: utime and
/// stime of /proc/self/stat, in the kernel's fixed 100 ticks per second.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line; `fields` starts at field 3.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// VmRSS, RssAnon, RssFile and VmHWM of this process, in KiB.
#[derive(Clone, Copy, Default)]
struct Memory {
    rss: u64,
    anon: u64,
    file: u64,
    peak: u64,
}

fn memory() -> Memory {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
        peak: field("VmHWM:"),
    }
}

/// CPU seconds of the live threads, summed by thread name.
fn cpu_by_thread_name() -> BTreeMap<String, f64> {
    let mut totals = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return totals;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let cpu_ns: u64 = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        *totals.entry(name.trim().to_owned()).or_insert(0.0) += cpu_ns as f64 / 1e9;
    }
    totals
}

struct MemorySample {
    at: Duration,
    events: u64,
    memory: Memory,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

// ---------------------------------------------------------------------------------------------
// Checking the store

#[derive(Default)]
struct Verdict {
    rows: u64,
    missing: u64,
    duplicated: u64,
    stored_unacknowledged: u64,
    foreign: u64,
}

/// Reads every audit row's ReportId and compares with what the server acknowledged.
fn check_store(
    db: &rusqlite::Connection,
    pool: &Pool,
    batch: usize,
    batches_sent: u64,
    acknowledged: &[u64],
) -> anyhow::Result<Verdict> {
    let mut copies = vec![0u8; usize::try_from(batches_sent)? * batch];
    let mut verdict = Verdict::default();
    let mut statement = db.prepare(r#"SELECT "ReportId" FROM "CloudAuditEvents""#)?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        verdict.rows += 1;
        let id: Option<String> = row.get(0)?;
        match id
            .as_deref()
            .and_then(|id| pool.sequence_of(id))
            .and_then(|s| copies.get_mut(usize::try_from(s).ok()?))
        {
            Some(count) => *count = count.saturating_add(1),
            None => verdict.foreign += 1,
        }
    }
    let mut was_acknowledged = vec![false; copies.len() / batch];
    for &b in acknowledged {
        was_acknowledged[usize::try_from(b)?] = true;
    }
    for (index, count) in copies.iter().enumerate() {
        match (was_acknowledged[index / batch], count) {
            (true, 0) => verdict.missing += 1,
            (true, 1) | (false, 0) => {}
            (true, _) => verdict.duplicated += 1,
            (false, _) => verdict.stored_unacknowledged += 1,
        }
    }
    Ok(verdict)
}

// ---------------------------------------------------------------------------------------------

fn main() -> anyhow::Result<()> {
    let options = parse_options()?;
    let pool = Pool::load(&options.pool)?;
    println!(
        "event pool: {} events, {:.1} MiB, {:.0} bytes/event ({})",
        pool.templates.len(),
        pool.bytes as f64 / 1048576.0,
        pool.bytes as f64 / pool.templates.len() as f64,
        options.pool.display()
    );
    let server = start_server()?;
    let shared = Arc::new(Shared {
        pool,
        url: server.url.clone(),
        authorization: format!("Bearer {}", server.token),
        batch: options.batch,
        next_batch: AtomicU64::new(0),
        events_acknowledged: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    println!(
        "{} senders x {}-event batches, back to back for {} s, to {}",
        options.senders, options.batch, options.seconds, server.url
    );

    let samples = Arc::new(Mutex::new(Vec::<MemorySample>::new()));
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let sampler = {
        let (shared, samples) = (Arc::clone(&shared), Arc::clone(&samples));
        std::thread::spawn(move || {
            while !shared.stop.load(Ordering::Relaxed) {
                let sample = MemorySample {
                    at: started.elapsed(),
                    events: shared.events_acknowledged.load(Ordering::Relaxed),
                    memory: memory(),
                };
                samples.lock().unwrap().push(sample);
                std::thread::sleep(MEMORY_SAMPLE_EVERY);
            }
        })
    };
    let senders: Vec<_> = (0..options.senders)
        .map(|_| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || send_batches(&shared))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(options.seconds));
    shared.stop.store(true, Ordering::Relaxed);
    let mut reports = Vec::new();
    for sender in senders {
        reports.push(sender.join().expect("sender thread panicked")?);
    }
    let wall = started.elapsed();
    let cpu = process_cpu_seconds() - cpu_before;
    sampler.join().expect("sampler thread panicked");
    let memory_at_end = memory();
    let thread_cpu = cpu_by_thread_name();

    let mut latencies: Vec<u64> = reports
        .iter()
        .flat_map(|r| r.latencies_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    let acknowledged: Vec<u64> = reports
        .iter()
        .flat_map(|r| r.acknowledged.iter().copied())
        .collect();
    let given_up: u64 = reports.iter().map(|r| r.given_up).sum();
    let refused: u64 = reports.iter().map(|r| r.refused_busy).sum();
    let waited: Duration = reports.iter().map(|r| r.waited_for_retry).sum();
    let sender_cpu = reports.iter().map(|r| r.cpu_ns).sum::<u64>() as f64 / 1e9;
    let events = acknowledged.len() as u64 * options.batch as u64;
    let seconds = wall.as_secs_f64();

    println!();
    println!(
        "accepted: {events} events in {} batches over {seconds:.1} s wall: {:.0} events/s, {:.1} batches/s",
        acknowledged.len(),
        events as f64 / seconds,
        acknowledged.len() as f64 / seconds
    );
    println!(
        "latency of accepted requests (ms): p50 {:.1}, p95 {:.1}, p99 {:.1}, max {:.1}",
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 100.0)
    );
    println!(
        "503 busy answers: {refused} (senders waited {:.1} s for Retry-After); batches given up after {MAX_RETRIES} retries: {given_up}",
        waited.as_secs_f64()
    );
    let stats = &server.state.ingest.stats;
    let transactions = stats.transactions.load(Ordering::Relaxed);
    println!(
        "ingest pipeline: {} batches in {transactions} transactions ({:.1} batches/transaction), {} alerts raised",
        stats.batches_stored.load(Ordering::Relaxed),
        stats.batches_stored.load(Ordering::Relaxed) as f64 / transactions.max(1) as f64,
        stats.alerts_raised.load(Ordering::Relaxed)
    );

    println!();
    println!("over the run (events/s since the row before; memory in KiB):");
    println!(
        "  {:>6} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "s", "events", "events/s", "VmRSS", "RssAnon", "RssFile"
    );
    let samples = samples.lock().unwrap();
    let rows = 7;
    let mut before: Option<&MemorySample> = None;
    for i in 0..rows {
        let index = (samples.len().saturating_sub(1) * i) / (rows - 1);
        if let Some(s) = samples.get(index) {
            let rate = before.map_or(0.0, |b| {
                (s.events - b.events) as f64 / (s.at - b.at).as_secs_f64().max(1e-3)
            });
            println!(
                "  {:>6.1} {:>10} {:>9.0} {:>9} {:>9} {:>9}",
                s.at.as_secs_f64(),
                s.events,
                rate,
                s.memory.rss,
                s.memory.anon,
                s.memory.file
            );
            before = Some(s);
        }
    }
    let largest = samples.iter().map(|s| s.memory.rss).max().unwrap_or(0);
    println!(
        "  largest VmRSS sampled {largest} KiB; peak (VmHWM) {} KiB; the pool and senders' buffers are ~{} KiB of it",
        memory_at_end.peak,
        shared.pool.bytes / 1024
    );

    println!();
    println!(
        "CPU: {cpu:.1} s for the process ({:.0}% of one core), of which senders {sender_cpu:.1} s; server {:.1} µs/event",
        100.0 * cpu / seconds,
        (cpu - sender_cpu) * 1e6 / events.max(1) as f64
    );
    let busiest: Vec<String> = thread_cpu
        .iter()
        .filter(|(_, s)| **s >= 0.05)
        .map(|(name, s)| format!("{name} {s:.1} s"))
        .collect();
    println!("  live threads by name: {}", busiest.join(", "));

    let db = rusqlite::Connection::open_with_flags(
        &server.database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    // Each alert that joins an incident makes the store rebuild that incident's summary.
    let (incidents, largest_incident): (u64, u64) = db.query_row(
        "SELECT COUNT(*), COALESCE(MAX(alert_count), 0) FROM incidents",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let mut by_type = db.prepare(
        "SELECT alert_type, COUNT(*) FROM alerts GROUP BY alert_type ORDER BY 2 DESC, 1",
    )?;
    let alert_types: Vec<String> = by_type
        .query_map([], |row| {
            Ok(format!(
                "{} {}",
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?
            ))
        })?
        .collect::<Result<_, _>>()?;
    if alert_types.is_empty() {
        println!("alerts stored: none");
    } else {
        println!("alerts stored by type: {}", alert_types.join(", "));
    }
    println!("incidents: {incidents}, the largest with {largest_incident} alerts");
    let verdict = check_store(
        &db,
        &shared.pool,
        options.batch,
        shared.next_batch.load(Ordering::Relaxed),
        &acknowledged,
    )?;
    println!();
    println!(
        "store check: {} rows in CloudAuditEvents, {events} events acknowledged; missing {}, stored twice or more {}, stored but not acknowledged {}, not ours {}",
        verdict.rows, verdict.missing, verdict.duplicated, verdict.stored_unacknowledged, verdict.foreign
    );
    if verdict.rows != events
        || verdict.missing + verdict.duplicated + verdict.stored_unacknowledged + verdict.foreign
            > 0
    {
        bail!("the store does not hold exactly the acknowledged events");
    }
    println!("nothing lost: every acknowledged auditID is stored exactly once");
    Ok(())
}
