//! Store behaviour that must hold on every backend. `sqlite.rs` and `postgres.rs` run each of
//! these on a fresh store of their kind.

#![allow(dead_code)]

use kdr_engine::AlertEvent;
use kdr_incidents::{group, CorrelationRules, EdgeKind, NodeKind, Status};
use kdr_model::{Alert, Plane, Severity, Tactic, Timestamp, NANOS_PER_SEC};
use kdr_store::synthetic::{alert, Generator};
use kdr_store::{
    AlertFilter, AlertSort, AlertSortField, IncidentFilter, Page, RetentionPolicy, Store,
    StoreError,
};

pub const MINUTE: i64 = 60 * NANOS_PER_SEC;

/// One `#[test]` per shared behaviour, run on a fresh store of the backend at hand:
/// `$open` maps the test's name to `Some((guard, store))`, or `None` to skip.
#[macro_export]
macro_rules! shared_store_tests {
    ($open:expr) => {
        $crate::shared_store_tests!(
            $open;
            upsert_by_dedup_key,
            filters_sorting_and_paging,
            triage_history_and_comments,
            incidents_group_alerts_and_keep_their_graph,
            incidents_merge_when_an_alert_bridges_them,
            incidents_stop_growing_at_the_size_cap,
            hunting_rows_and_retention,
            hunting_queries_run_over_stored_events,
        );
    };
    ($open:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some((_guard, mut store)) = $open(stringify!($name)) {
                    common::$name(&mut store);
                }
            }
        )*
    };
}

pub fn closed(mut a: Alert, count: u64, extra_minutes: i64) -> Alert {
    a.count = count;
    a.end_time = Timestamp(a.start_time.0 + extra_minutes * MINUTE);
    a.evidence.push(format!("ev-repeat-{count}"));
    a
}

pub fn upsert_by_dedup_key(store: &mut Store) {
    let opened = alert("K8S.NODE_Miner", 0, "shop", "db-0");
    let report = store
        .ingest(&[], &[AlertEvent::Opened(opened.clone())])
        .expect("ingest opened");
    assert_eq!(report.alerts_inserted, 1);
    let id = kdr_incidents::alert_id(&opened);
    let stored = store.get_alert(&id).expect("get").expect("present");
    assert!(!stored.closed);
    assert_eq!(stored.alert, opened);
    assert_eq!(stored.status, Status::New);

    let final_alert = closed(opened.clone(), 7, 9);
    let report = store
        .ingest(&[], &[AlertEvent::Closed(final_alert.clone())])
        .expect("ingest closed");
    assert_eq!(report.alerts_updated, 1);
    let stored = store.get_alert(&id).expect("get").expect("present");
    assert!(stored.closed);
    assert_eq!(stored.alert.count, 7);
    assert_eq!(stored.alert.end_time, final_alert.end_time);
    assert_eq!(stored.alert.evidence, final_alert.evidence);

    // Replaying the same stream changes nothing.
    let replay = [
        AlertEvent::Opened(opened.clone()),
        AlertEvent::Closed(final_alert.clone()),
    ];
    let report = store.ingest(&[], &replay).expect("replay");
    assert_eq!(report.alerts_unchanged, 2);
    assert_eq!(report.alerts_inserted + report.alerts_updated, 0);
    let stored = store.get_alert(&id).expect("get").expect("present");
    assert_eq!(stored.alert.count, 7);

    // The same dedup key opening again after its window is a new alert.
    let reopened = alert("K8S.NODE_Miner", 30, "shop", "db-0");
    assert_eq!(reopened.dedup_key, opened.dedup_key);
    store
        .ingest(&[], &[AlertEvent::Opened(reopened.clone())])
        .expect("reopen");
    let page = store
        .list_alerts(
            &AlertFilter::default(),
            AlertSort::default(),
            Page::first(10),
        )
        .expect("list");
    assert_eq!(page.total, 2);
    assert_eq!(page.alerts[0].id, kdr_incidents::alert_id(&reopened));

    // A Closed never seen open (the store started late) is stored.
    let late = alert("K8S_Late", 5, "shop", "web-1");
    let report = store
        .ingest(&[], &[AlertEvent::Closed(closed(late.clone(), 2, 1))])
        .expect("late close");
    assert_eq!(report.alerts_inserted, 1);
    let stored = store
        .get_alert(&kdr_incidents::alert_id(&late))
        .expect("get")
        .expect("present");
    assert!(stored.closed);
    assert_eq!(stored.alert.count, 2);
    assert!(store.get_alert("no-such-id").expect("get").is_none());
}

