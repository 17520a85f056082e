//! `kdr serve`: the store, the audit webhook, remote-sensor ingest, detection, the REST API
//! and the web console in one process; the node sensor too with `--sensor` (root).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use kdr_engine::Engine;
use kdr_server::{auth, AppState, Ingest, ServerOptions};
use kdr_store::Store;

use crate::alerts_out::DetectionArgs;
use crate::respond_cmd::{KubeArgs, KubeRunner};
use crate::store_cmd::StoreArg;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Address to listen on. The default is loopback only; kdr serves plain HTTP, so put a
    /// TLS proxy in front before listening anywhere else.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Also run the eBPF node sensor in-process (root).
    #[arg(long)]
    sensor: bool,
    /// Node name in sensor events (default: the host name).
    #[arg(long)]
    node: Option<String>,
    #[command(flatten)]
    detection: DetectionArgs,
    #[command(flatten)]
    kube: KubeArgs,
    /// Feed these recorded event files (any format `kdr detect` reads) through detection
    /// into the store at start, e.g. the shipped examples/attack.jsonl.
    #[arg(long, value_name = "FILE")]
    replay: Vec<PathBuf>,
    /// Console session lifetime in minutes.
    #[arg(long, default_value_t = 720)]
    session_minutes: u64,
    /// Mark session cookies Secure (when a TLS proxy serves the console).
    #[arg(long)]
    secure_cookies: bool,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let rules = args.detection.rules()?;
    let engine = Engine::new(Arc::clone(&rules), args.detection.intel()?);
    let mut api_store = args.store.open()?;
    let location = args.store.location()?;
    first_admin(&mut api_store)?;
    // The ingest pipeline writes through a connection of its own.
    let writer = Store::open(&location, kdr_store::StoreOptions::default())
        .with_context(|| format!("opening the store at {location} for ingest"))?;
    let (ingest, ingest_thread) = Ingest::start(engine, writer);
    let options = ServerOptions {
        session_ttl: Duration::from_secs(args.session_minutes.max(1) * 60),
        secure_cookies: args.secure_cookies,
        ..ServerOptions::default()
    };
    let runner = Arc::new(KubeRunner::new(&args.kube));
    let state = AppState::new(api_store, ingest.clone(), rules, runner, options);

    let stop = Arc::new(AtomicBool::new(false));
    let sensor_thread = if args.sensor {
        Some(start_sensor(
            args.node.clone(),
            ingest.clone(),
            Arc::clone(&stop),
        )?)
    } else {
        None
    };
    let replay_thread =
        (!args.replay.is_empty()).then(|| start_replay(args.replay.clone(), ingest.clone()));
    drop(ingest);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let address = listener.local_addr()?;
        if !address.ip().is_loopback() {
            eprintln!(
                "kdr serve: warning: listening on {address}, beyond loopback, over plain HTTP"
            );
        }
        eprintln!("kdr serve: store {location}");
        eprintln!("kdr serve: listening on http://{address} (console and API)");
        kdr_server::serve(listener, state, shutdown_signal())
            .await
            .context("serving")
    });
    stop.store(true, Ordering::SeqCst);
    if let Some(thread) = replay_thread {
        let _ = thread.join();
    }
    if let Some(thread) = sensor_thread {
        let _ = thread.join();
    }
    // Every handle is gone once the runtime is: the pipeline flushes and ends.
    drop(runtime);
    let _ = ingest_thread.join();
    served?;
    eprintln!("kdr serve: stopped");
    Ok(ExitCode::SUCCESS)
}

/// On first start there is no user: create `admin` with a random password, shown once.
/// `KDR_ADMIN_PASSWORD` sets it instead (automation).
fn first_admin(store: &mut Store) -> anyhow::Result<()> {
    if store.user_count()? > 0 {
        return Ok(());
    }
    let (password, generated) = match std::env::var("KDR_ADMIN_PASSWORD") {
        Ok(password) => {
            auth::check_password_strength(&password)
                .map_err(|e| anyhow::anyhow!("KDR_ADMIN_PASSWORD: {e}"))?;
            (password, false)
        }
        Err(_) => (auth::random_password(), true),
    };
    let hash = auth::hash_password(&password)?;
    store.create_user(
        "admin",
        &hash,
        &auth::permission_keys(&[kdr_server::Permission::Admin]),
    )?;
    store.record_audit(
        "kdr serve",
        "user.create",
        "admin",
        &serde_json::json!({ "firstStart": true }),
    )?;
    if generated {
        eprintln!(
            "kdr serve: created user \"admin\" with password {password}\n\
             kdr serve: it is shown only this once; sign in and keep it, or change it with \
             `kdr users passwd admin`"
        );
    } else {
        eprintln!("kdr serve: created user \"admin\" with the password from KDR_ADMIN_PASSWORD");
    }
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// Runs the node sensor on a thread of its own, passing its events to the pipeline in
/// batches (every 1,000 events or 200 ms).
fn start_sensor(
    node: Option<String>,
    ingest: Ingest,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let config = kdr_sensor::SensorConfig {
        node_name: node,
        ..kdr_sensor::SensorConfig::default()
    };
    let mut sensor = kdr_sensor::Sensor::start(config).context("starting the sensor")?;
    eprintln!(
        "sensor ready ({} programs attached)",
        sensor.stats().attached
    );
    Ok(std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(1000);
        let mut last_send = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            match sensor.recv_timeout(Duration::from_millis(100)) {
                Ok(event) => batch.push(event.into_event()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if batch.len() >= 1000
                || (!batch.is_empty() && last_send.elapsed() >= Duration::from_millis(200))
            {
                if ingest.feed_blocking(std::mem::take(&mut batch)).is_err() {
                    break;
                }
                last_send = Instant::now();
            }
        }
        let stats = sensor.stop();
        while let Ok(event) = sensor.recv_timeout(Duration::ZERO) {
            batch.push(event.into_event());
        }
        let _ = ingest.feed_blocking(batch);
        eprintln!(
            "sensor stopped: {}",
            serde_json::to_string(&stats).unwrap_or_default()
        );
    }))
}

/// Feeds recorded files through the pipeline, reporting bad records with their location.
fn start_replay(files: Vec<PathBuf>, ingest: Ingest) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (mut fed, mut rejected) = (0u64, 0u64);
        for path in &files {
            let name = path.display().to_string();
            let file = match std::fs::File::open(path) {
                Ok(file) => file,
                Err(error) => {
                    eprintln!("kdr serve: --replay {name}: {error}");
                    continue;
                }
            };
            let mut batch = Vec::with_capacity(1000);
            let reader = kdr_decode::EventReader::new(&name, std::io::BufReader::new(file));
            for item in reader {
                match item {
                    Ok(event) => batch.push(event),
                    Err(error) => {
                        rejected += 1;
                        eprintln!("kdr serve: {error}");
                    }
                }
                if batch.len() >= 1000 {
                    fed += batch.len() as u64;
                    if ingest.feed_blocking(std::mem::take(&mut batch)).is_err() {
                        return;
                    }
                }
            }
            fed += batch.len() as u64;
            if ingest.feed_blocking(batch).is_err() {
                return;
            }
        }
        eprintln!("kdr serve: replayed {fed} events ({rejected} rejected)");
    })
}
