//! Hostile strings and identifiers return data or an error, never altered SQL.

mod common;

use common::Fixture;
use kdr_kql::{compile, run_sqlite, Dialect, Limits};

const HOSTILE: &[&str] = &[
    "'; DROP TABLE CloudProcessEvents; --",
    "\"; DROP TABLE CloudProcessEvents; --",
    "x' OR '1'='1",
    "*/ DELETE FROM CloudAuditEvents; /*",
    "$1; SELECT 1",
    "?1",
    "\\'; --",
];

fn table_counts(fixture: &Fixture) -> (i64, i64) {
    let count = |table: &str| -> i64 {
        fixture
            .conn
            .query_row(&format!("SELECT COUNT(*) FROM \"{table}\""), [], |row| {
                row.get(0)
            })
            .unwrap()
    };
    (count("CloudProcessEvents"), count("CloudAuditEvents"))
}

#[test]
fn hostile_strings_are_parameters() {
    let fixture = Fixture::new();
    let before = table_counts(&fixture);
    for hostile in HOSTILE {
        let literal = serde_json::to_string(hostile).unwrap();
        for query in [
            format!("CloudProcessEvents | where ProcessCommandLine == {literal}"),
            format!("CloudProcessEvents | where ProcessCommandLine has {literal} or ProcessName contains {literal}"),
            format!("CloudProcessEvents | where ProcessCommandLine matches regex {literal} | count"),
            format!("CloudAuditEvents | where RawEventData[{literal}] == {literal}"),
            format!("CloudProcessEvents | where ProcessName in ({literal}, \"x\") | project A = strcat(ProcessName, {literal})"),
            format!("let v = {literal}; CloudProcessEvents | where FolderPath startswith v"),
        ] {
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                if let Ok(compiled) = compile(&query, &common::schema(), dialect, 0, &Limits::default()) {
                    // ("?1" is also the text of the first placeholder.)
                    assert!(*hostile == "?1" || !compiled.sql.contains(hostile), "literal leaked into SQL: {}", compiled.sql);
                    assert!(!compiled.sql.contains("DROP"), "{}", compiled.sql);
                }
            }
            match run_sqlite(&fixture.conn, &query, &common::schema(), common::NOW_NS, &Limits::default()) {
                Ok(result) => {
                    // Data, and never a row that only an altered WHERE would let through.
                    if query.contains("==") && !query.contains("RawEventData") {
                        assert!(result.rows.is_empty(), "{query}");
                    }
                }
                Err(kdr_kql::RunError::Query(_)) => {}
                Err(other) => panic!("{query}: {other}"),
            }
        }
    }
    assert_eq!(table_counts(&fixture), before);
}

#[test]
fn hostile_identifiers_are_errors() {
    let fixture = Fixture::new();
    let before = table_counts(&fixture);
    for query in [
        "CloudProcessEvents\"; DROP TABLE CloudProcessEvents; -- | take 1",
        "CloudProcessEvents | project [\"x\"] = 1",
        "CloudProcessEvents | extend x = 1; DROP TABLE CloudProcessEvents",
        "CloudProcessEvents | where ProcessName == 'a' -- comment",
        "CloudProcessEvents | project `ProcessName`",
        "CloudProcessEvents | project ProcessName /* x */",
        "CloudProcessEvents | summarize count() by ['a\"b']",
        "CloudProcessEvents; DROP TABLE CloudProcessEvents",
        "sqlite_master | take 1",
        "CloudProcessEvents | join (sqlite_master) on name",
    ] {
        let outcome = run_sqlite(
            &fixture.conn,
            query,
            &common::schema(),
            common::NOW_NS,
            &Limits::default(),
        );
        assert!(
            matches!(outcome, Err(kdr_kql::RunError::Query(_))),
            "{query}: {outcome:?}"
        );
    }
    assert_eq!(table_counts(&fixture), before);
}

#[test]
fn a_quoted_name_is_a_string_value() {
    let fixture = Fixture::new();
    let result = fixture.sqlite("CloudProcessEvents | project \"ProcessName\" | take 1");
    assert_eq!(result.rows, vec![vec![serde_json::json!("ProcessName")]]);
}

#[test]
fn quoted_names_inside_dynamic_paths_are_data() {
    let fixture = Fixture::new();
    // A property name with a quote cannot be expressed as an SQLite JSON path: an error.
    let outcome = run_sqlite(
        &fixture.conn,
        r#"CloudAuditEvents | where RawEventData["a\"b"] == "x""#,
        &common::schema(),
        common::NOW_NS,
        &Limits::default(),
    );
    assert!(matches!(outcome, Err(kdr_kql::RunError::Query(_))));
    // Other punctuation is just a key that matches nothing.
    let result =
        fixture.sqlite(r#"CloudAuditEvents | where RawEventData["x'); DROP TABLE t; --"] == "x""#);
    assert!(result.rows.is_empty());
}
