//! From the ring buffer to the consumer of events.
//!
//! The reader thread only copies raw records out of the ring buffer, in batches, so it keeps
//! the ring drained at a few hundred nanoseconds per record. Decoding and conversion into
//! events (process table, attribution) run in the thread that receives the events: every
//! allocation an event needs is then made and freed by one thread, which allocators serve from
//! their per-thread caches (memory handed from one thread to another for freeing defeats
//! them), and the consumer is woken once per batch instead of once per event.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvError, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aya::maps::{MapData, RingBuf};

use crate::event_json::SensorEvent;
use crate::pipeline::Pipeline;
use crate::wire;

/// Per-kind counters, indexed by the record's kind number (unknown kinds count at 7).
#[derive(Default)]
pub(crate) struct Counters {
    pub received: [AtomicU64; 8],
    pub delivered: [AtomicU64; 8],
    pub queue_drops: [AtomicU64; 8],
    pub bad: [AtomicU64; 8],
}

/// What the reader and the consumer share: the counters and the bytes queued between them.
pub(crate) struct Shared {
    pub counters: Counters,
    queued_bytes: AtomicUsize,
    queue_bytes: usize,
}

impl Shared {
    pub fn new(queue_bytes: usize) -> Self {
        Shared {
            counters: Counters::default(),
            queued_bytes: AtomicUsize::new(0),
            queue_bytes,
        }
    }
}

/// Raw records back to back, each preceded by its length (u32, native order).
#[derive(Default)]
pub(crate) struct Batch {
    bytes: Vec<u8>,
}

/// A batch is handed over once this big, or when the ring buffer is empty.
const BATCH_BYTES: usize = 64 << 10;

impl Batch {
    fn push(&mut self, record: &[u8]) {
        self.bytes
            .extend_from_slice(&(record.len() as u32).to_ne_bytes());
        self.bytes.extend_from_slice(record);
    }

    /// The record at `*pos`, advancing `*pos` past it.
    fn next(&self, pos: &mut usize) -> Option<&[u8]> {
        let len_bytes = self.bytes.get(*pos..*pos + 4)?;
        let len = u32::from_ne_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let start = *pos + 4;
        let record = self.bytes.get(start..start + len as usize)?;
        *pos = start + len as usize;
        Some(record)
    }
}

fn kind_index(record: &[u8]) -> usize {
    record
        .get(0..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .unwrap_or(0)
        .min(7)
}

/// Tells the reader to finish: a flag, and an eventfd that wakes it at once.
pub(crate) struct StopSignal {
    raised: AtomicBool,
    fd: OwnedFd,
}

impl StopSignal {
    pub fn new() -> std::io::Result<Self> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new fd we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(StopSignal {
            raised: AtomicBool::new(false),
            // SAFETY: fd was just created and is owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Raised for good: the eventfd stays readable, so every later wait returns at once.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a valid buffer to our eventfd.
        unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }
}

/// Waits until one of `fds` is readable or `timeout_ms` passed (-1: no limit).
fn wait_readable(fds: &[RawFd], timeout_ms: i32) {
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: libc::POLLIN,
        revents: 0,
    }; 2];
    for (p, fd) in pfds.iter_mut().zip(fds) {
        p.fd = *fd;
    }
    let n = fds.len().min(pfds.len());
    // SAFETY: pfds holds n valid pollfd entries during the call.
    unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
}

/// After a read, records gather this long before the next one: under load the reader (and
/// the consumer after it) wakes at most this often, instead of once per record. It is the
/// latency bound of events in a busy period; an event after a quiet one is read at once.
const GATHER_MS: i32 = 50;
/// A read this big means a heavy load: read again at once rather than let it pile up.
const BACKLOG_BYTES: usize = 256 << 10;

/// The reader thread: drains the ring buffer into batches until `stop`, then drains it once
/// more and ends (which disconnects the consumer once it has taken every batch).
pub(crate) fn read_loop(
    mut ring: RingBuf<MapData>,
    tx: Sender<Batch>,
    shared: Arc<Shared>,
    stop: Arc<StopSignal>,
) {
    let ring_fd = ring.as_raw_fd();
    let stop_fd = stop.fd.as_raw_fd();
    loop {
        // The kernel wakes us when a record comes while we are idle (we had read everything
        // before it), or when a big backlog waits.
        wait_readable(&[ring_fd, stop_fd], -1);
        let stopping = stop.is_raised();
        let read = drain(&mut ring, &tx, &shared);
        if stopping {
            return;
        }
        if read < BACKLOG_BYTES {
            wait_readable(&[stop_fd], GATHER_MS);
        }
    }
}

/// Moves every record in the ring buffer into batches for the consumer; returns the bytes
/// read.
fn drain(ring: &mut RingBuf<MapData>, tx: &Sender<Batch>, shared: &Shared) -> usize {
    let counters = &shared.counters;
    let mut batch = Batch::default();
    let mut queued = shared.queued_bytes.load(Ordering::Relaxed);
    let mut read = 0;
    while let Some(item) = ring.next() {
        let kind = kind_index(&item);
        counters.received[kind].fetch_add(1, Ordering::Relaxed);
        read += item.len();
        if queued + batch.bytes.len() + item.len() + 4 > shared.queue_bytes {
            counters.queue_drops[kind].fetch_add(1, Ordering::Relaxed);
            continue;
        }
        batch.push(&item);
        drop(item);
        if batch.bytes.len() >= BATCH_BYTES {
            queued = hand_over(tx, shared, std::mem::take(&mut batch));
        }
    }
    if !batch.bytes.is_empty() {
        hand_over(tx, shared, batch);
    }
    read
}

