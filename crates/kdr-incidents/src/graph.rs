//! The entity graph of an incident: what its alerts involve and how those things relate.
//!
//! Node IDs are `kind:key` with the cluster in the key, so the same pod named in two alerts is
//! one node, and the same name in two clusters is two. Nodes and edges keep first-seen order:
//! the same alerts in the same order give the same graph, byte for byte.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use kdr_model::{Alert, IdentityKind, Plane, ProcessEntity};

use crate::IdentifiedAlert;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Alert,
    Cluster,
    Namespace,
    Node,
    Workload,
    Pod,
    Container,
    Image,
    Registry,
    Service,
    ServiceAccount,
    User,
    Process,
    Ip,
    Domain,
    File,
    /// A Kubernetes object an API request was about (a secret, a role binding...).
    Object,
}

impl NodeKind {
    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Alert => "alert",
            NodeKind::Cluster => "cluster",
            NodeKind::Namespace => "namespace",
            NodeKind::Node => "node",
            NodeKind::Workload => "workload",
            NodeKind::Pod => "pod",
            NodeKind::Container => "container",
            NodeKind::Image => "image",
            NodeKind::Registry => "registry",
            NodeKind::Service => "service",
            NodeKind::ServiceAccount => "service_account",
            NodeKind::User => "user",
            NodeKind::Process => "process",
            NodeKind::Ip => "ip",
            NodeKind::Domain => "domain",
            NodeKind::File => "file",
            NodeKind::Object => "object",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// cluster -> namespace, cluster -> node, namespace -> pod/workload/service/object
    Contains,
    /// node -> pod
    Hosts,
    /// workload -> pod
    Owns,
    /// pod -> container
    Runs,
    /// container -> image
    FromImage,
    /// image -> registry
    InRegistry,
    /// pod -> service account, process -> user
    RunsAs,
    /// service -> workload
    Exposes,
    /// container -> process
    Executes,
    /// process -> parent process
    ChildOf,
    /// process (or container) -> ip/domain
    ConnectsTo,
    /// process (or container) -> file
    Accesses,
    /// identity -> object/pod it made a request about
    ActedOn,
    /// identity -> source ip of its requests
    ConnectedFrom,
    /// alert -> every entity it names
    Involves,
}

impl EdgeKind {
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::Contains => "contains",
            EdgeKind::Hosts => "hosts",
            EdgeKind::Owns => "owns",
            EdgeKind::Runs => "runs",
            EdgeKind::FromImage => "from-image",
            EdgeKind::InRegistry => "in-registry",
            EdgeKind::RunsAs => "runs-as",
            EdgeKind::Exposes => "exposes",
            EdgeKind::Executes => "executes",
            EdgeKind::ChildOf => "child-of",
            EdgeKind::ConnectsTo => "connects-to",
            EdgeKind::Accesses => "accesses",
            EdgeKind::ActedOn => "acted-on",
            EdgeKind::ConnectedFrom => "connected-from",
            EdgeKind::Involves => "involves",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
    pub label: String,
    /// Details for the entity view; sorted by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// `{"nodes":[{id,kind,label,properties}],"edges":[{from,to,kind}]}`
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The graph in Graphviz dot: `dot -Tsvg` draws it.
    pub fn to_dot(&self) -> String {
        let mut dot = String::from("digraph incident {\n  rankdir=LR;\n  node [shape=box];\n");
        for node in &self.nodes {
            let _ = writeln!(
                dot,
                "  \"{}\" [label=\"{}\\n{}\"];",
                dot_escape(&node.id),
                node.kind.name(),
                dot_escape(&node.label)
            );
        }
        for edge in &self.edges {
            let _ = writeln!(
                dot,
                "  \"{}\" -> \"{}\" [label=\"{}\"];",
                dot_escape(&edge.from),
                dot_escape(&edge.to),
                edge.kind.name()
            );
        }
        dot.push_str("}\n");
        dot
    }
}

/// Escapes a string for a double-quoted dot ID or label: hostile names (quotes, newlines,
/// backslashes) must not break out of the quotes.
fn dot_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => escaped.push(' '),
            c => escaped.push(c),
        }
    }
    escaped
}

#[derive(Default)]
struct Builder {
    graph: Graph,
    node_index: HashMap<String, usize>,
    edge_set: HashSet<Edge>,
}

