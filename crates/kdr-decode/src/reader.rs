//! Reading a stream of records: JSON lines, or pretty-printed JSON documents.

use std::collections::VecDeque;
use std::io::BufRead;

use kdr_model::Event;

use crate::{too_large, DecodeError, DecodeStats, Decoder};

/// A decode error with the place of its record in the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {error}")]
pub struct LocatedError {
    pub source_name: String,
    /// 1-based line where the record starts.
    pub line: u64,
    pub error: DecodeError,
}

/// How the input is laid out, decided on its first non-blank line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Undecided,
    /// One record per line (audit log files, most exports).
    Lines,
    /// Pretty-printed JSON values spanning lines (an `EventList` saved with indentation,
    /// `jq .` output). Chosen only when the first line is a lone `{` or `[`, which no JSON
    /// line record can be, so that a truncated line in a JSON lines file never makes the
    /// reader swallow the lines after it.
    Documents,
}

/// Reads records from `reader` and yields their events, or errors located at
/// `source_name:line`. Lines longer than the decoder's record limit are refused without
/// being buffered whole.
pub struct EventReader<R: BufRead> {
    source_name: String,
    reader: R,
    decoder: Decoder,
    layout: Layout,
    /// Lines consumed so far.
    line: u64,
    /// The current line's bytes (at most the record limit plus one).
    buf: Vec<u8>,
    /// The document being collected in `Layout::Documents`.
    doc: Vec<u8>,
    events: Vec<Event>,
    errors: Vec<DecodeError>,
    pending: VecDeque<Result<Event, LocatedError>>,
    done: bool,
}

/// One line as read: whether it was cut at the record limit (its rest was discarded).
struct Line {
    oversize: bool,
}

impl<R: BufRead> EventReader<R> {
    pub fn new(source_name: impl Into<String>, reader: R) -> Self {
        Self::with_decoder(source_name, reader, Decoder::default())
    }

