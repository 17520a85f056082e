//! Every supported operator and function, run on SQLite and compared with the reference
//! evaluator over the same data.

mod common;

use common::Fixture;

use common::queries::{ORDERED, UNORDERED};

#[test]
fn unordered_queries_match_the_reference() {
    let fixture = Fixture::new();
    let mut wrong_counts = Vec::new();
    for (query, expected_rows) in UNORDERED {
        let rows = fixture.check(query, false);
        if rows != *expected_rows {
            wrong_counts.push(format!("{rows} rows (expected {expected_rows}): {query}"));
        }
    }
    assert!(wrong_counts.is_empty(), "{}", wrong_counts.join("\n"));
}

#[test]
fn ordered_queries_match_the_reference() {
    let fixture = Fixture::new();
    for (query, expected_rows) in ORDERED {
        let rows = fixture.check(query, true);
        assert_eq!(rows, *expected_rows, "row count for {query}");
    }
}

/// In PostgreSQL, parse_json() of text that is not JSON is an error (see docs/hunting.md), so
/// this KQL behaviour is checked on SQLite only.
#[test]
fn parse_json_of_plain_text_is_a_string() {
    let fixture = Fixture::new();
    let rows = fixture.check(r#"CloudAuditEvents | take 1 | project NotJson = parse_json("not json"), Empty = parse_json("")"#, false);
    assert_eq!(rows, 1);
}

#[test]
fn take_without_sort_returns_that_many_rows() {
    let fixture = Fixture::new();
    for query in [
        "CloudProcessEvents | take 4",
        "CloudProcessEvents | limit 4",
    ] {
        assert_eq!(fixture.sqlite(query).rows.len(), 4);
    }
}

#[test]
fn summarize_names_follow_kql() {
    let fixture = Fixture::new();
    let result = fixture.sqlite(
        "CloudProcessEvents | summarize count(), dcount(ProcessName), sum(ProcessId), avg(ProcessId), min(ProcessId), max(ProcessId), make_set(ProcessName) by bin(Timestamp, 1h)",
    );
    let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Timestamp",
            "count_",
            "dcount_ProcessName",
            "sum_ProcessId",
            "avg_ProcessId",
            "min_ProcessId",
            "max_ProcessId",
            "set_ProcessName"
        ]
    );
    let arg_max = fixture
        .sqlite("CloudProcessEvents | summarize arg_max(Timestamp, ProcessName) by NodeName");
    let names: Vec<&str> = arg_max.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["NodeName", "Timestamp", "ProcessName"]);
}

#[test]
fn bin_floors_negative_datetimes() {
    let fixture = Fixture::new();
    let result = fixture.sqlite(r#"CloudProcessEvents | where ProcessName == "true" | project bin(Timestamp, 1m), B = bin(-7, 5)"#);
    assert_eq!(result.rows[0][0], serde_json::json!("1969-12-31T23:59:00Z"));
    assert_eq!(result.rows[0][1], serde_json::json!(-10));
}

#[test]
fn values_have_kql_forms() {
    let fixture = Fixture::new();
    let result = fixture.sqlite(
        r#"CloudAuditEvents | where ReportId == "a2" | project Timestamp, IsAnonymousProxy, Span = Timestamp - datetime(2024-05-01), RawEventData.user.groups, Code = RawEventData.responseStatus.code"#,
    );
    let row = &result.rows[0];
    assert_eq!(row[0], serde_json::json!("2024-05-01T10:06:40Z"));
    assert_eq!(row[1], serde_json::json!(false));
    assert_eq!(row[2], serde_json::json!("10:06:40"));
    assert_eq!(
        row[3],
        serde_json::json!([
            "system:serviceaccounts",
            "system:serviceaccounts:shop",
            "system:authenticated"
        ])
    );
    assert_eq!(row[4], serde_json::json!(403));
}

#[test]
fn row_limit_truncates_and_says_so() {
    let fixture = Fixture::new();
    let limits = kdr_kql::Limits {
        max_rows: 3,
        ..Default::default()
    };
    let result = kdr_kql::run_sqlite(
        &fixture.conn,
        "CloudProcessEvents",
        &common::schema(),
        common::NOW_NS,
        &limits,
    )
    .unwrap();
    assert_eq!(result.rows.len(), 3);
    assert!(result.truncated);
    let exact = kdr_kql::run_sqlite(
        &fixture.conn,
        "CloudProcessEvents | take 3",
        &common::schema(),
        common::NOW_NS,
        &limits,
    )
    .unwrap();
    assert!(!exact.truncated);
}

#[test]
fn time_limit_interrupts_long_queries() {
    let fixture = Fixture::new();
    let limits = kdr_kql::Limits {
        max_rows: 10,
        timeout: std::time::Duration::from_millis(50),
    };
    // A five-way self join of the process table: ~760k rows, far more than 50 ms of work.
    let query = "CloudProcessEvents | join kind=inner CloudProcessEvents on ClusterName | join kind=inner CloudProcessEvents on ClusterName | join kind=inner CloudProcessEvents on ClusterName | join kind=inner CloudProcessEvents on ClusterName | summarize count()";
    let started = std::time::Instant::now();
    let outcome = kdr_kql::run_sqlite(
        &fixture.conn,
        query,
        &common::schema(),
        common::NOW_NS,
        &limits,
    );
    assert!(
        matches!(outcome, Err(kdr_kql::RunError::Timeout(_))),
        "{outcome:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // The connection stays usable afterwards.
    assert_eq!(
        fixture.sqlite("CloudAuditEvents | count").rows[0][0],
        serde_json::json!(9)
    );
}

#[test]
fn documented_examples_run() {
    let fixture = Fixture::new();
    let examples = [
        "CloudProcessEvents\n| where ProcessCommandLine has \"curl\"\n| summarize count() by ContainerImageName",
        "CloudProcessEvents\n| where Timestamp > ago(1d)\n| join kind=inner (\n    CloudAuditEvents\n    | extend KubernetesPodName = tostring(RawEventData.objectRef.name)\n  ) on KubernetesPodName\n| project KubernetesPodName, ProcessName, ProcessCommandLine,\n          Caller = tostring(RawEventData.user.username), Verb = tostring(RawEventData.verb)",
        "let window = 1h;\nCloudAuditEvents\n| where Timestamp > ago(window) and RawEventData.objectRef.resource == \"clusterrolebindings\"\n| mv-expand Subject = RawEventData.requestObject.subjects\n| project Timestamp, User = tostring(RawEventData.user.username), Subject = tostring(Subject.name)",
    ];
    let expected_rows = [3, 9, 0];
    for (query, rows) in examples.iter().zip(expected_rows) {
        assert_eq!(fixture.check(query, false), rows, "{query}");
    }
}
