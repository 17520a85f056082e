//! The alert model. JSON field names are camelCase; docs/alert-format.md documents each one.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Severity::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// MITRE ATT&CK tactics, plus the vendor's extra kill-chain stages `Exploitation` and
/// `Probing`. Declared in kill-chain order so incidents can sort by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tactic {
    Reconnaissance,
    ResourceDevelopment,
    Probing,
    InitialAccess,
    Exploitation,
    Execution,
    Persistence,
    PrivilegeEscalation,
    DefenseEvasion,
    CredentialAccess,
    Discovery,
    LateralMovement,
    Collection,
    CommandAndControl,
    Exfiltration,
    Impact,
    /// For alert types whose tactic the reference leaves open.
    Unknown,
}

impl Tactic {
    pub const ALL: [Tactic; 17] = [
        Tactic::Reconnaissance,
        Tactic::ResourceDevelopment,
        Tactic::Probing,
        Tactic::InitialAccess,
        Tactic::Exploitation,
        Tactic::Execution,
        Tactic::Persistence,
        Tactic::PrivilegeEscalation,
        Tactic::DefenseEvasion,
        Tactic::CredentialAccess,
        Tactic::Discovery,
        Tactic::LateralMovement,
        Tactic::Collection,
        Tactic::CommandAndControl,
        Tactic::Exfiltration,
        Tactic::Impact,
        Tactic::Unknown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tactic::Reconnaissance => "Reconnaissance",
            Tactic::ResourceDevelopment => "ResourceDevelopment",
            Tactic::Probing => "Probing",
            Tactic::InitialAccess => "InitialAccess",
            Tactic::Exploitation => "Exploitation",
            Tactic::Execution => "Execution",
            Tactic::Persistence => "Persistence",
            Tactic::PrivilegeEscalation => "PrivilegeEscalation",
            Tactic::DefenseEvasion => "DefenseEvasion",
            Tactic::CredentialAccess => "CredentialAccess",
            Tactic::Discovery => "Discovery",
            Tactic::LateralMovement => "LateralMovement",
            Tactic::Collection => "Collection",
            Tactic::CommandAndControl => "CommandAndControl",
            Tactic::Exfiltration => "Exfiltration",
            Tactic::Impact => "Impact",
            Tactic::Unknown => "Unknown",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Tactic::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Which stream an alert type is detected from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plane {
    /// Kubernetes API server audit events.
    Audit,
    /// The cluster's declared objects, seen through audit events (inventory joins).
    Config,
    /// Process, file and network activity from the node sensor.
    Runtime,
    /// The cloud provider's control-plane log.
    Cloud,
}

impl Plane {
    pub const ALL: [Plane; 4] = [Plane::Audit, Plane::Config, Plane::Runtime, Plane::Cloud];

    /// The name in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Plane::Audit => "audit",
            Plane::Config => "config",
            Plane::Runtime => "runtime",
            Plane::Cloud => "cloud",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Plane::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// A raised alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// The alert type's ID, e.g. `K8S_PrivilegedContainer` (never a deprecated alias).
    pub alert_type: String,
    pub display_name: String,
    pub description: String,
    pub severity: Severity,
    pub tactics: Vec<Tactic>,
    /// MITRE ATT&CK technique IDs, e.g. `T1610`.
    pub techniques: Vec<String>,
    pub plane: Plane,
    /// The rule that raised it.
    pub rule: String,
    /// Event time of the first triggering event.
    pub time_generated: Timestamp,
    /// Event time of the first and last event this alert covers (they differ once throttling
    /// folded repeats into it).
    pub start_time: Timestamp,
    pub end_time: Timestamp,
    /// How many detections this alert stands for (repeats within the throttle window fold in).
    pub count: u64,
    /// Why it fired, in words: which container, which path, which role, which port.
    pub reason: String,
    pub entities: Entities,
    /// IDs of the triggering events (audit IDs, sensor event IDs), oldest first, bounded.
    pub evidence: Vec<String>,
    pub remediation: String,
    /// Stable across runs: alert type plus the entity the alert is about.
    pub dedup_key: String,
}

/// The entities an alert involves. Absent ones are omitted from JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadEntity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerEntity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityEntity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessEntity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<String>,
    /// The Kubernetes object the request was about (resource/namespace/name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectEntity>,
    /// For exposure alerts: the Service that exposes the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEntity {
    /// Pod, Deployment, DaemonSet, StatefulSet, ReplicaSet, Job, CronJob, ...
    pub kind: String,
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerEntity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityKind {
    User,
    ServiceAccount,
    Node,
    CloudPrincipal,
    Anonymous,
    LocalAccount,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityEntity {
    pub name: String,
    pub kind: IdentityKind,
}

impl IdentityEntity {
    /// Classifies a Kubernetes username the way the API server names identities.
    pub fn from_kube_username(name: &str) -> Self {
        let kind = if name.starts_with("system:serviceaccount:") {
            IdentityKind::ServiceAccount
        } else if name.starts_with("system:node:") {
            IdentityKind::Node
        } else if name == "system:anonymous" {
            IdentityKind::Anonymous
        } else {
            IdentityKind::User
        };
        IdentityEntity {
            name: name.to_owned(),
            kind,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessEntity {
    pub pid: u32,
    pub exe: String,
    pub command_line: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Box<ProcessEntity>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectEntity {
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}
