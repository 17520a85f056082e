//! kdr's node sensor: eBPF capture of process, file, network and namespace activity, tied to
//! containers and pods, delivered as [`SensorEvent`]s: [`kdr_model::Event`]s (`into_event`)
//! that write their JSON lines fast (`write_json`).
//!
//! ```no_run
//! use std::io::Write;
//!
//! let sensor = kdr_sensor::Sensor::start(kdr_sensor::SensorConfig::default())?;
//! let events = sensor.take_events().expect("first take");
//! let mut out = std::io::stdout().lock();
//! while let Ok(event) = events.recv() {
//!     event.write_json(&mut out)?;
//!     out.write_all(b"\n")?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The kernel side (`bpf/sensor.bpf.c`) uses tracepoints and raw tracepoints only. Its object
//! is committed; `scripts/build-bpf` rebuilds it and `scripts/check-bpf` verifies it.

pub mod cgroup;
pub mod delivery;
pub mod event_json;
pub mod meta;
pub mod pipeline;
pub mod proctable;
pub mod wire;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::raw_trace_point::RawTracePointLinkId;
use aya::programs::trace_point::TracePointLinkId;
use aya::programs::Program;
use aya::{Ebpf, EbpfLoader};
use serde::Serialize;

pub use crate::delivery::Events;
use crate::delivery::{Shared, StopSignal};
pub use crate::event_json::SensorEvent;
use crate::wire::Kind;

static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/sensor.bpf.o");

/// Which file operations a watch rule selects (bit set, as the kernel side numbers them).
pub mod ops {
    pub const READ: u32 = crate::wire::F_READ;
    pub const WRITE: u32 = crate::wire::F_WRITE;
    pub const CREATE: u32 = crate::wire::F_CREATE;
    pub const TRUNC: u32 = crate::wire::F_TRUNC;
    pub const UNLINK: u32 = crate::wire::F_UNLINK;
    pub const RENAME: u32 = crate::wire::F_RENAME;
    pub const UTIMES: u32 = crate::wire::F_UTIMES;
    pub const CHMOD: u32 = crate::wire::F_CHMOD;
    /// Anything that changes the file or its metadata.
    pub const MODIFY: u32 = WRITE | CREATE | TRUNC | UNLINK | RENAME | UTIMES | CHMOD;
    pub const ALL: u32 = READ | MODIFY;
}

/// A watched path: file events on matching paths are reported when their op is in `ops`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Watch {
    /// A path prefix (`/etc/kubernetes/`), or with `suffix`, a path ending (`/.bash_history`).
    /// Matched on the first (or last) 128 bytes of the absolute path.
    pub pattern: String,
    pub suffix: bool,
    pub ops: u32,
}

impl Watch {
    pub fn prefix(pattern: &str, ops: u32) -> Self {
        Watch {
            pattern: pattern.into(),
            suffix: false,
            ops,
        }
    }
    pub fn suffix(pattern: &str, ops: u32) -> Self {
        Watch {
            pattern: pattern.into(),
            suffix: true,
            ops,
        }
    }
}

