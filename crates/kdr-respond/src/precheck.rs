//! Pre-checks before an action changes anything: the cluster's Kubernetes release, a
//! NetworkPolicy-enforcing plugin recent enough (read from its pods' image tags), and the
//! target pod Running. Each failure says what was found and what is required.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};
use serde::{Deserialize, Serialize};

use crate::error::{api_error, ActionError};
use crate::outcome::Action;
use crate::version::{image_name, image_tag, server_release, Version};

/// The oldest Kubernetes release kdr isolates pods on.
pub const MIN_SERVER_RELEASE: (u64, u64) = (1, 27);

/// NetworkPolicy-enforcing plugins kdr recognizes by their pods' `k8s-app` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NetworkPlugin {
    AzureNpm,
    Calico,
    Cilium,
    AwsNode,
}

impl NetworkPlugin {
    pub const ALL: [NetworkPlugin; 4] = [
        NetworkPlugin::AzureNpm,
        NetworkPlugin::Calico,
        NetworkPlugin::Cilium,
        NetworkPlugin::AwsNode,
    ];

    /// The `k8s-app` label of the plugin's pods.
    pub fn k8s_app(self) -> &'static str {
        match self {
            NetworkPlugin::AzureNpm => "azure-npm",
            NetworkPlugin::Calico => "calico-node",
            NetworkPlugin::Cilium => "cilium",
            NetworkPlugin::AwsNode => "aws-node",
        }
    }

    /// The oldest release whose NetworkPolicy enforcement kdr relies on.
    pub fn minimum_version(self) -> Version {
        match self {
            NetworkPlugin::AzureNpm => Version::new(1, 5, 34),
            NetworkPlugin::Calico => Version::new(3, 24, 1),
            NetworkPlugin::Cilium => Version::new(1, 13, 1),
            NetworkPlugin::AwsNode => Version::new(1, 15, 1),
        }
    }

    /// The image (last path segment of its repository) whose tag is the plugin's version.
    fn versioned_image(self) -> &'static str {
        match self {
            NetworkPlugin::AzureNpm => "azure-npm",
            NetworkPlugin::Calico => "node",
            NetworkPlugin::Cilium => "cilium",
            NetworkPlugin::AwsNode => "amazon-k8s-cni",
        }
    }

    fn from_k8s_app(app: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|plugin| plugin.k8s_app() == app)
    }
}

impl fmt::Display for NetworkPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkPlugin::AzureNpm => "Azure NPM",
            NetworkPlugin::Calico => "Calico",
            NetworkPlugin::Cilium => "Cilium",
            NetworkPlugin::AwsNode => "AWS VPC CNI",
        })
    }
}

/// The AWS VPC CNI enforces NetworkPolicies only when its node agent (the `aws-node`
/// DaemonSet's `aws-eks-nodeagent` container on EKS, `aws-network-policy-agent` image) runs
/// with this flag set; the shipped manifests set it to false.
const AWS_POLICY_AGENT_FLAG: &str = "--enable-network-policy=true";

/// What one container argument sets the policy agent to, read as Go's flag parsers read a
/// boolean flag: one or two dashes, bare (true) or `=` with a value; `None` for other flags.
fn aws_policy_agent_setting(arg: &str) -> Option<bool> {
    let flag = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    match flag.split_once('=') {
        None => (flag == "enable-network-policy").then_some(true),
        Some(("enable-network-policy", value)) => {
            Some(matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True"))
        }
        Some(_) => None,
    }
}

/// Whether a container's arguments leave the policy agent on: the last setting wins, as in Go.
fn enables_aws_policy_agent<'a>(args: impl IntoIterator<Item = &'a String>) -> bool {
    args.into_iter()
        .filter_map(|arg| aws_policy_agent_setting(arg))
        .last()
        == Some(true)
}

/// Where plugin pods are looked for: every plugin in kube-system; Calico's operator installs
/// into calico-system.
const PLUGIN_NAMESPACES: [(&str, &[NetworkPlugin]); 2] = [
    ("kube-system", &NetworkPlugin::ALL),
    ("calico-system", &[NetworkPlugin::Calico]),
];

