//! The on-disk store: per node, a write-ahead log file (`n1.wal`) and, once the node has taken
//! or installed a snapshot (paper §7), a snapshot file (`n1.snap`) that holds the state the
//! log's first entries were replaced by.
//!
//! # The log's format
//!
//! A log file is a sequence of records, each
//!
//! ```text
//! [magic "QWAL": 4 bytes][record number: u64 LE][length: u32 LE][checksum: u32 LE][payload]
//! ```
//!
//! The checksum is a CRC-32 seeded with a constant that is not a run of equal bytes, computed
//! over the first 16 header bytes and the payload. Record numbers count from 0 within the file.
//! Record 0 is the file header: the format version, the node and the cluster the file belongs
//! to, the log's base (the entry just before its first one: 0@0, or the last entry of the
//! snapshot it follows) and its sealed length (below). Every later record is the term and vote,
//! "drop entries from index I on, then append these entries", or the close record a healthy log
//! gets when it is closed. Every log file is written whole under a temporary name, synced (not
//! by a cut under [`FsyncPolicy::Never`]), and then renamed into place, so a log file that
//! exists always starts with a complete header.
//!
//! Format 3 added the base and the sealed length to the file header. A log of format 2 (written
//! before snapshots existed: base 0@0, sealed at the end of its header) is still read, and is
//! appended to in format 2 until the first snapshot rewrites it in format 3.
//!
//! # The snapshot file's format
//!
//! ```text
//! [magic "QSNP": 4][format: u32][node: u64][cluster: u64][last index: u64][last term: u64]
//! [data length: u64][checksum: u32][data]
//! ```
//!
//! All numbers are little-endian; the checksum is the log's CRC-32, over the 48 bytes before it
//! and the data. The data are the key-value map's snapshot (`Kv::snapshot`) as of the last
//! entry the snapshot includes. Opening checks the magic, the length, the checksum, the format,
//! the node and the cluster (a file of another node or cluster is refused, as for the log), and
//! that the data decode as a key-value state at that very index. A snapshot file is complete by
//! construction (it is synced before it gets its name), so anything wrong with it is damage: an
//! error naming the file, the offset and the reason, never a reason to load another state.
//!
//! # Recovery of the log: torn tail or damage
//!
//! Recovery replays the records in order and stops at the first one that is not valid (wrong
//! magic, a length running past the end of the file, a checksum mismatch). A record that passes
//! its checksum was written whole, so one with the wrong number or a payload that does not
//! decode is damage at once. Otherwise what happens depends on what lies beyond:
//! - **Torn tail.** A crash during an append can only leave an incomplete last write: bytes
//!   after the last complete record, with no complete record after them (nothing is written
//!   after an unfinished write). So if no valid record (numbered at least the expected one)
//!   starts anywhere after the bad one, the tail is cut off with a warning.
//! - **Damage.** If a valid record starts after the bad one, or the bad bytes lie within the
//!   file's sealed length, the file was damaged after it was written (a bad sector, a stray
//!   write, a run of 0xFF from a failing device, a file cut short). Recovery stops with an error
//!   naming the file, the offset and the reason, and rewrites nothing: the node refuses to start
//!   rather than silently drop acknowledged records.
//!
//! The sealed length is the size the file had when it was renamed into place: the header of a
//! new log, or the whole first image of a log rewritten after a snapshot (its header, the term
//! and vote, the entries after the snapshot). Those bytes were synced before the file had its
//! name, so no crash can tear them, and a file that ends or goes bad within them is damaged.
//!
//! The limit of the rule: damage confined to the last records of a log that was *not* closed
//! (its process crashed), beyond its sealed length, looks exactly like a torn write and is cut.
//! A log that was closed ends with its close record, so damage before it is always followed by
//! a valid record and caught.
//!
//! The magic number and the record number make a header of any repeated byte (0x00, 0xFF, …)
//! invalid, and a record copied from elsewhere in the file carries the wrong number; so damage
//! can never pass for a valid record, and a valid record beyond it is always recognised.
//! Opening a log syncs it, so what was replayed (perhaps only flushed by a process killed
//! before its fsync) is durable before the node acknowledges anything on top of it.
//!
//! Writes are buffered until [`Storage::sync`], which flushes and fsyncs once for everything
//! written since (group commit). After a failed write or sync the buffer is discarded, never
//! written later, so a restarted node never finds bytes appended behind its back.
//!
//! # Saving a snapshot
//!
//! Paper §7: once a snapshot is durable, the log entries it replaces may go. The store keeps
//! one snapshot file and cuts the log after it, in this order (the numbers are used below):
//!
//! 1. Flush and fsync the log, so nothing written before stays buffered for the old file.
//! 2. Write `n1.snap.new` and fsync it.
//! 3. Rename it to `n1.snap` and fsync the directory. The snapshot is now committed.
//! 4. Write `n1.wal.new`: a file header whose base is the snapshot's last entry, the current
//!    term and vote, and the entries after the snapshot that the store keeps; fsync it.
//! 5. Rename it over `n1.wal` and fsync the directory. The cut is now committed, and the store
//!    appends to the new log (its record numbers go on from its image).
//!
//! Which entries are kept is paper §7's rule for an install (Figure 13, step 6), applied by the
//! store itself: the entries after the snapshot stay only if the store holds the snapshot's last
//! entry with the same term (by Log Matching they then follow it); otherwise they followed
//! another history and all go. (A node that discards its log also follows the snapshot with a
//! write that drops every entry after it, but that write is durable only at the next sync; were
//! the store to keep the entries until then, a crash in between would leave a snapshot followed
//! by entries of another history.) A snapshot at or before the log's base changes nothing.
//! With [`FsyncPolicy::Never`] the fsyncs are skipped, the order and the renames kept.
//!
//! # Why a crash anywhere loses no acknowledged write
//!
//! A write is acknowledged only once it is durable: after a [`Storage::sync`], or when
//! `save_snapshot` returns. Consider a crash (a killed process, or a machine that lost power)
//! between each pair of steps:
//! - **Before or during 1.** Both files are as they were; what was buffered and not yet synced
//!   was not acknowledged.
//! - **After 1, until 3's rename.** `n1.snap` is the old snapshot (or absent) and
//!   `n1.wal` the old log, which agree. `n1.snap.new`, perhaps half written, never got its name,
//!   so it holds nothing committed. Recovery gives the state before the snapshot.
//! - **Between 3's rename and 5's rename.** `n1.snap` is the new snapshot, `n1.wal` the old log,
//!   whose base is older: the entries between them are in the snapshot, the term and vote and
//!   the later entries are in the log. Recovery finishes the cut (steps 4 and 5, with the same
//!   rule for the entries kept) and says so in a warning. It gives the state after the
//!   snapshot. The old snapshot is gone, but the new one covers everything it covered.
//! - **After 5's rename.** Both files are new; recovery gives the state after the snapshot.
//!
//! A rename that had not reached the disk when the power went (its directory not yet synced)
//! leaves the state of the step before it, which is one of the cases above; and since each file
//! is synced before it is renamed, no rename can reach the disk ahead of the file's contents.
//! The directory is synced after 3 before the old log is replaced in 5, so the entries the old
//! log held are never gone before the snapshot replacing them is durable. Finishing the cut is
//! steps 4 and 5 again, so a crash during it leaves one of the same cases. At every point the
//! term and vote are in whichever log is named `n1.wal`, and every entry the store held is
//! either in the snapshot (at or before its last index: the new snapshot's data) or in the log
//! with its term, or was discarded by the rule above on purpose.
//!
//! Recovery removes a leftover `n1.snap.new` or `n1.wal.new` once both named files have been
//! read and checked. Neither was renamed, so neither holds anything committed; removing them
//! frees the space (a snapshot can be large) and keeps a data directory holding only files that
//! mean something. After an error they are left alone, like everything else.
//!
//! Recovery keeps one snapshot, never an older one: once the log has been cut after a snapshot,
//! no older snapshot covers the entries that were cut, so a damaged `n1.snap` is an error. A log
//! whose base is set while `n1.snap` is missing, or a snapshot older than the log's base (the
//! entries between are in neither file), is refused the same way.

use super::{HardState, Recovered, Storage, StorageError};
use crate::kv::codec::{Reader, put_str};
use crate::kv::{ClientId, Command, Kv, RequestId, SessionLimits};
use crate::raft::{Entry, EntryId, LogIndex, NodeId, Snapshot, Term};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The first four bytes of every record.
pub const MAGIC: [u8; 4] = *b"QWAL";
/// The version of the record layout written in a new log's file header.
pub const FORMAT: u32 = 3;
/// The layout before the file header held the base and the sealed length; still read.
const FORMAT_NO_BASE: u32 = 2;
/// Bytes before a record's payload.
pub const HEADER: usize = 20;
/// The checksum's seed: no run of one repeated byte has a matching checksum by construction of
/// the magic, and the seed keeps the checksum of an all-zero record from being zero.
const CRC_SEED: u32 = 0x5157_4131;

/// The first four bytes of a snapshot file.
pub const SNAP_MAGIC: [u8; 4] = *b"QSNP";
/// The version of the snapshot file's layout.
pub const SNAP_FORMAT: u32 = 1;
/// Bytes before a snapshot file's data.
pub const SNAP_HEADER: usize = 52;
/// Where the snapshot file's fields start.
const SNAP_FORMAT_AT: usize = 4;
const SNAP_NODE_AT: usize = 8;
const SNAP_CLUSTER_AT: usize = 16;
const SNAP_LAST_AT: usize = 24;
const SNAP_LEN_AT: usize = 40;
const SNAP_CRC_AT: usize = 48;

/// True if `bytes` are exactly a log file header and nothing else, with base 0@0: a log created
/// but never opened, which holds no state.
pub(crate) fn is_empty_log(bytes: &[u8]) -> bool {
    record_at(bytes, 0).is_ok_and(|(n, p)| {
        n == 0
            && HEADER + p.len() == bytes.len()
            && read_file_header(p).is_ok_and(|h| h.base == EntryId::default())
    })
}

const FILE_HEADER: u8 = 0;
const HARD_STATE: u8 = 1;
const ENTRIES: u8 = 2;
/// Written when a healthy log is closed; changes no state.
const CLOSE: u8 = 3;

const TAG_NOOP: u8 = 0;
const TAG_PUT: u8 = 1;
const TAG_REGISTER: u8 = 2;

