//! From decoded kernel records to `kdr_model::Event`s: process table, container attribution,
//! clock conversion and event ids.

use std::collections::HashMap;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use kdr_model::{
    AddressFamily, Context, Event, FdKind, Payload, Process, RuntimeAction, RuntimeEvent,
    SocketAddress, Timestamp,
};

use crate::cgroup::{parse_cgroup_path, parse_proc_cgroup, ContainerRef};
use crate::meta::{ContainerInfo, MetaCache};
use crate::proctable::{ProcEntry, ProcTable};
use crate::wire::{self, Body, Record};

pub struct Pipeline {
    pub node: String,
    boot: String,
    seq: u64,
    /// CLOCK_REALTIME - CLOCK_MONOTONIC, ns; re-measured now and then so that clock
    /// adjustments (NTP) reach event times.
    wall_offset: i64,
    offset_at: Instant,
    /// Host account names by uid (host processes only: a container has its own passwd).
    users: HashMap<u32, String>,
    pub procs: ProcTable,
    meta: MetaCache,
    /// cgroup id -> container (None: host).
    cgroups: HashMap<u64, Option<ContainerRef>>,
    pub emit_fork: bool,
}

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

fn addr(family: u16, raw: &[u8; 16], port: u16, path: &str) -> SocketAddress {
    match family {
        2 => SocketAddress {
            family: AddressFamily::Inet,
            address: Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).to_string(),
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
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
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
            node,
            boot: boot_id_prefix(),
            seq: 0,
            wall_offset: wall_offset(),
            offset_at: Instant::now(),
            users: fs::read_to_string(host_root.join("etc/passwd"))
                .map(|t| parse_passwd(&t))
                .unwrap_or_default(),
            procs,
            meta,
            cgroups: HashMap::new(),
            emit_fork,
        }
    }

    fn container(&mut self, rec: &Record) -> Option<ContainerRef> {
        if let Body::Exec(e) = &rec.body {
            // Exec records carry the cgroup path: authoritative, and the first sign of a
            // new container, so its metadata is (re)read now.
            let c = parse_cgroup_path(&e.cgroup);
            if let Some(c) = &c {
                if !self.cgroups.contains_key(&rec.hdr.cgroup_id) {
                    self.meta.invalidate(&c.id);
                }
            }
            if self.cgroups.len() > 65536 {
                self.cgroups.clear();
            }
            self.cgroups.insert(rec.hdr.cgroup_id, c.clone());
            return c;
        }
        if let Some(c) = self.cgroups.get(&rec.hdr.cgroup_id) {
            return c.clone();
        }
        let text = fs::read_to_string(format!("/proc/{}/cgroup", rec.hdr.tgid)).ok()?;
        let c = parse_proc_cgroup(&text);
        self.cgroups.insert(rec.hdr.cgroup_id, c.clone());
        c
    }

    /// Turns one record into an event, updating the process table. `None` for records that
    /// only maintain state (fork, unless asked for).
    pub fn convert(&mut self, rec: Record) -> Option<Event> {
        self.procs.purge();
        if self.offset_at.elapsed() > Duration::from_secs(60) {
            self.wall_offset = wall_offset();
            self.offset_at = Instant::now();
        }
        let h = &rec.hdr;
        let (tgid, ppid) = (h.tgid, h.ppid);
        let container = self.container(&rec);
        let info: Option<ContainerInfo> = container.as_ref().map(|c| {
            self.meta.get(c).unwrap_or_else(|| ContainerInfo {
                id: c.id.clone(),
                ..Default::default()
            })
        });
        let h = &rec.hdr;
        let mut process = Process {
            pid: h.pid,
            tgid,
            ppid,
            uid: h.uid,
            gid: h.gid,
            euid: h.euid,
            comm: h.comm.clone(),
            start_time: (h.start_time != 0)
                .then(|| Timestamp(h.start_time as i64 + self.wall_offset)),
            ..Default::default()
        };
        let action = match rec.body {
            Body::Exec(e) => {
                process.exe = e.exe.clone();
                process.args = e.args.clone();
                process.args_truncated = e.args_truncated;
                process.cwd = e.cwd.clone();
                process.stdio = e.stdio.map(fd_kind);
                process.exe_upper_layer = e.upper_layer;
                self.procs.exec(
                    tgid,
                    ProcEntry {
                        exe: e.exe,
                        args: e.args,
                        cwd: e.cwd,
                        ppid,
                        cgroup_id: h.cgroup_id,
                        upper_layer: e.upper_layer,
                        ..Default::default()
                    },
                );
                RuntimeAction::Exec
            }
            Body::Fork { child_tgid } => {
                self.procs.fork(tgid, child_tgid);
                if !self.emit_fork {
                    return None;
                }
                RuntimeAction::Fork {
                    child_pid: child_tgid,
                }
            }
            Body::Exit { code } => RuntimeAction::Exit { code },
            Body::File(f) => match f.op {
                wire::F_UNLINK => RuntimeAction::Unlink { path: f.path },
                wire::F_RENAME => RuntimeAction::Rename {
                    from: f.path,
                    to: f.path2,
                },
                wire::F_UTIMES => RuntimeAction::Utimes { path: f.path },
                wire::F_CHMOD => RuntimeAction::Chmod {
                    path: f.path,
                    mode: f.mode,
                },
                _ => RuntimeAction::Open {
                    path: f.path,
                    flags: f.flags,
                    result: f.result,
                },
            },
            Body::Net(n) => {
                let remote = addr(n.family, &n.raddr, n.rport, &n.path);
                let local = addr(n.family, &n.laddr, n.lport, &n.path);
                match n.op {
                    wire::N_CONNECT => RuntimeAction::Connect {
                        remote,
                        local: (n.family != 1).then_some(local),
                        result: n.result,
                    },
                    wire::N_ACCEPT => RuntimeAction::Accept {
                        remote,
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
                        .then(|| self.procs.lookup(target as u32, 0).map(|e| e.exe.clone()))
                        .flatten()
                        .filter(|e| !e.is_empty());
                    RuntimeAction::Kill {
                        signal: p.a as i32,
                        target_pid: target as u32,
                        target_exe,
                    }
                }
                wire::P_MEMFD => RuntimeAction::MemfdCreate { name: p.s1 },
                wire::P_MODULE => RuntimeAction::ModuleLoad {
                    name: if p.s1.is_empty() { p.s2 } else { p.s1 },
                },
                _ => RuntimeAction::Mount {
                    source: p.s1,
                    target: p.s2,
                    fstype: p.s3,
                },
            },
        };
        if !matches!(action, RuntimeAction::Exec) {
            if let Some(e) = self.procs.lookup(tgid, ppid) {
                process.exe = e.exe.clone();
                process.args = e.args.clone();
                process.cwd = e.cwd.clone();
                process.exe_upper_layer = e.upper_layer;
            }
        }
        if matches!(action, RuntimeAction::Exit { .. }) {
            self.procs.exit(tgid);
        }
        process.ancestors = self.procs.ancestors(ppid);
        if info.is_none() {
            process.user = self.users.get(&process.uid).cloned();
        }

        self.seq += 1;
        let context = Context {
            node: Some(self.node.clone()),
            container_id: info.as_ref().map(|i| i.id.clone()),
            container_name: info.as_ref().and_then(|i| i.name.clone()),
            pod: info.as_ref().and_then(|i| i.pod.clone()),
            namespace: info.as_ref().and_then(|i| i.namespace.clone()),
            image: info.as_ref().and_then(|i| i.image.clone()),
            identity: process.user.clone(),
            ..Default::default()
        };
        Some(Event {
            id: format!("{}:{}:{}", self.node, self.boot, self.seq),
            time: Timestamp(h.ktime as i64 + self.wall_offset),
            context,
            payload: Payload::Runtime(Box::new(RuntimeEvent {
                process,
                container_privileged: info.as_ref().and_then(|i| i.privileged),
                image_id: info.as_ref().and_then(|i| i.image_id.clone()),
                cgroup_id: h.cgroup_id,
                mnt_ns: h.mntns,
                action,
            })),
        })
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
}