/// Why one plugin's pods do not qualify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginProblem {
    TooOld { image: String, found: Version },
    UnreadableVersion { image: String, why: String },
    NoVersionedContainer { images: Vec<String> },
    PolicyAgentDisabled { found: Version },
}

impl PluginProblem {
    fn reason(&self) -> &'static str {
        match self {
            PluginProblem::TooOld { .. } => "PluginTooOld",
            PluginProblem::UnreadableVersion { .. }
            | PluginProblem::NoVersionedContainer { .. } => "PluginVersionUnreadable",
            PluginProblem::PolicyAgentDisabled { .. } => "PluginPolicyAgentDisabled",
        }
    }
}

/// A problem found on some pods of one plugin (pods with the same problem are one finding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFinding {
    pub plugin: NetworkPlugin,
    pub problem: PluginProblem,
    /// `namespace/name` of the affected pods.
    pub pods: Vec<String>,
}

impl fmt::Display for PluginFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plugin = self.plugin;
        let first = self.pods.first().map(String::as_str).unwrap_or("?");
        let pods = match self.pods.len() {
            0 | 1 => format!("pod {first}"),
            n => format!("pod {first} (and {} more)", n - 1),
        };
        match &self.problem {
            PluginProblem::TooOld { image, found } => write!(
                f,
                "{plugin} {pods} runs {image}, version {found}; isolation needs {plugin} {} or later",
                plugin.minimum_version()
            ),
            PluginProblem::UnreadableVersion { image, why } => write!(
                f,
                "{plugin} {pods} runs {image}, {why}; cannot tell whether it is {} or later",
                plugin.minimum_version()
            ),
            PluginProblem::NoVersionedContainer { images } => write!(
                f,
                "{plugin} {pods} has no container from an image named {:?} (images: {}); \
                 cannot read its version",
                plugin.versioned_image(),
                images.join(", ")
            ),
            PluginProblem::PolicyAgentDisabled { found } => write!(
                f,
                "{plugin} {pods} runs version {found} but none of its containers runs with \
                 {AWS_POLICY_AGENT_FLAG}: its network policy agent does not enforce \
                 NetworkPolicies"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreCheckError {
    #[error(
        "the cluster runs Kubernetes {major}.{minor} (gitVersion {git_version:?}); isolation \
         needs {}.{} or later", MIN_SERVER_RELEASE.0, MIN_SERVER_RELEASE.1
    )]
    ServerTooOld {
        major: u64,
        minor: u64,
        git_version: String,
    },
    #[error(
        "cannot read the cluster's Kubernetes version from GET /version: gitVersion \
         {git_version:?}, major {major:?}, minor {minor:?}; expected a gitVersion like \
         v1.29.3 or major/minor like 1/27+"
    )]
    ServerVersionUnreadable {
        git_version: String,
        major: String,
        minor: String,
    },
    #[error(
        "no NetworkPolicy plugin found: no pod labelled k8s-app in (azure-npm, calico-node, \
         cilium, aws-node) in kube-system and no k8s-app=calico-node pod in calico-system; \
         without an enforcing plugin a NetworkPolicy isolates nothing"
    )]
    NoPlugin,
    #[error("no NetworkPolicy plugin qualifies: {}", join(findings))]
    PluginUnfit { findings: Vec<PluginFinding> },
    #[error("pod {namespace}/{pod} does not exist; {action} needs it Running")]
    PodNotFound {
        action: Action,
        namespace: String,
        pod: String,
    },
    #[error(
        "pod {namespace}/{pod} runs in the node's network namespace (hostNetwork: true); \
         NetworkPolicies do not apply to such pods, so isolation cannot cut it off \
         (terminate it instead)"
    )]
    HostNetwork { namespace: String, pod: String },
    #[error("pod {namespace}/{pod} is {phase}; {action} needs it Running")]
    PodNotRunning {
        action: Action,
        namespace: String,
        pod: String,
        phase: String,
    },
}