/// Whether `sync` really reaches the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync on every sync: acknowledged writes survive power loss.
    Always,
    /// Never fsync (only flush to the OS): for speed experiments; a machine crash can lose
    /// acknowledged writes.
    Never,
}

/// A point in `save_snapshot` after which a test stops it the way a killed process stops:
/// nothing more is written, and the store, poisoned, writes no close record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Step {
    /// Step 1 done: the old log flushed and synced.
    Flushed,
    /// Half of `n1.snap.new` written (a crash in the middle of step 2).
    SnapTorn,
    /// `n1.snap.new` written, not yet synced.
    SnapWritten,
    /// `n1.snap.new` synced.
    SnapSynced,
    /// Renamed to `n1.snap`, the directory not yet synced.
    SnapRenamed,
    /// Step 3 done.
    SnapDirSynced,
    /// Half of `n1.wal.new` written (a crash in the middle of step 4).
    LogTorn,
    /// `n1.wal.new` written, not yet synced.
    LogWritten,
    /// `n1.wal.new` synced.
    LogSynced,
    /// Renamed over `n1.wal`, the directory not yet synced.
    LogRenamed,
}

/// The node's files.
pub struct DiskStorage {
    dir: PathBuf,
    node: NodeId,
    cluster: u64,
    /// The log file.
    path: PathBuf,
    /// `None` only while dropping.
    file: Option<BufWriter<File>>,
    fsync: FsyncPolicy,
    dirty: bool,
    /// A write or sync failed: the buffer must never reach the file.
    poisoned: bool,
    /// The number the next record gets.
    next_record: u64,
    /// What recovery had to repair (torn tails, an unfinished cut), for the event log.
    warnings: Vec<String>,
    /// The state as of the last record, kept so `recover` needs no second read.
    state: Recovered,
    /// Where a test stops `save_snapshot` (always `None` outside tests).
    stop_at: Option<Step>,
}

/// The checksum of a record: over its first 16 header bytes and its payload.
fn checksum(head: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(CRC_SEED);
    h.update(head);
    h.update(payload);
    h.finalize()
}

/// One record's bytes.
fn encode_record(number: u64, payload: &[u8]) -> Result<Vec<u8>, String> {
    let len = u32::try_from(payload.len()).map_err(|_| "record larger than 4 GiB".to_string())?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&number.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    let crc = checksum(&out[..16], payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// What a log's file header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileHeader {
    node: NodeId,
    cluster: u64,
    /// The entry just before the log's first one.
    base: EntryId,
    /// The file's length when it was renamed into place (all synced before).
    sealed: u64,
}

/// The payload of a format 3 file header record.
const FILE_HEADER_LEN: usize = 1 + 4 + 8 * 5;

fn file_header_payload(node: NodeId, cluster: u64, base: EntryId, sealed: u64) -> Vec<u8> {
    let mut p = vec![FILE_HEADER];
    p.extend_from_slice(&FORMAT.to_le_bytes());
    for n in [node.0, cluster, base.index.0, base.term.0, sealed] {
        p.extend_from_slice(&n.to_le_bytes());
    }
    p
}

fn hard_state_payload(hard_state: HardState) -> Vec<u8> {
    let mut p = vec![HARD_STATE];
    p.extend_from_slice(&hard_state.term.0.to_le_bytes());
    p.extend_from_slice(&hard_state.vote.map_or(0, |v| v.0 + 1).to_le_bytes());
    p
}

fn entries_payload(from: LogIndex, entries: &[Entry]) -> Vec<u8> {
    let mut p = Vec::with_capacity(16 + entries.len() * 64);
    p.push(ENTRIES);
    p.extend_from_slice(&from.0.to_le_bytes());
    for e in entries {
        encode_entry(&mut p, e);
    }
    p
}

/// The first image of a log that holds `state`: the file header (with `state`'s base), the
/// term and vote, and the entries if there are any; with the number of records. Its sealed
/// length is its whole length.
fn log_image(node: NodeId, cluster: u64, state: &Recovered) -> Result<(Vec<u8>, u64), String> {
    let mut payloads = vec![hard_state_payload(state.hard_state)];
    if let Some(first) = state.entries.first() {
        payloads.push(entries_payload(first.index, &state.entries));
    }
    let sealed = (HEADER + FILE_HEADER_LEN + payloads.iter().map(|p| HEADER + p.len()).sum::<usize>()) as u64;
    payloads.insert(0, file_header_payload(node, cluster, state.base, sealed));
    let mut image = Vec::with_capacity(sealed as usize);
    for (number, p) in payloads.iter().enumerate() {
        image.extend(encode_record(number as u64, p)?);
    }
    debug_assert_eq!(image.len() as u64, sealed);
    Ok((image, payloads.len() as u64))
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> StorageError + use<> {
    let path = path.display().to_string();
    move |error| StorageError::Io { path: path.clone(), error }
}

/// Makes a directory entry change (a new or renamed file) durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Stops a test's `save_snapshot` at `step`, as a crash would.
fn stop(at: Option<Step>, step: Step, path: &Path) -> Result<(), StorageError> {
    if at == Some(step) {
        let error = std::io::Error::other(format!("stopped after {step:?}, as by a crash"));
        return Err(StorageError::Io { path: path.display().to_string(), error });
    }
    Ok(())
}

/// Writes `parts`, one after the other, to `tmp`, syncs it if `fsync`, renames it to `path`
/// and syncs the directory if `fsync`; returns the file, open at its end. `torn`,
/// `written`, `synced`, `renamed` are the steps a test may stop after.
fn write_and_rename(
    dir: &Path,
    tmp: &Path,
    path: &Path,
    parts: &[&[u8]],
    fsync: bool,
    stop_at: Option<Step>,
    [torn, written, synced, renamed]: [Step; 4],
) -> Result<File, StorageError> {
    let tmp_io = io_error(tmp);
    let mut f = File::create(tmp).map_err(&tmp_io)?;
    if stop_at == Some(torn) {
        let mut left = parts.iter().map(|p| p.len()).sum::<usize>() / 2;
        for part in parts {
            let n = part.len().min(left);
            f.write_all(&part[..n]).map_err(&tmp_io)?;
            left -= n;
        }
        return stop(stop_at, torn, tmp).map(|()| f);
    }
    for part in parts {
        f.write_all(part).map_err(&tmp_io)?;
    }
    stop(stop_at, written, tmp)?;
    if fsync {
        f.sync_all().map_err(&tmp_io)?;
    }
    stop(stop_at, synced, tmp)?;
    std::fs::rename(tmp, path).map_err(io_error(path))?;
    stop(stop_at, renamed, path)?;
    if fsync {
        sync_dir(dir).map_err(io_error(dir))?;
    }
    Ok(f)
}

/// The header of the snapshot file for `snapshot`, checksum included.
fn snapshot_header(node: NodeId, cluster: u64, snapshot: &Snapshot) -> Vec<u8> {
    let mut h = Vec::with_capacity(SNAP_HEADER);
    h.extend_from_slice(&SNAP_MAGIC);
    h.extend_from_slice(&SNAP_FORMAT.to_le_bytes());
    let last = snapshot.last;
    for n in [node.0, cluster, last.index.0, last.term.0, snapshot.data.len() as u64] {
        h.extend_from_slice(&n.to_le_bytes());
    }
    let crc = checksum(&h, &snapshot.data);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// The data must be a key-value state at the snapshot's own last index: a node restores it when
/// it starts, and stops if it cannot. (The session limits only bound what later commands do:
/// any will do to check the structure.)
fn check_snapshot_data(last: EntryId, data: &[u8]) -> Result<(), String> {
    let kv = Kv::from_snapshot(SessionLimits::default(), data)
        .map_err(|e| format!("the data are not a key-value snapshot ({e})"))?;
    if kv.applied() != last.index {
        return Err(format!("the data hold the state at index {}, not at {}", kv.applied(), last.index));
    }
    Ok(())
}

/// Reads and checks a snapshot file's bytes.
fn read_snapshot(
    path: &Path,
    mut bytes: Vec<u8>,
    node: NodeId,
    cluster: u64,
) -> Result<Snapshot, StorageError> {
    let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
        path: path.display().to_string(),
        offset: offset as u64,
        reason,
    };
    if bytes.len() < SNAP_HEADER {
        return Err(corrupt(
            0,
            format!("an incomplete snapshot header ({} of {SNAP_HEADER} bytes)", bytes.len()),
        ));
    }
    if bytes[..4] != SNAP_MAGIC {
        return Err(corrupt(0, "not a snapshot file (bad magic)".into()));
    }
    let mut r = Reader::new(&bytes[SNAP_FORMAT_AT..SNAP_HEADER]);
    let field = "the header is 52 bytes";
    let format = r.u32().map_err(|_| corrupt(0, field.into()))?;
    let mut next = || r.u64().map_err(|_| corrupt(0, field.into()));
    let (owner, of, index, term, len) = (NodeId(next()?), next()?, next()?, next()?, next()?);
    let crc = r.u32().map_err(|_| corrupt(0, field.into()))?;
    let data_len = (bytes.len() - SNAP_HEADER) as u64;
    if len != data_len {
        return Err(corrupt(
            SNAP_LEN_AT,
            format!("the header says {len} data bytes, but {data_len} follow it"),
        ));
    }
    if checksum(&bytes[..SNAP_CRC_AT], &bytes[SNAP_HEADER..]) != crc {
        return Err(corrupt(0, format!("checksum mismatch over the header and the {len} data bytes")));
    }
    if format != SNAP_FORMAT {
        return Err(corrupt(
            SNAP_FORMAT_AT,
            format!("snapshot format {format}, but this quorum reads format {SNAP_FORMAT}"),
        ));
    }
    if owner != node {
        return Err(corrupt(SNAP_NODE_AT, format!("this is the snapshot of {owner}, not of {node}")));
    }
    if of != cluster {
        return Err(corrupt(
            SNAP_CLUSTER_AT,
            format!("this snapshot belongs to cluster {of:016x}, not to this directory's {cluster:016x}"),
        ));
    }
    let last = EntryId { index: LogIndex(index), term: Term(term) };
    if index == 0 {
        return Err(corrupt(SNAP_LAST_AT, format!("a snapshot through {last}, before the first entry")));
    }
    check_snapshot_data(last, &bytes[SNAP_HEADER..]).map_err(|why| corrupt(SNAP_HEADER, why))?;
    bytes.drain(..SNAP_HEADER);
    Ok(Snapshot { last, data: Arc::new(bytes) })
}

/// Paper §7 (Figure 13, step 6): the state once `snapshot`, newer than `state`'s base, replaces
/// the log up to its last entry. The entries after it stay if the log holds that entry with the
/// same term (by Log Matching they follow it); otherwise they followed another history and all
/// go. The term and vote stay.
fn after_snapshot(state: &Recovered, snapshot: &Snapshot) -> Recovered {
    let last = snapshot.last;
    debug_assert!(last.index > state.base.index);
    let at = usize::try_from(last.index.0 - state.base.index.0 - 1).unwrap_or(usize::MAX);
    let follows = state.entries.get(at).is_some_and(|e| e.term == last.term);
    let entries = if follows { state.entries[at + 1..].to_vec() } else { Vec::new() };
    Recovered { hard_state: state.hard_state, base: last, snapshot: Some(snapshot.clone()), entries }
}

/// Matches the log with the snapshot file. Returns the state, and true if the cut of the log
/// after the snapshot must be finished (a crash came between the snapshot's rename and the
/// log's, steps 3 and 5).
fn reconcile(
    wal: &Path,
    snap: &Path,
    mut state: Recovered,
    snapshot: Option<Snapshot>,
) -> Result<(Recovered, bool), StorageError> {
    let base = state.base;
    let wal_name =
        wal.file_name().map_or_else(|| wal.display().to_string(), |n| n.to_string_lossy().into_owned());
    match snapshot {
        None if base == EntryId::default() => Ok((state, false)),
        None => Err(StorageError::Io {
            path: snap.display().to_string(),
            error: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "the snapshot is missing, but {wal_name} starts after {base}: \
                     the entries up to {base} are in neither file"
                ),
            ),
        }),
        Some(s) if s.last == base => {
            state.snapshot = Some(s);
            Ok((state, false))
        }
        Some(s) if s.last.index > base.index => Ok((after_snapshot(&state, &s), true)),
        Some(s) => {
            let reason = if s.last.index == base.index {
                format!(
                    "holds the state through {}, but {wal_name} starts after {base}: the files disagree",
                    s.last
                )
            } else {
                format!(
                    "holds the state through {}, but {wal_name} starts after {base}: \
                     the entries {} to {} are in neither file",
                    s.last,
                    s.last.index.next(),
                    base.index
                )
            };
            Err(StorageError::Corrupt {
                path: snap.display().to_string(),
                offset: SNAP_LAST_AT as u64,
                reason,
            })
        }
    }
}