/// The paths the detections need: credentials, node and cluster secrets, loader and log
/// tampering, kernel tuning.
pub fn default_watches() -> Vec<Watch> {
    use ops::*;
    let mut v = vec![
        Watch::prefix("/etc/shadow", ALL),
        Watch::prefix("/etc/gshadow", ALL),
        Watch::prefix("/etc/passwd", MODIFY),
        Watch::prefix("/etc/sudoers", MODIFY),
        Watch::prefix("/etc/ld.so.preload", ALL),
        Watch::prefix("/etc/kubernetes/", ALL),
        Watch::prefix("/var/lib/kubelet/kubeconfig", ALL),
        Watch::prefix("/var/lib/kubelet/pki/", ALL),
        Watch::prefix("/var/run/secrets/kubernetes.io/", ALL),
        Watch::prefix("/run/secrets/kubernetes.io/", ALL),
        Watch::prefix("/var/run/secrets/eks.amazonaws.com/", ALL),
        Watch::prefix("/var/run/secrets/azure/", ALL),
        Watch::prefix("/var/log/", TRUNC | UNLINK | RENAME | UTIMES | CHMOD),
        Watch::prefix("/proc/sys/vm/", WRITE),
        Watch::prefix("/proc/sys/kernel/", WRITE),
        Watch::prefix("/etc/cron", MODIFY),
        Watch::prefix("/var/spool/cron/", MODIFY),
        Watch::prefix("/etc/systemd/system/", MODIFY),
        Watch::prefix("/root/.ssh/", ALL),
        Watch::prefix("/etc/ssh/", MODIFY),
        // Other pods' service account tokens, read through the kubelet's directories.
        Watch::prefix("/var/lib/kubelet/pods/", READ),
        // Miner tuning: model-specific registers.
        Watch::prefix("/dev/cpu/", WRITE),
        Watch::prefix("/etc/rc.local", MODIFY),
        Watch::prefix("/etc/init.d/", MODIFY),
        Watch::prefix("/etc/profile", MODIFY),
    ];
    for s in [
        "/.bash_history",
        "/.zsh_history",
        "/.ash_history",
        "/.sh_history",
        "/.python_history",
        "/.mysql_history",
        "/.psql_history",
    ] {
        v.push(Watch::suffix(s, ALL));
    }
    // CPU frequency governor (miners switch it to performance).
    v.push(Watch::suffix("/cpufreq/scaling_governor", WRITE));
    for s in [
        "/.ssh/authorized_keys",
        "/.ssh/authorized_keys2",
        "/.ssh/id_rsa",
        "/.ssh/id_ed25519",
        "/.aws/credentials",
        "/.aws/config",
        "/.azure/accessTokens.json",
        "/.azure/msal_token_cache.json",
        "/.config/gcloud/credentials.db",
        "/.config/gcloud/access_tokens.db",
        "/.config/gcloud/application_default_credentials.json",
        "/.kube/config",
        "/.docker/config.json",
        "/.git-credentials",
    ] {
        v.push(Watch::suffix(s, ALL));
    }
    v
}

#[derive(Clone, Debug)]
pub struct SensorConfig {
    /// Node name in every event; the host name when `None`.
    pub node_name: Option<String>,
    pub watches: Vec<Watch>,
    /// Report, inside containers, files created for writing and exec bits being set (drift).
    pub drift: bool,
    /// Forward fork records as events (they always feed the process table).
    pub emit_fork: bool,
    /// Ring buffer size in bytes (a power of two, a multiple of the page size). It is mapped
    /// into the sensor, so it counts in its resident memory.
    pub ring_bytes: u32,
    /// Bound of the queue between the ring buffer reader and the consumer, in bytes of raw
    /// records (a few hundred bytes each, at most 8 KiB); past it records are dropped and
    /// counted.
    pub queue_bytes: usize,
    pub max_ancestors: usize,
    /// Where the host's filesystem is (runtime state, bundles): `/` on a node.
    pub host_root: PathBuf,
    /// The host's mount namespace inode (processes elsewhere count as in a container for the
    /// drift rules); found from /proc when `None`.
    pub host_mntns: Option<u64>,
}

