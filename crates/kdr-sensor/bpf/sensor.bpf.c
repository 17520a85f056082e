// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
/*
 * kdr node sensor: kernel side.
 *
 * Tracepoints and raw tracepoints only (no kprobes, no BPF LSM): the nodes kdr runs on may
 * have neither. Field access goes through CO-RE so one object runs on every BTF kernel.
 * Records are built in a per-CPU scratch buffer and copied into one ring buffer with their
 * real length (bpf_ringbuf_output), so a short exec costs a few hundred bytes, not the 8 KiB
 * bound. Syscalls whose result matters (open, connect, bind, ...) are staged in `pending` (task
 * storage) at entry and sent at exit with the return value; connect and bind records are
 * built there directly. Every failed ring buffer write or
 * staging is counted per record kind in `drops`; nothing is lost silently.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "sensor.h"

/* The kernel refuses gpl_only helpers (probe_read_kernel, ...) to other licenses. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PBUF 512 /* bound of one path, NUL included */
#define REC_SZ 8192
#define ARGS_MAX 4096
#define MAX_DEPTH 32 /* path components walked */
#define CG_DEPTH 8 /* cgroup path components walked */
#define PENDING_SZ 1280
#define HDR_SZ ((__u32)sizeof(struct hdr))
#define WAKE_BYTES (256 << 10)

#define AT_FDCWD -100
#define O_ACCMODE 3
#define O_CREAT 0100
#define O_TRUNC 01000
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define S_IFIFO 0010000
#define S_IFCHR 0020000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define CLONE_NEW_MASK 0x7E020080ULL /* NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME */

/* Set by userspace before load (.rodata). */
const volatile __u32 sensor_tgid = 0;
const volatile __u64 host_mntns = 0;
const volatile __u32 drift = 1;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, K_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct scratch {
	__u8 rec[REC_SZ];
	char walk[2 * PBUF];
	char tmp[2 * PBUF];
	char path[2 * PBUF];
	char path2[2 * PBUF];
	struct watch_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct pending_rec {
	__u8 rec[PENDING_SZ];
};

/* A record staged at a syscall's entry until its exit, per thread. Task storage is reached
 * from the task itself (no hashing, no LRU bookkeeping as a hash map keyed by thread id
 * needs), is reused by the thread's later syscalls and goes with the task. A sent record is
 * marked by clearing its kind. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pending_rec);
} pending SEC(".maps");

/* Watched paths: value = F_* ops to report. Prefix keys hold the path's first bytes, suffix
 * keys its last bytes reversed, so both are longest-prefix lookups. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 512);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct watch_key);
	__type(value, __u32);
} watch_prefix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 512);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct watch_key);
	__type(value, __u32);
} watch_suffix SEC(".maps");

/* Layout of syscalls/sys_enter_* and sys_exit_* tracepoint records. */
struct sys_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

/* Before 6.15 kernfs_node's parent was called `parent`. */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline void count_drop(__u32 kind)
{
	__u64 *c = bpf_map_lookup_elem(&drops, &kind);
	if (c)
		__sync_fetch_and_add(c, 1);
}

static __always_inline void emit(void *rec, __u32 size, __u32 max)
{
	struct hdr *h = rec;
	__u32 kind = h->kind;
	if (size > max)
		size = max;
	if (size < HDR_SZ)
		return;
	h->size = size;
	/* Flags 0 is the kernel's adaptive wakeup: the reader is woken only when it had read
	 * everything before this record, i.e. when it is idle and waiting; under load it reads
	 * on its own schedule (src/delivery.rs). A big backlog wakes it in any case. */
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKE_BYTES
			      ? BPF_RB_FORCE_WAKEUP
			      : 0;
	if (bpf_ringbuf_output(&events, rec, size, flags))
		count_drop(kind);
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline bool is_self(void)
{
	return bpf_get_current_task_btf()->tgid == sensor_tgid;
}

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

/* kn_parent(kn) != NULL for a BTF-typed kn, by direct load. */
static __always_inline bool kn_has_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return kn->__parent != NULL;
	return ((struct kernfs_node___old *)kn)->parent != NULL;
}

/* The cgroup a task is attributed by: its cgroup v2 one, unless that is the root, in which case
 * (cgroup v1 or hybrid hosts whose runtime only uses v1) its memory controller's one. Direct
 * loads from the BTF-typed task (see fill_hdr): this runs for every record. */
static __always_inline struct kernfs_node *task_cgroup_kn(struct task_struct *t)
{
	struct kernfs_node *kn = t->cgroups->dfl_cgrp->kn;
	if (kn && kn_has_parent(kn))
		return kn;
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		struct cgroup_subsys_state *css =
			t->cgroups->subsys[bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id)];
		if (css && css->cgroup->kn)
			return css->cgroup->kn;
	}
	return kn;
}

/* The header, read through the BTF-typed current task: direct loads (fault-safe, a NULL
 * pointer reads as 0) cost a fraction of a helper call (bpf_get_current_comm, ...) or a
 * probe read each, and this runs for every record. */
static __always_inline void *fill_hdr(__u8 *rec, __u32 kind)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct hdr *h = (void *)rec;
	const struct cred *cred = t->cred;

	h->kind = kind;
	h->size = 0;
	h->ktime = bpf_ktime_get_ns();
	h->pid = t->pid;
	h->tgid = t->tgid;
	h->ppid = t->real_parent->tgid;
	/* kuids are init_user_ns ids, as bpf_get_current_uid_gid() gives them. */
	h->uid = cred->uid.val;
	h->gid = cred->gid.val;
	h->euid = cred->euid.val;
	struct kernfs_node *kn = task_cgroup_kn(t);
	h->cgroup_id = kn ? kn->id : 0;
	h->mntns = t->nsproxy->mnt_ns->ns.inum;
	h->start_time = t->group_leader->start_time;
	__builtin_memcpy(h->comm, t->comm, sizeof(h->comm));
	return rec + HDR_SZ;
}

