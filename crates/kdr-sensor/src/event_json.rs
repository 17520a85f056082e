//! The sensor's events and their JSON lines, written without serializing again what many
//! events share.
//!
//! Every event repeats its process's executable, argv and working directory (often the
//! largest part of it after the lineage: an interpreter's argv holds its script). They come
//! from the process's image, which the process table shares between the events of a process
//! and its forked children until one of them execs; the image keeps their JSON, written at the
//! first event that needs it. An event's JSON is then its own small fields, that text and the
//! lineage's (also written once), copied into the output: the same bytes as
//! `serde_json::to_writer(&event)`, which tests check. Until the event itself is asked for,
//! its process's exe, argv and cwd are not copied out of the image either.

use std::io::{self, Write};
use std::sync::Arc;

use kdr_model::{
    AddressFamily, Context, Event, FdKind, Payload, Process, RuntimeAction, RuntimeEvent,
    SocketAddress, Timestamp,
};
use serde::Serialize;

use crate::proctable::Image;

/// An event from the sensor, its process's exe, argv and cwd still in the image it shares
/// with the process's other events: [`SensorEvent::write_json`] copies that image's JSON, and
/// only [`SensorEvent::into_event`] copies the image into the event.
#[derive(Debug)]
pub struct SensorEvent {
    /// The event, its process's exe, argv and cwd empty while `image` holds them.
    event: Event,
    /// What the event's process runs; `None` when the process was unknown (the event's own
    /// fields then stay empty).
    image: Option<Arc<Image>>,
}

impl SensorEvent {
    /// `event` without its process's exe, argv and cwd, which `image` has.
    pub(crate) fn new(event: Event, image: Option<Arc<Image>>) -> Self {
        SensorEvent { event, image }
    }

    /// The whole event, exe, argv and cwd copied from the image.
    pub fn into_event(self) -> Event {
        let SensorEvent { mut event, image } = self;
        if let (Payload::Runtime(runtime), Some(image)) = (&mut event.payload, image) {
            let process = &mut runtime.process;
            process.exe = image.exe.clone();
            process.args = image.args.clone();
            process.cwd = image.cwd.clone();
        }
        event
    }

    /// Writes the event as JSON (no newline): the bytes `serde_json::to_writer` writes for
    /// `into_event()`, with the image's part copied from its cache.
    pub fn write_json<W: Write>(&self, out: &mut W) -> io::Result<()> {
        let Payload::Runtime(runtime) = &self.event.payload else {
            return put(out, &self.event);
        };
        let process = &runtime.process;
        let fresh;
        let image = match &self.image {
            Some(image) => image.json()?,
            None => {
                fresh = ImageJson::new(&process.exe, &process.args, &process.cwd)?;
                &fresh
            }
        };
        write_event(out, &self.event, runtime, image)
    }
}

/// The JSON of an image's part of a process object, in two pieces because `argsTruncated`
/// (an exec's own) goes between them.
#[derive(Debug)]
pub(crate) struct ImageJson {
    /// `"exe":…,"args":[…]`
    exe_args: Box<[u8]>,
    /// `,"cwd":…`, or nothing when the cwd is empty (as serde skips it).
    cwd: Box<[u8]>,
}

impl ImageJson {
    pub(crate) fn new(exe: &str, args: &[String], cwd: &str) -> io::Result<Self> {
        let mut exe_args =
            Vec::with_capacity(16 + exe.len() + args.iter().map(|a| a.len() + 3).sum::<usize>());
        exe_args.extend_from_slice(b"\"exe\":");
        put_str(&mut exe_args, exe)?;
        exe_args.extend_from_slice(b",\"args\":");
        put(&mut exe_args, args)?;
        let mut cwd_json = Vec::new();
        if !cwd.is_empty() {
            cwd_json.extend_from_slice(b",\"cwd\":");
            put_str(&mut cwd_json, cwd)?;
        }
        Ok(ImageJson {
            exe_args: exe_args.into(),
            cwd: cwd_json.into(),
        })
    }
}

/// One value's JSON, as serde_json writes it.
fn put<W: Write, T: Serialize + ?Sized>(out: &mut W, value: &T) -> io::Result<()> {
    serde_json::to_writer(out, value).map_err(io::Error::from)
}

/// A JSON string: copied as it is when nothing in it needs escaping (names, paths, addresses
/// nearly always), else escaped by serde_json, which escapes exactly the quote, the backslash
/// and the control characters below 0x20.
fn put_str<W: Write>(out: &mut W, text: &str) -> io::Result<()> {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.write_all(b"\"")?;
        out.write_all(text.as_bytes())?;
        out.write_all(b"\"")
    } else {
        put(out, text)
    }
}

