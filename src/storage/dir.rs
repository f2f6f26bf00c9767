//! The data directory: one process at a time, and it knows its cluster.
//!
//! A data directory holds the nodes' write-ahead logs (`n1.wal`, …) and snapshots (`n1.snap`,
//! …, once a node has one), the console's session files, and two files of its own:
//! - `quorum.lock`: opening the directory takes an exclusive lock on it ([`File::try_lock`],
//!   released by the operating system when the process ends, however it ends), and writes the
//!   process id into it so a second process can say who holds it. Two processes writing one
//!   set of logs interleave their records and leave logs no node can recover (pitfall 15).
//! - `quorum.meta`: the cluster's identity, written once when the directory is initialised: a
//!   random cluster id (also written into every WAL's file header, so a log copied from another
//!   cluster is refused) and the number of nodes. Opening the directory with another size is
//!   refused: a cluster of 5 opened as 3 would commit with a quorum of 2 entries that were
//!   committed by 3 of 5 (pitfall 16). It carries a checksum, so a flipped digit is damage, not
//!   a new cluster size.
//!
//! Initialisation creates every node's WAL (each atomically, with its file header) and only
//! then the metadata, atomically; so a directory with metadata has every log, and a missing log
//! is reported, never silently started empty. A directory without metadata that holds a
//! snapshot file (even a temporary `n1.snap.new`) or a log with records is refused: a cluster
//! ran there.

use super::disk::{self, DiskStorage};
use crate::kv::SessionLimits;
use crate::raft::NodeId;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name.
pub const LOCK_FILE: &str = "quorum.lock";
/// The metadata file's name.
pub const META_FILE: &str = "quorum.meta";
/// The metadata layout version.
const META_FORMAT: u32 = 1;

/// Why a data directory cannot be used. Every message names the directory.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// The operating system refused (not a directory, no permission, disk full, ...).
    #[error("{path}: {}", plain(.error))]
    Io {
        /// The directory or file involved.
        path: String,
        /// The underlying error (its words are in the message: it is not a `source`, so an error
        /// chain does not repeat them).
        error: std::io::Error,
    },
    /// Another process holds the directory.
    #[error("{path} is in use by another quorum process{holder}; stop it first, or choose another directory")]
    Locked {
        /// The directory.
        path: String,
        /// ` (pid 1234)` when the holder wrote its id, else empty.
        holder: String,
    },
    /// The directory holds a cluster of another size.
    #[error(
        "{path} holds cluster {cluster} of {holds} nodes, not {asked}: use --nodes {holds}, or choose another directory"
    )]
    SizeMismatch {
        /// The directory.
        path: String,
        /// The cluster's id.
        cluster: String,
        /// Its size.
        holds: usize,
        /// The size asked for.
        asked: usize,
    },
    /// The directory's contents make no sense as a quorum data directory.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file or directory involved.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// What `quorum.meta` records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The layout version.
    pub format: u32,
    /// The cluster's random id, as 16 hex digits.
    pub cluster: String,
    /// The number of nodes, `n1` to `nN`.
    pub nodes: usize,
    /// The program that created it, for the curious.
    pub created_by: String,
    /// The session limits the cluster's state machines use. They are part of the data: they
    /// decide which sessions the log's entries expire, so every process must replay the log
    /// with the same ones.
    pub sessions: SessionLimits,
    /// How many times a process has opened the directory (this one included): a history of the
    /// data knows it saw every write only if no other process opened it in between.
    pub opens: u64,
}

/// The metadata file: the record and a checksum of its JSON.
#[derive(Serialize, Deserialize)]
struct MetaFile {
    meta: Meta,
    crc32: u32,
}

/// An open, locked data directory. The lock lasts as long as this value.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
    meta: Option<Meta>,
    held_data: bool,
}

impl PartialEq for DataDir {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Eq for DataDir {}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> DirError + '_ {
    move |error| DirError::Io { path: path.display().to_string(), error }
}

