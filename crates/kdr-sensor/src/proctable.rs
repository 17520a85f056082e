//! The sensor's process table: what each live process runs, and its parent, so that every
//! event carries its lineage. Seeded from /proc for processes older than the sensor.

use std::fs;
use std::io;
use std::sync::{Arc, OnceLock};

use kdr_model::{Ancestor, Ancestors};
use rustc_hash::FxHashMap;

use crate::event_json::ImageJson;

/// What a process runs, from its exec (or /proc). Shared, not copied, by the children it
/// forks until they exec themselves.
#[derive(Debug, Default)]
pub struct Image {
    pub exe: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub upper_layer: bool,
    /// argv cut for the ancestor lists of descendants' events, when it is longer than that
    /// bound (computed once, not per event).
    ancestor_args: Option<Vec<String>>,
    /// The JSON of exe, argv and cwd, written for the first event that needs it and copied
    /// into every later one.
    json: OnceLock<ImageJson>,
}

impl Image {
    pub fn new(exe: String, args: Vec<String>, cwd: String, upper_layer: bool) -> Self {
        let cut = args.iter().map(String::len).sum::<usize>() > ANCESTOR_ARGS_BYTES;
        Image {
            ancestor_args: cut.then(|| bounded_args(&args)),
            exe,
            args,
            cwd,
            upper_layer,
            json: OnceLock::new(),
        }
    }

    pub(crate) fn json(&self) -> io::Result<&ImageJson> {
        if let Some(json) = self.json.get() {
            return Ok(json);
        }
        let json = ImageJson::new(&self.exe, &self.args, &self.cwd)?;
        Ok(self.json.get_or_init(|| json))
    }

    fn ancestor_args(&self) -> &[String] {
        self.ancestor_args.as_deref().unwrap_or(&self.args)
    }
}

#[derive(Clone, Debug, Default)]
pub struct ProcEntry {
    pub image: Arc<Image>,
    pub ppid: u32,
    /// When it exited (monotonic ns, the records' clock).
    exited_at: Option<u64>,
    /// Tells entries apart: a new one (exec, fork, /proc) gets the table's next number.
    serial: u64,
    /// The lineage that starts at this process, as its children's events carry it.
    lineage: Option<Lineage>,
}

/// A lineage built once and shared by every event that carries it, with the entries it was
/// built from: it stays valid while the walk from its first process meets the same ones,
/// which needs no walk while the table has not changed since it was last checked.
#[derive(Clone, Debug)]
struct Lineage {
    ancestors: Ancestors,
    serials: Box<[u64]>,
    checked_at: u64,
}

impl ProcEntry {
    pub fn new(image: impl Into<Arc<Image>>, ppid: u32) -> Self {
        ProcEntry {
            image: image.into(),
            ppid,
            ..Default::default()
        }
    }
}

/// Keyed by tgid. Time is the records' own clock (kernel monotonic ns), so keeping the table
/// costs no clock reads.
pub struct ProcTable {
    map: FxHashMap<u32, ProcEntry>,
    max_ancestors: usize,
    last_purge: u64,
    next_serial: u64,
    /// Counts changes to which processes the table holds (entries added, replaced, purged).
    changes: u64,
    /// The (pid, serial) of each step of the last lineage walk; kept to reuse its allocation.
    walk: Vec<(u32, u64)>,
}

/// Exited processes stay a little: their children's and their own late events still need them.
const LINGER_NS: u64 = 10_000_000_000;
const PURGE_EVERY_NS: u64 = 1_000_000_000;
const MAX_ENTRIES: usize = 1 << 17;

impl ProcTable {
    pub fn new(max_ancestors: usize) -> Self {
        ProcTable {
            map: FxHashMap::default(),
            max_ancestors,
            last_purge: 0,
            next_serial: 0,
            changes: 0,
            walk: Vec::new(),
        }
    }

    fn insert(&mut self, tgid: u32, mut entry: ProcEntry) {
        self.next_serial += 1;
        self.changes += 1;
        entry.serial = self.next_serial;
        entry.lineage = None;
        self.map.insert(tgid, entry);
    }

