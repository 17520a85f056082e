//! The normalized event: one type for everything kdr consumes.
//!
//! Every event has a [`Context`] (where and who) and a [`Payload`] (what happened, per source).
//! Kubernetes audit events keep their request/response bodies as raw JSON: most rules never
//! look at them, and the few that do parse only the object kinds they need (see `kdr-decode`'s
//! object views).

use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use rustc_hash::FxHasher;

use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::Timestamp;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Stable identifier from the source: the audit ID, a CloudTrail event ID, or the sensor's
    /// `node:boot:sequence`. Alerts cite it as evidence.
    pub id: String,
    /// Event time (when it happened at the source), the clock every window runs on.
    pub time: Timestamp,
    #[serde(default, skip_serializing_if = "Context::is_empty")]
    pub context: Context,
    pub payload: Payload,
}

/// Where an event happened and who caused it. Every field is optional because every source
/// knows a different part of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The acting identity: a Kubernetes user or service account, a cloud principal, or the
    /// account name of a process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
}

impl Context {
    pub fn is_empty(&self) -> bool {
        *self == Context::default()
    }
}

/// What happened, per source. Externally tagged in JSON (`{"k8sAudit": {...}}`) so that raw
/// request bodies decode without buffering.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Payload {
    /// A Kubernetes API server audit event.
    K8sAudit(Box<KubeAudit>),
    /// An activity seen by the node sensor.
    Runtime(Box<RuntimeEvent>),
    /// A cloud provider control-plane record (Azure Activity Log, AWS CloudTrail).
    Cloud(Box<CloudActivity>),
}

impl Payload {
    pub fn source(&self) -> Source {
        match self {
            Payload::K8sAudit(_) => Source::K8sAudit,
            Payload::Runtime(_) => Source::Runtime,
            Payload::Cloud(_) => Source::Cloud,
        }
    }
}

/// Event sources, as rule files name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    K8sAudit,
    Runtime,
    Cloud,
    /// Derived facts the engine synthesizes from its cluster inventory (a LoadBalancer Service
    /// joined with the workloads it selects).
    Exposure,
}

impl Source {
    pub const ALL: [Source; 4] = [
        Source::K8sAudit,
        Source::Runtime,
        Source::Cloud,
        Source::Exposure,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::K8sAudit => "k8s_audit",
            Source::Runtime => "runtime",
            Source::Cloud => "cloud",
            Source::Exposure => "exposure",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Source::ALL.into_iter().find(|s| s.name() == name)
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes audit

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditLevel {
    None,
    #[default]
    Metadata,
    Request,
    RequestResponse,
}

/// One `audit.k8s.io` Event (v1 or v1beta1), whatever envelope it came in.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeAudit {
    pub level: AuditLevel,
    /// RequestReceived, ResponseStarted, ResponseComplete or Panic.
    pub stage: String,
    pub verb: String,
    pub request_uri: String,
    pub user: UserInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<UserInfo>,
    #[serde(default)]
    pub user_agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectRef>,
    /// HTTP status of the response, when the stage has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<i32>,
    /// The request body as sent (levels Request and RequestResponse only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Box<RawValue>>,
    /// The response body (level RequestResponse only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<(String, String)>,
}

impl KubeAudit {
    /// True when the API server refused or failed the request: such events must never raise
    /// "object created" alerts.
    pub fn failed(&self) -> bool {
        self.response_code.is_some_and(|code| code >= 400)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    #[serde(default)]
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    #[serde(default)]
    pub resource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
}

// ---------------------------------------------------------------------------------------------
// Runtime (node sensor)

/// One activity seen by the node sensor, with the process that performed it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeEvent {
    pub process: Process,
    /// Whether the container runs privileged (from its OCI spec); `None` on the host or when
    /// unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_privileged: Option<bool>,
    /// The container image's ID (digest), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    #[serde(default)]
    pub cgroup_id: u64,
    #[serde(default)]
    pub mnt_ns: u64,
    pub action: RuntimeAction,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    pub pid: u32,
    #[serde(default)]
    pub tgid: u32,
    #[serde(default)]
    pub ppid: u32,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default)]
    pub euid: u32,
    /// The kernel's 16-byte task name.
    #[serde(default)]
    pub comm: String,
    /// Path of the executable file.
    #[serde(default)]
    pub exe: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// True when argv was longer than the sensor's bound and was cut.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub args_truncated: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cwd: String,
    /// Kernel start time of the process, for telling reused pids apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// What fds 0, 1 and 2 were at exec.
    #[serde(default)]
    pub stdio: [FdKind; 3],
    /// Parent first, then grandparent, and so on (bounded by the sensor).
    #[serde(default, skip_serializing_if = "<[Ancestor]>::is_empty")]
    pub ancestors: Ancestors,
    /// True when the executable lives in the container's writable (overlay upper) layer:
    /// written or modified after the container started, so not part of its image (binary
    /// drift). Only meaningful on `exec` events and their process.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exe_upper_layer: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ancestor {
    pub pid: u32,
    #[serde(default)]
    pub exe: String,
    #[serde(default)]
    pub args: Vec<String>,
}