fn join(findings: &[PluginFinding]) -> String {
    findings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl PreCheckError {
    /// A stable, machine-readable name for the failure.
    pub fn reason(&self) -> &'static str {
        match self {
            PreCheckError::ServerTooOld { .. } => "ServerVersionTooOld",
            PreCheckError::ServerVersionUnreadable { .. } => "ServerVersionUnreadable",
            PreCheckError::NoPlugin => "NoNetworkPolicyPlugin",
            PreCheckError::PluginUnfit { findings } => {
                let first = findings
                    .first()
                    .map_or("PluginUnfit", |f| f.problem.reason());
                if findings.iter().all(|f| f.problem.reason() == first) {
                    first
                } else {
                    "PluginUnfit"
                }
            }
            PreCheckError::PodNotFound { .. } => "PodNotFound",
            PreCheckError::PodNotRunning { .. } => "PodNotRunning",
            PreCheckError::HostNetwork { .. } => "PodUsesHostNetwork",
        }
    }
}

/// Reads `GET /version` and requires at least [`MIN_SERVER_RELEASE`]; returns a note.
pub async fn check_server_version(client: &Client) -> Result<String, ActionError> {
    let info = client
        .apiserver_version()
        .await
        .map_err(|err| api_error("reading the server version (GET /version)", err))?;
    let Some((major, minor)) = server_release(&info.git_version, &info.major, &info.minor) else {
        return Err(PreCheckError::ServerVersionUnreadable {
            git_version: info.git_version,
            major: info.major,
            minor: info.minor,
        }
        .into());
    };
    if (major, minor) < MIN_SERVER_RELEASE {
        return Err(PreCheckError::ServerTooOld {
            major,
            minor,
            git_version: info.git_version,
        }
        .into());
    }
    Ok(format!(
        "the cluster runs Kubernetes {major}.{minor} ({})",
        info.git_version
    ))
}

/// The plugins that qualify, and notes on what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCheck {
    pub qualified: Vec<NetworkPlugin>,
    pub notes: Vec<String>,
}

/// Finds the plugins' pods and judges each plugin by all its pods: a plugin qualifies only
/// when every one of its pods does (a node still on an old release would not enforce).
pub async fn check_plugins(client: &Client) -> Result<PluginCheck, ActionError> {
    let mut pods = Vec::new();
    for (namespace, plugins) in PLUGIN_NAMESPACES {
        let apps: Vec<&str> = plugins.iter().map(|p| p.k8s_app()).collect();
        let selector = format!("k8s-app in ({})", apps.join(","));
        let listed = Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|err| {
                api_error(
                    format!("listing NetworkPolicy plugin pods in {namespace} ({selector})"),
                    err,
                )
            })?;
        pods.extend(listed.items);
    }
    judge_plugins(&pods)
}

/// The judgement of [`check_plugins`] on pods already fetched.
pub fn judge_plugins(pods: &[Pod]) -> Result<PluginCheck, ActionError> {
    let mut findings: Vec<PluginFinding> = Vec::new();
    let mut versions: BTreeMap<NetworkPlugin, Vec<(String, Version)>> = BTreeMap::new();
    let mut found: Vec<NetworkPlugin> = Vec::new();
    for pod in pods {
        let Some(plugin) = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get("k8s-app"))
            .and_then(|app| NetworkPlugin::from_k8s_app(app))
        else {
            continue;
        };
        if !found.contains(&plugin) {
            found.push(plugin);
        }
        let name = format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.name.as_deref().unwrap_or("")
        );
        match judge_plugin_pod(plugin, pod) {
            Ok(version) => versions.entry(plugin).or_default().push((name, version)),
            Err(problem) => match findings
                .iter_mut()
                .find(|f| f.plugin == plugin && f.problem == problem)
            {
                Some(finding) => finding.pods.push(name),
                None => findings.push(PluginFinding {
                    plugin,
                    problem,
                    pods: vec![name],
                }),
            },
        }
    }
    if found.is_empty() {
        return Err(PreCheckError::NoPlugin.into());
    }
    let qualified: Vec<NetworkPlugin> = found
        .iter()
        .copied()
        .filter(|plugin| !findings.iter().any(|f| f.plugin == *plugin))
        .collect();
    if qualified.is_empty() {
        return Err(PreCheckError::PluginUnfit { findings }.into());
    }
    let mut notes: Vec<String> = qualified
        .iter()
        .map(|plugin| {
            let pods = &versions[plugin];
            let oldest = pods
                .iter()
                .map(|(_, v)| *v)
                .min()
                .unwrap_or(plugin.minimum_version());
            format!(
                "{plugin} {oldest} enforces NetworkPolicies ({} {}; {} or later required)",
                pods.len(),
                if pods.len() == 1 { "pod" } else { "pods" },
                plugin.minimum_version()
            )
        })
        .collect();
    notes.extend(
        findings
            .iter()
            .map(|finding| format!("not relied on: {finding}")),
    );
    Ok(PluginCheck { qualified, notes })
}