impl DiskStorage {
    /// The log file of `node` under `dir`.
    pub fn path_for(dir: &Path, node: NodeId) -> PathBuf {
        dir.join(format!("{node}.wal"))
    }

    /// The snapshot file of `node` under `dir` (present once the node has a snapshot).
    pub fn snapshot_path_for(dir: &Path, node: NodeId) -> PathBuf {
        dir.join(format!("{node}.snap"))
    }

    fn temp_log_path(dir: &Path, node: NodeId) -> PathBuf {
        dir.join(format!("{node}.wal.new"))
    }

    fn temp_snapshot_path(dir: &Path, node: NodeId) -> PathBuf {
        dir.join(format!("{node}.snap.new"))
    }

    /// Creates the empty log of `node` of cluster `cluster` under `dir`, atomically: the header
    /// record is written to a temporary file, synced, and renamed into place, and the directory
    /// is synced. Fails if the file exists.
    pub fn create(dir: &Path, node: NodeId, cluster: u64) -> Result<(), StorageError> {
        let path = Self::path_for(dir, node);
        let io = io_error(&path);
        if path.exists() {
            return Err(io(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "the log already exists")));
        }
        let sealed = (HEADER + FILE_HEADER_LEN) as u64;
        let record =
            encode_record(0, &file_header_payload(node, cluster, EntryId::default(), sealed)).map_err(
                |reason| StorageError::Corrupt { path: path.display().to_string(), offset: 0, reason },
            )?;
        let tmp = Self::temp_log_path(dir, node);
        let steps = [Step::LogTorn, Step::LogWritten, Step::LogSynced, Step::LogRenamed];
        write_and_rename(dir, &tmp, &path, &[&record], true, None, steps).map(drop)
    }

    /// Opens the files of `node` of cluster `cluster` under `dir`: replays the log, reads the
    /// snapshot, and finishes a cut of the log that a crash interrupted (see the module docs).
    /// A torn tail is cut off (see [`DiskStorage::warnings`]); damage, a missing log, a log
    /// whose snapshot is missing, or a file of another node or cluster is an error, and the
    /// files are left as they are.
    pub fn open(dir: &Path, node: NodeId, cluster: u64, fsync: FsyncPolicy) -> Result<Self, StorageError> {
        let path = Self::path_for(dir, node);
        let io = io_error(&path);
        let mut file = OpenOptions::new().read(true).append(true).open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                io(std::io::Error::new(
                    e.kind(),
                    "the log is missing from a data directory that holds this cluster; \
                     the node cannot know what it acknowledged",
                ))
            } else {
                io(e)
            }
        })?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(&io)?;
        let replayed = replay(&path, &bytes, node, cluster)?;
        let snap_path = Self::snapshot_path_for(dir, node);
        let snapshot = match std::fs::read(&snap_path) {
            Ok(snap) => Some(read_snapshot(&snap_path, snap, node, cluster)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error(&snap_path)(e)),
        };
        let (state, finish_cut) = reconcile(&path, &snap_path, replayed.state, snapshot)?;
        // Both files are read and agree: from here on the directory may change.
        for leftover in [Self::temp_snapshot_path(dir, node), Self::temp_log_path(dir, node)] {
            match std::fs::remove_file(&leftover) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&leftover)(e)),
            }
        }
        let mut warnings = replayed.warnings;
        let (file, next_record) = if finish_cut {
            // Steps 4 and 5 of the cut, from the state the snapshot and the old log give.
            drop(file);
            let (image, records) = log_image(node, cluster, &state).map_err(|reason| {
                StorageError::Corrupt { path: path.display().to_string(), offset: 0, reason }
            })?;
            let tmp = Self::temp_log_path(dir, node);
            let steps = [Step::LogTorn, Step::LogWritten, Step::LogSynced, Step::LogRenamed];
            let file = write_and_rename(dir, &tmp, &path, &[&image], true, None, steps)?;
            let last = state.base;
            warnings.push(format!(
                "{}: finished cutting the log after the snapshot {last} (a crash had stopped it \
                 after the snapshot was saved)",
                path.display()
            ));
            (file, records)
        } else {
            if replayed.valid_len < bytes.len() {
                file.set_len(replayed.valid_len as u64).map_err(&io)?;
            }
            // What was replayed is taken as durable from now on: make sure it is (a process
            // killed between its flush and its fsync leaves records in the cache only).
            file.sync_all().map_err(&io)?;
            file.seek(SeekFrom::End(0)).map_err(&io)?;
            (file, replayed.records)
        };
        Ok(DiskStorage {
            dir: dir.to_path_buf(),
            node,
            cluster,
            path,
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            fsync,
            dirty: false,
            poisoned: false,
            next_record,
            warnings,
            state,
            stop_at: None,
        })
    }

    /// What recovery repaired when the files were opened.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The snapshot file's path (the file exists once the node has a snapshot).
    pub fn snapshot_path(&self) -> PathBuf {
        Self::snapshot_path_for(&self.dir, self.node)
    }

    /// Makes the next `save_snapshot` stop after `step`, as a crash would.
    #[cfg(test)]
    pub(crate) fn stop_after(&mut self, step: Step) {
        self.stop_at = Some(step);
    }

    fn write_record(&mut self, payload: &[u8]) -> Result<(), StorageError> {
        let record = encode_record(self.next_record, payload).map_err(|reason| StorageError::Corrupt {
            path: self.path.display().to_string(),
            offset: 0,
            reason,
        })?;
        let result = self.writer().and_then(|w| w.write_all(&record));
        self.check(result)?;
        self.next_record += 1;
        self.dirty = true;
        Ok(())
    }

    fn writer(&mut self) -> std::io::Result<&mut BufWriter<File>> {
        if self.poisoned {
            return Err(std::io::Error::other("an earlier write failed; the log is closed"));
        }
        self.file.as_mut().ok_or_else(|| std::io::Error::other("the log is closed"))
    }

    /// Turns an I/O result into a storage error, poisoning the store on failure.
    fn check<T>(&mut self, result: std::io::Result<T>) -> Result<T, StorageError> {
        result.map_err(|error| {
            self.poisoned = true;
            StorageError::Io { path: self.path.display().to_string(), error }
        })
    }

    /// Steps 2 to 5 of saving a snapshot (the module docs): the new log, its record count and
    /// the state it holds.
    fn cut(&self, snapshot: &Snapshot) -> Result<(File, u64, Recovered), StorageError> {
        let fsync = self.fsync == FsyncPolicy::Always;
        let state = after_snapshot(&self.state, snapshot);
        let (image, records) = log_image(self.node, self.cluster, &state).map_err(|reason| {
            StorageError::Corrupt { path: self.path.display().to_string(), offset: 0, reason }
        })?;
        let header = snapshot_header(self.node, self.cluster, snapshot);
        let (snap, snap_tmp) = (self.snapshot_path(), Self::temp_snapshot_path(&self.dir, self.node));
        let steps = [Step::SnapTorn, Step::SnapWritten, Step::SnapSynced, Step::SnapRenamed];
        let parts: [&[u8]; 2] = [&header, &snapshot.data];
        write_and_rename(&self.dir, &snap_tmp, &snap, &parts, fsync, self.stop_at, steps)?;
        stop(self.stop_at, Step::SnapDirSynced, &snap)?;
        let tmp = Self::temp_log_path(&self.dir, self.node);
        let steps = [Step::LogTorn, Step::LogWritten, Step::LogSynced, Step::LogRenamed];
        let file = write_and_rename(&self.dir, &tmp, &self.path, &[&image], fsync, self.stop_at, steps)?;
        Ok((file, records, state))
    }
}

impl Storage for DiskStorage {
    type Error = StorageError;

    fn recover(&mut self) -> Result<Recovered, StorageError> {
        Ok(self.state.clone())
    }

    fn save_hard_state(&mut self, hard_state: HardState) -> Result<(), StorageError> {
        self.write_record(&hard_state_payload(hard_state))?;
        self.state.hard_state = hard_state;
        Ok(())
    }

