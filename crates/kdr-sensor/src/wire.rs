//! Decoding of the records the kernel programs write (layout: `bpf/sensor.h`).
//!
//! Records come from the kernel but are still treated as untrusted input: every length is
//! bounds-checked and a short or inconsistent record is an error, never a panic. Text fields
//! borrow from the record (copied only when not UTF-8), so fields nobody uses cost nothing.

use std::borrow::Cow;
use std::fmt;

pub const HDR_LEN: usize = 80;

/// Record kinds, as `enum kdr_kind` numbers them; also the index of the kernel drop counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Exec = 1,
    Exit = 2,
    Fork = 3,
    File = 4,
    Net = 5,
    Proc = 6,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Exec,
        Kind::Exit,
        Kind::Fork,
        Kind::File,
        Kind::Net,
        Kind::Proc,
    ];

    pub fn from_u32(v: u32) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u32 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::Exit => "exit",
            Kind::Fork => "fork",
            Kind::File => "file",
            Kind::Net => "net",
            Kind::Proc => "proc",
        }
    }
}

pub const F_READ: u32 = 1;
pub const F_WRITE: u32 = 1 << 1;
pub const F_CREATE: u32 = 1 << 2;
pub const F_TRUNC: u32 = 1 << 3;
pub const F_UNLINK: u32 = 1 << 4;
pub const F_RENAME: u32 = 1 << 5;
pub const F_UTIMES: u32 = 1 << 6;
pub const F_CHMOD: u32 = 1 << 7;

pub const N_CONNECT: u32 = 1;
pub const N_ACCEPT: u32 = 2;
pub const N_LISTEN: u32 = 3;
pub const N_BIND: u32 = 4;

pub const P_UNSHARE: u32 = 1;
pub const P_SETNS: u32 = 2;
pub const P_CLONE: u32 = 3;
pub const P_PTRACE: u32 = 4;
pub const P_KILL: u32 = 5;
pub const P_MEMFD: u32 = 6;
pub const P_MODULE: u32 = 7;
pub const P_MOUNT: u32 = 8;

const EXEC_ARGS_TRUNCATED: u32 = 1;
const EXEC_UPPER_LAYER: u32 = 2;
const EXEC_PATH_TRUNCATED: u32 = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad sensor record: {}", self.0)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Header<'a> {
    pub ktime: u64,
    pub pid: u32,
    pub tgid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub cgroup_id: u64,
    pub mntns: u64,
    pub start_time: u64,
    pub comm: Cow<'a, str>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Exec<'a> {
    pub exe: Cow<'a, str>,
    pub cwd: Cow<'a, str>,
    pub cgroup: Cow<'a, str>,
    pub args: Vec<String>,
    pub args_truncated: bool,
    pub upper_layer: bool,
    pub path_truncated: bool,
    pub stdio: [u8; 3],
}

