//! The linearizability checker for recorded client histories.
//!
//! A history (see [`history`]) records when each client invoked each put or
//! get and how it ended. The cluster is correct only if the history is
//! *linearizable*: there is one total order of the operations that respects
//! real time (an operation that returned before another was invoked comes
//! first) in which every get reads the value of the latest put before it.
//!
//! Two operations whose intervals merely touch (one returns at the very
//! nanosecond the other is invoked) are treated as concurrent. A `fail`ed
//! operation is ignored; an `info` one, or one never completed, may take
//! effect at any time after its invoke, or never.
//!
//! The check is done per key, since a key-value store is linearizable iff
//! each key is; see [`check_history`]. A failing key is reported with a small
//! set of its operations that cannot be ordered and a plain-English reason.
//!
//! # Two algorithms
//!
//! Deciding linearizability of a register is NP-complete in general, and the
//! general tool is a search (`search`, Wing & Gong with Lowe's cache) that
//! may need a time limit. But when every put of a key writes a different
//! value, as quorum's clients do, each get's value names the put it saw, and
//! Gibbons and Korach's zone argument ("Testing shared memories", 1997)
//! decides the key in O(n log n) time at any concurrency (`zones`). Each key
//! uses the zone check when it applies and the search otherwise; see
//! [`Algorithm`] and DESIGN.md section 9.
//!
//! # Initial values
//!
//! By default every key starts absent, which is right for a session on a
//! fresh cluster. A session started on a data directory that already holds
//! data starts with values nobody in the history wrote. Such a history says
//! so in its first line, `{"type":"start","initial":"unknown"}` (a
//! [`HistoryHeader`]), or the caller sets [`CheckOptions::initial`] to
//! [`Initial::Unknown`]. Then each key's state before its first operation is
//! a wildcard: some single value, or absent, that the history does not say.
//! A get placed while the key is still in that state reads whatever it
//! returned and fixes the initial value to it; a put overwrites it as usual.
//! So a read of a value written before the session is fine, but the checker
//! still catches
//! - a stale read after a put: `get -> old`, then `put new` completes, then
//!   `get -> old` again (`old` could only be the initial value, and `new`
//!   overwrote it);
//! - two reads before any put that disagree (`get -> a`, then `get -> b`
//!   with no put of either, or `get -> null` then `get -> a`): a key has one
//!   initial value.
//!
//! Any history linearizable with empty initial values is linearizable with
//! unknown ones (the wildcard may be "absent"), but not conversely.

pub mod generate;
mod hash;
pub mod history;
mod key;
mod search;
mod zones;

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

pub use history::{
    EventType, HistoryError, HistoryEvent, HistoryHeader, HistoryWriter, Initial, OpKind, OpStatus,
    Operation, OperationKind, pair_operations, parse_history, parse_history_with_header,
};

use key::KeyResult;

/// Knobs of a check.
///
/// The search is exponential in the worst case, so a caller that must finish
/// (a CI run, the TUI) can bound it and get [`Verdict::Unknown`] instead.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Give up after this long; `None` checks to the end.
    pub time_limit: Option<Duration>,
    /// What the keys held before the first operation: absent (the default),
    /// or unknown for a history that starts on existing data.
    pub initial: Initial,
}

/// Which decision procedure decides each key.
///
/// Exists so that tests and benchmarks can compare the two; every other
/// caller wants [`Algorithm::Auto`], which is what [`check_operations`] uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Algorithm {
    /// The zone check for a key whose puts write distinct values (more
    /// exactly: every value some `ok` get read was written by at most one put
    /// that may have taken effect), the search for any other key.
    #[default]
    Auto,
    /// The search for every key (exponential in the worst case, so it may
    /// end in [`Verdict::Unknown`] under a time limit).
    Search,
    /// The zone check only: a key it does not apply to makes the verdict
    /// [`Verdict::Unknown`], saying so.
    Zones,
}

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some total order explains every operation.
    Linearizable {
        /// Operations checked (failed operations excluded).
        operations: usize,
        /// Distinct keys among them.
        keys: usize,
    },
    /// No order works for one key; the first such key in key order is reported.
    NotLinearizable {
        /// The key.
        key: String,
        /// A small set of that key's operations that already cannot be
        /// ordered, one rendered operation per line, by invoke time.
        excerpt: Vec<String>,
        /// Why no order works, in plain English.
        reason: String,
    },
    /// The check could not decide (time limit reached).
    Unknown {
        /// What stopped it.
        reason: String,
    },
}

impl Verdict {
    /// The process exit code for `quorum check`: 0 linearizable, 1 not, 3 unknown.
    pub fn exit_code(&self) -> i32 {
        match self {
            Verdict::Linearizable { .. } => 0,
            Verdict::NotLinearizable { .. } => 1,
            Verdict::Unknown { .. } => 3,
        }
    }

    /// Whether the history was shown linearizable.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable { .. })
    }
}

impl fmt::Display for Verdict {
    /// One line for a success or an unknown; for a failure, the key, the
    /// reason and the excerpt on the following lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Linearizable { operations, keys } => write!(
                f,
                "linearizable ({operations} operation{} over {keys} key{})",
                plural(*operations),
                plural(*keys)
            ),
            Verdict::NotLinearizable { key, excerpt, reason } => {
                writeln!(f, "NOT linearizable: key {key}")?;
                writeln!(f, "  why: {reason}")?;
                write!(f, "  operations that cannot be ordered (by invoke time, [invoke, return] in ns):")?;
                for line in excerpt {
                    write!(f, "\n    {line}")?;
                }
                Ok(())
            }
            Verdict::Unknown { reason } => write!(f, "unknown: {reason}"),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Checks a history given as events: pairs them, then checks the operations.