fn varied_alerts() -> Vec<Alert> {
    let severities = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Informational,
    ];
    (0..30)
        .map(|i| {
            let namespace = ["shop", "payments", "ci"][i % 3];
            let mut a = alert(
                ["K8S_A", "K8S_B", "K8S.NODE_C"][i % 3],
                i as i64 * 2,
                namespace,
                &format!("pod-{}", i % 5),
            );
            a.dedup_key = format!("{}|{i}", a.alert_type);
            a.severity = severities[i % 4];
            a.plane = if i % 3 == 2 {
                Plane::Runtime
            } else {
                Plane::Audit
            };
            a.count = i as u64 + 1;
            if i == 17 {
                a.reason = "used 100%_discount coupon".to_owned();
            }
            a
        })
        .collect()
}

pub fn filters_sorting_and_paging(store: &mut Store) {
    let alerts = varied_alerts();
    let events: Vec<AlertEvent> = alerts.iter().cloned().map(AlertEvent::Opened).collect();
    store.ingest(&[], &events).expect("ingest");
    let list = |store: &mut Store, filter: AlertFilter| {
        store
            .list_alerts(&filter, AlertSort::default(), Page::first(100))
            .expect("list")
    };
    let all = list(store, AlertFilter::default());
    assert_eq!(all.total, 30);
    // Newest first by default.
    assert!(all
        .alerts
        .windows(2)
        .all(|w| w[0].alert.time_generated >= w[1].alert.time_generated));

    let high = list(
        store,
        AlertFilter {
            severities: vec![Severity::High],
            ..AlertFilter::default()
        },
    );
    assert_eq!(
        high.total,
        alerts
            .iter()
            .filter(|a| a.severity == Severity::High)
            .count() as u64
    );
    assert!(high
        .alerts
        .iter()
        .all(|a| a.alert.severity == Severity::High));

    let typed = list(
        store,
        AlertFilter {
            alert_types: vec!["K8S_B".to_owned()],
            planes: vec![Plane::Audit],
            ..AlertFilter::default()
        },
    );
    assert_eq!(typed.total, 10);
    let runtime = list(
        store,
        AlertFilter {
            planes: vec![Plane::Runtime],
            ..AlertFilter::default()
        },
    );
    assert_eq!(runtime.total, 10);

    let pod = list(
        store,
        AlertFilter {
            cluster: Some("prod-eu".to_owned()),
            namespace: Some("shop".to_owned()),
            pod: Some("pod-0".to_owned()),
            ..AlertFilter::default()
        },
    );
    let expected = alerts
        .iter()
        .filter(|a| {
            a.entities.namespace.as_deref() == Some("shop")
                && a.entities.pod.as_deref() == Some("pod-0")
        })
        .count() as u64;
    assert_eq!(pod.total, expected);
    assert!(expected > 0);

    let base = alerts[0].start_time.0;
    let window = list(
        store,
        AlertFilter {
            from: Some(Timestamp(base + 10 * MINUTE)),
            to: Some(Timestamp(base + 20 * MINUTE)),
            ..AlertFilter::default()
        },
    );
    assert_eq!(window.total, 5, "minutes 10, 12, 14, 16, 18");

    // Free text: case-insensitive, and % is literal.
    let text = list(
        store,
        AlertFilter {
            text: Some("100%_DISCOUNT".to_owned()),
            ..AlertFilter::default()
        },
    );
    assert_eq!(text.total, 1);
    let percent_only = list(
        store,
        AlertFilter {
            text: Some("%".to_owned()),
            ..AlertFilter::default()
        },
    );
    assert_eq!(percent_only.total, 1);
    let by_entity = list(
        store,
        AlertFilter {
            text: Some("POD-3".to_owned()),
            ..AlertFilter::default()
        },
    );
    assert_eq!(by_entity.total, 6);

    // Sorting by severity, highest first.
    let by_severity = store
        .list_alerts(
            &AlertFilter::default(),
            AlertSort {
                field: AlertSortField::Severity,
                descending: true,
            },
            Page::first(30),
        )
        .expect("sorted");
    assert!(by_severity
        .alerts
        .windows(2)
        .all(|w| w[0].alert.severity >= w[1].alert.severity));
    let by_count = store
        .list_alerts(
            &AlertFilter::default(),
            AlertSort {
                field: AlertSortField::Count,
                descending: false,
            },
            Page::first(30),
        )
        .expect("sorted");
    assert_eq!(by_count.alerts[0].alert.count, 1);

    // Pages cover everything once.
    let mut seen = Vec::new();
    for page in 0..4 {
        let result = store
            .list_alerts(
                &AlertFilter::default(),
                AlertSort::default(),
                Page {
                    offset: page * 8,
                    limit: 8,
                },
            )
            .expect("page");
        assert_eq!(result.total, 30);
        seen.extend(result.alerts.into_iter().map(|a| a.id));
    }
    assert_eq!(seen.len(), 30);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 30);

    let resolved_before = list(
        store,
        AlertFilter {
            statuses: vec![Status::Resolved],
            ..AlertFilter::default()
        },
    );
    assert_eq!(resolved_before.total, 0);
    let id = all.alerts[0].id.clone();
    store
        .set_alert_status(&id, Status::Resolved, "alice")
        .expect("resolve");
    let resolved = list(
        store,
        AlertFilter {
            statuses: vec![Status::Resolved],
            ..AlertFilter::default()
        },
    );
    assert_eq!(resolved.total, 1);
    assert_eq!(resolved.alerts[0].id, id);
}

