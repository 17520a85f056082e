//! The ingest pipeline: one thread owns the detection engine and the store's writer. Webhook
//! and sensor batches queue up for it (bounded); it takes every waiting batch at once, runs
//! detection over their events, stores events and alerts in one transaction (group commit),
//! and only then answers each sender. An answered batch is durable; a full queue makes
//! senders wait, then refuses them with "retry later", never dropping silently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use kdr_engine::{AlertEvent, Engine};
use kdr_model::Event;
use kdr_store::Store;

/// Batches waiting for the writer. With webhook batches of ~400 events this holds a few
/// seconds of a busy API server's audit traffic.
pub const QUEUE_BATCHES: usize = 256;
/// Events one transaction takes at most when batches are waiting.
const GROUP_EVENTS: usize = 20_000;

/// What happened to a batch: stored, or why not.
pub type Ack = Result<(), String>;

struct Job {
    events: Vec<Event>,
    reply: Option<oneshot::Sender<Ack>>,
}

/// Counters of the pipeline, for `/api/v1/stats` and the console.
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestStats {
    pub batches_stored: AtomicU64,
    pub events_stored: AtomicU64,
    pub alerts_raised: AtomicU64,
    pub transactions: AtomicU64,
    /// Batches refused because the queue stayed full (the sender was told to retry).
    pub batches_refused_busy: AtomicU64,
    /// Requests whose body was not valid input (the sender was told where and why).
    pub batches_rejected_invalid: AtomicU64,
    /// Batches the store failed to write (the sender was told; nothing was acknowledged).
    pub batches_failed: AtomicU64,
    /// Events from the in-process sensor lost because the store failed (counted, logged).
    pub sensor_events_lost: AtomicU64,
}

impl IngestStats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub struct Ingest {
    sender: mpsc::Sender<Job>,
    pub stats: Arc<IngestStats>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("kdr is busy storing earlier batches; retry later")]
    Busy,
    #[error("the ingest pipeline has stopped")]
    Stopped,
    #[error("storing the batch failed: {0}")]
    Store(String),
}

impl Ingest {
    /// Starts the writer thread. It ends when every [`Ingest`] handle is dropped, after
    /// flushing the engine's open alerts.
    pub fn start(mut engine: Engine, mut store: Store) -> (Ingest, std::thread::JoinHandle<()>) {
        let (sender, mut receiver) = mpsc::channel::<Job>(QUEUE_BATCHES);
        let stats = Arc::new(IngestStats::default());
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("kdr-ingest".into())
            .spawn(move || {
                let mut alert_events = Vec::new();
                while let Some(first) = receiver.blocking_recv() {
                    let mut jobs = vec![first];
                    let mut waiting = jobs[0].events.len();
                    while waiting < GROUP_EVENTS {
                        match receiver.try_recv() {
                            Ok(job) => {
                                waiting += job.events.len();
                                jobs.push(job);
                            }
                            Err(_) => break,
                        }
                    }
                    store_jobs(
                        &mut engine,
                        &mut store,
                        jobs,
                        &mut alert_events,
                        &thread_stats,
                    );
                }
                engine.flush(&mut alert_events);
                if !alert_events.is_empty() {
                    if let Err(error) = store.ingest(&[], &alert_events) {
                        eprintln!("kdr serve: storing the last open alerts failed: {error}");
                    }
                }
            })
            .expect("spawning the ingest thread");
        (Ingest { sender, stats }, thread)
    }

    /// Queues a batch and waits until it is stored. Waits up to `patience` for room in the
    /// queue, then gives up with [`IngestError::Busy`].
    pub async fn store(&self, events: Vec<Event>, patience: Duration) -> Result<(), IngestError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            events,
            reply: Some(reply),
        };
        match tokio::time::timeout(patience, self.sender.send(job)).await {
            Err(_) => {
                IngestStats::add(&self.stats.batches_refused_busy, 1);
                return Err(IngestError::Busy);
            }
            Ok(Err(_)) => return Err(IngestError::Stopped),
            Ok(Ok(())) => {}
        }
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(IngestError::Store(message)),
            Err(_) => Err(IngestError::Stopped),
        }
    }

    /// Queues events without waiting for them to be stored (the in-process sensor, which has
    /// no one to answer). Blocks the calling (non-async) thread while the queue is full.
    pub fn feed_blocking(&self, events: Vec<Event>) -> Result<(), IngestError> {
        self.sender
            .blocking_send(Job {
                events,
                reply: None,
            })
            .map_err(|_| IngestError::Stopped)
    }

    pub fn note_invalid(&self) {
        IngestStats::add(&self.stats.batches_rejected_invalid, 1);
    }
}

fn store_jobs(
    engine: &mut Engine,
    store: &mut Store,
    jobs: Vec<Job>,
    alert_events: &mut Vec<AlertEvent>,
    stats: &IngestStats,
) {
    alert_events.clear();
    let mut events = Vec::with_capacity(jobs.iter().map(|j| j.events.len()).sum());
    let mut replies = Vec::with_capacity(jobs.len());
    let batches = jobs.len() as u64;
    let mut unanswered_events = 0u64;
    for job in jobs {
        if job.reply.is_none() {
            unanswered_events += job.events.len() as u64;
        }
        for event in &job.events {
            engine.process(event, alert_events);
        }
        events.extend(job.events);
        replies.push(job.reply);
    }
    let result = store.ingest(&events, alert_events);
    IngestStats::add(&stats.transactions, 1);
    let ack = match result {
        Ok(report) => {
            IngestStats::add(&stats.batches_stored, batches);
            IngestStats::add(&stats.events_stored, events.len() as u64);
            IngestStats::add(&stats.alerts_raised, report.alerts_inserted);
            Ok(())
        }
        Err(error) => {
            IngestStats::add(&stats.batches_failed, batches);
            if unanswered_events > 0 {
                IngestStats::add(&stats.sensor_events_lost, unanswered_events);
                eprintln!("kdr serve: storing sensor events failed, they are lost: {error}");
            }
            Err(error.to_string())
        }
    };
    for reply in replies.into_iter().flatten() {
        // A sender that went away (client disconnected) needs no answer.
        let _ = reply.send(ack.clone());
    }
}
