//! The session's files: the event log (written by the cluster as it goes), the client history
//! (written here a line at a time, from the first operation), and their exports.
//!
//! The history starts with a start line naming the cluster (its id from the data directory)
//! and what the keys held at the start. With durable storage in a data directory, a later
//! session brings the same cluster back, so its history carries on in the same file if that
//! file belongs to this cluster: times and process numbers continue after the old ones, and
//! the checker judges the whole life of the data, not just the last session (a get that reads a
//! value put before a restart is then explained, and a write lost across the restart is
//! caught). If the directory holds the cluster's data but no history of it (the data came from
//! `quorum run`, or the file was lost), a new history starts with the initial values unknown:
//! the checker then accepts any one value per key before the first operation, so old values are
//! no false alarm, and a lost or stale write of this session is still caught.

use crate::check::history::{HistoryEvent, HistoryHeader, HistoryWriter, Initial, parse_history_with_header};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Name of the event log in the session directory.
pub const EVENTS_FILE: &str = "console-events.jsonl";
/// Name of the client history in the session directory.
pub const HISTORY_FILE: &str = "console-history.jsonl";

struct History {
    writer: Option<HistoryWriter<File>>,
    events: Vec<HistoryEvent>,
    error: Option<String>,
}

/// The session's directory and files.
pub struct Session {
    dir: PathBuf,
    events_path: PathBuf,
    history_path: PathBuf,
    history: Mutex<History>,
    initial: Initial,
    header: HistoryHeader,
    time_offset: u64,
    process_offset: u64,
}

/// What a session knows of the data it starts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The cluster's id, when its state is on disk.
    pub cluster: Option<String>,
    /// True if the data directory already held the cluster's data.
    pub held_data: bool,
    /// The data directory's open count (see [`crate::storage::Meta::opens`]).
    pub opens: Option<u64>,
}

/// Name of the file that records the open count of the last console session on the history.
pub const OPENS_FILE: &str = "console-history.opens";

/// An export's two files and how many lines each got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// The event log's copy.
    pub events: PathBuf,
    /// Lines in it.
    pub event_lines: usize,
    /// The history's copy.
    pub history: PathBuf,
    /// Lines in it.
    pub history_lines: usize,
}

impl Session {
    /// Opens the session in `dir` (created if needed; the caller holds the directory's lock).
    /// An existing history of the same cluster is continued; any other old history is moved
    /// aside, and a new one starts (see the module docs). Returns warnings worth showing.
    pub fn open(dir: &Path, origin: &Origin) -> io::Result<(Session, Vec<String>)> {
        std::fs::create_dir_all(dir)?;
        let events_path = dir.join(EVENTS_FILE);
        let history_path = dir.join(HISTORY_FILE);
        let mut warnings = Vec::new();
        let (header, old) = if history_path.exists() {
            previous_history(dir, &history_path, origin, &mut warnings)?
        } else {
            (None, Vec::new())
        };
        // A new history on data it did not see written starts from unknown values.
        let header = header.unwrap_or(HistoryHeader {
            initial: if origin.held_data { Initial::Unknown } else { Initial::Empty },
            cluster: origin.cluster.clone(),
        });
        let time_offset = old.iter().map(|e| e.time + 1).max().unwrap_or(0);
        let process_offset = old.iter().map(|e| e.process).max().unwrap_or(0);
        // Rewrite what was kept (dropping any incomplete line), then append from there.
        let mut rewrite = HistoryWriter::new(BufWriter::new(File::create(&history_path)?));
        rewrite.write_header(&header)?;
        for e in &old {
            rewrite.write_event(e)?;
        }
        drop(rewrite);
        let file = OpenOptions::new().append(true).open(&history_path)?;
        match origin.opens {
            Some(n) => std::fs::write(dir.join(OPENS_FILE), format!("{n}\n"))?,
            None => {
                let _ = std::fs::remove_file(dir.join(OPENS_FILE));
            }
        }
        let history = History { writer: Some(HistoryWriter::new(file)), events: old, error: None };
        let session = Session {
            dir: dir.to_path_buf(),
            events_path,
            history_path,
            history: Mutex::new(history),
            initial: header.initial,
            header,
            time_offset,
            process_offset,
        };
        Ok((session, warnings))
    }

    /// The session directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the cluster streams its events.
    pub fn events_path(&self) -> &Path {
        &self.events_path
    }

    /// Where the client history goes.
    pub fn history_path(&self) -> &Path {
        &self.history_path
    }

    /// The history's process number for the console's operation number `op` of this run.
    pub fn process(&self, op: u64) -> u64 {
        self.process_offset + op
    }

    /// What the keys held when the history began (unknown if it began on existing data).
    pub fn initial(&self) -> Initial {
        self.initial
    }

    /// The history's time for cluster time `nanos` of this run.
    pub fn time(&self, nanos: u64) -> u64 {
        self.time_offset + nanos
    }

    /// Appends one history event (already carrying this session's process and time) and
    /// flushes it. A write error is remembered and reported by [`Session::write_error`]; the
    /// event is kept in memory for the checker either way.
    pub fn record(&self, event: HistoryEvent) {
        let mut h = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = h.writer.as_mut()
            && let Err(e) = w.write_event(&event)
        {
            h.error = Some(format!("cannot write {}: {e}", self.history_path.display()));
            h.writer = None;
        }
        h.events.push(event);
    }

