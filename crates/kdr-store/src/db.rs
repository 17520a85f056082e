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

    pub fn opt_int(value: Option<i64>) -> Value<'a> {
        value.map_or(Value::Null, Value::Int)
    }
}

/// Rows of one table to insert, all of one width, stored flat with their text in one buffer:
/// building them allocates next to nothing, and inserting them reads memory in order (text
/// scattered over the events' own allocations made SQLite's copy of each value a cache miss).
#[derive(Debug)]
pub struct RowBuffer {
    width: usize,
    fields: Vec<Field>,
    text: String,
    /// Reused for JSON, which serializes to bytes.
    json: Vec<u8>,
}

#[derive(Clone, Copy, Debug)]
enum Field {
    Null,
    Int(i64),
    Bool(bool),
    /// A byte range of `RowBuffer::text`.
    Text(usize, usize),
}

impl RowBuffer {
    /// An empty buffer for rows of `width` values (at least 1).
    pub fn new(width: usize) -> RowBuffer {
        RowBuffer {
            width: width.max(1),
            fields: Vec::new(),
            text: String::new(),
            json: Vec::new(),
        }
    }

    /// Whole rows in the buffer.
    pub fn len(&self) -> usize {
        self.fields.len() / self.width
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Values pushed so far, including those of an unfinished row.
    pub fn value_count(&self) -> usize {
        self.fields.len()
    }

    pub fn push_null(&mut self) {
        self.fields.push(Field::Null);
    }

    pub fn push_int(&mut self, value: i64) {
        self.fields.push(Field::Int(value));
    }

    pub fn push_bool(&mut self, value: bool) {
        self.fields.push(Field::Bool(value));
    }

    pub fn push_text(&mut self, text: &str) {
        self.push_text_with(|buffer| buffer.push_str(text));
    }

    /// Pushes one text value that `write` appends piece by piece.
    pub fn push_text_with(&mut self, write: impl FnOnce(&mut String)) {
        let start = self.text.len();
        write(&mut self.text);
        self.fields.push(Field::Text(start, self.text.len()));
    }

    /// Pushes `value` serialized as JSON text. The shapes the store serializes always
    /// serialize; should one fail, the value is `{}` rather than half an object.
    pub fn push_json<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        self.json.clear();
        let json = match serde_json::to_writer(&mut self.json, value) {
            Ok(()) => std::str::from_utf8(&self.json).unwrap_or("{}"),
            Err(_) => "{}",
        };
        let start = self.text.len();
        self.text.push_str(json);
        self.fields.push(Field::Text(start, self.text.len()));
    }

    /// The values of row `index` (`index < len()`), in column order.
    pub fn row(&self, index: usize) -> impl Iterator<Item = Value<'_>> + '_ {
        let start = (index * self.width).min(self.fields.len());
        let end = (start + self.width).min(self.fields.len());
        self.fields[start..end].iter().map(|field| match *field {
            Field::Null => Value::Null,
            Field::Int(value) => Value::Int(value),
            Field::Bool(value) => Value::Bool(value),
            Field::Text(from, to) => Value::text(self.text.get(from..to).unwrap_or_default()),
        })
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
    /// Runs one statement once per row of `rows` (prepared once); returns the rows changed.
    /// On error, `Err((index of the failing row, error))`.
    fn execute_many(&mut self, sql: &str, rows: &RowBuffer) -> Result<u64, (usize, StoreError)>;
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
