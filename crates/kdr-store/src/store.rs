//! The store's logic, written once over [`Db`] for both backends.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use kdr_engine::AlertEvent;
use kdr_incidents::{
    alert_id, correlation_keys, incident_id, summarize, CorrelationRules, Edge, EdgeKind, Graph,
    IdentifiedAlert, Node, NodeKind, Status,
};
use kdr_model::{Alert, Entities, Event, Plane, Severity, Tactic, Timestamp};

use crate::api::*;
use crate::db::{Cell, Db, Dialect, Row, Tx, Value};
use crate::error::ResultExt;
use crate::postgres::PostgresDb;
use crate::rows::HuntingRows;
use crate::schema::{self, HUNTING_TABLES};
use crate::sqlite::SqliteDb;
use crate::StoreError;

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// How alerts are grouped into incidents.
    pub correlation: CorrelationRules,
}

pub struct Store {
    pub(crate) db: Box<dyn Db>,
    pub(crate) dialect: Dialect,
    location: String,
    sqlite_path: Option<PathBuf>,
    rules: CorrelationRules,
    /// INSERT statements of the hunting tables, in `HUNTING_TABLES` order.
    hunting_inserts: Vec<String>,
}

/// Advisory lock (PostgreSQL) that serializes alert and incident updates between replicas:
/// correlation reads incidents and then writes them, which must not interleave.
const ALERT_LOCK: i64 = 726302;
/// Attempts of one ingest transaction when another writer conflicts with it.
const MAX_ATTEMPTS: u64 = 5;
/// Longest comment text, in bytes.
const MAX_COMMENT_BYTES: usize = 16 * 1024;

pub(crate) fn wall_clock_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

const ALERT_COLUMNS: &str = "a.id, a.alert_type, a.display_name, a.description, a.severity, \
     a.tactics, a.techniques, a.plane, a.rule, a.time_generated, a.start_time, a.end_time, \
     a.count, a.reason, a.entities, a.evidence, a.remediation, a.dedup_key, a.status, \
     a.assigned_to, a.closed, a.created_at, a.updated_at, ia.incident_id";

const INCIDENT_COLUMNS: &str = "id, title, severity, status, assigned_to, first_time, \
     last_time, tactics, alert_count, cluster, created_at, updated_at";

