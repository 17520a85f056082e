//! Cheap format detection: walk the top-level keys of the record without building anything
//! and stop at the first key that only one format has.
//!
//! Skipped values are not validated here; the typed parse that follows does that. When the
//! walk itself meets broken JSON, serde_json is asked for its precise message.

use std::borrow::Cow;

use crate::{DecodeError, EXPECTED_FORMATS};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Audit,
    EventList,
    AzureRecords,
    AzureRecord,
    Gke,
    EksSubscription,
    EksInsights,
    CloudTrailRecords,
    CloudTrail,
    EventBridge,
    Kdr,
    Array,
}

/// Keys that identify one format. Keys that several formats share (`time`, `id`, `level`,
/// `eventName` in both CloudTrail and the Azure REST shape) are deliberately absent.
fn decisive(key: &str) -> Option<Format> {
    Some(match key {
        "auditID"
        | "stageTimestamp"
        | "requestReceivedTimestamp"
        | "requestURI"
        | "objectRef"
        | "responseStatus"
        | "impersonatedUser" => Format::Audit,
        "items" => Format::EventList,
        "records" => Format::AzureRecords,
        "Records" => Format::CloudTrailRecords,
        "protoPayload" => Format::Gke,
        "logEvents" | "messageType" | "logGroup" => Format::EksSubscription,
        "@message" | "@logStream" => Format::EksInsights,
        "eventVersion" | "eventSource" | "userIdentity" | "awsRegion" | "eventID"
        | "sourceIPAddress" | "recipientAccountId" => Format::CloudTrail,
        "category" | "Category" | "operationName" | "callerIpAddress" | "resultType" | "caller"
        | "claims" | "eventDataId" | "correlationId" | "eventTimestamp" => Format::AzureRecord,
        "detail-type" => Format::EventBridge,
        "payload" => Format::Kdr,
        _ => return None,
    })
}

pub(crate) fn sniff(text: &str) -> Result<Format, DecodeError> {
    let mut scan = Scan {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    match walk(&mut scan) {
        Some(Walk::Found(format)) => Ok(format),
        Some(Walk::Unknown(seen)) => Err(unknown(text, &seen)),
        Some(Walk::NotObject) => Err(not_object(text)),
        None => Err(malformed(text)),
    }
}

enum Walk {
    Found(Format),
    Unknown(Seen),
    NotObject,
}

/// The first few keys (as byte ranges) and the `kind`, remembered only to explain an
/// unrecognized record.
#[derive(Default)]
struct Seen {
    keys: [(usize, usize); 8],
    count: usize,
    kind: Option<String>,
}

fn walk(scan: &mut Scan) -> Option<Walk> {
    scan.ws();
    match scan.peek() {
        Some(b'{') => scan.pos += 1,
        Some(b'[') => return Some(Walk::Found(Format::Array)),
        _ => return Some(Walk::NotObject),
    }
    let mut seen = Seen::default();
    scan.ws();
    if scan.peek() == Some(b'}') {
        return Some(Walk::Unknown(seen));
    }
    loop {
        scan.ws();
        let key_start = scan.pos;
        let key = scan.string()?;
        let key_end = scan.pos;
        scan.ws();
        if scan.peek() != Some(b':') {
            return None;
        }
        scan.pos += 1;
        scan.ws();
        if key == "kind" && scan.peek() == Some(b'"') {
            let kind = scan.string()?;
            match &*kind {
                "Event" => return Some(Walk::Found(Format::Audit)),
                "EventList" => return Some(Walk::Found(Format::EventList)),
                other => seen.kind = Some(other.chars().take(64).collect()),
            }
        } else if let Some(format) = decisive(&key) {
            return Some(Walk::Found(format));
        } else {
            scan.skip_value()?;
        }
        if seen.count < seen.keys.len() {
            seen.keys[seen.count] = (key_start, key_end);
            seen.count += 1;
        }
        scan.ws();
        match scan.peek() {
            Some(b',') => scan.pos += 1,
            Some(b'}') => return Some(Walk::Unknown(seen)),
            _ => return None,
        }
    }
}

#[cold]
fn unknown(text: &str, seen: &Seen) -> DecodeError {
    let mut message = format!("unrecognized record: {EXPECTED_FORMATS}");
    if seen.count == 0 {
        message.push_str("; found an empty object");
        return DecodeError::new(message);
    }
    message.push_str("; found an object with keys ");
    for (index, &(start, end)) in seen.keys[..seen.count].iter().enumerate() {
        if index > 0 {
            message.push_str(", ");
        }
        let key: String = text
            .get(start..end)
            .unwrap_or("?")
            .chars()
            .take(40)
            .collect();
        message.push_str(&key);
    }
    if let Some(kind) = &seen.kind {
        message.push_str(&format!(" (kind {kind:?})"));
    }
    DecodeError::new(message)
}

#[cold]
fn not_object(text: &str) -> DecodeError {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return DecodeError::new(format!("empty record: {EXPECTED_FORMATS}"));
    }
    // Let serde_json describe a syntax error if there is one; otherwise say what was found.
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Err(error) => DecodeError::new(error.to_string()),
        Ok(_) => {
            let found = match trimmed.as_bytes()[0] {
                b'"' => "a string",
                b't' | b'f' => "a boolean",
                b'n' => "null",
                _ => "a number",
            };
            DecodeError::new(format!("{EXPECTED_FORMATS}, found {found}"))
        }
    }
}