impl Default for SensorConfig {
    fn default() -> Self {
        SensorConfig {
            node_name: None,
            watches: default_watches(),
            drift: true,
            emit_fork: false,
            ring_bytes: 4 << 20,
            queue_bytes: 8 << 20,
            max_ancestors: 8,
            host_root: PathBuf::from("/"),
            host_mntns: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    #[error(
        "the sensor needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN); running as uid {0}"
    )]
    NotPermitted(u32),
    #[error("the kernel has no BTF (/sys/kernel/btf/vmlinux is missing): CO-RE programs cannot be loaded; a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed")]
    NoBtf,
    #[error("tracefs is not mounted and could not be mounted at /sys/kernel/tracing: {0}")]
    NoTracefs(String),
    #[error("loading the BPF object failed: {0}")]
    Load(String),
    #[error("attaching {program} failed: {reason}")]
    Attach { program: String, reason: String },
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Per-kind counters. `received`: records read from the ring buffer; `delivered`: events
/// handed to the consumer; `kernel_drops`: records the kernel could not write to the ring
/// buffer (or stage between a syscall's entry and exit); `queue_drops`: records dropped
/// because the consumer did not keep up (`queue_bytes`); `bad_records`: records that failed
/// to decode.
#[derive(Clone, Debug, Default, Serialize)]
pub struct KindStats {
    pub kind: &'static str,
    pub received: u64,
    pub delivered: u64,
    pub kernel_drops: u64,
    pub queue_drops: u64,
    pub bad_records: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub kinds: Vec<KindStats>,
    /// Programs loaded (so verified) but not attached because this kernel lacks their
    /// tracepoint (e.g. openat2 on old kernels, init_module without module support).
    pub unattached: Vec<String>,
    pub attached: usize,
}

impl Stats {
    pub fn total_drops(&self) -> u64 {
        self.kinds
            .iter()
            .map(|k| k.kernel_drops + k.queue_drops)
            .sum()
    }
    pub fn total_delivered(&self) -> u64 {
        self.kinds.iter().map(|k| k.delivered).sum()
    }
}

/// An attached program's link, by program name, so that `stop` can take them all out and
/// detach them together.
enum LinkId {
    TracePoint(String, TracePointLinkId),
    Raw(String, RawTracePointLinkId),
}

/// Detaches every link together. Closing a tracepoint's perf event waits for RCU grace periods
/// (tens of ms each); the kernel serializes one of them under its trace event mutex, but the
/// rest overlap when the closes run concurrently: about half the time of one after the other.
fn detach_all(bpf: &mut Ebpf, ids: Vec<LinkId>) {
    // Owned links detach when dropped.
    let links: Vec<Box<dyn Send>> = ids
        .into_iter()
        .filter_map(|id| match id {
            LinkId::TracePoint(name, id) => match bpf.program_mut(&name) {
                Some(Program::TracePoint(p)) => {
                    p.take_link(id).ok().map(|l| Box::new(l) as Box<dyn Send>)
                }
                _ => None,
            },
            LinkId::Raw(name, id) => match bpf.program_mut(&name) {
                Some(Program::RawTracePoint(p)) => {
                    p.take_link(id).ok().map(|l| Box::new(l) as Box<dyn Send>)
                }
                _ => None,
            },
        })
        .collect();
    std::thread::scope(|scope| {
        for link in links {
            let spawned = std::thread::Builder::new()
                .name("kdr-sensor-detach".into())
                .stack_size(64 << 10)
                .spawn_scoped(scope, move || drop(link));
            // Without a thread the link is dropped (detached) right here, just not in parallel.
            if let Err(e) = spawned {
                log::debug!("detaching in this thread: {e}");
            }
        }
    });
}

pub struct Sensor {
    bpf: Mutex<Option<Ebpf>>,
    links: Mutex<Vec<LinkId>>,
    drops: Mutex<Option<PerCpuArray<MapData, u64>>>,
    final_kernel_drops: Mutex<[u64; 8]>,
    shared: Arc<Shared>,
    stop: Arc<StopSignal>,
    reader: Option<JoinHandle<()>>,
    events: Mutex<Option<Events>>,
    unattached: Vec<String>,
    attached: usize,
}

/// An error with its causes, as aya nests the interesting part.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn check_access() -> Result<(), SensorError> {
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err(SensorError::NoBtf);
    }
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        // CapEff bits: 21 SYS_ADMIN, 38 PERFMON, 39 BPF.
        let caps = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapEff:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(0);
        let need = (1u64 << 21) | (1 << 38) | (1 << 39);
        if caps & need != need {
            return Err(SensorError::NotPermitted(euid));
        }
    }
    Ok(())
}

fn ensure_tracefs() -> Result<(), SensorError> {
    if Path::new("/sys/kernel/tracing/events").exists()
        || Path::new("/sys/kernel/debug/tracing/events").exists()
    {
        return Ok(());
    }
    let r = std::process::Command::new("mount")
        .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
        .status();
    match r {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(SensorError::NoTracefs(format!("mount exited with {s}"))),
        Err(e) => Err(SensorError::NoTracefs(e.to_string())),
    }
}

/// The host's mount namespace: init's, or (where init's cannot be read, e.g. a protected
/// pid 1) the sensor's own, since the sensor runs in the host's.
fn host_mntns() -> u64 {
    use std::os::unix::fs::MetadataExt;
    ["/proc/1/ns/mnt", "/proc/self/ns/mnt"]
        .iter()
        .find_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.ino())
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The tracepoint a program attaches to, from its function name: `enter_X`/`exit_X` are
/// syscalls/sys_enter_X and sys_exit_X, `sched_*` the sched events.
fn tracepoint_of(name: &str) -> Option<(&'static str, String)> {
    if let Some(s) = name.strip_prefix("enter_") {
        return Some(("syscalls", format!("sys_enter_{s}")));
    }
    if let Some(s) = name.strip_prefix("exit_") {
        return Some(("syscalls", format!("sys_exit_{s}")));
    }
    if name.starts_with("sched_") {
        return Some(("sched", name.to_string()));
    }
    None
}

/// Whether this kernel has the tracepoint (syscalls differ by kernel version, architecture
/// and configuration: no openat2 before 5.6, no init_module without module support).
fn tracepoint_exists(cat: &str, ev: &str) -> bool {
    [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ]
    .iter()
    .any(|base| Path::new(base).join(cat).join(ev).exists())
}

