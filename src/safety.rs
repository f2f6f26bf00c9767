//! Raft's safety properties (paper Figure 3), checked from the event stream alone, as it goes.
//! The simulator feeds it every step's events (and stops at the first violation); the console
//! feeds it every event it receives, on either engine (in its timeline's scene, in the replay
//! layer). One checker, no second copy.
//!
//! It reads only [`Event`]s: a node's `role`, `append` (with `term_starts`), `truncate`,
//! `commit` and `apply` events, its term, and `crash` and `restart`. From them it follows every
//! node's log as a list of terms, which is all the log-reading properties need. Message events
//! (sends, deliveries, drops) are not read.
//!
//! What each event checks:
//!
//! - every node event: **terms never decrease** on a node, across restarts (term and vote are
//!   durable, paper Figure 2);
//! - `role leader`: **Election Safety** (§5.2), at most one leader per term;
//! - `truncate`: **Leader Append-Only** (§5.3), a leader never removes entries;
//! - `append`: **Log Matching** (§5.3). Each entry's identity `index@term` must always follow the
//!   same term, which by induction makes two logs that hold one entry identical up to it. The
//!   first append of a new leader (its no-op) shows where its log ended when it was elected:
//!   **Leader Completeness** (§5.4), it must hold every entry committed in an earlier term;
//! - `commit`: the commit index never decreases (per incarnation); each newly committed entry
//!   is noted cluster-wide, and must be the one every other node committed at that index, and
//!   every current leader of a later term must hold it (§5.4);
//! - `apply`: **State Machine Safety** (§5.4.3), every node applies the same entry, with the
//!   same command, at each index.
//!
//! Where the events say nothing (a console on a data directory that already held logs, or
//! events it never saw), the checker knows nothing, and checks nothing against it: an unknown
//! term is never taken for a wrong one. Commands are known only from `apply` events, so two
//! logs holding one `index@term` with different commands are caught when the second applies it
//! (as state machine safety), not when it is appended.

use crate::events::{Event, EventKind, NodeEventKind};
use crate::raft::{Command, EntryId, LogIndex, NodeId, Role, Term};
use std::collections::hash_map::Entry as Slot;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Terms never decrease on a node (paper Figure 2: the term is durable).
pub const TERMS: &str = "terms never decrease";
/// At most one leader per term (§5.2).
pub const ELECTION: &str = "election safety";
/// A leader never overwrites or deletes its entries (§5.3).
pub const APPEND_ONLY: &str = "leader append-only";
/// A node's commit index never decreases while it runs.
pub const COMMIT: &str = "commit index never decreases";
/// Same index and term, same log up to there (§5.3).
pub const LOG_MATCHING: &str = "log matching";
/// No two nodes apply (or commit) different entries at one index (§5.4.3).
pub const STATE_MACHINE: &str = "state machine safety";
/// A leader holds every entry committed in an earlier term (§5.4).
pub const COMPLETENESS: &str = "leader completeness";

/// A broken property: which one, the event that broke it, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The property's name (one of this module's constants, or a simulator check's).
    pub property: &'static str,
    /// What was seen, in the notation of the narration.
    pub detail: String,
    /// The event that broke it, if an event did.
    pub event: Option<Breaking>,
}

/// The event that broke a property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breaking {
    /// Its sequence number in the stream.
    pub seq: u64,
    /// Its narration (`n3@4 apply 7@4 c1#2 put x=2`).
    pub narration: String,
}

impl Violation {
    /// A violation no single event shows (a liveness limit, an acknowledged write).
    pub fn new(property: &'static str, detail: String) -> Self {
        Violation { property, detail, event: None }
    }

    /// A violation `event` shows. The narration is formatted here, only when something broke.
    fn at(property: &'static str, event: &Event, detail: String) -> Self {
        let event = Some(Breaking { seq: event.seq, narration: event.to_string() });
        Violation { property, detail, event }
    }
}

/// `#1234 n3@4 apply 7@4 c1#2 put x=2 (n1 applied c1#1 put x=1)`, or the detail alone.
impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.event {
            Some(e) => write!(f, "#{} {} ({})", e.seq, e.narration, self.detail),
            None => write!(f, "{}", self.detail),
        }
    }
}

