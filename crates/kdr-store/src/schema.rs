//! The schema and its migrations.
//!
//! Migrations are a versioned list of steps, each applied in its own transaction together with
//! its row in `schema_migrations`, so a crash leaves the schema at one version or the next and
//! never half-way. A step once released never changes: new columns or tables are new steps.
//!
//! Hunting tables follow the storage contract of docs/hunting.md (the KQL compiler relies on
//! it): one table per KQL table, exact (quoted, case-sensitive) column names, datetimes as
//! integer nanoseconds since the Unix epoch, dynamic columns as JSON text (SQLite) / jsonb
//! (PostgreSQL), bools as 0/1 (SQLite) / boolean (PostgreSQL).

use crate::db::{Db, Dialect, Value};
use crate::error::ResultExt;
use crate::StoreError;

/// The type of a hunting column, as KQL sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    DateTime,
    String,
    Long,
    Bool,
    Dynamic,
}

impl ColumnKind {
    pub fn physical(self, dialect: Dialect) -> &'static str {
        match (dialect, self) {
            (Dialect::Sqlite, ColumnKind::String | ColumnKind::Dynamic) => "TEXT",
            (Dialect::Sqlite, _) => "INTEGER",
            (Dialect::Postgres, ColumnKind::String) => "TEXT",
            (Dialect::Postgres, ColumnKind::Dynamic) => "JSONB",
            (Dialect::Postgres, ColumnKind::Bool) => "BOOLEAN",
            (Dialect::Postgres, _) => "BIGINT",
        }
    }
}

pub struct HuntingTable {
    pub name: &'static str,
    pub columns: &'static [(&'static str, ColumnKind)],
    /// Column groups that get an index (each group one index). Every index costs ingest
    /// time; these are the ones hunting queries use (time windows).
    pub indexes: &'static [&'static [&'static str]],
}

use ColumnKind::{Bool, DateTime, Dynamic, Long, String as Str};

pub const PROCESS_EVENTS: HuntingTable = HuntingTable {
    name: "CloudProcessEvents",
    columns: &[
        ("Timestamp", DateTime),
        ("ContainerImageName", Str),
        ("KubernetesNamespace", Str),
        ("KubernetesPodName", Str),
        ("KubernetesResource", Str),
        ("ContainerName", Str),
        ("ContainerId", Str),
        ("ActionType", Str),
        ("FileName", Str),
        ("FolderPath", Str),
        ("ProcessId", Long),
        ("ProcessName", Str),
        ("ParentProcessName", Str),
        ("ParentProcessId", Long),
        ("ProcessCommandLine", Str),
        ("ProcessCreationTime", DateTime),
        ("ProcessCurrentWorkingDirectory", Str),
        ("AccountName", Str),
        ("LogonId", Str),
        ("InitiatingProcessId", Long),
        ("AdditionalFields", Dynamic),
        ("NodeName", Str),
        ("ClusterName", Str),
    ],
    indexes: &[&["Timestamp"]],
};

pub const RUNTIME_EVENTS: HuntingTable = HuntingTable {
    name: "CloudRuntimeEvents",
    columns: &[
        ("Timestamp", DateTime),
        ("ActionType", Str),
        ("ContainerImageName", Str),
        ("KubernetesNamespace", Str),
        ("KubernetesPodName", Str),
        ("ContainerName", Str),
        ("ContainerId", Str),
        ("NodeName", Str),
        ("ClusterName", Str),
        ("ProcessId", Long),
        ("ProcessName", Str),
        ("ProcessCommandLine", Str),
        ("FilePath", Str),
        ("RemoteIP", Str),
        ("RemotePort", Long),
        ("AdditionalFields", Dynamic),
    ],
    indexes: &[&["Timestamp"]],
};

pub const AUDIT_EVENTS: HuntingTable = HuntingTable {
    name: "CloudAuditEvents",
    columns: &[
        ("Timestamp", DateTime),
        ("ReportId", Str),
        ("DataSource", Str),
        ("ActionType", Str),
        ("OperationName", Str),
        ("ResourceId", Str),
        ("IPAddress", Str),
        ("IsAnonymousProxy", Bool),
        ("CountryCode", Str),
        ("City", Str),
        ("Isp", Str),
        ("UserAgent", Str),
        ("RawEventData", Dynamic),
        ("AdditionalFields", Dynamic),
        ("ClusterName", Str),
        ("Namespace", Str),
        ("UserName", Str),
    ],
    indexes: &[&["Timestamp"]],
};

