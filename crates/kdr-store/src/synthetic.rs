//! Realistic synthetic events and alerts for the benchmark, the crash test and unit tests:
//! a cluster of a few namespaces and pods, shells and package tools running, files opened,
//! connections made, and the API server traffic of controllers, kubelets and people.
//! Deterministic for a seed.

use serde_json::value::RawValue;

use kdr_model::{
    Alert, Ancestor, AuditLevel, CloudActivity, CloudProvider, Context, Entities, Event, FdKind,
    KubeAudit, ObjectRef, Payload, Plane, Process, RuntimeAction, RuntimeEvent, Severity,
    SocketAddress, Tactic, Timestamp, UserInfo, NANOS_PER_SEC,
};

/// xorshift64*: small, fast, and the same everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545F4914F6CDD1D)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const NAMESPACES: [&str; 5] = ["shop", "payments", "monitoring", "ci", "default"];
const WORKLOADS: [&str; 6] = ["web", "db", "cache", "worker", "api", "runner"];
const IMAGES: [&str; 6] = [
    "docker.io/library/nginx:1.25",
    "docker.io/library/postgres:16",
    "ghcr.io/acme/api:2.3.1",
    "registry.k8s.io/pause:3.9",
    "quay.io/prometheus/node-exporter:v1.7.0",
    "docker.io/library/redis:7",
];
const PROGRAMS: [(&str, &[&str]); 10] = [
    ("/bin/sh", &["sh", "-c", "nginx -g 'daemon off;'"]),
    (
        "/usr/bin/curl",
        &["curl", "-sS", "http://api.shop.svc:8080/healthz"],
    ),
    ("/usr/sbin/nginx", &["nginx", "-g", "daemon off;"]),
    (
        "/usr/bin/apt-get",
        &["apt-get", "install", "-y", "ca-certificates"],
    ),
    (
        "/usr/local/bin/python3",
        &["python3", "/app/worker.py", "--queue", "jobs"],
    ),
    ("/bin/bash", &["bash"]),
    (
        "/usr/bin/wget",
        &["wget", "-q", "-O", "/tmp/x", "http://mirror.example/x"],
    ),
    (
        "/bin/ls",
        &["ls", "-la", "/var/run/secrets/kubernetes.io/serviceaccount"],
    ),
    ("/usr/bin/psql", &["psql", "-U", "app", "-c", "select 1"]),
    ("/bin/cat", &["cat", "/etc/passwd"]),
];
const FILES: [&str; 6] = [
    "/etc/passwd",
    "/etc/ld.so.preload",
    "/var/run/secrets/kubernetes.io/serviceaccount/token",
    "/tmp/.cache/x",
    "/app/config.yaml",
    "/proc/self/status",
];
const USERS: [&str; 6] = [
    "system:serviceaccount:kube-system:replicaset-controller",
    "system:node:node-3",
    "alice@example.com",
    "system:serviceaccount:ci:runner",
    "system:kube-scheduler",
    "bob@example.com",
];
const VERBS: [&str; 6] = ["get", "list", "watch", "create", "update", "delete"];
const RESOURCES: [&str; 6] = [
    "pods",
    "secrets",
    "configmaps",
    "deployments",
    "rolebindings",
    "leases",
];

