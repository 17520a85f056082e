use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Validate rule files (with the shipped rules they extend): every error with file:line:column.
    Check {
        /// Rule files or directories.
        paths: Vec<PathBuf>,
    },
}

#[derive(Args)]
pub struct FieldsArgs {
    /// Only fields of this source (k8s_audit, runtime, cloud, exposure).
    #[arg(long)]
    source: Option<String>,
    /// Print Markdown table rows (for docs/fields.md).
    #[arg(long)]
    markdown: bool,
}

pub fn run(command: RulesCommand) -> anyhow::Result<ExitCode> {
    match command {
        RulesCommand::Check { paths } => match kdr_rules::load(&paths) {
            Ok(rules) => {
                println!(
                    "ok: {} rules, {} alert types",
                    rules.rules.len(),
                    rules.catalog.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for error in &errors {
                    eprintln!("{error}");
                }
                eprintln!("{} error(s)", errors.len());
                Ok(ExitCode::from(2))
            }
        },
    }
}

pub fn fields(args: FieldsArgs) -> anyhow::Result<ExitCode> {
    use kdr_rules::fields::FieldSource;
    let rows: Vec<Vec<String>> = kdr_rules::FIELDS
        .iter()
        .filter(|f| match (&args.source, f.source) {
            (None, _) | (_, FieldSource::Any) => true,
            (Some(wanted), FieldSource::Only(source)) => source.name() == wanted,
        })
        .map(|f| {
            vec![
                match f.arg {
                    kdr_rules::fields::ArgKind::None => f.name.to_string(),
                    _ => format!("{} [ARG]", f.name),
                },
                match f.source {
                    FieldSource::Any => "any".to_string(),
                    FieldSource::Only(s) => s.name().to_string(),
                },
                f.ty.name().to_string(),
                f.doc.to_string(),
            ]
        })
        .collect();
    if args.markdown {
        for row in &rows {
            let (name, arg) = row[0].split_once(' ').unwrap_or((&row[0], ""));
            println!(
                "| `{name}`{} | {} | {} | {} |",
                if arg.is_empty() {
                    String::new()
                } else {
                    format!(" {arg}")
                },
                row[1],
                row[2],
                row[3].replace('|', "\\|")
            );
        }
    } else {
        print!(
            "{}",
            crate::table::render(&["FIELD", "SOURCE", "TYPE", "MEANING"], &rows, 100)
        );
    }
    Ok(ExitCode::SUCCESS)
}
