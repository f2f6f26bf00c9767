//! The recorded client history: one JSON object per line, Jepsen's convention.
//!
//! A client records an `invoke` event before it sends a request and one
//! completion event (`ok`, `fail` or `info`) when it learns the outcome. This
//! module holds the serde types of one line, a writer that never loses a line
//! already written, a reader that names the line of any malformed input, and
//! the pairing of invokes with completions into [`Operation`]s, the unit the
//! checker reasons about.
//!
//! A history may open with one *start line* (a [`HistoryHeader`]), such as
//! `{"type":"start","initial":"unknown","cluster":"3f9a"}`, that says what
//! the keys held before the first event. Without one, every key starts
//! absent. The start line is only ever the first non-blank line; its
//! `"type":"start"` tag is what tells it from an event.

mod pair;

use std::fmt;
use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

pub(crate) use pair::pair_numbered;
pub use pair::{OpStatus, Operation, OperationKind, pair_operations};

/// Which step of an operation's life a history line records.
///
/// The checker needs to tell the start of an operation from the three ways it
/// can end, because each ending constrains the order differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The client is about to send the request.
    Invoke,
    /// The operation took effect; for a get, `value` is what it read.
    Ok,
    /// The operation certainly did not take effect.
    Fail,
    /// The outcome is unknown: the operation may take effect at any later time, or never.
    Info,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        })
    }
}

/// The two operations of the key-value store.
///
/// Kept as a closed enum so a typo in a history file is a parse error, not a
/// silently ignored operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// Write `value` to `key`.
    Put,
    /// Read `key`.
    Get,
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpKind::Put => "put",
            OpKind::Get => "get",
        })
    }
}

/// What every key held before the history's first operation.
///
/// A history recorded on a fresh cluster starts with every key absent; one
/// recorded on a data directory that already holds data starts with values
/// nobody in the history wrote, and the checker must not call reading them a
/// violation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Initial {
    /// Every key starts absent: a get before any put must read `null`.
    #[default]
    Empty,
    /// Each key starts with one value (or absent) that the history does not
    /// say: the first get of a key before any put may read anything, and
    /// every later get before a put must agree with it.
    Unknown,
}

/// The optional first line of a history file: `{"type":"start","initial":"unknown","cluster":"3f9a..."}`.
///
/// Exists so that a history says itself what its keys held when it started,
/// instead of every reader having to be told.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryHeader {
    /// What the keys held when the history starts.
    pub initial: Initial,
    /// The id of the cluster (data directory) the history was recorded on, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// The `"type"` tag of a start line; its only value is `"start"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StartTag {
    Start,
}

/// A start line as written in the file: the header plus its required tag.
#[derive(Debug, Serialize, Deserialize)]
struct StartLine {
    #[serde(rename = "type")]
    kind: StartTag,
    #[serde(flatten)]
    header: HistoryHeader,
}

/// One line of a history file.
///
/// This is the exchange format between whatever drives the cluster (the
/// simulator, the live client) and the checker, so its field names follow
/// Jepsen's so that histories can be read by other tools too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// Which step this line records (serialized as `"type"`).
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The client that issued the operation; at most one operation is in flight per process.
    pub process: u64,
    /// The operation.
    pub f: OpKind,
    /// The key the operation touches.
    pub key: String,
    /// For a put, the value written; for an `ok` get, the value read (`null`: key absent).
    #[serde(default)]
    pub value: Option<String>,
    /// Nanoseconds since the run started.
    pub time: u64,
    /// Why the operation failed or has an unknown outcome, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The node the client contacted, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u64>,
}

impl HistoryEvent {
    /// Builds an `invoke` event; a shorthand for tests and recorders.
    pub fn invoke(process: u64, f: OpKind, key: &str, value: Option<&str>, time: u64) -> Self {
        HistoryEvent {
            kind: EventType::Invoke,
            process,
            f,
            key: key.to_string(),
            value: value.map(str::to_string),
            time,
            error: None,
            node: None,
        }
    }

    /// Builds a completion event of type `kind`; a shorthand for tests and recorders.
    pub fn complete(
        kind: EventType,
        process: u64,
        f: OpKind,
        key: &str,
        value: Option<&str>,
        time: u64,
    ) -> Self {
        HistoryEvent { kind, ..HistoryEvent::invoke(process, f, key, value, time) }
    }
}

/// Writes a history one line per event.
///
/// Each line is flushed as soon as it is written, so a run that crashes or is
/// killed leaves a history that is complete up to its last event (an invoke
/// without completion is then read as an unknown outcome, which is correct).
pub struct HistoryWriter<W: Write> {
    inner: W,
    /// Whether a line has been written through this writer (a start line must come first).
    written: bool,
}

