//! EKS control-plane logs from CloudWatch Logs: the subscription-filter message
//! (`messageType`, `logGroup`, `logStream`, `logEvents[].message`, as delivered to Lambda,
//! Kinesis or Firehose once decompressed) and Logs Insights / export rows (`@message`,
//! `@logStream`, `@log`). The audit Event is the JSON text in each message; the cluster name
//! is the middle of the log group `/aws/eks/<cluster>/cluster`. Messages from the other
//! control-plane streams (API server, authenticator, scheduler...) are skipped and counted.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::audit::decode_event;
use crate::wire::{parse, segment_after, Str};
use crate::{Ctx, DecodeError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionWire<'a> {
    #[serde(borrow)]
    message_type: Option<Str<'a>>,
    #[serde(borrow)]
    log_group: Option<Str<'a>>,
    #[serde(borrow)]
    log_stream: Option<Str<'a>>,
    #[serde(borrow)]
    log_events: Option<Vec<&'a RawValue>>,
    /// Set when this is really an Insights row that happens to list `logGroup` first.
    #[serde(rename = "@message")]
    insights_message: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct LogEventWire<'a> {
    #[serde(borrow)]
    message: Str<'a>,
}

/// `/aws/eks/<cluster>/cluster` -> `<cluster>`.
fn cluster_of(log_group: &str) -> Option<String> {
    segment_after(log_group, "eks")
}

/// Audit streams are named `kube-apiserver-audit-<id>`; a record without a stream name is
/// tried as audit rather than dropped.
fn is_audit_stream(stream: Option<&str>) -> bool {
    stream.is_none_or(|s| s.contains("audit"))
}

pub(crate) fn decode_subscription(text: &str, ctx: &mut Ctx) {
    let message = match parse::<SubscriptionWire>(text) {
        Ok(message) => message,
        Err(error) => return ctx.fail(error),
    };
    if message
        .message_type
        .as_ref()
        .is_some_and(|t| t.as_str() == "CONTROL_MESSAGE")
    {
        // CloudWatch's reachability probe, not a log.
        ctx.skipped += 1;
        return;
    }
    let Some(events) = message.log_events else {
        if message.insights_message.is_some() {
            return decode_insights(text, ctx);
        }
        return ctx.fail(DecodeError::new("missing field `logEvents`"));
    };
    if !is_audit_stream(message.log_stream.as_ref().map(Str::as_str)) {
        ctx.skipped += events.len() as u64;
        return;
    }
    let cluster = message
        .log_group
        .as_ref()
        .and_then(|group| cluster_of(group.as_str()));
    for (index, event) in events.iter().enumerate() {
        let start = ctx.errors.len();
        match parse::<LogEventWire>(event.get()) {
            Ok(log) => {
                let decoded = decode_event(log.message.as_str(), cluster.clone());
                ctx.push(decoded.map_err(|e| e.within("message")));
            }
            Err(error) => ctx.fail(error),
        }
        ctx.nest_errors_since(start, || format!("logEvents[{index}]"));
    }
}

#[derive(Deserialize)]
struct InsightsWire<'a> {
    #[serde(rename = "@message", borrow)]
    message: Option<&'a RawValue>,
    #[serde(rename = "@logStream", borrow)]
    log_stream: Option<Str<'a>>,
    /// `<account id>:<log group>`.
    #[serde(rename = "@log", borrow)]
    log: Option<Str<'a>>,
    #[serde(rename = "logGroup", alias = "@logGroup", borrow)]
    log_group: Option<Str<'a>>,
}

pub(crate) fn decode_insights(text: &str, ctx: &mut Ctx) {
    let row = match parse::<InsightsWire>(text) {
        Ok(row) => row,
        Err(error) => return ctx.fail(error),
    };
    if !is_audit_stream(row.log_stream.as_ref().map(Str::as_str)) {
        ctx.skipped += 1;
        return;
    }
    let Some(message) = row.message else {
        return ctx.fail(DecodeError::new("missing field `@message`"));
    };
    let cluster = row
        .log_group
        .as_ref()
        .map(Str::as_str)
        .or_else(|| {
            row.log.as_ref().map(|log| {
                log.as_str()
                    .rsplit_once(':')
                    .map_or(log.as_str(), |(_, g)| g)
            })
        })
        .and_then(cluster_of);
    // Exports write the message as a string; some tools have already parsed it into an object.
    let raw = message.get();
    let result = if raw.starts_with('"') {
        match serde_json::from_str::<Str>(raw) {
            Ok(text) => decode_event(text.as_str(), cluster),
            Err(error) => Err(DecodeError::new(error.to_string())),
        }
    } else {
        decode_event(raw, cluster)
    };
    ctx.push(result.map_err(|e| e.within("@message")));
}
