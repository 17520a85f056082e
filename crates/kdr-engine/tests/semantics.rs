//! Engine behaviour that every rule relies on: throttling, failed requests, Metadata-level
//! events, exposure joins in either order, baselines that survive a restart, and replay
//! giving the same alerts.

use std::sync::Arc;

use kdr_engine::{AlertEvent, Engine};
use kdr_intel::IndicatorSet;
use kdr_model::{Alert, Event};
use serde_json::{json, Value};

fn engine() -> Engine {
    Engine::new(
        Arc::new(kdr_rules::load(&[]).unwrap()),
        IndicatorSet::shipped(),
    )
}

#[allow(clippy::too_many_arguments)]
fn audit(
    id: &str,
    time: &str,
    verb: &str,
    user: &str,
    resource: &str,
    namespace: &str,
    name: &str,
    code: i64,
    level: &str,
    body: Option<Value>,
) -> Event {
    let mut record = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": id,
        "stage": "ResponseComplete", "requestURI": format!("/api/v1/namespaces/{namespace}/{resource}"),
        "verb": verb, "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.5"], "userAgent": "kubectl/v1.29.0",
        "objectRef": {"resource": resource, "namespace": namespace, "name": name, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": time, "stageTimestamp": time
    });
    if let Some(body) = body {
        let key = if verb == "patch" {
            "responseObject"
        } else {
            "requestObject"
        };
        record[key] = body;
    }
    let mut out = Vec::new();
    kdr_decode::decode_record(&record.to_string(), &mut out).unwrap();
    out.remove(0)
}

fn pod(name: &str, privileged: bool, labels: Value) -> Value {
    json!({"kind": "Pod", "apiVersion": "v1",
           "metadata": {"name": name, "namespace": "shop", "labels": labels},
           "spec": {"containers": [{"name": "app", "image": "postgres:16",
               "env": [{"name": "POSTGRES_HOST_AUTH_METHOD", "value": "trust"}],
               "ports": [{"containerPort": 5432}],
               "securityContext": {"privileged": privileged}}]}})
}

fn lb_service(name: &str) -> Value {
    json!({"kind": "Service", "apiVersion": "v1", "metadata": {"name": name, "namespace": "shop"},
           "spec": {"type": "LoadBalancer", "selector": {"app": "db"}, "ports": [{"port": 5432}]}})
}

fn run(events: &[Event]) -> Vec<Alert> {
    let mut engine = engine();
    let mut out = Vec::new();
    for event in events {
        engine.process(event, &mut out);
    }
    engine.flush(&mut out);
    closed(out)
}

fn closed(out: Vec<AlertEvent>) -> Vec<Alert> {
    out.into_iter()
        .filter_map(|e| match e {
            AlertEvent::Closed(a) => Some(a),
            AlertEvent::Opened(_) => None,
        })
        .collect()
}

fn of_type<'a>(alerts: &'a [Alert], id: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.alert_type == id).collect()
}

#[test]
fn repeats_fold_into_one_alert_with_a_count_until_the_window_ends() {
    let mut events = Vec::new();
    for (i, minute) in ["00", "01", "02", "30"].iter().enumerate() {
        events.push(audit(
            &format!("e{i}"),
            &format!("2024-05-01T12:{minute}:00Z"),
            "update",
            "alice",
            "pods",
            "shop",
            "db-0",
            200,
            "RequestResponse",
            Some(pod("db-0", true, json!({}))),
        ));
    }
    let alerts = run(&events);
    let privileged = of_type(&alerts, "K8S_PrivilegedContainer");
    assert_eq!(privileged.len(), 2, "{privileged:?}");
    assert_eq!(privileged[0].count, 3);
    assert_eq!(privileged[0].evidence, vec!["e0", "e1", "e2"]);
    assert_eq!(privileged[0].end_time.to_string(), "2024-05-01T12:02:00Z");
    assert_eq!(privileged[1].count, 1);
    assert_eq!(privileged[0].dedup_key, privileged[1].dedup_key);
}

#[test]
fn failed_and_metadata_level_requests_raise_nothing() {
    let refused = audit(
        "f",
        "2024-05-01T12:00:00Z",
        "create",
        "alice",
        "pods",
        "shop",
        "x",
        403,
        "RequestResponse",
        Some(pod("x", true, json!({}))),
    );
    let metadata = audit(
        "m",
        "2024-05-01T12:00:01Z",
        "create",
        "alice",
        "pods",
        "shop",
        "y",
        201,
        "Metadata",
        None,
    );
    assert!(run(&[refused, metadata]).is_empty());
}

