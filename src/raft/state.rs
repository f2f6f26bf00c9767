//! What the core asks of the state machine it replicates, and the durable state it asks storage
//! to keep. The core defines both, so it depends on nothing outside itself: the key-value map
//! (the `kv` module's `Kv`) implements [`StateMachine`], and the stores of the `storage` module
//! keep a
//! [`HardState`] and the log and give back a [`Recovered`].

use super::{Command, Entry, EntryId, LogIndex, NodeId, Response, Term};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The replicated state machine (paper §5.3, "applied to the state machine"; thesis §6.3 for the
/// client sessions it keeps). Every replica applies the same committed entries in the same
/// order and must end in the same state, so an implementation must be deterministic.
pub trait StateMachine {
    /// Applies the log entry at `index` (`None` for a leader's no-op), which must be the one
    /// after [`StateMachine::applied`]. Returns the answer for the request the command came
    /// from.
    fn apply(&mut self, index: LogIndex, command: Option<&Arc<Command>>) -> Option<Response>;
    /// Reads a key from the applied state (the core proves first that it is fresh: ReadIndex).
    fn read(&self, key: &str) -> Option<String>;
    /// The index of the last entry applied.
    fn applied(&self) -> LogIndex;
}

/// The durable scalars of a node: current term and the vote cast in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, if any.
    pub vote: Option<NodeId>,
}

/// Everything a node needs to restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Term and vote.
    pub hard_state: HardState,
    /// The entry just before the first stored entry (0@0 until log compaction exists).
    pub base: EntryId,
    /// The stored log entries, in order.
    pub entries: Vec<Entry>,
}
