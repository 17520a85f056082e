//! `kdr sensor`: the node sensor in the foreground, streaming events or alerts.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use kdr_engine::Engine;
use kdr_sensor::{Sensor, SensorConfig, SensorEvent};

use crate::alerts_out::{DetectionArgs, Output, Printer};

#[derive(Args)]
pub struct SensorArgs {
    /// Run detection in-process and print alerts (same JSON as `kdr detect`) instead of events.
    #[arg(long)]
    alerts: bool,
    /// Also record every raw event to FILE (JSON lines; `kdr detect FILE` replays it).
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Node name in events (default: the host name).
    #[arg(long)]
    node: Option<String>,
    /// Rules and intel for --alerts.
    #[command(flatten)]
    detection: DetectionArgs,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub fn run(args: SensorArgs) -> anyhow::Result<ExitCode> {
    let mut engine = if args.alerts {
        Some(args.detection.engine()?)
    } else {
        None
    };
    let mut record = match &args.events {
        // Large writes: much of what writing a file costs the kernel is per call (64 KiB calls
        // cost half of 8 KiB ones per byte).
        Some(path) => Some(BufWriter::with_capacity(
            64 << 10,
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let config = SensorConfig {
        node_name: args.node.clone(),
        ..SensorConfig::default()
    };
    let mut sensor = Sensor::start(config).context("starting the sensor")?;
    let stats = sensor.stats();
    eprintln!(
        "sensor ready ({} programs attached{})",
        stats.attached,
        if stats.unattached.is_empty() {
            String::new()
        } else {
            format!(", not on this kernel: {}", stats.unattached.join(" "))
        }
    );
    let mut sink = Sink {
        engine: engine.as_mut(),
        printer: Printer::new(Output::Json, true),
        alert_events: Vec::new(),
        // Events straight to the descriptor, in 64 KiB writes: stdout's own line buffering
        // would cut each at its last newline into two or three calls.
        stdout: BufWriter::with_capacity(
            64 << 10,
            File::from(io::stdout().as_fd().try_clone_to_owned()?),
        ),
    };
    let mut result = Ok(());
    while !STOP.load(Ordering::SeqCst) && result.is_ok() {
        match sensor.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => result = sink.handle(event, record.as_mut()),
            Err(RecvTimeoutError::Timeout) => result = sink.flush(record.as_mut()),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let stats = sensor.stop();
    // Everything read before the stop still counts.
    while let (Ok(event), true) = (sensor.recv_timeout(Duration::ZERO), result.is_ok()) {
        result = sink.handle(event, record.as_mut());
    }
    if let Some(engine) = sink.engine.as_deref_mut() {
        engine.flush(&mut sink.alert_events);
        sink.printer.take(&mut sink.alert_events)?;
    }
    sink.printer.finish()?;
    sink.flush(record.as_mut())?;
    eprintln!("sensor stopped: {}", serde_json::to_string(&stats)?);
    result.map(|()| ExitCode::SUCCESS)
}

struct Sink<'e> {
    engine: Option<&'e mut Engine>,
    printer: Printer,
    alert_events: Vec<kdr_engine::AlertEvent>,
    stdout: BufWriter<File>,
}

impl Sink<'_> {
    fn handle(
        &mut self,
        event: SensorEvent,
        record: Option<&mut BufWriter<File>>,
    ) -> anyhow::Result<()> {
        if let Some(file) = record {
            event.write_json(file)?;
            file.write_all(b"\n")?;
        }
        match self.engine.as_deref_mut() {
            Some(engine) => {
                engine.process(&event.into_event(), &mut self.alert_events);
                self.printer.take(&mut self.alert_events)?;
            }
            None => {
                event.write_json(&mut self.stdout)?;
                self.stdout.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, record: Option<&mut BufWriter<File>>) -> anyhow::Result<()> {
        if let Some(file) = record {
            file.flush()?;
        }
        self.stdout.flush()?;
        Ok(())
    }
}