    /// Loads every process from /proc (at start).
    pub fn seed_from_proc(&mut self) {
        let Ok(rd) = fs::read_dir("/proc") else {
            return;
        };
        for e in rd.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
                if let Some(p) = read_proc(pid) {
                    self.insert(pid, p);
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
        self.insert(tgid, entry);
    }

    /// A new process starts as its parent: same image, shared.
    pub fn fork(&mut self, parent: u32, child: u32) {
        let image = self
            .lookup(parent, 0)
            .map(|e| e.image.clone())
            .unwrap_or_default();
        self.insert(
            child,
            ProcEntry {
                image,
                ppid: parent,
                ..Default::default()
            },
        );
    }

    pub fn exit(&mut self, tgid: u32, now: u64) {
        if let Some(e) = self.map.get_mut(&tgid) {
            e.exited_at = Some(now);
        }
    }

    /// The entry for a process; on a miss, read from /proc or inherited from its parent.
    pub fn lookup(&mut self, tgid: u32, ppid: u32) -> Option<&ProcEntry> {
        if !self.map.contains_key(&tgid) {
            let e = read_proc(tgid).or_else(|| {
                let image = self.map.get(&ppid)?.image.clone();
                Some(ProcEntry {
                    image,
                    ppid,
                    ..Default::default()
                })
            })?;
            self.insert(tgid, e);
        }
        self.map.get(&tgid)
    }

    /// The lineage starting at `ppid`: parent first, bounded, stopping at pid 1, unknown
    /// processes or a loop. Built once per parent and shared; rebuilt when a process on the
    /// way was replaced (exec) or is not the one it was built from.
    pub fn ancestors(&mut self, ppid: u32) -> Ancestors {
        if let Some(l) = self.map.get(&ppid).and_then(|e| e.lineage.as_ref()) {
            if l.checked_at == self.changes {
                return l.ancestors.clone();
            }
        }
        let mut walk = std::mem::take(&mut self.walk);
        walk.clear();
        let mut pid = ppid;
        while pid != 0 && walk.len() < self.max_ancestors {
            let Some(e) = self.lookup(pid, 0) else { break };
            let next = e.ppid;
            walk.push((pid, e.serial));
            if pid == 1 || next == pid {
                break;
            }
            pid = next;
        }
        let ancestors = self.lineage(&walk);
        self.walk = walk;
        ancestors
    }

    /// The lineage of the processes `walk` met (all in the table), cached in the first one.
    fn lineage(&mut self, walk: &[(u32, u64)]) -> Ancestors {
        let Some(&(first, _)) = walk.first() else {
            return Ancestors::default();
        };
        let changes = self.changes;
        if let Some(l) = self.map.get_mut(&first).and_then(|e| e.lineage.as_mut()) {
            if l.serials.iter().copied().eq(walk.iter().map(|w| w.1)) {
                l.checked_at = changes;
                return l.ancestors.clone();
            }
        }
        let ancestors: Ancestors = walk
            .iter()
            .filter_map(|&(pid, _)| {
                let image = &self.map.get(&pid)?.image;
                Some(Ancestor {
                    pid,
                    exe: image.exe.clone(),
                    args: image.ancestor_args().to_vec(),
                })
            })
            .collect();
        if let Some(e) = self.map.get_mut(&first) {
            e.lineage = Some(Lineage {
                ancestors: ancestors.clone(),
                serials: walk.iter().map(|w| w.1).collect(),
                checked_at: changes,
            });
        }
        ancestors
    }

    /// Drops processes that exited a while before `now` (the latest record's time), at most
    /// once a second unless the table is full; bounded in any case.
    pub fn purge(&mut self, now: u64) {
        if now.saturating_sub(self.last_purge) < PURGE_EVERY_NS && self.map.len() < MAX_ENTRIES {
            return;
        }
        self.last_purge = now;
        let before = self.map.len();
        self.map.retain(|_, e| {
            e.exited_at
                .is_none_or(|t| now.saturating_sub(t) < LINGER_NS)
        });
        if self.map.len() >= MAX_ENTRIES {
            self.map.retain(|_, e| e.exited_at.is_none());
        }
        if self.map.len() != before {
            self.changes += 1;
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
    Some(ProcEntry::new(Image::new(exe, args, cwd, false), ppid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(exe: &str, args: &[&str]) -> Image {
        Image::new(
            exe.into(),
            args.iter().map(|a| a.to_string()).collect(),
            String::new(),
            false,
        )
    }

    #[test]
    fn lineage_from_exec_and_fork() {
        let mut t = ProcTable::new(4);
        // pids far above pid_max so that /proc never answers for them
        let (a, b, c) = (4_000_000_001, 4_000_000_002, 4_000_000_003);
        t.exec(a, ProcEntry::new(image("/bin/bash", &["bash"]), 0));
        t.fork(a, b);
        // The child shares its parent's image until it execs.
        let (ia, ib) = (&t.map[&a].image, &t.map[&b].image);
        assert!(Arc::ptr_eq(ia, ib));
        assert_eq!(t.map[&b].ppid, a);
        t.exec(b, ProcEntry::new(image("/usr/bin/curl", &[]), a));
        // c was never seen: inherits from its parent b
        let e = t.lookup(c, b).unwrap();
        assert_eq!(e.image.exe, "/usr/bin/curl");
        let anc = t.ancestors(b);
        assert_eq!(anc.len(), 2);
        assert_eq!(anc[0].exe, "/usr/bin/curl");
        assert_eq!(anc[1].exe, "/bin/bash");
        assert_eq!(anc[1].args, vec!["bash"]);
    }

    #[test]
    fn lineage_is_shared_until_a_process_on_it_changes() {
        let mut t = ProcTable::new(4);
        let (a, b, c, d) = (4_050_000_001, 4_050_000_002, 4_050_000_003, 4_050_000_004);
        t.exec(a, ProcEntry::new(image("/bin/init", &["init"]), 0));
        t.exec(b, ProcEntry::new(image("/bin/bash", &["bash"]), a));
        t.fork(b, c);
        t.fork(b, d);
        let first = t.ancestors(b);
        // Siblings (and later events) share the parent's lineage, not copies of it.
        assert!(std::ptr::eq(first.as_ptr(), t.ancestors(b).as_ptr()));
        assert_eq!(first.len(), 2);
        // Other processes coming and going leave it as it is.
        t.fork(d, 4_050_000_005);
        assert!(std::ptr::eq(first.as_ptr(), t.ancestors(b).as_ptr()));
        // A grandparent's exec changes the lineage below it.
        t.exec(a, ProcEntry::new(image("/sbin/other", &["other"]), 0));
        let after = t.ancestors(b);
        assert!(!std::ptr::eq(first.as_ptr(), after.as_ptr()));
        assert_eq!(after[1].exe, "/sbin/other");
        assert_eq!(first[1].exe, "/bin/init", "events already out keep theirs");
        // So does the parent's own.
        t.exec(b, ProcEntry::new(image("/bin/sh", &["sh"]), a));
        assert_eq!(t.ancestors(b)[0].exe, "/bin/sh");
        assert!(t.ancestors(0).is_empty());
        // And a grandparent purged long after its exit ends the lineage there.
        t.exit(a, LINGER_NS);
        t.purge(3 * LINGER_NS);
        assert_eq!(t.ancestors(b).len(), 1);
    }

    #[test]
    fn ancestors_are_bounded_and_loop_safe() {
        let mut t = ProcTable::new(3);
        let base = 4_100_000_000;
        for i in 0..10 {
            t.exec(base + i, ProcEntry::new(Image::default(), base + i + 1));
        }
        assert_eq!(t.ancestors(base).len(), 3);
        t.exec(base + 20, ProcEntry::new(Image::default(), base + 20));
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
        // The image keeps its full argv and cuts it once for descendants.
        let mut t = ProcTable::new(2);
        let (p, c) = (4_200_000_001, 4_200_000_002);
        t.exec(
            p,
            ProcEntry::new(
                Image::new(String::new(), args.clone(), String::new(), false),
                0,
            ),
        );
        t.exec(c, ProcEntry::new(image("/bin/true", &[]), p));
        assert_eq!(t.map[&p].image.args, args);
        assert_eq!(t.ancestors(p)[0].args, b);
    }

    #[test]
    fn exited_processes_linger_then_go() {
        let mut t = ProcTable::new(2);
        let (live, gone) = (4_250_000_001, 4_250_000_002);
        t.exec(live, ProcEntry::new(image("/bin/sleep", &[]), 0));
        t.exec(gone, ProcEntry::new(image("/bin/true", &[]), live));
        let t0 = 5 * LINGER_NS;
        t.exit(gone, t0);
        t.purge(t0 + LINGER_NS / 2);
        assert!(t.map.contains_key(&gone), "still lingering");
        t.purge(t0 + LINGER_NS + PURGE_EVERY_NS);
        assert!(!t.map.contains_key(&gone));
        assert!(t.map.contains_key(&live));
    }

    #[test]
    fn reads_itself_from_proc() {
        let mut t = ProcTable::new(8);
        let me = std::process::id();
        let e = t.lookup(me, 0).unwrap();
        assert!(!e.image.exe.is_empty());
        assert!(!e.image.args.is_empty());
    }
}
