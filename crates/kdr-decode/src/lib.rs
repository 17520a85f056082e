//! Turns outside records into [`kdr_model::Event`]s.
//!
//! One input record (usually one line) may be a plain Kubernetes audit `Event`, an `EventList`
//! batch from the audit webhook, a cloud provider's envelope around audit events (AKS
//! diagnostic records, GKE Cloud Audit Logs entries, EKS CloudWatch subscription messages or
//! Logs Insights rows), an Azure Activity Log record, an AWS CloudTrail record, or kdr's own
//! normalized event JSON. The format is detected per record, so mixed files work.
//!
//! The plain audit `Event` line is the hot path: detection looks only at the first top-level
//! keys (the API server writes `kind` first), and the record is then deserialized once into
//! borrowed wire structs, with request and response bodies kept as raw JSON. Field paths for
//! errors are only computed when a record fails, by parsing it a second time with path
//! tracking, so good records never pay for them.
//!
//! Nothing is dropped silently: every record either yields events, yields an error, or is
//! counted as deliberately skipped (e.g. AKS `kube-apiserver` log lines that share an
//! envelope with `kube-audit` records). See [`DecodeStats`].

mod audit;
mod azure;
mod cloudtrail;
mod eks;
mod gke;
mod lineage;
mod reader;
mod sniff;
mod time;
mod wire;

use std::fmt;

use kdr_model::Event;

use lineage::Lineages;
pub use reader::{EventReader, LocatedError};

/// Records longer than this are refused unless [`Decoder::with_max_record_bytes`] says
/// otherwise: one hostile line must not make the process allocate without bound.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 8 * 1024 * 1024;

/// The formats [`decode_record`] understands, as the "unrecognized record" error names them.
pub const EXPECTED_FORMATS: &str =
    "expected a Kubernetes audit Event, EventList, AKS/GKE/EKS envelope, Azure Activity or CloudTrail record";

/// What was wrong with a record and where inside it.
///
/// `field` is a path such as `items[3].objectRef.resource`; JSON carried inside a string (the
/// AKS `properties.log`, the EKS `message`) continues the path as if it were nested, e.g.
/// `records[0].properties.log.stageTimestamp`. It is `None` when the record as a whole is
/// wrong (not JSON, unknown format, too large).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", FieldPrefix(field))]
pub struct DecodeError {
    pub field: Option<String>,
    pub message: String,
}

impl DecodeError {
    pub fn new(message: impl Into<String>) -> Self {
        DecodeError {
            field: None,
            message: message.into(),
        }
    }

    pub fn at(field: impl Into<String>, message: impl Into<String>) -> Self {
        DecodeError {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// Places this error inside an outer field (an envelope item, an embedded document).
    pub(crate) fn within(mut self, outer: &str) -> Self {
        self.field = Some(match self.field.take() {
            None => outer.to_owned(),
            Some(inner) if inner.starts_with('[') => format!("{outer}{inner}"),
            Some(inner) => format!("{outer}.{inner}"),
        });
        self
    }
}

/// Renders `field `x`: ` before the message, or nothing when the whole record is at fault.
struct FieldPrefix<'a>(&'a Option<String>);

impl fmt::Display for FieldPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(field) => write!(f, "field `{field}`: "),
            None => Ok(()),
        }
    }
}

/// Counters over everything a [`Decoder`] (or [`EventReader`]) has seen, so that no loss is
/// silent: every error handed out is one `rejected`, and every envelope item not decoded on
/// purpose is one `skipped`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Input records (lines, or pretty-printed documents) read.
    pub records: u64,
    /// Events produced.
    pub events: u64,
    /// Errors reported: whole records, or single items of an envelope whose other items
    /// still decoded.
    pub rejected: u64,
    /// Envelope items deliberately not decoded because they carry no audit or activity data
    /// (other AKS log categories, other EKS log streams, CloudWatch control messages, ...).
    pub skipped: u64,
    /// Lineages the decoder stopped sharing to stay within its bound (see [`Decoder`]): only
    /// sharing is lost, never an event or a field.
    pub lineages_forgotten: u64,
}

