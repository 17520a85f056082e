use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use kdr_decode::EventReader;

use crate::alerts_out::{DetectionArgs, Output, Printer};

#[derive(Args)]
pub struct DetectArgs {
    /// Input files (audit logs, webhook batches, cloud envelopes, recorded runtime events);
    /// `-` or nothing reads standard input. The format is detected per record.
    inputs: Vec<String>,
    #[command(flatten)]
    detection: DetectionArgs,
    /// Output format; default: table on a terminal, JSON lines otherwise.
    #[arg(long, value_enum)]
    output: Option<Output>,
    /// Stop at the first malformed record.
    #[arg(long)]
    strict: bool,
    /// Baseline state file: loaded if it exists, saved at the end.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Print each alert as soon as it opens, and again when its throttle window closes if
    /// repeats were folded into it (same dedupKey, final count). Default: print each alert
    /// once, when its window closes (10 minutes of event time, or the end of input).
    #[arg(long)]
    immediate: bool,
}

pub fn run(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let mut engine = args.detection.engine()?;
    if let Some(path) = &args.state {
        if path.exists() {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading state {}", path.display()))?;
            engine
                .load_state(&text)
                .with_context(|| format!("state file {}", path.display()))?;
        }
    }
    let output = args.output.unwrap_or(if io::stdout().is_terminal() {
        Output::Table
    } else {
        Output::Json
    });
    let mut printer = Printer::new(output, args.immediate);
    let inputs = if args.inputs.is_empty() {
        vec!["-".to_string()]
    } else {
        args.inputs.clone()
    };
    let mut rejected = 0u64;
    let mut records = 0u64;
    let mut alert_events = Vec::new();
    'inputs: for name in &inputs {
        let reader: Box<dyn BufRead> = if name == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(BufReader::new(
                File::open(name).with_context(|| format!("opening {name}"))?,
            ))
        };
        let display = if name == "-" {
            "<stdin>"
        } else {
            name.as_str()
        };
        let mut events = EventReader::new(display, reader);
        for item in &mut events {
            match item {
                Ok(event) => {
                    engine.process(&event, &mut alert_events);
                    printer.take(&mut alert_events)?;
                }
                Err(error) => {
                    rejected += 1;
                    eprintln!("{error}");
                    if args.strict {
                        break 'inputs;
                    }
                }
            }
        }
        records += events.stats().records;
    }
    engine.flush(&mut alert_events);
    printer.take(&mut alert_events)?;
    printer.finish()?;
    if let Some(path) = &args.state {
        std::fs::write(path, engine.save_state()?)
            .with_context(|| format!("writing state {}", path.display()))?;
    }
    let stats = engine.stats();
    eprintln!(
        "kdr detect: {records} records, {} events, {rejected} rejected, {} alerts ({} repeats folded)",
        stats.events, printer.printed, stats.repeats_folded
    );
    Ok(if rejected > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
