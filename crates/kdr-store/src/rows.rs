//! Normalized events as hunting rows: which table each goes to and what fills each column.
//!
//! Rows are written straight into the table's [`RowBuffer`]: ingest speed is dominated by
//! this step and by SQLite copying the values, so nothing is allocated per row.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::value::RawValue;

use kdr_model::{
    AddressFamily, Ancestor, AuditLevel, CloudActivity, CloudProvider, Event, FdKind, KubeAudit,
    ObjectRef, Payload, Process, RuntimeAction, RuntimeEvent, SocketAddress, UserInfo,
};

use crate::db::RowBuffer;
use crate::schema::{AUDIT_EVENTS, HUNTING_TABLES, PROCESS_EVENTS, RUNTIME_EVENTS};

/// One [`RowBuffer`] per hunting table, in `HUNTING_TABLES` order.
pub struct HuntingRows {
    pub tables: [RowBuffer; HUNTING_TABLES.len()],
}

impl Default for HuntingRows {
    fn default() -> HuntingRows {
        HuntingRows {
            tables: HUNTING_TABLES.map(|table| RowBuffer::new(table.columns.len())),
        }
    }
}

impl HuntingRows {
    /// Appends the row `event` becomes; returns its table's index in `HUNTING_TABLES`.
    pub fn push(&mut self, event: &Event) -> usize {
        let table = match &event.payload {
            Payload::Runtime(runtime) => match runtime.action {
                RuntimeAction::Exec | RuntimeAction::Exit { .. } => &PROCESS_EVENTS,
                _ => &RUNTIME_EVENTS,
            },
            Payload::K8sAudit(_) | Payload::Cloud(_) => &AUDIT_EVENTS,
        };
        let index = HUNTING_TABLES
            .iter()
            .position(|t| std::ptr::eq(*t, table))
            .unwrap_or(0);
        let mut row = RowWriter {
            out: &mut self.tables[index],
        };
        match &event.payload {
            Payload::Runtime(runtime) => match runtime.action {
                RuntimeAction::Exec | RuntimeAction::Exit { .. } => {
                    process_row(&mut row, event, runtime)
                }
                _ => runtime_row(&mut row, event, runtime),
            },
            Payload::K8sAudit(audit) => kube_audit_row(&mut row, event, audit),
            Payload::Cloud(cloud) => cloud_row(&mut row, event, cloud),
        }
        index
    }
}

/// Writes one row's values in column order. There is no way to write a NULL string: hunting
/// strings are never NULL (KQL has no null string; a missing one is ''), so the compiler
/// reads the columns as they are, which keeps indexes and join keys usable.
struct RowWriter<'b> {
    out: &'b mut RowBuffer,
}

impl RowWriter<'_> {
    fn long(&mut self, value: i64) {
        self.out.push_int(value);
    }

    fn opt_long(&mut self, value: Option<i64>) {
        match value {
            Some(value) => self.out.push_int(value),
            None => self.out.push_null(),
        }
    }

    /// A bool the source never says (NULL).
    fn unknown_bool(&mut self) {
        self.out.push_null();
    }

    fn text(&mut self, text: &str) {
        self.out.push_text(text);
    }

    fn opt_text(&mut self, text: Option<&str>) {
        self.out.push_text(text.unwrap_or_default());
    }

    fn text_with(&mut self, write: impl FnOnce(&mut String)) {
        self.out.push_text_with(write);
    }

    /// A dynamic column: the shapes below borrow from the event and serialize straight to
    /// text (building `serde_json::Value` trees first cost half of ingest time).
    fn json<T: Serialize>(&mut self, value: &T) {
        self.out.push_json(value);
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The process's name: the executable's file name, else the kernel's task name.
fn process_name(process: &Process) -> &str {
    let name = base_name(&process.exe);
    if name.is_empty() {
        &process.comm
    } else {
        name
    }
}

/// argv as one line. Arguments with spaces are quoted so the line reads back unambiguously;
/// the plain ones are left as they are so `has` and `contains` match what users expect.
pub fn command_line(args: &[String]) -> String {
    CommandLine(args).to_string()
}

/// [`command_line`] written where it goes (a row's text, a JSON string) without a String of
/// its own.
struct CommandLine<'a>(&'a [String]);

impl std::fmt::Display for CommandLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, arg) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_char(' ')?;
            }
            if arg.is_empty() || arg.chars().any(|c| c.is_whitespace() || c == '"') {
                f.write_char('"')?;
                for c in arg.chars() {
                    if c == '\\' || c == '"' {
                        f.write_char('\\')?;
                    }
                    f.write_char(c)?;
                }
                f.write_char('"')?;
            } else {
                f.write_str(arg)?;
            }
        }
        Ok(())
    }
}