fn judge_plugin_pod(plugin: NetworkPlugin, pod: &Pod) -> Result<Version, PluginProblem> {
    let containers = pod
        .spec
        .as_ref()
        .map(|spec| spec.containers.as_slice())
        .unwrap_or_default();
    let images = || -> Vec<String> { containers.iter().filter_map(|c| c.image.clone()).collect() };
    let Some(image) = containers
        .iter()
        .filter_map(|c| c.image.as_deref())
        .find(|image| image_name(image) == plugin.versioned_image())
    else {
        return Err(PluginProblem::NoVersionedContainer { images: images() });
    };
    let Some(tag) = image_tag(image) else {
        return Err(PluginProblem::UnreadableVersion {
            image: image.to_string(),
            why: "which has no tag".to_string(),
        });
    };
    let Some(version) = Version::parse(tag) else {
        return Err(PluginProblem::UnreadableVersion {
            image: image.to_string(),
            why: format!("whose tag {tag:?} is not a version (vMAJOR.MINOR.PATCH)"),
        });
    };
    if version < plugin.minimum_version() {
        return Err(PluginProblem::TooOld {
            image: image.to_string(),
            found: version,
        });
    }
    if plugin == NetworkPlugin::AwsNode {
        let agent_enabled = containers
            .iter()
            .any(|c| enables_aws_policy_agent(c.args.iter().flatten()));
        if !agent_enabled {
            return Err(PluginProblem::PolicyAgentDisabled { found: version });
        }
    }
    Ok(version)
}

/// The pod to isolate: it must exist, be Running, and have its own network namespace
/// (NetworkPolicies do not govern host-network pods).
pub async fn isolatable_pod(
    pods: &Api<Pod>,
    namespace: &str,
    name: &str,
) -> Result<Pod, ActionError> {
    let Some(pod) = existing_pod(pods, namespace, name).await? else {
        return Err(PreCheckError::PodNotFound {
            action: Action::Isolate,
            namespace: namespace.to_string(),
            pod: name.to_string(),
        }
        .into());
    };
    let pod = require_running(pod, Action::Isolate, namespace, name)?;
    if pod.spec.as_ref().and_then(|spec| spec.host_network) == Some(true) {
        return Err(PreCheckError::HostNetwork {
            namespace: namespace.to_string(),
            pod: name.to_string(),
        }
        .into());
    }
    Ok(pod)
}

/// The pod, or `None` when it does not exist.
pub async fn existing_pod(
    pods: &Api<Pod>,
    namespace: &str,
    name: &str,
) -> Result<Option<Pod>, ActionError> {
    pods.get_opt(name)
        .await
        .map_err(|err| api_error(format!("reading pod {namespace}/{name}"), err))
}

