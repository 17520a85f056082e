use kdr_model::{ContainerEntity, Entities, IdentityEntity, Plane, ProcessEntity, WorkloadEntity};

use super::*;

const MINUTE: i64 = 60 * NANOS_PER_SEC;

fn alert(alert_type: &str, minute: i64, entities: Entities) -> Alert {
    let time = Timestamp(1_700_000_000 * NANOS_PER_SEC + minute * MINUTE);
    Alert {
        alert_type: alert_type.to_owned(),
        display_name: alert_type.replace('_', " "),
        description: String::new(),
        severity: Severity::Medium,
        tactics: vec![Tactic::Execution],
        techniques: vec![],
        plane: Plane::Runtime,
        rule: alert_type.to_owned(),
        time_generated: time,
        start_time: time,
        end_time: time,
        count: 1,
        reason: String::new(),
        dedup_key: format!("{alert_type}|{}", entities.pod.as_deref().unwrap_or("-")),
        entities,
        evidence: vec![],
        remediation: String::new(),
    }
}

fn on_pod(cluster: &str, namespace: &str, pod: &str) -> Entities {
    Entities {
        cluster: Some(cluster.to_owned()),
        namespace: Some(namespace.to_owned()),
        pod: Some(pod.to_owned()),
        ..Entities::default()
    }
}

#[test]
fn alerts_on_one_pod_within_the_window_form_one_incident() {
    let alerts = vec![
        alert("A", 0, on_pod("prod", "shop", "db-0")),
        alert("B", 30, on_pod("prod", "shop", "db-0")),
        alert("C", 85, on_pod("prod", "shop", "db-0")),
    ];
    let incidents = group(&alerts, &CorrelationRules::default());
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].alert_ids.len(), 3);
}

#[test]
fn alerts_further_apart_than_the_window_stay_apart() {
    let alerts = vec![
        alert("A", 0, on_pod("prod", "shop", "db-0")),
        alert("B", 61, on_pod("prod", "shop", "db-0")),
    ];
    let incidents = group(&alerts, &CorrelationRules::default());
    assert_eq!(incidents.len(), 2);
    let narrow = CorrelationRules {
        window: 10 * MINUTE,
        ..CorrelationRules::default()
    };
    let near = vec![
        alert("A", 0, on_pod("prod", "shop", "db-0")),
        alert("B", 11, on_pod("prod", "shop", "db-0")),
    ];
    assert_eq!(group(&near, &narrow).len(), 2);
}

#[test]
fn same_names_in_different_clusters_or_namespaces_do_not_join() {
    let alerts = vec![
        alert("A", 0, on_pod("prod", "shop", "db-0")),
        alert("B", 1, on_pod("staging", "shop", "db-0")),
        alert("C", 2, on_pod("prod", "other", "db-0")),
    ];
    assert_eq!(group(&alerts, &CorrelationRules::default()).len(), 3);
}

#[test]
fn an_alert_sharing_entities_with_two_incidents_merges_them_into_the_older() {
    let mut bridge = on_pod("prod", "shop", "db-0");
    bridge.node = Some("node-1".to_owned());
    let mut on_node = on_pod("prod", "web", "front-1");
    on_node.node = Some("node-1".to_owned());
    let rules = CorrelationRules {
        join_on: vec![JoinKind::Pod, JoinKind::Node],
        ..CorrelationRules::default()
    };
    let first = alert("A", 0, on_pod("prod", "shop", "db-0"));
    let second = alert(
        "B",
        5,
        Entities {
            cluster: Some("prod".to_owned()),
            node: Some("node-1".to_owned()),
            ..Entities::default()
        },
    );
    let mut correlator = Correlator::new(rules);
    let first_incident = correlator.add(IdentifiedAlert::new(first.clone()));
    let second_incident = correlator.add(IdentifiedAlert::new(second));
    assert_ne!(first_incident, second_incident);
    let merged = correlator.add(IdentifiedAlert::new(alert("C", 10, bridge)));
    assert_eq!(merged, first_incident);
    let incidents = correlator.incidents();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].id, incident_id(&alert_id(&first)));
    assert_eq!(incidents[0].alert_ids.len(), 3);
}

