//! The store on PostgreSQL. Needs a server: `export KDR_TEST_POSTGRES_URL=$(scripts/test-postgres-up)`.
//! Without the variable every test prints why and passes without checking anything.
//! Each test works in a database of its own, created fresh.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use kdr_engine::AlertEvent;
use kdr_model::{Alert, Severity};
use kdr_store::synthetic::{alert, Generator};
use kdr_store::{AlertFilter, AlertSort, Backend, IncidentFilter, Page, Store, StoreOptions};

/// A fresh database on the test server, as a URL; None (after saying so) without a server.
fn fresh_database(name: &str) -> Option<String> {
    let Ok(base) = std::env::var("KDR_TEST_POSTGRES_URL") else {
        println!("skipped: KDR_TEST_POSTGRES_URL is not set (export KDR_TEST_POSTGRES_URL=$(scripts/test-postgres-up))");
        return None;
    };
    let database = format!("kdr_store_{name}");
    let mut admin = postgres::Client::connect(&base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to {base}: {e}"));
    // Separate statements: DROP/CREATE DATABASE refuse to run inside a transaction block.
    for statement in [
        format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        format!("CREATE DATABASE {database}"),
    ] {
        admin.batch_execute(&statement).unwrap_or_else(|e| {
            let detail = e.as_db_error().map(|d| d.message().to_owned());
            panic!("{statement}: {e} {detail:?}")
        });
    }
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database path");
    Some(format!("{prefix}/{database}"))
}

fn open(url: &str) -> Store {
    Store::open(url, StoreOptions::default()).unwrap_or_else(|e| panic!("open {url}: {e}"))
}

shared_store_tests!(|name: &str| {
    let store = open(&fresh_database(name)?);
    assert_eq!(store.backend(), Backend::Postgres);
    Some(((), store))
});

#[test]
fn hunting_columns_have_the_contract_types_and_json_is_queryable() {
    let Some(url) = fresh_database("columns") else {
        return;
    };
    let mut store = open(&url);
    let events: Vec<_> = Generator::new(5).take(300).collect();
    store.ingest(&events, &[]).expect("ingest");
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let types: Vec<(String, String, String)> = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text \
             FROM information_schema.columns \
             WHERE table_name IN ('CloudProcessEvents', 'CloudAuditEvents', 'CloudRuntimeEvents')",
            &[],
        )
        .expect("columns")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let type_of = |table: &str, column: &str| {
        types
            .iter()
            .find(|(t, c, _)| t == table && c == column)
            .map(|(_, _, ty)| ty.clone())
            .unwrap_or_else(|| panic!("{table}.{column} missing"))
    };
    assert_eq!(type_of("CloudProcessEvents", "Timestamp"), "bigint");
    assert_eq!(type_of("CloudProcessEvents", "ProcessId"), "bigint");
    assert_eq!(type_of("CloudProcessEvents", "AdditionalFields"), "jsonb");
    assert_eq!(type_of("CloudAuditEvents", "IsAnonymousProxy"), "boolean");
    assert_eq!(type_of("CloudAuditEvents", "RawEventData"), "jsonb");
    assert_eq!(type_of("CloudRuntimeEvents", "RemotePort"), "bigint");
    let users: i64 = client
        .query_one(
            "SELECT COUNT(DISTINCT \"RawEventData\" -> 'user' ->> 'username') \
             FROM \"CloudAuditEvents\" WHERE \"DataSource\" = 'Kubernetes audit'",
            &[],
        )
        .expect("json path")
        .get(0);
    assert!(users > 1);
}

/// Two replicas ingest overlapping stretches of the same alert stream at once, each with its
/// own connection. Every alert must be stored exactly once, with its final state.
#[test]
fn two_replicas_ingesting_overlapping_streams_lose_and_duplicate_nothing() {
    let Some(url) = fresh_database("replicas") else {
        return;
    };
    // The stream: 400 alerts over 40 pods; each opens, and closes with its final count
    // 5 alerts later, as the engine reports them.
    let alerts: Vec<Alert> = (0..400)
        .map(|i| {
            let mut a = alert(
                &format!("K8S_Type{}", i % 6),
                i as i64,
                ["shop", "payments"][i % 2],
                &format!("pod-{}", i % 40),
            );
            a.dedup_key = format!("{}|{i}", a.alert_type);
            a.severity = Severity::ALL[i % 4];
            a
        })
        .collect();
    let mut stream = Vec::new();
    for (i, a) in alerts.iter().enumerate() {
        stream.push(AlertEvent::Opened(a.clone()));
        if i >= 5 {
            stream.push(AlertEvent::Closed(common::closed(
                alerts[i - 5].clone(),
                3,
                2,
            )));
        }
    }
    for a in &alerts[alerts.len() - 5..] {
        stream.push(AlertEvent::Closed(common::closed(a.clone(), 3, 2)));
    }
    let stream = Arc::new(stream);
    let half = stream.len() / 2;
    // Replica A: the first two thirds; replica B: the last two thirds. The middle third is
    // ingested by both, at the same time.
    let ranges = [(0, half + half / 3), (half - half / 3, stream.len())];
    // Both open at once too: migrations must not collide.
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = ranges
        .into_iter()
        .map(|(start, end)| {
            let url = url.clone();
            let stream = Arc::clone(&stream);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut store = Store::open(&url, StoreOptions::default()).expect("open");
                let mut retries = 0;
                for batch in stream[start..end].chunks(7) {
                    let events: Vec<_> = Generator::new(start as u64).take(20).collect();
                    let report = store.ingest(&events, batch).expect("ingest");
                    retries += report.retries;
                }
                retries
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("replica thread");
    }

    let mut store = open(&url);
    let page = store
        .list_alerts(
            &AlertFilter::default(),
            AlertSort::default(),
            Page::first(1000),
        )
        .expect("list");
    assert_eq!(page.total, 400, "no alert lost or duplicated");
    let ids: HashSet<&str> = page.alerts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), 400);
    for a in &alerts {
        assert!(ids.contains(kdr_incidents::alert_id(a).as_str()));
    }
    assert!(
        page.alerts.iter().all(|a| a.closed && a.alert.count == 3),
        "every alert has its final state"
    );
    // Every alert is in exactly one incident.
    assert!(page.alerts.iter().all(|a| a.incident_id.is_some()));
    let incidents = store
        .list_incidents(&IncidentFilter::default(), Page::first(1000))
        .expect("incidents");
    let members: u64 = incidents.incidents.iter().map(|i| i.alert_count).sum();
    assert_eq!(members, 400);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let orphans: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM incident_alerts ia LEFT JOIN incidents i \
             ON i.id = ia.incident_id WHERE i.id IS NULL",
            &[],
        )
        .expect("orphans")
        .get(0);
    assert_eq!(orphans, 0);
}
