//! The in-memory store: durable across a simulated crash (the simulator keeps it while it throws
//! the node's volatile state away), not across a process exit.

use super::{HardState, Recovered, Storage, StorageError};
use crate::raft::{Entry, EntryId, LogIndex, Snapshot};

/// Keeps the durable state in memory. Writes are "durable" at once.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    hard_state: HardState,
    base: EntryId,
    snapshot: Option<Snapshot>,
    entries: Vec<Entry>,
}

impl MemStorage {
    /// An empty store, as on a brand-new node.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored entries (for tests and views).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The stored snapshot, if any.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// The stored term and vote.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }
}

impl Storage for MemStorage {
    type Error = StorageError;

    fn recover(&mut self) -> Result<Recovered, StorageError> {
        Ok(Recovered {
            hard_state: self.hard_state,
            base: self.base,
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
        })
    }

    fn save_hard_state(&mut self, hard_state: HardState) -> Result<(), StorageError> {
        self.hard_state = hard_state;
        Ok(())
    }

    fn write_entries(&mut self, from: LogIndex, entries: &[Entry]) -> Result<(), StorageError> {
        let keep = from.0.saturating_sub(self.base.index.0 + 1) as usize;
        self.entries.truncate(keep);
        for e in entries {
            assert_eq!(
                e.index.0,
                self.base.index.0 + 1 + self.entries.len() as u64,
                "storage write leaves a gap"
            );
            self.entries.push(e.clone());
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        Ok(())
    }

    /// Paper §7 (Figure 13, step 6): the entries after the snapshot stay only if the store holds
    /// its last entry with the same term; otherwise they followed another history and all go
    /// (as in the disk store, whose module docs say why the store applies the rule itself).
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        let last = snapshot.last;
        if last.index <= self.base.index {
            return Ok(());
        }
        let at = (last.index.0 - self.base.index.0 - 1) as usize;
        if self.entries.get(at).is_some_and(|e| e.term == last.term) {
            self.entries.drain(..=at);
        } else {
            self.entries.clear();
        }
        self.base = last;
        self.snapshot = Some(snapshot.clone());
        Ok(())
    }
}
