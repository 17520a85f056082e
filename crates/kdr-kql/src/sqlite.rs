//! Running compiled queries on SQLite: kdr's SQL functions and a runner that enforces the
//! row and time limits.

use std::time::Instant;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value as SqliteValue, ValueRef};
use rusqlite::Connection;
use serde_json::Value as Json;

use crate::compile::{compile, CompiledQuery, Dialect, Limits, SqlValue};
use crate::error::KqlError;
use crate::json_path::{parse_path, to_string_at, PathStep};
use crate::schema::{Column, ColumnType, Schema};
use crate::time::{format_datetime, format_timespan};

/// Query results with KQL-typed columns. Values are JSON: strings, numbers, booleans,
/// datetimes as ISO 8601 strings, timespans as `[d.]hh:mm:ss[.fffffff]`, dynamic as JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Json>>,
    /// More rows matched than `Limits::max_rows`; `rows` holds the first ones.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Query(#[from] KqlError),
    #[error("the query ran longer than its time limit of {0:?}")]
    Timeout(std::time::Duration),
    #[error("the database failed to run the query: {0}")]
    Database(#[from] rusqlite::Error),
}

/// Registers the functions compiled SQLite queries call: `kql_has(text, term)`,
/// `kql_regex(text, pattern)`, `kql_lower`, `kql_upper` (Unicode-aware, unlike SQLite's
/// ASCII-only `lower`), `kql_tolong` and `kql_json_string(json, path)` (`tostring()` of a
/// dynamic value in one pass over its text, see json_path.rs). Call once per connection before running queries.
pub fn register_sqlite_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("kql_has", 2, flags, |ctx| {
        let (Some(text), Some(term)) = (optional_text(ctx, 0)?, optional_text(ctx, 1)?) else {
            return Ok(None);
        };
        Ok(Some(i64::from(has_term(&text, &term))))
    })?;
    conn.create_scalar_function("kql_regex", 2, flags, |ctx| {
        let Some(text) = optional_text(ctx, 0)? else {
            return Ok(None);
        };
        let pattern = ctx.get_or_create_aux(
            1,
            |value| -> Result<regex::Regex, Box<dyn std::error::Error + Send + Sync>> {
                let pattern = value.as_str()?;
                Ok(regex::Regex::new(pattern)?)
            },
        )?;
        Ok(Some(i64::from(pattern.is_match(&text))))
    })?;
    conn.create_scalar_function("kql_lower", 1, flags, |ctx| {
        Ok(optional_text(ctx, 0)?.map(|text| text.to_lowercase()))
    })?;
    conn.create_scalar_function("kql_upper", 1, flags, |ctx| {
        Ok(optional_text(ctx, 0)?.map(|text| text.to_uppercase()))
    })?;
    conn.create_scalar_function("kql_json_string", 2, flags, |ctx| {
        let path = ctx.get_or_create_aux(
            1,
            |value| -> Result<Vec<PathStep>, Box<dyn std::error::Error + Send + Sync>> {
                Ok(parse_path(value.as_str()?)?)
            },
        )?;
        match ctx.get_raw(0) {
            ValueRef::Null => Ok(String::new()),
            ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                .map_err(|e| e.to_string())
                .and_then(|json| to_string_at(json, &path))
                .map_err(|message| rusqlite::Error::UserFunctionError(message.into())),
            _ => Err(rusqlite::Error::UserFunctionError(
                "kql_json_string: expected JSON text".into(),
            )),
        }
    })?;
    conn.create_scalar_function("kql_tolong", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Integer(n) => Some(n),
            ValueRef::Real(r) if r.is_finite() && r.abs() < 9.2e18 => Some(r.trunc() as i64),
            ValueRef::Text(bytes) => std::str::from_utf8(bytes).ok().and_then(parse_long),
            _ => None,
        })
    })?;
    Ok(())
}