/// An endless stream of events, one millisecond of event time apart on average.
pub struct Generator {
    rng: Rng,
    sequence: u64,
    time: i64,
    cluster: String,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: Rng::new(seed),
            sequence: 0,
            time: 1_714_560_000 * NANOS_PER_SEC,
            cluster: "prod-eu".to_owned(),
        }
    }

    fn context(&mut self) -> Context {
        let namespace = *self.rng.pick(&NAMESPACES);
        let workload = *self.rng.pick(&WORKLOADS);
        let replica = self.rng.below(4);
        let pod = format!("{workload}-7d9f8c6b5-{replica:05}");
        Context {
            cluster: Some(self.cluster.clone()),
            node: Some(format!("node-{}", self.rng.below(8))),
            namespace: Some(namespace.to_owned()),
            pod: Some(pod),
            container_id: Some(format!("{:064x}", self.rng.below(64) + 0xabc000)),
            container_name: Some(workload.to_owned()),
            image: Some((*self.rng.pick(&IMAGES)).to_owned()),
            identity: None,
            source_ips: Vec::new(),
        }
    }

    fn runtime(&mut self, id: String) -> Event {
        let context = self.context();
        let (exe, args) = *self.rng.pick(&PROGRAMS);
        let pid = 1000 + self.rng.below(30000) as u32;
        let process = Process {
            pid,
            tgid: pid,
            ppid: pid - 1,
            uid: 0,
            gid: 0,
            euid: 0,
            comm: exe
                .rsplit('/')
                .next()
                .unwrap_or(exe)
                .chars()
                .take(15)
                .collect(),
            exe: exe.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            args_truncated: false,
            cwd: "/app".to_owned(),
            start_time: Some(Timestamp(self.time - 5_000_000)),
            user: Some("root".to_owned()),
            stdio: [FdKind::Pipe, FdKind::Pipe, FdKind::Pipe],
            exe_upper_layer: false,
            ancestors: vec![
                Ancestor {
                    pid: pid - 1,
                    exe: "/bin/sh".to_owned(),
                    args: vec!["sh".to_owned(), "-c".to_owned(), args.join(" ")],
                },
                Ancestor {
                    pid: 1,
                    exe: "/usr/bin/containerd-shim-runc-v2".to_owned(),
                    args: vec![],
                },
            ]
            .into(),
        };
        let action = match self.rng.below(10) {
            0..=4 => RuntimeAction::Exec,
            5 => RuntimeAction::Exit { code: 0 },
            6 | 7 => RuntimeAction::Open {
                path: (*self.rng.pick(&FILES)).to_owned(),
                flags: 0,
                result: 3,
            },
            _ => RuntimeAction::Connect {
                remote: SocketAddress {
                    family: kdr_model::AddressFamily::Inet,
                    address: format!("10.0.{}.{}", self.rng.below(4), self.rng.below(250)),
                    port: *self.rng.pick(&[443u16, 80, 5432, 6379, 53]),
                },
                local: None,
                result: 0,
            },
        };
        Event {
            id,
            time: Timestamp(self.time),
            context,
            payload: Payload::Runtime(Box::new(RuntimeEvent {
                process,
                container_privileged: Some(false),
                image_id: None,
                cgroup_id: 4242,
                mnt_ns: 4026531840,
                action,
            })),
        }
    }

    fn audit(&mut self, id: String) -> Event {
        let user = *self.rng.pick(&USERS);
        let verb = *self.rng.pick(&VERBS);
        let resource = *self.rng.pick(&RESOURCES);
        let namespace = *self.rng.pick(&NAMESPACES);
        let name = format!("{}-{}", resource.trim_end_matches('s'), self.rng.below(50));
        let request_object = (verb == "create" || verb == "update").then(|| {
            let body = format!(
                r#"{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"{namespace}","labels":{{"app":"{name}"}}}},"spec":{{"containers":[{{"name":"main","image":"ghcr.io/acme/api:2.3.1","securityContext":{{"privileged":false}}}}],"serviceAccountName":"default"}}}}"#
            );
            RawValue::from_string(body).ok()
        });
        let source_ip = format!("10.1.{}.{}", self.rng.below(4), self.rng.below(250));
        Event {
            id,
            time: Timestamp(self.time),
            context: Context {
                cluster: Some(self.cluster.clone()),
                namespace: Some(namespace.to_owned()),
                identity: Some(user.to_owned()),
                source_ips: vec![source_ip],
                ..Context::default()
            },
            payload: Payload::K8sAudit(Box::new(KubeAudit {
                level: AuditLevel::Request,
                stage: "ResponseComplete".to_owned(),
                verb: verb.to_owned(),
                request_uri: format!("/api/v1/namespaces/{namespace}/{resource}/{name}"),
                user: UserInfo {
                    username: user.to_owned(),
                    uid: None,
                    groups: vec!["system:authenticated".to_owned()],
                },
                impersonated_user: None,
                user_agent: "kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819"
                    .to_owned(),
                object_ref: Some(ObjectRef {
                    resource: resource.to_owned(),
                    namespace: namespace.to_owned(),
                    name,
                    api_version: "v1".to_owned(),
                    ..ObjectRef::default()
                }),
                response_code: Some(if self.rng.below(20) == 0 { 403 } else { 200 }),
                request_object: request_object.flatten(),
                response_object: None,
                annotations: vec![(
                    "authorization.k8s.io/decision".to_owned(),
                    "allow".to_owned(),
                )],
            })),
        }
    }

    fn cloud(&mut self, id: String) -> Event {
        Event {
            id,
            time: Timestamp(self.time),
            context: Context {
                cluster: Some(self.cluster.clone()),
                source_ips: vec!["203.0.113.10".to_owned()],
                ..Context::default()
            },
            payload: Payload::Cloud(Box::new(CloudActivity {
                provider: CloudProvider::Aws,
                operation: "eks.amazonaws.com:DescribeCluster".to_owned(),
                principal_id: "arn:aws:iam::123456789012:role/ops".to_owned(),
                principal_type: "AssumedRole".to_owned(),
                resource_id: "arn:aws:eks:eu-west-1:123456789012:cluster/prod-eu".to_owned(),
                status: "Succeeded".to_owned(),
                user_agent: "aws-cli/2.15".to_owned(),
            })),
        }
    }
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.sequence += 1;
        self.time += 1 + self.rng.below(2_000_000) as i64;
        let id = format!("node-1:boot-1:{}", self.sequence);
        // 60% sensor events, 39% audit, 1% cloud: the sensor is the chatty source.
        Some(match self.rng.below(100) {
            0..=59 => self.runtime(id),
            60..=98 => self.audit(id),
            _ => self.cloud(id),
        })
    }
}

/// An alert of the given type on a pod, first raised at `minute` (event time).
pub fn alert(alert_type: &str, minute: i64, namespace: &str, pod: &str) -> Alert {
    let time = Timestamp(1_714_560_000 * NANOS_PER_SEC + minute * 60 * NANOS_PER_SEC);
    let entities = Entities {
        cluster: Some("prod-eu".to_owned()),
        namespace: Some(namespace.to_owned()),
        pod: Some(pod.to_owned()),
        images: vec!["docker.io/library/nginx:1.25".to_owned()],
        ..Entities::default()
    };
    Alert {
        alert_type: alert_type.to_owned(),
        display_name: format!("{} detected", alert_type.replace(['_', '.'], " ")),
        description: format!("Description of {alert_type}"),
        severity: Severity::Medium,
        tactics: vec![Tactic::Execution],
        techniques: vec!["T1059".to_owned()],
        plane: Plane::Runtime,
        rule: alert_type.to_lowercase(),
        time_generated: time,
        start_time: time,
        end_time: time,
        count: 1,
        reason: format!("{alert_type} in pod {namespace}/{pod}"),
        dedup_key: format!("{alert_type}|prod-eu/{namespace}/{pod}"),
        entities,
        evidence: vec![format!("ev-{alert_type}-{minute}")],
        remediation: "Investigate.".to_owned(),
    }
}
