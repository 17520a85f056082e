//! The store on SQLite: the shared behaviour suite plus what only SQLite has (the file, its
//! pragmas, migrations on disk, the physical hunting columns).

mod common;

use std::path::Path;

use kdr_engine::AlertEvent;
use kdr_model::{
    Context, Event, KubeAudit, ObjectRef, Payload, Process, RuntimeAction, RuntimeEvent, Timestamp,
    UserInfo,
};
use kdr_store::schema::{latest_version, HUNTING_TABLES};
use kdr_store::synthetic::{alert, Generator};
use kdr_store::{Backend, Store, StoreError, StoreOptions};
use rusqlite::Connection;

fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_sqlite_dir(&dir.path().join("data"), StoreOptions::default())
        .expect("open store");
    (dir, store)
}

shared_store_tests!(|_name: &str| Some(fresh()));

fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join("data").join("kdr.db")).expect("open raw")
}

#[test]
fn open_creates_the_data_directory_and_migrates_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("nested").join("data");
    let mut store =
        Store::open(data.to_str().expect("utf-8 path"), StoreOptions::default()).expect("open");
    assert_eq!(store.backend(), Backend::Sqlite);
    assert_eq!(store.schema_version().expect("version"), latest_version());
    assert!(data.join("kdr.db").is_file());
    drop(store);
    let mut again =
        Store::open(data.to_str().expect("utf-8 path"), StoreOptions::default()).expect("reopen");
    assert_eq!(again.schema_version().expect("version"), latest_version());
    let connection = Connection::open(data.join("kdr.db")).expect("raw");
    let recorded: i64 = connection
        .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
        .expect("count");
    assert_eq!(recorded, latest_version(), "each migration recorded once");
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
}

#[test]
fn a_store_newer_than_this_kdr_is_refused() {
    let (dir, store) = fresh();
    drop(store);
    raw(dir.path())
        .execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
            [],
        )
        .expect("insert");
    let error = Store::open_sqlite_dir(&dir.path().join("data"), StoreOptions::default())
        .err()
        .expect("refused");
    assert!(
        matches!(error, StoreError::SchemaTooNew { found: 999, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("upgrade kdr"));
}

#[test]
fn an_unusable_data_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").expect("write");
    let error = Store::open_sqlite_dir(&file.join("data"), StoreOptions::default())
        .err()
        .expect("error");
    assert!(matches!(error, StoreError::DataDir { .. }), "{error}");
    assert!(error.to_string().contains("not-a-dir"));
}

#[test]
fn hunting_tables_have_the_contract_columns_and_types() {
    let (dir, _store) = fresh();
    let connection = raw(dir.path());
    for table in HUNTING_TABLES {
        let mut statement = connection
            .prepare(&format!("PRAGMA table_info(\"{}\")", table.name))
            .expect("table_info");
        let columns: Vec<(String, String)> = statement
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let expected: Vec<(String, String)> = table
            .columns
            .iter()
            .map(|(name, kind)| {
                (
                    (*name).to_owned(),
                    kind.physical(kdr_store::db::Dialect::Sqlite).to_owned(),
                )
            })
            .collect();
        assert_eq!(columns, expected, "{}", table.name);
        let indexes: i64 = connection
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1",
                [table.name],
                |r| r.get(0),
            )
            .expect("indexes");
        assert_eq!(indexes as usize, table.indexes.len(), "{}", table.name);
    }
}

