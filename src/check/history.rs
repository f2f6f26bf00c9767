//! The recorded client history: one JSON object per line, Jepsen's convention.
//!
//! A client records an `invoke` event before it sends a request and one
//! completion event (`ok`, `fail` or `info`) when it learns the outcome. This
//! module holds the serde types of one line, a writer that never loses a line
//! already written, a reader that names the line of any malformed input, and
//! the pairing of invokes with completions into [`Operation`]s, the unit the
//! checker reasons about.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use super::hash::FxBuild;

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
}

impl<W: Write> HistoryWriter<W> {
    /// Wraps a sink (a file, a buffer) that will receive JSON Lines.
    pub fn new(inner: W) -> Self {
        HistoryWriter { inner }
    }

    /// Appends one event as one line and flushes it.
    pub fn write_event(&mut self, event: &HistoryEvent) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
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
/// line stops the read with its 1-based line number.
pub fn parse_history<R: BufRead>(reader: R) -> Result<Vec<HistoryEvent>, HistoryError> {
    Ok(parse_numbered(reader)?.into_iter().map(|(_, e)| e).collect())
}

/// Like [`parse_history`], keeping each event's 1-based line number.
pub(crate) fn parse_numbered<R: BufRead>(reader: R) -> Result<Vec<(usize, HistoryEvent)>, HistoryError> {
    let mut events = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line_no = index + 1;
        let line = line.map_err(|source| HistoryError::Io { line: line_no, source })?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let event: HistoryEvent = serde_json::from_str(text)
            .map_err(|e| HistoryError::Malformed { line: line_no, message: e.to_string() })?;
        events.push((line_no, event));
    }
    Ok(events)
}

/// What a completed (or possibly completed) operation did.
///
/// Only the information the checker needs: the value a put wrote, or the value
/// an `ok` get observed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OperationKind {
    /// A put of this value.
    Put(String),
    /// A get; the value it read (`None`: key absent). Meaningless unless the status is `Ok`.
    Get(Option<String>),
}

/// How an operation ended, among the endings the checker keeps (`fail` is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpStatus {
    /// It took effect between its call and its return.
    Ok,
    /// It may take effect at any time after its call, or never.
    Info,
}

/// One operation: an invoke matched with its completion.
///
/// This is the unit of linearizability: the checker looks for one order of
/// these that respects their real-time intervals and the key-value semantics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The client.
    pub process: u64,
    /// The key.
    pub key: String,
    /// What the operation did.
    pub kind: OperationKind,
    /// When it was invoked (ns).
    pub call: u64,
    /// When it returned (ns); `None` when the outcome is unknown, i.e. infinitely late.
    pub ret: Option<u64>,
    /// How it ended.
    pub status: OpStatus,
    /// Index of its invoke in the event slice it was paired from.
    pub invoke_index: usize,
    /// Index of its completion in that slice, if it has one.
    pub complete_index: Option<usize>,
}

impl fmt::Display for Operation {
    /// Renders like `p3 put k1=v7 [120000, 184000]` or `p4 get k1 -> null [130000, 190000]`;
    /// an unknown outcome shows `?` as its return.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            OperationKind::Put(v) => write!(f, "p{} put {}={}", self.process, self.key, v)?,
            OperationKind::Get(v) => {
                let shown = v.as_deref().unwrap_or("null");
                match self.status {
                    OpStatus::Ok => write!(f, "p{} get {} -> {}", self.process, self.key, shown)?,
                    OpStatus::Info => write!(f, "p{} get {} -> ?", self.process, self.key)?,
                }
            }
        }
        match self.ret {
            Some(ret) => write!(f, " [{}, {}]", self.call, ret),
            None => write!(f, " [{}, ?] (info: may or may not have taken effect)", self.call),
        }
    }
}

/// Matches each invoke with its process's next completion.
///
/// Failed operations are dropped (they had no effect); an invoke never
/// completed, or completed with `info`, becomes an [`OpStatus::Info`]
/// operation with no return time. Operations come out in invoke order.
pub fn pair_operations(events: &[HistoryEvent]) -> Result<Vec<Operation>, HistoryError> {
    pair_numbered(events, &|i| i + 1)
}