pub fn require_running(
    pod: Pod,
    action: Action,
    namespace: &str,
    name: &str,
) -> Result<Pod, ActionError> {
    let phase = pod.status.as_ref().and_then(|status| status.phase.clone());
    if phase.as_deref() == Some("Running") {
        return Ok(pod);
    }
    Err(PreCheckError::PodNotRunning {
        action,
        namespace: namespace.to_string(),
        pod: name.to_string(),
        phase: phase.unwrap_or_else(|| "in no phase (status.phase is empty)".to_string()),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn plugin_pod(name: &str, app: &str, containers: &[(&str, &[&str])]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("kube-system".into()),
                labels: Some(BTreeMap::from([("k8s-app".to_string(), app.to_string())])),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: containers
                    .iter()
                    .map(|(image, args)| Container {
                        name: "c".into(),
                        image: Some(image.to_string()),
                        args: Some(args.iter().map(|a| a.to_string()).collect()),
                        ..Container::default()
                    })
                    .collect(),
                ..PodSpec::default()
            }),
            status: None,
        }
    }

    fn unfit(result: Result<PluginCheck, ActionError>) -> Vec<PluginFinding> {
        match result {
            Err(ActionError::PreCheck(PreCheckError::PluginUnfit { findings })) => findings,
            other => panic!("expected PluginUnfit, got {other:?}"),
        }
    }

    #[test]
    fn a_plugin_qualifies_only_when_all_its_pods_do() {
        let pods = [
            plugin_pod(
                "cilium-a",
                "cilium",
                &[("quay.io/cilium/cilium:v1.14.2", &[])],
            ),
            plugin_pod(
                "cilium-b",
                "cilium",
                &[("quay.io/cilium/cilium:v1.12.0", &[])],
            ),
            plugin_pod(
                "cilium-c",
                "cilium",
                &[("quay.io/cilium/cilium:v1.12.0", &[])],
            ),
        ];
        let findings = unfit(judge_plugins(&pods));
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].to_string(),
            "Cilium pod kube-system/cilium-b (and 1 more) runs quay.io/cilium/cilium:v1.12.0, \
             version 1.12.0; isolation needs Cilium 1.13.1 or later"
        );
    }

    #[test]
    fn one_qualifying_plugin_is_enough_and_the_others_are_noted() {
        let pods = [
            plugin_pod(
                "aws-node-1",
                "aws-node",
                &[("x/amazon-k8s-cni:v1.12.0", &[])],
            ),
            plugin_pod(
                "calico-node-1",
                "calico-node",
                &[("docker.io/calico/node:v3.26.1", &[])],
            ),
        ];
        let check = judge_plugins(&pods).unwrap();
        assert_eq!(check.qualified, vec![NetworkPlugin::Calico]);
        assert_eq!(check.notes.len(), 2);
        assert!(check.notes[1].starts_with("not relied on: AWS VPC CNI pod kube-system/aws-node-1"));
    }

    #[test]
    fn aws_node_needs_its_policy_agent_enabled() {
        let cni = "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.15.1-eksbuild.1";
        let agent =
            "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon/aws-network-policy-agent:v1.0.4";
        let disabled = plugin_pod(
            "aws-node-1",
            "aws-node",
            &[(cni, &[]), (agent, &["--enable-network-policy=false"])],
        );
        let findings = unfit(judge_plugins(&[disabled]));
        assert_eq!(findings[0].problem.reason(), "PluginPolicyAgentDisabled");
        let enabled = plugin_pod(
            "aws-node-1",
            "aws-node",
            &[(cni, &[]), (agent, &["--enable-network-policy=true"])],
        );
        assert_eq!(
            judge_plugins(&[enabled]).unwrap().qualified,
            vec![NetworkPlugin::AwsNode]
        );
    }

    #[test]
    fn the_policy_agent_flag_is_read_as_go_reads_a_boolean_flag() {
        for on in [
            "--enable-network-policy=true",
            "-enable-network-policy=true",
            "--enable-network-policy",
            "--enable-network-policy=1",
            "--enable-network-policy=True",
        ] {
            assert!(enables_aws_policy_agent(&[on.to_string()]), "{on}");
        }
        for off in [
            "--enable-network-policy=false",
            "--enable-network-policy=0",
            "--enable-network-policy=yes",
            "enable-network-policy=true",
            "--enable-network-policy-controller=true",
            "--enable-ipv6=true",
        ] {
            assert!(!enables_aws_policy_agent(&[off.to_string()]), "{off}");
        }
        let last_wins = |args: &[&str]| {
            enables_aws_policy_agent(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        };
        assert!(!last_wins(&[
            "--enable-network-policy=true",
            "--enable-ipv6=false",
            "--enable-network-policy=false"
        ]));
        assert!(last_wins(&[
            "--enable-network-policy=false",
            "--enable-network-policy"
        ]));
    }

    #[test]
    fn a_pod_without_the_versioned_image_is_named_with_its_images() {
        let pod = plugin_pod(
            "calico-node-1",
            "calico-node",
            &[("quay.io/tigera/cnx-node:v3.18.0", &[])],
        );
        let findings = unfit(judge_plugins(&[pod]));
        assert_eq!(
            findings[0].to_string(),
            "Calico pod kube-system/calico-node-1 has no container from an image named \"node\" \
             (images: quay.io/tigera/cnx-node:v3.18.0); cannot read its version"
        );
    }
}
