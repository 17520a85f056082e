//! From decoded kernel records to `kdr_model::Event`s: process table, container attribution,
//! clock conversion and event ids.

use std::fmt::Write as _;
use std::fs;
use std::net::Ipv6Addr;
use std::path::Path;
use std::sync::Arc;

use kdr_model::{
    AddressFamily, Context, Event, FdKind, Payload, Process, RuntimeAction, RuntimeEvent,
    SocketAddress, Timestamp,
};
use rustc_hash::FxHashMap;

use crate::cgroup::{parse_cgroup_path, parse_proc_cgroup, ContainerRef};
use crate::event_json::SensorEvent;
use crate::meta::{ContainerInfo, MetaCache};
use crate::proctable::{Image, ProcEntry, ProcTable};
use crate::wire::{self, Body, Record};

pub struct Pipeline {
    pub node: String,
    /// `node:boot:`; an event's id is this and its sequence number.
    id_prefix: String,
    seq: u64,
    /// CLOCK_REALTIME - CLOCK_MONOTONIC, ns; re-measured now and then so that clock
    /// adjustments (NTP) reach event times.
    wall_offset: i64,
    /// When it was measured, on the records' clock (monotonic ns).
    offset_at: u64,
    /// Host account names by uid (host processes only: a container has its own passwd).
    users: FxHashMap<u32, String>,
    pub procs: ProcTable,
    meta: MetaCache,
    cgroups: FxHashMap<u64, CgroupEntry>,
    pub emit_fork: bool,
}

/// What a cgroup id belongs to (`None`: the host).
struct CgroupEntry {
    container: Option<ContainerRef>,
    /// Learnt from an exec record's cgroup path, which is authoritative; a /proc reading may
    /// race with a move between cgroups, so the next exec from the cgroup re-checks it.
    from_exec: bool,
}

const OFFSET_REFRESH_NS: u64 = 60_000_000_000;
const MAX_CGROUPS: usize = 65536;

fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// `CLOCK_REALTIME - CLOCK_MONOTONIC`: adds to bpf_ktime_get_ns() to give wall-clock time.
pub fn wall_offset() -> i64 {
    let m0 = clock_ns(libc::CLOCK_MONOTONIC);
    let r = clock_ns(libc::CLOCK_REALTIME);
    let m1 = clock_ns(libc::CLOCK_MONOTONIC);
    r - (m0 + (m1 - m0) / 2)
}

pub fn boot_id_prefix() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().chars().filter(|c| *c != '-').take(8).collect())
        .unwrap_or_else(|_| "00000000".into())
}

fn fd_kind(k: u8) -> FdKind {
    match k {
        1 => FdKind::File,
        2 => FdKind::Tty,
        3 => FdKind::Pipe,
        4 => FdKind::Socket,
        5 => FdKind::Closed,
        _ => FdKind::Unknown,
    }
}

/// Dotted-quad text of an IPv4 address, without the formatting machinery (two per network
/// event).
fn ipv4_text(octets: &[u8]) -> String {
    let mut text = String::with_capacity(15);
    for (i, &b) in octets.iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if b >= 100 {
            text.push(char::from(b'0' + b / 100));
        }
        if b >= 10 {
            text.push(char::from(b'0' + b / 10 % 10));
        }
        text.push(char::from(b'0' + b % 10));
    }
    text
}

fn addr(family: u16, raw: &[u8; 16], port: u16, path: &str) -> SocketAddress {
    match family {
        2 => SocketAddress {
            family: AddressFamily::Inet,
            address: ipv4_text(&raw[..4]),
            port,
        },
        10 => SocketAddress {
            family: AddressFamily::Inet6,
            address: Ipv6Addr::from(*raw).to_string(),
            port,
        },
        1 => SocketAddress {
            family: AddressFamily::Unix,
            address: path.to_string(),
            port: 0,
        },
        _ => SocketAddress {
            family: AddressFamily::Other,
            address: String::new(),
            port,
        },
    }
}

/// uid -> name from a passwd file's text.
pub fn parse_passwd(text: &str) -> FxHashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            (!name.is_empty()).then(|| (uid, name.to_string()))
        })
        .collect()
}

impl Pipeline {
    pub fn new(
        node: String,
        meta: MetaCache,
        max_ancestors: usize,
        emit_fork: bool,
        host_root: &Path,
    ) -> Self {
        let mut procs = ProcTable::new(max_ancestors);
        procs.seed_from_proc();
        Pipeline {
            id_prefix: format!("{node}:{}:", boot_id_prefix()),
            node,
            seq: 0,
            wall_offset: wall_offset(),
            offset_at: clock_ns(libc::CLOCK_MONOTONIC) as u64,
            users: fs::read_to_string(host_root.join("etc/passwd"))
                .map(|t| parse_passwd(&t))
                .unwrap_or_default(),
            procs,
            meta,
            cgroups: FxHashMap::default(),
            emit_fork,
        }
    }

