//! What a node looks like from outside, for the console and the tests, on either engine.

use crate::kv::KvNode;
use crate::raft::{Entry, EntryId, LogIndex, NodeId, Role, Term};
use std::collections::BTreeMap;

/// Log entries included in a status.
const STATUS_LOG_TAIL: usize = 64;

/// Whether a node runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Running.
    Running,
    /// Paused: neither ticks nor receives.
    Paused,
    /// Killed on purpose; can be restarted.
    Dead,
    /// It stopped on its own (a storage error, or a panic), or it could not start (its
    /// log is damaged or unreadable); the reason says which. Can be restarted.
    Crashed(String),
}

/// A snapshot of one node, for views.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node.
    pub id: NodeId,
    /// Running, paused, dead or crashed.
    pub run: RunState,
    /// Its role (`None` if it never ran).
    pub role: Option<Role>,
    /// Current term.
    pub term: Term,
    /// Vote in the current term.
    pub vote: Option<NodeId>,
    /// The leader it follows.
    pub leader: Option<NodeId>,
    /// Commit index.
    pub commit: LogIndex,
    /// Applied index.
    pub applied: LogIndex,
    /// Last log entry.
    pub last: EntryId,
    /// Election timer: ticks elapsed and the timeout.
    pub timer: (u32, u32),
    /// Ticks until its next timer fires (election timeout, or a leader's heartbeat).
    pub next_timer: u32,
    /// For a leader: each follower's match and next index.
    pub replication: Vec<(NodeId, LogIndex, LogIndex)>,
    /// The last entries of its log after its snapshot (the entries it holds), with their
    /// commands (shared, so a status copies no strings), so a view can show what each index
    /// holds on each node.
    pub log_tail: Vec<Entry>,
    /// Its applied key-value map (empty when `kv_unknown` says it is not known).
    pub kv: BTreeMap<String, String>,
    /// The last entry of its snapshot (paper §7), if it has one: its log starts after it, and
    /// the entries up to it are compacted away.
    pub snapshot: Option<EntryId>,
    /// The size of its snapshot's state-machine bytes (0 without a snapshot, and on a status
    /// rebuilt from events, which do not carry them).
    pub snapshot_bytes: u64,
    /// For a leader handing its leadership over (thesis §3.10): the target.
    pub transfer: Option<NodeId>,
    /// Only on a status rebuilt from events: the map is not known, because the node's state
    /// machine started from this snapshot, which the events do not show (one recovered from a
    /// data directory older than the event log).
    pub kv_unknown: Option<EntryId>,
}

impl NodeStatus {
    /// A snapshot of a core (any driver's: the simulator's too, for views and tests). The log
    /// tail is the last entries after the node's snapshot, the ones its log holds.
    pub fn of(node: &KvNode, run: RunState) -> Self {
        let entries = node.log().entries();
        let tail = entries[entries.len().saturating_sub(STATUS_LOG_TAIL)..].to_vec();
        NodeStatus {
            id: node.id(),
            run,
            role: Some(node.role()),
            term: node.term(),
            vote: node.vote(),
            leader: node.leader(),
            commit: node.commit_index(),
            applied: node.applied_index(),
            last: node.log().last(),
            timer: node.election_timer(),
            next_timer: node.ticks_to_timer(),
            replication: node.replication(),
            log_tail: tail,
            kv: node.state_machine().data(),
            snapshot: node.snapshot_index(),
            snapshot_bytes: node.snapshot_bytes(),
            transfer: node.transferring_to(),
            kv_unknown: None,
        }
    }

    /// A node whose state is unknown (never ran, or its storage could not be read).
    pub fn unknown(id: NodeId, run: RunState) -> Self {
        NodeStatus {
            id,
            run,
            role: None,
            term: Term(0),
            vote: None,
            leader: None,
            commit: LogIndex(0),
            applied: LogIndex(0),
            last: EntryId::default(),
            timer: (0, 0),
            next_timer: 0,
            replication: Vec::new(),
            log_tail: Vec::new(),
            kv: BTreeMap::new(),
            snapshot: None,
            snapshot_bytes: 0,
            transfer: None,
            kv_unknown: None,
        }
    }
}