/// What the checks found so far: the first violation of each property, and how many events
/// they read. What the console shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Events read.
    pub events: u64,
    /// The first violation of each broken property, in the order they were found.
    pub broken: Vec<Violation>,
}

impl Report {
    /// The first violation of `property`, if it broke.
    pub fn first(&self, property: &str) -> Option<&Violation> {
        self.broken.iter().find(|v| v.property == property)
    }
}

/// An entry as one node's log holds it, as far as the events told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    /// The log ends before this index.
    Beyond,
    /// The log holds an entry there, of a term the events did not tell.
    Unknown,
    /// The log holds an entry of this term there.
    Term(Term),
}

/// One node as its events show it.
#[derive(Clone, Default)]
struct NodeView {
    /// The highest term it reported (durable: survives restarts).
    term: Term,
    /// Its role in this incarnation, if it reported one.
    role: Option<Role>,
    /// The `role leader` event of its election, until its first append of that term (the
    /// no-op) shows where its log ended.
    elected: Option<Event>,
    /// The term it leads, once its log's end is known.
    leading: Option<Term>,
    /// Its commit index in this incarnation.
    commit: LogIndex,
    /// The term of each entry, from index 1 on; `None` where the events did not tell.
    log: Vec<Option<Term>>,
}

impl NodeView {
    fn held(&self, index: LogIndex) -> Held {
        match index.0.checked_sub(1).and_then(|i| usize::try_from(i).ok()) {
            None => Held::Term(Term(0)),
            Some(i) => match self.log.get(i) {
                None => Held::Beyond,
                Some(None) => Held::Unknown,
                Some(Some(t)) => Held::Term(*t),
            },
        }
    }

    fn term_at(&self, index: LogIndex) -> Option<Term> {
        match self.held(index) {
            Held::Term(t) => Some(t),
            Held::Beyond | Held::Unknown => None,
        }
    }

    /// Makes the log end at `last`: cut, or padded with entries of unknown terms.
    fn end_at(&mut self, last: LogIndex) {
        let len = usize::try_from(last.0).unwrap_or(usize::MAX);
        self.log.resize(len, None);
    }

    /// Learns the term at `index` where the events had not told it.
    fn learn(&mut self, id: EntryId) {
        if let Some(slot) = id.index.0.checked_sub(1).and_then(|i| self.log.get_mut(i as usize))
            && slot.is_none()
        {
            *slot = Some(id.term);
        }
    }

    /// A crash or restart: the volatile state is gone, term and log stay.
    fn forget_volatile(&mut self) {
        self.role = None;
        self.elected = None;
        self.leading = None;
        self.commit = LogIndex(0);
    }
}

/// The entry known committed at one index, cluster-wide.
#[derive(Clone)]
struct Chosen {
    term: Term,
    /// The lowest term in which a node reported it committed (or applied): every leader of a
    /// later term must hold it (§5.4).
    commit_term: Term,
    /// The node that reported it first.
    by: NodeId,
    /// The first node that applied it, with the command it applied (`None`: a no-op).
    applied: Option<(NodeId, Option<Command>)>,
}

/// What `leaders_hold` compares: the entry, and the term it was committed in.
#[derive(Clone, Copy)]
struct Committed {
    id: EntryId,
    term: Term,
}

/// The checker: everything the stream has told so far.
#[derive(Clone, Default)]
pub struct Checker {
    nodes: BTreeMap<NodeId, NodeView>,
    /// Election Safety: the leader of each term seen.
    leaders: BTreeMap<Term, NodeId>,
    /// Log Matching: for each entry identity appended anywhere, the term of the entry before it
    /// and the node that appended it first.
    entries: HashMap<EntryId, (Term, NodeId)>,
    /// The committed entry at each index (from 1), as far as known.
    chosen: Vec<Option<Chosen>>,
    report: Report,
}