    /// Uses `decoder`'s limits and default cluster, and continues its counters.
    pub fn with_decoder(source_name: impl Into<String>, reader: R, decoder: Decoder) -> Self {
        EventReader {
            source_name: source_name.into(),
            reader,
            decoder,
            layout: Layout::Undecided,
            line: 0,
            buf: Vec::new(),
            doc: Vec::new(),
            events: Vec::new(),
            errors: Vec::new(),
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// Records read, events produced, records rejected, items skipped so far.
    pub fn stats(&self) -> DecodeStats {
        self.decoder.stats()
    }

    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// Reads one line into `self.buf` (without its newline), keeping at most `limit + 1`
    /// bytes. `None` at the end of input.
    fn read_line(&mut self) -> std::io::Result<Option<Line>> {
        let limit = self.decoder.max_record_bytes();
        self.buf.clear();
        let mut oversize = false;
        let mut any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let (chunk, used, end) = match memchr::memchr(b'\n', available) {
                Some(at) => (&available[..at], at + 1, true),
                None => (available, available.len(), false),
            };
            if !oversize {
                let room = (limit + 1).saturating_sub(self.buf.len());
                if chunk.len() > room {
                    self.buf.extend_from_slice(&chunk[..room]);
                    oversize = true;
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            self.reader.consume(used);
            if end {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.line == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
            self.buf.drain(..3);
        }
        Ok(Some(Line {
            oversize: oversize || self.buf.len() > limit,
        }))
    }

    fn locate(&self, line: u64, error: DecodeError) -> LocatedError {
        LocatedError {
            source_name: self.source_name.clone(),
            line,
            error,
        }
    }

    /// Refuses a record before decoding it, counting it as rejected.
    fn refuse(&mut self, line: u64, error: DecodeError) {
        self.decoder.count_refused();
        let located = self.locate(line, error);
        self.pending.push_back(Err(located));
    }

    /// Decodes one record's text and queues its events and errors.
    fn decode(&mut self, line: u64, bytes: &[u8]) {
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                let message = format!(
                    "record is not valid UTF-8 (invalid byte at offset {})",
                    error.valid_up_to()
                );
                return self.refuse(line, DecodeError::new(message));
            }
        };
        self.decoder
            .decode_all(text, &mut self.events, &mut self.errors);
        self.pending.extend(self.events.drain(..).map(Ok));
        let errors = std::mem::take(&mut self.errors);
        for error in errors {
            let located = self.locate(line, error);
            self.pending.push_back(Err(located));
        }
    }

    /// Reads and decodes the next record, queueing its results. Returns false at the end.
    fn advance(&mut self) -> bool {
        loop {
            let line = match self.read_line() {
                Ok(Some(line)) => line,
                Ok(None) => return false,
                Err(error) => {
                    let at = self.line + 1;
                    self.refuse(at, DecodeError::new(format!("read error: {error}")));
                    return false;
                }
            };
            let trimmed = self.buf.trim_ascii();
            if trimmed.is_empty() {
                continue;
            }
            if self.layout == Layout::Undecided {
                self.layout = if trimmed == b"{" || trimmed == b"[" {
                    Layout::Documents
                } else {
                    Layout::Lines
                };
            }
            let number = self.line;
            if self.layout == Layout::Documents {
                return self.collect_document(line);
            }
            if line.oversize {
                let limit = self.decoder.max_record_bytes();
                self.refuse(
                    number,
                    DecodeError::new(format!(
                        "line is longer than the limit of {limit} bytes for one record"
                    )),
                );
            } else {
                let bytes = std::mem::take(&mut self.buf);
                self.decode(number, &bytes);
                self.buf = bytes;
            }
            return true;
        }
    }

    /// Collects lines until the JSON value that starts on the current line is closed, then
    /// decodes it as one record located at its first line.
    fn collect_document(&mut self, first: Line) -> bool {
        let start_line = self.line;
        let limit = self.decoder.max_record_bytes();
        let mut depth = Depth::default();
        let mut too_big = first.oversize;
        let mut total = 0usize;
        self.doc.clear();
        let mut line = first;
        loop {
            too_big |= line.oversize;
            total = total.saturating_add(self.buf.len() + 1);
            if !too_big && total <= limit {
                self.doc.extend_from_slice(&self.buf);
                self.doc.push(b'\n');
            } else {
                too_big = true;
                self.doc.clear();
            }
            depth.feed(&self.buf);
            // A string cannot span lines in JSON: a line ending inside one is broken, and is
            // decoded (and reported) now rather than swallowing the input after it.
            if depth.complete() || depth.in_string {
                break;
            }
            match self.read_line() {
                Ok(Some(next)) => line = next,
                Ok(None) => break,
                Err(error) => {
                    let at = self.line + 1;
                    self.refuse(at, DecodeError::new(format!("read error: {error}")));
                    self.done = true;
                    return true;
                }
            }
        }
        if too_big {
            self.refuse(start_line, too_large(total, limit));
        } else {
            let doc = std::mem::take(&mut self.doc);
            self.decode(start_line, &doc);
            self.doc = doc;
        }
        true
    }
}

/// Tracks bracket depth across lines, ignoring brackets inside strings.
#[derive(Default)]
struct Depth {
    depth: usize,
    started: bool,
    in_string: bool,
    escaped: bool,
}

impl Depth {
    fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => {
                    self.in_string = true;
                    self.started = true;
                }
                b'{' | b'[' => {
                    self.depth += 1;
                    self.started = true;
                }
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                b' ' | b'\t' | b'\r' | b'\n' => {}
                _ => self.started = true,
            }
        }
    }

    fn complete(&self) -> bool {
        self.started && self.depth == 0 && !self.in_string
    }
}

impl<R: BufRead> Iterator for EventReader<R> {
    type Item = Result<Event, LocatedError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            if !self.advance() {
                self.done = true;
            }
        }
    }
}