fn load_watches(bpf: &mut Ebpf, watches: &[Watch]) -> Result<(), SensorError> {
    for (map_name, want_suffix) in [("watch_prefix", false), ("watch_suffix", true)] {
        let map = bpf
            .map_mut(map_name)
            .ok_or_else(|| SensorError::Load(format!("map {map_name} missing")))?;
        let mut trie: LpmTrie<&mut MapData, [u8; 128], u32> =
            LpmTrie::try_from(map).map_err(|e| SensorError::Load(e.to_string()))?;
        for w in watches.iter().filter(|w| w.suffix == want_suffix) {
            let b = w.pattern.as_bytes();
            if b.is_empty() || b.len() > 128 {
                return Err(SensorError::Config(format!(
                    "watch pattern {:?} must be 1 to 128 bytes",
                    w.pattern
                )));
            }
            let mut data = [0u8; 128];
            if w.suffix {
                for (d, s) in data.iter_mut().zip(b.iter().rev()) {
                    *d = *s;
                }
            } else {
                data[..b.len()].copy_from_slice(b);
            }
            let key = Key::new((b.len() * 8) as u32, data);
            // Two rules on one pattern: the union of their ops.
            let prev = trie.get(&key, 0).unwrap_or(0);
            trie.insert(&key, prev | w.ops, 0)
                .map_err(|e| SensorError::Load(format!("watch {:?}: {e}", w.pattern)))?;
        }
    }
    Ok(())
}

impl Sensor {
    /// Loads and attaches every program and starts the reader. Returns once capture is live.
    pub fn start(config: SensorConfig) -> Result<Sensor, SensorError> {
        check_access()?;
        ensure_tracefs()?;
        if !config.ring_bytes.is_power_of_two() || config.ring_bytes < 4096 {
            return Err(SensorError::Config(format!(
                "ring_bytes {} must be a power of two of at least 4096",
                config.ring_bytes
            )));
        }
        let tgid = std::process::id();
        let mntns = config.host_mntns.unwrap_or_else(host_mntns);
        let drift: u32 = config.drift.into();
        let mut bpf = EbpfLoader::new()
            .override_global("sensor_tgid", &tgid, true)
            .override_global("host_mntns", &mntns, true)
            .override_global("drift", &drift, true)
            .map_max_entries("events", config.ring_bytes)
            // The kernel side's task storage map has no userspace wrapper in aya; userspace
            // never touches it.
            .allow_unsupported_maps()
            .load(OBJECT)
            .map_err(|e| SensorError::Load(chain(&e)))?;
        load_watches(&mut bpf, &config.watches)?;

        let mut unattached = Vec::new();
        let mut links = Vec::new();
        let names: Vec<String> = bpf.programs().map(|(n, _)| n.to_string()).collect();
        for name in names {
            let Some(prog) = bpf.program_mut(&name) else {
                continue;
            };
            let r = match prog {
                Program::TracePoint(tp) => {
                    let (cat, ev) = tracepoint_of(&name).ok_or_else(|| SensorError::Attach {
                        program: name.clone(),
                        reason: "no tracepoint for this program name".into(),
                    })?;
                    // Loaded (verified) even where this kernel lacks the tracepoint: the
                    // object is the same everywhere, and a program the verifier refuses is a
                    // bug to see, not to hide.
                    tp.load().and_then(|_| {
                        if !tracepoint_exists(cat, &ev) {
                            return Ok(None);
                        }
                        tp.attach(cat, &ev)
                            .map(|id| Some(LinkId::TracePoint(name.clone(), id)))
                    })
                }
                Program::RawTracePoint(rt) => {
                    let tp = name.strip_prefix("raw_").unwrap_or(&name).to_string();
                    rt.load()
                        .and_then(|_| rt.attach(&tp))
                        .map(|id| Some(LinkId::Raw(name.clone(), id)))
                }
                _ => continue,
            };
            match r {
                Ok(Some(id)) => links.push(id),
                Ok(None) => unattached.push(name),
                Err(e) => {
                    detach_all(&mut bpf, links);
                    return Err(SensorError::Attach {
                        program: name,
                        reason: chain(&e),
                    });
                }
            }
        }

        let ring = RingBuf::try_from(
            bpf.take_map("events")
                .ok_or_else(|| SensorError::Load("map events missing".into()))?,
        )
        .map_err(|e| SensorError::Load(e.to_string()))?;
        let drops = PerCpuArray::try_from(
            bpf.take_map("drops")
                .ok_or_else(|| SensorError::Load("map drops missing".into()))?,
        )
        .map_err(|e| SensorError::Load(e.to_string()))?;

        let node = config.node_name.clone().unwrap_or_else(hostname);
        let meta = meta::MetaCache::new(meta::MetaSource::new(&config.host_root));
        let pipeline = pipeline::Pipeline::new(
            node,
            meta,
            config.max_ancestors,
            config.emit_fork,
            &config.host_root,
        );
        // Unbounded as a channel: the reader bounds it by the bytes queued.
        let (tx, rx) = channel();
        let shared = Arc::new(Shared::new(config.queue_bytes));
        let stop = Arc::new(StopSignal::new()?);
        let reader = {
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("kdr-sensor-reader".into())
                .spawn(move || delivery::read_loop(ring, tx, shared, stop))?
        };
        let attached = links.len();
        Ok(Sensor {
            bpf: Mutex::new(Some(bpf)),
            links: Mutex::new(links),
            drops: Mutex::new(Some(drops)),
            final_kernel_drops: Mutex::new([0; 8]),
            stop,
            reader: Some(reader),
            events: Mutex::new(Some(Events::new(rx, pipeline, shared.clone()))),
            shared,
            unattached,
            attached,
        })
    }