impl Checker {
    /// A checker that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one event; returns the violations it shows (usually none). The checker's state
    /// follows the event whatever it breaks, so the checks go on after a violation.
    pub fn observe(&mut self, event: &Event) -> Vec<Violation> {
        self.report.events += 1;
        let mut found = Vec::new();
        let Some(node) = event.node else { return found };
        let view = self.nodes.entry(node).or_default();
        if let Some(term) = event.term {
            if term < view.term {
                let detail = format!("{node} was in term {} before", view.term);
                found.push(Violation::at(TERMS, event, detail));
            }
            view.term = view.term.max(term);
        }
        match &event.kind {
            EventKind::Node(NodeEventKind::Role { role: Role::Leader, .. }) => {
                self.on_leader(node, event, &mut found)
            }
            EventKind::Node(NodeEventKind::Role { role, .. }) => {
                view.forget_volatile_role();
                view.role = Some(*role);
            }
            EventKind::Node(NodeEventKind::Truncate { first, .. }) => {
                if view.role == Some(Role::Leader) {
                    let detail = format!("{node} is the leader of term {}", view.term);
                    found.push(Violation::at(APPEND_ONLY, event, detail));
                }
                view.end_at(first.index.prev());
            }
            EventKind::Node(NodeEventKind::Append { first, last, term_starts, .. }) => {
                self.on_append(node, event, (*first, *last, term_starts), &mut found)
            }
            EventKind::Node(NodeEventKind::Commit { entry }) => {
                self.on_commit(node, event, *entry, &mut found)
            }
            EventKind::Node(NodeEventKind::Apply { entry, command }) => {
                self.on_apply(node, event, *entry, command.as_ref(), &mut found)
            }
            EventKind::Node(NodeEventKind::SnapshotInstalled { snapshot, kept_log, .. }) => {
                self.on_install(node, event, *snapshot, *kept_log, &mut found)
            }
            EventKind::Crash | EventKind::Restart { recovered: None } => view.forget_volatile(),
            // What the node recovered is its log now: entries it appended but had not yet
            // written when it stopped are gone (they were never acknowledged).
            EventKind::Restart { recovered: Some(r) } => {
                view.forget_volatile();
                view.end_at(r.last.index);
                view.learn(r.last);
            }
            _ => {}
        }
        for v in &found {
            if self.report.first(v.property).is_none() {
                self.report.broken.push(v.clone());
            }
        }
        found
    }

    /// What the checks found so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// How many terms had a leader.
    pub fn elections(&self) -> usize {
        self.leaders.len()
    }

    /// Node `node`'s log as the events tell it: the term of each entry from index 1 on, `None`
    /// where they did not tell.
    pub fn log(&self, node: NodeId) -> Option<&[Option<Term>]> {
        self.nodes.get(&node).map(|v| v.log.as_slice())
    }

    /// Node `node`'s commit index in its current incarnation, as its events tell it.
    pub fn commit_index(&self, node: NodeId) -> LogIndex {
        self.nodes.get(&node).map_or(LogIndex(0), |v| v.commit)
    }

    /// Election Safety (§5.2): a second leader in one term is a violation. The new leader's
    /// completeness waits for its first append, which shows where its log ended.
    fn on_leader(&mut self, node: NodeId, event: &Event, found: &mut Vec<Violation>) {
        let term = event.term.unwrap_or_default();
        let first = *self.leaders.entry(term).or_insert(node);
        if first != node {
            found.push(Violation::at(ELECTION, event, format!("{first} was elected in term {term} before")));
        }
        let view = self.nodes.entry(node).or_default();
        view.role = Some(Role::Leader);
        view.leading = None;
        view.elected = Some(event.clone());
    }

    /// Log Matching (§5.3) for each appended entry; Leader Completeness (§5.4) at a new leader's
    /// first append.
    fn on_append(
        &mut self,
        node: NodeId,
        event: &Event,
        (first, last, term_starts): (EntryId, EntryId, &[EntryId]),
        found: &mut Vec<Violation>,
    ) {
        let Some(view) = self.nodes.get_mut(&node) else { return };
        // Anything held from `first` on was replaced (a `truncate` said so, or a restart lost
        // what the events told of): the log now ends before `first`.
        view.end_at(first.index.prev());
        if let Some(elected) = view.elected.take_if(|e| e.term == event.term) {
            view.leading = elected.term;
            if let Some(v) = missing_at_election(view, &self.chosen, &elected) {
                found.push(v);
            }
        }
        let mut prev = view.term_at(first.index.prev());
        let mut term = first.term;
        let mut starts = term_starts.iter().peekable();
        for index in first.index.0..=last.index.0 {
            while let Some(s) = starts.next_if(|s| s.index.0 <= index) {
                term = s.term;
            }
            let id = EntryId { index: LogIndex(index), term };
            if let Some(p) = prev {
                match self.entries.entry(id) {
                    Slot::Occupied(seen) if seen.get().0 != p => {
                        let (q, other) = *seen.get();
                        let detail = format!(
                            "{other} holds {id} after {}@{q}, {node} after {}@{p}",
                            index - 1,
                            index - 1
                        );
                        found.push(Violation::at(LOG_MATCHING, event, detail));
                    }
                    Slot::Occupied(_) => {}
                    Slot::Vacant(slot) => {
                        slot.insert((p, node));
                    }
                }
            }
            view.log.push(Some(term));
            prev = Some(term);
        }
    }

