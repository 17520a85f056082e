//! Normalized events as hunting rows: which table each goes to and what fills each column.
//!
//! Values borrow from the event where they can: ingest speed is dominated by this step.

use serde_json::{json, Map, Value as Json};

use kdr_model::{
    CloudActivity, CloudProvider, Event, KubeAudit, Payload, Process, RuntimeAction, RuntimeEvent,
    SocketAddress,
};

use crate::db::Value;
use crate::schema::{HuntingTable, AUDIT_EVENTS, PROCESS_EVENTS, RUNTIME_EVENTS};

pub struct HuntingRow<'a> {
    pub table: &'static HuntingTable,
    pub values: Vec<Value<'a>>,
}

/// The row an event becomes.
pub fn hunting_row(event: &Event) -> HuntingRow<'_> {
    match &event.payload {
        Payload::Runtime(runtime) => match runtime.action {
            RuntimeAction::Exec | RuntimeAction::Exit { .. } => process_row(event, runtime),
            _ => runtime_row(event, runtime),
        },
        Payload::K8sAudit(audit) => kube_audit_row(event, audit),
        Payload::Cloud(cloud) => cloud_row(event, cloud),
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

fn json_text(value: &Json) -> Value<'static> {
    Value::owned(value.to_string())
}

fn runtime_common(event: &Event, runtime: &RuntimeEvent) -> Map<String, Json> {
    let process = &runtime.process;
    let mut fields = Map::new();
    fields.insert("eventId".into(), Json::from(event.id.as_str()));
    fields.insert("comm".into(), Json::from(process.comm.as_str()));
    fields.insert("uid".into(), Json::from(process.uid));
    fields.insert("gid".into(), Json::from(process.gid));
    fields.insert("euid".into(), Json::from(process.euid));
    fields.insert("tgid".into(), Json::from(process.tgid));
    if process.args_truncated {
        fields.insert("argsTruncated".into(), Json::from(true));
    }
    if let Some(privileged) = runtime.container_privileged {
        fields.insert("containerPrivileged".into(), Json::from(privileged));
    }
    if let Some(image_id) = &runtime.image_id {
        fields.insert("imageId".into(), Json::from(image_id.as_str()));
    }
    fields
}

fn process_row<'a>(event: &'a Event, runtime: &'a RuntimeEvent) -> HuntingRow<'a> {
    let context = &event.context;
    let process = &runtime.process;
    let parent = process.ancestors.first();
    let mut additional = runtime_common(event, runtime);
    if let RuntimeAction::Exit { code } = runtime.action {
        additional.insert("exitCode".into(), Json::from(code));
    }
    additional.insert(
        "stdio".into(),
        serde_json::to_value(process.stdio).unwrap_or(Json::Null),
    );
    if !process.ancestors.is_empty() {
        let chain: Vec<Json> = process
            .ancestors
            .iter()
            .map(|a| json!({"pid": a.pid, "exe": a.exe, "commandLine": command_line(&a.args)}))
            .collect();
        additional.insert("ancestors".into(), Json::Array(chain));
    }
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
        json_text(&Json::Object(additional)),
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
        RuntimeAction::Fork { child_pid } => {
            additional.insert("childPid".into(), Json::from(*child_pid));
        }
        RuntimeAction::Open {
            path,
            flags,
            result,
        } => {
            file_path = Value::text(path);
            additional.insert("flags".into(), Json::from(*flags));
            additional.insert("result".into(), Json::from(*result));
        }
        RuntimeAction::Unlink { path } | RuntimeAction::Utimes { path } => {
            file_path = Value::text(path);
        }
        RuntimeAction::Rename { from, to } => {
            file_path = Value::text(to);
            additional.insert("from".into(), Json::from(from.as_str()));
        }
        RuntimeAction::Chmod { path, mode } => {
            file_path = Value::text(path);
            additional.insert("mode".into(), Json::from(*mode));
        }
        RuntimeAction::Connect {
            remote: address,
            local,
            result,
        } => {
            (remote_ip, remote_port) = remote(address);
            additional.insert("family".into(), json!(address.family));
            additional.insert("result".into(), Json::from(*result));
            if let Some(local) = local {
                additional.insert("local".into(), json!(local));
            }
        }
        RuntimeAction::Accept {
            remote: address,
            local,
        } => {
            (remote_ip, remote_port) = remote(address);
            additional.insert("family".into(), json!(address.family));
            if let Some(local) = local {
                additional.insert("local".into(), json!(local));
            }
        }
        RuntimeAction::Listen { local } => {
            additional.insert("local".into(), json!(local));
        }
        RuntimeAction::Unshare { flags }
        | RuntimeAction::Setns { flags }
        | RuntimeAction::Clone { flags } => {
            additional.insert("flags".into(), Json::from(*flags));
        }
        RuntimeAction::Ptrace {
            request,
            target_pid,
        } => {
            additional.insert("request".into(), Json::from(*request));
            additional.insert("targetPid".into(), Json::from(*target_pid));
        }
        RuntimeAction::Kill {
            signal,
            target_pid,
            target_exe,
        } => {
            additional.insert("signal".into(), Json::from(*signal));
            additional.insert("targetPid".into(), Json::from(*target_pid));
            if let Some(exe) = target_exe {
                additional.insert("targetExe".into(), Json::from(exe.as_str()));
            }
        }
        RuntimeAction::MemfdCreate { name } | RuntimeAction::ModuleLoad { name } => {
            additional.insert("name".into(), Json::from(name.as_str()));
        }
        RuntimeAction::Mount {
            source,
            target,
            fstype,
        } => {
            file_path = Value::text(target);
            additional.insert("source".into(), Json::from(source.as_str()));
            additional.insert("fstype".into(), Json::from(fstype.as_str()));
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
        json_text(&Json::Object(additional)),
    ];
    HuntingRow {
        table: &RUNTIME_EVENTS,
        values,
    }
}

