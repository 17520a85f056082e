//! The little the store needs from a SQL database, over SQLite and PostgreSQL alike.
//!
//! Store logic is written once, as SQL that both databases accept (`INSERT ... ON CONFLICT`,
//! `$1` parameters), and runs through [`Db`]/[`Tx`]. What differs (DDL, JSON casts, locks)
//! is asked of the [`Dialect`].

use std::borrow::Cow;

use crate::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Rewrites portable SQL for this database. Portable SQL numbers its parameters `$1`,
    /// `$2`... and marks JSONB values `$n::jsonb`. PostgreSQL gets them as text and casts
    /// (`$n::text::jsonb`: a parameter typed jsonb would want binary jsonb from the client);
    /// SQLite numbers them `?1`, `?2` and keeps JSON as text.
    pub fn sql(self, portable: &str) -> String {
        match self {
            Dialect::Postgres => portable.replace("::jsonb", "::text::jsonb"),
            Dialect::Sqlite => {
                let without_casts = portable.replace("::jsonb", "");
                let mut out = String::with_capacity(without_casts.len());
                let mut chars = without_casts.chars().peekable();
                while let Some(c) = chars.next() {
                    if c == '$' && chars.peek().is_some_and(|next| next.is_ascii_digit()) {
                        out.push('?');
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

/// A parameter value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Bool(bool),
    Text(Cow<'a, str>),
}

impl<'a> Value<'a> {
    pub fn text(text: &'a str) -> Value<'a> {
        Value::Text(Cow::Borrowed(text))
    }

    pub fn owned(text: String) -> Value<'static> {
        Value::Text(Cow::Owned(text))
    }

    pub fn opt_text(text: Option<&'a str>) -> Value<'a> {
        text.map_or(Value::Null, Value::text)
    }

    /// Empty strings are stored as NULL: "the source did not say" reads the same everywhere.
    pub fn non_empty(text: &'a str) -> Value<'a> {
        if text.is_empty() {
            Value::Null
        } else {
            Value::text(text)
        }
    }

    pub fn opt_int(value: Option<i64>) -> Value<'a> {
        value.map_or(Value::Null, Value::Int)
    }
}

/// A value read back.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    pub fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(value) => Some(*value),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(text) => Some(text),
            _ => None,
        }
    }

    pub fn into_text(self) -> Option<String> {
        match self {
            Cell::Text(text) => Some(text),
            _ => None,
        }
    }
}

pub type Row = Vec<Cell>;

/// A connection.
pub trait Db: Send {
    fn dialect(&self) -> Dialect;
    /// Starts a transaction that takes the write lock at once (SQLite `BEGIN IMMEDIATE`), so
    /// a transaction never fails half-way for want of it.
    fn transaction(&mut self) -> Result<Box<dyn Tx + '_>, StoreError>;
    /// Runs a compiled hunting query within its row and time limits.
    fn hunt(&mut self, query: &kdr_kql::CompiledQuery) -> Result<kdr_kql::ResultSet, StoreError>;
}

/// An open transaction; dropped without [`Tx::commit`], it rolls back.
pub trait Tx {
    /// Runs one statement (dialect SQL) and returns the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64, StoreError>;
    /// Runs one statement once per parameter row (prepared once); returns the rows changed.
    /// On error, `Err((index of the failing row, error))`.
    fn execute_many(
        &mut self,
        sql: &str,
        rows: &[Vec<Value<'_>>],
    ) -> Result<u64, (usize, StoreError)>;
    fn query(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Row>, StoreError>;
    /// Runs several statements without parameters (migrations).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// The first line of a statement, for error messages.
pub fn statement_head(sql: &str) -> String {
    let flat: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(80).collect()
}
