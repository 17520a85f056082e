//! Kubernetes `audit.k8s.io/v1` and `v1beta1` `Event`s and `EventList`s.
//!
//! The wire structs mirror the API server's JSON; unknown fields (`user.extra`,
//! `objectRef.uid`, `authenticationMetadata`, ...) are skipped, `null` is read as absent, and
//! the request/response bodies are copied as raw JSON without being parsed.

use serde::Deserialize;
use serde_json::value::RawValue;

use kdr_model::{AuditLevel, Context, Event, KubeAudit, ObjectRef, Payload, UserInfo};

use crate::time::parse_field;
use crate::wire::{non_empty, parse, Str, StringPairs};
use crate::{Ctx, DecodeError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditWire<'a> {
    #[serde(borrow)]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    api_version: Option<Str<'a>>,
    level: AuditLevel,
    #[serde(rename = "auditID")]
    audit_id: String,
    stage: String,
    #[serde(rename = "requestURI")]
    request_uri: Option<String>,
    verb: Option<String>,
    user: Option<UserWire>,
    impersonated_user: Option<UserWire>,
    #[serde(rename = "sourceIPs")]
    source_ips: Option<Vec<String>>,
    user_agent: Option<String>,
    object_ref: Option<ObjectRefWire>,
    response_status: Option<StatusWire>,
    request_object: Option<Box<RawValue>>,
    response_object: Option<Box<RawValue>>,
    #[serde(borrow)]
    request_received_timestamp: Option<Str<'a>>,
    #[serde(borrow)]
    stage_timestamp: Option<Str<'a>>,
    annotations: Option<StringPairs>,
}

#[derive(Deserialize)]
struct UserWire {
    username: Option<String>,
    uid: Option<String>,
    groups: Option<Vec<String>>,
}