/// A raw JSON body as a JSON value; a body that is not valid JSON is kept as a string rather
/// than dropped (the decoder already checked it, so this is belt and braces).
fn raw_json(raw: &serde_json::value::RawValue) -> Json {
    serde_json::from_str(raw.get()).unwrap_or_else(|_| Json::from(raw.get()))
}

fn kube_audit_row<'a>(event: &'a Event, audit: &'a KubeAudit) -> HuntingRow<'a> {
    let context = &event.context;
    let object = audit.object_ref.as_ref();
    let resource = object.map(|o| {
        if o.subresource.is_empty() {
            o.resource.clone()
        } else {
            format!("{}/{}", o.resource, o.subresource)
        }
    });
    let mut raw = Map::new();
    raw.insert("auditID".into(), Json::from(event.id.as_str()));
    raw.insert("stage".into(), Json::from(audit.stage.as_str()));
    raw.insert("level".into(), json!(audit.level));
    raw.insert("verb".into(), Json::from(audit.verb.as_str()));
    raw.insert("requestURI".into(), Json::from(audit.request_uri.as_str()));
    raw.insert("user".into(), json!(audit.user));
    if let Some(impersonated) = &audit.impersonated_user {
        raw.insert("impersonatedUser".into(), json!(impersonated));
    }
    raw.insert("sourceIPs".into(), json!(context.source_ips));
    raw.insert("userAgent".into(), Json::from(audit.user_agent.as_str()));
    if let Some(object) = object {
        raw.insert("objectRef".into(), json!(object));
    }
    if let Some(code) = audit.response_code {
        raw.insert("responseStatus".into(), json!({ "code": code }));
    }
    if let Some(body) = &audit.request_object {
        raw.insert("requestObject".into(), raw_json(body));
    }
    if let Some(body) = &audit.response_object {
        raw.insert("responseObject".into(), raw_json(body));
    }
    if !audit.annotations.is_empty() {
        let annotations: Map<String, Json> = audit
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), Json::from(v.as_str())))
            .collect();
        raw.insert("annotations".into(), Json::Object(annotations));
    }
    let mut additional = Map::new();
    if let Some(code) = audit.response_code {
        additional.insert("responseCode".into(), Json::from(code));
    }
    if let Some(groups) = (!audit.user.groups.is_empty()).then_some(&audit.user.groups) {
        additional.insert("groups".into(), json!(groups));
    }
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
        Value::owned(match &resource {
            Some(resource) => format!("{} {resource}", audit.verb),
            None => audit.verb.clone(),
        }),
        Value::non_empty(path),
        Value::opt_text(context.source_ips.first().map(String::as_str)),
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::non_empty(&audit.user_agent),
        json_text(&Json::Object(raw)),
        json_text(&Json::Object(additional)),
        Value::opt_text(context.cluster.as_deref()),
        Value::opt_text(namespace),
        Value::non_empty(&audit.user.username),
    ];
    HuntingRow {
        table: &AUDIT_EVENTS,
        values,
    }
}

fn cloud_row<'a>(event: &'a Event, cloud: &'a CloudActivity) -> HuntingRow<'a> {
    let context = &event.context;
    let data_source = match cloud.provider {
        CloudProvider::Azure => "Azure Activity",
        CloudProvider::Aws => "AWS CloudTrail",
        CloudProvider::Gcp => "GCP Audit",
    };
    let mut raw = serde_json::to_value(cloud).unwrap_or(Json::Null);
    if let Json::Object(fields) = &mut raw {
        fields.insert("eventId".into(), Json::from(event.id.as_str()));
        fields.insert("sourceIPs".into(), json!(context.source_ips));
    }
    let additional = json!({ "status": cloud.status, "principalType": cloud.principal_type });
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
        json_text(&raw),
        json_text(&additional),
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
