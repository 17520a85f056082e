//! The sensor's process table: what each live process runs, and its parent, so that every
//! event carries its lineage. Seeded from /proc for processes older than the sensor.

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, Instant};

use kdr_model::Ancestor;

#[derive(Clone, Debug, Default)]
pub struct ProcEntry {
    pub exe: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub ppid: u32,
    pub cgroup_id: u64,
    pub upper_layer: bool,
    pub(crate) exited: Option<Instant>,
}

pub struct ProcTable {
    map: HashMap<u32, ProcEntry>,
    max_ancestors: usize,
    last_purge: Instant,
}

/// Exited processes stay a little: their children's and their own late events still need them.
const LINGER: Duration = Duration::from_secs(10);
const MAX_ENTRIES: usize = 1 << 17;

impl ProcTable {
    pub fn new(max_ancestors: usize) -> Self {
        ProcTable {
            map: HashMap::new(),
            max_ancestors,
            last_purge: Instant::now(),
        }
    }

    /// Loads every process from /proc (at start).
    pub fn seed_from_proc(&mut self) {
        let Ok(rd) = fs::read_dir("/proc") else {
            return;
        };
        for e in rd.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
                if let Some(p) = read_proc(pid) {
                    self.map.insert(pid, p);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn exec(&mut self, tgid: u32, entry: ProcEntry) {
        self.map.insert(tgid, entry);
    }

    /// A new process starts as a copy of its parent.
    pub fn fork(&mut self, parent: u32, child: u32) {
        let mut e = self.lookup(parent, 0).cloned().unwrap_or_default();
        e.ppid = parent;
        e.exited = None;
        self.map.insert(child, e);
    }

    pub fn exit(&mut self, tgid: u32) {
        if let Some(e) = self.map.get_mut(&tgid) {
            e.exited = Some(Instant::now());
        }
    }

    /// The entry for a process, loaded from /proc or inherited from its parent when unknown.
    pub fn lookup(&mut self, tgid: u32, ppid: u32) -> Option<&ProcEntry> {
        if !self.map.contains_key(&tgid) {
            let e = read_proc(tgid).or_else(|| {
                let mut p = self.map.get(&ppid)?.clone();
                p.ppid = ppid;
                p.exited = None;
                Some(p)
            })?;
            self.map.insert(tgid, e);
        }
        self.map.get(&tgid)
    }

    /// Parent first, bounded, stopping at pid 1, unknown processes or a loop.
    pub fn ancestors(&mut self, ppid: u32) -> Vec<Ancestor> {
        let mut out = Vec::new();
        let mut pid = ppid;
        while pid != 0 && out.len() < self.max_ancestors {
            let Some(e) = self.lookup(pid, 0) else { break };
            let next = e.ppid;
            out.push(Ancestor {
                pid,
                exe: e.exe.clone(),
                args: bounded_args(&e.args),
            });
            if pid == 1 || next == pid {
                break;
            }
            pid = next;
        }
        out
    }

    /// Drops exited processes after a while; bounded in any case.
    pub fn purge(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.last_purge) < Duration::from_secs(1)
            && self.map.len() < MAX_ENTRIES
        {
            return;
        }
        self.last_purge = now;
        self.map
            .retain(|_, e| e.exited.is_none_or(|t| now.duration_since(t) < LINGER));
        if self.map.len() >= MAX_ENTRIES {
            self.map.retain(|_, e| e.exited.is_none());
        }
    }
}

/// Ancestors' argv is cut to a few hundred bytes: every event repeats the whole lineage, and
/// one daemon with a huge command line would otherwise inflate every event below it.
const ANCESTOR_ARGS_BYTES: usize = 512;

fn bounded_args(args: &[String]) -> Vec<String> {
    let mut left = ANCESTOR_ARGS_BYTES;
    let mut out = Vec::new();
    for a in args {
        if left == 0 {
            break;
        }
        if a.len() <= left {
            out.push(a.clone());
            left -= a.len();
        } else {
            let mut cut = left;
            while !a.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push(a[..cut].to_string());
            left = 0;
        }
    }
    out
}

fn read_proc(pid: u32) -> Option<ProcEntry> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
    let exe = fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cwd = fs::read_link(format!("/proc/{pid}/cwd"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let args = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| crate::wire::split_args(&b))
        .unwrap_or_default();
    Some(ProcEntry {
        exe,
        args,
        cwd,
        ppid,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lineage_from_exec_and_fork() {
        let mut t = ProcTable::new(4);
        // pids far above pid_max so that /proc never answers for them
        let (a, b, c) = (4_000_000_001, 4_000_000_002, 4_000_000_003);
        t.exec(
            a,
            ProcEntry {
                exe: "/bin/bash".into(),
                args: vec!["bash".into()],
                ppid: 0,
                ..Default::default()
            },
        );
        t.fork(a, b);
        t.exec(
            b,
            ProcEntry {
                exe: "/usr/bin/curl".into(),
                ppid: a,
                ..Default::default()
            },
        );
        // c was never seen: inherits from its parent b
        let e = t.lookup(c, b).unwrap();
        assert_eq!(e.exe, "/usr/bin/curl");
        let anc = t.ancestors(b);
        assert_eq!(anc.len(), 2);
        assert_eq!(anc[0].exe, "/usr/bin/curl");
        assert_eq!(anc[1].exe, "/bin/bash");
    }

    #[test]
    fn ancestors_are_bounded_and_loop_safe() {
        let mut t = ProcTable::new(3);
        let base = 4_100_000_000;
        for i in 0..10 {
            t.exec(
                base + i,
                ProcEntry {
                    ppid: base + i + 1,
                    ..Default::default()
                },
            );
        }
        assert_eq!(t.ancestors(base).len(), 3);
        t.exec(
            base + 20,
            ProcEntry {
                ppid: base + 20,
                ..Default::default()
            },
        );
        assert_eq!(t.ancestors(base + 20).len(), 1);
    }

    #[test]
    fn ancestor_args_are_bounded() {
        let long = "é".repeat(1000);
        let args = vec!["a".to_string(), long];
        let b = bounded_args(&args);
        assert_eq!(b[0], "a");
        assert!(b[1].len() < ANCESTOR_ARGS_BYTES);
        assert!(b[1].chars().all(|c| c == 'é'));
    }

    #[test]
    fn reads_itself_from_proc() {
        let mut t = ProcTable::new(8);
        let me = std::process::id();
        let e = t.lookup(me, 0).unwrap();
        assert!(!e.exe.is_empty());
        assert!(!e.args.is_empty());
    }
}