    /// The commit index never decreases; every newly committed entry is noted cluster-wide.
    fn on_commit(&mut self, node: NodeId, event: &Event, entry: EntryId, found: &mut Vec<Violation>) {
        let Some(view) = self.nodes.get_mut(&node) else { return };
        if entry.index < view.commit {
            found.push(Violation::at(COMMIT, event, format!("{node} had committed up to {}", view.commit)));
            return;
        }
        view.learn(entry);
        let from = view.commit.next();
        view.commit = entry.index;
        let reporter = event.term.unwrap_or_default();
        for index in from.0..=entry.index.0 {
            let index = LogIndex(index);
            let Some(term) = self.nodes.get(&node).and_then(|v| v.term_at(index)) else { continue };
            let id = EntryId { index, term };
            if let Some(v) = self.note_committed(node, event, id, reporter, None) {
                found.push(v);
            }
        }
    }

    /// Paper §7: a node installed a leader's snapshot. A snapshot holds committed entries only,
    /// so its last entry must be the one committed at its index (State Machine Safety); a node
    /// that discarded its log now holds exactly the committed entries up to it (their terms
    /// where known).
    fn on_install(
        &mut self,
        node: NodeId,
        event: &Event,
        snapshot: EntryId,
        kept_log: bool,
        found: &mut Vec<Violation>,
    ) {
        let reporter = event.term.unwrap_or_default();
        if let Some(v) = self.note_committed(node, event, snapshot, reporter, None) {
            found.push(v);
        }
        let Some(view) = self.nodes.get_mut(&node) else { return };
        if kept_log {
            view.learn(snapshot);
            return;
        }
        let len = usize::try_from(snapshot.index.0).unwrap_or(usize::MAX);
        view.log = (0..len).map(|i| self.chosen.get(i).and_then(|c| c.as_ref()).map(|c| c.term)).collect();
        if let Some(last) = view.log.last_mut() {
            *last = Some(snapshot.term);
        }
    }

    /// State Machine Safety (§5.4.3): what `node` applies at an index is what everyone does.
    fn on_apply(
        &mut self,
        node: NodeId,
        event: &Event,
        entry: EntryId,
        command: Option<&Command>,
        found: &mut Vec<Violation>,
    ) {
        if let Some(view) = self.nodes.get_mut(&node) {
            view.learn(entry);
        }
        let reporter = event.term.unwrap_or_default();
        if let Some(v) = self.note_committed(node, event, entry, reporter, Some(command)) {
            found.push(v);
        }
    }