impl DataDir {
    /// Creates the directory if needed and locks it for this process, without reading or
    /// writing any cluster state (for the console's session files with in-memory storage).
    pub fn lock(path: &Path) -> Result<DataDir, DirError> {
        let io = io_at(path);
        if path.exists() && !path.is_dir() {
            return Err(DirError::Invalid {
                path: path.display().to_string(),
                reason: "not a directory".into(),
            });
        }
        std::fs::create_dir_all(path).map_err(&io)?;
        let lock_path = path.join(LOCK_FILE);
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_at(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = lock.read_to_string(&mut text);
                let holder = text
                    .split_whitespace()
                    .skip_while(|w| *w != "pid")
                    .nth(1)
                    .map(|pid| format!(" (pid {pid})"))
                    .unwrap_or_default();
                return Err(DirError::Locked { path: path.display().to_string(), holder });
            }
            Err(TryLockError::Error(source)) => return Err(io_at(&lock_path)(source)),
        }
        let mine = format!("locked by quorum pid {}\n", std::process::id());
        lock.set_len(0)
            .and_then(|()| lock.seek(SeekFrom::Start(0)))
            .and_then(|_| lock.write_all(mine.as_bytes()))
            .map_err(io_at(&lock_path))?;
        Ok(DataDir { path: path.to_path_buf(), _lock: lock, meta: None, held_data: false })
    }

    /// Locks the directory and opens the cluster of `nodes` nodes kept in it, or initialises a
    /// new one (a fresh id, every node's empty WAL, then the metadata). Refuses another size,
    /// damaged metadata, and logs without metadata.
    pub fn open(path: &Path, nodes: usize) -> Result<DataDir, DirError> {
        let mut dir = Self::lock(path)?;
        let meta_path = path.join(META_FILE);
        if meta_path.exists() {
            let mut meta = read_meta(&meta_path)?;
            if meta.nodes != nodes {
                return Err(DirError::SizeMismatch {
                    path: path.display().to_string(),
                    cluster: meta.cluster,
                    holds: meta.nodes,
                    asked: nodes,
                });
            }
            meta.opens += 1;
            write_meta(path, &meta)?;
            dir.meta = Some(meta);
            dir.held_data = true;
            return Ok(dir);
        }
        dir.clear_unfinished_init()?;
        let cluster = new_cluster_id();
        for id in 1..=nodes as u64 {
            DiskStorage::create(path, NodeId(id), cluster).map_err(|e| DirError::Invalid {
                path: path.display().to_string(),
                reason: format!("cannot create a log: {e}"),
            })?;
        }
        let meta = Meta {
            format: META_FORMAT,
            cluster: format!("{cluster:016x}"),
            nodes,
            created_by: format!("quorum {}", env!("CARGO_PKG_VERSION")),
            sessions: SessionLimits::default(),
            opens: 1,
        };
        write_meta(path, &meta)?;
        dir.meta = Some(meta);
        Ok(dir)
    }

    /// A directory without metadata must hold no log with records in it and no snapshot: those
    /// are the data of a cluster whose size is unknown. Logs holding only their file header
    /// (left by an initialisation that crashed before writing the metadata) hold nothing and
    /// are removed.
    fn clear_unfinished_init(&self) -> Result<(), DirError> {
        let io = io_at(&self.path);
        let mut empty_logs = Vec::new();
        for entry in std::fs::read_dir(&self.path).map_err(&io)? {
            let entry = entry.map_err(&io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(kind) = node_file(&name) else { continue };
            let unknown_cluster = |what: &str| DirError::Invalid {
                path: self.path.display().to_string(),
                reason: format!(
                    "holds the {what} {name} but no {META_FILE}: it was written by an older quorum, \
                     or its metadata was lost; quorum will not guess the cluster's size and identity"
                ),
            };
            // Any snapshot file, even one never renamed into place, was written by a node
            // that ran: the directory held a cluster.
            if kind == NodeFile::Snapshot {
                return Err(unknown_cluster("snapshot"));
            }
            let bytes = std::fs::read(entry.path()).map_err(io_at(&entry.path()))?;
            if !disk::is_empty_log(&bytes) {
                return Err(unknown_cluster("log"));
            }
            empty_logs.push(entry.path());
        }
        for p in empty_logs {
            std::fs::remove_file(&p).map_err(io_at(&p))?;
        }
        Ok(())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cluster's metadata (`None` for a directory opened with [`DataDir::lock`]).
    pub fn meta(&self) -> Option<&Meta> {
        self.meta.as_ref()
    }

    /// The cluster's id as a number, for the WAL file headers.
    pub fn cluster_id(&self) -> Option<u64> {
        self.meta.as_ref().and_then(|m| u64::from_str_radix(&m.cluster, 16).ok())
    }

    /// True if the directory already held this cluster when it was opened: its data predates
    /// this process, so a history recorded now starts on values it does not know.
    pub fn held_data(&self) -> bool {
        self.held_data
    }

    /// How many times the directory has been opened, this time included (`None` for a
    /// directory opened with [`DataDir::lock`]).
    pub fn opens(&self) -> Option<u64> {
        self.meta.as_ref().map(|m| m.opens)
    }
}

/// What a node's file in a data directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeFile {
    /// `nN.wal`, or `nN.wal.new` (a log being written under its temporary name).
    Log,
    /// `nN.snap`, or `nN.snap.new`.
    Snapshot,
}