static __always_inline bool in_container(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 ns = BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
	return host_mntns != 0 && ns != host_mntns;
}

struct walk_ctx {
	struct scratch *s; /* looked up once by the caller, not once per step */
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_d;
	struct vfsmount *root_m;
	struct kernfs_node *kn;
	__u32 pos;
	__u32 trunc;
};

/* One step of walk_path (a bpf_loop callback: verified once, not once per iteration). */
static long walk_step(__u32 i, struct walk_ctx *c)
{
	struct scratch *s = c->s;
	struct dentry *dentry = c->dentry;
	if (!s || !dentry)
		return 1;
	if (dentry == c->root_d && c->vfsmnt == c->root_m)
		return 1;
	/* Copied to locals: BPF_CORE_READ must not relocate walk_ctx's own fields. */
	struct vfsmount *vfsmnt = c->vfsmnt;
	struct mount *mnt = c->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);
		if (mp == mnt || !mp)
			return 1;
		c->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		c->mnt = mp;
		c->vfsmnt = (void *)mp + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	__u32 len = BPF_CORE_READ(dentry, d_name.len);
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	__u32 pos = c->pos;
	if (len > 255)
		len = 255;
	if (len + 1 > pos) {
		c->trunc = 1;
		return 1;
	}
	pos -= len;
	bpf_probe_read_kernel(&s->walk[pos & (PBUF - 1)], len, name);
	pos -= 1;
	s->walk[pos & (PBUF - 1)] = '/';
	c->pos = pos;
	c->dentry = parent;
	return 0;
}

/* Walks a dentry up to the task's root, writing the path backwards so that it ends at
 * walk[PBUF-1] (the NUL). Returns the start offset. Like d_path, it crosses mounts and stops
 * at the caller's root, so a container's paths are as the container sees them. */
static __always_inline __u32 walk_path(struct scratch *s, struct dentry *dentry,
				       struct vfsmount *vfsmnt, bool *trunc)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct walk_ctx c = {
		.s = s,
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt),
		.root_d = BPF_CORE_READ(t, fs, root.dentry),
		.root_m = BPF_CORE_READ(t, fs, root.mnt),
		.pos = PBUF - 1,
	};

	s->walk[PBUF - 1] = 0;
	bpf_loop(MAX_DEPTH, walk_step, &c, 0);
	__u32 pos = c.pos & (PBUF - 1);
	if (c.trunc)
		*trunc = true;
	if (pos == PBUF - 1) {
		pos -= 1;
		s->walk[pos] = '/';
	}
	return pos;
}

/* Copies the walked path (from walk_path/walk_kn) to dst; returns its size with the NUL. */
static __always_inline __u32 walk_copy(struct scratch *s, __u32 pos, char *dst)
{
	__u32 n = PBUF - (pos & (PBUF - 1));
	barrier_var(n);
	if (n > PBUF)
		n = PBUF;
	bpf_probe_read_kernel(dst, n, &s->walk[pos & (PBUF - 1)]);
	return n;
}

static long kn_step(__u32 i, struct walk_ctx *c)
{
	struct scratch *s = c->s;
	struct kernfs_node *kn = c->kn;
	if (!s || !kn)
		return 1;
	struct kernfs_node *parent = kn_parent(kn);
	if (!parent)
		return 1;
	const char *name = BPF_CORE_READ(kn, name);
	int n = bpf_probe_read_kernel_str(s->tmp, 256, name);
	if (n <= 1)
		return 1;
	__u32 len = (n - 1) & 255;
	__u32 pos = c->pos;
	if (len + 1 > pos)
		return 1;
	pos -= len;
	bpf_probe_read_kernel(&s->walk[pos & (PBUF - 1)], len, s->tmp);
	pos -= 1;
	s->walk[pos & (PBUF - 1)] = '/';
	c->pos = pos;
	c->kn = parent;
	return 0;
}

/* The cgroup's path, written like walk_path. */
static __always_inline __u32 walk_kn(struct scratch *s, struct kernfs_node *kn)
{
	struct walk_ctx c = { .s = s, .kn = kn, .pos = PBUF - 1 };

	s->walk[PBUF - 1] = 0;
	bpf_loop(CG_DEPTH, kn_step, &c, 0);
	__u32 pos = c.pos & (PBUF - 1);
	if (pos == PBUF - 1) {
		pos -= 1;
		s->walk[pos] = '/';
	}
	return pos;
}

/* The file behind a descriptor of the BTF-typed task t: direct loads down to the table, one
 * read for the slot (a variable index). */