pub fn triage_history_and_comments(store: &mut Store) {
    let a = alert("K8S_Triage", 0, "shop", "db-0");
    store
        .ingest(&[], &[AlertEvent::Opened(a.clone())])
        .expect("ingest");
    let id = kdr_incidents::alert_id(&a);
    store
        .set_alert_status(&id, Status::InProgress, "alice")
        .expect("in progress");
    store
        .assign_alert(&id, Some("bob"), "alice")
        .expect("assign");
    store
        .set_alert_status(&id, Status::Resolved, "bob")
        .expect("resolve");
    // Setting the status it already has records nothing.
    store
        .set_alert_status(&id, Status::Resolved, "bob")
        .expect("again");
    let history = store.alert_history(&id).expect("history");
    let steps: Vec<(&str, Status, Status, Option<&str>)> = history
        .iter()
        .map(|h| (h.actor.as_str(), h.from, h.to, h.assigned_to.as_deref()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("alice", Status::New, Status::InProgress, None),
            ("alice", Status::InProgress, Status::InProgress, Some("bob")),
            ("bob", Status::InProgress, Status::Resolved, Some("bob")),
        ]
    );
    let stored = store.get_alert(&id).expect("get").expect("present");
    assert_eq!(stored.status, Status::Resolved);
    assert_eq!(stored.assigned_to.as_deref(), Some("bob"));
    assert!(stored.updated_at >= stored.created_at);

    // Triage survives the alert's Closed update.
    store
        .ingest(&[], &[AlertEvent::Closed(closed(a.clone(), 3, 2))])
        .expect("close");
    let stored = store.get_alert(&id).expect("get").expect("present");
    assert_eq!(stored.status, Status::Resolved);
    assert_eq!(stored.alert.count, 3);

    store
        .comment_alert(
            &id,
            "alice",
            "Looks like the nightly job; checking with the owner.",
        )
        .expect("comment");
    store
        .comment_alert(&id, "bob", "Confirmed: 'quotes' and \"double\" stay intact")
        .expect("comment");
    let comments = store.alert_comments(&id).expect("comments");
    assert_eq!(comments.len(), 2);
    assert_eq!(
        comments[1].text,
        "Confirmed: 'quotes' and \"double\" stay intact"
    );

    assert!(matches!(
        store.set_alert_status("missing", Status::Resolved, "alice"),
        Err(StoreError::NotFound { what: "alert", .. })
    ));
    assert!(matches!(
        store.comment_alert("missing", "alice", "x"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.comment_alert(&id, "alice", "   "),
        Err(StoreError::Invalid {
            what: "comment",
            ..
        })
    ));
    assert!(matches!(
        store.comment_alert(&id, "alice", &"x".repeat(20_000)),
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        store.set_alert_status(&id, Status::New, ""),
        Err(StoreError::Invalid { what: "actor", .. })
    ));
}

pub fn incidents_group_alerts_and_keep_their_graph(store: &mut Store) {
    let mut web_shell = alert("K8S.NODE_WebShell", 0, "shop", "db-0");
    web_shell.tactics = vec![Tactic::Persistence];
    web_shell.severity = Severity::Medium;
    web_shell.display_name = "Possible web shell activity".to_owned();
    let mut miner = alert("K8S.NODE_Miner", 10, "shop", "db-0");
    miner.tactics = vec![Tactic::Execution];
    miner.severity = Severity::High;
    miner.display_name = "Crypto miner".to_owned();
    let mut scan = alert("K8S.NODE_Scan", 20, "shop", "db-0");
    scan.tactics = vec![Tactic::Discovery];
    scan.severity = Severity::Low;
    let elsewhere = alert("K8S.NODE_Scan", 25, "payments", "api-0");
    let much_later = alert("K8S.NODE_Scan", 300, "shop", "db-0");
    let sequence = vec![
        web_shell.clone(),
        miner.clone(),
        scan.clone(),
        elsewhere.clone(),
        much_later.clone(),
    ];
    let events: Vec<AlertEvent> = sequence.iter().cloned().map(AlertEvent::Opened).collect();
    store.ingest(&[], &events).expect("ingest");

    let page = store
        .list_incidents(&IncidentFilter::default(), Page::first(10))
        .expect("incidents");
    assert_eq!(page.total, 3);
    // The store groups exactly as the in-memory correlator does.
    let expected = group(&sequence, &CorrelationRules::default());
    let mut expected_ids: Vec<&str> = expected.iter().map(|i| i.id.as_str()).collect();
    let mut stored_ids: Vec<&str> = page.incidents.iter().map(|i| i.id.as_str()).collect();
    expected_ids.sort();
    stored_ids.sort();
    assert_eq!(stored_ids, expected_ids);

    let incident = page
        .incidents
        .iter()
        .find(|i| i.alert_count == 3)
        .expect("the db-0 incident");
    assert_eq!(incident.severity, Severity::High);
    assert_eq!(
        incident.title,
        "Crypto miner and 2 more alerts on pod shop/db-0"
    );
    assert_eq!(
        incident.tactics,
        vec![Tactic::Execution, Tactic::Persistence, Tactic::Discovery]
    );
    let members = store.incident_alerts(&incident.id).expect("members");
    let order: Vec<&str> = members
        .iter()
        .map(|a| a.alert.alert_type.as_str())
        .collect();
    assert_eq!(
        order,
        vec!["K8S.NODE_Miner", "K8S.NODE_WebShell", "K8S.NODE_Scan"],
        "kill-chain order"
    );
    assert!(members
        .iter()
        .all(|a| a.incident_id.as_deref() == Some(incident.id.as_str())));

    let graph = store.incident_graph(&incident.id).expect("graph");
    let reference = expected
        .iter()
        .find(|i| i.id == incident.id)
        .expect("same incident in memory");
    assert_eq!(graph, reference.graph);
    assert!(graph.nodes.iter().any(|n| n.kind == NodeKind::Pod));
    assert!(graph.edges.iter().any(|e| e.kind == EdgeKind::InRegistry));

    // A repeat folded in later widens the incident.
    store
        .ingest(&[], &[AlertEvent::Closed(closed(scan.clone(), 4, 50))])
        .expect("close");
    let widened = store
        .get_incident(&incident.id)
        .expect("get")
        .expect("present");
    assert_eq!(widened.last_time.0, scan.start_time.0 + 50 * MINUTE);

    // Triage of incidents.
    store
        .set_incident_status(&incident.id, Status::InProgress, "alice")
        .expect("status");
    store
        .assign_incident(&incident.id, Some("bob"), "alice")
        .expect("assign");
    let triaged = store
        .get_incident(&incident.id)
        .expect("get")
        .expect("present");
    assert_eq!(triaged.status, Status::InProgress);
    assert_eq!(triaged.assigned_to.as_deref(), Some("bob"));
    let in_progress = store
        .list_incidents(
            &IncidentFilter {
                statuses: vec![Status::InProgress],
                ..IncidentFilter::default()
            },
            Page::first(10),
        )
        .expect("filtered");
    assert_eq!(in_progress.total, 1);
    let high = store
        .list_incidents(
            &IncidentFilter {
                severities: vec![Severity::High],
                text: Some("crypto".to_owned()),
                ..IncidentFilter::default()
            },
            Page::first(10),
        )
        .expect("filtered");
    assert_eq!(high.total, 1);
    assert!(matches!(
        store.set_incident_status("inc-missing", Status::Resolved, "alice"),
        Err(StoreError::NotFound {
            what: "incident",
            ..
        })
    ));
    assert!(store.get_incident("inc-missing").expect("get").is_none());
}

pub fn incidents_merge_when_an_alert_bridges_them(store: &mut Store) {
    let rules_note = "default rules join on pod and node";
    let first = alert("K8S_First", 0, "shop", "db-0");
    let mut second = alert("K8S_Second", 5, "web", "front-0");
    second.entities.node = Some("node-9".to_owned());
    second.entities.pod = None;
    let mut bridge = alert("K8S_Bridge", 10, "shop", "db-0");
    bridge.entities.node = Some("node-9".to_owned());
    store
        .ingest(
            &[],
            &[
                AlertEvent::Opened(first.clone()),
                AlertEvent::Opened(second.clone()),
            ],
        )
        .expect("ingest");
    let before = store
        .list_incidents(&IncidentFilter::default(), Page::first(10))
        .expect("list");
    assert_eq!(before.total, 2, "{rules_note}");
    store
        .ingest(&[], &[AlertEvent::Opened(bridge.clone())])
        .expect("bridge");
    let after = store
        .list_incidents(&IncidentFilter::default(), Page::first(10))
        .expect("list");
    assert_eq!(after.total, 1);
    let merged = &after.incidents[0];
    assert_eq!(merged.alert_count, 3);
    assert_eq!(
        merged.id,
        kdr_incidents::incident_id(&kdr_incidents::alert_id(&first))
    );
    let expected = group(&[first, second, bridge], &CorrelationRules::default());
    assert_eq!(expected.len(), 1);
    assert_eq!(expected[0].id, merged.id);
    assert_eq!(
        store.incident_graph(&merged.id).expect("graph"),
        expected[0].graph
    );
}

/// 400 related alerts, stored in batches of uneven size: the store closes incidents at the
/// size cap exactly where the in-memory correlator does, and summarizes each one the same.
pub fn incidents_stop_growing_at_the_size_cap(store: &mut Store) {
    let rules = CorrelationRules::default();
    let alerts: Vec<Alert> = (0..400)
        .map(|i| {
            let mut a = alert(&format!("K8S.NODE_Step{i}"), i, "shop", "db-0");
            if i % 3 == 0 {
                a.entities.node = Some(format!("node-{}", i % 4));
            }
            a
        })
        .collect();
    let mut rest: &[Alert] = &alerts;
    for size in [1, 7, 149, 2, 91].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, later) = rest.split_at(size.min(rest.len()));
        let events: Vec<AlertEvent> = batch.iter().cloned().map(AlertEvent::Opened).collect();
        store.ingest(&[], &events).expect("ingest");
        rest = later;
    }
    let expected = group(&alerts, &rules);
    let counts: Vec<usize> = expected.iter().map(|i| i.alert_ids.len()).collect();
    assert_eq!(counts, vec![rules.max_alerts, rules.max_alerts, 100]);
    let stored = store
        .list_incidents(&IncidentFilter::default(), Page::first(10))
        .expect("incidents");
    assert_eq!(stored.total, expected.len() as u64);
    for wanted in &expected {
        let incident = store
            .get_incident(&wanted.id)
            .expect("get")
            .expect("the same incident IDs as in memory");
        assert_eq!(incident.alert_count as usize, wanted.alert_ids.len());
        assert_eq!(incident.title, wanted.title);
        assert_eq!(
            (incident.first_time, incident.last_time),
            (wanted.first_time, wanted.last_time)
        );
        let members: Vec<String> = store
            .incident_alerts(&wanted.id)
            .expect("members")
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(members, wanted.alert_ids);
        assert_eq!(
            store.incident_graph(&wanted.id).expect("graph"),
            wanted.graph
        );
    }
}