impl Serialize for CommandLine<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AncestorFields<'a> {
    pid: u32,
    exe: &'a str,
    command_line: CommandLine<'a>,
}

/// The process's ancestors as `AdditionalFields.ancestors`.
#[derive(Default)]
struct Ancestors<'a>(&'a [Ancestor]);

impl Serialize for Ancestors<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|a| AncestorFields {
            pid: a.pid,
            exe: &a.exe,
            command_line: CommandLine(&a.args),
        }))
    }
}

/// `AdditionalFields` of the runtime tables.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct RuntimeFields<'a> {
    event_id: &'a str,
    comm: &'a str,
    uid: u32,
    gid: u32,
    euid: u32,
    tgid: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    args_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    container_privileged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stdio: Option<&'a [FdKind; 3]>,
    #[serde(skip_serializing_if = "ancestors_empty")]
    ancestors: Ancestors<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    child_pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flags: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<AddressFamily>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<&'a SocketAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_exe: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fstype: Option<&'a str>,
}

fn ancestors_empty(ancestors: &Ancestors<'_>) -> bool {
    ancestors.0.is_empty()
}

fn runtime_common<'a>(event: &'a Event, runtime: &'a RuntimeEvent) -> RuntimeFields<'a> {
    let process = &runtime.process;
    RuntimeFields {
        event_id: &event.id,
        comm: &process.comm,
        uid: process.uid,
        gid: process.gid,
        euid: process.euid,
        tgid: process.tgid,
        args_truncated: process.args_truncated,
        container_privileged: runtime.container_privileged,
        image_id: runtime.image_id.as_deref(),
        ..RuntimeFields::default()
    }
}

fn process_row(row: &mut RowWriter<'_>, event: &Event, runtime: &RuntimeEvent) {
    let context = &event.context;
    let process = &runtime.process;
    let parent = process.ancestors.first();
    let mut additional = runtime_common(event, runtime);
    if let RuntimeAction::Exit { code } = runtime.action {
        additional.exit_code = Some(code);
    }
    additional.stdio = Some(&process.stdio);
    additional.ancestors = Ancestors(&process.ancestors);
    row.long(event.time.0);
    row.opt_text(context.image.as_deref());
    row.opt_text(context.namespace.as_deref());
    row.opt_text(context.pod.as_deref());
    row.text_with(|text| {
        if let Some(pod) = &context.pod {
            text.push_str("pods/");
            text.push_str(pod);
        }
    });
    row.opt_text(context.container_name.as_deref());
    row.opt_text(context.container_id.as_deref());
    row.text(runtime.action.type_name());
    row.text(base_name(&process.exe));
    row.text(&process.exe);
    row.long(i64::from(process.pid));
    row.text(process_name(process));
    row.text(parent.map_or("", |p| base_name(&p.exe)));
    row.long(i64::from(parent.map_or(process.ppid, |p| p.pid)));
    row.text_with(|text| {
        let _ = write!(text, "{}", CommandLine(&process.args));
    });
    row.opt_long(process.start_time.map(|t| t.0));
    row.text(&process.cwd);
    row.opt_text(process.user.as_deref().or(context.identity.as_deref()));
    row.text_with(|text| {
        let _ = write!(text, "{}", process.uid);
    });
    row.long(i64::from(process.ppid));
    row.json(&additional);
    row.opt_text(context.node.as_deref());
    row.opt_text(context.cluster.as_deref());
}

