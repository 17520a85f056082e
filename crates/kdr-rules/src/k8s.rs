//! Facts read from Kubernetes objects in audit bodies: the lenient subset of the real API
//! types that rules look at. Every field is optional and unknown fields are ignored, so a
//! partial or odd object yields fewer facts instead of an error.
//!
//! Facts are flattened into per-kind vectors (every container's image, every hostPath) so a
//! rule's multi-valued comparison is one slice scan.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use kdr_model::KubeAudit;

/// Facts of the object an audit event created or changed.
#[derive(Clone, Debug, Default)]
pub struct ObjectFacts {
    /// `kind` of the object (Pod, Deployment, Service, ...).
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub labels: Vec<String>,
    /// The object has owner references (a ReplicaSet's pod, a Deployment's ReplicaSet).
    pub owned: bool,
    pub workload: Option<WorkloadFacts>,
    pub service: Option<ServiceFacts>,
    pub role: Option<RoleFacts>,
    pub binding: Option<BindingFacts>,
    pub config_map: Option<ConfigMapFacts>,
    pub webhook: Option<WebhookFacts>,
}

/// A pod, or any workload that carries a pod template.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkloadFacts {
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// The pod's (template's) labels as `key=value`.
    pub pod_labels: Vec<String>,
    pub pod_label_map: BTreeMap<String, String>,
    pub container_names: Vec<String>,
    pub images: Vec<String>,
    /// Images without tag or digest (`docker.io/library/nginx:1.25` -> `docker.io/library/nginx`).
    pub image_repositories: Vec<String>,
    pub privileged: Vec<bool>,
    /// `name (image)` of each privileged container, for alert reasons.
    pub privileged_containers: Vec<String>,
    pub allow_privilege_escalation: Vec<bool>,
    pub add_capabilities: Vec<String>,
    /// `NAME=value` of every container's literal env entries.
    pub env: Vec<String>,
    /// Every container's command and args, each joined by spaces.
    pub command_lines: Vec<String>,
    pub container_ports: Vec<i64>,
    pub host_ports: Vec<i64>,
    pub host_paths: Vec<String>,
    /// `volume=path` of each hostPath volume, for alert reasons.
    pub host_path_volumes: Vec<String>,
    pub config_map_volumes: Vec<String>,
    pub volume_types: Vec<String>,
    pub host_network: Option<bool>,
    pub host_pid: Option<bool>,
    pub host_ipc: Option<bool>,
    pub service_account: Option<String>,
    pub run_as_user: Vec<i64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceFacts {
    pub name: String,
    pub namespace: String,
    /// ClusterIP when the spec says nothing, as the API server defaults it.
    pub service_type: String,
    pub ports: Vec<i64>,
    pub target_ports: Vec<String>,
    pub port_names: Vec<String>,
    /// `key=value` pairs of the selector.
    pub selector: Vec<String>,
    pub selector_map: BTreeMap<String, String>,
    pub source_ranges: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleFacts {
    pub verbs: Vec<String>,
    pub resources: Vec<String>,
    pub api_groups: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
    /// `verb resource` for every combination a rule grants, e.g. `create pods/exec`, `* *`.
    pub grants: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct BindingFacts {
    pub role_kind: String,
    pub role_name: String,
    /// `Kind:namespace/name` or `Kind:name` per subject.
    pub subjects: Vec<String>,
    pub subject_names: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigMapFacts {
    pub keys: Vec<String>,
    pub values: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebhookFacts {
    pub names: Vec<String>,
    /// `namespace/name` of in-cluster services or the URL, per webhook.
    pub targets: Vec<String>,
    pub resources: Vec<String>,
}

// Wire shapes: only what we read.

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Object {
    kind: String,
    metadata: Metadata,
    spec: Option<Box<RawValue>>,
    rules: Option<Vec<PolicyRule>>,
    role_ref: Option<RoleRef>,
    subjects: Option<Vec<Subject>>,
    data: Option<BTreeMap<String, serde_json::Value>>,
    webhooks: Option<Vec<Webhook>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata {
    name: String,
    namespace: String,
    labels: BTreeMap<String, serde_json::Value>,
    #[serde(rename = "ownerReferences")]
    owner_references: Vec<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodSpec {
    containers: Vec<Container>,
    init_containers: Vec<Container>,
    ephemeral_containers: Vec<Container>,
    volumes: Vec<Volume>,
    host_network: Option<bool>,
    #[serde(rename = "hostPID")]
    host_pid: Option<bool>,
    #[serde(rename = "hostIPC")]
    host_ipc: Option<bool>,
    service_account_name: Option<String>,
    security_context: Option<SecurityContext>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Container {
    name: String,
    image: String,
    command: Vec<String>,
    args: Vec<String>,
    env: Vec<EnvVar>,
    ports: Vec<ContainerPort>,
    security_context: Option<SecurityContext>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct SecurityContext {
    privileged: Option<bool>,
    allow_privilege_escalation: Option<bool>,
    run_as_user: Option<i64>,
    capabilities: Option<Capabilities>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Capabilities {
    add: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EnvVar {
    name: String,
    value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ContainerPort {
    container_port: Option<i64>,
    host_port: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Volume {
    name: String,
    host_path: Option<HostPath>,
    config_map: Option<NamedRef>,
    #[serde(flatten)]
    others: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HostPath {
    path: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NamedRef {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TemplateSpec {
    template: Option<PodTemplate>,
    #[serde(rename = "jobTemplate")]
    job_template: Option<JobTemplate>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JobTemplate {
    spec: TemplateSpecInner,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TemplateSpecInner {
    template: Option<PodTemplate>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodTemplate {
    metadata: Metadata,
    spec: PodSpec,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ServiceSpec {
    #[serde(rename = "type")]
    service_type: Option<String>,
    ports: Vec<ServicePort>,
    selector: BTreeMap<String, serde_json::Value>,
    load_balancer_source_ranges: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ServicePort {
    name: String,
    port: Option<i64>,
    target_port: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PolicyRule {
    verbs: Vec<String>,
    resources: Vec<String>,
    api_groups: Vec<String>,
    resource_names: Vec<String>,
    #[serde(rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RoleRef {
    kind: String,
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Subject {
    kind: String,
    name: String,
    namespace: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Webhook {
    name: String,
    client_config: ClientConfig,
    rules: Vec<WebhookRule>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClientConfig {
    url: Option<String>,
    service: Option<Subject>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WebhookRule {
    resources: Vec<String>,
}

const POD_TEMPLATE_KINDS: [&str; 7] = [
    "Deployment",
    "DaemonSet",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "PodTemplate",
];

impl ObjectFacts {
    /// The object the event leaves behind: the request body for create/update, the response
    /// body for patch (the request is only a patch document). `None` when the event carries no
    /// usable body (Metadata level, a delete, a failed request without object).
    pub fn of_audit(audit: &KubeAudit) -> Option<ObjectFacts> {
        let body = if audit.verb == "patch" {
            audit.response_object.as_deref()
        } else {
            audit
                .request_object
                .as_deref()
                .or(audit.response_object.as_deref())
        }?;
        ObjectFacts::parse(body)
    }

    pub fn parse(body: &RawValue) -> Option<ObjectFacts> {
        let object: Object = serde_json::from_str(body.get()).ok()?;
        let mut facts = ObjectFacts {
            kind: object.kind.clone(),
            name: object.metadata.name.clone(),
            namespace: object.metadata.namespace.clone(),
            labels: label_pairs(&object.metadata.labels),
            owned: !object.metadata.owner_references.is_empty(),
            ..ObjectFacts::default()
        };
        let spec = object.spec.as_deref();
        match object.kind.as_str() {
            "Pod" => {
                let pod: PodSpec = spec.and_then(|s| serde_json::from_str(s.get()).ok())?;
                facts.workload = Some(WorkloadFacts::build(&object, &object.metadata, &pod));
            }
            "CronJob" => {
                let spec: TemplateSpec = spec.and_then(|s| serde_json::from_str(s.get()).ok())?;
                let template = spec.job_template?.spec.template?;
                facts.workload = Some(WorkloadFacts::build(
                    &object,
                    &template.metadata,
                    &template.spec,
                ));
            }
            kind if POD_TEMPLATE_KINDS.contains(&kind) => {
                let spec: TemplateSpec = spec.and_then(|s| serde_json::from_str(s.get()).ok())?;
                let template = spec.template?;
                facts.workload = Some(WorkloadFacts::build(
                    &object,
                    &template.metadata,
                    &template.spec,
                ));
            }
            "Service" => {
                let spec: ServiceSpec = spec
                    .and_then(|s| serde_json::from_str(s.get()).ok())
                    .unwrap_or_default();
                facts.service = Some(ServiceFacts::build(&object.metadata, spec));
            }
            "Role" | "ClusterRole" => {
                facts.role = Some(RoleFacts::build(object.rules.as_deref().unwrap_or(&[])));
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                let role_ref = object.role_ref.unwrap_or_default();
                let subjects = object.subjects.unwrap_or_default();
                facts.binding = Some(BindingFacts {
                    role_kind: role_ref.kind,
                    role_name: role_ref.name,
                    subject_names: subjects.iter().map(|s| s.name.clone()).collect(),
                    subjects: subjects.iter().map(subject_text).collect(),
                });
            }
            "ConfigMap" => {
                let data = object.data.unwrap_or_default();
                facts.config_map = Some(ConfigMapFacts {
                    keys: data.keys().cloned().collect(),
                    values: data.values().map(json_text).collect(),
                });
            }
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
                let hooks = object.webhooks.unwrap_or_default();
                facts.webhook = Some(WebhookFacts {
                    names: hooks.iter().map(|h| h.name.clone()).collect(),
                    targets: hooks
                        .iter()
                        .map(|h| match (&h.client_config.url, &h.client_config.service) {
                            (Some(url), _) => url.clone(),
                            (None, Some(svc)) => format!("{}/{}", svc.namespace, svc.name),
                            (None, None) => String::new(),
                        })
                        .collect(),
                    resources: hooks
                        .iter()
                        .flat_map(|h| h.rules.iter().flat_map(|r| r.resources.iter().cloned()))
                        .collect(),
                });
            }
            _ => {}
        }
        Some(facts)
    }
}

fn subject_text(subject: &Subject) -> String {
    if subject.namespace.is_empty() {
        format!("{}:{}", subject.kind, subject.name)
    } else {
        format!("{}:{}/{}", subject.kind, subject.namespace, subject.name)
    }
}

fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn label_pairs(labels: &BTreeMap<String, serde_json::Value>) -> Vec<String> {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={}", json_text(v)))
        .collect()
}

/// Lines of a pg_hba.conf text that let remote clients in without a password: `host*`
/// records with method `trust` whose address is not the loopback.
pub fn pg_hba_remote_trust(text: &str) -> Vec<String> {
    const HOST_TYPES: [&str; 5] = ["host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"];
    const LOCAL_ADDRESSES: [&str; 4] = ["localhost", "samehost", "::1", "::1/128"];
    text.lines()
        .filter_map(|line| {
            let record = line.split('#').next().unwrap_or("").trim();
            let words: Vec<&str> = record.split_whitespace().collect();
            if words.len() < 5 || !HOST_TYPES.contains(&words[0]) {
                return None;
            }
            let address = words[3];
            // An IPv4 address may be followed by a separate netmask column.
            let method_at = if words.len() > 5 && words[4].parse::<std::net::IpAddr>().is_ok() {
                5
            } else {
                4
            };
            let loopback = LOCAL_ADDRESSES.contains(&address) || address.starts_with("127.");
            (words.get(method_at) == Some(&"trust") && !loopback).then(|| record.to_owned())
        })
        .collect()
}

/// Strips the tag and digest from an image reference, leaving registry and path.
pub fn image_repository(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[last_slash..].rfind(':') {
        Some(colon) => &without_digest[..last_slash + colon],
        None => without_digest,
    }
}

impl WorkloadFacts {
    fn build(object: &Object, pod_meta: &Metadata, pod: &PodSpec) -> WorkloadFacts {
        let pod_label_map: BTreeMap<String, String> = pod_meta
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), json_text(v)))
            .collect();
        let mut facts = WorkloadFacts {
            kind: object.kind.clone(),
            name: object.metadata.name.clone(),
            namespace: object.metadata.namespace.clone(),
            pod_labels: label_pairs(&pod_meta.labels),
            pod_label_map,
            host_network: pod.host_network,
            host_pid: pod.host_pid,
            host_ipc: pod.host_ipc,
            service_account: pod.service_account_name.clone(),
            ..WorkloadFacts::default()
        };
        let pod_run_as = pod.security_context.as_ref().and_then(|s| s.run_as_user);
        for container in pod
            .containers
            .iter()
            .chain(&pod.init_containers)
            .chain(&pod.ephemeral_containers)
        {
            facts.container_names.push(container.name.clone());
            facts.images.push(container.image.clone());
            facts
                .image_repositories
                .push(image_repository(&container.image).to_owned());
            let security = container.security_context.as_ref();
            let privileged = security.and_then(|s| s.privileged).unwrap_or(false);
            facts.privileged.push(privileged);
            if privileged {
                facts
                    .privileged_containers
                    .push(format!("{} ({})", container.name, container.image));
            }
            facts.allow_privilege_escalation.push(
                security
                    .and_then(|s| s.allow_privilege_escalation)
                    .unwrap_or(true),
            );
            if let Some(user) = security.and_then(|s| s.run_as_user).or(pod_run_as) {
                facts.run_as_user.push(user);
            }
            if let Some(caps) = security.and_then(|s| s.capabilities.as_ref()) {
                facts.add_capabilities.extend(caps.add.iter().cloned());
            }
            for var in &container.env {
                facts.env.push(format!(
                    "{}={}",
                    var.name,
                    var.value.as_deref().unwrap_or("")
                ));
            }
            let words: Vec<&str> = container
                .command
                .iter()
                .chain(&container.args)
                .map(String::as_str)
                .collect();
            if !words.is_empty() {
                facts.command_lines.push(words.join(" "));
            }
            for port in &container.ports {
                facts.container_ports.extend(port.container_port);
                facts.host_ports.extend(port.host_port);
            }
        }
        for volume in &pod.volumes {
            if let Some(host_path) = &volume.host_path {
                facts.host_paths.push(host_path.path.clone());
                facts
                    .host_path_volumes
                    .push(format!("{}={}", volume.name, host_path.path));
                facts.volume_types.push("hostPath".into());
            } else if let Some(config_map) = &volume.config_map {
                facts.config_map_volumes.push(config_map.name.clone());
                facts.volume_types.push("configMap".into());
            } else {
                facts.volume_types.extend(
                    volume
                        .others
                        .keys()
                        .filter(|k| k.as_str() != "name")
                        .cloned(),
                );
            }
        }
        facts
    }

    /// True when every `key=value` of a Service selector is among the pod labels.
    pub fn selected_by(&self, selector: &BTreeMap<String, String>) -> bool {
        !selector.is_empty()
            && selector
                .iter()
                .all(|(k, v)| self.pod_label_map.get(k) == Some(v))
    }
}

impl ServiceFacts {
    fn build(meta: &Metadata, spec: ServiceSpec) -> ServiceFacts {
        let selector_map: BTreeMap<String, String> = spec
            .selector
            .iter()
            .map(|(k, v)| (k.clone(), json_text(v)))
            .collect();
        ServiceFacts {
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            service_type: spec.service_type.unwrap_or_else(|| "ClusterIP".into()),
            ports: spec.ports.iter().filter_map(|p| p.port).collect(),
            target_ports: spec
                .ports
                .iter()
                .filter_map(|p| p.target_port.as_ref().map(json_text))
                .collect(),
            port_names: spec
                .ports
                .iter()
                .filter(|p| !p.name.is_empty())
                .map(|p| p.name.clone())
                .collect(),
            selector: label_pairs(&spec.selector),
            selector_map,
            source_ranges: spec.load_balancer_source_ranges,
        }
    }
}

impl RoleFacts {
    fn build(rules: &[PolicyRule]) -> RoleFacts {
        let mut facts = RoleFacts::default();
        for rule in rules {
            facts.verbs.extend(rule.verbs.iter().cloned());
            facts.resources.extend(rule.resources.iter().cloned());
            facts.api_groups.extend(rule.api_groups.iter().cloned());
            facts
                .resource_names
                .extend(rule.resource_names.iter().cloned());
            facts
                .non_resource_urls
                .extend(rule.non_resource_urls.iter().cloned());
            for verb in &rule.verbs {
                for resource in &rule.resources {
                    facts.grants.push(format!("{verb} {resource}"));
                }
            }
        }
        facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn cronjob_template_containers_are_found() {
        let facts = ObjectFacts::parse(&raw(
            r#"{"kind":"CronJob","metadata":{"name":"c","namespace":"ns"},
               "spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"metadata":{"labels":{"a":"b"}},
               "spec":{"containers":[{"name":"x","image":"reg.io/x/y:1@sha256:ab","securityContext":{"privileged":true}}],
               "volumes":[{"name":"root","hostPath":{"path":"/"}},{"name":"e","emptyDir":{}}]}}}}}}"#,
        ))
        .unwrap();
        let wl = facts.workload.unwrap();
        assert_eq!(wl.privileged, vec![true]);
        assert_eq!(wl.image_repositories, vec!["reg.io/x/y"]);
        assert_eq!(wl.host_paths, vec!["/"]);
        assert_eq!(wl.volume_types, vec!["hostPath", "emptyDir"]);
        assert_eq!(wl.pod_labels, vec!["a=b"]);
    }

    #[test]
    fn pg_hba_remote_trust_skips_loopback_and_passwords() {
        let text = "# c\nlocal all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n\
                    host all all all scram-sha-256\nhost all all 0.0.0.0/0 trust\nhostssl db u 10.0.0.0 255.0.0.0 trust # lan\n";
        assert_eq!(
            pg_hba_remote_trust(text),
            vec![
                "host all all 0.0.0.0/0 trust",
                "hostssl db u 10.0.0.0 255.0.0.0 trust"
            ]
        );
    }

    #[test]
    fn image_repository_keeps_registry_ports() {
        assert_eq!(image_repository("nginx"), "nginx");
        assert_eq!(image_repository("nginx:1.25"), "nginx");
        assert_eq!(
            image_repository("localhost:5000/team/app:v1"),
            "localhost:5000/team/app"
        );
        assert_eq!(image_repository("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(image_repository("a/b@sha256:00"), "a/b");
    }

    #[test]
    fn role_grants_are_pairs() {
        let facts = ObjectFacts::parse(&raw(
            r#"{"kind":"ClusterRole","metadata":{"name":"r"},"rules":[{"apiGroups":[""],"resources":["pods/exec","secrets"],"verbs":["create","get"]}]}"#,
        ))
        .unwrap();
        let role = facts.role.unwrap();
        assert!(role.grants.contains(&"create pods/exec".to_string()));
        assert_eq!(role.grants.len(), 4);
    }

    #[test]
    fn wrong_types_give_no_facts_instead_of_panicking() {
        assert!(ObjectFacts::parse(&raw(r#"{"kind":"Pod","spec":{"containers":"no"}}"#)).is_none());
        assert!(ObjectFacts::parse(&raw(r#"[1,2]"#)).is_none());
    }
}
