//! End-to-end capture: a real sensor, real commands on the host and in podman containers.
//! Needs root, BTF and (for the container tests) podman, runc and busybox-static; without
//! them each test prints why it is skipped and passes.
//!
//! One sensor is shared by all tests (loading 50-odd programs per test would be slow); each
//! test looks for its own events by a unique marker.

#[path = "support/podman.rs"]
mod podman;

use podman::{podman_available, podman_run};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use kdr_model::{AddressFamily, Event, FdKind, Payload, RuntimeAction, RuntimeEvent};
use kdr_sensor::{ops, Sensor, SensorConfig, Watch};

const WATCH_DIR: &str = "/tmp/kdr-sensor-test/";

struct Shared {
    events: Arc<Mutex<Vec<Event>>>,
    /// Events whose `write_json` differed from serde's JSON of them (expected: none).
    json_mismatches: Arc<Mutex<Vec<String>>>,
    _sensor: Arc<Sensor>,
}

fn skip(why: &str) -> Option<&'static Shared> {
    println!("SKIPPED: {why}");
    None
}

fn sensor() -> Option<&'static Shared> {
    static S: OnceLock<Result<Shared, String>> = OnceLock::new();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip("needs root to load BPF programs");
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return skip("kernel has no BTF (/sys/kernel/btf/vmlinux)");
    }
    let r = S.get_or_init(|| {
        let mut config = SensorConfig::default();
        config.watches.push(Watch::prefix(WATCH_DIR, ops::ALL));
        config.emit_fork = true;
        let sensor = Arc::new(Sensor::start(config).map_err(|e| e.to_string())?);
        let events = Arc::new(Mutex::new(Vec::new()));
        let json_mismatches = Arc::new(Mutex::new(Vec::new()));
        let (ev, mismatches) = (events.clone(), json_mismatches.clone());
        let rx = sensor.take_events().unwrap();
        std::thread::spawn(move || {
            let mut fast = Vec::new();
            while let Ok(e) = rx.recv() {
                fast.clear();
                e.write_json(&mut fast).unwrap();
                let e = e.into_event();
                let plain = serde_json::to_vec(&e).unwrap();
                if fast != plain {
                    mismatches.lock().unwrap().push(format!(
                        "serde:      {}\nwrite_json: {}",
                        String::from_utf8_lossy(&plain),
                        String::from_utf8_lossy(&fast)
                    ));
                }
                ev.lock().unwrap().push(e);
            }
        });
        Ok(Shared {
            events,
            json_mismatches,
            _sensor: sensor,
        })
    });
    match r {
        Ok(s) => Some(s),
        // With root and BTF the sensor must start: that is a failure, not a skip.
        Err(e) => panic!("sensor failed to start: {e}"),
    }
}

fn rt(e: &Event) -> &RuntimeEvent {
    match &e.payload {
        Payload::Runtime(r) => r,
        _ => panic!("not a runtime event"),
    }
}