/// The hunting tables as the KQL compiler sees them: the one definition both share.
pub fn kql_schema() -> kdr_kql::Schema {
    use kdr_kql::ColumnType as Kql;
    kdr_kql::Schema::new(
        HUNTING_TABLES
            .iter()
            .map(|table| {
                let columns: Vec<(&str, Kql)> = table
                    .columns
                    .iter()
                    .map(|(name, kind)| {
                        let ty = match kind {
                            ColumnKind::DateTime => Kql::DateTime,
                            ColumnKind::String => Kql::String,
                            ColumnKind::Long => Kql::Long,
                            ColumnKind::Bool => Kql::Bool,
                            ColumnKind::Dynamic => Kql::Dynamic,
                        };
                        (*name, ty)
                    })
                    .collect();
                kdr_kql::Table::new(table.name, &columns).with_strings_never_null()
            })
            .collect(),
    )
}

pub const HUNTING_TABLES: [&HuntingTable; 3] = [&PROCESS_EVENTS, &RUNTIME_EVENTS, &AUDIT_EVENTS];

impl HuntingTable {
    pub fn create_sql(&self, dialect: Dialect) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|(name, kind)| format!("\"{name}\" {}", kind.physical(dialect)))
            .collect();
        let mut sql = format!(
            "CREATE TABLE \"{}\" (\n  {}\n);\n",
            self.name,
            columns.join(",\n  ")
        );
        for group in self.indexes {
            let quoted: Vec<String> = group.iter().map(|c| format!("\"{c}\"")).collect();
            sql.push_str(&format!(
                "CREATE INDEX \"ix_{}_{}\" ON \"{}\" ({});\n",
                self.name,
                group.join("_"),
                self.name,
                quoted.join(", ")
            ));
        }
        sql
    }

    /// `INSERT INTO "T" ("A", ...) VALUES ($1, ...)` with dynamic columns cast to jsonb.
    pub fn insert_sql(&self, dialect: Dialect) -> String {
        let names: Vec<String> = self
            .columns
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect();
        let values: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .map(|(index, (_, kind))| match kind {
                Dynamic => format!("${}::jsonb", index + 1),
                _ => format!("${}", index + 1),
            })
            .collect();
        dialect.sql(&format!(
            "INSERT INTO \"{}\" ({}) VALUES ({})",
            self.name,
            names.join(", "),
            values.join(", ")
        ))
    }
}

/// Alerts, triage, incidents: the same in both databases except for type names, written with
/// `{int}` (INTEGER / BIGINT) and `{bool}` placeholders.
const CORE_TABLES: &str = r#"
CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  dedup_key TEXT NOT NULL,
  time_generated {int} NOT NULL,
  start_time {int} NOT NULL,
  end_time {int} NOT NULL,
  alert_type TEXT NOT NULL,
  display_name TEXT NOT NULL,
  description TEXT NOT NULL,
  severity TEXT NOT NULL,
  severity_rank {int} NOT NULL,
  tactics TEXT NOT NULL,
  techniques TEXT NOT NULL,
  plane TEXT NOT NULL,
  rule TEXT NOT NULL,
  count {int} NOT NULL,
  reason TEXT NOT NULL,
  entities TEXT NOT NULL,
  evidence TEXT NOT NULL,
  remediation TEXT NOT NULL,
  closed {int} NOT NULL DEFAULT 0,
  cluster TEXT,
  namespace TEXT,
  pod TEXT,
  status TEXT NOT NULL DEFAULT 'New',
  assigned_to TEXT,
  created_at {int} NOT NULL,
  updated_at {int} NOT NULL,
  UNIQUE (dedup_key, time_generated)
);
CREATE INDEX ix_alerts_start_time ON alerts (start_time);
CREATE INDEX ix_alerts_severity ON alerts (severity_rank, start_time);
CREATE INDEX ix_alerts_status ON alerts (status, start_time);
CREATE INDEX ix_alerts_type ON alerts (alert_type, start_time);
CREATE INDEX ix_alerts_namespace_pod ON alerts (namespace, pod);

CREATE TABLE alert_comments (
  id {serial},
  alert_id TEXT NOT NULL REFERENCES alerts (id),
  author TEXT NOT NULL,
  text TEXT NOT NULL,
  created_at {int} NOT NULL
);
CREATE INDEX ix_alert_comments_alert ON alert_comments (alert_id, created_at);

CREATE TABLE alert_status_history (
  id {serial},
  alert_id TEXT NOT NULL REFERENCES alerts (id),
  actor TEXT NOT NULL,
  changed_at {int} NOT NULL,
  from_status TEXT NOT NULL,
  to_status TEXT NOT NULL,
  assigned_to TEXT
);
CREATE INDEX ix_alert_status_history_alert ON alert_status_history (alert_id, changed_at);

