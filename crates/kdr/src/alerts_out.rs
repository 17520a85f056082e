//! What the commands that run detection share: their rule and intel options, loading them,
//! and printing alerts.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};

use kdr_engine::{AlertEvent, Engine};
use kdr_intel::IndicatorSet;
use kdr_model::Alert;
use kdr_rules::Rules;

/// The rules and indicators detection runs with: the shipped ones plus the user's.
#[derive(Args)]
pub struct DetectionArgs {
    /// Threat-intelligence file: `INDICATOR CATEGORY` per line (repeatable).
    #[arg(long, value_name = "FILE")]
    intel: Vec<PathBuf>,
    /// Extra rule files or directories, loaded after the shipped rules (repeatable).
    #[arg(long = "rules", value_name = "DIR")]
    rules: Vec<PathBuf>,
}

impl DetectionArgs {
    /// The shipped rules with the user's on top; every rule error is reported, located.
    pub fn rules(&self) -> anyhow::Result<Arc<Rules>> {
        kdr_rules::load(&self.rules)
            .map(Arc::new)
            .map_err(|e| crate::report_errors(&e))
    }

    /// The shipped indicators with the user's files on top.
    pub fn intel(&self) -> anyhow::Result<IndicatorSet> {
        load_intel(&self.intel)
    }

    pub fn engine(&self) -> anyhow::Result<Engine> {
        Ok(Engine::new(self.rules()?, self.intel()?))
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    /// One JSON alert per line.
    Json,
    /// A readable table.
    Table,
}

fn load_intel(paths: &[PathBuf]) -> anyhow::Result<IndicatorSet> {
    let mut intel = IndicatorSet::shipped();
    let mut errors = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading intel {}", path.display()))?;
        errors.extend(intel.load(&path.display().to_string(), &text));
    }
    if errors.is_empty() {
        Ok(intel)
    } else {
        Err(crate::report_errors(&errors))
    }
}

/// Prints alerts when their throttle window closes, so each appears once with its count.
pub struct Printer {
    output: Output,
    immediate: bool,
    table_rows: Vec<Vec<String>>,
    stdout: io::BufWriter<io::Stdout>,
    pub printed: u64,
}

impl Printer {
    pub fn new(output: Output, immediate: bool) -> Printer {
        Printer {
            output,
            immediate,
            table_rows: Vec::new(),
            stdout: io::BufWriter::new(io::stdout()),
            printed: 0,
        }
    }

    pub fn take(&mut self, events: &mut Vec<AlertEvent>) -> anyhow::Result<()> {
        for event in events.drain(..) {
            match event {
                AlertEvent::Opened(alert) if self.immediate => self.print(&alert)?,
                AlertEvent::Closed(alert) if !self.immediate || alert.count > 1 => {
                    self.print(&alert)?
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn print(&mut self, alert: &Alert) -> anyhow::Result<()> {
        self.printed += 1;
        match self.output {
            Output::Json => {
                serde_json::to_writer(&mut self.stdout, alert)?;
                self.stdout.write_all(b"\n")?;
                // A live stream's reader must see each alert when it happens.
                if self.immediate {
                    self.stdout.flush()?;
                }
            }
            Output::Table => self.table_rows.push(vec![
                alert.time_generated.to_string(),
                alert.severity.name().to_string(),
                alert.alert_type.clone(),
                alert.count.to_string(),
                alert.reason.clone(),
            ]),
        }
        Ok(())
    }

    pub fn finish(&mut self) -> anyhow::Result<()> {
        if !self.table_rows.is_empty() {
            let text = crate::table::render(
                &["TIME", "SEVERITY", "ALERT", "COUNT", "REASON"],
                &self.table_rows,
                120,
            );
            self.stdout.write_all(text.as_bytes())?;
        }
        self.stdout.flush()?;
        Ok(())
    }
}
