//! What one index of the logs holds on every node, for the log cursor (`o`): the entry's term
//! and command, whether each node knows it committed and has applied it, or that the node does
//! not have it; and where nodes disagree on the term at that index, which copy is the one that
//! counts.
//!
//! Two entries with the same index and term are the same entry (Log Matching, paper §5.3), so
//! the nodes holding one term at an index hold one command. A copy some node knows to be
//! committed is the one every node will end up with (State Machine Safety, §5.4.3); before
//! that, the leader's copy is the one it will impose (§5.3). A node's status carries only the
//! newest entries of its log, so an older index may be held but not reported: it says so
//! instead of pretending the entry is absent; an index at or before its snapshot is compacted
//! (paper §7), said so too.

use super::screen::ScreenState;
use crate::control::{NodeStatus, RunState};
use crate::raft::{ClientId, Command, EntryId, LogIndex, NodeId, RequestId, Term};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What one node holds at an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// An entry of this term, with its command (`None`: the leader's no-op, paper §8).
    Entry {
        /// The entry's term.
        term: Term,
        /// The client command, or `None` for a no-op.
        command: Option<Arc<Command>>,
        /// The node knows it is committed (the index is at or below its commit index).
        committed: bool,
        /// The node has applied it to its state machine.
        applied: bool,
    },
    /// The node's log ends before the index.
    Absent {
        /// The node's last index.
        last: LogIndex,
    },
    /// The node's log reaches the index, but its status reports only its newest entries.
    NotReported,
    /// The node compacted the entry into its snapshot (paper §7): committed and applied, its
    /// term and command no longer held.
    Compacted {
        /// The snapshot's last entry.
        snapshot: EntryId,
    },
}

/// One node's cell at the selected index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// The node.
    pub node: NodeId,
    /// What it holds there.
    pub held: Held,
    /// Dead or crashed: this is its last known state.
    pub down: bool,
    /// It holds an entry of another term than the one that counts.
    pub differs: bool,
}

/// One index across every node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The index.
    pub index: LogIndex,
    /// A cell per node, in node order.
    pub cells: Vec<Cell>,
    /// The copy that counts, if one can be named: a committed copy, else the leader's, else
    /// the only term there is. Its term and command.
    pub reference: Option<(Term, Option<Arc<Command>>)>,
    /// Every term held at the index, with the nodes holding it.
    pub terms: BTreeMap<Term, Vec<NodeId>>,
}

impl Column {
    /// True if nodes hold entries of different terms at this index.
    pub fn conflict(&self) -> bool {
        self.terms.len() > 1
    }
}

/// What `node` holds at `index`.
fn held(node: &NodeStatus, index: LogIndex) -> Held {
    if index > node.last.index {
        return Held::Absent { last: node.last.index };
    }
    if let Some(snapshot) = node.snapshot.filter(|s| index <= s.index) {
        return Held::Compacted { snapshot };
    }
    match node.log_tail.iter().find(|e| e.index == index) {
        Some(e) => Held::Entry {
            term: e.term,
            command: e.command.clone(),
            committed: index <= node.commit,
            applied: index <= node.applied,
        },
        None => Held::NotReported,
    }
}

/// Index `index` on every node of the screen.
pub fn column(screen: &ScreenState, index: LogIndex) -> Column {
    let mut cells: Vec<Cell> = screen
        .nodes
        .iter()
        .map(|n| Cell {
            node: n.id,
            held: held(n, index),
            down: matches!(n.run, RunState::Dead | RunState::Crashed(_)),
            differs: false,
        })
        .collect();
    let mut terms: BTreeMap<Term, Vec<NodeId>> = BTreeMap::new();
    for c in &cells {
        if let Held::Entry { term, .. } = c.held {
            terms.entry(term).or_default().push(c.node);
        }
    }
    let leader = screen.leader().map(|l| l.id);
    let copy = |c: &Cell| match &c.held {
        Held::Entry { term, command, .. } => Some((*term, command.clone())),
        _ => None,
    };
    let committed = cells.iter().find(|c| matches!(c.held, Held::Entry { committed: true, .. }));
    let leaders = cells.iter().find(|c| Some(c.node) == leader && matches!(c.held, Held::Entry { .. }));
    let only = (terms.len() == 1).then(|| cells.iter().find_map(copy)).flatten();
    let reference = committed.or(leaders).and_then(copy).or(only);
    if let Some((term, _)) = &reference {
        for c in &mut cells {
            c.differs = matches!(c.held, Held::Entry { term: t, .. } if t != *term);
        }
    }
    Column { index, cells, reference, terms }
}

/// The indexes the cursor can select: from the oldest index any node reports to the last index
/// any node holds. `None` while every log is empty.
pub fn range(screen: &ScreenState) -> Option<(LogIndex, LogIndex)> {
    let last = screen.nodes.iter().map(|n| n.last.index).max()?;
    let first = screen.nodes.iter().filter_map(|n| n.log_tail.first().map(|e| e.index)).min()?;
    (last >= first && last > LogIndex(0)).then_some((first, last))
}

/// An entry's command in words: `put color=red by c4#2`, `no-op`, or the registration of the
/// session whose id is this index (thesis §6.3): `register c5 (r7)`.
pub fn command_words(command: Option<&Command>, index: LogIndex) -> String {
    match command {
        None => "no-op".to_string(),
        Some(Command::Put { id, key, value, .. }) => format!("put {key}={value} by {id}"),
        Some(Command::Register { nonce, .. }) => {
            format!("register {} ({})", ClientId(index.0), RequestId::register(*nonce))
        }
    }
}

/// Where a node's copy stands, in words: applied, committed, not committed, absent, not
/// reported, or compacted.
pub fn state_words(held: &Held) -> String {
    match held {
        Held::Entry { applied: true, .. } => "committed · applied".to_string(),
        Held::Entry { committed: true, .. } => "committed · not applied yet".to_string(),
        Held::Entry { .. } => "not committed".to_string(),
        Held::Absent { last } if *last == LogIndex(0) => "absent (empty log)".to_string(),
        Held::Absent { last } => format!("absent (log ends at {last})"),
        Held::NotReported => "held, older than the entries reported".to_string(),
        Held::Compacted { snapshot } => format!("compacted into snapshot {snapshot}"),
    }
}