/// A reusable decoder with its limits and counters.
///
/// Runtime events it decodes share their lineage with the earlier events of the stream that
/// had an equal one (pids included; a bounded table), as the sensor's events do live.
#[derive(Clone, Debug)]
pub struct Decoder {
    max_record_bytes: usize,
    default_cluster: Option<String>,
    stats: DecodeStats,
    /// `None` for a decoder of one record ([`decode_record`]): nothing to share with.
    lineages: Option<Lineages>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            default_cluster: None,
            stats: DecodeStats::default(),
            lineages: Some(Lineages::default()),
        }
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Refuse records longer than `bytes`.
    pub fn with_max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// Cluster name for events whose record does not name one (a plain audit log file says
    /// nothing about the cluster it came from).
    pub fn with_default_cluster(mut self, cluster: impl Into<String>) -> Self {
        self.default_cluster = Some(cluster.into());
        self
    }

    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    pub fn stats(&self) -> DecodeStats {
        DecodeStats {
            lineages_forgotten: self.lineages.as_ref().map_or(0, |l| l.forgotten),
            ..self.stats
        }
    }

    /// Decodes one record, appending its events to `out`. When an envelope holds several
    /// items and some are bad, the good ones are still appended and the first error is
    /// returned; use [`Decoder::decode_all`] to get every error.
    pub fn decode(&mut self, record: &str, out: &mut Vec<Event>) -> Result<(), DecodeError> {
        let mut errors = Vec::new();
        self.decode_all(record, out, &mut errors);
        match errors.into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    /// Decodes one record, appending its events to `out` and every error to `errors`.
    pub fn decode_all(
        &mut self,
        record: &str,
        out: &mut Vec<Event>,
        errors: &mut Vec<DecodeError>,
    ) {
        let events_before = out.len();
        let errors_before = errors.len();
        let mut ctx = Ctx {
            out,
            errors,
            skipped: 0,
        };
        if record.len() > self.max_record_bytes {
            ctx.errors
                .push(too_large(record.len(), self.max_record_bytes));
        } else {
            decode_any(record, &mut ctx, true);
        }
        let skipped = ctx.skipped;
        if let Some(lineages) = &mut self.lineages {
            lineages.share(&mut out[events_before..]);
        }
        if let Some(cluster) = &self.default_cluster {
            for event in &mut out[events_before..] {
                if event.context.cluster.is_none() {
                    event.context.cluster = Some(cluster.clone());
                }
            }
        }
        self.stats.records += 1;
        self.stats.events += (out.len() - events_before) as u64;
        self.stats.rejected += (errors.len() - errors_before) as u64;
        self.stats.skipped += skipped;
    }

    /// Counts a record the caller refused before decoding (unreadable bytes, over-long line).
    pub(crate) fn count_refused(&mut self) {
        self.stats.records += 1;
        self.stats.rejected += 1;
    }
}

pub(crate) fn too_large(len: usize, max: usize) -> DecodeError {
    DecodeError::new(format!(
        "record is {len} bytes, more than the limit of {max} bytes"
    ))
}

/// One record (one line of input) -> zero or more events appended to `out` (an `EventList` or
/// an envelope holding many records yields many). The format is auto-detected per record.
///
/// Uses the default limits; keep a [`Decoder`] around to configure them, to read counters or
/// to share lineages among the events of a stream.
pub fn decode_record(record: &str, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    Decoder {
        lineages: None,
        ..Decoder::default()
    }
    .decode(record, out)
}

/// Where decoded events and errors of one record go.
pub(crate) struct Ctx<'o> {
    pub out: &'o mut Vec<Event>,
    pub errors: &'o mut Vec<DecodeError>,
    pub skipped: u64,
}

impl Ctx<'_> {
    pub fn push(&mut self, result: Result<Event, DecodeError>) {
        match result {
            Ok(event) => self.out.push(event),
            Err(error) => self.errors.push(error),
        }
    }

    pub fn fail(&mut self, error: DecodeError) {
        self.errors.push(error);
    }

    /// Puts the errors reported since `start` inside `outer()`; the path text is only built
    /// when there is an error to place.
    pub fn nest_errors_since(&mut self, start: usize, outer: impl FnOnce() -> String) {
        if self.errors.len() > start {
            let outer = outer();
            for error in &mut self.errors[start..] {
                *error = std::mem::replace(error, DecodeError::new("")).within(&outer);
            }
        }
    }
}

/// Decodes one JSON value of any supported format. `top` is false for the elements of a
/// top-level array, which may not be arrays themselves (no unbounded recursion).
fn decode_any(text: &str, ctx: &mut Ctx, top: bool) {
    use sniff::Format;
    let format = match sniff::sniff(text) {
        Ok(format) => format,
        Err(error) => return ctx.fail(error),
    };
    match format {
        Format::Audit => ctx.push(audit::decode_event(text, None)),
        Format::EventList => audit::decode_event_list(text, ctx),
        Format::AzureRecords => azure::decode_records(text, ctx),
        Format::AzureRecord => azure::decode_record(text, ctx),
        Format::Gke => gke::decode_entry(text, ctx),
        Format::EksSubscription => eks::decode_subscription(text, ctx),
        Format::EksInsights => eks::decode_insights(text, ctx),
        Format::CloudTrailRecords => cloudtrail::decode_records(text, ctx),
        Format::CloudTrail => cloudtrail::decode_record(text, ctx),
        Format::EventBridge => cloudtrail::decode_event_bridge(text, ctx),
        Format::Kdr => ctx.push(wire::parse::<Event>(text)),
        Format::Array if top => {
            let items: Vec<&serde_json::value::RawValue> = match wire::parse(text) {
                Ok(items) => items,
                Err(error) => return ctx.fail(error),
            };
            for (index, item) in items.iter().enumerate() {
                let start = ctx.errors.len();
                decode_any(item.get(), ctx, false);
                ctx.nest_errors_since(start, || format!("[{index}]"));
            }
        }
        Format::Array => ctx.fail(DecodeError::new(format!(
            "an array inside an array is not a record: {EXPECTED_FORMATS}"
        ))),
    }
}