fn runtime_row(row: &mut RowWriter<'_>, event: &Event, runtime: &RuntimeEvent) {
    let context = &event.context;
    let process = &runtime.process;
    let mut additional = runtime_common(event, runtime);
    let mut file_path = "";
    let mut remote: Option<&SocketAddress> = None;
    match &runtime.action {
        RuntimeAction::Exec | RuntimeAction::Exit { .. } => {}
        RuntimeAction::Fork { child_pid } => additional.child_pid = Some(*child_pid),
        RuntimeAction::Open {
            path,
            flags,
            result,
        } => {
            file_path = path;
            additional.flags = Some(u64::from(*flags));
            additional.result = Some(*result);
        }
        RuntimeAction::Unlink { path } | RuntimeAction::Utimes { path } => file_path = path,
        RuntimeAction::Rename { from, to } => {
            file_path = to;
            additional.from = Some(from);
        }
        RuntimeAction::Chmod { path, mode } => {
            file_path = path;
            additional.mode = Some(*mode);
        }
        RuntimeAction::Connect {
            remote: address,
            local,
            result,
        } => {
            remote = Some(address);
            additional.family = Some(address.family);
            additional.result = Some(*result);
            additional.local = local.as_ref();
        }
        RuntimeAction::Accept {
            remote: address,
            local,
        } => {
            remote = Some(address);
            additional.family = Some(address.family);
            additional.local = local.as_ref();
        }
        RuntimeAction::Listen { local } => additional.local = Some(local),
        RuntimeAction::Bind { local, result } => {
            additional.local = Some(local);
            additional.result = Some(*result);
        }
        RuntimeAction::Unshare { flags }
        | RuntimeAction::Setns { flags }
        | RuntimeAction::Clone { flags } => additional.flags = Some(*flags),
        RuntimeAction::Ptrace {
            request,
            target_pid,
        } => {
            additional.request = Some(*request);
            additional.target_pid = Some(*target_pid);
        }
        RuntimeAction::Kill {
            signal,
            target_pid,
            target_exe,
        } => {
            additional.signal = Some(*signal);
            additional.target_pid = Some(*target_pid);
            additional.target_exe = target_exe.as_deref();
        }
        RuntimeAction::MemfdCreate { name } | RuntimeAction::ModuleLoad { name } => {
            additional.name = Some(name);
        }
        RuntimeAction::Mount {
            source,
            target,
            fstype,
        } => {
            file_path = target;
            additional.source = Some(source);
            additional.fstype = Some(fstype);
        }
    }
    row.long(event.time.0);
    row.text(runtime.action.type_name());
    row.opt_text(context.image.as_deref());
    row.opt_text(context.namespace.as_deref());
    row.opt_text(context.pod.as_deref());
    row.opt_text(context.container_name.as_deref());
    row.opt_text(context.container_id.as_deref());
    row.opt_text(context.node.as_deref());
    row.opt_text(context.cluster.as_deref());
    row.long(i64::from(process.pid));
    row.text(process_name(process));
    row.text_with(|text| {
        let _ = write!(text, "{}", CommandLine(&process.args));
    });
    row.text(file_path);
    row.opt_text(remote.map(|address| address.address.as_str()));
    row.opt_long(remote.map(|address| i64::from(address.port)));
    row.json(&additional);
}

/// Annotations (a list of pairs in the model) as a JSON object.
struct Annotations<'a>(&'a [(String, String)]);

impl Serialize for Annotations<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[derive(Serialize)]
struct ResponseStatus {
    code: i32,
}

/// `RawEventData` of a Kubernetes audit event: the audit event's own field names. Request and
/// response bodies are embedded as the raw JSON they arrived as (the decoder checked them).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditRaw<'a> {
    #[serde(rename = "auditID")]
    audit_id: &'a str,
    stage: &'a str,
    level: AuditLevel,
    verb: &'a str,
    #[serde(rename = "requestURI")]
    request_uri: &'a str,
    user: &'a UserInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    impersonated_user: Option<&'a UserInfo>,
    #[serde(rename = "sourceIPs")]
    source_ips: &'a [String],
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_ref: Option<&'a ObjectRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_status: Option<ResponseStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_object: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_object: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<Annotations<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    response_code: Option<i32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    groups: &'a [String],
}

fn kube_audit_row(row: &mut RowWriter<'_>, event: &Event, audit: &KubeAudit) {
    let context = &event.context;
    let object = audit.object_ref.as_ref();
    let raw = AuditRaw {
        audit_id: &event.id,
        stage: &audit.stage,
        level: audit.level,
        verb: &audit.verb,
        request_uri: &audit.request_uri,
        user: &audit.user,
        impersonated_user: audit.impersonated_user.as_ref(),
        source_ips: &context.source_ips,
        user_agent: &audit.user_agent,
        object_ref: object,
        response_status: audit.response_code.map(|code| ResponseStatus { code }),
        request_object: audit.request_object.as_deref(),
        response_object: audit.response_object.as_deref(),
        annotations: (!audit.annotations.is_empty()).then(|| Annotations(&audit.annotations)),
    };
    let additional = AuditFields {
        response_code: audit.response_code,
        groups: &audit.user.groups,
    };
    let path = audit
        .request_uri
        .split_once('?')
        .map_or(audit.request_uri.as_str(), |(path, _)| path);
    let namespace = object
        .map(|o| o.namespace.as_str())
        .filter(|ns| !ns.is_empty())
        .or(context.namespace.as_deref());
    row.long(event.time.0);
    row.text(&event.id);
    row.text("Kubernetes audit");
    row.text(&audit.verb);
    row.text_with(|text| {
        text.push_str(&audit.verb);
        if let Some(o) = object {
            text.push(' ');
            text.push_str(&o.resource);
            if !o.subresource.is_empty() {
                text.push('/');
                text.push_str(&o.subresource);
            }
        }
    });
    row.text(path);
    row.opt_text(context.source_ips.first().map(String::as_str));
    no_geo(row);
    row.text(&audit.user_agent);
    row.json(&raw);
    row.json(&additional);
    row.opt_text(context.cluster.as_deref());
    row.opt_text(namespace);
    row.text(&audit.user.username);
}

