//! Durable state: the stores that implement the core's [`Storage`] trait (the term, the vote
//! and the log, paper Figure 2), in memory ([`MemStorage`]) and on disk ([`DiskStorage`]).
//! Everything else (commit index, applied state, leader state) is volatile and rebuilt.
//!
//! On disk, a [`DataDir`] holds one process's cluster: a lock, the cluster's identity and size,
//! and per node a write-ahead log and, once the node has one, a snapshot file ([`DiskStorage`]).

mod dir;
mod disk;
mod mem;

pub use dir::{DataDir, DirError, LOCK_FILE, META_FILE, Meta};
pub use disk::{DiskStorage, FsyncPolicy};
pub use mem::MemStorage;

pub use crate::raft::{HardState, Recovered, Storage};

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
    /// A record (or a snapshot file) failed its checksum, could not be decoded, or does not
    /// fit the other files.
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

/// A store of either kind, as the live cluster's node threads hold it.
pub type BoxedStorage = Box<dyn Storage<Error = StorageError> + Send>;