impl Store {
    /// Opens the store at `location`: a `postgres://`/`postgresql://` URL, or a data directory
    /// (created when missing) holding `kdr.db`. Applies pending migrations.
    pub fn open(location: &str, options: StoreOptions) -> Result<Store, StoreError> {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            Store::open_postgres(location, options)
        } else {
            Store::open_sqlite_dir(Path::new(location), options)
        }
    }

    pub fn open_sqlite_dir(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let db = SqliteDb::open_dir(dir)?;
        let path = db.path();
        Store::with_db(Box::new(db), dir.display().to_string(), path, options)
    }

    pub fn open_postgres(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        let db = PostgresDb::connect(url)?;
        Store::with_db(Box::new(db), crate::postgres::redact(url), None, options)
    }

    fn with_db(
        mut db: Box<dyn Db>,
        location: String,
        sqlite_path: Option<PathBuf>,
        options: StoreOptions,
    ) -> Result<Store, StoreError> {
        let dialect = db.dialect();
        schema::migrate(db.as_mut(), wall_clock_now())
            .map_err(|e| e.during(format!("migrating the store at {location}")))?;
        Ok(Store {
            db,
            dialect,
            location,
            sqlite_path,
            rules: options.correlation,
            hunting_inserts: HUNTING_TABLES
                .iter()
                .map(|t| t.insert_sql(dialect))
                .collect(),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.dialect {
            Dialect::Sqlite => Backend::Sqlite,
            Dialect::Postgres => Backend::Postgres,
        }
    }

    /// The data directory or the URL (without password).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The SQLite database file, for opening read-only connections (hunting queries) beside
    /// the store's own. `None` on PostgreSQL.
    /// Runs a KQL hunting query over the hunting tables. `now_ns` is what `now()` and `ago()`
    /// mean (event time for replays, the wall clock when live).
    pub fn hunt(
        &mut self,
        query: &str,
        now_ns: i64,
        limits: &kdr_kql::Limits,
    ) -> Result<kdr_kql::ResultSet, StoreError> {
        let compiled = self.compile_hunt(query, now_ns, limits)?;
        self.db.hunt(&compiled)
    }

    /// The SQL (and parameters) a hunting query runs as on this store's backend.
    pub fn compile_hunt(
        &self,
        query: &str,
        now_ns: i64,
        limits: &kdr_kql::Limits,
    ) -> Result<kdr_kql::CompiledQuery, StoreError> {
        let dialect = match self.dialect {
            Dialect::Sqlite => kdr_kql::Dialect::Sqlite,
            Dialect::Postgres => kdr_kql::Dialect::Postgres,
        };
        let schema = crate::schema::kql_schema();
        kdr_kql::compile(query, &schema, dialect, now_ns, limits)
            .map_err(|e| StoreError::Hunt(kdr_kql::RunError::from(e)))
    }

    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite_path.as_deref()
    }

    pub fn schema_version(&mut self) -> Result<i64, StoreError> {
        let rows = self.read("SELECT MAX(version) FROM schema_migrations", &[])?;
        Ok(first_int(&rows).unwrap_or(0))
    }

    /// Runs a read in its own transaction.
    pub(crate) fn read(
        &mut self,
        portable_sql: &str,
        params: &[Value<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        let sql = self.dialect.sql(portable_sql);
        let mut tx = self.db.transaction()?;
        let rows = tx.query(&sql, params)?;
        tx.commit()?;
        Ok(rows)
    }

    // -----------------------------------------------------------------------------------------
    // Ingest

    /// Stores a batch in one transaction: every event as a hunting row, every alert event as
    /// an insert (Opened, or a Closed never seen open) or an update (Closed), and the alerts'
    /// incidents. When this returns Ok the whole batch is durable; on error none of it is.
    ///
    /// Idempotent for alerts: replaying the same alert events changes nothing, and two
    /// replicas storing the same alert events store each alert once. Hunting rows are not
    /// deduplicated: give each event stream to one writer.
    pub fn ingest(
        &mut self,
        events: &[Event],
        alert_events: &[AlertEvent],
    ) -> Result<IngestReport, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.ingest_once(events, alert_events) {
                Ok(mut report) => {
                    report.retries = attempt - 1;
                    return Ok(report);
                }
                Err(error) if error.is_retryable() && attempt < MAX_ATTEMPTS => continue,
                Err(error) => return Err(error),
            }
        }
    }

    fn ingest_once(
        &mut self,
        events: &[Event],
        alert_events: &[AlertEvent],
    ) -> Result<IngestReport, StoreError> {
        let now = wall_clock_now();
        let dialect = self.dialect;
        let mut report = IngestReport::default();
        let mut tx = self.db.transaction().during("starting an ingest batch")?;
        // Turning events into rows (JSON columns above all) is a good part of the work; a
        // helper thread does it chunk by chunk while this one inserts, so a second core
        // overlaps the two. Small batches are not worth a thread. Chunks are small so that a
        // chunk's text is still in the CPU caches when SQLite copies it.
        let inserts = &self.hunting_inserts;
        let mut insert_chunk = |tx: &mut dyn Tx, chunk: RowChunk| -> Result<(), StoreError> {
            let tables = chunk.rows.tables.iter().zip(&chunk.events);
            for (table, (rows, event_indexes)) in tables.enumerate() {
                if rows.is_empty() {
                    continue;
                }
                tx.execute_many(&inserts[table], rows)
                    .map_err(|(row, error)| {
                        let event_id = event_indexes
                            .get(row)
                            .and_then(|i| events.get(*i))
                            .map_or_else(String::new, |e| truncate(&e.id));
                        error.during(format_args!(
                            "storing event {event_id:?} in {}",
                            HUNTING_TABLES[table].name
                        ))
                    })?;
                report.hunting_rows += rows.len() as u64;
            }
            Ok(())
        };
        if events.len() < PIPELINE_MIN_EVENTS {
            for (index, chunk) in events.chunks(ROW_CHUNK).enumerate() {
                insert_chunk(tx.as_mut(), row_chunk(chunk, index * ROW_CHUNK))?;
            }
        } else {
            std::thread::scope(|scope| -> Result<(), StoreError> {
                let (sender, receiver) = std::sync::mpsc::sync_channel::<RowChunk>(2);
                scope.spawn(move || {
                    for (index, chunk) in events.chunks(ROW_CHUNK).enumerate() {
                        // A closed channel means the inserting side failed: stop.
                        if sender.send(row_chunk(chunk, index * ROW_CHUNK)).is_err() {
                            break;
                        }
                    }
                });
                for chunk in receiver {
                    insert_chunk(tx.as_mut(), chunk)?;
                }
                Ok(())
            })?;
        }
        if !alert_events.is_empty() {
            if dialect == Dialect::Postgres {
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1)",
                    &[Value::Int(ALERT_LOCK)],
                )
                .during("waiting for the alert lock")?;
            }
            let mut writer = AlertWriter {
                tx: tx.as_mut(),
                dialect,
                rules: &self.rules,
                now,
                stale: BTreeSet::new(),
            };
            for alert_event in alert_events {
                let (alert, closed) = match alert_event {
                    AlertEvent::Opened(alert) => (alert, false),
                    AlertEvent::Closed(alert) => (alert, true),
                };
                match writer.apply(alert, closed).during(format_args!(
                    "storing alert {:?}",
                    truncate(&alert.dedup_key)
                ))? {
                    Applied::Inserted => report.alerts_inserted += 1,
                    Applied::Updated => report.alerts_updated += 1,
                    Applied::Unchanged => report.alerts_unchanged += 1,
                }
            }
            writer.resummarize_stale()?;
        }
        tx.commit().during("committing an ingest batch")?;
        Ok(report)
    }

    // -----------------------------------------------------------------------------------------
    // Alerts

    pub fn get_alert(&mut self, id: &str) -> Result<Option<StoredAlert>, StoreError> {
        let rows = self
            .read(
                &format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts a \
                     LEFT JOIN incident_alerts ia ON ia.alert_id = a.id WHERE a.id = $1"
                ),
                &[Value::text(id)],
            )
            .during(format_args!("reading alert {id:?}"))?;
        rows.into_iter().next().map(stored_alert).transpose()
    }

    pub fn list_alerts(
        &mut self,
        filter: &AlertFilter,
        sort: AlertSort,
        page: Page,
    ) -> Result<AlertPage, StoreError> {
        let mut filters = Filters::default();
        filters.any_of(
            "a.severity",
            filter.severities.iter().map(|s| Value::text(s.name())),
        );
        filters.any_of(
            "a.status",
            filter.statuses.iter().map(|s| Value::text(s.name())),
        );
        filters.any_of(
            "a.alert_type",
            filter.alert_types.iter().map(|t| Value::owned(t.clone())),
        );
        filters.any_of(
            "a.plane",
            filter.planes.iter().map(|p| Value::text(Plane::name(*p))),
        );
        for (column, value) in [
            ("a.cluster", &filter.cluster),
            ("a.namespace", &filter.namespace),
            ("a.pod", &filter.pod),
        ] {
            if let Some(value) = value {
                filters.compare(column, "=", Value::owned(value.clone()));
            }
        }
        if let Some(from) = filter.from {
            filters.compare("a.end_time", ">=", Value::Int(from.0));
        }
        if let Some(to) = filter.to {
            filters.compare("a.start_time", "<", Value::Int(to.0));
        }
        if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
            filters.contains_text(
                &[
                    "a.alert_type",
                    "a.display_name",
                    "a.reason",
                    "a.dedup_key",
                    "a.entities",
                ],
                text,
            );
        }
        let where_sql = filters.where_sql();
        let order_column = match sort.field {
            AlertSortField::Time => "a.time_generated",
            AlertSortField::Severity => "a.severity_rank",
            AlertSortField::AlertType => "a.alert_type",
            AlertSortField::Status => "a.status",
            AlertSortField::Count => "a.count",
            AlertSortField::Updated => "a.updated_at",
        };
        let direction = if sort.descending { "DESC" } else { "ASC" };
        let total = first_int(
            &self
                .read(
                    &format!("SELECT COUNT(*) FROM alerts a {where_sql}"),
                    &filters.params,
                )
                .during("counting alerts")?,
        )
        .unwrap_or(0);
        let (limit, offset) = filters.page(page);
        let rows = self
            .read(
                &format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts a \
                     LEFT JOIN incident_alerts ia ON ia.alert_id = a.id {where_sql} \
                     ORDER BY {order_column} {direction}, a.time_generated {direction}, a.id ASC \
                     LIMIT {limit} OFFSET {offset}"
                ),
                &filters.params,
            )
            .during("listing alerts")?;
        let alerts = rows
            .into_iter()
            .map(stored_alert)
            .collect::<Result<_, _>>()?;
        Ok(AlertPage {
            total: total.max(0) as u64,
            alerts,
        })
    }

    /// Sets an alert's status, recording who changed it from what to what.
    pub fn set_alert_status(
        &mut self,
        id: &str,
        status: Status,
        actor: &str,
    ) -> Result<(), StoreError> {
        self.change_alert(id, actor, |_, current_assignee| {
            (status, current_assignee.map(str::to_owned))
        })
    }

    /// Assigns an alert (or clears the assignment with `None`), recorded in its history.
    pub fn assign_alert(
        &mut self,
        id: &str,
        assignee: Option<&str>,
        actor: &str,
    ) -> Result<(), StoreError> {
        self.change_alert(id, actor, |status, _| (status, assignee.map(str::to_owned)))
    }

    fn change_alert(
        &mut self,
        id: &str,
        actor: &str,
        change: impl FnOnce(Status, Option<&str>) -> (Status, Option<String>),
    ) -> Result<(), StoreError> {
        require_text("actor", actor, 256)?;
        let now = wall_clock_now();
        let d = self.dialect;
        let mut tx = self.db.transaction()?;
        let rows = tx
            .query(
                &d.sql("SELECT status, assigned_to FROM alerts WHERE id = $1"),
                &[Value::text(id)],
            )
            .during(format_args!("reading alert {id:?}"))?;
        let Some(row) = rows.into_iter().next() else {
            return Err(StoreError::NotFound {
                what: "alert",
                id: id.to_owned(),
            });
        };
        let current = parse_status(row.first())?;
        let current_assignee = row.get(1).and_then(Cell::text);
        let (status, assignee) = change(current, current_assignee);
        if status == current && assignee.as_deref() == current_assignee {
            return Ok(());
        }
        tx.execute(
            &d.sql(
                "UPDATE alerts SET status = $1, assigned_to = $2, updated_at = $3 WHERE id = $4",
            ),
            &[
                Value::text(status.name()),
                Value::opt_text(assignee.as_deref()),
                Value::Int(now),
                Value::text(id),
            ],
        )
        .during(format_args!("updating alert {id:?}"))?;
        tx.execute(
            &d.sql(
                "INSERT INTO alert_status_history \
                 (alert_id, actor, changed_at, from_status, to_status, assigned_to) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            ),
            &[
                Value::text(id),
                Value::text(actor),
                Value::Int(now),
                Value::text(current.name()),
                Value::text(status.name()),
                Value::opt_text(assignee.as_deref()),
            ],
        )
        .during(format_args!("recording the history of alert {id:?}"))?;
        tx.commit()
    }

    pub fn alert_history(&mut self, id: &str) -> Result<Vec<StatusChange>, StoreError> {
        let rows = self
            .read(
                "SELECT actor, changed_at, from_status, to_status, assigned_to \
                 FROM alert_status_history WHERE alert_id = $1 ORDER BY changed_at, id",
                &[Value::text(id)],
            )
            .during(format_args!("reading the history of alert {id:?}"))?;
        rows.into_iter()
            .map(|row| {
                Ok(StatusChange {
                    actor: text_at(&row, 0),
                    changed_at: Timestamp(int_at(&row, 1)),
                    from: parse_status(row.get(2))?,
                    to: parse_status(row.get(3))?,
                    assigned_to: row.get(4).and_then(Cell::text).map(str::to_owned),
                })
            })
            .collect()
    }

    pub fn comment_alert(&mut self, id: &str, author: &str, text: &str) -> Result<(), StoreError> {
        require_text("author", author, 256)?;
        require_text("comment", text, MAX_COMMENT_BYTES)?;
        let now = wall_clock_now();
        let d = self.dialect;
        let mut tx = self.db.transaction()?;
        let exists = tx.query(
            &d.sql("SELECT 1 FROM alerts WHERE id = $1"),
            &[Value::text(id)],
        )?;
        if exists.is_empty() {
            return Err(StoreError::NotFound {
                what: "alert",
                id: id.to_owned(),
            });
        }
        tx.execute(
            &d.sql(
                "INSERT INTO alert_comments (alert_id, author, text, created_at) \
                 VALUES ($1, $2, $3, $4)",
            ),
            &[
                Value::text(id),
                Value::text(author),
                Value::text(text),
                Value::Int(now),
            ],
        )
        .during(format_args!("commenting alert {id:?}"))?;
        tx.commit()
    }

    pub fn alert_comments(&mut self, id: &str) -> Result<Vec<Comment>, StoreError> {
        let rows = self
            .read(
                "SELECT author, text, created_at FROM alert_comments \
                 WHERE alert_id = $1 ORDER BY created_at, id",
                &[Value::text(id)],
            )
            .during(format_args!("reading the comments of alert {id:?}"))?;
        Ok(rows
            .into_iter()
            .map(|row| Comment {
                author: text_at(&row, 0),
                text: text_at(&row, 1),
                created_at: Timestamp(int_at(&row, 2)),
            })
            .collect())
    }

    // -----------------------------------------------------------------------------------------
    // Incidents

    pub fn list_incidents(
        &mut self,
        filter: &IncidentFilter,
        page: Page,
    ) -> Result<IncidentPage, StoreError> {
        let mut filters = Filters::default();
        filters.any_of(
            "severity",
            filter.severities.iter().map(|s| Value::text(s.name())),
        );
        filters.any_of(
            "status",
            filter.statuses.iter().map(|s| Value::text(s.name())),
        );
        if let Some(cluster) = &filter.cluster {
            filters.compare("cluster", "=", Value::owned(cluster.clone()));
        }
        if let Some(from) = filter.from {
            filters.compare("last_time", ">=", Value::Int(from.0));
        }
        if let Some(to) = filter.to {
            filters.compare("first_time", "<", Value::Int(to.0));
        }
        if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
            filters.contains_text(&["title"], text);
        }
        let where_sql = filters.where_sql();
        let total = first_int(
            &self
                .read(
                    &format!("SELECT COUNT(*) FROM incidents {where_sql}"),
                    &filters.params,
                )
                .during("counting incidents")?,
        )
        .unwrap_or(0);
        let (limit, offset) = filters.page(page);
        let rows = self
            .read(
                &format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents {where_sql} \
                     ORDER BY severity_rank DESC, last_time DESC, id ASC \
                     LIMIT {limit} OFFSET {offset}"
                ),
                &filters.params,
            )
            .during("listing incidents")?;
        let incidents = rows
            .into_iter()
            .map(stored_incident)
            .collect::<Result<_, _>>()?;
        Ok(IncidentPage {
            total: total.max(0) as u64,
            incidents,
        })
    }

    pub fn get_incident(&mut self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        let rows = self
            .read(
                &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"),
                &[Value::text(id)],
            )
            .during(format_args!("reading incident {id:?}"))?;
        rows.into_iter().next().map(stored_incident).transpose()
    }

    /// The incident's alerts in kill-chain order.
    pub fn incident_alerts(&mut self, id: &str) -> Result<Vec<StoredAlert>, StoreError> {
        let rows = self
            .read(
                &format!(
                    "SELECT {ALERT_COLUMNS} FROM incident_alerts ia \
                     JOIN alerts a ON a.id = ia.alert_id \
                     WHERE ia.incident_id = $1 ORDER BY ia.position, a.id"
                ),
                &[Value::text(id)],
            )
            .during(format_args!("reading the alerts of incident {id:?}"))?;
        rows.into_iter().map(stored_alert).collect()
    }

    pub fn incident_graph(&mut self, id: &str) -> Result<Graph, StoreError> {
        let node_rows = self
            .read(
                "SELECT entity_id, kind, label, properties FROM incident_entities \
                 WHERE incident_id = $1 ORDER BY position",
                &[Value::text(id)],
            )
            .during(format_args!("reading the entities of incident {id:?}"))?;
        let edge_rows = self
            .read(
                "SELECT from_id, to_id, kind FROM incident_edges \
                 WHERE incident_id = $1 ORDER BY position",
                &[Value::text(id)],
            )
            .during(format_args!("reading the edges of incident {id:?}"))?;
        let mut graph = Graph::default();
        for row in node_rows {
            graph.nodes.push(Node {
                id: text_at(&row, 0),
                kind: parse_json::<NodeKind>("entity kind", &json_string(&text_at(&row, 1)))?,
                label: text_at(&row, 2),
                properties: parse_json("entity properties", &text_at(&row, 3))?,
            });
        }
        for row in edge_rows {
            graph.edges.push(Edge {
                from: text_at(&row, 0),
                to: text_at(&row, 1),
                kind: parse_json::<EdgeKind>("edge kind", &json_string(&text_at(&row, 2)))?,
            });
        }
        Ok(graph)
    }

    pub fn set_incident_status(
        &mut self,
        id: &str,
        status: Status,
        actor: &str,
    ) -> Result<(), StoreError> {
        require_text("actor", actor, 256)?;
        let now = wall_clock_now();
        let d = self.dialect;
        let mut tx = self.db.transaction()?;
        let changed = tx
            .execute(
                &d.sql("UPDATE incidents SET status = $1, updated_at = $2 WHERE id = $3"),
                &[Value::text(status.name()), Value::Int(now), Value::text(id)],
            )
            .during(format_args!("updating incident {id:?}"))?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: "incident",
                id: id.to_owned(),
            });
        }
        tx.commit()
    }

    pub fn assign_incident(
        &mut self,
        id: &str,
        assignee: Option<&str>,
        actor: &str,
    ) -> Result<(), StoreError> {
        require_text("actor", actor, 256)?;
        let now = wall_clock_now();
        let d = self.dialect;
        let mut tx = self.db.transaction()?;
        let changed = tx
            .execute(
                &d.sql("UPDATE incidents SET assigned_to = $1, updated_at = $2 WHERE id = $3"),
                &[Value::opt_text(assignee), Value::Int(now), Value::text(id)],
            )
            .during(format_args!("assigning incident {id:?}"))?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: "incident",
                id: id.to_owned(),
            });
        }
        tx.commit()
    }

    // -----------------------------------------------------------------------------------------
    // Hunting tables: sizes and retention

    /// Rows in each hunting table.
    pub fn hunting_counts(&mut self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut counts = Vec::new();
        for table in HUNTING_TABLES {
            let rows = self
                .read(&format!("SELECT COUNT(*) FROM \"{}\"", table.name), &[])
                .during(format_args!("counting {}", table.name))?;
            counts.push((table.name.to_owned(), first_int(&rows).unwrap_or(0) as u64));
        }
        Ok(counts)
    }

    /// Bytes the hunting tables use (SQLite: the whole database's used pages, which the
    /// hunting tables dominate; PostgreSQL: the tables with their indexes).
    pub fn hunting_bytes(&mut self) -> Result<u64, StoreError> {
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT (SELECT page_count FROM pragma_page_count()) \
                 - (SELECT freelist_count FROM pragma_freelist_count()), \
                 (SELECT page_size FROM pragma_page_size())"
                .to_owned(),
            Dialect::Postgres => {
                let sizes: Vec<String> = HUNTING_TABLES
                    .iter()
                    .map(|t| format!("pg_total_relation_size('\"{}\"')", t.name))
                    .collect();
                format!("SELECT ({})::bigint, 1::bigint", sizes.join(" + "))
            }
        };
        let rows = self
            .read(&sql, &[])
            .during("measuring the hunting tables")?;
        let row = rows.first();
        let pages = row.and_then(|r| r.first()).and_then(Cell::int).unwrap_or(0);
        let unit = row.and_then(|r| r.get(1)).and_then(Cell::int).unwrap_or(1);
        Ok((pages.max(0) as u64).saturating_mul(unit.max(0) as u64))
    }

    /// Deletes the oldest hunting rows beyond the policy's limits. Alerts, incidents and
    /// triage are kept. `now` is the reference for `max_age` (normally the wall clock).
    pub fn enforce_retention(
        &mut self,
        policy: &RetentionPolicy,
        now: Timestamp,
    ) -> Result<RetentionReport, StoreError> {
        let mut deleted: Vec<(String, u64)> = HUNTING_TABLES
            .iter()
            .map(|t| (t.name.to_owned(), 0))
            .collect();
        if let Some(max_age) = policy.max_age {
            let cutoff = now.0.saturating_sub(max_age);
            for (index, table) in HUNTING_TABLES.iter().enumerate() {
                let sql = self.dialect.sql(&format!(
                    "DELETE FROM \"{}\" WHERE \"Timestamp\" < $1",
                    table.name
                ));
                let mut tx = self.db.transaction()?;
                let n = tx
                    .execute(&sql, &[Value::Int(cutoff)])
                    .during(format_args!("deleting old rows of {}", table.name))?;
                tx.commit()?;
                deleted[index].1 += n;
            }
        }
        if let Some(max_rows) = policy.max_rows_per_table {
            for (index, table) in HUNTING_TABLES.iter().enumerate() {
                deleted[index].1 += self.keep_newest(table.name, KeepNewest::Rows(max_rows))?;
            }
        }
        if let Some(max_bytes) = policy.max_bytes {
            let used = self.hunting_bytes()?;
            if used > max_bytes {
                // Delete the same share of every table, plus a tenth for headroom so the
                // next batch does not put it over again at once.
                let keep_share = (max_bytes as f64 / used as f64) * 0.9;
                for (index, table) in HUNTING_TABLES.iter().enumerate() {
                    deleted[index].1 +=
                        self.keep_newest(table.name, KeepNewest::Share(keep_share))?;
                }
            }
        }
        Ok(RetentionReport { deleted })
    }

    /// Deletes the oldest rows of a table so that about the given amount stays. Rows that share
    /// the cutoff timestamp are kept, so slightly more may stay.
    fn keep_newest(&mut self, table: &str, keep: KeepNewest) -> Result<u64, StoreError> {
        let d = self.dialect;
        let mut tx = self.db.transaction()?;
        let count = first_int(
            &tx.query(&format!("SELECT COUNT(*) FROM \"{table}\""), &[])
                .during(format_args!("counting {table}"))?,
        )
        .unwrap_or(0)
        .max(0) as u64;
        let keep_rows = match keep {
            KeepNewest::Rows(rows) => rows,
            KeepNewest::Share(share) => (count as f64 * share.clamp(0.0, 1.0)) as u64,
        };
        if count <= keep_rows {
            return Ok(0);
        }
        let surplus = count - keep_rows;
        let cutoff = first_int(
            &tx.query(
                &d.sql(&format!(
                    "SELECT \"Timestamp\" FROM \"{table}\" ORDER BY \"Timestamp\" \
                     LIMIT 1 OFFSET $1"
                )),
                &[Value::Int(i64::try_from(surplus).unwrap_or(i64::MAX))],
            )
            .during(format_args!("finding the retention cutoff of {table}"))?,
        );
        let deleted = match cutoff {
            // Fewer rows than the surplus: delete them all.
            None => tx.execute(&format!("DELETE FROM \"{table}\""), &[])?,
            Some(cutoff) => tx
                .execute(
                    &d.sql(&format!("DELETE FROM \"{table}\" WHERE \"Timestamp\" < $1")),
                    &[Value::Int(cutoff)],
                )
                .during(format_args!("deleting the oldest rows of {table}"))?,
        };
        tx.commit()?;
        Ok(deleted)
    }

    /// SQLite's `PRAGMA integrity_check` ("ok" when intact); PostgreSQL checks itself and
    /// answers "ok".
    pub fn integrity_check(&mut self) -> Result<String, StoreError> {
        match self.dialect {
            Dialect::Postgres => Ok("ok".to_owned()),
            Dialect::Sqlite => {
                let rows = self
                    .read("PRAGMA integrity_check", &[])
                    .during("checking integrity")?;
                Ok(rows
                    .iter()
                    .filter_map(|row| row.first().and_then(Cell::text))
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
        }
    }
}

/// Events turned into rows, and for each table the indexes (in the batch) of the events its
/// rows came from.
struct RowChunk {
    rows: HuntingRows,
    events: [Vec<usize>; HUNTING_TABLES.len()],
}

/// Events per chunk handed from the row-building thread to the inserting one (64 events'
/// rows are about 50 KB).
const ROW_CHUNK: usize = 64;

/// Batches from this size on build their rows on a helper thread.
const PIPELINE_MIN_EVENTS: usize = 1024;

fn row_chunk(events: &[Event], first_index: usize) -> RowChunk {
    let mut chunk = RowChunk {
        rows: HuntingRows::default(),
        events: Default::default(),
    };
    for (offset, event) in events.iter().enumerate() {
        let table = chunk.rows.push(event);
        chunk.events[table].push(first_index + offset);
    }
    chunk
}

enum KeepNewest {
    Rows(u64),
    Share(f64),
}

enum Applied {
    Inserted,
    Updated,
    Unchanged,
}

/// Alert and incident writes inside one ingest transaction.
struct AlertWriter<'a> {
    tx: &'a mut dyn Tx,
    dialect: Dialect,
    rules: &'a CorrelationRules,
    now: i64,
    /// Incidents whose alerts changed in this batch: summarized once, before the commit,
    /// however many of the batch's alerts they took.
    stale: BTreeSet<String>,
}