    /// Takes the events, to read them from another thread. Events come in kernel order per
    /// CPU; `Events::recv` fails after `stop` once everything read was received. `None` once
    /// taken.
    pub fn take_events(&self) -> Option<Events> {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The next event, waiting at most `timeout` (`Disconnected` after `stop` once drained,
    /// or when the channel was taken).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<SensorEvent, RecvTimeoutError> {
        let guard = self.events.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(rx) => rx.recv_timeout(timeout),
            None => Err(RecvTimeoutError::Disconnected),
        }
    }

    fn kernel_drops(&self) -> [u64; 8] {
        let mut out = *self
            .final_kernel_drops
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(d) = self
            .drops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            for k in Kind::ALL {
                if let Ok(v) = d.get(&(k as u32), 0) {
                    out[k as usize] = v.iter().sum();
                }
            }
        }
        out
    }

    pub fn stats(&self) -> Stats {
        let kd = self.kernel_drops();
        let c = &self.shared.counters;
        let kinds = Kind::ALL
            .iter()
            .map(|&k| {
                let i = k as usize;
                KindStats {
                    kind: k.name(),
                    received: c.received[i].load(Ordering::Relaxed),
                    delivered: c.delivered[i].load(Ordering::Relaxed),
                    kernel_drops: kd[i],
                    queue_drops: c.queue_drops[i].load(Ordering::Relaxed),
                    bad_records: c.bad[i].load(Ordering::Relaxed),
                }
            })
            .collect();
        Stats {
            kinds,
            unattached: self.unattached.clone(),
            attached: self.attached,
        }
    }

    /// Detaches every program, delivers what is still in the ring buffer, stops the reader.
    /// Events already queued stay receivable (`recv_timeout`, or the taken `Events`). The
    /// counters are final unless the events were taken and are still being received.
    pub fn stop(&mut self) -> Stats {
        let mut bpf = self.bpf.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(bpf) = bpf.as_mut() {
            let ids = std::mem::take(&mut *self.links.lock().unwrap_or_else(|e| e.into_inner()));
            detach_all(bpf, ids);
        }
        let kd = self.kernel_drops();
        *self
            .final_kernel_drops
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = kd;
        // Nothing new arrives now: the reader drains what is left and ends.
        self.stop.raise();
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
        // Closes the programs and maps.
        drop(bpf);
        self.drops.lock().unwrap_or_else(|e| e.into_inner()).take();
        // Events not taken by another thread are converted now, so the counters are final.
        if let Some(events) = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            events.convert_all();
        }
        self.stats()
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        if self.reader.is_some() {
            self.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_names_map_to_tracepoints() {
        assert_eq!(
            tracepoint_of("enter_openat"),
            Some(("syscalls", "sys_enter_openat".into()))
        );
        assert_eq!(
            tracepoint_of("exit_accept4"),
            Some(("syscalls", "sys_exit_accept4".into()))
        );
        assert_eq!(
            tracepoint_of("sched_process_exec"),
            Some(("sched", "sched_process_exec".into()))
        );
    }

    #[test]
    fn default_watches_fit_the_kernel_keys() {
        for w in default_watches() {
            assert!(!w.pattern.is_empty() && w.pattern.len() <= 128, "{w:?}");
        }
    }
}