impl<W: Write> HistoryWriter<W> {
    /// Wraps a sink (a file, a buffer) that will receive JSON Lines.
    pub fn new(inner: W) -> Self {
        HistoryWriter { inner, written: false }
    }

    /// Writes the start line (see [`HistoryHeader`]) and flushes it.
    ///
    /// It must be the first line of the history: once this writer has written
    /// anything, this fails with [`io::ErrorKind::InvalidInput`] rather than
    /// produce a file no reader accepts. (A sink that already held lines
    /// before it was wrapped cannot be detected.)
    pub fn write_header(&mut self, header: &HistoryHeader) -> io::Result<()> {
        if self.written {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a history's start line must come before its events",
            ));
        }
        let start = StartLine { kind: StartTag::Start, header: header.clone() };
        let line = serde_json::to_vec(&start).map_err(io::Error::other)?;
        self.write_line(line)
    }

    /// Appends one event as one line and flushes it.
    pub fn write_event(&mut self, event: &HistoryEvent) -> io::Result<()> {
        let line = serde_json::to_vec(event).map_err(io::Error::other)?;
        self.write_line(line)
    }

    fn write_line(&mut self, mut line: Vec<u8>) -> io::Result<()> {
        line.push(b'\n');
        self.written = true;
        self.inner.write_all(&line)?;
        self.inner.flush()
    }

    /// Gives the sink back, e.g. to inspect an in-memory history.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// Everything that makes a history unusable, each naming where the problem is.
///
/// A `line` is the 1-based line of the file when the history was read by
/// [`parse_history`] (see [`crate::check::check_file_command`]); when the
/// events were handed over as a slice, it is the event's 1-based position in
/// the slice.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The reader failed.
    #[error("line {line}: cannot read: {source}")]
    Io {
        /// The line being read.
        line: usize,
        /// The underlying error.
        source: io::Error,
    },
    /// A line is not a valid event.
    #[error("line {line}: malformed event: {message}")]
    Malformed {
        /// The offending line.
        line: usize,
        /// What the JSON decoder or the validation said.
        message: String,
    },
    /// An `ok`, `fail` or `info` line for a process with no operation in flight.
    #[error("line {line}: \"{kind}\" completion for process {process}, which has no operation in flight")]
    CompletionWithoutInvoke {
        /// The completion's line.
        line: usize,
        /// The process.
        process: u64,
        /// The completion's type.
        kind: EventType,
    },
    /// A process invoked a second operation before the first completed.
    #[error(
        "line {line}: process {process} invokes again while its operation from line {pending_line} is still in flight"
    )]
    InvokeWhileInFlight {
        /// The second invoke's line.
        line: usize,
        /// The process.
        process: u64,
        /// The line of the invoke still in flight.
        pending_line: usize,
    },
    /// A completion does not describe the operation that was invoked.
    #[error(
        "line {line}: completion for process {process} does not match its invoke on line {invoke_line}: {detail}"
    )]
    MismatchedCompletion {
        /// The completion's line.
        line: usize,
        /// The process.
        process: u64,
        /// The invoke's line.
        invoke_line: usize,
        /// What differs.
        detail: String,
    },
    /// A process's events are not in time order.
    #[error(
        "line {line}: time goes backwards for process {process}: {time} is before {previous} (line {previous_line})"
    )]
    TimeWentBackwards {
        /// The line whose time is too early.
        line: usize,
        /// The process.
        process: u64,
        /// The time on that line.
        time: u64,
        /// The time of the process's previous event.
        previous: u64,
        /// The line of the process's previous event.
        previous_line: usize,
    },
}

/// Reads a JSON Lines history.
///
/// Blank lines are skipped; unknown fields are ignored; the first malformed
/// line stops the read with its 1-based line number. A leading start line is
/// accepted and skipped; use [`parse_history_with_header`] to see it.
pub fn parse_history<R: BufRead>(reader: R) -> Result<Vec<HistoryEvent>, HistoryError> {
    Ok(parse_history_with_header(reader)?.1)
}

/// Reads a JSON Lines history and its start line, if it has one.
///
/// The start line is accepted only as the first non-blank line; a
/// `"type":"start"` line anywhere else is [`HistoryError::Malformed`], as is a
/// start line whose fields are not valid. Otherwise as [`parse_history`].
pub fn parse_history_with_header<R: BufRead>(
    reader: R,
) -> Result<(Option<HistoryHeader>, Vec<HistoryEvent>), HistoryError> {
    let (header, numbered) = parse_numbered(reader)?;
    Ok((header, numbered.into_iter().map(|(_, e)| e).collect()))
}

/// The events of a history with their 1-based line numbers.
pub(crate) type NumberedEvents = Vec<(usize, HistoryEvent)>;