static __always_inline struct file *fd_file(struct task_struct *t, int fd)
{
	struct fdtable *fdt = t->files->fdt;
	if (!fdt)
		return NULL;
	unsigned int max = fdt->max_fds;
	struct file **fds = fdt->fd;
	struct file *f = NULL;

	if (fd < 0 || (unsigned int)fd >= max)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline __u8 fd_kind(struct task_struct *t, int fd)
{
	struct file *f = fd_file(t, fd);
	if (!f)
		return FD_CLOSED;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	__u16 mode = BPF_CORE_READ(ino, i_mode);
	switch (mode & S_IFMT) {
	case S_IFSOCK:
		return FD_SOCKET;
	case S_IFIFO:
		return FD_PIPE;
	case S_IFCHR: {
		/* ttys: majors 4 and 5 (tty, console, ptmx), 136-143 (pts). */
		__u32 major = BPF_CORE_READ(ino, i_rdev) >> 20;
		if (major == 4 || major == 5 || (major >= 136 && major <= 143))
			return FD_TTY;
		return FD_FILE;
	}
	default:
		return FD_FILE;
	}
}

/* An executable whose file lives in an overlay's upper layer was written (or modified) after
 * the container started: not part of its image. */
static __always_inline bool in_upper_layer(struct file *f)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	unsigned long magic = BPF_CORE_READ(ino, i_sb, s_magic);
	if (magic != OVERLAYFS_SUPER_MAGIC)
		return false;
	if (!bpf_core_type_exists(struct ovl_inode))
		return false;
	struct ovl_inode *oi = (void *)ino - bpf_core_field_offset(struct ovl_inode, vfs_inode);
	return BPF_CORE_READ(oi, __upperdentry) != NULL;
}

// ---------------------------------------------------------------------------------------------
// Process lifecycle

SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(void *ctx)
{
	if (is_self())
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct exec_fixed *x = fill_hdr(s->rec, K_EXEC);
	char *data = (char *)s->rec + HDR_SZ + sizeof(*x);
	__u32 off = 0, n, flags = 0;
	bool trunc = false;

	struct file *exe = BPF_CORE_READ(t, mm, exe_file);
	__u32 pos = walk_path(s, BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt),
			      &trunc);
	n = walk_copy(s, pos, data);
	x->exe_len = n;
	off = n;
	if (exe && in_upper_layer(exe))
		flags |= EXEC_UPPER_LAYER;

	pos = walk_path(s, BPF_CORE_READ(t, fs, pwd.dentry), BPF_CORE_READ(t, fs, pwd.mnt), &trunc);
	n = walk_copy(s, pos, data + (off & 2047));
	x->cwd_len = n;
	off += n;

	pos = walk_kn(s, task_cgroup_kn(t));
	n = walk_copy(s, pos, data + (off & 2047));
	x->cgroup_len = n;
	off += n;
	if (trunc)
		flags |= EXEC_PATH_TRUNCATED;

	unsigned long a0 = BPF_CORE_READ(t, mm, arg_start);
	unsigned long a1 = BPF_CORE_READ(t, mm, arg_end);
	__u32 alen = 0;
	if (a1 > a0) {
		unsigned long want = a1 - a0;
		if (want > ARGS_MAX)
			flags |= EXEC_ARGS_TRUNCATED;
		alen = want > ARGS_MAX ? ARGS_MAX : want;
		/* Re-check after hiding the value from clang so the verifier sees the bound. */
		barrier_var(alen);
		if (alen > ARGS_MAX)
			alen = ARGS_MAX;
		if (bpf_probe_read_user(data + (off & 2047), alen, (void *)a0))
			alen = 0;
	}
	x->args_len = alen;
	off = (off & 2047) + alen;
	x->flags = flags;
	x->stdio[0] = fd_kind(t, 0);
	x->stdio[1] = fd_kind(t, 1);
	x->stdio[2] = fd_kind(t, 2);
	x->pad[0] = x->pad[1] = x->pad[2] = 0;
	emit(s->rec, HDR_SZ + sizeof(*x) + off, REC_SZ);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(void *ctx)
{
	if (is_self())
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	/* Only the last thread of a process: do_exit has already decremented signal->live. */
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct exit_fixed *x = fill_hdr(s->rec, K_EXIT);
	int code = BPF_CORE_READ(t, exit_code);
	/* Shell convention: the exit status, or 128 + the signal that killed it. */
	x->code = (code & 0x7f) ? 128 + (code & 0x7f) : (code >> 8) & 0xff;
	x->pad = 0;
	emit(s->rec, HDR_SZ + sizeof(*x), REC_SZ);
	return 0;
}

/* Our own view of the raw tracepoint context: vmlinux.h's has a flexible array whose CO-RE
 * relocation some loaders reject, and the context layout is fixed ABI anyway. */
struct raw_tp_args {
	__u64 args[2];
};

SEC("raw_tracepoint/sched_process_fork")
int raw_sched_process_fork(struct raw_tp_args *ctx)
{
	if (is_self())
		return 0;
	struct task_struct *child = (void *)ctx->args[1];
	__u32 pid = BPF_CORE_READ(child, pid);
	__u32 tgid = BPF_CORE_READ(child, tgid);
	/* New threads do not change the process tree. */
	if (pid != tgid)
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct fork_fixed *x = fill_hdr(s->rec, K_FORK);
	x->child_tgid = tgid;
	x->pad = 0;
	emit(s->rec, HDR_SZ + sizeof(*x), REC_SZ);
	return 0;
}

// ---------------------------------------------------------------------------------------------
// Files

/* Resolves (dfd, upath) to an absolute path in dst (2*PBUF bytes); returns its length
 * without the NUL, or -1. A NULL upath means the file dfd refers to (fchmod, futimens). */
