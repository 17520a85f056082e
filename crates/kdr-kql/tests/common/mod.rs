#![allow(dead_code)]

pub mod data;
pub mod queries;
pub mod reference;

use kdr_kql::{parse, run_sqlite, Limits, ResultSet};
use serde_json::Value as Json;

pub use data::{dataset, schema, sqlite_db, Dataset, NOW_NS};

/// Numbers are compared with 6 decimals (sums of reals may differ in the last bits); arrays
/// of `set_*` columns are compared as sets.
pub fn normalize(columns: &[String], rows: &[Vec<Json>], ordered: bool) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(columns)
                .map(|(value, name)| {
                    let mut value = normalize_value(value);
                    if name.starts_with("set_") {
                        if let Json::Array(items) = &mut value {
                            items.sort_by_key(|item| item.to_string());
                        }
                    }
                    value.to_string()
                })
                .collect()
        })
        .collect();
    if !ordered {
        out.sort();
    }
    out
}

fn normalize_value(value: &Json) -> Json {
    match value {
        Json::Number(n) => Json::String(format!("{:.6}", n.as_f64().unwrap_or(0.0))),
        Json::Array(items) => Json::Array(items.iter().map(normalize_value).collect()),
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalize_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub struct Fixture {
    pub data: Dataset,
    pub conn: rusqlite::Connection,
}

impl Fixture {
    pub fn new() -> Fixture {
        let data = dataset();
        let conn = sqlite_db(&data);
        Fixture { data, conn }
    }

    pub fn sqlite(&self, query: &str) -> ResultSet {
        match run_sqlite(&self.conn, query, &schema(), NOW_NS, &Limits::default()) {
            Ok(result) => result,
            Err(problem) => panic!(
                "query failed: {query}\n{problem}\nSQL: {:?}",
                kdr_kql::compile(
                    query,
                    &schema(),
                    kdr_kql::Dialect::Sqlite,
                    NOW_NS,
                    &Limits::default()
                )
                .map(|c| c.sql)
            ),
        }
    }

    pub fn reference(&self, query: &str) -> (Vec<String>, Vec<Vec<Json>>) {
        let parsed = parse(query).expect("parse");
        let schema = schema();
        let mut reference = reference::Reference::new(&schema, &self.data, NOW_NS);
        let table = reference
            .run(&parsed)
            .unwrap_or_else(|e| panic!("reference failed on {query}: {e}"));
        (
            table.columns.iter().map(|(n, _)| n.clone()).collect(),
            table
                .rows
                .iter()
                .map(|r| r.iter().map(reference::to_json).collect())
                .collect(),
        )
    }

    /// Runs `query` on SQLite and on the reference evaluator and asserts the same columns and
    /// rows (in order when `ordered`). Returns the number of rows.
    pub fn check(&self, query: &str, ordered: bool) -> usize {
        let sql = self.sqlite(query);
        let sql_columns: Vec<String> = sql.columns.iter().map(|c| c.name.clone()).collect();
        let (ref_columns, ref_rows) = self.reference(query);
        assert_eq!(sql_columns, ref_columns, "columns differ for {query}");
        let left = normalize(&sql_columns, &sql.rows, ordered);
        let right = normalize(&ref_columns, &ref_rows, ordered);
        assert_eq!(left, right, "rows differ for {query}");
        assert!(!sql.truncated);
        sql.rows.len()
    }
}
