//! `kdr ingest`, `alerts`, `incidents` and `hunt` over an embedded store, as users run them.

use std::process::{Command, Output};

fn kdr(store: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kdr"))
        .args(args)
        .env("KDR_STORE", store)
        .output()
        .expect("kdr runs")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const ATTACK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/attack.jsonl");

#[test]
fn ingest_triage_incidents_and_hunt() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data");
    let store = store.to_str().unwrap();
    ok(kdr(store, &["ingest", ATTACK]));
    // Ingesting the same recording again changes nothing.
    ok(kdr(store, &["ingest", ATTACK]));

    let page: serde_json::Value = serde_json::from_str(&ok(kdr(
        store,
        &["alerts", "list", "--output", "json", "--limit", "100"],
    )))
    .unwrap();
    let alerts = page["alerts"].as_array().unwrap();
    assert_eq!(page["total"], alerts.len());
    assert!(alerts.len() >= 8, "{}", alerts.len());
    let ids: std::collections::BTreeSet<&str> =
        alerts.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids.len(),
        alerts.len(),
        "no duplicates after a second ingest"
    );

    let privileged = alerts
        .iter()
        .find(|a| a["alertType"] == "K8S_PrivilegedContainer")
        .expect("the attack creates a privileged pod");
    let id = privileged["id"].as_str().unwrap();
    ok(kdr(
        store,
        &["alerts", "status", id, "InProgress", "--actor", "ana"],
    ));
    ok(kdr(
        store,
        &["alerts", "assign", id, "ben", "--actor", "ana"],
    ));
    ok(kdr(
        store,
        &[
            "alerts",
            "comment",
            id,
            "looking at the node",
            "--actor",
            "ana",
        ],
    ));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(kdr(store, &["alerts", "show", id]))).unwrap();
    assert_eq!(shown["alert"]["status"], "InProgress");
    assert_eq!(shown["alert"]["assignedTo"], "ben");
    assert_eq!(shown["comments"][0]["text"], "looking at the node");
    assert_eq!(shown["history"][0]["actor"], "ana");
    let bad = kdr(store, &["alerts", "status", id, "Closed"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected New, InProgress or Resolved"));

    let filtered: serde_json::Value = serde_json::from_str(&ok(kdr(
        store,
        &[
            "alerts",
            "list",
            "--output",
            "json",
            "--status",
            "InProgress",
        ],
    )))
    .unwrap();
    assert_eq!(filtered["total"], 1);

    let incidents: serde_json::Value =
        serde_json::from_str(&ok(kdr(store, &["incidents", "list", "--output", "json"]))).unwrap();
    let incident = incidents["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|i| i["alertCount"].as_u64())
        .unwrap();
    let incident_id = incident["id"].as_str().unwrap();
    assert!(incident["alertCount"].as_u64().unwrap() >= 3);
    let dot = ok(kdr(
        store,
        &["incidents", "graph", incident_id, "--format", "dot"],
    ));
    assert!(dot.starts_with("digraph"), "{dot}");

    let csv = ok(kdr(
        store,
        &[
            "hunt",
            "CloudAuditEvents | summarize count() by ActionType | order by ActionType asc",
            "--output",
            "csv",
        ],
    ));
    // RFC 4180: CRLF line ends.
    assert!(csv.starts_with("ActionType,count_\r\n"), "{csv}");
    let go_hunt = ok(kdr(
        store,
        &["hunt", "--incident", incident_id, "--output", "json"],
    ));
    assert!(
        !go_hunt.trim().is_empty(),
        "go hunt finds the incident's activity"
    );

    let bad_query = kdr(store, &["hunt", "CloudAuditEvents | where"]);
    assert_eq!(bad_query.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_query.stderr).contains("line 1, column"));
}