/// A timestamp as its `Serialize` writes it: the RFC 3339 text, which needs no escaping.
fn put_time<W: Write>(out: &mut W, time: Timestamp) -> io::Result<()> {
    out.write_all(b"\"")?;
    out.write_all(time.rfc3339().as_bytes())?;
    out.write_all(b"\"")
}

/// An optional string field: `,"name":"value"` when present.
fn put_opt_str<W: Write>(out: &mut W, key: &[u8], value: &Option<String>) -> io::Result<()> {
    match value {
        Some(v) => {
            out.write_all(key)?;
            put_str(out, v)
        }
        None => Ok(()),
    }
}

// The writers below write the fields in the order, and with the names and skip rules, of
// kdr-model's derived `Serialize` (the tests compare their bytes with serde_json's). Structs
// are taken apart without `..` and enums matched without `_`, so that a field or variant added
// to the model fails to compile here rather than go missing from the output. The exception is
// the action: kinds other than exec, exit and the network ones are rare and go through serde.

fn write_event<W: Write>(
    out: &mut W,
    event: &Event,
    runtime: &RuntimeEvent,
    image: &ImageJson,
) -> io::Result<()> {
    let Event {
        id,
        time,
        context,
        payload: _,
    } = event;
    let RuntimeEvent {
        process,
        container_privileged,
        image_id,
        cgroup_id,
        mnt_ns,
        action,
    } = runtime;
    out.write_all(b"{\"id\":")?;
    put_str(out, id)?;
    out.write_all(b",\"time\":")?;
    put_time(out, *time)?;
    if !context.is_empty() {
        out.write_all(b",\"context\":")?;
        write_context(out, context)?;
    }
    out.write_all(b",\"payload\":{\"runtime\":{\"process\":")?;
    write_process(out, process, image)?;
    match container_privileged {
        Some(true) => out.write_all(b",\"containerPrivileged\":true")?,
        Some(false) => out.write_all(b",\"containerPrivileged\":false")?,
        None => {}
    }
    put_opt_str(out, b",\"imageId\":", image_id)?;
    out.write_all(b",\"cgroupId\":")?;
    put(out, cgroup_id)?;
    out.write_all(b",\"mntNs\":")?;
    put(out, mnt_ns)?;
    out.write_all(b",\"action\":")?;
    write_action(out, action)?;
    out.write_all(b"}}}")
}

fn write_context<W: Write>(out: &mut W, context: &Context) -> io::Result<()> {
    let Context {
        cluster,
        node,
        namespace,
        pod,
        container_id,
        container_name,
        image,
        identity,
        source_ips,
    } = context;
    out.write_all(b"{")?;
    let mut first = true;
    for (key, value) in [
        ("cluster", cluster),
        ("node", node),
        ("namespace", namespace),
        ("pod", pod),
        ("containerId", container_id),
        ("containerName", container_name),
        ("image", image),
        ("identity", identity),
    ] {
        if let Some(v) = value {
            write_key(out, &mut first, key)?;
            put_str(out, v)?;
        }
    }
    if !source_ips.is_empty() {
        write_key(out, &mut first, "sourceIps")?;
        put(out, source_ips)?;
    }
    out.write_all(b"}")
}

/// `"key":`, after a comma unless it is the object's first.
fn write_key<W: Write>(out: &mut W, first: &mut bool, key: &str) -> io::Result<()> {
    if !std::mem::take(first) {
        out.write_all(b",")?;
    }
    out.write_all(b"\"")?;
    out.write_all(key.as_bytes())?;
    out.write_all(b"\":")
}

fn write_process<W: Write>(out: &mut W, process: &Process, image: &ImageJson) -> io::Result<()> {
    let Process {
        pid,
        tgid,
        ppid,
        uid,
        gid,
        euid,
        comm,
        exe: _,
        args: _,
        args_truncated,
        cwd: _,
        start_time,
        user,
        stdio,
        ancestors,
        exe_upper_layer,
    } = process;
    for (key, value) in [
        (&b"{\"pid\":"[..], pid),
        (b",\"tgid\":", tgid),
        (b",\"ppid\":", ppid),
        (b",\"uid\":", uid),
        (b",\"gid\":", gid),
        (b",\"euid\":", euid),
    ] {
        out.write_all(key)?;
        put(out, value)?;
    }
    out.write_all(b",\"comm\":")?;
    put_str(out, comm)?;
    out.write_all(b",")?;
    out.write_all(&image.exe_args)?;
    if *args_truncated {
        out.write_all(b",\"argsTruncated\":true")?;
    }
    out.write_all(&image.cwd)?;
    if let Some(t) = start_time {
        out.write_all(b",\"startTime\":")?;
        put_time(out, *t)?;
    }
    put_opt_str(out, b",\"user\":", user)?;
    out.write_all(b",\"stdio\":[")?;
    for (i, kind) in stdio.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(fd_kind_json(*kind))?;
    }
    out.write_all(b"]")?;
    if !ancestors.is_empty() {
        out.write_all(b",\"ancestors\":")?;
        put(out, ancestors)?;
    }
    if *exe_upper_layer {
        out.write_all(b",\"exeUpperLayer\":true")?;
    }
    out.write_all(b"}")
}

