//! What a stand-in starts with: the version it reports, the custom resource types it serves,
//! and its objects. Built in code (`Seed::new(..).pod(..)`) or read from a JSON/YAML file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The bearer token a stand-in requires unless its seed names another.
pub const DEFAULT_TOKEN: &str = "kdr-standin-token";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    /// `gitVersion` of `GET /version`, e.g. `v1.29.3-eks-abc`.
    pub git_version: String,
    /// `major` of `GET /version`; derived from `git_version` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<String>,
    /// `minor` of `GET /version` (clouds write e.g. `27+`); derived when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<String>,
    /// The bearer token requests must carry.
    #[serde(default = "default_token")]
    pub token: String,
    /// Namespaced custom resource types served besides pods and NetworkPolicies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_resources: Vec<CustomResourceType>,
    /// Pods in a short form (see [`PodSeed`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<PodSeed>,
    /// Any other objects, in their full Kubernetes form (`apiVersion`, `kind`, `metadata`...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<Value>,
}

fn default_token() -> String {
    DEFAULT_TOKEN.to_string()
}

/// A namespaced custom resource type, e.g. `cilium.io/v2` `CiliumNetworkPolicy`
/// `ciliumnetworkpolicies`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomResourceType {
    pub api_version: String,
    pub kind: String,
    pub plural: String,
}

impl CustomResourceType {
    pub fn new(api_version: &str, kind: &str, plural: &str) -> Self {
        CustomResourceType {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
        }
    }

    /// Calico's NetworkPolicy as its API server serves it.
    pub fn calico_api_server() -> Self {
        Self::new("projectcalico.org/v3", "NetworkPolicy", "networkpolicies")
    }

    /// Calico's NetworkPolicy as its CRD (Kubernetes datastore) stores it.
    pub fn calico_crd() -> Self {
        Self::new(
            "crd.projectcalico.org/v1",
            "NetworkPolicy",
            "networkpolicies",
        )
    }

    /// Cilium's CiliumNetworkPolicy.
    pub fn cilium() -> Self {
        Self::new(
            "cilium.io/v2",
            "CiliumNetworkPolicy",
            "ciliumnetworkpolicies",
        )
    }
}

/// A pod in short form; becomes a full `v1` Pod with these labels, containers and phase.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSeed {
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default = "running")]
    pub phase: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerSeed>,
}

fn running() -> String {
    "Running".to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerSeed {
    pub name: String,
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

impl PodSeed {
    /// A Running pod without labels or containers.
    pub fn new(namespace: &str, name: &str) -> Self {
        PodSeed {
            namespace: namespace.to_string(),
            name: name.to_string(),
            labels: BTreeMap::new(),
            phase: running(),
            containers: Vec::new(),
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.phase = phase.to_string();
        self
    }

    pub fn container(self, name: &str, image: &str) -> Self {
        self.container_with_args(name, image, &[])
    }

    pub fn container_with_args(mut self, name: &str, image: &str, args: &[&str]) -> Self {
        self.containers.push(ContainerSeed {
            name: name.to_string(),
            image: image.to_string(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
        });
        self
    }

    /// The pod as the API serves it (before the server adds uid, resourceVersion...).
    pub fn to_object(&self) -> Value {
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|container| {
                let mut spec = json!({"name": container.name, "image": container.image});
                if !container.args.is_empty() {
                    spec["args"] = json!(container.args);
                }
                spec
            })
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": self.labels},
            "spec": {"containers": containers},
            "status": {"phase": self.phase},
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeedFileError {
    #[error("reading seed file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("seed file {path}: {source}")]
    Parse {
        path: String,
        source: serde_yaml_ng::Error,
    },
}

impl Seed {
    /// A cluster reporting `git_version`, with no objects.
    pub fn new(git_version: &str) -> Self {
        Seed {
            git_version: git_version.to_string(),
            major: None,
            minor: None,
            token: default_token(),
            custom_resources: Vec::new(),
            pods: Vec::new(),
            objects: Vec::new(),
        }
    }

    /// Reads a seed from a JSON or YAML file (JSON is YAML).
    pub fn from_file(path: &Path) -> Result<Self, SeedFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeedFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        serde_yaml_ng::from_str(&text).map_err(|source| SeedFileError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// Reports `major`/`minor` as given instead of deriving them from `git_version`.
    pub fn version_parts(mut self, major: &str, minor: &str) -> Self {
        self.major = Some(major.to_string());
        self.minor = Some(minor.to_string());
        self
    }

    pub fn token(mut self, token: &str) -> Self {
        self.token = token.to_string();
        self
    }

    pub fn custom_resource(mut self, resource: CustomResourceType) -> Self {
        self.custom_resources.push(resource);
        self
    }

    pub fn pod(mut self, pod: PodSeed) -> Self {
        self.pods.push(pod);
        self
    }

    /// A Running pod labelled `k8s-app: <app>` with one container `<app>` running `image`,
    /// as NetworkPolicy plugins' DaemonSets create them.
    pub fn plugin_pod(self, namespace: &str, name: &str, app: &str, image: &str) -> Self {
        self.pod(
            PodSeed::new(namespace, name)
                .label("k8s-app", app)
                .container(app, image),
        )
    }

    /// A Running or otherwise phased workload pod with labels.
    pub fn workload(
        self,
        namespace: &str,
        name: &str,
        labels: &[(&str, &str)],
        phase: &str,
    ) -> Self {
        let pod = labels
            .iter()
            .fold(PodSeed::new(namespace, name).phase(phase), |pod, (k, v)| {
                pod.label(k, v)
            });
        self.pod(pod)
    }

    /// Any object in full form, e.g. an existing NetworkPolicy.
    pub fn object(mut self, object: Value) -> Self {
        self.objects.push(object);
        self
    }
}