/// `IsAnonymousProxy`, `CountryCode`, `City`, `Isp`: unknown until kdr has a geo/proxy
/// source.
fn no_geo(row: &mut RowWriter<'_>) {
    row.unknown_bool();
    row.text("");
    row.text("");
    row.text("");
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CloudRaw<'a> {
    event_id: &'a str,
    #[serde(rename = "sourceIPs")]
    source_ips: &'a [String],
    #[serde(flatten)]
    activity: &'a CloudActivity,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CloudFields<'a> {
    status: &'a str,
    principal_type: &'a str,
}

fn cloud_row(row: &mut RowWriter<'_>, event: &Event, cloud: &CloudActivity) {
    let context = &event.context;
    let data_source = match cloud.provider {
        CloudProvider::Azure => "Azure Activity",
        CloudProvider::Aws => "AWS CloudTrail",
        CloudProvider::Gcp => "GCP Audit",
    };
    let raw = CloudRaw {
        event_id: &event.id,
        source_ips: &context.source_ips,
        activity: cloud,
    };
    let additional = CloudFields {
        status: &cloud.status,
        principal_type: &cloud.principal_type,
    };
    row.long(event.time.0);
    row.text(&event.id);
    row.text(data_source);
    row.text(&cloud.operation);
    row.text(&cloud.operation);
    row.text(&cloud.resource_id);
    row.opt_text(context.source_ips.first().map(String::as_str));
    no_geo(row);
    row.text(&cloud.user_agent);
    row.json(&raw);
    row.json(&additional);
    row.opt_text(context.cluster.as_deref());
    row.opt_text(context.namespace.as_deref());
    row.text(&cloud.principal_id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Value;
    use crate::schema::ColumnKind;

    #[test]
    fn command_lines_quote_only_what_needs_it() {
        let args: Vec<String> = ["sh", "-c", "curl x | sh", "", "a\"b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(command_line(&args), r#"sh -c "curl x | sh" "" "a\"b""#);
        let args = vec![r"C:\Program Files\x".to_owned()];
        assert_eq!(command_line(&args), r#""C:\\Program Files\\x""#);
    }

    #[test]
    fn every_row_has_one_value_of_its_column_type_per_column() {
        let mut rows = HuntingRows::default();
        let mut expected = [0usize; HUNTING_TABLES.len()];
        for event in crate::synthetic::Generator::new(7).take(2000) {
            let table = rows.push(&event);
            expected[table] += 1;
            let buffer = &rows.tables[table];
            assert_eq!(
                buffer.value_count(),
                expected[table] * HUNTING_TABLES[table].columns.len(),
                "{}",
                HUNTING_TABLES[table].name
            );
        }
        for (table, buffer) in HUNTING_TABLES.iter().zip(&rows.tables) {
            assert!(buffer.len() > 100, "{}: {} rows", table.name, buffer.len());
            for index in 0..buffer.len() {
                for (value, (column, kind)) in buffer.row(index).zip(table.columns) {
                    let fits = match (kind, &value) {
                        (ColumnKind::String, Value::Text(_)) => true,
                        (ColumnKind::Dynamic, Value::Text(json)) => {
                            serde_json::from_str::<serde_json::Value>(json).is_ok()
                        }
                        (ColumnKind::DateTime | ColumnKind::Long, Value::Int(_) | Value::Null) => {
                            true
                        }
                        (ColumnKind::Bool, Value::Bool(_) | Value::Null) => true,
                        _ => false,
                    };
                    assert!(fits, "{}.{column}: {value:?}", table.name);
                }
            }
        }
    }

    #[test]
    fn text_and_json_values_read_back_as_written() {
        let mut buffer = RowBuffer::new(3);
        buffer.push_text("a");
        buffer.push_json(&serde_json::json!({"k": "v\"w"}));
        buffer.push_text_with(|text| text.push_str("b c"));
        buffer.push_int(4);
        buffer.push_null();
        buffer.push_text("");
        assert_eq!(buffer.len(), 2);
        let rows: Vec<Vec<Value<'_>>> = (0..2).map(|i| buffer.row(i).collect()).collect();
        assert_eq!(
            rows,
            [
                vec![
                    Value::text("a"),
                    Value::text(r#"{"k":"v\"w"}"#),
                    Value::text("b c")
                ],
                vec![Value::Int(4), Value::Null, Value::text("")],
            ]
        );
    }
}