#[test]
fn workload_and_identity_join_but_system_identities_and_local_accounts_do_not() {
    let workload = |name: &str| Entities {
        cluster: Some("prod".to_owned()),
        namespace: Some("shop".to_owned()),
        workload: Some(WorkloadEntity {
            kind: "Deployment".to_owned(),
            name: name.to_owned(),
        }),
        ..Entities::default()
    };
    let identity = |name: &str, kind| Entities {
        cluster: Some("prod".to_owned()),
        identity: Some(IdentityEntity {
            name: name.to_owned(),
            kind,
        }),
        ..Entities::default()
    };
    let rules = CorrelationRules::default();
    let joined = group(
        &[
            alert("A", 0, workload("web")),
            alert("B", 1, workload("web")),
        ],
        &rules,
    );
    assert_eq!(joined.len(), 1);
    let users = group(
        &[
            alert("A", 0, identity("alice", IdentityKind::User)),
            alert("B", 1, identity("alice", IdentityKind::User)),
        ],
        &rules,
    );
    assert_eq!(users.len(), 1);
    let system = group(
        &[
            alert("A", 0, identity("system:node:n1", IdentityKind::Node)),
            alert("B", 1, identity("system:node:n1", IdentityKind::Node)),
        ],
        &rules,
    );
    assert_eq!(system.len(), 2);
    let root = group(
        &[
            alert("A", 0, identity("root", IdentityKind::LocalAccount)),
            alert("B", 1, identity("root", IdentityKind::LocalAccount)),
        ],
        &rules,
    );
    assert_eq!(root.len(), 2);
}

#[test]
fn cluster_join_is_opt_in() {
    let alerts = vec![
        alert("A", 0, on_pod("prod", "shop", "db-0")),
        alert("B", 1, on_pod("prod", "web", "front-0")),
    ];
    assert_eq!(group(&alerts, &CorrelationRules::default()).len(), 2);
    let rules = CorrelationRules {
        join_on: vec![JoinKind::Cluster],
        ..CorrelationRules::default()
    };
    assert_eq!(group(&alerts, &rules).len(), 1);
}

#[test]
fn incident_orders_alerts_along_the_kill_chain_and_takes_the_highest_severity() {
    let mut impact = alert("Miner", 0, on_pod("prod", "shop", "db-0"));
    impact.tactics = vec![Tactic::Impact];
    impact.severity = Severity::High;
    impact.display_name = "Crypto miner".to_owned();
    let mut access = alert("WebShell", 5, on_pod("prod", "shop", "db-0"));
    access.tactics = vec![Tactic::Persistence, Tactic::InitialAccess];
    access.severity = Severity::Medium;
    let mut discovery = alert("Scan", 3, on_pod("prod", "shop", "db-0"));
    discovery.tactics = vec![Tactic::Discovery];
    discovery.severity = Severity::Low;
    let incidents = group(
        &[impact.clone(), access.clone(), discovery.clone()],
        &CorrelationRules::default(),
    );
    let incident = &incidents[0];
    assert_eq!(
        incident.alert_ids,
        vec![alert_id(&access), alert_id(&discovery), alert_id(&impact)]
    );
    assert_eq!(incident.severity, Severity::High);
    assert_eq!(
        incident.tactics,
        vec![
            Tactic::InitialAccess,
            Tactic::Persistence,
            Tactic::Discovery,
            Tactic::Impact
        ]
    );
    assert_eq!(
        incident.title,
        "Crypto miner and 2 more alerts on pod shop/db-0"
    );
    assert_eq!(incident.first_time, impact.start_time);
    assert_eq!(incident.last_time, access.end_time);
}

#[test]
fn titles_for_one_and_two_alerts() {
    let one = group(
        &[alert("Privileged", 0, on_pod("prod", "shop", "db-0"))],
        &CorrelationRules::default(),
    );
    assert_eq!(one[0].title, "Privileged on pod shop/db-0");
    let two = group(
        &[
            alert("Privileged", 0, on_pod("prod", "shop", "db-0")),
            alert("Other", 1, on_pod("prod", "shop", "db-0")),
        ],
        &CorrelationRules::default(),
    );
    assert_eq!(two[0].title, "Privileged and 1 more alert on pod shop/db-0");
}

#[test]
fn same_alerts_in_same_order_give_same_incidents() {
    let alerts: Vec<Alert> = (0..40)
        .map(|i| {
            alert(
                &format!("T{}", i % 7),
                i * 7,
                on_pod("prod", "shop", &format!("db-{}", i % 3)),
            )
        })
        .collect();
    let first = group(&alerts, &CorrelationRules::default());
    let second = group(&alerts, &CorrelationRules::default());
    assert_eq!(first, second);
    assert!(first.len() >= 3);
    // Every alert lands in exactly one incident.
    let mut all: Vec<&String> = first.iter().flat_map(|i| &i.alert_ids).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40);
}

