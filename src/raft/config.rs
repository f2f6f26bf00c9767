//! Tunables of one node. Times are in ticks: the driver decides how long a tick is (the
//! defaults assume 10 ms, giving the paper's suggested 150-300 ms election timeouts, §5.6).

use super::NodeId;
use serde::{Deserialize, Serialize};

/// A deliberately unsafe behaviour, for showing that the simulator and checker catch real bugs
/// (and for teaching why the safe rule exists). Never on by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hazard {
    /// Answer gets from the contacted node's local state, with no ReadIndex round and on any
    /// role (pitfall 1: stale reads from deposed leaders and lagging followers).
    LocalReads,
    /// Advance the commit index by counting replicas of entries from earlier terms (pitfall 2,
    /// the Figure 8 bug).
    CommitOldTerm,
}

/// The parts of the protocol a teacher may switch at run time: a safety hazard (unsafe on
/// purpose), and the two extensions that keep elections from disrupting a healthy leader,
/// PreVote (thesis §9.6) and CheckQuorum with the leader lease (thesis §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switches {
    /// A deliberately unsafe mode, or `None` for the correct Raft.
    pub hazard: Option<Hazard>,
    /// PreVote on.
    pub pre_vote: bool,
    /// CheckQuorum on.
    pub check_quorum: bool,
}

impl Switches {
    /// The correct, complete protocol: no hazard, PreVote and CheckQuorum on.
    pub const CORRECT: Switches = Switches { hazard: None, pre_vote: true, check_quorum: true };

    /// What is switched away from [`Switches::CORRECT`], in words (empty if nothing).
    pub fn describe(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        match self.hazard {
            Some(Hazard::LocalReads) => out.push("unsafe local-reads"),
            Some(Hazard::CommitOldTerm) => out.push("unsafe commit-old-term"),
            None => {}
        }
        if !self.pre_vote {
            out.push("PreVote off");
        }
        if !self.check_quorum {
            out.push("CheckQuorum off");
        }
        out
    }
}

/// When a node snapshots its state machine and compacts its log, and how big the pieces of a
/// snapshot sent to a follower are (paper §7). Every node of a cluster uses the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPolicy {
    /// Take a snapshot and compact the log once it holds more than this many applied entries.
    /// 0: never.
    pub every: u64,
    /// Most bytes of a snapshot carried by one InstallSnapshot message, so a large state
    /// machine does not hold a link for long (paper §7, Figure 13's `offset`).
    pub chunk: usize,
}

impl SnapshotPolicy {
    /// Never snapshot (what a log written before snapshots existed reads as).
    pub fn off() -> Self {
        SnapshotPolicy { every: 0, ..SnapshotPolicy::default() }
    }
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy { every: DEFAULT_SNAPSHOT_EVERY, chunk: DEFAULT_SNAPSHOT_CHUNK }
    }
}

/// The default of [`SnapshotPolicy::every`], as etcd's server had it until version 3.2. Every
/// snapshot encodes the whole map on the node's own thread: at `quorum bench`'s 400,000 puts a
/// second a threshold of 1,000 cost 15% of the throughput, 10,000 about 5% (DESIGN.md §13). A
/// lecture shows compaction with `--snapshot-every 10` or so.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 10_000;
/// The default of [`SnapshotPolicy::chunk`], in bytes.
pub const DEFAULT_SNAPSHOT_CHUNK: usize = 32 * 1024;

/// Configuration of one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// This node.
    pub id: NodeId,
    /// Every voting member, this node included.
    pub members: Vec<NodeId>,
    /// Lower bound of the randomized election timeout, in ticks. Also the CheckQuorum period
    /// and the leader-lease window for ignoring disruptive votes (thesis §6.2, §4.2.3).
    pub election_timeout_min: u32,
    /// Upper bound (exclusive) of the randomized election timeout, in ticks.
    pub election_timeout_max: u32,
    /// Ticks between a leader's heartbeats. Must be well below `election_timeout_min`.
    pub heartbeat_interval: u32,
    /// Most entries carried by one AppendEntries.
    pub max_entries_per_append: usize,
    /// Most AppendEntries in flight to one follower while replicating (pipelining).
    pub max_inflight: usize,
    /// Ask for pre-votes before starting an election (thesis §9.6).
    pub pre_vote: bool,
    /// Step down when a majority has not been heard from for an election timeout, and ignore
    /// vote requests while a leader is known to be alive (thesis §6.2).
    pub check_quorum: bool,
    /// Seed of this node's RNG (election timeout jitter). The caller chooses it.
    pub seed: u64,
    /// A deliberately unsafe mode, for tests and demonstrations. `None` is the correct Raft.
    pub hazard: Option<Hazard>,
    /// When to snapshot and how to send snapshots (paper §7).
    pub snapshots: SnapshotPolicy,
    /// Record events (the narration) in each `Ready`. Benchmarks turn it off: building the
    /// events costs more than the protocol itself at hundreds of thousands of operations a second.
    pub trace: bool,
}

impl Config {
    /// The switchable parts of this configuration.
    pub fn switches(&self) -> Switches {
        Switches { hazard: self.hazard, pre_vote: self.pre_vote, check_quorum: self.check_quorum }
    }

    /// Sets the switchable parts.
    pub fn set_switches(&mut self, s: Switches) {
        self.hazard = s.hazard;
        self.pre_vote = s.pre_vote;
        self.check_quorum = s.check_quorum;
    }

    /// The defaults for node `id` of a cluster of `members`: 150-300 ms election timeouts and
    /// 50 ms heartbeats at a 10 ms tick, PreVote and CheckQuorum on.
    pub fn new(id: NodeId, members: Vec<NodeId>) -> Self {
        Config {
            id,
            members,
            election_timeout_min: 15,
            election_timeout_max: 30,
            heartbeat_interval: 5,
            max_entries_per_append: 64,
            max_inflight: 16,
            pre_vote: true,
            check_quorum: true,
            seed: id.0,
            hazard: None,
            snapshots: SnapshotPolicy::default(),
            trace: true,
        }
    }

    /// Checks the values make sense; returns a message naming the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if !self.members.contains(&self.id) {
            return Err(format!("{} is not among the members", self.id));
        }
        if self.heartbeat_interval == 0 {
            return Err("heartbeat interval must be at least one tick".into());
        }
        if self.election_timeout_min <= self.heartbeat_interval {
            return Err("election timeout must be longer than the heartbeat interval".into());
        }
        if self.election_timeout_max <= self.election_timeout_min {
            return Err("election timeout max must exceed min".into());
        }
        if self.snapshots.chunk == 0 {
            return Err("snapshot chunk must be at least one byte".into());
        }
        if self.max_entries_per_append == 0 || self.max_inflight == 0 {
            return Err("max entries per append and max in-flight must be at least 1".into());
        }
        Ok(())
    }
}