impl Builder {
    /// Adds a node (or merges properties into the existing one) and returns its ID.
    fn node(
        &mut self,
        kind: NodeKind,
        key: &str,
        label: &str,
        properties: &[(&str, Value)],
    ) -> String {
        let id = format!("{}:{key}", kind.name());
        let index = *self.node_index.entry(id.clone()).or_insert_with(|| {
            self.graph.nodes.push(Node {
                id: id.clone(),
                kind,
                label: label.to_owned(),
                properties: BTreeMap::new(),
            });
            self.graph.nodes.len() - 1
        });
        let node = &mut self.graph.nodes[index];
        for (name, value) in properties {
            if !value.is_null() {
                node.properties
                    .entry((*name).to_owned())
                    .or_insert_with(|| value.clone());
            }
        }
        id
    }

    fn edge(&mut self, from: &str, to: &str, kind: EdgeKind) {
        let edge = Edge {
            from: from.to_owned(),
            to: to.to_owned(),
            kind,
        };
        if self.edge_set.insert(edge.clone()) {
            self.graph.edges.push(edge);
        }
    }
}

/// Builds the graph of the given alerts (in the order given).
pub fn build(alerts: &[IdentifiedAlert]) -> Graph {
    let mut builder = Builder::default();
    for alert in alerts {
        add_alert(&mut builder, &alert.id, &alert.alert);
    }
    builder.graph
}