#[cold]
fn malformed(text: &str) -> DecodeError {
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Err(error) => DecodeError::new(error.to_string()),
        Ok(_) => DecodeError::new(format!("unrecognized record: {EXPECTED_FORMATS}")),
    }
}

struct Scan<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Reads a string at the cursor; escapes are resolved by serde_json (rare in keys).
    fn string(&mut self) -> Option<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.pos;
        let body = start + 1;
        let mut escaped = false;
        let mut at = body;
        loop {
            let found = memchr::memchr2(b'"', b'\\', self.bytes.get(at..)?)?;
            at += found;
            if self.bytes[at] == b'"' {
                break;
            }
            escaped = true;
            at += 2; // skip the backslash and the escaped byte
        }
        self.pos = at + 1;
        if escaped {
            serde_json::from_str::<String>(self.text.get(start..self.pos)?)
                .ok()
                .map(Cow::Owned)
        } else {
            self.text.get(body..at).map(Cow::Borrowed)
        }
    }

    fn skip_string(&mut self) -> Option<()> {
        let mut at = self.pos + 1;
        loop {
            let found = memchr::memchr2(b'"', b'\\', self.bytes.get(at..)?)?;
            at += found;
            if self.bytes[at] == b'"' {
                self.pos = at + 1;
                return Some(());
            }
            at += 2;
        }
    }

    /// Moves past one value without validating it; `None` when the input ends first.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                while let Some(byte) = self.peek() {
                    if matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.pos += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_first_decisive_key() {
        assert_eq!(
            sniff(r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1"}"#),
            Ok(Format::Audit)
        );
        assert_eq!(
            sniff(r#"{"annotations":{"a":"}"},"auditID":"x"}"#),
            Ok(Format::Audit)
        );
        assert_eq!(
            sniff(r#" {"kind" : "EventList", "items":[]}"#),
            Ok(Format::EventList)
        );
        assert_eq!(
            sniff(r#"{"id":"1","time":"t","payload":{}}"#),
            Ok(Format::Kdr)
        );
        assert_eq!(sniff(r#"{"k\u0069nd":"Event"}"#), Ok(Format::Audit));
        assert_eq!(sniff(r#"[{"a":1}]"#), Ok(Format::Array));
    }

    #[test]
    fn unknown_lists_keys() {
        let error = sniff(r#"{"kind":"Pod","spec":{"x":[1,{"y":"]"}]}}"#).unwrap_err();
        assert!(error.message.contains(r#"keys "kind", "spec""#), "{error}");
        assert!(error.message.contains("(kind \"Pod\")"), "{error}");
    }

    #[test]
    fn broken_input_gets_serde_message() {
        let error = sniff(r#"{"kind":"#).unwrap_err();
        assert!(error.message.contains("EOF"), "{error}");
        let error = sniff("42").unwrap_err();
        assert!(error.message.ends_with("found a number"), "{error}");
        let error = sniff("   ").unwrap_err();
        assert!(error.message.starts_with("empty record"), "{error}");
    }
}