static __always_inline int resolve(struct scratch *s, int dfd, const char *upath, char *dst)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct dentry *d;
	struct vfsmount *m;
	bool trunc = false;
	int n = 0;

	if (upath) {
		n = bpf_probe_read_user_str(s->tmp, PBUF, upath);
		if (n <= 0)
			return -1;
		if (s->tmp[0] == '/') {
			/* n <= PBUF; clamped (not masked: n == PBUF, a cut path, must copy). */
			__u32 c = n;
			barrier_var(c);
			if (c > PBUF)
				c = PBUF;
			bpf_probe_read_kernel(dst, c, s->tmp);
			dst[(c - 1) & (PBUF - 1)] = 0;
			return c - 1;
		}
	}
	if (dfd == AT_FDCWD || (!upath && dfd < 0)) {
		d = BPF_CORE_READ(t, fs, pwd.dentry);
		m = BPF_CORE_READ(t, fs, pwd.mnt);
	} else {
		struct file *f = fd_file(t, dfd);
		if (!f)
			return -1;
		d = BPF_CORE_READ(f, f_path.dentry);
		m = BPF_CORE_READ(f, f_path.mnt);
	}
	__u32 pos = walk_path(s, d, m, &trunc);
	__u32 blen = walk_copy(s, pos, dst) - 1; /* without the NUL */
	if (!upath)
		return blen;
	__u32 o = blen & (PBUF - 1);
	if (o > 1) { /* not "/" */
		dst[o] = '/';
		o++;
	}
	__u32 rest = n; /* relative name with its NUL */
	if (o + rest > PBUF)
		rest = PBUF - o;
	bpf_probe_read_kernel(dst + (o & (PBUF - 1)), rest & (PBUF - 1), s->tmp);
	__u32 end = (o + rest - 1) & (PBUF - 1);
	dst[end] = 0;
	return end;
}

struct rev_ctx {
	struct scratch *s; /* looked up once by the caller, not once per byte */
	__u32 len;
	__u32 second; /* reverse s->path2 instead of s->path */
};

static long rev_step(__u32 i, struct rev_ctx *c)
{
	struct scratch *s = c->s;
	if (!s || i >= c->len || i >= WATCH_KEY_LEN)
		return 1;
	__u32 src = (c->len - 1 - i) & (2 * PBUF - 1);
	s->key.data[i & (WATCH_KEY_LEN - 1)] = c->second ? s->path2[src] : s->path[src];
	return 0;
}

/* Which watched ops apply to this path (s->path, or s->path2 when second): a longest-prefix
 * lookup on the path and one on its reversed tail (for names like .bash_history anywhere). */
static __always_inline __u32 watched(struct scratch *s, int len, bool second)
{
	__u32 ops = 0, *v;
	if (len <= 0)
		return 0;
	__u32 l = len > WATCH_KEY_LEN ? WATCH_KEY_LEN : len;
	s->key.prefixlen = l * 8;
	bpf_probe_read_kernel(s->key.data, WATCH_KEY_LEN, second ? s->path2 : s->path);
	v = bpf_map_lookup_elem(&watch_prefix, &s->key);
	if (v)
		ops |= *v;
	struct rev_ctx c = { .s = s, .len = len, .second = second };
	bpf_loop(WATCH_KEY_LEN, rev_step, &c, 0);
	v = bpf_map_lookup_elem(&watch_suffix, &s->key);
	if (v)
		ops |= *v;
	return ops;
}

/* The thread's staging slot, created on first use; failing that, a drop of `kind`. */
static __always_inline struct pending_rec *pending_slot(__u32 kind)
{
	struct pending_rec *p = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0,
						     BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p)
		count_drop(kind);
	return p;
}

static __always_inline void stage(struct scratch *s, __u32 size)
{
	struct hdr *h = (void *)s->rec;
	struct pending_rec *p = pending_slot(h->kind);
	if (!p)
		return;
	barrier_var(size);
	if (size > PENDING_SZ)
		size = PENDING_SZ;
	h->size = size;
	bpf_probe_read_kernel(p->rec, size, s->rec);
}

static __always_inline int file_event(__u32 op, __u32 flags, __u32 mode, int dfd,
				      const char *upath, int dfd2, const char *upath2)
{
	if (is_self())
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	int len = resolve(s, dfd, upath, s->path);
	if (len < 0)
		return 0;
	__u32 ops = watched(s, len, false);
	int len2 = -1;
	if (op == F_RENAME) {
		len2 = resolve(s, dfd2, upath2, s->path2);
		if (len2 >= 0)
			ops |= watched(s, len2, true);
	}
	bool report = (ops & op) != 0;
	if (!report && drift && in_container()) {
		/* Drift: files created for writing, and exec bits set, inside containers. */
		if ((op & F_CREATE) && (op & F_WRITE))
			report = true;
		if (op == F_CHMOD && (mode & 0111))
			report = true;
	}
	if (!report)
		return 0;

	struct file_fixed *x = fill_hdr(s->rec, K_FILE);
	char *data = (char *)s->rec + HDR_SZ + sizeof(*x);
	x->op = op;
	x->flags = flags;
	x->mode = mode;
	x->result = 0;
	/* Clamped, not masked: a 511-byte path must not become an empty one. */
	__u32 n1 = len + 1;
	barrier_var(n1);
	if (n1 > PBUF - 1)
		n1 = PBUF - 1;
	bpf_probe_read_kernel(data, n1, s->path);
	x->path_len = n1;
	__u32 n2 = 0;
	if (len2 >= 0) {
		n2 = len2 + 1;
		barrier_var(n2);
		if (n2 > PBUF - 1)
			n2 = PBUF - 1;
		bpf_probe_read_kernel(data + n1, n2, s->path2);
	}
	x->path2_len = n2;
	stage(s, HDR_SZ + sizeof(*x) + n1 + n2);
	return 0;
}

