//! The on-disk store: one write-ahead log file per node.
//!
//! # Format
//!
//! A file is a sequence of records, each
//!
//! ```text
//! [magic "QWAL": 4 bytes][record number: u64 LE][length: u32 LE][checksum: u32 LE][payload]
//! ```
//!
//! The checksum is a CRC-32 seeded with a constant that is not a run of equal bytes, computed
//! over the first 16 header bytes and the payload. Record numbers count from 0 within the file.
//! Record 0 is the file header (the format version, the node and the cluster it belongs to);
//! every later record is the term and vote, "drop entries from index I on, then append these
//! entries", or the close record a healthy log gets when it is closed. The file is created with
//! its header record in a temporary file that is synced and then renamed into place, so a WAL
//! file that exists always starts with a complete header.
//!
//! # Recovery: torn tail or damage
//!
//! Recovery replays the records in order and stops at the first one that is not valid (wrong
//! magic, a length running past the end of the file, a checksum mismatch). A record that passes
//! its checksum was written whole, so one with the wrong number or a payload that does not
//! decode is damage at once. Otherwise what happens depends on what lies beyond:
//! - **Torn tail.** A crash during an append can only leave an incomplete last write: bytes
//!   after the last complete record, with no complete record after them (nothing is written
//!   after an unfinished write). So if no valid record (numbered at least the expected one)
//!   starts anywhere after the bad one, the tail is cut off with a warning.
//! - **Damage.** If a valid record starts after the bad one, or the bad record is the file
//!   header, the file was damaged after it was written (a bad sector, a stray write, a run of
//!   0xFF from a failing device). Recovery stops with an error naming the file, the offset and
//!   the reason, and rewrites nothing: the node refuses to start rather than silently drop
//!   acknowledged records.
//!
//! The limit of the rule: damage confined to the last records of a log that was *not* closed
//! (its process crashed) looks exactly like a torn write and is cut. A log that was closed ends
//! with its close record, so damage before it is always followed by a valid record and caught.
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

use super::{HardState, Recovered, Storage, StorageError};
use crate::kv::codec::{Reader, put_str};
use crate::kv::{ClientId, Command, RequestId};
use crate::raft::{Entry, EntryId, LogIndex, NodeId, Term};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The first four bytes of every record.
pub const MAGIC: [u8; 4] = *b"QWAL";
/// The version of the record layout written in the file header.
pub const FORMAT: u32 = 2;
/// Bytes before a record's payload.
pub const HEADER: usize = 20;
/// The checksum's seed: no run of one repeated byte has a matching checksum by construction of
/// the magic, and the seed keeps the checksum of an all-zero record from being zero.
const CRC_SEED: u32 = 0x5157_4131;

/// The size of a log that holds only its file header.
const EMPTY_LOG_LEN: usize = HEADER + 1 + 4 + 8 + 8;

