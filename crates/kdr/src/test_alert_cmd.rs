//! `kdr test-alert`: runs kdr's harmless test action so that a running sensor raises the
//! K8S.NODE_EICAR alert, proving the path from sensor to alert output end to end.

use std::process::{Command, ExitCode};

use anyhow::Context;
use clap::Args;

/// The marker the shipped rule `Test alert marker` (rules/runtime.yaml) recognizes on a
/// process command line. It means nothing else and does nothing.
pub const MARKER: &str = "KDR-RUNTIME-TEST-ALERT-3f6c1a9e";

#[derive(Args)]
pub struct TestAlertArgs {
    /// Only print the command to run (e.g. inside a container with `kubectl exec`).
    #[arg(long)]
    print: bool,
}

pub fn run(args: TestAlertArgs) -> anyhow::Result<ExitCode> {
    let command = format!("echo {MARKER}");
    if args.print {
        println!("sh -c '{command}'");
        return Ok(ExitCode::SUCCESS);
    }
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(&command)
        .status()
        .context("running /bin/sh")?;
    eprintln!(
        "kdr test-alert: ran `sh -c '{command}'`; a kdr sensor on this node raises K8S.NODE_EICAR"
    );
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
