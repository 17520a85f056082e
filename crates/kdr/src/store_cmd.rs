//! Commands over the durable store: `ingest`, `alerts`, `incidents`, `hunt`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};

use kdr_decode::EventReader;
use kdr_engine::AlertEvent;
use kdr_incidents::Status;
use kdr_model::{Event, Plane, Severity, Timestamp};
use kdr_store::{
    AlertFilter, AlertSort, AlertSortField, IncidentFilter, Page, Store, StoreOptions,
};

use crate::alerts_out::DetectionArgs;

#[derive(Args, Clone)]
pub struct StoreArg {
    /// Where the store is: a data directory (embedded SQLite) or a postgres:// URL.
    /// Default: $XDG_STATE_HOME/kdr, else ~/.local/state/kdr.
    #[arg(long, env = "KDR_STORE", global = true)]
    store: Option<String>,
}

impl StoreArg {
    pub fn location(&self) -> anyhow::Result<String> {
        if let Some(location) = &self.store {
            return Ok(location.clone());
        }
        let state = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .context("no --store given and neither XDG_STATE_HOME nor HOME is set")?;
        Ok(state.join("kdr").display().to_string())
    }

    pub fn open(&self) -> anyhow::Result<Store> {
        let location = self.location()?;
        Store::open(&location, StoreOptions::default())
            .with_context(|| format!("opening the store at {location}"))
    }
}

fn actor() -> String {
    std::env::var("USER").unwrap_or_else(|_| "cli".to_owned())
}

// ---------------------------------------------------------------------------------------------
// ingest

#[derive(Args)]
pub struct IngestArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Input files (any format `kdr detect` reads); `-` reads standard input.
    inputs: Vec<String>,
    #[command(flatten)]
    detection: DetectionArgs,
    /// Events per transaction.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
}

pub fn ingest(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let mut engine = args.detection.engine()?;
    let mut store = args.store.open()?;
    let batch_size = args.batch.max(1);
    let mut events: Vec<Event> = Vec::with_capacity(batch_size);
    let mut alert_events: Vec<AlertEvent> = Vec::new();
    let (mut stored, mut rejected, mut alerts) = (0u64, 0u64, 0u64);
    let mut flush =
        |store: &mut Store, events: &mut Vec<Event>, alert_events: &mut Vec<AlertEvent>| {
            let report = store
                .ingest(events, alert_events)
                .context("writing to the store")?;
            alerts += report.alerts_inserted;
            stored += events.len() as u64;
            events.clear();
            alert_events.clear();
            anyhow::Ok(())
        };
    let inputs = if args.inputs.is_empty() {
        vec!["-".to_owned()]
    } else {
        args.inputs.clone()
    };
    for name in &inputs {
        let reader: Box<dyn BufRead> = if name == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(BufReader::new(
                File::open(name).with_context(|| format!("opening {name}"))?,
            ))
        };
        for item in EventReader::new(if name == "-" { "<stdin>" } else { name }, reader) {
            match item {
                Ok(event) => {
                    engine.process(&event, &mut alert_events);
                    events.push(event);
                    if events.len() >= batch_size {
                        flush(&mut store, &mut events, &mut alert_events)?;
                    }
                }
                Err(error) => {
                    rejected += 1;
                    eprintln!("{error}");
                }
            }
        }
    }
    engine.flush(&mut alert_events);
    flush(&mut store, &mut events, &mut alert_events)?;
    eprintln!(
        "kdr ingest: {stored} events stored, {alerts} new alerts, {rejected} rejected, store {}",
        args.store.location()?
    );
    Ok(if rejected > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

// ---------------------------------------------------------------------------------------------
// alerts

#[derive(Clone, Copy, ValueEnum)]
pub enum ListOutput {
    Table,
    Json,
}

#[derive(Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    store: StoreArg,
    #[command(subcommand)]
    command: AlertsCommand,
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// List alerts, newest first.
    List(Box<AlertListArgs>),
    /// One alert with its comments and status history, as JSON.
    Show { id: String },
    /// Set the status: New, InProgress or Resolved.
    Status {
        id: String,
        status: String,
        #[arg(long)]
        actor: Option<String>,
    },
    /// Assign to someone (or `--clear`).
    Assign {
        id: String,
        assignee: Option<String>,
        #[arg(long)]
        clear: bool,
        #[arg(long)]
        actor: Option<String>,
    },
    /// Add a comment.
    Comment {
        id: String,
        text: String,
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(Args)]
struct AlertListArgs {
    /// Severity (repeatable): Informational, Low, Medium, High.
    #[arg(long)]
    severity: Vec<String>,
    /// Status (repeatable): New, InProgress, Resolved.
    #[arg(long)]
    status: Vec<String>,
    /// Alert type ID (repeatable).
    #[arg(long = "type")]
    alert_type: Vec<String>,
    /// Plane (repeatable): audit, config, runtime, cloud.
    #[arg(long)]
    plane: Vec<String>,
    #[arg(long)]
    cluster: Option<String>,
    #[arg(long)]
    namespace: Option<String>,
    #[arg(long)]
    pod: Option<String>,
    /// Event time from (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Event time to (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// Free text in the type, name, reason or entities.
    #[arg(long)]
    text: Option<String>,
    /// Sort by: time, severity, type, status, count, updated.
    #[arg(long, default_value = "time")]
    sort: String,
    /// Oldest or lowest first.
    #[arg(long)]
    ascending: bool,
    #[arg(long, default_value_t = 50)]
    limit: u64,
    #[arg(long, default_value_t = 0)]
    offset: u64,
    #[arg(long, value_enum, default_value = "table")]
    output: ListOutput,
}

fn parse_status(text: &str) -> anyhow::Result<Status> {
    Status::ALL
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(text))
        .with_context(|| format!("unknown status `{text}`: expected New, InProgress or Resolved"))
}