fn add_alert(b: &mut Builder, alert_id: &str, alert: &Alert) {
    let e = &alert.entities;
    let alert_node = b.node(
        NodeKind::Alert,
        alert_id,
        &alert.display_name,
        &[
            ("alertType", Value::from(alert.alert_type.as_str())),
            ("severity", Value::from(alert.severity.name())),
            ("startTime", Value::from(alert.start_time.to_string())),
            ("count", Value::from(alert.count)),
        ],
    );
    let mut involved: Vec<String> = Vec::new();
    let cluster_name = e.cluster.as_deref().unwrap_or("");
    let cluster = e
        .cluster
        .as_deref()
        .map(|name| b.node(NodeKind::Cluster, name, name, &[]));
    let namespace_name = e
        .namespace
        .as_deref()
        .or(e.object.as_ref().and_then(|o| o.namespace.as_deref()));
    let namespace = namespace_name.map(|ns| {
        let id = b.node(
            NodeKind::Namespace,
            &format!("{cluster_name}/{ns}"),
            ns,
            &[],
        );
        if let Some(cluster) = &cluster {
            b.edge(cluster, &id, EdgeKind::Contains);
        }
        id
    });
    let ns = namespace_name.unwrap_or("");
    let node = e.node.as_deref().map(|name| {
        let id = b.node(NodeKind::Node, &format!("{cluster_name}/{name}"), name, &[]);
        if let Some(cluster) = &cluster {
            b.edge(cluster, &id, EdgeKind::Contains);
        }
        id
    });
    let workload = e.workload.as_ref().map(|w| {
        let id = b.node(
            NodeKind::Workload,
            &format!(
                "{cluster_name}/{ns}/{}/{}",
                w.kind.to_ascii_lowercase(),
                w.name
            ),
            &format!("{} {}", w.kind, w.name),
            &[
                ("kind", Value::from(w.kind.as_str())),
                ("name", Value::from(w.name.as_str())),
            ],
        );
        if let Some(namespace) = &namespace {
            b.edge(namespace, &id, EdgeKind::Contains);
        }
        id
    });
    let pod = e.pod.as_deref().map(|name| {
        let id = b.node(
            NodeKind::Pod,
            &format!("{cluster_name}/{ns}/{name}"),
            &format!("{ns}/{name}"),
            &[("name", Value::from(name)), ("namespace", Value::from(ns))],
        );
        if let Some(namespace) = &namespace {
            b.edge(namespace, &id, EdgeKind::Contains);
        }
        if let Some(workload) = &workload {
            b.edge(workload, &id, EdgeKind::Owns);
        }
        if let Some(node) = &node {
            b.edge(node, &id, EdgeKind::Hosts);
        }
        id
    });
    let container = e.container.as_ref().map(|c| {
        let key = match (&c.id, &c.name) {
            (Some(id), _) => id.clone(),
            (None, Some(name)) => format!(
                "{cluster_name}/{ns}/{}/{name}",
                e.pod.as_deref().unwrap_or("")
            ),
            (None, None) => format!("{cluster_name}/{ns}/{}/?", e.pod.as_deref().unwrap_or("")),
        };
        let label = c.name.clone().or_else(|| c.id.clone()).unwrap_or_default();
        let id = b.node(
            NodeKind::Container,
            &key,
            &label,
            &[
                ("id", c.id.as_deref().map_or(Value::Null, Value::from)),
                ("name", c.name.as_deref().map_or(Value::Null, Value::from)),
            ],
        );
        if let Some(pod) = &pod {
            b.edge(pod, &id, EdgeKind::Runs);
        }
        id
    });
    for image in &e.images {
        let image_id = b.node(NodeKind::Image, image, image, &[]);
        let registry = registry_of(image);
        let registry_id = b.node(NodeKind::Registry, registry, registry, &[]);
        b.edge(&image_id, &registry_id, EdgeKind::InRegistry);
        match &container {
            Some(container) => b.edge(container, &image_id, EdgeKind::FromImage),
            None => {
                if let Some(pod) = &pod {
                    b.edge(pod, &image_id, EdgeKind::FromImage);
                }
            }
        }
        involved.push(image_id);
        involved.push(registry_id);
    }
    let service = e.service.as_deref().map(|name| {
        let id = b.node(
            NodeKind::Service,
            &format!("{cluster_name}/{name}"),
            name,
            &[],
        );
        if let Some(namespace) = &namespace {
            b.edge(namespace, &id, EdgeKind::Contains);
        }
        if let Some(workload) = &workload {
            b.edge(&id, workload, EdgeKind::Exposes);
        }
        id
    });
    let object = e.object.as_ref().map(|o| {
        let object_ns = o.namespace.as_deref().unwrap_or("");
        let id = b.node(
            NodeKind::Object,
            &format!("{cluster_name}/{}/{object_ns}/{}", o.resource, o.name),
            &match &o.namespace {
                Some(ns) => format!("{} {ns}/{}", o.resource, o.name),
                None => format!("{} {}", o.resource, o.name),
            },
            &[("resource", Value::from(o.resource.as_str()))],
        );
        if let Some(namespace) = &namespace {
            b.edge(namespace, &id, EdgeKind::Contains);
        }
        id
    });
    let identity = e.identity.as_ref().map(|identity| {
        let (kind, label) = match identity.kind {
            IdentityKind::ServiceAccount => {
                let short = identity
                    .name
                    .strip_prefix("system:serviceaccount:")
                    .map(|rest| rest.replacen(':', "/", 1))
                    .unwrap_or_else(|| identity.name.clone());
                (NodeKind::ServiceAccount, short)
            }
            _ => (NodeKind::User, identity.name.clone()),
        };
        let id = b.node(
            kind,
            &format!("{cluster_name}/{}", identity.name),
            &label,
            &[
                ("name", Value::from(identity.name.as_str())),
                ("identityKind", Value::from(format!("{:?}", identity.kind))),
            ],
        );
        let runtime = matches!(alert.plane, Plane::Runtime);
        if runtime && kind == NodeKind::ServiceAccount {
            if let Some(pod) = &pod {
                b.edge(pod, &id, EdgeKind::RunsAs);
            }
        } else if !runtime {
            // The identity made the request the alert is about.
            if let Some(target) = object.as_ref().or(pod.as_ref()).or(workload.as_ref()) {
                b.edge(&id, target, EdgeKind::ActedOn);
            }
        }
        id
    });
    for ip in &e.source_ips {
        let ip_id = b.node(NodeKind::Ip, ip, ip, &[]);
        if let Some(identity) = &identity {
            b.edge(identity, &ip_id, EdgeKind::ConnectedFrom);
        }
        involved.push(ip_id);
    }
    let process = e
        .process
        .as_ref()
        .map(|p| add_process(b, p, cluster_name, container.as_deref().or(node.as_deref())));
    let actor = process.as_ref().or(container.as_ref()).or(pod.as_ref());
    if let Some(remote) = e.remote_address.as_deref() {
        let (host, port) = split_host_port(remote);
        let (kind, key) = if host.parse::<IpAddr>().is_ok() {
            (NodeKind::Ip, host)
        } else {
            (NodeKind::Domain, host)
        };
        let remote_id = b.node(
            kind,
            key,
            key,
            &[("port", port.map_or(Value::Null, Value::from))],
        );
        if let Some(actor) = actor {
            b.edge(actor, &remote_id, EdgeKind::ConnectsTo);
        }
        involved.push(remote_id);
    }
    for file in &e.files {
        let file_id = b.node(
            NodeKind::File,
            &format!(
                "{}/{file}",
                container.as_deref().or(node.as_deref()).unwrap_or("")
            ),
            file,
            &[("path", Value::from(file.as_str()))],
        );
        if let Some(actor) = actor {
            b.edge(actor, &file_id, EdgeKind::Accesses);
        }
        involved.push(file_id);
    }
    involved.extend(
        [
            cluster, namespace, node, workload, pod, container, service, object, identity, process,
        ]
        .into_iter()
        .flatten(),
    );
    for entity in involved {
        b.edge(&alert_node, &entity, EdgeKind::Involves);
    }
}