/// Waits until an event matches. Every event received so far must have written the JSON
/// serde writes for it.
fn wait_for(s: &Shared, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(e) = s.events.lock().unwrap().iter().find(|e| pred(e)) {
            if let Some(m) = s.json_mismatches.lock().unwrap().first() {
                panic!("an event's write_json differs from its serde JSON:\n{m}");
            }
            return e.clone();
        }
        if Instant::now() > deadline {
            let evs = s.events.lock().unwrap();
            let tail: Vec<String> = evs
                .iter()
                .rev()
                .take(30)
                .map(|e| {
                    let r = rt(e);
                    format!("{} {:?} {:?}", r.process.exe, r.process.args, r.action)
                })
                .collect();
            panic!(
                "no event for {what} among {} events; last ones:\n{}",
                evs.len(),
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn marker(tag: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "kdr-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

fn run(cmd: &str) {
    let st = Command::new("/bin/sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd}: {st}");
}

fn is_exec_with(e: &Event, arg: &str) -> bool {
    let r = rt(e);
    matches!(r.action, RuntimeAction::Exec) && r.process.args.iter().any(|a| a == arg)
}

#[test]
fn host_exec_argv_exe_parent_uid() {
    let Some(s) = sensor() else { return };
    let m = marker("exec");
    // `; :` keeps sh from exec'ing true itself, so true's parent is sh.
    run(&format!("/bin/true {m} 'two words'; :"));
    let e = wait_for(s, "exec of true", |e| is_exec_with(e, &m));
    let r = rt(&e);
    assert_eq!(r.process.args, vec!["/bin/true", m.as_str(), "two words"]);
    assert!(r.process.exe.ends_with("/bin/true"), "{}", r.process.exe);
    assert_eq!(r.process.uid, 0);
    assert_eq!(r.process.user.as_deref(), Some("root"));
    assert_eq!(e.context.identity.as_deref(), Some("root"));
    assert!(!r.process.cwd.is_empty());
    let parent = &r.process.ancestors[0];
    assert_eq!(parent.pid, r.process.ppid);
    assert!(parent.exe.ends_with("sh"), "parent {:?}", parent);
    assert!(parent.args.iter().any(|a| a.contains(&m)), "{:?}", parent);
    assert!(e.context.container_id.is_none(), "host process");
    assert!(e.context.node.is_some());
    assert!(e.id.ends_with(|c: char| c.is_ascii_digit()));

    // Another user, and the exit code.
    let m2 = marker("uid");
    run(&format!(
        "setpriv --reuid 65534 --regid 65534 --clear-groups /bin/sh -c 'exit 7' {m2}; :"
    ));
    // setpriv itself (root) carries the marker too: look for the shell it starts.
    let e = wait_for(s, "exec as nobody", |e| {
        is_exec_with(e, &m2) && rt(e).process.args[0] == "/bin/sh"
    });
    let r = rt(&e);
    assert_eq!(
        (r.process.uid, r.process.euid, r.process.gid),
        (65534, 65534, 65534)
    );
    let pid = r.process.tgid;
    let e = wait_for(s, "exit 7", |e| {
        rt(e).process.tgid == pid && matches!(rt(e).action, RuntimeAction::Exit { .. })
    });
    assert_eq!(rt(&e).action, RuntimeAction::Exit { code: 7 });
}

#[test]
fn reverse_shell_stdio_and_loopback_connect() {
    let Some(s) = sensor() else { return };
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let acceptor = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut buf = Vec::new();
        let _ = c.read_to_end(&mut buf);
    });
    let m = marker("revshell");
    let st = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec /bin/sh -c 'true' {m} 0<>/dev/tcp/127.0.0.1/{port} 1>&0 2>&0"
        ))
        .status()
        .unwrap();
    assert!(st.success());
    acceptor.join().unwrap();

    let e = wait_for(s, "shell exec", |e| is_exec_with(e, &m));
    assert_eq!(rt(&e).process.stdio, [FdKind::Socket; 3]);
    let pid = rt(&e).process.tgid;
    // The shell may also reach unix sockets first (NSS lookups through nscd or
    // systemd-userdb on some machines), so wait for the TCP connect itself.
    let e = wait_for(s, "tcp connect", |e| {
        rt(e).process.tgid == pid
            && matches!(&rt(e).action, RuntimeAction::Connect { remote, .. }
                if remote.family == AddressFamily::Inet)
    });
    let RuntimeAction::Connect {
        remote,
        local,
        result,
    } = &rt(&e).action
    else {
        unreachable!()
    };
    assert_eq!(remote.family, AddressFamily::Inet);
    assert_eq!((remote.address.as_str(), remote.port), ("127.0.0.1", port));
    assert_eq!(*result, 0);
    let local = local.as_ref().unwrap();
    assert_eq!(local.address, "127.0.0.1");
    assert_ne!(local.port, 0);
}

/// The JSON `write_json` writes from the image's cache is serde's (`wait_for` checks every
/// event received): here with argv and cwd that need escaping, for an exec (the image's
/// first event) and a connect of the same process (an event copying the cached image JSON).
#[test]
fn events_write_the_json_serde_writes() {
    let Some(s) = sensor() else { return };
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let m = marker("json");
    let cwd = std::env::temp_dir().join(format!("{m} \"dir\" \\ é\t"));
    std::fs::create_dir_all(&cwd).unwrap();
    let odd = "quote \" backslash \\ newline \n tab \t control \u{1} del \u{7f} é €";
    let st = Command::new("bash")
        .current_dir(&cwd)
        .arg("-c")
        .arg(format!("exec 3<>/dev/tcp/127.0.0.1/{port}; :"))
        .arg(&m)
        .arg(odd)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_dir(&cwd).unwrap();
    let e = wait_for(s, "exec of bash", |e| is_exec_with(e, &m));
    let pid = rt(&e).process.tgid;
    assert_eq!(Path::new(&rt(&e).process.cwd), cwd);
    let e = wait_for(s, "its connect", |e| {
        rt(e).process.tgid == pid && matches!(rt(e).action, RuntimeAction::Connect { .. })
    });
    assert_eq!(rt(&e).process.args.last().map(String::as_str), Some(odd));
    drop(l);
}

