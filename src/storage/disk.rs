//! The on-disk store: one write-ahead log file per node.
//!
//! Every change is one record:
//! `[length: u32 LE][crc32 of the length: u32 LE][crc32 of the payload: u32 LE][payload]`. A
//! payload is either the term and vote, or "drop entries from index I on, then append these
//! entries". Recovery replays the records in order:
//! - a header cut short, a payload cut short (the length, being checksummed, is trusted), a bad
//!   checksum in the very last record, or a tail of zero bytes (a file extended but not written
//!   before a crash) is a torn write: it is cut off with a warning;
//! - a bad header checksum, or a bad payload checksum with more records after it, is
//!   corruption: reported with the file and the offset; nothing is dropped or rewritten.
//!
//! Writes are buffered until [`Storage::sync`], which flushes and fsyncs once for everything
//! written since (group commit). After a failed write or sync the buffer is discarded, never
//! written later, so a restarted node never finds bytes appended behind its back.

use super::{HardState, Recovered, Storage, StorageError};
use crate::kv::{ClientId, Command, RequestId};
use crate::raft::{Entry, EntryId, LogIndex, NodeId, Term};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const HARD_STATE: u8 = 1;
const ENTRIES: u8 = 2;
const HEADER: usize = 12;

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
    /// What recovery had to repair (torn tails), for the event log.
    warnings: Vec<String>,
    /// The state as of the last record, kept so `recover` needs no second read.
    state: Recovered,
}

impl DiskStorage {
    /// The log file of `node` under `dir`.
    pub fn path_for(dir: &Path, node: NodeId) -> PathBuf {
        dir.join(format!("{node}.wal"))
    }

