//! Runs the sensor: prints `sensor ready` on stderr once every program is attached, streams
//! events as JSON lines on stdout, and on SIGINT/SIGTERM detaches, flushes and prints the
//! counters on stderr. `kdr sensor` will be this.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kdr_sensor::{Sensor, SensorConfig, SensorEvent};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn main() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let quiet = std::env::args().any(|a| a == "--count-only");
    let mut sensor = match Sensor::start(SensorConfig::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sensor: {e}");
            std::process::exit(1);
        }
    };
    let st = sensor.stats();
    eprintln!(
        "sensor ready ({} programs attached{})",
        st.attached,
        if st.unattached.is_empty() {
            String::new()
        } else {
            format!(", not on this kernel: {}", st.unattached.join(" "))
        }
    );
    // Large writes: much of what writing a file costs the kernel is per call (64 KiB calls
    // cost half of 8 KiB ones per byte). Straight to the descriptor: stdout's own line
    // buffering would cut each of them at its last newline into two or three calls.
    let stdout = match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => File::from(fd),
        Err(e) => {
            eprintln!("sensor: stdout: {e}");
            std::process::exit(1);
        }
    };
    let mut out = BufWriter::with_capacity(64 << 10, stdout);
    let write = |ev: SensorEvent, out: &mut BufWriter<File>| {
        if quiet {
            // What any consumer of the events themselves pays (detection, kdr serve).
            drop(ev.into_event());
            return true;
        }
        ev.write_json(out).is_ok() && out.write_all(b"\n").is_ok()
    };
    while !STOP.load(Ordering::SeqCst) {
        match sensor.recv_timeout(Duration::from_millis(200)) {
            Ok(ev) => {
                if !write(ev, &mut out) {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = out.flush();
            }
            Err(_) => break,
        }
    }
    let stats = sensor.stop();
    // Everything the reader delivered before stopping.
    while let Ok(ev) = sensor.recv_timeout(Duration::ZERO) {
        if !write(ev, &mut out) {
            break;
        }
    }
    let _ = out.flush();
    eprintln!(
        "sensor stopped: {}",
        serde_json::to_string(&stats).unwrap_or_default()
    );
}