impl AlertWriter<'_> {
    fn apply(&mut self, alert: &Alert, closed: bool) -> Result<Applied, StoreError> {
        let d = self.dialect;
        let id = alert_id(alert);
        let existing = self.tx.query(
            &d.sql(
                "SELECT closed, count, start_time, end_time, evidence, reason, entities \
                 FROM alerts WHERE id = $1",
            ),
            &[Value::text(&id)],
        )?;
        let entities = to_json(&alert.entities)?;
        let evidence = to_json(&alert.evidence)?;
        let Some(row) = existing.into_iter().next() else {
            self.insert(&id, alert, closed, &entities, &evidence)?;
            self.correlate(&id, alert)?;
            return Ok(Applied::Inserted);
        };
        let unchanged = int_at(&row, 0) == 1
            && int_at(&row, 1) == alert.count as i64
            && int_at(&row, 2) == alert.start_time.0
            && int_at(&row, 3) == alert.end_time.0
            && text_at(&row, 4) == evidence
            && text_at(&row, 5) == alert.reason
            && text_at(&row, 6) == entities;
        // An Opened for a stored alert is a replay (or another replica's copy): the stored
        // row is at least as new. A Closed that matches the stored row changes nothing.
        if !closed || unchanged {
            return Ok(Applied::Unchanged);
        }
        self.tx.execute(
            &d.sql(
                "UPDATE alerts SET closed = 1, count = $1, start_time = $2, end_time = $3, \
                 evidence = $4, reason = $5, entities = $6, updated_at = $7 WHERE id = $8",
            ),
            &[
                Value::Int(clamp_count(alert.count)),
                Value::Int(alert.start_time.0),
                Value::Int(alert.end_time.0),
                Value::text(&evidence),
                Value::text(&alert.reason),
                Value::text(&entities),
                Value::Int(self.now),
                Value::text(&id),
            ],
        )?;
        // The span grew: widen the incident's keys and refresh its summary.
        let incident = self.tx.query(
            &d.sql("SELECT incident_id FROM incident_alerts WHERE alert_id = $1"),
            &[Value::text(&id)],
        )?;
        if let Some(incident_id) = incident
            .first()
            .and_then(|r| r.first())
            .and_then(Cell::text)
        {
            let incident_id = incident_id.to_owned();
            for key in correlation_keys(alert, self.rules) {
                self.widen_key(&key, &incident_id, alert.start_time.0, alert.end_time.0)?;
            }
            self.extend_incident(&incident_id, alert, 0)?;
        }
        Ok(Applied::Updated)
    }

    fn insert(
        &mut self,
        id: &str,
        alert: &Alert,
        closed: bool,
        entities: &str,
        evidence: &str,
    ) -> Result<(), StoreError> {
        let e = &alert.entities;
        let namespace = e
            .namespace
            .as_deref()
            .or(e.object.as_ref().and_then(|o| o.namespace.as_deref()));
        self.tx.execute(
            &self.dialect.sql(
                "INSERT INTO alerts (id, dedup_key, time_generated, start_time, end_time, \
                 alert_type, display_name, description, severity, severity_rank, tactics, \
                 techniques, plane, rule, count, reason, entities, evidence, remediation, closed, \
                 cluster, namespace, pod, status, created_at, updated_at) VALUES ($1, $2, $3, \
                 $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
                 $21, $22, $23, 'New', $24, $24) ON CONFLICT (id) DO NOTHING",
            ),
            &[
                Value::text(id),
                Value::text(&alert.dedup_key),
                Value::Int(alert.time_generated.0),
                Value::Int(alert.start_time.0),
                Value::Int(alert.end_time.0),
                Value::text(&alert.alert_type),
                Value::text(&alert.display_name),
                Value::text(&alert.description),
                Value::text(alert.severity.name()),
                Value::Int(alert.severity as i64),
                Value::owned(to_json(&alert.tactics)?),
                Value::owned(to_json(&alert.techniques)?),
                Value::text(Plane::name(alert.plane)),
                Value::text(&alert.rule),
                Value::Int(clamp_count(alert.count)),
                Value::text(&alert.reason),
                Value::text(entities),
                Value::text(evidence),
                Value::text(&alert.remediation),
                Value::Int(i64::from(closed)),
                Value::opt_text(e.cluster.as_deref()),
                Value::opt_text(namespace),
                Value::opt_text(e.pod.as_deref()),
                Value::Int(self.now),
            ],
        )?;
        Ok(())
    }

    /// Puts a new alert into an incident: the one it relates to, or a new one; when it relates
    /// to several they merge into the one that started first (kdr_incidents::Correlator does
    /// the same in memory).
    fn correlate(&mut self, id: &str, alert: &Alert) -> Result<(), StoreError> {
        let d = self.dialect;
        let keys = correlation_keys(alert, self.rules);
        let mut candidates: Vec<String> = Vec::new();
        if !keys.is_empty() {
            let mut params: Vec<Value<'_>> = keys.iter().map(|k| Value::text(k)).collect();
            let list: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
            params.push(Value::Int(
                alert.end_time.0.saturating_add(self.rules.window),
            ));
            params.push(Value::Int(
                alert.start_time.0.saturating_sub(self.rules.window),
            ));
            params.push(Value::Int(
                i64::try_from(self.rules.max_alerts).unwrap_or(i64::MAX),
            ));
            let rows = self.tx.query(
                &d.sql(&format!(
                    "SELECT DISTINCT i.id, i.first_time FROM incident_keys k \
                     JOIN incidents i ON i.id = k.incident_id \
                     WHERE k.key IN ({}) AND k.first_time <= ${} AND k.last_time >= ${} \
                     AND i.alert_count < ${} ORDER BY i.first_time, i.id",
                    list.join(", "),
                    keys.len() + 1,
                    keys.len() + 2,
                    keys.len() + 3
                )),
                &params,
            )?;
            candidates = rows
                .into_iter()
                .filter_map(|row| row.into_iter().next().and_then(Cell::into_text))
                .collect();
        }
        let target = match candidates.first() {
            Some(existing) => existing.clone(),
            None => {
                let new_id = incident_id(id);
                self.tx.execute(
                    &d.sql(
                        "INSERT INTO incidents (id, title, severity, severity_rank, status, \
                         first_time, last_time, tactics, alert_count, created_at, updated_at) \
                         VALUES ($1, '', 'Informational', 0, 'New', $2, $3, '[]', 0, $4, $4) \
                         ON CONFLICT (id) DO NOTHING",
                    ),
                    &[
                        Value::text(&new_id),
                        Value::Int(alert.start_time.0),
                        Value::Int(alert.end_time.0),
                        Value::Int(self.now),
                    ],
                )?;
                new_id
            }
        };
        for other in candidates.iter().skip(1) {
            self.merge(other, &target)?;
        }
        self.tx.execute(
            &d.sql(
                "INSERT INTO incident_alerts (alert_id, incident_id, position) VALUES ($1, $2, 0) \
                 ON CONFLICT (alert_id) DO NOTHING",
            ),
            &[Value::text(id), Value::text(&target)],
        )?;
        for key in &keys {
            self.widen_key(key, &target, alert.start_time.0, alert.end_time.0)?;
        }
        self.extend_incident(&target, alert, 1)
    }

    /// Keeps what later alerts of this batch correlate by (the alert count against the size
    /// cap, the span that picks the oldest incident) up to date at once; the rest of the
    /// summary waits for [`AlertWriter::resummarize_stale`].
    fn extend_incident(
        &mut self,
        incident: &str,
        alert: &Alert,
        added_alerts: i64,
    ) -> Result<(), StoreError> {
        self.tx.execute(
            &self.dialect.sql(
                "UPDATE incidents SET alert_count = alert_count + $1, \
                 first_time = CASE WHEN $2 < first_time THEN $2 ELSE first_time END, \
                 last_time = CASE WHEN $3 > last_time THEN $3 ELSE last_time END \
                 WHERE id = $4",
            ),
            &[
                Value::Int(added_alerts),
                Value::Int(alert.start_time.0),
                Value::Int(alert.end_time.0),
                Value::text(incident),
            ],
        )?;
        self.stale.insert(incident.to_owned());
        Ok(())
    }

    fn resummarize_stale(&mut self) -> Result<(), StoreError> {
        for incident in std::mem::take(&mut self.stale) {
            self.resummarize(&incident)?;
        }
        Ok(())
    }

    /// Records that `key` was seen in `incident` over `[first, last]`.
    fn widen_key(
        &mut self,
        key: &str,
        incident: &str,
        first: i64,
        last: i64,
    ) -> Result<(), StoreError> {
        self.tx.execute(
            &self.dialect.sql(
                "INSERT INTO incident_keys (key, incident_id, first_time, last_time) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (key, incident_id) DO UPDATE SET \
                 first_time = CASE WHEN excluded.first_time < incident_keys.first_time \
                   THEN excluded.first_time ELSE incident_keys.first_time END, \
                 last_time = CASE WHEN excluded.last_time > incident_keys.last_time \
                   THEN excluded.last_time ELSE incident_keys.last_time END",
            ),
            &[
                Value::text(key),
                Value::text(incident),
                Value::Int(first),
                Value::Int(last),
            ],
        )?;
        Ok(())
    }

    /// Moves everything of incident `from` into `into` and deletes `from`.
    fn merge(&mut self, from: &str, into: &str) -> Result<(), StoreError> {
        let d = self.dialect;
        self.tx.execute(
            &d.sql("UPDATE incident_alerts SET incident_id = $1 WHERE incident_id = $2"),
            &[Value::text(into), Value::text(from)],
        )?;
        self.tx.execute(
            &d.sql(
                "UPDATE incidents SET alert_count = incidents.alert_count + f.alert_count, \
                 first_time = CASE WHEN f.first_time < incidents.first_time \
                   THEN f.first_time ELSE incidents.first_time END, \
                 last_time = CASE WHEN f.last_time > incidents.last_time \
                   THEN f.last_time ELSE incidents.last_time END \
                 FROM incidents f WHERE f.id = $1 AND incidents.id = $2",
            ),
            &[Value::text(from), Value::text(into)],
        )?;
        self.stale.remove(from);
        let keys = self.tx.query(
            &d.sql("SELECT key, first_time, last_time FROM incident_keys WHERE incident_id = $1"),
            &[Value::text(from)],
        )?;
        for row in &keys {
            self.widen_key(&text_at(row, 0), into, int_at(row, 1), int_at(row, 2))?;
        }
        for table in ["incident_keys", "incident_entities", "incident_edges"] {
            self.tx.execute(
                &d.sql(&format!("DELETE FROM {table} WHERE incident_id = $1")),
                &[Value::text(from)],
            )?;
        }
        self.tx.execute(
            &d.sql("DELETE FROM incidents WHERE id = $1"),
            &[Value::text(from)],
        )?;
        Ok(())
    }

    /// Recomputes an incident's title, severity, span, kill-chain order and graph from its
    /// alerts.
    fn resummarize(&mut self, incident: &str) -> Result<(), StoreError> {
        let d = self.dialect;
        let rows = self.tx.query(
            &d.sql(&format!(
                "SELECT {ALERT_COLUMNS} FROM incident_alerts ia JOIN alerts a ON a.id = ia.alert_id \
                 WHERE ia.incident_id = $1 ORDER BY a.time_generated, a.id"
            )),
            &[Value::text(incident)],
        )?;
        let alerts: Vec<IdentifiedAlert> = rows
            .into_iter()
            .map(|row| {
                stored_alert(row).map(|stored| IdentifiedAlert {
                    id: stored.id,
                    alert: stored.alert,
                })
            })
            .collect::<Result<_, _>>()?;
        let summary = summarize(incident, &alerts);
        let cluster = alerts
            .iter()
            .find_map(|a| a.alert.entities.cluster.as_deref());
        self.tx.execute(
            &d.sql(
                "UPDATE incidents SET title = $1, severity = $2, severity_rank = $3, \
                 first_time = $4, last_time = $5, tactics = $6, alert_count = $7, cluster = $8, \
                 updated_at = $9 WHERE id = $10",
            ),
            &[
                Value::text(&summary.title),
                Value::text(summary.severity.name()),
                Value::Int(summary.severity as i64),
                Value::Int(summary.first_time.0),
                Value::Int(summary.last_time.0),
                Value::owned(to_json(&summary.tactics)?),
                Value::Int(summary.alert_ids.len() as i64),
                Value::opt_text(cluster),
                Value::Int(self.now),
                Value::text(incident),
            ],
        )?;
        // Only what changed is written: a new alert usually moves few positions and adds
        // few entities, and rewriting a whole large incident per batch is what made ingest
        // slow down as incidents grew.
        let stored_positions: HashMap<String, i64> = self
            .tx
            .query(
                &d.sql("SELECT alert_id, position FROM incident_alerts WHERE incident_id = $1"),
                &[Value::text(incident)],
            )?
            .iter()
            .map(|row| (text_at(row, 0), int_at(row, 1)))
            .collect();
        for (position, alert) in summary.alert_ids.iter().enumerate() {
            if stored_positions.get(alert) == Some(&(position as i64)) {
                continue;
            }
            self.tx.execute(
                &d.sql("UPDATE incident_alerts SET position = $1 WHERE alert_id = $2"),
                &[Value::Int(position as i64), Value::text(alert)],
            )?;
        }
        self.store_graph(incident, &summary.graph)
    }

    /// Replaces an incident's stored graph with `graph`, unless it is already stored as is.
    fn store_graph(&mut self, incident: &str, graph: &Graph) -> Result<(), StoreError> {
        let d = self.dialect;
        let nodes: Vec<[String; 4]> = graph
            .nodes
            .iter()
            .map(|node| {
                Ok([
                    node.id.clone(),
                    node.kind.name().to_owned(),
                    node.label.clone(),
                    to_json(&node.properties)?,
                ])
            })
            .collect::<Result<_, StoreError>>()?;
        let edges: Vec<[String; 3]> = graph
            .edges
            .iter()
            .map(|edge| {
                [
                    edge.from.clone(),
                    edge.to.clone(),
                    edge.kind.name().to_owned(),
                ]
            })
            .collect();
        let stored_nodes = self.tx.query(
            &d.sql(
                "SELECT entity_id, kind, label, properties FROM incident_entities \
                 WHERE incident_id = $1 ORDER BY position",
            ),
            &[Value::text(incident)],
        )?;
        let stored_edges = self.tx.query(
            &d.sql(
                "SELECT from_id, to_id, kind FROM incident_edges \
                 WHERE incident_id = $1 ORDER BY position",
            ),
            &[Value::text(incident)],
        )?;
        let same = |stored: &[Row], wanted: &[&[String]]| {
            stored.len() == wanted.len()
                && stored.iter().zip(wanted).all(|(row, fields)| {
                    fields
                        .iter()
                        .enumerate()
                        .all(|(i, field)| row.get(i).and_then(Cell::text) == Some(field.as_str()))
                })
        };
        let node_fields: Vec<&[String]> = nodes.iter().map(|n| n.as_slice()).collect();
        let edge_fields: Vec<&[String]> = edges.iter().map(|e| e.as_slice()).collect();
        if same(&stored_nodes, &node_fields) && same(&stored_edges, &edge_fields) {
            return Ok(());
        }
        for table in ["incident_entities", "incident_edges"] {
            self.tx.execute(
                &d.sql(&format!("DELETE FROM {table} WHERE incident_id = $1")),
                &[Value::text(incident)],
            )?;
        }
        for (position, [id, kind, label, properties]) in nodes.iter().enumerate() {
            self.tx.execute(
                &d.sql(
                    "INSERT INTO incident_entities \
                     (incident_id, entity_id, position, kind, label, properties) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                ),
                &[
                    Value::text(incident),
                    Value::text(id),
                    Value::Int(position as i64),
                    Value::text(kind),
                    Value::text(label),
                    Value::text(properties),
                ],
            )?;
        }
        for (position, [from, to, kind]) in edges.iter().enumerate() {
            self.tx.execute(
                &d.sql(
                    "INSERT INTO incident_edges (incident_id, position, from_id, to_id, kind) \
                     VALUES ($1, $2, $3, $4, $5)",
                ),
                &[
                    Value::text(incident),
                    Value::Int(position as i64),
                    Value::text(from),
                    Value::text(to),
                    Value::text(kind),
                ],
            )?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Row helpers

fn clamp_count(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

pub(crate) fn truncate(text: &str) -> String {
    text.chars().take(120).collect()
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid {
        what: "value to store",
        message: e.to_string(),
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: what.to_owned(),
        message: format!("{e} in {:?}", truncate(text)),
    })
}

/// A bare name as a JSON string, to parse enums by their serde names.
fn json_string(name: &str) -> String {
    serde_json::Value::from(name).to_string()
}

/// `%text%` for `LIKE ... ESCAPE '\'`, lower-cased, with the wildcards in `text` escaped so
/// that a user's `%` or `_` matches itself.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

pub(crate) fn require_text(
    what: &'static str,
    text: &str,
    max_bytes: usize,
) -> Result<(), StoreError> {
    if text.trim().is_empty() {
        return Err(StoreError::Invalid {
            what,
            message: "must not be empty".to_owned(),
        });
    }
    if text.len() > max_bytes {
        return Err(StoreError::Invalid {
            what,
            message: format!("{} bytes, more than the {max_bytes} allowed", text.len()),
        });
    }
    Ok(())
}

fn first_int(rows: &[Row]) -> Option<i64> {
    rows.first().and_then(|r| r.first()).and_then(Cell::int)
}

pub(crate) fn int_at(row: &Row, index: usize) -> i64 {
    row.get(index).and_then(Cell::int).unwrap_or(0)
}

pub(crate) fn text_at(row: &Row, index: usize) -> String {
    row.get(index)
        .and_then(Cell::text)
        .unwrap_or_default()
        .to_owned()
}

fn parse_status(cell: Option<&Cell>) -> Result<Status, StoreError> {
    let name = cell.and_then(Cell::text).unwrap_or_default();
    Status::from_name(name).ok_or_else(|| StoreError::Corrupt {
        what: "status".to_owned(),
        message: format!("unknown status {:?}", truncate(name)),
    })
}

fn stored_alert(row: Row) -> Result<StoredAlert, StoreError> {
    let id = text_at(&row, 0);
    let corrupt = |what: &str, value: &str| StoreError::Corrupt {
        what: format!("alert {id}"),
        message: format!("unknown {what} {:?}", truncate(value)),
    };
    let severity_name = text_at(&row, 4);
    let severity =
        Severity::from_name(&severity_name).ok_or_else(|| corrupt("severity", &severity_name))?;
    let plane_text = text_at(&row, 7);
    let plane = match plane_text.as_str() {
        "audit" => Plane::Audit,
        "config" => Plane::Config,
        "runtime" => Plane::Runtime,
        "cloud" => Plane::Cloud,
        other => return Err(corrupt("plane", other)),
    };
    let alert = Alert {
        alert_type: text_at(&row, 1),
        display_name: text_at(&row, 2),
        description: text_at(&row, 3),
        severity,
        tactics: parse_json::<Vec<Tactic>>("alert tactics", &text_at(&row, 5))?,
        techniques: parse_json("alert techniques", &text_at(&row, 6))?,
        plane,
        rule: text_at(&row, 8),
        time_generated: Timestamp(int_at(&row, 9)),
        start_time: Timestamp(int_at(&row, 10)),
        end_time: Timestamp(int_at(&row, 11)),
        count: int_at(&row, 12).max(0) as u64,
        reason: text_at(&row, 13),
        entities: parse_json::<Entities>("alert entities", &text_at(&row, 14))?,
        evidence: parse_json("alert evidence", &text_at(&row, 15))?,
        remediation: text_at(&row, 16),
        dedup_key: text_at(&row, 17),
    };
    Ok(StoredAlert {
        status: parse_status(row.get(18))?,
        assigned_to: row.get(19).and_then(Cell::text).map(str::to_owned),
        closed: int_at(&row, 20) == 1,
        created_at: Timestamp(int_at(&row, 21)),
        updated_at: Timestamp(int_at(&row, 22)),
        incident_id: row.get(23).and_then(Cell::text).map(str::to_owned),
        id,
        alert,
    })
}

fn stored_incident(row: Row) -> Result<StoredIncident, StoreError> {
    let id = text_at(&row, 0);
    let severity_name = text_at(&row, 2);
    let severity = Severity::from_name(&severity_name).ok_or_else(|| StoreError::Corrupt {
        what: format!("incident {id}"),
        message: format!("unknown severity {:?}", truncate(&severity_name)),
    })?;
    Ok(StoredIncident {
        title: text_at(&row, 1),
        severity,
        status: parse_status(row.get(3))?,
        assigned_to: row.get(4).and_then(Cell::text).map(str::to_owned),
        first_time: Timestamp(int_at(&row, 5)),
        last_time: Timestamp(int_at(&row, 6)),
        tactics: parse_json("incident tactics", &text_at(&row, 7))?,
        alert_count: int_at(&row, 8).max(0) as u64,
        cluster: row.get(9).and_then(Cell::text).map(str::to_owned),
        created_at: Timestamp(int_at(&row, 10)),
        updated_at: Timestamp(int_at(&row, 11)),
        id,
    })
}

/// A listing's WHERE clauses and the parameters they bind, built filter by filter.
#[derive(Default)]
struct Filters<'v> {
    clauses: Vec<String>,
    params: Vec<Value<'v>>,
}

impl<'v> Filters<'v> {
    /// Binds a value and returns its placeholder.
    fn bind(&mut self, value: Value<'v>) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// `column OP $n`.
    fn compare(&mut self, column: &str, op: &str, value: Value<'v>) {
        let placeholder = self.bind(value);
        self.clauses.push(format!("{column} {op} {placeholder}"));
    }

    /// `column IN ($n, ...)`; an empty list adds no constraint.
    fn any_of(&mut self, column: &str, values: impl Iterator<Item = Value<'v>>) {
        let placeholders: Vec<String> = values.map(|v| self.bind(v)).collect();
        if !placeholders.is_empty() {
            self.clauses
                .push(format!("{column} IN ({})", placeholders.join(", ")));
        }
    }

    /// Any of `columns` contains `text`, case-insensitively (`%` and `_` match themselves).
    fn contains_text(&mut self, columns: &[&str], text: &str) {
        let placeholder = self.bind(Value::owned(like_pattern(text)));
        let tests: Vec<String> = columns
            .iter()
            .map(|c| format!("lower({c}) LIKE {placeholder} ESCAPE '\\'"))
            .collect();
        self.clauses.push(format!("({})", tests.join(" OR ")));
    }

    /// `WHERE a AND b ...`, or nothing without clauses.
    fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Placeholders for LIMIT and OFFSET (the page size capped at `Page::MAX_LIMIT`).
    fn page(&mut self, page: Page) -> (String, String) {
        let limit = self.bind(Value::Int(page.limit.min(Page::MAX_LIMIT) as i64));
        let offset = self.bind(Value::Int(i64::try_from(page.offset).unwrap_or(i64::MAX)));
        (limit, offset)
    }
}
