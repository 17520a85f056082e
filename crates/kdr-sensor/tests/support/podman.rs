//! How tests start real containers on this kind of machine (see machine-notes: runc, the
//! cgroupfs manager and explicit ulimits; crun and the default ulimits fail here). Shared by
//! the sensor's capture tests and kdr's runtime end-to-end tests.

use std::path::Path;
use std::process::Command;

/// `podman run --rm` with the flags every test container needs; callers add their own.
pub fn podman_run() -> Command {
    let mut command = Command::new("podman");
    command.args([
        "--runtime",
        "/usr/sbin/runc",
        "--cgroup-manager=cgroupfs",
        "run",
        "--rm",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ]);
    command
}

/// podman and runc are installed.
pub fn podman_available() -> bool {
    Path::new("/usr/sbin/runc").exists()
        && Command::new("podman")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}