#[test]
fn watched_files_truncate_unlink_utimes() {
    let Some(s) = sensor() else { return };
    let dir = PathBuf::from(WATCH_DIR).join(marker("files"));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    // Relative paths (after cd) must be resolved against the cwd in the kernel.
    run(&format!(
        "cd {d} && echo data > log.txt && : > log.txt && touch -r /etc/hostname log.txt && rm log.txt"
    ));
    let path = format!("{d}/log.txt");
    let e = wait_for(s, "truncating open", |e| {
        matches!(&rt(e).action, RuntimeAction::Open { path: p, flags, .. }
            if *p == path && flags & libc::O_TRUNC as u32 != 0)
    });
    assert!(rt(&e).process.exe.ends_with("sh"));
    wait_for(
        s,
        "utimensat",
        |e| matches!(&rt(e).action, RuntimeAction::Utimes { path: p } if *p == path),
    );
    wait_for(
        s,
        "unlink",
        |e| matches!(&rt(e).action, RuntimeAction::Unlink { path: p } if *p == path),
    );
    // Outside the watched set nothing is reported.
    run("cd /tmp && : > kdr-unwatched.txt && rm kdr-unwatched.txt");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!s
        .events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(&rt(e).action,
        RuntimeAction::Unlink { path } if path.ends_with("kdr-unwatched.txt"))));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unshare_and_kill_of_another_process() {
    let Some(s) = sensor() else { return };
    let m = marker("unshare");
    run(&format!("unshare --uts /bin/true {m}"));
    let e = wait_for(s, "unshare", |e| {
        matches!(rt(e).action, RuntimeAction::Unshare { flags } if flags & 0x0400_0000 != 0)
            && rt(e).process.args.iter().any(|a| a == &m)
    });
    assert!(rt(&e).process.exe.ends_with("unshare"));

    // A mount inside a private mount namespace, and joining another process's namespace.
    let m = marker("mount");
    run(&format!(
        "unshare --mount sh -c 'mount -t tmpfs {m} /mnt && umount /mnt'"
    ));
    wait_for(s, "mount", |e| {
        matches!(&rt(e).action, RuntimeAction::Mount { source, target, fstype }
            if *source == m && target == "/mnt" && fstype == "tmpfs")
    });
    let mut other = Command::new("sleep").arg("60").spawn().unwrap();
    let m = marker("setns");
    run(&format!(
        "nsenter --target {} --uts /bin/true {m}",
        other.id()
    ));
    let _ = other.kill();
    let _ = other.wait();
    wait_for(s, "setns", |e| {
        matches!(rt(e).action, RuntimeAction::Setns { .. })
            && rt(e).process.args.iter().any(|a| a == &m)
    });

    let mut victim = Command::new("sleep").arg("60").spawn().unwrap();
    let vpid = victim.id();
    // Give the sensor the victim's exec first, so the kill names its executable.
    wait_for(s, "victim exec", |e| {
        rt(e).process.tgid == vpid && matches!(rt(e).action, RuntimeAction::Exec)
    });
    run(&format!("kill -TERM {vpid}"));
    let _ = victim.wait();
    let e = wait_for(
        s,
        "kill",
        |e| matches!(rt(e).action, RuntimeAction::Kill { target_pid, .. } if target_pid == vpid),
    );
    let RuntimeAction::Kill {
        signal, target_exe, ..
    } = &rt(&e).action
    else {
        unreachable!()
    };
    assert_eq!(*signal, 15);
    assert!(target_exe.as_deref().unwrap_or("").ends_with("sleep"));
}

/// A root filesystem for containers: Debian's static busybox and its applets.
fn rootfs(tag: &str) -> Option<PathBuf> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        return None;
    }
    let root = std::env::temp_dir().join(marker(&format!("rootfs-{tag}")));
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).ok()?;
    std::fs::create_dir_all(root.join("opt")).ok()?;
    std::fs::create_dir_all(root.join("tmp")).ok()?;
    std::fs::copy(busybox, bin.join("busybox")).ok()?;
    for applet in [
        "sh", "true", "echo", "cat", "cp", "chmod", "sleep", "kill", "touch", "rm",
    ] {
        let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
    }
    Some(root)
}