/// [`pair_operations`], naming lines with `line_of(event index)`.
pub(crate) fn pair_numbered(
    events: &[HistoryEvent],
    line_of: &dyn Fn(usize) -> usize,
) -> Result<Vec<Operation>, HistoryError> {
    struct ProcessState {
        /// The invoke in flight, if any: its event index and its slot.
        pending: Option<(usize, usize)>,
        /// Index of the process's latest event (for time order).
        last: usize,
    }
    let mut processes: HashMap<u64, ProcessState, FxBuild> = HashMap::default();
    // One slot per invoke, in invoke order; failed ones are removed at the end.
    let mut slots: Vec<Operation> = Vec::with_capacity(events.len() / 2 + 1);
    let mut failed: Vec<bool> = Vec::with_capacity(events.len() / 2 + 1);

    for (index, event) in events.iter().enumerate() {
        let line = line_of(index);
        let state = processes.get(&event.process);
        if let Some(state) = &state {
            let previous = &events[state.last];
            if event.time < previous.time {
                return Err(HistoryError::TimeWentBackwards {
                    line,
                    process: event.process,
                    time: event.time,
                    previous: previous.time,
                    previous_line: line_of(state.last),
                });
            }
        }
        match event.kind {
            EventType::Invoke => {
                if let Some(ProcessState { pending: Some((pending, _)), .. }) = state {
                    return Err(HistoryError::InvokeWhileInFlight {
                        line,
                        process: event.process,
                        pending_line: line_of(*pending),
                    });
                }
                let kind = match event.f {
                    OpKind::Put => match &event.value {
                        Some(v) => OperationKind::Put(v.clone()),
                        None => {
                            return Err(HistoryError::Malformed {
                                line,
                                message: "a put invoke needs a string value".to_string(),
                            });
                        }
                    },
                    OpKind::Get => OperationKind::Get(None),
                };
                let slot = slots.len();
                failed.push(false);
                slots.push(Operation {
                    process: event.process,
                    key: event.key.clone(),
                    kind,
                    call: event.time,
                    ret: None,
                    status: OpStatus::Info,
                    invoke_index: index,
                    complete_index: None,
                });
                processes.insert(event.process, ProcessState { pending: Some((index, slot)), last: index });
            }
            EventType::Ok | EventType::Fail | EventType::Info => {
                let Some(&ProcessState { pending: Some((pending, slot_index)), .. }) = state else {
                    return Err(HistoryError::CompletionWithoutInvoke {
                        line,
                        process: event.process,
                        kind: event.kind,
                    });
                };
                let invoke = &events[pending];
                let mismatch = |detail: String| HistoryError::MismatchedCompletion {
                    line,
                    process: event.process,
                    invoke_line: line_of(pending),
                    detail,
                };
                if invoke.f != event.f {
                    return Err(mismatch(format!("invoked {} but completed {}", invoke.f, event.f)));
                }
                if invoke.key != event.key {
                    return Err(mismatch(format!(
                        "invoked on key {:?} but completed on key {:?}",
                        invoke.key, event.key
                    )));
                }
                if event.f == OpKind::Put && event.value.is_some() && event.value != invoke.value {
                    return Err(mismatch(format!(
                        "put of {:?} completed with value {:?}",
                        invoke.value.as_deref().unwrap_or(""),
                        event.value.as_deref().unwrap_or("")
                    )));
                }
                match event.kind {
                    EventType::Fail => failed[slot_index] = true,
                    EventType::Ok => {
                        let op = &mut slots[slot_index];
                        op.ret = Some(event.time);
                        op.status = OpStatus::Ok;
                        op.complete_index = Some(index);
                        if let OperationKind::Get(observed) = &mut op.kind {
                            observed.clone_from(&event.value);
                        }
                    }
                    _ => slots[slot_index].complete_index = Some(index),
                }
                processes.insert(event.process, ProcessState { pending: None, last: index });
            }
        }
    }
    let mut failed = failed.into_iter();
    slots.retain(|_| !failed.next().unwrap_or(false));
    Ok(slots)
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