/// The kind of a node's file named `name` (`n1.wal`, `n2.snap.new`, ...), or `None` for any
/// other file.
fn node_file(name: &str) -> Option<NodeFile> {
    let (stem, kind) = [
        (".wal", NodeFile::Log),
        (".wal.new", NodeFile::Log),
        (".snap", NodeFile::Snapshot),
        (".snap.new", NodeFile::Snapshot),
    ]
    .into_iter()
    .find_map(|(suffix, kind)| name.strip_suffix(suffix).map(|stem| (stem, kind)))?;
    let id = stem.strip_prefix('n')?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(kind)
}

fn read_meta(path: &Path) -> Result<Meta, DirError> {
    let invalid = |reason: String| DirError::Invalid { path: path.display().to_string(), reason };
    let mut text = String::new();
    File::open(path).and_then(|mut f| f.read_to_string(&mut text)).map_err(io_at(path))?;
    let file: MetaFile = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("damaged metadata ({e}); it must hold the cluster's id and size")))?;
    let json = serde_json::to_vec(&file.meta).map_err(|e| invalid(e.to_string()))?;
    if crc32fast::hash(&json) != file.crc32 {
        return Err(invalid("damaged metadata: checksum mismatch".into()));
    }
    if file.meta.format != META_FORMAT {
        return Err(invalid(format!(
            "metadata format {}, but this quorum reads format {META_FORMAT}",
            file.meta.format
        )));
    }
    if u64::from_str_radix(&file.meta.cluster, 16).is_err() || file.meta.nodes == 0 {
        return Err(invalid("damaged metadata: a bad cluster id or size".into()));
    }
    Ok(file.meta)
}

/// Writes the metadata atomically: a temporary file, synced, renamed, and the directory synced.
fn write_meta(dir: &Path, meta: &Meta) -> Result<(), DirError> {
    let path = dir.join(META_FILE);
    let tmp = dir.join(format!("{META_FILE}.new"));
    let json = serde_json::to_vec(meta).map_err(std::io::Error::other).map_err(io_at(&path))?;
    let file = MetaFile { meta: meta.clone(), crc32: crc32fast::hash(&json) };
    let mut text = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other).map_err(io_at(&path))?;
    text.push(b'\n');
    let mut f = File::create(&tmp).map_err(io_at(&tmp))?;
    f.write_all(&text).and_then(|()| f.sync_all()).map_err(io_at(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(io_at(&path))?;
    disk::sync_dir(dir).map_err(io_at(dir))
}

/// An I/O error in a user's words where the operating system's are obscure.
fn plain(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotADirectory => "a part of this path is a file, not a directory".into(),
        std::io::ErrorKind::PermissionDenied => format!("permission denied ({error})"),
        std::io::ErrorKind::StorageFull => format!("the disk is full ({error})"),
        _ => error.to_string(),
    }
}