#[test]
fn exposure_joins_in_either_order() {
    let workload = |id: &str, t: &str| {
        audit(
            id,
            t,
            "create",
            "alice",
            "pods",
            "shop",
            "db-0",
            201,
            "RequestResponse",
            Some(pod("db-0", false, json!({"app": "db"}))),
        )
    };
    let service = |id: &str, t: &str| {
        audit(
            id,
            t,
            "create",
            "alice",
            "services",
            "shop",
            "db",
            201,
            "RequestResponse",
            Some(lb_service("db")),
        )
    };
    for events in [
        vec![
            workload("w", "2024-05-01T12:00:00Z"),
            service("s", "2024-05-01T12:00:05Z"),
        ],
        vec![
            service("s", "2024-05-01T12:00:00Z"),
            workload("w", "2024-05-01T12:00:05Z"),
        ],
    ] {
        let alerts = run(&events);
        for id in [
            "K8S_ExposedPostgresTrustAuth",
            "K8S_ExposedPostgresBroadIPRange",
        ] {
            let found = of_type(&alerts, id);
            assert_eq!(found.len(), 1, "{id}: {alerts:?}");
            assert_eq!(found[0].entities.service.as_deref(), Some("shop/db"));
            assert!(found[0].reason.contains("shop/db"), "{}", found[0].reason);
        }
    }
    // Selector mismatch: nothing.
    let other = audit(
        "w",
        "2024-05-01T12:00:00Z",
        "create",
        "alice",
        "pods",
        "shop",
        "db-0",
        201,
        "RequestResponse",
        Some(pod("db-0", false, json!({"app": "web"}))),
    );
    let svc = audit(
        "s",
        "2024-05-01T12:00:01Z",
        "create",
        "alice",
        "services",
        "shop",
        "db",
        201,
        "RequestResponse",
        Some(lb_service("db")),
    );
    assert!(of_type(&run(&[other, svc]), "K8S_ExposedPostgresTrustAuth").is_empty());
}

#[test]
fn baselines_survive_a_restart() {
    let sa = "system:serviceaccount:shop:reader";
    let day = |d: u32, verb: &str, resource: &str, id: &str| {
        audit(
            id,
            &format!("2024-05-{d:02}T10:00:00Z"),
            verb,
            sa,
            resource,
            "shop",
            "",
            200,
            "Metadata",
            None,
        )
    };
    let mut first = engine();
    let mut out = Vec::new();
    for d in 1..=9 {
        first.process(&day(d, "get", "configmaps", &format!("g{d}")), &mut out);
    }
    let saved = first.save_state().unwrap();
    assert!(of_type(&closed(out), "K8S_ServiceAccountRareOperation").is_empty());

    let mut second = engine();
    second.load_state(&saved).unwrap();
    let mut out = Vec::new();
    second.process(&day(10, "get", "configmaps", "known"), &mut out);
    second.process(&day(10, "list", "secrets", "new"), &mut out);
    second.flush(&mut out);
    let rare = closed(out);
    let rare = of_type(&rare, "K8S_ServiceAccountRareOperation");
    assert_eq!(rare.len(), 1);
    assert_eq!(rare[0].evidence, vec!["new"]);
    assert!(
        rare[0].reason.contains("list secrets"),
        "{}",
        rare[0].reason
    );

    // Without the saved state the account is still learning: no alert.
    let mut fresh = engine();
    let mut out = Vec::new();
    fresh.process(&day(10, "list", "secrets", "new"), &mut out);
    fresh.flush(&mut out);
    assert!(of_type(&closed(out), "K8S_ServiceAccountRareOperation").is_empty());
}

#[test]
fn replay_is_deterministic() {
    let events: Vec<Event> = (0..50)
        .map(|i| {
            audit(
                &format!("e{i}"),
                &format!("2024-05-01T12:{:02}:00Z", i),
                if i % 3 == 0 { "create" } else { "update" },
                "alice",
                "pods",
                "shop",
                &format!("p{}", i % 4),
                201,
                "RequestResponse",
                Some(pod(
                    &format!("p{}", i % 4),
                    i % 2 == 0,
                    json!({"app": "db"}),
                )),
            )
        })
        .collect();
    let a = run(&events);
    let b = run(&events);
    assert!(!a.is_empty());
    assert_eq!(a, b);
}