fn fd_kind_json(kind: FdKind) -> &'static [u8] {
    match kind {
        FdKind::Unknown => b"\"unknown\"",
        FdKind::File => b"\"file\"",
        FdKind::Tty => b"\"tty\"",
        FdKind::Pipe => b"\"pipe\"",
        FdKind::Socket => b"\"socket\"",
        FdKind::Closed => b"\"closed\"",
    }
}

/// Network actions, the densest kind, by hand; the rest through serde.
fn write_action<W: Write>(out: &mut W, action: &RuntimeAction) -> io::Result<()> {
    match action {
        RuntimeAction::Connect {
            remote,
            local,
            result,
        } => {
            out.write_all(b"{\"type\":\"connect\",\"remote\":")?;
            write_address(out, remote)?;
            if let Some(local) = local {
                out.write_all(b",\"local\":")?;
                write_address(out, local)?;
            }
            out.write_all(b",\"result\":")?;
            put(out, result)?;
        }
        RuntimeAction::Accept { remote, local } => {
            out.write_all(b"{\"type\":\"accept\",\"remote\":")?;
            write_address(out, remote)?;
            if let Some(local) = local {
                out.write_all(b",\"local\":")?;
                write_address(out, local)?;
            }
        }
        RuntimeAction::Listen { local } => {
            out.write_all(b"{\"type\":\"listen\",\"local\":")?;
            write_address(out, local)?;
        }
        RuntimeAction::Bind { local, result } => {
            out.write_all(b"{\"type\":\"bind\",\"local\":")?;
            write_address(out, local)?;
            out.write_all(b",\"result\":")?;
            put(out, result)?;
        }
        other => return put(out, other),
    }
    out.write_all(b"}")
}