/// A lineage: ancestors, parent first. Immutable and shared: cloning it is a reference count,
/// so the sensor builds a parent's lineage once and every event below that parent carries
/// the same one. It reads as a slice (`Deref<Target = [Ancestor]>`) and its JSON form is a
/// plain array of ancestors, written once and then copied: a shared lineage goes out with
/// every event of the processes below it, and often outweighs the rest of the event.
///
/// A lineage also keeps its [identity hash](Ancestors::identity_hash), worked out on first
/// use, so that whoever keys something by the programs of a lineage reads its strings once
/// per lineage rather than once per event.
#[derive(Clone, Default)]
pub struct Ancestors(Arc<Lineage>);

#[derive(Default)]
struct Lineage {
    /// A `Vec` as built (a boxed slice would reallocate whenever the capacity was larger).
    list: Vec<Ancestor>,
    /// Hash of each ancestor's executable and arguments (pids aside).
    identity: OnceLock<u64>,
    json: OnceLock<Box<RawValue>>,
}

impl Ancestors {
    /// A hash of what the lineage says about programs: each ancestor's executable and
    /// arguments, in order, without pids. Equal for lineages that [name the same
    /// programs](Ancestors::same_programs); a hash only, so never proof of equality.
    #[inline]
    pub fn identity_hash(&self) -> u64 {
        *self.0.identity.get_or_init(|| identity_hash(&self.0.list))
    }

    /// Whether both are the same shared lineage (clones of one another): then they are equal
    /// in everything, pids included, without reading them.
    #[inline]
    pub fn shares(&self, other: &Ancestors) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Whether both lineages name the same programs: the same executables and arguments in
    /// the same order, pids aside. Shared lineages answer at once and different identity
    /// hashes refute it; otherwise the strings are compared.
    #[inline]
    pub fn same_programs(&self, other: &Ancestors) -> bool {
        self.shares(other)
            || (self.len() == other.len()
                && self.identity_hash() == other.identity_hash()
                && self
                    .iter()
                    .zip(other.iter())
                    .all(|(a, b)| a.exe == b.exe && a.args == b.args))
    }
}

fn identity_hash(list: &[Ancestor]) -> u64 {
    let mut hasher = FxHasher::default();
    list.len().hash(&mut hasher);
    for ancestor in list {
        ancestor.exe.hash(&mut hasher);
        ancestor.args.hash(&mut hasher);
    }
    hasher.finish()
}

impl std::ops::Deref for Ancestors {
    type Target = [Ancestor];

    fn deref(&self) -> &[Ancestor] {
        &self.0.list
    }
}

impl<'a> IntoIterator for &'a Ancestors {
    type Item = &'a Ancestor;
    type IntoIter = std::slice::Iter<'a, Ancestor>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.list.iter()
    }
}