    /// Opens (or creates) the log of `node` under `dir` and replays it. A torn tail is cut off
    /// (see [`DiskStorage::warnings`]); corruption elsewhere is an error.
    pub fn open(dir: &Path, node: NodeId, fsync: FsyncPolicy) -> Result<Self, StorageError> {
        let path = Self::path_for(dir, node);
        let io = |source| StorageError::Io { path: path.display().to_string(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let existed = path.exists();
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io)?;
        if !existed {
            // Make the new file's directory entry durable too.
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let (state, valid_len, warnings) = replay(&path, &bytes)?;
        if valid_len < bytes.len() {
            file.set_len(valid_len as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok(DiskStorage {
            path,
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            fsync,
            dirty: false,
            poisoned: false,
            warnings,
            state,
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
        let len = u32::try_from(payload.len()).map_err(|_| StorageError::Corrupt {
            path: self.path.display().to_string(),
            offset: 0,
            reason: "record larger than 4 GiB".into(),
        })?;
        let len_bytes = len.to_le_bytes();
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&len_bytes);
        header[4..8].copy_from_slice(&crc32fast::hash(&len_bytes).to_le_bytes());
        header[8..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
        let result = self.writer().and_then(|w| w.write_all(&header).and_then(|()| w.write_all(payload)));
        self.check(result)?;
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
        result.map_err(|source| {
            self.poisoned = true;
            StorageError::Io { path: self.path.display().to_string(), source }
        })
    }
}

impl Storage for DiskStorage {
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
    fn drop(&mut self) {
        if let Some(w) = self.file.take() {
            if self.poisoned {
                // Discard what is buffered: it must never land after a restart has read the file.
                let _ = w.into_parts();
            } else {
                drop(w);
            }
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
    match &e.command {
        None => out.push(0),
        Some(c) => {
            out.push(1);
            out.extend_from_slice(&c.id.client.0.to_le_bytes());
            out.extend_from_slice(&c.id.seq.to_le_bytes());
            for s in [&c.key, &c.value] {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
}

/// A cursor over one record's payload that fails cleanly on short or bad data.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end =
            self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("record ends too early")?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| "short u64")?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(b.try_into().map_err(|_| "short u32")?))
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }
    fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

fn decode_entry(r: &mut Reader<'_>) -> Result<Entry, String> {
    let index = LogIndex(r.u64()?);
    let term = Term(r.u64()?);
    let command = match r.u8()? {
        0 => None,
        1 => {
            let id = RequestId { client: ClientId(r.u64()?), seq: r.u64()? };
            Some(Arc::new(Command { id, key: r.string()?, value: r.string()? }))
        }
        t => return Err(format!("unknown command tag {t}")),
    };
    Ok(Entry { index, term, command })
}

/// Applies one record's payload to the state being rebuilt.
fn apply_record(state: &mut Recovered, payload: &[u8]) -> Result<(), String> {
    let mut r = Reader { bytes: payload, pos: 0 };
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
        t => return Err(format!("unknown record type {t}")),
    }
    if !r.done() {
        return Err("trailing bytes in record".into());
    }
    Ok(())
}

/// Replays a whole file. Returns the state, the length of the valid prefix, and warnings.
fn replay(path: &Path, bytes: &[u8]) -> Result<(Recovered, usize, Vec<String>), StorageError> {
    let mut state = Recovered::default();
    let mut warnings = Vec::new();
    let mut offset = 0usize;
    let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
        path: path.display().to_string(),
        offset: offset as u64,
        reason,
    };
    let le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let torn = |why: &str| {
            format!(
                "{}: cut off a torn record at offset {offset} ({why}; {} bytes dropped)",
                path.display(),
                rest.len()
            )
        };
        if rest.len() < HEADER {
            warnings.push(torn("incomplete header"));
            break;
        }
        if rest.iter().all(|&b| b == 0) {
            warnings.push(torn("zero bytes: the file was extended but not written"));
            break;
        }
        let (len_bytes, len_crc, payload_crc) = (&rest[..4], le(&rest[4..8]), le(&rest[8..12]));
        if crc32fast::hash(len_bytes) != len_crc {
            return Err(corrupt(offset, "header checksum mismatch".into()));
        }
        let len = le(len_bytes) as usize;
        if rest.len() < HEADER + len {
            warnings.push(torn("record longer than the rest of the file"));
            break;
        }
        let payload = &rest[HEADER..HEADER + len];
        let is_last = rest.len() == HEADER + len;
        if crc32fast::hash(payload) != payload_crc {
            if is_last {
                warnings.push(torn("checksum mismatch in the last record"));
                break;
            }
            return Err(corrupt(offset, "checksum mismatch".into()));
        }
        apply_record(&mut state, payload).map_err(|reason| corrupt(offset, reason))?;
        offset += HEADER + len;
    }
    Ok((state, offset, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64, value: &str) -> Entry {
        let id = RequestId { client: ClientId(7), seq: index };
        Entry {
            index: LogIndex(index),
            term: Term(term),
            command: Some(Arc::new(Command { id, key: "k".into(), value: value.into() })),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("quorum-wal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn write_some(dir: &Path) -> PathBuf {
        let mut s = DiskStorage::open(dir, NodeId(1), FsyncPolicy::Always).expect("open");
        s.save_hard_state(HardState { term: Term(2), vote: Some(NodeId(3)) }).expect("write");
        s.write_entries(LogIndex(1), &[entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")]).expect("write");
        s.write_entries(LogIndex(3), &[entry(3, 2, "d")]).expect("write");
        s.sync().expect("sync");
        s.path().to_path_buf()
    }

    #[test]
    fn round_trip_with_truncation() {
        let dir = temp_dir("roundtrip");
        write_some(&dir);
        let mut s = DiskStorage::open(&dir, NodeId(1), FsyncPolicy::Always).expect("reopen");
        let r = s.recover().expect("recover");
        assert_eq!(r.hard_state, HardState { term: Term(2), vote: Some(NodeId(3)) });
        let ids: Vec<String> = r.entries.iter().map(|e| e.id().to_string()).collect();
        assert_eq!(ids, ["1@1", "2@1", "3@2"]);
        assert!(s.warnings().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn torn_tail_is_cut_with_a_warning() {
        let dir = temp_dir("torn");
        let path = write_some(&dir);
        let full = std::fs::read(&path).expect("read");
        // Cut the last record in half, as a crash mid-write would.
        std::fs::write(&path, &full[..full.len() - 10]).expect("write");
        let mut s = DiskStorage::open(&dir, NodeId(1), FsyncPolicy::Always).expect("torn tail is not fatal");
        assert_eq!(s.warnings().len(), 1, "{:?}", s.warnings());
        assert!(s.warnings()[0].contains("torn record"));
        let r = s.recover().expect("recover");
        assert_eq!(r.entries.len(), 3, "the torn truncate+append is dropped, the rest kept");
        assert_eq!(r.entries[2].id().to_string(), "3@1");
        // The file was cut to the valid prefix, so new writes follow cleanly.
        s.write_entries(LogIndex(4), &[entry(4, 2, "e")]).expect("write");
        s.sync().expect("sync");
        let mut again = DiskStorage::open(&dir, NodeId(1), FsyncPolicy::Always).expect("reopen");
        assert_eq!(again.recover().expect("recover").entries.len(), 4);
        assert!(again.warnings().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn corruption_in_the_middle_is_an_error_naming_file_and_offset() {
        let dir = temp_dir("corrupt");
        let path = write_some(&dir);
        let mut bytes = std::fs::read(&path).expect("read");
        // Flip a byte inside the second record's payload (the first is 12 + 17 bytes).
        bytes[29 + HEADER + 3] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");
        let err =
            DiskStorage::open(&dir, NodeId(1), FsyncPolicy::Always).err().expect("corruption must fail");
        let msg = err.to_string();
        assert!(msg.contains("n1.wal") && msg.contains("offset 29") && msg.contains("checksum"), "{msg}");
        // Nothing was rewritten.
        assert_eq!(std::fs::read(&path).expect("read"), bytes);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupted_length_in_the_middle_is_corruption_not_a_torn_tail() {
        let dir = temp_dir("length");
        let path = write_some(&dir);
        let mut bytes = std::fs::read(&path).expect("read");
        // The second record starts at 29; make its length huge.
        bytes[29 + 2] ^= 0x7f;
        std::fs::write(&path, &bytes).expect("write");
        let err = DiskStorage::open(&dir, NodeId(1), FsyncPolicy::Always).err().expect("must fail");
        assert!(err.to_string().contains("offset 29") && err.to_string().contains("header"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), bytes, "nothing rewritten");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_zeroed_tail_is_a_torn_write() {
        let dir = temp_dir("zeros");
        let path = write_some(&dir);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.extend_from_slice(&[0u8; 40]);
        std::fs::write(&path, &bytes).expect("write");
        let mut s =
            DiskStorage::open(&dir, NodeId(1), FsyncPolicy::Always).expect("zeros are torn, not fatal");
        assert!(s.warnings()[0].contains("zero bytes"), "{:?}", s.warnings());
        assert_eq!(s.recover().expect("recover").entries.len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_poisoned_store_never_writes_its_buffer() {
        let dir = temp_dir("poison");
        let path = write_some(&dir);
        let before = std::fs::read(&path).expect("read");
        let mut s = DiskStorage::open(&dir, NodeId(1), FsyncPolicy::Always).expect("open");
        s.write_entries(LogIndex(4), &[entry(4, 2, "lost")]).expect("buffered");
        s.poisoned = true; // as after a failed write or sync
        drop(s);
        assert_eq!(std::fs::read(&path).expect("read"), before, "the buffer reached the file");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