#[test]
fn alert_ids_are_stable_and_distinguish_reopened_alerts() {
    let a = alert("A", 0, on_pod("prod", "shop", "db-0"));
    let mut folded = a.clone();
    folded.count = 9;
    folded.end_time = Timestamp(a.end_time.0 + MINUTE);
    folded.start_time = Timestamp(a.start_time.0 - MINUTE);
    assert_eq!(alert_id(&a), alert_id(&folded));
    let reopened = alert("A", 20, on_pod("prod", "shop", "db-0"));
    assert_eq!(a.dedup_key, reopened.dedup_key);
    assert_ne!(alert_id(&a), alert_id(&reopened));
    assert_eq!(alert_id(&a).len(), 32);
    assert!(incident_id(&alert_id(&a)).starts_with("inc-"));
}

#[test]
fn adding_the_same_alert_twice_changes_nothing() {
    let a = alert("A", 0, on_pod("prod", "shop", "db-0"));
    let mut correlator = Correlator::new(CorrelationRules::default());
    let first = correlator.add(IdentifiedAlert::new(a.clone()));
    let again = correlator.add(IdentifiedAlert::new(a));
    assert_eq!(first, again);
    assert_eq!(correlator.incidents()[0].alert_ids.len(), 1);
}

#[test]
fn graph_links_the_entities_of_a_runtime_alert() {
    let entities = Entities {
        cluster: Some("prod".to_owned()),
        namespace: Some("shop".to_owned()),
        node: Some("node-1".to_owned()),
        workload: Some(WorkloadEntity {
            kind: "StatefulSet".to_owned(),
            name: "db".to_owned(),
        }),
        pod: Some("db-0".to_owned()),
        container: Some(ContainerEntity {
            id: Some("c0ffee".to_owned()),
            name: Some("postgres".to_owned()),
        }),
        images: vec!["ghcr.io/acme/db:1".to_owned()],
        identity: Some(IdentityEntity {
            name: "system:serviceaccount:shop:db".to_owned(),
            kind: IdentityKind::ServiceAccount,
        }),
        process: Some(ProcessEntity {
            pid: 42,
            exe: "/usr/bin/curl".to_owned(),
            command_line: "curl http://pool.example:3333".to_owned(),
            user: Some("root".to_owned()),
            parent: Some(Box::new(ProcessEntity {
                pid: 7,
                exe: "/bin/sh".to_owned(),
                command_line: "sh -c curl".to_owned(),
                user: None,
                parent: None,
            })),
        }),
        files: vec!["/etc/shadow".to_owned()],
        remote_address: Some("203.0.113.9:3333".to_owned()),
        ..Entities::default()
    };
    let incidents = group(&[alert("Miner", 0, entities)], &CorrelationRules::default());
    let graph = &incidents[0].graph;
    let has_edge = |from_kind: NodeKind, kind: EdgeKind, to_kind: NodeKind| {
        graph.edges.iter().any(|e| {
            e.kind == kind
                && graph.node(&e.from).map(|n| n.kind) == Some(from_kind)
                && graph.node(&e.to).map(|n| n.kind) == Some(to_kind)
        })
    };
    assert!(has_edge(
        NodeKind::Cluster,
        EdgeKind::Contains,
        NodeKind::Namespace
    ));
    assert!(has_edge(
        NodeKind::Namespace,
        EdgeKind::Contains,
        NodeKind::Pod
    ));
    assert!(has_edge(NodeKind::Node, EdgeKind::Hosts, NodeKind::Pod));
    assert!(has_edge(NodeKind::Workload, EdgeKind::Owns, NodeKind::Pod));
    assert!(has_edge(NodeKind::Pod, EdgeKind::Runs, NodeKind::Container));
    assert!(has_edge(
        NodeKind::Container,
        EdgeKind::FromImage,
        NodeKind::Image
    ));
    assert!(has_edge(
        NodeKind::Image,
        EdgeKind::InRegistry,
        NodeKind::Registry
    ));
    assert!(has_edge(
        NodeKind::Pod,
        EdgeKind::RunsAs,
        NodeKind::ServiceAccount
    ));
    assert!(has_edge(
        NodeKind::Container,
        EdgeKind::Executes,
        NodeKind::Process
    ));
    assert!(has_edge(
        NodeKind::Process,
        EdgeKind::ChildOf,
        NodeKind::Process
    ));
    assert!(has_edge(
        NodeKind::Process,
        EdgeKind::ConnectsTo,
        NodeKind::Ip
    ));
    assert!(has_edge(
        NodeKind::Process,
        EdgeKind::Accesses,
        NodeKind::File
    ));
    assert!(has_edge(NodeKind::Alert, EdgeKind::Involves, NodeKind::Pod));
    assert!(graph.node("registry:ghcr.io").is_some());
    let json = graph.to_json();
    let first_node = &json["nodes"][0];
    assert!(first_node["id"].is_string() && first_node["kind"] == "alert");
    assert!(json["edges"]
        .as_array()
        .is_some_and(|edges| edges.iter().any(|e| e["kind"] == "child-of")));
    let dot = graph.to_dot();
    assert!(dot.starts_with("digraph incident {"));
    assert!(dot.contains("[label=\"from-image\"]"));
}