/// A random 64-bit id: the standard library's randomly keyed hasher over the time and the
/// process id (no extra dependency, and no two directories need more than "different").
fn new_cluster_id() -> u64 {
    use std::hash::BuildHasher;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    std::hash::RandomState::new().hash_one((nanos, std::process::id())) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("quorum-dir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_new_directory_gets_an_id_every_log_and_then_its_metadata() {
        let path = temp("new");
        let dir = DataDir::open(&path, 3).expect("open");
        assert!(!dir.held_data());
        let meta = dir.meta().expect("meta").clone();
        assert_eq!(meta.nodes, 3);
        for n in 1..=3 {
            assert!(path.join(format!("n{n}.wal")).exists());
        }
        drop(dir);
        let again = DataDir::open(&path, 3).expect("reopen");
        assert!(again.held_data());
        let kept = again.meta().expect("meta");
        assert_eq!((&kept.cluster, kept.nodes), (&meta.cluster, 3), "the identity is kept");
        assert_eq!((meta.opens, kept.opens), (1, 2), "every open is counted");
        let _ = std::fs::remove_dir_all(&path);
    }

    /// Pitfall 15: one process per data directory.
    #[test]
    fn a_second_open_is_refused_while_the_first_holds_the_lock() {
        let path = temp("locked");
        let first = DataDir::open(&path, 3).expect("open");
        let err = DataDir::open(&path, 3).expect_err("a second holder");
        let msg = err.to_string();
        assert!(msg.contains("in use by another quorum process"), "{msg}");
        assert!(msg.contains(&format!("pid {}", std::process::id())), "{msg}");
        drop(first);
        DataDir::open(&path, 3).expect("free again once the first is gone");
        let _ = std::fs::remove_dir_all(&path);
    }

    /// Pitfall 16: a directory of 5 nodes is not opened as 3.
    #[test]
    fn another_size_is_refused_with_what_the_directory_holds() {
        let path = temp("size");
        drop(DataDir::open(&path, 5).expect("open"));
        let msg = DataDir::open(&path, 3).expect_err("size").to_string();
        assert!(msg.contains("of 5 nodes, not 3") && msg.contains("--nodes 5"), "{msg}");
        let _ = std::fs::remove_dir_all(&path);
    }

    #[test]
    fn damaged_metadata_and_logs_without_metadata_are_refused() {
        let path = temp("damaged");
        drop(DataDir::open(&path, 3).expect("open"));
        let meta = path.join(META_FILE);
        let text = std::fs::read_to_string(&meta).expect("read").replace("\"nodes\": 3", "\"nodes\": 7");
        std::fs::write(&meta, text).expect("write");
        let msg = DataDir::open(&path, 7).expect_err("flipped size").to_string();
        assert!(msg.contains("checksum"), "{msg}");
        // Logs with records but no metadata: the size is unknown.
        std::fs::remove_file(&meta).expect("rm");
        let mut log = std::fs::read(path.join("n1.wal")).expect("read");
        log.extend_from_slice(&[1, 2, 3]);
        std::fs::write(path.join("n1.wal"), log).expect("write");
        let msg = DataDir::open(&path, 3).expect_err("no metadata").to_string();
        assert!(msg.contains("no quorum.meta"), "{msg}");
        let _ = std::fs::remove_dir_all(&path);
    }

    #[test]
    fn an_initialisation_cut_short_before_the_metadata_starts_over() {
        let path = temp("unfinished");
        drop(DataDir::open(&path, 3).expect("open"));
        std::fs::remove_file(path.join(META_FILE)).expect("as if the crash came first");
        let dir = DataDir::open(&path, 3).expect("header-only logs hold nothing: start over");
        assert!(!dir.held_data());
        let _ = std::fs::remove_dir_all(&path);
    }

    /// A snapshot file, even one never renamed into place, means a node ran: without the
    /// metadata the directory is refused, never started over.
    #[test]
    fn a_snapshot_without_metadata_is_refused() {
        let path = temp("snapshot");
        drop(DataDir::open(&path, 3).expect("open"));
        std::fs::remove_file(path.join(META_FILE)).expect("as if the metadata were lost");
        for name in ["n2.snap", "n2.snap.new"] {
            std::fs::write(path.join(name), b"QSNP").expect("write");
            let msg = DataDir::open(&path, 3).expect_err("a snapshot").to_string();
            assert!(msg.contains(&format!("holds the snapshot {name} but no quorum.meta")), "{msg}");
            assert!(path.join("n1.wal").exists(), "nothing removed");
            std::fs::remove_file(path.join(name)).expect("rm");
        }
        DataDir::open(&path, 3).expect("header-only logs alone hold nothing: start over");
        let _ = std::fs::remove_dir_all(&path);
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let path = temp("file");
        std::fs::write(&path, b"x").expect("write");
        let msg = DataDir::open(&path, 3).expect_err("a file").to_string();
        assert!(msg.contains("not a directory"), "{msg}");
        let _ = std::fs::remove_file(&path);
    }
}
