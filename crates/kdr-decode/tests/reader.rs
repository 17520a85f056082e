//! EventReader: line numbers, layouts, limits, counters.

use std::io::{BufRead, BufReader, Read};

use kdr_decode::{Decoder, EventReader, LocatedError};
use kdr_model::Event;

const AUDIT: &str = include_str!("data/audit.jsonl");
const EVENT_LIST_PRETTY: &str = include_str!("data/eventlist-pretty.json");

fn read_all<R: BufRead>(reader: &mut EventReader<R>) -> (Vec<Event>, Vec<LocatedError>) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for item in reader {
        match item {
            Ok(event) => events.push(event),
            Err(error) => errors.push(error),
        }
    }
    (events, errors)
}

#[test]
fn errors_carry_source_and_line() {
    let mut lines: Vec<&str> = AUDIT.lines().take(4).collect();
    lines.insert(1, "");
    lines.insert(3, r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x","stage":"ResponseComplete","objectRef":{"resource":5},"stageTimestamp":"2024-05-01T12:00:00Z"}"#);
    lines.insert(4, "{\"truncated\":");
    let text = lines.join("\r\n");
    let mut reader = EventReader::new("audit.log", text.as_bytes());
    let (events, errors) = read_all(&mut reader);
    assert_eq!(events.len(), 4);
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].line, 4);
    assert_eq!(errors[0].source_name, "audit.log");
    assert_eq!(
        errors[0].to_string(),
        "audit.log:4: field `objectRef.resource`: invalid type: integer `5`, expected a string at line 1 column 132"
    );
    assert_eq!(errors[1].line, 5);
    assert!(
        errors[1].to_string().starts_with("audit.log:5: "),
        "{}",
        errors[1]
    );
    let stats = reader.stats();
    assert_eq!(stats.records, 6);
    assert_eq!(stats.events, 4);
    assert_eq!(stats.rejected, 2);
}

#[test]
fn pretty_documents_one_after_another() {
    // `jq .` output: several pretty-printed values in a row, with blank lines between.
    let text = format!("{EVENT_LIST_PRETTY}\n\n{EVENT_LIST_PRETTY}");
    let lines_per_doc = EVENT_LIST_PRETTY.lines().count() as u64;
    let broken = EVENT_LIST_PRETTY.replacen("\"level\": \"RequestResponse\"", "\"level\": 1", 1);
    let text = format!("{text}{broken}");
    let mut reader = EventReader::new("batches.json", text.as_bytes());
    let (events, errors) = read_all(&mut reader);
    assert_eq!(events.len(), 4 + 4 + 3);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 2 * lines_per_doc + 3);
    assert_eq!(errors[0].error.field.as_deref(), Some("items[0].level"));
    assert_eq!(reader.stats().records, 3);
}

#[test]
fn pretty_document_with_a_string_broken_across_lines_stops_there() {
    let text = "{\n  \"kind\": \"Event\",\n  \"auditID\": \"abc\n\"\n}\n";
    let mut reader = EventReader::new("x.json", text.as_bytes());
    let (events, errors) = read_all(&mut reader);
    assert!(events.is_empty());
    assert!(!errors.is_empty());
    assert_eq!(errors[0].line, 1);
    assert_eq!(reader.stats().rejected as usize, errors.len());
}

#[test]
fn truncated_line_does_not_swallow_the_next() {
    let first = AUDIT.lines().next().unwrap();
    let cut = &first[..first.find("\"verb\"").unwrap() + 7];
    let text = format!("{cut}\n{first}\n{first}\n");
    let mut reader = EventReader::new("a.log", text.as_bytes());
    let (events, errors) = read_all(&mut reader);
    assert_eq!(events.len(), 2);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 1);
}

#[test]
fn over_long_line_is_refused_without_buffering_it() {
    let first = AUDIT.lines().next().unwrap();
    let huge = format!("{{\"kind\":\"Event\",\"pad\":\"{}\"}}", "x".repeat(50_000));
    let text = format!("{first}\n{huge}\n{first}\n");
    let decoder = Decoder::new().with_max_record_bytes(10_000);
    // A small buffer so the long line arrives in many pieces.
    let mut reader = EventReader::with_decoder(
        "big.log",
        BufReader::with_capacity(64, text.as_bytes()),
        decoder,
    );
    let (events, errors) = read_all(&mut reader);
    assert_eq!(events.len(), 2);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 2);
    assert!(
        errors[0].error.message.contains("limit of 10000 bytes"),
        "{}",
        errors[0]
    );
    assert_eq!(reader.stats().rejected, 1);
    assert_eq!(reader.stats().records, 3);
}

#[test]
fn invalid_utf8_is_an_error_on_its_line() {
    let first = AUDIT.lines().next().unwrap();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(first.as_bytes());
    bytes.extend_from_slice(b"\n{\"kind\":\"Event\",\"x\":\"\xff\xfe\"}\n");
    bytes.extend_from_slice(first.as_bytes());
    let mut reader = EventReader::new("bin.log", bytes.as_slice());
    let (events, errors) = read_all(&mut reader);
    assert_eq!(events.len(), 2);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 2);
    assert!(errors[0].error.message.contains("UTF-8"));
}

#[test]
fn byte_order_mark_and_missing_final_newline() {
    let first = AUDIT.lines().next().unwrap();
    let text = format!("\u{feff}{first}\n{first}");
    let mut reader = EventReader::new("bom.log", text.as_bytes());
    let (events, errors) = read_all(&mut reader);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(events.len(), 2);
}

/// A reader that fails after some bytes, like a disk error mid-file.
struct Failing<'a> {
    data: &'a [u8],
}

impl Read for Failing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn read_error_is_reported_and_ends_the_stream() {
    let text = AUDIT.lines().take(2).collect::<Vec<_>>().join("\n") + "\n";
    let mut reader = EventReader::new(
        "flaky.log",
        BufReader::new(Failing {
            data: text.as_bytes(),
        }),
    );
    let (events, errors) = read_all(&mut reader);
    assert_eq!(events.len(), 2);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 3);
    assert!(errors[0].error.message.contains("disk on fire"));
    assert_eq!(reader.stats().rejected, 1);
}