#[test]
fn container_exec_attribution_and_drift() {
    let Some(s) = sensor() else { return };
    if !podman_available() {
        println!("SKIPPED: podman or /usr/sbin/runc not installed");
        return;
    }
    let Some(root) = rootfs("ctr") else {
        println!("SKIPPED: /bin/busybox (busybox-static) not installed");
        return;
    };
    let m = marker("ctr");
    let cidfile = std::env::temp_dir().join(format!("{m}.cid"));
    let script = format!(
        "/bin/echo {m}; cp /bin/busybox /opt/true && chmod 755 /opt/true && /opt/true {m}-drift"
    );
    let out = podman_run()
        .args(["--network", "none", "--cidfile"])
        .arg(&cidfile)
        .args([
            "--annotation",
            "io.kubernetes.cri.container-name=web",
            "--annotation",
            "io.kubernetes.cri.sandbox-name=shop-7d9f",
            "--annotation",
            "io.kubernetes.cri.sandbox-namespace=shop",
            "--annotation",
            "io.kubernetes.cri.image-name=registry.test/busybox:1",
            "--rootfs",
        ])
        .arg(format!("{}:O", root.display()))
        .args(["/bin/sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "podman: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cid = std::fs::read_to_string(&cidfile)
        .unwrap()
        .trim()
        .to_string();
    let _ = std::fs::remove_file(&cidfile);

    let e = wait_for(s, "exec in container", |e| is_exec_with(e, &m));
    let r = rt(&e);
    assert_eq!(
        r.process.exe, "/bin/busybox",
        "path as the container sees it"
    );
    assert_eq!(r.process.args, vec!["/bin/echo", m.as_str()]);
    assert!(!r.process.exe_upper_layer);
    assert_eq!(e.context.container_id.as_deref(), Some(cid.as_str()));
    assert_eq!(e.context.container_name.as_deref(), Some("web"));
    assert_eq!(e.context.pod.as_deref(), Some("shop-7d9f"));
    assert_eq!(e.context.namespace.as_deref(), Some("shop"));
    assert_eq!(e.context.image.as_deref(), Some("registry.test/busybox:1"));
    assert_eq!(r.container_privileged, Some(false));
    assert!(r.process.ancestors[0].exe.ends_with("busybox"));

    // Drift: the copied binary was written in the container's upper layer...
    let drift = format!("{m}-drift");
    let e = wait_for(s, "drift exec", |e| is_exec_with(e, &drift));
    assert_eq!(rt(&e).process.exe, "/opt/true");
    assert!(rt(&e).process.exe_upper_layer);
    // ...and its creation and chmod +x were reported without any watch rule.
    wait_for(s, "drift create", |e| {
        e.context.container_id.as_deref() == Some(cid.as_str())
            && matches!(&rt(e).action, RuntimeAction::Open { path, .. } if path == "/opt/true")
    });
    wait_for(s, "drift chmod", |e| {
        e.context.container_id.as_deref() == Some(cid.as_str())
            && matches!(&rt(e).action, RuntimeAction::Chmod { path, mode } if path == "/opt/true" && mode & 0o111 != 0)
    });
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn stats_count_without_silent_drops() {
    let Some(s) = sensor() else { return };
    let m = marker("stats");
    run(&format!("/bin/true {m}; :"));
    wait_for(s, "exec", |e| is_exec_with(e, &m));
    let st = s._sensor.stats();
    let exec = st.kinds.iter().find(|k| k.kind == "exec").unwrap();
    assert!(exec.received > 0 && exec.delivered > 0);
    assert!(st.attached > 40, "{st:?}");
    // Nothing may vanish: every received record is delivered or counted as dropped/bad.
    for k in &st.kinds {
        assert!(
            k.delivered + k.queue_drops + k.bad_records <= k.received,
            "{k:?}"
        );
    }
}

#[test]
fn ipv6_unix_listen_accept() {
    let Some(s) = sensor() else { return };
    // A listener in a child (python), so its listen/accept are reported (the test process's
    // own activity is excluded like the sensor's).
    let m = marker("net6");
    let sock = format!("/tmp/{m}.sock");
    let script = format!(
        r#"
import socket
l = socket.socket(socket.AF_INET6); l.bind(("::1", 0)); l.listen(1)
port = l.getsockname()[1]
c = socket.socket(socket.AF_INET6); c.connect(("::1", port))
a, _ = l.accept(); a.close(); c.close()
u = socket.socket(socket.AF_UNIX); u.bind("{sock}"); u.listen(1)
v = socket.socket(socket.AF_UNIX); v.connect("{sock}")
print(port)
"#
    );
    let out = Command::new("python3")
        .args(["-c", &script, &m])
        .output()
        .unwrap();
    if !out.status.success() {
        println!("SKIPPED: python3 unavailable or IPv6 loopback missing");
        return;
    }
    let _ = std::fs::remove_file(&sock);
    let port: u16 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let pid = rt(&wait_for(s, "python exec", |e| is_exec_with(e, &m)))
        .process
        .tgid;
    let mine = |e: &Event| rt(e).process.tgid == pid;
    wait_for(s, "listen ::1", |e| {
        mine(e)
            && matches!(&rt(e).action, RuntimeAction::Listen { local }
                if local.family == AddressFamily::Inet6 && local.address == "::1" && local.port == port)
    });
    wait_for(s, "connect ::1", |e| {
        mine(e)
            && matches!(&rt(e).action, RuntimeAction::Connect { remote, result: 0, .. }
                if remote.address == "::1" && remote.port == port)
    });
    wait_for(s, "accept", |e| {
        mine(e)
            && matches!(&rt(e).action, RuntimeAction::Accept { remote, local: Some(l) }
                if remote.address == "::1" && l.port == port)
    });
    wait_for(s, "bind unix", |e| {
        mine(e)
            && matches!(&rt(e).action, RuntimeAction::Bind { local, .. }
                if local.family == AddressFamily::Unix && local.address == sock)
    });
    wait_for(s, "connect unix", |e| {
        mine(e)
            && matches!(&rt(e).action, RuntimeAction::Connect { remote, result: 0, .. }
                if remote.family == AddressFamily::Unix && remote.address == sock)
    });
}

#[test]
fn rename_chmod_memfd_and_history_suffix() {
    let Some(s) = sensor() else { return };
    let dir = PathBuf::from(WATCH_DIR).join(marker("ops"));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    run(&format!(
        "echo x > {d}/a && mv {d}/a {d}/b && chmod 4755 {d}/b && : > {d}/.bash_history"
    ));
    let (a, b) = (format!("{d}/a"), format!("{d}/b"));
    wait_for(
        s,
        "rename",
        |e| matches!(&rt(e).action, RuntimeAction::Rename { from, to } if *from == a && *to == b),
    );
    wait_for(
        s,
        "chmod",
        |e| matches!(&rt(e).action, RuntimeAction::Chmod { path, mode } if *path == b && *mode == 0o4755),
    );
    // History files are watched anywhere by suffix, also outside the test's prefix.
    let home = std::env::temp_dir().join(marker("home"));
    std::fs::create_dir_all(&home).unwrap();
    let hist = home.join(".bash_history");
    run(&format!(": > {}", hist.display()));
    let hist = hist.display().to_string();
    wait_for(s, "history truncation", |e| {
        matches!(&rt(e).action, RuntimeAction::Open { path, flags, .. }
            if *path == hist && flags & libc::O_TRUNC as u32 != 0)
    });
    let m = marker("memfd");
    let st = Command::new("python3")
        .args(["-c", &format!("import os; os.memfd_create('{m}')")])
        .status();
    if st.is_ok_and(|s| s.success()) {
        wait_for(
            s,
            "memfd_create",
            |e| matches!(&rt(e).action, RuntimeAction::MemfdCreate { name } if *name == m),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&home);
}

/// Without privileges, start fails with an error that says what is missing. Run as root, the
/// test re-runs itself as nobody.
#[test]
fn unprivileged_start_is_a_clear_error() {
    if std::env::var_os("KDR_SENSOR_UNPRIV_CHILD").is_some() {
        match Sensor::start(SensorConfig::default()) {
            Err(kdr_sensor::SensorError::NotPermitted(uid)) => assert_eq!(uid, 65534),
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("started without privileges"),
        }
        let e = Sensor::start(SensorConfig::default()).err().unwrap();
        assert!(e.to_string().contains("needs root"), "{e}");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIPPED: needs root to switch to an unprivileged user");
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "unprivileged_start_is_a_clear_error"])
        .env("KDR_SENSOR_UNPRIV_CHILD", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
fn privileged_container_is_marked() {
    let Some(s) = sensor() else { return };
    if !podman_available() {
        println!("SKIPPED: podman or /usr/sbin/runc not installed");
        return;
    }
    let Some(root) = rootfs("priv") else {
        println!("SKIPPED: /bin/busybox (busybox-static) not installed");
        return;
    };
    let m = marker("priv");
    let out = podman_run()
        .args(["--privileged", "--network", "none", "--rootfs"])
        .arg(format!("{}:O", root.display()))
        .args(["/bin/echo", &m])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "podman: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&root);
    // podman's own exec carries the marker too: look for echo's.
    let e = wait_for(s, "privileged exec", |e| {
        is_exec_with(e, &m) && rt(e).process.args[0] == "/bin/echo"
    });
    assert!(e.context.container_id.is_some());
    assert_eq!(rt(&e).container_privileged, Some(true));
}

#[test]
fn long_paths_are_cut_not_lost() {
    let Some(s) = sensor() else { return };
    let base = PathBuf::from(WATCH_DIR).join(marker("long"));
    // Past the kernel's 511-byte bound: reported cut, never empty.
    let mut dir = base.clone();
    while dir.as_os_str().len() < 560 {
        dir = dir.join("d".repeat(40));
    }
    std::fs::create_dir_all(&dir).unwrap();
    run(&format!(": > {}/f", dir.display()));
    let prefix = base.display().to_string();
    let e = wait_for(
        s,
        "long path open",
        |e| matches!(&rt(e).action, RuntimeAction::Open { path, .. } if path.starts_with(&prefix)),
    );
    let RuntimeAction::Open { path, .. } = &rt(&e).action else {
        unreachable!()
    };
    assert!(path.len() >= 500 && path.len() <= 511, "{}", path.len());
    let _ = std::fs::remove_dir_all(&base);
}

/// Runs a perl script (Debian's essential perl-base: raw syscalls without a compiler) with
/// arguments; perl's `syscall` passes numbers as integers and strings as pointers.
fn perl(script: &str, args: &[&str]) {
    let out = Command::new("perl")
        .args(["-MPOSIX", "-e", script])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "perl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn with_marker(e: &Event, m: &str) -> bool {
    rt(e).process.args.iter().any(|a| a == m)
}

#[test]
fn clone_with_namespace_flags() {
    let Some(s) = sensor() else { return };
    const CLONE_NEWNS: u64 = 0x0002_0000;
    const CLONE_NEWUTS: u64 = 0x0400_0000;
    const SIGCHLD: u64 = 17;
    let m = marker("clone");
    // A plain fork first (not reported: no namespace flags), then clone(2) with CLONE_NEWNS and
    // clone3(2) with CLONE_NEWUTS; each child exits at once.
    perl(
        r#"
        my $f = fork() // die "fork: $!";
        POSIX::_exit(0) if $f == 0;
        waitpid($f, 0);
        my $r = syscall(56, 0x00020000 | 17, 0, 0, 0, 0);
        POSIX::_exit(0) if $r == 0;
        die "clone: $!" if $r < 0;
        waitpid($r, 0);
        my $args = pack("Q11", 0x04000000, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0);
        $r = syscall(435, $args, length $args);
        POSIX::_exit(0) if $r == 0;
        die "clone3: $!" if $r < 0;
        waitpid($r, 0);
        "#,
        &[&m],
    );
    let mine = m.as_str();
    let clone_with = |flags: u64| {
        move |e: &Event| {
            with_marker(e, mine)
                && matches!(rt(e).action, RuntimeAction::Clone { flags: f } if f == flags)
        }
    };
    let e = wait_for(s, "clone(CLONE_NEWNS)", clone_with(CLONE_NEWNS | SIGCHLD));
    assert!(
        rt(&e).process.exe.ends_with("perl"),
        "{}",
        rt(&e).process.exe
    );
    wait_for(s, "clone3(CLONE_NEWUTS)", clone_with(CLONE_NEWUTS));
    // The fork came first, so had it been reported it would be here by now.
    let clones = s
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| with_marker(e, &m) && matches!(rt(e).action, RuntimeAction::Clone { .. }))
        .count();
    assert_eq!(clones, 2, "only the clones with namespace flags");
}

#[test]
fn ptrace_attach_and_seize_of_another_process() {
    let Some(s) = sensor() else { return };
    const PTRACE_ATTACH: i64 = 16;
    const PTRACE_SEIZE: i64 = 0x4206;
    let mut victim = Command::new("sleep").arg("60").spawn().unwrap();
    let vpid = victim.id();
    let m = marker("ptrace");
    // Attach, wait for the stop, detach (not reported); then seize (released when perl exits).
    perl(
        r#"
        my $p = 0 + $ARGV[0];
        syscall(101, 16, $p, 0, 0) == 0 or die "attach: $!";
        waitpid($p, 0);
        syscall(101, 17, $p, 0, 0) == 0 or die "detach: $!";
        syscall(101, 0x4206, $p, 0, 0) == 0 or die "seize: $!";
        "#,
        &[&vpid.to_string(), &m],
    );
    let _ = victim.kill();
    let _ = victim.wait();
    let mine = m.as_str();
    let ptrace = |request: i64| {
        move |e: &Event| {
            with_marker(e, mine)
                && rt(e).action
                    == RuntimeAction::Ptrace {
                        request,
                        target_pid: vpid,
                    }
        }
    };
    let e = wait_for(s, "PTRACE_ATTACH", ptrace(PTRACE_ATTACH));
    assert!(
        rt(&e).process.exe.ends_with("perl"),
        "{}",
        rt(&e).process.exe
    );
    wait_for(s, "PTRACE_SEIZE", ptrace(PTRACE_SEIZE));
    // Detaching is not an attack: not reported, and it came before the seize.
    assert!(!s
        .events
        .lock()
        .unwrap()
        .iter()
        .any(|e| with_marker(e, &m)
            && matches!(rt(e).action, RuntimeAction::Ptrace { request: 17, .. })));
}

/// A module image the kernel refuses (no symbols, no .modinfo), well-formed enough to carry the
/// name in its struct module (offset 24: after the state and a list head) in
/// .gnu.linkonce.this_module; init_module(2) with it, then finit_module(2) with it as a file.
const MODULE_SCRIPT: &str = r#"
    my ($name, $path) = @ARGV;
    my $strtab = "\0.shstrtab\0.gnu.linkonce.this_module\0";
    my $module = pack("x24 a56 x688", $name);
    my ($str_off, $mod_off) = (64, 128);
    my $sh_off = $mod_off + length $module;
    my $ehdr = pack("a4 C C C C x8 v v V Q Q Q V v v v v v v",
        "\x7fELF", 2, 1, 1, 0, 1, 62, 1, 0, 0, $sh_off, 0, 64, 0, 0, 64, 3, 1);
    my $shdrs = pack("x64")
        . pack("V V Q Q Q Q V V Q Q", 1, 3, 0, 0, $str_off, length $strtab, 0, 0, 1, 0)
        . pack("V V Q Q Q Q V V Q Q", 11, 1, 3, 0, $mod_off, length $module, 0, 0, 64, 0);
    my $image = $ehdr . pack("x" . ($str_off - 64)) . $strtab
        . pack("x" . ($mod_off - $str_off - length $strtab)) . $module . $shdrs;
    syscall(175, $image, length $image, "kdr_test=1") == -1 or die "a bogus module loaded";
    open(my $f, ">", $path) or die "$path: $!";
    print $f $image;
    close $f;
    open($f, "<", $path) or die "$path: $!";
    syscall(313, fileno($f), "kdr_test=1", 0) == -1 or die "a bogus module loaded";
"#;

#[test]
fn module_loading_attempts_with_their_names() {
    let Some(s) = sensor() else { return };
    let st = s._sensor.stats();
    if st.unattached.iter().any(|p| p == "enter_init_module") {
        println!("SKIPPED: this kernel has no module loading (no init_module tracepoint)");
        return;
    }
    let m = marker("mod");
    let path = std::env::temp_dir().join(format!("{m}.ko"));
    let path_text = path.display().to_string();
    perl(MODULE_SCRIPT, &[&m, &path_text]);
    let _ = std::fs::remove_file(&path);
    let mine = m.as_str();
    let module = |name: &str| {
        let name = name.to_string();
        move |e: &Event| {
            with_marker(e, mine)
                && matches!(&rt(e).action, RuntimeAction::ModuleLoad { name: n } if *n == name)
        }
    };
    // init_module: the name inside the image; finit_module: the file.
    wait_for(s, "init_module", module(mine));
    wait_for(s, "finit_module", module(&path_text));
}
