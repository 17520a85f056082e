//! Incidents: related alerts grouped together, ordered along the kill chain, with the graph of
//! the entities they involve.
//!
//! Two alerts are related when they share a correlation entity (pod, workload, node, identity,
//! cluster: which kinds count is configurable) within a window of event time. Grouping is
//! transitive: an alert that relates to two incidents merges them into the older one.
//!
//! Everything here is pure and deterministic: the same alerts in the same order give the same
//! incidents with the same IDs. The store (`kdr-store`) runs the same rules incrementally against
//! its tables using [`correlation_keys`], [`spans_overlap`], [`incident_id`] and [`summarize`];
//! [`Correlator`] is the in-memory form of the same algorithm.

pub mod graph;
mod hunt;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use kdr_model::{Alert, IdentityKind, Nanos, Severity, Tactic, Timestamp, NANOS_PER_SEC};

pub use graph::{Edge, EdgeKind, Graph, Node, NodeKind};
pub use hunt::hunt_queries;

/// The triage state of an alert or an incident.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    #[default]
    New,
    InProgress,
    Resolved,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::New, Status::InProgress, Status::Resolved];

    pub fn name(self) -> &'static str {
        match self {
            Status::New => "New",
            Status::InProgress => "InProgress",
            Status::Resolved => "Resolved",
        }
    }

    pub fn from_name(name: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// Entity kinds that can join alerts into one incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinKind {
    Pod,
    Workload,
    Node,
    Identity,
    Cluster,
}

