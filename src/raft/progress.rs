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
        }
    }

    /// Switches to probing from `next_index`, forgetting whatever was in flight.
    pub fn become_probe(&mut self, next_index: LogIndex) {
        self.state = ReplicationState::Probe;
        self.next_index = next_index.max(self.match_index.next());
        self.probe_sent = false;
        self.inflight.clear();
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