pub fn hunting_rows_and_retention(store: &mut Store) {
    let events: Vec<_> = Generator::new(11).take(3000).collect();
    let report = store.ingest(&events, &[]).expect("ingest");
    assert_eq!(report.hunting_rows, 3000);
    let counts = store.hunting_counts().expect("counts");
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 3000);
    assert!(counts.iter().all(|(_, n)| *n > 0), "{counts:?}");

    let a = alert("K8S_Kept", 0, "shop", "db-0");
    store
        .ingest(&[], &[AlertEvent::Opened(a.clone())])
        .expect("alert");

    // By age: keep the newest half of the time span.
    let first = events.first().map(|e| e.time.0).unwrap_or(0);
    let last = events.last().map(|e| e.time.0).unwrap_or(0);
    let middle = first + (last - first) / 2;
    let report = store
        .enforce_retention(
            &RetentionPolicy {
                max_age: Some(last - middle),
                ..RetentionPolicy::default()
            },
            Timestamp(last),
        )
        .expect("age");
    let expected_deleted = events.iter().filter(|e| e.time.0 < middle).count() as u64;
    assert_eq!(report.total(), expected_deleted);

    // By rows: at most 200 per table, the newest.
    store
        .enforce_retention(
            &RetentionPolicy {
                max_rows_per_table: Some(200),
                ..RetentionPolicy::default()
            },
            Timestamp(last),
        )
        .expect("rows");
    for (table, count) in store.hunting_counts().expect("counts") {
        assert!(count <= 200, "{table} kept {count}");
    }

    // By size: under a byte budget smaller than what is used.
    let more: Vec<_> = Generator::new(12).take(5000).collect();
    store.ingest(&more, &[]).expect("ingest more");
    let used = store.hunting_bytes().expect("bytes");
    assert!(used > 0);
    let before: u64 = store
        .hunting_counts()
        .expect("counts")
        .iter()
        .map(|c| c.1)
        .sum();
    let report = store
        .enforce_retention(
            &RetentionPolicy {
                max_bytes: Some(used / 2),
                ..RetentionPolicy::default()
            },
            Timestamp(last),
        )
        .expect("bytes");
    assert!(report.total() >= before / 2, "{report:?} of {before}");

    // Alerts are never deleted by retention.
    assert!(store
        .get_alert(&kdr_incidents::alert_id(&a))
        .expect("get")
        .is_some());
}

