//! What the core asks of the state machine it replicates ([`StateMachine`]) and of the store that
//! keeps its durable state ([`Storage`]). The core defines both, so it depends on nothing
//! outside itself: the key-value map (the `kv` module's `Kv`) implements the first, the
//! in-memory and on-disk stores of the `storage` module implement the second.

use super::{Command, Entry, EntryId, LogIndex, NodeId, Ready, Response, Term};
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
    /// The whole state as of [`StateMachine::applied`], as bytes (paper §7: the snapshot's
    /// contents). Must be deterministic: two replicas at one applied index give the same bytes.
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the whole state with a snapshot's, taken at `applied`. An error names what in
    /// the bytes is wrong; the state is then unchanged.
    fn restore(&mut self, applied: LogIndex, data: &[u8]) -> Result<(), String>;
    /// The highest command time applied (the session clock of thesis §6.3), so a node that
    /// starts from a snapshot with an empty log stamps no command earlier than those it holds.
    fn clock(&self) -> u64;
}

/// A snapshot of the state machine (paper §7): everything the log held up to and including
/// `last`, which is the last entry it replaces, with that entry's term (for the consistency check
/// of the AppendEntries that follow it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The last entry the snapshot includes.
    pub last: EntryId,
    /// The state machine's bytes ([`StateMachine::snapshot`]); shared, so keeping it, sending it
    /// in chunks and persisting it copies nothing.
    pub data: Arc<Vec<u8>>,
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
    /// The entry just before the first stored entry: 0@0, or the snapshot's last entry.
    pub base: EntryId,
    /// The newest durable snapshot, if the node has taken or installed one. Invariant: present
    /// exactly when `base` is not 0@0, and then `snapshot.last == base`.
    pub snapshot: Option<Snapshot>,
    /// The stored log entries after `base`, in order.
    pub entries: Vec<Entry>,
}

/// Durable storage for one node: the term, the vote and the log (paper Figure 2, "Persistent
/// state on all servers"). The core never touches storage itself: it hands over what must be
/// written in each [`Ready`], and the driver writes it through this trait before sending the
/// messages that depend on it (the driver contract in the module documentation). On restart a
/// node is rebuilt from [`Storage::recover`] alone.
///
/// Writes may be buffered until [`Storage::sync`]; after `sync` returns, everything written
/// before it survives a crash.
pub trait Storage {
    /// Why the store failed (an implementation's own error type: files have paths and offsets).
    type Error;
    /// Reads back the durable state (at start or restart).
    fn recover(&mut self) -> Result<Recovered, Self::Error>;
    /// Records a new term and vote.
    fn save_hard_state(&mut self, hard_state: HardState) -> Result<(), Self::Error>;
    /// Drops every stored entry at index `from` and beyond, then stores `entries` (which start
    /// at `from`, or are empty for a pure truncation).
    fn write_entries(&mut self, from: LogIndex, entries: &[Entry]) -> Result<(), Self::Error>;
    /// Makes every earlier write durable.
    fn sync(&mut self) -> Result<(), Self::Error>;
    /// Makes `snapshot` durable and drops every stored entry up to and including its last
    /// entry. The entries after it stay only if the store holds the snapshot's last entry with
    /// the same term (paper §7: they then follow the same history); otherwise they are dropped
    /// too, in the same durable step, so no crash can leave a snapshot followed by entries of
    /// another history. (A node that discarded its log also follows this with a
    /// [`Storage::write_entries`] that drops them.) Durable when it returns, whatever else is
    /// buffered: a store that cannot replace its files atomically must not implement it by
    /// halves (the disk store's crash-safety argument is in its module docs).
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Self::Error>;

    /// Writes what a [`Ready`] asks to persist, without syncing. Drivers batch several of these
    /// and sync once (group commit, thesis §10.2.1), then send the messages that waited.
    fn write_ready(&mut self, ready: &Ready) -> Result<(), Self::Error> {
        if let Some(snapshot) = &ready.snapshot {
            self.save_snapshot(snapshot)?;
        }
        if let Some(hs) = ready.hard_state {
            self.save_hard_state(hs)?;
        }
        if let Some((from, entries)) = &ready.entries {
            self.write_entries(*from, entries)?;
        }
        Ok(())
    }
}