/// Like [`parse_history_with_header`], keeping each event's 1-based line number.
pub(crate) fn parse_numbered<R: BufRead>(
    reader: R,
) -> Result<(Option<HistoryHeader>, NumberedEvents), HistoryError> {
    let mut header = None;
    let mut events = Vec::new();
    let mut first = true;
    for (index, line) in reader.lines().enumerate() {
        let line_no = index + 1;
        let line = line.map_err(|source| HistoryError::Io { line: line_no, source })?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let is_first = std::mem::replace(&mut first, false);
        match serde_json::from_str::<HistoryEvent>(text) {
            Ok(event) => events.push((line_no, event)),
            // Only a line that fails as an event is looked at again, so the
            // common case parses each line once.
            Err(e) => {
                let malformed = |message: String| HistoryError::Malformed { line: line_no, message };
                if !is_start_line(text) {
                    return Err(malformed(e.to_string()));
                }
                if !is_first {
                    return Err(malformed(
                        "a start line must come first (it describes the whole history)".to_string(),
                    ));
                }
                let start: StartLine =
                    serde_json::from_str(text).map_err(|e| malformed(format!("invalid start line: {e}")))?;
                header = Some(start.header);
            }
        }
    }
    Ok((header, events))
}

/// Whether a line that is not a valid event is a JSON object tagged `"type":"start"`.
fn is_start_line(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Tag {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    serde_json::from_str::<Tag>(text).is_ok_and(|t| t.kind.as_deref() == Some("start"))
}

/// An operation on key `k` for unit tests: `ok` if it returned, `info` if not.
#[cfg(test)]
pub(crate) fn test_op(process: u64, kind: OperationKind, call: u64, ret: Option<u64>) -> Operation {
    Operation {
        process,
        key: "k".to_string(),
        kind,
        call,
        ret,
        status: if ret.is_some() { OpStatus::Ok } else { OpStatus::Info },
        invoke_index: 0,
        complete_index: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown_fields() {
        let mut w = HistoryWriter::new(Vec::new());
        let mut e = HistoryEvent::invoke(3, OpKind::Put, "k1", Some("v7"), 120);
        e.node = Some(2);
        w.write_event(&e).unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        assert_eq!(
            text,
            "{\"type\":\"invoke\",\"process\":3,\"f\":\"put\",\"key\":\"k1\",\"value\":\"v7\",\"time\":120,\"node\":2}\n"
        );
        let extra = format!("\n{}\n  \n", text.trim().replace("}", ",\"extra\":[1,2]}"));
        let parsed = parse_history(extra.as_bytes()).unwrap();
        assert_eq!(parsed, vec![e]);
    }

    #[test]
    fn malformed_line_is_numbered() {
        let text = "{\"type\":\"invoke\",\"process\":1,\"f\":\"get\",\"key\":\"a\",\"time\":1}\n\n{\"type\":\"bogus\"}\n";
        match parse_history(text.as_bytes()) {
            Err(HistoryError::Malformed { line: 3, .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn header_round_trip() {
        let header = HistoryHeader { initial: Initial::Unknown, cluster: Some("3f9a".to_string()) };
        let event = HistoryEvent::invoke(1, OpKind::Get, "k", None, 5);
        let mut w = HistoryWriter::new(Vec::new());
        w.write_header(&header).unwrap();
        w.write_event(&event).unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let first = text.lines().next().unwrap();
        assert_eq!(first, r#"{"type":"start","initial":"unknown","cluster":"3f9a"}"#);
        let (read, events) = parse_history_with_header(text.as_bytes()).unwrap();
        assert_eq!(read, Some(header));
        assert_eq!(events, vec![event.clone()]);
        // The event-only reader skips the start line.
        assert_eq!(parse_history(text.as_bytes()).unwrap(), vec![event.clone()]);

        // Without a cluster, and with blank lines and unknown fields around it.
        let mut w = HistoryWriter::new(Vec::new());
        w.write_header(&HistoryHeader::default()).unwrap();
        let empty = String::from_utf8(w.into_inner()).unwrap();
        assert_eq!(empty, "{\"type\":\"start\",\"initial\":\"empty\"}\n");
        let line = first_event_line(&event);
        let text = format!("\n  \n{}\n{line}\n", empty.trim().replace('}', ",\"since\":[1]}"));
        let (read, events) = parse_history_with_header(text.as_bytes()).unwrap();
        assert_eq!(read, Some(HistoryHeader { initial: Initial::Empty, cluster: None }));
        assert_eq!(events, vec![event.clone()]);

        // No start line: no header.
        let (read, events) = parse_history_with_header(format!("{line}\n").as_bytes()).unwrap();
        assert_eq!((read, events), (None, vec![event]));
    }

    fn first_event_line(event: &HistoryEvent) -> String {
        serde_json::to_string(event).unwrap()
    }

    #[test]
    fn header_only_first() {
        let event = first_event_line(&HistoryEvent::invoke(1, OpKind::Get, "k", None, 5));
        let text = format!("{event}\n\n{{\"type\":\"start\",\"initial\":\"unknown\"}}\n");
        for result in [
            parse_history(text.as_bytes()).map(|_| ()),
            parse_history_with_header(text.as_bytes()).map(|_| ()),
        ] {
            match result {
                Err(HistoryError::Malformed { line: 3, message }) => {
                    assert!(message.contains("a start line must come first"), "{message}")
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // Two start lines: the second is not first.
        let twice =
            "{\"type\":\"start\",\"initial\":\"empty\"}\n{\"type\":\"start\",\"initial\":\"empty\"}\n";
        assert!(matches!(
            parse_history_with_header(twice.as_bytes()),
            Err(HistoryError::Malformed { line: 2, .. })
        ));
        // The writer refuses to write a start line after an event.
        let mut w = HistoryWriter::new(Vec::new());
        w.write_event(&HistoryEvent::invoke(1, OpKind::Get, "k", None, 5)).unwrap();
        let err = w.write_header(&HistoryHeader::default()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn bad_header() {
        for (text, says) in [
            ("{\"type\":\"start\",\"initial\":\"maybe\"}", "maybe"),
            ("{\"type\":\"start\"}", "initial"),
            ("{\"type\":\"start\",\"initial\":\"unknown\",\"cluster\":7}", "invalid start line"),
        ] {
            match parse_history_with_header(format!("\n{text}\n").as_bytes()) {
                Err(HistoryError::Malformed { line: 2, message }) => {
                    assert!(message.contains("start line") && message.contains(says), "{text}: {message}")
                }
                other => panic!("{text}: unexpected {other:?}"),
            }
        }
        // An untagged header is not a header: it is a malformed event.
        match parse_history_with_header("{\"initial\":\"unknown\"}\n".as_bytes()) {
            Err(HistoryError::Malformed { line: 1, message }) => {
                assert!(!message.contains("start line"), "{message}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn pairing_errors() {
        use EventType::*;
        let get = |k, t| HistoryEvent::complete(k, 1, OpKind::Get, "a", None, t);
        let r = pair_operations(&[get(Ok, 5)]);
        assert!(matches!(r, Err(HistoryError::CompletionWithoutInvoke { line: 1, .. })));
        let r = pair_operations(&[get(Invoke, 5), get(Invoke, 6)]);
        assert!(matches!(r, Err(HistoryError::InvokeWhileInFlight { line: 2, pending_line: 1, .. })));
        let r = pair_operations(&[get(Invoke, 5), get(Ok, 4)]);
        assert!(matches!(r, Err(HistoryError::TimeWentBackwards { line: 2, .. })));
        let put = HistoryEvent::complete(Ok, 1, OpKind::Put, "a", Some("x"), 9);
        let r = pair_operations(&[get(Invoke, 5), put]);
        assert!(matches!(r, Err(HistoryError::MismatchedCompletion { line: 2, .. })));
        let other_key = HistoryEvent::complete(Ok, 1, OpKind::Get, "b", None, 9);
        let r = pair_operations(&[get(Invoke, 5), other_key]);
        assert!(matches!(r, Err(HistoryError::MismatchedCompletion { line: 2, .. })));
    }

    #[test]
    fn pairing_outcomes() {
        use EventType::*;
        let events = vec![
            HistoryEvent::invoke(1, OpKind::Put, "a", Some("x"), 1),
            HistoryEvent::invoke(2, OpKind::Put, "a", Some("y"), 2),
            HistoryEvent::invoke(3, OpKind::Get, "a", None, 3),
            HistoryEvent::complete(Fail, 1, OpKind::Put, "a", Some("x"), 4),
            HistoryEvent::complete(Ok, 3, OpKind::Get, "a", Some("y"), 5),
            HistoryEvent::complete(Info, 2, OpKind::Put, "a", None, 6),
            HistoryEvent::invoke(4, OpKind::Get, "a", None, 7),
        ];
        let ops = pair_operations(&events).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0].kind, OperationKind::Put("y".into()));
        assert_eq!(ops[0].status, OpStatus::Info);
        assert_eq!(ops[0].ret, None);
        assert_eq!(ops[1].kind, OperationKind::Get(Some("y".into())));
        assert_eq!(ops[1].ret, Some(5));
        assert_eq!(ops[2].status, OpStatus::Info);
        assert_eq!(ops[1].to_string(), "p3 get a -> y [3, 5]");
    }
}
