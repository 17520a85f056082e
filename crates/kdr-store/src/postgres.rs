//! The shared backend: PostgreSQL, for many clusters and several kdr replicas writing at once.
//!
//! Correctness between replicas rests on the database: unique keys with `INSERT ... ON
//! CONFLICT`, and a transaction-scoped advisory lock around alert and incident updates (see
//! `store.rs`), so two replicas never interleave the read-then-write steps of correlation.

use std::collections::HashMap;
use std::error::Error as _;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};

use crate::db::{statement_head, Cell, Db, Dialect, Row, RowBuffer, Tx, Value};
use crate::StoreError;

pub struct PostgresDb {
    client: Client,
    /// Statements prepared on this connection, by SQL text: preparing costs a round trip.
    statements: HashMap<String, Statement>,
}

impl PostgresDb {
    /// Connects to `postgres://user:password@host:port/database`.
    pub fn connect(url: &str) -> Result<PostgresDb, StoreError> {
        let client = Client::connect(url, NoTls).map_err(|error| StoreError::Open {
            location: redact(url),
            message: full_message(&error),
        })?;
        Ok(PostgresDb {
            client,
            statements: HashMap::new(),
        })
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

impl Db for PostgresDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn transaction(&mut self) -> Result<Box<dyn Tx + '_>, StoreError> {
        let tx = self
            .client
            .transaction()
            .map_err(|e| database_error(&e, "BEGIN"))?;
        Ok(Box::new(PostgresTx {
            tx,
            statements: &mut self.statements,
        }))
    }

    fn hunt(&mut self, query: &kdr_kql::CompiledQuery) -> Result<kdr_kql::ResultSet, StoreError> {
        use kdr_kql::{ColumnType, SqlValue};
        use serde_json::Value as Json;
        let mut tx = self
            .client
            .transaction()
            .map_err(|e| database_error(&e, "BEGIN"))?;
        // The time limit is the database's own: it cancels the statement server-side.
        let millis = query.timeout.as_millis().max(1);
        tx.batch_execute(&format!("SET LOCAL statement_timeout = {millis}"))
            .map_err(|e| database_error(&e, "SET LOCAL statement_timeout"))?;
        let params: Vec<Box<dyn ToSql + Sync>> = query
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
        let rows = tx.query(query.sql.as_str(), &refs).map_err(|e| {
            if e.code() == Some(&postgres::error::SqlState::QUERY_CANCELED) {
                StoreError::Hunt(kdr_kql::RunError::Timeout(query.timeout))
            } else {
                database_error(&e, &query.sql)
            }
        })?;
        let mut out = Vec::with_capacity(rows.len().min(query.max_rows));
        for row in rows.iter().take(query.max_rows) {
            let mut values = Vec::with_capacity(query.columns.len());
            for (i, column) in query.columns.iter().enumerate() {
                let read = |e: postgres::Error| database_error(&e, &query.sql);
                let value = match column.ty {
                    ColumnType::String => Json::String(
                        row.try_get::<_, Option<String>>(i)
                            .map_err(read)?
                            .unwrap_or_default(),
                    ),
                    ColumnType::Long | ColumnType::DateTime | ColumnType::Timespan => row
                        .try_get::<_, Option<i64>>(i)
                        .map_err(read)?
                        .map_or(Json::Null, Json::from),
                    ColumnType::Real => row
                        .try_get::<_, Option<f64>>(i)
                        .map_err(read)?
                        .map_or(Json::Null, Json::from),
                    ColumnType::Bool => row
                        .try_get::<_, Option<bool>>(i)
                        .map_err(read)?
                        .map_or(Json::Null, Json::Bool),
                    ColumnType::Dynamic => row
                        .try_get::<_, Option<Json>>(i)
                        .map_err(read)?
                        .unwrap_or(Json::Null),
                };
                values.push(value);
            }
            out.push(values);
        }
        let truncated = rows.len() > query.max_rows;
        tx.commit().map_err(|e| database_error(&e, "COMMIT"))?;
        Ok(kdr_kql::ResultSet {
            columns: query.columns.clone(),
            rows: out,
            truncated,
        })
    }
}

struct PostgresTx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
}

impl PostgresTx<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql).map_err(|e| database_error(&e, sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

impl Tx for PostgresTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64, StoreError> {
        let statement = self.statement(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.tx
            .execute(&statement, &refs)
            .map_err(|e| database_error(&e, sql))
    }

    fn execute_many(&mut self, sql: &str, rows: &RowBuffer) -> Result<u64, (usize, StoreError)> {
        let statement = self.statement(sql).map_err(|e| (0, e))?;
        let mut changed = 0;
        for index in 0..rows.len() {
            let row: Vec<Value<'_>> = rows.row(index).collect();
            let refs: Vec<&(dyn ToSql + Sync)> = row.iter().map(|p| p as _).collect();
            changed += self
                .tx
                .execute(&statement, &refs)
                .map_err(|e| (index, database_error(&e, sql)))?;
        }
        Ok(changed)
    }

    fn query(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let rows = self
            .tx
            .query(&statement, &refs)
            .map_err(|e| database_error(&e, sql))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut cells = Vec::with_capacity(row.len());
            for (index, column) in row.columns().iter().enumerate() {
                let read = |e: postgres::Error| database_error(&e, sql);
                let ty = column.type_();
                let cell = if *ty == Type::INT8 {
                    row.try_get::<_, Option<i64>>(index)
                        .map_err(read)?
                        .map_or(Cell::Null, Cell::Int)
                } else if *ty == Type::INT4 {
                    row.try_get::<_, Option<i32>>(index)
                        .map_err(read)?
                        .map_or(Cell::Null, |v| Cell::Int(i64::from(v)))
                } else if *ty == Type::INT2 {
                    row.try_get::<_, Option<i16>>(index)
                        .map_err(read)?
                        .map_or(Cell::Null, |v| Cell::Int(i64::from(v)))
                } else if *ty == Type::BOOL {
                    row.try_get::<_, Option<bool>>(index)
                        .map_err(read)?
                        .map_or(Cell::Null, |v| Cell::Int(i64::from(v)))
                } else {
                    row.try_get::<_, Option<String>>(index)
                        .map_err(read)?
                        .map_or(Cell::Null, Cell::Text)
                };
                cells.push(cell);
            }
            out.push(cells);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.tx
            .batch_execute(sql)
            .map_err(|e| database_error(&e, sql))
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().map_err(|e| database_error(&e, "COMMIT"))
    }
}

impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(value) => {
                if *ty == Type::INT4 {
                    i32::try_from(*value)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*value)?.to_sql(ty, out)
                } else {
                    value.to_sql(ty, out)
                }
            }
            Value::Bool(value) => value.to_sql(ty, out),
            Value::Text(text) => text.as_ref().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [
            Type::INT8,
            Type::INT4,
            Type::INT2,
            Type::BOOL,
            Type::TEXT,
            Type::VARCHAR,
            Type::NAME,
            Type::UNKNOWN,
        ]
        .contains(ty)
    }

    postgres::types::to_sql_checked!();
}

fn full_message(error: &postgres::Error) -> String {
    match error.source() {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

fn database_error(error: &postgres::Error, sql: &str) -> StoreError {
    let retryable = error.code().is_some_and(|code| {
        *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
    });
    let message = match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => full_message(error),
    };
    StoreError::Database {
        backend: "postgres",
        operation: String::new(),
        statement: statement_head(sql),
        message,
        retryable,
    }
}