/// True if `bytes` are exactly a log file header of this format and nothing else: a log created
/// but never opened, which holds no state.
pub(crate) fn is_empty_log(bytes: &[u8]) -> bool {
    bytes.len() == EMPTY_LOG_LEN
        && record_at(bytes, 0).is_ok_and(|(n, p)| n == 0 && p.first() == Some(&FILE_HEADER))
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

/// A node's write-ahead log file.
pub struct DiskStorage {
    path: PathBuf,
    /// `None` only while dropping.
    file: Option<BufWriter<File>>,
    fsync: FsyncPolicy,
    dirty: bool,
    /// A write or sync failed: the buffer must never reach the file.
    poisoned: bool,
    /// The number the next record gets.
    next_record: u64,
    /// What recovery had to repair (torn tails), for the event log.
    warnings: Vec<String>,
    /// The state as of the last record, kept so `recover` needs no second read.
    state: Recovered,
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

/// The payload of the file header record.
fn file_header_payload(node: NodeId, cluster: u64) -> Vec<u8> {
    let mut p = vec![FILE_HEADER];
    p.extend_from_slice(&FORMAT.to_le_bytes());
    p.extend_from_slice(&node.0.to_le_bytes());
    p.extend_from_slice(&cluster.to_le_bytes());
    p
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> StorageError + use<> {
    let path = path.display().to_string();
    move |error| StorageError::Io { path: path.clone(), error }
}

/// Makes a directory entry change (a new or renamed file) durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl DiskStorage {
    /// The log file of `node` under `dir`.
    pub fn path_for(dir: &Path, node: NodeId) -> PathBuf {
        dir.join(format!("{node}.wal"))
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
        let tmp = dir.join(format!("{node}.wal.new"));
        let record = encode_record(0, &file_header_payload(node, cluster)).map_err(|reason| {
            StorageError::Corrupt { path: path.display().to_string(), offset: 0, reason }
        })?;
        let mut f = File::create(&tmp).map_err(&io)?;
        f.write_all(&record).and_then(|()| f.sync_all()).map_err(&io)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(&io)?;
        sync_dir(dir).map_err(&io)
    }

    /// Opens the log of `node` of cluster `cluster` under `dir` and replays it. A torn tail is
    /// cut off (see [`DiskStorage::warnings`]); damage, a missing file, or a file of another
    /// node or cluster is an error, and the file is left as it is.
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
        if replayed.valid_len < bytes.len() {
            file.set_len(replayed.valid_len as u64).map_err(&io)?;
        }
        // What was replayed is taken as durable from now on: make sure it is (a process killed
        // between its flush and its fsync leaves records in the cache only).
        file.sync_all().map_err(&io)?;
        file.seek(SeekFrom::End(0)).map_err(&io)?;
        Ok(DiskStorage {
            path,
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            fsync,
            dirty: false,
            poisoned: false,
            next_record: replayed.records,
            warnings: replayed.warnings,
            state: replayed.state,
        })
    }

    /// What recovery repaired when the file was opened.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
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
}

impl Storage for DiskStorage {
    type Error = StorageError;

    fn recover(&mut self) -> Result<Recovered, StorageError> {
        Ok(self.state.clone())
    }

    fn save_hard_state(&mut self, hard_state: HardState) -> Result<(), StorageError> {
        let mut payload = vec![HARD_STATE];
        payload.extend_from_slice(&hard_state.term.0.to_le_bytes());
        payload.extend_from_slice(&hard_state.vote.map_or(0, |v| v.0 + 1).to_le_bytes());
        self.write_record(&payload)?;
        self.state.hard_state = hard_state;
        Ok(())
    }

    fn write_entries(&mut self, from: LogIndex, entries: &[Entry]) -> Result<(), StorageError> {
        let mut payload = Vec::with_capacity(16 + entries.len() * 64);
        payload.push(ENTRIES);
        payload.extend_from_slice(&from.0.to_le_bytes());
        for e in entries {
            encode_entry(&mut payload, e);
        }
        self.write_record(&payload)?;
        apply_entries(&mut self.state, from, entries.to_vec());
        Ok(())
    }

    fn save_snapshot(&mut self, snapshot: &crate::raft::Snapshot) -> Result<(), StorageError> {
        let _ = snapshot;
        Err(StorageError::Io {
            path: self.path.display().to_string(),
            error: std::io::Error::other("TODO snapshot files"),
        })
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

/// Checks the file header record's payload: format, node and cluster.
fn check_file_header(payload: &[u8], node: NodeId, cluster: u64) -> Result<(), String> {
    let mut r = Reader::new(payload);
    if r.u8()? != FILE_HEADER {
        return Err("the first record is not a file header".into());
    }
    let format = r.u32()?;
    if format != FORMAT {
        return Err(format!("format {format}, but this quorum reads format {FORMAT}"));
    }
    let (owner, of) = (NodeId(r.u64()?), r.u64()?);
    if !r.done() {
        return Err("trailing bytes in the file header".into());
    }
    if owner != node {
        return Err(format!("this is the log of {owner}, not of {node}"));
    }
    if of != cluster {
        return Err(format!("this log belongs to cluster {of:016x}, not to this directory's {cluster:016x}"));
    }
    Ok(())
}

/// Why the bytes at an offset are not the record expected there, or the record's payload.
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

/// Replays a whole file: the header, then every record, then the torn-or-damaged rule.
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
    check_file_header(header, node, cluster).map_err(|why| corrupt(0, why))?;
    let mut state = Recovered::default();
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
        warnings.push(format!(
            "{}: cut off a torn write at offset {offset} ({problem}; {} bytes dropped, no valid record after them)",
            path.display(),
            bytes.len() - offset
        ));
        break;
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

    mod recovery_against_a_model {
        //! The recovery rule as a property (pitfall 14): whatever is done to a valid file, a
        //! truncation, one corrupted byte, a run of one repeated byte, zeros appended, opening
        //! it gives either the exact state of the records before the damage (only when nothing
        //! valid follows the damage: a torn tail) or a corruption error; never a log that
        //! silently lost records that are still in the file.
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Write {
            HardState(u64, Option<u64>),
            /// Drop this many entries from the end (at most what is held), then append these
            /// values.
            Entries(usize, Vec<String>),
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
                (0u64..5, proptest::option::of(1u64..4)).prop_map(|(t, v)| Write::HardState(t, v)),
                (0usize..3, proptest::collection::vec("[a-z]{0,6}", 0..4))
                    .prop_map(|(d, v)| Write::Entries(d, v)),
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

        /// Writes `writes` through the store and through the model; returns the file and the
        /// model's state after each record (index 0: the empty log after the file header).
        fn build(dir: &Path, writes: &[Write]) -> (Vec<u8>, Vec<Recovered>) {
            DiskStorage::create(dir, NodeId(1), CLUSTER).expect("create");
            let mut disk = open(dir).expect("open");
            let mut model = MemStorage::new();
            let mut states = vec![model.recover().expect("model")];
            let mut term = 1;
            for w in writes {
                match w {
                    Write::HardState(t, v) => {
                        let hs = HardState { term: Term(*t), vote: v.map(NodeId) };
                        disk.save_hard_state(hs).expect("write");
                        model.save_hard_state(hs).expect("model");
                    }
                    Write::Entries(drop, values) => {
                        let held = model.entries().len();
                        let from = held - (*drop).min(held) + 1;
                        term += 1;
                        let entries: Vec<Entry> = values
                            .iter()
                            .enumerate()
                            .map(|(i, v)| entry((from + i) as u64, term, v))
                            .collect();
                        disk.write_entries(LogIndex(from as u64), &entries).expect("write");
                        model.write_entries(LogIndex(from as u64), &entries).expect("model");
                    }
                }
                states.push(model.recover().expect("model"));
            }
            disk.sync().expect("sync");
            // Closing appends the close record, which changes no state.
            drop(disk);
            states.push(model.recover().expect("model"));
            (std::fs::read(DiskStorage::path_for(dir, NodeId(1))).expect("read"), states)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]
            #[test]
            fn recovery_gives_the_exact_prefix_or_an_error(
                writes in proptest::collection::vec(write(), 0..12),
                damage in damage(),
            ) {
                let dir = temp_dir("prop");
                let (original, states) = build(&dir, &writes);
                let starts = boundaries(&original);
                let mut bytes = original.clone();
                match &damage {
                    Damage::Truncate(i) => bytes.truncate(i.index(original.len() + 1)),
                    Damage::Flip(i, x) => bytes[i.index(original.len())] ^= x,
                    Damage::Run(i, n, b) => {
                        let at = i.index(original.len());
                        let end = (at + n).min(original.len());
                        bytes[at..end].fill(*b);
                    }
                    Damage::Zeros(n) => bytes.extend(std::iter::repeat_n(0u8, *n)),
                }
                let path = DiskStorage::path_for(&dir, NodeId(1));
                std::fs::write(&path, &bytes).expect("write");
                // The damaged range: the first and last byte that differ from the original
                // (a truncation damages from the cut to the old end).
                let first = (0..original.len().min(bytes.len())).find(|&i| original[i] != bytes[i])
                    .or((bytes.len() != original.len()).then_some(original.len().min(bytes.len())));
                let result = open(&dir);
                match first {
                    None => {
                        let mut s = result.expect("an undamaged file opens");
                        prop_assert_eq!(s.recover().expect("recover"), states.last().cloned().expect("state"));
                    }
                    Some(first) => {
                        let last = (0..original.len().min(bytes.len())).rev()
                            .find(|&i| original[i] != bytes[i])
                            .map_or(first, |l| l.max(first));
                        // Records wholly before the damage survive; any record wholly after it
                        // is still in the file and must not be silently dropped.
                        let header_end = starts.get(1).copied().unwrap_or(original.len());
                        let record_end = |k: usize| starts.get(k + 1).copied().unwrap_or(original.len());
                        let kept = (0..starts.len()).filter(|&k| record_end(k) <= first).count();
                        let valid_after = (0..starts.len())
                            .any(|k| starts[k] > last && record_end(k) <= bytes.len());
                        match result {
                            Ok(mut s) => {
                                prop_assert!(first >= header_end, "a damaged file header was accepted");
                                prop_assert!(!valid_after, "records after the damage were dropped");
                                prop_assert_eq!(s.recover().expect("recover"), states[kept - 1].clone());
                            }
                            Err(e) => {
                                prop_assert!(
                                    first < header_end || valid_after,
                                    "a torn tail (nothing valid after offset {first}) was called damage: {e}"
                                );
                                prop_assert_eq!(std::fs::read(&path).expect("read"), bytes, "an error rewrote the file");
                            }
                        }
                    }
                }
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
}