    fn write_entries(&mut self, from: LogIndex, entries: &[Entry]) -> Result<(), StorageError> {
        let base = self.state.base.index;
        let end = base.0 + 1 + self.state.entries.len() as u64;
        let in_place = entries.iter().enumerate().all(|(i, e)| e.index.0 == from.0 + i as u64);
        if from <= base || from.0 > end || !in_place {
            // Never written: the log would not replay.
            let reason = format!("entries from {from} do not follow the log (base {base}, {end} next)");
            return Err(StorageError::Io {
                path: self.path.display().to_string(),
                error: std::io::Error::new(std::io::ErrorKind::InvalidInput, reason),
            });
        }
        self.write_record(&entries_payload(from, entries))?;
        apply_entries(&mut self.state, from, entries.to_vec());
        Ok(())
    }

    /// The sequence and its crash-safety argument are in the module docs.
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        if snapshot.last.index <= self.state.base.index {
            return Ok(());
        }
        if let Err(why) = check_snapshot_data(snapshot.last, &snapshot.data) {
            let error = std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("refusing to store the snapshot {}: {why}", snapshot.last),
            );
            return Err(StorageError::Io { path: self.snapshot_path().display().to_string(), error });
        }
        let ready = self.writer().map(drop);
        self.check(ready)?;
        // Step 1: nothing buffered stays behind for the old log.
        self.sync()?;
        let result = stop(self.stop_at, Step::Flushed, &self.path).and_then(|()| self.cut(snapshot));
        let (file, records, state) = result.inspect_err(|_| self.poisoned = true)?;
        if let Some(old) = self.file.replace(BufWriter::with_capacity(1 << 20, file)) {
            // Synced in step 1: nothing is buffered.
            let _ = old.into_parts();
        }
        self.next_record = records;
        self.dirty = false;
        self.state = state;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        if !self.dirty {
            return Ok(());
        }
        let always = self.fsync == FsyncPolicy::Always;
        let result = self.writer().and_then(|w| {
            w.flush()?;
            if always { w.get_ref().sync_data() } else { Ok(()) }
        });
        self.check(result)?;
        self.dirty = false;
        Ok(())
    }
}

impl Drop for DiskStorage {
    /// Closing a healthy log writes a close record after everything buffered, and syncs it: a
    /// valid record at the very end, so damage to the records before it is always followed by a
    /// valid record and recognised as damage, never cut as a torn tail. (A log that was not
    /// closed, after a crash, has no such guard for its last records.)
    fn drop(&mut self) {
        if self.poisoned {
            // Discard what is buffered: it must never land after a restart has read the file.
            if let Some(w) = self.file.take() {
                let _ = w.into_parts();
            }
            return;
        }
        if self.write_record(&[CLOSE]).is_ok() {
            let _ = self.sync();
        }
        if let Some(w) = self.file.take() {
            drop(w);
        }
    }
}

fn apply_entries(state: &mut Recovered, from: LogIndex, entries: Vec<Entry>) {
    let keep = from.0.saturating_sub(state.base.index.0 + 1) as usize;
    state.entries.truncate(keep);
    state.entries.extend(entries);
}

fn encode_entry(out: &mut Vec<u8>, e: &Entry) {
    out.extend_from_slice(&e.index.0.to_le_bytes());
    out.extend_from_slice(&e.term.0.to_le_bytes());
    match e.command.as_deref() {
        None => out.push(TAG_NOOP),
        Some(Command::Put { id, ack, key, value, time }) => {
            out.push(TAG_PUT);
            for n in [id.client.0, id.seq, *ack, *time] {
                out.extend_from_slice(&n.to_le_bytes());
            }
            put_str(out, key);
            put_str(out, value);
        }
        Some(Command::Register { nonce, time }) => {
            out.push(TAG_REGISTER);
            out.extend_from_slice(&nonce.to_le_bytes());
            out.extend_from_slice(&time.to_le_bytes());
        }
    }
}

fn decode_entry(r: &mut Reader<'_>) -> Result<Entry, String> {
    let index = LogIndex(r.u64()?);
    let term = Term(r.u64()?);
    let command = match r.u8()? {
        TAG_NOOP => None,
        TAG_PUT => {
            let id = RequestId { client: ClientId(r.u64()?), seq: r.u64()? };
            let (ack, time) = (r.u64()?, r.u64()?);
            Some(Arc::new(Command::Put { id, ack, key: r.string()?, value: r.string()?, time }))
        }
        TAG_REGISTER => Some(Arc::new(Command::Register { nonce: r.u64()?, time: r.u64()? })),
        t => return Err(format!("unknown command tag {t}")),
    };
    Ok(Entry { index, term, command })
}

/// Applies one record's payload to the state being rebuilt. The file header is checked by
/// [`replay`]; here it is out of place.
fn apply_record(state: &mut Recovered, payload: &[u8]) -> Result<(), String> {
    let mut r = Reader::new(payload);
    match r.u8()? {
        HARD_STATE => {
            let term = Term(r.u64()?);
            let vote = r.u64()?.checked_sub(1).map(NodeId);
            state.hard_state = HardState { term, vote };
        }
        ENTRIES => {
            let from = LogIndex(r.u64()?);
            let mut entries = Vec::new();
            while !r.done() {
                entries.push(decode_entry(&mut r)?);
            }
            let expected_from = state.base.index.0 + 1 + state.entries.len() as u64;
            if from.0 > expected_from || from.0 <= state.base.index.0 {
                return Err(format!(
                    "entries from {from} leave a gap after {} stored entries",
                    state.entries.len()
                ));
            }
            for (i, e) in entries.iter().enumerate() {
                if e.index.0 != from.0 + i as u64 {
                    return Err(format!("entry {} out of place", EntryId { index: e.index, term: e.term }));
                }
            }
            apply_entries(state, from, entries);
        }
        CLOSE => {}
        FILE_HEADER => return Err("a second file header".into()),
        t => return Err(format!("unknown record type {t}")),
    }
    if !r.done() {
        return Err("trailing bytes in record".into());
    }
    Ok(())
}

/// Decodes a file header record's payload (format 2 or 3).
fn read_file_header(payload: &[u8]) -> Result<FileHeader, String> {
    let mut r = Reader::new(payload);
    if r.u8()? != FILE_HEADER {
        return Err("the first record is not a file header".into());
    }
    let format = r.u32()?;
    if format != FORMAT && format != FORMAT_NO_BASE {
        return Err(format!("format {format}, but this quorum reads formats {FORMAT_NO_BASE} and {FORMAT}"));
    }
    let (node, cluster) = (NodeId(r.u64()?), r.u64()?);
    let (base, sealed) = if format == FORMAT_NO_BASE {
        (EntryId::default(), (HEADER + payload.len()) as u64)
    } else {
        (EntryId { index: LogIndex(r.u64()?), term: Term(r.u64()?) }, r.u64()?)
    };
    if !r.done() {
        return Err("trailing bytes in the file header".into());
    }
    if base.index.0 == 0 && base.term.0 != 0 {
        return Err(format!("a log base of {base}"));
    }
    if sealed < (HEADER + payload.len()) as u64 {
        return Err(format!("a sealed length of {sealed} bytes, shorter than the file header"));
    }
    Ok(FileHeader { node, cluster, base, sealed })
}

/// Checks the file header record's payload: format, node and cluster.
fn check_file_header(payload: &[u8], node: NodeId, cluster: u64) -> Result<FileHeader, String> {
    let header = read_file_header(payload)?;
    if header.node != node {
        return Err(format!("this is the log of {}, not of {node}", header.node));
    }
    if header.cluster != cluster {
        return Err(format!(
            "this log belongs to cluster {:016x}, not to this directory's {cluster:016x}",
            header.cluster
        ));
    }
    Ok(header)
}

/// The record at `offset`: its number and payload, or why there is none. A record that passes
/// its checksum was written whole; it is returned whatever its number (the caller judges it).
fn record_at(bytes: &[u8], offset: usize) -> Result<(u64, &[u8]), String> {
    let rest = &bytes[offset..];
    if rest.len() < HEADER {
        return Err(format!("an incomplete record header ({} bytes)", rest.len()));
    }
    if rest[..4] != MAGIC {
        return Err("no record starts here (bad magic)".into());
    }
    let le32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let found = u64::from_le_bytes(rest[4..12].try_into().map_err(|_| "short header")?);
    let len = le32(&rest[12..16]) as usize;
    if rest.len() - HEADER < len {
        return Err(format!("a record of {len} bytes runs past the end of the file"));
    }
    let payload = &rest[HEADER..HEADER + len];
    if checksum(&rest[..16], payload) != le32(&rest[16..20]) {
        return Err("checksum mismatch".into());
    }
    Ok((found, payload))
}

/// The first offset after `from` where a valid record numbered at least `number` starts, if
/// any. (Records after damage carry higher numbers; requiring it keeps a record that a client's
/// value happens to embed from passing for one.)
fn next_valid_record(bytes: &[u8], from: usize, number: u64) -> Option<usize> {
    let end = bytes.len().checked_sub(HEADER)?;
    (from..=end)
        .find(|&o| bytes[o..o + 4] == MAGIC && record_at(bytes, o).is_ok_and(|(found, _)| found >= number))
}

/// What replaying a file gave.
struct Replayed {
    state: Recovered,
    /// Bytes of the valid prefix.
    valid_len: usize,
    /// Records in it (the next record's number).
    records: u64,
    warnings: Vec<String>,
}