impl From<UserWire> for UserInfo {
    fn from(wire: UserWire) -> Self {
        UserInfo {
            username: wire.username.unwrap_or_default(),
            uid: non_empty(wire.uid),
            groups: wire.groups.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectRefWire {
    resource: Option<String>,
    subresource: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    api_group: Option<String>,
    api_version: Option<String>,
}

impl From<ObjectRefWire> for ObjectRef {
    fn from(wire: ObjectRefWire) -> Self {
        ObjectRef {
            resource: wire.resource.unwrap_or_default(),
            subresource: wire.subresource.unwrap_or_default(),
            namespace: wire.namespace.unwrap_or_default(),
            name: wire.name.unwrap_or_default(),
            api_group: wire.api_group.unwrap_or_default(),
            api_version: wire.api_version.unwrap_or_default(),
        }
    }
}

/// `responseStatus` is a `metav1.Status`; only its HTTP code matters to kdr.
#[derive(Deserialize)]
struct StatusWire {
    code: Option<i32>,
}

pub(crate) fn check_api_version(api_version: Option<&Str>) -> Result<(), DecodeError> {
    match api_version {
        Some(version) if !version.as_str().starts_with("audit.k8s.io/") => Err(DecodeError::at(
            "apiVersion",
            format!(
                "expected audit.k8s.io/v1 or audit.k8s.io/v1beta1, found {:?}",
                version.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

impl AuditWire<'_> {
    /// Builds the model event; `cluster` comes from the envelope, when it names one.
    pub(crate) fn into_event(self, cluster: Option<String>) -> Result<Event, DecodeError> {
        if let Some(kind) = &self.kind {
            if kind.as_str() != "Event" {
                return Err(DecodeError::at(
                    "kind",
                    format!("expected \"Event\", found {:?}", kind.as_str()),
                ));
            }
        }
        check_api_version(self.api_version.as_ref())?;
        let time = match (&self.stage_timestamp, &self.request_received_timestamp) {
            (Some(stage), _) => parse_field(stage.as_str(), "stageTimestamp")?,
            (None, Some(received)) => parse_field(received.as_str(), "requestReceivedTimestamp")?,
            (None, None) => {
                return Err(DecodeError::new(
                    "missing field `stageTimestamp` (and no `requestReceivedTimestamp`)",
                ))
            }
        };
        let user: UserInfo = self.user.map(UserInfo::from).unwrap_or_default();
        let object_ref: Option<ObjectRef> = self.object_ref.map(ObjectRef::from);
        let source_ips = self.source_ips.unwrap_or_default();
        let (namespace, pod) = match &object_ref {
            Some(object) => (
                (!object.namespace.is_empty()).then(|| object.namespace.clone()),
                (object.resource == "pods" && !object.name.is_empty()).then(|| object.name.clone()),
            ),
            None => (None, None),
        };
        let context = Context {
            cluster,
            namespace,
            pod,
            identity: (!user.username.is_empty()).then(|| user.username.clone()),
            source_ips,
            ..Context::default()
        };
        let audit = KubeAudit {
            level: self.level,
            stage: self.stage,
            verb: self.verb.unwrap_or_default(),
            request_uri: self.request_uri.unwrap_or_default(),
            user,
            impersonated_user: self.impersonated_user.map(UserInfo::from),
            user_agent: self.user_agent.unwrap_or_default(),
            object_ref,
            response_code: self.response_status.and_then(|status| status.code),
            request_object: self.request_object,
            response_object: self.response_object,
            annotations: self.annotations.map(|a| a.0).unwrap_or_default(),
        };
        Ok(Event {
            id: self.audit_id,
            time,
            context,
            payload: Payload::K8sAudit(Box::new(audit)),
        })
    }
}

/// One audit `Event` as JSON text (a log line, or the text inside a cloud envelope).
pub(crate) fn decode_event(text: &str, cluster: Option<String>) -> Result<Event, DecodeError> {
    parse::<AuditWire>(text)?.into_event(cluster)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventListWire<'a, T> {
    #[serde(borrow)]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    api_version: Option<Str<'a>>,
    items: Option<Vec<T>>,
}

impl<T> EventListWire<'_, T> {
    fn check(&self) -> Result<(), DecodeError> {
        if let Some(kind) = &self.kind {
            if kind.as_str() != "EventList" {
                return Err(DecodeError::at(
                    "kind",
                    format!("expected \"EventList\", found {:?}", kind.as_str()),
                ));
            }
        }
        check_api_version(self.api_version.as_ref())
    }
}

/// An `EventList` (the audit webhook's batch body). Parsed in one typed pass; if that fails,
/// parsed again with each item kept raw so the good items still decode and each bad one gets
/// its own error.
pub(crate) fn decode_event_list(text: &str, ctx: &mut Ctx) {
    if let Ok(list) = serde_json::from_str::<EventListWire<AuditWire>>(text) {
        if let Err(error) = list.check() {
            return ctx.fail(error);
        }
        ctx.out.reserve(list.items.as_ref().map_or(0, Vec::len));
        for (index, item) in list.items.into_iter().flatten().enumerate() {
            let start = ctx.errors.len();
            ctx.push(item.into_event(None));
            ctx.nest_errors_since(start, || format!("items[{index}]"));
        }
        return;
    }
    let list = match parse::<EventListWire<&RawValue>>(text) {
        Ok(list) => list,
        // Broken beyond the items: report where, as the typed parse sees it.
        Err(_) => return ctx.fail(locate_list(text)),
    };
    if let Err(error) = list.check() {
        return ctx.fail(error);
    }
    for (index, item) in list.items.into_iter().flatten().enumerate() {
        let start = ctx.errors.len();
        ctx.push(decode_event(item.get(), None));
        ctx.nest_errors_since(start, || format!("items[{index}]"));
    }
}

#[cold]
fn locate_list(text: &str) -> DecodeError {
    match parse::<EventListWire<AuditWire>>(text) {
        Err(error) => error,
        Ok(_) => DecodeError::new("invalid EventList"),
    }
}
