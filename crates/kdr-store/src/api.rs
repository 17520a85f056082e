//! What the store's queries take and give back.

use serde::{Deserialize, Serialize};

use kdr_incidents::Status;
use kdr_model::{Alert, Nanos, Plane, Severity, Tactic, Timestamp};

/// An alert as stored: the alert itself plus its triage state.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredAlert {
    /// Derived from `dedupKey` and `timeGenerated` (see `kdr_incidents::alert_id`).
    pub id: String,
    #[serde(flatten)]
    pub alert: Alert,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// False while the engine's throttle window is open (more repeats may fold in).
    pub closed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    /// Wall-clock times of the first store and the last change.
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Which alerts to list. Empty lists and `None` mean "any".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertFilter {
    pub severities: Vec<Severity>,
    pub statuses: Vec<Status>,
    pub alert_types: Vec<String>,
    pub planes: Vec<Plane>,
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    /// Alerts whose event-time span overlaps `[from, to)`.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Case-insensitive substring of the type, name, reason, dedup key or any entity.
    pub text: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlertSortField {
    /// Event time of the first detection.
    #[default]
    Time,
    Severity,
    AlertType,
    Status,
    Count,
    /// Wall-clock time of the last change.
    Updated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertSort {
    pub field: AlertSortField,
    pub descending: bool,
}

impl Default for AlertSort {
    /// Newest first.
    fn default() -> Self {
        AlertSort {
            field: AlertSortField::Time,
            descending: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub offset: u64,
    /// At most [`Page::MAX_LIMIT`].
    pub limit: u64,
}

impl Page {
    pub const MAX_LIMIT: u64 = 1000;

    pub fn first(limit: u64) -> Page {
        Page { offset: 0, limit }
    }
}

impl Default for Page {
    fn default() -> Self {
        Page::first(50)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertPage {
    /// How many alerts match the filter in all.
    pub total: u64,
    pub alerts: Vec<StoredAlert>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub author: String,
    pub text: String,
    pub created_at: Timestamp,
}

/// One triage change: a status change, or an assignment (then `from == to`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    pub actor: String,
    pub changed_at: Timestamp,
    pub from: Status,
    pub to: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredIncident {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    pub first_time: Timestamp,
    pub last_time: Timestamp,
    pub tactics: Vec<Tactic>,
    pub alert_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncidentFilter {
    pub severities: Vec<Severity>,
    pub statuses: Vec<Status>,
    pub cluster: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Case-insensitive substring of the title.
    pub text: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentPage {
    pub total: u64,
    pub incidents: Vec<StoredIncident>,
}

/// What one `ingest` call did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    pub hunting_rows: u64,
    pub alerts_inserted: u64,
    pub alerts_updated: u64,
    /// Alert events that changed nothing (a replay, or a second replica's copy).
    pub alerts_unchanged: u64,
    /// Transactions run again after a conflict with another writer.
    pub retries: u64,
}

/// How much hunting data to keep. Alerts, incidents and triage are never deleted by it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicy {
    /// Delete hunting rows older than this (event time, relative to the `now` given).
    pub max_age: Option<Nanos>,
    /// Keep at most this many rows in each hunting table (the newest).
    pub max_rows_per_table: Option<u64>,
    /// Keep the hunting tables under this many bytes in all (SQLite: used pages; PostgreSQL:
    /// relation sizes), deleting the oldest rows of each table in proportion.
    pub max_bytes: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionReport {
    /// (table, rows deleted)
    pub deleted: Vec<(String, u64)>,
}

impl RetentionReport {
    pub fn total(&self) -> u64 {
        self.deleted.iter().map(|(_, n)| n).sum()
    }
}