/// Replays a whole file: the header, then every record, then the torn-or-damaged rule. The
/// state's `snapshot` is left `None` (the snapshot file is another file).
fn replay(path: &Path, bytes: &[u8], node: NodeId, cluster: u64) -> Result<Replayed, StorageError> {
    let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
        path: path.display().to_string(),
        offset: offset as u64,
        reason,
    };
    let header = match record_at(bytes, 0) {
        Ok((0, payload)) => payload,
        Ok((n, _)) => return Err(corrupt(0, format!("the file header is damaged: record number {n}"))),
        Err(why) => return Err(corrupt(0, format!("the file header is damaged: {why}"))),
    };
    let file_header = check_file_header(header, node, cluster).map_err(|why| corrupt(0, why))?;
    let sealed = usize::try_from(file_header.sealed).unwrap_or(usize::MAX);
    let mut state = Recovered { base: file_header.base, ..Recovered::default() };
    let mut offset = HEADER + header.len();
    let mut number = 1u64;
    let mut warnings = Vec::new();
    while offset < bytes.len() {
        let problem = match record_at(bytes, offset) {
            Ok((found, payload)) => {
                // A record that passes its checksum was written whole: if it is out of place
                // or does not make sense, no crash explains it.
                if found != number {
                    return Err(corrupt(
                        offset,
                        format!("record number {found} where {number} was expected"),
                    ));
                }
                apply_record(&mut state, payload).map_err(|why| corrupt(offset, why))?;
                offset += HEADER + payload.len();
                number += 1;
                continue;
            }
            Err(why) => why,
        };
        if let Some(next) = next_valid_record(bytes, offset + 1, number) {
            return Err(corrupt(offset, format!("{problem}, and a valid record follows at offset {next}")));
        }
        if offset < sealed {
            return Err(corrupt(
                offset,
                format!(
                    "{problem}, within the first {sealed} bytes, which were synced before the log was named"
                ),
            ));
        }
        warnings.push(format!(
            "{}: cut off a torn write at offset {offset} ({problem}; {} bytes dropped, no valid record after them)",
            path.display(),
            bytes.len() - offset
        ));
        break;
    }
    if bytes.len() < sealed {
        return Err(corrupt(
            bytes.len(),
            format!("the log ends within its first {sealed} bytes, which were synced before it was named"),
        ));
    }
    Ok(Replayed { state, valid_len: offset, records: number, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    const CLUSTER: u64 = 0x00c0_ffee_0000_0001;

    fn entry(index: u64, term: u64, value: &str) -> Entry {
        let id = RequestId { client: ClientId(7), seq: index };
        let command = Command::Put { id, ack: index, key: "k".into(), value: value.into(), time: index * 3 };
        Entry { index: LogIndex(index), term: Term(term), command: Some(Arc::new(command)) }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("quorum-wal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    fn open(dir: &Path) -> Result<DiskStorage, StorageError> {
        DiskStorage::open(dir, NodeId(1), CLUSTER, FsyncPolicy::Always)
    }

    fn write_some(dir: &Path) -> PathBuf {
        DiskStorage::create(dir, NodeId(1), CLUSTER).expect("create");
        let mut s = open(dir).expect("open");
        s.save_hard_state(HardState { term: Term(2), vote: Some(NodeId(3)) }).expect("write");
        s.write_entries(LogIndex(1), &[entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")]).expect("write");
        s.write_entries(LogIndex(3), &[entry(3, 2, "d")]).expect("write");
        s.sync().expect("sync");
        s.path().to_path_buf()
    }

    /// The offsets where records start, read off a valid file.
    fn boundaries(bytes: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut o = 0;
        while o < bytes.len() {
            out.push(o);
            let len = u32::from_le_bytes(bytes[o + 12..o + 16].try_into().expect("4 bytes")) as usize;
            o += HEADER + len;
        }
        out
    }

    #[test]
    fn round_trip_with_truncation() {
        let dir = temp_dir("roundtrip");
        write_some(&dir);
        let mut s = open(&dir).expect("reopen");
        let r = s.recover().expect("recover");
        assert_eq!(r.hard_state, HardState { term: Term(2), vote: Some(NodeId(3)) });
        let ids: Vec<String> = r.entries.iter().map(|e| e.id().to_string()).collect();
        assert_eq!(ids, ["1@1", "2@1", "3@2"]);
        assert_eq!(r.entries[1].command, entry(2, 1, "b").command, "commands round-trip whole");
        assert!(s.warnings().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_register_command_round_trips() {
        let dir = temp_dir("register");
        DiskStorage::create(&dir, NodeId(1), CLUSTER).expect("create");
        let register = Entry {
            index: LogIndex(1),
            term: Term(1),
            command: Some(Arc::new(Command::Register { nonce: 99, time: 1234 })),
        };
        let mut s = open(&dir).expect("open");
        s.write_entries(LogIndex(1), std::slice::from_ref(&register)).expect("write");
        s.sync().expect("sync");
        drop(s);
        assert_eq!(open(&dir).expect("reopen").recover().expect("recover").entries, [register]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn torn_tail_is_cut_with_a_warning_and_writing_carries_on() {
        let dir = temp_dir("torn");
        let path = write_some(&dir);
        let full = std::fs::read(&path).expect("read");
        // A crash mid-write: the last record cut in half, and no close record after it.
        let starts = boundaries(&full);
        let last_data = starts[starts.len() - 2];
        std::fs::write(&path, &full[..last_data + 15]).expect("write");
        let mut s = open(&dir).expect("torn tail is not fatal");
        assert_eq!(s.warnings().len(), 1, "{:?}", s.warnings());
        assert!(s.warnings()[0].contains("torn write"), "{:?}", s.warnings());
        let r = s.recover().expect("recover");
        assert_eq!(r.entries.len(), 3, "the torn truncate+append is dropped, the rest kept");
        assert_eq!(r.entries[2].id().to_string(), "3@1");
        // The file was cut to the valid prefix, so new writes follow cleanly (record numbers too).
        s.write_entries(LogIndex(4), &[entry(4, 2, "e")]).expect("write");
        s.sync().expect("sync");
        let mut again = open(&dir).expect("reopen");
        assert_eq!(again.recover().expect("recover").entries.len(), 4);
        assert!(again.warnings().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Pitfall 14: a header of 0xFF in the middle passed the old checksum and was taken for a
    /// torn tail, dropping every record after it.
    #[test]
    fn a_run_of_0xff_at_a_record_header_in_the_middle_is_damage() {
        let dir = temp_dir("ff");
        let path = write_some(&dir);
        let mut bytes = std::fs::read(&path).expect("read");
        let second = boundaries(&bytes)[2];
        bytes[second..second + HEADER].fill(0xff);
        std::fs::write(&path, &bytes).expect("write");
        let err = open(&dir).err().expect("damage must fail");
        let msg = err.to_string();
        assert!(msg.contains("n1.wal") && msg.contains(&format!("offset {second}")), "{msg}");
        assert!(msg.contains("a valid record follows"), "{msg}");
        assert_eq!(std::fs::read(&path).expect("read"), bytes, "nothing rewritten");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A log closed cleanly ends with a close record, so damage to its last data record is
    /// followed by a valid record: damage, not a torn tail (which only a crash leaves).
    #[test]
    fn damage_to_the_last_record_of_a_closed_log_is_damage() {
        let dir = temp_dir("closed");
        let path = write_some(&dir);
        let mut bytes = std::fs::read(&path).expect("read");
        let starts = boundaries(&bytes);
        assert_eq!(bytes[starts[starts.len() - 1] + HEADER], CLOSE, "the log ends with a close record");
        let last_data = starts[starts.len() - 2];
        bytes[last_data + HEADER + 3] ^= 0x01;
        std::fs::write(&path, &bytes).expect("write");
        let err = open(&dir).err().expect("damage must fail");
        assert!(err.to_string().contains("checksum mismatch, and a valid record follows"), "{err}");
        // Damage to the close record itself loses nothing: it is cut as a torn tail.
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[last_data + HEADER + 3] ^= 0x01;
        let end = bytes.len();
        bytes[end - 1] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");
        let mut s = open(&dir).expect("a damaged close record is a torn tail");
        assert_eq!(s.recover().expect("recover").entries.len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A record that passes its checksum but carries the wrong number was not left by a crash.
    #[test]
    fn a_whole_record_out_of_place_at_the_end_is_damage() {
        let dir = temp_dir("number");
        let path = write_some(&dir);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.extend(encode_record(99, &[CLOSE]).expect("record"));
        std::fs::write(&path, &bytes).expect("write");
        let err = open(&dir).err().expect("must fail");
        assert!(err.to_string().contains("record number 99 where"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_whole_file_of_0xff_or_zeros_is_damage_not_an_empty_log() {
        let dir = temp_dir("allff");
        let path = write_some(&dir);
        let len = std::fs::read(&path).expect("read").len();
        for byte in [0xffu8, 0x00] {
            std::fs::write(&path, vec![byte; len]).expect("write");
            let err = open(&dir).err().expect("must fail");
            assert!(err.to_string().contains("file header is damaged"), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_zeroed_tail_is_a_torn_write() {
        let dir = temp_dir("zeros");
        let path = write_some(&dir);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.extend_from_slice(&[0u8; 40]);
        std::fs::write(&path, &bytes).expect("write");
        let mut s = open(&dir).expect("zeros are torn, not fatal");
        assert!(s.warnings()[0].contains("bad magic"), "{:?}", s.warnings());
        assert_eq!(s.recover().expect("recover").entries.len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_log_of_another_node_or_cluster_or_a_missing_one_is_refused() {
        let dir = temp_dir("owner");
        write_some(&dir);
        let other =
            DiskStorage::open(&dir, NodeId(1), CLUSTER + 1, FsyncPolicy::Always).err().expect("cluster");
        assert!(other.to_string().contains("belongs to cluster"), "{other}");
        std::fs::rename(dir.join("n1.wal"), dir.join("n2.wal")).expect("rename");
        let other = DiskStorage::open(&dir, NodeId(2), CLUSTER, FsyncPolicy::Always).err().expect("node");
        assert!(other.to_string().contains("log of n1, not of n2"), "{other}");
        let missing = open(&dir).err().expect("missing");
        assert!(missing.to_string().contains("missing"), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_poisoned_store_never_writes_its_buffer() {
        let dir = temp_dir("poison");
        let path = write_some(&dir);
        let before = std::fs::read(&path).expect("read");
        let mut s = open(&dir).expect("open");
        s.write_entries(LogIndex(4), &[entry(4, 2, "lost")]).expect("buffered");
        s.poisoned = true; // as after a failed write or sync
        drop(s);
        assert_eq!(std::fs::read(&path).expect("read"), before, "the buffer reached the file");
        let _ = std::fs::remove_dir_all(&dir);
    }

    // ------------------------------------------------------------------ snapshots

    /// A snapshot through `index@term` whose data are a real key-value state at `index`: a
    /// session registered at 1, then puts over `keys` keys.
    fn snapshot_with(index: u64, term: u64, keys: u64) -> Snapshot {
        let mut kv = Kv::new();
        for i in 1..=index {
            let command = if i == 1 {
                Command::Register { nonce: 1, time: 1 }
            } else {
                let id = RequestId { client: ClientId(1), seq: i };
                let (key, value) =
                    (format!("key{:04}", i % keys.max(1)), format!("value {i} {}", "x".repeat(20)));
                Command::Put { id, ack: i, key, value, time: i }
            };
            kv.apply(LogIndex(i), Some(&Arc::new(command)));
        }
        Snapshot { last: EntryId { index: LogIndex(index), term: Term(term) }, data: Arc::new(kv.snapshot()) }
    }

    fn snapshot_at(index: u64, term: u64) -> Snapshot {
        snapshot_with(index, term, 5)
    }

    /// Every file in `dir` with its contents.
    fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir)
            .expect("list")
            .map(|e| {
                let e = e.expect("entry");
                (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read"))
            })
            .collect()
    }

    /// The same calls on the disk store and on the model.
    struct Both {
        disk: DiskStorage,
        model: MemStorage,
    }

    impl Both {
        fn new(dir: &Path, fsync: FsyncPolicy) -> Both {
            DiskStorage::create(dir, NodeId(1), CLUSTER).expect("create");
            let disk = DiskStorage::open(dir, NodeId(1), CLUSTER, fsync).expect("open");
            Both { disk, model: MemStorage::new() }
        }
        fn hard_state(&mut self, term: u64, vote: Option<u64>) {
            let hs = HardState { term: Term(term), vote: vote.map(NodeId) };
            self.disk.save_hard_state(hs).expect("disk");
            self.model.save_hard_state(hs).expect("model");
        }
        /// Entries from `from`, with these terms.
        fn entries(&mut self, from: u64, terms: &[u64]) {
            let entries: Vec<Entry> = terms
                .iter()
                .enumerate()
                .map(|(i, &t)| entry(from + i as u64, t, &format!("v{}", from + i as u64)))
                .collect();
            self.disk.write_entries(LogIndex(from), &entries).expect("disk");
            self.model.write_entries(LogIndex(from), &entries).expect("model");
        }
        fn snapshot(&mut self, snapshot: &Snapshot) {
            self.disk.save_snapshot(snapshot).expect("disk");
            self.model.save_snapshot(snapshot).expect("model");
        }
        fn model_state(&mut self) -> Recovered {
            self.model.recover().expect("model")
        }
    }

    #[test]
    fn entries_a_snapshot_and_more_entries_reopen_as_the_model_holds_them() {
        for fsync in [FsyncPolicy::Always, FsyncPolicy::Never] {
            let dir = temp_dir(&format!("snap-roundtrip-{fsync:?}"));
            let mut b = Both::new(&dir, fsync);
            b.hard_state(1, Some(2));
            b.entries(1, &[1, 1, 1, 2, 2]);
            b.disk.sync().expect("sync");
            b.snapshot(&snapshot_at(3, 1));
            b.entries(5, &[3, 3]); // replaces 5@2, appends 6@3
            b.hard_state(3, None);
            b.disk.sync().expect("sync");
            let mid = b.model_state();
            assert_eq!(b.disk.recover().expect("recover"), mid, "the store's own view");
            assert_eq!(mid.base, EntryId { index: LogIndex(3), term: Term(1) });
            assert_eq!(
                mid.entries.iter().map(|e| e.id().to_string()).collect::<Vec<_>>(),
                ["4@2", "5@3", "6@3"]
            );
            // A second snapshot replaces the first; a stale one changes nothing.
            b.snapshot(&snapshot_at(5, 3));
            b.snapshot(&snapshot_at(4, 2));
            b.entries(7, &[4]);
            let expected = b.model_state();
            drop(b.disk);
            let mut again = open(&dir).expect("reopen");
            assert_eq!(again.recover().expect("recover"), expected);
            assert!(again.warnings().is_empty(), "{:?}", again.warnings());
            assert!(!dir.join("n1.snap.new").exists() && !dir.join("n1.wal.new").exists());
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn a_snapshot_shrinks_the_log_file() {
        let dir = temp_dir("snap-shrink");
        let mut b = Both::new(&dir, FsyncPolicy::Always);
        b.hard_state(1, Some(1));
        let terms = vec![1; 500];
        b.entries(1, &terms);
        b.disk.sync().expect("sync");
        let before = std::fs::metadata(b.disk.path()).expect("stat").len();
        b.snapshot(&snapshot_at(495, 1));
        let after = std::fs::metadata(b.disk.path()).expect("stat").len();
        assert!(after * 20 < before, "the log went from {before} to {after} bytes");
        let snap = std::fs::metadata(dir.join("n1.snap")).expect("stat").len();
        assert!(snap < before / 10, "the snapshot holds 5 keys, not the log: {snap} bytes");
        let expected = b.model_state();
        assert_eq!(expected.entries.len(), 5);
        drop(b.disk);
        assert_eq!(open(&dir).expect("reopen").recover().expect("recover"), expected);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_stale_snapshot_changes_nothing_and_bad_data_are_refused_before_any_write() {
        let dir = temp_dir("snap-stale");
        let mut b = Both::new(&dir, FsyncPolicy::Always);
        b.entries(1, &[1, 1, 1]);
        b.snapshot(&snapshot_at(2, 1));
        b.disk.sync().expect("sync");
        let held = files(&dir);
        b.disk.save_snapshot(&snapshot_at(2, 1)).expect("the same snapshot again");
        b.disk.save_snapshot(&snapshot_at(1, 1)).expect("an older one");
        assert_eq!(files(&dir), held);
        for data in [b"junk".to_vec(), snapshot_at(2, 1).data.to_vec()] {
            let bad = Snapshot { last: EntryId { index: LogIndex(3), term: Term(1) }, data: Arc::new(data) };
            let err = b.disk.save_snapshot(&bad).expect_err("data that do not decode at 3");
            assert!(err.to_string().contains("n1.snap: refusing to store the snapshot 3@1"), "{err}");
            assert_eq!(files(&dir), held, "nothing written");
        }
        // A write the log could not replay is refused, not written.
        let err = b.disk.write_entries(LogIndex(2), &[entry(2, 1, "x")]).expect_err("before the base");
        assert!(err.to_string().contains("do not follow the log"), "{err}");
        let err = b.disk.write_entries(LogIndex(5), &[entry(5, 1, "x")]).expect_err("a gap");
        assert!(err.to_string().contains("do not follow the log"), "{err}");
        b.entries(4, &[2]);
        let expected = b.model_state();
        drop(b.disk);
        assert_eq!(open(&dir).expect("reopen").recover().expect("recover"), expected);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every step `save_snapshot` can be stopped after, and which state recovery must give:
    /// the one before the snapshot until `n1.snap` has its name, the one after from then on.
    const STEPS: [(Step, bool); 10] = [
        (Step::Flushed, false),
        (Step::SnapTorn, false),
        (Step::SnapWritten, false),
        (Step::SnapSynced, false),
        (Step::SnapRenamed, true),
        (Step::SnapDirSynced, true),
        (Step::LogTorn, true),
        (Step::LogWritten, true),
        (Step::LogSynced, true),
        (Step::LogRenamed, true),
    ];

    /// A store holding term 4 with a vote, an old snapshot through 2@1, and entries 3 to 6 of
    /// terms 2, 2, 2, 3; all synced.
    fn store_before(dir: &Path) -> Both {
        let mut b = Both::new(dir, FsyncPolicy::Always);
        b.hard_state(4, Some(2));
        b.entries(1, &[1, 1, 2, 2, 2, 3]);
        b.snapshot(&snapshot_at(2, 1));
        b.disk.sync().expect("sync");
        b
    }

    /// Crashes `save_snapshot` at `step` (`None`: after it returned, with `then` buffered and
    /// never synced), reopens, and returns what recovery gave. Checks that no leftover remains
    /// and that the store carries on: a write after the recovered log's end survives a reopen.
    fn crash_and_reopen(
        dir: &Path,
        mut b: Both,
        snapshot: &Snapshot,
        step: Option<Step>,
        then: bool,
    ) -> Recovered {
        match step {
            Some(step) => {
                b.disk.stop_after(step);
                let err = b.disk.save_snapshot(snapshot).expect_err("stopped");
                assert!(err.to_string().contains("as by a crash"), "{err}");
            }
            None => {
                b.disk.save_snapshot(snapshot).expect("saved");
                if then {
                    b.disk.write_entries(snapshot.last.index.next(), &[]).expect("buffered");
                }
                b.disk.poisoned = true; // killed: nothing more reaches the file
            }
        }
        drop(b.disk);
        let mut s = open(dir).unwrap_or_else(|e| panic!("reopen after a crash at {step:?}: {e}"));
        let got = s.recover().expect("recover");
        let finished = s.warnings().iter().any(|w| w.contains("finished cutting the log after the snapshot"));
        let snap_named = step.is_none_or(|st| STEPS.iter().any(|&(s, after)| s == st && after));
        let log_named = step.is_none() || step == Some(Step::LogRenamed);
        assert_eq!(finished, snap_named && !log_named, "{step:?}: {:?}", s.warnings());
        assert!(!dir.join("n1.snap.new").exists() && !dir.join("n1.wal.new").exists(), "{step:?}: leftovers");
        let next = got.entries.last().map_or(got.base.index, |e| e.index).next();
        s.write_entries(next, &[entry(next.0, 9, "later")]).expect("write");
        s.sync().expect("sync");
        drop(s);
        let mut again = open(dir).expect("reopen again");
        let r = again.recover().expect("recover");
        assert!(again.warnings().is_empty(), "{step:?}: {:?}", again.warnings());
        assert_eq!((r.hard_state, r.base, &r.snapshot), (got.hard_state, got.base, &got.snapshot));
        assert_eq!(r.entries[..r.entries.len() - 1], got.entries[..], "{step:?}");
        assert_eq!(r.entries.last().map(Entry::id).map(|id| id.to_string()), Some(format!("{next}@9")));
        got
    }

    #[test]
    fn a_crash_at_any_step_of_a_snapshot_loses_nothing() {
        for (step, after_expected) in STEPS.map(|(s, a)| (Some(s), a)).into_iter().chain([(None, true)]) {
            let dir = temp_dir(&format!("crash-{step:?}"));
            let mut b = store_before(&dir);
            let before = b.model_state();
            let new = snapshot_at(5, 2);
            let mut model = b.model.clone();
            model.save_snapshot(&new).expect("model");
            let after = model.recover().expect("model");
            assert_eq!(after.entries.len(), 1, "6@3 follows 5@2 and stays");
            let got = crash_and_reopen(&dir, b, &new, step, false);
            assert_eq!(got, if after_expected { after } else { before.clone() }, "{step:?}");
            // Nothing lost: the term and vote, and every entry held, either in the snapshot
            // recovered (then the new one) or in the log with its term.
            assert_eq!(got.hard_state, before.hard_state);
            for e in &before.entries {
                let covered = got.snapshot.as_ref().is_some_and(|s| e.index <= s.last.index && *s == new);
                let kept = got.entries.iter().any(|g| g == e);
                assert!(covered || kept, "{step:?}: {} lost", e.id());
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// The install that discards the log (paper §7: the snapshot's last entry is not in the
    /// log): `save_snapshot`, then the write that drops every entry after it. Whatever the
    /// crash, recovery gives the old state or the new one, never the snapshot followed by
    /// entries of another history.
    #[test]
    fn a_crash_during_an_install_that_discards_the_log_gives_the_old_state_or_the_new() {
        // 5@4 conflicts with the log's 5@2; 9@4 lies past its end.
        for (index, term) in [(5, 4), (9, 4)] {
            let steps = STEPS.map(|(s, a)| (Some(s), a)).into_iter().chain([(None, true)]);
            for (step, after_expected) in steps {
                let dir = temp_dir(&format!("install-{index}-{step:?}"));
                let b = store_before(&dir);
                let before = b.model.clone().recover().expect("model");
                let new = snapshot_at(index, term);
                let mut model = b.model.clone();
                model.save_snapshot(&new).expect("model");
                model.write_entries(new.last.index.next(), &[]).expect("model");
                let after = model.recover().expect("model");
                assert!(after.entries.is_empty());
                let got = crash_and_reopen(&dir, b, &new, step, true);
                assert!(got == before || got == after, "{index}@{term} at {step:?}: a mix: {got:?}");
                assert_eq!(got, if after_expected { after } else { before }, "{index}@{term} at {step:?}");
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }

    /// A directory with a snapshot through 3@1 and a log of the entries 4 and 5, closed.
    fn with_snapshot(dir: &Path, node: NodeId, cluster: u64) {
        DiskStorage::create(dir, node, cluster).expect("create");
        let mut s = DiskStorage::open(dir, node, cluster, FsyncPolicy::Always).expect("open");
        s.save_hard_state(HardState { term: Term(2), vote: Some(node) }).expect("write");
        let entries: Vec<Entry> = (1..=5).map(|i| entry(i, 1, "a")).collect();
        s.write_entries(LogIndex(1), &entries).expect("write");
        s.save_snapshot(&snapshot_at(3, 1)).expect("snapshot");
        s.sync().expect("sync");
    }

    #[test]
    fn a_damaged_snapshot_file_is_an_error_naming_it_and_nothing_is_rewritten() {
        let dir = temp_dir("snap-damage");
        with_snapshot(&dir, NodeId(1), CLUSTER);
        let snap = dir.join("n1.snap");
        let good = std::fs::read(&snap).expect("read");
        // A leftover that a successful open would remove: an error must leave it too.
        std::fs::write(dir.join("n1.snap.new"), b"half a snapshot").expect("write");
        let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
        for i in 0..good.len() {
            for x in [0x01u8, 0x80] {
                let mut b = good.clone();
                b[i] ^= x;
                cases.push((format!("byte {i} ^ {x:#x}"), b));
            }
        }
        for n in 0..good.len() {
            cases.push((format!("cut to {n} bytes"), good[..n].to_vec()));
        }
        cases.push(("zeroed".into(), vec![0; good.len()]));
        cases.push(("0xff".into(), vec![0xff; good.len()]));
        cases.push(("a byte more".into(), [good.as_slice(), &[0]].concat()));
        for (what, bytes) in &cases {
            std::fs::write(&snap, bytes).expect("write");
            let held = files(&dir);
            let err = open(&dir).err().unwrap_or_else(|| panic!("{what}: opened"));
            let msg = err.to_string();
            assert!(matches!(err, StorageError::Corrupt { .. }), "{what}: {msg}");
            assert!(msg.contains("n1.snap: corrupt record at offset "), "{what}: {msg}");
            assert_eq!(files(&dir), held, "{what}: rewritten");
        }
        // Which reasons: the tests of the wording, on a few.
        let reason = |bytes: &[u8]| {
            std::fs::write(&snap, bytes).expect("write");
            open(&dir).err().expect("error").to_string()
        };
        assert!(reason(&good[..30]).contains("offset 0: an incomplete snapshot header (30 of 52 bytes)"));
        assert!(reason(&good[..good.len() - 1]).contains("offset 40: the header says"));
        assert!(reason(&vec![0; good.len()]).contains("offset 0: not a snapshot file (bad magic)"));
        let mut flipped = good.clone();
        flipped[SNAP_HEADER + 3] ^= 1;
        assert!(reason(&flipped).contains("offset 0: checksum mismatch over the header and the"));
        // Files of another node or cluster, valid in themselves.
        for (node, cluster, words) in [
            (NodeId(2), CLUSTER, "offset 8: this is the snapshot of n2, not of n1"),
            (NodeId(1), CLUSTER + 1, "offset 16: this snapshot belongs to cluster"),
        ] {
            let other = temp_dir(&format!("snap-other-{node}-{cluster}"));
            with_snapshot(&other, node, cluster);
            let theirs = std::fs::read(DiskStorage::snapshot_path_for(&other, node)).expect("read");
            let msg = reason(&theirs);
            assert!(msg.contains("n1.snap") && msg.contains(words), "{msg}");
            let _ = std::fs::remove_dir_all(&other);
        }
        std::fs::write(&snap, &good).expect("write");
        let mut s = open(&dir).expect("the good file opens");
        assert_eq!(s.recover().expect("recover").snapshot, Some(snapshot_at(3, 1)));
        assert!(!dir.join("n1.snap.new").exists(), "the leftover is removed once both files are read");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_or_older_snapshot_file_is_refused() {
        let dir = temp_dir("snap-missing");
        with_snapshot(&dir, NodeId(1), CLUSTER);
        let snap = dir.join("n1.snap");
        let old = std::fs::read(&snap).expect("read");
        let mut s = open(&dir).expect("open");
        s.save_snapshot(&snapshot_at(5, 1)).expect("snapshot");
        drop(s);
        std::fs::write(&snap, &old).expect("write");
        let held = files(&dir);
        let msg = open(&dir).err().expect("older").to_string();
        assert!(
            msg.contains("n1.snap: corrupt record at offset 24: holds the state through 3@1, but n1.wal starts after 5@1: the entries 4 to 5 are in neither file"),
            "{msg}"
        );
        assert_eq!(files(&dir), held);
        std::fs::remove_file(&snap).expect("rm");
        let held = files(&dir);
        let msg = open(&dir).err().expect("missing").to_string();
        assert!(msg.contains("n1.snap: the snapshot is missing, but n1.wal starts after 5@1"), "{msg}");
        assert_eq!(files(&dir), held);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The records a snapshot's cut writes into the new log were synced before it was named: a
    /// log cut short among them was damaged, and is not taken for a torn write.
    #[test]
    fn a_cut_log_ending_within_its_sealed_length_is_damage() {
        let dir = temp_dir("sealed");
        with_snapshot(&dir, NodeId(1), CLUSTER);
        let path = dir.join("n1.wal");
        let full = std::fs::read(&path).expect("read");
        let header = read_file_header(record_at(&full, 0).expect("header").1).expect("header");
        let sealed = header.sealed as usize;
        assert_eq!(boundaries(&full).len(), 4, "header, term and vote, entries 4 and 5, close");
        assert_eq!(sealed, boundaries(&full)[3], "sealed: everything before the close record");
        for n in [HEADER + FILE_HEADER_LEN, sealed - 1, sealed - 30, boundaries(&full)[2]] {
            std::fs::write(&path, &full[..n]).expect("write");
            let msg = open(&dir).err().expect("damage").to_string();
            assert!(msg.contains("n1.wal") && msg.contains("which were synced before"), "{n}: {msg}");
        }
        // Beyond it, a torn write as ever.
        std::fs::write(&path, &full[..full.len() - 2]).expect("write");
        let mut s = open(&dir).expect("torn close record");
        assert_eq!(s.warnings().len(), 1);
        assert_eq!(s.recover().expect("recover").entries.len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// "A write that was acknowledged survives every reuse of a data directory": a log written
    /// before snapshots existed (format 2) still opens, is appended to in its own format, and a
    /// snapshot rewrites it in the current one.
    #[test]
    fn a_log_of_the_previous_format_opens_and_a_snapshot_rewrites_it() {
        let dir = temp_dir("format2");
        let path = DiskStorage::path_for(&dir, NodeId(1));
        let mut header = vec![FILE_HEADER];
        header.extend_from_slice(&FORMAT_NO_BASE.to_le_bytes());
        header.extend_from_slice(&1u64.to_le_bytes());
        header.extend_from_slice(&CLUSTER.to_le_bytes());
        let hs = HardState { term: Term(3), vote: Some(NodeId(1)) };
        let entries: Vec<Entry> = (1..=4).map(|i| entry(i, 2, "old")).collect();
        let mut bytes = encode_record(0, &header).expect("record");
        assert!(is_empty_log(&bytes), "a header-only log of format 2 is an empty log");
        bytes.extend(encode_record(1, &hard_state_payload(hs)).expect("record"));
        bytes.extend(encode_record(2, &entries_payload(LogIndex(1), &entries)).expect("record"));
        std::fs::write(&path, &bytes).expect("write");
        let mut s = open(&dir).expect("format 2 opens");
        let r = s.recover().expect("recover");
        assert_eq!((r.hard_state, r.base, r.snapshot, r.entries.len()), (hs, EntryId::default(), None, 4));
        s.write_entries(LogIndex(5), &[entry(5, 3, "new")]).expect("write");
        drop(s);
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes[HEADER + 1..HEADER + 5], FORMAT_NO_BASE.to_le_bytes(), "still format 2");
        let mut s = open(&dir).expect("reopen");
        assert_eq!(s.recover().expect("recover").entries.len(), 5);
        s.save_snapshot(&snapshot_at(4, 2)).expect("snapshot");
        drop(s);
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes[HEADER + 1..HEADER + 5], FORMAT.to_le_bytes(), "rewritten in format 3");
        let r = open(&dir).expect("reopen").recover().expect("recover");
        assert_eq!((r.hard_state, r.base.to_string(), r.entries.len()), (hs, "4@2".to_string(), 1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Not a test: how long `save_snapshot` takes for a map of 1,000 keys with fsync on. Run
    /// with `cargo test --release --lib save_snapshot_timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn save_snapshot_timing() {
        let dir = temp_dir("timing");
        DiskStorage::create(&dir, NodeId(1), CLUSTER).expect("create");
        let mut s = open(&dir).expect("open");
        s.save_hard_state(HardState { term: Term(1), vote: Some(NodeId(1)) }).expect("write");
        let mut last = 0u64;
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..15 {
            let entries: Vec<Entry> =
                (last + 1..=last + 1100).map(|i| entry(i, 1, "a value of some size")).collect();
            s.write_entries(LogIndex(last + 1), &entries).expect("write");
            s.sync().expect("sync");
            last += 1100;
            // The snapshot leaves 100 entries in the log, as a node's would.
            let snapshot = snapshot_with(last - 100, 1, 1000);
            size = snapshot.data.len();
            let start = std::time::Instant::now();
            s.save_snapshot(&snapshot).expect("snapshot");
            times.push(start.elapsed());
        }
        times.sort();
        println!(
            "save_snapshot, 1,000 keys ({size} bytes), 100 entries kept, fsync on: median {:?}, min {:?}, max {:?} over {}",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
            times.len()
        );
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    mod recovery_against_a_model {
        //! The recovery rule as a property (pitfall 14): whatever is done to a valid log, a
        //! truncation, one corrupted byte, a run of one repeated byte, zeros appended, opening
        //! it gives either the exact state of the records before the damage (only when nothing
        //! valid follows the damage and it lies beyond the log's sealed length: a torn tail) or
        //! a corruption error; never a log that silently lost records that are still in the
        //! file. The writes include snapshots (taken, and installs that discard the log), and
        //! the damage may hit the snapshot file instead, which is then always an error.
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Write {
            HardState(u64, Option<u64>),
            /// Drop this many entries from the end (at most what is held), then append these
            /// values.
            Entries(usize, Vec<String>),
            /// A snapshot through the held entry this picks (or the base: changes nothing).
            Compact(prop::sample::Index),
            /// A snapshot this many entries past the log's end (0: at its last entry) in a newer
            /// term: an install that discards the log, then the write that drops what follows.
            Install(u64),
        }

        #[derive(Clone, Debug)]
        enum Damage {
            Truncate(prop::sample::Index),
            Flip(prop::sample::Index, u8),
            Run(prop::sample::Index, usize, u8),
            Zeros(usize),
        }

        fn write() -> impl Strategy<Value = Write> {
            prop_oneof![
                3 => (0u64..5, proptest::option::of(1u64..4)).prop_map(|(t, v)| Write::HardState(t, v)),
                4 => (0usize..3, proptest::collection::vec("[a-z]{0,6}", 0..4))
                    .prop_map(|(d, v)| Write::Entries(d, v)),
                1 => any::<prop::sample::Index>().prop_map(Write::Compact),
                1 => (0u64..3).prop_map(Write::Install),
            ]
        }

        fn damage() -> impl Strategy<Value = Damage> {
            prop_oneof![
                any::<prop::sample::Index>().prop_map(Damage::Truncate),
                (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, x)| Damage::Flip(i, x)),
                (any::<prop::sample::Index>(), 1usize..80, prop_oneof![Just(0u8), Just(0xff), any::<u8>()])
                    .prop_map(|(i, n, b)| Damage::Run(i, n, b)),
                (1usize..64).prop_map(Damage::Zeros),
            ]
        }

        /// The files written and the model's state after each record of the log file (index 0:
        /// after its header). A snapshot rewrites the log, so the list starts again with the
        /// records of the new log's first image (those all hold the same state: damage among
        /// them must be an error anyway, as they lie within the sealed length).
        struct Built {
            wal: Vec<u8>,
            snap: Option<Vec<u8>>,
            states: Vec<Recovered>,
        }

        fn build(dir: &Path, writes: &[Write]) -> Built {
            DiskStorage::create(dir, NodeId(1), CLUSTER).expect("create");
            // No fsync: what is checked is what the files hold, not what survives power loss.
            let mut disk = DiskStorage::open(dir, NodeId(1), CLUSTER, FsyncPolicy::Never).expect("open");
            let mut model = MemStorage::new();
            let mut states = vec![model.recover().expect("model")];
            let mut term = 1;
            let snapshot =
                |disk: &mut DiskStorage, model: &mut MemStorage, states: &mut Vec<Recovered>, s: Snapshot| {
                    let base = model.recover().expect("model").base;
                    disk.save_snapshot(&s).expect("write");
                    model.save_snapshot(&s).expect("model");
                    if s.last.index > base.index {
                        let now = model.recover().expect("model");
                        let records = 2 + usize::from(!now.entries.is_empty());
                        *states = vec![now; records];
                    }
                };
            for w in writes {
                let held = model.recover().expect("model");
                let end = held.base.index.0 + held.entries.len() as u64;
                match w {
                    Write::HardState(t, v) => {
                        let hs = HardState { term: Term(*t), vote: v.map(NodeId) };
                        disk.save_hard_state(hs).expect("write");
                        model.save_hard_state(hs).expect("model");
                    }
                    Write::Entries(drop, values) => {
                        let from = end - (*drop as u64).min(held.entries.len() as u64) + 1;
                        term += 1;
                        let entries: Vec<Entry> =
                            values.iter().enumerate().map(|(i, v)| entry(from + i as u64, term, v)).collect();
                        disk.write_entries(LogIndex(from), &entries).expect("write");
                        model.write_entries(LogIndex(from), &entries).expect("model");
                    }
                    Write::Compact(i) => {
                        let k = i.index(held.entries.len() + 1);
                        let last = if k == 0 { held.base } else { held.entries[k - 1].id() };
                        snapshot(&mut disk, &mut model, &mut states, snapshot_at(last.index.0, last.term.0));
                        continue;
                    }
                    Write::Install(k) => {
                        term += 1;
                        snapshot(&mut disk, &mut model, &mut states, snapshot_at(end + k, term));
                        let from = LogIndex(end + k + 1);
                        disk.write_entries(from, &[]).expect("write");
                        model.write_entries(from, &[]).expect("model");
                    }
                }
                states.push(model.recover().expect("model"));
            }
            disk.sync().expect("sync");
            // Closing appends the close record, which changes no state.
            drop(disk);
            states.push(model.recover().expect("model"));
            let wal = std::fs::read(DiskStorage::path_for(dir, NodeId(1))).expect("read");
            let snap = std::fs::read(DiskStorage::snapshot_path_for(dir, NodeId(1))).ok();
            Built { wal, snap, states }
        }

        fn apply(damage: &Damage, original: &[u8]) -> Vec<u8> {
            let mut bytes = original.to_vec();
            match damage {
                Damage::Truncate(i) => bytes.truncate(i.index(original.len() + 1)),
                Damage::Flip(i, x) => bytes[i.index(original.len())] ^= x,
                Damage::Run(i, n, b) => {
                    let at = i.index(original.len());
                    let end = (at + n).min(original.len());
                    bytes[at..end].fill(*b);
                }
                Damage::Zeros(n) => bytes.extend(std::iter::repeat_n(0u8, *n)),
            }
            bytes
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]
            #[test]
            fn recovery_gives_the_exact_prefix_or_an_error(
                writes in proptest::collection::vec(write(), 0..14),
                damage in damage(),
                on_snapshot in any::<bool>(),
            ) {
                let dir = temp_dir("prop");
                let built = build(&dir, &writes);
                let final_state = built.states.last().cloned().expect("state");
                let wal_path = DiskStorage::path_for(&dir, NodeId(1));
                let snap_path = DiskStorage::snapshot_path_for(&dir, NodeId(1));
                if let (true, Some(original)) = (on_snapshot, &built.snap) {
                    let bytes = apply(&damage, original);
                    std::fs::write(&snap_path, &bytes).expect("write");
                    let held = files(&dir);
                    match open(&dir) {
                        Ok(mut s) => {
                            prop_assert_eq!(&bytes, original, "a damaged snapshot file was accepted");
                            prop_assert_eq!(s.recover().expect("recover"), final_state);
                        }
                        Err(e) => {
                            prop_assert!(&bytes != original, "an undamaged snapshot file was refused: {}", e);
                            prop_assert!(e.to_string().contains("n1.snap"), "{}", e);
                            prop_assert_eq!(files(&dir), held, "an error rewrote a file");
                        }
                    }
                    let _ = std::fs::remove_dir_all(&dir);
                    return Ok(());
                }
                let original = built.wal;
                let states = built.states;
                let starts = boundaries(&original);
                let bytes = apply(&damage, &original);
                std::fs::write(&wal_path, &bytes).expect("write");
                let held = files(&dir);
                // The damaged range: the first and last byte that differ from the original
                // (a truncation damages from the cut to the old end).
                let first = (0..original.len().min(bytes.len())).find(|&i| original[i] != bytes[i])
                    .or((bytes.len() != original.len()).then_some(original.len().min(bytes.len())));
                let result = open(&dir);
                match first {
                    None => {
                        let mut s = result.expect("an undamaged file opens");
                        prop_assert_eq!(s.recover().expect("recover"), final_state);
                    }
                    Some(first) => {
                        let last = (0..original.len().min(bytes.len())).rev()
                            .find(|&i| original[i] != bytes[i])
                            .map_or(first, |l| l.max(first));
                        // Records wholly before the damage survive; any record wholly after it
                        // is still in the file and must not be silently dropped. Nothing within
                        // the sealed length may be taken for a torn write.
                        let header = read_file_header(record_at(&original, 0).expect("header").1).expect("header");
                        let sealed_end = header.sealed as usize;
                        let record_end = |k: usize| starts.get(k + 1).copied().unwrap_or(original.len());
                        let kept = (0..starts.len()).filter(|&k| record_end(k) <= first).count();
                        let valid_after = (0..starts.len())
                            .any(|k| starts[k] > last && record_end(k) <= bytes.len());
                        match result {
                            Ok(mut s) => {
                                prop_assert!(first >= sealed_end, "damage within the sealed length was accepted");
                                prop_assert!(!valid_after, "records after the damage were dropped");
                                prop_assert_eq!(s.recover().expect("recover"), states[kept - 1].clone());
                            }
                            Err(e) => {
                                prop_assert!(
                                    first < sealed_end || valid_after,
                                    "a torn tail (nothing valid after offset {first}) was called damage: {e}"
                                );
                                prop_assert_eq!(files(&dir), held, "an error rewrote a file");
                            }
                        }
                    }
                }
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
}