#[test]
fn graph_of_an_audit_alert_links_identity_to_object_and_source_ip() {
    let entities = Entities {
        cluster: Some("prod".to_owned()),
        identity: Some(IdentityEntity {
            name: "alice".to_owned(),
            kind: IdentityKind::User,
        }),
        source_ips: vec!["198.51.100.7".to_owned()],
        object: Some(kdr_model::ObjectEntity {
            resource: "secrets".to_owned(),
            namespace: Some("shop".to_owned()),
            name: "db-password".to_owned(),
        }),
        ..Entities::default()
    };
    let mut a = alert("SecretRead", 0, entities);
    a.plane = Plane::Audit;
    let graph = &group(&[a], &CorrelationRules::default())[0].graph;
    let kinds = |kind: EdgeKind| graph.edges.iter().filter(|e| e.kind == kind).count();
    assert_eq!(kinds(EdgeKind::ActedOn), 1);
    assert_eq!(kinds(EdgeKind::ConnectedFrom), 1);
    assert!(graph
        .nodes
        .iter()
        .any(|n| n.kind == NodeKind::Object && n.label == "secrets shop/db-password"));
}

#[test]
fn graph_shares_nodes_between_alerts() {
    let alerts = vec![
        alert("A", 0, on_pod("prod", "shop", "db-0")),
        alert("B", 1, on_pod("prod", "shop", "db-0")),
    ];
    let graph = &group(&alerts, &CorrelationRules::default())[0].graph;
    let pods = graph
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Pod)
        .count();
    assert_eq!(pods, 1);
    let alerts_in_graph = graph
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Alert)
        .count();
    assert_eq!(alerts_in_graph, 2);
}

#[test]
fn status_and_join_kind_names_round_trip() {
    for status in Status::ALL {
        assert_eq!(Status::from_name(status.name()), Some(status));
    }
    assert_eq!(Status::from_name("inprogress"), Some(Status::InProgress));
    for kind in JoinKind::ALL {
        assert_eq!(JoinKind::from_name(kind.name()), Some(kind));
    }
}

#[test]
fn a_full_incident_takes_no_more_alerts_and_a_new_one_opens() {
    let rules = CorrelationRules {
        max_alerts: 3,
        ..CorrelationRules::default()
    };
    let alerts: Vec<Alert> = (0..7)
        .map(|i| alert(&format!("T{i}"), i, on_pod("prod", "shop", "db-0")))
        .collect();
    let incidents = group(&alerts, &rules);
    let sizes: Vec<usize> = incidents.iter().map(|i| i.alert_ids.len()).collect();
    assert_eq!(sizes, vec![3, 3, 1]);
    // Each incident is named after the alert that opened it, in event order.
    let openers = [&alerts[0], &alerts[3], &alerts[6]];
    for (incident, opener) in incidents.iter().zip(openers) {
        assert_eq!(incident.id, incident_id(&alert_id(opener)));
    }
    // Without the cap they are one.
    assert_eq!(group(&alerts, &CorrelationRules::default()).len(), 1);
}

#[test]
fn full_incidents_are_not_merged_into() {
    let rules = CorrelationRules {
        max_alerts: 2,
        ..CorrelationRules::default()
    };
    let on_node = |name: &str, minute: i64, pod: &str| {
        let mut entities = on_pod("prod", "shop", pod);
        entities.node = Some("node-1".to_owned());
        alert(name, minute, entities)
    };
    // Two full incidents on different pods of one node, then a third alert on that node: it
    // relates to both but may join neither.
    let alerts = vec![
        on_node("A", 0, "a-0"),
        alert("B", 1, on_pod("prod", "shop", "a-0")),
        alert("C", 2, on_pod("prod", "shop", "b-0")),
        on_node("D", 3, "b-0"),
        on_node("E", 4, "c-0"),
    ];
    let incidents = group(&alerts, &rules);
    let sizes: Vec<usize> = incidents.iter().map(|i| i.alert_ids.len()).collect();
    assert_eq!(sizes, vec![2, 2, 1]);
}