fn exec_event() -> Event {
    Event {
        id: "node-1:boot:77".to_owned(),
        time: Timestamp(1_714_560_000_123_456_789),
        context: Context {
            cluster: Some("prod-eu".to_owned()),
            node: Some("node-1".to_owned()),
            namespace: Some("shop".to_owned()),
            pod: Some("db-0".to_owned()),
            container_id: Some("c0ffee".to_owned()),
            container_name: Some("postgres".to_owned()),
            image: Some("docker.io/library/postgres:16".to_owned()),
            identity: None,
            source_ips: vec![],
        },
        payload: Payload::Runtime(Box::new(RuntimeEvent {
            process: Process {
                pid: 4242,
                tgid: 4242,
                ppid: 4000,
                uid: 999,
                comm: "curl".to_owned(),
                exe: "/usr/bin/curl".to_owned(),
                args: vec![
                    "curl".to_owned(),
                    "-d".to_owned(),
                    "a b".to_owned(),
                    "http://x".to_owned(),
                ],
                cwd: "/var/lib/postgresql".to_owned(),
                start_time: Some(Timestamp(1_714_560_000_000_000_000)),
                user: Some("postgres".to_owned()),
                ancestors: vec![kdr_model::Ancestor {
                    pid: 4000,
                    exe: "/bin/bash".to_owned(),
                    args: vec!["bash".to_owned()],
                }]
                .into(),
                ..Process::default()
            },
            container_privileged: Some(false),
            image_id: None,
            cgroup_id: 1,
            mnt_ns: 2,
            action: RuntimeAction::Exec,
        })),
    }
}

fn audit_event() -> Event {
    Event {
        id: "audit-1".to_owned(),
        time: Timestamp(1_714_560_001_000_000_000),
        context: Context {
            cluster: Some("prod-eu".to_owned()),
            identity: Some("alice".to_owned()),
            source_ips: vec!["198.51.100.7".to_owned()],
            ..Context::default()
        },
        payload: Payload::K8sAudit(Box::new(KubeAudit {
            stage: "ResponseComplete".to_owned(),
            verb: "create".to_owned(),
            request_uri: "/api/v1/namespaces/shop/pods/db-0/exec?command=sh".to_owned(),
            user: UserInfo {
                username: "alice".to_owned(),
                uid: None,
                groups: vec!["devs".to_owned()],
            },
            user_agent: "kubectl/v1.29.2".to_owned(),
            object_ref: Some(ObjectRef {
                resource: "pods".to_owned(),
                subresource: "exec".to_owned(),
                namespace: "shop".to_owned(),
                name: "db-0".to_owned(),
                ..ObjectRef::default()
            }),
            response_code: Some(101),
            request_object: serde_json::value::RawValue::from_string(
                r#"{"kind":"PodExecOptions","command":["sh"]}"#.to_owned(),
            )
            .ok(),
            ..KubeAudit::default()
        })),
    }
}

