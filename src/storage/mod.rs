//! Durable state: the term, the vote and the log (paper Figure 2, "Persistent state on all
//! servers"). The core never touches storage itself: it hands over what must be written in each
//! [`Ready`], and the driver writes it through this trait before sending the
//! messages that depend on it. On restart a node is rebuilt from [`Storage::recover`] alone;
//! everything else (commit index, applied state, leader state) is volatile and rebuilt.
//!
//! On disk, a [`DataDir`] holds one process's cluster: a lock, the cluster's identity and size,
//! and one write-ahead log ([`DiskStorage`]) per node.

mod dir;
mod disk;
mod mem;

pub use dir::{DataDir, DirError, LOCK_FILE, META_FILE, Meta};
pub use disk::{DiskStorage, FsyncPolicy};
pub use mem::MemStorage;

use crate::raft::{Entry, LogIndex, Ready};
pub use crate::raft::{HardState, Recovered};

/// Why storage failed. Reading a damaged file names the file and the offset.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The operating system refused a read or write.
    #[error("{path}: {error}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error (in the message, not a `source`: an error chain does not repeat it).
        error: std::io::Error,
    },
    /// A record failed its checksum or could not be decoded.
    #[error("{path}: corrupt record at offset {offset}: {reason}")]
    Corrupt {
        /// The file involved.
        path: String,
        /// Byte offset of the bad record.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
}

/// Durable storage for one node. Writes may be buffered until [`Storage::sync`]; after `sync`
/// returns, everything written before it survives a crash.
pub trait Storage {
    /// Reads back the durable state (at start or restart).
    fn recover(&mut self) -> Result<Recovered, StorageError>;
    /// Records a new term and vote.
    fn save_hard_state(&mut self, hard_state: HardState) -> Result<(), StorageError>;
    /// Drops every stored entry at index `from` and beyond, then stores `entries` (which start
    /// at `from`, or are empty for a pure truncation).
    fn write_entries(&mut self, from: LogIndex, entries: &[Entry]) -> Result<(), StorageError>;
    /// Makes every earlier write durable.
    fn sync(&mut self) -> Result<(), StorageError>;

    /// Writes what a [`Ready`] asks to persist, without syncing. Drivers batch several of these
    /// and sync once (group commit), then send the messages that waited for persistence.
    fn write_ready(&mut self, ready: &Ready) -> Result<(), StorageError> {
        if let Some(hs) = ready.hard_state {
            self.save_hard_state(hs)?;
        }
        if let Some((from, entries)) = &ready.entries {
            self.write_entries(*from, entries)?;
        }
        Ok(())
    }
}
