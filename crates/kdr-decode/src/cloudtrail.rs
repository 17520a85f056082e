//! AWS CloudTrail records: one record, the `{"Records": [...]}` file shape that trails write
//! to S3, or an EventBridge event wrapping one record in `detail`.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::value::RawValue;

use kdr_model::{CloudActivity, CloudProvider, Context, Event, Payload};

use crate::time::parse_field;
use crate::wire::{non_empty, parse, Str};
use crate::{Ctx, DecodeError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordWire<'a> {
    #[serde(borrow)]
    event_time: Str<'a>,
    event_source: String,
    event_name: String,
    #[serde(rename = "eventID")]
    event_id: String,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<String>,
    user_agent: Option<String>,
    error_code: Option<String>,
    user_identity: Option<UserIdentityWire>,
    resources: Option<Vec<ResourceWire>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentityWire {
    #[serde(rename = "type")]
    kind: Option<String>,
    arn: Option<String>,
    principal_id: Option<String>,
    user_name: Option<String>,
    /// For `AWSService` callers, the service that acted.
    invoked_by: Option<String>,
}

#[derive(Deserialize)]
struct ResourceWire {
    #[serde(rename = "ARN")]
    arn: Option<String>,
}

impl RecordWire<'_> {
    fn into_event(self) -> Result<Event, DecodeError> {
        let time = parse_field(self.event_time.as_str(), "eventTime")?;
        let identity = self.user_identity.unwrap_or(UserIdentityWire {
            kind: None,
            arn: None,
            principal_id: None,
            user_name: None,
            invoked_by: None,
        });
        let principal_id = non_empty(identity.arn)
            .or(non_empty(identity.principal_id))
            .or(non_empty(identity.invoked_by))
            .unwrap_or_default();
        let failed = self
            .error_code
            .as_deref()
            .is_some_and(|code| !code.is_empty());
        // Calls made by AWS services carry the service's name here, not an address.
        let source_ips = self
            .source_ip_address
            .filter(|ip| ip.parse::<IpAddr>().is_ok())
            .into_iter()
            .collect();
        let resource_id = self
            .resources
            .into_iter()
            .flatten()
            .find_map(|resource| non_empty(resource.arn))
            .unwrap_or_default();
        let context = Context {
            identity: if principal_id.is_empty() {
                non_empty(identity.user_name)
            } else {
                Some(principal_id.clone())
            },
            source_ips,
            ..Context::default()
        };
        Ok(Event {
            id: self.event_id,
            time,
            context,
            payload: Payload::Cloud(Box::new(CloudActivity {
                provider: CloudProvider::Aws,
                operation: format!("{}:{}", self.event_source, self.event_name),
                principal_id,
                principal_type: identity.kind.unwrap_or_default(),
                resource_id,
                status: if failed { "Failed" } else { "Succeeded" }.to_owned(),
                user_agent: self.user_agent.unwrap_or_default(),
            })),
        })
    }
}

fn decode_one(text: &str) -> Result<Event, DecodeError> {
    parse::<RecordWire>(text)?.into_event()
}

pub(crate) fn decode_record(text: &str, ctx: &mut Ctx) {
    ctx.push(decode_one(text));
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "Records", borrow)]
    records: Option<Vec<&'a RawValue>>,
}

pub(crate) fn decode_records(text: &str, ctx: &mut Ctx) {
    let envelope = match parse::<Envelope>(text) {
        Ok(envelope) => envelope,
        Err(error) => return ctx.fail(error),
    };
    for (index, record) in envelope.records.into_iter().flatten().enumerate() {
        let start = ctx.errors.len();
        ctx.push(decode_one(record.get()));
        ctx.nest_errors_since(start, || format!("Records[{index}]"));
    }
}

#[derive(Deserialize)]
struct EventBridgeWire<'a> {
    #[serde(rename = "detail-type", borrow)]
    detail_type: Str<'a>,
    #[serde(borrow)]
    detail: Option<&'a RawValue>,
}

/// EventBridge delivers CloudTrail records as `AWS API Call via CloudTrail` (and console
/// sign-ins etc. as `AWS Console Sign In via CloudTrail`); other detail types carry no
/// CloudTrail record and are skipped.
pub(crate) fn decode_event_bridge(text: &str, ctx: &mut Ctx) {
    let event = match parse::<EventBridgeWire>(text) {
        Ok(event) => event,
        Err(error) => return ctx.fail(error),
    };
    if !event.detail_type.as_str().ends_with("via CloudTrail") {
        ctx.skipped += 1;
        return;
    }
    let Some(detail) = event.detail else {
        return ctx.fail(DecodeError::new("missing field `detail`"));
    };
    let start = ctx.errors.len();
    ctx.push(decode_one(detail.get()));
    ctx.nest_errors_since(start, || "detail".to_owned());
}