impl JoinKind {
    pub const ALL: [JoinKind; 5] = [
        JoinKind::Pod,
        JoinKind::Workload,
        JoinKind::Node,
        JoinKind::Identity,
        JoinKind::Cluster,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JoinKind::Pod => "pod",
            JoinKind::Workload => "workload",
            JoinKind::Node => "node",
            JoinKind::Identity => "identity",
            JoinKind::Cluster => "cluster",
        }
    }

    pub fn from_name(name: &str) -> Option<JoinKind> {
        JoinKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Which entities relate alerts, and for how long.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrelationRules {
    pub join_on: Vec<JoinKind>,
    /// Alerts relate when their event-time spans come within this many nanoseconds.
    pub window: Nanos,
    /// Identities that never join alerts: the cluster's own machinery acts on everything, so
    /// sharing it says nothing about an attack. Matched as prefixes.
    pub ignored_identity_prefixes: Vec<String>,
    /// An incident that holds this many alerts takes no more: a related alert opens a new
    /// incident instead. Keeps an incident something an analyst can read, and the cost of
    /// summarizing it bounded, when one entity keeps alerting for days.
    #[serde(default = "default_max_alerts")]
    pub max_alerts: usize,
}

/// The size cap of an incident, as in SIEM grouping rules that close a group at 150 alerts.
pub const DEFAULT_MAX_ALERTS: usize = 150;

fn default_max_alerts() -> usize {
    DEFAULT_MAX_ALERTS
}

/// Kubernetes' own controllers: they act on everything. Other kube-system service accounts
/// are not on the list: an attacker's account in kube-system must still join its alerts.
const KUBE_CONTROLLERS: [&str; 18] = [
    "system:serviceaccount:kube-system:daemon-set-controller",
    "system:serviceaccount:kube-system:replicaset-controller",
    "system:serviceaccount:kube-system:replication-controller",
    "system:serviceaccount:kube-system:deployment-controller",
    "system:serviceaccount:kube-system:statefulset-controller",
    "system:serviceaccount:kube-system:job-controller",
    "system:serviceaccount:kube-system:cronjob-controller",
    "system:serviceaccount:kube-system:generic-garbage-collector",
    "system:serviceaccount:kube-system:namespace-controller",
    "system:serviceaccount:kube-system:endpoint-controller",
    "system:serviceaccount:kube-system:endpointslice-controller",
    "system:serviceaccount:kube-system:node-controller",
    "system:serviceaccount:kube-system:pod-garbage-collector",
    "system:serviceaccount:kube-system:persistent-volume-binder",
    "system:serviceaccount:kube-system:clusterrole-aggregation-controller",
    "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
    "system:serviceaccount:kube-system:service-controller",
    "system:serviceaccount:kube-system:ttl-after-finished-controller",
];

impl Default for CorrelationRules {
    /// Pod, workload, node and identity within one hour. The cluster alone is not a join by
    /// default: in a busy cluster it would fold unrelated alerts into one incident.
    fn default() -> Self {
        CorrelationRules {
            join_on: vec![
                JoinKind::Pod,
                JoinKind::Workload,
                JoinKind::Node,
                JoinKind::Identity,
            ],
            window: 3600 * NANOS_PER_SEC,
            ignored_identity_prefixes: ["system:node:", "system:kube-", "system:apiserver"]
                .into_iter()
                .chain(KUBE_CONTROLLERS.iter().copied())
                .map(str::to_owned)
                .collect(),
            max_alerts: DEFAULT_MAX_ALERTS,
        }
    }
}

/// The keys under which an alert joins others, e.g. `pod:prod/shop/db-0`. Each key starts with
/// its [`JoinKind`] name; the cluster is part of every key so that two clusters' `default`
/// namespaces never join.
pub fn correlation_keys(alert: &Alert, rules: &CorrelationRules) -> Vec<String> {
    let entities = &alert.entities;
    let cluster = entities.cluster.as_deref().unwrap_or("");
    let namespace = entities
        .namespace
        .as_deref()
        .or(entities
            .object
            .as_ref()
            .and_then(|o| o.namespace.as_deref()))
        .unwrap_or("");
    let mut keys = Vec::new();
    for kind in &rules.join_on {
        match kind {
            JoinKind::Pod => {
                if let Some(pod) = &entities.pod {
                    keys.push(format!("pod:{cluster}/{namespace}/{pod}"));
                }
            }
            JoinKind::Workload => {
                if let Some(workload) = &entities.workload {
                    keys.push(format!(
                        "workload:{cluster}/{namespace}/{}/{}",
                        workload.kind.to_ascii_lowercase(),
                        workload.name
                    ));
                }
            }
            JoinKind::Node => {
                if let Some(node) = &entities.node {
                    keys.push(format!("node:{cluster}/{node}"));
                }
            }
            JoinKind::Identity => {
                if let Some(identity) = &entities.identity {
                    let ignored = rules
                        .ignored_identity_prefixes
                        .iter()
                        .any(|prefix| identity.name.starts_with(prefix.as_str()));
                    // Local accounts (root in a container) are shared by every container.
                    if !ignored && identity.kind != IdentityKind::LocalAccount {
                        keys.push(format!("identity:{cluster}/{}", identity.name));
                    }
                }
            }
            JoinKind::Cluster => {
                if !cluster.is_empty() {
                    keys.push(format!("cluster:{cluster}"));
                }
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// True when an alert spanning `[start, end]` comes within `window` of a key seen over
/// `[first, last]`.
pub fn spans_overlap(
    start: Timestamp,
    end: Timestamp,
    first: Timestamp,
    last: Timestamp,
    window: Nanos,
) -> bool {
    start.0 <= last.0.saturating_add(window) && end.0 >= first.0.saturating_sub(window)
}

/// 128-bit FNV-1a: stable across versions and platforms (unlike `std`'s hasher), which is what
/// derived IDs need. Not a security boundary: IDs only have to be distinct.
fn fnv1a_128(parts: &[&[u8]]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut hash = OFFSET;
    for part in parts {
        for byte in *part {
            hash ^= u128::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
        // A separator, so ("ab","c") and ("a","bc") differ.
        hash ^= 0xff;
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// An alert's ID: derived from its dedup key and the event time it was first raised at, so the
/// same alert gets the same ID on every replica and every replay, and a dedup key that opens
/// again after its window closed gets a new one. (`timeGenerated`, not `startTime`: a late
/// repeat folded in can move `startTime` earlier, never `timeGenerated`.)
pub fn alert_id(alert: &Alert) -> String {
    let time = alert.time_generated.0.to_be_bytes();
    format!(
        "{:032x}",
        fnv1a_128(&[b"alert", alert.dedup_key.as_bytes(), &time])
    )
}

/// An incident's ID: derived from the ID of the alert that opened it.
pub fn incident_id(first_alert_id: &str) -> String {
    format!(
        "inc-{:032x}",
        fnv1a_128(&[b"incident", first_alert_id.as_bytes()])
    )
}

/// The kill-chain position of an alert: its earliest tactic.
pub fn kill_chain_rank(alert: &Alert) -> usize {
    alert
        .tactics
        .iter()
        .min()
        .map_or(Tactic::ALL.len(), |tactic| *tactic as usize)
}

/// Sorts alerts along the kill chain: earliest tactic first, then event time, then ID.
pub fn kill_chain_sort(alerts: &mut [IdentifiedAlert]) {
    alerts.sort_by(|a, b| {
        (kill_chain_rank(&a.alert), a.alert.start_time, &a.id).cmp(&(
            kill_chain_rank(&b.alert),
            b.alert.start_time,
            &b.id,
        ))
    });
}

/// An alert with its ID.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentifiedAlert {
    pub id: String,
    pub alert: Alert,
}

impl IdentifiedAlert {
    pub fn new(alert: Alert) -> IdentifiedAlert {
        IdentifiedAlert {
            id: alert_id(&alert),
            alert,
        }
    }
}

/// What an incident is, computed from its alerts.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentSummary {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub first_time: Timestamp,
    pub last_time: Timestamp,
    /// Tactics of its alerts, in kill-chain order, each once.
    pub tactics: Vec<Tactic>,
    /// Alert IDs in kill-chain order.
    pub alert_ids: Vec<String>,
    pub graph: Graph,
}

/// Builds an incident's title, severity, kill-chain order and graph from its alerts.
pub fn summarize(id: &str, alerts: &[IdentifiedAlert]) -> IncidentSummary {
    let mut ordered = alerts.to_vec();
    kill_chain_sort(&mut ordered);
    let severity = ordered
        .iter()
        .map(|a| a.alert.severity)
        .max()
        .unwrap_or(Severity::Informational);
    let first_time = ordered
        .iter()
        .map(|a| a.alert.start_time)
        .min()
        .unwrap_or_default();
    let last_time = ordered
        .iter()
        .map(|a| a.alert.end_time)
        .max()
        .unwrap_or_default();
    let mut tactics: Vec<Tactic> = ordered
        .iter()
        .flat_map(|a| a.alert.tactics.iter().copied())
        .collect();
    tactics.sort();
    tactics.dedup();
    IncidentSummary {
        id: id.to_owned(),
        title: title(&ordered),
        severity,
        first_time,
        last_time,
        tactics,
        alert_ids: ordered.iter().map(|a| a.id.clone()).collect(),
        graph: graph::build(&ordered),
    }
}

/// "Privileged container and 3 more alerts on pod shop/db-0": the most severe alert (earliest
/// in the kill chain among equals) and the entity most of the alerts share.
fn title(ordered: &[IdentifiedAlert]) -> String {
    let Some(lead) = ordered
        .iter()
        .min_by_key(|a| std::cmp::Reverse(a.alert.severity))
    else {
        return "Empty incident".to_owned();
    };
    let mut title = lead.alert.display_name.clone();
    match ordered.len() {
        1 => {}
        2 => title.push_str(" and 1 more alert"),
        n => title.push_str(&format!(" and {} more alerts", n - 1)),
    }
    if let Some(subject) = shared_subject(ordered) {
        title.push_str(" on ");
        title.push_str(&subject);
    }
    title
}

/// The most specific entity the most alerts name: pod, then workload, node, identity, cluster.
fn shared_subject(alerts: &[IdentifiedAlert]) -> Option<String> {
    type Describe = fn(&Alert) -> Option<String>;
    let describers: [Describe; 5] = [
        |a| {
            let e = &a.entities;
            e.pod.as_ref().map(|pod| match &e.namespace {
                Some(ns) => format!("pod {ns}/{pod}"),
                None => format!("pod {pod}"),
            })
        },
        |a| {
            let e = &a.entities;
            e.workload.as_ref().map(|w| match &e.namespace {
                Some(ns) => format!("{} {ns}/{}", w.kind.to_ascii_lowercase(), w.name),
                None => format!("{} {}", w.kind.to_ascii_lowercase(), w.name),
            })
        },
        |a| a.entities.node.as_ref().map(|n| format!("node {n}")),
        |a| {
            a.entities
                .identity
                .as_ref()
                .map(|i| format!("identity {}", i.name))
        },
        |a| a.entities.cluster.as_ref().map(|c| format!("cluster {c}")),
    ];
    for describe in describers {
        // BTreeMap so that ties resolve the same way every time.
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for alert in alerts {
            if let Some(subject) = describe(&alert.alert) {
                *counts.entry(subject).or_default() += 1;
            }
        }
        let best =
            counts.into_iter().fold(
                None::<(String, usize)>,
                |best, (subject, count)| match best {
                    Some((_, best_count)) if best_count >= count => best,
                    _ => Some((subject, count)),
                },
            );
        if let Some((subject, _)) = best {
            return Some(subject);
        }
    }
    None
}

/// The in-memory correlator: feed alerts in order, read incidents. Same algorithm as the
/// store's: an alert joins the incidents whose keys it shares within the window and that are
/// not full ([`CorrelationRules::max_alerts`]); when it joins several they merge into the one
/// that started first.
#[derive(Debug, Default)]
pub struct Correlator {
    rules: CorrelationRules,
    /// Incidents by ID, in creation order of their first alert (BTreeMap over a sequence
    /// number keeps iteration deterministic).
    incidents: BTreeMap<u64, WorkingIncident>,
    next_sequence: u64,
    /// key -> (incident sequence, first time, last time)
    keys: BTreeMap<String, Vec<(u64, Timestamp, Timestamp)>>,
    /// alert ID -> incident sequence
    alert_incidents: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct WorkingIncident {
    id: String,
    first_time: Timestamp,
    alerts: Vec<IdentifiedAlert>,
}

impl Correlator {
    pub fn new(rules: CorrelationRules) -> Correlator {
        Correlator {
            rules,
            ..Correlator::default()
        }
    }

    /// Adds one alert; returns the ID of the incident it now belongs to. An alert ID seen
    /// before is not added twice.
    pub fn add(&mut self, alert: IdentifiedAlert) -> String {
        if let Some(existing) = self
            .alert_incidents
            .get(&alert.id)
            .and_then(|sequence| self.incidents.get(sequence))
        {
            return existing.id.clone();
        }
        let keys = correlation_keys(&alert.alert, &self.rules);
        let (start, end) = (alert.alert.start_time, alert.alert.end_time);
        let mut matching: Vec<u64> = keys
            .iter()
            .filter_map(|key| self.keys.get(key))
            .flatten()
            .filter(|(_, first, last)| spans_overlap(start, end, *first, *last, self.rules.window))
            .map(|(sequence, _, _)| *sequence)
            .filter(|sequence| self.incidents[sequence].alerts.len() < self.rules.max_alerts)
            .collect();
        matching.sort_unstable();
        matching.dedup();
        let target = matching
            .iter()
            .copied()
            .min_by(|a, b| {
                let (ia, ib) = (&self.incidents[a], &self.incidents[b]);
                (ia.first_time, &ia.id).cmp(&(ib.first_time, &ib.id))
            })
            .unwrap_or_else(|| {
                let sequence = self.next_sequence;
                self.next_sequence += 1;
                self.incidents.insert(
                    sequence,
                    WorkingIncident {
                        id: incident_id(&alert.id),
                        first_time: start,
                        alerts: Vec::new(),
                    },
                );
                sequence
            });
        let merged_away: Vec<u64> = matching.into_iter().filter(|s| *s != target).collect();
        for &other in &merged_away {
            if let Some(merged) = self.incidents.remove(&other) {
                for moved in &merged.alerts {
                    self.alert_incidents.insert(moved.id.clone(), target);
                }
                let incident = self.incidents.get_mut(&target).expect("target exists");
                incident.first_time = incident.first_time.min(merged.first_time);
                incident.alerts.extend(merged.alerts);
            }
        }
        if !merged_away.is_empty() {
            for spans in self.keys.values_mut() {
                for span in spans
                    .iter_mut()
                    .filter(|span| merged_away.contains(&span.0))
                {
                    span.0 = target;
                }
                merge_spans(spans);
            }
        }
        for key in keys {
            let spans = self.keys.entry(key).or_default();
            spans.push((target, start, end));
            merge_spans(spans);
        }
        self.alert_incidents.insert(alert.id.clone(), target);
        let incident = self.incidents.get_mut(&target).expect("target exists");
        incident.first_time = incident.first_time.min(start);
        incident.alerts.push(alert);
        incident.id.clone()
    }

    /// The incidents so far, in the order they were opened.
    pub fn incidents(&self) -> Vec<IncidentSummary> {
        self.incidents
            .values()
            .map(|incident| summarize(&incident.id, &incident.alerts))
            .collect()
    }
}

/// Keeps one span per incident under a key: the union of what was recorded.
fn merge_spans(spans: &mut Vec<(u64, Timestamp, Timestamp)>) {
    spans.sort_by_key(|span| span.0);
    spans.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            earlier.1 = earlier.1.min(later.1);
            earlier.2 = earlier.2.max(later.2);
            true
        } else {
            false
        }
    });
}

/// Groups alerts into incidents with the in-memory [`Correlator`].
pub fn group(alerts: &[Alert], rules: &CorrelationRules) -> Vec<IncidentSummary> {
    let mut correlator = Correlator::new(rules.clone());
    for alert in alerts {
        correlator.add(IdentifiedAlert::new(alert.clone()));
    }
    correlator.incidents()
}

#[cfg(test)]
mod tests;