/// Queues a batch; returns the bytes now queued. A consumer that is gone still has its
/// records counted: as queue drops.
fn hand_over(tx: &Sender<Batch>, shared: &Shared, batch: Batch) -> usize {
    let len = batch.bytes.len();
    let queued = shared.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
    if let Err(lost) = tx.send(batch) {
        shared.queued_bytes.fetch_sub(len, Ordering::Relaxed);
        let mut pos = 0;
        while let Some(record) = lost.0.next(&mut pos) {
            shared.counters.queue_drops[kind_index(record)].fetch_add(1, Ordering::Relaxed);
        }
        return queued - len;
    }
    queued
}

/// The sensor's events, decoded and attributed in the thread that receives them. Like a
/// channel's receiver: `recv` fails once the sensor has stopped and everything it read has
/// been received.
pub struct Events {
    inner: RefCell<Consumer>,
}

struct Consumer {
    rx: Receiver<Batch>,
    batch: Batch,
    pos: usize,
    /// Events converted ahead of their receipt (by `convert_all`).
    ready: VecDeque<SensorEvent>,
    pipeline: Pipeline,
    shared: Arc<Shared>,
}

impl Events {
    pub(crate) fn new(rx: Receiver<Batch>, pipeline: Pipeline, shared: Arc<Shared>) -> Self {
        Events {
            inner: RefCell::new(Consumer {
                rx,
                batch: Batch::default(),
                pos: 0,
                ready: VecDeque::new(),
                pipeline,
                shared,
            }),
        }
    }

    /// The next event, waiting as long as it takes.
    pub fn recv(&self) -> Result<SensorEvent, RecvError> {
        self.inner.borrow_mut().next(None).map_err(|_| RecvError)
    }

    /// The next event, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<SensorEvent, RecvTimeoutError> {
        self.inner.borrow_mut().next(Some(timeout))
    }

    /// Converts everything queued, once the reader has ended, so that the counters are final;
    /// the events stay receivable.
    pub(crate) fn convert_all(&self) {
        let mut c = self.inner.borrow_mut();
        while let Ok(event) = c.convert_next(Some(Duration::ZERO)) {
            c.ready.push_back(event);
        }
    }
}

impl Consumer {
    /// The next event, waiting at most `timeout` (`None`: as long as it takes).
    fn next(&mut self, timeout: Option<Duration>) -> Result<SensorEvent, RecvTimeoutError> {
        match self.ready.pop_front() {
            Some(event) => Ok(event),
            None => self.convert_next(timeout),
        }
    }

    /// The next event from the queued records, waiting at most `timeout` for more.
    fn convert_next(&mut self, timeout: Option<Duration>) -> Result<SensorEvent, RecvTimeoutError> {
        // The clock is read only when it comes to waiting, not once per event.
        let mut deadline = None;
        loop {
            if let Some(event) = self.convert_queued() {
                return Ok(event);
            }
            let batch = match timeout {
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected)?,
                Some(t) => {
                    let d = *deadline.get_or_insert_with(|| Instant::now() + t);
                    self.rx
                        .recv_timeout(d.saturating_duration_since(Instant::now()))?
                }
            };
            self.shared
                .queued_bytes
                .fetch_sub(batch.bytes.len(), Ordering::Relaxed);
            self.batch = batch;
            self.pos = 0;
        }
    }

    /// The next event from the batch at hand; records that only maintain state (forks) or
    /// fail to decode are consumed on the way.
    fn convert_queued(&mut self) -> Option<SensorEvent> {
        let counters = &self.shared.counters;
        while let Some(record) = self.batch.next(&mut self.pos) {
            let kind = kind_index(record);
            let rec = match wire::parse(record) {
                Ok(r) => r,
                Err(e) => {
                    counters.bad[kind].fetch_add(1, Ordering::Relaxed);
                    log::debug!("{e}");
                    continue;
                }
            };
            if let Some(event) = self.pipeline.convert(rec) {
                counters.delivered[kind].fetch_add(1, Ordering::Relaxed);
                return Some(event);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_frame_records() {
        let mut b = Batch::default();
        b.push(b"\x01\0\0\0abc");
        b.push(b"");
        b.push(b"\x05\0\0\0");
        let mut pos = 0;
        assert_eq!(b.next(&mut pos), Some(&b"\x01\0\0\0abc"[..]));
        assert_eq!(b.next(&mut pos), Some(&b""[..]));
        let last = b.next(&mut pos).unwrap();
        assert_eq!(kind_index(last), 5);
        assert_eq!(b.next(&mut pos), None);
        assert_eq!(kind_index(b"\x63\0\0\0"), 7);
        assert_eq!(kind_index(b""), 0);
    }
}