fn write_address<W: Write>(out: &mut W, address: &SocketAddress) -> io::Result<()> {
    let SocketAddress {
        family,
        address,
        port,
    } = address;
    out.write_all(match family {
        AddressFamily::Inet => b"{\"family\":\"inet\",\"address\":",
        AddressFamily::Inet6 => b"{\"family\":\"inet6\",\"address\":",
        AddressFamily::Unix => b"{\"family\":\"unix\",\"address\":",
        AddressFamily::Other => b"{\"family\":\"other\",\"address\":",
    })?;
    put_str(out, address)?;
    out.write_all(b",\"port\":")?;
    put(out, port)?;
    out.write_all(b"}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kdr_model::{Ancestor, Ancestors};

    fn image(exe: &str, args: &[&str], cwd: &str, upper_layer: bool) -> Arc<Image> {
        Arc::new(Image::new(
            exe.into(),
            args.iter().map(|a| a.to_string()).collect(),
            cwd.into(),
            upper_layer,
        ))
    }

    const FD_KINDS: [FdKind; 6] = [
        FdKind::Unknown,
        FdKind::File,
        FdKind::Tty,
        FdKind::Pipe,
        FdKind::Socket,
        FdKind::Closed,
    ];

    /// An event of `image`'s process, every optional part present or not as asked; `n` picks
    /// the time's precision, the stdio kinds, the privileged flag and the context's fields.
    fn event(image: &Image, full: bool, n: usize, action: RuntimeAction) -> Event {
        let ancestors: Ancestors = if full {
            vec![Ancestor {
                pid: 1,
                exe: "/sbin/init".into(),
                args: vec!["init".into(), "quote \" and \\ and \u{1}".into()],
            }]
            .into()
        } else {
            Ancestors::default()
        };
        Event {
            id: "node \"n\":0badf00d:42".into(),
            time: Timestamp(1_714_560_000_000_000_000 + [0, 120_000_000, 123_456_000, 1][n % 4]),
            context: if full {
                Context {
                    cluster: Some("c".into()),
                    node: Some("n".into()),
                    namespace: Some("shop".into()),
                    pod: Some("web-7d9f".into()),
                    container_id: Some("85a5f5ba".into()),
                    container_name: Some("web".into()),
                    image: Some("nginx:1.27".into()),
                    identity: Some("root".into()),
                    source_ips: vec!["10.0.0.1".into()],
                }
            } else if n % 2 == 1 {
                // The first field written is not the first declared.
                Context {
                    node: Some("n\u{1}".into()),
                    identity: Some("root".into()),
                    ..Default::default()
                }
            } else {
                Context::default()
            },
            payload: Payload::Runtime(Box::new(RuntimeEvent {
                process: Process {
                    pid: 4_000_000_000,
                    tgid: 7,
                    ppid: 1,
                    uid: 0,
                    gid: u32::MAX,
                    euid: 1000,
                    comm: "py\tthon€".into(),
                    exe: image.exe.clone(),
                    args: image.args.clone(),
                    args_truncated: full,
                    cwd: image.cwd.clone(),
                    start_time: full.then_some(Timestamp(-1)),
                    user: full.then(|| "nob\"ody".into()),
                    stdio: [0, 1, 2].map(|i| FD_KINDS[(n + i) % FD_KINDS.len()]),
                    ancestors,
                    exe_upper_layer: image.upper_layer,
                },
                container_privileged: full.then_some(n.is_multiple_of(2)),
                image_id: full.then(|| "sha256:abc".into()),
                cgroup_id: u64::MAX,
                mnt_ns: 4026531841,
                action,
            })),
        }
    }

    fn actions() -> Vec<RuntimeAction> {
        let families = [
            AddressFamily::Inet,
            AddressFamily::Inet6,
            AddressFamily::Unix,
            AddressFamily::Other,
        ];
        let addr = |n: usize, address: &str| SocketAddress {
            family: families[n % families.len()],
            address: address.into(),
            port: (n * 20000) as u16,
        };
        let mut actions = vec![
            RuntimeAction::Exec,
            RuntimeAction::Open {
                path: "/etc/\u{7f}shadow\n".into(),
                flags: 0o1101,
                result: 3,
            },
            RuntimeAction::Kill {
                signal: 9,
                target_pid: 12,
                target_exe: Some("/bin/sleep".into()),
            },
        ];
        for n in 0..families.len() {
            actions.extend([
                RuntimeAction::Connect {
                    remote: addr(n, "::1"),
                    local: n.is_multiple_of(2).then(|| addr(n + 1, "/run/\"x\".sock")),
                    result: -111,
                },
                RuntimeAction::Accept {
                    remote: addr(n, "127.0.0.1"),
                    local: (n % 2 == 1).then(|| addr(n, "10.1.2.3")),
                },
                RuntimeAction::Listen { local: addr(n, "") },
                RuntimeAction::Bind {
                    local: addr(n, "0.0.0.0"),
                    result: n as i64 - 1,
                },
            ]);
        }
        actions
    }

    /// The event as the pipeline makes it for a process with a known image.
    fn without_image(event: &Event) -> Event {
        let mut event = event.clone();
        if let Payload::Runtime(runtime) = &mut event.payload {
            let process = &mut runtime.process;
            (process.exe, process.args, process.cwd) = Default::default();
        }
        event
    }

    fn fast(e: &SensorEvent) -> String {
        let mut out = Vec::new();
        e.write_json(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn same_bytes_as_serde() {
        let images = [
            image(
                "/usr/bin/python3",
                &[
                    "python3",
                    "-c",
                    "import sys\nprint(\"hi\")\t\u{0}é",
                    "20000",
                ],
                "/ro\"ot",
                false,
            ),
            image("/tmp/dropped", &[], "", true),
            Arc::new(Image::default()),
        ];
        for img in &images {
            for full in [false, true] {
                for (n, action) in actions().into_iter().enumerate() {
                    let ev = event(img, full, n, action);
                    let plain = serde_json::to_string(&ev).unwrap();
                    // From the image's cache (twice: written once, then copied), and for an
                    // unknown process from its fields; the whole event from the image.
                    let cached = SensorEvent::new(without_image(&ev), Some(img.clone()));
                    assert_eq!(fast(&cached), plain);
                    assert_eq!(fast(&cached), plain);
                    assert_eq!(serde_json::to_string(&cached.into_event()).unwrap(), plain);
                    assert_eq!(fast(&SensorEvent::new(ev, None)), plain);
                }
            }
        }
    }

    #[test]
    fn other_payloads_go_through_serde() {
        let ev = Event {
            id: "a".into(),
            time: Timestamp(0),
            context: Context::default(),
            payload: Payload::K8sAudit(Box::default()),
        };
        let plain = serde_json::to_string(&ev).unwrap();
        assert_eq!(fast(&SensorEvent::new(ev, None)), plain);
    }
}