static __always_inline __u32 open_op(__u32 flags)
{
	__u32 op = (flags & O_ACCMODE) == 0 ? F_READ : F_WRITE;
	if ((flags & O_ACCMODE) == 2)
		op |= F_READ;
	if (flags & O_CREAT)
		op |= F_CREATE;
	if (flags & O_TRUNC)
		op |= F_TRUNC;
	return op;
}

#define ENTER(name) SEC("tracepoint/syscalls/sys_enter_" #name) int enter_##name(struct sys_enter_ctx *ctx)
#define A(i) (ctx->args[i])

ENTER(open)
{
	__u32 fl = A(1);
	return file_event(open_op(fl), fl, A(2), AT_FDCWD, (void *)A(0), 0, 0);
}

ENTER(creat)
{
	__u32 fl = 01 | O_CREAT | O_TRUNC;
	return file_event(open_op(fl), fl, A(1), AT_FDCWD, (void *)A(0), 0, 0);
}

ENTER(openat)
{
	__u32 fl = A(2);
	return file_event(open_op(fl), fl, A(3), A(0), (void *)A(1), 0, 0);
}

ENTER(openat2)
{
	__u64 fl = 0, mode = 0;
	struct open_how *how = (void *)A(2);
	bpf_probe_read_user(&fl, sizeof(fl), &how->flags);
	bpf_probe_read_user(&mode, sizeof(mode), &how->mode);
	return file_event(open_op(fl), fl, mode, A(0), (void *)A(1), 0, 0);
}

ENTER(unlink)
{
	return file_event(F_UNLINK, 0, 0, AT_FDCWD, (void *)A(0), 0, 0);
}

ENTER(unlinkat)
{
	return file_event(F_UNLINK, A(2), 0, A(0), (void *)A(1), 0, 0);
}

ENTER(rename)
{
	return file_event(F_RENAME, 0, 0, AT_FDCWD, (void *)A(0), AT_FDCWD, (void *)A(1));
}

ENTER(renameat)
{
	return file_event(F_RENAME, 0, 0, A(0), (void *)A(1), A(2), (void *)A(3));
}

ENTER(renameat2)
{
	return file_event(F_RENAME, A(4), 0, A(0), (void *)A(1), A(2), (void *)A(3));
}

/* flags = 1 when the caller gave explicit times (e.g. touch -r copying another file's):
 * timestomping, as opposed to "now". */
ENTER(utimensat)
{
	return file_event(F_UTIMES, A(2) != 0, 0, A(0), (void *)A(1), 0, 0);
}

ENTER(futimesat)
{
	return file_event(F_UTIMES, A(2) != 0, 0, A(0), (void *)A(1), 0, 0);
}

ENTER(utimes)
{
	return file_event(F_UTIMES, A(1) != 0, 0, AT_FDCWD, (void *)A(0), 0, 0);
}

ENTER(utime)
{
	return file_event(F_UTIMES, A(1) != 0, 0, AT_FDCWD, (void *)A(0), 0, 0);
}

ENTER(chmod)
{
	return file_event(F_CHMOD, 0, A(1), AT_FDCWD, (void *)A(0), 0, 0);
}

ENTER(fchmod)
{
	return file_event(F_CHMOD, 0, A(1), A(0), 0, 0, 0);
}

ENTER(fchmodat)
{
	return file_event(F_CHMOD, 0, A(2), A(0), (void *)A(1), 0, 0);
}

ENTER(fchmodat2)
{
	return file_event(F_CHMOD, A(3), A(2), A(0), (void *)A(1), 0, 0);
}

// ---------------------------------------------------------------------------------------------
// Network

static __always_inline struct sock *file_sock(struct file *f)
{
	if (!f)
		return NULL;
	__u16 mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *so = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(so, sk);
}

/* The start of struct sock_common: IPv4 addresses, ports and family, laid out so since
 * Linux 2.6.38. Read in one go when this kernel agrees (CO-RE offsets, checked at load). */
struct sk_head {
	__u32 daddr;
	__u32 rcv_saddr;
	__u32 hash;
	__u16 dport;
	__u16 num;
	__u16 family;
};

static __always_inline bool sk_head_fits(void)
{
	return bpf_core_field_offset(struct sock_common, skc_daddr) == 0 &&
	       bpf_core_field_offset(struct sock_common, skc_rcv_saddr) == 4 &&
	       bpf_core_field_offset(struct sock_common, skc_dport) == 12 &&
	       bpf_core_field_offset(struct sock_common, skc_num) == 14 &&
	       bpf_core_field_offset(struct sock_common, skc_family) == 16 &&
	       bpf_core_field_offset(struct sock, __sk_common) == 0;
}

static __always_inline int sock_head(struct sock *sk, struct sk_head *h)
{
	if (sk_head_fits())
		return bpf_probe_read_kernel(h, sizeof(*h), sk);
	h->daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	h->rcv_saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
	h->dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	h->num = BPF_CORE_READ(sk, __sk_common.skc_num);
	h->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	return 0;
}

