use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

#[derive(Args)]
pub struct CatalogArgs {
    /// Print JSON (one array) instead of a table.
    #[arg(long)]
    json: bool,
    /// Extra rule files or directories that may define alert types.
    #[arg(long = "rules", value_name = "DIR")]
    rules: Vec<std::path::PathBuf>,
}

/// The catalog entry as `kdr catalog --json` prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    id: &'a str,
    display_name: &'a str,
    plane: kdr_model::Plane,
    severity: kdr_model::Severity,
    tactics: &'a [kdr_model::Tactic],
    techniques: &'a [String],
    mitigations: &'a [String],
    aliases: &'a [String],
    description: &'a str,
    impact: &'a str,
    remediation: &'a str,
    /// Names of the enabled rules that raise this alert type.
    rules: Vec<&'a str>,
}

pub fn run(args: CatalogArgs) -> anyhow::Result<ExitCode> {
    let rules = kdr_rules::load(&args.rules).map_err(|e| crate::report_errors(&e))?;
    let entries: Vec<Entry<'_>> = rules
        .catalog
        .iter()
        .enumerate()
        .map(|(index, t)| Entry {
            id: &t.id,
            display_name: &t.display_name,
            plane: t.plane,
            severity: t.severity,
            tactics: &t.tactics,
            techniques: &t.techniques,
            mitigations: &t.mitigations,
            aliases: &t.aliases,
            description: &t.description,
            impact: &t.impact,
            remediation: &t.remediation,
            rules: rules
                .rules
                .iter()
                .filter(|r| r.alert_type == index)
                .map(|r| r.name.as_str())
                .collect(),
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                vec![
                    e.id.to_string(),
                    e.severity.name().to_string(),
                    e.tactics
                        .iter()
                        .map(|t| t.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    e.display_name.to_string(),
                ]
            })
            .collect();
        print!(
            "{}",
            crate::table::render(&["ID", "SEVERITY", "TACTICS", "NAME"], &rows, 80)
        );
    }
    Ok(ExitCode::SUCCESS)
}