/// Adds a process and its parent chain; returns the process's node ID.
fn add_process(
    b: &mut Builder,
    process: &ProcessEntity,
    cluster: &str,
    host: Option<&str>,
) -> String {
    let scope = host.unwrap_or(cluster);
    let id = process_node(b, process, scope);
    if let Some(host) = host {
        b.edge(host, &id, EdgeKind::Executes);
    }
    if let Some(user) = &process.user {
        let user_id = b.node(NodeKind::User, &format!("{scope}/{user}"), user, &[]);
        b.edge(&id, &user_id, EdgeKind::RunsAs);
    }
    let mut child = id.clone();
    let mut parent = process.parent.as_deref();
    // Bounded: the model nests parents, and hostile input could nest them deeply.
    let mut depth = 0;
    while let Some(p) = parent {
        if depth >= 16 {
            break;
        }
        let parent_id = process_node(b, p, scope);
        b.edge(&child, &parent_id, EdgeKind::ChildOf);
        child = parent_id;
        parent = p.parent.as_deref();
        depth += 1;
    }
    id
}

fn process_node(b: &mut Builder, process: &ProcessEntity, scope: &str) -> String {
    let name = process
        .exe
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(process.exe.as_str());
    b.node(
        NodeKind::Process,
        &format!("{scope}/{}/{}", process.pid, process.exe),
        &format!("{name} ({})", process.pid),
        &[
            ("pid", Value::from(process.pid)),
            ("exe", Value::from(process.exe.as_str())),
            ("commandLine", Value::from(process.command_line.as_str())),
        ],
    )
}

/// The registry an image reference pulls from: the first path component when it looks like a
/// host (has a dot or a port, or is `localhost`), else Docker Hub.
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// `10.0.0.1:443` -> ("10.0.0.1", Some(443)); `[::1]:80` -> ("::1", Some(80)); a bare host
/// or IPv6 address has no port.
fn split_host_port(remote: &str) -> (&str, Option<u16>) {
    if let Some(rest) = remote.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            return (host, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    if remote.parse::<IpAddr>().is_ok() {
        return (remote, None);
    }
    match remote.rsplit_once(':') {
        Some((host, port)) => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (remote, None),
        },
        None => (remote, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_of_image_references() {
        assert_eq!(registry_of("nginx:1.25"), "docker.io");
        assert_eq!(registry_of("library/nginx"), "docker.io");
        assert_eq!(registry_of("ghcr.io/acme/app:v1"), "ghcr.io");
        assert_eq!(registry_of("localhost:5000/app"), "localhost:5000");
        assert_eq!(registry_of("localhost/app"), "localhost");
    }

    #[test]
    fn host_port_splitting() {
        assert_eq!(split_host_port("10.0.0.1:443"), ("10.0.0.1", Some(443)));
        assert_eq!(split_host_port("[::1]:80"), ("::1", Some(80)));
        assert_eq!(split_host_port("::1"), ("::1", None));
        assert_eq!(
            split_host_port("pool.example:3333"),
            ("pool.example", Some(3333))
        );
        assert_eq!(split_host_port("pool.example"), ("pool.example", None));
    }

    #[test]
    fn dot_escapes_hostile_labels() {
        let graph = Graph {
            nodes: vec![Node {
                id: "pod:a\"b".to_owned(),
                kind: NodeKind::Pod,
                label: "x\"]; evil [label=\"\n\\".to_owned(),
                properties: BTreeMap::new(),
            }],
            edges: vec![],
        };
        let dot = graph.to_dot();
        assert!(dot.contains("\"pod:a\\\"b\""));
        assert!(dot.contains("x\\\"]; evil [label=\\\"\\n\\\\"));
        assert_eq!(dot.lines().count(), 5);
    }
}