#[derive(Clone, Debug, PartialEq)]
pub struct FileOp<'a> {
    pub op: u32,
    pub flags: u32,
    pub mode: u32,
    pub result: i64,
    pub path: Cow<'a, str>,
    pub path2: Cow<'a, str>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NetOp<'a> {
    pub op: u32,
    pub fd: i32,
    pub result: i64,
    pub family: u16,
    pub rport: u16,
    pub lport: u16,
    pub raddr: [u8; 16],
    pub laddr: [u8; 16],
    /// Unix socket path; abstract names start with '@'.
    pub path: Cow<'a, str>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProcOp<'a> {
    pub op: u32,
    /// For kill: the caller's pid namespace level (0: the target is a host pid).
    pub pid_ns_level: u32,
    pub a: u64,
    pub b: u64,
    pub s1: Cow<'a, str>,
    pub s2: Cow<'a, str>,
    pub s3: Cow<'a, str>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body<'a> {
    Exec(Exec<'a>),
    Exit { code: i32 },
    Fork { child_tgid: u32 },
    File(FileOp<'a>),
    Net(NetOp<'a>),
    Proc(ProcOp<'a>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Record<'a> {
    pub kind: Kind,
    pub hdr: Header<'a>,
    pub body: Body<'a>,
}

/// Little-endian reads with bounds checks.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&self, off: usize, len: usize) -> Result<&'a [u8], WireError> {
        off.checked_add(len)
            .and_then(|end| self.buf.get(off..end))
            .ok_or_else(|| {
                WireError(format!(
                    "field at {off}+{len} past record end {}",
                    self.buf.len()
                ))
            })
    }
    fn u16(&self, off: usize) -> Result<u16, WireError> {
        let b = self.bytes(off, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&self, off: usize) -> Result<u32, WireError> {
        let b = self.bytes(off, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&self, off: usize) -> Result<u64, WireError> {
        let b = self.bytes(off, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn arr16(&self, off: usize) -> Result<[u8; 16], WireError> {
        let mut a = [0u8; 16];
        a.copy_from_slice(self.bytes(off, 16)?);
        Ok(a)
    }
    /// A string field of `len` bytes (NUL included) at `*off`; advances `*off`.
    fn string(&self, off: &mut usize, len: usize) -> Result<Cow<'a, str>, WireError> {
        let b = self.bytes(*off, len)?;
        *off += len;
        Ok(cstr(b))
    }
}

/// Text up to the first NUL, lossily decoded (paths and argv need not be UTF-8).
pub fn cstr(b: &[u8]) -> Cow<'_, str> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end])
}

/// Splits a NUL-separated argv block. A trailing piece without NUL is kept (truncated argv).
pub fn split_args(b: &[u8]) -> Vec<String> {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    if b.is_empty() {
        return Vec::new();
    }
    b.split(|&c| c == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

pub fn parse(buf: &[u8]) -> Result<Record<'_>, WireError> {
    let r = Reader { buf };
    let kind_raw = r.u32(0)?;
    let kind =
        Kind::from_u32(kind_raw).ok_or_else(|| WireError(format!("unknown kind {kind_raw}")))?;
    let hdr = Header {
        ktime: r.u64(8)?,
        pid: r.u32(16)?,
        tgid: r.u32(20)?,
        ppid: r.u32(24)?,
        uid: r.u32(28)?,
        gid: r.u32(32)?,
        euid: r.u32(36)?,
        cgroup_id: r.u64(40)?,
        mntns: r.u64(48)?,
        start_time: r.u64(56)?,
        comm: cstr(r.bytes(64, 16)?),
    };
    let f = HDR_LEN;
    let body = match kind {
        Kind::Exec => {
            let args_len = r.u32(f)? as usize;
            let flags = r.u32(f + 4)?;
            let exe_len = r.u16(f + 8)? as usize;
            let cwd_len = r.u16(f + 10)? as usize;
            let cg_len = r.u16(f + 12)? as usize;
            let s = r.bytes(f + 14, 3)?;
            let mut off = f + 20;
            let exe = r.string(&mut off, exe_len)?;
            let cwd = r.string(&mut off, cwd_len)?;
            let cgroup = r.string(&mut off, cg_len)?;
            let args = split_args(r.bytes(off, args_len)?);
            Body::Exec(Exec {
                exe,
                cwd,
                cgroup,
                args,
                args_truncated: flags & EXEC_ARGS_TRUNCATED != 0,
                upper_layer: flags & EXEC_UPPER_LAYER != 0,
                path_truncated: flags & EXEC_PATH_TRUNCATED != 0,
                stdio: [s[0], s[1], s[2]],
            })
        }
        Kind::Exit => Body::Exit {
            code: r.u32(f)? as i32,
        },
        Kind::Fork => Body::Fork {
            child_tgid: r.u32(f)?,
        },
        Kind::File => {
            let mut off = f + 24;
            let p1 = r.u16(f + 12)? as usize;
            let p2 = r.u16(f + 14)? as usize;
            Body::File(FileOp {
                op: r.u32(f)?,
                flags: r.u32(f + 4)?,
                mode: r.u32(f + 8)?,
                result: r.u64(f + 16)? as i64,
                path: r.string(&mut off, p1)?,
                path2: r.string(&mut off, p2)?,
            })
        }
        Kind::Net => {
            let plen = r.u16(f + 22)? as usize;
            let raw = r.bytes(f + 56, plen)?;
            let path = match raw.split_first() {
                // Abstract unix names start with NUL; shown with '@' as ss(8) does.
                Some((0, rest)) if !rest.is_empty() => Cow::Owned(format!("@{}", cstr(rest))),
                _ => cstr(raw),
            };
            Body::Net(NetOp {
                op: r.u32(f)?,
                fd: r.u32(f + 4)? as i32,
                result: r.u64(f + 8)? as i64,
                family: r.u16(f + 16)?,
                rport: r.u16(f + 18)?,
                lport: r.u16(f + 20)?,
                raddr: r.arr16(f + 24)?,
                laddr: r.arr16(f + 40)?,
                path,
            })
        }
        Kind::Proc => {
            let mut off = f + 32;
            let (l1, l2, l3) = (
                r.u16(f + 24)? as usize,
                r.u16(f + 26)? as usize,
                r.u16(f + 28)? as usize,
            );
            Body::Proc(ProcOp {
                op: r.u32(f)?,
                pid_ns_level: r.u32(f + 4)?,
                a: r.u64(f + 8)?,
                b: r.u64(f + 16)?,
                s1: r.string(&mut off, l1)?,
                s2: r.string(&mut off, l2)?,
                s3: r.string(&mut off, l3)?,
            })
        }
    };
    Ok(Record { kind, hdr, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(kind: u32) -> Vec<u8> {
        let mut b = vec![0u8; HDR_LEN];
        b[0..4].copy_from_slice(&kind.to_le_bytes());
        b[16..20].copy_from_slice(&42u32.to_le_bytes());
        b[20..24].copy_from_slice(&42u32.to_le_bytes());
        b[24..28].copy_from_slice(&1u32.to_le_bytes());
        b[64..68].copy_from_slice(b"bash");
        b
    }

    #[test]
    fn exec_record() {
        let mut b = hdr(1);
        let args = b"sh\0-c\0echo hi\0";
        b.extend_from_slice(&(args.len() as u32).to_le_bytes());
        b.extend_from_slice(&(EXEC_UPPER_LAYER).to_le_bytes());
        b.extend_from_slice(&8u16.to_le_bytes()); // "/bin/sh\0"
        b.extend_from_slice(&6u16.to_le_bytes()); // "/root\0"
        b.extend_from_slice(&2u16.to_le_bytes()); // "/\0"
        b.extend_from_slice(&[4, 3, 2, 0, 0, 0]);
        b.extend_from_slice(b"/bin/sh\0/root\0/\0");
        b.extend_from_slice(args);
        let r = parse(&b).unwrap();
        assert_eq!(r.kind, Kind::Exec);
        assert_eq!(r.hdr.comm, "bash");
        assert_eq!(r.hdr.ppid, 1);
        let Body::Exec(e) = r.body else { panic!() };
        assert_eq!(e.exe, "/bin/sh");
        assert_eq!(e.cwd, "/root");
        assert_eq!(e.cgroup, "/");
        assert_eq!(e.args, vec!["sh", "-c", "echo hi"]);
        assert!(e.upper_layer && !e.args_truncated);
        assert_eq!(e.stdio, [4, 3, 2]);
    }

    #[test]
    fn truncated_records_are_errors_not_panics() {
        let mut b = hdr(1);
        b.extend_from_slice(&1000u32.to_le_bytes());
        b.extend_from_slice(&[0u8; 16]);
        assert!(parse(&b).is_err());
        for n in 0..b.len() {
            let _ = parse(&b[..n]);
        }
        let mut b = hdr(4);
        b.extend_from_slice(&[0u8; 12]);
        b.extend_from_slice(&u16::MAX.to_le_bytes());
        b.extend_from_slice(&[0u8; 10]);
        assert!(parse(&b).is_err());
        assert!(parse(&hdr(99)).is_err());
    }

    #[test]
    fn args_splitting() {
        assert_eq!(split_args(b""), Vec::<String>::new());
        assert_eq!(split_args(b"a\0b\0"), vec!["a", "b"]);
        // cut in the middle of the last argument
        assert_eq!(split_args(b"a\0bc"), vec!["a", "bc"]);
        assert_eq!(split_args(b"a\0\0b\0"), vec!["a", "", "b"]);
    }

    #[test]
    fn abstract_unix_path() {
        let mut b = hdr(5);
        let mut fixed = vec![0u8; 56];
        fixed[0..4].copy_from_slice(&N_CONNECT.to_le_bytes());
        fixed[16..18].copy_from_slice(&1u16.to_le_bytes());
        fixed[22..24].copy_from_slice(&5u16.to_le_bytes());
        b.extend_from_slice(&fixed);
        b.extend_from_slice(b"\0abcd");
        let Body::Net(n) = parse(&b).unwrap().body else {
            panic!()
        };
        assert_eq!(n.path, "@abcd");
    }
}