/* Fills x's local address (and remote, if asked) from the socket and its head. */
static __always_inline void sock_addrs(struct sock *sk, const struct sk_head *h,
				       struct net_fixed *x, bool remote)
{
	if (!x->family)
		x->family = h->family;
	x->lport = h->num;
	if (h->family == AF_INET) {
		__builtin_memcpy(x->laddr, &h->rcv_saddr, 4);
		if (remote) {
			__builtin_memcpy(x->raddr, &h->daddr, 4);
			x->rport = bpf_ntohs(h->dport);
		}
	} else if (h->family == AF_INET6) {
		BPF_CORE_READ_INTO(&x->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		if (remote) {
			BPF_CORE_READ_INTO(&x->raddr, sk, __sk_common.skc_v6_daddr);
			x->rport = bpf_ntohs(h->dport);
		}
	}
}

static __always_inline struct net_fixed *net_begin(__u8 *rec, __u32 op, int fd)
{
	struct net_fixed *x = fill_hdr(rec, K_NET);
	__builtin_memset(x, 0, sizeof(*x));
	x->op = op;
	x->fd = fd;
	return x;
}

/* Parses a user sockaddr into x (remote for connect, local for bind); returns the bytes of
 * unix path copied after x, or -1 for families not reported. Family, port and IP address
 * come in one read (a sockaddr_in6 is 28 bytes). */
static __always_inline int user_sockaddr(struct net_fixed *x, const void *uaddr, int alen,
					 bool into_local)
{
	__u8 sa[28] = {};
	if (!uaddr || alen < 2)
		return -1;
	__u32 n = alen;
	barrier_var(n);
	if (n > sizeof(sa))
		n = sizeof(sa);
	if (bpf_probe_read_user(sa, n, uaddr))
		return -1;
	__u16 fam = *(__u16 *)sa;
	__u16 port = *(__u16 *)(sa + 2);
	__u8 *addr = into_local ? x->laddr : x->raddr;
	x->family = fam;
	if (fam == AF_INET) {
		__builtin_memcpy(addr, sa + 4, 4);
	} else if (fam == AF_INET6) {
		__builtin_memcpy(addr, sa + 8, 16);
	} else if (fam == AF_UNIX) {
		/* Abstract names start with a NUL and are not NUL-terminated: copy bytes. */
		__u32 plen = alen - 2;
		if (plen > 108)
			plen = 108;
		char *dst = (char *)(x + 1);
		if (plen && bpf_probe_read_user(dst, plen & 127, uaddr + 2))
			plen = 0;
		x->path_len = plen;
		return plen;
	} else {
		return -1;
	}
	if (into_local)
		x->lport = bpf_ntohs(port);
	else
		x->rport = bpf_ntohs(port);
	return 0;
}

/* connect and bind: the record is built in the thread's staging slot itself and sent at the
 * syscall's exit with its result. */
static __always_inline int stage_sockaddr(__u32 op, int fd, const void *uaddr, int alen,
					  bool into_local)
{
	if (is_self())
		return 0;
	struct pending_rec *p = pending_slot(K_NET);
	if (!p)
		return 0;
	struct hdr *h = (void *)p->rec;
	struct net_fixed *x = net_begin(p->rec, op, fd);
	int plen = user_sockaddr(x, uaddr, alen, into_local);
	if (plen < 0) {
		h->kind = 0;
		return 0;
	}
	h->size = HDR_SZ + sizeof(*x) + (plen & 127);
	return 0;
}

ENTER(connect)
{
	return stage_sockaddr(N_CONNECT, A(0), (void *)A(1), A(2), false);
}

ENTER(bind)
{
	return stage_sockaddr(N_BIND, A(0), (void *)A(1), A(2), true);
}

ENTER(listen)
{
	if (is_self())
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct sock *sk = file_sock(fd_file(t, A(0)));
	if (!sk)
		return 0;
	struct sk_head h = {};
	if (sock_head(sk, &h))
		return 0;
	struct net_fixed *x = net_begin(s->rec, N_LISTEN, A(0));
	sock_addrs(sk, &h, x, false);
	emit(s->rec, HDR_SZ + sizeof(*x), REC_SZ);
	return 0;
}

static __always_inline int accepted(struct sys_exit_ctx *ctx)
{
	if (ctx->ret < 0 || is_self())
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct sock *sk = file_sock(fd_file(t, ctx->ret));
	if (!sk)
		return 0;
	struct sk_head h = {};
	/* Unix accepts are local IPC, high volume and carry no peer address. */
	if (sock_head(sk, &h) || (h.family != AF_INET && h.family != AF_INET6))
		return 0;
	struct net_fixed *x = net_begin(s->rec, N_ACCEPT, ctx->ret);
	sock_addrs(sk, &h, x, true);
	x->result = ctx->ret;
	emit(s->rec, HDR_SZ + sizeof(*x), REC_SZ);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct sys_exit_ctx *ctx)
{
	return accepted(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct sys_exit_ctx *ctx)
{
	return accepted(ctx);
}

// ---------------------------------------------------------------------------------------------
// Syscall exits: send what the entry staged, with the result.

static __always_inline int finish(struct sys_exit_ctx *ctx)
{
	struct pending_rec *p = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0, 0);
	if (!p)
		return 0;
	struct hdr *h = (void *)p->rec;
	if (!h->kind)
		return 0;
	if (h->kind == K_FILE) {
		struct file_fixed *x = (void *)(p->rec + HDR_SZ);
		x->result = ctx->ret;
	} else if (h->kind == K_NET) {
		struct net_fixed *x = (void *)(p->rec + HDR_SZ);
		x->result = ctx->ret;
		if (x->op == N_CONNECT) {
			/* The local address exists once connect has run (even EINPROGRESS). */
			struct task_struct *t = bpf_get_current_task_btf();
			struct sock *sk = file_sock(fd_file(t, x->fd));
			struct sk_head sh = {};
			if (sk && !sock_head(sk, &sh))
				sock_addrs(sk, &sh, x, false);
		}
	}
	emit(p->rec, h->size, PENDING_SZ);
	h->kind = 0;
	return 0;
}

#define EXIT(name)                                                                             \
	SEC("tracepoint/syscalls/sys_exit_" #name) int exit_##name(struct sys_exit_ctx *ctx)    \
	{                                                                                      \
		return finish(ctx);                                                            \
	}

EXIT(open)
EXIT(creat)
EXIT(openat)
EXIT(openat2)
EXIT(unlink)
EXIT(unlinkat)
EXIT(rename)
EXIT(renameat)
EXIT(renameat2)
EXIT(utimensat)
EXIT(futimesat)
EXIT(utimes)
EXIT(utime)
EXIT(chmod)
EXIT(fchmod)
EXIT(fchmodat)
EXIT(fchmodat2)
EXIT(connect)
EXIT(bind)

// ---------------------------------------------------------------------------------------------
// Namespaces and privilege

static __always_inline struct proc_fixed *proc_begin(struct scratch *s, __u32 op, __u64 a,
						     __u64 b)
{
	struct proc_fixed *x = fill_hdr(s->rec, K_PROC);
	__builtin_memset(x, 0, sizeof(*x));
	x->op = op;
	x->a = a;
	x->b = b;
	return x;
}

static __always_inline int proc_simple(__u32 op, __u64 a, __u64 b)
{
	if (is_self())
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct proc_fixed *x = proc_begin(s, op, a, b);
	emit(s->rec, HDR_SZ + sizeof(*x), REC_SZ);
	return 0;
}

ENTER(unshare)
{
	return proc_simple(P_UNSHARE, A(0), 0);
}

ENTER(setns)
{
	return proc_simple(P_SETNS, A(1), 0);
}

ENTER(clone)
{
	if (!(A(0) & CLONE_NEW_MASK))
		return 0;
	return proc_simple(P_CLONE, A(0), 0);
}

ENTER(clone3)
{
	__u64 flags = 0;
	bpf_probe_read_user(&flags, sizeof(flags), (void *)A(0));
	if (!(flags & CLONE_NEW_MASK))
		return 0;
	return proc_simple(P_CLONE, flags, 0);
}

ENTER(ptrace)
{
	__u64 req = A(0);
	/* attach, seize, and writes into another process's memory or registers */
	if (req != 16 && req != 0x4206 && req != 4 && req != 5 && req != 6 && req != 13)
		return 0;
	return proc_simple(P_PTRACE, req, A(1));
}

/* The caller's tgid as its own pid namespace numbers it (kill(2) targets are in that
 * namespace), and that namespace's depth. */
static __always_inline __s64 ns_tgid(struct task_struct *t, __u32 *level_out)
{
	struct task_struct *leader = BPF_CORE_READ(t, group_leader);
	struct pid *p = BPF_CORE_READ(leader, thread_pid);
	__u32 level = BPF_CORE_READ(p, level);
	int nr = 0;
	/* numbers[level], addressed by hand: CO-RE on a flexible array element is not portable. */
	void *u = (void *)p + bpf_core_field_offset(struct pid, numbers) +
		  (level & 31) * bpf_core_type_size(struct upid);
	bpf_probe_read_kernel(&nr, sizeof(nr), u + bpf_core_field_offset(struct upid, nr));
	*level_out = level;
	return nr;
}

static __always_inline int signal_sent(__u64 sig, __s64 target)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 level = 0;
	/* Signal 0 only probes; signals to oneself (Go's preemption signals, ...) are not an
	 * attack on another process. */
	if (sig == 0 || is_self())
		return 0;
	if (target == (__s64)(id >> 32) || target == (__s64)(__u32)id ||
	    target == ns_tgid(t, &level))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct proc_fixed *x = proc_begin(s, P_KILL, sig, target);
	/* Marks targets numbered in a child pid namespace: not host pids. */
	x->pad = level;
	emit(s->rec, HDR_SZ + sizeof(*x), REC_SZ);
	return 0;
}

ENTER(kill)
{
	return signal_sent(A(1), (__s32)A(0));
}

ENTER(tkill)
{
	return signal_sent(A(1), (__s32)A(0));
}

ENTER(tgkill)
{
	return signal_sent(A(2), (__s32)A(0));
}

ENTER(memfd_create)
{
	if (is_self())
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct proc_fixed *x = proc_begin(s, P_MEMFD, A(1), 0);
	char *data = (char *)(x + 1);
	int n = bpf_probe_read_user_str(data, 256, (void *)A(0));
	x->s1_len = n > 0 ? n : 0;
	emit(s->rec, HDR_SZ + sizeof(*x) + (x->s1_len & 511), REC_SZ);
	return 0;
}

/* The first fields of ELF64 headers, as the image in user memory lays them out (not kernel
 * types: no CO-RE relocation applies). */
struct elf64_ehdr_head {
	__u8 ident[16];
	__u16 type;
	__u16 machine;
	__u32 version;
	__u64 entry;
	__u64 phoff;
	__u64 shoff;
	__u32 flags;
	__u16 ehsize;
	__u16 phentsize;
	__u16 phnum;
	__u16 shentsize;
	__u16 shnum;
	__u16 shstrndx;
};

struct elf64_shdr_head {
	__u32 name;
	__u32 type;
	__u64 flags;
	__u64 addr;
	__u64 offset;
	__u64 size;
};

#define ELF_SHDR_SZ 64
#define MOD_SECTIONS_MAX 256
#define MOD_NAME_LEN 56
#define LE8(a, b, c, d, e, f, g, h)                                                            \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 | \
	 (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)

struct modname_ctx {
	const __u8 *image;
	__u64 len;
	__u64 shoff;
	__u64 strtab; /* offset of the section name table */
	__u32 shnum;
	__u64 found; /* offset of .gnu.linkonce.this_module's contents; 0: not found */
};

/* One section header: is it .gnu.linkonce.this_module? */
static long modname_step(__u32 i, struct modname_ctx *c)
{
	struct elf64_shdr_head sh;
	__u64 name[4] = {};

	if (i >= c->shnum)
		return 1;
	if (bpf_probe_read_user(&sh, sizeof(sh), c->image + c->shoff + (__u64)i * ELF_SHDR_SZ))
		return 1;
	if (c->strtab + sh.name + 26 > c->len ||
	    bpf_probe_read_user(name, 26, c->image + c->strtab + sh.name))
		return 0;
	if (name[0] == LE8('.', 'g', 'n', 'u', '.', 'l', 'i', 'n') &&
	    name[1] == LE8('k', 'o', 'n', 'c', 'e', '.', 't', 'h') &&
	    name[2] == LE8('i', 's', '_', 'm', 'o', 'd', 'u', 'l') &&
	    (name[3] & 0xffff) == 'e') {
		c->found = sh.offset;
		return 1;
	}
	return 0;
}

/* The name of the module in an init_module(2) image, written to dst (NUL-terminated, at most
 * MOD_NAME_LEN bytes); returns its size with the NUL, 1 (empty) when not found. The name is the
 * one the kernel will use: `name` in the struct module that the image's
 * .gnu.linkonce.this_module section holds. Everything is read from the caller's memory with
 * bounds checks; a malformed image gives no name. */
static __always_inline __u32 module_name(const __u8 *image, __u64 len, char *dst)
{
	struct elf64_ehdr_head eh;
	struct modname_ctx c = { .image = image, .len = len };

	dst[0] = 0;
	if (len < sizeof(eh) || bpf_probe_read_user(&eh, sizeof(eh), image))
		return 1;
	if (eh.ident[0] != 0x7f || eh.ident[1] != 'E' || eh.ident[2] != 'L' || eh.ident[3] != 'F' ||
	    eh.ident[4] != 2 /* 64-bit */ || eh.shentsize != ELF_SHDR_SZ ||
	    eh.shstrndx >= eh.shnum || eh.shoff > len ||
	    (__u64)eh.shnum * ELF_SHDR_SZ > len - eh.shoff)
		return 1;
	c.shoff = eh.shoff;
	c.shnum = eh.shnum;
	if (bpf_probe_read_user(&c.strtab, sizeof(c.strtab),
				image + eh.shoff + (__u64)eh.shstrndx * ELF_SHDR_SZ +
					offsetof(struct elf64_shdr_head, offset)))
		return 1;
	bpf_loop(MOD_SECTIONS_MAX, modname_step, &c, 0);
	__u64 at = c.found + bpf_core_field_offset(struct module, name);
	if (!c.found || at + MOD_NAME_LEN > len)
		return 1;
	int n = bpf_probe_read_user_str(dst, MOD_NAME_LEN, image + at);
	if (n <= 0) {
		dst[0] = 0;
		return 1;
	}
	return n;
}

ENTER(init_module)
{
	if (is_self())
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct proc_fixed *x = proc_begin(s, P_MODULE, 0, 0);
	char *data = (char *)(x + 1);
	__u32 n1 = module_name((void *)A(0), A(1), data);
	x->s1_len = n1;
	int n = bpf_probe_read_user_str(data + (n1 & 63), 256, (void *)A(2));
	x->s2_len = n > 0 ? n : 0;
	emit(s->rec, HDR_SZ + sizeof(*x) + (n1 & 63) + (x->s2_len & 511), REC_SZ);
	return 0;
}

ENTER(finit_module)
{
	if (is_self())
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	int len = resolve(s, A(0), 0, s->path);
	struct proc_fixed *x = proc_begin(s, P_MODULE, A(2), 0);
	char *data = (char *)(x + 1);
	__u32 n1 = len >= 0 ? len + 1 : 0;
	barrier_var(n1);
	if (n1 > PBUF - 1)
		n1 = PBUF - 1;
	if (n1)
		bpf_probe_read_kernel(data, n1, s->path);
	x->s1_len = n1;
	int n = bpf_probe_read_user_str(data + n1, 256, (void *)A(1));
	x->s2_len = n > 0 ? n : 0;
	emit(s->rec, HDR_SZ + sizeof(*x) + n1 + (x->s2_len & 511), REC_SZ);
	return 0;
}

ENTER(mount)
{
	if (is_self())
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct proc_fixed *x = proc_begin(s, P_MOUNT, A(3), 0);
	char *data = (char *)(x + 1);
	__u32 off = 0;
	int n = bpf_probe_read_user_str(data, 256, (void *)A(0));
	x->s1_len = n > 0 ? n : 0;
	off = x->s1_len & 511;
	n = bpf_probe_read_user_str(data + off, 256, (void *)A(1));
	x->s2_len = n > 0 ? n : 0;
	off = (off + x->s2_len) & 1023;
	n = bpf_probe_read_user_str(data + off, 256, (void *)A(2));
	x->s3_len = n > 0 ? n : 0;
	off = (off + x->s3_len) & 2047;
	emit(s->rec, HDR_SZ + sizeof(*x) + off, REC_SZ);
	return 0;
}
