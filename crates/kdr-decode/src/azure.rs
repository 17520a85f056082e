//! Azure records: AKS diagnostic logs (`kube-audit`, `kube-audit-admin`, carrying an audit
//! Event as a JSON string in `properties.log`) and Azure Activity Log records. Both arrive one
//! by one or in the `{"records": [...]}` envelope that diagnostic settings write to storage
//! and Event Hubs, often mixed with other AKS log categories, which are skipped and counted.

use serde::Deserialize;
use serde_json::value::RawValue;

use kdr_model::{CloudActivity, CloudProvider, Context, Event, Payload};

use crate::audit::decode_event;
use crate::time::parse_field;
use crate::wire::{non_empty, parse, segment_after, Str, Text};
use crate::{Ctx, DecodeError};

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    records: Option<Vec<&'a RawValue>>,
}

pub(crate) fn decode_records(text: &str, ctx: &mut Ctx) {
    let envelope = match parse::<Envelope>(text) {
        Ok(envelope) => envelope,
        Err(error) => return ctx.fail(error),
    };
    for (index, record) in envelope.records.into_iter().flatten().enumerate() {
        let start = ctx.errors.len();
        decode_record(record.get(), ctx);
        ctx.nest_errors_since(start, || format!("records[{index}]"));
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordWire<'a> {
    #[serde(alias = "Category")]
    category: Option<Text>,
    #[serde(borrow)]
    time: Option<Str<'a>>,
    /// The Activity Log REST shape names the time this way.
    #[serde(borrow)]
    event_timestamp: Option<Str<'a>>,
    #[serde(alias = "ResourceId", alias = "resourceID")]
    resource_id: Option<String>,
    operation_name: Option<Text>,
    result_type: Option<Text>,
    status: Option<Text>,
    caller: Option<String>,
    caller_ip_address: Option<String>,
    identity: Option<IdentityWire>,
    claims: Option<Claims>,
    correlation_id: Option<String>,
    event_data_id: Option<String>,
    http_request: Option<HttpRequestWire>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct IdentityWire {
    claims: Option<Claims>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpRequestWire {
    client_ip_address: Option<String>,
}

/// The token claims kdr uses to tell who called and what kind of principal it is.
#[derive(Deserialize, Default)]
struct Claims {
    #[serde(rename = "http://schemas.microsoft.com/identity/claims/objectidentifier")]
    object_id_uri: Option<String>,
    oid: Option<String>,
    appid: Option<String>,
    idtyp: Option<String>,
    /// Present only in managed identity tokens (the identity's ARM resource ID).
    xms_mirid: Option<String>,
    #[serde(rename = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn")]
    upn_uri: Option<String>,
}

#[derive(Deserialize)]
struct AksProperties<'a> {
    #[serde(borrow)]
    log: Option<Str<'a>>,
}

enum Category {
    KubeAudit,
    Activity,
    Other,
}

/// Activity Log categories; every other category in these envelopes is a resource log.
const ACTIVITY_CATEGORIES: [&str; 8] = [
    "Administrative",
    "Security",
    "ServiceHealth",
    "Alert",
    "Recommendation",
    "Policy",
    "Autoscale",
    "ResourceHealth",
];

fn classify(record: &RecordWire) -> Result<Category, DecodeError> {
    match &record.category {
        Some(Text(category)) => Ok(
            if category.eq_ignore_ascii_case("kube-audit")
                || category.eq_ignore_ascii_case("kube-audit-admin")
            {
                Category::KubeAudit
            } else if ACTIVITY_CATEGORIES
                .iter()
                .any(|known| known.eq_ignore_ascii_case(category))
            {
                Category::Activity
            } else {
                Category::Other
            },
        ),
        None if record.operation_name.is_some() => Ok(Category::Activity),
        None => Err(DecodeError::new(
            "missing field `category` (and no `operationName`)",
        )),
    }
}

/// One AKS diagnostic record or Activity Log record.
pub(crate) fn decode_record(text: &str, ctx: &mut Ctx) {
    let record = match parse::<RecordWire>(text) {
        Ok(record) => record,
        Err(error) => return ctx.fail(error),
    };
    match classify(&record) {
        Ok(Category::KubeAudit) => kube_audit(record, ctx),
        Ok(Category::Activity) => ctx.push(activity(record)),
        Ok(Category::Other) => ctx.skipped += 1,
        Err(error) => ctx.fail(error),
    }
}

fn kube_audit(record: RecordWire, ctx: &mut Ctx) {
    let Some(properties) = record.properties else {
        return ctx.fail(DecodeError::new("missing field `properties`"));
    };
    let log = match parse::<AksProperties>(properties.get()) {
        Ok(AksProperties { log: Some(log) }) => log,
        Ok(AksProperties { log: None }) => {
            return ctx.fail(DecodeError::at("properties", "missing field `log`"))
        }
        Err(error) => return ctx.fail(error.within("properties")),
    };
    let cluster = record
        .resource_id
        .as_deref()
        .and_then(|id| segment_after(id, "managedClusters"));
    let start = ctx.errors.len();
    ctx.push(decode_event(log.as_str(), cluster));
    ctx.nest_errors_since(start, || "properties.log".to_owned());
}

fn principal_type(claims: &Claims, caller: Option<&str>) -> &'static str {
    if claims.xms_mirid.is_some() {
        return "ManagedIdentity";
    }
    match claims.idtyp.as_deref() {
        Some(kind) if kind.eq_ignore_ascii_case("app") => "ServicePrincipal",
        Some(kind) if kind.eq_ignore_ascii_case("user") => "User",
        _ if claims.upn_uri.is_some() || caller.is_some_and(|c| c.contains('@')) => "User",
        _ if claims.appid.is_some() => "ServicePrincipal",
        _ => "",
    }
}

/// The Activity Log says `Success`/`Failure`/`Start` in `resultType` and
/// `Succeeded`/`Failed`/`Started` in `status`; rules see one spelling.
fn normalize_status(status: String) -> String {
    match status.as_str() {
        "Success" => "Succeeded".to_owned(),
        "Failure" => "Failed".to_owned(),
        "Start" => "Started".to_owned(),
        "Accept" => "Accepted".to_owned(),
        _ => status,
    }
}

fn activity(record: RecordWire) -> Result<Event, DecodeError> {
    let time = match (&record.time, &record.event_timestamp) {
        (Some(time), _) => parse_field(time.as_str(), "time")?,
        (None, Some(time)) => parse_field(time.as_str(), "eventTimestamp")?,
        (None, None) => return Err(DecodeError::new("missing field `time`")),
    };
    let Some(Text(operation)) = record.operation_name else {
        return Err(DecodeError::new("missing field `operationName`"));
    };
    let claims = record
        .identity
        .and_then(|identity| identity.claims)
        .or(record.claims)
        .unwrap_or_default();
    let caller = non_empty(record.caller);
    let principal_type = principal_type(&claims, caller.as_deref());
    let principal_id = non_empty(claims.object_id_uri)
        .or(non_empty(claims.oid))
        .or_else(|| caller.clone())
        .unwrap_or_default();
    let status = record
        .status
        .or(record.result_type)
        .map(|Text(status)| normalize_status(status))
        .unwrap_or_default();
    let resource_id = record.resource_id.unwrap_or_default();
    let id = match (record.event_data_id, record.correlation_id) {
        (Some(id), _) if !id.is_empty() => id,
        (_, Some(correlation)) if !correlation.is_empty() => format!("{correlation}:{status}"),
        _ => format!("{operation}@{time}"),
    };
    let source_ip = non_empty(record.caller_ip_address).or_else(|| {
        record
            .http_request
            .and_then(|r| non_empty(r.client_ip_address))
    });
    let cluster = segment_after(&resource_id, "managedClusters");
    let context = Context {
        cluster,
        identity: caller.or_else(|| (!principal_id.is_empty()).then(|| principal_id.clone())),
        source_ips: source_ip.into_iter().collect(),
        ..Context::default()
    };
    Ok(Event {
        id,
        time,
        context,
        payload: Payload::Cloud(Box::new(CloudActivity {
            provider: CloudProvider::Azure,
            operation,
            principal_id,
            principal_type: principal_type.to_owned(),
            resource_id,
            status,
            user_agent: String::new(),
        })),
    })
}