/// KQL hunting over what the store ingested: results equal the same question answered
/// directly over the events in Rust, and hostile strings are data, never SQL.
pub fn hunting_queries_run_over_stored_events(store: &mut Store) {
    use kdr_model::{Payload, RuntimeAction};
    use std::collections::BTreeMap;

    let events: Vec<_> = Generator::new(21).take(2000).collect();
    store.ingest(&events, &[]).expect("ingest");
    let now = events.last().map_or(0, |e| e.time.0);
    let limits = kdr_kql::Limits::default();

    // Process events whose command line contains "curl", counted per image.
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for event in &events {
        if let Payload::Runtime(runtime) = &event.payload {
            let exec = matches!(runtime.action, RuntimeAction::Exec);
            let line = runtime.process.args.join(" ").to_lowercase();
            if exec && line.contains("curl") {
                *expected
                    .entry(event.context.image.clone().unwrap_or_default())
                    .or_default() += 1;
            }
        }
    }
    assert!(!expected.is_empty(), "the generator makes curl executions");
    let result = store
        .hunt(
            "CloudProcessEvents | where ActionType == 'exec' and ProcessCommandLine contains 'curl' \
             | summarize count() by ContainerImageName",
            now,
            &limits,
        )
        .expect("hunt");
    let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["ContainerImageName", "count_"]);
    let got: BTreeMap<String, i64> = result
        .rows
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap_or_default().to_owned(),
                r[1].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(got, expected);

    // Audit events by verb through the raw record's dotted path.
    let creates = events
        .iter()
        .filter(|e| matches!(&e.payload, Payload::K8sAudit(a) if a.verb == "create"))
        .count() as i64;
    let result = store
        .hunt(
            "CloudAuditEvents | where tostring(RawEventData.verb) == 'create' | count",
            now,
            &limits,
        )
        .expect("hunt");
    assert_eq!(result.rows, vec![vec![serde_json::json!(creates)]]);

    // Hostile strings are values.
    for hostile in [
        "x'; DROP TABLE \"CloudProcessEvents\"; --",
        "\"; DELETE FROM alerts; --",
    ] {
        let query = format!(
            "CloudProcessEvents | where ProcessCommandLine == {} | count",
            serde_json::to_string(hostile).unwrap()
        );
        let result = store.hunt(&query, now, &limits).expect("hunt");
        assert_eq!(result.rows, vec![vec![serde_json::json!(0)]]);
    }
    let total: u64 = store
        .hunting_counts()
        .expect("counts")
        .iter()
        .map(|c| c.1)
        .sum();
    assert_eq!(total, 2000);

    // A bad query says where.
    let error = store
        .hunt("CloudProcessEvents | where", now, &limits)
        .unwrap_err()
        .to_string();
    assert!(error.contains("line 1, column"), "{error}");
}
