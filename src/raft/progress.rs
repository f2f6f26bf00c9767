//! The leader's view of each follower (paper Figure 2, "Volatile state on leaders": nextIndex and
//! matchIndex), plus the flow control that etcd and raft-rs add: a probing state that sends one
//! AppendEntries at a time while the match point is unknown, and a replicating state that
//! pipelines up to a configured number of messages optimistically.

use super::LogIndex;
use std::collections::VecDeque;

/// How the leader currently sends entries to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicationState {
    /// The match point is unknown: one AppendEntries at a time, wait for the answer.
    Probe,
    /// The follower is known to match: send ahead optimistically (pipelining).
    Replicate,
    /// The follower needs entries the leader has compacted away: its snapshot goes instead,
    /// one chunk at a time (paper §7). `probe_sent` says a chunk is outstanding.
    Snapshot,
}

/// A snapshot on its way to one follower: the one the transfer began with, even if the leader
/// takes a newer one meanwhile (the follower is answered for the one it is receiving).
#[derive(Clone, Debug)]
pub struct SnapshotSend {
    /// The snapshot.
    pub snapshot: super::Snapshot,
    /// The follower has acknowledged the bytes before this offset.
    pub offset: u64,
    /// The tick the outstanding chunk left at (a lost chunk is sent again after a while).
    pub sent_at: u64,
}

/// Replication progress of one follower. Invariant: `match_index < next_index`.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Highest index known to be replicated on the follower.
    pub match_index: LogIndex,
    /// Next index to send.
    pub next_index: LogIndex,
    /// Probe or replicate.
    pub state: ReplicationState,
    /// In Probe: a probe is outstanding, wait for its answer (or the next heartbeat answer).
    pub probe_sent: bool,
    /// In Replicate: last index of each AppendEntries in flight, with the tick it left at.
    pub inflight: VecDeque<(LogIndex, u64)>,
    /// Heard from since the last CheckQuorum period (thesis §6.2).
    pub recent_active: bool,
    /// Highest read round this follower acknowledged (thesis §6.4).
    pub read_round: u64,
    /// In Snapshot: the snapshot being sent.
    pub snapshot: Option<SnapshotSend>,
}

impl Progress {
    /// Progress of a follower right after an election: assume it matches the leader's log end
    /// (paper Figure 2: nextIndex initialized to leader last log index + 1) and probe.
    pub fn new(next_index: LogIndex) -> Self {
        Progress {
            match_index: LogIndex(0),
            next_index,
            state: ReplicationState::Probe,
            probe_sent: false,
            inflight: VecDeque::new(),
            recent_active: false,
            read_round: 0,
            snapshot: None,
        }
    }

    /// Switches to probing from `next_index`, forgetting whatever was in flight.
    pub fn become_probe(&mut self, next_index: LogIndex) {
        self.state = ReplicationState::Probe;
        self.next_index = next_index.max(self.match_index.next());
        self.probe_sent = false;
        self.inflight.clear();
        self.snapshot = None;
    }

    /// Records a successful append up to `index`. Returns true if the match point advanced.
    pub fn record_match(&mut self, index: LogIndex) -> bool {
        let advanced = index > self.match_index;
        if advanced {
            self.match_index = index;
        }
        self.next_index = self.next_index.max(index.next());
        while self.inflight.front().is_some_and(|(i, _)| *i <= index) {
            self.inflight.pop_front();
        }
        if self.state == ReplicationState::Probe {
            self.state = ReplicationState::Replicate;
            self.probe_sent = false;
            self.inflight.clear();
        }
        advanced
    }
}