fn parse_time(text: &Option<String>) -> anyhow::Result<Option<Timestamp>> {
    text.as_deref()
        .map(|t| Timestamp::parse_rfc3339(t).map_err(anyhow::Error::from))
        .transpose()
}

pub fn alerts(args: AlertsArgs) -> anyhow::Result<ExitCode> {
    let mut store = args.store.open()?;
    match args.command {
        AlertsCommand::List(list) => {
            let filter = AlertFilter {
                severities: list
                    .severity
                    .iter()
                    .map(|s| {
                        Severity::from_name(s).with_context(|| format!("unknown severity `{s}`"))
                    })
                    .collect::<anyhow::Result<_>>()?,
                statuses: list
                    .status
                    .iter()
                    .map(|s| parse_status(s))
                    .collect::<anyhow::Result<_>>()?,
                alert_types: list.alert_type.clone(),
                planes: list
                    .plane
                    .iter()
                    .map(|p| {
                        Plane::from_name(p).with_context(|| {
                            format!("unknown plane `{p}`: expected audit, config, runtime or cloud")
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
                cluster: list.cluster.clone(),
                namespace: list.namespace.clone(),
                pod: list.pod.clone(),
                from: parse_time(&list.from)?,
                to: parse_time(&list.to)?,
                text: list.text.clone(),
            };
            let field = match list.sort.as_str() {
                "time" => AlertSortField::Time,
                "severity" => AlertSortField::Severity,
                "type" => AlertSortField::AlertType,
                "status" => AlertSortField::Status,
                "count" => AlertSortField::Count,
                "updated" => AlertSortField::Updated,
                other => bail!("unknown sort `{other}`: expected time, severity, type, status, count or updated"),
            };
            let sort = AlertSort {
                field,
                descending: !list.ascending,
            };
            let page = store.list_alerts(
                &filter,
                sort,
                Page {
                    offset: list.offset,
                    limit: list.limit,
                },
            )?;
            match list.output {
                ListOutput::Json => println!("{}", serde_json::to_string_pretty(&page)?),
                ListOutput::Table => {
                    let rows: Vec<Vec<String>> = page
                        .alerts
                        .iter()
                        .map(|a| {
                            vec![
                                a.id.clone(),
                                a.alert.time_generated.to_string(),
                                a.alert.severity.name().to_owned(),
                                a.status.name().to_owned(),
                                a.alert.alert_type.clone(),
                                a.alert.count.to_string(),
                                a.alert.reason.clone(),
                            ]
                        })
                        .collect();
                    print!(
                        "{}",
                        crate::table::render(
                            &["ID", "TIME", "SEVERITY", "STATUS", "ALERT", "COUNT", "REASON"],
                            &rows,
                            90
                        )
                    );
                    eprintln!("{} of {} alerts", page.alerts.len(), page.total);
                }
            }
        }
        AlertsCommand::Show { id } => {
            let alert = store
                .get_alert(&id)?
                .with_context(|| format!("no alert {id}"))?;
            let shown = serde_json::json!({
                "alert": alert,
                "comments": store.alert_comments(&id)?,
                "history": store.alert_history(&id)?,
            });
            println!("{}", serde_json::to_string_pretty(&shown)?);
        }
        AlertsCommand::Status {
            id,
            status,
            actor: who,
        } => {
            store.set_alert_status(&id, parse_status(&status)?, &who.unwrap_or_else(actor))?;
        }
        AlertsCommand::Assign {
            id,
            assignee,
            clear,
            actor: who,
        } => {
            if assignee.is_none() && !clear {
                bail!("give an assignee, or --clear to unassign");
            }
            store.assign_alert(&id, assignee.as_deref(), &who.unwrap_or_else(actor))?;
        }
        AlertsCommand::Comment {
            id,
            text,
            actor: who,
        } => {
            store.comment_alert(&id, &who.unwrap_or_else(actor), &text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// incidents

#[derive(Args)]
pub struct IncidentsArgs {
    #[command(flatten)]
    store: StoreArg,
    #[command(subcommand)]
    command: IncidentsCommand,
}

#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    Json,
    Dot,
}

#[derive(Subcommand)]
enum IncidentsCommand {
    /// List incidents, newest first.
    List {
        #[arg(long)]
        text: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long, value_enum, default_value = "table")]
        output: ListOutput,
    },
    /// One incident with its alerts (kill-chain order), as JSON.
    Show { id: String },
    /// The incident's entity graph as JSON or Graphviz dot.
    Graph {
        id: String,
        #[arg(long, value_enum, default_value = "json")]
        format: GraphFormat,
    },
}

pub fn incidents(args: IncidentsArgs) -> anyhow::Result<ExitCode> {
    let mut store = args.store.open()?;
    match args.command {
        IncidentsCommand::List {
            text,
            limit,
            output,
        } => {
            let filter = IncidentFilter {
                text,
                ..IncidentFilter::default()
            };
            let page = store.list_incidents(&filter, Page::first(limit))?;
            match output {
                ListOutput::Json => println!("{}", serde_json::to_string_pretty(&page)?),
                ListOutput::Table => {
                    let rows: Vec<Vec<String>> = page
                        .incidents
                        .iter()
                        .map(|i| {
                            vec![
                                i.id.clone(),
                                i.first_time.to_string(),
                                i.severity.name().to_owned(),
                                i.status.name().to_owned(),
                                i.alert_count.to_string(),
                                i.title.clone(),
                            ]
                        })
                        .collect();
                    print!(
                        "{}",
                        crate::table::render(
                            &["ID", "FIRST", "SEVERITY", "STATUS", "ALERTS", "TITLE"],
                            &rows,
                            90
                        )
                    );
                }
            }
        }
        IncidentsCommand::Show { id } => {
            let incident = store
                .get_incident(&id)?
                .with_context(|| format!("no incident {id}"))?;
            let shown = serde_json::json!({
                "incident": incident,
                "alerts": store.incident_alerts(&id)?,
            });
            println!("{}", serde_json::to_string_pretty(&shown)?);
        }
        IncidentsCommand::Graph { id, format } => {
            let graph = store.incident_graph(&id)?;
            match format {
                GraphFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&graph.to_json())?)
                }
                GraphFormat::Dot => print!("{}", graph.to_dot()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// hunt

#[derive(Clone, Copy, ValueEnum)]
pub enum HuntOutput {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
pub struct HuntArgs {
    #[command(flatten)]
    store: StoreArg,
    /// The KQL query, e.g. `CloudProcessEvents | where ProcessCommandLine has "curl" | take 10`.
    query: Option<String>,
    /// "Go hunt": every process event and audit activity of this incident's pods, containers
    /// and identities.
    #[arg(long, conflicts_with = "query")]
    incident: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    output: HuntOutput,
    /// Rows returned at most.
    #[arg(long, default_value_t = 10_000)]
    max_rows: usize,
    /// Seconds a query may run.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// What `now()` and `ago()` mean (RFC 3339; default: the wall clock).
    #[arg(long)]
    now: Option<String>,
    /// Print the SQL each query compiles to (with its parameters) instead of running it.
    #[arg(long)]
    sql: bool,
}

pub fn hunt(args: HuntArgs) -> anyhow::Result<ExitCode> {
    let mut store = args.store.open()?;
    let now = match parse_time(&args.now)? {
        Some(t) => t.0,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
    };
    let limits = kdr_kql::Limits {
        max_rows: args.max_rows,
        timeout: Duration::from_secs(args.timeout),
    };
    let queries = match (&args.query, &args.incident) {
        (Some(query), None) => vec![query.clone()],
        (None, Some(id)) => go_hunt_queries(&mut store, id)?,
        _ => bail!("give a KQL query, or --incident ID"),
    };
    let mut stdout = io::stdout().lock();
    for query in &queries {
        if args.incident.is_some() {
            eprintln!("-- {query}");
        }
        if args.sql {
            let compiled = store.compile_hunt(query, now, &limits)?;
            writeln!(stdout, "{};", compiled.sql)?;
            writeln!(stdout, "-- parameters: {:?}", compiled.params)?;
            continue;
        }
        let result = store.hunt(query, now, &limits)?;
        print_result(&mut stdout, &result, args.output)?;
        if result.truncated {
            eprintln!("(cut at {} rows; use --max-rows)", args.max_rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The queries "go hunt" runs for an incident.
fn go_hunt_queries(store: &mut Store, incident: &str) -> anyhow::Result<Vec<String>> {
    let alerts = store.incident_alerts(incident)?;
    if alerts.is_empty() {
        bail!("no incident {incident} (or it has no alerts)");
    }
    let queries = kdr_incidents::hunt_queries(alerts.iter().map(|stored| &stored.alert));
    if queries.is_empty() {
        bail!("incident {incident} names no container, pod or identity to hunt for");
    }
    Ok(queries)
}

fn print_result(
    out: &mut impl Write,
    result: &kdr_kql::ResultSet,
    format: HuntOutput,
) -> anyhow::Result<()> {
    match format {
        HuntOutput::Json => {
            for object in result.json_objects() {
                serde_json::to_writer(&mut *out, &object)?;
                out.write_all(b"\n")?;
            }
        }
        HuntOutput::Csv => out.write_all(result.to_csv().as_bytes())?,
        HuntOutput::Table => {
            let names = result.column_names();
            let cells: Vec<Vec<String>> = result
                .display_rows()
                .iter()
                .map(|r| r.iter().map(kdr_kql::cell_text).collect())
                .collect();
            write!(out, "{}", crate::table::render(&names, &cells, 60))?;
        }
    }
    Ok(())
}
