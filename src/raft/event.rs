//! What a node reports of itself, in its own vocabulary: the narration of the protocol (a
//! timeout, a role change, a vote, an append, a commit, a message sent, ...). The core emits
//! these in each `Ready`; the crate's event type (`events::Event`) wraps them with a
//! sequence number and a time, next to what the drivers add (deliveries, drops, faults).

use super::{Command, EntryId, LogIndex, Message, NodeId, Request, Response, Role, Term};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// One thing a node did, with the node and its term at that moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEvent {
    /// The node.
    pub node: NodeId,
    /// Its term when it happened.
    pub term: Term,
    /// What happened.
    pub kind: NodeEventKind,
}

/// What a node did. Tagged `kind` in JSON (the crate's event log flattens it into each line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeEventKind {
    /// The node ignored a message (stale term, leader lease, ...).
    Ignore {
        /// The message.
        message: Message,
        /// Why it was ignored.
        reason: String,
    },
    /// The node's election timer fired.
    Timeout,
    /// The node changed role (or learned a new leader).
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
    /// The node voted for a candidate (durably, before answering).
    Vote {
        /// The candidate.
        candidate: NodeId,
    },
    /// Entries `first..=last` were appended to the node's log (after any `truncate` of the
    /// entries they replace).
    Append {
        /// First appended entry.
        first: EntryId,
        /// Last appended entry.
        last: EntryId,
        /// When the entries span several terms, the first entry of each term after `first`'s,
        /// in order; empty (and left out of the JSON) when they are all of one term. Terms never
        /// decrease along a log, so with `first` and `last` this gives every entry's term: what
        /// the event-fed safety checks need for Log Matching (paper §5.3).
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        term_starts: Vec<EntryId>,
        /// Each appended entry's command, in order (`null` for a leader's no-op), so that a
        /// reader can rebuild the log's contents from events alone. Empty in schema 1 logs.
        #[serde(default)]
        commands: Vec<Option<Arc<Command>>>,
    },
    /// The node removed conflicting entries from its log.
    Truncate {
        /// First removed entry.
        first: EntryId,
        /// Last removed entry.
        last: EntryId,
    },
    /// The node's commit index advanced.
    Commit {
        /// The new last committed entry.
        entry: EntryId,
    },
    /// The node applied an entry to its state machine.
    Apply {
        /// The entry.
        entry: EntryId,
        /// The command, or `None` for a no-op.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        command: Option<Command>,
    },
    /// A client request reached the node.
    ClientRequest {
        /// The request.
        request: Request,
    },
    /// The node answered a client.
    ClientReply {
        /// The answer.
        response: Response,
    },
    /// The node took a snapshot of its state machine and dropped its log up to it (paper §7).
    SnapshotTaken {
        /// The last entry the snapshot includes (the log's new base).
        snapshot: EntryId,
        /// Its size in bytes.
        bytes: u64,
    },
    /// A leader began sending its snapshot to a follower that needs entries it no longer has
    /// (paper §7); the chunks are the `InstallSnapshot` messages that follow.
    SnapshotSend {
        /// The follower.
        to: NodeId,
        /// The snapshot's last entry.
        snapshot: EntryId,
        /// Its size in bytes.
        bytes: u64,
    },
    /// The node replaced its state machine by a leader's snapshot (paper §7, Figure 13).
    SnapshotInstalled {
        /// The snapshot's last entry (the log's new base, and the commit and applied index).
        snapshot: EntryId,
        /// The leader it came from.
        from: NodeId,
        /// True if the node's log held the snapshot's last entry, so the entries after it were
        /// kept; false if the whole log was discarded.
        kept_log: bool,
    },
    /// A leader began transferring its leadership (thesis §3.10): it refuses new writes until
    /// the transfer finishes or is abandoned.
    TransferStarted {
        /// The node that should become leader.
        target: NodeId,
    },
    /// The leader stepped down for a higher term while transferring: the transfer did its work.
    TransferFinished {
        /// The target.
        target: NodeId,
    },
    /// A transfer was given up, and the leader accepts writes again.
    TransferAbandoned {
        /// The target.
        target: NodeId,
        /// Why.
        reason: String,
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
}