CREATE TABLE incidents (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  severity TEXT NOT NULL,
  severity_rank {int} NOT NULL,
  status TEXT NOT NULL DEFAULT 'New',
  assigned_to TEXT,
  first_time {int} NOT NULL,
  last_time {int} NOT NULL,
  tactics TEXT NOT NULL,
  alert_count {int} NOT NULL,
  cluster TEXT,
  created_at {int} NOT NULL,
  updated_at {int} NOT NULL
);
CREATE INDEX ix_incidents_first_time ON incidents (first_time);

CREATE TABLE incident_alerts (
  alert_id TEXT PRIMARY KEY REFERENCES alerts (id),
  incident_id TEXT NOT NULL REFERENCES incidents (id),
  position {int} NOT NULL
);
CREATE INDEX ix_incident_alerts_incident ON incident_alerts (incident_id, position);

CREATE TABLE incident_keys (
  key TEXT NOT NULL,
  incident_id TEXT NOT NULL REFERENCES incidents (id),
  first_time {int} NOT NULL,
  last_time {int} NOT NULL,
  PRIMARY KEY (key, incident_id)
);
CREATE INDEX ix_incident_keys_incident ON incident_keys (incident_id);

CREATE TABLE incident_entities (
  incident_id TEXT NOT NULL REFERENCES incidents (id),
  entity_id TEXT NOT NULL,
  position {int} NOT NULL,
  kind TEXT NOT NULL,
  label TEXT NOT NULL,
  properties TEXT NOT NULL,
  PRIMARY KEY (incident_id, entity_id)
);

CREATE TABLE incident_edges (
  incident_id TEXT NOT NULL REFERENCES incidents (id),
  position {int} NOT NULL,
  from_id TEXT NOT NULL,
  to_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  PRIMARY KEY (incident_id, position)
);
"#;

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: fn(Dialect) -> String,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "alerts, triage and incidents",
        sql: |dialect| {
            let (int, serial) = match dialect {
                Dialect::Sqlite => ("INTEGER", "INTEGER PRIMARY KEY AUTOINCREMENT"),
                Dialect::Postgres => ("BIGINT", "BIGSERIAL PRIMARY KEY"),
            };
            CORE_TABLES
                .replace("{int}", int)
                .replace("{serial}", serial)
        },
    },
    Migration {
        version: 2,
        name: "hunting tables CloudProcessEvents, CloudRuntimeEvents, CloudAuditEvents",
        sql: |dialect| {
            let tables: String = HUNTING_TABLES
                .iter()
                .map(|table| table.create_sql(dialect))
                .collect();
            tables + &DROPPED_HUNTING_INDEXES.map(|(_, create)| create).concat()
        },
    },
    Migration {
        version: 3,
        name: "console: users, API tokens, sessions, audit trail, response actions, saved queries",
        sql: |dialect| {
            let (int, serial) = match dialect {
                Dialect::Sqlite => ("INTEGER", "INTEGER PRIMARY KEY AUTOINCREMENT"),
                Dialect::Postgres => ("BIGINT", "BIGSERIAL PRIMARY KEY"),
            };
            CONSOLE_TABLES
                .replace("{int}", int)
                .replace("{serial}", serial)
        },
    },
    Migration {
        version: 4,
        name: "hunting tables lose their pod and namespace indexes",
        sql: |_| {
            DROPPED_HUNTING_INDEXES
                .map(|(name, _)| format!("DROP INDEX IF EXISTS \"{name}\";\n"))
                .concat()
        },
    },
];

/// Indexes migration 2 created and migration 4 drops: keeping them cost about 40% of ingest
/// time (text keys with few distinct values, inserted all over the tree), and no shipped
/// query used them (filters on a pod come with a time window, which the `Timestamp` index
/// serves).
const DROPPED_HUNTING_INDEXES: [(&str, &str); 3] = [
    (
        "ix_CloudProcessEvents_KubernetesNamespace_KubernetesPodName",
        "CREATE INDEX \"ix_CloudProcessEvents_KubernetesNamespace_KubernetesPodName\" \
         ON \"CloudProcessEvents\" (\"KubernetesNamespace\", \"KubernetesPodName\");\n",
    ),
    (
        "ix_CloudRuntimeEvents_KubernetesNamespace_KubernetesPodName",
        "CREATE INDEX \"ix_CloudRuntimeEvents_KubernetesNamespace_KubernetesPodName\" \
         ON \"CloudRuntimeEvents\" (\"KubernetesNamespace\", \"KubernetesPodName\");\n",
    ),
    (
        "ix_CloudAuditEvents_Namespace",
        "CREATE INDEX \"ix_CloudAuditEvents_Namespace\" ON \"CloudAuditEvents\" (\"Namespace\");\n",
    ),
];