#[test]
fn events_fill_the_hunting_columns() {
    let (dir, mut store) = fresh();
    let mut exit = exec_event();
    if let Payload::Runtime(runtime) = &mut exit.payload {
        runtime.action = RuntimeAction::Exit { code: 3 };
    }
    let mut open = exec_event();
    if let Payload::Runtime(runtime) = &mut open.payload {
        runtime.action = RuntimeAction::Open {
            path: "/etc/shadow".to_owned(),
            flags: 0,
            result: -13,
        };
    }
    store
        .ingest(&[exec_event(), exit, open, audit_event()], &[])
        .expect("ingest");
    let connection = raw(dir.path());
    let process: (
        i64,
        String,
        String,
        String,
        String,
        i64,
        String,
        i64,
        String,
        String,
    ) = connection
        .query_row(
            "SELECT Timestamp, ActionType, FileName, FolderPath, ProcessCommandLine, \
                 ParentProcessId, ParentProcessName, ProcessCreationTime, AccountName, \
                 KubernetesResource FROM CloudProcessEvents WHERE ActionType = 'exec'",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            },
        )
        .expect("exec row");
    assert_eq!(
        process,
        (
            1_714_560_000_123_456_789,
            "exec".to_owned(),
            "curl".to_owned(),
            "/usr/bin/curl".to_owned(),
            "curl -d \"a b\" http://x".to_owned(),
            4000,
            "bash".to_owned(),
            1_714_560_000_000_000_000,
            "postgres".to_owned(),
            "pods/db-0".to_owned(),
        )
    );
    let exit_code: i64 = connection
        .query_row(
            "SELECT AdditionalFields ->> '$.exitCode' FROM CloudProcessEvents \
             WHERE ActionType = 'exit'",
            [],
            |r| r.get(0),
        )
        .expect("exit row");
    assert_eq!(exit_code, 3);
    let file: (String, String, i64) = connection
        .query_row(
            "SELECT ActionType, FilePath, AdditionalFields ->> '$.result' FROM CloudRuntimeEvents",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("runtime row");
    assert_eq!(file, ("open".to_owned(), "/etc/shadow".to_owned(), -13));
    let audit: (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        i64,
        String,
    ) = connection
        .query_row(
            "SELECT DataSource, ActionType, OperationName, ResourceId, IPAddress, UserName, \
             RawEventData ->> '$.user.username', RawEventData ->> '$.responseStatus.code', \
             RawEventData ->> '$.requestObject.command[0]' FROM CloudAuditEvents",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            },
        )
        .expect("audit row");
    assert_eq!(
        audit,
        (
            "Kubernetes audit".to_owned(),
            "create".to_owned(),
            "create pods/exec".to_owned(),
            "/api/v1/namespaces/shop/pods/db-0/exec".to_owned(),
            "198.51.100.7".to_owned(),
            "alice".to_owned(),
            "alice".to_owned(),
            101,
            "sh".to_owned(),
        )
    );
    let valid_json: i64 = connection
        .query_row(
            "SELECT MIN(json_valid(RawEventData) AND json_valid(AdditionalFields)) \
             FROM CloudAuditEvents",
            [],
            |r| r.get(0),
        )
        .expect("json");
    assert_eq!(valid_json, 1);
}

#[test]
fn a_failed_batch_stores_nothing() {
    let (dir, mut store) = fresh();
    store
        .ingest(&Generator::new(1).take(10).collect::<Vec<_>>(), &[])
        .expect("first batch");
    // Sabotage one table so the next batch fails half-way.
    raw(dir.path())
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON CloudAuditEvents \
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END;",
        )
        .expect("trigger");
    // More than one row chunk, so the threaded row building is on the failing path too.
    let events: Vec<Event> = Generator::new(2).take(3000).collect();
    let a = alert("K8S_Atomic", 0, "shop", "db-0");
    let error = store
        .ingest(&events, &[AlertEvent::Opened(a.clone())])
        .expect_err("fails");
    let message = error.to_string();
    assert!(message.contains("CloudAuditEvents"), "{message}");
    assert!(message.contains("refused by test"), "{message}");
    let total: u64 = store
        .hunting_counts()
        .expect("counts")
        .iter()
        .map(|c| c.1)
        .sum();
    assert_eq!(total, 10, "the failed batch left nothing behind");
    assert!(store
        .get_alert(&kdr_incidents::alert_id(&a))
        .expect("get")
        .is_none());
}

#[test]
fn data_survives_reopening_and_the_file_is_intact() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let a = alert("K8S_Durable", 0, "shop", "db-0");
    {
        let mut store = Store::open_sqlite_dir(&data, StoreOptions::default()).expect("open");
        store
            .ingest(
                &Generator::new(3).take(500).collect::<Vec<_>>(),
                &[AlertEvent::Opened(a.clone())],
            )
            .expect("ingest");
    }
    let mut store = Store::open_sqlite_dir(&data, StoreOptions::default()).expect("reopen");
    assert!(store
        .get_alert(&kdr_incidents::alert_id(&a))
        .expect("get")
        .is_some());
    let total: u64 = store
        .hunting_counts()
        .expect("counts")
        .iter()
        .map(|c| c.1)
        .sum();
    assert_eq!(total, 500);
    assert_eq!(store.integrity_check().expect("check"), "ok");
}
