//! The same queries compiled for PostgreSQL, run on a real server and compared with the
//! reference evaluator. Skipped (with a message) unless KDR_TEST_POSTGRES_URL is set; start a
//! throwaway server with `scripts/test-postgres-up`.

mod common;

use common::queries::{ORDERED, UNORDERED};
use common::{normalize, Fixture};
use kdr_kql::time::{format_datetime, format_timespan};
use kdr_kql::{compile, ColumnType, Dialect, Limits, SqlValue};
use postgres::types::ToSql;
use postgres::{Client, NoTls};
use serde_json::Value as Json;

fn connect(test: &str) -> Option<Client> {
    let Ok(url) = std::env::var("KDR_TEST_POSTGRES_URL") else {
        eprintln!("skipping PostgreSQL tests: KDR_TEST_POSTGRES_URL is not set (see scripts/test-postgres-up)");
        return None;
    };
    let mut client = Client::connect(&url, NoTls).expect("connect to KDR_TEST_POSTGRES_URL");
    // A schema per test and process, so parallel runs do not see each other's rows.
    let schema_name = format!("kql_test_{}_{test}", std::process::id());
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema_name} CASCADE; CREATE SCHEMA {schema_name}; SET search_path TO {schema_name}"))
        .unwrap();
    Some(client)
}

fn load(client: &mut Client, data: &common::Dataset) {
    let schema = common::schema();
    for ddl in schema.postgres_ddl() {
        client.batch_execute(&ddl).unwrap();
    }
    for (table, rows) in [
        (&schema.tables[0], &data.process),
        (&schema.tables[1], &data.audit),
    ] {
        let placeholders: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("${}::{}", i + 1, c.ty.postgres_type()))
            .collect();
        let sql = format!(
            "INSERT INTO \"{}\" VALUES ({})",
            table.name,
            placeholders.join(", ")
        );
        for row in rows {
            let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::new();
            for (value, column) in row.iter().zip(&table.columns) {
                params.push(match column.ty {
                    ColumnType::Dynamic => Box::new(if value.is_null() {
                        None
                    } else {
                        Some(value.clone())
                    }),
                    ColumnType::String => Box::new(value.as_str().map(str::to_string)),
                    ColumnType::Bool => Box::new(value.as_bool()),
                    ColumnType::Real => Box::new(value.as_f64()),
                    _ => Box::new(value.as_i64()),
                });
            }
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
            client.execute(&sql, &refs).unwrap();
        }
    }
}

fn run(client: &mut Client, query: &str) -> Result<(Vec<String>, Vec<Vec<Json>>), String> {
    let compiled = compile(
        query,
        &common::schema(),
        Dialect::Postgres,
        common::NOW_NS,
        &Limits::default(),
    )
    .map_err(|e| e.to_string())?;
    let params: Vec<Box<dyn ToSql + Sync>> = compiled
        .params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync> {
            match p {
                SqlValue::Integer(n) => Box::new(*n),
                SqlValue::Real(r) => Box::new(*r),
                SqlValue::Text(s) => Box::new(s.clone()),
                SqlValue::Bool(b) => Box::new(*b),
            }
        })
        .collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
    let rows = client
        .query(&compiled.sql, &refs)
        .map_err(|e| format!("{e:?}\nSQL: {}", compiled.sql))?;
    let mut out = Vec::new();
    for row in rows {
        let mut values = Vec::new();
        for (i, column) in compiled.columns.iter().enumerate() {
            values.push(match column.ty {
                ColumnType::String => {
                    Json::String(row.get::<_, Option<String>>(i).unwrap_or_default())
                }
                ColumnType::Long => row.get::<_, Option<i64>>(i).map_or(Json::Null, Json::from),
                ColumnType::Real => row
                    .get::<_, Option<f64>>(i)
                    .map_or(Json::Null, kdr_kql::real_to_json),
                ColumnType::Bool => row.get::<_, Option<bool>>(i).map_or(Json::Null, Json::Bool),
                ColumnType::DateTime => row
                    .get::<_, Option<i64>>(i)
                    .map_or(Json::Null, |n| Json::String(format_datetime(n))),
                ColumnType::Timespan => row
                    .get::<_, Option<i64>>(i)
                    .map_or(Json::Null, |n| Json::String(format_timespan(n))),
                ColumnType::Dynamic => row.get::<_, Option<Json>>(i).unwrap_or(Json::Null),
            });
        }
        out.push(values);
    }
    Ok((
        compiled.columns.iter().map(|c| c.name.clone()).collect(),
        out,
    ))
}

#[test]
fn postgres_matches_the_reference() {
    let Some(mut client) = connect("reference") else {
        return;
    };
    let fixture = Fixture::new();
    load(&mut client, &fixture.data);
    let mut failures = Vec::new();
    for (query, ordered) in UNORDERED
        .iter()
        .map(|q| (q, false))
        .chain(ORDERED.iter().map(|q| (q, true)))
    {
        let (query, expected_rows) = query;
        let (columns, rows) = match run(&mut client, query) {
            Ok(result) => result,
            Err(problem) => {
                failures.push(format!("{query}\n  failed: {problem}"));
                continue;
            }
        };
        let (ref_columns, ref_rows) = fixture.reference(query);
        if columns != ref_columns {
            failures.push(format!("{query}\n  columns {columns:?} vs {ref_columns:?}"));
            continue;
        }
        let left = normalize(&columns, &rows, ordered);
        let right = normalize(&ref_columns, &ref_rows, ordered);
        if left != right || rows.len() != *expected_rows {
            failures.push(format!(
                "{query}\n  postgres: {left:?}\n  reference: {right:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries differ:\n{}",
        failures.len(),
        UNORDERED.len() + ORDERED.len(),
        failures.join("\n")
    );
}

#[test]
fn postgres_injection_leaves_tables_unchanged() {
    let Some(mut client) = connect("injection") else {
        return;
    };
    let fixture = Fixture::new();
    load(&mut client, &fixture.data);
    for hostile in [
        "'; DROP TABLE \"CloudProcessEvents\"; --",
        "x' OR '1'='1",
        "\\'; --",
    ] {
        let literal = serde_json::to_string(hostile).unwrap();
        let query = format!("CloudProcessEvents | where ProcessCommandLine == {literal} or ProcessCommandLine has {literal} | count");
        let (_, rows) = run(&mut client, &query).unwrap();
        assert_eq!(rows[0][0], Json::from(0));
    }
    let count: i64 = client
        .query_one("SELECT COUNT(*) FROM \"CloudProcessEvents\"", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, fixture.data.process.len() as i64);
}
