/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * Wire format between the kernel programs and kdr-sensor's userspace (src/wire.rs).
 * Every record starts with `struct hdr`; the kind-specific fixed part follows it and the
 * variable-length strings follow that, back to back, each NUL-terminated, their lengths
 * (NUL included) given in the fixed part. Little-endian, no implicit padding.
 * Changing anything here means changing src/wire.rs too.
 */
#ifndef KDR_SENSOR_H
#define KDR_SENSOR_H

enum kdr_kind {
	K_EXEC = 1,
	K_EXIT = 2,
	K_FORK = 3,
	K_FILE = 4,
	K_NET = 5,
	K_PROC = 6,
	K_MAX = 7,
};

/* K_FILE ops; also the bits of a watch entry's value (which ops it selects). */
enum kdr_file_op {
	F_READ = 1 << 0,
	F_WRITE = 1 << 1,
	F_CREATE = 1 << 2,
	F_TRUNC = 1 << 3,
	F_UNLINK = 1 << 4,
	F_RENAME = 1 << 5,
	F_UTIMES = 1 << 6,
	F_CHMOD = 1 << 7,
};

enum kdr_net_op {
	N_CONNECT = 1,
	N_ACCEPT = 2,
	N_LISTEN = 3,
	N_BIND = 4,
};

enum kdr_proc_op {
	P_UNSHARE = 1,
	P_SETNS = 2,
	P_CLONE = 3,
	P_PTRACE = 4,
	P_KILL = 5,
	P_MEMFD = 6,
	P_MODULE = 7,
	P_MOUNT = 8,
};

/* exec flags */
#define EXEC_ARGS_TRUNCATED 1
#define EXEC_UPPER_LAYER 2
#define EXEC_PATH_TRUNCATED 4

/* stdio kinds */
#define FD_UNKNOWN 0
#define FD_FILE 1
#define FD_TTY 2
#define FD_PIPE 3
#define FD_SOCKET 4
#define FD_CLOSED 5

struct hdr {
	__u32 kind;
	__u32 size; /* whole record, header included */
	__u64 ktime; /* CLOCK_MONOTONIC ns */
	__u32 pid; /* thread id */
	__u32 tgid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u64 cgroup_id;
	__u64 mntns;
	__u64 start_time; /* thread-group leader start, CLOCK_MONOTONIC ns */
	char comm[16];
}; /* 80 bytes */

struct exec_fixed {
	__u32 args_len;
	__u32 flags;
	__u16 exe_len;
	__u16 cwd_len;
	__u16 cgroup_len;
	__u8 stdio[3];
	__u8 pad[3];
}; /* 20; data: exe, cwd, cgroup path, args (NUL-separated, args_len bytes) */

struct exit_fixed {
	__s32 code;
	__u32 pad;
};

struct fork_fixed {
	__u32 child_tgid;
	__u32 pad;
};

struct file_fixed {
	__u32 op; /* one F_* for unlink/rename/utimes/chmod; F_READ|F_WRITE|F_CREATE|F_TRUNC mix for open */
	__u32 flags; /* open flags, or utimes: 1 when explicit times were given */
	__u32 mode;
	__u16 path_len;
	__u16 path2_len;
	__s64 result;
}; /* 24; data: path, path2 */

struct net_fixed {
	__u32 op;
	__s32 fd;
	__s64 result;
	__u16 family;
	__u16 rport; /* host order */
	__u16 lport;
	__u16 path_len; /* unix socket path incl. NUL, 0 if none */
	__u8 raddr[16];
	__u8 laddr[16];
}; /* 56; data: unix path */

struct proc_fixed {
	__u32 op;
	__u32 pad; /* P_KILL: pid namespace level of the caller (0: host pids) */
	__u64 a; /* flags, nstype, ptrace request, signal */
	__u64 b; /* target pid */
	__u16 s1_len;
	__u16 s2_len;
	__u16 s3_len;
	__u16 pad2;
}; /* 32; data: s1, s2, s3 */

#define WATCH_KEY_LEN 128
struct watch_key {
	__u32 prefixlen; /* bits */
	__u8 data[WATCH_KEY_LEN];
};

_Static_assert(sizeof(struct hdr) == 80, "wire.rs expects 80");
_Static_assert(sizeof(struct exec_fixed) == 20, "wire.rs expects 20");
_Static_assert(sizeof(struct exit_fixed) == 8, "wire.rs expects 8");
_Static_assert(sizeof(struct fork_fixed) == 8, "wire.rs expects 8");
_Static_assert(sizeof(struct file_fixed) == 24, "wire.rs expects 24");
_Static_assert(sizeof(struct net_fixed) == 56, "wire.rs expects 56");
_Static_assert(sizeof(struct proc_fixed) == 32, "wire.rs expects 32");

#endif