    /// The container a record's cgroup belongs to: cached per cgroup id, worked out from the
    /// exec record's cgroup path or, for a cgroup first seen in another record, from /proc.
    fn container(&mut self, rec: &Record) -> Option<ContainerRef> {
        let exec = match &rec.body {
            Body::Exec(e) => Some(e),
            _ => None,
        };
        if let Some(known) = self.cgroups.get(&rec.hdr.cgroup_id) {
            if known.from_exec || exec.is_none() {
                return known.container.clone();
            }
        }
        let container = match exec {
            Some(e) => parse_cgroup_path(&e.cgroup),
            None => {
                let text = fs::read_to_string(format!("/proc/{}/cgroup", rec.hdr.tgid)).ok()?;
                parse_proc_cgroup(&text)
            }
        };
        // A cgroup not seen before: its container may have just (re)started, so its
        // metadata is read again.
        if let Some(c) = &container {
            self.meta.invalidate(&c.id);
        }
        if self.cgroups.len() >= MAX_CGROUPS {
            self.cgroups.clear();
        }
        self.cgroups.insert(
            rec.hdr.cgroup_id,
            CgroupEntry {
                container: container.clone(),
                from_exec: exec.is_some(),
            },
        );
        container
    }

    /// Turns one record into an event, updating the process table. `None` for records that
    /// only maintain state (fork, unless asked for).
    pub fn convert(&mut self, rec: Record) -> Option<SensorEvent> {
        let (tgid, ppid, now) = (rec.hdr.tgid, rec.hdr.ppid, rec.hdr.ktime);
        self.procs.purge(now);
        if now.saturating_sub(self.offset_at) > OFFSET_REFRESH_NS {
            self.wall_offset = wall_offset();
            self.offset_at = now;
        }
        // Forks only keep the process tree, unless asked for: nothing else to build.
        if let Body::Fork { child_tgid } = rec.body {
            self.procs.fork(tgid, child_tgid);
            if !self.emit_fork {
                return None;
            }
        }
        let info = self.container(&rec).map(|c| {
            self.meta.get(&c).unwrap_or(ContainerInfo {
                id: c.id,
                ..Default::default()
            })
        });
        let Record { hdr: h, body, .. } = rec;
        let mut process = Process {
            pid: h.pid,
            tgid,
            ppid,
            uid: h.uid,
            gid: h.gid,
            euid: h.euid,
            comm: h.comm.into_owned(),
            start_time: (h.start_time != 0)
                .then(|| Timestamp(h.start_time as i64 + self.wall_offset)),
            ..Default::default()
        };
        // What the process runs: its new image on an exec, else the process table's.
        let mut image = None;
        let action = match body {
            Body::Exec(e) => {
                let new = Arc::new(Image::new(
                    e.exe.into_owned(),
                    e.args,
                    e.cwd.into_owned(),
                    e.upper_layer,
                ));
                process.args_truncated = e.args_truncated;
                process.stdio = e.stdio.map(fd_kind);
                self.procs.exec(tgid, ProcEntry::new(new.clone(), ppid));
                image = Some(new);
                RuntimeAction::Exec
            }
            Body::Fork { child_tgid } => RuntimeAction::Fork {
                child_pid: child_tgid,
            },
            Body::Exit { code } => RuntimeAction::Exit { code },
            Body::File(f) => match f.op {
                wire::F_UNLINK => RuntimeAction::Unlink {
                    path: f.path.into_owned(),
                },
                wire::F_RENAME => RuntimeAction::Rename {
                    from: f.path.into_owned(),
                    to: f.path2.into_owned(),
                },
                wire::F_UTIMES => RuntimeAction::Utimes {
                    path: f.path.into_owned(),
                },
                wire::F_CHMOD => RuntimeAction::Chmod {
                    path: f.path.into_owned(),
                    mode: f.mode,
                },
                _ => RuntimeAction::Open {
                    path: f.path.into_owned(),
                    flags: f.flags,
                    result: f.result,
                },
            },
            Body::Net(n) => {
                let remote = || addr(n.family, &n.raddr, n.rport, &n.path);
                let local = addr(n.family, &n.laddr, n.lport, &n.path);
                match n.op {
                    wire::N_CONNECT => RuntimeAction::Connect {
                        remote: remote(),
                        local: (n.family != 1).then_some(local),
                        result: n.result,
                    },
                    wire::N_ACCEPT => RuntimeAction::Accept {
                        remote: remote(),
                        local: Some(local),
                    },
                    wire::N_LISTEN => RuntimeAction::Listen { local },
                    _ => RuntimeAction::Bind {
                        local,
                        result: n.result,
                    },
                }
            }
            Body::Proc(p) => match p.op {
                wire::P_UNSHARE => RuntimeAction::Unshare { flags: p.a },
                wire::P_SETNS => RuntimeAction::Setns { flags: p.a },
                wire::P_CLONE => RuntimeAction::Clone { flags: p.a },
                wire::P_PTRACE => RuntimeAction::Ptrace {
                    request: p.a as i64,
                    target_pid: p.b as u32,
                },
                wire::P_KILL => {
                    let target = p.b as i64 as i32;
                    // A target numbered in a container's pid namespace is not in the
                    // host-pid process table.
                    let target_exe = (target > 0 && p.pid_ns_level == 0)
                        .then(|| {
                            self.procs
                                .lookup(target as u32, 0)
                                .map(|e| e.image.exe.clone())
                        })
                        .flatten()
                        .filter(|e| !e.is_empty());
                    RuntimeAction::Kill {
                        signal: p.a as i32,
                        target_pid: target as u32,
                        target_exe,
                    }
                }
                wire::P_MEMFD => RuntimeAction::MemfdCreate {
                    name: p.s1.into_owned(),
                },
                wire::P_MODULE => RuntimeAction::ModuleLoad {
                    name: if p.s1.is_empty() { p.s2 } else { p.s1 }.into_owned(),
                },
                _ => RuntimeAction::Mount {
                    source: p.s1.into_owned(),
                    target: p.s2.into_owned(),
                    fstype: p.s3.into_owned(),
                },
            },
        };
        if image.is_none() {
            image = self.procs.lookup(tgid, ppid).map(|e| e.image.clone());
        }
        // Exe, argv and cwd stay in the image until the event is asked for (SensorEvent).
        if let Some(i) = &image {
            process.exe_upper_layer = i.upper_layer;
        }
        if matches!(action, RuntimeAction::Exit { .. }) {
            self.procs.exit(tgid, now);
        }
        process.ancestors = self.procs.ancestors(ppid);
        if info.is_none() {
            process.user = self.users.get(&process.uid).cloned();
        }

        self.seq += 1;
        let mut id = String::with_capacity(self.id_prefix.len() + 20);
        id.push_str(&self.id_prefix);
        let _ = write!(id, "{}", self.seq);
        let (context, container_privileged, image_id) = match info {
            Some(i) => (
                Context {
                    node: Some(self.node.clone()),
                    container_id: Some(i.id),
                    container_name: i.name,
                    pod: i.pod,
                    namespace: i.namespace,
                    image: i.image,
                    ..Default::default()
                },
                i.privileged,
                i.image_id,
            ),
            None => (
                Context {
                    node: Some(self.node.clone()),
                    identity: process.user.clone(),
                    ..Default::default()
                },
                None,
                None,
            ),
        };
        let event = Event {
            id,
            time: Timestamp(now as i64 + self.wall_offset),
            context,
            payload: Payload::Runtime(Box::new(RuntimeEvent {
                process,
                container_privileged,
                image_id,
                cgroup_id: h.cgroup_id,
                mnt_ns: h.mntns,
                action,
            })),
        };
        Some(SensorEvent::new(event, image))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_names() {
        let u = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\nbad line\nnobody:x:65534:65534::/:/x\n:x:5:5::/:/x\n",
        );
        assert_eq!(u.get(&0).map(String::as_str), Some("root"));
        assert_eq!(u.get(&65534).map(String::as_str), Some("nobody"));
        assert_eq!(u.len(), 2);
    }

    #[test]
    fn socket_addresses() {
        let mut raw = [0u8; 16];
        raw[..4].copy_from_slice(&[127, 0, 0, 1]);
        let a = addr(2, &raw, 80, "");
        assert_eq!((a.address.as_str(), a.port), ("127.0.0.1", 80));
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(addr(10, &v6, 1, "").address, "::1");
        assert_eq!(addr(1, &raw, 0, "/run/x.sock").address, "/run/x.sock");
        assert_eq!(addr(99, &raw, 0, "").family, AddressFamily::Other);
    }

    #[test]
    fn ipv4_text_is_dotted_quad() {
        for b in 0..=255u8 {
            let octets = [b, 255 - b, b / 3, 10];
            assert_eq!(
                ipv4_text(&octets),
                std::net::Ipv4Addr::from(octets).to_string()
            );
        }
    }
}
