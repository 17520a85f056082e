//! Normalized events as hunting rows: which table each goes to and what fills each column.
//!
//! Values borrow from the event where they can: ingest speed is dominated by this step.

use serde::Serialize;
use serde_json::value::RawValue;

use kdr_model::{
    AddressFamily, AuditLevel, CloudActivity, CloudProvider, Event, FdKind, KubeAudit, ObjectRef,
    Payload, Process, RuntimeAction, RuntimeEvent, SocketAddress, UserInfo,
};

use crate::db::Value;
use crate::schema::{ColumnKind, HuntingTable, AUDIT_EVENTS, PROCESS_EVENTS, RUNTIME_EVENTS};

pub struct HuntingRow<'a> {
    pub table: &'static HuntingTable,
    pub values: Vec<Value<'a>>,
}

/// The row an event becomes.
pub fn hunting_row(event: &Event) -> HuntingRow<'_> {
    let mut row = match &event.payload {
        Payload::Runtime(runtime) => match runtime.action {
            RuntimeAction::Exec | RuntimeAction::Exit { .. } => process_row(event, runtime),
            _ => runtime_row(event, runtime),
        },
        Payload::K8sAudit(audit) => kube_audit_row(event, audit),
        Payload::Cloud(cloud) => cloud_row(event, cloud),
    };
    // Hunting strings are never NULL (KQL has no null string): the compiler then reads the
    // columns as they are, which keeps indexes and join keys usable.
    for (value, (_, kind)) in row.values.iter_mut().zip(row.table.columns) {
        if *kind == ColumnKind::String && matches!(value, Value::Null) {
            *value = Value::text("");
        }
    }
    row
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
    let mut line = String::new();
    for (index, arg) in args.iter().enumerate() {
        if index > 0 {
            line.push(' ');
        }
        if arg.is_empty() || arg.chars().any(|c| c.is_whitespace() || c == '"') {
            line.push('"');
            line.push_str(&arg.replace('\\', "\\\\").replace('"', "\\\""));
            line.push('"');
        } else {
            line.push_str(arg);
        }
    }
    line
}