    /// Notes that `node`, in term `reporter`, committed (or, with `applied`, applied) entry `id`:
    /// it must be the entry every node committed and applied at that index, and every current
    /// leader of a later term than it was committed in must hold it.
    fn note_committed(
        &mut self,
        node: NodeId,
        event: &Event,
        id: EntryId,
        reporter: Term,
        applied: Option<Option<&Command>>,
    ) -> Option<Violation> {
        let i = usize::try_from(id.index.0.checked_sub(1)?).ok()?;
        if self.chosen.len() <= i {
            self.chosen.resize_with(i + 1, || None);
        }
        let slot = &mut self.chosen[i];
        let Some(chosen) = slot else {
            let applied = applied.map(|c| (node, c.cloned()));
            *slot = Some(Chosen { term: id.term, commit_term: reporter, by: node, applied });
            return self.leaders_hold(event, Committed { id, term: reporter });
        };
        if chosen.term != id.term {
            let verb = if chosen.applied.is_some() { "applied" } else { "committed" };
            let detail = format!("{} {verb} {}@{}", chosen.by, id.index, chosen.term);
            return Some(Violation::at(STATE_MACHINE, event, detail));
        }
        if let Some(command) = applied {
            match &chosen.applied {
                Some((by, seen)) if seen.as_ref() != command => {
                    let seen = seen.as_ref().map_or_else(|| "noop".to_string(), ToString::to_string);
                    return Some(Violation::at(STATE_MACHINE, event, format!("{by} applied {seen}")));
                }
                Some(_) => {}
                None => chosen.applied = Some((node, command.cloned())),
            }
        }
        if reporter < chosen.commit_term {
            chosen.commit_term = reporter;
            return self.leaders_hold(event, Committed { id, term: reporter });
        }
        None
    }

    /// Leader Completeness (§5.4) for an entry just known committed: every node leading a later
    /// term than it was committed in holds it.
    fn leaders_hold(&self, event: &Event, c: Committed) -> Option<Violation> {
        self.nodes.iter().find_map(|(&leader, view)| {
            let term = view.leading.filter(|&t| t > c.term)?;
            lacks(view, c.id).then(|| {
                let detail = format!("leader {leader}@{term} lacks {}, committed in term {}", c.id, c.term);
                Violation::at(COMPLETENESS, event, detail)
            })
        })
    }
}

impl NodeView {
    /// A role other than leader: no election waits for its no-op, no term is led.
    fn forget_volatile_role(&mut self) {
        self.elected = None;
        self.leading = None;
    }
}

/// True if `view`'s log certainly does not hold `id`: it ends before it, or holds another term
/// there. (An entry of a term the events did not tell is not held against it.)
fn lacks(view: &NodeView, id: EntryId) -> bool {
    match view.held(id.index) {
        Held::Beyond => true,
        Held::Unknown => false,
        Held::Term(t) => t != id.term,
    }
}