impl NodeEventKind {
    /// A short name of the kind, for filters and counters (equals the JSON `kind` tag).
    pub fn name(&self) -> &'static str {
        match self {
            NodeEventKind::Ignore { .. } => "ignore",
            NodeEventKind::Timeout => "timeout",
            NodeEventKind::Role { .. } => "role",
            NodeEventKind::Vote { .. } => "vote",
            NodeEventKind::Append { .. } => "append",
            NodeEventKind::Truncate { .. } => "truncate",
            NodeEventKind::Commit { .. } => "commit",
            NodeEventKind::Apply { .. } => "apply",
            NodeEventKind::ClientRequest { .. } => "client_request",
            NodeEventKind::ClientReply { .. } => "client_reply",
            NodeEventKind::ReadIndex { .. } => "read_index",
            NodeEventKind::SnapshotTaken { .. } => "snapshot_taken",
            NodeEventKind::SnapshotSend { .. } => "snapshot_send",
            NodeEventKind::SnapshotInstalled { .. } => "snapshot_installed",
            NodeEventKind::TransferStarted { .. } => "transfer_started",
            NodeEventKind::TransferFinished { .. } => "transfer_finished",
            NodeEventKind::TransferAbandoned { .. } => "transfer_abandoned",
        }
    }
}

fn range(f: &mut fmt::Formatter<'_>, first: EntryId, last: EntryId) -> fmt::Result {
    if first == last { write!(f, "{first}") } else { write!(f, "{first}..{last}") }
}

/// The narration after the node's `n1@2 ` prefix (a sent message narrates itself whole).
impl fmt::Display for NodeEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeEventKind::Ignore { message, reason } => {
                let (from, term) = (message.from, message.sender_term());
                write!(f, "ignores {from}@{term} {} ({reason})", message.body.kind())
            }
            NodeEventKind::Timeout => write!(f, "election timeout"),
            NodeEventKind::Role { role, leader, reason } => {
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
            NodeEventKind::Vote { candidate } => write!(f, "votes {candidate}"),
            NodeEventKind::Append { first, last, .. } => {
                write!(f, "append ")?;
                range(f, *first, *last)
            }
            NodeEventKind::Truncate { first, last } => {
                write!(f, "truncate ")?;
                range(f, *first, *last)
            }
            NodeEventKind::Commit { entry } => write!(f, "commit {entry}"),
            NodeEventKind::Apply { entry, command: Some(c) } => write!(f, "apply {entry} {c}"),
            NodeEventKind::Apply { entry, command: None } => write!(f, "apply {entry} noop"),
            NodeEventKind::ClientRequest { request } => write!(f, "request {request}"),
            NodeEventKind::ClientReply { response } => write!(f, "reply {response}"),
            NodeEventKind::ReadIndex { request, index, round } => {
                write!(f, "read {} at index {index} round {round}", request.id)
            }
            NodeEventKind::SnapshotTaken { snapshot, bytes } => {
                write!(
                    f,
                    "snapshot {snapshot} taken ({bytes} bytes), log compacted through {}",
                    snapshot.index
                )
            }
            NodeEventKind::SnapshotSend { to, snapshot, bytes } => {
                write!(f, "sends snapshot {snapshot} ({bytes} bytes) to {to}")
            }
            NodeEventKind::SnapshotInstalled { snapshot, from, kept_log } => {
                let log = if *kept_log { "kept the log after it" } else { "discarded the log" };
                write!(f, "installed snapshot {snapshot} from {from}, {log}")
            }
            NodeEventKind::TransferStarted { target } => {
                write!(f, "transfers leadership to {target}: refuses writes meanwhile")
            }
            NodeEventKind::TransferFinished { target } => {
                write!(f, "leadership transfer to {target} done: steps down")
            }
            NodeEventKind::TransferAbandoned { target, reason } => {
                write!(f, "leadership transfer to {target} abandoned ({reason})")
            }
        }
    }
}
