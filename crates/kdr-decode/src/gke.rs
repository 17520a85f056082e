//! GKE audit logs as Cloud Logging entries (`protoPayload` holding a
//! `google.cloud.audit.AuditLog`).
//!
//! Entries from the Kubernetes API (`serviceName: k8s.io`) become `KubeAudit` events: the
//! resource, subresource and verb come from `methodName`
//! (`io.k8s.core.v1.pods.exec.create`), the API group, version, namespace and name from
//! `resourceName` (`core/v1/namespaces/default/pods/web-1/exec`). Entries of other Google
//! services (the GKE control plane API, Compute, IAM) become `CloudActivity` events.

use serde::Deserialize;
use serde_json::value::RawValue;

use kdr_model::{
    AuditLevel, CloudActivity, CloudProvider, Context, Event, KubeAudit, ObjectRef, Payload,
    UserInfo,
};

use crate::time::parse_field;
use crate::wire::{non_empty, parse, Str, StringPairs};
use crate::{Ctx, DecodeError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryWire<'a> {
    #[serde(borrow)]
    proto_payload: AuditLogWire<'a>,
    insert_id: Option<String>,
    #[serde(borrow)]
    timestamp: Option<Str<'a>>,
    resource: Option<ResourceWire>,
    labels: Option<StringPairs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditLogWire<'a> {
    #[serde(rename = "@type", borrow)]
    kind: Option<Str<'a>>,
    service_name: Option<String>,
    method_name: Option<String>,
    resource_name: Option<String>,
    authentication_info: Option<AuthenticationWire>,
    request_metadata: Option<RequestMetadataWire>,
    status: Option<StatusWire>,
    request: Option<Box<RawValue>>,
    response: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthenticationWire {
    principal_email: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestMetadataWire {
    caller_ip: Option<String>,
    caller_supplied_user_agent: Option<String>,
}

#[derive(Deserialize)]
struct StatusWire {
    code: Option<i32>,
}

#[derive(Deserialize)]
struct ResourceWire {
    labels: Option<ResourceLabelsWire>,
}

#[derive(Deserialize)]
struct ResourceLabelsWire {
    cluster_name: Option<String>,
}

const AUDIT_LOG_TYPE: &str = "type.googleapis.com/google.cloud.audit.AuditLog";

pub(crate) fn decode_entry(text: &str, ctx: &mut Ctx) {
    let entry = match parse::<EntryWire>(text) {
        Ok(entry) => entry,
        Err(error) => return ctx.fail(error),
    };
    match entry.proto_payload.kind.as_ref().map(Str::as_str) {
        Some(AUDIT_LOG_TYPE) => {}
        // Other protoPayload types (e.g. request logs) carry no audit data.
        Some(_) => {
            ctx.skipped += 1;
            return;
        }
        None => {
            return ctx.fail(DecodeError::at(
                "protoPayload",
                format!("missing field `@type` (expected {AUDIT_LOG_TYPE:?})"),
            ))
        }
    }
    ctx.push(convert(entry));
}

/// The usual mapping of gRPC status codes to HTTP status codes.
pub(crate) fn http_code(grpc: i32) -> i32 {
    match grpc {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

/// `v1`, `v1beta1`, `v2alpha3`: the version segment of a method or resource name.
fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let tail = &rest[digits..];
    tail.is_empty()
        || ["alpha", "beta"].iter().any(|stage| {
            tail.strip_prefix(stage)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// What a Kubernetes `methodName` says: resource, subresource, verb.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Method {
    pub resource: String,
    pub subresource: String,
    pub verb: String,
}

pub(crate) fn parse_method(method: &str) -> Method {
    let segments: Vec<&str> = method.split('.').collect();
    let verb = segments.last().copied().unwrap_or_default().to_owned();
    match segments.iter().position(|s| is_version(s)) {
        Some(version) if segments.len() >= version + 3 => Method {
            resource: segments[version + 1].to_owned(),
            subresource: segments[version + 2..segments.len() - 1].join("/"),
            verb,
        },
        _ => Method {
            verb,
            ..Method::default()
        },
    }
}

/// What a Kubernetes `resourceName` says: group, version, namespace, name (and the request
/// path it stands for).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ResourceName {
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub name: String,
    pub subresource: String,
    pub request_uri: String,
}

pub(crate) fn parse_resource_name(resource_name: &str, resource: &str) -> ResourceName {
    let segments: Vec<&str> = resource_name.split('/').collect();
    if segments.len() < 3 || !is_version(segments[1]) {
        return ResourceName {
            request_uri: format!("/{}", resource_name.trim_start_matches('/')),
            ..ResourceName::default()
        };
    }
    let api_group = if segments[0] == "core" {
        ""
    } else {
        segments[0]
    };
    let api_version = segments[1];
    let mut rest = &segments[2..];
    let mut namespace = "";
    if rest.len() >= 3 && rest[0] == "namespaces" && resource != "namespaces" {
        namespace = rest[1];
        rest = &rest[2..];
    }
    let name = rest.get(1).copied().unwrap_or_default();
    let subresource = rest.get(2..).map(|s| s.join("/")).unwrap_or_default();
    let prefix = if api_group.is_empty() {
        format!("/api/{api_version}")
    } else {
        format!("/apis/{api_group}/{api_version}")
    };
    ResourceName {
        api_group: api_group.to_owned(),
        api_version: api_version.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        subresource,
        request_uri: format!("{prefix}/{}", segments[2..].join("/")),
    }
}

fn convert(entry: EntryWire) -> Result<Event, DecodeError> {
    let Some(timestamp) = entry.timestamp else {
        return Err(DecodeError::new("missing field `timestamp`"));
    };
    let time = parse_field(timestamp.as_str(), "timestamp")?;
    let Some(id) = non_empty(entry.insert_id) else {
        return Err(DecodeError::new("missing field `insertId`"));
    };
    let payload = entry.proto_payload;
    let Some(method_name) = payload.method_name else {
        return Err(DecodeError::at(
            "protoPayload",
            "missing field `methodName`",
        ));
    };
    let cluster = entry
        .resource
        .and_then(|r| r.labels)
        .and_then(|labels| non_empty(labels.cluster_name));
    let principal = payload
        .authentication_info
        .and_then(|a| non_empty(a.principal_email))
        .unwrap_or_default();
    let (caller_ip, user_agent) = payload
        .request_metadata
        .map(|m| (non_empty(m.caller_ip), m.caller_supplied_user_agent))
        .unwrap_or_default();
    let grpc_code = payload.status.map(|s| s.code.unwrap_or(0));
    let resource_name = payload.resource_name.unwrap_or_default();
    let context = Context {
        cluster,
        identity: non_empty(Some(principal.clone())),
        source_ips: caller_ip.into_iter().collect(),
        ..Context::default()
    };

    if payload.service_name.as_deref() != Some("k8s.io") {
        let principal_type = if principal.ends_with(".gserviceaccount.com") {
            "ServiceAccount"
        } else if principal.is_empty() {
            ""
        } else {
            "User"
        };
        return Ok(Event {
            id,
            time,
            context,
            payload: Payload::Cloud(Box::new(CloudActivity {
                provider: CloudProvider::Gcp,
                operation: method_name,
                principal_id: principal,
                principal_type: principal_type.to_owned(),
                resource_id: resource_name,
                status: match grpc_code {
                    Some(0) | None => "Succeeded",
                    Some(_) => "Failed",
                }
                .to_owned(),
                user_agent: user_agent.unwrap_or_default(),
            })),
        });
    }

    let method = parse_method(&method_name);
    let location = parse_resource_name(&resource_name, &method.resource);
    let object_ref = (!method.resource.is_empty()).then(|| ObjectRef {
        resource: method.resource.clone(),
        subresource: if method.subresource.is_empty() {
            location.subresource.clone()
        } else {
            method.subresource.clone()
        },
        namespace: location.namespace.clone(),
        name: location.name.clone(),
        api_group: location.api_group.clone(),
        api_version: location.api_version.clone(),
    });
    let level = match (&payload.request, &payload.response) {
        (_, Some(_)) => AuditLevel::RequestResponse,
        (Some(_), None) => AuditLevel::Request,
        (None, None) => AuditLevel::Metadata,
    };
    let mut context = context;
    if let Some(object) = &object_ref {
        context.namespace = non_empty(Some(object.namespace.clone()));
        if object.resource == "pods" {
            context.pod = non_empty(Some(object.name.clone()));
        }
    }
    let audit = KubeAudit {
        level,
        // Cloud Logging only receives the final stage of each request.
        stage: "ResponseComplete".to_owned(),
        verb: method.verb,
        request_uri: location.request_uri,
        user: UserInfo {
            username: principal,
            ..UserInfo::default()
        },
        impersonated_user: None,
        user_agent: user_agent.unwrap_or_default(),
        object_ref,
        response_code: grpc_code.map(http_code),
        request_object: payload.request,
        response_object: payload.response,
        annotations: entry.labels.map(|l| l.0).unwrap_or_default(),
    };
    Ok(Event {
        id,
        time,
        context,
        payload: Payload::K8sAudit(Box::new(audit)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names() {
        let m = parse_method("io.k8s.core.v1.pods.exec.create");
        assert_eq!(
            (m.resource.as_str(), m.subresource.as_str(), m.verb.as_str()),
            ("pods", "exec", "create")
        );
        let m = parse_method("io.k8s.authorization.rbac.v1.clusterrolebindings.create");
        assert_eq!(
            (m.resource.as_str(), m.verb.as_str()),
            ("clusterrolebindings", "create")
        );
        let m = parse_method("io.k8s.apps.v1beta2.deployments.deletecollection");
        assert_eq!(
            (m.resource.as_str(), m.verb.as_str()),
            ("deployments", "deletecollection")
        );
        let m = parse_method("io.k8s.get");
        assert_eq!((m.resource.as_str(), m.verb.as_str()), ("", "get"));
        assert!(!is_version("vx") && !is_version("v1beta") && is_version("v2alpha1"));
    }

    #[test]
    fn resource_names() {
        let r = parse_resource_name("core/v1/namespaces/default/pods/web-1/exec", "pods");
        assert_eq!(r.namespace, "default");
        assert_eq!(r.name, "web-1");
        assert_eq!(r.subresource, "exec");
        assert_eq!(r.request_uri, "/api/v1/namespaces/default/pods/web-1/exec");
        let r = parse_resource_name(
            "rbac.authorization.k8s.io/v1/clusterrolebindings/evil",
            "clusterrolebindings",
        );
        assert_eq!(r.api_group, "rbac.authorization.k8s.io");
        assert_eq!(r.namespace, "");
        assert_eq!(r.name, "evil");
        assert_eq!(
            r.request_uri,
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/evil"
        );
        let r = parse_resource_name("core/v1/namespaces/prod", "namespaces");
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("", "prod"));
        let r = parse_resource_name("core/v1/namespaces/prod/secrets", "secrets");
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("prod", ""));
    }
}