/// Leader Completeness (§5.4) at an election: the first entry committed in an earlier term
/// that the new leader's log (as it was when elected) lacks.
fn missing_at_election(view: &NodeView, chosen: &[Option<Chosen>], elected: &Event) -> Option<Violation> {
    let term = elected.term.unwrap_or_default();
    chosen.iter().enumerate().find_map(|(i, c)| {
        let c = c.as_ref().filter(|c| c.commit_term < term)?;
        let id = EntryId { index: LogIndex(i as u64 + 1), term: c.term };
        lacks(view, id).then(|| {
            let node = elected.node.unwrap_or_default();
            let detail = format!("{node} lacks {id}, committed in term {} (by {})", c.commit_term, c.by);
            Violation::at(COMPLETENESS, elected, detail)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{ClientId, RequestId};

    /// A fabricated stream: each event gets the next sequence number.
    #[derive(Default)]
    struct Stream {
        checker: Checker,
        seq: u64,
    }

    impl Stream {
        fn feed(&mut self, node: u64, term: u64, kind: NodeEventKind) -> Vec<Violation> {
            self.seq += 1;
            let mut event = Event::new(Some(NodeId(node)), Some(Term(term)), EventKind::Node(kind));
            event.seq = self.seq;
            self.checker.observe(&event)
        }

        fn leader(&mut self, node: u64, term: u64) -> Vec<Violation> {
            self.feed(
                node,
                term,
                NodeEventKind::Role { role: Role::Leader, leader: Some(NodeId(node)), reason: None },
            )
        }

        /// `node` appends entries of `terms` from index `from` on.
        fn append(&mut self, node: u64, term: u64, from: u64, terms: &[u64]) -> Vec<Violation> {
            let ids: Vec<EntryId> = terms.iter().enumerate().map(|(i, &t)| id(from + i as u64, t)).collect();
            let term_starts = ids.windows(2).filter(|w| w[0].term != w[1].term).map(|w| w[1]).collect();
            let (first, last) = (ids[0], ids[ids.len() - 1]);
            self.feed(node, term, NodeEventKind::Append { first, last, term_starts, commands: Vec::new() })
        }

        fn commit(&mut self, node: u64, term: u64, entry: EntryId) -> Vec<Violation> {
            self.feed(node, term, NodeEventKind::Commit { entry })
        }

        fn apply(
            &mut self,
            node: u64,
            term: u64,
            entry: EntryId,
            command: Option<Command>,
        ) -> Vec<Violation> {
            self.feed(node, term, NodeEventKind::Apply { entry, command })
        }
    }

    fn id(index: u64, term: u64) -> EntryId {
        EntryId { index: LogIndex(index), term: Term(term) }
    }

    fn put(seq: u64, key: &str, value: &str) -> Command {
        let id = RequestId { client: ClientId(1), seq };
        Command::Put { id, ack: seq, key: key.into(), value: value.into(), time: 0 }
    }

    fn only(found: Vec<Violation>, property: &str) -> Violation {
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].property, property, "{found:?}");
        found.into_iter().next().expect("one")
    }

    #[test]
    fn two_leaders_in_one_term_break_election_safety() {
        let mut s = Stream::default();
        assert!(s.leader(1, 3).is_empty());
        assert!(s.leader(1, 4).is_empty());
        let v = only(s.leader(2, 3), ELECTION);
        assert_eq!(v.to_string(), "#3 n2@3 leader (n1 was elected in term 3 before)");
        assert_eq!(s.checker.report().first(ELECTION), Some(&v));
        assert_eq!(s.checker.elections(), 2);
    }

    #[test]
    fn two_different_applies_at_one_index_break_state_machine_safety() {
        let mut s = Stream::default();
        assert!(s.apply(1, 4, id(7, 4), Some(put(1, "x", "1"))).is_empty());
        assert!(s.apply(2, 4, id(7, 4), Some(put(1, "x", "1"))).is_empty());
        let v = only(s.apply(3, 4, id(7, 4), Some(put(2, "x", "2"))), STATE_MACHINE);
        assert_eq!(v.to_string(), "#3 n3@4 apply 7@4 c1#2 put x=2 (n1 applied c1#1 put x=1)");
        // Another term at the index is as bad, and a no-op is a command too.
        let v = only(s.apply(4, 5, id(7, 5), Some(put(1, "x", "1"))), STATE_MACHINE);
        assert_eq!(v.detail, "n1 applied 7@4");
        let v = only(s.apply(5, 4, id(7, 4), None), STATE_MACHINE);
        assert_eq!(v.detail, "n1 applied c1#1 put x=1");
        // The report keeps the first.
        assert_eq!(s.checker.report().broken.len(), 1);
        assert_eq!(
            s.checker.report().first(STATE_MACHINE).and_then(|v| v.event.as_ref()).map(|e| e.seq),
            Some(3)
        );
    }

    #[test]
    fn committing_different_entries_at_one_index_breaks_state_machine_safety() {
        let mut s = Stream::default();
        assert!(s.append(1, 2, 1, &[1, 2]).is_empty());
        assert!(s.append(2, 3, 1, &[1, 3]).is_empty(), "divergent uncommitted tails are allowed");
        assert!(s.commit(1, 2, id(2, 2)).is_empty());
        let v = only(s.commit(2, 3, id(2, 3)), STATE_MACHINE);
        assert_eq!(v.detail, "n1 committed 2@2");
    }

    #[test]
    fn one_entry_after_different_terms_in_two_logs_breaks_log_matching() {
        let mut s = Stream::default();
        assert!(s.append(1, 2, 1, &[1, 2]).is_empty());
        // Figure 7's kind of divergence is no violation: other terms, other entries.
        assert!(s.append(3, 3, 1, &[1, 3, 3]).is_empty());
        // n2 holds 2@2 too, but after 1@2 where n1 holds 1@1.
        let v = only(s.append(2, 2, 1, &[2, 2]), LOG_MATCHING);
        assert_eq!(v.to_string(), "#3 n2@2 append 1@2..2@2 (n1 holds 2@2 after 1@1, n2 after 1@2)");
        // The terms of a batch spanning several come from `term_starts`.
        assert_eq!(s.checker.log(NodeId(3)), Some(&[Some(Term(1)), Some(Term(3)), Some(Term(3))][..]));
    }

    #[test]
    fn a_new_leader_without_a_committed_entry_breaks_leader_completeness() {
        let mut s = Stream::default();
        assert!(s.leader(1, 1).is_empty());
        assert!(s.append(1, 1, 1, &[1]).is_empty());
        assert!(s.append(1, 1, 2, &[1]).is_empty());
        assert!(s.append(2, 1, 1, &[1]).is_empty());
        assert!(s.commit(1, 1, id(2, 1)).is_empty());
        // n2 holds only 1@1; elected in term 2, its no-op at index 2 shows its log ended at 1.
        assert!(s.leader(2, 2).is_empty(), "known only at its first append");
        let v = only(s.append(2, 2, 2, &[2]), COMPLETENESS);
        assert_eq!(v.to_string(), "#6 n2@2 leader (n2 lacks 2@1, committed in term 1 (by n1))");
    }

    #[test]
    fn a_commit_a_current_leader_lacks_breaks_leader_completeness() {
        let mut s = Stream::default();
        assert!(s.append(1, 1, 1, &[1, 1]).is_empty());
        assert!(s.leader(2, 2).is_empty());
        assert!(s.append(2, 2, 1, &[2]).is_empty(), "nothing committed yet");
        // n1 (still in term 1) reports 2@1 committed in term 1; leader n2@2 holds 1@2 and no 2.
        let found = s.commit(1, 1, id(2, 1));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|v| v.property == COMPLETENESS));
        assert_eq!(found[0].detail, "leader n2@2 lacks 1@1, committed in term 1");
        // A commit reported first in a later term binds only the leaders after that term.
        let mut s = Stream::default();
        assert!(s.append(1, 1, 1, &[1]).is_empty());
        assert!(s.leader(2, 2).is_empty());
        assert!(s.append(2, 2, 1, &[2]).is_empty());
        assert!(s.commit(1, 2, id(1, 1)).is_empty(), "reported in term 2: n2@2 need not hold it");
    }

    #[test]
    fn terms_commits_and_leaders_logs_only_move_forward() {
        let mut s = Stream::default();
        assert!(s.feed(1, 3, NodeEventKind::Timeout).is_empty());
        only(s.feed(1, 2, NodeEventKind::Timeout), TERMS);
        assert!(s.append(2, 1, 1, &[1, 1, 1]).is_empty());
        assert!(s.commit(2, 1, id(3, 1)).is_empty());
        only(s.commit(2, 1, id(2, 1)), COMMIT);
        // A restart forgets the commit index (volatile), never the term.
        s.checker.observe(&Event::new(Some(NodeId(2)), None, EventKind::Restart { recovered: None }));
        assert!(s.commit(2, 1, id(1, 1)).is_empty());
        assert_eq!(s.checker.commit_index(NodeId(2)), LogIndex(1));
        assert!(s.leader(2, 1).is_empty());
        let v = only(s.feed(2, 1, NodeEventKind::Truncate { first: id(2, 1), last: id(3, 1) }), APPEND_ONLY);
        assert_eq!(v.detail, "n2 is the leader of term 1");
        let names: Vec<&str> = s.checker.report().broken.iter().map(|v| v.property).collect();
        assert_eq!(names, [TERMS, COMMIT, APPEND_ONLY]);
    }

    #[test]
    fn what_the_events_never_told_is_not_held_against_a_node() {
        // A console on a data directory that already held logs: the first events are of entries
        // far along, and applies re-run the whole log after a restart.
        let mut s = Stream::default();
        assert!(s.append(1, 7, 41, &[7]).is_empty());
        assert!(s.append(2, 7, 41, &[7]).is_empty());
        assert!(s.commit(1, 7, id(41, 7)).is_empty());
        assert!(s.apply(2, 7, id(3, 2), Some(put(1, "k", "v"))).is_empty());
        assert_eq!(s.checker.log(NodeId(2)).map(|l| l[2]), Some(Some(Term(2))), "learned from the apply");
        assert!(s.leader(2, 8).is_empty());
        assert!(s.append(2, 8, 42, &[8]).is_empty(), "n2's earlier entries are unknown, not missing");
        assert!(s.checker.report().broken.is_empty());
        assert_eq!(s.checker.report().events, 6);
    }
}
