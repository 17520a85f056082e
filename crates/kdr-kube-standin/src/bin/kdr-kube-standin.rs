//! Serves a seeded Kubernetes API stand-in until SIGINT or SIGTERM, for tests that start it
//! as a process. Prints its URL on the first line of stdout once it accepts connections.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use kdr_kube_standin::{write_kubeconfig, Seed, StandIn};

#[derive(Parser)]
#[command(about = "A local Kubernetes API server stand-in (plain HTTP on 127.0.0.1)")]
struct Args {
    /// Seed file (JSON or YAML): gitVersion, customResources, pods, objects.
    #[arg(long)]
    seed: PathBuf,
    /// Where to write a kubeconfig pointing at the stand-in.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// The context name in the written kubeconfig.
    #[arg(long, default_value = "standin")]
    context: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seed = Seed::from_file(&args.seed)?;
    let standin = StandIn::start(seed).await?;
    if let Some(path) = &args.kubeconfig_out {
        write_kubeconfig(path, &[standin.context(&args.context)])?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", standin.url()).context("writing the URL to stdout")?;
    stdout.flush().context("writing the URL to stdout")?;
    drop(stdout);

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("waiting for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
