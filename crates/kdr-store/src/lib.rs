//! kdr's durable store: alerts with their triage state, incidents with their entity graphs,
//! and the hunting tables (`CloudProcessEvents`, `CloudRuntimeEvents`, `CloudAuditEvents`)
//! that KQL queries read.
//!
//! Two backends behind one [`Store`]: an embedded SQLite file in a data directory (one machine
//! or one cluster), and PostgreSQL (many clusters, several kdr replicas writing at once).
//! [`Store::open`] picks by location: a `postgres://` or `postgresql://` URL, or a directory.
//!
//! docs/store.md describes the schema, the storage conventions, durability and retention.

mod api;
mod console;
pub mod db;
mod error;
pub mod postgres;
mod rows;
pub mod schema;
pub mod sqlite;
mod store;
pub mod synthetic;

pub use api::*;
pub use console::*;
pub use error::StoreError;
pub use kdr_incidents::{CorrelationRules, Graph, Status};
pub use rows::command_line;
pub use store::{Backend, Store, StoreOptions};
