//! `kdr`: a thin command-line layer over the kdr crates.

mod admin_cmd;
mod alerts_out;
mod catalog_cmd;
mod detect_cmd;
mod respond_cmd;
mod rules_cmd;
mod sensor_cmd;
mod serve_cmd;
mod store_cmd;
mod table;
mod test_alert_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "kdr", version, about = "Kubernetes detection and response")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run kdr: store, audit webhook, sensor ingest, detection, API and web console.
    Serve(serve_cmd::ServeArgs),
    /// Read audit, cloud and runtime events and print the alerts they raise.
    Detect(detect_cmd::DetectArgs),
    /// Run the eBPF node sensor (root): stream runtime events, or alerts with --alerts.
    Sensor(sensor_cmd::SensorArgs),
    /// Store events and the alerts detection raises on them.
    Ingest(store_cmd::IngestArgs),
    /// List, show and triage stored alerts.
    Alerts(store_cmd::AlertsArgs),
    /// List and show incidents and their entity graphs.
    Incidents(store_cmd::IncidentsArgs),
    /// Hunt with KQL over CloudProcessEvents, CloudRuntimeEvents and CloudAuditEvents.
    Hunt(store_cmd::HuntArgs),
    /// List every alert type kdr raises.
    Catalog(catalog_cmd::CatalogArgs),
    /// Work with rule files.
    Rules {
        #[command(subcommand)]
        command: rules_cmd::RulesCommand,
    },
    /// List every field rule conditions can use.
    Fields(rules_cmd::FieldsArgs),
    /// Isolate, release or terminate a pod (directly, or through kdr serve with --server).
    Respond(respond_cmd::RespondArgs),
    /// List response actions and how they ended.
    Actions(respond_cmd::ActionsArgs),
    /// Manage kdr serve's console users (local store).
    Users(admin_cmd::UsersArgs),
    /// Manage kdr serve's API tokens (local store).
    Tokens(admin_cmd::TokensArgs),
    /// Print the kubeconfig-format file that points the API server's audit webhook at kdr.
    AuditWebhookConfig(admin_cmd::WebhookConfigArgs),
    /// Run kdr's harmless test action: a sensor on this node raises K8S.NODE_EICAR.
    TestAlert(test_alert_cmd::TestAlertArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve_cmd::run(args),
        Command::Respond(args) => respond_cmd::respond(args),
        Command::Actions(args) => respond_cmd::actions(args),
        Command::Users(args) => admin_cmd::users(args),
        Command::Tokens(args) => admin_cmd::tokens(args),
        Command::AuditWebhookConfig(args) => admin_cmd::webhook_config(args),
        Command::Detect(args) => detect_cmd::run(args),
        Command::Sensor(args) => sensor_cmd::run(args),
        Command::Ingest(args) => store_cmd::ingest(args),
        Command::Alerts(args) => store_cmd::alerts(args),
        Command::Incidents(args) => store_cmd::incidents(args),
        Command::Hunt(args) => store_cmd::hunt(args),
        Command::Catalog(args) => catalog_cmd::run(args),
        Command::Rules { command } => rules_cmd::run(command),
        Command::Fields(args) => rules_cmd::fields(args),
        Command::TestAlert(args) => test_alert_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kdr: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Where loaded rules or intel failed: every error on its own line.
pub fn report_errors<E: std::fmt::Display>(errors: &[E]) -> anyhow::Error {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    anyhow::anyhow!(
        "{} error(s) in rule files:\n{}",
        lines.len(),
        lines.join("\n")
    )
}
