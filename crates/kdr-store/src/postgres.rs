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

use crate::db::{statement_head, Cell, Db, Dialect, Row, Tx, Value};
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

    fn execute_many(
        &mut self,
        sql: &str,
        rows: &[Vec<Value<'_>>],
    ) -> Result<u64, (usize, StoreError)> {
        let statement = self.statement(sql).map_err(|e| (0, e))?;
        let mut changed = 0;
        for (index, row) in rows.iter().enumerate() {
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
