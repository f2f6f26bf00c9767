//! The one closed event type. The core emits node events; the drivers (simulator, threaded
//! runtime, console) add network, fault and client events and stamp each with a sequence number
//! and a time. `Display` is the compact narration shared by golden scripts, the event feed and
//! the console; serde gives the JSON Lines export (schema in DESIGN.md).

use crate::kv::{Command, Request, Response};
use crate::raft::{EntryId, LogIndex, Message, NodeId, Role, Term};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One event, stamped by the driver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the run's event stream, from 0, without gaps.
    pub seq: u64,
    /// Nanoseconds since the run started (virtual in the simulator, monotonic in real runs).
    pub time: u64,
    /// The node the event happened on, if any (network and fault events may have none).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node: Option<NodeId>,
    /// The node's term when it happened, for node events.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub term: Option<Term>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Tagged `kind` in JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A node sent a message.
    Send {
        /// The message.
        message: Message,
    },
    /// The network delivered a message to its receiver.
    Deliver {
        /// The message.
        message: Message,
    },
    /// The network dropped a message.
    Drop {
        /// The message.
        message: Message,
        /// Why: `partition`, `loss`, `crashed`, ...
        reason: String,
    },
    /// A node ignored a message (stale term, leader lease, ...).
    Ignore {
        /// The message.
        message: Message,
        /// Why it was ignored.
        reason: String,
    },
    /// A node's election timer fired.
    Timeout,
    /// A node changed role (or learned a new leader).
    Role {
        /// The new role.
        role: Role,
        /// The leader it now follows, if known.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        leader: Option<NodeId>,
        /// Why, when it is not obvious (for example a CheckQuorum step-down).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        reason: Option<String>,
    },
    /// A node voted for a candidate (durably, before answering).
    Vote {
        /// The candidate.
        candidate: NodeId,
    },
    /// Entries were appended to a node's log.
    Append {
        /// First appended entry.
        first: EntryId,
        /// Last appended entry.
        last: EntryId,
    },
    /// A node removed conflicting entries from its log.
    Truncate {
        /// First removed entry.
        first: EntryId,
        /// Last removed entry.
        last: EntryId,
    },
    /// A node's commit index advanced.
    Commit {
        /// The new last committed entry.
        entry: EntryId,
    },
    /// A node applied an entry to its state machine.
    Apply {
        /// The entry.
        entry: EntryId,
        /// The put, or `None` for a no-op.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        command: Option<Command>,
    },
    /// A client request reached a node.
    ClientRequest {
        /// The request.
        request: Request,
    },
    /// A node answered a client.
    ClientReply {
        /// The answer.
        response: Response,
    },
    /// A leader registered a read at a read index (thesis §6.4).
    ReadIndex {
        /// The read's request.
        request: Request,
        /// The commit index the read must wait for.
        index: LogIndex,
        /// The heartbeat round that must confirm leadership.
        round: u64,
    },
    /// A node crashed (volatile state lost, durable state kept).
    Crash,
    /// A node restarted from its durable state.
    Restart,
    /// What a client saw of one operation (the console's and the headless runs' view): the
    /// request, the node contacted, the answer or error, the latency, in words.
    Client {
        /// For example `c4 put color=red via n2 → ok (0.6 ms)`.
        description: String,
    },
    /// A fault or repair was injected (partition, heal, loss, pause, ...), described in words.
    Fault {
        /// What was done, for example `partition n1 n2 | n3 n4 n5`.
        description: String,
    },
}

impl EventKind {
    /// A short name of the kind, for filters and counters (equals the JSON `kind` tag).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Send { .. } => "send",
            EventKind::Deliver { .. } => "deliver",
            EventKind::Drop { .. } => "drop",
            EventKind::Ignore { .. } => "ignore",
            EventKind::Timeout => "timeout",
            EventKind::Role { .. } => "role",
            EventKind::Vote { .. } => "vote",
            EventKind::Append { .. } => "append",
            EventKind::Truncate { .. } => "truncate",
            EventKind::Commit { .. } => "commit",
            EventKind::Apply { .. } => "apply",
            EventKind::ClientRequest { .. } => "client_request",
            EventKind::ClientReply { .. } => "client_reply",
            EventKind::ReadIndex { .. } => "read_index",
            EventKind::Crash => "crash",
            EventKind::Restart => "restart",
            EventKind::Client { .. } => "client",
            EventKind::Fault { .. } => "fault",
        }
    }
}

fn range(f: &mut fmt::Formatter<'_>, first: EntryId, last: EntryId) -> fmt::Result {
    if first == last { write!(f, "{first}") } else { write!(f, "{first}..{last}") }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages carry their own `nX@T ->` prefix; everything else is prefixed by its node.
        match &self.kind {
            EventKind::Send { message } => return write!(f, "{message}"),
            EventKind::Deliver { message } => return write!(f, "deliver {message}"),
            EventKind::Drop { message, reason } => return write!(f, "drop {message} ({reason})"),
            EventKind::Fault { description } => return write!(f, "fault: {description}"),
            EventKind::Client { description } => return write!(f, "client {description}"),
            _ => {}
        }
        match (self.node, self.term) {
            (Some(n), Some(t)) => write!(f, "{n}@{t} ")?,
            (Some(n), None) => write!(f, "{n} ")?,
            _ => {}
        }
        match &self.kind {
            EventKind::Ignore { message, reason } => {
                write!(f, "ignores {}@{} {} ({reason})", message.from, message.term, message.body.kind())
            }
            EventKind::Timeout => write!(f, "election timeout"),
            EventKind::Role { role, leader, reason } => {
                write!(f, "{role}")?;
                if let Some(l) = leader
                    && *role != Role::Leader
                {
                    write!(f, " leader={l}")?;
                }
                if let Some(r) = reason {
                    write!(f, " ({r})")?;
                }
                Ok(())
            }
            EventKind::Vote { candidate } => write!(f, "votes {candidate}"),
            EventKind::Append { first, last } => {
                write!(f, "append ")?;
                range(f, *first, *last)
            }
            EventKind::Truncate { first, last } => {
                write!(f, "truncate ")?;
                range(f, *first, *last)
            }
            EventKind::Commit { entry } => write!(f, "commit {entry}"),
            EventKind::Apply { entry, command: Some(c) } => write!(f, "apply {entry} {c}"),
            EventKind::Apply { entry, command: None } => write!(f, "apply {entry} noop"),
            EventKind::ClientRequest { request } => write!(f, "request {request}"),
            EventKind::ClientReply { response } => write!(f, "reply {response}"),
            EventKind::ReadIndex { request, index, round } => {
                write!(f, "read {} at index {index} round {round}", request.id)
            }
            EventKind::Crash => write!(f, "crashed"),
            EventKind::Restart => write!(f, "restarted"),
            EventKind::Send { .. }
            | EventKind::Deliver { .. }
            | EventKind::Drop { .. }
            | EventKind::Fault { .. }
            | EventKind::Client { .. } => {
                unreachable!("handled above")
            }
        }
    }
}
