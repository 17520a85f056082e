//! kdr's hunting engine: a subset of KQL (Kusto Query Language) over the tables
//! `CloudProcessEvents` and `CloudAuditEvents`, compiled to parameterized SQL for SQLite and
//! PostgreSQL. See docs/hunting.md for the language subset and the storage contract.
//!
//! ```
//! use kdr_kql::{compile, Dialect, Limits, Schema};
//! let compiled = compile(
//!     r#"CloudProcessEvents | where ProcessCommandLine has "curl" | summarize count() by ContainerImageName"#,
//!     &Schema::hunting(),
//!     Dialect::Sqlite,
//!     0,
//!     &Limits::default(),
//! )
//! .unwrap();
//! assert_eq!(compiled.columns[1].name, "count_");
//! ```

pub mod ast;
mod compile;
mod error;
mod export;
mod json_path;
mod lexer;
mod parser;
pub mod schema;
mod sqlite;
pub mod time;

pub use compile::{
    compile, compile_query, inferred_name, CompiledQuery, Dialect, Limits, SqlValue,
};
pub use error::{ErrorKind, KqlError, Pos};
pub use export::cell_text;
pub use parser::parse;
pub use schema::{Column, ColumnType, Schema, Table};
pub use sqlite::{
    has_term, real_to_json, register_sqlite_functions, run_compiled_sqlite, run_sqlite,
    sqlite_to_json, ResultSet, RunError,
};