///
/// The keys start as [`CheckOptions::initial`] says (a start line read with
/// [`parse_history_with_header`] is not seen here: pass what it says).
/// Fails only if the events cannot be paired (see [`pair_operations`]).
pub fn check_history(events: &[HistoryEvent], options: &CheckOptions) -> Result<Verdict, HistoryError> {
    Ok(check_operations(&pair_operations(events)?, options))
}

/// Checks paired operations, key by key in key order, stopping at the first
/// key that is not linearizable; the keys start as [`CheckOptions::initial`] says.
pub fn check_operations(ops: &[Operation], options: &CheckOptions) -> Verdict {
    check_operations_using(ops, options, Algorithm::Auto)
}

/// [`check_operations`] with the given [`Algorithm`] deciding each key.
pub fn check_operations_using(ops: &[Operation], options: &CheckOptions, algorithm: Algorithm) -> Verdict {
    let start = Instant::now();
    let deadline = options.time_limit.and_then(|l| start.checked_add(l));
    let mut by_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in ops {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let keys = by_key.len();
    let mut undecided: Vec<&str> = Vec::new();
    let mut not_distinct: Vec<&str> = Vec::new();
    for (key, key_ops) in &by_key {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            undecided.push(key);
            continue;
        }
        match key::check_key(key_ops, options.initial, deadline, algorithm) {
            KeyResult::Linearizable => {}
            KeyResult::TimedOut => undecided.push(key),
            KeyResult::ZonesDoNotApply => not_distinct.push(key),
            KeyResult::NotLinearizable { excerpt, reason } => {
                return Verdict::NotLinearizable { key: key.to_string(), excerpt, reason };
            }
        }
    }
    if undecided.is_empty() && not_distinct.is_empty() {
        return Verdict::Linearizable { operations: ops.len(), keys };
    }
    if undecided.is_empty() {
        return Verdict::Unknown {
            reason: format!(
                "the zone check does not apply to {} of {keys} key{} ({}): a value some get read was \
                 written by more than one put, or an operation returned before it was invoked; the \
                 others are linearizable",
                not_distinct.len(),
                plural(keys),
                names_of(&not_distinct)
            ),
        };
    }
    let limit = options.time_limit.unwrap_or_default();
    Verdict::Unknown {
        reason: format!(
            "time limit of {:.3} s reached: {} of {keys} key{} left undecided ({}); the others are linearizable",
            limit.as_secs_f64(),
            undecided.len() + not_distinct.len(),
            plural(keys),
            names_of(&[undecided, not_distinct].concat())
        ),
    }
}

/// Up to five key names, then `...`.
fn names_of(keys: &[&str]) -> String {
    let mut names: Vec<&str> = keys.iter().copied().take(5).collect();
    if keys.len() > 5 {
        names.push("...");
    }
    names.join(", ")
}

/// `quorum check FILE` with no time limit: see [`check_file_with`].
pub fn check_file_command(path: &Path, out: &mut impl Write) -> i32 {
    check_file_with(path, &CheckOptions::default(), out)
}

/// Reads, checks and reports a history file; returns the process exit code.
///
/// Prints the verdict and returns [`Verdict::exit_code`] (0, 1 or 3), or
/// prints the problem and returns 2 when the file cannot be read or is not a
/// valid history (the message names the line).
///
/// The keys' initial values are unknown if the file's start line or
/// `options` says so. The verdict's first line is then unchanged, and a line
/// after the verdict says the initial values were unknown and why.
pub fn check_file_with(path: &Path, options: &CheckOptions, out: &mut impl Write) -> i32 {
    let shown = path.display();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => {
            let _ = writeln!(out, "error: cannot open {shown}: {e}");
            return 2;
        }
    };
    let (header, numbered) = match history::parse_numbered(BufReader::new(file)) {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = writeln!(out, "error: {shown}: {e}");
            return 2;
        }
    };
    let (lines, events): (Vec<usize>, Vec<HistoryEvent>) = numbered.into_iter().unzip();
    let ops = match history::pair_numbered(&events, &|i| lines.get(i).copied().unwrap_or(i + 1)) {
        Ok(ops) => ops,
        Err(e) => {
            let _ = writeln!(out, "error: {shown}: {e}");
            return 2;
        }
    };
    let from_file = header.as_ref().is_some_and(|h| h.initial == Initial::Unknown);
    let initial = if from_file { Initial::Unknown } else { options.initial };
    let verdict = check_operations(&ops, &CheckOptions { initial, ..options.clone() });
    let _ = writeln!(out, "{verdict}");
    if initial == Initial::Unknown {
        let why = match header.as_ref().and_then(|h| h.cluster.as_deref()) {
            _ if !from_file => "as asked".to_string(),
            Some(cluster) => format!("the history starts on existing data of cluster {cluster}"),
            None => "the history starts on existing data".to_string(),
        };
        let _ = writeln!(out, "  (initial values unknown: {why})");
    }
    verdict.exit_code()
}