fn optional_text(ctx: &Context<'_>, index: usize) -> rusqlite::Result<Option<String>> {
    Ok(match ctx.get_raw(index) {
        ValueRef::Null => None,
        ValueRef::Text(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(r) => Some(r.to_string()),
        ValueRef::Blob(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
    })
}

/// KQL `has`: `term` occurs in `text`, case-insensitively, with no ASCII letter or digit
/// immediately before or after it.
pub fn has_term(text: &str, term: &str) -> bool {
    if term.is_empty() {
        return true;
    }
    let text = text.to_lowercase();
    let term = term.to_lowercase();
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(offset) = text[start..].find(&term) {
        let found = start + offset;
        let end = found + term.len();
        let boundary_before = found == 0 || !bytes[found - 1].is_ascii_alphanumeric();
        let boundary_after = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
        if boundary_before && boundary_after {
            return true;
        }
        // Continue after the first character of this occurrence.
        start = found + text[found..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// `tolong()` of a string: optional spaces and sign, then 1 to 18 digits.
fn parse_long(text: &str) -> Option<i64> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    trimmed.trim_start_matches('+').parse().ok()
}

/// Compiles `query` for SQLite and runs it with `limits`: at most `max_rows` rows, and the
/// statement is interrupted once it runs longer than `timeout`.
pub fn run_sqlite(
    conn: &Connection,
    query: &str,
    schema: &Schema,
    now_ns: i64,
    limits: &Limits,
) -> Result<ResultSet, RunError> {
    let compiled = compile(query, schema, Dialect::Sqlite, now_ns, limits)?;
    run_compiled_sqlite(conn, &compiled)
}

/// Runs an already compiled SQLite query, enforcing its limits.
pub fn run_compiled_sqlite(
    conn: &Connection,
    compiled: &CompiledQuery,
) -> Result<ResultSet, RunError> {
    register_sqlite_functions(conn)?;
    let deadline = Instant::now() + compiled.timeout;
    // Checked every 10k virtual-machine steps: cheap, and fine-grained enough for a deadline.
    conn.progress_handler(10_000, Some(move || Instant::now() > deadline));
    let result = collect_rows(conn, compiled);
    conn.progress_handler(0, None::<fn() -> bool>);
    match result {
        Err(rusqlite::Error::SqliteFailure(failure, _))
            if failure.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            Err(RunError::Timeout(compiled.timeout))
        }
        other => other.map_err(RunError::Database),
    }
}

fn collect_rows(conn: &Connection, compiled: &CompiledQuery) -> rusqlite::Result<ResultSet> {
    let mut statement = conn.prepare(&compiled.sql)?;
    let params: Vec<SqliteValue> = compiled
        .params
        .iter()
        .map(|value| match value {
            SqlValue::Integer(n) => SqliteValue::Integer(*n),
            SqlValue::Real(r) => SqliteValue::Real(*r),
            SqlValue::Text(s) => SqliteValue::Text(s.clone()),
            SqlValue::Bool(b) => SqliteValue::Integer(i64::from(*b)),
        })
        .collect();
    let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
    let mut output = Vec::new();
    let mut truncated = false;
    while let Some(row) = rows.next()? {
        if output.len() == compiled.max_rows {
            truncated = true;
            break;
        }
        let mut values = Vec::with_capacity(compiled.columns.len());
        for (index, column) in compiled.columns.iter().enumerate() {
            values.push(sqlite_to_json(row.get_ref(index)?, column.ty));
        }
        output.push(values);
    }
    Ok(ResultSet {
        columns: compiled.columns.clone(),
        rows: output,
        truncated,
    })
}

/// Converts a stored SQLite value to its JSON form for a column of type `ty`.
pub fn sqlite_to_json(value: ValueRef<'_>, ty: ColumnType) -> Json {
    match (value, ty) {
        (ValueRef::Null, ColumnType::String) => Json::String(String::new()),
        (ValueRef::Null, _) => Json::Null,
        (ValueRef::Integer(n), ColumnType::Bool) => Json::Bool(n != 0),
        (ValueRef::Integer(n), ColumnType::DateTime) => Json::String(format_datetime(n)),
        (ValueRef::Integer(n), ColumnType::Timespan) => Json::String(format_timespan(n)),
        (ValueRef::Integer(n), ColumnType::Real) => real_to_json(n as f64),
        (ValueRef::Integer(n), ColumnType::String) => Json::String(n.to_string()),
        (ValueRef::Integer(n), _) => Json::from(n),
        (ValueRef::Real(r), ColumnType::Long) if r.fract() == 0.0 && r.abs() < 9.2e18 => {
            Json::from(r as i64)
        }
        (ValueRef::Real(r), ColumnType::String) => Json::String(r.to_string()),
        (ValueRef::Real(r), _) => real_to_json(r),
        (ValueRef::Text(bytes), ColumnType::Dynamic) => {
            let text = String::from_utf8_lossy(bytes);
            serde_json::from_str(&text).unwrap_or(Json::String(text.into_owned()))
        }
        (ValueRef::Text(bytes), _) | (ValueRef::Blob(bytes), _) => {
            Json::String(String::from_utf8_lossy(bytes).into_owned())
        }
    }
}

/// Reals as JSON numbers; NaN and infinities (not JSON) as null.
pub fn real_to_json(value: f64) -> Json {
    serde_json::Number::from_f64(value)
        .map(Json::Number)
        .unwrap_or(Json::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_matches_whole_terms() {
        assert!(has_term("curl -s http://x", "curl"));
        assert!(has_term("/usr/bin/CURL", "curl"));
        assert!(!has_term("libcurl.so", "curl"));
        assert!(has_term("a libcurl curl", "curl"));
        assert!(has_term("kube-system", "kube-system"));
        assert!(!has_term("kube-systems", "kube-system"));
        assert!(has_term("x", ""));
    }

    #[test]
    fn parses_longs() {
        assert_eq!(parse_long(" 42 "), Some(42));
        assert_eq!(parse_long("+7"), Some(7));
        assert_eq!(parse_long("-7"), Some(-7));
        assert_eq!(parse_long("1.5"), None);
        assert_eq!(parse_long(""), None);
        assert_eq!(parse_long("-"), None);
    }
}