    /// The first error writing the history, if any.
    pub fn write_error(&self) -> Option<String> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner).error.clone()
    }

    /// Replaces the history (file and memory) with `events`: the simulator went to another
    /// branch of its past, whose history this is.
    pub fn replace(&self, events: Vec<HistoryEvent>) -> io::Result<()> {
        let mut h = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        h.events = events;
        let mut rewrite = HistoryWriter::new(BufWriter::new(File::create(&self.history_path)?));
        rewrite.write_header(&self.header)?;
        for e in &h.events {
            rewrite.write_event(e)?;
        }
        drop(rewrite);
        h.writer = Some(HistoryWriter::new(OpenOptions::new().append(true).open(&self.history_path)?));
        Ok(())
    }

    /// A copy of the history so far.
    pub fn history(&self) -> Vec<HistoryEvent> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner).events.clone()
    }

    /// Copies the event log at `events_path` (the session's, or its current branch's) and the
    /// history to `export-K-events.jsonl` and
    /// `export-K-history.jsonl` in the session directory, K the first number not used yet.
    /// Only complete lines are copied (the event log may be mid-write).
    pub fn export(&self, events_path: &Path) -> io::Result<Export> {
        let mut k = 1;
        let (events, history) = loop {
            let e = self.dir.join(format!("export-{k}-events.jsonl"));
            let h = self.dir.join(format!("export-{k}-history.jsonl"));
            if !e.exists() && !h.exists() {
                break (e, h);
            }
            k += 1;
        };
        let event_lines = copy_lines(events_path, &events)?;
        let history_lines = {
            // Hold the lock so no line is half-written while copying.
            let _h = self.history.lock().unwrap_or_else(PoisonError::into_inner);
            copy_lines(&self.history_path, &history)?
        };
        Ok(Export { events, event_lines, history, history_lines })
    }
}

/// What to keep of the history already in `dir` (at `path`): its header and events if it is this
/// cluster's and saw every write to the data since (see [`Session::open`]); otherwise nothing,
/// the file moved aside (unless it holds no event) and a warning said why.
fn previous_history(
    dir: &Path,
    path: &Path,
    origin: &Origin,
    warnings: &mut Vec<String>,
) -> io::Result<(Option<HistoryHeader>, Vec<HistoryEvent>)> {
    let aside = |why: String, warnings: &mut Vec<String>| -> io::Result<()> {
        let mut k = 1;
        let moved = loop {
            let p = dir.join(format!("console-history.previous-{k}.jsonl"));
            if !p.exists() {
                break p;
            }
            k += 1;
        };
        std::fs::rename(path, &moved)?;
        warnings.push(format!("{why}; moved it to {} and started a new history", moved.display()));
        Ok(())
    };
    // The old history saw every write to the data only if it is this cluster's and no
    // other process (a `quorum run`) opened the directory since its last session.
    let last_opens =
        std::fs::read_to_string(dir.join(OPENS_FILE)).ok().and_then(|t| t.trim().parse::<u64>().ok());
    let unbroken = origin.opens.is_some_and(|n| last_opens == Some(n.saturating_sub(1)));
    let ours = |h: &Option<HistoryHeader>| {
        origin.cluster.is_some() && h.as_ref().and_then(|h| h.cluster.as_ref()) == origin.cluster.as_ref()
    };
    match read_history(path) {
        Ok((h, events, cut)) if ours(&h) && unbroken => {
            if cut {
                warnings.push(format!("{}: dropped an incomplete last line", path.display()));
            }
            return Ok((h, events));
        }
        Ok((_, events, _)) if events.is_empty() => {}
        Ok((h, _, _)) if ours(&h) => aside(
            "another process opened the data directory since the old history's last session".into(),
            warnings,
        )?,
        Ok(_) => aside("the old history is not this cluster's".into(), warnings)?,
        Err(e) => aside(format!("the old history could not be read ({e})"), warnings)?,
    }
    Ok((None, Vec::new()))
}

/// Reads a history file, dropping an incomplete last line; says whether it did.
fn read_history(path: &Path) -> io::Result<(Option<HistoryHeader>, Vec<HistoryEvent>, bool)> {
    let mut bytes = std::fs::read(path)?;
    let cut = !bytes.is_empty() && !bytes.ends_with(b"\n");
    if cut {
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(keep);
    }
    let (header, events) = parse_history_with_header(&bytes[..]).map_err(io::Error::other)?;
    Ok((header, events, cut))
}

/// Copies the complete lines of `from` to `to` (a missing `from` gives an empty file).
fn copy_lines(from: &Path, to: &Path) -> io::Result<usize> {
    let mut out = BufWriter::new(File::create(to)?);
    let mut n = 0;
    if let Ok(file) = File::open(from) {
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 || !line.ends_with(b"\n") {
                break;
            }
            out.write_all(&line)?;
            n += 1;
        }
    }
    out.flush()?;
    Ok(n)
}