/// Serializes a row's JSON column. The shapes below borrow from the event and serialize
/// straight to text: building `serde_json::Value` trees first cost half of ingest time.
fn json_column<T: Serialize>(value: &T) -> Value<'static> {
    Value::owned(serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AncestorFields<'a> {
    pid: u32,
    exe: &'a str,
    command_line: String,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ancestors: Vec<AncestorFields<'a>>,
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

fn process_row<'a>(event: &'a Event, runtime: &'a RuntimeEvent) -> HuntingRow<'a> {
    let context = &event.context;
    let process = &runtime.process;
    let parent = process.ancestors.first();
    let mut additional = runtime_common(event, runtime);
    if let RuntimeAction::Exit { code } = runtime.action {
        additional.exit_code = Some(code);
    }
    additional.stdio = Some(&process.stdio);
    additional.ancestors = process
        .ancestors
        .iter()
        .map(|a| AncestorFields {
            pid: a.pid,
            exe: &a.exe,
            command_line: command_line(&a.args),
        })
        .collect();
    let values = vec![
        Value::Int(event.time.0),
        Value::opt_text(context.image.as_deref()),
        Value::opt_text(context.namespace.as_deref()),
        Value::opt_text(context.pod.as_deref()),
        context
            .pod
            .as_deref()
            .map_or(Value::Null, |pod| Value::owned(format!("pods/{pod}"))),
        Value::opt_text(context.container_name.as_deref()),
        Value::opt_text(context.container_id.as_deref()),
        Value::text(runtime.action.type_name()),
        Value::non_empty(base_name(&process.exe)),
        Value::non_empty(&process.exe),
        Value::Int(i64::from(process.pid)),
        Value::non_empty(process_name(process)),
        parent.map_or(Value::Null, |p| Value::non_empty(base_name(&p.exe))),
        Value::Int(i64::from(parent.map_or(process.ppid, |p| p.pid))),
        Value::owned(command_line(&process.args)),
        Value::opt_int(process.start_time.map(|t| t.0)),
        Value::non_empty(&process.cwd),
        Value::opt_text(process.user.as_deref().or(context.identity.as_deref())),
        Value::owned(process.uid.to_string()),
        Value::Int(i64::from(process.ppid)),
        json_column(&additional),
        Value::opt_text(context.node.as_deref()),
        Value::opt_text(context.cluster.as_deref()),
    ];
    HuntingRow {
        table: &PROCESS_EVENTS,
        values,
    }
}

fn remote(address: &SocketAddress) -> (Value<'_>, Value<'_>) {
    (
        Value::non_empty(&address.address),
        Value::Int(i64::from(address.port)),
    )
}

fn runtime_row<'a>(event: &'a Event, runtime: &'a RuntimeEvent) -> HuntingRow<'a> {
    let context = &event.context;
    let process = &runtime.process;
    let mut additional = runtime_common(event, runtime);
    let mut file_path = Value::Null;
    let (mut remote_ip, mut remote_port) = (Value::Null, Value::Null);
    match &runtime.action {
        RuntimeAction::Exec | RuntimeAction::Exit { .. } => {}
        RuntimeAction::Fork { child_pid } => additional.child_pid = Some(*child_pid),
        RuntimeAction::Open {
            path,
            flags,
            result,
        } => {
            file_path = Value::text(path);
            additional.flags = Some(u64::from(*flags));
            additional.result = Some(*result);
        }
        RuntimeAction::Unlink { path } | RuntimeAction::Utimes { path } => {
            file_path = Value::text(path);
        }
        RuntimeAction::Rename { from, to } => {
            file_path = Value::text(to);
            additional.from = Some(from);
        }
        RuntimeAction::Chmod { path, mode } => {
            file_path = Value::text(path);
            additional.mode = Some(*mode);
        }
        RuntimeAction::Connect {
            remote: address,
            local,
            result,
        } => {
            (remote_ip, remote_port) = remote(address);
            additional.family = Some(address.family);
            additional.result = Some(*result);
            additional.local = local.as_ref();
        }
        RuntimeAction::Accept {
            remote: address,
            local,
        } => {
            (remote_ip, remote_port) = remote(address);
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
            file_path = Value::text(target);
            additional.source = Some(source);
            additional.fstype = Some(fstype);
        }
    }
    let values = vec![
        Value::Int(event.time.0),
        Value::text(runtime.action.type_name()),
        Value::opt_text(context.image.as_deref()),
        Value::opt_text(context.namespace.as_deref()),
        Value::opt_text(context.pod.as_deref()),
        Value::opt_text(context.container_name.as_deref()),
        Value::opt_text(context.container_id.as_deref()),
        Value::opt_text(context.node.as_deref()),
        Value::opt_text(context.cluster.as_deref()),
        Value::Int(i64::from(process.pid)),
        Value::non_empty(process_name(process)),
        Value::owned(command_line(&process.args)),
        file_path,
        remote_ip,
        remote_port,
        json_column(&additional),
    ];
    HuntingRow {
        table: &RUNTIME_EVENTS,
        values,
    }
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

fn kube_audit_row<'a>(event: &'a Event, audit: &'a KubeAudit) -> HuntingRow<'a> {
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
    let operation = match object {
        Some(o) if o.subresource.is_empty() => format!("{} {}", audit.verb, o.resource),
        Some(o) => format!("{} {}/{}", audit.verb, o.resource, o.subresource),
        None => audit.verb.clone(),
    };
    let path = audit
        .request_uri
        .split_once('?')
        .map_or(audit.request_uri.as_str(), |(path, _)| path);
    let namespace = object
        .map(|o| o.namespace.as_str())
        .filter(|ns| !ns.is_empty())
        .or(context.namespace.as_deref());
    let values = vec![
        Value::Int(event.time.0),
        Value::text(&event.id),
        Value::text("Kubernetes audit"),
        Value::non_empty(&audit.verb),
        Value::owned(operation),
        Value::non_empty(path),
        Value::opt_text(context.source_ips.first().map(String::as_str)),
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::non_empty(&audit.user_agent),
        json_column(&raw),
        json_column(&additional),
        Value::opt_text(context.cluster.as_deref()),
        Value::opt_text(namespace),
        Value::non_empty(&audit.user.username),
    ];
    HuntingRow {
        table: &AUDIT_EVENTS,
        values,
    }
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

fn cloud_row<'a>(event: &'a Event, cloud: &'a CloudActivity) -> HuntingRow<'a> {
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
    let values = vec![
        Value::Int(event.time.0),
        Value::text(&event.id),
        Value::text(data_source),
        Value::non_empty(&cloud.operation),
        Value::non_empty(&cloud.operation),
        Value::non_empty(&cloud.resource_id),
        Value::opt_text(context.source_ips.first().map(String::as_str)),
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::non_empty(&cloud.user_agent),
        json_column(&raw),
        json_column(&additional),
        Value::opt_text(context.cluster.as_deref()),
        Value::opt_text(context.namespace.as_deref()),
        Value::non_empty(&cloud.principal_id),
    ];
    HuntingRow {
        table: &AUDIT_EVENTS,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_only_what_needs_it() {
        let args: Vec<String> = ["sh", "-c", "curl x | sh", "", "a\"b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(command_line(&args), r#"sh -c "curl x | sh" "" "a\"b""#);
    }

    #[test]
    fn every_row_has_one_value_per_column() {
        for event in crate::synthetic::Generator::new(7).take(2000) {
            let row = hunting_row(&event);
            assert_eq!(
                row.values.len(),
                row.table.columns.len(),
                "{}",
                row.table.name
            );
        }
    }
}