/// What `kdr serve` keeps besides alerts: who may do what, who did what, and the response
/// actions. Secrets are stored only as hashes (passwords with a KDF, tokens and session ids
/// with SHA-256); permissions are comma-separated names the server defines.
const CONSOLE_TABLES: &str = r#"
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  permissions TEXT NOT NULL,
  disabled {int} NOT NULL DEFAULT 0,
  created_at {int} NOT NULL,
  updated_at {int} NOT NULL
);

CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  owner TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  permissions TEXT NOT NULL,
  created_at {int} NOT NULL,
  last_used_at {int},
  revoked_at {int}
);

CREATE TABLE sessions (
  id_hash TEXT PRIMARY KEY,
  user_name TEXT NOT NULL,
  csrf_token TEXT NOT NULL,
  created_at {int} NOT NULL,
  expires_at {int} NOT NULL
);
CREATE INDEX ix_sessions_expires ON sessions (expires_at);

CREATE TABLE audit_trail (
  id {serial},
  at {int} NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  details TEXT NOT NULL
);
CREATE INDEX ix_audit_trail_at ON audit_trail (at);

CREATE TABLE response_actions (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  context TEXT NOT NULL,
  namespace TEXT NOT NULL,
  pod TEXT NOT NULL,
  actor TEXT NOT NULL,
  requested_at {int} NOT NULL,
  finished_at {int},
  status TEXT NOT NULL,
  error TEXT,
  details TEXT NOT NULL,
  alert_id TEXT,
  incident_id TEXT
);
CREATE INDEX ix_response_actions_requested ON response_actions (requested_at);
CREATE INDEX ix_response_actions_pod ON response_actions (namespace, pod);

CREATE TABLE response_action_comments (
  id {serial},
  action_id TEXT NOT NULL REFERENCES response_actions (id),
  author TEXT NOT NULL,
  text TEXT NOT NULL,
  created_at {int} NOT NULL
);
CREATE INDEX ix_response_action_comments ON response_action_comments (action_id);

CREATE TABLE saved_queries (
  owner TEXT NOT NULL,
  name TEXT NOT NULL,
  query TEXT NOT NULL,
  created_at {int} NOT NULL,
  PRIMARY KEY (owner, name)
);
"#;

pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the schema to the latest version; returns the versions it applied.
pub fn migrate(db: &mut dyn Db, now: i64) -> Result<Vec<i64>, StoreError> {
    let dialect = db.dialect();
    let mut applied = Vec::new();
    {
        let mut tx = db.transaction().during("creating schema_migrations")?;
        if dialect == Dialect::Postgres {
            // Replicas that start together migrate one after the other.
            tx.execute("SELECT pg_advisory_xact_lock(726301)", &[])
                .during("waiting for the migration lock")?;
        }
        let int = ColumnKind::Long.physical(dialect);
        tx.batch(&format!(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
               version {int} PRIMARY KEY,
               name TEXT NOT NULL,
               applied_at {int} NOT NULL
             )"
        ))
        .during("creating schema_migrations")?;
        tx.commit()?;
    }
    for migration in MIGRATIONS {
        let mut tx = db.transaction()?;
        if dialect == Dialect::Postgres {
            tx.execute("SELECT pg_advisory_xact_lock(726301)", &[])
                .during("waiting for the migration lock")?;
        }
        let done = tx
            .query(
                &dialect.sql("SELECT version FROM schema_migrations WHERE version = $1"),
                &[Value::Int(migration.version)],
            )
            .during("reading schema_migrations")?;
        if !done.is_empty() {
            continue;
        }
        tx.batch(&(migration.sql)(dialect)).during(format!(
            "applying migration {} ({})",
            migration.version, migration.name
        ))?;
        tx.execute(
            &dialect.sql(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            ),
            &[
                Value::Int(migration.version),
                Value::text(migration.name),
                Value::Int(now),
            ],
        )
        .during("recording a migration")?;
        tx.commit()
            .during(format!("committing migration {}", migration.version))?;
        applied.push(migration.version);
    }
    let mut tx = db.transaction()?;
    let newest = tx
        .query("SELECT MAX(version) FROM schema_migrations", &[])
        .during("reading schema_migrations")?;
    tx.commit()?;
    let found = newest
        .first()
        .and_then(|row| row.first())
        .and_then(|cell| cell.int())
        .unwrap_or(0);
    if found > latest_version() {
        return Err(StoreError::SchemaTooNew {
            found,
            known: latest_version(),
        });
    }
    Ok(applied)
}