impl From<Vec<Ancestor>> for Ancestors {
    fn from(list: Vec<Ancestor>) -> Self {
        Ancestors(Arc::new(Lineage {
            list,
            identity: OnceLock::new(),
            json: OnceLock::new(),
        }))
    }
}

impl FromIterator<Ancestor> for Ancestors {
    fn from_iter<I: IntoIterator<Item = Ancestor>>(iter: I) -> Self {
        Ancestors::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl PartialEq for Ancestors {
    fn eq(&self, other: &Self) -> bool {
        self.shares(other) || self.0.list == other.0.list
    }
}

impl std::fmt::Debug for Ancestors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.list.iter()).finish()
    }
}

impl Serialize for Ancestors {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let json = match self.0.json.get() {
            Some(json) => json,
            None => {
                let json =
                    serde_json::value::to_raw_value(&self.0.list).map_err(S::Error::custom)?;
                self.0.json.get_or_init(|| json)
            }
        };
        json.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Ancestors {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Ancestor>::deserialize(deserializer).map(Ancestors::from)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FdKind {
    #[default]
    Unknown,
    File,
    Tty,
    Pipe,
    Socket,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressFamily {
    Inet,
    Inet6,
    Unix,
    Other,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SocketAddress {
    pub family: AddressFamily,
    /// IP address text, or the unix socket path.
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub port: u16,
}

/// The activity itself. `type` names it in JSON (`exec`, `open`, `connect`, ...), the same
/// names rules use for `evt.type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuntimeAction {
    Exec,
    Exit {
        code: i32,
    },
    Fork {
        child_pid: u32,
    },
    Open {
        path: String,
        /// The open(2) flags as passed.
        flags: u32,
        #[serde(default)]
        result: i64,
    },
    Unlink {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Utimes {
        path: String,
    },
    Chmod {
        path: String,
        mode: u32,
    },
    Connect {
        remote: SocketAddress,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<SocketAddress>,
        #[serde(default)]
        result: i64,
    },
    Accept {
        remote: SocketAddress,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<SocketAddress>,
    },
    Listen {
        local: SocketAddress,
    },
    /// An address bound to a socket (before listen, or a UDP server).
    Bind {
        local: SocketAddress,
        #[serde(default)]
        result: i64,
    },
    Unshare {
        flags: u64,
    },
    Setns {
        flags: u64,
    },
    Clone {
        flags: u64,
    },
    Ptrace {
        request: i64,
        target_pid: u32,
    },
    Kill {
        signal: i32,
        target_pid: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target_exe: Option<String>,
    },
    MemfdCreate {
        name: String,
    },
    ModuleLoad {
        name: String,
    },
    Mount {
        source: String,
        target: String,
        fstype: String,
    },
}

impl RuntimeAction {
    /// The `evt.type` name of this action.
    pub fn type_name(&self) -> &'static str {
        match self {
            RuntimeAction::Exec => "exec",
            RuntimeAction::Exit { .. } => "exit",
            RuntimeAction::Fork { .. } => "fork",
            RuntimeAction::Open { .. } => "open",
            RuntimeAction::Unlink { .. } => "unlink",
            RuntimeAction::Rename { .. } => "rename",
            RuntimeAction::Utimes { .. } => "utimes",
            RuntimeAction::Chmod { .. } => "chmod",
            RuntimeAction::Connect { .. } => "connect",
            RuntimeAction::Accept { .. } => "accept",
            RuntimeAction::Listen { .. } => "listen",
            RuntimeAction::Bind { .. } => "bind",
            RuntimeAction::Unshare { .. } => "unshare",
            RuntimeAction::Setns { .. } => "setns",
            RuntimeAction::Clone { .. } => "clone",
            RuntimeAction::Ptrace { .. } => "ptrace",
            RuntimeAction::Kill { .. } => "kill",
            RuntimeAction::MemfdCreate { .. } => "memfd_create",
            RuntimeAction::ModuleLoad { .. } => "module_load",
            RuntimeAction::Mount { .. } => "mount",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cloud control plane

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloudProvider {
    Azure,
    Aws,
    Gcp,
}

/// One cloud control-plane operation by some identity (Azure Activity Log, AWS CloudTrail).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudActivity {
    pub provider: CloudProvider,
    /// The operation, e.g. `Microsoft.Compute/virtualMachines/write` or
    /// `ec2.amazonaws.com:RunInstances`.
    pub operation: String,
    /// Principal (object) ID or ARN of the caller.
    #[serde(default)]
    pub principal_id: String,
    /// What kind of principal: managed identity, service principal, user, assumed role...
    #[serde(default)]
    pub principal_type: String,
    #[serde(default)]
    pub resource_id: String,
    /// Succeeded, Failed, Started... as the provider says.
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ancestor(pid: u32, exe: &str, args: &[&str]) -> Ancestor {
        Ancestor {
            pid,
            exe: exe.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn ancestors_write_the_same_json_every_time() {
        let list = vec![
            ancestor(7, "/bin/sh", &["sh", "-c", "echo \"a\"\n"]),
            ancestor(1, "/sbin/init", &[]),
        ];
        let plain = serde_json::to_string(&list).unwrap();
        let shared = Ancestors::from(list.clone());
        let copy = shared.clone();
        assert_eq!(serde_json::to_string(&shared).unwrap(), plain);
        assert_eq!(
            serde_json::to_string(&copy).unwrap(),
            plain,
            "from the cache"
        );
        // Other serde_json outputs take it too.
        assert_eq!(
            serde_json::to_value(&copy).unwrap(),
            serde_json::to_value(&list).unwrap()
        );
        let pretty: Vec<Ancestor> =
            serde_json::from_str(&serde_json::to_string_pretty(&copy).unwrap()).unwrap();
        assert_eq!(pretty, list);
        let back: Ancestors = serde_json::from_str(&plain).unwrap();
        assert_eq!(back, shared);
        assert_eq!(back[0].args[2], "echo \"a\"\n");
    }

    #[test]
    fn lineages_know_their_programs_apart_from_pids() {
        let shell = |pid| {
            Ancestors::from(vec![
                ancestor(pid, "/bin/sh", &["sh", "-c", "x"]),
                ancestor(1, "/sbin/init", &[]),
            ])
        };
        let (a, b) = (shell(7), shell(8));
        assert!(!a.shares(&b));
        assert!(a.shares(&a.clone()));
        assert_eq!(a.identity_hash(), b.identity_hash(), "pids aside");
        assert!(a.same_programs(&b));
        assert_ne!(a, b, "equality still reads pids");
        // Each string counts, and where one argument ends.
        for other in [
            vec![ancestor(7, "/bin/sh", &["sh", "-c", "y"])],
            vec![
                ancestor(7, "/bin/sh", &["sh", "-cx"]),
                ancestor(1, "/sbin/init", &[]),
            ],
            vec![
                ancestor(7, "/bin/sh", &["sh", "-c", "x"]),
                ancestor(1, "/sbin/init", &[""]),
            ],
            vec![ancestor(7, "/bin/sh", &["sh", "-c", "x"])],
        ] {
            let other = Ancestors::from(other);
            assert!(!a.same_programs(&other), "{other:?}");
            assert_ne!(a.identity_hash(), other.identity_hash(), "{other:?}");
        }
        assert!(Ancestors::default().same_programs(&Ancestors::from(Vec::new())));
    }

    #[test]
    fn processes_without_ancestors_leave_them_out() {
        let p = Process::default();
        let json = serde_json::to_string(&p).unwrap();
        assert!(!json.contains("ancestors"));
        let back: Process = serde_json::from_str(&json).unwrap();
        assert!(back.ancestors.is_empty());
    }
}
